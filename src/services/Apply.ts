/**
 * Apply: the only writer of replicated state. `applyBlock` runs each transaction of a block
 * in order against the stores and returns one outcome per transaction.
 *
 * Deterministic: ids, numbers and timestamps come from the block and from state, never from
 * this node's clock. Authorization is checked here again (the check a faulty node that
 * submitted the transaction cannot skip). Idempotent by height: a block at or below the
 * applied height is not applied twice.
 */
import type { SqlError } from "@effect/sql/SqlError"
import { Context, Effect, Layer } from "effect"
import { isObjectId, ZERO_ID } from "../domain/git/ObjectId.ts"
import { refNameProblem } from "../domain/git/RefName.ts"
import { loginProblem, repoNameProblem } from "../domain/Names.ts"
import {
  type Block,
  type CreateRepository,
  type CreateToken,
  type CreateUser,
  type RefResult,
  SYSTEM_USER,
  type Transaction,
  type TxOutcome,
  type UpdateRefs,
} from "../domain/Transaction.ts"
import { Metrics } from "../layers/Metrics.ts"
import { Metadata } from "./Metadata.ts"
import type { StorageError } from "./ObjectStore.ts"
import { RefConflict, RefStore, type RefUpdate } from "./RefStore.ts"

class Reject {
  constructor(
    readonly reason: string,
    readonly detail?: unknown,
  ) {}
}

