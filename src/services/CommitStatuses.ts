/**
 * CommitStatuses: GitHub's commit statuses — set by CI and other tools (write access), read
 * by anyone who can read the repository, and counted by branch protection's required checks.
 */
import { randomUUID } from "node:crypto"
import { Context, Effect, Layer } from "effect"
import { isObjectId, type ObjectId } from "../domain/git/ObjectId.ts"
import { combinedState, latestByContext, type StatusState } from "../domain/Statuses.ts"
import { CreateStatus, type UserId } from "../domain/Transaction.ts"
import type { Principal } from "./Auth.ts"
import { NotFound, refusalOf } from "./Errors.ts"
import { Ledger } from "./Ledger.ts"
import { Metadata, type RepoRow } from "./Metadata.ts"
import { RefStore } from "./RefStore.ts"
import { Repositories } from "./Repositories.ts"

const make = Effect.gen(function* () {
  const repos = yield* Repositories
  const meta = yield* Metadata
  const refs = yield* RefStore
  const ledger = yield* Ledger

  /** A commit id, or a branch, tag or `heads/…`/`tags/…` name resolved to its commit. */
  const resolve = (repo: RepoRow, ref: string) =>
    Effect.gen(function* () {
      if (isObjectId(ref)) return ref as ObjectId
      const key = `${repo.owner_login}/${repo.name}`
      for (const name of [ref, `refs/heads/${ref}`, `refs/tags/${ref}`, `refs/${ref}`]) {
        const id = yield* refs.get(key, name).pipe(Effect.orDie)
        if (id) return id
      }
      return yield* new NotFound({ what: `No commit found for the ref ${ref}` })
    })

  const create = (
    principal: Principal,
    owner: string,
    name: string,
    sha: string,
    fields: {
      state: StatusState
      context?: string | undefined
      description?: string | null | undefined
      targetUrl?: string | null | undefined
    },
  ) =>
    Effect.gen(function* () {
      const { repo } = yield* repos.access(owner, name, principal, "write")
      const outcome = yield* ledger.submit(
        CreateStatus.make({
          submitter: principal.user.id as UserId,
          idempotencyKey: randomUUID(),
          owner: repo.owner_login,
          repo: repo.name,
          sha,
          state: fields.state,
          context: fields.context ?? "default",
          description: fields.description,
          targetUrl: fields.targetUrl,
        }),
      )
      if (outcome._tag === "Rejected") return yield* refusalOf(outcome, "Status", "sha")
      const { id } = outcome.detail as { id: number }
      const row = (yield* meta.statusesOf(repo.id, sha).pipe(Effect.orDie)).find((s) => s.id === id)
      return { repo, status: row! }
    })

  const list = (owner: string, name: string, ref: string, principal: Principal | undefined) =>
    Effect.gen(function* () {
      const { repo } = yield* repos.access(owner, name, principal, "read")
      const sha = yield* resolve(repo, ref)
      return { repo, sha, statuses: yield* meta.statusesOf(repo.id, sha).pipe(Effect.orDie) }
    })

  const combined = (owner: string, name: string, ref: string, principal: Principal | undefined) =>
    Effect.map(list(owner, name, ref, principal), ({ repo, sha, statuses }) => {
      const latest = latestByContext(statuses)
      return { repo, sha, latest, state: combinedState(latest) }
    })

  return { create, list, combined, resolve }
})

export class CommitStatuses extends Context.Tag("guts/CommitStatuses")<
  CommitStatuses,
  Effect.Effect.Success<typeof make>
>() {
  static readonly Live = Layer.effect(CommitStatuses, make)
}
