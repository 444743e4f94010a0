/**
 * OutboundQueue: the messages waiting to be written to one peer on one channel.
 *
 * Guarantees:
 * - `push` never waits: when the queue would exceed its message or byte bound, the oldest
 *   messages are dropped (a slow peer loses its backlog; the sender never stalls), but the
 *   newest message is always kept, whatever its size;
 * - `take` and `poll` hand messages out in push order, each once;
 * - `clear` forgets everything queued (the peer was blocked or disconnected).
 */
import { Effect, Queue } from "effect"

export interface OutboundQueueLimits {
  readonly maxMessages: number
  readonly maxBytes: number
}

export interface OutboundQueue {
  /** Queues a message; returns how many older messages were dropped to make room. */
  readonly push: (bytes: Uint8Array) => number
  /** Waits for the oldest queued message. */
  readonly take: Effect.Effect<Uint8Array>
  /** The oldest queued message, if any, without waiting. */
  readonly poll: () => Uint8Array | undefined
  /** Size in bytes of the oldest queued message, if any. */
  readonly peekSize: () => number | undefined
  readonly clear: () => void
  readonly size: () => number
  readonly bytes: () => number
}

export const makeOutboundQueue = (limits: OutboundQueueLimits): Effect.Effect<OutboundQueue> =>
  Effect.map(Queue.sliding<void>(1), (wake) => {
    let items: Uint8Array[] = []
    let head = 0
    let bytes = 0

    const compact = () => {
      // Amortised O(1) removal from the front without Array.shift's copying.
      if (head > 1024 && head * 2 > items.length) {
        items = items.slice(head)
        head = 0
      }
    }
    const shift = (): Uint8Array => {
      const item = items[head]
      items[head] = undefined as never
      head++
      bytes -= item.length
      compact()
      return item
    }
    const size = () => items.length - head

    const take: Effect.Effect<Uint8Array> = Effect.suspend(
      function loop(): Effect.Effect<Uint8Array> {
        if (size() > 0) return Effect.succeed(shift())
        return Effect.zipRight(Queue.take(wake), Effect.suspend(loop))
      },
    )

    return {
      push: (message) => {
        items.push(message)
        bytes += message.length
        let dropped = 0
        while (size() > 1 && (size() > limits.maxMessages || bytes > limits.maxBytes)) {
          shift()
          dropped++
        }
        Queue.unsafeOffer(wake, undefined)
        return dropped
      },
      take,
      poll: () => (size() > 0 ? shift() : undefined),
      peekSize: () => (size() > 0 ? items[head].length : undefined),
      clear: () => {
        items = []
        head = 0
        bytes = 0
      },
      size,
      bytes: () => bytes,
    }
  })
