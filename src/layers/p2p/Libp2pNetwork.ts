/**
 * Libp2pNetwork: the Network service over libp2p 3 (TCP, Noise, yamux), between the
 * validators named in the configuration.
 *
 * Wire layout: one libp2p protocol per channel (`/guts/pending/1`, `/guts/recovered/1`,
 * ...). Each node opens one long-lived stream per (peer, channel) for what it sends and only
 * reads the streams its peers open; every message is one length-prefixed frame (Frame.ts),
 * and small frames queued together leave in one write (one yamux frame, one Noise message).
 *
 * Guarantees, on top of the Network contract:
 * - only configured peers get past the Noise handshake (the connection gater checks the
 *   authenticated peer id); anyone else is disconnected before a stream can be opened;
 * - per (peer, channel) the receiver reads from one stream at a time, the newest; with the
 *   sender writing each message once, on one stream at a time, messages arrive in order or
 *   not at all, never twice;
 * - a frame whose length prefix exceeds the channel's limit, or is malformed, closes the
 *   stream and blocks its sender before any of the payload is buffered;
 * - every configured peer with an address is dialled, and redialled with capped, jittered
 *   exponential backoff when the connection drops; a peer configured without an address
 *   (a full node that dials us) is only accepted; a blocked peer is never dialled nor
 *   accepted again;
 * - sends never wait for a peer: each (peer, channel) has a bounded queue that drops its
 *   oldest messages when full; a full `inbound` queue pauses reading (yamux flow control
 *   then pushes back on the sender, whose queue drops its oldest messages);
 * - `guts_p2p_peers_connected`, `guts_p2p_messages_dropped_total{channel,reason}`,
 *   `guts_p2p_peers_blocked_total{reason}` (frame_too_large, malformed_frame, misbehaving)
 *   and `guts_p2p_connections_refused_total` (handshakes from unknown or blocked peers) are
 *   registered in the registry given, and removed from it when the scope closes;
 * - closing the scope interrupts every fiber and stops libp2p, closing all connections.
 *
 * Not guaranteed: messages already in `inbound` when a peer gets blocked stay there.
 */
import "./Polyfills.ts"
import { noise } from "@chainsafe/libp2p-noise"
import { yamux } from "@chainsafe/libp2p-yamux"
import type {
  Connection,
  ConnectionGater,
  Libp2p,
  PeerId as Libp2pPeerId,
  Stream,
} from "@libp2p/interface"
import { tcp } from "@libp2p/tcp"
import { type Multiaddr, multiaddr } from "@multiformats/multiaddr"
import { Data, Effect, Fiber, FiberSet, Layer, Queue, Random, type Scope } from "effect"
import { createLibp2p } from "libp2p"
import * as prom from "prom-client"
import {
  CHANNEL_LIMITS,
  type Channel,
  Channels,
  type Inbound,
  MessageTooLarge,
  Network,
  type NetworkShape,
  type PeerId,
} from "../../services/Network.ts"
import { encodeFrameHeader, encodeFrames, FrameDecoder } from "./Frame.ts"
import {
  isPeerIdHex,
  libp2pPeerIdOf,
  libp2pPeerIdOfHex,
  libp2pPrivateKey,
  type NodeKey,
} from "./NodeKey.ts"
import { makeOutboundQueue, type OutboundQueue } from "./OutboundQueue.ts"

export interface PeerAddress {
  /** The peer's Network PeerId: hex of its Ed25519 public key. */
  readonly publicKey: PeerId
  /**
   * Where to dial it, e.g. "/ip4/127.0.0.1/tcp/9000" (a trailing /p2p/<id> must match).
   * Without one the peer is never dialled, only accepted when it dials us.
   */
  readonly address?: string | undefined
}

export interface Libp2pNetworkTuning {
  /** Messages queued per (peer, channel) before the oldest are dropped. */
  readonly outboundQueueMessages: number
  /** Bytes queued per (peer, channel) before the oldest are dropped. */
  readonly outboundQueueBytes: number
  /** Capacity of `inbound`; when full, reading from peers pauses. */
  readonly inboundQueueMessages: number
  /** First redial delay after a failed dial; doubles up to reconnectMaxMs (±50% jitter). */
  readonly reconnectInitialMs: number
  readonly reconnectMaxMs: number
  /** Give up a dial or a stream negotiation after this long. */
  readonly dialTimeoutMs: number
}

