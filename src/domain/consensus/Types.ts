/**
 * Simplex wire types (spec §2): rounds, proposals, the three votes and the three
 * certificates, resolver messages and journal entries.
 *
 * Guarantees: values built by this module's constructors are in range (views and epochs
 * are u64, digests are 32 bytes, signer indices are non-negative integers). Values decoded
 * from the wire are validated by Codec.ts before they are built; certificates are only
 * trusted after the engine verified them against the participant set.
 */
import { Data } from "effect"

/** Largest u64, the range of epochs and views on the wire. */
export const U64_MAX = (1n << 64n) - 1n

export type Epoch = bigint
export type View = bigint

export class InvalidView extends Data.TaggedError("InvalidView")<{ readonly value: bigint }> {
  override get message() {
    return `view ${this.value} is outside the u64 range`
  }
}

export const isU64 = (v: bigint): boolean => v >= 0n && v <= U64_MAX

/** Validates a view (or epoch); throws InvalidView only on programmer error. */
export const View = (v: bigint): View => {
  if (!isU64(v)) throw new InvalidView({ value: v })
  return v
}

export const DIGEST_LENGTH = 32

/** A 32-byte payload digest; consensus never sees the block bytes (spec §2). */
export type Digest = Uint8Array

export interface Round {
  readonly epoch: Epoch
  readonly view: View
}

export interface Proposal {
  readonly round: Round
  /** The view of the parent proposal (0 = genesis). */
  readonly parent: View
  readonly payload: Digest
}

export interface Attestation {
  /** Participant index of the signer. */
  readonly signer: number
  readonly signature: Uint8Array
}

export interface Notarize {
  readonly _tag: "Notarize"
  readonly proposal: Proposal
  readonly attestation: Attestation
}

export interface Nullify {
  readonly _tag: "Nullify"
  readonly round: Round
  readonly attestation: Attestation
}

export interface Finalize {
  readonly _tag: "Finalize"
  readonly proposal: Proposal
  readonly attestation: Attestation
}

export type Vote = Notarize | Nullify | Finalize

/** Wire tags (spec §2). */
export const VOTE_TAG = { Notarize: 0, Nullify: 1, Finalize: 2 } as const
export const CERTIFICATE_TAG = { Notarization: 0, Nullification: 1, Finalization: 2 } as const

/**
 * A scheme certificate for ed25519-like schemes: the set of signers (a bitmap of
 * `size` = n bits on the wire) and their signatures in ascending signer order.
 */
export interface SignerSet {
  /** Number of participants the bitmap covers. */
  readonly size: number
  /** Signer indices, strictly ascending. */
  readonly indices: ReadonlyArray<number>
}

export interface CertificateSignatures {
  readonly signers: SignerSet
  /** One signature per signer, in the order of `signers.indices`. */
  readonly signatures: ReadonlyArray<Uint8Array>
}

export interface Notarization {
  readonly _tag: "Notarization"
  readonly proposal: Proposal
  readonly certificate: CertificateSignatures
}

export interface Nullification {
  readonly _tag: "Nullification"
  readonly round: Round
  readonly certificate: CertificateSignatures
}

export interface Finalization {
  readonly _tag: "Finalization"
  readonly proposal: Proposal
  readonly certificate: CertificateSignatures
}

export type Certificate = Notarization | Nullification | Finalization

/** Resolver (spec §5): a view-keyed request, answered by at most one certificate. */
export interface ResolverRequest {
  readonly _tag: "Request"
  readonly id: bigint
  readonly view: View
}

export interface ResolverResponse {
  readonly _tag: "Response"
  readonly id: bigint
  /** undefined = the responder has nothing useful (e.g. it is still at genesis). */
  readonly certificate: Certificate | undefined
}

export type ResolverMessage = ResolverRequest | ResolverResponse

export const RESOLVER_TAG = { Request: 0, Response: 1 } as const

/** Journal entries (spec §3 "Journal"): own votes, every certificate, certification results. */
export type JournalEntry =
  | { readonly _tag: "OwnVote"; readonly vote: Vote }
  | { readonly _tag: "Certificate"; readonly certificate: Certificate }
  | {
      readonly _tag: "Certification"
      readonly round: Round
      readonly payload: Digest
      readonly ok: boolean
    }

export const JOURNAL_TAG = { OwnVote: 0, Certificate: 1, Certification: 2 } as const

/** What the app is asked to build on or verify against (spec §5, Automaton). */
export interface Context {
  readonly round: Round
  readonly leader: number
  readonly parent: { readonly view: View; readonly digest: Digest }
}

// ---------------------------------------------------------------------------------------
// Helpers

export const digestEquals = (a: Digest, b: Digest): boolean => {
  if (a === b) return true
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}

export const roundEquals = (a: Round, b: Round): boolean => a.view === b.view && a.epoch === b.epoch

export const proposalEquals = (a: Proposal, b: Proposal): boolean =>
  a === b ||
  (a.round.view === b.round.view &&
    a.round.epoch === b.round.epoch &&
    a.parent === b.parent &&
    digestEquals(a.payload, b.payload))

export const voteRound = (v: Vote): Round => (v._tag === "Nullify" ? v.round : v.proposal.round)

export const certificateRound = (c: Certificate): Round =>
  c._tag === "Nullification" ? c.round : c.proposal.round

export const digestHex = (d: Digest): string =>
  Buffer.from(d.buffer, d.byteOffset, d.length).toString("hex")

/** Leader of a view under the RoundRobin elector (spec §1): (epoch + view) mod n. */
export const roundRobinLeader = (epoch: bigint, view: View, n: number): number =>
  Number((epoch + view) % BigInt(n))

/** f = floor((n-1)/3) (fault model N3f1). */
export const maxFaults = (n: number): number => Math.floor((n - 1) / 3)

/** quorum = n - f, NOT 2f+1 (spec §1). */
export const quorum = (n: number): number => n - maxFaults(n)
