/**
 * The simulated application behind one node (spec §5 Automaton, Relay), with its block
 * format and the shared block relay.
 *
 * Blocks are `{parent digest, height, view, proposer, payload}` where the payload is random
 * bytes from the node's Prng; a block's digest is the SHA-256 of its encoding. Consensus
 * only sees digests; the bytes travel on the "broadcast" channel.
 *
 * Guarantees:
 * - propose builds a child of the context's parent (height = parent height + 1);
 * - verify is a stable verdict: it stays pending until the block bytes are held locally
 *   (asking peers for them), then answers true iff the block links to the context's parent,
 *   has the next height, and names the context's view and leader;
 * - certify answers the configured deterministic policy (default true);
 * - every answer arrives after a latency drawn from Normal(mean, sd) of that request kind;
 * - a block is held locally only after this node built or received it. The BlockRelay map
 *   is the simulator's bookkeeping of which bytes exist at all; nodes use it only to read
 *   the height of a certified parent (whose bytes exist), never to skip receiving a block.
 */
import { createHash } from "node:crypto"
import { Data, Either } from "effect"
import type { Input } from "../../domain/consensus/Engine.ts"
import { DigestMap, DigestSet } from "../../domain/consensus/DigestMap.ts"
import {
  type Context,
  type Digest,
  digestEquals,
  type Round,
} from "../../domain/consensus/Types.ts"
import type { Prng } from "./Prng.ts"
import type { Scheduler } from "./Scheduler.ts"

export interface Block {
  readonly parent: Digest
  readonly height: bigint
  readonly view: bigint
  readonly proposer: number
  readonly payload: Uint8Array
}

export class MalformedBlock extends Data.TaggedError("MalformedBlock")<{
  readonly length: number
  readonly problem: string
}> {
  override get message() {
    return `malformed block of ${this.length} bytes: ${this.problem}`
  }
}

const BLOCK_VERSION = 1
const HEADER = 1 + 32 + 8 + 8 + 4 + 4

export const encodeBlock = (b: Block): Uint8Array => {
  const out = Buffer.alloc(HEADER + b.payload.length)
  out[0] = BLOCK_VERSION
  out.set(b.parent, 1)
  out.writeBigUInt64BE(b.height, 33)
  out.writeBigUInt64BE(b.view, 41)
  out.writeUInt32BE(b.proposer, 49)
  out.writeUInt32BE(b.payload.length, 53)
  out.set(b.payload, HEADER)
  return new Uint8Array(out.buffer, out.byteOffset, out.length)
}

export const decodeBlock = (bytes: Uint8Array): Either.Either<Block, MalformedBlock> => {
  const fail = (problem: string) =>
    Either.left(new MalformedBlock({ length: bytes.length, problem }))
  if (bytes.length < HEADER) return fail("shorter than the header")
  if (bytes[0] !== BLOCK_VERSION) return fail(`unknown version ${bytes[0]}`)
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length)
  const len = buf.readUInt32BE(53)
  if (HEADER + len !== bytes.length) return fail(`payload length ${len} does not match`)
  return Either.right({
    parent: bytes.slice(1, 33),
    height: buf.readBigUInt64BE(33),
    view: buf.readBigUInt64BE(41),
    proposer: buf.readUInt32BE(49),
    payload: bytes.slice(HEADER),
  })
}

export const blockDigest = (bytes: Uint8Array): Digest =>
  new Uint8Array(createHash("sha256").update(bytes).digest())

export interface StoredBlock {
  readonly digest: Digest
  readonly block: Block
  readonly bytes: Uint8Array
}

/** Every block that exists in the run, by digest (the genesis has height 0 and no bytes). */
export class BlockRelay {
  private readonly blocks = new DigestMap<StoredBlock>()
  private readonly frames = new WeakMap<Uint8Array, StoredBlock>()

  constructor(readonly genesis: Digest) {
    const block: Block = {
      parent: new Uint8Array(32),
      height: 0n,
      view: 0n,
      proposer: 0,
      payload: new Uint8Array(0),
    }
    this.blocks.set(genesis, { digest: genesis, block, bytes: new Uint8Array(0) })
  }

  put(bytes: Uint8Array): StoredBlock | undefined {
    const decoded = decodeBlock(bytes)
    if (Either.isLeft(decoded)) return undefined
    const digest = blockDigest(bytes)
    const known = this.blocks.get(digest)
    if (known !== undefined) return known
    const stored = { digest, block: decoded.right, bytes }
    this.blocks.set(digest, stored)
    return stored
  }

