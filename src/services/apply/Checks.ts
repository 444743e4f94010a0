/**
 * Apply handler for check runs (GitHub's checks API, the subset CI needs): created on a
 * commit by someone who can write to the repository, then moved through queued,
 * in_progress and completed with a conclusion. Completed runs with a passing conclusion
 * count for branch protection's required checks (domain/Statuses.ts `passingChecks`).
 */
import { Effect } from "effect"
import { isObjectId, type ObjectId } from "../../domain/git/ObjectId.ts"
import type * as T from "../../domain/Transaction.ts"
import type { Block } from "../../domain/Transaction.ts"
import type { MetadataShape, UserRow } from "../Metadata.ts"
import type { ObjectStoreShape } from "../ObjectStore.ts"
import type { Kit } from "./Kit.ts"

export const makeCheckHandlers = (meta: MetadataShape, kit: Kit, objects: ObjectStoreShape) => {
  const { reject, done, needLevel } = kit
  const invalid = (field: string, reason: string) => reject(reason, { code: "invalid", field })

  const setCheckRun = (tx: T.SetCheckRun, block: Block, actor: UserRow) =>
    Effect.gen(function* () {
      const repo = yield* needLevel(tx.owner, tx.repo, actor, "write")
      if (tx.name !== undefined && (tx.name.trim() === "" || tx.name.length > 255))
        return yield* invalid("name", "name must be 1 to 255 characters")
      if (tx.output !== undefined && tx.output !== null) {
        try {
          const o = JSON.parse(tx.output)
          if (typeof o !== "object" || o === null || Array.isArray(o)) throw new Error()
        } catch {
          return yield* invalid("output", "output must be an object")
        }
      }
      // A conclusion completes a run; a completed run needs one.
      const status = tx.conclusion !== undefined ? "completed" : tx.status
      if (tx.id === undefined) {
        if (tx.name === undefined) return yield* invalid("name", "name is required")
        if (tx.headSha === undefined || !isObjectId(tx.headSha))
          return yield* invalid("head_sha", "head_sha must be a commit id (40 hex digits)")
        const commit = yield* objects.get(tx.headSha as ObjectId).pipe(Effect.option)
        if (commit._tag === "None" || commit.value.type !== "commit")
          return yield* reject(`no commit found for SHA: ${tx.headSha}`, {
            code: "unprocessable",
            field: "head_sha",
          })
        if (status === "completed" && tx.conclusion === undefined)
          return yield* invalid("conclusion", "a completed check run needs a conclusion")
        const id = yield* meta.insertCheckRun({
          repo_id: repo.id,
          head_sha: tx.headSha,
          name: tx.name.trim(),
          status: status ?? "queued",
          conclusion: tx.conclusion ?? null,
          external_id: tx.externalId ?? null,
          details_url: tx.detailsUrl ?? null,
          output: tx.output ?? null,
          started_at: tx.startedAt ?? block.timestamp,
          completed_at:
            status === "completed" ? (tx.completedAt ?? block.timestamp) : (tx.completedAt ?? null),
          creator_id: actor.id,
          creator_login: actor.login,
          created_at: block.timestamp,
          updated_at: block.timestamp,
        })
        return done({ id })
      }
      const run = yield* meta.checkRunById(tx.id)
      if (!run || run.repo_id !== repo.id)
        return yield* reject(`check run ${tx.id} does not exist`, { code: "not_found" })
      if (status === "completed" && tx.conclusion === undefined && run.conclusion === null)
        return yield* invalid("conclusion", "a completed check run needs a conclusion")
      yield* meta.updateCheckRun(run.id, {
        ...(tx.name !== undefined ? { name: tx.name.trim() } : {}),
        ...(status !== undefined ? { status } : {}),
        ...(tx.conclusion !== undefined ? { conclusion: tx.conclusion } : {}),
        ...(tx.externalId !== undefined ? { external_id: tx.externalId } : {}),
        ...(tx.detailsUrl !== undefined ? { details_url: tx.detailsUrl } : {}),
        ...(tx.output !== undefined ? { output: tx.output } : {}),
        ...(tx.startedAt !== undefined ? { started_at: tx.startedAt } : {}),
        ...(status === "completed" && run.completed_at === null
          ? { completed_at: tx.completedAt ?? block.timestamp }
          : tx.completedAt !== undefined
            ? { completed_at: tx.completedAt }
            : {}),
        updated_at: block.timestamp,
      })
      return done({ id: run.id })
    })

  return { setCheckRun }
}
