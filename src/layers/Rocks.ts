/**
 * Rocks: one RocksDB database per node at `<data-dir>/db`, opened for the lifetime of a
 * scope. Every store keeps its keys under its own one-byte prefix in the default column
 * family, so that one write batch can update several stores atomically (rocksdb-native
 * binds a batch to one column family).
 *
 * Durability: writes go through RocksDB's write-ahead log; a killed process loses nothing
 * that was acknowledged (the WAL is in the OS page cache); a power loss may lose the last
 * writes. Point-in-time WAL recovery keeps the database consistent either way.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { Context, Data, Effect, Layer } from "effect"
import RocksDB from "rocksdb-native"
import { StorageError } from "../services/ObjectStore.ts"

export const KeyPrefix = {
  object: 0x6f, // "o" + 20-byte id
  ref: 0x72, // "r" + repo + \0 + ref name
  head: 0x68, // "h" + repo
  meta: 0x6d, // "m" + name
} as const

export interface RocksBatchOp {
  readonly key: Buffer
  /** undefined deletes the key. */
  readonly value: Buffer | undefined
}

class RocksOpenError extends Data.TaggedError("RocksOpenError")<{
  readonly path: string
  readonly cause: unknown
}> {}

export interface RocksShape {
  readonly dir: string
  readonly get: (key: Buffer) => Effect.Effect<Buffer | undefined, StorageError>
  readonly getMany: (
    keys: ReadonlyArray<Buffer>,
  ) => Effect.Effect<ReadonlyArray<Buffer | undefined>, StorageError>
  /** Applies all operations atomically. */
  readonly write: (ops: ReadonlyArray<RocksBatchOp>) => Effect.Effect<void, StorageError>
  /** Keys and values with the given prefix, in key order. */
  readonly scan: (
    prefix: Buffer,
  ) => Effect.Effect<ReadonlyArray<{ key: Buffer; value: Buffer }>, StorageError>
}

export class Rocks extends Context.Tag("guts/Rocks")<Rocks, RocksShape>() {}

const storageError = (operation: string) => (cause: unknown) =>
  new StorageError({ operation, cause })

/** The byte string just after every key that starts with `prefix`. */
const prefixEnd = (prefix: Buffer) => {
  const end = Buffer.from(prefix)
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i]! < 0xff) {
      end[i]! += 1
      return end.subarray(0, i + 1)
    }
  }
  return undefined
}

export const rocksLayer = (dataDir: string) =>
  Layer.scoped(
    Rocks,
    Effect.gen(function* () {
      const dir = path.join(dataDir, "db")
      const db = yield* Effect.acquireRelease(
        Effect.tryPromise({
          try: async () => {
            fs.mkdirSync(dir, { recursive: true })
            // Smaller memtables than RocksDB's 64 MB default keep a node's RSS in budget;
            // large values (big blobs) go to blob files instead of the LSM tree.
            const db = new RocksDB(dir, {
              writeBufferSize: 8 * 1024 * 1024,
              maxWriteBufferNumber: 2,
              enableBlobFiles: true,
              minBlobSize: 64 * 1024,
            })
            await db.ready()
            return db
          },
          catch: (cause) => new RocksOpenError({ path: dir, cause }),
        }),
        (db) => Effect.promise(() => db.close()),
      ).pipe(
        Effect.mapError(
          (e) =>
            new StorageError({
              operation: `open ${e.path} (is another node using this data directory?)`,
              cause: e.cause,
            }),
        ),
      )
      const getMany = (keys: ReadonlyArray<Buffer>) =>
        Effect.tryPromise({
          try: async () => {
            if (keys.length === 0) return []
            const batch = db.read({ capacity: keys.length })
            const promises = keys.map((k) => batch.get(k))
            batch.tryFlush()
            const values = await Promise.all(promises)
            batch.destroy()
            return values.map((v: Buffer | null) => v ?? undefined)
          },
          catch: storageError("read"),
        })
      return Rocks.of({
        dir,
        get: (key) =>
          Effect.tryPromise({
            try: async () => (await db.get(key)) ?? undefined,
            catch: storageError("read"),
          }),
        getMany,
        write: (ops) =>
          Effect.tryPromise({
            try: async () => {
              if (ops.length === 0) return
              const batch = db.write({ capacity: ops.length })
              for (const op of ops) {
                if (op.value === undefined) batch.tryDelete(op.key)
                else batch.tryPut(op.key, op.value)
              }
              await batch.flush()
              batch.destroy()
            },
            catch: storageError("write"),
          }),
        scan: (prefix) =>
          Effect.tryPromise({
            try: async () => {
              const end = prefixEnd(prefix)
              const out: Array<{ key: Buffer; value: Buffer }> = []
              for await (const entry of db.iterator(
                end ? { gte: prefix, lt: end } : { gte: prefix },
              )) {
                out.push({ key: entry.key as Buffer, value: entry.value as Buffer })
              }
              return out
            },
            catch: storageError("scan"),
          }),
      })
    }),
  )
