/**
 * A peer's outbound queue: never blocks the sender, drops the oldest, keeps the newest.
 */
import { Effect } from "effect"
import { describe, expect, it } from "vitest"
import { makeOutboundQueue } from "../../src/layers/p2p/OutboundQueue.ts"

const msg = (n: number, size = 1) => new Uint8Array(size).fill(n)

describe("OutboundQueue", () => {
  it("hands messages out in the order pushed", () =>
    Effect.runPromise(
      Effect.gen(function* () {
        const q = yield* makeOutboundQueue({ maxMessages: 10, maxBytes: 1000 })
        for (let i = 0; i < 5; i++) expect(q.push(msg(i))).toBe(0)
        const out: number[] = []
        for (let i = 0; i < 5; i++) out.push((yield* q.take)[0])
        expect(out).toEqual([0, 1, 2, 3, 4])
      }),
    ))

  it("poll and peekSize look at the oldest message without waiting", () =>
    Effect.runPromise(
      Effect.gen(function* () {
        const q = yield* makeOutboundQueue({ maxMessages: 10, maxBytes: 1000 })
        expect(q.poll()).toBeUndefined()
        expect(q.peekSize()).toBeUndefined()
        q.push(msg(1, 3))
        q.push(msg(2, 5))
        expect(q.peekSize()).toBe(3)
        expect(q.poll()?.[0]).toBe(1)
        expect(q.peekSize()).toBe(5)
        expect((yield* q.take)[0]).toBe(2)
        expect(q.poll()).toBeUndefined()
      }),
    ))

  it("drops the oldest messages beyond its message bound", () =>
    Effect.runPromise(
      Effect.gen(function* () {
        const q = yield* makeOutboundQueue({ maxMessages: 3, maxBytes: 1000 })
        let dropped = 0
        for (let i = 0; i < 10; i++) dropped += q.push(msg(i))
        expect(dropped).toBe(7)
        expect(q.size()).toBe(3)
        const out: number[] = []
        for (let i = 0; i < 3; i++) out.push((yield* q.take)[0])
        expect(out).toEqual([7, 8, 9])
      }),
    ))

  it("drops the oldest messages beyond its byte bound, but always keeps the newest", () =>
    Effect.runPromise(
      Effect.gen(function* () {
        const q = yield* makeOutboundQueue({ maxMessages: 100, maxBytes: 10 })
        q.push(msg(1, 4))
        q.push(msg(2, 4))
        expect(q.push(msg(3, 4))).toBe(1)
        expect(q.bytes()).toBe(8)
        expect(q.push(msg(4, 50))).toBe(2)
        expect(q.size()).toBe(1)
        expect((yield* q.take)[0]).toBe(4)
        expect(q.bytes()).toBe(0)
      }),
    ))

  it("wakes a waiting taker when a message is pushed, and clear forgets everything", () =>
    Effect.runPromise(
      Effect.gen(function* () {
        const q = yield* makeOutboundQueue({ maxMessages: 10, maxBytes: 1000 })
        const taker = yield* Effect.fork(q.take)
        yield* Effect.yieldNow()
        q.push(msg(42))
        expect((yield* taker.await)._tag).toBe("Success")
        q.push(msg(1))
        q.push(msg(2))
        q.clear()
        expect(q.size()).toBe(0)
        q.push(msg(3))
        expect((yield* q.take)[0]).toBe(3)
      }),
    ))

  it("stays correct over many pushes and takes (front compaction)", () =>
    Effect.runPromise(
      Effect.gen(function* () {
        const q = yield* makeOutboundQueue({ maxMessages: 1e6, maxBytes: 1e9 })
        const numbered = (n: number) => {
          const bytes = new Uint8Array(4)
          new DataView(bytes.buffer).setUint32(0, n)
          return bytes
        }
        let next = 0
        let expected = 0
        for (let round = 0; round < 6; round++) {
          for (let i = 0; i < 3000; i++) expect(q.push(numbered(next++))).toBe(0)
          for (let i = 0; i < 2500; i++) {
            const m = yield* q.take
            expect(new DataView(m.buffer).getUint32(0)).toBe(expected++)
          }
        }
        expect(q.bytes()).toBe(4 * (next - expected))
        expect(q.size()).toBe(next - expected)
      }),
    ))
})