export const defaultTuning: Libp2pNetworkTuning = {
  outboundQueueMessages: 4096,
  outboundQueueBytes: 64 * 1024 * 1024,
  inboundQueueMessages: 8192,
  reconnectInitialMs: 250,
  reconnectMaxMs: 10_000,
  dialTimeoutMs: 5_000,
}

export interface Libp2pNetworkConfig {
  readonly key: NodeKey
  /** Where to accept connections; port 0 picks a free port. */
  readonly listen: { readonly host: string; readonly port: number }
  /** The validator set; an entry with our own key is ignored, so all nodes can share it. */
  readonly peers: ReadonlyArray<PeerAddress>
  readonly tuning?: Partial<Libp2pNetworkTuning>
}

export class NetworkConfigInvalid extends Data.TaggedError("NetworkConfigInvalid")<{
  readonly reason: string
}> {
  override get message() {
    return `invalid p2p configuration: ${this.reason}`
  }
}

export class NetworkStartFailed extends Data.TaggedError("NetworkStartFailed")<{
  readonly address: string
  readonly reason: string
}> {
  override get message() {
    return `cannot start p2p networking on ${this.address}: ${this.reason} (choose another --p2p-port?)`
  }
}

export type Libp2pNetworkError = NetworkConfigInvalid | NetworkStartFailed

const CHANNEL_NAMES = Object.fromEntries(
  Object.entries(Channels).map(([name, id]) => [id, name]),
) as Record<Channel, keyof typeof Channels>

const ALL_CHANNELS = Object.values(Channels) as ReadonlyArray<Channel>

/** Small messages queued together are written as one buffer of up to this many bytes. */
const BATCH_BYTES = 64 * 1024

/** The libp2p protocol that carries a channel. */
export const protocolOf = (channel: Channel): string => `/guts/${CHANNEL_NAMES[channel]}/1`

/**
 * How long to wait before redialling after `failures` failed dials in a row: doubling from
 * reconnectInitialMs, capped at reconnectMaxMs, then spread by ±50% (`random` in [0, 1)) so
 * that nodes restarted together do not redial in lockstep.
 */
export const reconnectDelay = (
  failures: number,
  tuning: Pick<Libp2pNetworkTuning, "reconnectInitialMs" | "reconnectMaxMs">,
  random: number,
): number => {
  const base = Math.min(
    tuning.reconnectInitialMs * 2 ** Math.min(failures, 30),
    tuning.reconnectMaxMs,
  )
  return Math.round(base * (0.5 + random))
}

/** A Network over libp2p plus what only this layer knows. */
export interface Libp2pNetworkHandle extends NetworkShape {
  /** Addresses libp2p listens on (with the actual port when 0 was asked for). */
  readonly listenAddresses: ReadonlyArray<string>
  /** Our libp2p peer id ("12D3KooW..."). */
  readonly libp2pPeerId: string
}

interface PeerState {
  readonly hex: PeerId
  readonly id: Libp2pPeerId
  readonly address: Multiaddr | undefined
  blocked: boolean
  /** Nudged on connect and disconnect, so the dial loop re-examines the peer. */
  readonly wake: Queue.Queue<void>
  readonly outbound: Map<Channel, OutboundQueue>
  readonly outStreams: Map<Channel, Stream>
  readonly inStreams: Map<Channel, Stream>
  readonly fibers: Array<Fiber.RuntimeFiber<unknown, unknown>>
}

const errorText = (err: unknown) => (err instanceof Error ? err.message : String(err))

const toBytes = (data: Uint8Array | { subarray(): Uint8Array }): Uint8Array =>
  data instanceof Uint8Array ? data : data.subarray()

const listenMultiaddr = (host: string, port: number) =>
  `/${host.includes(":") ? "ip6" : "ip4"}/${host}/tcp/${port}`

