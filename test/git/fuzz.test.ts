/**
 * Property-based fuzzing of everything that parses untrusted bytes: whatever comes in,
 * the parsers return a result or a typed error — they never throw and never hang — and
 * what the object parsers accept re-serializes to the very same bytes.
 * Runs: GUTS_FUZZ_RUNS (default 200 per property).
 */
import { createHash } from "node:crypto"
import * as zlib from "node:zlib"
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { applyDelta, createDelta, DeltaError } from "../../src/domain/git/Delta.ts"
import {
  hashObject,
  ObjectParseError,
  parseCommit,
  parseTag,
  parseTree,
  serializeCommit,
  serializeTag,
  serializeTree,
} from "../../src/domain/git/GitObject.ts"
import { PackError, PackParser, PackResolver, readPack } from "../../src/domain/git/PackReader.ts"
import { PackWriter } from "../../src/domain/git/PackWriter.ts"
import {
  PktLineDecoder,
  PktLineError,
  parsePackets,
  parseSideBand,
} from "../../src/domain/git/PktLine.ts"
import { parseReceiveCommands } from "../../src/domain/protocol/ReceiveRequest.ts"
import {
  parseV0Request,
  parseV2Fetch,
  ProtocolError,
} from "../../src/domain/protocol/UploadRequest.ts"

const runs = Number(process.env.GUTS_FUZZ_RUNS ?? 200)

const blobA = Buffer.from(Array.from({ length: 60 }, (_, i) => `line ${i} of a file\n`).join(""))
const blobB = Buffer.concat([blobA.subarray(0, 400), Buffer.from("an edit\n"), blobA.subarray(400)])
const blobC = Buffer.concat([blobB, Buffer.from("appended\n")])
const tree = Buffer.concat([
  Buffer.from("100644 a.txt\0"),
  Buffer.from(hashObject("blob", blobC), "hex"),
])
const commit = Buffer.from(
  `tree ${hashObject("tree", tree)}\nauthor A <a@x> 1700000000 +0000\ncommitter B <b@x> 1700000001 +0100\ngpgsig -----BEGIN-----\n sig\n -----END-----\n\nmessage\n`,
)
const tag = Buffer.from(
  `object ${hashObject("commit", commit)}\ntype commit\ntag v1\ntagger T <t@x> 1700000002 -0500\n\nrelease\n`,
)

/** A small valid pack with whole objects of every type, an OFS delta and a REF delta. */
const validPack = (() => {
  const w = new PackWriter({ count: 6, ofsDelta: true })
  const delta = (base: Buffer, target: Buffer) => {
    const d = createDelta(base, target)!
    return {
      kind: "delta" as const,
      id: hashObject("blob", target),
      base: hashObject("blob", base),
      deltaSize: d.length,
      deflated: zlib.deflateSync(d),
    }
  }
  const parts = [
    w.header(),
    w.write({ kind: "content", type: "blob", content: blobA }),
    w.write(delta(blobA, blobB)), // OFS: its base is in the pack
    w.write({ kind: "content", type: "tree", content: tree }),
    w.write({ kind: "content", type: "commit", content: commit }),
    w.write({ kind: "content", type: "tag", content: tag }),
  ]
  // A REF delta: written by a writer that does not use OFS.
  const refOnly = new PackWriter({ count: 1, thin: true, ofsDelta: false })
  refOnly.header()
  parts.push(refOnly.write(delta(blobB, blobC)))
  const body = Buffer.concat(parts as Buffer[])
  return Buffer.concat([body, createHash("sha1").update(body).digest()])
})()

/** Bytes with a few random edits (and optionally a few bytes cut or added). */
const mutated = (source: Buffer, keepTail = 0) =>
  fc
    .tuple(
      fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), {
        minLength: 1,
        maxLength: 6,
      }),
      fc.integer({ min: -8, max: 8 }),
    )
    .map(([edits, resize]) => {
      let b = Buffer.from(source)
      const span = Math.max(1, b.length - keepTail)
      for (const [at, value] of edits) b[at % span] = value
      if (resize < 0) b = b.subarray(0, Math.max(0, b.length + resize))
      else if (resize > 0) b = Buffer.concat([b, Buffer.alloc(resize, 0x20)])
      return b
    })

const fixTrailer = (p: Buffer) => {
  if (p.length < 20) return p
  const out = Buffer.from(p)
  createHash("sha1")
    .update(out.subarray(0, out.length - 20))
    .digest()
    .copy(out, out.length - 20)
  return out
}

