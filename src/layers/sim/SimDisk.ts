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
import { ViewMap } from "../../domain/consensus/ViewMap.ts"
import type { Prng } from "./Prng.ts"

interface Record {
  readonly view: bigint
  readonly entry: Uint8Array
  /** Position in sync order, set when the record becomes durable (-1 while pending). */
  seq: number
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
  // Durable entries are bucketed by view: pruning (once per finalization) drops the
  // buckets of the few views it passes instead of visiting every entry, and `entries()`
  // (a restart) restores the append order from each entry's sequence number.
  private readonly durable = new ViewMap<Record[]>()
  private durableCount = 0
  private nextSeq = 0
  /** Pending appends: the first `pendingLength` slots (one long-lived array, reused). */
  private readonly pending: (Record | undefined)[] = []
  private pendingLength = 0
  /** Lowest view among durable entries (lets most prunes return at once). */
  private minView: bigint | undefined = undefined
  readonly counters: DiskCounters = { appends: 0, syncs: 0, lost: 0, survived: 0, pruned: 0 }

  append(view: bigint, entry: Uint8Array): void {
    this.counters.appends++
    this.pending[this.pendingLength++] = { view, entry, seq: -1 }
  }

  /** Makes every pending append durable. */
  sync(): void {
    this.counters.syncs++
    const pending = this.pending
    const n = this.pendingLength
    for (let i = 0; i < n; i++) {
      this.keep(pending[i] as Record)
      pending[i] = undefined
    }
    this.pendingLength = 0
  }

  get pendingCount(): number {
    return this.pendingLength
  }

  get size(): number {
    return this.durableCount
  }

  /** Durable entries in append order (what a restarted node replays). */
  entries(): Uint8Array[] {
    const all: Record[] = []
    for (const bucket of this.durable.values()) for (const r of bucket) all.push(r)
    all.sort((a, b) => a.seq - b.seq)
    return all.map((r) => r.entry)
  }

  private keep(r: Record): void {
    r.seq = this.nextSeq++
    const bucket = this.durable.get(r.view)
    if (bucket === undefined) this.durable.set(r.view, [r])
    else bucket.push(r)
    this.durableCount++
    if (this.minView === undefined || r.view < this.minView) this.minView = r.view
  }

  /** Drops durable entries of views below `belowView`. */
  prune(belowView: bigint): void {
    const from = this.minView
    if (from === undefined || from >= belowView) return
    const durable = this.durable
    let dropped = 0
    if (belowView - from <= BigInt(durable.size)) {
      // The usual case: the bound moved a view or two past the lowest view held.
      for (let v = from; v < belowView; v++) {
        const bucket = durable.get(v)
        if (bucket === undefined) continue
        dropped += bucket.length
        durable.delete(v)
      }
    } else {
      for (const [view, bucket] of durable)
        if (view < belowView) {
          dropped += bucket.length
          durable.delete(view)
        }
    }
    this.durableCount -= dropped
    this.counters.pruned += dropped
    this.minView = durable.size === 0 ? undefined : this.lowestFrom(belowView)
  }

  /** The lowest view with entries, knowing none lies below `from` (the store is not empty). */
  private lowestFrom(from: bigint): bigint {
    const durable = this.durable
    // Views with entries are (nearly) contiguous: a short walk finds it; a gap falls back
    // to a scan.
    for (let v = from, k = 0; k < 16; v++, k++) if (durable.has(v)) return v
    let min: bigint | undefined
    for (const view of durable.keys()) if (min === undefined || view < min) min = view
    return min as bigint
  }

  /** Power loss: pending appends are lost (in "torn" mode a random prefix of them survives). */
  crash(mode: CrashMode = "lose-pending", prng?: Prng): void {
    const pending = this.pending
    const n = this.pendingLength
    let keep = 0
    if (mode === "torn" && n > 0) {
      if (prng === undefined) throw new Error("a torn crash needs a Prng")
      keep = prng.int(n + 1)
    }
    for (let i = 0; i < keep; i++) this.keep(pending[i] as Record)
    for (let i = 0; i < n; i++) pending[i] = undefined
    this.pendingLength = 0
    this.counters.survived += keep
    this.counters.lost += n - keep
  }
}
