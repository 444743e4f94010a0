/**
 * The sans-IO Simplex engine of one node (spec §3–§5): a pure object that takes inputs
 * and returns ordered outputs. Shells (the production driver in src/layers/consensus and
 * the deterministic simulator in src/layers/sim) perform the outputs.
 *
 * FINAL SHAPE (kept in sync with the code below; the simulator builds against it):
 *
 *   const engine = new Engine(config: EngineConfig)
 *   engine.replay(entries: ReadonlyArray<Uint8Array>): void   // journal entries, append order
 *   engine.start(nowMs: number): Output[]                      // once, after replay
 *   engine.handle(input: Input, nowMs: number): Output[]
 *   engine.handleMessage(from, channel, bytes, nowMs): Output[]   // = handle(Message {...})
 *
 *   Input  = Message  { from, channel, bytes }   from = authenticated sender index; an index
 *                                                 ≥ participants.length is a non-participant
 *                                                 (observer); it may use the resolver channel
 *          | Timer    { id }                      a timer the engine set fired (early or late
 *                                                 firing is harmless: deadlines are
 *                                                 re-checked against nowMs on every call)
 *          | Proposed { view, digest | undefined } app answer to Propose (undefined = declined)
 *          | Verified { view, digest, ok }
 *          | Certified{ view, digest, ok }
 *
 *   Output = Append { view, entry }   journal record (Codec.encodeJournalEntry bytes) of
 *                                     the given view (for segmenting and pruning)
 *          | Sync                     make every Append so far durable BEFORE later Sends
 *          | Prune  { belowView }     the journal may drop records of views < belowView
 *          | Send   { channel, to, bytes }   to = participant indices or "all" (all others)
 *          | SetTimer { id, atMs }    absolute time; replaces the timer with that id
 *          | CancelTimer { id }
 *          | Propose  { context }     ask the app to build; answer with Proposed
 *          | Verify   { context, digest }   answer with Verified
 *          | Certify  { round, digest }     answer with Certified
 *          | Relay    { digest, plan: { _tag: "Propose", round } }  app broadcasts the block
 *          | Report   { activity }    Activity = Vote | Certificate | Certification |
 *                                     ConflictingNotarize | ConflictingFinalize |
 *                                     NullifyFinalize | InvalidSignature
 *          | BlockPeer { peer, reason }
 *
 * Ordering within one call: every Append, then one Sync (only if there was an Append),
 * then all other outputs in the order they arose. A crash may lose Appends that no
 * completed Sync covered; replay then simply does not know those votes were made, and
 * since none of them was sent, nothing conflicting can have left the node.
 *
 * Timer ids are opaque strings chosen by the engine ("voter", "resolver"); at most one
 * timer per id is armed. A Timer input for an id clears it: the engine re-arms if needed.
 *
 * A Message that changes nothing (a duplicate certificate, a message from a blocked peer
 * or from ourselves) returns an empty array without further work (one shared, frozen
 * array: shells read the outputs of a call and never modify the array). Message bytes
 * must not be mutated after they are handed over: decoded values alias them, and the same
 * bytes object given to several engines of one process is decoded and verified once
 * (simulator broadcasts).
 *
 * Read-only accessors for shells, tests and invariant checks: currentView, lastFinalized,
 * blocked (peers blocked so far), round(view) (the voter's ViewState: proposal, status,
 * certificates, sent flags, certify state), fetches (pending resolver fetches),
 * leaderOf(view), codec (the wire codec of the configured scheme).
 *
 * Helpers for shells and Byzantine mocks: Signing.ts (sign/verify votes and certificates
 * for a participant set), Codec.ts (wire encoding), Scheme.ts (Ed25519Scheme, SimScheme),
 * Marshal.ts (ordered delivery of finalized blocks).
 *
 * The engine never reads a clock or randomness; it throws only on broken invariants
 * (bugs) or a corrupt journal at replay (JournalCorrupt), never on bad input: malformed or
 * invalid messages produce BlockPeer.
 */
