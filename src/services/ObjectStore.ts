/**
 * ObjectStore: content-addressed, immutable git objects shared by every repository.
 *
 * Guarantees (checked by test/conformance/ObjectStore.conformance.ts for every layer):
 * - An object is stored under the SHA-1 of its canonical encoding (`<type> <size>\0<content>`);
 *   the store never holds an object whose id it did not verify at write time.
 * - Objects are immutable: writing an id twice is a no-op.
 * - Each object keeps a *pack representation*: either the whole content deflated, or a
 *   delta against a base object (as it arrived in a pack). Serving a pack can copy these
 *   bytes verbatim (delta reuse) instead of recompressing.
 * - `putBatch` is atomic: after a crash either every object of the batch is present or none.
 * - Damage is detected, never served silently through `get`: resolved reads re-hash, and
 *   `scrub` re-reads and re-hashes every stored record. Ids found damaged either way are
 *   listed by `damaged` until `repair` writes a verified copy over them (the one write that
 *   replaces a record, always with a whole representation, so no delta cycle can form).
 *
 * Layers: ObjectStoreMemory (tests, `--storage memory`), ObjectStoreRocks (RocksDB).
 */
import { Context, Data, type Effect } from "effect"
import type { ObjectId, ObjectType } from "../domain/git/ObjectId.ts"

/**
 * How an object is kept: its deflated bytes, whole or as a delta over `base`.
 * `deflated` may be read back from a spool on each access (a large push keeps its pack
 * in a file, not in memory); `deflatedLength`, when present, is its length without a read.
 */
export type PackedRepr =
  | {
      readonly kind: "whole"
      readonly deflated: Uint8Array
      readonly deflatedLength?: number
      /** Copies the deflated bytes into `target` at `offset` (a spooled one, without a buffer of its own). */
      readonly copyDeflatedTo?: (target: Uint8Array, offset: number) => void
    }
  | {
      readonly kind: "delta"
      readonly base: ObjectId
      readonly deflated: Uint8Array
      readonly deflatedLength?: number
      readonly copyDeflatedTo?: (target: Uint8Array, offset: number) => void
      /** Inflated size of the delta data itself (what a pack entry header states). */
      readonly deltaSize: number
    }

/** The object with its deflated bytes in memory (a spooled one read, a plain one as is). */
export const materialized = (o: StoredObject): StoredObject => {
  const r = o.repr
  if (r.deflatedLength === undefined) return o
  return {
    id: o.id,
    type: o.type,
    size: o.size,
    repr:
      r.kind === "whole"
        ? { kind: "whole", deflated: r.deflated }
        : { kind: "delta", base: r.base, deflated: r.deflated, deltaSize: r.deltaSize },
  }
}

/** Writes a representation's deflated bytes into `target` at `offset`. */
export const copyDeflated = (repr: PackedRepr, target: Uint8Array, offset: number): void => {
  if (repr.copyDeflatedTo) repr.copyDeflatedTo(target, offset)
  else target.set(repr.deflated, offset)
}

/** The length of a representation's deflated bytes (without reading a spooled one). */
export const deflatedLengthOf = (repr: PackedRepr): number =>
  repr.deflatedLength ?? repr.deflated.length

export interface StoredObject {
  readonly id: ObjectId
  readonly type: ObjectType
  /** Size of the inflated, fully resolved content. */
  readonly size: number
  readonly repr: PackedRepr
}

/** A fully resolved object. */
export interface GitObject {
  readonly id: ObjectId
  readonly type: ObjectType
  readonly content: Uint8Array
}

export class ObjectNotFound extends Data.TaggedError("ObjectNotFound")<{ readonly id: ObjectId }> {
  override get message() {
    return `object ${this.id} is not in the store`
  }
}

