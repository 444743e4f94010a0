/**
 * Strict wire encoding of the Simplex messages (spec §2), of resolver messages (§5) and
 * of journal entries (§3 "Journal").
 *
 * Layout (all integers are u64 LEB128 varints, see Varint.ts):
 *   Round        = epoch ‖ view
 *   Proposal     = Round ‖ parent view ‖ payload (32 bytes)
 *   Attestation  = signer ‖ signature (fixed length of the scheme)
 *   Vote         = tag (1 byte: 0 notarize, 1 nullify, 2 finalize) ‖ subject ‖ Attestation
 *   Certificate  = tag (1 byte: 0 notarization, 1 nullification, 2 finalization) ‖ subject
 *                  ‖ bit count n ‖ ceil(n/8) bitmap bytes (bit i = byte i>>3, bit i&7)
 *                  ‖ one signature per set bit, in ascending signer order
 *   Resolver     = 0 ‖ id ‖ view                                  (request)
 *                | 1 ‖ id ‖ 0                                     (response, nothing)
 *                | 1 ‖ id ‖ 1 ‖ Certificate                       (response)
 *   Journal      = 0 ‖ Vote | 1 ‖ Certificate | 2 ‖ Round ‖ payload ‖ ok (0|1)
 *
 * Decoded digests and signatures are views into the input bytes (no copies): callers hand
 * over buffers they will not mutate afterwards.
 *
 * Guarantees: encode ∘ decode is the identity; decoding never throws, returns a
 * CodecError naming the problem and its offset, and rejects trailing bytes, unknown tags,
 * non-minimal varints, padding bits set in a bitmap and bitmaps wider than the limit.
 */
import { Data, Either } from "effect"
import { type Cursor, MAX_VARINT_LENGTH, readVarint, writeVarint } from "./Varint.ts"
import {
  type Attestation,
  type Certificate,
  CERTIFICATE_TAG,
  type CertificateSignatures,
  DIGEST_LENGTH,
  type JournalEntry,
  JOURNAL_TAG,
  type Proposal,
  RESOLVER_TAG,
  type ResolverMessage,
  type Round,
  type Vote,
  VOTE_TAG,
} from "./Types.ts"

export class CodecError extends Data.TaggedError("CodecError")<{
  readonly what: string
  readonly problem: string
  readonly offset: number
}> {
  override get message() {
    return `cannot decode ${this.what}: ${this.problem} at byte ${this.offset}`
  }
}

const CERTIFICATE_KINDS: ReadonlyArray<Certificate["_tag"] | undefined> = [
  "Notarization",
  "Nullification",
  "Finalization",
]
const peekCursor: Cursor = { pos: 0 }

/** The kind named by an encoded certificate's tag byte (undefined for an unknown tag). */
export const certificateKind = (bytes: Uint8Array): Certificate["_tag"] | undefined =>
  CERTIFICATE_KINDS[bytes[0]]

// Wire tags by comparison, not by indexing a table with the tag string: a table lookup
// keyed by several different strings is a megamorphic (hash-probing) property load.
const voteTag = (v: Vote): number =>
  v._tag === "Notarize"
    ? VOTE_TAG.Notarize
    : v._tag === "Nullify"
      ? VOTE_TAG.Nullify
      : VOTE_TAG.Finalize

const certificateTag = (c: Certificate): number =>
  c._tag === "Notarization"
    ? CERTIFICATE_TAG.Notarization
    : c._tag === "Nullification"
      ? CERTIFICATE_TAG.Nullification
      : CERTIFICATE_TAG.Finalization

/** Participants a certificate bitmap may cover; bounds allocation on hostile input. */
export const MAX_PARTICIPANTS = 1 << 16

/** Internal unwinding signal; never escapes this module. */
class Failure {
  constructor(
    readonly problem: string,
    readonly offset: number,
  ) {}
}

// Encoded messages are small and numerous. Allocating an ArrayBuffer for each costs more
// than encoding it, so writers encode straight into shared slabs (as Node pools small
// Buffers) and hand out views of them. A live message keeps at most its slab alive.
const SLAB = 64 * 1024
let slab = new Uint8Array(SLAB)
let slabUsed = 0

/**
 * Growable output buffer. Between `reset` and `finish` it writes into the free tail of the
 * shared slab (moving to a fresh slab, or to a private buffer for a large message, when
 * that runs out); `finish` hands out exactly the written bytes. Writers are used
 * synchronously, one message at a time, so they never interleave in a slab.
 */
