/**
 * Pack index files, version 2 (gitformat-pack, "pack-*.idx files have the following
 * format"): magic `\377tOc` and version 2, a 256-entry fanout table (how many ids start
 * with a byte ≤ i), the sorted ids, the CRC32 of each entry's packed bytes, 4-byte offsets
 * (high bit set: an index into a table of 8-byte offsets, for packs over 2 GiB), then the
 * pack's checksum and the index's own SHA-1.
 *
 * Guarantees: `writePackIndex` writes exactly what `git index-pack` writes for the same
 * pack (byte-identical); `readPackIndex` checks the index's structure and checksum before
 * answering lookups, and never throws on malformed input.
 */
import { createHash } from "node:crypto"
import * as zlib from "node:zlib"
import { Data } from "effect"
import { type ObjectId, objectIdFromBytes } from "./ObjectId.ts"

export class PackIndexError extends Data.TaggedError("PackIndexError")<{
  readonly message: string
}> {}

const CRC_TABLE = (() => {
  const t = new Uint32Array(256)
  for (let n = 0; n < 256; n++) {
    let c = n
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1
    t[n] = c >>> 0
  }
  return t
})()

const tableCrc32 = (data: Uint8Array, initial: number): number => {
  let c = (initial ^ 0xffffffff) >>> 0
  for (let i = 0; i < data.length; i++) c = CRC_TABLE[(c ^ data[i]!) & 0xff]! ^ (c >>> 8)
  return (c ^ 0xffffffff) >>> 0
}

const nativeCrc32 = (zlib as unknown as { crc32?: (d: Uint8Array, v?: number) => number }).crc32

/**
 * CRC-32 as zlib computes it; `initial` continues a running CRC over several pieces.
 * Node's zlib.crc32 where it exists (Node ≥ 20.15), else a table.
 */
export const crc32 = (data: Uint8Array, initial = 0): number =>
  nativeCrc32 ? nativeCrc32(data, initial) >>> 0 : tableCrc32(data, initial)

/** The table implementation, exported so tests can compare it with zlib's. */
export const crc32Table = (data: Uint8Array, initial = 0): number => tableCrc32(data, initial)

export interface IndexEntry {
  readonly id: ObjectId
  readonly offset: number
  readonly crc32: number
}

const IDX_MAGIC = 0xff744f63
const LARGE = 0x80000000

export const writePackIndex = (
  entries: ReadonlyArray<IndexEntry>,
  packChecksum: Uint8Array,
): Buffer => {
  const sorted = [...entries].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
  const n = sorted.length
  let largeCount = 0
  for (const e of sorted) if (e.offset >= LARGE) largeCount++
  const out = Buffer.alloc(8 + 256 * 4 + n * 28 + largeCount * 8 + 40)
  out.writeUInt32BE(IDX_MAGIC, 0)
  out.writeUInt32BE(2, 4)
  const fanoutAt = 8
  const idsAt = fanoutAt + 1024
  const crcAt = idsAt + n * 20
  const offAt = crcAt + n * 4
  const largeAt = offAt + n * 4
  const counts = new Uint32Array(256)
  let large = 0
  for (let i = 0; i < n; i++) {
    const e = sorted[i]!
    out.write(e.id, idsAt + i * 20, 20, "hex")
    counts[out[idsAt + i * 20]!]! += 1
    out.writeUInt32BE(e.crc32 >>> 0, crcAt + i * 4)
    if (e.offset >= LARGE) {
      out.writeUInt32BE((LARGE | large) >>> 0, offAt + i * 4)
      out.writeBigUInt64BE(BigInt(e.offset), largeAt + large * 8)
      large++
    } else out.writeUInt32BE(e.offset, offAt + i * 4)
  }
  let running = 0
  for (let i = 0; i < 256; i++) {
    running += counts[i]!
    out.writeUInt32BE(running, fanoutAt + i * 4)
  }
  const end = largeAt + large * 8
  Buffer.from(packChecksum.buffer, packChecksum.byteOffset, 20).copy(out, end)
  createHash("sha1")
    .update(out.subarray(0, end + 20))
    .digest()
    .copy(out, end + 20)
  return out
}

