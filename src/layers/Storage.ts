/**
 * Storage: the object and ref stores a node runs on, chosen by configuration
 * (`--storage memory|rocksdb`). RocksDB lives in `<data-dir>/db`.
 */
import { Layer } from "effect"
import { ObjectStoreMemory } from "./ObjectStoreMemory.ts"
import { ObjectStoreRocks } from "./ObjectStoreRocks.ts"
import { RefStoreMemory } from "./RefStoreMemory.ts"
import { RefStoreRocks } from "./RefStoreRocks.ts"
import { rocksLayer } from "./Rocks.ts"

export type StorageConfig =
  | { readonly kind: "memory" }
  | { readonly kind: "rocksdb"; readonly dataDir: string }

export const storageLayer = (config: StorageConfig) =>
  config.kind === "memory"
    ? Layer.merge(ObjectStoreMemory, RefStoreMemory)
    : Layer.merge(ObjectStoreRocks, RefStoreRocks).pipe(Layer.provide(rocksLayer(config.dataDir)))
