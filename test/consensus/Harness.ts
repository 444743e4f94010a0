/**
 * A tiny synchronous cluster for engine tests: n engines, a FIFO of messages delivered
 * instantly, a virtual clock advanced to the next timer when nothing else is pending, an
 * application that answers propose/verify/certify immediately (overridable), and an
 * in-memory journal per node that keeps only synced appends.
 * (The deterministic simulator with latency, loss and faults lives in test/sim.)
 */
import { createHash } from "node:crypto"
import {
  type Activity,
  type Channel,
  Engine,
  type EngineConfig,
  type Input,
  type Output,
} from "../../src/domain/consensus/Engine.ts"
import { type Scheme, SimScheme, type Signer } from "../../src/domain/consensus/Scheme.ts"
import type { Context, Digest, Round, View } from "../../src/domain/consensus/Types.ts"

export const NAMESPACE = new TextEncoder().encode("guts-test")
export const GENESIS = new Uint8Array(32).fill(7)

export const seedOf = (i: number): Uint8Array =>
  createHash("sha256").update(`validator-${i}`).digest()

export const keys = (scheme: Scheme, n: number): Signer[] =>
  Array.from({ length: n }, (_, i) => scheme.signerFromSeed(seedOf(i)))

export const digestOf = (text: string): Digest =>
  new Uint8Array(createHash("sha256").update(text).digest())

export const baseConfig = (
  scheme: Scheme,
  signers: ReadonlyArray<Signer>,
  me: number | undefined,
  overrides: Partial<EngineConfig> = {},
): EngineConfig => ({
  epoch: 333n,
  namespace: NAMESPACE,
  participants: signers.map((s) => s.publicKey),
  me,
  signer: me === undefined ? undefined : signers[me],
  scheme,
  genesis: GENESIS,
  leaderTimeoutMs: 1000,
  certificationTimeoutMs: 2000,
  timeoutRetryMs: 5000,
  skipTimeoutMs: 10_000,
  viewRetention: 10n,
  fetchTimeoutMs: 1000,
  ...overrides,
})

export interface App {
  /** undefined = decline / drop. */
  propose(node: number, context: Context): Digest | undefined | "hold"
  verify(node: number, context: Context, digest: Digest): boolean | "hold"
  certify(node: number, round: Round, digest: Digest): boolean | "hold"
}

export const honestApp: App = {
  propose: (_node, ctx) =>
    digestOf(`block ${ctx.round.view} on ${Buffer.from(ctx.parent.digest).toString("hex")}`),
  verify: () => true,
  certify: () => true,
}

interface Queued {
  readonly node: number
  readonly input: Input
}

export class Cluster {
  readonly engines: (Engine | undefined)[]
  readonly journals: Uint8Array[][]
  readonly reports: Activity[][]
  readonly outputs: Output[][]
  readonly timers: Map<string, number>[]
  /** Links that drop everything: `${from}>${to}`. */
  readonly cut = new Set<string>()
  now = 0
  private queue: Queued[] = []
  private head = 0
  /** Keep every output per node (tests that inspect ordering turn this on). */
  recordOutputs = false
  private readonly configs: EngineConfig[]

  constructor(
    readonly n: number,
    readonly scheme: Scheme = new SimScheme(),
    public app: App = honestApp,
    overrides: Partial<EngineConfig> = {},
    readonly offline: ReadonlySet<number> = new Set(),
  ) {
    const signers = keys(scheme, n)
    this.configs = Array.from({ length: n }, (_, i) => baseConfig(scheme, signers, i, overrides))
    this.engines = new Array(n).fill(undefined)
    this.journals = Array.from({ length: n }, () => [])
    this.reports = Array.from({ length: n }, () => [])
    this.outputs = Array.from({ length: n }, () => [])
    this.timers = Array.from({ length: n }, () => new Map())
  }

  start(): this {
    for (let i = 0; i < this.n; i++) if (!this.offline.has(i)) this.boot(i)
    return this
  }

