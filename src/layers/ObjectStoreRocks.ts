/**
 * ObjectStore on RocksDB, column family `objects`. Key: the 20 raw id bytes. Value: a
 * compact record —
 *   byte 0: type code (1 commit, 2 tree, 3 blob, 4 tag); byte 1: 0 whole, 1 delta;
 *   varint: resolved size; delta only: 20 base id bytes, varint delta size;
 *   then the deflated bytes (the pack representation, reusable verbatim).
 *
 * Reads re-hash what they resolve (ObjectResolver), so bytes damaged or replaced on disk
 * fail as ObjectCorrupt instead of being served; a record that does not even decode is
 * corruption too. Either way the id is remembered as damaged. `scrub` walks the column
 * family one first-byte prefix at a time (bounded memory) and checks every record itself.
 * Writes never replace a stored object — a second representation of the same id could
 * otherwise close a delta cycle (A over B, then B over A) — except `repair`, which only
 * writes verified whole records.
 *
 * Presence markers: with each record, in the same write batch, goes a key of the 20 id
 * bytes and one more byte (PRESENCE_TAG) with an empty value. Asking whether objects exist
 * (before every write, and `missing`) reads the markers, not the records: a push of objects
 * the store already has (a mirror, a second copy of a history) would otherwise read every
 * record back, tens of megabytes of values, only to learn that they are there. A record
 * from before markers (a directory of layout 2, see Rocks) has none: there, for ids
 * without a marker the records themselves are read, so such a record is still found (and
 * never replaced). Scans skip marker keys (21 bytes).
 */
import * as fs from "node:fs"
import * as zlib from "node:zlib"
import { Effect, Layer } from "effect"
import { DamageLog, scrubRecords } from "./chain/ObjectSync.ts"
import {
  OBJECT_TYPE_BY_CODE,
  OBJECT_TYPE_CODE,
  type ObjectId,
  objectIdFromBytes,
  objectIdToBytes,
} from "../domain/git/ObjectId.ts"
import {
  type GitObject,
  ObjectCorrupt,
  ObjectNotFound,
  ObjectStore,
  type ScrubReport,
  StorageError,
  type StoredObject,
  copyDeflated,
  deflatedLengthOf,
} from "../services/ObjectStore.ts"
import { hashOf, makeResolver } from "./ObjectResolver.ts"
import { Rocks } from "./Rocks.ts"

/** The key of an object in the `objects` column family (tests use it to damage records). */
export const objectKey = (id: ObjectId): Buffer => objectIdToBytes(id)

/** The last byte of a presence marker's key (after the 20 id bytes). */
const PRESENCE_TAG = 0x70
const EMPTY = Buffer.alloc(0)

/** The key of an object's presence marker (see the module header). */
export const presenceKey = (id: ObjectId): Buffer => {
  const key = Buffer.allocUnsafe(21)
  key.write(id, 0, 20, "hex")
  key[20] = PRESENCE_TAG
  return key
}

const varint = (n: number) => {
  const out: number[] = []
  while (n >= 0x80) {
    out.push((n % 0x80) | 0x80)
    n = Math.floor(n / 0x80)
  }
  out.push(n)
  return out
}

export const encodeStored = (o: StoredObject): Buffer => {
  const r = o.repr
  const head = [OBJECT_TYPE_CODE[o.type], r.kind === "whole" ? 0 : 1, ...varint(o.size)]
  if (r.kind === "delta") head.push(...objectIdToBytes(r.base), ...varint(r.deltaSize))
  // One buffer for the record; spooled bytes are read straight into it.
  const out = Buffer.allocUnsafe(head.length + deflatedLengthOf(r))
  out.set(head, 0)
  copyDeflated(r, out, head.length)
  return out
}

