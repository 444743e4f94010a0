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

  constructor(readonly identity: number) {}

  count(kind: Activity["_tag"]): number {
    return this.counts[kind]
  }

  record(activity: Activity, at: number): void {
    const tag = activity._tag
    this.counts[tag]++
    switch (activity._tag) {
      case "Notarize":
      case "Nullify":
      case "Finalize":
        if (activity.attestation.signer === this.identity) this.ownVotes[activity._tag]++
        break
      case "Finalization": {
        const view = activity.proposal.round.view
        if (!this.finalized.has(view)) {
          this.finalized.set(view, activity.proposal.payload.slice())
          this.finalizedAt.set(view, at)
        }
        if (view > this.lastFinalized) this.lastFinalized = view
        break
      }
      case "Notarization":
        if (!this.notarized.has(activity.proposal.round.view))
          this.notarized.set(activity.proposal.round.view, activity.proposal.payload.slice())
        break
      case "Nullification":
        this.nullified.add(activity.round.view)
        break
      case "ConflictingNotarize":
      case "ConflictingFinalize":
        this.faults.push({
          kind: activity._tag,
          offender: activity.first.attestation.signer,
          view: activity.first.proposal.round.view,
          at,
        })
        break
      case "NullifyFinalize":
        this.faults.push({
          kind: activity._tag,
          offender: activity.nullify.attestation.signer,
          view: activity.nullify.round.view,
          at,
        })
        break
      case "InvalidSignature":
        this.invalidSignatures.push({ peer: activity.peer, channel: activity.channel, at })
        break
      default:
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
