/**
 * ObjectStore in memory: for tests and `--storage memory`. Same contract as RocksDB (the
 * conformance suite runs against both): reads re-hash through ObjectResolver, the first
 * representation stored for an id is kept, a batch is applied in one synchronous step,
 * damage found by reads or `scrub` is listed until `repair` replaces it with a verified
 * whole record. Free space is the host's free memory.
 */
import * as os from "node:os"
import * as zlib from "node:zlib"
import { Effect, Layer } from "effect"
import type { ObjectId } from "../domain/git/ObjectId.ts"
import {
  materialized,
  ObjectNotFound,
  ObjectStore,
  type StoredObject,
} from "../services/ObjectStore.ts"
import { hashOf, makeResolver } from "./ObjectResolver.ts"
import { DamageLog, scrubRecords } from "./chain/ObjectSync.ts"

export const makeMemoryObjectStore = () => {
  const objects = new Map<ObjectId, StoredObject>()
  const getStored = (id: ObjectId) =>
    Effect.suspend(() => {
      const o = objects.get(id)
      return o ? Effect.succeed(o) : Effect.fail(new ObjectNotFound({ id }))
    })
  const getStoredMany = (ids: ReadonlyArray<ObjectId>) =>
    Effect.sync(() => ids.map((id) => objects.get(id)))
  const resolver = makeResolver(getStored, getStoredMany, 16 * 1024 * 1024)
  const damage = new DamageLog()
  const derived = new Map<string, Uint8Array>()
  const get = (id: ObjectId) => damage.noting(resolver.get(id))
  const store = ObjectStore.of({
    has: (id) => Effect.sync(() => objects.has(id)),
    missing: (ids) => Effect.sync(() => ids.filter((id) => !objects.has(id))),
    get,
    getMany: (ids) => damage.noting(resolver.getMany(ids)),
    getStored,
    getStoredMany,
    put: (type, content) =>
      Effect.sync(() => {
        const id = hashOf(type, content)
        if (!objects.has(id))
          objects.set(id, {
            id,
            type,
            size: content.length,
            repr: { kind: "whole", deflated: zlib.deflateSync(content) },
          })
        return id
      }),
    putBatch: (batch) =>
      Effect.sync(() => {
        // A spooled representation is read into memory: the spool ends with its push.
        for (const o of batch) if (!objects.has(o.id)) objects.set(o.id, materialized(o))
      }),
    availableBytes: Effect.sync(() => os.freemem()),
    getDerived: (key) => Effect.sync(() => derived.get(key)),
    putDerived: (key, value) =>
      Effect.sync(() => {
        if (value === undefined) derived.delete(key)
        else derived.set(key, value)
      }),
    scrub: Effect.gen(function* () {
      const records = [...objects.values()]
      const corrupt = yield* scrubRecords(records, get)
      for (const c of corrupt) damage.add(c.id)
      return { checked: records.length, corrupt }
    }),
    damaged: Effect.sync(() => damage.list()),
    repair: (batch) =>
      Effect.sync(() => {
        const written: ObjectId[] = []
        for (const o of batch) {
          if (hashOf(o.type, o.content) !== o.id) continue
          objects.set(o.id, {
            id: o.id,
            type: o.type,
            size: o.content.length,
            repr: { kind: "whole", deflated: zlib.deflateSync(o.content) },
          })
          damage.delete(o.id)
          written.push(o.id)
        }
        return written
      }),
  })
  /** Test hook: replaces an object's stored record behind the store's back (corruption). */
  const tamper = (id: ObjectId, stored: StoredObject) => objects.set(id, stored)
  return { store, tamper }
}

export const ObjectStoreMemory = Layer.sync(ObjectStore, () => makeMemoryObjectStore().store)
