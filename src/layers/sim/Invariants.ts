/**
 * The invariants every simulated run must keep (spec §3 "Safety invariants", §6, §7),
 * checked online, as honest nodes report; liveness and each scenario's own outcome are
 * checked by the scenario when its run ends.
 *
 * Safety (fed by honest nodes only; Byzantine identities are listed up front):
 * - no two different finalized payloads for one view, across all honest nodes;
 * - no two different notarized payloads for one view, and a view led by an honest node is
 *   only ever notarized or finalized with the payload that leader proposed;
 * - no view both finalized and nullified;
 * - every certificate an honest node reports has ≥ n − f distinct signers, all valid;
 * - no honest signer both nullifies and finalizes a view;
 * - honest nodes' delivered chains (marshal) are prefixes of one another;
 * - every fault (conflict evidence, invalid signature) convicts a Byzantine identity, and no
 *   honest node ever blocks an honest node.
 * Liveness is a per-scenario expectation (`expectFinalized`).
 *
 * Every violation is a sentence that names the scenario and seed, so a failure message is
 * enough to replay it.
 */
import type { Activity } from "../../domain/consensus/Engine.ts"
import type { Signing } from "../../domain/consensus/Signing.ts"
import {
  type Certificate,
  type Digest,
  digestEquals,
  digestHex,
  type Finalize,
  type Notarize,
  type Nullify,
  type Proposal,
  proposalEquals,
  quorum,
  type View,
} from "../../domain/consensus/Types.ts"
import {
  type ReadonlyViewMap,
  type ReadonlyViewSet,
  ViewMap,
  ViewSet,
} from "../../domain/consensus/ViewMap.ts"

export interface DigestKeeper {
  canonical(digest: Digest): Digest
}

const COPY: DigestKeeper = { canonical: (d) => d.slice() }

export interface MonitorOptions {
  readonly n: number
  readonly byzantine: ReadonlySet<number>
  /** Verifies certificates against the epoch's participants. */
  readonly signing: Signing
  /** e.g. `scenario=all_online seed=3`; prefixed to every violation. */
  readonly label: string
  readonly epoch: bigint
  /**
   * Makes the long-lived copy of a digest the monitor records (default: a copy). An object
   * with a method rather than a function: every cluster's keeper is then the same method
   * of the same class, and optimized code stays valid from one run to the next.
   */
  readonly keeper?: DigestKeeper
}

const MAX_VIOLATIONS = 50
/** Views (about) whose verified signatures are kept to skip re-verifying them. */
const SIGNATURE_MEMORY = 8
/** Views behind the highest one whose verified certificates are remembered for dedup. */
const CERTIFICATE_MEMORY = 64n

const short = (d: Digest): string => digestHex(d).slice(0, 12)

export class SafetyMonitor {
  readonly violations: string[] = []
  // Keyed by view (or height) through ViewMap: every honest node's reports look these up.
  private readonly finalized = new ViewMap<Digest>()
  private readonly notarized = new ViewMap<Digest>()
  private readonly nullified = new ViewSet()
  /** Payloads honest leaders proposed (their own notarize), by view. */
  private readonly proposals = new ViewMap<Digest>()
  private readonly nullifiers = new ViewMap<Set<number>>()
  private readonly finalizers = new ViewMap<Set<number>>()
  private readonly delivered = new ViewMap<Digest>()
  /** Distinct certificates verified recently, by view (compact copies, see Remembered). */
  private readonly checkedCertificates = new ViewMap<Remembered[]>()
  private readonly store = new ByteStore()
  /**
   * Signatures already verified in the certificates of the last few views, by view and
   * signer (as votes, the form Signing.verifyCertificate accepts): the distinct
   * certificates of a view mostly share their signatures, and each needs verifying only
   * once. A cache only: forgetting an entry means verifying that signature again.
   */
  private readonly verifiedVotes = new ViewMap<VerifiedVotes>()
  private highestChecked: View = 0n
  private readonly quorum: number
  /** Evidence attributed to Byzantine identities: offender → count. */
  readonly attributedFaults = new Map<number, number>()
  readonly attributedBlocks = new Map<number, number>()
  readonly attributedInvalid = new Map<number, number>()
  certificatesChecked = 0
  /** Distinct certificates each identity signed (notarizations, nullifications, finalizations). */
  readonly signed = new Map<number, SignedCounts>()
  /** The entries of `signed` by signer index (the hot path counts through this). */
  private readonly signedBy: (SignedCounts | undefined)[] = []

