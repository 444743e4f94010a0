/**
 * The Simplex voter (spec §3) as a pure state machine: per-view round state, view
 * entry, leader election, proposing, verifying, certifying, vote collection, certificate
 * formation, timeouts, and journal replay. It writes its effects into an Outbox; the
 * Engine decodes input and orders the outputs.
 *
 * Safety rules enforced here (and asserted, so a bug crashes instead of equivocating):
 * - at most one notarize per view, ever, across restarts (sentNotarize is journaled);
 * - never finalize after nullifying a view, never nullify after finalizing it;
 * - never finalize a view whose proposal was equivocated;
 * - every own vote and certificate is appended (then synced) before it is sent;
 * - the current view never goes backwards.
 */
import type { Channel, EngineConfig } from "./Engine.ts"
import type { Outbox } from "./Outbox.ts"
import type { Signer } from "./Scheme.ts"
import type { KnownVotes, Signing, VerifyMemo } from "./Signing.ts"
import {
  type Certificate,
  type CertificateSignatures,
  type Context,
  type Digest,
  DIGEST_LENGTH,
  digestEquals,
  type Finalization,
  type Finalize,
  type JournalEntry,
  type Notarization,
  type Notarize,
  type Nullification,
  type Nullify,
  type Proposal,
  proposalEquals,
  type Round,
  roundRobinLeader,
  type View,
  type Vote,
} from "./Types.ts"
import { ViewMap, ViewSet } from "./ViewMap.ts"

/** Where the leader's proposal for a view stands. */
export type ProposalStatus =
  | "none" // nothing yet
  | "building" // we lead and asked the app to propose
  | "received" // the leader's notarize arrived; ancestry not yet checked / verify not asked
  | "verifying" // Verify emitted
  | "verified" // verified by the app, built by us, or our journaled notarize
  | "recovered" // only known from a certificate
  | "rejected" // invalid ancestry, declined or failed verification

export type CertifyState = "ready" | "outstanding" | "certified" | "failed" | "aborted"

export type FetchKind = "nullification" | "notarization"

/** What the voter needs from the resolver. */
export interface Fetcher {
  fetch(view: View, kind: FetchKind, target: number | undefined): void
}

interface Tally {
  readonly proposal: Proposal
  count: number
}

/** Counts one more vote for `p`; returns the new count for that proposal. */
const tally = (tallies: Tally[], p: Proposal): number => {
  for (const t of tallies) if (proposalEquals(t.proposal, p)) return ++t.count
  tallies.push({ proposal: p, count: 1 })
  return 1
}

/** Per-view state (spec §3). */
export class ViewState implements KnownVotes {
  proposal: Proposal | undefined = undefined
  status: ProposalStatus = "none"
  equivocated = false
  buildContext: Context | undefined = undefined
  readonly notarizes: (Notarize | undefined)[]
  readonly nullifies: (Nullify | undefined)[]
  readonly finalizes: (Finalize | undefined)[]
  /** Vote counts per distinct proposal (almost always one), kept incrementally. */
  readonly notarizeTally: Tally[] = []
  readonly finalizeTally: Tally[] = []
  nullifyCount = 0
  notarization: Notarization | undefined = undefined
  nullification: Nullification | undefined = undefined
  finalization: Finalization | undefined = undefined
  sentNotarize = false
  sentNullify = false
  sentFinalize = false
  ownNotarize: Notarize | undefined = undefined
  ownNullify: Nullify | undefined = undefined
  broadcastNotarization = false
  broadcastNullification = false
  broadcastFinalization = false
  certify: CertifyState = "ready"
  leaderDeadline: number | undefined = undefined
  certDeadline: number | undefined = undefined
  retryDeadline: number | undefined = undefined
  /** An immediate timeout is pending (declined proposal, invalid ancestry, skip, ...). */
  latched = false
  lastAncestryRequest: string | undefined = undefined

  constructor(
    readonly round: Round,
    readonly leader: number,
    n: number,
  ) {
    this.notarizes = new Array(n).fill(undefined)
    this.nullifies = new Array(n).fill(undefined)
    this.finalizes = new Array(n).fill(undefined)
  }

  get view(): View {
    return this.round.view
  }
}

export type CertificateResult = "accepted" | "ignored" | "invalid"

