/**
 * Reading packs (gitformat-pack): an incremental parser that takes the bytes as they
 * arrive, and a resolver that turns its entries into verified objects.
 *
 * Pack layout: `PACK`, version (2 or 3), object count, then per object a header (type in
 * bits 4-6 of the first byte, size as a little-endian varint: 4 bits then 7 per byte), for
 * OFS_DELTA (6) the distance back to the base (big-endian base-128, +1 per continuation
 * byte), for REF_DELTA (7) the base's 20-byte id, then a zlib stream; finally the SHA-1 of
 * everything before it. A pack does not state where a zlib stream ends: the parser inflates
 * each entry to find out (which also hashes whole objects while their bytes are at hand).
 *
 * Guarantees:
 * - malformed input is a PackError whose `reason` says what is wrong (truncated, bad
 *   signature or version, checksum, corrupt zlib, size mismatch, missing delta base — with
 *   the id —, delta out of bounds, object count mismatch, ...), never a throw or a hang;
 * - the parser buffers only the undecoded tail (about one object), so a pack of any size can
 *   be streamed through it; memory is the entries' deflated bytes plus what they retain;
 * - every object id is computed from resolved content, nothing is taken on trust; bases a
 *   thin pack leaves out are checked against the id they are asked under;
 * - delta chains are resolved iteratively (no recursion, any depth): a depth-first walk of
 *   the base→delta forest, each delta applied exactly once, holding at most `cacheBytes` of
 *   base contents (evicted bases are re-derived from the nearest held ancestor);
 * - each entry keeps its deflated bytes, so objects are stored and served again exactly as
 *   received (delta reuse), and its CRC32, so a `.idx` can be written for the pack. Given a
 *   DeflatedSpool, the bytes go there (a file, for pushes) and are read back when used, so
 *   memory holds per entry only where its bytes are, never the pack.
 */
import { createHash, type Hash } from "node:crypto"
import { Data } from "effect"
import type { PackedRepr, StoredObject } from "../../services/ObjectStore.ts"
import { applyDelta, DeltaError, type DeltaProblem, deltaHeader } from "./Delta.ts"
import { hashObject } from "./GitObject.ts"
import { inflateEntry } from "./Inflate.ts"
import {
  OBJECT_TYPE_BY_CODE,
  type ObjectId,
  type ObjectType,
  objectIdFromBytes,
} from "./ObjectId.ts"
import { crc32, type IndexEntry } from "./PackIndex.ts"

export { hashObject } from "./GitObject.ts"

export type PackProblem =
  /** The input ended before the pack did. */
  | "truncated"
  /** The first four bytes are not `PACK`. */
  | "signature"
  /** A pack version other than 2 or 3. */
  | "version"
  /** The trailer is not the SHA-1 of the pack. */
  | "checksum"
  /** The header's object count disagrees with the objects present. */
  | "count"
  /** An entry's zlib stream is corrupt. */
  | "zlib"
  /** An entry inflates to another size than its header states. */
  | "size"
  /** An entry's type is not 1-4, 6 or 7. */
  | "type"
  /** An OFS_DELTA points where no entry starts. */
  | "offset"
  /** A REF_DELTA's base is neither in the pack nor supplied. */
  | "missing-base"
  /** A delta does not apply to its base (see `delta` for how). */
  | "delta"
  /** A supplied base does not hash to the id it was asked for. */
  | "id-mismatch"
  /** An object larger than the configured limit. */
  | "too-large"
  /** Anything else (also errors raised by callers around the codec). */
  | "invalid"

export class PackError extends Data.TaggedError("PackError")<{
  readonly reason: PackProblem
  readonly message: string
  /** Offset in the pack of the entry concerned, when there is one. */
  readonly offset: number | undefined
  /** The object concerned (the missing base, the mismatching id), when there is one. */
  readonly id: ObjectId | undefined
  /** For `delta`: what is wrong with the delta. */
  readonly delta: DeltaProblem | undefined
}> {
  constructor(args: {
    readonly message: string
    readonly reason?: PackProblem
    readonly offset?: number | undefined
    readonly id?: ObjectId | undefined
    readonly delta?: DeltaProblem | undefined
  }) {
    super({
      reason: args.reason ?? "invalid",
      message: args.message,
      offset: args.offset,
      id: args.id,
      delta: args.delta,
    })
  }
}

/**
 * Where a parser keeps entries' deflated bytes instead of in memory: appended as parsed,
 * read back (a fresh buffer each time) when resolving and storing. A read may throw (an
 * I/O failure, or a spool already closed).
 */
export interface DeflatedSpool {
  /** Appends bytes (copying them); returns their position. */
  append(bytes: Uint8Array): number
  read(at: number, length: number): Buffer
  /** Reads into `target` at `offset` (no buffer of its own). */
  readInto(at: number, length: number, target: Uint8Array, offset: number): void
}

