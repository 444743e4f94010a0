/**
 * The libp2p Network between real TCP sockets on 127.0.0.1: channels, framing limits,
 * refusal of strangers, blocking of misbehaving peers, reconnection, back pressure and
 * metrics.
 */
import * as net from "node:net"
import { Chunk, Effect, Queue, type Scope } from "effect"
import fc from "fast-check"
import * as prom from "prom-client"
import { describe, expect, it } from "vitest"
import { encodeFrame, encodeFrameHeader } from "../../src/layers/p2p/Frame.ts"
import {
  Libp2pNetwork,
  makeLibp2pNetwork,
  NetworkConfigInvalid,
  NetworkStartFailed,
  protocolOf,
  reconnectDelay,
} from "../../src/layers/p2p/Libp2pNetwork.ts"
import { generateNodeKey, libp2pPeerIdOf } from "../../src/layers/p2p/NodeKey.ts"
import {
  CHANNEL_LIMITS,
  type Channel,
  Channels,
  MessageTooLarge,
  Network,
} from "../../src/services/Network.ts"
import {
  address,
  closed,
  connectedTo,
  eventually,
  member,
  rawPeer,
  read,
  startDetached,
  startNetwork,
  take,
  takeUntil,
  text,
} from "./support.ts"

const ALL_CHANNELS = Object.values(Channels) as ReadonlyArray<Channel>
const run = <A>(effect: Effect.Effect<A, unknown, Scope.Scope>) =>
  Effect.runPromise(Effect.scoped(effect))

const metricValue = async (registry: prom.Registry, name: string, labels = "") => {
  const lines = (await registry.metrics()).split("\n")
  const line = lines.find((l) => l.startsWith(`${name}${labels} `))
  return line === undefined ? undefined : Number(line.split(" ")[1])
}