const parsePeers = (config: Libp2pNetworkConfig) =>
  Effect.try({
    try: () => {
      const seen = new Set<string>()
      const peers: Array<{ hex: PeerId; id: Libp2pPeerId; address: Multiaddr | undefined }> = []
      for (const entry of config.peers) {
        const hex = entry.publicKey.toLowerCase()
        if (!isPeerIdHex(hex)) {
          throw new Error(`peer key ${entry.publicKey} is not 64 hex digits`)
        }
        if (hex === config.key.publicKeyHex) continue
        if (seen.has(hex)) throw new Error(`peer ${hex} is listed twice`)
        seen.add(hex)
        const id = libp2pPeerIdOfHex(hex)
        if (entry.address === undefined) {
          peers.push({ hex, id, address: undefined })
          continue
        }
        let address: Multiaddr
        try {
          address = multiaddr(entry.address)
        } catch (err) {
          throw new Error(`peer ${hex} has an invalid address ${entry.address}: ${errorText(err)}`)
        }
        const named = address.getComponents().find((c) => c.name === "p2p")?.value
        if (named === undefined) {
          address = address.encapsulate(`/p2p/${id.toString()}`)
        } else if (named !== id.toString()) {
          throw new Error(`peer ${hex}: address ${entry.address} names another peer id`)
        }
        peers.push({ hex, id, address })
      }
      return peers
    },
    catch: (err) => new NetworkConfigInvalid({ reason: errorText(err) }),
  })

/**
 * Starts libp2p and returns the Network over it; everything stops when the scope closes.
 * `registry` receives the p2p metrics (the node's own registry; never the global one).
 */