/** The record, or why it is not one. */
export const decodeStored = (id: ObjectId, v: Uint8Array): StoredObject | string => {
  if (v.length < 3) return "record is truncated"
  const type = OBJECT_TYPE_BY_CODE[v[0]!]
  if (!type) return `unknown type code ${v[0]}`
  let pos = 2
  const readVarint = () => {
    let value = 0
    let mul = 1
    // 7 groups of 7 bits cover every size below 2^49; more is not a size we wrote.
    for (let i = 0; i < 7; i++) {
      if (pos >= v.length) return -1
      const b = v[pos++]!
      value += (b & 0x7f) * mul
      mul *= 128
      if ((b & 0x80) === 0) return value
    }
    return -1
  }
  const size = readVarint()
  if (size < 0) return "bad size"
  if (v[1] === 0) return { id, type, size, repr: { kind: "whole", deflated: v.subarray(pos) } }
  if (v[1] !== 1) return `unknown representation ${v[1]}`
  if (pos + 20 > v.length) return "record is truncated"
  const base = objectIdFromBytes(v, pos)
  pos += 20
  const deltaSize = readVarint()
  if (deltaSize < 0) return "bad delta size"
  return { id, type, size, repr: { kind: "delta", base, deltaSize, deflated: v.subarray(pos) } }
}

/**
 * A record that does not decode is reported as a StorageError (getStored's contract) whose
 * cause is the ObjectCorrupt that `get` surfaces.
 */
const decodeOrFail = (
  id: ObjectId,
  v: Buffer,
  damage: DamageLog,
): Effect.Effect<StoredObject, StorageError> => {
  const o = decodeStored(id, v)
  if (typeof o !== "string") return Effect.succeed(o)
  damage.add(id)
  return Effect.fail(
    new StorageError({
      operation: `read object ${id}`,
      cause: new ObjectCorrupt({ id, reason: o }),
    }),
  )
}

const surfaceCorruption = <A, E>(
  self: Effect.Effect<A, E | StorageError>,
): Effect.Effect<A, E | StorageError | ObjectCorrupt> =>
  Effect.catchIf(
    self,
    (e): e is StorageError => e instanceof StorageError && e.cause instanceof ObjectCorrupt,
    (e) => Effect.fail(e.cause as ObjectCorrupt),
  )

/** Derived data lives in the meta column family under its own prefix. */
const derivedKey = (key: string) => Buffer.from(`derived/${key}`)

