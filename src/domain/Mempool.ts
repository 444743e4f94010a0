/**
 * Mempool: transactions waiting for a block. Bounded (a full pool refuses new work with a
 * reason instead of growing without limit), deduplicated by idempotency key (a retried
 * or re-gossiped transaction is held once), first come first served.
 */
import type { SignedTransaction } from "./Block.ts"

export type AddResult = "added" | "duplicate" | "full"

export class Mempool {
  private readonly pending = new Map<string, SignedTransaction>()
  /** Keys already in a finalized block: ignored if they come around again. */
  private readonly done = new Set<string>()
  private readonly doneOrder: string[] = []

  constructor(
    readonly capacity: number,
    private readonly rememberDone = 100_000,
  ) {}

  get size(): number {
    return this.pending.size
  }

  add(stx: SignedTransaction): AddResult {
    const key = stx.tx.idempotencyKey
    if (this.pending.has(key) || this.done.has(key)) return "duplicate"
    if (this.pending.size >= this.capacity) return "full"
    this.pending.set(key, stx)
    return "added"
  }

  /** Up to `max` transactions in arrival order, left in the pool until `committed`. */
  take(max: number): SignedTransaction[] {
    const out: SignedTransaction[] = []
    for (const stx of this.pending.values()) {
      if (out.length >= max) break
      out.push(stx)
    }
    return out
  }

  /** Removes the transactions of an applied block and remembers their keys. */
  committed(keys: Iterable<string>): void {
    for (const key of keys) {
      this.pending.delete(key)
      if (!this.done.has(key)) {
        this.done.add(key)
        this.doneOrder.push(key)
        if (this.doneOrder.length > this.rememberDone) this.done.delete(this.doneOrder.shift()!)
      }
    }
  }

  has(key: string): boolean {
    return this.pending.has(key)
  }
}
