/**
 * An in-process Network hub for driver tests: every attached peer gets an inbound queue;
 * sends are delivered immediately and in order; `block` drops a peer's later messages at
 * the blocking node; `detach` takes a node off the hub (a crash).
 */
import { Effect, Queue } from "effect"
import {
  CHANNEL_LIMITS,
  type Channel,
  type Inbound,
  MessageTooLarge,
  type NetworkShape,
  type PeerId,
} from "../../src/services/Network.ts"

interface Port {
  readonly inbound: Queue.Queue<Inbound>
  readonly blocked: Set<PeerId>
}

export class MemoryHub {
  private readonly ports = new Map<PeerId, Port>()
  readonly blocks: { by: PeerId; peer: PeerId; reason: string }[] = []

  attach(self: PeerId): Effect.Effect<NetworkShape> {
    return Effect.gen(this, function* () {
      const inbound = yield* Queue.unbounded<Inbound>()
      const port: Port = { inbound, blocked: new Set() }
      this.ports.set(self, port)
      return {
        self,
        inbound,
        send: (channel: Channel, to: ReadonlyArray<PeerId> | "all", bytes: Uint8Array) =>
          Effect.suspend(() => {
            const limit = CHANNEL_LIMITS[channel]
            if (bytes.length > limit)
              return Effect.fail(new MessageTooLarge({ channel, size: bytes.length, limit }))
            const targets = to === "all" ? [...this.ports.keys()].filter((p) => p !== self) : to
            for (const t of targets) {
              const dest = this.ports.get(t)
              if (dest === undefined || dest.blocked.has(self) || this.ports.get(self) !== port)
                continue
              dest.inbound.unsafeOffer({ from: self, channel, bytes })
            }
            return Effect.void
          }),
        block: (peer: PeerId, reason: string) =>
          Effect.sync(() => {
            port.blocked.add(peer)
            this.blocks.push({ by: self, peer, reason })
          }),
        connected: Effect.sync(() => [...this.ports.keys()].filter((p) => p !== self)),
      }
    })
  }

  detach(self: PeerId): void {
    this.ports.delete(self)
  }
}
