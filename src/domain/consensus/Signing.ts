/**
 * Signing and verification of votes and certificates for one epoch's participant set,
 * with the domain separation of spec §2: notarize and finalize sign the encoded proposal,
 * nullify signs the encoded round, each under its own namespace suffix.
 *
 * Guarantees: `verifyVote` checks the signer index is a participant and the signature
 * is theirs; `verifyCertificate` additionally requires a bitmap over exactly the
 * participant set, at least a quorum (n − f) of distinct signers and a valid signature
 * from each. Signatures already verified on individual votes can be passed in and are
 * not verified twice.
 */
import { Codec } from "./Codec.ts"
import {
  FINALIZE_SUFFIX,
  NOTARIZE_SUFFIX,
  NULLIFY_SUFFIX,
  type PublicKey,
  type Scheme,
  type Signer,
  suffixed,
} from "./Scheme.ts"
import {
  type Certificate,
  type Finalize,
  type Notarize,
  type Nullify,
  type Proposal,
  proposalEquals,
  quorum,
  type Round,
  type Vote,
} from "./Types.ts"

/** Votes already verified in a round, by signer: used to skip re-verifying certificates. */
export interface KnownVotes {
  readonly notarizes: ReadonlyArray<Notarize | undefined>
  readonly nullifies: ReadonlyArray<Nullify | undefined>
  readonly finalizes: ReadonlyArray<Finalize | undefined>
}

/**
 * Where a verified vote records the key and namespace it verified under, so that the
 * same decoded vote reaching several engines of one process is verified once.
 */
export interface VerifyMemo {
  key: Uint8Array | undefined
  ns: Uint8Array | undefined
}

// Suffixed namespaces are interned so that memo entries compare by identity.
const interned = new Map<string, Uint8Array>()
const intern = (ns: Uint8Array): Uint8Array => {
  const id = Buffer.from(ns.buffer, ns.byteOffset, ns.length).toString("latin1")
  const known = interned.get(id)
  if (known !== undefined) return known
  interned.set(id, ns)
  return ns
}

const sameBytes = (a: Uint8Array, b: Uint8Array): boolean => {
  if (a === b) return true
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}

export class Signing {
  readonly codec: Codec
  readonly nsNotarize: Uint8Array
  readonly nsNullify: Uint8Array
  readonly nsFinalize: Uint8Array
  readonly quorum: number
  // One-entry caches: votes arrive in bursts for the same subject.
  private lastProposal: Proposal | undefined
  private lastProposalBytes: Uint8Array = new Uint8Array(0)
  private lastRound: Round | undefined
  private lastRoundBytes: Uint8Array = new Uint8Array(0)

  constructor(
    readonly scheme: Scheme,
    namespace: Uint8Array,
    readonly participants: ReadonlyArray<PublicKey>,
  ) {
    this.codec = new Codec(scheme.signatureLength)
    this.nsNotarize = intern(suffixed(namespace, NOTARIZE_SUFFIX))
    this.nsNullify = intern(suffixed(namespace, NULLIFY_SUFFIX))
    this.nsFinalize = intern(suffixed(namespace, FINALIZE_SUFFIX))
    this.quorum = quorum(participants.length)
  }

  /** Encoded proposal, the message of notarize and finalize votes. */
  proposalMessage(p: Proposal): Uint8Array {
    if (this.lastProposal === undefined || !proposalEquals(this.lastProposal, p)) {
      this.lastProposalBytes = this.codec.encodeProposal(p)
      this.lastProposal = p
    }
    return this.lastProposalBytes
  }

  /** Encoded round, the message of nullify votes. */
  roundMessage(r: Round): Uint8Array {
    const last = this.lastRound
    if (last === undefined || last.view !== r.view || last.epoch !== r.epoch) {
      this.lastRoundBytes = this.codec.encodeRound(r)
      this.lastRound = r
    }
    return this.lastRoundBytes
  }

