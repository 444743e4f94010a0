/**
 * Reading packs (gitformat-pack): an incremental parser that takes the bytes as they
 * arrive, and a resolver that turns its entries into verified objects.
 *
 * Guarantees:
 * - every object id is computed from the resolved content (nothing is taken on trust);
 * - the trailer checksum and the object count are checked;
 * - delta chains are resolved iteratively (no recursion, any depth), with a bounded cache
 *   of resolved contents — bases are re-inflated when evicted, so memory stays bounded by
 *   the pack's compressed size plus the cache;
 * - malformed input yields a PackError saying what and where, never a throw.
 *
 * Each entry keeps its deflated bytes, so objects can be stored and served again exactly
 * as received (delta reuse).
 */
import { createHash, type Hash } from "node:crypto"
import * as zlib from "node:zlib"
import { Data } from "effect"
import type { PackedRepr, StoredObject } from "../../services/ObjectStore.ts"
import { applyDelta, DeltaError } from "./Delta.ts"
import {
  OBJECT_TYPE_BY_CODE,
  type ObjectId,
  type ObjectType,
  objectIdFromBytes,
} from "./ObjectId.ts"

export class PackError extends Data.TaggedError("PackError")<{ readonly message: string }> {}

export type PackEntry =
  | {
      readonly kind: "whole"
      readonly offset: number
      readonly type: ObjectType
      readonly size: number
      readonly deflated: Buffer
      /** Computed while parsing (the content is inflated once to find the stream's end). */
      readonly id: ObjectId
      /** Kept for commits, trees and tags (small, needed for connectivity); not for blobs. */
      content: Buffer | undefined
    }
  | {
      readonly kind: "ofs-delta"
      readonly offset: number
      readonly baseOffset: number
      readonly deltaSize: number
      readonly deflated: Buffer
    }
  | {
      readonly kind: "ref-delta"
      readonly offset: number
      readonly base: ObjectId
      readonly deltaSize: number
      readonly deflated: Buffer
    }

export const hashObject = (type: ObjectType, content: Uint8Array): ObjectId => {
  const h = createHash("sha1")
  h.update(`${type} ${content.length}\0`)
  h.update(content)
  return h.digest("hex") as ObjectId
}

/** Worst-case deflate expansion: stored blocks cost 5 bytes each, plus zlib framing. */
const maxDeflated = (size: number) => size + 5 * Math.ceil((size + 1) / 16_000) + 64

interface Header {
  readonly type: number
  readonly size: number
  readonly length: number
}

const readEntryHeader = (buf: Buffer, pos: number): Header | undefined | PackError => {
  if (pos >= buf.length) return undefined
  let b = buf[pos]!
  const type = (b >> 4) & 7
  let size = b & 0x0f
  let shift = 4
  let i = pos + 1
  while (b & 0x80) {
    if (i >= buf.length) return undefined
    if (shift > 49)
      return new PackError({ message: `entry at offset ${pos}: size varint too long` })
    b = buf[i++]!
    size += (b & 0x7f) * 2 ** shift
    shift += 7
  }
  return { type, size, length: i - pos }
}

/**
 * Incremental pack parser. `push` chunks as they arrive, then `end`. Errors are sticky.
 * Only the undecoded tail is buffered between chunks (at most about one object).
 */
export class PackParser {
  readonly entries: PackEntry[] = []
  private buffer: Buffer = Buffer.alloc(0)
  /** Absolute offset in the pack of buffer[0]. */
  private base = 0
  private count = -1
  private readonly hash: Hash = createHash("sha1")
  /** Bytes fed to the hash so far (everything before the trailer). */
  private hashed = 0
  private error: PackError | undefined
  /** Chunks received but not yet joined into `buffer` (joining is deferred until useful). */
  private queued: Buffer[] = []
  private queuedBytes = 0
  /** How many buffered bytes the parser needs before it can make progress. */
  private need = 0
  bytes = 0

  get expected(): number {
    return this.count
  }

  push(chunk: Uint8Array): PackError | undefined {
    if (this.error) return this.error
    this.bytes += chunk.length
    this.queued.push(Buffer.from(chunk))
    this.queuedBytes += chunk.length
    // Joining buffers costs a copy: wait until enough has arrived for the next object.
    if (this.buffer.length + this.queuedBytes < this.need) return undefined
    this.join()
    return this.drain(false)
  }

