/**
 * The production shell of the consensus engine: one scoped service that drives one
 * sans-IO Engine (src/domain/consensus/Engine.ts) with fibers.
 *
 * - A single fiber owns the engine. Every input (network message, timer firing, app
 *   answer) goes through one unbounded queue, so the engine is never entered twice.
 * - Outputs are performed in order. Appends are buffered in the journal and Sync fsyncs
 *   them; the engine orders every Append and its Sync before any Send of the same step,
 *   so nothing we signed leaves the node before it is durable.
 * - Group commit: the inputs waiting in the queue are handled together (up to 256), and
 *   their outputs performed as one step — every Append, one Sync, then the rest in order.
 *   The fsync runs off the event loop, so the network keeps being read meanwhile and the
 *   next batch is the larger for it: a loaded disk costs fewer fsyncs, not longer views.
 * - Timers are fibers sleeping on Effect's Clock, replaced or interrupted on
 *   SetTimer/CancelTimer. App requests run in their own fibers and answer through the
 *   queue; answers for views the engine left are ignored by the engine.
 * - Network peers are mapped to participant indices by their peer id; other peers
 *   (observers) get indices from n upwards and can use the resolver channel. A send to
 *   "all" goes to the participants only, never to other peers the network may know
 *   (full nodes have no use for votes).
 * - Propose and Verify requests of a view the engine has left are interrupted: their
 *   answers would be ignored, and a verify waiting for data nobody has must not live on.
 * - With a registry: `guts_consensus_view_changes_total{leader}` (views left, by the index
 *   of their leader), `guts_consensus_nullifications_total{leader}` (nullified views, by
 *   leader), `guts_consensus_view` and `guts_consensus_finalized_view` gauges.
 * - A journal failure stops the engine fiber (the node must not keep voting without a
 *   durable journal). Closing the scope interrupts every fiber and closes the journal.
 */
