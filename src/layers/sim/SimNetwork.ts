/**
 * The simulated p2p network: authenticated point-to-point messages between endpoints,
 * carried over per-link models and delivered through the scheduler.
 *
 * Identities and endpoints: an identity is what a receiver sees as `from` (a participant
 * index, or an index ≥ n for observers); an endpoint is one attached process. Usually
 * there is one endpoint per identity; twins attach two endpoints with one identity.
 *
 * Guarantees:
 * - a message on a directed endpoint pair never overtakes an earlier one on the same pair
 *   (delivery at max(sent + latency, last delivery on that pair));
 * - latency is Normal(latencyMs, jitterMs) clamped at 0; a message is lost with probability
 *   1 − successRate; every random draw comes from the network's own Prng, in send order;
 * - a message is delivered only if, at delivery time, the receiving endpoint is attached and
 *   has not blocked the sender's identity (blocking is decided on receive);
 * - links between identities can be added, removed and replaced at runtime; a partition
 *   cuts every link between its groups until `heal`, without forgetting the link models;
 * - every send, delivery and drop is counted and recorded in the transcript.
 */
import type { Prng } from "./Prng.ts"
import type { ScheduledEvent, Scheduler } from "./Scheduler.ts"
import { EventKind, type Transcript } from "./Transcript.ts"

export type SimChannel = "vote" | "certificate" | "resolver" | "broadcast"

// Codes by comparison rather than by indexing a table with the string (a keyed load with
// varying string keys is megamorphic, and these run on every message).
const channelCode = (channel: SimChannel): number =>
  channel === "vote" ? 0 : channel === "certificate" ? 1 : channel === "resolver" ? 2 : 3

export interface Link {
  readonly latencyMs: number
  readonly jitterMs: number
  /** Probability in [0, 1] that a message on this link arrives. */
  readonly successRate: number
}

export const DEFAULT_LINK: Link = { latencyMs: 10, jitterMs: 1, successRate: 1 }

/** Called with the sender's identity. */
export type Receiver = (from: number, channel: SimChannel, bytes: Uint8Array) => void

/**
 * Decides whether a message may travel from one endpoint to another (used by twins to
 * route each twin's traffic); runs at send time.
 */
export type RouteFilter = (
  fromEndpoint: number,
  toEndpoint: number,
  channel: SimChannel,
  bytes: Uint8Array,
) => boolean

export type DropReason = "unlinked" | "partitioned" | "filtered" | "lost" | "offline" | "blocked"

const DROP_REASONS: ReadonlyArray<DropReason> = [
  "unlinked",
  "partitioned",
  "filtered",
  "lost",
  "offline",
  "blocked",
]

export interface NetworkCounters {
  sent: number
  delivered: number
  dropped: number
  bytesSent: number
  readonly sentOn: Record<SimChannel, number>
  readonly droppedBy: Record<DropReason, number>
}

interface Endpoint {
  readonly identity: number
  receiver: Receiver | undefined
  readonly blocked: Set<number>
  /**
   * Last delivery time per destination endpoint (FIFO per directed pair), -Infinity when
   * none. Typed, so storing a time allocates nothing.
   */
  lastDelivery: Float64Array
}

export class SimNetwork {
  private readonly endpoints: Endpoint[] = []
  /** links[from][to] by identity; undefined = no link. */
  private readonly links: (Link | undefined)[][] = []
  /** group[identity] during a partition (undefined = not partitioned). */
  private groups: Map<number, number> | undefined = undefined
  private nextMessage = 0
  filter: RouteFilter | undefined = undefined
  readonly counters: NetworkCounters = {
    sent: 0,
    delivered: 0,
    dropped: 0,
    bytesSent: 0,
    sentOn: { vote: 0, certificate: 0, resolver: 0, broadcast: 0 },
    droppedBy: { unlinked: 0, partitioned: 0, filtered: 0, lost: 0, offline: 0, blocked: 0 },
  }

  constructor(
    private readonly scheduler: Scheduler,
    private readonly prng: Prng,
    private readonly transcript: Transcript,
    /** Link model of every pair of identities until changed. */
    private readonly defaultLink: Link | undefined = DEFAULT_LINK,
  ) {}

  // ---- topology -------------------------------------------------------------------

