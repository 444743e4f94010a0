/**
 * The simulator shell of one node: it owns an Engine and performs its outputs against the
 * simulated world (network, disk, timers, mock application, reporter, marshal).
 *
 * Guarantees:
 * - outputs of one engine step are performed in order; the journal is made durable before
 *   any Send of the same step. With `syncLatencyMs > 0` the Sync takes simulated time and
 *   everything after it in that step waits for it; inputs arriving meanwhile queue in a
 *   mailbox and run afterwards in arrival order (one event loop per node);
 * - a crash drops the engine, its timers, its mailbox and every in-flight application
 *   request (answers of an old incarnation are discarded), loses unsynced appends, and
 *   forgets blocked peers; a restart builds a new Engine, replays the durable journal and
 *   starts it;
 * - every Report and BlockPeer reaches the node's RecordingReporter, and those of honest
 *   nodes also reach the SafetyMonitor; finalizations and held blocks drive the node's Marshal,
 *   which delivers finalized blocks in height order (missing ones are fetched from peers).
 */
import {
  type Activity,
  Engine,
  type EngineConfig,
  type Input,
  type Output,
} from "../../domain/consensus/Engine.ts"
import {
  type Digest,
  digestEquals,
  digestHex,
  type Finalization,
} from "../../domain/consensus/Types.ts"
import { ForkBelowFinality, Marshal, type MarshalStep } from "../../domain/consensus/Marshal.ts"
import type { SafetyMonitor } from "./Invariants.ts"
import { type AppOptions, type BlockRelay, MockApp, type StoredBlock } from "./MockApp.ts"
import type { Prng } from "./Prng.ts"
import { RecordingReporter } from "./Reporter.ts"
import type { RearmableEvent, Scheduler } from "./Scheduler.ts"
import type { CrashMode, SimDisk } from "./SimDisk.ts"
import type { SimChannel, SimNetwork } from "./SimNetwork.ts"
import { EventKind, type Transcript } from "./Transcript.ts"

/** The shared world every node of a run lives in. */
export interface World {
  readonly scheduler: Scheduler
  readonly network: SimNetwork
  readonly transcript: Transcript
  readonly relay: BlockRelay
  readonly monitor: SafetyMonitor
  /**
   * Finalizations reported so far by any node, and a hook run after each one (lets a run
   * stop on progress without a predicate per event).
   */
  readonly progress: { finalizations: number; onFinalization: (() => void) | undefined }
}

export interface NodeOptions {
  readonly identity: number
  readonly config: EngineConfig
  readonly app: AppOptions
  /** Simulated fsync duration; 0 = instant. */
  readonly syncLatencyMs: number
  readonly crashMode: CrashMode
  /** Honest nodes feed the safety monitor; Byzantine ones (e.g. twins) do not. */
  readonly honest: boolean
  readonly prng: Prng
}

const APP_KIND = { Propose: 0, Verify: 1, Certify: 2, Proposed: 3, Verified: 4, Certified: 5 }

export class SimNode {
  readonly identity: number
  readonly endpoint: number
  readonly app: MockApp
  readonly reporter: RecordingReporter
  private marshal: Marshal
  /** The block the marshal is waiting for, if any. */
  private marshalWaiting: Digest | undefined = undefined
  private config: EngineConfig
  engine: Engine | undefined = undefined
  /** Increments on every crash; work of an older incarnation is discarded. */
  incarnation = 0
  /** Messages this node's engine sent, per channel (one per Send output). */
  readonly sends = { vote: 0, certificate: 0, resolver: 0 }
  /** This incarnation's engine timers, by id (armed while they hold a scheduler slot). */
  private readonly timers = new Map<string, NodeTimer>()
  private mailbox: Input[] = []
  private mailboxHead = 0
  /** Most inputs ever waiting at once behind a slow sync (how hard a burst pressed). */
  mailboxPeak = 0
  private busy = false
  private readonly receiver: (from: number, channel: SimChannel, bytes: Uint8Array) => void