  private readonly keeper: DigestKeeper

  constructor(readonly options: MonitorOptions) {
    this.quorum = quorum(options.n)
    this.keeper = options.keeper ?? COPY
  }

  get ok(): boolean {
    return this.violations.length === 0
  }

  violation(text: string): void {
    if (this.violations.length < MAX_VIOLATIONS)
      this.violations.push(`[${this.options.label}] ${text}`)
  }

  private honest(identity: number): boolean {
    return !this.options.byzantine.has(identity)
  }

  /** An activity reported by honest node `node`. */
  observe(node: number, activity: Activity): void {
    switch (activity._tag) {
      case "Finalization": {
        const view = activity.proposal.round.view
        this.checkCertificate(node, activity)
        this.checkLeaderProposal(view, "finalized", activity.proposal.payload)
        const known = this.finalized.get(view)
        if (known === undefined)
          this.finalized.set(view, this.keeper.canonical(activity.proposal.payload))
        else if (!digestEquals(known, activity.proposal.payload))
          this.violation(
            `view ${view} finalized twice: ${short(known)} and ${short(activity.proposal.payload)} (seen by node ${node})`,
          )
        if (this.nullified.has(view))
          this.violation(`view ${view} is both finalized and nullified (node ${node})`)
        return
      }
      case "Notarization": {
        const view = activity.proposal.round.view
        this.checkCertificate(node, activity)
        this.checkLeaderProposal(view, "notarized", activity.proposal.payload)
        const known = this.notarized.get(view)
        if (known === undefined)
          this.notarized.set(view, this.keeper.canonical(activity.proposal.payload))
        else if (!digestEquals(known, activity.proposal.payload))
          this.violation(
            `view ${view} notarized twice: ${short(known)} and ${short(activity.proposal.payload)} (seen by node ${node})`,
          )
        return
      }
      case "Nullification": {
        const view = activity.round.view
        this.checkCertificate(node, activity)
        this.nullified.add(view)
        if (this.finalized.has(view))
          this.violation(`view ${view} is both nullified and finalized (node ${node})`)
        return
      }
      case "Notarize": {
        // An honest leader's own notarize is its proposal (spec §2).
        const view = activity.proposal.round.view
        const signer = activity.attestation.signer
        if (signer !== node || !this.honest(signer) || signer !== this.leaderOf(view)) return
        if (this.proposals.has(view)) return
        const payload = this.keeper.canonical(activity.proposal.payload)
        this.proposals.set(view, payload)
        for (const [kind, known] of [
          ["notarized", this.notarized.get(view)],
          ["finalized", this.finalized.get(view)],
        ] as const)
          if (known !== undefined && !digestEquals(known, payload))
            this.violation(
              `view ${view} was ${kind} as ${short(known)} but its honest leader ${signer} proposed ${short(payload)}`,
            )
        return
      }
      case "Nullify":
      case "Finalize": {
        // Only a node's own votes are its own word; peers' votes are checked by the engine.
        const signer = activity.attestation.signer
        if (signer !== node || !this.honest(signer)) return
        const view =
          activity._tag === "Nullify" ? activity.round.view : activity.proposal.round.view
        const mine = activity._tag === "Nullify" ? this.nullifiers : this.finalizers
        const other = activity._tag === "Nullify" ? this.finalizers : this.nullifiers
        let set = mine.get(view)
        if (set === undefined) {
          set = new Set()
          mine.set(view, set)
        }
        set.add(signer)
        if (other.get(view)?.has(signer))
          this.violation(`honest node ${signer} both nullified and finalized view ${view}`)
        return
      }
      case "ConflictingNotarize":
      case "ConflictingFinalize":
      case "NullifyFinalize": {
        const offender =
          activity._tag === "NullifyFinalize"
            ? activity.nullify.attestation.signer
            : activity.first.attestation.signer
        if (this.honest(offender))
          this.violation(`node ${node} reported ${activity._tag} against honest node ${offender}`)
        else this.attributedFaults.set(offender, (this.attributedFaults.get(offender) ?? 0) + 1)
        return
      }
      case "InvalidSignature": {
        if (this.honest(activity.peer))
          this.violation(
            `node ${node} saw an invalid signature from honest node ${activity.peer} on ${activity.channel}`,
          )
        else
          this.attributedInvalid.set(
            activity.peer,
            (this.attributedInvalid.get(activity.peer) ?? 0) + 1,
          )
        return
      }
      default:
        return
    }
  }