export const makeLibp2pNetwork = (
  config: Libp2pNetworkConfig,
  registry?: prom.Registry,
): Effect.Effect<Libp2pNetworkHandle, Libp2pNetworkError, Scope.Scope> =>
  Effect.gen(function* () {
    const tuning: Libp2pNetworkTuning = { ...defaultTuning, ...config.tuning }
    const listenAddress = listenMultiaddr(config.listen.host, config.listen.port)
    yield* Effect.try({
      try: () => multiaddr(listenAddress),
      catch: (err) =>
        new NetworkConfigInvalid({
          reason: `cannot listen on ${config.listen.host}:${config.listen.port}: ${errorText(err)}`,
        }),
    })
    const parsed = yield* parsePeers(config)

    const peers: PeerState[] = []
    for (const p of parsed) {
      const outbound = new Map<Channel, OutboundQueue>()
      for (const channel of ALL_CHANNELS) {
        outbound.set(
          channel,
          yield* makeOutboundQueue({
            maxMessages: tuning.outboundQueueMessages,
            maxBytes: tuning.outboundQueueBytes,
          }),
        )
      }
      peers.push({
        ...p,
        blocked: false,
        wake: yield* Queue.sliding<void>(1),
        outbound,
        outStreams: new Map(),
        inStreams: new Map(),
        fibers: [],
      })
    }
    const byHex = new Map(peers.map((p) => [p.hex, p]))
    const byLibp2p = new Map(peers.map((p) => [p.id.toString(), p]))
    let closing = false

    // --- metrics ----------------------------------------------------------------------
    const metricNames = [
      "guts_p2p_peers_connected",
      "guts_p2p_messages_dropped_total",
      "guts_p2p_peers_blocked_total",
      "guts_p2p_connections_refused_total",
    ]
    const { gauge, dropped, blockedTotal, refusedTotal } = yield* Effect.acquireRelease(
      Effect.try({
        try: () => {
          const registers = registry ? [registry] : []
          const made: string[] = []
          try {
            const gauge = new prom.Gauge({
              name: "guts_p2p_peers_connected",
              help: "Configured, unblocked peers with at least one open connection",
              registers,
            })
            made.push("guts_p2p_peers_connected")
            const dropped = new prom.Counter({
              name: "guts_p2p_messages_dropped_total",
              help: "Outbound messages dropped, by channel and reason",
              labelNames: ["channel", "reason"] as const,
              registers,
            })
            made.push("guts_p2p_messages_dropped_total")
            const blockedTotal = new prom.Counter({
              name: "guts_p2p_peers_blocked_total",
              help: "Peers blocked for misbehaviour, by reason (frame_too_large, malformed_frame, misbehaving)",
              labelNames: ["reason"] as const,
              registers,
            })
            made.push("guts_p2p_peers_blocked_total")
            const refusedTotal = new prom.Counter({
              name: "guts_p2p_connections_refused_total",
              help: "Connections refused after the handshake: the peer is not configured, or blocked",
              registers,
            })
            return { gauge, dropped, blockedTotal, refusedTotal }
          } catch (err) {
            for (const name of made) registry?.removeSingleMetric(name)
            throw err
          }
        },
        catch: (err) =>
          new NetworkConfigInvalid({
            reason: `cannot register p2p metrics (one network per registry): ${errorText(err)}`,
          }),
      }),
      () =>
        Effect.sync(() => {
          for (const name of metricNames) registry?.removeSingleMetric(name)
        }),
    )

    // --- libp2p -----------------------------------------------------------------------
    const refused = (id: Libp2pPeerId) => {
      const peer = byLibp2p.get(id.toString())
      return closing || peer === undefined || peer.blocked
    }
    // Counted once per connection: at the first check after Noise authenticated the peer.
    const refusedInbound = (id: Libp2pPeerId) => {
      const deny = refused(id)
      if (deny && !closing) refusedTotal.inc()
      return deny
    }
    const gater: ConnectionGater = {
      denyDialPeer: refused,
      denyInboundEncryptedConnection: refusedInbound,
      denyOutboundEncryptedConnection: refused,
      denyInboundUpgradedConnection: refused,
      denyOutboundUpgradedConnection: refused,
    }
    const node: Libp2p = yield* Effect.acquireRelease(
      Effect.tryPromise({
        try: () =>
          createLibp2p({
            start: false,
            privateKey: libp2pPrivateKey(config.key),
            addresses: { listen: [listenAddress] },
            transports: [tcp()],
            connectionEncrypters: [noise()],
            streamMuxers: [
              yamux({
                // A paused stream holds at most one receive window (16 MiB by default).
                streamOptions: { maxReadBufferLength: 20 * 1024 * 1024 },
              }),
            ],
            connectionGater: gater,
            connectionManager: {
              // The validator set is known and small: we do our own redialling.
              maxConnections: Math.max(32, peers.length * 4),
              inboundConnectionThreshold: Math.max(16, peers.length * 4),
              maxIncomingPendingConnections: Math.max(16, peers.length * 2),
              reconnectRetries: 0,
              dialTimeout: tuning.dialTimeoutMs,
            },
          }),
        catch: (err) => new NetworkStartFailed({ address: listenAddress, reason: errorText(err) }),
      }),
      (node) =>
        Effect.tryPromise(async () => {
          await node.stop()
        }).pipe(Effect.catchAll((err) => Effect.logWarning(`stopping libp2p: ${errorText(err)}`))),
    )

    const inbound = yield* Queue.bounded<Inbound>(tuning.inboundQueueMessages)
    yield* Effect.addFinalizer(() => Queue.shutdown(inbound))
    const fibers = yield* FiberSet.make<unknown, unknown>()
    const run = yield* FiberSet.runtime(fibers)<never>()
    yield* Effect.addFinalizer(() =>
      Effect.sync(() => {
        closing = true
      }),
    )

    const openConnection = (peer: PeerState): Connection | undefined =>
      node.getConnections(peer.id).find((c) => c.status === "open")
    const isConnected = (peer: PeerState) => !peer.blocked && openConnection(peer) !== undefined
    const connectedPeers = () => peers.filter(isConnected).map((p) => p.hex)
    const refreshGauge = () => gauge.set(closing ? 0 : connectedPeers().length)

    type BlockKind = "frame_too_large" | "malformed_frame" | "misbehaving"
    const blockPeer = (peer: PeerState, reason: string, kind: BlockKind) =>
      Effect.gen(function* () {
        if (peer.blocked) return
        peer.blocked = true
        blockedTotal.inc({ reason: kind })
        yield* Effect.logWarning(`p2p: blocking peer ${peer.hex}: ${reason}`)
        const why = new Error(`peer blocked: ${reason}`)
        for (const stream of [...peer.inStreams.values(), ...peer.outStreams.values()]) {
          stream.abort(why)
        }
        peer.inStreams.clear()
        peer.outStreams.clear()
        for (const queue of peer.outbound.values()) queue.clear()
        yield* Fiber.interruptAll(peer.fibers)
        yield* Effect.tryPromise(() => node.hangUp(peer.id)).pipe(Effect.ignore)
        refreshGauge()
      })

    // --- receiving --------------------------------------------------------------------
    const acceptStream = (channel: Channel) => (stream: Stream, connection: Connection) => {
      const peer = byLibp2p.get(connection.remotePeer.toString())
      if (closing || peer === undefined || peer.blocked) {
        stream.abort(new Error("not accepting streams from this peer"))
        return
      }
      const previous = peer.inStreams.get(channel)
      // The sender only opens a new stream once its previous one failed: reading the newest
      // alone keeps delivery in order.
      if (previous !== undefined) previous.abort(new Error("superseded by a newer stream"))
      peer.inStreams.set(channel, stream)
      const live = () => !closing && !peer.blocked && peer.inStreams.get(channel) === stream
      const decoder = new FrameDecoder(CHANNEL_LIMITS[channel])
      const pending: Inbound[] = []
      let flushing = false

      const flush = Effect.gen(function* () {
        while (pending.length > 0 && live()) {
          yield* Queue.offer(inbound, pending.shift() as Inbound)
        }
        pending.length = 0
        flushing = false
        if (stream.readStatus === "paused") stream.resume()
      })

      const deliver = (message: Inbound) => {
        if (flushing) {
          pending.push(message)
        } else if (!Queue.unsafeOffer(inbound, message)) {
          // inbound is full: hold this stream's messages, in order, and stop reading it
          pending.push(message)
          flushing = true
          if (stream.readStatus === "readable") stream.pause()
          run(flush)
        }
      }

      stream.addEventListener("message", (event) => {
        if (!live()) return
        const { frames, error } = decoder.push(toBytes(event.data))
        for (const bytes of frames) deliver({ from: peer.hex, channel, bytes })
        if (error !== undefined) {
          stream.abort(new Error(error.message))
          run(
            blockPeer(
              peer,
              `${error.message} on channel ${CHANNEL_NAMES[channel]}`,
              error._tag === "FrameTooLarge" ? "frame_too_large" : "malformed_frame",
            ),
          )
        }
      })
      stream.addEventListener("close", () => {
        if (peer.inStreams.get(channel) === stream) peer.inStreams.delete(channel)
      })
      // Streams are one-way: we never answer on this one, so its writable end can go now.
      stream.close().catch(() => undefined)
    }

    // --- sending ----------------------------------------------------------------------
    const streamFor = (peer: PeerState, channel: Channel) =>
      Effect.gen(function* () {
        const existing = peer.outStreams.get(channel)
        if (existing !== undefined && existing.writeStatus === "writable") {
          return { stream: existing, fresh: false }
        }
        peer.outStreams.delete(channel)
        const connection = openConnection(peer)
        if (connection === undefined) return undefined
        const stream = yield* Effect.tryPromise((signal) =>
          connection.newStream(protocolOf(channel), { signal, negotiateFully: true }),
        ).pipe(Effect.timeout(tuning.dialTimeoutMs), Effect.option)
        if (stream._tag === "None") return undefined
        const opened = stream.value
        if (peer.blocked) {
          opened.abort(new Error("peer blocked"))
          return undefined
        }
        // One-way: whatever the receiver might write back is discarded, never buffered.
        opened.closeRead().catch(() => undefined)
        opened.addEventListener("close", () => {
          if (peer.outStreams.get(channel) === opened) peer.outStreams.delete(channel)
        })
        peer.outStreams.set(channel, opened)
        return { stream: opened, fresh: true }
      })

    /**
     * Writes one batch (buffers to send in order) to the peer's stream for the channel.
     * Two attempts, the second only when the first wrote nothing (its stream had already
     * closed): a message is never sent twice.
     */
    const writeBatch = (
      peer: PeerState,
      channel: Channel,
      buffers: ReadonlyArray<Uint8Array>,
      messages: number,
    ) =>
      Effect.gen(function* () {
        const drop = (reason: string) =>
          dropped.inc({ channel: CHANNEL_NAMES[channel], reason }, messages)
        for (let attempt = 0; attempt < 2; attempt++) {
          const opened = yield* streamFor(peer, channel)
          if (opened === undefined) return drop("not_connected")
          const { stream, fresh } = opened
          let needsDrain = false
          try {
            for (const buffer of buffers) needsDrain = !stream.send(buffer)
          } catch {
            peer.outStreams.delete(channel)
            if (!fresh) continue
            return drop("write_failed")
          }
          if (needsDrain) {
            // Waiting here is what lets the queue in front of us fill and drop its oldest.
            const drained = yield* Effect.tryPromise((signal) => stream.onDrain({ signal })).pipe(
              Effect.either,
            )
            if (drained._tag === "Left") peer.outStreams.delete(channel)
          }
          return
        }
      })

    const writer = (peer: PeerState, channel: Channel) => {
      const queue = peer.outbound.get(channel) as OutboundQueue
      return Effect.forever(
        Effect.flatMap(queue.take, (first) => {
          // A large message goes alone (header, then payload, no copy); small ones waiting
          // behind each other share one buffer, so one muxer frame and one Noise message.
          if (first.length >= BATCH_BYTES) {
            return writeBatch(peer, channel, [encodeFrameHeader(first.length), first], 1)
          }
          const batch = [first]
          let size = first.length + 5
          for (;;) {
            const next = queue.peekSize()
            if (next === undefined || next >= BATCH_BYTES || size + next + 5 > BATCH_BYTES) break
            const message = queue.poll() as Uint8Array
            batch.push(message)
            size += message.length + 5
          }
          return writeBatch(peer, channel, [encodeFrames(batch)], batch.length)
        }),
      )
    }

    // --- dialling ---------------------------------------------------------------------
    const dialLoop = (peer: PeerState, address: Multiaddr) =>
      Effect.gen(function* () {
        let failures = 0
        while (!peer.blocked && !closing) {
          if (isConnected(peer)) {
            failures = 0
            yield* Queue.take(peer.wake)
            continue
          }
          const dialled = yield* Effect.tryPromise((signal) => node.dial(address, { signal })).pipe(
            Effect.timeout(tuning.dialTimeoutMs),
            Effect.isSuccess,
          )
          if (dialled) {
            failures = 0
            continue
          }
          const delay = reconnectDelay(failures++, tuning, yield* Random.next)
          // An inbound connection from the peer ends the wait early.
          yield* Effect.race(Effect.sleep(delay), Queue.take(peer.wake))
        }
      })

    // --- start ------------------------------------------------------------------------
    for (const channel of ALL_CHANNELS) {
      yield* Effect.tryPromise({
        try: () =>
          node.handle(protocolOf(channel), acceptStream(channel), {
            maxInboundStreams: 8,
            maxOutboundStreams: 8,
          }),
        catch: (err) => new NetworkStartFailed({ address: listenAddress, reason: errorText(err) }),
      })
    }
    const onPeerChange = (event: CustomEvent<Libp2pPeerId>) => {
      const peer = byLibp2p.get(event.detail.toString())
      if (peer !== undefined) Queue.unsafeOffer(peer.wake, undefined)
      refreshGauge()
    }
    node.addEventListener("peer:connect", onPeerChange)
    node.addEventListener("peer:disconnect", onPeerChange)
    yield* Effect.addFinalizer(() =>
      Effect.sync(() => {
        node.removeEventListener("peer:connect", onPeerChange)
        node.removeEventListener("peer:disconnect", onPeerChange)
      }),
    )

    yield* Effect.tryPromise({
      try: async () => {
        await node.start()
      },
      catch: (err) => new NetworkStartFailed({ address: listenAddress, reason: errorText(err) }),
    })

    for (const peer of peers) {
      if (peer.address !== undefined) peer.fibers.push(run(dialLoop(peer, peer.address)))
      for (const channel of ALL_CHANNELS) peer.fibers.push(run(writer(peer, channel)))
    }

    const self = config.key.publicKeyHex
    const network: Libp2pNetworkHandle = {
      self,
      listenAddresses: node.getMultiaddrs().map((a) => a.toString()),
      libp2pPeerId: libp2pPeerIdOf(config.key).toString(),
      inbound,
      connected: Effect.sync(connectedPeers),
      send: (channel, to, bytes) =>
        Effect.suspend(() => {
          const limit = CHANNEL_LIMITS[channel]
          if (limit === undefined) return Effect.dieMessage(`unknown p2p channel ${channel}`)
          if (bytes.length > limit) {
            return Effect.fail(new MessageTooLarge({ channel, size: bytes.length, limit }))
          }
          const targets =
            to === "all"
              ? peers
              : [...new Set(to)].flatMap((hex) => {
                  const peer = byHex.get(hex)
                  return peer === undefined ? [] : [peer]
                })
          for (const peer of targets) {
            if (!isConnected(peer)) continue
            const lost = (peer.outbound.get(channel) as OutboundQueue).push(bytes)
            if (lost > 0)
              dropped.inc({ channel: CHANNEL_NAMES[channel], reason: "queue_full" }, lost)
          }
          return Effect.void
        }),
      block: (hex, reason) =>
        Effect.suspend(() => {
          const peer = byHex.get(hex)
          // Peers outside the configuration are refused anyway.
          return peer === undefined ? Effect.void : blockPeer(peer, reason, "misbehaving")
        }),
    }
    return network
  })

/** The Network layer over libp2p; `registry` is the node's metrics registry. */
export const Libp2pNetwork = (
  config: Libp2pNetworkConfig,
  registry?: prom.Registry,
): Layer.Layer<Network, Libp2pNetworkError> =>
  Layer.scoped(Network, makeLibp2pNetwork(config, registry))