export class Voter {
  readonly n: number
  readonly quorum: number
  readonly me: number | undefined
  private readonly signer: Signer | undefined
  private readonly epoch: bigint
  private readonly rounds = new ViewMap<ViewState>()
  /** The two rounds found most recently (see `find`); never a deleted one. */
  private recentA: ViewState | undefined = undefined
  private recentB: ViewState | undefined = undefined
  private current: View = 0n
  /** The round of `current` (never pruned: pruning only drops views below lastFinalized). */
  private currentRound: ViewState | undefined = undefined
  private finalized: View = 0n
  /** retainedFloor and current + 1, kept with `finalized` and `current` (hot bounds). */
  private windowLow: View = 0n
  private windowHigh: View = 1n
  private highestFinalizationCert: Finalization | undefined = undefined
  /** Highest certified notarization or finalization (resolver floor, §5). */
  private floorCert: Notarization | Finalization | undefined = undefined
  private readonly certCandidates = new ViewSet()
  private readonly outstanding = new ViewSet()
  private readonly lastSeen: number[]
  private prunedBelow: View = 0n
  private readonly reportVotes: boolean
  /** The view seen at the end of the previous step (a view never goes backwards). */
  private settledView: View = 0n
  private replaying = false
  now = 0
  fetcher: Fetcher | undefined = undefined

  constructor(
    private readonly config: EngineConfig,
    readonly signing: Signing,
    private readonly out: Outbox,
  ) {
    this.n = config.participants.length
    this.quorum = signing.quorum
    this.me = config.me
    this.signer = config.signer
    this.epoch = config.epoch
    this.lastSeen = new Array(this.n).fill(Number.NEGATIVE_INFINITY)
    this.reportVotes = config.reportVotes ?? true
  }

  // ---- read-only accessors ----------------------------------------------------------

  get currentView(): View {
    return this.current
  }

  get lastFinalized(): View {
    return this.finalized
  }

  get highestFinalization(): Finalization | undefined {
    return this.highestFinalizationCert
  }

  /** View of the highest certified notarization or finalization (0 = genesis). */
  get floorView(): View {
    const f = this.floorCert
    if (f === undefined) return this.finalized
    const v = f.proposal.round.view
    if (v > this.finalized) return v
    return this.finalized
  }

  /** Lowest view whose votes are still admitted (spec §3 admission window). */
  get retainedFloor(): View {
    return this.windowLow
  }

  state(view: View): ViewState | undefined {
    return this.find(view)
  }

  leaderOf(view: View): number {
    return roundRobinLeader(this.epoch, view, this.n)
  }

  // ---- rounds ---------------------------------------------------------------------

  /**
   * The round of a view, if held. Lookups come in runs for one or two views (votes for
   * the current view interleave with finalizes for the previous one), so the last two
   * hits are checked before the map (a bigint-keyed lookup costs several comparisons).
   */
  private find(view: View): ViewState | undefined {
    const a = this.recentA
    if (a !== undefined && a.round.view === view) return a
    const b = this.recentB
    if (b !== undefined && b.round.view === view) {
      this.recentB = a
      this.recentA = b
      return b
    }
    const r = this.rounds.get(view)
    if (r !== undefined) {
      this.recentB = a
      this.recentA = r
    }
    return r
  }

  /** Drops cached lookups of views below `floor` (their rounds were just deleted). */
  private forgetRecent(floor: View): void {
    if (this.recentA !== undefined && this.recentA.round.view < floor) this.recentA = undefined
    if (this.recentB !== undefined && this.recentB.round.view < floor) this.recentB = undefined
  }

  private roundOf(view: View): ViewState {
    let r = this.find(view)
    if (r === undefined) {
      r = new ViewState({ epoch: this.epoch, view }, this.leaderOf(view), this.n)
      this.rounds.set(view, r)
    }
    return r
  }

  /** Enters `view` if it is ahead of the current one (spec §3 "Enter view"). */
  private enterView(view: View): void {
    if (view <= this.current) return
    this.current = view
    this.windowHigh = view + 1n
    const r = this.roundOf(view)
    this.currentRound = r
    r.leaderDeadline = this.now + this.config.leaderTimeoutMs
    r.certDeadline = this.now + this.config.certificationTimeoutMs
    if (this.me !== undefined && r.leader !== this.me && !r.sentNullify) {
      // Leader-nullify fast path: the leader already gave up on its own view.
      if (r.nullifies[r.leader] !== undefined) r.latched = true
      // Skip shortcut: a silent leader while a quorum is active.
      else if (!this.isActive(r.leader) && (r.proposal === undefined || r.equivocated))
        r.latched = true
    }
  }

  private isActive(participant: number): boolean {
    const since = this.now - this.config.skipTimeoutMs
    let active = 0
    for (let i = 0; i < this.n; i++) if (i === this.me || this.lastSeen[i] >= since) active++
    // Fail open: with too few active peers the network itself is slow, not the leader.
    if (active < this.quorum) return true
    return this.lastSeen[participant] >= since
  }

  // ---- votes ----------------------------------------------------------------------

