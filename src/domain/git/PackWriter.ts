/**
 * Writing packs (gitformat-pack), entry by entry, with a running SHA-1 for the trailer.
 *
 * The caller chooses each object's representation, because only it knows what the client
 * has and what it accepts:
 * - `content`: the object's bytes, deflated here;
 * - `whole`: a stored deflated object, copied verbatim (no recompression);
 * - `delta`: a stored delta over `base`, copied verbatim. It becomes an OFS_DELTA when the
 *   base was written earlier in this pack and the client accepts ofs-delta, a REF_DELTA
 *   otherwise. A base that is not in the pack is only allowed when `thin` is on (the client
 *   has it); otherwise the writer refuses with a PackWriteError — ask `canDelta(base)`
 *   first and send the object whole when it says no.
 *
 * Guarantees: the output is a valid pack when the caller writes exactly `count` items
 * (the writer checks); bytes are emitted as they are produced (nothing holds the pack);
 * offsets and CRC32s of every entry are recorded, so the same pass can write a `.idx`.
 * `deltify` offers a delta between two similar objects when it is worth it.
 */
import { createHash, type Hash } from "node:crypto"
import * as zlib from "node:zlib"
import { Data } from "effect"
import type { StoredObject } from "../../services/ObjectStore.ts"
import { createDelta } from "./Delta.ts"
import { hashObject } from "./GitObject.ts"
import { OBJECT_TYPE_CODE, type ObjectId, type ObjectType } from "./ObjectId.ts"
import { crc32, type IndexEntry } from "./PackIndex.ts"
import { SIDEBAND_64K_PAYLOAD } from "./PktLine.ts"

export type PackItem =
  /** Raw content, deflated by the writer; `id` is computed when absent. */
  | {
      readonly kind: "content"
      readonly type: ObjectType
      readonly content: Uint8Array
      readonly id?: ObjectId | undefined
    }
  /** A whole object's stored zlib stream, copied verbatim. */
  | {
      readonly kind: "whole"
      readonly id: ObjectId
      readonly type: ObjectType
      /** Inflated size (what the entry header states). */
      readonly size: number
      readonly deflated: Uint8Array
    }
  /** A stored delta's zlib stream over `base`, copied verbatim. */
  | {
      readonly kind: "delta"
      readonly id: ObjectId
      readonly base: ObjectId
      /** Inflated size of the delta data (what the entry header states). */
      readonly deltaSize: number
      readonly deflated: Uint8Array
    }

/** The pack item that reuses a stored representation as is. */
export const itemFromStored = (o: StoredObject): PackItem =>
  o.repr.kind === "whole"
    ? { kind: "whole", id: o.id, type: o.type, size: o.size, deflated: o.repr.deflated }
    : {
        kind: "delta",
        id: o.id,
        base: o.repr.base,
        deltaSize: o.repr.deltaSize,
        deflated: o.repr.deflated,
      }

export type PackWriteProblem =
  /** A delta over a base that is neither in the pack (yet) nor allowed to be missing. */
  | "base-not-sent"
  /** More or fewer items than the header announced. */
  | "count"
  /** Writing after the trailer, or a trailer before the header. */
  | "state"

export class PackWriteError extends Data.TaggedError("PackWriteError")<{
  readonly reason: PackWriteProblem
  readonly message: string
  readonly id: ObjectId | undefined
}> {}

export interface PackWriterOptions {
  /** How many objects the pack will hold (the header states it before any entry). */
  readonly count: number
  /** The client accepts OFS_DELTA (the `ofs-delta` capability). Default true. */
  readonly ofsDelta?: boolean
  /** Deltas may name bases outside the pack (a thin pack, the client has them). Default false. */
  readonly thin?: boolean
  /** zlib level for `content` items. Default: zlib's default. */
  readonly compressionLevel?: number
}

/** Entry header: type in bits 4-6, size 4 bits then 7 bits per continuation byte. */
const entryHeader = (typeCode: number, size: number, extra: number): Buffer => {
  let n = 1
  for (let rest = Math.floor(size / 16); rest > 0; rest = Math.floor(rest / 128)) n++
  const out = Buffer.allocUnsafe(n + extra)
  let b = (typeCode << 4) | (size & 0x0f)
  let rest = Math.floor(size / 16)
  let i = 0
  while (rest > 0) {
    out[i++] = b | 0x80
    b = rest & 0x7f
    rest = Math.floor(rest / 128)
  }
  out[i] = b
  return out
}

/** OFS_DELTA distance: big-endian base-128, each continuation adding one. */
const ofsEncoding = (distance: number): Buffer => {
  const bytes = [distance & 0x7f]
  let n = Math.floor(distance / 128)
  while (n > 0) {
    n -= 1
    bytes.unshift(0x80 | (n & 0x7f))
    n = Math.floor(n / 128)
  }
  return Buffer.from(bytes)
}

const asBuffer = (b: Uint8Array): Buffer =>
  Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength)

/**
 * A pack being written. Call `header()`, then `write` each item, then `trailer()`; each
 * returns the bytes to send. `writeTo` variants hand the pieces to a sink instead (no
 * concatenation).
 */
