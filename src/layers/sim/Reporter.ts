/**
 * The recording reporter of one simulated node (spec §5 Reporter): keeps what the engine
 * reported in a compact form (counts per activity; the views it saw finalized, notarized,
 * nullified and certified, and those it nullified itself; faults with their offender,
 * invalid signatures, blocked peers, the blocks the node's marshal delivered) and a
 * per-leader account of how the views each leader led ended for this node: finalized,
 * notarized, nullified, and timed out (this node nullified it).
 *
 * Guarantees: every Report and BlockPeer output of the node is recorded exactly once, in
 * output order; a view counts at most once per kind in the per-leader account, whatever
 * the order or repetition of the reports; memory is bounded by the number of views, not
 * of votes.
 */
import type { Activity } from "../../domain/consensus/Engine.ts"
import { roundRobinLeader, type Round, type View } from "../../domain/consensus/Types.ts"

export type FaultKind = "ConflictingNotarize" | "ConflictingFinalize" | "NullifyFinalize"

export interface Fault {
  readonly kind: FaultKind
  /** The participant the evidence convicts. */
  readonly offender: number
  readonly view: View
  readonly at: number
}

export interface BlockEvent {
  readonly peer: number
  readonly reason: string
  readonly at: number
}

/** How the views one leader led ended, as seen by one node (or summed over nodes). */
export interface LeaderAccount {
  /** Views finalized. */
  finalized: number
  /** Views notarized (a notarization certificate was held). */
  notarized: number
  /** Views nullified: the cluster changed view without that leader's block. */
  nullified: number
  /** Views this node nullified itself (a timeout or a rejected proposal on its side). */
  timeouts: number
}

export const emptyAccount = (): LeaderAccount => ({
  finalized: 0,
  notarized: 0,
  nullified: 0,
  timeouts: 0,
})

/**
 * A set of views. Views are u64 but a run reaches only small ones: those below 2^31 live
 * in a bitmap (cheap to test and set on every report), larger ones in a Set.
 */
export class ViewBits {
  private bits = new Uint32Array(64)
  private readonly large = new Set<View>()
  size = 0

  /** Adds `view`; true if it was not there. */
  add(view: View): boolean {
    if (view >= 0x80000000n) {
      if (this.large.has(view)) return false
      this.large.add(view)
      this.size++
      return true
    }
    const v = Number(view)
    const word = v >>> 5
    if (word >= this.bits.length) {
      let cap = this.bits.length * 2
      while (cap <= word) cap *= 2
      const grown = new Uint32Array(cap)
      grown.set(this.bits)
      this.bits = grown
    }
    const mask = 1 << (v & 31)
    if ((this.bits[word] & mask) !== 0) return false
    this.bits[word] |= mask
    this.size++
    return true
  }

  has(view: View): boolean {
    if (view >= 0x80000000n) return this.large.has(view)
    const v = Number(view)
    const word = v >>> 5
    return word < this.bits.length && (this.bits[word] & (1 << (v & 31))) !== 0
  }

  /** The lowest view in the set above `view`, if any. */
  firstAbove(view: View): View | undefined {
    if (view < 0x7fffffffn) {
      for (let v = Number(view) + 1; v >>> 5 < this.bits.length; v++)
        if ((this.bits[v >>> 5] & (1 << (v & 31))) !== 0) return BigInt(v)
    }
    let min: View | undefined
    for (const v of this.large) if (v > view && (min === undefined || v < min)) min = v
    return min
  }
}

export class RecordingReporter {
  // Every tag preset so the object keeps one shape (counting is on the hot path).
  private readonly counts: Record<Activity["_tag"], number> = {
    Notarize: 0,
    Nullify: 0,
    Finalize: 0,
    Notarization: 0,
    Nullification: 0,
    Finalization: 0,
    Certification: 0,
    ConflictingNotarize: 0,
    ConflictingFinalize: 0,
    NullifyFinalize: 0,
    InvalidSignature: 0,
  }
  /** Views this node saw finalized, notarized, nullified, certified (true verdict). */
  readonly finalized = new ViewBits()
  readonly notarized = new ViewBits()
  readonly nullified = new ViewBits()
  readonly certified = new ViewBits()
  /** Views this node nullified itself. */
  readonly timedOut = new ViewBits()
  /** Per-leader account, by participant index. */
  readonly leaders: ReadonlyArray<LeaderAccount>
  readonly faults: Fault[] = []
  readonly invalidSignatures: { peer: number; channel: string; at: number }[] = []
  readonly blocks: BlockEvent[] = []
  /** Height of the last block the node's marshal delivered, and how many it delivered. */
  deliveredHeight = 0n
  deliveries = 0
  /** Votes this node itself signed (and reported once durable). */
  readonly ownVotes = { Notarize: 0, Nullify: 0, Finalize: 0 }
  lastFinalized: View = 0n