  private leaderOf(view: View): number {
    return Number((this.options.epoch + view) % BigInt(this.options.n))
  }

  private checkLeaderProposal(view: View, kind: string, payload: Digest): void {
    const proposed = this.proposals.get(view)
    if (proposed !== undefined && !digestEquals(proposed, payload))
      this.violation(
        `view ${view} was ${kind} as ${short(payload)} but its honest leader ${this.leaderOf(view)} proposed ${short(proposed)}`,
      )
  }

  /** Honest node `node` blocked `peer`. */
  observeBlock(node: number, peer: number, reason: string): void {
    if (this.honest(peer))
      this.violation(`honest node ${node} blocked honest node ${peer}: ${reason}`)
    else this.attributedBlocks.set(peer, (this.attributedBlocks.get(peer) ?? 0) + 1)
  }

  /** Honest node `node`'s marshal delivered `digest` at `height` (1-based). */
  observeDelivery(node: number, height: bigint, digest: Digest): void {
    if (height < 1n) {
      this.violation(`node ${node} delivered a block at height ${height}`)
      return
    }
    const known = this.delivered.get(height)
    if (known === undefined) this.delivered.set(height, digest)
    else if (!digestEquals(known, digest))
      this.violation(
        `node ${node} delivered ${short(digest)} at height ${height}, another honest node delivered ${short(known)}: chains are not prefixes of one another`,
      )
  }

  private checkCertificate(node: number, cert: Certificate): void {
    // Each node reports its own copy of a certificate; verify every distinct one once.
    const view = cert._tag === "Nullification" ? cert.round.view : cert.proposal.round.view
    let seen = this.checkedCertificates.get(view)
    if (seen === undefined) {
      seen = []
      this.checkedCertificates.set(view, seen)
      this.forgetOldCertificates(view)
    }
    const print = fingerprint(cert)
    for (const other of seen) if (other.print === print && sameCertificate(other, cert)) return
    seen.push(remember(this.store, cert, print))
    const signers = cert.certificate.signers.indices
    this.certificatesChecked++
    for (const s of signers) {
      let c = this.signedBy[s]
      if (c === undefined) {
        c = { notarization: 0, nullification: 0, finalization: 0 }
        this.signedBy[s] = c
        this.signed.set(s, c)
      }
      if (cert._tag === "Notarization") c.notarization++
      else if (cert._tag === "Nullification") c.nullification++
      else c.finalization++
    }
    const distinct = distinctCount(signers)
    if (distinct < this.quorum || distinct !== signers.length)
      this.violation(
        `node ${node} accepted a ${cert._tag} of view ${view} with ${distinct} distinct signers (quorum ${this.quorum})`,
      )
    else {
      // Only certificates of the run's epoch share verified signatures (the memo compares
      // a nullify's view, not its epoch).
      const epoch = cert._tag === "Nullification" ? cert.round.epoch : cert.proposal.round.epoch
      const memo = epoch === this.options.epoch ? this.verifiedOf(view) : undefined
      if (!this.options.signing.verifyCertificate(cert, memo))
        this.violation(
          `node ${node} accepted a ${cert._tag} of view ${view} with an invalid signature`,
        )
      else if (memo !== undefined) this.rememberSignatures(memo, cert)
    }
  }

