/**
 * Ledger: where state changes go. `submit` hands a transaction to the ordering layer and
 * completes once the block holding it has been applied on this node, with that
 * transaction's outcome (the seed's write path: answer only after finality and apply).
 *
 * Layers: LedgerLocal (a single validator: every submission is its own block, ordered by
 * a local sequencer) and, with consensus, the replicated ledger. Callers do not know
 * which one they talk to.
 */
import { Context, Data, type Effect } from "effect"
import type { Transaction, TxOutcome } from "../domain/Transaction.ts"

export class LedgerUnavailable extends Data.TaggedError("LedgerUnavailable")<{
  readonly reason: string
}> {
  override get message() {
    return `writes are unavailable: ${this.reason}`
  }
}

export interface LedgerShape {
  readonly submit: (tx: Transaction) => Effect.Effect<TxOutcome, LedgerUnavailable>
  /** Height of the last block applied on this node. */
  readonly height: Effect.Effect<number>
  /**
   * In a cluster: the highest finalized height this node trusts from its peers (readiness
   * compares it with `height`); absent for a single validator.
   */
  readonly finalizedHeight?: Effect.Effect<number>
}

export class Ledger extends Context.Tag("guts/Ledger")<Ledger, LedgerShape>() {}
