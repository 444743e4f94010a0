/**
 * Byzantine participants for the simulator (spec §7 "Mock Byzantine actors"). Each one
 * takes the place of one validator's engine: it is attached to the network under that
 * validator's identity, listens on the vote and certificate channels, and speaks with
 * that validator's real key through the engine's own Codec and Signing, so everything it
 * sends is well-formed and, where the behaviour calls for it, validly signed.
 *
 * - conflicter: for every notarize/finalize it sees, signs one for a random payload and
 *   one for the real proposal;
 * - nuller: on every proposal, sends nullify and finalize for the same view;
 * - nullifyOnly: answers every proposal with nullify only;
 * - outdated: re-signs proposals from 4 · view_retention views ago;
 * - impersonator: signs with its own key under another signer index;
 * - reconfigurer: re-signs every vote for epoch + 1;
 * - equivocator: when it leads view v + 1 (learned from a certificate of v), proposes block
 *   A to one victim and block B to everyone else;
 * - corruptSignatures: an honest engine whose every signature has one bit flipped;
 * - twins: two honest engines with the same key whose traffic, for the first `rounds`
 *   views, reaches only the parts of the network a seeded script picks, then everyone.
 *
 * Guarantees: actors draw randomness only from their own Prng and never throw on input
 * (undecodable messages are ignored).
 */
import { Either } from "effect"
import type { Signer } from "../../domain/consensus/Scheme.ts"
import { Signing } from "../../domain/consensus/Signing.ts"
import type {
  Certificate,
  Digest,
  Proposal,
  Round,
  View,
  Vote,
} from "../../domain/consensus/Types.ts"
import { readVarint } from "../../domain/consensus/Varint.ts"
import {
  type Actor,
  type ActorContext,
  type ActorFactory,
  type Cluster,
  EPOCH,
  NAMESPACE,
} from "./Cluster.ts"
import { blockMessage, encodeBlock } from "./MockApp.ts"
import type { Prng } from "./Prng.ts"
import type { SimChannel } from "./SimNetwork.ts"

/** Common plumbing: an endpoint under the actor's identity, decoding, signing, sending. */
abstract class VoteActor implements Actor {
  readonly identity: number
  protected readonly cluster: Cluster
  protected readonly signer: Signer
  protected readonly prng: Prng
  protected readonly signing: Signing
  protected readonly endpoint: number
  /** (kind, view) pairs already answered, so each view gets one reaction per kind. */
  private readonly answered = new Set<string>()
  /** Messages sent so far (a scenario checks the actor actually did something). */
  acted = 0

  constructor(
    ctx: ActorContext,
    readonly kind: string,
  ) {
    this.identity = ctx.identity
    this.cluster = ctx.cluster
    this.signer = ctx.signer
    this.prng = ctx.prng
    this.signing = new Signing(ctx.cluster.scheme, NAMESPACE, ctx.cluster.participants)
    this.endpoint = ctx.cluster.network.attach(ctx.identity, undefined)
  }

  start(): void {
    this.cluster.network.setReceiver(this.endpoint, (from, channel, bytes) =>
      this.receive(from, channel, bytes),
    )
  }

  private receive(from: number, channel: SimChannel, bytes: Uint8Array): void {
    const codec = this.signing.codec
    if (channel === "vote") {
      const vote = codec.decodeVote(bytes)
      if (Either.isRight(vote)) this.onVote(from, vote.right)
    } else if (channel === "certificate") {
      const cert = codec.decodeCertificate(bytes)
      if (Either.isRight(cert)) this.onCertificate(cert.right)
    }
  }

  /** True the first time it is called for (tag, view). */
  protected first(tag: string, view: View): boolean {
    const key = `${tag}:${view}`
    if (this.answered.has(key)) return false
    this.answered.add(key)
    return true
  }

  protected onVote(_from: number, _vote: Vote): void {}
  protected onCertificate(_cert: Certificate): void {}

  protected leaderOf(view: View): number {
    return Number((EPOCH + view) % BigInt(this.cluster.n))
  }

