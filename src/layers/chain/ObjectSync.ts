/**
 * Checking and moving git objects between nodes. Objects travel as stored (whole, or as a
 * delta over a base sent earlier in the same batch or already held by the receiver), and a
 * receiver keeps only what it re-hashes to the announced id: a peer cannot plant an object
 * under a false id. The same record check serves the stores' scrub and a sender's
 * verify-before-serve, so damaged bytes are caught wherever they are read.
 */
import * as zlib from "node:zlib"
import { Effect } from "effect"
import { applyDelta, DeltaError } from "../../domain/git/Delta.ts"
import { hashObject } from "../../domain/git/GitObject.ts"
import type { ObjectId, ObjectType } from "../../domain/git/ObjectId.ts"
import {
  deflatedLengthOf,
  type GitObject,
  ObjectCorrupt,
  type ObjectStoreShape,
  type StoredObject,
} from "../../services/ObjectStore.ts"

export type RecordCheck =
  /** The record resolves to content of its recorded size that hashes to its id. */
  | { readonly _tag: "Sound"; readonly content: Buffer }
  /** The record itself is damaged. */
  | { readonly _tag: "Damaged"; readonly reason: string }
  /** A delta whose base is not available (unknown here, or itself damaged). */
  | { readonly _tag: "NoBase"; readonly base: ObjectId }

/**
 * Checks one stored record. `base` gives a delta's base content (undefined when it cannot:
 * absent or damaged); it is only called for deltas.
 */
export const checkRecord = <R>(
  o: StoredObject,
  base: (id: ObjectId) => Effect.Effect<{ readonly content: Uint8Array } | undefined, never, R>,
): Effect.Effect<RecordCheck, never, R> =>
  Effect.gen(function* () {
    let content: Buffer
    try {
      if (o.repr.kind === "whole") content = zlib.inflateSync(o.repr.deflated)
      else {
        const b = yield* base(o.repr.base)
        if (b === undefined) return { _tag: "NoBase", base: o.repr.base } as const
        const out = applyDelta(Buffer.from(b.content), zlib.inflateSync(o.repr.deflated))
        if (out instanceof DeltaError) return { _tag: "Damaged", reason: out.message } as const
        content = out
      }
    } catch (e) {
      return { _tag: "Damaged", reason: `zlib: ${(e as Error).message}` } as const
    }
    if (content.length !== o.size)
      return {
        _tag: "Damaged",
        reason: `content is ${content.length} bytes, the record says ${o.size}`,
      } as const
    if (hashObject(o.type, content) !== o.id)
      return { _tag: "Damaged", reason: "content does not hash to its id" } as const
    return { _tag: "Sound", content } as const
  })

export interface Verified {
  /** The objects of the batch that hash to their id, as they came. */
  readonly good: ReadonlyArray<StoredObject>
  /** Resolved content of the good objects whose id is in `want`. */
  readonly wanted: ReadonlyArray<GitObject>
  /** Ids of the batch that were dropped (damaged, or their base unavailable). */
  readonly bad: ReadonlyArray<ObjectId>
}

/**
 * The objects of `batch` whose content hashes to their id (bases: batch, then store), and
 * the resolved content of those named in `want` (for repairing damaged records).
 */
export const verifyReceived = (
  batch: ReadonlyArray<StoredObject>,
  store: ObjectStoreShape,
  want: ReadonlySet<ObjectId> = new Set(),
) =>
  Effect.gen(function* () {
    const contents = new Map<ObjectId, { type: ObjectType; content: Buffer }>()
    const good: StoredObject[] = []
    const wanted: GitObject[] = []
    const bad: ObjectId[] = []
    const base = (id: ObjectId) =>
      Effect.suspend((): Effect.Effect<{ readonly content: Uint8Array } | undefined> => {
        const hit = contents.get(id)
        if (hit) return Effect.succeed(hit)
        return store.get(id).pipe(Effect.orElseSucceed(() => undefined))
      })
    let pending = [...batch]
    // Deltas may precede their base in a batch: resolve in passes until nothing moves.
    for (let pass = 0; pending.length > 0 && pass < 64; pass++) {
      const next: StoredObject[] = []
      for (const o of pending) {
        const check = yield* checkRecord(o, base)
        if (check._tag === "NoBase") {
          next.push(o)
          continue
        }
        if (check._tag === "Damaged") {
          bad.push(o.id)
          continue
        }
        const { content } = check
        if (o.type !== "blob" || content.length < 1024 * 1024)
          contents.set(o.id, { type: o.type, content })
        if (want.has(o.id)) wanted.push({ id: o.id, type: o.type, content })
        good.push(o)
      }
      if (next.length === pending.length) {
        for (const o of next) bad.push(o.id)
        break
      }
      pending = next
    }
    return { good, wanted, bad } satisfies Verified
  })

/**
 * Ids found damaged and not yet repaired. Bounded: a disk that went bad everywhere must
 * not also exhaust memory (the next scrub finds the rest).
 */
export class DamageLog {
  private readonly ids = new Set<ObjectId>()
  constructor(private readonly limit = 100_000) {}
  add(id: ObjectId) {
    if (this.ids.size < this.limit) this.ids.add(id)
  }
  delete(id: ObjectId) {
    this.ids.delete(id)
  }
  list(): ReadonlyArray<ObjectId> {
    return [...this.ids]
  }
  /** Remembers the culprit of an ObjectCorrupt failure and lets it through. */
  noting<A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> {
    return Effect.tapError(self, (e) =>
      Effect.sync(() => {
        if (e instanceof ObjectCorrupt) this.add(e.id)
      }),
    )
  }
}

/**
 * Checks records (as decoded from the store) one by one, resolving delta bases through
 * `resolve` (which verifies them). Shared by both store layers.
 */
export const scrubRecords = (
  records: ReadonlyArray<StoredObject>,
  resolve: (id: ObjectId) => Effect.Effect<GitObject, unknown>,
) =>
  Effect.gen(function* () {
    const corrupt: ObjectCorrupt[] = []
    for (const o of records) {
      const check = yield* checkRecord(o, (id) =>
        resolve(id).pipe(Effect.orElseSucceed(() => undefined)),
      )
      if (check._tag === "Damaged")
        corrupt.push(new ObjectCorrupt({ id: o.id, reason: check.reason }))
      else if (check._tag === "NoBase") {
        // A base that is absent makes this record unusable; a damaged base is blamed alone.
        const baseHeld = yield* resolve(check.base).pipe(
          Effect.as(true),
          Effect.catchAll((e) => Effect.succeed(e instanceof ObjectCorrupt)),
        )
        if (!baseHeld)
          corrupt.push(
            new ObjectCorrupt({ id: o.id, reason: `its delta base ${check.base} is missing` }),
          )
      }
    }
    return corrupt
  })

/** Splits objects into messages of at most ~`limit` bytes each. */
export const chunkObjects = (objects: ReadonlyArray<StoredObject>, limit = 8 * 1024 * 1024) => {
  const chunks: StoredObject[][] = []
  let current: StoredObject[] = []
  let size = 0
  for (const o of objects) {
    const n = deflatedLengthOf(o.repr) + 48
    if (size + n > limit && current.length > 0) {
      chunks.push(current)
      current = []
      size = 0
    }
    current.push(o)
    size += n
  }
  if (current.length > 0) chunks.push(current)
  return chunks
}