const make = Effect.gen(function* () {
  const meta = yield* Metadata
  const refs = yield* RefStore
  const metrics = yield* Metrics

  const reject = (reason: string, detail?: unknown) => Effect.fail(new Reject(reason, detail))

  const isAdmin = (userId: number) =>
    userId === SYSTEM_USER
      ? Effect.succeed(true)
      : meta.userById(userId).pipe(Effect.map((u) => u?.site_admin === 1))

  const createUser = (tx: CreateUser, block: Block) =>
    Effect.gen(function* () {
      if (!(yield* isAdmin(tx.submitter)))
        return yield* reject("only an administrator can create users")
      const problem = loginProblem(tx.login)
      if (problem) return yield* reject(problem)
      if (yield* meta.userByLogin(tx.login)) return yield* reject(`login ${tx.login} is taken`)
      const id = yield* meta.insertUser({
        login: tx.login,
        name: tx.name ?? null,
        email: tx.email ?? null,
        site_admin: tx.siteAdmin ? 1 : 0,
        created_at: block.timestamp,
      })
      return { id }
    })

  const createToken = (tx: CreateToken, block: Block) =>
    Effect.gen(function* () {
      const user = yield* meta.userByLogin(tx.user)
      if (!user) return yield* reject(`no user ${tx.user}`)
      if (user.id !== tx.submitter && !(yield* isAdmin(tx.submitter)))
        return yield* reject("a token can only be created by its user or an administrator")
      if (!/^[0-9a-f]{64}$/.test(tx.tokenHash)) return yield* reject("malformed token hash")
      if (yield* meta.tokenByHash(tx.tokenHash)) return yield* reject("token already exists")
      yield* meta.insertToken({
        hash: tx.tokenHash,
        user_id: user.id,
        scopes: tx.scopes.join(","),
        note: tx.note,
        created_at: block.timestamp,
        expires_at: tx.expiresAt ?? null,
        revoked: 0,
      })
      return { userId: user.id }
    })

  const createRepository = (tx: CreateRepository, block: Block) =>
    Effect.gen(function* () {
      const owner = yield* meta.userByLogin(tx.owner)
      if (!owner) return yield* reject(`no user ${tx.owner}`)
      if (owner.id !== tx.submitter && !(yield* isAdmin(tx.submitter)))
        return yield* reject(`you cannot create repositories for ${tx.owner}`)
      const problem = repoNameProblem(tx.name)
      if (problem) return yield* reject(problem)
      if (refNameProblem(`refs/heads/${tx.defaultBranch}`))
        return yield* reject(`invalid default branch name ${tx.defaultBranch}`)
      if (yield* meta.repo(owner.login, tx.name))
        return yield* reject("name already exists on this account", { code: "already_exists" })
      const id = yield* meta.insertRepo({
        owner_id: owner.id,
        owner_login: owner.login,
        name: tx.name,
        description: tx.description ?? null,
        private: tx.private ? 1 : 0,
        default_branch: tx.defaultBranch,
        created_at: block.timestamp,
        updated_at: block.timestamp,
        pushed_at: null,
      })
      yield* refs.setHead(`${owner.login}/${tx.name}`, `refs/heads/${tx.defaultBranch}`)
      return { id }
    })

  const updateRefs = (tx: UpdateRefs, block: Block) =>
    Effect.gen(function* () {
      const repo = yield* meta.repo(tx.owner, tx.repo)
      if (!repo) return yield* reject(`repository ${tx.owner}/${tx.repo} does not exist`)
      if (repo.owner_id !== tx.submitter && !(yield* isAdmin(tx.submitter)))
        return yield* reject(`permission to ${tx.owner}/${tx.repo} denied`)
      const key = `${repo.owner_login}/${repo.name}`
      const results: RefResult[] = []
      const valid: RefUpdate[] = []
      for (const change of tx.changes) {
        const problem = refNameProblem(change.name)
        if (problem) results.push({ name: change.name, ok: false, reason: problem })
        else if (!isObjectId(change.old) || !isObjectId(change.new))
          results.push({ name: change.name, ok: false, reason: "malformed object id" })
        else valid.push({ name: change.name, expected: change.old, next: change.new })
      }
      const conflictReason = (c: RefConflict, name: string) => {
        const hit = c.conflicts.find((x) => x.name === name)
        if (!hit) return "atomic push failed"
        return hit.actual === undefined
          ? "stale info (the ref no longer exists)"
          : hit.expected === ZERO_ID
            ? "already exists"
            : "fetch first"
      }
      if (tx.atomic) {
        if (results.length > 0) {
          for (const u of valid)
            results.push({ name: u.name, ok: false, reason: "atomic push failed" })
        } else {
          const r = yield* Effect.either(refs.update(key, valid))
          for (const u of valid) {
            if (r._tag === "Right") results.push({ name: u.name, ok: true })
            else if (r.left instanceof RefConflict)
              results.push({ name: u.name, ok: false, reason: conflictReason(r.left, u.name) })
            else return yield* Effect.fail(r.left)
          }
        }
      } else {
        for (const u of valid) {
          const r = yield* Effect.either(refs.update(key, [u]))
          if (r._tag === "Right") results.push({ name: u.name, ok: true })
          else if (r.left instanceof RefConflict)
            results.push({ name: u.name, ok: false, reason: conflictReason(r.left, u.name) })
          else return yield* Effect.fail(r.left)
        }
      }
      if (results.some((r) => r.ok)) yield* meta.touchRepoPushed(repo.id, block.timestamp)
      // Keep the order the client sent.
      const order = new Map(tx.changes.map((c, i) => [c.name, i]))
      results.sort((a, b) => (order.get(a.name) ?? 0) - (order.get(b.name) ?? 0))
      return { refs: results }
    })

  const applyTx = (
    tx: Transaction,
    block: Block,
  ): Effect.Effect<unknown, Reject | SqlError | StorageError> => {
    switch (tx._tag) {
      case "CreateUser":
        return createUser(tx, block)
      case "CreateToken":
        return createToken(tx, block)
      case "CreateRepository":
        return createRepository(tx, block)
      case "UpdateRefs":
        return updateRefs(tx, block)
    }
  }

  const applyBlock = (block: Block) =>
    Effect.gen(function* () {
      const applied = yield* meta.appliedHeight
      if (block.height <= applied) return { alreadyApplied: true, outcomes: [] as TxOutcome[] }
      if (block.height !== applied + 1)
        return yield* Effect.dieMessage(
          `apply: block ${block.height} does not follow applied height ${applied}`,
        )
      const outcomes = yield* meta.applyAtHeight(
        block.height,
        Effect.forEach(block.txs, (tx) =>
          Effect.flatMap(meta.txOutcome(tx.idempotencyKey), (seen) =>
            seen !== undefined
              ? // Applied before (a retry, or a transaction two proposers both included).
                Effect.succeed(JSON.parse(seen) as TxOutcome)
              : applyTx(tx, block).pipe(
                  Effect.map(
                    (detail): TxOutcome => ({ _tag: "Applied", height: block.height, detail }),
                  ),
                  Effect.catchIf(
                    (e): e is Reject => e instanceof Reject,
                    (e) =>
                      Effect.succeed<TxOutcome>({
                        _tag: "Rejected",
                        height: block.height,
                        reason: e.reason,
                        detail: e.detail,
                      }),
                  ),
                  Effect.tap((o) =>
                    Effect.sync(() =>
                      metrics.transactionsApplied.inc({
                        kind: tx._tag,
                        outcome: o._tag.toLowerCase(),
                      }),
                    ),
                  ),
                  Effect.tap((o) =>
                    meta.recordTx(tx.idempotencyKey, block.height, JSON.stringify(o)),
                  ),
                ),
          ),
        ),
      )
      metrics.blockHeight.set(block.height)
      return { alreadyApplied: false, outcomes }
    })

  return { applyBlock, appliedHeight: meta.appliedHeight }
})

export class Apply extends Context.Tag("guts/Apply")<Apply, Effect.Effect.Success<typeof make>>() {
  static readonly Live = Layer.effect(Apply, make)
}
