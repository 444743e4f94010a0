/**
 * The production shell of the consensus engine: one scoped service that drives one
 * sans-IO Engine (src/domain/consensus/Engine.ts) with fibers.
 *
 * - A single fiber owns the engine. Every input (network message, timer firing, app
 *   answer) goes through one unbounded queue, so the engine is never entered twice.
 * - Outputs are performed in order. Appends are buffered in the journal and Sync fsyncs
 *   them; the engine orders every Append and its Sync before any Send of the same step,
 *   so nothing we signed leaves the node before it is durable.
 * - Timers are fibers sleeping on Effect's Clock, replaced or interrupted on
 *   SetTimer/CancelTimer. App requests run in their own fibers and answer through the
 *   queue; answers for views the engine left are ignored by the engine.
 * - Network peers are mapped to participant indices by their peer id; other peers
 *   (observers) get indices from n upwards and can use the resolver channel.
 * - A journal failure stops the engine fiber (the node must not keep voting without a
 *   durable journal). Closing the scope interrupts every fiber and closes the journal.
 */
import * as path from "node:path"
import {
  Clock,
  Context,
  Effect,
  Fiber,
  FiberSet,
  Layer,
  Queue,
  type Scope,
  Stream,
  SubscriptionRef,
} from "effect"
import {
  type Channel,
  Engine,
  type EngineConfig,
  type Input,
  type Output,
} from "../../domain/consensus/Engine.ts"
import type { View } from "../../domain/consensus/Types.ts"
import {
  Channels,
  type Inbound,
  Network,
  type Channel as NetChannel,
  type PeerId,
} from "../../services/Network.ts"
import { Automaton, Relay, Reporter } from "./Application.ts"
import { Journal, type JournalError } from "./Journal.ts"

export interface ConsensusDriverOptions {
  readonly engine: EngineConfig
  /** Network peer id of each participant, index-aligned with `engine.participants`. */
  readonly peers: ReadonlyArray<PeerId>
  /** The node's data directory; the journal lives in `<dataDir>/consensus/journal`. */
  readonly dataDir: string
  /** Views per journal segment (default 256). */
  readonly segmentViews?: bigint
  /**
   * Where consensus messages arrive (default: the Network's inbound queue). Give a
   * demultiplexed queue when other services also read the network.
   */
  readonly inbound?: Queue.Dequeue<Inbound>
}

export interface ConsensusStatus {
  readonly currentView: View
  readonly lastFinalized: View
}

export interface ConsensusDriverShape {
  readonly status: Effect.Effect<ConsensusStatus>
  /** Changes of the status, starting with the current one. */
  readonly changes: Stream.Stream<ConsensusStatus>
  /** Completes once a finalization at or above `view` is known. */
  readonly awaitFinalized: (view: View) => Effect.Effect<void>
}

export class ConsensusDriver extends Context.Tag("guts/consensus/ConsensusDriver")<
  ConsensusDriver,
  ConsensusDriverShape
>() {}

const CHANNEL_ID: Record<Channel, NetChannel> = {
  vote: Channels.pending,
  certificate: Channels.recovered,
  resolver: Channels.resolver,
}

const CHANNEL_NAME: Record<number, Channel | undefined> = {
  [Channels.pending]: "vote",
  [Channels.recovered]: "certificate",
  [Channels.resolver]: "resolver",
}

export const journalDir = (dataDir: string) => path.join(dataDir, "consensus", "journal")

/** Builds and starts a driver in the current scope. */
export const makeConsensusDriver = (
  options: ConsensusDriverOptions,
): Effect.Effect<
  ConsensusDriverShape,
  JournalError,
  Scope.Scope | Network | Automaton | Relay | Reporter
