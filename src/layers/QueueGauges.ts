/**
 * The gauges of work a node has not done yet: finalized blocks not applied here
 * (`guts_apply_lag_blocks`) and CI jobs waiting for or held by a runner
 * (`guts_ci_jobs_queued`, `guts_ci_jobs_running`). Refreshed after each applied block and
 * every 2 seconds (a lagging node learns of finalized heights without applying anything).
 */
import { Effect, Layer, PubSub, Queue, Schedule } from "effect"
import { Apply } from "../services/Apply.ts"
import { Ledger } from "../services/Ledger.ts"
import { Metadata } from "../services/Metadata.ts"
import { Metrics } from "./Metrics.ts"

export const QueueGaugesLive = Layer.scopedDiscard(
  Effect.gen(function* () {
    const metrics = yield* Metrics
    const ledger = yield* Ledger
    const meta = yield* Metadata
    const apply = yield* Apply
    const refresh = Effect.gen(function* () {
      const applied = yield* ledger.height
      // A single validator applies what it finalizes at once: no lag.
      const finalized =
        ledger.finalizedHeight === undefined ? applied : yield* ledger.finalizedHeight
      metrics.applyLag.set(Math.max(0, finalized - applied))
      const jobs = yield* meta.ciJobCounts
      metrics.ciJobsQueued.set(jobs.queued)
      metrics.ciJobsRunning.set(jobs.running)
    }).pipe(Effect.catchAllCause((c) => Effect.logDebug("queue gauges not refreshed", c)))
    yield* refresh
    const blocks = yield* PubSub.subscribe(apply.appliedBlocks)
    yield* Queue.take(blocks).pipe(
      Effect.zipRight(Queue.takeAll(blocks)),
      Effect.zipRight(refresh),
      Effect.forever,
      Effect.forkScoped,
    )
    yield* refresh.pipe(Effect.repeat(Schedule.spaced("2 seconds")), Effect.forkScoped)
  }),
)
