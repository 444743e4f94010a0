/**
 * Repositories: create and look up repositories, with the visibility rule every caller
 * shares: a private repository is invisible (not found) to whoever cannot read it.
 */
import { randomUUID } from "node:crypto"
import { Context, Data, Effect, Layer } from "effect"
import { CreateRepository, type UserId } from "../domain/Transaction.ts"
import type { Principal } from "./Auth.ts"
import { Ledger } from "./Ledger.ts"
import { Metadata, type RepoRow } from "./Metadata.ts"

export class RepositoryNotFound extends Data.TaggedError("RepositoryNotFound")<{
  readonly owner: string
  readonly name: string
}> {
  override get message() {
    return `repository ${this.owner}/${this.name} not found`
  }
}

export class RepositoryRejected extends Data.TaggedError("RepositoryRejected")<{
  readonly reason: string
  readonly code?: string
}> {
  override get message() {
    return this.reason
  }
}

export const canRead = (repo: RepoRow, principal: Principal | undefined) =>
  repo.private === 0 ||
  (principal !== undefined &&
    (principal.user.id === repo.owner_id || principal.user.site_admin === 1))

export const canWrite = (repo: RepoRow, principal: Principal | undefined) =>
  principal !== undefined &&
  (principal.user.id === repo.owner_id || principal.user.site_admin === 1)

export interface CreateRepositoryInput {
  readonly name: string
  readonly description?: string | undefined
  readonly private?: boolean | undefined
  readonly defaultBranch?: string | undefined
  readonly owner?: string | undefined
}

const make = Effect.gen(function* () {
  const meta = yield* Metadata
  const ledger = yield* Ledger

  /** The repository if `principal` may read it; RepositoryNotFound otherwise. */
  const find = (owner: string, name: string, principal: Principal | undefined) =>
    Effect.gen(function* () {
      const repo = yield* meta.repo(owner, name).pipe(Effect.orDie)
      if (!repo || !canRead(repo, principal)) return yield* new RepositoryNotFound({ owner, name })
      return repo
    })

  const create = (principal: Principal, input: CreateRepositoryInput) =>
    Effect.gen(function* () {
      const owner = input.owner ?? principal.user.login
      const tx = CreateRepository.make({
        submitter: principal.user.id as UserId,
        idempotencyKey: randomUUID(),
        owner,
        name: input.name,
        description: input.description,
        private: input.private ?? false,
        defaultBranch: input.defaultBranch ?? "main",
      })
      const outcome = yield* ledger.submit(tx)
      if (outcome._tag === "Rejected") {
        const code = (outcome.detail as { code?: string } | undefined)?.code
        return yield* new RepositoryRejected({ reason: outcome.reason, ...(code ? { code } : {}) })
      }
      const repo = yield* meta.repo(owner, input.name).pipe(Effect.orDie)
      if (!repo) return yield* Effect.dieMessage("repository vanished right after creation")
      return repo
    })

  const listOf = (owner: string, principal: Principal | undefined) =>
    meta.reposOf(owner).pipe(
      Effect.orDie,
      Effect.map((rows) => rows.filter((r) => canRead(r, principal))),
    )

  return { find, create, listOf }
})

export class Repositories extends Context.Tag("guts/Repositories")<
  Repositories,
  Effect.Effect.Success<typeof make>
>() {
  static readonly Live = Layer.effect(Repositories, make)
}