import { Data, Either } from "effect"
import { type Codec, certificateKind } from "./Codec.ts"
import { NO_OUTPUTS, Outbox } from "./Outbox.ts"
import { Resolver } from "./Resolver.ts"
import type { PublicKey, Scheme, Signer } from "./Scheme.ts"
import { Signing, type VerifyMemo } from "./Signing.ts"
import { type FetchKind, Voter, type ViewState } from "./Voter.ts"
import {
  DIGEST_LENGTH,
  type Certificate,
  type Context,
  type Digest,
  type Finalization,
  type Finalize,
  type Notarize,
  type Nullify,
  type Round,
  type View,
  type Vote,
} from "./Types.ts"

export interface EngineConfig {
  readonly epoch: bigint
  /** e.g. utf8("guts"); suffixed with _NOTARIZE/_NULLIFY/_FINALIZE for signing. */
  readonly namespace: Uint8Array
  /** Ordered validator set of this epoch. */
  readonly participants: ReadonlyArray<PublicKey>
  /** Our index, undefined = observer (verifies, never signs or votes). */
  readonly me: number | undefined
  /** Our key, undefined for observers. */
  readonly signer: Signer | undefined
  readonly scheme: Scheme
  /** Payload digest of view 0 (genesis, implicitly finalized). */
  readonly genesis: Digest
  readonly leaderTimeoutMs: number
  readonly certificationTimeoutMs: number
  readonly timeoutRetryMs: number
  readonly skipTimeoutMs: number
  /** Views kept below the finalized tip (memory, journal, late votes). */
  readonly viewRetention: bigint
  /** Resolver per-request timeout. */
  readonly fetchTimeoutMs: number
  /** Start from this finalized floor instead of genesis (joiners, state sync). */
  readonly floor?: Finalization | undefined
  /**
   * Report every vote (ours once durable, and peers' once verified) as Activity (default
   * true). Evidence, certificates and certifications are always reported; large
   * simulations that only check certificates may turn this off.
   */
  readonly reportVotes?: boolean | undefined
}

export type Channel = "vote" | "certificate" | "resolver"

export type Input =
  | {
      readonly _tag: "Message"
      readonly from: number
      readonly channel: Channel
      readonly bytes: Uint8Array
    }
  | { readonly _tag: "Timer"; readonly id: string }
  | { readonly _tag: "Proposed"; readonly view: View; readonly digest: Digest | undefined }
  | {
      readonly _tag: "Verified"
      readonly view: View
      readonly digest: Digest
      readonly ok: boolean
    }
  | {
      readonly _tag: "Certified"
      readonly view: View
      readonly digest: Digest
      readonly ok: boolean
    }

export interface Certification {
  readonly _tag: "Certification"
  readonly round: Round
  readonly payload: Digest
  readonly ok: boolean
}

export interface ConflictingNotarize {
  readonly _tag: "ConflictingNotarize"
  readonly first: Notarize
  readonly second: Notarize
}

export interface ConflictingFinalize {
  readonly _tag: "ConflictingFinalize"
  readonly first: Finalize
  readonly second: Finalize
}

export interface NullifyFinalize {
  readonly _tag: "NullifyFinalize"
  readonly nullify: Nullify
  readonly finalize: Finalize
}

export interface InvalidSignature {
  readonly _tag: "InvalidSignature"
  readonly peer: number
  readonly channel: Channel
}

/** What the engine reports (spec §5 Reporter); own votes only once durable. */
export type Activity =
  | Vote
  | Certificate
  | Certification
  | ConflictingNotarize
  | ConflictingFinalize
  | NullifyFinalize
  | InvalidSignature

export type Output =
  | { readonly _tag: "Append"; readonly view: View; readonly entry: Uint8Array }
  | { readonly _tag: "Sync" }
  | { readonly _tag: "Prune"; readonly belowView: View }
  | {
      readonly _tag: "Send"
      readonly channel: Channel
      readonly to: ReadonlyArray<number> | "all"
      readonly bytes: Uint8Array
    }
  | { readonly _tag: "SetTimer"; readonly id: string; readonly atMs: number }
  | { readonly _tag: "CancelTimer"; readonly id: string }
  | { readonly _tag: "Propose"; readonly context: Context }
  | { readonly _tag: "Verify"; readonly context: Context; readonly digest: Digest }
  | { readonly _tag: "Certify"; readonly round: Round; readonly digest: Digest }
  | {
      readonly _tag: "Relay"
      readonly digest: Digest
      readonly plan: { readonly _tag: "Propose"; readonly round: Round }
    }
  | { readonly _tag: "Report"; readonly activity: Activity }
  | { readonly _tag: "BlockPeer"; readonly peer: number; readonly reason: string }