export class Writer {
  private buf: Uint8Array = slab
  private start = 0
  private len = 0
  constructor(_capacity = 128) {
    this.reset()
  }
  /** Starts a new message. */
  reset(): this {
    this.buf = slab
    this.start = slabUsed
    this.len = slabUsed
    return this
  }
  private ensure(extra: number): void {
    if (this.len + extra <= this.buf.length) return
    const written = this.len - this.start
    let next: Uint8Array
    if (written + extra <= SLAB / 4) {
      // Small message: continue it at the start of a fresh slab.
      const fresh = new Uint8Array(SLAB)
      slab = fresh
      slabUsed = 0
      next = fresh
    } else {
      let cap = Math.max(256, (this.buf.length - this.start) * 2)
      while (cap < written + extra) cap *= 2
      next = new Uint8Array(cap)
    }
    next.set(this.buf.subarray(this.start, this.len))
    this.buf = next
    this.start = 0
    this.len = written
  }
  u8(b: number): this {
    this.ensure(1)
    this.buf[this.len++] = b
    return this
  }
  varint(v: bigint): this {
    this.ensure(MAX_VARINT_LENGTH)
    this.len = writeVarint(this.buf, this.len, v)
    return this
  }
  /** A varint of a small non-negative integer (signer indices, bitmap sizes). */
  index(v: number): this {
    if (!Number.isInteger(v) || v < 0 || v > 0x7fffffff) return this.varint(BigInt(v))
    this.ensure(5)
    const buf = this.buf
    let at = this.len
    while (v >= 0x80) {
      buf[at++] = (v & 0x7f) | 0x80
      v >>>= 7
    }
    buf[at++] = v
    this.len = at
    return this
  }
  bytes(b: Uint8Array): this {
    this.ensure(b.length)
    this.buf.set(b, this.len)
    this.len += b.length
    return this
  }
  /** A bitmap of `size` bits with the (ascending, < size) `indices` set. */
  bitmap(size: number, indices: ReadonlyArray<number>): this {
    const n = (size + 7) >> 3
    this.ensure(n)
    const buf = this.buf
    const at = this.len
    for (let k = 0; k < n; k++) buf[at + k] = 0
    for (const i of indices) buf[at + (i >> 3)] |= 1 << (i & 7)
    this.len = at + n
    return this
  }
  /** The bytes written since `reset` (later writes never touch them). */
  finish(): Uint8Array {
    const buf = this.buf
    let out = buf.subarray(this.start, this.len)
    // Keep views 8-byte aligned, like Node's Buffer pool.
    if (buf === slab) slabUsed = (this.len + 7) & ~7
    // A private buffer for a large message: do not pin twice its size.
    else if (out.length < buf.length / 2) out = out.slice()
    // The next message must not overwrite these bytes, even if this writer is reused.
    this.reset()
    return out
  }
}

// Recently decoded proposals, most recent at internNext - 1 (see readProposal).
const INTERNED_PROPOSALS = 16
const internedProposals: (Proposal | undefined)[] = new Array(INTERNED_PROPOSALS).fill(undefined)
let internNext = 0

/** Input reader; every method throws Failure, caught by the decode entry points. */
class Reader implements Cursor {
  pos = 0
  constructor(readonly bytes: Uint8Array) {}
  u8(): number {
    if (this.pos >= this.bytes.length) throw new Failure("truncated", this.pos)
    return this.bytes[this.pos++]
  }
  varint(): bigint {
    const at = this.pos
    const r = readVarint(this.bytes, this)
    if (typeof r === "string") throw new Failure(`varint ${r.toLowerCase()}`, at)
    return r
  }
  small(max: number, what: string): number {
    const at = this.pos
    const v = this.varint()
    if (v > BigInt(max)) throw new Failure(`${what} ${v} exceeds ${max}`, at)
    return Number(v)
  }
  take(n: number): Uint8Array {
    if (this.pos + n > this.bytes.length) throw new Failure("truncated", this.pos)
    // A view, not a copy: decoded values alias the input, which must not be mutated later.
    const out = this.bytes.subarray(this.pos, this.pos + n)
    this.pos += n
    return out
  }
  end(): void {
    if (this.pos !== this.bytes.length) throw new Failure("trailing bytes", this.pos)
  }
}

