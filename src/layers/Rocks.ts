/**
 * Rocks: the node's RocksDB database at `<data-dir>/db`, open for the lifetime of a scope
 * (closed when the scope closes; a second process on the same directory is refused by
 * RocksDB's lock file, with an error that says so).
 *
 * Column families: `objects` (git objects by raw id, see ObjectStoreRocks), `refs` (refs
 * and HEAD per repository, see RefStoreRocks), `meta` (the layout version).
 *
 * Atomicity: one `write` is one RocksDB write batch, applied whole or not at all, crash
 * included. The native binding could put several column families in one batch, but
 * rocksdb-native's JavaScript batch writes into the column family of the session that
 * made it, so `write` takes one column family and every atomic update of Guts is laid out
 * to fit one (a ref update and HEAD both live in `refs`).
 *
 * Durability: a write returns once its WAL record is in the OS page cache, so a killed
 * process loses nothing acknowledged. rocksdb-native exposes no `sync` write option, so a
 * `durable` write fsyncs the WAL files and the directory itself before it completes: it
 * survives a power loss too. The WAL is shared by all column families, so a durable ref
 * update also makes the objects written before it durable.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { Context, Data, Effect, Layer, type Scope } from "effect"
import RocksDB from "rocksdb-native"
import { StorageError } from "../services/ObjectStore.ts"

export type ColumnFamily = "objects" | "refs" | "meta"
export const COLUMN_FAMILIES: ReadonlyArray<ColumnFamily> = ["objects", "refs", "meta"]

/**
 * Bumped when the key layout changes, so an old directory is refused rather than misread.
 * 3: every object record has its presence marker (ObjectStoreRocks); a directory of
 * layout 2 (records before markers) is still opened, and its store looks at the records
 * of ids without a marker. A node of layout 2 refuses a layout-3 directory, so no old
 * node can write unmarked records into one.
 */
const LAYOUT_KEY = Buffer.from("layout")
const LAYOUT_VERSION = Buffer.from("guts-rocks-3")
const LAYOUT_BEFORE_MARKERS = Buffer.from("guts-rocks-2")

export interface RocksWrite {
  readonly key: Buffer
  /** undefined deletes the key. */
  readonly value: Buffer | undefined
}

export interface RocksShape {
  /** The database directory (`<data-dir>/db`). */
  readonly dir: string
  /**
   * Whether every object record has its presence marker (layout 3, see LAYOUT_VERSION);
   * false for a directory of layout 2, whose records may have none.
   */
  readonly markersComplete: boolean
  readonly get: (cf: ColumnFamily, key: Buffer) => Effect.Effect<Buffer | undefined, StorageError>
  /** One round trip for many keys; undefined where a key is absent. */
  readonly getMany: (
    cf: ColumnFamily,
    keys: ReadonlyArray<Buffer>,
  ) => Effect.Effect<ReadonlyArray<Buffer | undefined>, StorageError>
  /** Applies every operation atomically; `durable` also fsyncs the write-ahead log. */
  readonly write: (
    cf: ColumnFamily,
    ops: ReadonlyArray<RocksWrite>,
    options?: { readonly durable?: boolean },
  ) => Effect.Effect<void, StorageError>
  /** Keys and values that start with `prefix`, in key order. */
  readonly scan: (
    cf: ColumnFamily,
    prefix: Buffer,
  ) => Effect.Effect<ReadonlyArray<{ key: Buffer; value: Buffer }>, StorageError>
  /**
   * A point-in-time view of every column family (one RocksDB snapshot shared by all of
   * them), released when the scope closes: what a backup copies while writes go on.
   */
  readonly snapshot: Effect.Effect<RocksSnapshot, StorageError, Scope.Scope>
}

export interface RocksSnapshot {
  /** Every key and value of a column family as of the snapshot, in key order. */
  readonly entries: (cf: ColumnFamily) => AsyncIterable<{ key: Buffer; value: Buffer }>
}

export class Rocks extends Context.Tag("guts/Rocks")<Rocks, RocksShape>() {}