  /** A decoded vote from authenticated sender `from` on the vote channel. */
  onVote(from: number, vote: Vote, memo?: VerifyMemo): void {
    const signer = vote.attestation.signer
    if (signer !== from || signer >= this.n) {
      this.out.block(from, `vote signer ${signer} is not the sender ${from}`)
      return
    }
    const round = vote._tag === "Nullify" ? vote.round : vote.proposal.round
    if (round.epoch !== this.epoch) {
      this.out.block(from, `vote for epoch ${round.epoch}, engine runs epoch ${this.epoch}`)
      return
    }
    const view = round.view
    if (view === 0n || view < this.windowLow || view > this.windowHigh) return
    const r = this.roundOf(view)
    if (vote._tag === "Notarize") this.onNotarize(r, vote, from, memo)
    else if (vote._tag === "Nullify") this.onNullify(r, vote, from, memo)
    else this.onFinalize(r, vote, from, memo)
  }

  private invalidSignature(from: number, channel: Channel): void {
    this.out.report({ _tag: "InvalidSignature", peer: from, channel })
    this.out.block(from, `invalid signature on the ${channel} channel`)
  }

  private onNotarize(r: ViewState, vote: Notarize, from: number, memo?: VerifyMemo): void {
    const s = vote.attestation.signer
    const prev = r.notarizes[s]
    if (prev !== undefined && proposalEquals(prev.proposal, vote.proposal)) return
    if (!this.signing.verifyVote(vote, memo)) {
      this.invalidSignature(from, "vote")
      return
    }
    this.lastSeen[s] = this.now
    if (prev !== undefined) {
      this.out.report({ _tag: "ConflictingNotarize", first: prev, second: vote })
      if (s === r.leader) r.equivocated = true
      this.out.block(s, "conflicting notarize votes")
      return
    }
    if (this.reportVotes) this.out.report(vote)
    if (s === r.leader) this.onProposal(r, vote.proposal)
    this.addNotarizeVote(r, vote)
  }

  private onNullify(r: ViewState, vote: Nullify, from: number, memo?: VerifyMemo): void {
    const s = vote.attestation.signer
    if (r.nullifies[s] !== undefined) return
    if (!this.signing.verifyVote(vote, memo)) {
      this.invalidSignature(from, "vote")
      return
    }
    this.lastSeen[s] = this.now
    if (this.reportVotes) this.out.report(vote)
    const fin = r.finalizes[s]
    if (fin !== undefined) {
      this.out.report({ _tag: "NullifyFinalize", nullify: vote, finalize: fin })
      this.out.block(s, "nullify and finalize in the same view")
    }
    if (s === r.leader && r.view === this.current && s !== this.me && !r.sentNullify)
      r.latched = true
    this.addNullifyVote(r, vote)
  }

  private onFinalize(r: ViewState, vote: Finalize, from: number, memo?: VerifyMemo): void {
    const s = vote.attestation.signer
    const prev = r.finalizes[s]
    if (prev !== undefined && proposalEquals(prev.proposal, vote.proposal)) return
    if (!this.signing.verifyVote(vote, memo)) {
      this.invalidSignature(from, "vote")
      return
    }
    this.lastSeen[s] = this.now
    if (prev !== undefined) {
      this.out.report({ _tag: "ConflictingFinalize", first: prev, second: vote })
      this.out.block(s, "conflicting finalize votes")
      return
    }
    if (this.reportVotes) this.out.report(vote)
    const nul = r.nullifies[s]
    if (nul !== undefined) {
      this.out.report({ _tag: "NullifyFinalize", nullify: nul, finalize: vote })
      this.out.block(s, "nullify and finalize in the same view")
    }
    this.addFinalizeVote(r, vote)
  }

  /** The leader's notarize is its proposal (spec §2). */
  private onProposal(r: ViewState, p: Proposal): void {
    if (r.proposal === undefined) {
      r.proposal = p
      r.status = "received"
      r.leaderDeadline = undefined
      return
    }
    if (!proposalEquals(r.proposal, p)) this.equivocation(r)
  }

  private equivocation(r: ViewState): void {
    r.equivocated = true
    if (r.leader !== this.me && !this.replaying) this.out.block(r.leader, "equivocating leader")
  }

  /** The certificate of the votes (indexed by signer, so ascending) that back `p`. */
  private certificateOf(
    votes: ReadonlyArray<Notarize | Finalize | undefined>,
    p: Proposal,
  ): CertificateSignatures {
    const indices: number[] = []
    const signatures: Uint8Array[] = []
    for (let i = 0; i < votes.length; i++) {
      const v = votes[i]
      if (v !== undefined && proposalEquals(v.proposal, p)) {
        indices.push(i)
        signatures.push(v.attestation.signature)
      }
    }
    return { signers: { size: this.n, indices }, signatures }
  }