  /** Attaches a new endpoint for `identity` and returns its endpoint id. */
  attach(identity: number, receiver: Receiver | undefined): number {
    if (!Number.isInteger(identity) || identity < 0) throw new RangeError(`identity ${identity}`)
    while (this.links.length <= identity) {
      const row: (Link | undefined)[] = []
      this.links.push(row)
    }
    for (let i = 0; i < this.links.length; i++) {
      const row = this.links[i]
      while (row.length < this.links.length) row.push(this.defaultLink)
    }
    const id = this.endpoints.length
    this.endpoints.push({
      identity,
      receiver,
      blocked: new Set(),
      lastDelivery: new Float64Array(0),
    })
    for (const ep of this.endpoints) {
      const grown = new Float64Array(this.endpoints.length).fill(Number.NEGATIVE_INFINITY)
      grown.set(ep.lastDelivery)
      ep.lastDelivery = grown
    }
    return id
  }

  /** Replaces the receiver of an endpoint; undefined takes it offline (arrivals dropped). */
  setReceiver(endpoint: number, receiver: Receiver | undefined): void {
    this.endpoint(endpoint).receiver = receiver
  }

  identityOf(endpoint: number): number {
    return this.endpoint(endpoint).identity
  }

  get endpointCount(): number {
    return this.endpoints.length
  }

  /** Sets (adds or replaces) the link model from one identity to another. */
  setLink(from: number, to: number, link: Link): void {
    this.links[from][to] = link
  }

  /** Removes the link: messages from `from` to `to` are dropped until a link is set. */
  removeLink(from: number, to: number): void {
    this.links[from][to] = undefined
  }

  link(from: number, to: number): Link | undefined {
    return this.links[from]?.[to]
  }

  /** Sets the link model between every ordered pair of distinct identities. */
  setAllLinks(link: Link): void {
    for (let i = 0; i < this.links.length; i++)
      for (let j = 0; j < this.links.length; j++) if (i !== j) this.links[i][j] = link
  }

  /** Every identity (and only these) links to and from `identity` with `link`. */
  setLinksOf(identity: number, link: Link | undefined): void {
    for (let j = 0; j < this.links.length; j++) {
      if (j === identity) continue
      this.links[identity][j] = link
      this.links[j][identity] = link
    }
  }

  /** Cuts every link between identities of different groups (identities in no group keep theirs). */
  partition(groups: ReadonlyArray<ReadonlyArray<number>>): void {
    const g = new Map<number, number>()
    groups.forEach((members, k) => {
      for (const m of members) g.set(m, k)
    })
    this.groups = g
  }

  heal(): void {
    this.groups = undefined
  }

  // ---- blocking -------------------------------------------------------------------

  /** From now on, `endpoint` drops everything from `peer` (an identity). */
  block(endpoint: number, peer: number): void {
    this.endpoint(endpoint).blocked.add(peer)
  }

  /** Forgets an endpoint's blocks (a process restart loses them). */
  clearBlocks(endpoint: number): void {
    this.endpoint(endpoint).blocked.clear()
  }

  blockedBy(endpoint: number): ReadonlySet<number> {
    return this.endpoint(endpoint).blocked
  }

  // ---- traffic --------------------------------------------------------------------

  /**
   * Sends `bytes` from an endpoint to identities (`"all"` = every other identity). Every
   * endpoint of a destination identity receives its own copy (except the sender itself).
   */
  send(
    fromEndpoint: number,
    channel: SimChannel,
    to: ReadonlyArray<number> | "all",
    bytes: Uint8Array,
  ): void {
    const src = this.endpoint(fromEndpoint)
    const id = this.nextMessage++
    const t = this.transcript
    const now = this.scheduler.now
    t.beginAt(EventKind.Send, this.scheduler)
      .u32(id)
      .u32(fromEndpoint)
      .u8(channelCode(channel))
      .bytes(bytes)
    if (t.tracing)
      t.line(
        `${now.toFixed(3)} send #${id} ${src.identity}@${fromEndpoint} ${channel} ${bytes.length}B -> ${to === "all" ? "all" : to.join(",")}`,
      )
    const before = this.counters.sent
    // One in-flight record serves every recipient; each arrival carries its endpoint.
    const flight = new Flight(this, id, src.identity, channel, bytes)
    if (to === "all") {
      for (let e = 0; e < this.endpoints.length; e++) {
        const dst = this.endpoints[e]
        if (e !== fromEndpoint && dst.identity !== src.identity)
          this.transmit(flight, fromEndpoint, src, e)
      }
    } else {
      for (const identity of to) {
        for (let e = 0; e < this.endpoints.length; e++) {
          if (e === fromEndpoint || this.endpoints[e].identity !== identity) continue
          this.transmit(flight, fromEndpoint, src, e)
        }
      }
    }
    const count = this.counters.sent - before
    const sentOn = this.counters.sentOn
    if (channel === "vote") sentOn.vote += count
    else if (channel === "certificate") sentOn.certificate += count
    else if (channel === "resolver") sentOn.resolver += count
    else sentOn.broadcast += count
  }