  private verifiedOf(view: View): VerifiedVotes {
    let v = this.verifiedVotes.get(view)
    if (v === undefined) {
      // Copies of a view's certificates arrive within moments of each other; keep the
      // memo short so its votes (and the message buffers they pin) die young.
      if (this.verifiedVotes.size >= 2 * SIGNATURE_MEMORY)
        for (const old of this.verifiedVotes.keys())
          if (old + BigInt(SIGNATURE_MEMORY) < view) this.verifiedVotes.delete(old)
      const n = this.options.n
      v = {
        notarizes: new Array(n).fill(undefined),
        nullifies: new Array(n).fill(undefined),
        finalizes: new Array(n).fill(undefined),
      }
      this.verifiedVotes.set(view, v)
    }
    return v
  }

  /**
   * Records the signatures of a certificate that verified as votes of its subject, so a
   * later certificate carrying the same bytes from the same signer on the same subject
   * skips re-verifying them (the first subject seen per signer is kept).
   */
  private rememberSignatures(known: VerifiedVotes, cert: Certificate): void {
    const { indices } = cert.certificate.signers
    const signatures = cert.certificate.signatures
    const list =
      cert._tag === "Nullification"
        ? known.nullifies
        : cert._tag === "Notarization"
          ? known.notarizes
          : known.finalizes
    for (let k = 0; k < indices.length; k++) {
      const signer = indices[k]
      if (signer >= this.options.n || list[signer] !== undefined) continue
      const attestation = { signer, signature: signatures[k] }
      list[signer] =
        cert._tag === "Nullification"
          ? { _tag: "Nullify", round: cert.round, attestation }
          : ({
              _tag: cert._tag === "Notarization" ? "Notarize" : "Finalize",
              proposal: cert.proposal,
              attestation,
            } as Notarize & Finalize)
    }
  }

  /**
   * Copies of a certificate reach every node within moments; remembering old ones would
   * only pin their message buffers. A late copy of a forgotten one is simply verified again.
   */
  private forgetOldCertificates(view: View): void {
    if (view <= this.highestChecked) return
    this.highestChecked = view
    if (this.checkedCertificates.size <= 2 * Number(CERTIFICATE_MEMORY)) return
    for (const v of this.checkedCertificates.keys())
      if (v + CERTIFICATE_MEMORY < view) this.checkedCertificates.delete(v)
  }

  /** The block honest nodes delivered at `height` (1-based), if any did. */
  deliveredAt(height: bigint): Digest | undefined {
    return this.delivered.get(height)
  }

  /** Views finalized by any honest node. */
  get finalizedViews(): ReadonlyViewMap<Digest> {
    return this.finalized
  }

  get notarizedViews(): ReadonlyViewMap<Digest> {
    return this.notarized
  }

  get nullifiedViews(): ReadonlyViewSet {
    return this.nullified
  }
}

interface SignedCounts {
  notarization: number
  nullification: number
  finalization: number
}

interface VerifiedVotes {
  readonly notarizes: (Notarize | undefined)[]
  readonly nullifies: (Nullify | undefined)[]
  readonly finalizes: (Finalize | undefined)[]
}

/** Distinct signer indices (a certificate's are strictly ascending, so usually its length). */
const distinctCount = (signers: ReadonlyArray<number>): number => {
  for (let i = 1; i < signers.length; i++)
    if (signers[i] <= signers[i - 1]) return new Set(signers).size
  return signers.length
}

/**
 * Signature bytes of remembered certificates, copied into shared chunks: a remembered
 * certificate then costs no array buffer of its own and pins no message buffer, which
 * matters because the monitor keeps certificates for dozens of views.
 */
class ByteStore {
  private static readonly CHUNK = 64 * 1024
  private chunk = new Uint8Array(ByteStore.CHUNK)
  private used = 0