  /**
   * `put` for block bytes received in a broadcast frame. The simulated network hands the
   * same frame object to every recipient, so decoding and hashing happen once per frame.
   */
  putFrame(frame: Uint8Array, body: Uint8Array): StoredBlock | undefined {
    const known = this.frames.get(frame)
    if (known !== undefined) return known
    const stored = this.put(body)
    if (stored !== undefined) this.frames.set(frame, stored)
    return stored
  }

  get(digest: Digest): StoredBlock | undefined {
    return this.blocks.get(digest)
  }

  /**
   * A copy-free stand-in for `digest.slice()` for long-lived records: the stored block's
   * own digest when the block exists (equal bytes, never mutated), else a copy. Keeps
   * records from pinning message buffers without a new array per record.
   */
  canonical(digest: Digest): Digest {
    return this.blocks.get(digest)?.digest ?? digest.slice()
  }

  /**
   * A broadcast frame carrying a stored block's bytes, registered so that recipients'
   * `putFrame` finds the block without decoding and hashing the bytes again.
   */
  frameOf(stored: StoredBlock): Uint8Array {
    const f = blockMessage(stored.bytes)
    this.frames.set(f, stored)
    return f
  }

  get size(): number {
    return this.blocks.size
  }
}

export interface Latency {
  readonly meanMs: number
  readonly sdMs: number
}

export interface AppOptions {
  readonly propose: Latency
  readonly verify: Latency
  readonly certify: Latency
  /** Random payload bytes per block. */
  readonly payloadBytes: number
  /** Deterministic certify verdict (must agree on every honest node). */
  readonly certifyPolicy: (round: Round, digest: Digest) => boolean
  /** Interval between requests for a missing block. */
  readonly fetchRetryMs: number
}

export const DEFAULT_APP: AppOptions = {
  propose: { meanMs: 10, sdMs: 5 },
  verify: { meanMs: 10, sdMs: 5 },
  certify: { meanMs: 10, sdMs: 5 },
  payloadBytes: 32,
  certifyPolicy: () => true,
  fetchRetryMs: 500,
}

const MSG_BLOCK = 0
const MSG_WANT = 1

/** What the app needs from its node shell. */
export interface AppHost {
  readonly scheduler: Scheduler
  readonly prng: Prng
  readonly relay: BlockRelay
  /** Our identity (for the blocks we build). */
  readonly identity: number
  /** Number of participants (peers to ask for missing blocks). */
  readonly peers: number
  /** False once the incarnation that issued a request crashed. */
  alive(incarnation: number): boolean
  /** Feeds an answer to the engine (dropped if the incarnation is gone). */
  answer(incarnation: number, input: Input): void
  send(to: ReadonlyArray<number> | "all", bytes: Uint8Array): void
  /** A block became locally available. */
  onBlock(stored: StoredBlock): void
}

export class MockApp {
  /** Every block held locally (survives crashes: blocks are on disk). */
  private readonly held = new DigestSet()
  private readonly waiting = new DigestMap<Array<() => void>>()
  private readonly wanted = new DigestMap<number>()
  blocksBuilt = 0

  constructor(
    private readonly host: AppHost,
    readonly options: AppOptions,
  ) {
    this.held.add(host.relay.genesis)
  }

  has(digest: Digest): boolean {
    return this.held.has(digest)
  }

  private delay(l: Latency): number {
    return this.host.prng.latency(l.meanMs, l.sdMs)
  }

  propose(incarnation: number, context: Context): void {
    const host = this.host
    host.scheduler.after(this.delay(this.options.propose), () => {
      if (!host.alive(incarnation)) return
      const parent = host.relay.get(context.parent.digest)
      if (parent === undefined) {
        // The engine only builds on certified parents, whose bytes exist somewhere.
        host.answer(incarnation, { _tag: "Proposed", view: context.round.view, digest: undefined })
        return
      }
      const bytes = encodeBlock({
        parent: context.parent.digest,
        height: parent.block.height + 1n,
        view: context.round.view,
        proposer: context.leader,
        payload: host.prng.bytes(this.options.payloadBytes),
      })
      const stored = host.relay.put(bytes)
      if (stored === undefined) throw new Error("invariant: a freshly built block does not decode")
      this.blocksBuilt++
      this.hold(stored)
      host.answer(incarnation, {
        _tag: "Proposed",
        view: context.round.view,
        digest: stored.digest,
      })
    })
  }