export class PackWriter {
  private readonly hash: Hash = createHash("sha1")
  private position = 0
  private readonly offsets = new Map<ObjectId, number>()
  private readonly index: IndexEntry[] = []
  private started = false
  private finished = false
  private readonly ofsDelta: boolean
  private readonly thin: boolean
  private readonly level: number
  readonly count: number
  /** The pack's checksum, once the trailer is written. */
  packChecksum: Buffer | undefined

  constructor(options: PackWriterOptions) {
    this.count = options.count
    this.ofsDelta = options.ofsDelta ?? true
    this.thin = options.thin ?? false
    this.level = options.compressionLevel ?? zlib.constants.Z_DEFAULT_COMPRESSION
  }

  /** Bytes emitted so far (the offset of the next entry). */
  get offset(): number {
    return this.position
  }

  /** Objects written so far. */
  get written(): number {
    return this.index.length
  }

  /** Offset of an object already written to this pack. */
  offsetOf(id: ObjectId): number | undefined {
    return this.offsets.get(id)
  }

  /** Whether a delta over `base` may be written now: the base is in the pack, or thin is on. */
  canDelta(base: ObjectId): boolean {
    return this.thin || this.offsets.has(base)
  }

  private emit(piece: Buffer, sink: (bytes: Buffer) => void) {
    this.hash.update(piece)
    this.position += piece.length
    sink(piece)
  }

  headerTo(sink: (bytes: Buffer) => void): PackWriteError | undefined {
    if (this.started)
      return new PackWriteError({
        reason: "state",
        message: "pack header written twice",
        id: undefined,
      })
    this.started = true
    const h = Buffer.allocUnsafe(12)
    h.write("PACK", 0, "latin1")
    h.writeUInt32BE(2, 4)
    h.writeUInt32BE(this.count, 8)
    this.emit(h, sink)
    return undefined
  }

  header(): Buffer {
    const parts: Buffer[] = []
    const err = this.headerTo((b) => parts.push(b))
    if (err) throw err
    return parts[0]!
  }

  /** Writes one entry, handing its bytes (header, then zlib stream) to `sink`. */
  writeTo(item: PackItem, sink: (bytes: Buffer) => void): PackWriteError | undefined {
    if (!this.started || this.finished)
      return new PackWriteError({
        reason: "state",
        message: this.finished
          ? "entry written after the trailer"
          : "entry written before the header",
        id: item.id,
      })
    if (this.index.length >= this.count)
      return new PackWriteError({
        reason: "count",
        message: `more than the ${this.count} objects the pack header announced`,
        id: item.id,
      })
    let head: Buffer
    let body: Buffer
    let id: ObjectId
    const start = this.position
    if (item.kind === "delta") {
      id = item.id
      const baseOffset = this.offsets.get(item.base)
      if (baseOffset === undefined && !this.thin)
        return new PackWriteError({
          reason: "base-not-sent",
          message: `delta base ${item.base} of ${item.id} is not in this pack, and thin packs are not allowed`,
          id: item.id,
        })
      if (baseOffset !== undefined && this.ofsDelta) {
        const ofs = ofsEncoding(start - baseOffset)
        head = entryHeader(6, item.deltaSize, ofs.length)
        ofs.copy(head, head.length - ofs.length)
      } else {
        head = entryHeader(7, item.deltaSize, 20)
        head.write(item.base, head.length - 20, 20, "hex")
      }
      body = asBuffer(item.deflated)
    } else if (item.kind === "whole") {
      id = item.id
      head = entryHeader(OBJECT_TYPE_CODE[item.type], item.size, 0)
      body = asBuffer(item.deflated)
    } else {
      id = item.id ?? hashObject(item.type, item.content)
      head = entryHeader(OBJECT_TYPE_CODE[item.type], item.content.length, 0)
      body = zlib.deflateSync(item.content, { level: this.level })
    }
    const crc = crc32(body, crc32(head))
    this.emit(head, sink)
    this.emit(body, sink)
    if (!this.offsets.has(id)) this.offsets.set(id, start)
    this.index.push({ id, offset: start, crc32: crc })
    return undefined
  }

  /** Writes one entry and returns its bytes. */
  write(item: PackItem): Buffer | PackWriteError {
    const parts: Buffer[] = []
    const err = this.writeTo(item, (b) => parts.push(b))
    return err ?? Buffer.concat(parts)
  }

  /** The SHA-1 trailer; refuses if the count of entries does not match the header. */
  trailer(): Buffer | PackWriteError {
    if (!this.started || this.finished)
      return new PackWriteError({
        reason: "state",
        message: "trailer written twice or before the header",
        id: undefined,
      })
    if (this.index.length !== this.count)
      return new PackWriteError({
        reason: "count",
        message: `the pack header announced ${this.count} objects, ${this.index.length} were written`,
        id: undefined,
      })
    this.finished = true
    const digest = this.hash.digest()
    this.position += 20
    this.packChecksum = digest
    return digest
  }

