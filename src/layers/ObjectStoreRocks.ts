/**
 * ObjectStore on RocksDB. Key: "o" + 20 id bytes. Value: a compact record —
 *   byte 0: type code (1-4); byte 1: 0 whole / 1 delta;
 *   varint: resolved size; [delta: 20 base id bytes, varint delta size]; deflated bytes.
 */
import * as fs from "node:fs"
import * as zlib from "node:zlib"
import { Effect, Layer } from "effect"
import {
  OBJECT_TYPE_BY_CODE,
  OBJECT_TYPE_CODE,
  type ObjectId,
  objectIdFromBytes,
} from "../domain/git/ObjectId.ts"
import {
  ObjectNotFound,
  ObjectStore,
  StorageError,
  type StoredObject,
} from "../services/ObjectStore.ts"
import { hashOf, makeResolver } from "./ObjectResolver.ts"
import { KeyPrefix, Rocks } from "./Rocks.ts"

const objectKey = (id: ObjectId) => {
  const k = Buffer.allocUnsafe(21)
  k[0] = KeyPrefix.object
  k.write(id, 1, "hex")
  return k
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
  const head = [OBJECT_TYPE_CODE[o.type], o.repr.kind === "whole" ? 0 : 1, ...varint(o.size)]
  if (o.repr.kind === "whole") return Buffer.concat([Buffer.from(head), o.repr.deflated])
  return Buffer.concat([
    Buffer.from(head),
    Buffer.from(o.repr.base, "hex"),
    Buffer.from(varint(o.repr.deltaSize)),
    o.repr.deflated,
  ])
}

export const decodeStored = (id: ObjectId, v: Buffer): StoredObject | undefined => {
  const type = OBJECT_TYPE_BY_CODE[v[0]!]
  if (!type || v.length < 3) return undefined
  let pos = 2
  const readVarint = () => {
    let value = 0
    let mul = 1
    for (;;) {
      if (pos >= v.length) return -1
      const b = v[pos++]!
      value += (b & 0x7f) * mul
      mul *= 128
      if ((b & 0x80) === 0) return value
    }
  }
  const size = readVarint()
  if (size < 0) return undefined
  if (v[1] === 0) return { id, type, size, repr: { kind: "whole", deflated: v.subarray(pos) } }
  if (pos + 20 > v.length) return undefined
  const base = objectIdFromBytes(v, pos)
  pos += 20
  const deltaSize = readVarint()
  if (deltaSize < 0) return undefined
  return { id, type, size, repr: { kind: "delta", base, deltaSize, deflated: v.subarray(pos) } }
}

export const ObjectStoreRocks = Layer.effect(
  ObjectStore,
  Effect.gen(function* () {
    const rocks = yield* Rocks
    const getStored = (id: ObjectId) =>
      rocks.get(objectKey(id)).pipe(
        Effect.flatMap((v): Effect.Effect<StoredObject, ObjectNotFound | StorageError> => {
          if (!v) return Effect.fail(new ObjectNotFound({ id }))
          const o = decodeStored(id, v)
          return o
            ? Effect.succeed(o)
            : Effect.fail(
                new StorageError({ operation: `decode object ${id}`, cause: "malformed record" }),
              )
        }),
      )
    const getStoredMany = (ids: ReadonlyArray<ObjectId>) =>
      Effect.map(rocks.getMany(ids.map(objectKey)), (values) =>
        values.map((v, i) => (v ? decodeStored(ids[i]!, v) : undefined)),
      )
    const resolver = makeResolver(getStored, getStoredMany)
    return ObjectStore.of({
      has: (id) => Effect.map(rocks.get(objectKey(id)), (v) => v !== undefined),
      missing: (ids) =>
        Effect.map(rocks.getMany(ids.map(objectKey)), (values) =>
          ids.filter((_, i) => values[i] === undefined),
        ),
      get: resolver.get,
      getMany: resolver.getMany,
      getStored,
      getStoredMany,
      put: (type, content) =>
        Effect.gen(function* () {
          const id = hashOf(type, content)
          const stored: StoredObject = {
            id,
            type,
            size: content.length,
            repr: { kind: "whole", deflated: zlib.deflateSync(content) },
          }
          yield* rocks.write([{ key: objectKey(id), value: encodeStored(stored) }])
          return id
        }),
      putBatch: (batch) =>
        rocks.write(batch.map((o) => ({ key: objectKey(o.id), value: encodeStored(o) }))),
      availableBytes: Effect.tryPromise({
        try: async () => {
          const s = await fs.promises.statfs(rocks.dir)
          return s.bavail * s.bsize
        },
        catch: (cause) => new StorageError({ operation: "statfs", cause }),
      }),
    })
  }),
)

/** Test hook: overwrite an object's record directly (simulates disk corruption). */
export const tamperKey = objectKey
