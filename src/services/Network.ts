/**
 * Network: authenticated point-to-point messaging between the nodes of a cluster, on the
 * channels of the design (DESIGN.md, "P2P channels"). Peers are named by the hex of their
 * Ed25519 public key; the transport authenticates them (libp2p Noise, or the simulator's
 * trusted wiring), so `from` on an inbound message is who really sent it.
 *
 * Guarantees every layer keeps (checked by test/conformance/Network.conformance.ts):
 * - messages between two peers on one channel arrive in the order sent, or not at all
 *   (best effort: a disconnected peer's messages are dropped, never duplicated);
 * - a message larger than the channel's limit is refused at the sender and dropped at the
 *   receiver (and the sender of an oversized frame is reported as misbehaving);
 * - messages from peers outside the configured peer set never reach `inbound`;
 * - after `block(peer)`, nothing more from that peer is delivered and its connection is
 *   closed.
 *
 * The configured peer set is the validators and, on a validator, the cluster's full nodes
 * (ClusterNode.ts): the transport admits them all; what each may say on which channel is
 * decided above it, by role.
 *
 * Layers: Libp2pNetwork (TCP + Noise + yamux), SimNetwork (deterministic simulator), and an
 * in-process hub for tests.
 */
import { Context, Data, type Effect, type Queue } from "effect"

export type PeerId = string

export const Channels = {
  /** consensus votes */
  pending: 0,
  /** certificates: notarization, nullification, finalization */
  recovered: 1,
  /** certificate requests/responses (backfill) */
  resolver: 2,
  /** blocks and mempool transactions */
  broadcast: 3,
  /** git objects, block sync, state transfer */
  sync: 4,
} as const

export type Channel = (typeof Channels)[keyof typeof Channels]

/** Largest message accepted per channel, in bytes. */
export const CHANNEL_LIMITS: Readonly<Record<Channel, number>> = {
  0: 64 * 1024,
  1: 1024 * 1024,
  2: 1024 * 1024,
  3: 16 * 1024 * 1024,
  4: 32 * 1024 * 1024,
}

export interface Inbound {
  readonly from: PeerId
  readonly channel: Channel
  readonly bytes: Uint8Array
}

export class MessageTooLarge extends Data.TaggedError("MessageTooLarge")<{
  readonly channel: Channel
  readonly size: number
  readonly limit: number
}> {
  override get message() {
    return `message of ${this.size} bytes exceeds the ${this.limit}-byte limit of channel ${this.channel}`
  }
}

export interface NetworkShape {
  /** Our own peer id. */
  readonly self: PeerId
  /**
   * Sends to the given peers ("all" = every connected configured peer). Best effort:
   * peers that are not connected are skipped. Never blocks on a slow peer for long: each
   * peer has a bounded outbound queue and the oldest messages are dropped when it is full.
   */
  readonly send: (
    channel: Channel,
    to: ReadonlyArray<PeerId> | "all",
    bytes: Uint8Array,
  ) => Effect.Effect<void, MessageTooLarge>
  /** Everything received from configured, unblocked peers. */
  readonly inbound: Queue.Dequeue<Inbound>
  /** Drops the peer for good (misbehaviour); reason is logged. */
  readonly block: (peer: PeerId, reason: string) => Effect.Effect<void>
  /** Peers currently connected. */
  readonly connected: Effect.Effect<ReadonlyArray<PeerId>>
}

export class Network extends Context.Tag("guts/Network")<Network, NetworkShape>() {}