/** The store found bytes under an id that do not hash to it (disk corruption, tampering). */
export class ObjectCorrupt extends Data.TaggedError("ObjectCorrupt")<{
  readonly id: ObjectId
  readonly reason: string
}> {
  override get message() {
    return `object ${this.id} is corrupt: ${this.reason}`
  }
}

export class StorageError extends Data.TaggedError("StorageError")<{
  readonly operation: string
  readonly cause: unknown
}> {
  override get message() {
    return `storage ${this.operation} failed: ${String((this.cause as Error)?.message ?? this.cause)}`
  }
}

/** What a scrub found: records checked, and the damaged ones with why. */
export interface ScrubReport {
  readonly checked: number
  readonly corrupt: ReadonlyArray<ObjectCorrupt>
}

export interface ObjectStoreShape {
  readonly has: (id: ObjectId) => Effect.Effect<boolean, StorageError>
  /** Which of `ids` are missing (one round trip for many). */
  readonly missing: (
    ids: ReadonlyArray<ObjectId>,
  ) => Effect.Effect<ReadonlyArray<ObjectId>, StorageError>
  /** The resolved object (delta chains followed iteratively, result re-hashed). */
  readonly get: (
    id: ObjectId,
  ) => Effect.Effect<GitObject, ObjectNotFound | ObjectCorrupt | StorageError>
  /** Many resolved objects in few storage round trips (missing ones are undefined). */
  readonly getMany: (
    ids: ReadonlyArray<ObjectId>,
  ) => Effect.Effect<ReadonlyArray<GitObject | undefined>, ObjectCorrupt | StorageError>
  /** Many stored representations in one storage round trip (missing ones are undefined). */
  readonly getStoredMany: (
    ids: ReadonlyArray<ObjectId>,
  ) => Effect.Effect<ReadonlyArray<StoredObject | undefined>, StorageError>
  /** The stored representation, for delta reuse when writing packs. */
  readonly getStored: (id: ObjectId) => Effect.Effect<StoredObject, ObjectNotFound | StorageError>
  /** Stores one whole object (loose write); returns its id. */
  readonly put: (type: ObjectType, content: Uint8Array) => Effect.Effect<ObjectId, StorageError>
  /**
   * Stores already-verified objects atomically. The caller (pack ingestion) has resolved
   * every delta and checked every id; delta bases must be in the batch or in the store.
   */
  readonly putBatch: (objects: ReadonlyArray<StoredObject>) => Effect.Effect<void, StorageError>
  /** Bytes the store's volume has free (for `guts_storage_available_bytes`). */
  readonly availableBytes: Effect.Effect<number, StorageError>
  /**
   * Re-reads every stored record, bypassing caches, and checks that it decodes, resolves
   * (a delta over its base) to content of the recorded size that hashes to its id. A delta
   * whose base is itself damaged is not blamed: the base is. Found damage joins `damaged`.
   */
  readonly scrub: Effect.Effect<ScrubReport, StorageError>
  /** Ids found damaged (by a read or a scrub) and not repaired since. */
  readonly damaged: Effect.Effect<ReadonlyArray<ObjectId>>
  /**
   * Writes each object whose content hashes to its id as a whole record, over whatever
   * record the id had, and forgets it as damaged; returns the ids written (objects that do
   * not hash to their id are skipped).
   */
  readonly repair: (
    objects: ReadonlyArray<GitObject>,
  ) => Effect.Effect<ReadonlyArray<ObjectId>, StorageError>
  /**
   * Data derived from objects alone (a clone's object list for a set of tips), kept beside
   * them so that it outlives a restart. Never part of replicated state: anything here can
   * be dropped and computed again. `undefined` deletes.
   */
  readonly getDerived: (key: string) => Effect.Effect<Uint8Array | undefined, StorageError>
  readonly putDerived: (
    key: string,
    value: Uint8Array | undefined,
  ) => Effect.Effect<void, StorageError>
}

export class ObjectStore extends Context.Tag("guts/ObjectStore")<ObjectStore, ObjectStoreShape>() {}
