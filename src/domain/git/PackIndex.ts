/**
 * Pack index files, version 2 (gitformat-pack, "pack-*.idx files have the following
 * format"): magic and version, a 256-entry fanout, sorted ids, CRC32 of each entry's
 * packed bytes, 4-byte offsets (with the high bit pointing into a table of 8-byte offsets
 * for packs over 2 GiB), then the pack's checksum and the index's own.
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

/** CRC-32 (zlib's): node's zlib.crc32 where it exists (Node ≥ 20.15), else a table. */
export const crc32 = (data: Uint8Array): number => {
  const native = (zlib as unknown as { crc32?: (d: Uint8Array) => number }).crc32
  if (native) return native(data) >>> 0
  let c = 0xffffffff
  for (let i = 0; i < data.length; i++) c = CRC_TABLE[(c ^ data[i]!) & 0xff]! ^ (c >>> 8)
  return (c ^ 0xffffffff) >>> 0
}

export interface IndexEntry {
  readonly id: ObjectId
  readonly offset: number
  readonly crc32: number
}

export const writePackIndex = (
  entries: ReadonlyArray<IndexEntry>,
  packChecksum: Uint8Array,
): Buffer => {
  const sorted = [...entries].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
  const n = sorted.length
  const large = sorted.filter((e) => e.offset >= 0x80000000)
  const out = Buffer.alloc(8 + 256 * 4 + n * 20 + n * 4 + n * 4 + large.length * 8 + 40)
  let pos = 0
  out.writeUInt32BE(0xff744f63, pos) // "\377tOc"
  out.writeUInt32BE(2, pos + 4)
  pos += 8
  const fanout = new Uint32Array(256)
  for (const e of sorted) fanout[Number.parseInt(e.id.slice(0, 2), 16)]! += 1
  let running = 0
  for (let i = 0; i < 256; i++) {
    running += fanout[i]!
    out.writeUInt32BE(running, pos)
    pos += 4
  }
  for (const e of sorted) {
    out.write(e.id, pos, "hex")
    pos += 20
  }
  for (const e of sorted) {
    out.writeUInt32BE(e.crc32 >>> 0, pos)
    pos += 4
  }
  let largeIndex = 0
  const largeOffsets: number[] = []
  for (const e of sorted) {
    if (e.offset >= 0x80000000) {
      out.writeUInt32BE((0x80000000 | largeIndex++) >>> 0, pos)
      largeOffsets.push(e.offset)
    } else out.writeUInt32BE(e.offset, pos)
    pos += 4
  }
  for (const off of largeOffsets) {
    out.writeBigUInt64BE(BigInt(off), pos)
    pos += 8
  }
  Buffer.from(packChecksum).copy(out, pos)
  pos += 20
  createHash("sha1").update(out.subarray(0, pos)).digest().copy(out, pos)
  return out
}

export interface PackIndex {
  readonly count: number
  readonly packChecksum: Buffer
  readonly lookup: (id: ObjectId) => number | undefined
  readonly entries: () => IndexEntry[]
}

export const readPackIndex = (buf: Buffer): PackIndex | PackIndexError => {
  if (buf.length < 8 + 1024 + 40) return new PackIndexError({ message: "index is truncated" })
  if (buf.readUInt32BE(0) !== 0xff744f63 || buf.readUInt32BE(4) !== 2)
    return new PackIndexError({ message: "not a version 2 pack index" })
  const digest = createHash("sha1")
    .update(buf.subarray(0, buf.length - 20))
    .digest()
  if (!digest.equals(buf.subarray(buf.length - 20)))
    return new PackIndexError({ message: "index checksum mismatch" })
  const n = buf.readUInt32BE(8 + 255 * 4)
  const idsAt = 8 + 1024
  const crcAt = idsAt + n * 20
  const offAt = crcAt + n * 4
  const largeAt = offAt + n * 4
  if (buf.length < largeAt + 40) return new PackIndexError({ message: "index is truncated" })
  const offsetOf = (i: number) => {
    const v = buf.readUInt32BE(offAt + i * 4)
    if (v & 0x80000000) return Number(buf.readBigUInt64BE(largeAt + (v & 0x7fffffff) * 8))
    return v
  }
  const idAt = (i: number) => objectIdFromBytes(buf, idsAt + i * 20)
  return {
    count: n,
    packChecksum: buf.subarray(buf.length - 40, buf.length - 20),
    lookup: (id) => {
      let lo = 0
      let hi = n
      while (lo < hi) {
        const mid = (lo + hi) >> 1
        const candidate = idAt(mid)
        if (candidate === id) return offsetOf(mid)
        if (candidate < id) lo = mid + 1
        else hi = mid
      }
      return undefined
    },
    entries: () =>
      Array.from({ length: n }, (_, i) => ({
        id: idAt(i),
        offset: offsetOf(i),
        crc32: buf.readUInt32BE(crcAt + i * 4),
      })),
  }
}
