/**
 * ObjectRepair: finding damaged git objects in this node's store and replacing them with
 * sound copies from peers.
 *
 * Guarantees:
 * - the store is scrubbed (every record re-read and re-hashed) shortly after start and then
 *   periodically; damage found by any read (clone, API, apply, serving a peer) is picked up
 *   too, from the store's `damaged` list;
 * - every damaged id is counted once in `guts_storage_corrupt_objects_total` (again if it is
 *   damaged anew after a repair), and asked from peers until one sends a copy that hashes
 *   to it; that copy is written over the damaged record and counted in
 *   `guts_storage_repaired_objects_total`;
 * - nothing is served to a peer unverified: `sound` drops (and records as damaged) objects
 *   whose stored bytes do not resolve to their id, so a damaged record never spreads.
 */
import { Clock, Duration, Effect, Layer, Schedule } from "effect"
import * as prom from "prom-client"
import type { ObjectId } from "../../domain/git/ObjectId.ts"
import {
  ObjectStore,
  type ObjectStoreShape,
  type ScrubReport,
  type StoredObject,
} from "../../services/ObjectStore.ts"
import { Metrics } from "../Metrics.ts"
import { verifyReceived } from "./ObjectSync.ts"

export interface ObjectRepairOptions {
  readonly objects: ObjectStoreShape
  readonly registry: prom.Registry
  /** Asks peers for these objects (their answers come back through `received`). */
  readonly ask: (ids: ReadonlyArray<ObjectId>) => Effect.Effect<void>
  /** Delay before the first scrub (default 3 s: let the node connect to its peers first). */
  readonly firstScrubAfterMs?: number
  /** Between scrubs (default 24 h). */
  readonly scrubEveryMs?: number
  /** How often the damaged list is looked at (default 1 s). */
  readonly pollMs?: number
  /** How long before the same id is asked for again (default 2 s). */
  readonly reaskMs?: number
}

const counter = (registry: prom.Registry, name: string, help: string) =>
  (registry.getSingleMetric(name) as prom.Counter | undefined) ??
  new prom.Counter({ name, help, registers: [registry] })

export const storageMetrics = (registry: prom.Registry) => ({
  corrupt: counter(
    registry,
    "guts_storage_corrupt_objects_total",
    "Stored git objects found damaged (bytes that no longer hash to their id), by a read or a scrub",
  ),
  repaired: counter(
    registry,
    "guts_storage_repaired_objects_total",
    "Damaged git objects replaced by a verified copy from a peer",
  ),
  scrubbed: counter(
    registry,
    "guts_storage_scrubbed_objects_total",
    "Stored git objects re-read and re-hashed by scrubs",
  ),
})

/** Scrubs once, logging what was found (damage joins the store's `damaged` list). */
export const scrubOnce = (objects: ObjectStoreShape, registry: prom.Registry) =>
  Effect.gen(function* () {
    const m = storageMetrics(registry)
    const report: ScrubReport = yield* objects.scrub
    m.scrubbed.inc(report.checked)
    if (report.corrupt.length === 0)
      yield* Effect.logInfo(`scrub: ${report.checked} objects checked, none damaged`)
    else
      yield* Effect.logWarning(
        `scrub: ${report.corrupt.length} of ${report.checked} objects damaged: ${report.corrupt
          .slice(0, 5)
          .map((c) => c.message)
          .join("; ")}`,
      )
    return report
  })

/**
 * Starts the scrub schedule and the repair loop in the current scope; returns what the
 * sync channel handlers call.
 */
export const makeObjectRepair = (options: ObjectRepairOptions) =>
  Effect.gen(function* () {
    const { objects } = options
    const m = storageMetrics(options.registry)
    const counted = new Set<ObjectId>()
    const askedAt = new Map<ObjectId, number>()

    const poll = Effect.gen(function* () {
      const damaged = yield* objects.damaged
      if (damaged.length === 0) return
      const fresh = damaged.filter((id) => !counted.has(id))
      for (const id of fresh) counted.add(id)
      if (fresh.length > 0) {
        m.corrupt.inc(fresh.length)
        yield* Effect.logWarning(
          `${fresh.length} damaged object(s) in the store (${fresh.slice(0, 3).join(", ")}…); asking peers for sound copies`,
        )
      }
      const now = yield* Clock.currentTimeMillis
      const reask = options.reaskMs ?? 2_000
      const due = damaged.filter((id) => now - (askedAt.get(id) ?? -reask) >= reask).slice(0, 1024)
      for (const id of due) askedAt.set(id, now)
      if (due.length > 0) yield* options.ask(due)
    })
    yield* poll.pipe(
      Effect.catchAllCause((c) => Effect.logWarning("object repair poll failed", c)),
      Effect.repeat(Schedule.spaced(Duration.millis(options.pollMs ?? 1_000))),
      Effect.forkScoped,
    )
    yield* scrubOnce(objects, options.registry).pipe(
      Effect.catchAllCause((c) => Effect.logWarning("scrub failed", c)),
      Effect.delay(Duration.millis(options.firstScrubAfterMs ?? 3_000)),
      Effect.repeat(Schedule.spaced(Duration.millis(options.scrubEveryMs ?? 24 * 3600_000))),
      Effect.forkScoped,
    )

    /**
     * The objects of a batch from a peer that hash to their id, to store; sound copies of
     * damaged ones are written over the damage right away.
     */
    const received = (batch: ReadonlyArray<StoredObject>) =>
      Effect.gen(function* () {
        const damaged = new Set(yield* objects.damaged)
        const hit = damaged.size > 0 && batch.some((o) => damaged.has(o.id))
        const { good, wanted } = yield* verifyReceived(batch, objects, hit ? damaged : undefined)
        if (wanted.length > 0) {
          const written = yield* objects.repair(wanted)
          for (const id of written) {
            counted.delete(id)
            askedAt.delete(id)
          }
          m.repaired.inc(written.length)
          yield* Effect.logInfo(`repaired ${written.length} damaged object(s) from a peer's copy`)
        }
        return good
      })

    /** Of objects about to be served, those whose stored bytes resolve to their id. */
    const sound = (stored: ReadonlyArray<StoredObject>) =>
      Effect.gen(function* () {
        const { good, bad } = yield* verifyReceived(stored, objects)
        // Reading the bad ones through the store records the damage (or its culprit base).
        for (const id of bad) yield* objects.get(id).pipe(Effect.ignore)
        return good
      })

    return { received, sound, scrub: scrubOnce(objects, options.registry) }
  })

export type ObjectRepair = Effect.Effect.Success<ReturnType<typeof makeObjectRepair>>

/**
 * For a node without peers (a single validator): the same scrub schedule and damage
 * metric, without repair (nobody holds another copy), so damage is at least reported.
 */
export const ObjectScrubLive = Layer.scopedDiscard(
  Effect.gen(function* () {
    const objects = yield* ObjectStore
    const metrics = yield* Metrics
    yield* makeObjectRepair({
      objects,
      registry: metrics.registry,
      reaskMs: 3600_000,
      ask: (ids) =>
        Effect.logWarning(
          `${ids.length} damaged object(s) and no peer to repair them from; restore them from a backup`,
        ),
    })
  }),
)