  protected send(vote: Vote, to: ReadonlyArray<number> | "all" = "all"): void {
    this.acted++
    this.cluster.network.send(this.endpoint, "vote", to, this.signing.codec.encodeVote(vote))
  }

  protected randomPayload(): Digest {
    return this.prng.bytes(32)
  }
}

class Conflicter extends VoteActor {
  protected override onVote(_from: number, vote: Vote): void {
    if (vote._tag === "Nullify") return
    const p = vote.proposal
    if (!this.first(vote._tag, p.round.view)) return
    const fake: Proposal = { ...p, payload: this.randomPayload() }
    const me = this.identity
    if (vote._tag === "Notarize") {
      this.send(this.signing.notarize(this.signer, me, fake))
      this.send(this.signing.notarize(this.signer, me, p))
    } else {
      this.send(this.signing.finalize(this.signer, me, fake))
      this.send(this.signing.finalize(this.signer, me, p))
    }
  }
}

class Nuller extends VoteActor {
  protected override onVote(_from: number, vote: Vote): void {
    if (vote._tag !== "Notarize") return
    const p = vote.proposal
    if (!this.first("n", p.round.view)) return
    this.send(this.signing.nullify(this.signer, this.identity, p.round))
    this.send(this.signing.finalize(this.signer, this.identity, p))
  }
}

class NullifyOnly extends VoteActor {
  protected override onVote(from: number, vote: Vote): void {
    if (vote._tag !== "Notarize" || from !== this.leaderOf(vote.proposal.round.view)) return
    const round = vote.proposal.round
    if (!this.first("n", round.view)) return
    this.send(this.signing.nullify(this.signer, this.identity, round))
  }
}

class Outdated extends VoteActor {
  private readonly history = new Map<View, Proposal>()

  protected override onVote(from: number, vote: Vote): void {
    if (vote._tag !== "Notarize" || from !== this.leaderOf(vote.proposal.round.view)) return
    const p = vote.proposal
    const view = p.round.view
    if (!this.first("n", view)) return
    this.history.set(view, p)
    const lag = 4n * this.cluster.timing.viewRetention
    const old = this.history.get(view - lag)
    if (old === undefined) return
    this.history.delete(view - lag)
    this.send(this.signing.notarize(this.signer, this.identity, old))
    this.send(this.signing.finalize(this.signer, this.identity, old))
  }
}

class Impersonator extends VoteActor {
  protected override onVote(_from: number, vote: Vote): void {
    if (vote._tag !== "Notarize") return
    const p = vote.proposal
    if (!this.first("n", p.round.view)) return
    const own = this.signing.notarize(this.signer, this.identity, p)
    const victim = (this.identity + 1 + this.prng.int(this.cluster.n - 1)) % this.cluster.n
    this.send({ ...own, attestation: { signer: victim, signature: own.attestation.signature } })
  }
}

class Reconfigurer extends VoteActor {
  protected override onVote(_from: number, vote: Vote): void {
    const round = vote._tag === "Nullify" ? vote.round : vote.proposal.round
    if (round.epoch !== EPOCH || !this.first(vote._tag, round.view)) return
    const next: Round = { epoch: round.epoch + 1n, view: round.view }
    const me = this.identity
    if (vote._tag === "Nullify") this.send(this.signing.nullify(this.signer, me, next))
    else {
      const p: Proposal = { ...vote.proposal, round: next }
      this.send(
        vote._tag === "Notarize"
          ? this.signing.notarize(this.signer, me, p)
          : this.signing.finalize(this.signer, me, p),
      )
    }
  }
}

export class Equivocator extends VoteActor {
  private readonly notarized = new Map<View, Digest>()
  private readonly nullified = new Set<View>()
  private readonly proposed = new Set<View>()
  /**
   * Views where it proposed two blocks: the victim, whether it was up (and in which
   * incarnation) when the proposals left, and the payload only the victim was offered.
   */
  readonly equivocations: {
    view: View
    victim: number
    /** The victim was running when the proposals left, in this incarnation. */
    victimUp: boolean
    incarnation: number
    odd: Digest
  }[] = []