/** Deflated bytes at `spooledAt` in a spool; `deflated` reads them back on each access. */
class Spooled {
  constructor(
    readonly spool: DeflatedSpool,
    readonly spooledAt: number,
    readonly deflatedLength: number,
  ) {}
  get deflated(): Buffer {
    return this.spool.read(this.spooledAt, this.deflatedLength)
  }
  copyDeflatedTo(target: Uint8Array, offset: number): void {
    this.spool.readInto(this.spooledAt, this.deflatedLength, target, offset)
  }
}

class SpooledWhole extends Spooled {
  readonly kind = "whole" as const
}

class SpooledDelta extends Spooled {
  readonly kind = "delta" as const
  constructor(
    spool: DeflatedSpool,
    at: number,
    deflatedLength: number,
    readonly base: ObjectId,
    readonly deltaSize: number,
  ) {
    super(spool, at, deflatedLength)
  }
}

/** The base of a spooled entry: its stream stays in the spool. */
class SpooledEntryBase extends Spooled {
  constructor(
    spool: DeflatedSpool,
    spooledAt: number,
    deflatedLength: number,
    readonly offset: number,
    readonly crc32: number,
  ) {
    super(spool, spooledAt, deflatedLength)
  }
}

/** The representation an entry is stored as (spooled bytes stay in the spool). */
const reprOf = (
  e: EntryBase,
  delta: { base: ObjectId; deltaSize: number } | undefined,
): PackedRepr => {
  if (e.spool)
    return delta
      ? new SpooledDelta(e.spool, e.spooledAt, e.deflatedLength, delta.base, delta.deltaSize)
      : new SpooledWhole(e.spool, e.spooledAt, e.deflatedLength)
  return delta
    ? { kind: "delta", base: delta.base, deflated: e.deflated, deltaSize: delta.deltaSize }
    : { kind: "whole", deflated: e.deflated }
}

interface EntryBase {
  /** Offset of the entry's header in the pack. */
  readonly offset: number
  /** The entry's zlib stream, exactly as in the pack (read from the spool if there is one). */
  readonly deflated: Buffer
  /** Its length (no spool read). */
  readonly deflatedLength: number
  /** The spool that holds the stream at `spooledAt` (undefined: held in `deflated`). */
  readonly spool: DeflatedSpool | undefined
  readonly spooledAt: number
  /** CRC32 of the entry's bytes in the pack (header, base reference, zlib stream). */
  readonly crc32: number
}

export type PackEntry =
  | (EntryBase & {
      readonly kind: "whole"
      readonly type: ObjectType
      readonly size: number
      /** Computed while parsing (the content is inflated once to find the stream's end). */
      readonly id: ObjectId
      /** Retained content (commits, trees and tags by default), else undefined. */
      content: Buffer | undefined
    })
  | (EntryBase & {
      readonly kind: "ofs-delta"
      readonly baseOffset: number
      /** Inflated size of the delta data. */
      readonly deltaSize: number
      /** Retained inflated delta data (dropped once applied), else undefined. */
      delta: Buffer | undefined
    })
  | (EntryBase & {
      readonly kind: "ref-delta"
      readonly base: ObjectId
      readonly deltaSize: number
      delta: Buffer | undefined
    })

/** Objects larger than this are refused unless the caller raises the limit. */
export const DEFAULT_MAX_OBJECT_SIZE = 1024 * 1024 * 1024

export interface ParserOptions {
  /** Largest object (or delta) accepted, in inflated bytes. */
  readonly maxObjectSize?: number
  /** Which whole objects keep their inflated content (default: all but blobs). */
  readonly keepContent?: (type: ObjectType) => boolean
  /** Inflated delta data retained for the resolver (saves inflating twice). Default 64 MiB. */
  readonly retainDeltaBytes?: number
  /** Where entries' deflated bytes go (default: kept in memory, one buffer per entry). */
  readonly spool?: DeflatedSpool
}

/** Worst-case deflate output for `size` bytes: stored blocks of 64 KiB, 5 bytes each. */
const maxDeflated = (size: number) => size + 5 * Math.ceil((size + 1) / 16_000) + 64

interface EntryHeader {
  readonly type: number
  readonly size: number
  readonly length: number
}

const readEntryHeader = (buf: Buffer, offset: number): EntryHeader | undefined | PackError => {
  if (buf.length === 0) return undefined
  let b = buf[0]!
  const type = (b >> 4) & 7
  let size = b & 0x0f
  let shift = 4
  let i = 1
  while (b & 0x80) {
    if (i >= buf.length) return undefined
    if (shift > 49)
      return new PackError({ reason: "too-large", message: "entry size varint too long", offset })
    b = buf[i++]!
    size += (b & 0x7f) * 2 ** shift
    shift += 7
  }
  return { type, size, length: i }
}

type EntryInflate = { out: Buffer; used: number } | "incomplete" | PackError

