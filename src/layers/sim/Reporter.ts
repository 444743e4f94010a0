/**
 * The recording reporter of one simulated node (spec §5 Reporter): keeps what the engine
 * reported in a compact form (counts per activity, finalized and notarized payloads per
 * view, nullified views, faults with their offender, invalid signatures, blocked peers) and
 * the blocks the node's marshal delivered, so scenarios and invariants can inspect a run
 * after it ends.
 *
 * Guarantees: every Report and BlockPeer output of the node is recorded exactly once, in
 * output order; memory is bounded by the number of views, not of votes.
 */
import type { Activity } from "../../domain/consensus/Engine.ts"
import type { Digest, View } from "../../domain/consensus/Types.ts"

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
  readonly finalized = new Map<View, Digest>()
  readonly notarized = new Map<View, Digest>()
  readonly nullified = new Set<View>()
  readonly faults: Fault[] = []
  readonly invalidSignatures: { peer: number; channel: string; at: number }[] = []
  readonly blocks: BlockEvent[] = []
  /** Height of the last block the node's marshal delivered, and how many it delivered. */
  deliveredHeight = 0n
  deliveries = 0
  /** Votes this node itself signed (and reported once durable). */
  readonly ownVotes = { Notarize: 0, Nullify: 0, Finalize: 0 }
  lastFinalized: View = 0n
  /** Simulated time of the first finalization of each view this node saw. */
  readonly finalizedAt = new Map<View, number>()

  /**
   * `keep` makes the long-lived copy of a digest this reporter records (default: a copy;
   * the simulator passes BlockRelay.canonical, which shares one array per block).
   */
  constructor(
    readonly identity: number,
    private readonly keep: (digest: Digest) => Digest = (d) => d.slice(),
  ) {}

  count(kind: Activity["_tag"]): number {
    return this.counts[kind]
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
        if (activity.attestation.signer === this.identity) this.ownVotes.Nullify++
        break
      case "Finalize":
        counts.Finalize++
        if (activity.attestation.signer === this.identity) this.ownVotes.Finalize++
        break
      case "Finalization": {
        counts.Finalization++
        const view = activity.proposal.round.view
        // Finalizations mostly arrive in view order: past the highest one, the view is new.
        if (view > this.lastFinalized || !this.finalized.has(view)) {
          this.finalized.set(view, this.keep(activity.proposal.payload))
          this.finalizedAt.set(view, at)
        }
        if (view > this.lastFinalized) this.lastFinalized = view
        break
      }
      case "Notarization":
        counts.Notarization++
        if (!this.notarized.has(activity.proposal.round.view))
          this.notarized.set(activity.proposal.round.view, this.keep(activity.proposal.payload))
        break
      case "Nullification":
        counts.Nullification++
        this.nullified.add(activity.round.view)
        break
      case "Certification":
        counts.Certification++
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

  /** Views this node saw finalized. */
  get finalizedCount(): number {
    return this.finalized.size
  }
}