  /** `participants` = n of the epoch (leaders are elected round-robin among them). */
  constructor(
    readonly identity: number,
    private readonly participants: number,
  ) {
    this.leaders = Array.from({ length: participants }, emptyAccount)
  }

  count(kind: Activity["_tag"]): number {
    return this.counts[kind]
  }

  /** Views this node saw finalized. */
  get finalizedCount(): number {
    return this.finalized.size
  }

  /** Views this node saw nullified. */
  get nullifiedCount(): number {
    return this.nullified.size
  }

  private leader(round: Round): LeaderAccount {
    return this.leaders[roundRobinLeader(round.epoch, round.view, this.participants)]
  }

  record(activity: Activity, at: number): void {
    // Counting through literal property names keeps these accesses monomorphic (a keyed
    // `counts[tag]++` is a dictionary-style lookup per vote).
    const counts = this.counts
    switch (activity._tag) {
      case "Notarize":
        counts.Notarize++
        if (activity.attestation.signer === this.identity) this.ownVotes.Notarize++
        break
      case "Nullify":
        counts.Nullify++
        if (activity.attestation.signer === this.identity) {
          this.ownVotes.Nullify++
          if (this.timedOut.add(activity.round.view)) this.leader(activity.round).timeouts++
        }
        break
      case "Finalize":
        counts.Finalize++
        if (activity.attestation.signer === this.identity) this.ownVotes.Finalize++
        break
      case "Finalization": {
        counts.Finalization++
        const round = activity.proposal.round
        if (this.finalized.add(round.view)) this.leader(round).finalized++
        if (round.view > this.lastFinalized) this.lastFinalized = round.view
        break
      }
      case "Notarization": {
        counts.Notarization++
        const round = activity.proposal.round
        if (this.notarized.add(round.view)) this.leader(round).notarized++
        break
      }
      case "Nullification":
        counts.Nullification++
        if (this.nullified.add(activity.round.view)) this.leader(activity.round).nullified++
        break
      case "Certification":
        counts.Certification++
        if (activity.ok) this.certified.add(activity.round.view)
        break
      case "ConflictingNotarize":
      case "ConflictingFinalize":
        counts[activity._tag]++
        this.faults.push({
          kind: activity._tag,
          offender: activity.first.attestation.signer,
          view: activity.first.proposal.round.view,
          at,
        })
        break
      case "NullifyFinalize":
        counts.NullifyFinalize++
        this.faults.push({
          kind: activity._tag,
          offender: activity.nullify.attestation.signer,
          view: activity.nullify.round.view,
          at,
        })
        break
      case "InvalidSignature":
        counts.InvalidSignature++
        this.invalidSignatures.push({ peer: activity.peer, channel: activity.channel, at })
        break
    }
  }

  recordBlock(peer: number, reason: string, at: number): void {
    this.blocks.push({ peer, reason, at })
  }

  recordDelivery(height: bigint): void {
    this.deliveries++
    if (height > this.deliveredHeight) this.deliveredHeight = height
  }
}

/**
 * The per-leader account of a cluster: for each leader, the views finalized, notarized and
 * nullified as any of the given reporters saw them (the highest count among them, since
 * honest nodes agree on how a view ended and differ only in how much of it they saw), and
 * the timeouts summed over all of them (how many node-views that leader cost).
 */
export const leaderSummary = (
  reporters: ReadonlyArray<RecordingReporter>,
  participants: number,
): LeaderAccount[] => {
  const out = Array.from({ length: participants }, emptyAccount)
  for (const r of reporters)
    for (let i = 0; i < participants && i < r.leaders.length; i++) {
      const a = r.leaders[i]
      const o = out[i]
      if (a.finalized > o.finalized) o.finalized = a.finalized
      if (a.notarized > o.notarized) o.notarized = a.notarized
      if (a.nullified > o.nullified) o.nullified = a.nullified
      o.timeouts += a.timeouts
    }
  return out
}