const inflateAt = (input: Buffer, size: number, offset: number): EntryInflate => {
  const r = inflateEntry(input, size)
  if (r === "incomplete" || "out" in r) return r
  return new PackError({
    reason: r.kind,
    message:
      r.kind === "size"
        ? `entry at offset ${offset} ${r.message}`
        : `corrupt zlib data in the entry at offset ${offset}: ${r.message}`,
    offset,
  })
}

/** Inflates a stored entry whose stream is complete (a re-inflation while resolving). */
const reinflate = (deflated: Buffer, size: number, offset: number): Buffer | PackError => {
  const r = inflateAt(deflated, size, offset)
  if (r === "incomplete")
    return new PackError({
      reason: "zlib",
      message: `entry at offset ${offset} ends early`,
      offset,
    })
  return r instanceof PackError ? r : r.out
}

/**
 * Incremental pack parser. `push` chunks as they arrive, then `end`. Errors are sticky.
 * Only the undecoded tail is buffered between chunks (at most about one object).
 */
export class PackParser {
  readonly entries: PackEntry[] = []
  /** Bytes received so far. */
  bytes = 0
  /** The pack's trailer (its SHA-1), once `end` has verified it. */
  checksum: Buffer | undefined

  private buffer: Buffer = Buffer.alloc(0)
  /** Absolute offset in the pack of buffer[0]. */
  private base = 0
  private count = -1
  private readonly hash: Hash = createHash("sha1")
  private error: PackError | undefined
  /** Chunks received but not yet joined into `buffer` (joining is deferred until useful). */
  private queued: Buffer[] = []
  private queuedBytes = 0
  /** How many buffered bytes the parser needs before it can make progress. */
  private need = 0
  /** Buffered bytes at which to try again an entry whose zlib stream was incomplete. */
  private retryAt = 0
  private readonly offsets = new Set<number>()
  private retained = 0
  private readonly maxObjectSize: number
  private readonly keepContent: (type: ObjectType) => boolean
  private readonly retainDeltaBytes: number
  private readonly spool: DeflatedSpool | undefined

  constructor(options: ParserOptions = {}) {
    this.spool = options.spool
    this.maxObjectSize = options.maxObjectSize ?? DEFAULT_MAX_OBJECT_SIZE
    this.keepContent = options.keepContent ?? ((type) => type !== "blob")
    this.retainDeltaBytes = options.retainDeltaBytes ?? 64 * 1024 * 1024
  }

  /** The object count the header announces (-1 before the header arrived). */
  get expected(): number {
    return this.count
  }