  constructor(
    private readonly world: World,
    readonly options: NodeOptions,
    readonly disk: SimDisk,
  ) {
    this.identity = options.identity
    this.config = options.config
    this.reporter = new RecordingReporter(options.identity, options.config.participants.length)
    this.app = new MockApp(
      {
        scheduler: world.scheduler,
        prng: options.prng,
        relay: world.relay,
        identity: options.identity,
        peers: options.config.participants.length,
        alive: (inc) => inc === this.incarnation && this.engine !== undefined,
        answer: (inc, input) => this.answer(inc, input),
        send: (to, bytes) => world.network.send(this.endpoint, "broadcast", to, bytes),
        onBlock: (stored) => this.onBlock(stored),
      },
      options.app,
    )
    this.marshal = new Marshal({ height: 0n, digest: options.config.genesis })
    this.receiver = (from, channel, bytes) => this.receive(from, channel, bytes)
    this.endpoint = world.network.attach(options.identity, undefined)
  }

  /**
   * Makes a node that has never run join from a finalized floor (state sync): its engine
   * starts at the floor and its marshal at the floor's block, which it is given.
   */
  joinFrom(floor: Finalization): void {
    if (this.engine !== undefined || this.disk.size > 0)
      throw new Error(`node ${this.identity} already ran; a floor is for joiners`)
    const stored = this.world.relay.get(floor.proposal.payload)
    if (stored === undefined) throw new Error("the floor's block is unknown")
    this.config = { ...this.config, floor }
    this.app.adopt(stored)
    this.marshal = new Marshal({ height: stored.block.height, digest: stored.digest })
  }

  /** Height of the last block this node's marshal delivered. */
  get deliveredHeight(): bigint {
    return this.marshal.delivered.height
  }

  get up(): boolean {
    return this.engine !== undefined
  }

  get lastFinalized(): bigint {
    return this.reporter.lastFinalized
  }

  /** Boots (or reboots) the node: new engine, journal replay, start. */
  start(): void {
    if (this.engine !== undefined) throw new Error(`node ${this.identity} is already up`)
    const w = this.world
    const now = w.scheduler.now
    const engine = new Engine(this.config)
    engine.replay(this.disk.entries())
    this.engine = engine
    this.busy = false
    this.mailbox = []
    this.mailboxHead = 0
    w.network.setReceiver(this.endpoint, this.receiver)
    const t = w.transcript
    t.begin(EventKind.Restart, now).u32(this.endpoint).u32(this.disk.size)
    if (t.tracing)
      t.line(
        `${now.toFixed(3)} start node ${this.identity}@${this.endpoint} (journal ${this.disk.size})`,
      )
    // A restarted process rebuilds its marshal from the applied height; finalizations it
    // learns from now on pull the chain forward, reading blocks from its disk.
    this.marshal = new Marshal(this.marshal.delivered)
    this.marshalWaiting = undefined
    this.perform(engine.start(now), 0)
  }

  /** Kills the node: engine, timers, mailbox and in-flight work are gone; storage stays. */
  crash(): void {
    if (this.engine === undefined) return
    const w = this.world
    const now = w.scheduler.now
    this.incarnation++
    this.engine = undefined
    for (const ev of this.timers.values()) w.scheduler.cancel(ev)
    this.timers.clear()
    this.mailbox = []
    this.mailboxHead = 0
    this.busy = false
    const pending = this.disk.pendingCount
    this.disk.crash(this.options.crashMode, this.options.prng)
    this.app.reset()
    w.network.setReceiver(this.endpoint, undefined)
    w.network.clearBlocks(this.endpoint)
    const t = w.transcript
    t.begin(EventKind.Crash, now).u32(this.endpoint).u32(pending)
    if (t.tracing)
      t.line(`${now.toFixed(3)} crash node ${this.identity}@${this.endpoint} (pending ${pending})`)
  }

  restart(): void {
    this.crash()
    this.start()
  }

