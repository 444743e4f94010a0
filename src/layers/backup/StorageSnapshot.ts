/**
 * StorageSnapshot: a point-in-time view of the node's object, ref and block stores, for
 * backups. With RocksDB it is one RocksDB snapshot over every column family (taking it is
 * instant; writes go on while it is copied); memory storage has nothing to back up.
 */
import { Context, Effect, Layer, type Scope } from "effect"
import { StorageError } from "../../services/ObjectStore.ts"
import { type ColumnFamily, Rocks, type RocksSnapshot } from "../Rocks.ts"

export type { ColumnFamily }

export interface StorageSnapshotShape {
  readonly take: Effect.Effect<RocksSnapshot, StorageError, Scope.Scope>
}

export class StorageSnapshot extends Context.Tag("guts/StorageSnapshot")<
  StorageSnapshot,
  StorageSnapshotShape
>() {}

export const StorageSnapshotRocks = Layer.effect(
  StorageSnapshot,
  Effect.map(Rocks, (rocks) => StorageSnapshot.of({ take: rocks.snapshot })),
)

export const StorageSnapshotNone = Layer.succeed(
  StorageSnapshot,
  StorageSnapshot.of({
    take: Effect.fail(
      new StorageError({
        operation: "snapshot",
        cause:
          "this node runs with --storage memory, which keeps nothing on disk to back up; run it with --storage rocksdb",
      }),
    ),
  }),
)
