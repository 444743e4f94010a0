/**
 * Property-based fuzzing of everything that parses untrusted bytes: whatever comes in,
 * the parsers return a result or a typed error — they never throw and never hang.
 * Runs: GUTS_FUZZ_RUNS (default 300 per property).
 */
import { createHash } from "node:crypto"
import * as zlib from "node:zlib"
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { applyDelta, DeltaError } from "../../src/domain/git/Delta.ts"
import { PackError, PackParser, readPack, resolvePack } from "../../src/domain/git/PackReader.ts"
import { PktLineDecoder, PktLineError, parsePackets } from "../../src/domain/git/PktLine.ts"
import {
  parseV0Request,
  parseV2Fetch,
  ProtocolError,
} from "../../src/domain/protocol/UploadRequest.ts"
import { parseReceiveCommands } from "../../src/domain/protocol/ReceiveRequest.ts"
import { buildPack, commitWithFile } from "../support/RawGit.ts"

const runs = Number(process.env.GUTS_FUZZ_RUNS ?? 300)

const validPack = (() => {
  const c = commitWithFile("a.txt", "alpha\n".repeat(50))
  return buildPack([
    { kind: "blob", content: c.blob },
    { kind: "tree", content: c.tree },
    { kind: "commit", content: c.commit },
  ])
})()

/** A pack's bytes with a few random byte edits, and the trailer fixed up or not. */
const mutatedPack = fc
  .tuple(
    fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 6 }),
    fc.boolean(),
  )
  .map(([edits, fixTrailer]) => {
    const p = Buffer.from(validPack)
    for (const [at, value] of edits) p[at % (p.length - 20)] = value
    if (fixTrailer)
      createHash("sha1")
        .update(p.subarray(0, p.length - 20))
        .digest()
        .copy(p, p.length - 20)
    return p
  })

describe("fuzz: no parser throws on hostile input", () => {
  it("pkt-line decoder, whole and chunked", () => {
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
        }
        throw new Error("decoder did not stop")
      }),
      { numRuns: runs },
    )
  })

  it("pack parser and resolver on random bytes", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 400 }), (bytes) => {
        const r = readPack(Buffer.concat([Buffer.from("PACK\0\0\0\x02\0\0\0\x03"), bytes]))
        expect(r instanceof PackError || Array.isArray(r.objects)).toBe(true)
      }),
      { numRuns: runs },
    )
  })

  it("pack parser and resolver on mutated valid packs (with and without a fixed trailer)", () => {
    fc.assert(
      fc.property(mutatedPack, fc.integer({ min: 1, max: 64 }), (pack, chunk) => {
        const parser = new PackParser()
        let err: PackError | undefined
        for (let i = 0; i < pack.length && !err; i += chunk)
          err = parser.push(pack.subarray(i, i + chunk))
        err ??= parser.end()
        if (err) {
          expect(err).toBeInstanceOf(PackError)
          return
        }
        const r = resolvePack(parser.entries, new Map())
        expect(r instanceof PackError || r.objects.length === 3).toBe(true)
      }),
      { numRuns: runs },
    )
  })

  it("delta application on random deltas and bases", () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 64 }),
        fc.uint8Array({ maxLength: 64 }),
        (base, delta) => {
          const r = applyDelta(base, delta)
          expect(Buffer.isBuffer(r) || r instanceof DeltaError).toBe(true)
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
    const pack = Buffer.concat([body, createHash("sha1").update(body).digest()])
    const r = readPack(pack)
    expect(r).toBeInstanceOf(PackError)
    expect((r as PackError).message).toMatch(/declared 5 bytes|inflates to/)
  })
})
