/**
 * Collects the outputs of one engine step and orders them (spec §3 "journal before
 * send"): every Append first, then a single Sync if anything was appended, then all
 * other outputs in the order they arose.
 */
import type { Activity, Channel, Output } from "./Engine.ts"
import type { Context, Digest, Round, View } from "./Types.ts"

const SYNC: Output = { _tag: "Sync" }

/**
 * The result of a step without outputs: one shared, frozen array (most messages a node
 * receives are duplicates that change nothing, and each would otherwise allocate one).
 */
export const NO_OUTPUTS: Output[] = Object.freeze([]) as unknown as Output[]

export class Outbox {
  // Outputs collect in two long-lived arrays with their own lengths; `drain` hands out an
  // exact-size copy. A fresh array per step would be grown on its first push (to 17
  // slots), and nearly every step emits something.
  private readonly appends: Output[] = []
  private appendCount = 0
  private readonly rest: Output[] = []
  private restCount = 0
  /** Peers blocked so far (the engine ignores them; the shell drops them). */
  readonly blocked = new Set<number>()

  append(view: View, entry: Uint8Array): void {
    this.appends[this.appendCount++] = { _tag: "Append", view, entry }
  }

  send(channel: Channel, to: ReadonlyArray<number> | "all", bytes: Uint8Array): void {
    this.push({ _tag: "Send", channel, to, bytes })
  }

  report(activity: Activity): void {
    this.push({ _tag: "Report", activity })
  }

  block(peer: number, reason: string): void {
    if (this.blocked.has(peer)) return
    this.blocked.add(peer)
    this.push({ _tag: "BlockPeer", peer, reason })
  }

  propose(context: Context): void {
    this.push({ _tag: "Propose", context })
  }

  verify(context: Context, digest: Digest): void {
    this.push({ _tag: "Verify", context, digest })
  }

  certify(round: Round, digest: Digest): void {
    this.push({ _tag: "Certify", round, digest })
  }

  relay(digest: Digest, round: Round): void {
    this.push({ _tag: "Relay", digest, plan: { _tag: "Propose", round } })
  }

  push(output: Output): void {
    this.rest[this.restCount++] = output
  }

  /** The step's outputs in shell order (a new array); resets the box. */
  drain(): Output[] {
    const na = this.appendCount
    const nr = this.restCount
    if (na === 0 && nr === 0) return NO_OUTPUTS
    const out: Output[] = new Array(na === 0 ? nr : na + 1 + nr)
    let k = 0
    const appends = this.appends
    for (let i = 0; i < na; i++) {
      out[k++] = appends[i]
      appends[i] = SYNC // drop the reference (the entry bytes) until the slot is reused
    }
    if (na > 0) out[k++] = SYNC
    const rest = this.rest
    for (let i = 0; i < nr; i++) {
      out[k++] = rest[i]
      rest[i] = SYNC
    }
    this.appendCount = 0
    this.restCount = 0
    return out
  }

  /** Drops everything collected (used by replay, which must not emit anything). */
  discard(): void {
    for (let i = 0; i < this.appendCount; i++) this.appends[i] = SYNC
    for (let i = 0; i < this.restCount; i++) this.rest[i] = SYNC
    this.appendCount = 0
    this.restCount = 0
  }
}