describe("Libp2pNetwork", () => {
  it("two nodes exchange messages on every channel, in order, in both directions", () =>
    run(
      Effect.gen(function* () {
        const ma = yield* Effect.promise(() => member())
        const mb = yield* Effect.promise(() => member())
        const a = yield* startNetwork(ma, [ma, mb])
        const b = yield* startNetwork(mb, [ma, mb])
        expect(a.self).toBe(ma.key.publicKeyHex)
        expect(a.libp2pPeerId).toMatch(/^12D3KooW/)
        yield* connectedTo(a, b)
        for (let i = 0; i < 100; i++) {
          for (const channel of ALL_CHANNELS) {
            yield* a.send(channel, [b.self], text(`${channel}/${i}`))
            yield* b.send(channel, [a.self], text(`${channel}/${i}`))
          }
        }
        for (const [receiver, sender] of [
          [b, a],
          [a, b],
        ] as const) {
          const got = yield* take(receiver, 100 * ALL_CHANNELS.length)
          expect(new Set(got.map((m) => m.from))).toEqual(new Set([sender.self]))
          for (const channel of ALL_CHANNELS) {
            expect(got.filter((m) => m.channel === channel).map(read)).toEqual(
              Array.from({ length: 100 }, (_, i) => `${channel}/${i}`),
            )
          }
        }
      }),
    ))

  it("carries a message exactly at the broadcast limit (16 MiB) and refuses one byte more", () =>
    run(
      Effect.gen(function* () {
        const ma = yield* Effect.promise(() => member())
        const mb = yield* Effect.promise(() => member())
        const a = yield* startNetwork(ma, [mb])
        const b = yield* startNetwork(mb, [ma])
        yield* connectedTo(a, b)
        const limit = CHANNEL_LIMITS[Channels.broadcast]
        const refused = yield* Effect.flip(
          a.send(Channels.broadcast, "all", new Uint8Array(limit + 1)),
        )
        expect(refused).toBeInstanceOf(MessageTooLarge)
        expect(refused.message).toContain(String(limit))
        const big = new Uint8Array(limit)
        for (let i = 0; i < big.length; i += 4096) big[i] = (i / 4096) & 0xff
        yield* a.send(Channels.broadcast, "all", big)
        const [got] = yield* take(b, 1)
        expect(got.channel).toBe(Channels.broadcast)
        expect(Buffer.from(got.bytes).equals(Buffer.from(big))).toBe(true)
      }),
    ))

  it("a raw TCP client that does not speak libp2p is disconnected and delivers nothing", () =>
    run(
      Effect.gen(function* () {
        const ma = yield* Effect.promise(() => member())
        const mb = yield* Effect.promise(() => member())
        const a = yield* startNetwork(ma, [mb])
        const b = yield* startNetwork(mb, [ma])
        yield* connectedTo(a, b)
        const hangup = yield* Effect.promise(
          () =>
            new Promise<string>((resolve) => {
              const socket = net.connect(ma.port, "127.0.0.1", () => {
                socket.write("/multistream/1.0.0\n")
                socket.write(encodeFrame(text("let me in")))
                socket.write(Buffer.alloc(4096, 0xff))
              })
              socket.on("error", () => undefined)
              socket.on("close", () => resolve("closed by the node"))
            }),
        )
        expect(hangup).toBe("closed by the node")
        yield* b.send(Channels.pending, [a.self], text("marker"))
        const got = yield* takeUntil(a, (m) => read(m) === "marker")
        expect(got.map((m) => m.from)).toEqual([b.self])
        expect(yield* a.connected).toEqual([b.self])
      }),
    ))

  it("a libp2p node with an unknown key is refused and nothing it sends reaches inbound", () =>
    run(
      Effect.gen(function* () {
        const ma = yield* Effect.promise(() => member())
        const mb = yield* Effect.promise(() => member())
        const a = yield* startNetwork(ma, [mb])
        const b = yield* startNetwork(mb, [ma])
        yield* connectedTo(a, b)
        const stranger = yield* rawPeer(generateNodeKey())
        for (const channel of ALL_CHANNELS) {
          const opened = yield* Effect.promise(() =>
            stranger.open(ma, protocolOf(channel)).then(
              (stream) => {
                // Should it ever get a stream, the frame must still not be delivered.
                stream.send(encodeFrame(text("stranger")))
                return "opened" as const
              },
              () => "refused" as const,
            ),
          )
          expect(opened).toBe("refused")
        }
        expect(stranger.node.getConnections().filter((c) => c.status === "open")).toEqual([])
        yield* b.send(Channels.pending, [a.self], text("marker"))
        const got = yield* takeUntil(a, (m) => read(m) === "marker")
        expect(got.map((m) => m.from)).toEqual([b.self])
        expect(yield* a.connected).toEqual([b.self])
      }),
    ))

  const violations: ReadonlyArray<[string, Channel, Uint8Array]> = [
    [
      "a length prefix over the channel's limit",
      Channels.pending,
      encodeFrameHeader(CHANNEL_LIMITS[Channels.pending] + 1),
    ],
    ["a length prefix of 4 GiB", Channels.sync, Uint8Array.from([0xff, 0xff, 0xff, 0xff, 0x0f])],
    ["a non-minimal length prefix (garbage)", Channels.recovered, Uint8Array.from([0x85, 0x00])],
  ]
  for (const [what, channel, bad] of violations) {
    it(`a configured peer that sends ${what} is blocked; other peers keep flowing`, () =>
      run(
        Effect.gen(function* () {
          const ma = yield* Effect.promise(() => member())
          const mb = yield* Effect.promise(() => member())
          const mm = yield* Effect.promise(() => member())
          const a = yield* startNetwork(ma, [mb, mm])
          const b = yield* startNetwork(mb, [ma])
          yield* connectedTo(a, b)
          const badPeer = yield* rawPeer(mm.key)
          const stream = yield* Effect.promise(() => badPeer.open(ma, protocolOf(channel)))
          // A well-formed frame first: the peer is accepted as configured...
          stream.send(encodeFrame(text("hello")))
          const [hello] = yield* take(a, 1)
          expect(hello).toMatchObject({ from: mm.key.publicKeyHex, channel })
          expect(read(hello)).toBe("hello")
          // ...and blocked for breaking the framing, before its payload is read.
          stream.send(bad)
          stream.send(new Uint8Array(1024).fill(0x41))
          yield* closed(stream)
          yield* eventually(
            "the misbehaving peer is disconnected",
            Effect.sync(
              () => badPeer.node.getConnections().filter((c) => c.status === "open").length === 0,
            ),
          )
          const again = yield* Effect.promise(() =>
            badPeer.open(ma, protocolOf(Channels.pending)).then(
              () => "opened",
              () => "refused",
            ),
          )
          expect(again).toBe("refused")
          expect(yield* a.connected).toEqual([b.self])
          yield* b.send(Channels.pending, [a.self], text("marker"))
          const got = yield* takeUntil(a, (m) => read(m) === "marker")
          expect(got.map((m) => m.from)).toEqual([b.self])
        }),
      ))
  }

  it("a restarted peer is redialled on the same port and messages flow again; the gauge follows", () =>
    run(
      Effect.gen(function* () {
        const ma = yield* Effect.promise(() => member())
        const mb = yield* Effect.promise(() => member())
        const registry = new prom.Registry()
        const a = yield* startNetwork(ma, [mb], { registry })
        let b = yield* Effect.promise(() => startDetached(mb, [ma]))
        yield* connectedTo(a, b.network)
        expect(yield* Effect.promise(() => metricValue(registry, "guts_p2p_peers_connected"))).toBe(
          1,
        )
        yield* a.send(Channels.broadcast, "all", text("first life"))
        expect(read((yield* take(b.network, 1))[0])).toBe("first life")

        yield* Effect.promise(() => b.stop())
        yield* eventually(
          "a sees b gone",
          Effect.map(a.connected, (l) => l.length === 0),
        )
        expect(yield* Effect.promise(() => metricValue(registry, "guts_p2p_peers_connected"))).toBe(
          0,
        )
        // Stopping freed the port: b can listen on it again.
        b = yield* Effect.promise(() => startDetached(mb, [ma]))
        yield* connectedTo(a, b.network)
        yield* a.send(Channels.broadcast, "all", text("second life"))
        yield* b.network.send(Channels.pending, [a.self], text("back"))
        expect(read((yield* take(b.network, 1))[0])).toBe("second life")
        expect(read((yield* take(a, 1))[0])).toBe("back")
        expect(yield* Effect.promise(() => metricValue(registry, "guts_p2p_peers_connected"))).toBe(
          1,
        )
        yield* Effect.promise(() => b.stop())
      }),
    ))

  it("removes its metrics from the registry when its scope closes", async () => {
    const ma = await member()
    const registry = new prom.Registry()
    const a = await startDetached(ma, [], { registry })
    expect(await metricValue(registry, "guts_p2p_peers_connected")).toBe(0)
    // a second network cannot take over the same registry, and leaves the first's metrics be
    const second = await Effect.runPromise(
      Effect.flip(Effect.scoped(startNetwork(await member(), [], { registry }))),
    )
    expect(second).toBeInstanceOf(NetworkConfigInvalid)
    expect(registry.getSingleMetric("guts_p2p_peers_connected")).toBeDefined()
    await a.stop()
    expect(registry.getSingleMetric("guts_p2p_peers_connected")).toBeUndefined()
    // and a new network can register them again in the same registry
    const again = await startDetached(ma, [], { registry })
    expect(registry.getSingleMetric("guts_p2p_peers_connected")).toBeDefined()
    await again.stop()
  })

  it("a peer that does not read costs the sender its oldest messages, never a stall", () =>
    run(
      Effect.gen(function* () {
        const ma = yield* Effect.promise(() => member())
        const mb = yield* Effect.promise(() => member())
        const mc = yield* Effect.promise(() => member())
        const registry = new prom.Registry()
        const a = yield* startNetwork(ma, [mb, mc], {
          registry,
          tuning: { outboundQueueMessages: 4 },
        })
        const b = yield* startNetwork(mb, [ma], { tuning: { inboundQueueMessages: 2 } })
        const c = yield* startNetwork(mc, [ma])
        yield* connectedTo(a, b)
        yield* connectedTo(a, c)
        const count = 300
        const payload = (i: number) => {
          const bytes = new Uint8Array(128 * 1024)
          new DataView(bytes.buffer).setUint32(0, i)
          return bytes
        }
        // b reads nothing while a sends 37.5 MiB, more than yamux lets in flight.
        for (let i = 0; i < count; i++) yield* a.send(Channels.sync, [b.self], payload(i))
        yield* a.send(Channels.sync, [c.self], text("c is served meanwhile"))
        expect(read((yield* take(c, 1))[0])).toBe("c is served meanwhile")
        yield* eventually(
          "a counts dropped messages",
          Effect.promise(
            async () =>
              ((await metricValue(
                registry,
                "guts_p2p_messages_dropped_total",
                '{channel="sync",reason="queue_full"}',
              )) ?? 0) > 0,
          ),
        )
        // Now b reads: what arrives is in order, has gaps, and ends with the newest message.
        const got = yield* takeUntil(
          b,
          (m) => new DataView(m.bytes.buffer, m.bytes.byteOffset).getUint32(0) === count - 1,
        )
        const numbers = got.map((m) =>
          new DataView(m.bytes.buffer, m.bytes.byteOffset).getUint32(0),
        )
        expect(numbers).toEqual([...numbers].sort((x, y) => x - y))
        expect(new Set(numbers).size).toBe(numbers.length)
        expect(numbers.length).toBeLessThan(count)
        expect(Chunk.size(yield* Queue.takeAll(b.inbound))).toBe(0)
      }),
    ))

  it("as a Layer, provides the Network service and stops with the layer's scope", async () => {
    const ma = await member()
    const mb = await member()
    const b = await startDetached(mb, [ma])
    const layer = Libp2pNetwork({
      key: ma.key,
      listen: { host: "127.0.0.1", port: ma.port },
      peers: [{ publicKey: mb.key.publicKeyHex, address: address(mb.port) }],
    })
    const self = await Effect.runPromise(
      Effect.gen(function* () {
        const network = yield* Network
        yield* connectedTo(network, b.network)
        return network.self
      }).pipe(Effect.provide(layer)),
    )
    expect(self).toBe(ma.key.publicKeyHex)
    await Effect.runPromise(
      eventually(
        "b sees a leave when the layer is released",
        Effect.map(b.network.connected, (l) => l.length === 0),
      ),
    )
    await b.stop()
  })

  it("fails with NetworkStartFailed when its port is already taken", () =>
    run(
      Effect.gen(function* () {
        const ma = yield* Effect.promise(() => member())
        yield* startNetwork(ma, [])
        const error = yield* Effect.flip(
          Effect.scoped(startNetwork({ key: generateNodeKey(), port: ma.port }, [])),
        )
        expect(error).toBeInstanceOf(NetworkStartFailed)
        expect((error as NetworkStartFailed).address).toBe(`/ip4/127.0.0.1/tcp/${ma.port}`)
      }),
    ))

  it("rejects a peer key that is not 64 hex digits, and an address naming another peer", () =>
    run(
      Effect.gen(function* () {
        const listen = { host: "127.0.0.1", port: 0 }
        const badKey = yield* Effect.flip(
          makeLibp2pNetwork({
            key: generateNodeKey(),
            listen,
            peers: [{ publicKey: "not-a-key", address: "/ip4/127.0.0.1/tcp/1" }],
          }),
        )
        expect(badKey).toBeInstanceOf(NetworkConfigInvalid)
        expect(badKey.message).toContain("not-a-key")
        const other = generateNodeKey()
        const wrongId = yield* Effect.flip(
          makeLibp2pNetwork({
            key: generateNodeKey(),
            listen,
            peers: [
              {
                publicKey: generateNodeKey().publicKeyHex,
                address: `/ip4/127.0.0.1/tcp/1/p2p/${libp2pPeerIdOf(other).toString()}`,
              },
            ],
          }),
        )
        expect(wrongId).toBeInstanceOf(NetworkConfigInvalid)
        expect(wrongId.message).toContain("another peer id")
      }),
    ))
})