describe("fuzz: no parser throws on hostile input", () => {
  it("pkt-line decoder, whole and chunked, and side-band demux", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.nat({ max: 300 }), (bytes, split) => {
        const whole = parsePackets(bytes)
        expect(Array.isArray(whole) || whole instanceof PktLineError).toBe(true)
        const d = new PktLineDecoder()
        d.push(bytes.subarray(0, split))
        d.push(bytes.subarray(split))
        for (let i = 0; i < 1000; i++) {
          const p = d.next()
          if (p === undefined || p instanceof PktLineError) return
          if (p.kind === "data") {
            const band = parseSideBand(p.data)
            expect(band instanceof PktLineError || [1, 2, 3].includes(band.band)).toBe(true)
          }
        }
        throw new Error("decoder did not stop")
      }),
      { numRuns: runs },
    )
  })

  it("pack parser and resolver on random bytes after a pack header", () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 400 }),
        fc.integer({ min: 0, max: 5 }),
        (bytes, count) => {
          const head = Buffer.from([0x50, 0x41, 0x43, 0x4b, 0, 0, 0, 2, 0, 0, 0, count])
          const r = readPack(fixTrailer(Buffer.concat([head, bytes])))
          expect(r instanceof PackError || Array.isArray(r.objects)).toBe(true)
        },
      ),
      { numRuns: runs },
    )
  })

  it("pack parser and resolver on mutated valid packs (trailer fixed or not), in chunks", () => {
    expect(readPack(validPack)).not.toBeInstanceOf(PackError)
    fc.assert(
      fc.property(
        mutated(validPack, 20),
        fc.boolean(),
        fc.integer({ min: 1, max: 64 }),
        fc.boolean(),
        (pack, fix, chunk, lying) => {
          const bytes = fix ? fixTrailer(pack) : pack
          const parser = new PackParser()
          let err: PackError | undefined
          for (let i = 0; i < bytes.length && !err; i += chunk)
            err = parser.push(bytes.subarray(i, i + chunk))
          err ??= parser.end()
          if (err) {
            expect(err).toBeInstanceOf(PackError)
            return
          }
          // Thin-pack bases from a lookup that may lie about what it returns.
          const resolver = new PackResolver(parser.entries, {
            external: (id) => (lying ? { type: "blob", content: Buffer.from(id) } : undefined),
          })
          const r = resolver.step()
          expect(
            r instanceof PackError ||
              (r._tag === "Done" && r.result.objects.length === parser.entries.length),
          ).toBe(true)
        },
      ),
      { numRuns: runs },
    )
  })

  it("delta application on random deltas, and on mutated valid ones", () => {
    const valid = createDelta(blobA, blobB)!
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 64 }),
        fc.uint8Array({ maxLength: 64 }),
        mutated(valid),
        (base, delta, edited) => {
          for (const [b, d] of [
            [base, delta],
            [blobA, edited],
          ] as const) {
            const r = applyDelta(b, d)
            expect(Buffer.isBuffer(r) || r instanceof DeltaError).toBe(true)
          }
        },
      ),
      { numRuns: runs },
    )
  })

  it("object parsers: errors or results, and whatever parses re-serializes byte for byte", () => {
    fc.assert(
      fc.property(
        mutated(commit),
        mutated(tree),
        mutated(tag),
        fc.uint8Array({ maxLength: 120 }),
        (c, t, g, random) => {
          for (const bytes of [c, random]) {
            const r = parseCommit(bytes)
            if (r instanceof ObjectParseError) expect(r.kind).toBe("commit")
            else expect(serializeCommit(r).equals(bytes)).toBe(true)
          }
          for (const bytes of [t, random]) {
            const r = parseTree(bytes)
            if (r instanceof ObjectParseError) expect(r.kind).toBe("tree")
            else expect(serializeTree(r).equals(bytes)).toBe(true)
          }
          for (const bytes of [g, random]) {
            const r = parseTag(bytes)
            if (r instanceof ObjectParseError) expect(r.kind).toBe("tag")
            else expect(serializeTag(r).equals(bytes)).toBe(true)
          }
        },
      ),
      { numRuns: runs },
    )
  })

  it("protocol request parsers on random lines", () => {
    fc.assert(
      fc.property(
        fc.array(fc.option(fc.string({ maxLength: 60 }), { nil: null }), { maxLength: 20 }),
        (lines) => {
          const v0 = parseV0Request(lines)
          expect(v0 instanceof ProtocolError || Array.isArray(v0.wants)).toBe(true)
          const v2 = parseV2Fetch(lines.filter((l): l is string => l !== null))
          expect(v2 instanceof ProtocolError || Array.isArray(v2.wants)).toBe(true)
          const rc = parseReceiveCommands(lines.filter((l): l is string => l !== null))
          expect(rc instanceof ProtocolError || Array.isArray(rc.commands)).toBe(true)
        },
      ),
      { numRuns: runs },
    )
  })

  it("a zlib bomb in a pack entry is refused at its declared size", () => {
    const bomb = zlib.deflateSync(Buffer.alloc(10_000_000))
    const header = Buffer.from([0x30 | 5]) // blob declared as 5 bytes
    const body = Buffer.concat([Buffer.from("PACK\0\0\0\x02\0\0\0\x01"), header, bomb])
    const r = readPack(Buffer.concat([body, createHash("sha1").update(body).digest()]))
    expect(r).toBeInstanceOf(PackError)
    expect((r as PackError).reason).toBe("size")
  })

  it("a zlib stream padded past the worst case with empty blocks still parses, in linear work", () => {
    // Raw deflate: many empty stored blocks, then the data, wrapped as zlib by hand.
    const data = Buffer.from("payload")
    const empty = Buffer.from([0x00, 0x00, 0x00, 0xff, 0xff]) // non-final stored block, length 0
    const last = Buffer.concat([
      Buffer.from([0x01, data.length, 0, ~data.length & 0xff, 0xff]),
      data,
    ])
    const adler = Buffer.alloc(4)
    let a = 1
    let b = 0
    for (const byte of data) {
      a = (a + byte) % 65521
      b = (b + a) % 65521
    }
    adler.writeUInt32BE(((b << 16) | a) >>> 0)
    const stream = Buffer.concat([
      Buffer.from([0x78, 0x01]),
      ...Array(20_000).fill(empty),
      last,
      adler,
    ])
    const body = Buffer.concat([
      Buffer.from("PACK\0\0\0\x02\0\0\0\x01"),
      Buffer.from([0x30 | data.length]),
      stream,
    ])
    const pack = Buffer.concat([body, createHash("sha1").update(body).digest()])
    const parser = new PackParser()
    for (let i = 0; i < pack.length; i += 4096)
      expect(parser.push(pack.subarray(i, i + 4096))).toBeUndefined()
    expect(parser.end()).toBeUndefined()
    expect(parser.entries.length).toBe(1)
    expect(parser.entries[0]!.kind === "whole" && parser.entries[0]!.id).toBe(
      hashObject("blob", data),
    )
  })
})