  /**
   * Takes the next chunk of the pack. The chunk is referenced, not copied, until parsed:
   * the caller must not reuse its memory (stream chunks are fresh buffers, as required).
   */
  push(chunk: Uint8Array): PackError | undefined {
    if (this.error) return this.error
    if (chunk.length === 0) return undefined
    this.bytes += chunk.length
    this.queued.push(
      Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length),
    )
    this.queuedBytes += chunk.length
    // Joining buffers costs a copy: wait until enough has arrived for the next step.
    if (this.buffer.length + this.queuedBytes < this.need) return undefined
    this.join()
    return this.drain(false)
  }

  /** Call at the end of input: parses what is left, checks the count and the trailer. */
  end(): PackError | undefined {
    if (this.error) return this.error
    this.join()
    const err = this.drain(true)
    if (err) return err
    if (this.count < 0)
      return this.fail(
        this.bytes === 0 ? "empty input: no pack" : "pack is truncated inside its 12-byte header",
        "truncated",
      )
    if (this.entries.length < this.count) {
      if (this.buffer.length === 20 && this.trailerFits())
        return this.fail(
          `header announces ${this.count} objects, the pack holds ${this.entries.length}`,
          "count",
        )
      return this.fail(
        `pack is truncated: ${this.entries.length} of ${this.count} objects, then end of data`,
        "truncated",
      )
    }
    if (this.buffer.length < 20)
      return this.fail("pack is truncated: trailer checksum missing", "truncated")
    const digest = this.hash.digest()
    const trailer = this.buffer.subarray(0, 20)
    if (!digest.equals(trailer))
      return this.fail(
        `pack checksum mismatch: trailer says ${trailer.toString("hex")}, content hashes to ${digest.toString("hex")}`,
        "checksum",
      )
    this.checksum = Buffer.from(trailer)
    return undefined
  }

  private join() {
    if (this.queuedBytes === 0) return
    this.buffer =
      this.buffer.length === 0 && this.queued.length === 1
        ? this.queued[0]!
        : Buffer.concat([this.buffer, ...this.queued])
    this.queued = []
    this.queuedBytes = 0
  }

  private fail(
    message: string,
    reason: PackProblem,
    extra: { offset?: number; id?: ObjectId } = {},
  ): PackError {
    this.error = new PackError({ message, reason, ...extra })
    return this.error
  }

  /** Whether the buffer starts with the SHA-1 of everything consumed (a trailer, early). */
  private trailerFits(): boolean {
    return this.buffer.length >= 20 && this.hash.copy().digest().equals(this.buffer.subarray(0, 20))
  }

  /** Feeds consumed bytes to the trailer hash. */
  private consume(n: number) {
    this.hash.update(this.buffer.subarray(0, n))
    this.buffer = this.buffer.subarray(n)
    this.base += n
  }

  /** An entry-level failure, reported as a count mismatch when a trailer is in its place. */
  private entryFailure(err: PackError): PackError {
    if (this.trailerFits())
      return this.fail(
        `header announces ${this.count} objects, the pack holds ${this.entries.length}`,
        "count",
      )
    this.error = err
    return err
  }

  private drain(atEnd: boolean): PackError | undefined {
    this.need = 0
    if (this.count < 0) {
      if (this.buffer.length < 12) {
        if (this.buffer.length >= 4 && this.buffer.toString("latin1", 0, 4) !== "PACK")
          return this.fail("not a pack: missing 'PACK' signature", "signature")
        this.need = 12
        return undefined
      }
      if (this.buffer.toString("latin1", 0, 4) !== "PACK")
        return this.fail("not a pack: missing 'PACK' signature", "signature")
      const version = this.buffer.readUInt32BE(4)
      if (version !== 2 && version !== 3)
        return this.fail(`unsupported pack version ${version}`, "version")
      this.count = this.buffer.readUInt32BE(8)
      this.consume(12)
    }
    while (this.entries.length < this.count) {
      const offset = this.base
      const buf = this.buffer
      const header = readEntryHeader(buf, offset)
      if (header instanceof PackError) return this.entryFailure(header)
      if (header === undefined) return undefined
      let pos = header.length
      let baseOffset = -1
      let baseId: ObjectId | undefined
      if (header.type === 6) {
        if (pos >= buf.length) return undefined
        let b = buf[pos++]!
        let dist = b & 0x7f
        while (b & 0x80) {
          if (pos >= buf.length) return undefined
          b = buf[pos++]!
          dist = (dist + 1) * 128 + (b & 0x7f)
          if (dist > 2 ** 48)
            return this.entryFailure(
              new PackError({
                reason: "offset",
                message: `entry at offset ${offset}: delta offset too large`,
                offset,
              }),
            )
        }
        baseOffset = offset - dist
        if (dist === 0 || !this.offsets.has(baseOffset))
          return this.entryFailure(
            new PackError({
              reason: "offset",
              message: `delta at offset ${offset} refers to offset ${baseOffset}, where no earlier entry starts`,
              offset,
            }),
          )
      } else if (header.type === 7) {
        if (pos + 20 > buf.length) return undefined
        baseId = objectIdFromBytes(buf, pos)
        pos += 20
      } else if (!OBJECT_TYPE_BY_CODE[header.type]) {
        return this.entryFailure(
          new PackError({
            reason: "type",
            message: `entry at offset ${offset} has invalid object type ${header.type}`,
            offset,
          }),
        )
      }
      if (header.size > this.maxObjectSize)
        return this.entryFailure(
          new PackError({
            reason: "too-large",
            message: `entry at offset ${offset} declares ${header.size} bytes, over the limit of ${this.maxObjectSize}`,
            offset,
          }),
        )
      // Inflate once the whole stream is surely here (zlib's worst case for the size; so at
      // most about one object is buffered). A stream longer than that worst case (possible,
      // but not from zlib) is retried with the wait doubled each time: linear work overall.
      const available = buf.length - pos
      const bound = maxDeflated(header.size)
      if (!atEnd && available < Math.max(bound, this.retryAt)) {
        this.need = pos + Math.max(bound, this.retryAt)
        return undefined
      }
      let r = inflateAt(buf.subarray(pos, pos + Math.min(available, bound)), header.size, offset)
      if (r === "incomplete" && available > bound)
        r = inflateAt(buf.subarray(pos), header.size, offset)
      if (r === "incomplete") {
        if (atEnd)
          return this.entryFailure(
            new PackError({
              reason: "truncated",
              message: `pack is truncated inside the entry at offset ${offset}`,
              offset,
            }),
          )
        this.retryAt = Math.max(available * 2, 4096)
        this.need = pos + this.retryAt
        return undefined
      }
      const err = this.accept(r, header, offset, pos, baseOffset, baseId)
      if (err) return err
    }
    // Everything after the last object is the trailer, kept out of the hash.
    if (this.buffer.length > 20)
      return this.fail(
        `data continues after the ${this.count} objects the header announces`,
        "count",
      )
    return undefined
  }

  /** Records an inflated entry; undefined to continue the drain loop. */
  private accept(
    r: { out: Buffer; used: number } | PackError,
    header: EntryHeader,
    offset: number,
    pos: number,
    baseOffset: number,
    baseId: ObjectId | undefined,
  ): PackError | undefined {
    if (r instanceof PackError) return this.entryFailure(r)
    const { out, used } = r
    this.retryAt = 0
    if (out.length !== header.size)
      return this.entryFailure(
        new PackError({
          reason: "size",
          message: `entry at offset ${offset} inflates to ${out.length} bytes, its header says ${header.size}`,
          offset,
        }),
      )
    const raw = this.buffer.subarray(0, pos + used)
    const crc = crc32(raw)
    const stream = this.buffer.subarray(pos, pos + used)
    // The entry's common part: its stream in the spool, or a copy of it in memory.
    const base: EntryBase = this.spool
      ? new SpooledEntryBase(this.spool, this.spool.append(stream), used, offset, crc)
      : {
          offset,
          deflated: Buffer.from(stream),
          deflatedLength: used,
          spool: undefined,
          spooledAt: -1,
          crc32: crc,
        }
    let entry: PackEntry
    if (header.type === 6 || header.type === 7) {
      const dh = deltaHeader(out)
      if (dh instanceof DeltaError)
        return this.entryFailure(
          new PackError({
            reason: "delta",
            delta: dh.reason,
            message: `delta at offset ${offset}: ${dh.message}`,
            offset,
          }),
        )
      let delta: Buffer | undefined
      if (this.retained + out.length <= this.retainDeltaBytes) {
        delta = out
        this.retained += out.length
      }
      entry =
        header.type === 6
          ? Object.assign(base, {
              kind: "ofs-delta" as const,
              baseOffset,
              deltaSize: header.size,
              delta,
            })
          : Object.assign(base, {
              kind: "ref-delta" as const,
              base: baseId!,
              deltaSize: header.size,
              delta,
            })
    } else {
      const type = OBJECT_TYPE_BY_CODE[header.type]!
      entry = Object.assign(base, {
        kind: "whole" as const,
        type,
        size: header.size,
        id: hashObject(type, out),
        content: this.keepContent(type) ? out : undefined,
      })
    }
    this.entries.push(entry)
    this.offsets.add(offset)
    this.consume(pos + used)
    return undefined
  }
}