export const makeRocksObjectStore = (cacheBytes = 8 * 1024 * 1024) =>
  Effect.gen(function* () {
    const rocks = yield* Rocks
    // Check-then-write must not interleave with another writer (see the module header).
    const writeLock = yield* Effect.makeSemaphore(1)
    const damage = new DamageLog()

    const getStored = (id: ObjectId): Effect.Effect<StoredObject, ObjectNotFound | StorageError> =>
      Effect.flatMap(
        rocks.get("objects", objectKey(id)),
        (v): Effect.Effect<StoredObject, ObjectNotFound | StorageError> =>
          v ? decodeOrFail(id, v, damage) : Effect.fail(new ObjectNotFound({ id })),
      )
    const getStoredMany = (ids: ReadonlyArray<ObjectId>) =>
      Effect.flatMap(rocks.getMany("objects", ids.map(objectKey)), (values) =>
        Effect.forEach(values, (v, i) =>
          v ? decodeOrFail(ids[i]!, v, damage) : Effect.succeed(undefined),
        ),
      )
    /** The ids without a record; `markers` are their presence keys when already made. */
    const missing = (ids: ReadonlyArray<ObjectId>, markers = ids.map(presenceKey)) =>
      Effect.gen(function* () {
        const marks = yield* rocks.getMany("objects", markers)
        const unmarked = ids.filter((_, i) => marks[i] === undefined)
        if (unmarked.length === 0 || rocks.markersComplete) return unmarked
        // No marker: absent, or a record written before markers (whose value is read).
        const records = yield* rocks.getMany("objects", unmarked.map(objectKey))
        return unmarked.filter((_, i) => records[i] === undefined)
      })
    const writeNew = (objects: ReadonlyArray<StoredObject>) =>
      writeLock.withPermits(1)(
        Effect.gen(function* () {
          const ids = objects.map((o) => o.id)
          const markers = ids.map(presenceKey)
          const absent = new Set(yield* missing(ids, markers))
          const ops = []
          for (const [i, o] of objects.entries()) {
            // A batch may name an object twice; the first representation wins.
            if (!absent.delete(o.id)) continue
            ops.push({ key: objectKey(o.id), value: encodeStored(o) })
            ops.push({ key: markers[i]!, value: EMPTY })
          }
          yield* rocks.write("objects", ops)
        }),
      )
    const resolver = makeResolver(getStored, getStoredMany, cacheBytes)
    const get = (id: ObjectId) =>
      damage.noting(surfaceCorruption<GitObject, ObjectNotFound | ObjectCorrupt>(resolver.get(id)))

    // One first-byte prefix at a time: at most 1/256 of the records in memory.
    const scrub = Effect.gen(function* () {
      let checked = 0
      const corrupt: ObjectCorrupt[] = []
      for (let b = 0; b < 256; b++) {
        const entries = yield* rocks.scan("objects", Buffer.from([b]))
        const records: StoredObject[] = []
        for (const { key, value } of entries) {
          if (key.length !== 20) continue // a presence marker
          checked++
          const id = objectIdFromBytes(key, 0)
          const o = decodeStored(id, value)
          if (typeof o === "string") corrupt.push(new ObjectCorrupt({ id, reason: o }))
          else records.push(o)
        }
        corrupt.push(...(yield* scrubRecords(records, get)))
        yield* Effect.yieldNow()
      }
      for (const c of corrupt) damage.add(c.id)
      return { checked, corrupt } satisfies ScrubReport
    })

    return ObjectStore.of({
      has: (id) => Effect.map(rocks.get("objects", objectKey(id)), (v) => v !== undefined),
      missing: (ids) => missing(ids),
      get,
      getMany: (ids) =>
        damage.noting(
          surfaceCorruption<ReadonlyArray<GitObject | undefined>, ObjectCorrupt>(
            resolver.getMany(ids),
          ),
        ),
      getStored,
      getStoredMany,
      put: (type, content) =>
        Effect.suspend(() => {
          const id = hashOf(type, content)
          const stored: StoredObject = {
            id,
            type,
            size: content.length,
            repr: { kind: "whole", deflated: zlib.deflateSync(content) },
          }
          return Effect.as(writeNew([stored]), id)
        }),
      putBatch: writeNew,
      getDerived: (key) => rocks.get("meta", derivedKey(key)),
      putDerived: (key, value) =>
        rocks.write("meta", [
          { key: derivedKey(key), value: value === undefined ? undefined : Buffer.from(value) },
        ]),
      availableBytes: Effect.tryPromise({
        try: async () => {
          const s = await fs.promises.statfs(rocks.dir)
          return s.bavail * s.bsize
        },
        catch: (cause) => new StorageError({ operation: "statfs", cause }),
      }),
      scrub,
      damaged: Effect.sync(() => damage.list()),
      repair: (objects) =>
        writeLock.withPermits(1)(
          Effect.gen(function* () {
            const sound = objects.filter((o) => hashOf(o.type, o.content) === o.id)
            yield* rocks.write(
              "objects",
              sound.flatMap((o) => [
                {
                  key: objectKey(o.id),
                  value: encodeStored({
                    id: o.id,
                    type: o.type,
                    size: o.content.length,
                    repr: { kind: "whole", deflated: zlib.deflateSync(o.content) },
                  }),
                },
                { key: presenceKey(o.id), value: EMPTY },
              ]),
              { durable: true },
            )
            for (const o of sound) damage.delete(o.id)
            return sound.map((o) => o.id)
          }),
        ),
    })
  })

export const ObjectStoreRocks = Layer.effect(ObjectStore, makeRocksObjectStore())