  /** Stores a verified notarize (ours or a peer's) and forms the notarization at quorum. */
  private addNotarizeVote(r: ViewState, vote: Notarize): void {
    r.notarizes[vote.attestation.signer] = vote
    const count = tally(r.notarizeTally, vote.proposal)
    if (count < this.quorum || r.notarization !== undefined || r.view <= this.finalized) return
    const p = vote.proposal
    this.addNotarization(r, {
      _tag: "Notarization",
      proposal: p,
      certificate: this.certificateOf(r.notarizes, p),
    })
  }

  private addNullifyVote(r: ViewState, vote: Nullify): void {
    r.nullifies[vote.attestation.signer] = vote
    r.nullifyCount++
    this.checkNullifyQuorum(r)
  }

  private addFinalizeVote(r: ViewState, vote: Finalize): void {
    r.finalizes[vote.attestation.signer] = vote
    const count = tally(r.finalizeTally, vote.proposal)
    if (count < this.quorum || r.finalization !== undefined) return
    const p = vote.proposal
    this.addFinalization(r, {
      _tag: "Finalization",
      proposal: p,
      certificate: this.certificateOf(r.finalizes, p),
    })
  }

  private checkNullifyQuorum(r: ViewState): void {
    if (r.nullification !== undefined || r.view <= this.finalized) return
    if (r.nullifyCount < this.quorum) return
    const votes: Nullify[] = []
    for (const v of r.nullifies) if (v !== undefined) votes.push(v)
    const { indices, signatures } = this.signing.assemble(votes)
    this.addNullification(r, {
      _tag: "Nullification",
      round: r.round,
      certificate: { signers: { size: this.n, indices }, signatures },
    })
  }

  // ---- certificates ---------------------------------------------------------------

  /** True when a certificate of this kind is already held for the view (cheap dedup). */
  hasCertificate(kind: Certificate["_tag"], view: View): boolean {
    const r = this.find(view)
    if (r === undefined) return false
    return kind === "Notarization"
      ? r.notarization !== undefined
      : kind === "Nullification"
        ? r.nullification !== undefined
        : r.finalization !== undefined
  }

  /** A decoded certificate from the certificate channel or the resolver. */
  onCertificate(from: number, cert: Certificate): CertificateResult {
    const round = cert._tag === "Nullification" ? cert.round : cert.proposal.round
    if (round.epoch !== this.epoch) {
      this.out.block(from, `certificate for epoch ${round.epoch}, engine runs epoch ${this.epoch}`)
      return "invalid"
    }
    const view = round.view
    if (view === 0n || view < this.retainedFloor) return "ignored"
    if (this.hasCertificate(cert._tag, view)) return "ignored"
    const known = this.find(view)
    if (!this.signing.verifyCertificate(cert, known)) {
      this.invalidSignature(from, "certificate")
      return "invalid"
    }
    const r = this.roundOf(view)
    if (cert._tag === "Notarization") this.addNotarization(r, cert)
    else if (cert._tag === "Nullification") this.addNullification(r, cert)
    else this.addFinalization(r, cert)
    return "accepted"
  }

  private journal(view: View, entry: JournalEntry): void {
    if (this.replaying) return
    this.out.append(view, this.signing.codec.encodeJournalEntry(entry))
  }

  /** Journals a new certificate and broadcasts it once (one encoding for both). */
  private recordCertificate(view: View, cert: Certificate, broadcast: boolean): void {
    if (this.replaying) return
    const entry = this.signing.codec.certificateEntry(cert)
    this.out.append(view, entry)
    if (broadcast && this.me !== undefined) this.out.send("certificate", "all", entry.subarray(1))
  }

  private broadcastCertificate(cert: Certificate): void {
    if (this.replaying || this.me === undefined) return
    this.out.send("certificate", "all", this.signing.codec.encodeCertificate(cert))
  }

  /** Journals an own vote and sends it (one encoding for both). */
  private recordVote(view: View, vote: Vote, journal: boolean): void {
    const entry = this.signing.codec.voteEntry(vote)
    if (journal) this.out.append(view, entry)
    this.out.send("vote", "all", entry.subarray(1))
  }

  /** A certificate's proposal replaces ours; a difference proves leader equivocation. */
  private adoptProposal(r: ViewState, p: Proposal): void {
    if (r.proposal === undefined) {
      r.proposal = p
      r.status = "recovered"
      r.leaderDeadline = undefined
    } else if (!proposalEquals(r.proposal, p)) {
      r.proposal = p
      r.status = "recovered"
      this.equivocation(r)
    }
  }