// The parts of rocksdb-native that Rocks uses, column family sessions included (the
// package ships no typings; src/types/rocksdb-native.d.ts predates column families).
interface NativeBatch {
  get(key: Buffer): Promise<Buffer | null>
  tryPut(key: Buffer, value: Buffer): void
  tryDelete(key: Buffer): void
  tryFlush(): void
  flush(): Promise<void>
  destroy(): void
}
interface NativeSession {
  get(key: Buffer): Promise<Buffer | null>
  read(opts: { capacity: number }): NativeBatch
  write(opts: { capacity: number }): NativeBatch
  iterator(range: { gte?: Buffer; lt?: Buffer }): AsyncIterable<{ key: Buffer; value: Buffer }>
  peek(range: object): Promise<{ key: Buffer; value: Buffer } | null>
}
interface NativeDb extends NativeSession {
  ready(): Promise<void>
  close(): Promise<void>
  columnFamily(name: string): NativeDb
  snapshot(): NativeDb
}

class LayoutMismatch extends Data.TaggedError("LayoutMismatch")<{ readonly found: string }> {
  override get message() {
    return `the data directory was written by another version of Guts (${this.found}); move it away or delete it`
  }
}

/** The byte string just after every key that starts with `prefix`. */
const prefixEnd = (prefix: Buffer): Buffer | undefined => {
  const end = Buffer.from(prefix)
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i]! < 0xff) {
      end[i]! += 1
      return end.subarray(0, i + 1)
    }
  }
  return undefined
}

const WAL_FILE = /^\d+\.log$/

/**
 * fsyncs every live WAL file and the directory (a WAL created since the last sync must be
 * findable after a crash). A WAL deleted meanwhile was obsolete: its records are in table
 * files RocksDB synced before deleting it.
 */
const syncWal = async (dir: string) => {
  for (const name of await fs.promises.readdir(dir)) {
    if (!WAL_FILE.test(name)) continue
    let file: fs.promises.FileHandle
    try {
      file = await fs.promises.open(path.join(dir, name), "r")
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") continue
      throw e
    }
    try {
      await file.sync()
    } finally {
      await file.close()
    }
  }
  const d = await fs.promises.open(dir, "r")
  try {
    await d.sync()
  } finally {
    await d.close()
  }
}

/**
 * Group commit: writers that ask while a sync runs share the next one (it starts after
 * their writes, so it covers them), so concurrent durable writes cost one fsync round.
 */
const makeWalSyncer = (dir: string) => {
  let running: Promise<void> | undefined
  let queued: Promise<void> | undefined
  const start = () => {
    const p: Promise<void> = syncWal(dir).finally(() => {
      if (running === p) running = undefined
    })
    running = p
    return p
  }
  return (): Promise<void> => {
    if (running === undefined) return start()
    queued ??= running
      .catch(() => undefined)
      .then(() => {
        queued = undefined
        return start()
      })
    return queued
  }
}

const openDb = async (dir: string): Promise<{ db: NativeDb; markersComplete: boolean }> => {
  fs.mkdirSync(dir, { recursive: true })
  // Smaller memtables than RocksDB's 64 MB default keep a node's RSS in budget (they are
  // per column family); large values (big blobs) go to blob files instead of the LSM tree.
  const db = new RocksDB(dir, {
    columnFamilies: [...COLUMN_FAMILIES],
    writeBufferSize: 8 * 1024 * 1024,
    maxWriteBufferNumber: 2,
    enableBlobFiles: true,
    minBlobSize: 64 * 1024,
  }) as unknown as NativeDb
  await db.ready()
  let markersComplete = true
  try {
    const meta = db.columnFamily("meta")
    const layout = await meta.get(LAYOUT_KEY)
    if (layout === null) {
      // A fresh directory, or one from before column families (keys in the default one).
      if ((await db.peek({})) !== null) throw new LayoutMismatch({ found: "unversioned layout" })
      const w = meta.write({ capacity: 1 })
      w.tryPut(LAYOUT_KEY, LAYOUT_VERSION)
      await w.flush()
      w.destroy()
      await syncWal(dir)
    } else if (layout.equals(LAYOUT_BEFORE_MARKERS)) {
      markersComplete = false
    } else if (!layout.equals(LAYOUT_VERSION)) {
      throw new LayoutMismatch({ found: layout.toString("utf8") })
    }
  } catch (e) {
    await db.close()
    throw e
  }
  return { db, markersComplete }
}

