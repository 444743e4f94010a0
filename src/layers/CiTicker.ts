/**
 * CiTicker: a single validator makes a block only when a transaction arrives, but leases
 * end and schedules fire by block time. Every few seconds this asks whether a block now
 * would have CI work (`ciWorkDue`) and, if so, submits a `CiTick` so that block happens. A
 * cluster makes idle blocks on its own; there the check is simply rarely true.
 */
import { randomUUID } from "node:crypto"
import { Clock, type Duration, Effect, Layer, Schedule } from "effect"
import { CiTick, SYSTEM_USER } from "../domain/Transaction.ts"
import { ciWorkDue, leaseOf } from "../services/apply/Ci.ts"
import { Ledger } from "../services/Ledger.ts"
import { Metadata } from "../services/Metadata.ts"
import { NodeConfig } from "../services/NodeConfig.ts"

export const ciTickerLayer = (every?: Duration.DurationInput) =>
  Layer.scopedDiscard(
    Effect.gen(function* () {
      const config = yield* NodeConfig
      // Often enough that a lost lease is noticed within half a lease, at most every 5 s.
      const spacing = every ?? Math.min(5_000, leaseOf(config.ciLeaseMs) / 2)
      const meta = yield* Metadata
      const ledger = yield* Ledger
      const once = Effect.gen(function* () {
        const now = yield* Clock.currentTimeMillis
        if (!(yield* ciWorkDue(meta, now))) return
        yield* ledger.submit(CiTick.make({ submitter: SYSTEM_USER, idempotencyKey: randomUUID() }))
      }).pipe(Effect.catchAllCause((c) => Effect.logDebug("CI tick skipped", c)))
      yield* once.pipe(Effect.repeat(Schedule.spaced(spacing)), Effect.forkScoped)
    }),
  )