  private join() {
    if (this.queuedBytes === 0) return
    this.buffer = Buffer.concat([this.buffer, ...this.queued])
    this.queued = []
    this.queuedBytes = 0
  }

  /** Call at the end of input; checks the trailer and the count. */
  end(): PackError | undefined {
    if (this.error) return this.error
    this.join()
    const err = this.drain(true)
    if (err) return err
    if (this.count < 0)
      return this.fail("pack is truncated: no header (expected 'PACK', version, count)")
    if (this.entries.length < this.count)
      return this.fail(
        `pack is truncated: ${this.entries.length} of ${this.count} objects, then end of data`,
      )
    if (this.buffer.length < 20) return this.fail("pack is truncated: trailer checksum missing")
    if (this.buffer.length > 20)
      return this.fail(`${this.buffer.length - 20} bytes of garbage after the pack`)
    const digest = this.hash.digest()
    if (!digest.equals(this.buffer.subarray(0, 20)))
      return this.fail(
        `pack checksum mismatch: trailer says ${this.buffer.subarray(0, 20).toString("hex")}, content hashes to ${digest.toString("hex")}`,
      )
    return undefined
  }

  private fail(message: string): PackError {
    this.error = new PackError({ message })
    return this.error
  }

  /** Feeds consumed bytes to the trailer hash. */
  private consume(n: number) {
    this.hash.update(this.buffer.subarray(0, n))
    this.hashed += n
    this.buffer = this.buffer.subarray(n)
    this.base += n
  }

  private drain(atEnd: boolean): PackError | undefined {
    this.need = 0
    if (this.count < 0) {
      if (this.buffer.length < 12) return undefined
      if (this.buffer.toString("latin1", 0, 4) !== "PACK")
        return this.fail("not a pack: missing 'PACK' signature")
      const version = this.buffer.readUInt32BE(4)
      if (version !== 2 && version !== 3) return this.fail(`unsupported pack version ${version}`)
      this.count = this.buffer.readUInt32BE(8)
      this.consume(12)
    }
    while (this.entries.length < this.count) {
      const offset = this.base
      const header = readEntryHeader(this.buffer, 0)
      if (header instanceof PackError) return this.fail(header.message)
      if (header === undefined) return undefined
      let pos = header.length
      let baseOffset = -1
      let baseId: ObjectId | undefined
      if (header.type === 6) {
        // OFS_DELTA: big-endian base-128 with +1 per continuation byte.
        if (pos >= this.buffer.length) return undefined
        let b = this.buffer[pos++]!
        let dist = b & 0x7f
        while (b & 0x80) {
          if (pos >= this.buffer.length) return undefined
          b = this.buffer[pos++]!
          dist = (dist + 1) * 128 + (b & 0x7f)
          if (dist > Number.MAX_SAFE_INTEGER / 256)
            return this.fail(`entry at offset ${offset}: delta offset too large`)
        }
        baseOffset = offset - dist
        if (baseOffset < 12 || dist === 0)
          return this.fail(
            `entry at offset ${offset}: delta base offset ${baseOffset} is outside the pack`,
          )
      } else if (header.type === 7) {
        if (pos + 20 > this.buffer.length) return undefined
        baseId = objectIdFromBytes(this.buffer, pos)
        pos += 20
      } else if (!OBJECT_TYPE_BY_CODE[header.type]) {
        return this.fail(`entry at offset ${offset}: invalid object type ${header.type}`)
      }
      // Wait until the whole deflated stream is surely here (or the input has ended).
      const available = this.buffer.length - pos
      if (!atEnd && available < maxDeflated(header.size)) {
        this.need = pos + maxDeflated(header.size)
        return undefined
      }
      let inflated: Buffer
      let used: number
      try {
        const r = zlib.inflateSync(this.buffer.subarray(pos), {
          info: true,
          maxOutputLength: Math.max(header.size, 1),
        }) as unknown as { buffer: Buffer; engine: { bytesWritten: number } }
        inflated = r.buffer
        used = r.engine.bytesWritten
      } catch (e) {
        const code = (e as { code?: string }).code
        if (code === "Z_BUF_ERROR")
          return atEnd
            ? this.fail(`pack is truncated inside the object at offset ${offset}`)
            : undefined
        if (code === "ERR_BUFFER_TOO_LARGE")
          return this.fail(
            `entry at offset ${offset} inflates to more than its declared ${header.size} bytes`,
          )
        return this.fail(
          `corrupt zlib data in the object at offset ${offset}: ${(e as Error).message}`,
        )
      }
      if (inflated.length !== header.size)
        return this.fail(
          `entry at offset ${offset} inflates to ${inflated.length} bytes, header says ${header.size}`,
        )
      const deflated = Buffer.from(this.buffer.subarray(pos, pos + used))
      if (header.type === 6) {
        this.entries.push({
          kind: "ofs-delta",
          offset,
          baseOffset,
          deltaSize: header.size,
          deflated,
        })
      } else if (header.type === 7) {
        this.entries.push({
          kind: "ref-delta",
          offset,
          base: baseId!,
          deltaSize: header.size,
          deflated,
        })
      } else {
        const type = OBJECT_TYPE_BY_CODE[header.type]!
        this.entries.push({
          kind: "whole",
          offset,
          type,
          size: header.size,
          deflated,
          id: hashObject(type, inflated),
          content: type === "blob" ? undefined : inflated,
        })
      }
      this.consume(pos + used)
    }
    // Everything after the last object is the trailer, kept out of the hash.
    return undefined
  }
}