// ---------------------------------------------------------------------------- resolving

export type ExternalBase = { readonly type: ObjectType; readonly content: Uint8Array }

/** Where bases a thin pack leaves out come from: a map, or a synchronous lookup. */
export type ExternalBases =
  | ReadonlyMap<ObjectId, ExternalBase>
  | ((id: ObjectId) => ExternalBase | undefined)

export interface ResolveOptions {
  /** Bases a thin pack leaves out. Without it, the resolver asks (see PackResolver.step). */
  readonly external?: ExternalBases | undefined
  /** Bytes of resolved base contents held during the walk. Default 64 MiB. */
  readonly cacheBytes?: number
  /** Largest resolved object accepted. */
  readonly maxObjectSize?: number
  /** Which resolved objects' contents are returned in `contents` (default: all but blobs). */
  readonly keepContent?: (type: ObjectType) => boolean
  /**
   * Given, the contents `keepContent` selects are handed here as each is resolved instead
   * of being collected in `contents` (which then stays empty): a caller that only derives
   * something from them need not hold them all.
   */
  readonly onContent?: (id: ObjectId, type: ObjectType, content: Buffer) => void
}

export interface ResolvedPack {
  /** Every object, in pack order (objects[i] is entries[i]), ready for ObjectStore.putBatch. */
  readonly objects: StoredObject[]
  /** Contents of commits, trees and tags (for connectivity checks). */
  readonly contents: Map<ObjectId, { type: ObjectType; content: Buffer }>
  /** REF_DELTA bases that came from outside the pack (thin pack). */
  readonly externalBases: ReadonlyArray<ObjectId>
}

/** What a resolver step ended with. */
export type ResolveStep =
  | { readonly _tag: "Done"; readonly result: ResolvedPack }
  /** The work budget ran out: call `step` again (lets a caller yield in between). */
  | { readonly _tag: "More" }
  /** These bases are not in the pack: `provide` them (or not), then call `step` again. */
  | { readonly _tag: "NeedBases"; readonly ids: ReadonlyArray<ObjectId> }

interface Frame {
  /** Entry index, or -1 for a base supplied from outside. */
  readonly index: number
  readonly id: ObjectId
  readonly type: ObjectType
  content: Buffer | undefined
  readonly kids: ReadonlyArray<number>
  next: number
}

/**
 * Resolves parsed entries into verified objects, step by step. Bases are walked depth
 * first: each resolved object's dependants (OFS deltas on its offset, REF deltas on its id)
 * are applied right after it, so every delta is applied once and no recursion is needed.
 */
