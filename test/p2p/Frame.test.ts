/**
 * Frame codec: what a peer's bytes can and cannot make the decoder do.
 */
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import {
  encodeFrame,
  encodeFrameHeader,
  encodeFrames,
  FrameDecoder,
  FrameTooLarge,
  MalformedFrame,
} from "../../src/layers/p2p/Frame.ts"

const concat = (parts: ReadonlyArray<Uint8Array>) => Buffer.concat(parts.map((p) => Buffer.from(p)))

/** Cuts `bytes` at the given positions. */
const cut = (bytes: Uint8Array, cuts: ReadonlyArray<number>) => {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b)
  const out: Uint8Array[] = []
  let last = 0
  for (const p of [...points, bytes.length]) {
    out.push(bytes.subarray(last, p))
    last = p
  }
  return out
}

describe("Frame", () => {
  it("decodes any sequence of frames, however the bytes are split", () => {
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 8 }),
        fc.array(fc.nat(), { maxLength: 10 }),
        (payloads, cuts) => {
          const wire = concat(payloads.map(encodeFrame))
          const decoder = new FrameDecoder(300)
          const frames: Uint8Array[] = []
          for (const chunk of cut(wire, cuts)) {
            const result = decoder.push(chunk)
            expect(result.error).toBeUndefined()
            frames.push(...result.frames)
          }
          expect(frames.map((f) => Buffer.from(f).toString("hex"))).toEqual(
            payloads.map((p) => Buffer.from(p).toString("hex")),
          )
          expect(decoder.bufferedBytes).toBe(0)
        },
      ),
    )
  })

  it("encodes several frames in one buffer exactly as one after the other", () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 200 }), { maxLength: 6 }), (payloads) => {
        expect(Buffer.from(encodeFrames(payloads))).toEqual(concat(payloads.map(encodeFrame)))
      }),
    )
  })

  it("encodes lengths as minimal LEB128 varints", () => {
    expect([...encodeFrameHeader(0)]).toEqual([0])
    expect([...encodeFrameHeader(127)]).toEqual([0x7f])
    expect([...encodeFrameHeader(128)]).toEqual([0x80, 0x01])
    expect([...encodeFrameHeader(300)]).toEqual([0xac, 0x02])
    expect([...encodeFrameHeader(32 * 1024 * 1024)]).toEqual([0x80, 0x80, 0x80, 0x10])
    expect(() => encodeFrameHeader(2 ** 28)).toThrow(RangeError)
    expect(() => encodeFrameHeader(-1)).toThrow(RangeError)
  })

  it("accepts a frame exactly at the limit and rejects one byte more before reading its payload", () => {
    const atLimit = new FrameDecoder(1000).push(encodeFrame(new Uint8Array(1000)))
    expect(atLimit.frames.map((f) => f.length)).toEqual([1000])
    const decoder = new FrameDecoder(1000)
    const result = decoder.push(encodeFrameHeader(1001))
    expect(result.error).toBeInstanceOf(FrameTooLarge)
    expect(result.error).toMatchObject({ size: 1001, limit: 1000 })
    expect(decoder.bufferedBytes).toBe(0)
  })

  it("rejects a huge declared length as soon as its first bytes exceed the limit", () => {
    const decoder = new FrameDecoder(64 * 1024)
    // 0xff 0xff 0xff: already 2 MiB after three bytes, the fourth never needed.
    const result = decoder.push(Uint8Array.from([0xff, 0xff, 0xff]))
    expect(result.error).toBeInstanceOf(FrameTooLarge)
  })

  it("delivers the frames before a violation, then stays failed", () => {
    const decoder = new FrameDecoder(100)
    const wire = concat([encodeFrame(Uint8Array.from([1, 2])), Uint8Array.from([0x80, 0x00])])
    const result = decoder.push(wire)
    expect(result.frames.map((f) => [...f])).toEqual([[1, 2]])
    expect(result.error).toBeInstanceOf(MalformedFrame)
    const later = decoder.push(encodeFrame(Uint8Array.from([3])))
    expect(later.frames).toEqual([])
    expect(later.error).toBe(result.error)
  })

  it("rejects non-minimal and overlong length prefixes", () => {
    expect(new FrameDecoder(1000).push(Uint8Array.from([0x81, 0x00])).error).toBeInstanceOf(
      MalformedFrame,
    )
    expect(
      new FrameDecoder(2 ** 30).push(Uint8Array.from([0x80, 0x80, 0x80, 0x80, 0x01])).error,
    ).toBeInstanceOf(MalformedFrame)
  })

  it("never throws on arbitrary bytes and never holds more than the limit", () => {
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ maxLength: 64 }), { maxLength: 20 }),
        fc.integer({ min: 0, max: 200 }),
        (chunks, limit) => {
          const decoder = new FrameDecoder(limit)
          for (const chunk of chunks) {
            const result = decoder.push(chunk)
            for (const f of result.frames) expect(f.length).toBeLessThanOrEqual(limit)
            expect(decoder.bufferedBytes).toBeLessThanOrEqual(limit)
          }
        },
      ),
    )
  })

  it("returns payloads that do not alias the input buffers", () => {
    const wire = encodeFrame(Uint8Array.from([9, 9, 9]))
    const [frame] = new FrameDecoder(10).push(wire).frames
    wire.fill(0)
    expect([...frame]).toEqual([9, 9, 9])
  })
})