  /** (Re)starts node i from its journal. */
  boot(i: number): Engine {
    const e = new Engine(this.configs[i])
    e.replay(this.journals[i])
    this.engines[i] = e
    this.timers[i].clear()
    this.apply(i, e.start(this.now))
    return e
  }

  crash(i: number): void {
    this.engines[i] = undefined
    this.timers[i].clear()
    this.queue = this.queue.slice(this.head).filter((q) => q.node !== i)
    this.head = 0
  }

  inject(node: number, input: Input): void {
    this.queue.push({ node, input })
  }

  private apply(i: number, outs: Output[]): void {
    let synced = true
    const pending: Uint8Array[] = []
    for (const o of outs) {
      if (this.recordOutputs) this.outputs[i].push(o)
      switch (o._tag) {
        case "Append":
          pending.push(o.entry)
          synced = false
          break
        case "Sync":
          this.journals[i].push(...pending)
          pending.length = 0
          synced = true
          break
        case "Send": {
          if (!synced) throw new Error("send before sync")
          if (o.to === "all") {
            for (let j = 0; j < this.n; j++) if (j !== i) this.deliver(i, j, o.channel, o.bytes)
          } else for (const j of o.to) this.deliver(i, j, o.channel, o.bytes)
          break
        }
        case "SetTimer":
          this.timers[i].set(o.id, o.atMs)
          break
        case "CancelTimer":
          this.timers[i].delete(o.id)
          break
        case "Report":
          this.reports[i].push(o.activity)
          break
        case "Propose": {
          const d = this.app.propose(i, o.context)
          if (d !== "hold")
            this.inject(i, { _tag: "Proposed", view: o.context.round.view, digest: d })
          break
        }
        case "Verify": {
          const ok = this.app.verify(i, o.context, o.digest)
          if (ok !== "hold")
            this.inject(i, { _tag: "Verified", view: o.context.round.view, digest: o.digest, ok })
          break
        }
        case "Certify": {
          const ok = this.app.certify(i, o.round, o.digest)
          if (ok !== "hold")
            this.inject(i, { _tag: "Certified", view: o.round.view, digest: o.digest, ok })
          break
        }
        default:
          break
      }
    }
  }

  private deliver(from: number, to: number, channel: Channel, bytes: Uint8Array): void {
    if (this.cut.has(`${from}>${to}`) || this.engines[to] === undefined) return
    this.queue.push({ node: to, input: { _tag: "Message", from, channel, bytes } })
  }

  /** Processes queued inputs, advancing time to timers when idle, until `until` holds. */
  run(until: () => boolean, maxSteps = 200_000, maxTimeMs = 600_000): void {
    for (let step = 0; step < maxSteps; step++) {
      if (until()) return
      const next = this.queue[this.head]
      if (next !== undefined) {
        this.head++
        if (this.head > 4096 && this.head * 2 > this.queue.length) {
          this.queue = this.queue.slice(this.head)
          this.head = 0
        }
        const e = this.engines[next.node]
        if (e !== undefined) this.apply(next.node, e.handle(next.input, this.now))
        continue
      }
      let best: { node: number; id: string; at: number } | undefined
      for (let i = 0; i < this.n; i++)
        for (const [id, at] of this.timers[i])
          if (best === undefined || at < best.at) best = { node: i, id, at }
      if (best === undefined || best.at > maxTimeMs) return
      this.now = Math.max(this.now, best.at)
      this.timers[best.node].delete(best.id)
      const e = this.engines[best.node]
      if (e !== undefined) this.apply(best.node, e.handle({ _tag: "Timer", id: best.id }, this.now))
    }
  }

  engine(i: number): Engine {
    const e = this.engines[i]
    if (e === undefined) throw new Error(`node ${i} is down`)
    return e
  }

  finalizedViews(i: number): View[] {
    return this.reports[i].flatMap((a) =>
      a._tag === "Finalization" ? [a.proposal.round.view] : [],
    )
  }
}
