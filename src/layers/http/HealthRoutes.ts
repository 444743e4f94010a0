/**
 * Health endpoints for load balancers and orchestrators.
 * - `/health/live`: the process answers.
 * - `/health/ready`: storage is open and answering (the server only starts once it is).
 */
import { Effect } from "effect"
import { GUTS_VERSION } from "../../domain/Version.ts"
import { Ledger } from "../../services/Ledger.ts"
import type { Metadata } from "../../services/Metadata.ts"
import { ObjectStore } from "../../services/ObjectStore.ts"
import type { RefStore } from "../../services/RefStore.ts"
import { stateDigest } from "../../services/StateDigest.ts"
import { sendJson, type Route } from "./HttpServer.ts"

export const healthRoutes: Array<Route<ObjectStore | Ledger | Metadata | RefStore>> = [
  {
    name: "GET /health/state",
    method: "GET",
    path: "/health/state",
    handler: (ctx) =>
      Effect.flatMap(stateDigest.pipe(Effect.orDie), (s) => sendJson(ctx.res, 200, s)),
  },
  {
    name: "GET /health/live",
    method: "GET",
    path: "/health/live",
    handler: (ctx) => sendJson(ctx.res, 200, { status: "ok", version: GUTS_VERSION }),
  },
  {
    name: "GET /health/ready",
    method: "GET",
    path: "/health/ready",
    handler: (ctx) =>
      Effect.gen(function* () {
        const objects = yield* ObjectStore
        const ledger = yield* Ledger
        const storage = yield* Effect.either(objects.availableBytes)
        const height = yield* ledger.height
        if (storage._tag === "Left") {
          yield* sendJson(ctx.res, 503, {
            status: "unavailable",
            checks: { storage: `failing: ${storage.left.message}` },
          })
          return
        }
        yield* sendJson(ctx.res, 200, {
          status: "ready",
          checks: { storage: "ok", height },
        })
      }),
  },
]