/** Bytes-bounded LRU of resolved contents keyed by pack offset. */
class ContentCache {
  private readonly map = new Map<number, { type: ObjectType; content: Buffer }>()
  private bytes = 0
  constructor(private readonly limit: number) {}
  get(offset: number) {
    const v = this.map.get(offset)
    if (v) {
      this.map.delete(offset)
      this.map.set(offset, v)
    }
    return v
  }
  set(offset: number, v: { type: ObjectType; content: Buffer }) {
    if (v.content.length > this.limit / 4) return
    this.map.set(offset, v)
    this.bytes += v.content.length
    while (this.bytes > this.limit) {
      const [k, old] = this.map.entries().next().value as [number, { content: Buffer }]
      this.map.delete(k)
      this.bytes -= old.content.length
    }
  }
}

export interface ResolvedPack {
  /** Every object, in pack order, ready for ObjectStore.putBatch. */
  readonly objects: StoredObject[]
  /** Contents of commits, trees and tags (for connectivity checks). */
  readonly contents: Map<ObjectId, { type: ObjectType; content: Buffer }>
  /** REF_DELTA bases that came from outside the pack (thin pack). */
  readonly externalBases: ReadonlyArray<ObjectId>
}

export type ExternalBase = { readonly type: ObjectType; readonly content: Uint8Array }

/**
 * Resolves parsed entries into verified objects. `external` supplies bases a thin pack
 * leaves out; ask `refBasesNotInPack` for the ids first.
 */