  private receive(from: number, channel: SimChannel, bytes: Uint8Array): void {
    if (channel === "broadcast") {
      if (this.engine !== undefined) this.app.onMessage(from, bytes)
      return
    }
    const engine = this.engine
    if (engine === undefined) return
    if (this.busy) {
      this.enqueue({ _tag: "Message", from, channel, bytes })
      return
    }
    // `input` without building an Input object (the hottest path of a run).
    this.perform(engine.handleMessage(from, channel, bytes, this.world.scheduler.now), 0)
    if (!this.busy && this.mailboxHead < this.mailbox.length) this.drain()
  }

  private answer(incarnation: number, input: Input): void {
    if (incarnation !== this.incarnation || this.engine === undefined) return
    const t = this.world.transcript
    const now = this.world.scheduler.now
    t.beginAt(EventKind.AppAnswer, this.world.scheduler)
      .u32(this.endpoint)
      .u8(
        input._tag === "Proposed"
          ? APP_KIND.Proposed
          : input._tag === "Verified"
            ? APP_KIND.Verified
            : APP_KIND.Certified,
      )
    if (input._tag === "Proposed") {
      t.uint(input.view)
      t.bytes(input.digest ?? new Uint8Array(0))
    } else if (input._tag === "Verified" || input._tag === "Certified") {
      t.uint(input.view)
        .bytes(input.digest)
        .u8(input.ok ? 1 : 0)
    }
    if (t.tracing) t.line(`${now.toFixed(3)} app ${this.identity} ${describeInput(input)}`)
    this.input(input)
  }

  /** Feeds one input to the engine (queued while a sync is in flight). */
  input(input: Input): void {
    const engine = this.engine
    if (engine === undefined) return
    if (this.busy) {
      this.enqueue(input)
      return
    }
    this.perform(engine.handle(input, this.world.scheduler.now), 0)
    if (!this.busy && this.mailboxHead < this.mailbox.length) this.drain()
  }

  private enqueue(input: Input): void {
    this.mailbox.push(input)
    const waiting = this.mailbox.length - this.mailboxHead
    if (waiting > this.mailboxPeak) this.mailboxPeak = waiting
  }

  private drain(): void {
    while (!this.busy && this.engine !== undefined && this.mailboxHead < this.mailbox.length) {
      const next = this.mailbox[this.mailboxHead++]
      this.perform(this.engine.handle(next, this.world.scheduler.now), 0)
    }
    if (this.mailboxHead >= this.mailbox.length) {
      this.mailbox = []
      this.mailboxHead = 0
    }
  }

  private perform(outs: Output[], from: number): void {
    const w = this.world
    for (let i = from; i < outs.length; i++) {
      const o = outs[i]
      switch (o._tag) {
        case "Append":
          this.disk.append(o.view, o.entry)
          break
        case "Sync":
          if (this.options.syncLatencyMs <= 0) {
            this.disk.sync()
            break
          }
          this.slowSync(outs, i + 1)
          return
        case "Prune":
          this.disk.prune(o.belowView)
          break
        case "Send":
          this.sends[o.channel]++
          w.network.send(this.endpoint, o.channel, o.to, o.bytes)
          break
        case "SetTimer":
          this.setTimer(o.id, o.atMs)
          break
        case "CancelTimer": {
          const timer = this.timers.get(o.id)
          if (timer !== undefined) w.scheduler.disarm(timer)
          break
        }
        case "Propose":
          this.appRequest(APP_KIND.Propose, o.context.round.view)
          this.app.propose(this.incarnation, o.context)
          break
        case "Verify":
          this.appRequest(APP_KIND.Verify, o.context.round.view)
          this.app.verify(this.incarnation, o.context, o.digest)
          break
        case "Certify":
          this.appRequest(APP_KIND.Certify, o.round.view)
          this.app.certify(this.incarnation, o.round, o.digest)
          break
        case "Relay":
          this.app.relay(o.digest)
          break
        case "Report":
          this.report(o.activity)
          break
        case "BlockPeer":
          this.blockPeer(o.peer, o.reason)
          break
      }
    }
  }