export const makeRocks = (dir: string) =>
  Effect.gen(function* () {
    const { db, markersComplete } = yield* Effect.acquireRelease(
      Effect.tryPromise({
        try: () => openDb(dir),
        catch: (cause) =>
          new StorageError({
            operation:
              cause instanceof LayoutMismatch
                ? `open ${dir}`
                : `open ${dir} (is another node using this data directory?)`,
            cause,
          }),
      }),
      ({ db }) =>
        Effect.tryPromise(() => db.close()).pipe(
          Effect.catchAll((e) => Effect.logWarning(`closing ${dir} failed`, e)),
        ),
    )
    const sessions = new Map<ColumnFamily, NativeSession>(
      COLUMN_FAMILIES.map((cf) => [cf, db.columnFamily(cf)]),
    )
    const session = (cf: ColumnFamily) => sessions.get(cf)!
    const sync = makeWalSyncer(dir)
    const failed = (operation: string) => (cause: unknown) => new StorageError({ operation, cause })

    return Rocks.of({
      dir,
      markersComplete,
      get: (cf, key) =>
        Effect.tryPromise({
          try: async () => (await session(cf).get(key)) ?? undefined,
          catch: failed(`read ${cf}`),
        }),
      getMany: (cf, keys) =>
        Effect.tryPromise({
          try: async () => {
            if (keys.length === 0) return []
            const batch = session(cf).read({ capacity: keys.length })
            const pending = keys.map((k) => batch.get(k))
            batch.tryFlush()
            try {
              return (await Promise.all(pending)).map((v) => v ?? undefined)
            } finally {
              batch.destroy()
            }
          },
          catch: failed(`read ${cf}`),
        }),
      write: (cf, ops, options) =>
        Effect.tryPromise({
          try: async () => {
            if (ops.length === 0) return
            const batch = session(cf).write({ capacity: ops.length })
            for (const op of ops) {
              if (op.value === undefined) batch.tryDelete(op.key)
              else batch.tryPut(op.key, op.value)
            }
            try {
              await batch.flush()
            } finally {
              batch.destroy()
            }
            if (options?.durable) await sync()
          },
          catch: failed(`write ${cf}`),
        }),
      scan: (cf, prefix) =>
        Effect.tryPromise({
          try: async () => {
            const end = prefixEnd(prefix)
            const out: Array<{ key: Buffer; value: Buffer }> = []
            for await (const entry of session(cf).iterator(
              end ? { gte: prefix, lt: end } : { gte: prefix },
            )) {
              out.push({ key: entry.key, value: entry.value })
            }
            return out
          },
          catch: failed(`scan ${cf}`),
        }),
      snapshot: Effect.acquireRelease(
        Effect.try({
          try: () => {
            const snap = db.snapshot()
            const views = new Map<ColumnFamily, NativeDb>(
              COLUMN_FAMILIES.map((cf) => [cf, snap.columnFamily(cf)]),
            )
            return { snap, views }
          },
          catch: failed("snapshot"),
        }),
        ({ snap, views }) =>
          Effect.promise(async () => {
            for (const v of views.values()) await v.close()
            await snap.close()
          }),
      ).pipe(
        Effect.map(
          ({ views }): RocksSnapshot => ({
            entries: (cf) => views.get(cf)!.iterator({}),
          }),
        ),
      ),
    })
  })

/** The database of a data directory: `<dataDir>/db`. */
export const rocksLayer = (dataDir: string) =>
  Layer.scoped(Rocks, makeRocks(path.join(dataDir, "db")))
