/**
 * BlockStore: block bytes by digest, and the chain position this node has applied.
 * Blocks are immutable and content-addressed (sha256 of their bytes), so storing one
 * twice is a no-op. Layers: src/layers/BlockStores.ts.
 */
import { Context, type Effect } from "effect"
import type { StorageError } from "./ObjectStore.ts"

export interface ChainPosition {
  readonly height: number
  /** Hex digest of the last applied block (GENESIS_DIGEST at height 0). */
  readonly digest: string
}

export interface BlockStoreShape {
  readonly put: (digest: string, bytes: Uint8Array) => Effect.Effect<void, StorageError>
  readonly get: (digest: string) => Effect.Effect<Uint8Array | undefined, StorageError>
  /** The digest of the finalized block at a height (for peers catching up). */
  readonly atHeight: (height: number) => Effect.Effect<string | undefined, StorageError>
  readonly position: Effect.Effect<ChainPosition | undefined, StorageError>
  /** Records a block as applied at its height (durable). */
  readonly setPosition: (position: ChainPosition) => Effect.Effect<void, StorageError>
}

export class BlockStore extends Context.Tag("guts/BlockStore")<BlockStore, BlockStoreShape>() {}