  /**
   * A Sync that takes simulated time: the rest of the step (from `resume`) and any queued
   * input wait for it. Kept out of `perform` so its loop captures nothing in a closure.
   */
  private slowSync(outs: Output[], resume: number): void {
    this.busy = true
    const inc = this.incarnation
    this.world.scheduler.after(this.options.syncLatencyMs, () => {
      if (inc !== this.incarnation || this.engine === undefined) return
      this.disk.sync()
      this.busy = false
      this.perform(outs, resume)
      this.drain()
    })
  }

  private appRequest(kind: number, view: bigint): void {
    const t = this.world.transcript
    const now = this.world.scheduler.now
    t.beginAt(EventKind.AppRequest, this.world.scheduler).u32(this.endpoint).u8(kind).uint(view)
    if (t.tracing)
      t.line(
        `${now.toFixed(3)} node ${this.identity} asks app ${["propose", "verify", "certify"][kind]} view ${view}`,
      )
  }

  private setTimer(id: string, atMs: number): void {
    // One event object per timer id, re-armed in place (no closure per SetTimer).
    let timer = this.timers.get(id)
    if (timer === undefined) {
      timer = new NodeTimer(this, id)
      this.timers.set(id, timer)
    }
    this.world.scheduler.rearm(atMs, timer)
  }

  /** @internal a live timer entry came due (see NodeTimer). */
  fireTimer(timer: NodeTimer): void {
    const w = this.world
    const id = timer.id
    const t = w.transcript
    const now = w.scheduler.now
    t.beginAt(EventKind.Timer, w.scheduler).u32(this.endpoint).str(id)
    if (t.tracing) t.line(`${now.toFixed(3)} timer ${id} fires on node ${this.identity}`)
    this.input({ _tag: "Timer", id })
  }

  private report(activity: Activity): void {
    const w = this.world
    const now = w.scheduler.now
    this.reporter.record(activity, now)
    if (this.options.honest) w.monitor.observe(this.identity, activity)
    if (activity._tag === "Finalization") {
      w.progress.finalizations++
      w.progress.onFinalization?.()
      const t = w.transcript
      const view = activity.proposal.round.view
      t.beginAt(EventKind.Finalized, w.scheduler)
        .u32(this.endpoint)
        .uint(view)
        .bytes(activity.proposal.payload)
      if (t.tracing)
        t.line(
          `${now.toFixed(3)} node ${this.identity} finalized view ${view} ${digestHex(activity.proposal.payload).slice(0, 12)}`,
        )
      this.marshalRun({ view, digest: activity.proposal.payload }, undefined)
    } else if (w.transcript.tracing) {
      w.transcript.line(
        `${now.toFixed(3)} node ${this.identity} reports ${describeActivity(activity)}`,
      )
    }
  }

  private blockPeer(peer: number, reason: string): void {
    const w = this.world
    const now = w.scheduler.now
    w.network.block(this.endpoint, peer)
    this.reporter.recordBlock(peer, reason, now)
    if (this.options.honest) w.monitor.observeBlock(this.identity, peer, reason)
    const t = w.transcript
    t.begin(EventKind.Fault, now).u32(this.endpoint).u32(peer).str(reason)
    if (t.tracing) t.line(`${now.toFixed(3)} node ${this.identity} blocks ${peer}: ${reason}`)
  }

  private onBlock(stored: StoredBlock): void {
    const w = this.world
    const t = w.transcript
    const now = w.scheduler.now
    t.beginAt(EventKind.Block, w.scheduler).u32(this.endpoint).bytes(stored.digest)
    if (t.tracing)
      t.line(
        `${now.toFixed(3)} node ${this.identity} holds block ${digestHex(stored.digest).slice(0, 12)} h=${stored.block.height}`,
      )
    const waiting = this.marshalWaiting
    if (waiting !== undefined && digestEquals(waiting, stored.digest)) this.marshalBlock(stored)
  }