  private addNotarization(r: ViewState, cert: Notarization): void {
    if (r.notarization !== undefined) return
    r.notarization = cert
    this.recordCertificate(r.view, cert, !r.broadcastNotarization)
    r.broadcastNotarization = true
    this.adoptProposal(r, cert.proposal)
    if (!this.replaying) this.out.report(cert)
    if (r.view > this.finalized && r.certify === "ready") this.certCandidates.add(r.view)
  }

  private addNullification(r: ViewState, cert: Nullification): void {
    if (r.nullification !== undefined) return
    r.nullification = cert
    this.recordCertificate(r.view, cert, !r.broadcastNullification)
    r.broadcastNullification = true
    if (this.replaying) return
    this.out.report(cert)
    this.enterView(r.view + 1n)
  }

  private addFinalization(r: ViewState, cert: Finalization): void {
    if (r.finalization !== undefined) return
    r.finalization = cert
    this.recordCertificate(r.view, cert, !r.broadcastFinalization)
    r.broadcastFinalization = true
    this.adoptProposal(r, cert.proposal)
    const view = r.view
    if (view > this.finalized) {
      this.finalized = view
      const retention = this.config.viewRetention
      this.windowLow = view > retention ? view - retention : 0n
      this.highestFinalizationCert = cert
      // Finalization is the only thing that cancels in-flight certification (spec §3).
      if (this.outstanding.size > 0)
        for (const v of this.outstanding) {
          if (v > view) continue
          const o = this.find(v)
          if (o !== undefined && o.certify === "outstanding") o.certify = "aborted"
          this.outstanding.delete(v)
        }
      if (this.certCandidates.size > 0)
        for (const v of this.certCandidates) if (v <= view) this.certCandidates.delete(v)
    }
    if (view >= this.floorView) this.floorCert = cert
    if (this.replaying) return
    this.out.report(cert)
    this.enterView(view + 1n)
    this.prune()
  }

  // ---- own votes ------------------------------------------------------------------

  private tryNotarize(r: ViewState): void {
    const me = this.me
    const signer = this.signer
    if (me === undefined || signer === undefined) return
    if (r.sentNotarize || r.sentNullify || r.status !== "verified" || r.equivocated) return
    const p = r.proposal
    if (p === undefined) throw new Error(`verified view ${r.view} has no proposal`)
    const vote = this.signing.notarize(signer, me, p)
    const held = r.notarizes[me]
    if (held !== undefined && !proposalEquals(held.proposal, p))
      throw new Error(`invariant: a second, different own notarize for view ${r.view}`)
    r.sentNotarize = true
    r.ownNotarize = vote
    this.recordVote(r.view, vote, true)
    if (this.reportVotes) this.out.report(vote)
    if (held === undefined) this.addNotarizeVote(r, vote)
  }

  private tryFinalize(r: ViewState): void {
    const me = this.me
    const signer = this.signer
    if (me === undefined || signer === undefined) return
    if (r.sentFinalize || r.sentNullify || r.equivocated || r.view <= this.finalized) return
    if (r.notarization === undefined || r.certify !== "certified") return
    const p = r.notarization.proposal
    const vote = this.signing.finalize(signer, me, p)
    r.sentFinalize = true
    this.recordVote(r.view, vote, true)
    if (this.reportVotes) this.out.report(vote)
    if (r.finalizes[me] === undefined) this.addFinalizeVote(r, vote)
  }

  private nullify(r: ViewState): void {
    const me = this.me
    const signer = this.signer
    if (me === undefined || signer === undefined) return
    if (r.sentFinalize) return
    const retry = r.sentNullify
    let vote = r.ownNullify
    if (vote === undefined) {
      vote = this.signing.nullify(signer, me, r.round)
      r.ownNullify = vote
    }
    r.latched = false
    r.leaderDeadline = undefined
    r.certDeadline = undefined
    r.retryDeadline = this.now + this.config.timeoutRetryMs
    r.sentNullify = true
    this.recordVote(r.view, vote, !retry)
    if (!retry && this.reportVotes) this.out.report(vote)
    if (retry) {
      // Peers that missed how we got here can catch up from the entry certificate.
      const entry = this.entryCertificate(r.view)
      if (entry !== undefined) this.broadcastCertificate(entry)
    }
    if (r.nullifies[me] === undefined) this.addNullifyVote(r, vote)
  }

  /** Best proof for entering `view`: finalization, nullification, notarization of view−1. */
  private entryCertificate(view: View): Certificate | undefined {
    if (view <= 1n) return undefined
    const prev = this.find(view - 1n)
    if (prev === undefined) return undefined
    return prev.finalization ?? prev.nullification ?? prev.notarization
  }

  // ---- proposing and verifying ----------------------------------------------------