import * as path from "node:path"
import * as prom from "prom-client"
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
  /** Where the consensus metrics go (the node's registry); none when absent. */
  readonly registry?: prom.Registry
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

    const metrics = consensusMetrics(options.registry)
    const participants = options.peers
    /** Propose/Verify fibers by view, interrupted once the engine leaves the view. */
    const viewTasks = new Map<View, Array<Fiber.RuntimeFiber<void, never>>>()
    let shownView = engine.currentView
    const countedNullifications = new Set<View>()

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

    const viewTask = (view: View, effect: Effect.Effect<void>) =>
      Effect.gen(function* () {
        if (view < engine.currentView) return
        const fiber = yield* background(effect)
        const list = viewTasks.get(view)
        if (list === undefined) viewTasks.set(view, [fiber])
        else list.push(fiber)
        // A finished task need not be interrupted later.
        fiber.addObserver(() => {
          const tasks = viewTasks.get(view)
          if (tasks === undefined) return
          const i = tasks.indexOf(fiber)
          if (i >= 0) tasks.splice(i, 1)
          if (tasks.length === 0) viewTasks.delete(view)
        })
      })

    const leaderLabel = (view: View) => String(engine.leaderOf(view))

    const countNullification = (view: View) => {
      if (metrics === undefined || countedNullifications.has(view)) return
      countedNullifications.add(view)
      if (countedNullifications.size > 1024) {
        const oldest = countedNullifications.values().next().value
        if (oldest !== undefined) countedNullifications.delete(oldest)
      }
      metrics.nullifications.inc({ leader: leaderLabel(view) })
    }

    /** Interrupts the app tasks of views behind the engine and counts the views left. */
    const leaveViews = () =>
      Effect.gen(function* () {
        const current = engine.currentView
        if (current === shownView) return
        if (metrics !== undefined) {
          // After a long catch-up only the most recent views are labelled one by one.
          const from = current - shownView > 1000n ? current - 1000n : shownView
          for (let v = from; v < current; v++) metrics.viewChanges.inc({ leader: leaderLabel(v) })
          metrics.view.set(Number(current))
          metrics.finalizedView.set(Number(engine.lastFinalized))
        }
        shownView = current
        for (const [view, fibers] of viewTasks) {
          if (view >= current) continue
          viewTasks.delete(view)
          for (const fiber of fibers) yield* Fiber.interruptFork(fiber)
        }
      })

    const perform = (outs: ReadonlyArray<Output>, now: number) =>
      Effect.gen(function* () {
        // The outputs of several engine steps, each ordered Appends → Sync → rest: all the
        // Appends, one Sync, then the rest keeps every step's promise (and their order).
        let sync = false
        for (const o of outs) {
          if (o._tag === "Append") yield* journal.append(o.view, o.entry)
          else if (o._tag === "Sync") sync = true
        }
        if (sync) yield* journal.sync()
        for (const o of outs) {
          switch (o._tag) {
            case "Append":
            case "Sync":
              break
            case "Prune":
              yield* journal.prune(o.belowView)
              break
            case "Send": {
              const to =
                o.to === "all"
                  ? participants
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
              yield* viewTask(
                view,
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
              yield* viewTask(
                view,
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
              if (o.activity._tag === "Nullification") countNullification(o.activity.round.view)
              yield* reporter.report(o.activity)
              break
            case "BlockPeer": {
              const peer = peerOf[o.peer]
              if (peer !== undefined) yield* network.block(peer, o.reason)
              break
            }
          }
        }
        yield* leaveViews()
        const shown = yield* SubscriptionRef.get(status)
        if (
          shown.currentView !== engine.currentView ||
          shown.lastFinalized !== engine.lastFinalized
        )
          yield* SubscriptionRef.set(status, {
            currentView: engine.currentView,
            lastFinalized: engine.lastFinalized,
          })
      })

    const step = (batch: Iterable<Input>) =>
      Effect.gen(function* () {
        const outs: Output[] = []
        for (const input of batch) {
          const now = yield* Clock.currentTimeMillis
          for (const o of engine.handle(input, now)) outs.push(o)
        }
        yield* perform(outs, yield* Clock.currentTimeMillis)
      })

    const start = yield* Clock.currentTimeMillis
    yield* perform(engine.start(start), start)

    const source = options.inbound ?? network.inbound
    // Whatever has arrived moves in one go (one fiber hop per batch, not per message).
    yield* Effect.forkScoped(
      Effect.forever(
        Queue.takeBetween(source, 1, 1024).pipe(
          Effect.flatMap((batch) => {
            const messages: Input[] = []
            for (const m of batch) {
              const channel = CHANNEL_NAME[m.channel]
              if (channel !== undefined)
                messages.push({ _tag: "Message", from: peerIndex(m.from), channel, bytes: m.bytes })
            }
            return Queue.offerAll(inputs, messages)
          }),
        ),
      ),
    )
    yield* Effect.forkScoped(
      Effect.forever(Queue.takeBetween(inputs, 1, 256).pipe(Effect.flatMap(step))).pipe(
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

const consensusMetrics = (registry: prom.Registry | undefined) => {
  if (registry === undefined) return undefined
  // One driver per registry; a second one (a test restarting a node in-process) shares them.
  const existing = <T>(name: string) => registry.getSingleMetric(name) as T | undefined
  return {
    viewChanges:
      existing<prom.Counter<"leader">>("guts_consensus_view_changes_total") ??
      new prom.Counter({
        name: "guts_consensus_view_changes_total",
        help: "Views this node left, by the participant index of the view's leader",
        labelNames: ["leader"] as const,
        registers: [registry],
      }),
    nullifications:
      existing<prom.Counter<"leader">>("guts_consensus_nullifications_total") ??
      new prom.Counter({
        name: "guts_consensus_nullifications_total",
        help: "Views nullified (no block from their leader), by the participant index of the leader",
        labelNames: ["leader"] as const,
        registers: [registry],
      }),
    view:
      existing<prom.Gauge>("guts_consensus_view") ??
      new prom.Gauge({
        name: "guts_consensus_view",
        help: "The view this node's consensus engine is in",
        registers: [registry],
      }),
    finalizedView:
      existing<prom.Gauge>("guts_consensus_finalized_view") ??
      new prom.Gauge({
        name: "guts_consensus_finalized_view",
        help: "The highest finalized view this node knows",
        registers: [registry],
      }),
  }
}

/** The driver as a layer (scoped: closing the layer's scope stops consensus). */
export const ConsensusDriverLive = (options: ConsensusDriverOptions) =>
  Layer.scoped(ConsensusDriver, makeConsensusDriver(options))
