/**
 * The application's messages on the broadcast and sync channels: every message survives a
 * round trip, and bytes from a peer — truncated, padded or random — decode to a message
 * or to `undefined`, never to a throw.
 */
import * as zlib from "node:zlib"
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import type { ObjectId } from "../../src/domain/git/ObjectId.ts"
import { type AppMessage, decodeApp, encodeApp } from "../../src/layers/chain/Wire.ts"

const id = (c: string) => c.repeat(40) as ObjectId
const digest = "ab".repeat(32)

const samples: ReadonlyArray<AppMessage> = [
  { _tag: "Block", bytes: Buffer.from("{}") },
  { _tag: "Tx", json: '{"tx":1}' },
  { _tag: "GetBlock", digest },
  { _tag: "GetHeight", height: 42 },
  {
    _tag: "Objects",
    objects: [
      {
        id: id("a"),
        type: "blob",
        size: 3,
        repr: { kind: "whole", deflated: zlib.deflateSync(Buffer.from("abc")) },
      },
      {
        id: id("b"),
        type: "tree",
        size: 9,
        repr: { kind: "delta", base: id("a"), deflated: zlib.deflateSync("d"), deltaSize: 1 },
      },
    ],
  },
  { _tag: "GetObjects", ids: [id("1"), id("2")] },
  { _tag: "GetChain", digest, max: 256 },
  { _tag: "Blocks", blocks: [Buffer.from("one"), Buffer.from("two")] },
  { _tag: "GetClosure", request: 7, tips: [id("3")], haves: [id("4"), id("5")] },
  { _tag: "ClosureEnd", request: 7, found: true },
  { _tag: "Finalized", height: 12, digest },
  { _tag: "GetFinalized" },
  { _tag: "Uploads", repo: "12.1700000000", ids: [id("6"), id("7")] },
]

/** Comparable form (buffers as hex). */
const plain = (m: AppMessage | undefined) =>
  JSON.parse(
    JSON.stringify(m, (_, v) =>
      v instanceof Uint8Array || v?.type === "Buffer"
        ? Buffer.from(v.data ?? v).toString("hex")
        : v,
    ),
  )

describe("application wire messages", () => {
  for (const m of samples)
    it(`round-trips ${m._tag}`, () => {
      expect(plain(decodeApp(encodeApp(m)))).toEqual(plain(m))
    })

  it("decodes a fixed-size message cut short or padded as undefined", () => {
    for (const m of samples) {
      const bytes = encodeApp(m)
      if (["Block", "Tx", "Objects", "GetObjects", "Blocks"].includes(m._tag)) continue
      expect(decodeApp(bytes.subarray(0, bytes.length - 1)), m._tag).toBeUndefined()
      expect(decodeApp(Buffer.concat([bytes, Buffer.from([0])])), m._tag).toBeUndefined()
    }
  })

  it("rejects object and block lists whose lengths run past the message", () => {
    for (const m of samples.filter((s) => s._tag === "Objects" || s._tag === "Blocks")) {
      const bytes = encodeApp(m)
      expect(decodeApp(bytes.subarray(0, bytes.length - 2))).toBeUndefined()
    }
    expect(decodeApp(Buffer.from([6, 1, 2, 3]))).toBeUndefined() // GetObjects: not 20-byte ids
  })

  it("never throws on arbitrary bytes, whatever the tag", () => {
    fc.assert(
      fc.property(fc.nat(16), fc.uint8Array({ maxLength: 200 }), (tag, body) => {
        const m = decodeApp(Buffer.concat([Buffer.from([tag]), body]))
        if (m !== undefined) expect(typeof m._tag).toBe("string")
      }),
      { numRuns: 2000 },
    )
    expect(decodeApp(new Uint8Array(0))).toBeUndefined()
  })
})
