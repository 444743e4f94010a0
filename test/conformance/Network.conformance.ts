/**
 * The Network contract (src/services/Network.ts), run against every layer: libp2p, the
 * simulator, the in-process hub. A harness only knows how to build N networks configured
 * with one another on a healthy transport; the suite checks what the contract promises:
 * order per (sender, channel) with no duplicates, `from` is the real sender, channel limits
 * refused at the sender, `block` cuts a peer off, strangers never reach `inbound`.
 */
import { Chunk, type Duration, Effect, Queue, type Scope } from "effect"
import { describe, expect, it } from "vitest"
import {
  CHANNEL_LIMITS,
  type Channel,
  Channels,
  type Inbound,
  MessageTooLarge,
  type NetworkShape,
  type PeerId,
} from "../../src/services/Network.ts"

export interface NetworkHarness {
  /** `n` networks, each configured with all the others (they may still be connecting). */
  readonly make: (n: number) => Effect.Effect<ReadonlyArray<NetworkShape>, unknown, Scope.Scope>
  /**
   * A network with an identity none of `members` was configured with, itself configured
   * with all of them (it will try to reach them). Optional: some layers cannot express it.
   */
  readonly stranger?: (
    members: ReadonlyArray<NetworkShape>,
  ) => Effect.Effect<NetworkShape, unknown, Scope.Scope>
  /** How long to wait for something that should happen (default 20 s). */
  readonly patience?: Duration.DurationInput
}

const ALL_CHANNELS = Object.values(Channels) as ReadonlyArray<Channel>
const encoder = new TextEncoder()
const decoder = new TextDecoder()
const text = (s: string) => encoder.encode(s)
const read = (m: Inbound) => decoder.decode(m.bytes)