  private marshalBlock(stored: StoredBlock): void {
    this.marshalRun(undefined, stored)
  }

  /**
   * Runs a marshal step (a finalization, or a block it asked for) and keeps feeding it the
   * blocks it asks for while this node holds them (blocks are handed over on demand, not
   * as they arrive); a block not held yet is requested from peers and fed on arrival.
   */
  private marshalRun(
    finalized: { readonly view: bigint; readonly digest: Digest } | undefined,
    block: StoredBlock | undefined,
  ): void {
    let next = block
    for (let first = true; ; first = false) {
      let result: MarshalStep
      try {
        if (first && finalized !== undefined)
          result = this.marshal.finalized(finalized.view, finalized.digest)
        else if (next !== undefined) {
          const b = next.block
          result = this.marshal.block({ digest: next.digest, parent: b.parent, height: b.height })
        } else return
      } catch (e) {
        if (!(e instanceof ForkBelowFinality)) throw e
        this.world.monitor.violation(`node ${this.identity}: ${e.message}`)
        return
      }
      for (const ref of result.deliver) this.onDeliver(ref.height, ref.digest)
      const missing = result.missing
      this.marshalWaiting = missing
      if (missing === undefined) return
      next = this.world.relay.get(missing)
      if (next === undefined || next.block.height === 0n || !this.app.has(missing)) {
        if (this.engine !== undefined) this.app.want(missing, undefined, this.incarnation)
        return
      }
    }
  }

  private onDeliver(height: bigint, digest: Digest): void {
    const w = this.world
    const now = w.scheduler.now
    this.reporter.recordDelivery(height)
    if (this.options.honest) w.monitor.observeDelivery(this.identity, height, digest)
    const t = w.transcript
    t.beginAt(EventKind.Delivered, w.scheduler).u32(this.endpoint).uint(height).bytes(digest)
    if (t.tracing)
      t.line(
        `${now.toFixed(3)} node ${this.identity} delivers h=${height} ${digestHex(digest).slice(0, 12)}`,
      )
  }
}

/** An engine timer of one node incarnation (a crash cancels it for good). */
class NodeTimer implements RearmableEvent {
  cancelled = false
  slot = -1
  constructor(
    private readonly node: SimNode,
    readonly id: string,
  ) {}
  run(): void {
    this.node.fireTimer(this)
  }
}

const describeInput = (input: Input): string => {
  switch (input._tag) {
    case "Proposed":
      return `proposed view ${input.view} ${input.digest === undefined ? "(declined)" : digestHex(input.digest).slice(0, 12)}`
    case "Verified":
      return `verified view ${input.view} ${input.ok}`
    case "Certified":
      return `certified view ${input.view} ${input.ok}`
    case "Timer":
      return `timer ${input.id}`
    case "Message":
      return `message ${input.channel} from ${input.from}`
  }
}

const describeActivity = (a: Activity): string => {
  switch (a._tag) {
    case "Notarize":
    case "Finalize":
      return `${a._tag} v${a.proposal.round.view} by ${a.attestation.signer}`
    case "Nullify":
      return `Nullify v${a.round.view} by ${a.attestation.signer}`
    case "Notarization":
    case "Finalization":
      return `${a._tag} v${a.proposal.round.view} (${a.certificate.signers.indices.length} signers)`
    case "Nullification":
      return `Nullification v${a.round.view} (${a.certificate.signers.indices.length} signers)`
    case "Certification":
      return `Certification v${a.round.view} ${a.ok}`
    case "ConflictingNotarize":
    case "ConflictingFinalize":
      return `${a._tag} by ${a.first.attestation.signer}`
    case "NullifyFinalize":
      return `NullifyFinalize by ${a.nullify.attestation.signer}`
    case "InvalidSignature":
      return `InvalidSignature from ${a.peer} on ${a.channel}`
  }
}
