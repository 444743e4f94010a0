import { Either } from "effect"
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { Codec } from "../../src/domain/consensus/Codec.ts"
import {
  type Certificate,
  type JournalEntry,
  type Proposal,
  type ResolverMessage,
  type Round,
  U64_MAX,
  type Vote,
} from "../../src/domain/consensus/Types.ts"

const SIG = 64
const codec = new Codec(SIG)
/** Property runs per test (raise GUTS_PROPERTY_RUNS for a deeper search). */
const RUNS = Number(process.env.GUTS_PROPERTY_RUNS ?? 300)

const u64 = fc.bigInt({ min: 0n, max: U64_MAX })
const round: fc.Arbitrary<Round> = fc.record({ epoch: u64, view: u64 })
const digest = fc.uint8Array({ minLength: 32, maxLength: 32 })
const proposal: fc.Arbitrary<Proposal> = fc.record({ round, parent: u64, payload: digest })
const attestation = fc.record({
  signer: fc.nat({ max: 1000 }),
  signature: fc.uint8Array({ minLength: SIG, maxLength: SIG }),
})
const vote: fc.Arbitrary<Vote> = fc.oneof(
  fc.record({ _tag: fc.constant("Notarize" as const), proposal, attestation }),
  fc.record({ _tag: fc.constant("Nullify" as const), round, attestation }),
  fc.record({ _tag: fc.constant("Finalize" as const), proposal, attestation }),
)
const signatures = fc.integer({ min: 0, max: 40 }).chain((size) =>
  fc.subarray([...Array(size).keys()]).chain((indices) =>
    fc
      .array(fc.uint8Array({ minLength: SIG, maxLength: SIG }), {
        minLength: indices.length,
        maxLength: indices.length,
      })
      .map((sigs) => ({ signers: { size, indices }, signatures: sigs })),
  ),
)
const certificate: fc.Arbitrary<Certificate> = fc.oneof(
  fc.record({ _tag: fc.constant("Notarization" as const), proposal, certificate: signatures }),
  fc.record({ _tag: fc.constant("Nullification" as const), round, certificate: signatures }),
  fc.record({ _tag: fc.constant("Finalization" as const), proposal, certificate: signatures }),
)
const resolver: fc.Arbitrary<ResolverMessage> = fc.oneof(
  fc.record({ _tag: fc.constant("Request" as const), id: u64, view: u64 }),
  fc.record({
    _tag: fc.constant("Response" as const),
    id: u64,
    certificate: fc.option(certificate, { nil: undefined }),
  }),
)
const journal: fc.Arbitrary<JournalEntry> = fc.oneof(
  fc.record({ _tag: fc.constant("OwnVote" as const), vote }),
  fc.record({ _tag: fc.constant("Certificate" as const), certificate }),
  fc.record({
    _tag: fc.constant("Certification" as const),
    round,
    payload: digest,
    ok: fc.boolean(),
  }),
)

/** Structural equality for codec values (bigints, byte arrays, arrays, records). */
const same = (a: unknown, b: unknown): boolean => {
  if (a === b) return true
  if (a instanceof Uint8Array && b instanceof Uint8Array)
    return Buffer.from(a.buffer, a.byteOffset, a.length).equals(
      Buffer.from(b.buffer, b.byteOffset, b.length),
    )
  if (Array.isArray(a) && Array.isArray(b))
    return a.length === b.length && a.every((x, i) => same(x, b[i]))
  if (typeof a === "object" && typeof b === "object" && a !== null && b !== null) {
    const ka = Object.keys(a).filter((k) => (a as any)[k] !== undefined)
    const kb = Object.keys(b).filter((k) => (b as any)[k] !== undefined)
    return ka.length === kb.length && ka.every((k) => same((a as any)[k], (b as any)[k]))
  }
  return false
}

const right = <A>(e: Either.Either<A, unknown>): A => {
  if (Either.isLeft(e)) throw new Error(`decode failed: ${String(e.left)}`)
  return e.right
}

const decoders = {
  vote: (b: Uint8Array) => codec.decodeVote(b),
  certificate: (b: Uint8Array) => codec.decodeCertificate(b),
  resolver: (b: Uint8Array) => codec.decodeResolver(b),
  journal: (b: Uint8Array) => codec.decodeJournalEntry(b),
}

/** Any valid encoding, with the function that re-encodes its decoded value. */
const encoded = fc.oneof(
  vote.map((v) => codec.encodeVote(v)),
  certificate.map((c) => codec.encodeCertificate(c)),
  resolver.map((m) => codec.encodeResolver(m)),
  journal.map((e) => codec.encodeJournalEntry(e)),
)

