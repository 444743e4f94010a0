/**
 * Apply handler for repository topics: replaced as a whole by an administrator of the
 * repository, checked against GitHub's rules (domain/Topics.ts) on every validator.
 */
import { Effect } from "effect"
import { normalizeTopics, topicsProblem } from "../../domain/Topics.ts"
import type * as T from "../../domain/Transaction.ts"
import type { Block } from "../../domain/Transaction.ts"
import type { MetadataShape, UserRow } from "../Metadata.ts"
import type { Kit } from "./Kit.ts"

export const makeTopicHandlers = (meta: MetadataShape, kit: Kit) => {
  const { reject, done, needLevel } = kit

  const setTopics = (tx: T.SetTopics, _block: Block, actor: UserRow) =>
    Effect.gen(function* () {
      const repo = yield* needLevel(tx.owner, tx.repo, actor, "admin")
      const names = normalizeTopics(tx.names)
      const problem = topicsProblem(names)
      if (problem) return yield* reject(problem, { code: "invalid", field: "names" })
      yield* meta.setTopics(repo.id, names)
      return done({ names })
    })

  return { setTopics }
}
