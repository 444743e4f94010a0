/**
 * A simulated cluster: n validators (keys derived from the seed, SimScheme or Ed25519),
 * optional observers, Byzantine actors in place of some validators, one scheduler, one
 * network, per-node disks that survive restarts, the shared block relay, a safety monitor
 * and a transcript.
 *
 * Guarantees: everything random in a run comes from Prng streams derived from the seed
 * (keys, network, each node's application, each actor), and nothing reads a real clock, so
 * a (seed, options) pair always produces the same run and the same transcript.
 */
import { createHash } from "node:crypto"
import type { EngineConfig } from "../../domain/consensus/Engine.ts"
import {
  Ed25519Scheme,
  type Scheme,
  SimScheme,
  type Signer,
} from "../../domain/consensus/Scheme.ts"
import { Signing } from "../../domain/consensus/Signing.ts"
import { type Digest, maxFaults, quorum } from "../../domain/consensus/Types.ts"
import { SafetyMonitor } from "./Invariants.ts"
import { type AppOptions, BlockRelay, DEFAULT_APP } from "./MockApp.ts"
import { Prng } from "./Prng.ts"
import { type RunResult, Scheduler } from "./Scheduler.ts"
import { type CrashMode, SimDisk } from "./SimDisk.ts"
import { DEFAULT_LINK, type Link, SimNetwork } from "./SimNetwork.ts"
import { SimNode, type World } from "./SimNode.ts"
import { Transcript } from "./Transcript.ts"

export type SchemeName = "sim" | "ed25519"

export interface Timing {
  readonly leaderTimeoutMs: number
  readonly certificationTimeoutMs: number
  readonly timeoutRetryMs: number
  readonly skipTimeoutMs: number
  readonly viewRetention: bigint
  readonly fetchTimeoutMs: number
}

/** Spec §4 test values. */
export const DEFAULT_TIMING: Timing = {
  leaderTimeoutMs: 1000,
  certificationTimeoutMs: 2000,
  timeoutRetryMs: 10_000,
  skipTimeoutMs: 11_000,
  viewRetention: 10n,
  fetchTimeoutMs: 1000,
}

export const EPOCH = 333n
export const NAMESPACE = new TextEncoder().encode("guts")
export const GENESIS: Digest = new Uint8Array(
  createHash("sha256").update("guts-sim-genesis").digest(),
)

/** What a Byzantine actor gets to work with. */
export interface ActorContext {
  readonly cluster: Cluster
  readonly identity: number
  readonly signer: Signer
  readonly prng: Prng
}

/** A Byzantine participant; created by the cluster, started with the honest nodes. */
export interface Actor {
  readonly identity: number
  readonly kind: string
  /** Messages the actor sent on its own (actors that wrap an engine leave it undefined). */
  readonly acted?: number
  start(): void
}

export type ActorFactory = (ctx: ActorContext) => Actor

export interface ClusterOptions {
  readonly seed: bigint | number
  /** Names the run in violations (e.g. the scenario). */
  readonly scenario: string
  readonly n: number
  readonly observers?: number
  readonly scheme?: SchemeName
  readonly timing?: Partial<Timing>
  readonly link?: Link
  readonly app?: Partial<AppOptions>
  /** Per-identity application overrides (slow validators, ...). */
  readonly appFor?: (identity: number) => Partial<AppOptions> | undefined
  readonly syncLatencyMs?: number
  readonly crashMode?: CrashMode
  /** Identities replaced by Byzantine actors. */
  readonly byzantine?: ReadonlyMap<number, ActorFactory>
  /** Per-node engine config overrides (e.g. a floor). */
  readonly configFor?: (identity: number) => Partial<EngineConfig> | undefined
  readonly trace?: (line: string) => void
}

export class Cluster {
  readonly scheduler = new Scheduler()
  readonly transcript: Transcript
  readonly network: SimNetwork
  readonly relay = new BlockRelay(GENESIS)
  readonly monitor: SafetyMonitor
  readonly world: World
  readonly scheme: Scheme
  readonly signing: Signing
  readonly signers: ReadonlyArray<Signer>
  readonly participants: ReadonlyArray<Uint8Array>
  readonly timing: Timing
  readonly n: number
  readonly f: number
  readonly quorum: number
  /** Honest validators and observers, by identity (observers have identity ≥ n). */
  readonly nodes = new Map<number, SimNode>()
  /** Every SimNode, including Byzantine ones (twins), in creation order. */
  readonly allNodes: SimNode[] = []
  readonly disks = new Map<string, SimDisk>()
  readonly actors: Actor[] = []
  readonly byzantine: ReadonlySet<number>
  readonly label: string