/** Like `run` without the Either wrapper (hot path). */
const attempt = <T>(what: string, bytes: Uint8Array, f: (r: Reader) => T): T | CodecError => {
  const r = new Reader(bytes)
  try {
    const value = f(r)
    r.end()
    return value
  } catch (e) {
    if (e instanceof Failure) return new CodecError({ what, problem: e.problem, offset: e.offset })
    throw e
  }
}

const run = <T>(
  what: string,
  bytes: Uint8Array,
  f: (r: Reader) => T,
): Either.Either<T, CodecError> => {
  const r = new Reader(bytes)
  try {
    const value = f(r)
    r.end()
    return Either.right(value)
  } catch (e) {
    if (e instanceof Failure)
      return Either.left(new CodecError({ what, problem: e.problem, offset: e.offset }))
    throw e
  }
}

/**
 * The codec of one signature scheme (signatures have the scheme's fixed length).
 * Stateless apart from that length; share one instance per engine.
 */
export class Codec {
  // One scratch writer: encoding is synchronous, so it is never used re-entrantly.
  private readonly scratch = new Writer(1024)

  constructor(readonly signatureLength: number) {}

  private writer(): Writer {
    return this.scratch.reset()
  }

  // ---- encoding -------------------------------------------------------------------

  writeRound(w: Writer, r: Round): void {
    w.varint(r.epoch).varint(r.view)
  }

  writeProposal(w: Writer, p: Proposal): void {
    this.writeRound(w, p.round)
    w.varint(p.parent).bytes(p.payload)
  }

  private writeAttestation(w: Writer, a: Attestation): void {
    if (a.signature.length !== this.signatureLength)
      throw new Error(
        `signature of ${a.signature.length} bytes, scheme uses ${this.signatureLength}`,
      )
    w.index(a.signer).bytes(a.signature)
  }

  writeVote(w: Writer, v: Vote): void {
    w.u8(voteTag(v))
    if (v._tag === "Nullify") this.writeRound(w, v.round)
    else this.writeProposal(w, v.proposal)
    this.writeAttestation(w, v.attestation)
  }

  private writeSignatures(w: Writer, c: CertificateSignatures): void {
    const { size, indices } = c.signers
    if (indices.length !== c.signatures.length)
      throw new Error("certificate has a different number of signers and signatures")
    let prev = -1
    for (const i of indices) {
      if (i <= prev || i >= size) throw new Error("certificate signers must ascend within size")
      prev = i
    }
    w.index(size).bitmap(size, indices)
    for (const s of c.signatures) {
      if (s.length !== this.signatureLength) throw new Error("certificate signature length")
      w.bytes(s)
    }
  }

  writeCertificate(w: Writer, c: Certificate): void {
    w.u8(certificateTag(c))
    if (c._tag === "Nullification") this.writeRound(w, c.round)
    else this.writeProposal(w, c.proposal)
    this.writeSignatures(w, c.certificate)
  }

  encodeRound(r: Round): Uint8Array {
    const w = this.writer()
    this.writeRound(w, r)
    return w.finish()
  }

  encodeProposal(p: Proposal): Uint8Array {
    const w = this.writer()
    this.writeProposal(w, p)
    return w.finish()
  }

  encodeVote(v: Vote): Uint8Array {
    const w = this.writer()
    this.writeVote(w, v)
    return w.finish()
  }

  encodeCertificate(c: Certificate): Uint8Array {
    const w = this.writer()
    this.writeCertificate(w, c)
    return w.finish()
  }

  encodeResolver(m: ResolverMessage): Uint8Array {
    const w = this.writer()
    w.u8(m._tag === "Request" ? RESOLVER_TAG.Request : RESOLVER_TAG.Response).varint(m.id)
    if (m._tag === "Request") w.varint(m.view)
    else if (m.certificate === undefined) w.u8(0)
    else this.writeCertificate(w.u8(1), m.certificate)
    return w.finish()
  }

  /**
   * The journal entry of an own vote; the vote's wire bytes are `entry.subarray(1)`, so
   * one encoding serves both the journal and the network.
   */
  voteEntry(v: Vote): Uint8Array {
    const w = this.writer().u8(JOURNAL_TAG.OwnVote)
    this.writeVote(w, v)
    return w.finish()
  }

  /** The journal entry of a certificate; its wire bytes are `entry.subarray(1)`. */
  certificateEntry(c: Certificate): Uint8Array {
    const w = this.writer().u8(JOURNAL_TAG.Certificate)
    this.writeCertificate(w, c)
    return w.finish()
  }

