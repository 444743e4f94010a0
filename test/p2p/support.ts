/**
 * Helpers for the p2p tests: free ports, clusters of libp2p networks on 127.0.0.1, a raw
 * libp2p peer that speaks whatever bytes a test wants, and patient waiting.
 */
import "../../src/layers/p2p/Polyfills.ts"
import * as net from "node:net"
import { noise } from "@chainsafe/libp2p-noise"
import { yamux } from "@chainsafe/libp2p-yamux"
import type { Libp2p, Stream } from "@libp2p/interface"
import { tcp } from "@libp2p/tcp"
import { multiaddr } from "@multiformats/multiaddr"
import { Effect, Exit, Queue, Scope } from "effect"
import { createLibp2p } from "libp2p"
import type * as prom from "prom-client"
import {
  type Libp2pNetworkHandle,
  type Libp2pNetworkTuning,
  makeLibp2pNetwork,
} from "../../src/layers/p2p/Libp2pNetwork.ts"
import {
  generateNodeKey,
  libp2pPeerIdOf,
  libp2pPrivateKey,
  type NodeKey,
} from "../../src/layers/p2p/NodeKey.ts"
import type { Inbound, NetworkShape } from "../../src/services/Network.ts"

/** Fast redialling, so restarts reconnect quickly. */
export const testTuning: Partial<Libp2pNetworkTuning> = {
  reconnectInitialMs: 50,
  reconnectMaxMs: 500,
  dialTimeoutMs: 3_000,
}

export const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const srv = net.createServer()
    srv.once("error", reject)
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address() as net.AddressInfo
      srv.close(() => resolve(port))
    })
  })

export const address = (port: number) => `/ip4/127.0.0.1/tcp/${port}`

export interface Member {
  readonly key: NodeKey
  readonly port: number
}

export const member = async (key: NodeKey = generateNodeKey()): Promise<Member> => ({
  key,
  port: await freePort(),
})

/** Starts `self` configured with every member of `peers` (itself included is fine). */
export const startNetwork = (
  self: Member,
  peers: ReadonlyArray<Member>,
  options: { registry?: prom.Registry; tuning?: Partial<Libp2pNetworkTuning> } = {},
): Effect.Effect<Libp2pNetworkHandle, unknown, Scope.Scope> =>
  makeLibp2pNetwork(
    {
      key: self.key,
      listen: { host: "127.0.0.1", port: self.port },
      peers: peers.map((p) => ({ publicKey: p.key.publicKeyHex, address: address(p.port) })),
      tuning: { ...testTuning, ...options.tuning },
    },
    options.registry,
  )

/** A network whose lifetime the test controls: stop it and start it again. */
export const startDetached = async (
  self: Member,
  peers: ReadonlyArray<Member>,
  options: { registry?: prom.Registry; tuning?: Partial<Libp2pNetworkTuning> } = {},
) => {
  const scope = Effect.runSync(Scope.make())
  const network = await Effect.runPromise(Scope.extend(startNetwork(self, peers, options), scope))
  return {
    network,
    stop: () => Effect.runPromise(Scope.close(scope, Exit.void)),
  }
}

export const patience = "20 seconds"

/** Polls until `check` holds; fails with `what` if it never does. */
export const eventually = (what: string, check: Effect.Effect<boolean>) =>
  Effect.gen(function* () {
    while (!(yield* check)) yield* Effect.sleep("20 millis")
  }).pipe(Effect.timeoutFail({ duration: patience, onTimeout: () => new Error(`never: ${what}`) }))

export const connectedTo = (a: NetworkShape, b: NetworkShape) =>
  eventually(
    `${a.self.slice(0, 8)} and ${b.self.slice(0, 8)} connected`,
    Effect.gen(function* () {
      return (yield* a.connected).includes(b.self) && (yield* b.connected).includes(a.self)
    }),
  )

export const take = (network: NetworkShape, n: number) =>
  Effect.gen(function* () {
    const out: Inbound[] = []
    while (out.length < n) out.push(yield* Queue.take(network.inbound))
    return out
  }).pipe(
    Effect.timeoutFail({
      duration: patience,
      onTimeout: () => new Error(`fewer than ${n} messages arrived`),
    }),
  )

/** Takes messages until one satisfies `stop`; returns them all, that one included. */
export const takeUntil = (network: NetworkShape, stop: (m: Inbound) => boolean) =>
  Effect.gen(function* () {
    const out: Inbound[] = []
    for (;;) {
      const m = yield* Queue.take(network.inbound)
      out.push(m)
      if (stop(m)) return out
    }
  }).pipe(
    Effect.timeoutFail({
      duration: patience,
      onTimeout: () => new Error("the awaited message never arrived"),
    }),
  )

export const text = (s: string) => new TextEncoder().encode(s)
export const read = (m: Inbound) => new TextDecoder().decode(m.bytes)

/**
 * A bare libp2p node with the given key (TCP + Noise + yamux, no Guts logic): it can dial a
 * network and write arbitrary bytes on its protocols, as a misbehaving peer would.
 */
export const rawPeer = (key: NodeKey) =>
  Effect.acquireRelease(
    Effect.promise(() =>
      createLibp2p({
        privateKey: libp2pPrivateKey(key),
        addresses: { listen: [] },
        transports: [tcp()],
        connectionEncrypters: [noise()],
        streamMuxers: [yamux()],
        connectionManager: { reconnectRetries: 0 },
      }),
    ),
    (node) => Effect.promise(async () => node.stop()),
  ).pipe(
    Effect.map((node: Libp2p) => ({
      node,
      peerId: libp2pPeerIdOf(key).toString(),
      /** Opens a stream to `target` on `protocol`. */
      open: (target: Member, protocol: string): Promise<Stream> =>
        node.dialProtocol(
          multiaddr(`${address(target.port)}/p2p/${libp2pPeerIdOf(target.key).toString()}`),
          protocol,
          { signal: AbortSignal.timeout(5_000) },
        ),
    })),
  )

/** Succeeds when the stream is closed or reset (by either side). */
export const closed = (stream: Stream) =>
  Effect.async<void>((resume) => {
    if (stream.status !== "open") return resume(Effect.void)
    stream.addEventListener("close", () => resume(Effect.void), { once: true })
  }).pipe(
    Effect.timeoutFail({
      duration: patience,
      onTimeout: () => new Error("the stream was never closed"),
    }),
  )