  constructor(readonly options: ClusterOptions) {
    const { seed, n } = options
    this.n = n
    this.f = maxFaults(n)
    this.quorum = quorum(n)
    this.label = `scenario=${options.scenario} seed=${seed}`
    this.timing = { ...DEFAULT_TIMING, ...options.timing }
    this.transcript = new Transcript(options.trace)
    this.network = new SimNetwork(
      this.scheduler,
      Prng.derive(seed, "network"),
      this.transcript,
      options.link ?? DEFAULT_LINK,
    )
    this.scheme = options.scheme === "ed25519" ? new Ed25519Scheme() : new SimScheme()
    const keys = Prng.derive(seed, "keys")
    this.signers = Array.from({ length: n }, () => this.scheme.signerFromSeed(keys.bytes(32)))
    this.participants = this.signers.map((s) => s.publicKey)
    this.signing = new Signing(this.scheme, NAMESPACE, this.participants)
    this.byzantine = new Set(options.byzantine?.keys() ?? [])
    this.monitor = new SafetyMonitor({
      n,
      byzantine: this.byzantine,
      signing: this.signing,
      label: this.label,
      epoch: EPOCH,
      keeper: this.relay,
    })
    this.world = {
      scheduler: this.scheduler,
      network: this.network,
      transcript: this.transcript,
      relay: this.relay,
      monitor: this.monitor,
      progress: { finalizations: 0, onFinalization: undefined },
    }
    // Identities are attached in order so endpoint ids are stable: validators, then observers.
    for (let i = 0; i < n; i++) {
      const factory = options.byzantine?.get(i)
      if (factory !== undefined)
        this.actors.push(
          factory({
            cluster: this,
            identity: i,
            signer: this.signers[i],
            prng: Prng.derive(seed, `actor-${i}`),
          }),
        )
      else this.addNode(i, { honest: true })
    }
    for (let k = 0; k < (options.observers ?? 0); k++) this.addNode(n + k, { honest: true })
  }

  /** Engine config of an identity (`me` undefined for observers). */
  engineConfig(identity: number, signer?: Signer): EngineConfig {
    const validator = identity < this.n
    return {
      epoch: EPOCH,
      namespace: NAMESPACE,
      participants: this.participants,
      me: validator ? identity : undefined,
      signer: validator ? (signer ?? this.signers[identity]) : undefined,
      scheme: this.scheme,
      genesis: GENESIS,
      ...this.timing,
      ...this.options.configFor?.(identity),
    }
  }

  /**
   * Creates a SimNode for an identity (a fresh disk per created node, keyed by identity and
   * copy, so twins get separate storage).
   */
  addNode(
    identity: number,
    opts: {
      honest: boolean
      signer?: Signer
      app?: Partial<AppOptions>
    },
  ): SimNode {
    const copy = this.allNodes.filter((x) => x.identity === identity).length
    const key = `${identity}/${copy}`
    const disk = new SimDisk()
    this.disks.set(key, disk)
    const node = new SimNode(
      this.world,
      {
        identity,
        config: this.engineConfig(identity, opts.signer),
        app: {
          ...DEFAULT_APP,
          ...this.options.app,
          ...this.options.appFor?.(identity),
          ...opts.app,
        },
        syncLatencyMs: this.options.syncLatencyMs ?? 0,
        crashMode: this.options.crashMode ?? "lose-pending",
        honest: opts.honest,
        prng: Prng.derive(this.options.seed, `node-${key}`),
      },
      disk,
    )
    this.allNodes.push(node)
    if (opts.honest) this.nodes.set(identity, node)
    return node
  }

  node(identity: number): SimNode {
    const node = this.nodes.get(identity)
    if (node === undefined) throw new Error(`no honest node ${identity}`)
    return node
  }

  /** Honest validators (not observers). */
  get validators(): SimNode[] {
    return [...this.nodes.values()].filter((x) => x.identity < this.n)
  }

  /** Starts every node and actor except the listed identities. */
  start(except: ReadonlyArray<number> = []): this {
    const skip = new Set(except)
    for (const node of this.nodes.values()) if (!skip.has(node.identity) && !node.up) node.start()
    for (const a of this.actors) if (!skip.has(a.identity)) a.start()
    return this
  }

  /** Runs until simulated time `untilMs` or until `stop` holds. */
  run(untilMs: number, stop?: () => boolean): RunResult {
    return this.scheduler.run({ until: untilMs, ...(stop !== undefined ? { stop } : {}) })
  }

  /** Runs until every listed node (default: honest nodes that are up) finalized `views`. */
  runUntilFinalized(views: bigint, untilMs: number, nodes?: ReadonlyArray<SimNode>): RunResult {
    const watch = nodes ?? [...this.nodes.values()].filter((x) => x.up)
    const reached = () => {
      for (const x of watch) if (x.lastFinalized < views) return false
      return true
    }
    if (reached()) return { reason: "predicate", events: 0, now: this.now }
    // Only a finalization can change the answer: check after each one, halt when reached.
    const progress = this.world.progress
    progress.onFinalization = () => {
      if (reached()) this.scheduler.halt()
    }
    try {
      const r = this.run(untilMs)
      return r.reason === "halted" ? { ...r, reason: "predicate" } : r
    } finally {
      progress.onFinalization = undefined
    }
  }

  get now(): number {
    return this.scheduler.now
  }

  /** Lowest last-finalized view over the given nodes (default: honest validators). */
  minFinalized(nodes: ReadonlyArray<SimNode> = this.validators): bigint {
    let min: bigint | undefined
    for (const x of nodes) if (min === undefined || x.lastFinalized < min) min = x.lastFinalized
    return min ?? 0n
  }

  maxFinalized(nodes: ReadonlyArray<SimNode> = this.validators): bigint {
    let max = 0n
    for (const x of nodes) if (x.lastFinalized > max) max = x.lastFinalized
    return max
  }
}