  protected override onCertificate(cert: Certificate): void {
    if (cert._tag === "Nullification") {
      if (cert.round.epoch !== EPOCH) return
      this.nullified.add(cert.round.view)
      this.maybePropose(cert.round.view + 1n)
    } else {
      if (cert.proposal.round.epoch !== EPOCH) return
      this.notarized.set(cert.proposal.round.view, cert.proposal.payload)
      this.maybePropose(cert.proposal.round.view + 1n)
    }
  }

  private parentOf(view: View): { view: View; digest: Digest } | undefined {
    for (let p = view - 1n; p >= 0n; p--) {
      if (p === 0n) return { view: 0n, digest: this.cluster.relay.genesis }
      const d = this.notarized.get(p)
      if (d !== undefined) return { view: p, digest: d }
      if (!this.nullified.has(p)) return undefined
    }
    return undefined
  }

  private maybePropose(view: View): void {
    if (this.leaderOf(view) !== this.identity || this.proposed.has(view)) return
    const parent = this.parentOf(view)
    const parentBlock = parent === undefined ? undefined : this.cluster.relay.get(parent.digest)
    if (parent === undefined || parentBlock === undefined) return
    this.proposed.add(view)
    const honest = [...this.cluster.nodes.keys()].filter((i) => i < this.cluster.n)
    const victim = this.prng.pick(honest)
    const others = honest.filter((i) => i !== victim)
    const build = () => {
      const bytes = encodeBlock({
        parent: parent.digest,
        height: parentBlock.block.height + 1n,
        view,
        proposer: this.identity,
        payload: this.prng.bytes(32),
      })
      const stored = this.cluster.relay.put(bytes)
      if (stored === undefined) throw new Error("invariant: an equivocator block does not decode")
      return stored
    }
    const a = build()
    const b = build()
    const net = this.cluster.network
    net.send(this.endpoint, "broadcast", [victim], blockMessage(a.bytes))
    net.send(this.endpoint, "broadcast", others, blockMessage(b.bytes))
    const round: Round = { epoch: EPOCH, view }
    const me = this.identity
    this.send(
      this.signing.notarize(this.signer, me, { round, parent: parent.view, payload: a.digest }),
      [victim],
    )
    this.send(
      this.signing.notarize(this.signer, me, { round, parent: parent.view, payload: b.digest }),
      others,
    )
    this.equivocations.push({
      view,
      victim,
      victimUp: this.cluster.node(victim).up,
      incarnation: this.cluster.node(victim).incarnation,
      odd: a.digest,
    })
  }
}

/** A signer whose signatures have one bit flipped (the `invalid` wrapped scheme). */
export const corruptSigner = (inner: Signer, prng: Prng): Signer => ({
  publicKey: inner.publicKey,
  sign(ns: Uint8Array, message: Uint8Array): Uint8Array {
    const sig = inner.sign(ns, message).slice()
    const bit = prng.int(sig.length * 8)
    sig[bit >> 3] ^= 1 << (bit & 7)
    return sig
  },
})

class NodeActor implements Actor {
  constructor(
    readonly identity: number,
    readonly kind: string,
    private readonly begin: () => void,
  ) {}
  start(): void {
    this.begin()
  }
}

/** View of a vote or certificate (both start with tag ‖ epoch ‖ view), if well-formed. */
const viewOf = (bytes: Uint8Array): View | undefined => {
  const cursor = { pos: 1 }
  const epoch = readVarint(bytes, cursor)
  if (typeof epoch === "string") return undefined
  const view = readVarint(bytes, cursor)
  return typeof view === "string" ? undefined : view
}

export interface TwinsScript {
  /** Views 1..rounds follow the script; later views are all-to-all. */
  readonly rounds: number
  /** partitions[view − 1][copy] = identities that twin copy `copy` talks to in that view. */
  readonly partitions: ReadonlyArray<readonly [ReadonlySet<number>, ReadonlySet<number>]>
}