describe("reconnectDelay", () => {
  const tuning = { reconnectInitialMs: 100, reconnectMaxMs: 5_000 }

  it("doubles after each failure up to the cap", () => {
    const middle = Array.from({ length: 10 }, (_, n) => reconnectDelay(n, tuning, 0.5))
    expect(middle).toEqual([100, 200, 400, 800, 1600, 3200, 5000, 5000, 5000, 5000])
    expect(reconnectDelay(1_000, tuning, 0.5)).toBe(5_000)
  })

  it("spreads each delay by ±50% with the random draw", () => {
    fc.assert(
      fc.property(
        fc.nat({ max: 64 }),
        fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
        (n, r) => {
          const base = Math.min(100 * 2 ** n, 5_000)
          const delay = reconnectDelay(n, tuning, r)
          expect(delay).toBeGreaterThanOrEqual(Math.floor(base / 2))
          expect(delay).toBeLessThanOrEqual(Math.ceil(base * 1.5))
        },
      ),
    )
    expect(reconnectDelay(3, tuning, 0)).toBe(400)
    expect(reconnectDelay(3, tuning, 0.999)).toBe(1199)
  })
})

describe("Libp2pNetwork peers and misbehaviour metrics", () => {
  it("accepts a peer configured without an address when it dials, and talks back to it", () =>
    run(
      Effect.gen(function* () {
        const ma = yield* Effect.promise(() => member())
        const mb = yield* Effect.promise(() => member())
        const a = yield* makeLibp2pNetwork({
          key: ma.key,
          listen: { host: "127.0.0.1", port: ma.port },
          peers: [{ publicKey: mb.key.publicKeyHex }],
        })
        const b = yield* startNetwork(mb, [ma])
        yield* connectedTo(a, b)
        yield* a.send(Channels.sync, [b.self], text("to the full node"))
        yield* b.send(Channels.sync, [a.self], text("to the validator"))
        expect(read((yield* take(b, 1))[0]!)).toBe("to the full node")
        expect(read((yield* take(a, 1))[0]!)).toBe("to the validator")
      }),
    ))

  it("counts strangers refused at the handshake and peers blocked, by reason", () =>
    run(
      Effect.gen(function* () {
        const registry = new prom.Registry()
        const ma = yield* Effect.promise(() => member())
        const mb = yield* Effect.promise(() => member())
        const mc = yield* Effect.promise(() => member())
        const a = yield* startNetwork(ma, [mb, mc], { registry })
        const b = yield* startNetwork(mb, [ma])
        yield* connectedTo(a, b)
        const stranger = yield* rawPeer(generateNodeKey())
        yield* Effect.promise(() =>
          stranger.open(ma, protocolOf(Channels.sync)).catch(() => undefined),
        )
        yield* eventually(
          "the stranger is counted",
          Effect.promise(
            async () =>
              ((await metricValue(registry, "guts_p2p_connections_refused_total")) ?? 0) >= 1,
          ),
        )
        const bad = yield* rawPeer(mc.key)
        const stream = yield* Effect.promise(() => bad.open(ma, protocolOf(Channels.pending)))
        stream.send(encodeFrameHeader(CHANNEL_LIMITS[Channels.pending] + 1))
        yield* closed(stream)
        yield* a.block(b.self, "told to")
        expect(
          yield* Effect.promise(() =>
            metricValue(registry, "guts_p2p_peers_blocked_total", '{reason="frame_too_large"}'),
          ),
        ).toBe(1)
        expect(
          yield* Effect.promise(() =>
            metricValue(registry, "guts_p2p_peers_blocked_total", '{reason="misbehaving"}'),
          ),
        ).toBe(1)
        expect(yield* a.connected).toEqual([])
      }),
    ))
})