  private transmit(flight: Flight, fromEndpoint: number, src: Endpoint, toEndpoint: number): void {
    const id = flight.id
    const c = this.counters
    c.sent++
    c.bytesSent += flight.bytes.length
    const dst = this.endpoints[toEndpoint]
    const link = this.links[src.identity][dst.identity]
    if (link === undefined) {
      this.drop(id, toEndpoint, "unlinked")
      return
    }
    const g = this.groups
    if (g !== undefined) {
      const a = g.get(src.identity)
      const b = g.get(dst.identity)
      if (a !== undefined && b !== undefined && a !== b) {
        this.drop(id, toEndpoint, "partitioned")
        return
      }
    }
    if (
      this.filter !== undefined &&
      !this.filter(fromEndpoint, toEndpoint, flight.channel, flight.bytes)
    ) {
      this.drop(id, toEndpoint, "filtered")
      return
    }
    if (link.successRate < 1 && !this.prng.bool(link.successRate)) {
      this.drop(id, toEndpoint, "lost")
      return
    }
    const now = this.scheduler.now
    let at = now + this.prng.latency(link.latencyMs, link.jitterMs)
    const last = src.lastDelivery[toEndpoint]
    if (last > at) at = last
    src.lastDelivery[toEndpoint] = at
    this.scheduler.enqueue(at, flight, toEndpoint)
  }

  /** @internal runs when a message reaches its destination (see Flight). */
  arrive(
    id: number,
    from: number,
    toEndpoint: number,
    channel: SimChannel,
    bytes: Uint8Array,
  ): void {
    const dst = this.endpoints[toEndpoint]
    const receiver = dst.receiver
    if (receiver === undefined) {
      this.drop(id, toEndpoint, "offline")
      return
    }
    const blocked = dst.blocked
    if (blocked.size !== 0 && blocked.has(from)) {
      this.drop(id, toEndpoint, "blocked")
      return
    }
    this.counters.delivered++
    const t = this.transcript
    const now = this.scheduler.now
    t.beginAt(EventKind.Deliver, this.scheduler).u32(id).u32(toEndpoint)
    if (t.tracing) t.line(`${now.toFixed(3)} deliver #${id} -> ${dst.identity}@${toEndpoint}`)
    receiver(from, channel, bytes)
  }

  private drop(id: number, toEndpoint: number, reason: DropReason): void {
    const c = this.counters
    c.dropped++
    c.droppedBy[reason]++
    const t = this.transcript
    const now = this.scheduler.now
    t.beginAt(EventKind.Drop, this.scheduler)
      .u32(id)
      .u32(toEndpoint)
      .u8(DROP_REASONS.indexOf(reason))
    if (t.tracing) t.line(`${now.toFixed(3)} drop #${id} -> @${toEndpoint} (${reason})`)
  }

  private endpoint(e: number): Endpoint {
    const ep = this.endpoints[e]
    if (ep === undefined) throw new RangeError(`no endpoint ${e}`)
    return ep
  }
}

/**
 * A message in flight to one or more endpoints: one object per send, enqueued once per
 * recipient with the recipient's endpoint as the event argument.
 */
class Flight implements ScheduledEvent {
  cancelled = false
  constructor(
    private readonly net: SimNetwork,
    readonly id: number,
    readonly from: number,
    readonly channel: SimChannel,
    readonly bytes: Uint8Array,
  ) {}
  run(toEndpoint: number): void {
    this.net.arrive(this.id, this.from, toEndpoint, this.channel, this.bytes)
  }
}