/** Thrown by `replay` when a journal entry cannot be decoded (local corruption, not input). */
export class JournalCorrupt extends Data.TaggedError("JournalCorrupt")<{
  readonly index: number
  readonly problem: string
}> {
  override get message() {
    return `journal entry ${this.index} is corrupt: ${this.problem}`
  }
}

// Recently decoded votes by wire-bytes identity. A simulator hands the same bytes object
// to every recipient of a broadcast: decoding and verifying once serves all the engines
// of the process (decoded values are immutable, and the contract forbids mutating bytes
// after handing them over). A real node never hits; the bounded maps cost it one lookup
// and one insert per vote. Two generations of RECENT_VOTES_LIMIT entries: a broadcast's
// deliveries land within moments, so remembering a few hundred votes catches them all,
// and a short memory lets the decoded votes die young (cheap for the garbage collector).
const RECENT_VOTES_LIMIT = 512
let recentVotes = new Map<Uint8Array, DecodedVote>()
let olderVotes = new Map<Uint8Array, DecodedVote>()

interface DecodedVote extends VerifyMemo {
  readonly signatureLength: number
  readonly vote: Vote
}

const TIMER_VOTER = "voter"
const TIMER_RESOLVER = "resolver"
/** A timer's armed time when it is not armed (kept a number: the field stays unboxed). */
const NOT_ARMED = -1

export class Engine {
  private readonly out = new Outbox()
  private readonly signing: Signing
  private readonly voter: Voter
  private readonly resolver: Resolver
  /** When each timer is armed for (NOT_ARMED = not armed). */
  private voterArmed = NOT_ARMED
  private resolverArmed = NOT_ARMED
  private started = false
  private now = 0

  constructor(readonly config: EngineConfig) {
    const n = config.participants.length
    if (n === 0) throw new Error("an engine needs at least one participant")
    if (
      config.me !== undefined &&
      (config.me < 0 || config.me >= n || !Number.isInteger(config.me))
    )
      throw new Error(`participant index ${config.me} is outside 0..${n - 1}`)
    if ((config.me === undefined) !== (config.signer === undefined))
      throw new Error("a validator needs both `me` and `signer`; an observer neither")
    if (config.genesis.length !== DIGEST_LENGTH) throw new Error("genesis must be a 32-byte digest")
    if (config.certificationTimeoutMs <= config.leaderTimeoutMs)
      throw new Error("certification timeout must exceed the leader timeout")
    this.signing = new Signing(config.scheme, config.namespace, config.participants)
    this.voter = new Voter(config, this.signing, this.out)
    this.resolver = new Resolver(config, this.voter, this.out)
    this.voter.fetcher = this.resolver
  }

  /** The codec of this engine's scheme (for shells, mocks and tests). */
  get codec(): Codec {
    return this.signing.codec
  }

  get currentView(): View {
    return this.voter.currentView
  }

  get lastFinalized(): View {
    return this.voter.lastFinalized
  }

  /** Peers this engine has blocked. */
  get blocked(): ReadonlySet<number> {
    return this.out.blocked
  }

  /** Read-only view of a round's state (undefined once pruned or never seen). */
  round(view: View): ViewState | undefined {
    return this.voter.state(view)
  }

  /** Pending resolver fetches. */
  get fetches(): ReadonlyArray<{ view: View; kind: FetchKind }> {
    return this.resolver.pending
  }

  leaderOf(view: View): number {
    return this.voter.leaderOf(view)
  }

  replay(entries: ReadonlyArray<Uint8Array>): void {
    if (this.started) throw new Error("replay must happen before start")
    for (let i = 0; i < entries.length; i++) {
      const decoded = this.signing.codec.decodeJournalEntry(entries[i])
      if (Either.isLeft(decoded))
        throw new JournalCorrupt({ index: i, problem: decoded.left.message })
      this.voter.replayEntry(decoded.right)
    }
    this.out.discard()
  }

  start(nowMs: number): Output[] {
    if (this.started) throw new Error("engine already started")
    this.started = true
    this.now = nowMs
    this.voter.start(nowMs)
    return this.finish()
  }

