/**
 * BlockStore layers: in memory, and in RocksDB's `meta` column family (keys `blk:` +
 * digest, `hgt:` + height, `chain:position`; the position is written durably).
 */
import { Effect, Layer } from "effect"
import { BlockStore, type ChainPosition } from "../services/BlockStore.ts"
import { Rocks } from "./Rocks.ts"

export const BlockStoreMemory = Layer.sync(BlockStore, () => {
  const blocks = new Map<string, Uint8Array>()
  const heights = new Map<number, string>()
  let position: ChainPosition | undefined
  return BlockStore.of({
    put: (digest, bytes) => Effect.sync(() => void blocks.set(digest, bytes)),
    get: (digest) => Effect.sync(() => blocks.get(digest)),
    atHeight: (height) => Effect.sync(() => heights.get(height)),
    position: Effect.sync(() => position),
    setPosition: (p) =>
      Effect.sync(() => {
        heights.set(p.height, p.digest)
        position = p
      }),
  })
})

const blockKey = (digest: string) =>
  Buffer.concat([Buffer.from("blk:"), Buffer.from(digest, "hex")])
const heightKey = (height: number) => {
  const k = Buffer.alloc(4 + 8)
  k.write("hgt:", 0, "latin1")
  k.writeBigUInt64BE(BigInt(height), 4)
  return k
}
const POSITION_KEY = Buffer.from("chain:position")

export const BlockStoreRocks = Layer.effect(
  BlockStore,
  Effect.gen(function* () {
    const rocks = yield* Rocks
    return BlockStore.of({
      put: (digest, bytes) =>
        rocks.write("meta", [{ key: blockKey(digest), value: Buffer.from(bytes) }]),
      get: (digest) => rocks.get("meta", blockKey(digest)),
      atHeight: (height) =>
        Effect.map(rocks.get("meta", heightKey(height)), (v) => v?.toString("hex")),
      position: Effect.map(rocks.get("meta", POSITION_KEY), (v) =>
        v ? (JSON.parse(v.toString("utf8")) as ChainPosition) : undefined,
      ),
      setPosition: (p) =>
        rocks.write(
          "meta",
          [
            { key: heightKey(p.height), value: Buffer.from(p.digest, "hex") },
            { key: POSITION_KEY, value: Buffer.from(JSON.stringify(p)) },
          ],
          { durable: true },
        ),
    })
  }),
)