export class PackResolver {
  private readonly ids: Array<ObjectId | undefined>
  private readonly types: Array<ObjectType | undefined>
  private readonly sizes: number[]
  private readonly ofsKids = new Map<number, number[]>()
  private readonly refKids = new Map<ObjectId, number[]>()
  private readonly contents = new Map<ObjectId, { type: ObjectType; content: Buffer }>()
  private readonly usedExternal: ObjectId[] = []
  private readonly supplied = new Map<ObjectId, ExternalBase | undefined>()
  private readonly stack: Frame[] = []
  private readonly indexByOffset = new Map<number, number>()
  private readonly indexById = new Map<ObjectId, number>()
  private held = 0
  private nextRoot = 0
  private asked = false
  private done: ResolvedPack | undefined
  private error: PackError | undefined
  private readonly cacheBytes: number
  private readonly maxObjectSize: number
  private readonly keepContent: (type: ObjectType) => boolean
  private readonly external: ExternalBases | undefined
  private readonly onContent: ResolveOptions["onContent"]
  /** Resolved so far (for progress reports). */
  resolved = 0

  constructor(
    private readonly entries: ReadonlyArray<PackEntry>,
    options: ResolveOptions = {},
  ) {
    this.cacheBytes = options.cacheBytes ?? 64 * 1024 * 1024
    this.maxObjectSize = options.maxObjectSize ?? DEFAULT_MAX_OBJECT_SIZE
    this.keepContent = options.keepContent ?? ((type) => type !== "blob")
    this.onContent = options.onContent
    this.external = options.external
    const n = entries.length
    this.ids = new Array(n)
    this.types = new Array(n)
    this.sizes = new Array(n).fill(-1)
    const byOffset = this.indexByOffset
    for (let i = 0; i < n; i++) {
      const e = entries[i]!
      byOffset.set(e.offset, i)
      if (e.kind === "whole") {
        if (!this.indexById.has(e.id)) this.indexById.set(e.id, i)
        this.ids[i] = e.id
        this.types[i] = e.type
        this.sizes[i] = e.size
        this.resolved++
      }
    }
    for (let i = 0; i < n; i++) {
      const e = entries[i]!
      if (e.kind === "ofs-delta") {
        const b = byOffset.get(e.baseOffset)
        if (b === undefined || b >= i) {
          this.error = new PackError({
            reason: "offset",
            message: `delta at offset ${e.offset} refers to offset ${e.baseOffset}, where no earlier entry starts`,
            offset: e.offset,
          })
          return
        }
        const list = this.ofsKids.get(b)
        if (list) list.push(i)
        else this.ofsKids.set(b, [i])
      } else if (e.kind === "ref-delta") {
        const list = this.refKids.get(e.base)
        if (list) list.push(i)
        else this.refKids.set(e.base, [i])
      }
    }
  }

  /** Supplies bases asked for by a NeedBases step (undefined: not available). */
  provide(bases: ReadonlyMap<ObjectId, ExternalBase | undefined>): void {
    for (const [id, base] of bases) this.supplied.set(id, base)
  }

  /** Resolves up to `budget` deltas, then reports where it stands. */
  step(budget = Number.POSITIVE_INFINITY): ResolveStep | PackError {
    if (this.error) return this.error
    if (this.done) return { _tag: "Done", result: this.done }
    let work = 0
    for (;;) {
      if (this.stack.length > 0) {
        const err = this.advance()
        if (err) return (this.error = err)
        if (++work >= budget) return { _tag: "More" }
        continue
      }
      // Next root: a whole entry that something depends on.
      while (this.nextRoot < this.entries.length) {
        const i = this.nextRoot++
        const e = this.entries[i]!
        if (e.kind !== "whole") continue
        const kids = this.kidsOf(i, e.id)
        if (kids.length === 0) continue
        const content = this.wholeContent(i)
        if (content instanceof PackError) return (this.error = content)
        this.pushFrame({ index: i, id: e.id, type: e.type, content, kids, next: 0 })
        break
      }
      if (this.stack.length > 0) continue
      // In-pack roots exhausted: what is left hangs on bases from outside.
      const wanted = [...this.refKids.keys()]
      if (wanted.length === 0) break
      const missing = wanted.filter((id) => !this.supplied.has(id))
      if (missing.length > 0) {
        if (this.external) {
          for (const id of missing)
            this.supplied.set(
              id,
              typeof this.external === "function" ? this.external(id) : this.external.get(id),
            )
        } else if (!this.asked) {
          this.asked = true
          return { _tag: "NeedBases", ids: missing }
        } else for (const id of missing) this.supplied.set(id, undefined)
      }
      // A base that is supplied; the others may yet come from deltas hanging off it.
      const id = wanted.find((w) => this.supplied.get(w) !== undefined)
      const base = id === undefined ? undefined : this.supplied.get(id)
      if (id === undefined || !base) {
        const id = wanted[0]!
        const first = this.entries[this.refKids.get(id)![0]!]!
        return (this.error = new PackError({
          reason: "missing-base",
          message: `delta base ${id} is missing (not in the pack nor supplied) for the delta at offset ${first.offset}`,
          id,
          offset: first.offset,
        }))
      }
      const content = Buffer.isBuffer(base.content)
        ? base.content
        : Buffer.from(base.content.buffer, base.content.byteOffset, base.content.byteLength)
      const actual = hashObject(base.type, content)
      if (actual !== id)
        return (this.error = new PackError({
          reason: "id-mismatch",
          message: `the base supplied for ${id} hashes to ${actual}`,
          id,
        }))
      this.usedExternal.push(id)
      this.pushFrame({
        index: -1,
        id,
        type: base.type,
        content,
        kids: this.kidsOf(-1, id),
        next: 0,
      })
    }
    // Everything reachable is resolved; anything left over depends on itself.
    for (let i = 0; i < this.entries.length; i++)
      if (this.ids[i] === undefined)
        return (this.error = new PackError({
          reason: "missing-base",
          message: `delta at offset ${this.entries[i]!.offset} has a base that never resolves (a cycle)`,
          offset: this.entries[i]!.offset,
        }))
    const built = this.build()
    if (built instanceof PackError) return (this.error = built)
    this.done = built
    return { _tag: "Done", result: built }
  }