  /** Id, offset and CRC32 of every entry written (for PackIndex.writePackIndex). */
  indexEntries(): IndexEntry[] {
    return [...this.index]
  }
}

/**
 * Gathers pieces into chunks of `size` bytes (the last one shorter), so each chunk fits a
 * side-band-64k packet. Full chunks are collected in `ready`.
 */
class Chunker {
  readonly ready: Buffer[] = []
  private current: Buffer
  private used = 0
  constructor(private readonly size: number) {
    this.current = Buffer.allocUnsafe(size)
  }
  push = (piece: Buffer) => {
    let at = 0
    while (at < piece.length) {
      const n = Math.min(piece.length - at, this.size - this.used)
      piece.copy(this.current, this.used, at, at + n)
      this.used += n
      at += n
      if (this.used === this.size) {
        this.ready.push(this.current)
        this.current = Buffer.allocUnsafe(this.size)
        this.used = 0
      }
    }
  }
  flush() {
    if (this.used > 0) this.ready.push(this.current.subarray(0, this.used))
    this.used = 0
  }
  take(): Buffer[] {
    return this.ready.splice(0, this.ready.length)
  }
}

export interface StreamOptions extends PackWriterOptions {
  /** Bytes per yielded chunk (default 65515: one side-band-64k packet each). */
  readonly chunkSize?: number
  /** Receives the writer once done (index entries, checksum). */
  readonly onDone?: (writer: PackWriter) => void
}

/**
 * A whole pack as a sequence of chunks, pulling items lazily. A PackWriteError (a delta
 * whose base cannot be used, a wrong count) ends the sequence by being thrown from the
 * iterator: callers decide representations with `canDelta`, so this is a programming error.
 */
export function* writePack(items: Iterable<PackItem>, options: StreamOptions): Generator<Buffer> {
  const writer = new PackWriter(options)
  const chunks = new Chunker(options.chunkSize ?? SIDEBAND_64K_PAYLOAD)
  const fail = (err: PackWriteError | undefined) => {
    if (err) throw err
  }
  fail(writer.headerTo(chunks.push))
  for (const item of items) {
    fail(writer.writeTo(item, chunks.push))
    yield* chunks.take()
  }
  const trailer = writer.trailer()
  if (trailer instanceof PackWriteError) throw trailer
  chunks.push(trailer)
  chunks.flush()
  yield* chunks.take()
  options.onDone?.(writer)
}

/** writePack over an async source of items (objects read from storage as the pack goes). */
export async function* writePackAsync(
  items: AsyncIterable<PackItem> | Iterable<PackItem>,
  options: StreamOptions,
): AsyncGenerator<Buffer> {
  const writer = new PackWriter(options)
  const chunks = new Chunker(options.chunkSize ?? SIDEBAND_64K_PAYLOAD)
  const fail = (err: PackWriteError | undefined) => {
    if (err) throw err
  }
  fail(writer.headerTo(chunks.push))
  for await (const item of items) {
    fail(writer.writeTo(item, chunks.push))
    for (const c of chunks.take()) yield c
  }
  const trailer = writer.trailer()
  if (trailer instanceof PackWriteError) throw trailer
  chunks.push(trailer)
  chunks.flush()
  for (const c of chunks.take()) yield c
  options.onDone?.(writer)
}

// ---------------------------------------------------------------------------- deltify

export interface DeltifyOptions {
  /** The delta must be at most this fraction of the target's size. Default 0.5 (as git). */
  readonly maxRatio?: number
  /** Targets smaller than this are not worth a delta. Default 64 bytes. */
  readonly minSize?: number
  /** zlib level for the delta data. */
  readonly compressionLevel?: number
}

/**
 * A delta item for `target` over `base` (e.g. the previous version of the same path), or
 * undefined when a delta would not be clearly smaller than the object — then send it
 * whole. Types must match: a delta's result has its base's type.
 */
export const deltify = (
  target: { readonly type: ObjectType; readonly content: Uint8Array; readonly id?: ObjectId },
  base: { readonly id: ObjectId; readonly type: ObjectType; readonly content: Uint8Array },
  options: DeltifyOptions = {},
): Extract<PackItem, { kind: "delta" }> | undefined => {
  if (target.type !== base.type) return undefined
  const size = target.content.length
  if (size < (options.minSize ?? 64)) return undefined
  const maxSize = Math.floor(size * (options.maxRatio ?? 0.5)) - 20
  if (maxSize <= 0) return undefined
  // Like git: skip bases so much larger or smaller that no delta could fit.
  if (size < base.content.length / 32) return undefined
  if (size > base.content.length && size - base.content.length >= maxSize) return undefined
  const delta = createDelta(base.content, target.content, maxSize)
  if (!delta) return undefined
  const id = target.id ?? hashObject(target.type, target.content)
  if (id === base.id) return undefined
  return {
    kind: "delta",
    id,
    base: base.id,
    deltaSize: delta.length,
    deflated: zlib.deflateSync(delta, {
      level: options.compressionLevel ?? zlib.constants.Z_DEFAULT_COMPRESSION,
    }),
  }
}
