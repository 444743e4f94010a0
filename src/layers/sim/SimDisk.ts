/**
 * In-memory journal storage of one simulated node, kept by the cluster across crashes
 * and restarts of that node.
 *
 * Guarantees: an append is pending until the next `sync`; `entries()` returns exactly the
 * durable entries in append order; a crash keeps every synced entry and loses the pending
 * ones (all of them, or, in "torn" mode, a random suffix, as a disk that wrote part of its
 * queue before power failed); pruning only removes entries of views below the bound and
 * never reorders the rest; a synced entry is never rewritten.
 */
import type { Prng } from "./Prng.ts"

interface Record {
  readonly view: bigint
  readonly entry: Uint8Array
}

interface Durable extends Record {
  /** Position in sync order. */
  readonly seq: number
}

export type CrashMode = "lose-pending" | "torn"

export interface DiskCounters {
  appends: number
  syncs: number
  /** Pending entries lost in crashes. */
  lost: number
  /** Pending entries a torn crash still wrote. */
  survived: number
  pruned: number
}

export class SimDisk {
  // Durable entries are bucketed by view: pruning (once per finalization) drops whole
  // buckets instead of scanning every entry, and `entries()` (a restart) restores the
  // append order from each entry's sequence number.
  private readonly durable = new Map<bigint, Durable[]>()
  private durableCount = 0
  private nextSeq = 0
  private pending: Record[] = []
  /** Lowest view among durable entries (lets most prunes return at once). */
  private minView: bigint | undefined = undefined
  readonly counters: DiskCounters = { appends: 0, syncs: 0, lost: 0, survived: 0, pruned: 0 }

  append(view: bigint, entry: Uint8Array): void {
    this.counters.appends++
    this.pending.push({ view, entry })
  }

  /** Makes every pending append durable. */
  sync(): void {
    this.counters.syncs++
    if (this.pending.length === 0) return
    for (const r of this.pending) this.keep(r)
    this.pending = []
  }

  get pendingCount(): number {
    return this.pending.length
  }

  get size(): number {
    return this.durableCount
  }

  /** Durable entries in append order (what a restarted node replays). */
  entries(): Uint8Array[] {
    const all: Durable[] = []
    for (const bucket of this.durable.values()) for (const r of bucket) all.push(r)
    all.sort((a, b) => a.seq - b.seq)
    return all.map((r) => r.entry)
  }

  private keep(r: Record): void {
    const d: Durable = { view: r.view, entry: r.entry, seq: this.nextSeq++ }
    const bucket = this.durable.get(r.view)
    if (bucket === undefined) this.durable.set(r.view, [d])
    else bucket.push(d)
    this.durableCount++
    if (this.minView === undefined || r.view < this.minView) this.minView = r.view
  }

  /** Drops durable entries of views below `belowView`. */
  prune(belowView: bigint): void {
    if (this.minView === undefined || this.minView >= belowView) return
    let dropped = 0
    let min: bigint | undefined
    const durable = this.durable
    durable.forEach((bucket, view) => {
      if (view < belowView) {
        dropped += bucket.length
        durable.delete(view)
      } else if (min === undefined || view < min) min = view
    })
    this.durableCount -= dropped
    this.minView = min
    this.counters.pruned += dropped
  }

  /** Power loss: pending appends are lost (in "torn" mode a random prefix of them survives). */
  crash(mode: CrashMode = "lose-pending", prng?: Prng): void {
    const pending = this.pending
    this.pending = []
    let keep = 0
    if (mode === "torn" && pending.length > 0) {
      if (prng === undefined) throw new Error("a torn crash needs a Prng")
      keep = prng.int(pending.length + 1)
    }
    for (let i = 0; i < keep; i++) this.keep(pending[i])
    this.counters.survived += keep
    this.counters.lost += pending.length - keep
  }
}