> =>
  Effect.gen(function* () {
    const network = yield* Network
    const automaton = yield* Automaton
    const relay = yield* Relay
    const reporter = yield* Reporter
    const n = options.engine.participants.length
    if (options.peers.length !== n) throw new Error("peers must be index-aligned with participants")

    const { journal, replayed } = yield* Journal.open({
      dir: journalDir(options.dataDir),
      segmentViews: options.segmentViews,
    })
    if (replayed.truncatedBytes > 0)
      yield* Effect.logWarning(
        `consensus journal: truncated a torn tail of ${replayed.truncatedBytes} bytes`,
      )

    const engine = new Engine(options.engine)
    engine.replay(replayed.entries)

    const indexOf = new Map<PeerId, number>(options.peers.map((p, i) => [p, i]))
    const peerOf: PeerId[] = [...options.peers]
    const peerIndex = (peer: PeerId): number => {
      let i = indexOf.get(peer)
      if (i === undefined) {
        i = peerOf.length
        peerOf.push(peer)
        indexOf.set(peer, i)
      }
      return i
    }

    const inputs = yield* Queue.unbounded<Input>()
    const fibers = yield* FiberSet.make<void, never>()
    const timers = new Map<string, Fiber.RuntimeFiber<void, never>>()
    const status = yield* SubscriptionRef.make<ConsensusStatus>({
      currentView: engine.currentView,
      lastFinalized: engine.lastFinalized,
    })
    const offer = (input: Input) => Queue.offer(inputs, input).pipe(Effect.asVoid)
    const background = <E>(effect: Effect.Effect<void, E>) =>
      FiberSet.run(
        fibers,
        effect.pipe(
          Effect.catchAllCause((cause) => Effect.logWarning("consensus task failed", cause)),
        ),
      )

    const setTimer = (id: string, atMs: number, now: number) =>
      Effect.gen(function* () {
        const old = timers.get(id)
        if (old !== undefined) yield* Fiber.interruptFork(old)
        const fiber = yield* background(
          Effect.sleep(Math.max(0, atMs - now)).pipe(Effect.zipRight(offer({ _tag: "Timer", id }))),
        )
        timers.set(id, fiber)
      })

    const perform = (outs: ReadonlyArray<Output>, now: number) =>
      Effect.gen(function* () {
        for (const o of outs) {
          switch (o._tag) {
            case "Append":
              yield* journal.append(o.view, o.entry)
              break
            case "Sync":
              yield* journal.sync()
              break
            case "Prune":
              yield* journal.prune(o.belowView)
              break
            case "Send": {
              const to =
                o.to === "all"
                  ? "all"
                  : o.to.flatMap((i) => (peerOf[i] === undefined ? [] : [peerOf[i]]))
              yield* network
                .send(CHANNEL_ID[o.channel], to, o.bytes)
                .pipe(Effect.catchTag("MessageTooLarge", (e) => Effect.logWarning(e.message)))
              break
            }
            case "SetTimer":
              yield* setTimer(o.id, o.atMs, now)
              break
            case "CancelTimer": {
              const old = timers.get(o.id)
              timers.delete(o.id)
              if (old !== undefined) yield* Fiber.interruptFork(old)
              break
            }
            case "Propose": {
              const view = o.context.round.view
              yield* background(
                automaton.propose(o.context).pipe(
                  Effect.orElseSucceed(() => undefined),
                  Effect.flatMap((digest) => offer({ _tag: "Proposed", view, digest })),
                ),
              )
              break
            }
            case "Verify": {
              const { digest } = o
              const view = o.context.round.view
              yield* background(
                automaton.verify(o.context, digest).pipe(
                  Effect.orElseSucceed(() => false),
                  Effect.flatMap((ok) => offer({ _tag: "Verified", view, digest, ok })),
                ),
              )
              break
            }
            case "Certify": {
              const { digest } = o
              const view = o.round.view
              yield* background(
                automaton
                  .certify(o.round, digest)
                  .pipe(Effect.flatMap((ok) => offer({ _tag: "Certified", view, digest, ok }))),
              )
              break
            }
            case "Relay":
              yield* background(relay.broadcast(o.digest, o.plan))
              break
            case "Report":
              yield* reporter.report(o.activity)
              break
            case "BlockPeer": {
              const peer = peerOf[o.peer]
              if (peer !== undefined) yield* network.block(peer, o.reason)
              break
            }
          }
        }
        yield* SubscriptionRef.set(status, {
          currentView: engine.currentView,
          lastFinalized: engine.lastFinalized,
        })
      })

    const step = (input: Input) =>
      Effect.gen(function* () {
        const now = yield* Clock.currentTimeMillis
        yield* perform(engine.handle(input, now), now)
      })

    const start = yield* Clock.currentTimeMillis
    yield* perform(engine.start(start), start)

    const source = options.inbound ?? network.inbound
    yield* Effect.forkScoped(
      Effect.forever(
        Queue.take(source).pipe(
          Effect.flatMap((m) => {
            const channel = CHANNEL_NAME[m.channel]
            if (channel === undefined) return Effect.void
            return offer({ _tag: "Message", from: peerIndex(m.from), channel, bytes: m.bytes })
          }),
        ),
      ),
    )
    yield* Effect.forkScoped(
      Effect.forever(Queue.take(inputs).pipe(Effect.flatMap(step))).pipe(
        Effect.tapErrorCause((cause) => Effect.logError("consensus engine stopped", cause)),
        Effect.orDie,
      ),
    )

    const awaitFinalized = (view: View) =>
      status.changes.pipe(
        Stream.filter((s) => s.lastFinalized >= view),
        Stream.take(1),
        Stream.runDrain,
      )

    return {
      status: SubscriptionRef.get(status),
      changes: status.changes,
      awaitFinalized,
    } satisfies ConsensusDriverShape
  })

/** The driver as a layer (scoped: closing the layer's scope stops consensus). */
export const ConsensusDriverLive = (options: ConsensusDriverOptions) =>
  Layer.scoped(ConsensusDriver, makeConsensusDriver(options))
