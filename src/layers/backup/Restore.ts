/**
 * Restoring a backup (BackupFormat.ts) into a new data directory, offline: the backup's
 * files are checked against the manifest's sizes and SHA-256 before anything is written,
 * a data directory that is not empty is refused, the store dump is loaded into a fresh
 * RocksDB database, and SQLite, the administrator token and the node key are copied into
 * place. The manifest is kept as `<data-dir>/backup-manifest.json` for `guts admin verify`.
 *
 * A node started on the directory serves the state at the backup's height; in a cluster it
 * then catches up from its peers like any node that was down.
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { Data, Effect } from "effect"
import { adminTokenPath } from "../Bootstrap.ts"
import { type ColumnFamily, makeRocks, type RocksWrite } from "../Rocks.ts"
import {
  ADMIN_TOKEN_FILE,
  type BackupManifest,
  checkFiles,
  DUMP_FILE,
  METADATA_FILE,
  NODE_KEY_FILE,
  RESTORED_MANIFEST,
  readDump,
  readManifest,
} from "./BackupFormat.ts"
import { extractTar } from "./Tar.ts"

export class RestoreFailed extends Data.TaggedError("RestoreFailed")<{ readonly reason: string }> {
  override get message() {
    return `restore failed: ${this.reason}`
  }
}

const fail = (reason: string) => new RestoreFailed({ reason })

const BATCH_BYTES = 4 * 1024 * 1024

/** Restores a backup directory, or a tar archive of one (`guts admin backup --out X.tar`). */
export const restoreBackup = (from: string, dataDir: string) =>
  Effect.suspend(() => {
    if (!fs.existsSync(from)) return Effect.fail(fail(`there is no backup at ${from}`))
    if (!fs.statSync(from).isFile()) return restoreDir(from, dataDir)
    return Effect.acquireUseRelease(
      Effect.promise(() => fs.promises.mkdtemp(path.join(os.tmpdir(), "guts-restore-"))),
      (dir) =>
        Effect.tryPromise({
          try: () => extractTar(from, dir),
          catch: (e) => fail((e as Error).message),
        }).pipe(Effect.zipRight(restoreDir(dir, dataDir))),
      (dir) => Effect.promise(() => fs.promises.rm(dir, { recursive: true, force: true })),
    )
  })

const restoreDir = (from: string, dataDir: string) =>
  Effect.gen(function* () {
    const manifest = yield* Effect.try({
      try: () => readManifest(from),
      catch: (e) => fail((e as Error).message),
    })
    const problems = yield* Effect.promise(() => checkFiles(from, manifest))
    if (problems.length > 0)
      return yield* fail(
        `the backup in ${from} is damaged, nothing was written:\n  ${problems.join("\n  ")}`,
      )
    yield* Effect.try({
      try: () => {
        if (fs.existsSync(dataDir) && fs.readdirSync(dataDir).length > 0)
          throw new Error(
            `the data directory ${dataDir} is not empty; restore into a new (or empty) directory`,
          )
        fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 })
      },
      catch: (e) => fail((e as Error).message),
    })

    // The store: the dump's records into a fresh database, one write batch per few MB.
    const counts = { objects: 0, refs: 0, meta: 0 } as Record<ColumnFamily, number>
    yield* Effect.scoped(
      Effect.gen(function* () {
        const rocks = yield* makeRocks(path.join(dataDir, "db"))
        let cf: ColumnFamily | undefined
        let ops: RocksWrite[] = []
        let bytes = 0
        const flush = (durable: boolean) =>
          Effect.gen(function* () {
            if (cf !== undefined && ops.length > 0) yield* rocks.write(cf, ops, { durable })
            ops = []
            bytes = 0
          })
        const records = readDump(path.join(from, DUMP_FILE))[Symbol.asyncIterator]()
        for (;;) {
          const next = yield* Effect.tryPromise({
            try: () => records.next(),
            catch: (e) => fail((e as Error).message),
          })
          if (next.done) break
          const r = next.value
          if (r.cf !== cf || bytes > BATCH_BYTES) {
            yield* flush(false)
            cf = r.cf
          }
          ops.push({ key: r.key, value: r.value })
          bytes += r.key.length + r.value.length
          counts[r.cf]++
        }
        yield* flush(true)
      }),
    ).pipe(Effect.mapError((e) => (e instanceof RestoreFailed ? e : fail(e.message))))
    for (const cf of Object.keys(manifest.records) as ColumnFamily[])
      if (counts[cf] !== manifest.records[cf])
        return yield* fail(
          `${DUMP_FILE} holds ${counts[cf]} ${cf} records, the manifest says ${manifest.records[cf]}`,
        )

    const has = (name: string) => manifest.files.some((f) => f.name === name)
    const copy = (name: string, to: string) =>
      Effect.try({
        try: () => {
          fs.mkdirSync(path.dirname(to), { recursive: true })
          fs.copyFileSync(path.join(from, name), to)
          if (name !== METADATA_FILE) fs.chmodSync(to, 0o600)
        },
        catch: (e) => fail(`copying ${name}: ${(e as Error).message}`),
      })
    yield* copy(METADATA_FILE, path.join(dataDir, "metadata", "guts.db"))
    if (has(ADMIN_TOKEN_FILE)) yield* copy(ADMIN_TOKEN_FILE, adminTokenPath(dataDir))
    if (has(NODE_KEY_FILE)) yield* copy(NODE_KEY_FILE, path.join(dataDir, NODE_KEY_FILE))
    yield* Effect.try({
      try: () =>
        fs.writeFileSync(
          path.join(dataDir, RESTORED_MANIFEST),
          `${JSON.stringify(manifest, null, 2)}\n`,
        ),
      catch: (e) => fail((e as Error).message),
    })
    return { manifest, counts, nodeKey: has(NODE_KEY_FILE) } satisfies {
      manifest: BackupManifest
      counts: Record<ColumnFamily, number>
      nodeKey: boolean
    }
  })