  /** Payload of a certified (or finalized, or genesis) view; "failed" if it failed certification. */
  certifiedPayload(view: View): Digest | "failed" | undefined {
    const r = this.find(view)
    if (r?.finalization !== undefined) return r.finalization.proposal.payload
    if (view === 0n) return this.config.genesis
    if (r === undefined || r.notarization === undefined) return undefined
    if (r.certify === "certified") return r.notarization.proposal.payload
    if (r.certify === "failed") return "failed"
    return undefined
  }

  private tryPropose(): void {
    const r = this.currentRound
    if (r === undefined || this.me === undefined || r.leader !== this.me) return
    if (r.status !== "none" || r.sentNullify || r.sentNotarize || r.proposal !== undefined) return
    // Parent: highest certified view below, with every view in between nullified.
    let w = this.current - 1n
    for (;;) {
      const payload = this.certifiedPayload(w)
      if (payload !== undefined && payload !== "failed") {
        const context: Context = {
          round: r.round,
          leader: this.me,
          parent: { view: w, digest: payload },
        }
        r.status = "building"
        r.buildContext = context
        this.out.propose(context)
        return
      }
      if (this.find(w)?.nullification === undefined) {
        this.fetcher?.fetch(w, "nullification", undefined)
        return
      }
      if (w <= this.finalized)
        throw new Error(`invariant: no certified ancestor for view ${this.current}`)
      w -= 1n
    }
  }

  onProposed(view: View, digest: Digest | undefined): void {
    const r = this.find(view)
    if (r === undefined || view !== this.current || r.status !== "building") return
    const context = r.buildContext
    if (context === undefined) throw new Error(`invariant: building view ${view} has no context`)
    if (digest === undefined) {
      // Declined or dropped: nullify right away (spec §3 "Propose").
      r.status = "rejected"
      r.latched = true
      return
    }
    if (digest.length !== DIGEST_LENGTH)
      throw new Error(`the application proposed a ${digest.length}-byte digest`)
    const proposal: Proposal = { round: r.round, parent: context.parent.view, payload: digest }
    r.proposal = proposal
    r.status = "verified"
    r.leaderDeadline = undefined
    this.out.relay(digest, r.round)
    this.tryNotarize(r)
  }

  private requestAncestry(r: ViewState, view: View, kind: FetchKind): void {
    const key = `${kind}:${view}`
    if (r.lastAncestryRequest === key) return
    r.lastAncestryRequest = key
    this.fetcher?.fetch(view, kind, r.leader === this.me ? undefined : r.leader)
  }

  private tryVerify(): void {
    const r = this.currentRound
    if (r === undefined || this.me === undefined || r.leader === this.me) return
    if (r.status !== "received" || r.sentNullify || r.equivocated) return
    const p = r.proposal
    if (p === undefined) throw new Error(`invariant: received view ${r.view} has no proposal`)
    const view = r.view
    // Parent rules (1) and (2): the proposal is invalid.
    if (p.parent >= view || p.parent < this.finalized) {
      r.status = "rejected"
      r.latched = true
      return
    }
    // (3): every skipped view must be nullified; (4): the parent must be certified.
    for (let w = p.parent + 1n; w < view; w++) {
      if (this.find(w)?.nullification === undefined) {
        this.requestAncestry(r, w, "nullification")
        return
      }
    }
    const parentPayload = this.certifiedPayload(p.parent)
    if (parentPayload === "failed") {
      r.status = "rejected"
      r.latched = true
      return
    }
    if (parentPayload === undefined) {
      if (this.find(p.parent)?.notarization === undefined)
        this.requestAncestry(r, p.parent, "notarization")
      return
    }
    r.status = "verifying"
    this.out.verify(
      { round: r.round, leader: r.leader, parent: { view: p.parent, digest: parentPayload } },
      p.payload,
    )
  }

  onVerified(view: View, digest: Digest, ok: boolean): void {
    const r = this.find(view)
    if (r === undefined || view !== this.current || r.status !== "verifying") return
    if (r.proposal === undefined || !digestEquals(r.proposal.payload, digest)) return
    if (ok) {
      r.status = "verified"
      this.tryNotarize(r)
    } else {
      r.status = "rejected"
      r.latched = true
    }
  }

  // ---- certification --------------------------------------------------------------

  private tryCertify(): void {
    if (this.certCandidates.size === 0) return
    for (const view of this.certCandidates) {
      const r = this.find(view)
      if (
        r === undefined ||
        r.notarization === undefined ||
        r.certify !== "ready" ||
        view <= this.finalized
      ) {
        this.certCandidates.delete(view)
        continue
      }
      const parent = r.notarization.proposal.parent
      if (parent >= view || parent < this.finalized) {
        // A notarized proposal that breaks the parent rules can never be certified.
        this.certCandidates.delete(view)
        continue
      }
      const payload = this.certifiedPayload(parent)
      if (payload === "failed") {
        this.certCandidates.delete(view)
        continue
      }
      if (payload === undefined) {
        // Wait for the parent; fetch its notarization if we never received it.
        const pr = this.find(parent)
        if (pr?.notarization === undefined) this.requestAncestry(r, parent, "notarization")
        continue
      }
      this.certCandidates.delete(view)
      r.certify = "outstanding"
      this.outstanding.add(view)
      this.out.certify(r.round, r.notarization.proposal.payload)
    }
  }

