/**
 * One engine under test, driven by hand: votes and certificates from the other
 * participants are signed here with their keys, and outputs are inspected directly.
 */
import { Either } from "effect"
import {
  type Activity,
  Engine,
  type EngineConfig,
  type Input,
  type Output,
} from "../../src/domain/consensus/Engine.ts"
import { type Scheme, SimScheme, type Signer } from "../../src/domain/consensus/Scheme.ts"
import { Signing } from "../../src/domain/consensus/Signing.ts"
import type {
  Certificate,
  Finalization,
  Finalize,
  Notarization,
  Notarize,
  Nullification,
  Nullify,
  Proposal,
  ResolverMessage,
  Vote,
} from "../../src/domain/consensus/Types.ts"
import { baseConfig, digestOf, keys } from "./Harness.ts"

export const EPOCH = 333n

export class Fixture {
  readonly signers: Signer[]
  readonly signing: Signing
  readonly config: EngineConfig
  engine: Engine
  now = 0
  /** Synced journal entries (what survives a crash). */
  journal: Uint8Array[] = []
  log: Output[] = []

  constructor(
    readonly n: number,
    readonly me: number | undefined,
    overrides: Partial<EngineConfig> = {},
    readonly scheme: Scheme = new SimScheme(),
  ) {
    this.signers = keys(scheme, n)
    this.config = baseConfig(scheme, this.signers, me, overrides)
    this.signing = new Signing(scheme, this.config.namespace, this.config.participants)
    this.engine = new Engine(this.config)
  }

  private record(outs: Output[]): Output[] {
    let pending: Uint8Array[] = []
    for (const o of outs) {
      this.log.push(o)
      if (o._tag === "Append") pending.push(o.entry)
      if (o._tag === "Sync") {
        this.journal.push(...pending)
        pending = []
      }
    }
    return outs
  }

  start(): Output[] {
    return this.record(this.engine.start(this.now))
  }

  /** Simulates a crash and restart from the synced journal. */
  restart(overrides: Partial<EngineConfig> = {}): Output[] {
    this.engine = new Engine({ ...this.config, ...overrides })
    this.engine.replay(this.journal)
    return this.start()
  }

  handle(input: Input): Output[] {
    return this.record(this.engine.handle(input, this.now))
  }

  /** Advances the clock and fires the engine's timers. */
  advance(ms: number): Output[] {
    this.now += ms
    return this.handle({ _tag: "Timer", id: "voter" })
  }

  leader(view: bigint): number {
    return Number((EPOCH + view) % BigInt(this.n))
  }

  proposal(view: bigint, parent: bigint, label = "block"): Proposal {
    return {
      round: { epoch: EPOCH, view },
      parent,
      payload: digestOf(`${label} ${view}/${parent}`),
    }
  }

  notarize(i: number, p: Proposal): Notarize {
    return this.signing.notarize(this.signers[i], i, p)
  }

  nullify(i: number, view: bigint, epoch = EPOCH): Nullify {
    return this.signing.nullify(this.signers[i], i, { epoch, view })
  }

  finalize(i: number, p: Proposal): Finalize {
    return this.signing.finalize(this.signers[i], i, p)
  }

  private certOf<V extends Vote>(votes: V[]) {
    const { indices, signatures } = this.signing.assemble(votes)
    return { signers: { size: this.n, indices }, signatures }
  }

  notarization(p: Proposal, who: number[]): Notarization {
    return {
      _tag: "Notarization",
      proposal: p,
      certificate: this.certOf(who.map((i) => this.notarize(i, p))),
    }
  }

  nullification(view: bigint, who: number[]): Nullification {
    return {
      _tag: "Nullification",
      round: { epoch: EPOCH, view },
      certificate: this.certOf(who.map((i) => this.nullify(i, view))),
    }
  }

  finalization(p: Proposal, who: number[]): Finalization {
    return {
      _tag: "Finalization",
      proposal: p,
      certificate: this.certOf(who.map((i) => this.finalize(i, p))),
    }
  }

  /** Everyone except us (and except `but`), up to `count` of them. */
  others(count = this.n, but: number[] = []): number[] {
    return [...Array(this.n).keys()]
      .filter((i) => i !== this.me && !but.includes(i))
      .slice(0, count)
  }

  vote(from: number, v: Vote): Output[] {
    return this.handle({
      _tag: "Message",
      from,
      channel: "vote",
      bytes: this.signing.codec.encodeVote(v),
    })
  }

  cert(from: number, c: Certificate): Output[] {
    return this.handle({
      _tag: "Message",
      from,
      channel: "certificate",
      bytes: this.signing.codec.encodeCertificate(c),
    })
  }

  resolver(from: number, m: ResolverMessage): Output[] {
    return this.handle({
      _tag: "Message",
      from,
      channel: "resolver",
      bytes: this.signing.codec.encodeResolver(m),
    })
  }
}

// ---- output inspection ---------------------------------------------------------------

export const sentVotes = (outs: Output[]): Vote[] =>
  outs.flatMap((o) => {
    if (o._tag !== "Send" || o.channel !== "vote") return []
    const v = new Signing(new SimScheme(), new Uint8Array(), []).codec.decodeVote(o.bytes)
    return Either.isRight(v) ? [v.right] : []
  })

export const sentCertificates = (outs: Output[]): Certificate[] =>
  outs.flatMap((o) => {
    if (o._tag !== "Send" || o.channel !== "certificate") return []
    const d = new Signing(new SimScheme(), new Uint8Array(), []).codec.decodeCertificate(o.bytes)
    return Either.isRight(d) ? [d.right] : []
  })

export const sentResolver = (
  outs: Output[],
): { to: ReadonlyArray<number> | "all"; msg: ResolverMessage }[] =>
  outs.flatMap((o) => {
    if (o._tag !== "Send" || o.channel !== "resolver") return []
    const m = new Signing(new SimScheme(), new Uint8Array(), []).codec.decodeResolver(o.bytes)
    return Either.isRight(m) ? [{ to: o.to, msg: m.right }] : []
  })

export const reports = (outs: Output[]): Activity[] =>
  outs.flatMap((o) => (o._tag === "Report" ? [o.activity] : []))

export const reportTags = (outs: Output[]): string[] => reports(outs).map((a) => a._tag)

export const ofTag = <T extends Output["_tag"]>(
  outs: Output[],
  tag: T,
): Extract<Output, { _tag: T }>[] =>
  outs.filter((o): o is Extract<Output, { _tag: T }> => o._tag === tag)

export const blocked = (outs: Output[]): number[] => ofTag(outs, "BlockPeer").map((o) => o.peer)
