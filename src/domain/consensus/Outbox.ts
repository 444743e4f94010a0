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
  private appends: Output[] = []
  private rest: Output[] = []
  /** Peers blocked so far (the engine ignores them; the shell drops them). */
  readonly blocked = new Set<number>()

  append(view: View, entry: Uint8Array): void {
    this.appends.push({ _tag: "Append", view, entry })
  }

  send(channel: Channel, to: ReadonlyArray<number> | "all", bytes: Uint8Array): void {
    this.rest.push({ _tag: "Send", channel, to, bytes })
  }

  report(activity: Activity): void {
    this.rest.push({ _tag: "Report", activity })
  }

  block(peer: number, reason: string): void {
    if (this.blocked.has(peer)) return
    this.blocked.add(peer)
    this.rest.push({ _tag: "BlockPeer", peer, reason })
  }

  propose(context: Context): void {
    this.rest.push({ _tag: "Propose", context })
  }

  verify(context: Context, digest: Digest): void {
    this.rest.push({ _tag: "Verify", context, digest })
  }

  certify(round: Round, digest: Digest): void {
    this.rest.push({ _tag: "Certify", round, digest })
  }

  relay(digest: Digest, round: Round): void {
    this.rest.push({ _tag: "Relay", digest, plan: { _tag: "Propose", round } })
  }

  push(output: Output): void {
    this.rest.push(output)
  }

  /** The step's outputs in shell order; resets the box. */
  drain(): Output[] {
    const appends = this.appends
    const rest = this.rest
    if (appends.length === 0) {
      if (rest.length === 0) return NO_OUTPUTS
      this.rest = []
      return rest
    }
    this.appends = []
    this.rest = []
    appends.push(SYNC)
    for (const o of rest) appends.push(o)
    return appends
  }

  /** Drops everything collected (used by replay, which must not emit anything). */
  discard(): void {
    this.appends = []
    this.rest = []
  }
}