  handle(input: Input, nowMs: number): Output[] {
    if (input._tag === "Message")
      return this.handleMessage(input.from, input.channel, input.bytes, nowMs)
    this.advanceClock(nowMs)
    switch (input._tag) {
      case "Timer":
        // The shell dropped the timer when it fired; arming the same time again must
        // produce a new SetTimer.
        if (input.id === TIMER_VOTER) this.voterArmed = NOT_ARMED
        else if (input.id === TIMER_RESOLVER) this.resolverArmed = NOT_ARMED
        break
      case "Proposed":
        this.voter.onProposed(input.view, input.digest)
        break
      case "Verified":
        this.voter.onVerified(input.view, input.digest, input.ok)
        break
      case "Certified":
        this.voter.onCertified(input.view, input.digest, input.ok)
        break
    }
    this.voter.afterInput()
    return this.finish()
  }

  /**
   * `handle` of a Message input, for shells that would otherwise build the Input object
   * only to hand it over (the simulator delivers hundreds of thousands).
   */
  handleMessage(from: number, channel: Channel, bytes: Uint8Array, nowMs: number): Output[] {
    this.advanceClock(nowMs)
    // A message that changed nothing (a duplicate certificate, a vote outside the window)
    // needs no follow-up: deadlines are re-checked when their timer fires.
    if (!this.onMessage(from, channel, bytes)) return NO_OUTPUTS
    this.voter.afterInput()
    return this.finish()
  }

  private advanceClock(nowMs: number): void {
    if (!this.started) throw new Error("engine not started")
    // The shell's clock must not run backwards; tolerate it rather than move deadlines back.
    if (nowMs > this.now) this.now = nowMs
    this.voter.now = this.now
  }

  /** Handles one message; false if it was dropped without any effect. */
  private onMessage(from: number, channel: Channel, bytes: Uint8Array): boolean {
    const blocked = this.out.blocked
    if ((blocked.size !== 0 && blocked.has(from)) || from === this.config.me) return false
    const codec = this.signing.codec
    switch (channel) {
      case "vote": {
        let decoded = recentVotes.get(bytes) ?? olderVotes.get(bytes)
        if (decoded === undefined || decoded.signatureLength !== codec.signatureLength) {
          const vote = codec.decodeVoteOrError(bytes)
          // By tag, not `instanceof`: the error class's prototype chain makes that a
          // generic (slow) lookup on a path every vote takes.
          if (vote._tag === "CodecError") {
            this.out.block(from, vote.message)
            return true
          }
          decoded = { signatureLength: codec.signatureLength, vote, key: undefined, ns: undefined }
          if (recentVotes.size >= RECENT_VOTES_LIMIT) {
            olderVotes = recentVotes
            recentVotes = new Map()
          }
          recentVotes.set(bytes, decoded)
        }
        this.voter.onVote(from, decoded.vote, decoded)
        return true
      }
      case "certificate": {
        // Every node rebroadcasts each certificate once: drop copies we already hold
        // before paying for a decode.
        const view = codec.peekCertificateView(bytes, this.config.epoch)
        if (view !== undefined) {
          const kind = certificateKind(bytes)
          if (kind !== undefined && this.voter.hasCertificate(kind, view)) return false
        }
        const cert = codec.decodeCertificate(bytes)
        if (Either.isLeft(cert)) this.out.block(from, cert.left.message)
        else this.voter.onCertificate(from, cert.right)
        return true
      }
      case "resolver": {
        const msg = codec.decodeResolver(bytes)
        if (Either.isLeft(msg)) this.out.block(from, msg.left.message)
        else this.resolver.onMessage(from, msg.right)
        return true
      }
    }
  }

  /** Arms, re-arms or cancels timer `id` (armed for `armed`) to fire at `at`; returns the new state. */
  private arm(id: string, armed: number, at: number | undefined): number {
    if (at === undefined) {
      if (armed !== NOT_ARMED) this.out.push({ _tag: "CancelTimer", id })
      return NOT_ARMED
    }
    if (armed !== at) this.out.push({ _tag: "SetTimer", id, atMs: at })
    return at
  }

  private finish(): Output[] {
    this.resolver.tick(this.now)
    this.voterArmed = this.arm(TIMER_VOTER, this.voterArmed, this.voter.nextDeadline())
    this.resolverArmed = this.arm(
      TIMER_RESOLVER,
      this.resolverArmed,
      this.resolver.nextDeadline(this.now),
    )
    return this.out.drain()
  }
}
