/**
 * Taking a backup of a running node into a directory on its machine (BackupFormat.ts).
 *
 * Consistency: between two blocks (Apply.exclusive holds off the next one) the node takes
 * a RocksDB snapshot of the object, ref and block stores, copies SQLite with its online
 * backup, and computes the state digest; then apply resumes and the snapshot is copied
 * out while the node goes on serving and applying. Every part is thus at one applied
 * height. Git objects written after the snapshot are not referenced by it (objects are
 * stored before any ref names them), so nothing in the backup points at a missing object.
 *
 * Not copied: the consensus journal (a validator's votes; a restored validator rejoins at
 * the cluster's current view) and node-local caches.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { SqliteClient } from "@effect/sql-sqlite-node"
import { Data, Effect, Option } from "effect"
import { GUTS_VERSION } from "../../domain/Version.ts"
import { Apply } from "../../services/Apply.ts"
import { BlockStore } from "../../services/BlockStore.ts"
import { Ledger } from "../../services/Ledger.ts"
import { Metadata } from "../../services/Metadata.ts"
import { NodeConfig } from "../../services/NodeConfig.ts"
import { stateDigest } from "../../services/StateDigest.ts"
import { adminTokenPath } from "../Bootstrap.ts"
import {
  ADMIN_TOKEN_FILE,
  BACKUP_FORMAT,
  type BackupFile,
  type BackupManifest,
  DUMP_FILE,
  describeFile,
  MANIFEST_FILE,
  METADATA_FILE,
  NODE_KEY_FILE,
  writeDump,
} from "./BackupFormat.ts"
import { StorageSnapshot } from "./StorageSnapshot.ts"

export class BackupFailed extends Data.TaggedError("BackupFailed")<{ readonly reason: string }> {
  override get message() {
    return `backup failed: ${this.reason}`
  }
}

/** Checks the target: an absolute path that does not exist yet or is an empty directory. */
const prepareTarget = (target: string) =>
  Effect.try({
    try: () => {
      if (!path.isAbsolute(target))
        throw new Error(`the target ${target} is not an absolute path on the node's machine`)
      if (fs.existsSync(target)) {
        if (!fs.statSync(target).isDirectory()) throw new Error(`${target} is not a directory`)
        if (fs.readdirSync(target).length > 0)
          throw new Error(`${target} is not empty; back up into a new directory`)
      }
      fs.mkdirSync(target, { recursive: true, mode: 0o700 })
    },
    catch: (e) => new BackupFailed({ reason: (e as Error).message }),
  })

const copyPrivate = (from: string, to: string) =>
  Effect.try({
    try: () => {
      if (!fs.existsSync(from)) return false
      fs.copyFileSync(from, to)
      fs.chmodSync(to, 0o600)
      return true
    },
    catch: (e) => new BackupFailed({ reason: `copying ${from}: ${(e as Error).message}` }),
  })

export const takeBackup = (target: string) =>
  Effect.scoped(
    Effect.gen(function* () {
      const apply = yield* Apply
      const snapshots = yield* StorageSnapshot
      const sqlite = yield* Effect.serviceOption(SqliteClient.SqliteClient)
      const meta = yield* Metadata
      const ledger = yield* Ledger
      const blocks = yield* BlockStore
      const config = yield* NodeConfig
      if (config.storage === "memory" || Option.isNone(sqlite))
        return yield* new BackupFailed({
          reason:
            "this node runs with --storage memory, which keeps nothing on disk to back up; run it with --storage rocksdb",
        })
      yield* prepareTarget(target)
      const started = Date.now()

      // Between two blocks: every store at the same applied height.
      const { snapshot, height, digest, chainPosition } = yield* apply.exclusive(
        Effect.gen(function* () {
          const snapshot = yield* snapshots.take
          yield* sqlite.value.backup(path.join(target, METADATA_FILE))
          const height = yield* meta.appliedHeight
          const state = yield* stateDigest.pipe(
            Effect.provideService(Ledger, { ...ledger, height: Effect.succeed(height) }),
          )
          const chainPosition = (yield* blocks.position) ?? null
          return { snapshot, height, digest: state.digest, chainPosition }
        }),
      )
      const paused = Date.now() - started
      const records = yield* Effect.tryPromise({
        try: () => writeDump(path.join(target, DUMP_FILE), snapshot.entries),
        catch: (e) => new BackupFailed({ reason: `writing ${DUMP_FILE}: ${(e as Error).message}` }),
      })
      yield* Effect.sync(() => fs.chmodSync(path.join(target, METADATA_FILE), 0o600))
      const names = [DUMP_FILE, METADATA_FILE]
      if (yield* copyPrivate(adminTokenPath(config.dataDir), path.join(target, ADMIN_TOKEN_FILE)))
        names.push(ADMIN_TOKEN_FILE)
      if (
        config.cluster !== undefined &&
        (yield* copyPrivate(config.cluster.keyFile, path.join(target, NODE_KEY_FILE)))
      )
        names.push(NODE_KEY_FILE)
      const files: BackupFile[] = []
      for (const name of names)
        files.push(
          yield* Effect.tryPromise({
            try: () => describeFile(target, name),
            catch: (e) => new BackupFailed({ reason: `hashing ${name}: ${(e as Error).message}` }),
          }),
        )
      const manifest: BackupManifest = {
        format: BACKUP_FORMAT,
        version: GUTS_VERSION,
        createdAt: new Date().toISOString(),
        height,
        digest,
        chainPosition,
        records,
        files,
      }
      yield* Effect.try({
        try: () => {
          const file = path.join(target, MANIFEST_FILE)
          fs.writeFileSync(file, `${JSON.stringify(manifest, null, 2)}\n`, { mode: 0o600 })
          const fd = fs.openSync(file, "r")
          fs.fsyncSync(fd)
          fs.closeSync(fd)
        },
        catch: (e) => new BackupFailed({ reason: `writing the manifest: ${(e as Error).message}` }),
      })
      yield* Effect.logInfo(
        `backup at height ${height} written to ${target} (apply paused ${paused} ms, ${records.objects} objects, ${records.refs} ref records)`,
      )
      return { target, manifest, pausedMs: paused }
    }),
  ).pipe(
    Effect.mapError((e) =>
      e instanceof BackupFailed ? e : new BackupFailed({ reason: e.message }),
    ),
  )
