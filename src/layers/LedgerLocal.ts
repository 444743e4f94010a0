/**
 * LedgerLocal: the single-validator ledger. Submissions are serialised; each becomes a
 * block of one transaction at the next height, stamped with this node's clock (the only
 * proposer), and is applied before `submit` returns. A retried submission with the same
 * idempotency key gets the first outcome back instead of being applied twice.
 */
import { Clock, Effect, Layer } from "effect"
import type { TxOutcome } from "../domain/Transaction.ts"
import { Apply } from "../services/Apply.ts"
import { Ledger, LedgerUnavailable } from "../services/Ledger.ts"

const RECENT_KEYS = 10_000

export const LedgerLocal = Layer.effect(
  Ledger,
  Effect.gen(function* () {
    const apply = yield* Apply
    const lock = yield* Effect.makeSemaphore(1)
    let height = yield* apply.appliedHeight.pipe(Effect.orDie)
    let lastTimestamp = 0
    const recent = new Map<string, TxOutcome>()

    return Ledger.of({
      height: Effect.sync(() => height),
      submit: (tx) =>
        lock
          .withPermits(1)(
            Effect.gen(function* () {
              const seen = recent.get(tx.idempotencyKey)
              if (seen) return seen
              const now = yield* Clock.currentTimeMillis
              const timestamp = Math.max(now, lastTimestamp + 1)
              const block = { height: height + 1, timestamp, txs: [tx] }
              const result = yield* apply.applyBlock(block).pipe(
                Effect.withSpan("guts.apply", {
                  attributes: { "guts.block.height": block.height, "guts.block.txs": 1 },
                }),
                Effect.mapError(
                  (e) =>
                    new LedgerUnavailable({
                      reason: `applying block ${block.height} failed: ${e.message}`,
                    }),
                ),
              )
              height = block.height
              lastTimestamp = timestamp
              const outcome = result.outcomes[0]!
              recent.set(tx.idempotencyKey, outcome)
              if (recent.size > RECENT_KEYS) recent.delete(recent.keys().next().value!)
              return outcome
            }),
          )
          .pipe(
            Effect.withSpan("guts.submit", {
              attributes: { "guts.tx.kind": tx._tag, "guts.tx.key": tx.idempotencyKey },
            }),
          ),
    })
  }),
)