  onCertified(view: View, digest: Digest, ok: boolean): void {
    const r = this.find(view)
    if (r === undefined || r.certify !== "outstanding" || r.notarization === undefined) return
    const payload = r.notarization.proposal.payload
    if (!digestEquals(payload, digest)) return
    this.outstanding.delete(view)
    r.certify = ok ? "certified" : "failed"
    this.journal(view, { _tag: "Certification", round: r.round, payload, ok })
    this.out.report({ _tag: "Certification", round: r.round, payload, ok })
    if (ok) {
      if (view >= this.floorView) this.floorCert = r.notarization
      this.enterView(view + 1n)
      this.tryFinalize(r)
    } else if (view === this.current && !r.sentNullify) {
      r.latched = true
    }
  }

  // ---- timeouts -------------------------------------------------------------------

  private checkTimeouts(): void {
    const r = this.currentRound
    if (r === undefined || this.me === undefined) return
    if (r.sentFinalize || r.finalization !== undefined) return
    if (r.sentNullify) {
      if (r.retryDeadline === undefined) r.retryDeadline = this.now + this.config.timeoutRetryMs
      else if (this.now >= r.retryDeadline) this.nullify(r)
      return
    }
    const fire =
      r.latched ||
      (r.proposal === undefined &&
        r.leaderDeadline !== undefined &&
        this.now >= r.leaderDeadline) ||
      (r.certify !== "certified" && r.certDeadline !== undefined && this.now >= r.certDeadline)
    if (fire) this.nullify(r)
  }

  /** Earliest time the voter needs to be woken, if any. */
  nextDeadline(): number | undefined {
    const r = this.currentRound
    if (r === undefined || this.me === undefined) return undefined
    if (r.sentFinalize || r.finalization !== undefined) return undefined
    if (r.sentNullify) return r.retryDeadline
    let d: number | undefined
    if (r.proposal === undefined && r.leaderDeadline !== undefined) d = r.leaderDeadline
    if (r.certify !== "certified" && r.certDeadline !== undefined)
      d = d === undefined ? r.certDeadline : Math.min(d, r.certDeadline)
    return d
  }

  /** Runs after every input: propose, verify, certify, time out, until the view settles. */
  afterInput(): void {
    this.tryCertify()
    for (let guard = 0; ; guard++) {
      const view = this.current
      this.tryPropose()
      this.tryVerify()
      this.checkTimeouts()
      if (this.current === view) break
      if (guard > 1_000_000) throw new Error("invariant: view entry does not settle")
      this.tryCertify()
    }
    if (this.current < this.settledView)
      throw new Error(`invariant: view went back from ${this.settledView} to ${this.current}`)
    this.settledView = this.current
  }

  // ---- pruning --------------------------------------------------------------------

  private prune(): void {
    const floor = this.retainedFloor
    if (floor <= this.prunedBelow) return
    // Rounds exist only for views that were at or above the floor when created, so the
    // dropped ones lie in [prunedBelow, floor): walk that range unless it is the longer.
    if (floor - this.prunedBelow <= BigInt(this.rounds.size))
      for (let v = this.prunedBelow; v < floor; v++) this.rounds.delete(v)
    else for (const view of this.rounds.keys()) if (view < floor) this.rounds.delete(view)
    this.forgetRecent(floor)
    if (this.certCandidates.size > 0)
      for (const view of this.certCandidates) if (view < floor) this.certCandidates.delete(view)
    if (this.outstanding.size > 0)
      for (const view of this.outstanding) if (view < floor) this.outstanding.delete(view)
    this.prunedBelow = floor
    if (!this.replaying) this.out.push({ _tag: "Prune", belowView: floor })
  }

  // ---- replay and start -----------------------------------------------------------