/** A seeded twins script: for each scripted view, each twin copy reaches one (possibly overlapping) half. */
export const twinsScript = (
  prng: Prng,
  others: ReadonlyArray<number>,
  rounds: number,
): TwinsScript => {
  const partitions: (readonly [ReadonlySet<number>, ReadonlySet<number>])[] = []
  for (let r = 0; r < rounds; r++) {
    const order = prng.shuffle([...others])
    const half = Math.ceil(order.length / 2)
    const overlap = prng.int(2)
    const a = new Set(order.slice(0, half + overlap))
    const b = new Set(order.slice(half - overlap))
    partitions.push([a, b])
  }
  return { rounds, partitions }
}

export interface ByzantineActors {
  readonly conflicter: ActorFactory
  readonly nuller: ActorFactory
  readonly nullifyOnly: ActorFactory
  readonly outdated: ActorFactory
  readonly impersonator: ActorFactory
  readonly reconfigurer: ActorFactory
  readonly equivocator: ActorFactory
  readonly corruptSignatures: ActorFactory
  readonly twins: (script: (ctx: ActorContext) => TwinsScript) => ActorFactory
}

export const Byzantine: ByzantineActors = {
  conflicter: (ctx) => new Conflicter(ctx, "conflicter"),
  nuller: (ctx) => new Nuller(ctx, "nuller"),
  nullifyOnly: (ctx) => new NullifyOnly(ctx, "nullify_only"),
  outdated: (ctx) => new Outdated(ctx, "outdated"),
  impersonator: (ctx) => new Impersonator(ctx, "impersonator"),
  reconfigurer: (ctx) => new Reconfigurer(ctx, "reconfigurer"),
  equivocator: (ctx) => new Equivocator(ctx, "equivocator"),

  /** An honest engine whose every signature is corrupted. */
  corruptSignatures: (ctx) => {
    const node = ctx.cluster.addNode(ctx.identity, {
      honest: false,
      signer: corruptSigner(ctx.signer, ctx.prng),
    })
    return new NodeActor(ctx.identity, "corrupt_signatures", () => node.start())
  },

  /**
   * Twins of one identity: two honest engines with the same key and separate storage.
   * `script` routes their vote/certificate traffic for the first views (see TwinsScript).
   */
  twins: (script) => (ctx) => {
    const cluster = ctx.cluster
    const copies = [
      cluster.addNode(ctx.identity, { honest: false }),
      cluster.addNode(ctx.identity, { honest: false }),
    ]
    installTwinRoute(cluster, [copies[0].endpoint, copies[1].endpoint], script(ctx))
    return new NodeActor(ctx.identity, "twins", () => {
      for (const c of copies) c.start()
    })
  },
}

interface TwinRoute {
  readonly copy: number
  readonly script: TwinsScript
}

const twinRoutes = new WeakMap<Cluster, Map<number, TwinRoute>>()

/** Composes a route filter over every twin pair of the cluster. */
const installTwinRoute = (
  cluster: Cluster,
  endpoints: readonly [number, number],
  script: TwinsScript,
): void => {
  let routes = twinRoutes.get(cluster)
  if (routes === undefined) {
    routes = new Map()
    twinRoutes.set(cluster, routes)
    const table = routes
    const net = cluster.network
    net.filter = (fromEp, toEp, channel, bytes) => {
      const src = table.get(fromEp)
      const dst = table.get(toEp)
      if (src === undefined && dst === undefined) return true
      if (channel !== "vote" && channel !== "certificate") return true
      const view = viewOf(bytes)
      if (view === undefined || view < 1n) return true
      if (src !== undefined && !allowed(src, view, net.identityOf(toEp))) return false
      if (dst !== undefined && !allowed(dst, view, net.identityOf(fromEp))) return false
      return true
    }
  }
  routes.set(endpoints[0], { copy: 0, script })
  routes.set(endpoints[1], { copy: 1, script })
}

const allowed = (route: TwinRoute, view: View, peer: number): boolean => {
  if (view > BigInt(route.script.rounds)) return true
  const part = route.script.partitions[Number(view) - 1]
  return part === undefined || part[route.copy].has(peer)
}