  notarize(signer: Signer, index: number, proposal: Proposal): Notarize {
    const signature = signer.sign(this.nsNotarize, this.proposalMessage(proposal))
    return { _tag: "Notarize", proposal, attestation: { signer: index, signature } }
  }

  nullify(signer: Signer, index: number, round: Round): Nullify {
    const signature = signer.sign(this.nsNullify, this.roundMessage(round))
    return { _tag: "Nullify", round, attestation: { signer: index, signature } }
  }

  finalize(signer: Signer, index: number, proposal: Proposal): Finalize {
    const signature = signer.sign(this.nsFinalize, this.proposalMessage(proposal))
    return { _tag: "Finalize", proposal, attestation: { signer: index, signature } }
  }

  verifyVote(vote: Vote, memo?: VerifyMemo): boolean {
    const { signer, signature } = vote.attestation
    const key = this.participants[signer]
    if (key === undefined) return false
    const ns =
      vote._tag === "Nullify"
        ? this.nsNullify
        : vote._tag === "Notarize"
          ? this.nsNotarize
          : this.nsFinalize
    if (memo !== undefined && memo.ns === ns && memo.key !== undefined && sameBytes(memo.key, key))
      return true
    const message =
      vote._tag === "Nullify" ? this.roundMessage(vote.round) : this.proposalMessage(vote.proposal)
    if (!this.scheme.verify(key, ns, message, signature)) return false
    if (memo !== undefined) {
      memo.key = key
      memo.ns = ns
    }
    return true
  }

  /**
   * Builds a certificate from votes on one subject (already verified, distinct signers).
   * Signers are sorted ascending as the encoding requires.
   */
  assemble<V extends Vote>(
    votes: ReadonlyArray<V>,
  ): { indices: number[]; signatures: Uint8Array[] } {
    let sorted = true
    for (let k = 1; k < votes.length; k++)
      if (votes[k - 1].attestation.signer >= votes[k].attestation.signer) sorted = false
    const ordered = sorted
      ? votes
      : [...votes].sort((a, b) => a.attestation.signer - b.attestation.signer)
    const indices: number[] = new Array(ordered.length)
    const signatures: Uint8Array[] = new Array(ordered.length)
    for (let k = 0; k < ordered.length; k++) {
      indices[k] = ordered[k].attestation.signer
      signatures[k] = ordered[k].attestation.signature
    }
    return { indices, signatures }
  }

  /** Full check of a certificate from the network (see the module guarantees). */
  verifyCertificate(cert: Certificate, known?: KnownVotes): boolean {
    const { signers, signatures } = cert.certificate
    const n = this.participants.length
    if (signers.size !== n) return false
    const indices = signers.indices
    if (indices.length < this.quorum || indices.length !== signatures.length) return false
    let ns: Uint8Array
    let message: Uint8Array
    let knownList: ReadonlyArray<Vote | undefined> | undefined
    if (cert._tag === "Nullification") {
      ns = this.nsNullify
      message = this.roundMessage(cert.round)
      knownList = known?.nullifies
    } else {
      ns = cert._tag === "Notarization" ? this.nsNotarize : this.nsFinalize
      message = this.proposalMessage(cert.proposal)
      knownList = cert._tag === "Notarization" ? known?.notarizes : known?.finalizes
    }
    let prev = -1
    for (let k = 0; k < indices.length; k++) {
      const i = indices[k]
      if (i <= prev || i >= n) return false
      prev = i
      const seen = knownList?.[i]
      if (seen !== undefined && sameBytes(seen.attestation.signature, signatures[k])) {
        const sameSubject =
          seen._tag === "Nullify"
            ? cert._tag === "Nullification" && seen.round.view === cert.round.view
            : cert._tag !== "Nullification" && proposalEquals(seen.proposal, cert.proposal)
        if (sameSubject) continue
      }
      if (!this.scheme.verify(this.participants[i], ns, message, signatures[k])) return false
    }
    return true
  }
}
