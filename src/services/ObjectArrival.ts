/**
 * Objects written through one validator reach the others without acknowledgement (see
 * ObjectReplicator), so a client that writes an object on one node and names it on another
 * a moment later can arrive first. Request-time checks that an object exists therefore look
 * again for a short while in a cluster before refusing (apply needs no such wait: it fetches
 * what a block names from peers).
 */
import { Effect } from "effect"
import type { ObjectId } from "../domain/git/ObjectId.ts"
import { NodeConfig } from "./NodeConfig.ts"

/** How long a request waits for an object another validator has just written. */
export const ARRIVAL_WAIT_MS = 3_000

/**
 * `look` again every 50 ms until it finds the object or the wait is over (no wait on a
 * single validator, where every object was written here).
 */
export const awaitArrival = <A, E, R>(look: (id: ObjectId) => Effect.Effect<A | undefined, E, R>) =>
  Effect.map(NodeConfig, (config) => {
    const waitMs = config.cluster === undefined ? 0 : ARRIVAL_WAIT_MS
    return (id: ObjectId) =>
      Effect.gen(function* () {
        const deadline = Date.now() + waitMs
        for (;;) {
          const found = yield* look(id)
          if (found !== undefined || Date.now() >= deadline) return found
          yield* Effect.sleep("50 millis")
        }
      })
  })
