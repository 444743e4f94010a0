/**
 * Moving git objects between nodes. Objects travel as stored (whole, or as a delta over a
 * base sent earlier in the same batch or already held by the receiver), and a receiver
 * keeps only what it re-hashes to the announced id: a peer cannot plant an object under a
 * false id.
 */
import * as zlib from "node:zlib"
import { Effect } from "effect"
import { applyDelta, DeltaError } from "../../domain/git/Delta.ts"
import { hashObject } from "../../domain/git/GitObject.ts"
import type { ObjectId, ObjectType } from "../../domain/git/ObjectId.ts"
import type { ObjectStoreShape, StoredObject } from "../../services/ObjectStore.ts"

/** The objects of `batch` whose content hashes to their id (bases: batch, then store). */
export const verifyReceived = (batch: ReadonlyArray<StoredObject>, store: ObjectStoreShape) =>
  Effect.gen(function* () {
    const contents = new Map<ObjectId, { type: ObjectType; content: Buffer }>()
    const good: StoredObject[] = []
    const pending = [...batch]
    // Deltas may precede their base in a batch: resolve in passes until nothing moves.
    for (let pass = 0; pending.length > 0 && pass < 64; pass++) {
      const next: StoredObject[] = []
      for (const o of pending) {
        let content: Buffer | undefined
        try {
          if (o.repr.kind === "whole") content = zlib.inflateSync(o.repr.deflated)
          else {
            let base = contents.get(o.repr.base)
            if (!base) {
              const held = yield* store.get(o.repr.base).pipe(Effect.option)
              if (held._tag === "Some")
                base = { type: held.value.type, content: Buffer.from(held.value.content) }
            }
            if (!base) {
              next.push(o)
              continue
            }
            const out = applyDelta(base.content, zlib.inflateSync(o.repr.deflated))
            if (out instanceof DeltaError) continue
            content = out
          }
        } catch {
          continue // corrupt zlib: dropped
        }
        if (hashObject(o.type, content) !== o.id) continue
        if (o.type !== "blob") contents.set(o.id, { type: o.type, content })
        else if (content.length < 1024 * 1024) contents.set(o.id, { type: o.type, content })
        good.push(o)
      }
      if (next.length === pending.length) break
      pending.splice(0, pending.length, ...next)
    }
    return good
  })

/** Splits objects into messages of at most ~`limit` bytes each. */
export const chunkObjects = (objects: ReadonlyArray<StoredObject>, limit = 8 * 1024 * 1024) => {
  const chunks: StoredObject[][] = []
  let current: StoredObject[] = []
  let size = 0
  for (const o of objects) {
    const n = o.repr.deflated.length + 48
    if (size + n > limit && current.length > 0) {
      chunks.push(current)
      current = []
      size = 0
    }
    current.push(o)
    size += n
  }
  if (current.length > 0) chunks.push(current)
  return chunks
}