  /** The dependants of an object: OFS deltas on its entry, REF deltas on its id (once). */
  private keep(id: ObjectId, type: ObjectType, content: Buffer) {
    if (this.onContent) this.onContent(id, type, content)
    else if (!this.contents.has(id)) this.contents.set(id, { type, content })
  }

  private kidsOf(index: number, id: ObjectId): number[] {
    const ofs = index >= 0 ? this.ofsKids.get(index) : undefined
    const ref = this.refKids.get(id)
    if (ref) this.refKids.delete(id)
    if (ofs && ref) return [...ofs, ...ref]
    return ofs ?? ref ?? []
  }

  private wholeContent(i: number): Buffer | PackError {
    const e = this.entries[i]! as Extract<PackEntry, { kind: "whole" }>
    return e.content ?? reinflate(e.deflated, e.size, e.offset)
  }

  private pushFrame(frame: Frame) {
    this.stack.push(frame)
    this.held += frame.content?.length ?? 0
    // Over budget: drop the contents nearest the roots (the deepest are needed soonest).
    for (let k = 0; this.held > this.cacheBytes && k < this.stack.length - 1; k++) {
      const f = this.stack[k]!
      if (f.content) {
        this.held -= f.content.length
        f.content = undefined
      }
    }
  }

  private popFrame() {
    const f = this.stack.pop()!
    this.held -= f.content?.length ?? 0
  }

  /** Applies the next dependant of the top frame (or pops it when it has none left). */
  private advance(): PackError | undefined {
    const top = this.stack[this.stack.length - 1]!
    if (top.next >= top.kids.length) {
      this.popFrame()
      return undefined
    }
    const i = top.kids[top.next++]!
    const base = top.content ?? this.derive(top)
    if (base instanceof PackError) return base
    const out = this.applyEntry(i, base)
    if (out instanceof PackError) return out
    const type = top.type
    const id = hashObject(type, out)
    this.ids[i] = id
    this.types[i] = type
    this.sizes[i] = out.length
    if (!this.indexById.has(id)) this.indexById.set(id, i)
    this.resolved++
    if (this.keepContent(type)) this.keep(id, type, out)
    const kids = this.kidsOf(i, id)
    // Its last dependant done, a base is dropped before descending: a chain of any depth
    // keeps one frame, not one per link.
    if (top.next >= top.kids.length) this.popFrame()
    if (kids.length > 0) this.pushFrame({ index: i, id, type, content: out, kids, next: 0 })
    return undefined
  }

  private applyEntry(i: number, base: Buffer): Buffer | PackError {
    const e = this.entries[i]! as Extract<PackEntry, { kind: "ofs-delta" | "ref-delta" }>
    let delta = e.delta
    if (delta)
      e.delta = undefined // applied once: release it
    else {
      const inflated = reinflate(e.deflated, e.deltaSize, e.offset)
      if (inflated instanceof PackError) return inflated
      delta = inflated
    }
    const out = applyDelta(base, delta, this.maxObjectSize)
    if (out instanceof DeltaError)
      return new PackError({
        reason: "delta",
        delta: out.reason,
        message: `delta at offset ${e.offset}: ${out.message}`,
        offset: e.offset,
      })
    return out
  }