  /** Relay plan Propose: broadcast the block bytes to everyone. */
  relay(digest: Digest): void {
    const stored = this.host.relay.get(digest)
    if (stored === undefined || !this.has(digest)) return
    this.host.send("all", this.host.relay.frameOf(stored))
  }

  verify(incarnation: number, context: Context, digest: Digest): void {
    const host = this.host
    this.whenHeld(digest, context.leader, incarnation, () => {
      host.scheduler.after(this.delay(this.options.verify), () => {
        if (!host.alive(incarnation)) return
        const stored = host.relay.get(digest)
        const parent = host.relay.get(context.parent.digest)
        const b = stored?.block
        const ok =
          b !== undefined &&
          parent !== undefined &&
          digestEquals(b.parent, context.parent.digest) &&
          b.height === parent.block.height + 1n &&
          b.view === context.round.view &&
          b.proposer === context.leader
        host.answer(incarnation, { _tag: "Verified", view: context.round.view, digest, ok })
      })
    })
  }

  certify(incarnation: number, round: Round, digest: Digest): void {
    const host = this.host
    host.scheduler.after(this.delay(this.options.certify), () => {
      if (!host.alive(incarnation)) return
      const ok = this.options.certifyPolicy(round, digest)
      host.answer(incarnation, { _tag: "Certified", view: round.view, digest, ok })
    })
  }

  /** Runs `then` once the block is held, asking `hint` first and then everyone for it. */
  whenHeld(digest: Digest, hint: number | undefined, incarnation: number, then: () => void): void {
    if (this.held.has(digest)) {
      then()
      return
    }
    let list = this.waiting.get(digest)
    if (list === undefined) {
      list = []
      this.waiting.set(digest, list)
    }
    list.push(then)
    this.want(digest, hint, incarnation)
  }

  /** Asks peers for a block until it arrives (or the incarnation ends). */
  want(digest: Digest, hint: number | undefined, incarnation: number): void {
    if (this.held.has(digest) || this.wanted.get(digest) === incarnation) return
    this.wanted.set(digest, incarnation)
    const host = this.host
    let attempt = 0
    const ask = () => {
      if (
        !host.alive(incarnation) ||
        this.held.has(digest) ||
        this.wanted.get(digest) !== incarnation
      )
        return
      // The first ask goes to the hint (the proposer) after a grace period for the relay
      // broadcast already on its way; later asks go to everyone.
      if (attempt === 0 && hint !== undefined && hint !== host.identity)
        host.send([hint], frame(MSG_WANT, digest))
      else host.send("all", frame(MSG_WANT, digest))
      attempt++
      host.scheduler.after(this.options.fetchRetryMs, ask)
    }
    host.scheduler.after(this.options.fetchRetryMs, ask)
  }

  /** A message on the broadcast channel. Malformed messages are ignored. */
  onMessage(from: number, bytes: Uint8Array): void {
    if (bytes.length === 0) return
    const body = bytes.subarray(1)
    if (bytes[0] === MSG_BLOCK) {
      const stored = this.host.relay.putFrame(bytes, body)
      if (stored !== undefined) this.hold(stored)
    } else if (bytes[0] === MSG_WANT && body.length === 32) {
      const stored = this.host.relay.get(body)
      if (stored !== undefined && this.has(body) && stored.bytes.length > 0)
        this.host.send([from], this.host.relay.frameOf(stored))
    }
  }

  /** Holds a block obtained out of band (a joiner's state sync). */
  adopt(stored: StoredBlock): void {
    this.hold(stored)
  }

  /** A crash forgets outstanding requests (held blocks are durable). */
  reset(): void {
    this.waiting.clear()
    this.wanted.clear()
  }

  private hold(stored: StoredBlock): void {
    const digest = stored.digest
    if (this.held.has(digest)) return
    this.held.add(digest)
    this.wanted.delete(digest)
    this.host.onBlock(stored)
    const list = this.waiting.get(digest)
    if (list !== undefined) {
      this.waiting.delete(digest)
      for (const f of list) f()
    }
  }
}

/** A broadcast-channel message carrying block bytes (what a relay sends). */
export const blockMessage = (bytes: Uint8Array): Uint8Array => frame(MSG_BLOCK, bytes)

const frame = (tag: number, body: Uint8Array): Uint8Array => {
  const out = new Uint8Array(1 + body.length)
  out[0] = tag
  out.set(body, 1)
  return out
}