  encodeJournalEntry(e: JournalEntry): Uint8Array {
    const w = this.writer()
    w.u8(
      e._tag === "OwnVote"
        ? JOURNAL_TAG.OwnVote
        : e._tag === "Certificate"
          ? JOURNAL_TAG.Certificate
          : JOURNAL_TAG.Certification,
    )
    if (e._tag === "OwnVote") this.writeVote(w, e.vote)
    else if (e._tag === "Certificate") this.writeCertificate(w, e.certificate)
    else {
      this.writeRound(w, e.round)
      w.bytes(e.payload).u8(e.ok ? 1 : 0)
    }
    return w.finish()
  }

  // ---- decoding -------------------------------------------------------------------

  private readRound(r: Reader): Round {
    const epoch = r.varint()
    const view = r.varint()
    return { epoch, view }
  }

  private readProposal(r: Reader): Proposal {
    const epoch = r.varint()
    const view = r.varint()
    const parent = r.varint()
    const at = r.pos
    if (at + DIGEST_LENGTH > r.bytes.length) throw new Failure("truncated", at)
    // Votes of one view carry the same proposal: hand out one shared object for equal
    // contents, so that later comparisons (tallies, certificates, signature memos)
    // short-circuit on identity. Interned process-wide, like decoded votes: every engine
    // of a simulation compares proposals that other engines decoded.
    const bytes = r.bytes
    for (let j = 1; j <= INTERNED_PROPOSALS; j++) {
      const p = internedProposals[(internNext - j + INTERNED_PROPOSALS) % INTERNED_PROPOSALS]
      if (p === undefined) break
      if (p.round.view !== view || p.parent !== parent || p.round.epoch !== epoch) continue
      const d = p.payload
      let i = 0
      while (i < DIGEST_LENGTH && d[i] === bytes[at + i]) i++
      if (i === DIGEST_LENGTH) {
        r.pos = at + DIGEST_LENGTH
        return p
      }
    }
    const proposal: Proposal = { round: { epoch, view }, parent, payload: r.take(DIGEST_LENGTH) }
    internedProposals[internNext] = proposal
    internNext = (internNext + 1) % INTERNED_PROPOSALS
    return proposal
  }

  private readAttestation(r: Reader): Attestation {
    const signer = r.small(MAX_PARTICIPANTS - 1, "signer")
    const signature = r.take(this.signatureLength)
    return { signer, signature }
  }

  private readVote(r: Reader): Vote {
    const at = r.pos
    const tag = r.u8()
    switch (tag) {
      case VOTE_TAG.Notarize:
        return {
          _tag: "Notarize",
          proposal: this.readProposal(r),
          attestation: this.readAttestation(r),
        }
      case VOTE_TAG.Nullify:
        return { _tag: "Nullify", round: this.readRound(r), attestation: this.readAttestation(r) }
      case VOTE_TAG.Finalize:
        return {
          _tag: "Finalize",
          proposal: this.readProposal(r),
          attestation: this.readAttestation(r),
        }
      default:
        throw new Failure(`unknown vote tag ${tag}`, at)
    }
  }

  private readSignatures(r: Reader): CertificateSignatures {
    const size = r.small(MAX_PARTICIPANTS, "bitmap size")
    const byteLen = (size + 7) >> 3
    const at = r.pos
    if (at + byteLen > r.bytes.length) throw new Failure("truncated", at)
    const indices: number[] = []
    for (let i = 0; i < size; i++) if ((r.bytes[at + (i >> 3)] >> (i & 7)) & 1) indices.push(i)
    if (size & 7 && r.bytes[at + byteLen - 1] >> (size & 7))
      throw new Failure("bitmap padding bits set", at + byteLen - 1)
    r.pos += byteLen
    const signatures: Uint8Array[] = new Array(indices.length)
    for (let k = 0; k < indices.length; k++) signatures[k] = r.take(this.signatureLength)
    return { signers: { size, indices }, signatures }
  }

  private readCertificate(r: Reader): Certificate {
    const at = r.pos
    const tag = r.u8()
    switch (tag) {
      case CERTIFICATE_TAG.Notarization:
        return {
          _tag: "Notarization",
          proposal: this.readProposal(r),
          certificate: this.readSignatures(r),
        }
      case CERTIFICATE_TAG.Nullification:
        return {
          _tag: "Nullification",
          round: this.readRound(r),
          certificate: this.readSignatures(r),
        }
      case CERTIFICATE_TAG.Finalization:
        return {
          _tag: "Finalization",
          proposal: this.readProposal(r),
          certificate: this.readSignatures(r),
        }
      default:
        throw new Failure(`unknown certificate tag ${tag}`, at)
    }
  }

