/**
 * Repository topics: `GET` for anyone who can read the repository, `PUT` (replace all)
 * for its administrators. Stored in replicated state and shown as `topics` in the
 * repository's JSON.
 */
import { randomUUID } from "node:crypto"
import { Effect } from "effect"
import { normalizeTopics, topicsProblem } from "../../domain/Topics.ts"
import { SetTopics, type UserId } from "../../domain/Transaction.ts"
import { Ledger } from "../../services/Ledger.ts"
import { Metadata } from "../../services/Metadata.ts"
import { Repositories } from "../../services/Repositories.ts"
import { submitTx } from "../../services/Submit.ts"
import { jsonObject, principalOf, type R, requirePrincipal, route, send } from "./ApiKit.ts"
import { unprocessable } from "./HttpErrors.ts"
import type { Route } from "./HttpServer.ts"

const P = "/repos/:owner/:repo"

export const topicRoutes: Array<Route<R>> = [
  route("GET", `${P}/topics`, (ctx) =>
    Effect.gen(function* () {
      const repos = yield* Repositories
      const meta = yield* Metadata
      const p = yield* principalOf(ctx)
      const { repo } = yield* repos.access(ctx.params.owner!, ctx.params.repo!, p, "read")
      yield* send(ctx, 200, { names: yield* meta.topicsOf(repo.id).pipe(Effect.orDie) })
    }),
  ),
  route("PUT", `${P}/topics`, (ctx) =>
    Effect.gen(function* () {
      const p = yield* requirePrincipal(ctx)
      const repos = yield* Repositories
      const ledger = yield* Ledger
      const { repo } = yield* repos.access(ctx.params.owner!, ctx.params.repo!, p, "admin")
      const body = yield* jsonObject(ctx, "Topics")
      const names = body.names
      if (!Array.isArray(names) || !names.every((n) => typeof n === "string"))
        return yield* unprocessable('Invalid request. "names" must be an array of strings.', [
          { resource: "Topics", field: "names", code: "invalid" },
        ])
      const problem = topicsProblem(normalizeTopics(names))
      if (problem)
        return yield* unprocessable(`Invalid request. ${problem}.`, [
          { resource: "Topics", field: "names", code: "invalid" },
        ])
      const done = yield* submitTx<{ names: string[] }>(
        ledger,
        SetTopics.make({
          submitter: p.user.id as UserId,
          idempotencyKey: randomUUID(),
          owner: repo.owner_login,
          repo: repo.name,
          names,
        }),
        "Topics",
        "names",
      )
      yield* send(ctx, 200, { names: done.names })
    }),
  ),
]
