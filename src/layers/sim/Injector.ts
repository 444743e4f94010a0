/**
 * A certificate injector: a non-participant endpoint that hands chosen nodes chosen
 * certificates, to build the hand-made certificate splits of spec §7
 * (`certified_split_heals_*`) and bursts (`survives_burst`).
 *
 * Certificates are real: each is signed with the keys of the participants it names (by
 * default the first quorum), so engines verify and accept them as they would a
 * certificate relayed by any peer (certificates authenticate themselves; the sender need
 * not be a participant). A story that names an honest node as a signer also writes that
 * vote into the node's journal (`journal`), so the node's own record agrees.
 * Payloads are blocks that exist in the run's relay, so applications can build on them
 * and marshals can deliver them.
 *
 * Guarantees: deterministic (no randomness at all); the injector only sends on the
 * certificate channel, over links it sets from itself to the validators; it never
 * receives anything.
 */
import {
  type Certificate,
  type Digest,
  type Finalization,
  type Finalize,
  type Notarization,
  type Notarize,
  type Nullification,
  type Nullify,
  type Proposal,
  roundRobinLeader,
  type View,
  type Vote,
} from "../../domain/consensus/Types.ts"
import { type Cluster, EPOCH } from "./Cluster.ts"
import { encodeBlock, type StoredBlock } from "./MockApp.ts"
import type { Link } from "./SimNetwork.ts"
import type { SimNode } from "./SimNode.ts"

export class Injector {
  readonly identity: number
  readonly endpoint: number

  /**
   * Attaches the injector under `identity` (default: the first identity after the
   * validators and observers) with `link` from it to every validator.
   */
  constructor(
    private readonly cluster: Cluster,
    link: Link,
    identity = cluster.n + (cluster.options.observers ?? 0),
  ) {
    const net = cluster.network
    this.identity = identity
    this.endpoint = net.attach(identity, undefined)
    for (let i = 0; i < cluster.n; i++) {
      net.setLink(identity, i, link)
      net.removeLink(i, identity)
    }
  }

  /**
   * A block of `view` proposed by the view's leader on top of `parent`, registered in the
   * relay (its payload names the view, so every block here is distinct).
   */
  block(parent: StoredBlock, view: View): StoredBlock {
    const bytes = encodeBlock({
      parent: parent.digest,
      height: parent.block.height + 1n,
      view,
      proposer: this.leaderOf(view),
      payload: new TextEncoder().encode(`injected block of view ${view}`),
    })
    const stored = this.cluster.relay.put(bytes)
    if (stored === undefined) throw new Error("invariant: an injected block does not decode")
    return stored
  }

  /** The genesis block (height 0), the parent of the first injected block. */
  get genesis(): StoredBlock {
    const g = this.cluster.relay.get(this.cluster.relay.genesis)
    if (g === undefined) throw new Error("invariant: the relay lost the genesis block")
    return g
  }

  proposal(view: View, parentView: View, payload: Digest): Proposal {
    return { round: { epoch: EPOCH, view }, parent: parentView, payload }
  }

  notarize(p: Proposal, signer: number): Notarize {
    return this.cluster.signing.notarize(this.cluster.signers[signer], signer, p)
  }

  finalize(p: Proposal, signer: number): Finalize {
    return this.cluster.signing.finalize(this.cluster.signers[signer], signer, p)
  }

  nullify(view: View, signer: number): Nullify {
    return this.cluster.signing.nullify(this.cluster.signers[signer], signer, {
      epoch: EPOCH,
      view,
    })
  }

  /** The notarization signed by `signers` (default: the first quorum of participants). */
  notarization(p: Proposal, signers = this.firstQuorum()): Notarization {
    const votes = signers.map((i) => this.notarize(p, i))
    return { _tag: "Notarization", proposal: p, certificate: this.certificate(votes) }
  }

  finalization(p: Proposal, signers = this.firstQuorum()): Finalization {
    const votes = signers.map((i) => this.finalize(p, i))
    return { _tag: "Finalization", proposal: p, certificate: this.certificate(votes) }
  }

  nullification(view: View, signers = this.firstQuorum()): Nullification {
    const votes = signers.map((i) => this.nullify(view, i))
    return {
      _tag: "Nullification",
      round: { epoch: EPOCH, view },
      certificate: this.certificate(votes),
    }
  }

  /**
   * Writes votes a node signed in its past into its journal (durably), so that the node's
   * engine, on start, knows it signed them: a certificate that names an honest signer
   * must match what that signer's journal says, or the node could later sign a
   * conflicting vote without knowing it.
   */
  journal(node: SimNode, votes: ReadonlyArray<Vote>): void {
    const codec = this.cluster.signing.codec
    for (const vote of votes) {
      if (vote.attestation.signer !== node.identity)
        throw new Error(`node ${node.identity} cannot journal a vote of ${vote.attestation.signer}`)
      const view = vote._tag === "Nullify" ? vote.round.view : vote.proposal.round.view
      node.disk.append(view, codec.encodeJournalEntry({ _tag: "OwnVote", vote }))
    }
    node.disk.sync()
  }

  /** Sends a certificate to the given identities (or every validator). */
  send(cert: Certificate, to: ReadonlyArray<number> | "all"): void {
    const targets = to === "all" ? Array.from({ length: this.cluster.n }, (_, i) => i) : to
    const bytes = this.cluster.signing.codec.encodeCertificate(cert)
    this.cluster.network.send(this.endpoint, "certificate", targets, bytes)
  }

  private leaderOf(view: View): number {
    return roundRobinLeader(EPOCH, view, this.cluster.n)
  }

  private firstQuorum(): number[] {
    return Array.from({ length: this.cluster.quorum }, (_, i) => i)
  }

  private certificate(votes: ReadonlyArray<Notarize | Finalize | Nullify>) {
    const { indices, signatures } = this.cluster.signing.assemble(votes)
    return { signers: { size: this.cluster.n, indices }, signatures }
  }
}
