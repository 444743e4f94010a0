/**
 * PackStream: emits a pack entry by entry with a running SHA-1, so a clone streams
 * stored representations straight to the client without holding the pack in memory.
 * Entries are copied as stored (whole deflated objects, deltas) — no recompression.
 */
import { createHash, type Hash } from "node:crypto"
import { OBJECT_TYPE_CODE, type ObjectId, type ObjectType } from "../../domain/git/ObjectId.ts"

const entryHeader = (typeCode: number, size: number): Buffer => {
  const bytes: number[] = []
  let b = (typeCode << 4) | (size & 0x0f)
  let rest = Math.floor(size / 16)
  while (rest > 0) {
    bytes.push(b | 0x80)
    b = rest & 0x7f
    rest = Math.floor(rest / 128)
  }
  bytes.push(b)
  return Buffer.from(bytes)
}

/** OFS_DELTA's negative offset encoding (gitformat-pack: big-endian, +1 per continuation). */
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

export class PackStream {
  private readonly hash: Hash = createHash("sha1")
  private position = 0
  private readonly offsets = new Map<ObjectId, number>()

  constructor(readonly count: number) {}

  private emit(parts: ReadonlyArray<Uint8Array>): Buffer {
    const out = Buffer.concat(parts as Uint8Array[])
    this.hash.update(out)
    this.position += out.length
    return out
  }

  header(): Buffer {
    const h = Buffer.alloc(12)
    h.write("PACK", 0, "latin1")
    h.writeUInt32BE(2, 4)
    h.writeUInt32BE(this.count, 8)
    return this.emit([h])
  }

  /** Offset of an object already written to this pack (for OFS_DELTA bases). */
  offsetOf(id: ObjectId): number | undefined {
    return this.offsets.get(id)
  }

  whole(id: ObjectId, type: ObjectType, size: number, deflated: Uint8Array): Buffer {
    this.offsets.set(id, this.position)
    return this.emit([entryHeader(OBJECT_TYPE_CODE[type], size), deflated])
  }

  ofsDelta(id: ObjectId, baseOffset: number, deltaSize: number, deflated: Uint8Array): Buffer {
    const start = this.position
    this.offsets.set(id, start)
    return this.emit([entryHeader(6, deltaSize), ofsEncoding(start - baseOffset), deflated])
  }

  refDelta(id: ObjectId, base: ObjectId, deltaSize: number, deflated: Uint8Array): Buffer {
    this.offsets.set(id, this.position)
    return this.emit([entryHeader(7, deltaSize), Buffer.from(base, "hex"), deflated])
  }

  trailer(): Buffer {
    const digest = this.hash.digest()
    this.position += digest.length
    return digest
  }
}
