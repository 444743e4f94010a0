/**
 * View-keyed certificate backfill (spec §5), part of the engine.
 *
 * Serving: a request for view v is answered with one certificate chosen by the voter
 * (highest finalization if v is at or below it; the exact certified notarization; the
 * nullification of v; else the current floor; never a notarization that failed
 * certification), or with nothing.
 *
 * Requesting: a fetch names a view and what is missing there (its nullification, or its
 * notarization as the parent of a proposal). One peer is asked at a time, the target
 * first (targeted ancestry goes to the proposal's leader), then the others in turn. An
 * answer is any certificate; valid ones go to the voter like network certificates, and
 * the fetch ends once the voter no longer needs it. Empty or unhelpful answers move on to
 * the next peer without penalty; invalid certificates block the peer (by the voter);
 * silence for fetch_timeout moves on too. After every peer was tried the fetch waits
 * fetch_timeout before starting over, so an unanswerable fetch never busy-loops.
 *
 * Background repair: every view between the floor (highest certified or finalized view)
 * and the current view that lacks a nullification is fetched. Fetches the voter asks for
 * (a proposal's ancestry) are not bounded by that floor: a proposal may skip a view we
 * hold as certified if that view was also nullified, and only the nullification lets us
 * verify it. A repair fetch the voter then asks for becomes an ancestry fetch.
 */
import type { EngineConfig } from "./Engine.ts"
import type { Outbox } from "./Outbox.ts"
import type { ResolverMessage, View } from "./Types.ts"
import type { FetchKind, Voter } from "./Voter.ts"

/** Fetches in flight at once; bounds the load a lagging node puts on its peers. */
export const MAX_INFLIGHT_FETCHES = 8

interface Fetch {
  readonly view: View
  readonly kind: FetchKind
  /** Asked for by the voter (not background repair): not bounded by the floor. */
  ancestry: boolean
  target: number | undefined
  readonly tried: Set<number>
  inflight: { id: bigint; peer: number; deadline: number } | undefined
  notBefore: number
}

export class Resolver {
  private readonly fetches = new Map<string, Fetch>()
  private readonly byId = new Map<bigint, Fetch>()
  private nextId = 1n
  private cursor = 0
  private repairFrom: View = 1n
  private inflightCount = 0

  constructor(
    private readonly config: EngineConfig,
    private readonly voter: Voter,
    private readonly out: Outbox,
  ) {}

  /** Pending fetches (for tests and metrics). */
  get pending(): ReadonlyArray<{ view: View; kind: FetchKind }> {
    return [...this.fetches.values()].map((f) => ({ view: f.view, kind: f.kind }))
  }

  /** A fetch the voter needs (a proposal's or a candidate's ancestry). */
  fetch(view: View, kind: FetchKind, target: number | undefined): void {
    this.request(view, kind, target, true)
  }

  private request(view: View, kind: FetchKind, target: number | undefined, ancestry: boolean) {
    const key = `${kind}:${view}`
    const f = this.fetches.get(key)
    if (f !== undefined) {
      if (ancestry) f.ancestry = true
      if (target !== undefined && f.target === undefined && !f.tried.has(target)) {
        f.target = target
        // Targeted ancestry goes to the proposal's leader first: it must hold the data.
        if (f.inflight !== undefined && f.inflight.peer !== target) {
          this.byId.delete(f.inflight.id)
          f.inflight = undefined
          this.inflightCount--
        }
      }
      return
    }
    if (!this.voter.needs(view, kind, ancestry)) return
    this.fetches.set(key, {
      view,
      kind,
      ancestry,
      target,
      tried: new Set(),
      inflight: undefined,
      notBefore: Number.NEGATIVE_INFINITY,
    })
  }

  onMessage(from: number, msg: ResolverMessage): void {
    if (msg._tag === "Request") {
      const certificate = this.voter.serve(msg.view)
      const bytes = this.voter.signing.codec.encodeResolver({
        _tag: "Response",
        id: msg.id,
        certificate,
      })
      this.out.send("resolver", [from], bytes)
      return
    }
    const f = this.byId.get(msg.id)
    if (f === undefined || f.inflight === undefined || f.inflight.peer !== from) return
    this.settle(f, from)
    if (msg.certificate !== undefined) this.voter.onCertificate(from, msg.certificate)
  }

  private settle(f: Fetch, peer: number): void {
    if (f.inflight === undefined) return
    this.byId.delete(f.inflight.id)
    f.inflight = undefined
    f.tried.add(peer)
    this.inflightCount--
  }

  private candidates(f: Fetch): number | undefined {
    const n = this.config.participants.length
    const ok = (p: number) => p !== this.config.me && !this.out.blocked.has(p) && !f.tried.has(p)
    if (f.target !== undefined && ok(f.target)) return f.target
    for (let k = 0; k < n; k++) {
      const p = (this.cursor + k) % n
      if (ok(p)) {
        this.cursor = (p + 1) % n
        return p
      }
    }
    return undefined
  }

  private backgroundRepair(): void {
    const floor = this.voter.floorView
    const current = this.voter.currentView
    let v = this.repairFrom > floor + 1n ? this.repairFrom : floor + 1n
    for (; v < current; v++) {
      const r = this.voter.state(v)
      if (r?.nullification === undefined) this.request(v, "nullification", undefined, false)
    }
    this.repairFrom = v
  }

  /** Drops fetches no longer needed, starts repair, handles timeouts, dispatches requests. */
  tick(now: number): void {
    // Repair has nothing new to look at until the view moves past where it stopped (the
    // floor only rises, so skipping here changes no later starting point).
    if (this.repairFrom < this.voter.currentView) this.backgroundRepair()
    if (this.fetches.size === 0) return
    for (const [key, f] of this.fetches) {
      if (!this.voter.needs(f.view, f.kind, f.ancestry)) {
        if (f.inflight !== undefined) this.settle(f, f.inflight.peer)
        this.fetches.delete(key)
        continue
      }
      if (f.inflight !== undefined && now >= f.inflight.deadline) this.settle(f, f.inflight.peer)
    }
    for (const f of this.fetches.values()) {
      if (this.inflightCount >= MAX_INFLIGHT_FETCHES) break
      if (f.inflight !== undefined || now < f.notBefore) continue
      const peer = this.candidates(f)
      if (peer === undefined) {
        // Everyone was asked: start over, but only after a fetch timeout.
        f.tried.clear()
        f.target = undefined
        f.notBefore = now + this.config.fetchTimeoutMs
        continue
      }
      const id = this.nextId++
      f.inflight = { id, peer, deadline: now + this.config.fetchTimeoutMs }
      this.byId.set(id, f)
      this.inflightCount++
      const bytes = this.voter.signing.codec.encodeResolver({ _tag: "Request", id, view: f.view })
      this.out.send("resolver", [peer], bytes)
    }
  }

  /** Earliest time a fetch needs attention (a request times out or a backoff ends). */
  nextDeadline(now: number): number | undefined {
    if (this.fetches.size === 0) return undefined
    let d: number | undefined
    for (const f of this.fetches.values()) {
      // A fetch waiting only for a free slot is woken by the settling of another one.
      const t =
        f.inflight !== undefined ? f.inflight.deadline : f.notBefore > now ? f.notBefore : undefined
      if (t !== undefined && (d === undefined || t < d)) d = t
    }
    return d
  }
}