  /**
   * The content of a frame whose content was dropped: follow its delta chain back (through
   * the entries) to a held frame, a whole entry or a supplied base, and apply forward.
   */
  private derive(frame: Frame): Buffer | PackError {
    const held = new Map<number, Buffer>()
    for (const f of this.stack) if (f.content && f.index >= 0) held.set(f.index, f.content)
    const chain: number[] = []
    let content: Buffer | undefined
    let cur = frame.index
    let externalId: ObjectId | undefined = cur < 0 ? frame.id : undefined
    while (externalId === undefined) {
      const h = held.get(cur)
      if (h) {
        content = h
        break
      }
      const e = this.entries[cur]!
      if (e.kind === "whole") {
        const c = this.wholeContent(cur)
        if (c instanceof PackError) return c
        content = c
        break
      }
      chain.push(cur)
      if (e.kind === "ofs-delta") cur = this.indexByOffset.get(e.baseOffset)!
      else {
        const b = this.indexById.get(e.base)
        if (b === undefined) externalId = e.base
        else cur = b
      }
    }
    if (externalId !== undefined) content = Buffer.from(this.supplied.get(externalId)!.content)
    for (let m = chain.length - 1; m >= 0; m--) {
      const out = this.applyEntry(chain[m]!, content!)
      if (out instanceof PackError) return out
      content = out
    }
    frame.content = content!
    this.held += content!.length
    return content!
  }

  private build(): ResolvedPack | PackError {
    const objects: StoredObject[] = new Array(this.entries.length)
    const byOffset = new Map<number, number>()
    for (let i = 0; i < this.entries.length; i++) {
      const e = this.entries[i]!
      byOffset.set(e.offset, i)
      let repr: PackedRepr
      if (e.kind === "whole") {
        repr = reprOf(e, undefined)
        if (this.keepContent(e.type) && !this.contents.has(e.id)) {
          const content = this.wholeContent(i)
          if (content instanceof PackError) return content
          this.keep(e.id, e.type, content)
        }
      } else if (e.kind === "ofs-delta") {
        const base = this.ids[byOffset.get(e.baseOffset)!]!
        repr = reprOf(e, { base, deltaSize: e.deltaSize })
      } else {
        repr = reprOf(e, { base: e.base, deltaSize: e.deltaSize })
      }
      objects[i] = { id: this.ids[i]!, type: this.types[i]!, size: this.sizes[i]!, repr }
    }
    return { objects, contents: this.contents, externalBases: this.usedExternal }
  }
}

const isExternalBases = (x: unknown): x is ExternalBases =>
  typeof x === "function" ||
  (typeof x === "object" && x !== null && typeof (x as { get?: unknown }).get === "function")

/**
 * Resolves parsed entries into verified objects in one go. `external` supplies the bases a
 * thin pack leaves out (a map, a lookup, or options); a base asked for and not supplied
 * is a `missing-base` PackError naming it.
 */
export const resolvePack = (
  entries: ReadonlyArray<PackEntry>,
  external: ExternalBases | ResolveOptions = new Map(),
  cacheBytes?: number,
): ResolvedPack | PackError => {
  const options: ResolveOptions = isExternalBases(external)
    ? { external, ...(cacheBytes === undefined ? {} : { cacheBytes }) }
    : { ...external, external: external.external ?? new Map() }
  const r = new PackResolver(entries, options).step()
  if (r instanceof PackError) return r
  if (r._tag === "Done") return r.result
  return new PackError({ reason: "invalid", message: "resolver stopped early" })
}

/** REF_DELTA bases that no whole entry of the pack provides (candidates for thin bases). */
export const refBasesNotInPack = (entries: ReadonlyArray<PackEntry>): ObjectId[] => {
  const have = new Set<ObjectId>()
  for (const e of entries) if (e.kind === "whole") have.add(e.id)
  const out = new Set<ObjectId>()
  for (const e of entries) if (e.kind === "ref-delta" && !have.has(e.base)) out.add(e.base)
  return [...out]
}

/** Index entries (id, offset, CRC32) for a parsed and resolved pack, to write its `.idx`. */
export const packIndexEntries = (
  entries: ReadonlyArray<PackEntry>,
  resolved: ResolvedPack,
): IndexEntry[] =>
  entries.map((e, i) => ({ id: resolved.objects[i]!.id, offset: e.offset, crc32: e.crc32 }))

/** Parses a complete pack held in memory (tests, small packs). */
export const parsePack = (
  pack: Uint8Array,
  options: ParserOptions = {},
): { entries: PackEntry[]; checksum: Buffer } | PackError => {
  const parser = new PackParser(options)
  const err = parser.push(pack) ?? parser.end()
  if (err) return err
  return { entries: parser.entries, checksum: parser.checksum! }
}

/** Parses and resolves a complete pack held in memory (tests, small packs). */
export const readPack = (
  pack: Uint8Array,
  external: ExternalBases | ResolveOptions = new Map(),
): ResolvedPack | PackError => {
  const parsed = parsePack(pack)
  if (parsed instanceof PackError) return parsed
  return resolvePack(parsed.entries, external)
}