export interface PackIndex {
  readonly count: number
  /** The SHA-1 trailer of the pack this index describes. */
  readonly packChecksum: Buffer
  /** Offset of `id` in the pack, or undefined. */
  readonly lookup: (id: ObjectId) => number | undefined
  /** CRC32 of `id`'s packed entry, or undefined. */
  readonly crcOf: (id: ObjectId) => number | undefined
  /** Every entry, in id order. */
  readonly entries: () => IndexEntry[]
}

export const readPackIndex = (buf: Buffer): PackIndex | PackIndexError => {
  const fail = (message: string) => new PackIndexError({ message })
  if (buf.length < 8 + 1024 + 40) return fail("index is truncated")
  if (buf.readUInt32BE(0) !== IDX_MAGIC || buf.readUInt32BE(4) !== 2)
    return fail("not a version 2 pack index")
  const digest = createHash("sha1")
    .update(buf.subarray(0, buf.length - 20))
    .digest()
  if (!digest.equals(buf.subarray(buf.length - 20))) return fail("index checksum mismatch")
  let previous = 0
  for (let i = 0; i < 256; i++) {
    const v = buf.readUInt32BE(8 + i * 4)
    if (v < previous) return fail(`fanout table is not monotonic at ${i}`)
    previous = v
  }
  const n = previous
  const idsAt = 8 + 1024
  const crcAt = idsAt + n * 20
  const offAt = crcAt + n * 4
  const largeAt = offAt + n * 4
  if (buf.length < largeAt + 40) return fail("index is truncated")
  const largeCount = (buf.length - largeAt - 40) / 8
  if (!Number.isInteger(largeCount)) return fail("index has a malformed large-offset table")
  // buf.compare(target, ts, te, ss, se) orders buf[ss..se] against target[ts..te].
  for (let i = 1; i < n; i++) {
    const at = idsAt + i * 20
    if (buf.compare(buf, at - 20, at, at, at + 20) <= 0)
      return fail(`ids are not sorted (or repeat) at entry ${i}`)
  }
  // Lookups trust the fanout: each id must sit within its first byte's range.
  for (let i = 0; i < n; i++) {
    const first = buf[idsAt + i * 20]!
    const lo = first === 0 ? 0 : buf.readUInt32BE(8 + (first - 1) * 4)
    if (i < lo || i >= buf.readUInt32BE(8 + first * 4))
      return fail(`fanout table disagrees with entry ${i}`)
  }
  for (let i = 0; i < n; i++) {
    const v = buf.readUInt32BE(offAt + i * 4)
    if (v & LARGE && (v & 0x7fffffff) >= largeCount)
      return fail(`entry ${i} points outside the large-offset table`)
  }

  const offsetOf = (i: number) => {
    const v = buf.readUInt32BE(offAt + i * 4)
    if (v & LARGE) return Number(buf.readBigUInt64BE(largeAt + (v & 0x7fffffff) * 8))
    return v
  }
  const find = (id: ObjectId): number => {
    if (!/^[0-9a-f]{40}$/.test(id)) return -1
    const key = Buffer.from(id, "hex")
    let lo = key[0] === 0 ? 0 : buf.readUInt32BE(8 + (key[0]! - 1) * 4)
    let hi = buf.readUInt32BE(8 + key[0]! * 4)
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      const c = buf.compare(key, 0, 20, idsAt + mid * 20, idsAt + mid * 20 + 20)
      if (c === 0) return mid
      // Positive: the id at `mid` sorts after `key`.
      if (c > 0) hi = mid
      else lo = mid + 1
    }
    return -1
  }
  return {
    count: n,
    packChecksum: buf.subarray(buf.length - 40, buf.length - 20),
    lookup: (id) => {
      const i = find(id)
      return i < 0 ? undefined : offsetOf(i)
    },
    crcOf: (id) => {
      const i = find(id)
      return i < 0 ? undefined : buf.readUInt32BE(crcAt + i * 4)
    },
    entries: () =>
      Array.from({ length: n }, (_, i) => ({
        id: objectIdFromBytes(buf, idsAt + i * 20),
        offset: offsetOf(i),
        crc32: buf.readUInt32BE(crcAt + i * 4),
      })),
  }
}