  /** Copies the concatenation of `parts` (total `length` bytes); returns where it lies. */
  put(parts: ReadonlyArray<Uint8Array>, length: number): { chunk: Uint8Array; offset: number } {
    if (length > ByteStore.CHUNK / 4) {
      const own = new Uint8Array(length)
      let at = 0
      for (const p of parts) {
        own.set(p, at)
        at += p.length
      }
      return { chunk: own, offset: 0 }
    }
    if (this.used + length > this.chunk.length) {
      this.chunk = new Uint8Array(ByteStore.CHUNK)
      this.used = 0
    }
    const chunk = this.chunk
    const offset = this.used
    let at = offset
    for (const p of parts) {
      chunk.set(p, at)
      at += p.length
    }
    this.used = at
    return { chunk, offset }
  }
}

/**
 * A 32-bit digest of a certificate's signer set and the first bytes of its signatures:
 * copies share it, and distinct certificates of one view almost never do, so comparing
 * it first spares the byte-by-byte comparison of every remembered certificate.
 */
const fingerprint = (cert: Certificate): number => {
  const { signers, signatures } = cert.certificate
  const indices = signers.indices
  let h = signers.size | 0
  for (let k = 0; k < indices.length; k++) h = (Math.imul(h, 31) + indices[k]) | 0
  for (let k = 0; k < signatures.length; k++) {
    const s = signatures[k]
    const w = s.length >= 4 ? s[0] | (s[1] << 8) | (s[2] << 16) | (s[3] << 24) : s.length
    h = (Math.imul(h, 0x9e3779b1) ^ w) | 0
  }
  return h
}

/** What the monitor keeps of a distinct certificate: enough to recognise its copies. */
interface Remembered {
  readonly print: number
  readonly tag: Certificate["_tag"]
  /** The proposal (notarization, finalization), or undefined with `epoch` (nullification). */
  readonly proposal: Proposal | undefined
  readonly epoch: bigint
  readonly size: number
  readonly indices: ReadonlyArray<number>
  /** Signature lengths, in order (almost always the scheme's one length). */
  readonly lengths: ReadonlyArray<number>
  readonly chunk: Uint8Array
  readonly offset: number
}

const remember = (store: ByteStore, cert: Certificate, print: number): Remembered => {
  const { signers, signatures } = cert.certificate
  let length = 0
  const lengths: number[] = new Array(signatures.length)
  for (let k = 0; k < signatures.length; k++) {
    lengths[k] = signatures[k].length
    length += signatures[k].length
  }
  const { chunk, offset } = store.put(signatures, length)
  return {
    print,
    tag: cert._tag,
    proposal: cert._tag === "Nullification" ? undefined : cert.proposal,
    epoch: cert._tag === "Nullification" ? cert.round.epoch : cert.proposal.round.epoch,
    size: signers.size,
    indices: signers.indices.slice(0, signatures.length),
    lengths,
    chunk,
    offset,
  }
}

/** Whether `b` has the same contents as the certificate `a` was remembered from. */
const sameCertificate = (a: Remembered, b: Certificate): boolean => {
  if (a.tag !== b._tag) return false
  if (b._tag === "Nullification") {
    if (a.epoch !== b.round.epoch) return false
  } else if (a.proposal === undefined || !proposalEquals(a.proposal, b.proposal)) return false
  const y = b.certificate
  const count = a.lengths.length
  if (a.size !== y.signers.size || count !== y.signatures.length) return false
  // Signer sets first (cheap), then the signatures.
  const yi = y.signers.indices
  for (let i = 0; i < count; i++) if (a.indices[i] !== yi[i]) return false
  const chunk = a.chunk
  let at = a.offset
  for (let k = 0; k < count; k++) {
    const sig = y.signatures[k]
    const n = a.lengths[k]
    if (sig.length !== n) return false
    for (let i = 0; i < n; i++) if (chunk[at + i] !== sig[i]) return false
    at += n
  }
  return true
}

/** Liveness: every listed node finalized at least `views` views (its last finalized view). */
export const expectFinalized = (
  monitor: SafetyMonitor,
  nodes: ReadonlyArray<{ readonly identity: number; readonly lastFinalized: View }>,
  views: bigint,
  withinMs: number,
): void => {
  for (const n of nodes)
    if (n.lastFinalized < views)
      monitor.violation(
        `liveness: node ${n.identity} finalized up to view ${n.lastFinalized}, expected ≥ ${views} within ${withinMs} ms`,
      )
}