  /**
   * Reads only the tag, epoch and view of an encoded certificate (undefined if those are
   * malformed). Lets the engine drop a duplicate without decoding or verifying it.
   */
  peekCertificate(
    bytes: Uint8Array,
  ):
    | { readonly kind: Certificate["_tag"]; readonly epoch: bigint; readonly view: bigint }
    | undefined {
    const kind = CERTIFICATE_KINDS[bytes[0]]
    if (kind === undefined) return undefined
    const cursor = peekCursor
    cursor.pos = 1
    const epoch = readVarint(bytes, cursor)
    if (typeof epoch === "string") return undefined
    const view = readVarint(bytes, cursor)
    if (typeof view === "string") return undefined
    return { kind, epoch, view }
  }

  /**
   * `peekCertificate` for one epoch, without a result object (the engine runs it on every
   * certificate copy it receives): the view if the bytes start with a well-formed
   * certificate tag, `epoch` and a view, else undefined. The kind is
   * `certificateKind(bytes)`.
   */
  peekCertificateView(bytes: Uint8Array, epoch: bigint): bigint | undefined {
    if (CERTIFICATE_KINDS[bytes[0]] === undefined) return undefined
    const cursor = peekCursor
    cursor.pos = 1
    const e = readVarint(bytes, cursor)
    if (e !== epoch) return undefined
    const view = readVarint(bytes, cursor)
    return typeof view === "string" ? undefined : view
  }

  decodeRound(bytes: Uint8Array): Either.Either<Round, CodecError> {
    return run("round", bytes, (r) => this.readRound(r))
  }

  decodeProposal(bytes: Uint8Array): Either.Either<Proposal, CodecError> {
    return run("proposal", bytes, (r) => this.readProposal(r))
  }

  decodeVote(bytes: Uint8Array): Either.Either<Vote, CodecError> {
    return run("vote", bytes, this.voteReader)
  }

  /** decodeVote without the Either (the engine's hot path). */
  decodeVoteOrError(bytes: Uint8Array): Vote | CodecError {
    return attempt("vote", bytes, this.voteReader)
  }

  private readonly voteReader = (r: Reader): Vote => this.readVote(r)

  decodeCertificate(bytes: Uint8Array): Either.Either<Certificate, CodecError> {
    return run("certificate", bytes, (r) => this.readCertificate(r))
  }

  decodeResolver(bytes: Uint8Array): Either.Either<ResolverMessage, CodecError> {
    return run("resolver message", bytes, (r): ResolverMessage => {
      const at = r.pos
      const tag = r.u8()
      const id = r.varint()
      if (tag === RESOLVER_TAG.Request) return { _tag: "Request", id, view: r.varint() }
      if (tag !== RESOLVER_TAG.Response) throw new Failure(`unknown resolver tag ${tag}`, at)
      const hasAt = r.pos
      const has = r.u8()
      if (has === 0) return { _tag: "Response", id, certificate: undefined }
      if (has !== 1) throw new Failure(`invalid option flag ${has}`, hasAt)
      return { _tag: "Response", id, certificate: this.readCertificate(r) }
    })
  }

  decodeJournalEntry(bytes: Uint8Array): Either.Either<JournalEntry, CodecError> {
    return run("journal entry", bytes, (r): JournalEntry => {
      const at = r.pos
      const tag = r.u8()
      switch (tag) {
        case JOURNAL_TAG.OwnVote:
          return { _tag: "OwnVote", vote: this.readVote(r) }
        case JOURNAL_TAG.Certificate:
          return { _tag: "Certificate", certificate: this.readCertificate(r) }
        case JOURNAL_TAG.Certification: {
          const round = this.readRound(r)
          const payload = r.take(DIGEST_LENGTH)
          const okAt = r.pos
          const ok = r.u8()
          if (ok > 1) throw new Failure(`invalid boolean ${ok}`, okAt)
          return { _tag: "Certification", round, payload, ok: ok === 1 }
        }
        default:
          throw new Failure(`unknown journal tag ${tag}`, at)
      }
    })
  }
}