  /** Rebuilds state from one journal entry (no outputs). Throws on a foreign journal. */
  replayEntry(entry: JournalEntry): void {
    this.replaying = true
    try {
      const view =
        entry._tag === "OwnVote"
          ? entry.vote._tag === "Nullify"
            ? entry.vote.round.view
            : entry.vote.proposal.round.view
          : entry._tag === "Certificate"
            ? entry.certificate._tag === "Nullification"
              ? entry.certificate.round.view
              : entry.certificate.proposal.round.view
            : entry.round.view
      if (view < this.retainedFloor) return
      const r = this.roundOf(view)
      switch (entry._tag) {
        case "OwnVote": {
          const vote = entry.vote
          if (vote.attestation.signer !== this.me)
            throw new Error(
              `journal holds a vote of signer ${vote.attestation.signer}, we are ${this.me}`,
            )
          if (vote._tag === "Notarize") {
            if (
              r.sentNotarize &&
              r.ownNotarize &&
              !proposalEquals(r.ownNotarize.proposal, vote.proposal)
            )
              throw new Error(
                `invariant: journal holds two different own notarizes for view ${view}`,
              )
            r.sentNotarize = true
            r.ownNotarize = vote
            if (r.notarizes[vote.attestation.signer] === undefined) {
              r.notarizes[vote.attestation.signer] = vote
              tally(r.notarizeTally, vote.proposal)
            }
            if (r.proposal === undefined) {
              r.proposal = vote.proposal
              r.status = "verified"
            } else if (!proposalEquals(r.proposal, vote.proposal)) {
              r.equivocated = true
            }
          } else if (vote._tag === "Nullify") {
            r.sentNullify = true
            r.ownNullify = vote
            if (r.nullifies[vote.attestation.signer] === undefined) {
              r.nullifies[vote.attestation.signer] = vote
              r.nullifyCount++
            }
          } else {
            r.sentFinalize = true
            if (r.finalizes[vote.attestation.signer] === undefined) {
              r.finalizes[vote.attestation.signer] = vote
              tally(r.finalizeTally, vote.proposal)
            }
          }
          return
        }
        case "Certificate": {
          const c = entry.certificate
          if (c._tag === "Notarization") this.addNotarization(r, c)
          else if (c._tag === "Nullification") this.addNullification(r, c)
          else this.addFinalization(r, c)
          return
        }
        case "Certification": {
          if (
            r.notarization === undefined ||
            !digestEquals(r.notarization.proposal.payload, entry.payload)
          )
            return
          r.certify = entry.ok ? "certified" : "failed"
          this.certCandidates.delete(view)
          if (entry.ok && view >= this.floorView) this.floorCert = r.notarization
          return
        }
      }
    } finally {
      this.replaying = false
    }
  }

  /** Enters the first view after genesis, the floor, or whatever the journal proved. */
  start(now: number): void {
    this.now = now
    const floor = this.config.floor
    if (floor !== undefined && floor.proposal.round.view > this.finalized) {
      if (floor.proposal.round.epoch !== this.epoch)
        throw new Error(`floor finalization is for epoch ${floor.proposal.round.epoch}`)
      this.replaying = true
      this.addFinalization(this.roundOf(floor.proposal.round.view), floor)
      this.replaying = false
    }
    let entry = this.finalized + 1n
    for (const [view, r] of this.rounds) {
      if (
        r.nullification !== undefined ||
        r.finalization !== undefined ||
        (r.notarization !== undefined && r.certify === "certified")
      )
        if (view + 1n > entry) entry = view + 1n
      if (r.notarization !== undefined && r.certify === "ready" && view > this.finalized)
        this.certCandidates.add(view)
    }
    for (const view of this.rounds.keys()) if (view < this.retainedFloor) this.rounds.delete(view)
    this.forgetRecent(this.retainedFloor)
    this.prunedBelow = this.retainedFloor
    this.enterView(entry)
    // A certification journaled just before a crash still owes its finalize vote.
    for (const r of this.rounds.values()) if (r.certify === "certified") this.tryFinalize(r)
    this.afterInput()
  }

  // ---- resolver support -----------------------------------------------------------

  /** The certificate to serve for a view-keyed request (spec §5 serving preference). */
  serve(view: View): Certificate | undefined {
    const fin = this.highestFinalizationCert
    if (fin !== undefined && view <= fin.proposal.round.view) return fin
    const r = this.find(view)
    if (r?.notarization !== undefined && r.certify === "certified") return r.notarization
    if (r?.nullification !== undefined) return r.nullification
    return this.floorCert
  }

  /**
   * Whether a fetch for `view` of `kind` is still needed. Background repair (`ancestry`
   * false) stops at the floor: views up to the highest certified view need no
   * nullification to extend it. A proposal's ancestry can still need one below it: a
   * proposal may skip our certified view when that view was also nullified (its
   * notarization reached us but not the others), and verifying it takes that
   * nullification.
   */
  needs(view: View, kind: FetchKind, ancestry = false): boolean {
    if (view < this.retainedFloor || view <= this.finalized) return false
    const r = this.find(view)
    if (kind === "nullification")
      return r?.nullification === undefined && (ancestry || view > this.floorView)
    return r?.notarization === undefined && r?.finalization === undefined
  }
}