export const resolvePack = (
  entries: ReadonlyArray<PackEntry>,
  external: ReadonlyMap<ObjectId, ExternalBase>,
  cacheBytes = 64 * 1024 * 1024,
): ResolvedPack | PackError => {
  const byOffset = new Map<number, number>()
  entries.forEach((e, i) => {
    byOffset.set(e.offset, i)
  })
  const ids: Array<ObjectId | undefined> = entries.map((e) =>
    e.kind === "whole" ? e.id : undefined,
  )
  const types: Array<ObjectType | undefined> = entries.map((e) =>
    e.kind === "whole" ? e.type : undefined,
  )
  const byId = new Map<ObjectId, number>()
  entries.forEach((e, i) => {
    if (e.kind === "whole") byId.set(e.id, i)
  })
  const cache = new ContentCache(cacheBytes)
  const contents = new Map<ObjectId, { type: ObjectType; content: Buffer }>()
  const usedExternal = new Set<ObjectId>()
  const sizes: number[] = entries.map((e) => (e.kind === "whole" ? e.size : -1))

  /** Content of entry i, resolving its chain iteratively. */
  const contentOf = (i: number): { type: ObjectType; content: Buffer } | PackError => {
    const chain: number[] = []
    let cur = i
    let start: { type: ObjectType; content: Buffer } | undefined
    for (let guard = 0; ; guard++) {
      if (guard > entries.length + 1)
        return new PackError({ message: `delta cycle at offset ${entries[i]!.offset}` })
      const cached = cache.get(entries[cur]!.offset)
      if (cached) {
        start = cached
        break
      }
      const e = entries[cur]!
      if (e.kind === "whole") {
        const content = e.content ?? zlib.inflateSync(e.deflated)
        start = { type: e.type, content }
        cache.set(e.offset, start)
        break
      }
      chain.push(cur)
      if (e.kind === "ofs-delta") {
        const b = byOffset.get(e.baseOffset)
        if (b === undefined)
          return new PackError({
            message: `delta at offset ${e.offset} refers to offset ${e.baseOffset}, where no object starts`,
          })
        cur = b
      } else {
        const b = byId.get(e.base)
        if (b !== undefined) {
          cur = b
          continue
        }
        const ext = external.get(e.base)
        if (!ext)
          return new PackError({
            message: `delta base ${e.base} is missing (not in the pack nor in the repository)`,
          })
        usedExternal.add(e.base)
        start = { type: ext.type, content: Buffer.from(ext.content) }
        break
      }
    }
    let current = start
    for (let k = chain.length - 1; k >= 0; k--) {
      const e = entries[chain[k]!]!
      const delta = zlib.inflateSync(e.deflated)
      const out = applyDelta(current.content, delta)
      if (out instanceof DeltaError)
        return new PackError({ message: `delta at offset ${e.offset}: ${out.message}` })
      current = { type: current.type, content: out }
      cache.set(e.offset, current)
    }
    return current
  }

  // Resolve deltas; REF deltas may name bases that are themselves deltas later in the pack,
  // so repeat until no progress.
  let pending = entries.map((_, i) => i).filter((i) => entries[i]!.kind !== "whole")
  while (pending.length > 0) {
    const next: number[] = []
    for (const i of pending) {
      const e = entries[i]!
      if (e.kind === "ref-delta" && !byId.has(e.base) && !external.has(e.base)) {
        next.push(i)
        continue
      }
      const r = contentOf(i)
      if (r instanceof PackError) {
        if (e.kind === "ref-delta" && r.message.includes("is missing")) {
          next.push(i)
          continue
        }
        return r
      }
      const id = hashObject(r.type, r.content)
      ids[i] = id
      types[i] = r.type
      sizes[i] = r.content.length
      if (!byId.has(id)) byId.set(id, i)
      if (r.type !== "blob") contents.set(id, { type: r.type, content: r.content })
    }
    if (next.length === pending.length) {
      const e = entries[next[0]!]! as { base: ObjectId; offset: number }
      return new PackError({
        message: `delta base ${e.base} is missing (not in the pack nor in the repository)`,
      })
    }
    pending = next
  }

  const objects: StoredObject[] = []
  entries.forEach((e, i) => {
    const id = ids[i]!
    let repr: PackedRepr
    if (e.kind === "whole") {
      repr = { kind: "whole", deflated: e.deflated }
      if (e.content && e.type !== "blob") contents.set(id, { type: e.type, content: e.content })
    } else if (e.kind === "ofs-delta") {
      repr = {
        kind: "delta",
        base: ids[byOffset.get(e.baseOffset)!]!,
        deflated: e.deflated,
        deltaSize: e.deltaSize,
      }
    } else {
      repr = { kind: "delta", base: e.base, deflated: e.deflated, deltaSize: e.deltaSize }
    }
    objects.push({ id, type: types[i]!, size: sizes[i]!, repr })
  })
  return { objects, contents, externalBases: [...usedExternal] }
}

/** REF_DELTA bases that no whole entry of the pack provides (candidates for thin bases). */
export const refBasesNotInPack = (entries: ReadonlyArray<PackEntry>): ObjectId[] => {
  const have = new Set<ObjectId>()
  for (const e of entries) if (e.kind === "whole") have.add(e.id)
  const out = new Set<ObjectId>()
  for (const e of entries) if (e.kind === "ref-delta" && !have.has(e.base)) out.add(e.base)
  return [...out]
}

/** Parses and resolves a complete pack held in memory (tests, small packs). */
export const readPack = (
  pack: Uint8Array,
  external: ReadonlyMap<ObjectId, ExternalBase> = new Map(),
): ResolvedPack | PackError => {
  const parser = new PackParser()
  const err = parser.push(pack) ?? parser.end()
  if (err) return err
  return resolvePack(parser.entries, external)
}