describe("Codec (strict wire encoding)", () => {
  it("round-trips votes", () => {
    fc.assert(
      fc.property(vote, (v) => {
        expect(same(right(codec.decodeVote(codec.encodeVote(v))), v)).toBe(true)
      }),
      { numRuns: RUNS },
    )
  })

  it("round-trips certificates", () => {
    fc.assert(
      fc.property(certificate, (c) => {
        expect(same(right(codec.decodeCertificate(codec.encodeCertificate(c))), c)).toBe(true)
      }),
      { numRuns: RUNS },
    )
  })

  it("round-trips resolver messages and journal entries", () => {
    fc.assert(
      fc.property(resolver, journal, (m, e) => {
        expect(same(right(codec.decodeResolver(codec.encodeResolver(m))), m)).toBe(true)
        expect(same(right(codec.decodeJournalEntry(codec.encodeJournalEntry(e))), e)).toBe(true)
      }),
      { numRuns: RUNS },
    )
  })

  it("lays out a notarize as tag, epoch, view, parent, payload, signer, signature", () => {
    const v: Vote = {
      _tag: "Notarize",
      proposal: {
        round: { epoch: 333n, view: 5n },
        parent: 4n,
        payload: new Uint8Array(32).fill(9),
      },
      attestation: { signer: 2, signature: new Uint8Array(SIG).fill(1) },
    }
    const bytes = codec.encodeVote(v)
    expect([...bytes.subarray(0, 5)]).toEqual([0, 0xcd, 0x02, 5, 4])
    expect(bytes[37]).toBe(2)
    expect(bytes.length).toBe(1 + 2 + 1 + 1 + 32 + 1 + SIG)
    // Vote and certificate tags follow the spec: 0/1/2.
    expect(
      codec.encodeVote({ _tag: "Nullify", round: v.proposal.round, attestation: v.attestation })[0],
    ).toBe(1)
    expect(codec.encodeVote({ ...v, _tag: "Finalize" })[0]).toBe(2)
  })

  it("encodes a certificate's signers as a bitmap of n bits", () => {
    const c: Certificate = {
      _tag: "Nullification",
      round: { epoch: 1n, view: 2n },
      certificate: {
        signers: { size: 10, indices: [0, 3, 9] },
        signatures: [0, 1, 2].map(() => new Uint8Array(SIG)),
      },
    }
    const bytes = codec.encodeCertificate(c)
    expect([...bytes.subarray(0, 6)]).toEqual([1, 1, 2, 10, 0b0000_1001, 0b0000_0010])
    expect(bytes.length).toBe(6 + 3 * SIG)
  })

  it("rejects trailing bytes, unknown tags and set padding bits", () => {
    const c: Certificate = {
      _tag: "Nullification",
      round: { epoch: 1n, view: 2n },
      certificate: { signers: { size: 3, indices: [1] }, signatures: [new Uint8Array(SIG)] },
    }
    const good = codec.encodeCertificate(c)
    expect(Either.isRight(codec.decodeCertificate(good))).toBe(true)
    const trailing = Uint8Array.from([...good, 0])
    expect(
      Either.getLeft(codec.decodeCertificate(trailing)).pipe(
        (l) => l._tag === "Some" && l.value.problem,
      ),
    ).toBe("trailing bytes")
    const unknown = Uint8Array.from(good)
    unknown[0] = 3
    expect(Either.isLeft(codec.decodeCertificate(unknown))).toBe(true)
    const padded = Uint8Array.from(good)
    padded[4] |= 0b1000_0000 // bit 7 of a 3-bit bitmap
    const r = codec.decodeCertificate(padded)
    expect(Either.isLeft(r) && r.left.problem).toBe("bitmap padding bits set")
  })

  it("rejects a truncated signature and an overlong view varint", () => {
    const v: Vote = {
      _tag: "Nullify",
      round: { epoch: 1n, view: 2n },
      attestation: { signer: 0, signature: new Uint8Array(SIG) },
    }
    const bytes = codec.encodeVote(v)
    expect(Either.isLeft(codec.decodeVote(bytes.subarray(0, bytes.length - 1)))).toBe(true)
    const overlong = Uint8Array.from([1, 1, 0x82, 0x00, ...bytes.subarray(3)])
    const r = codec.decodeVote(overlong)
    expect(Either.isLeft(r) && r.left.problem).toBe("varint overlong")
  })

  it("never throws on random bytes", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        for (const decode of Object.values(decoders)) decode(bytes)
      }),
      { numRuns: RUNS * 4 },
    )
  })

  it("never throws on corrupted valid encodings, and whatever it accepts is canonical", () => {
    fc.assert(
      fc.property(
        encoded,
        fc.nat(),
        fc.integer({ min: 0, max: 255 }),
        fc.nat({ max: 3 }),
        (bytes, at, value, how) => {
          const mutated = Uint8Array.from(bytes)
          const i = at % Math.max(1, mutated.length)
          const replaced = Uint8Array.from(mutated)
          replaced[i] = value
          const input =
            how === 0
              ? replaced
              : how === 1
                ? mutated.subarray(0, i)
                : how === 2
                  ? Uint8Array.from([...mutated, value])
                  : Uint8Array.from([...mutated.subarray(0, i), value, ...mutated.subarray(i)])
          const reencoders: [
            (b: Uint8Array) => Either.Either<any, unknown>,
            (v: any) => Uint8Array,
          ][] = [
            [decoders.vote, (v) => codec.encodeVote(v)],
            [decoders.certificate, (v) => codec.encodeCertificate(v)],
            [decoders.resolver, (v) => codec.encodeResolver(v)],
            [decoders.journal, (v) => codec.encodeJournalEntry(v)],
          ]
          for (const [decode, encode] of reencoders) {
            const r = decode(input)
            if (Either.isRight(r))
              expect(Buffer.from(encode(r.right)).equals(Buffer.from(input))).toBe(true)
          }
        },
      ),
      { numRuns: RUNS * 4 },
    )
  })

  it("peeks a certificate's kind, epoch and view without decoding the rest", () => {
    const c: Certificate = {
      _tag: "Finalization",
      proposal: { round: { epoch: 7n, view: 1000n }, parent: 999n, payload: new Uint8Array(32) },
      certificate: {
        signers: { size: 4, indices: [0, 1, 2] },
        signatures: [0, 1, 2].map(() => new Uint8Array(SIG)),
      },
    }
    expect(codec.peekCertificate(codec.encodeCertificate(c))).toEqual({
      kind: "Finalization",
      epoch: 7n,
      view: 1000n,
    })
    expect(codec.peekCertificate(Uint8Array.from([9, 1, 1]))).toBeUndefined()
    expect(codec.peekCertificate(Uint8Array.from([0, 0x80]))).toBeUndefined()
  })
})
