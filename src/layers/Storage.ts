/**
 * Storage: the object and ref stores a node runs on, chosen by configuration
 * (`--storage memory|rocksdb`).
 *
 * - memory: both stores in process memory; nothing survives a restart.
 * - rocksdb: one RocksDB database at `<data-dir>/db` holding both stores in their own
 *   column families (`objects`, `refs`, plus `meta`, which also holds RepoUploads),
 *   opened when the layer is built and closed when its scope closes. Opening fails with a
 *   StorageError when another process holds the directory or when it was written with
 *   another key layout.
 */
import { Layer } from "effect"
import type { ObjectStore, StorageError } from "../services/ObjectStore.ts"
import type { RefStore } from "../services/RefStore.ts"
import type { BlockStore } from "../services/BlockStore.ts"
import { BlockStoreMemory, BlockStoreRocks } from "./BlockStores.ts"
import { ObjectStoreMemory } from "./ObjectStoreMemory.ts"
import { ObjectStoreRocks } from "./ObjectStoreRocks.ts"
import { RefStoreMemory } from "./RefStoreMemory.ts"
import { RefStoreRocks } from "./RefStoreRocks.ts"
import { rocksLayer } from "./Rocks.ts"
import { type RepoUploads, RepoUploadsMemory } from "../services/RepoUploads.ts"
import { RepoUploadsRocks } from "./RepoUploadsRocks.ts"
import {
  type StorageSnapshot,
  StorageSnapshotNone,
  StorageSnapshotRocks,
} from "./backup/StorageSnapshot.ts"

export type StorageConfig =
  | { readonly kind: "memory" }
  | { readonly kind: "rocksdb"; readonly dataDir: string }

export const storageLayer = (
  config: StorageConfig,
): Layer.Layer<
  ObjectStore | RefStore | BlockStore | StorageSnapshot | RepoUploads,
  StorageError
> =>
  config.kind === "memory"
    ? Layer.mergeAll(
        ObjectStoreMemory,
        RefStoreMemory,
        BlockStoreMemory,
        StorageSnapshotNone,
        RepoUploadsMemory,
      )
    : Layer.mergeAll(
        ObjectStoreRocks,
        RefStoreRocks,
        BlockStoreRocks,
        StorageSnapshotRocks,
        RepoUploadsRocks,
      ).pipe(Layer.provide(rocksLayer(config.dataDir)))