export const networkConformance = (name: string, harness: NetworkHarness) => {
  const patience = harness.patience ?? "20 seconds"

  const run = <A>(effect: Effect.Effect<A, unknown, Scope.Scope>) =>
    Effect.runPromise(Effect.scoped(effect))

  /** Polls until `check` holds; fails with `what` if it never does. */
  const eventually = (what: string, check: Effect.Effect<boolean>) =>
    Effect.gen(function* () {
      while (!(yield* check)) yield* Effect.sleep("20 millis")
    }).pipe(
      Effect.timeoutFail({ duration: patience, onTimeout: () => new Error(`never: ${what}`) }),
    )

  const allConnected = (nets: ReadonlyArray<NetworkShape>) =>
    eventually(
      "every network sees all the others as connected",
      Effect.map(
        Effect.forEach(nets, (net) => net.connected),
        (lists) =>
          lists.every((list, i) => nets.every((other, j) => i === j || list.includes(other.self))),
      ),
    )

  /** Takes exactly `n` messages from `net.inbound`. */
  const take = (net: NetworkShape, n: number) =>
    Effect.gen(function* () {
      const out: Inbound[] = []
      while (out.length < n) out.push(yield* Queue.take(net.inbound))
      return out
    }).pipe(
      Effect.timeoutFail({
        duration: patience,
        onTimeout: () => new Error(`fewer than ${n} messages arrived at ${net.self}`),
      }),
    )

  /** Takes messages until one satisfies `stop`; returns all of them, that one included. */
  const takeUntil = (net: NetworkShape, stop: (m: Inbound) => boolean) =>
    Effect.gen(function* () {
      const out: Inbound[] = []
      for (;;) {
        const m = yield* Queue.take(net.inbound)
        out.push(m)
        if (stop(m)) return out
      }
    }).pipe(
      Effect.timeoutFail({
        duration: patience,
        onTimeout: () => new Error(`the awaited message never arrived at ${net.self}`),
      }),
    )

  describe(`Network conformance: ${name}`, () => {
    it("each network has its own id and sees every other as connected", () =>
      run(
        Effect.gen(function* () {
          const nets = yield* harness.make(3)
          expect(new Set(nets.map((n) => n.self)).size).toBe(3)
          yield* allConnected(nets)
          for (const net of nets) {
            expect(yield* net.connected).not.toContain(net.self)
          }
        }),
      ))

    it("messages on each channel arrive in the order sent, once, from their real sender", () =>
      run(
        Effect.gen(function* () {
          const nets = yield* harness.make(2)
          yield* allConnected(nets)
          const [a, b] = nets
          const perChannel = 40
          // Interleave channels and directions so per-channel order is not an accident.
          for (let i = 0; i < perChannel; i++) {
            for (const channel of ALL_CHANNELS) {
              yield* a.send(channel, [b.self], text(`a:${channel}:${i}`))
              yield* b.send(channel, "all", text(`b:${channel}:${i}`))
            }
          }
          const total = perChannel * ALL_CHANNELS.length
          for (const [receiver, sender, tag] of [
            [b, a, "a"],
            [a, b, "b"],
          ] as const) {
            const got = yield* take(receiver, total)
            for (const channel of ALL_CHANNELS) {
              const seen = got.filter((m) => m.channel === channel)
              for (const m of seen) expect(m.from).toBe(sender.self)
              expect(seen.map(read)).toEqual(
                Array.from({ length: perChannel }, (_, i) => `${tag}:${channel}:${i}`),
              )
            }
          }
        }),
      ))

    it("an empty message is delivered as an empty message", () =>
      run(
        Effect.gen(function* () {
          const [a, b] = yield* harness.make(2)
          yield* allConnected([a, b])
          yield* a.send(Channels.pending, [b.self], new Uint8Array(0))
          yield* a.send(Channels.pending, [b.self], text("after"))
          const got = yield* take(b, 2)
          expect(got.map((m) => m.bytes.length)).toEqual([0, 5])
        }),
      ))

    it('"all" reaches every connected peer once; a list reaches only the peers listed', () =>
      run(
        Effect.gen(function* () {
          const nets = yield* harness.make(3)
          yield* allConnected(nets)
          const [a, b, c] = nets
          yield* a.send(Channels.broadcast, "all", text("to everyone"))
          yield* a.send(Channels.broadcast, [b.self], text("to b only"))
          yield* a.send(Channels.broadcast, [c.self], text("to c only"))
          const atB = yield* take(b, 2)
          const atC = yield* take(c, 2)
          expect(atB.map(read)).toEqual(["to everyone", "to b only"])
          expect(atC.map(read)).toEqual(["to everyone", "to c only"])
          for (const m of [...atB, ...atC]) expect(m.from).toBe(a.self)
        }),
      ))

    it("sending to a peer id that is not configured succeeds and delivers nothing to it", () =>
      run(
        Effect.gen(function* () {
          const [a, b] = yield* harness.make(2)
          yield* allConnected([a, b])
          const nobody: PeerId = "ab".repeat(32)
          yield* a.send(Channels.pending, [nobody], text("lost"))
          yield* a.send(Channels.pending, [nobody, b.self], text("found"))
          const [got] = yield* take(b, 1)
          expect(read(got)).toBe("found")
        }),
      ))

    it("a message over its channel's limit is refused by send; one at the limit is delivered", () =>
      run(
        Effect.gen(function* () {
          const [a, b] = yield* harness.make(2)
          yield* allConnected([a, b])
          for (const channel of ALL_CHANNELS) {
            const limit = CHANNEL_LIMITS[channel]
            // flip: a send that succeeds fails the test
            const error = yield* Effect.flip(a.send(channel, "all", new Uint8Array(limit + 1)))
            expect(error).toBeInstanceOf(MessageTooLarge)
            expect(error).toMatchObject({ channel, size: limit + 1, limit })
          }
          const atLimit = new Uint8Array(CHANNEL_LIMITS[Channels.pending]).fill(7)
          yield* a.send(Channels.pending, [b.self], atLimit)
          yield* a.send(Channels.pending, [b.self], text("next"))
          const got = yield* take(b, 2)
          expect(got[0].bytes.length).toBe(atLimit.length)
          expect(got[0].bytes.every((x) => x === 7)).toBe(true)
          expect(read(got[1])).toBe("next")
          // nothing of the refused messages arrived
          expect(Chunk.size(yield* Queue.takeAll(b.inbound))).toBe(0)
        }),
      ))

    it("after block(peer), nothing more from it is delivered and it is disconnected", () =>
      run(
        Effect.gen(function* () {
          const nets = yield* harness.make(3)
          yield* allConnected(nets)
          const [a, b, c] = nets
          yield* b.send(Channels.pending, [a.self], text("before"))
          const [before] = yield* take(a, 1)
          expect(read(before)).toBe("before")

          yield* a.block(b.self, "conformance test")
          yield* eventually(
            "a no longer lists b as connected",
            Effect.map(a.connected, (l) => !l.includes(b.self)),
          )
          yield* eventually(
            "b sees its connection to a closed",
            Effect.map(b.connected, (l) => !l.includes(a.self)),
          )
          for (const channel of ALL_CHANNELS) {
            yield* b.send(channel, "all", text("after block"))
          }
          // c, still trusted, keeps talking to a; b's messages never show up among them.
          yield* c.send(Channels.pending, [a.self], text("marker"))
          const got = yield* takeUntil(a, (m) => read(m) === "marker")
          expect(got.filter((m) => m.from === b.self)).toEqual([])
          expect(yield* a.connected).toContain(c.self)
        }),
      ))

    if (harness.stranger !== undefined) {
      const makeStranger = harness.stranger
      it("a network outside the configured set never connects and never reaches inbound", () =>
        run(
          Effect.gen(function* () {
            const nets = yield* harness.make(2)
            yield* allConnected(nets)
            const [a, b] = nets
            const stranger = yield* makeStranger(nets)
            for (const channel of ALL_CHANNELS) {
              yield* stranger.send(channel, "all", text("from a stranger"))
              yield* stranger.send(channel, [a.self, b.self], text("from a stranger"))
            }
            yield* b.send(Channels.pending, [a.self], text("marker"))
            const got = yield* takeUntil(a, (m) => read(m) === "marker")
            expect(got.filter((m) => m.from !== b.self)).toEqual([])
            expect(yield* a.connected).not.toContain(stranger.self)
            expect(yield* stranger.connected).toEqual([])
          }),
        ))
    }
  })
}
