/**
 * Git deltas (gitformat-pack, "Deltified representation"): the source size and the target
 * size as little-endian base-128 varints, then instructions — copy (high bit set; the low
 * seven bits select which offset and size bytes follow; size 0 means 0x10000) or insert
 * (1-127 literal bytes follow). Instruction 0 is reserved.
 *
 * Guarantees:
 * - `applyDelta` checks every bound before touching memory: a delta that reads outside its
 *   base or its own bytes, writes past its declared target size, or ends short of it is a
 *   DeltaError naming the problem — never an exception or an out-of-range read.
 * - `createDelta` produces a delta that `applyDelta` (and git) turns back into the target
 *   exactly. It indexes the base in 16-byte blocks and slides a rolling hash over the
 *   target, so similar inputs give small deltas in linear time (bounded probes per byte).
 */
import { Data } from "effect"

export type DeltaProblem =
  /** The size varints are missing or too long. */
  | "header"
  /** The delta was made against a base of another size. */
  | "base-size"
  /** A copy reads outside the base. */
  | "out-of-bounds"
  /** An instruction runs past the end of the delta. */
  | "truncated"
  /** The output would exceed the declared target size, or the declared size is absurd. */
  | "overflow"
  /** The reserved instruction 0. */
  | "reserved"
  /** The instructions end before producing the declared target size. */
  | "short"

export class DeltaError extends Data.TaggedError("DeltaError")<{
  readonly reason: DeltaProblem
  readonly message: string
}> {
  constructor(args: { readonly message: string; readonly reason?: DeltaProblem }) {
    super({ reason: args.reason ?? "header", message: args.message })
  }
}

/** Largest target a delta may declare: Node's Buffer limit is well above what git makes. */
export const MAX_DELTA_TARGET = 2 ** 32 - 1

const readSize = (delta: Uint8Array, pos: number): [number, number] | undefined => {
  let value = 0
  let shift = 0
  for (;;) {
    if (pos >= delta.length || shift > 49) return undefined
    const b = delta[pos++]!
    value += (b & 0x7f) * 2 ** shift
    shift += 7
    if ((b & 0x80) === 0) return [value, pos]
  }
}

export interface DeltaHeader {
  readonly sourceSize: number
  readonly targetSize: number
  /** Where the instructions start. */
  readonly headerLength: number
}

/** The sizes a delta declares, or a DeltaError if its header is malformed. */
export const deltaHeader = (delta: Uint8Array): DeltaHeader | DeltaError => {
  const src = readSize(delta, 0)
  const dst = src && readSize(delta, src[1])
  if (!src || !dst) return new DeltaError({ reason: "header", message: "truncated delta header" })
  return { sourceSize: src[0], targetSize: dst[0], headerLength: dst[1] }
}

/** The target size a delta declares, or undefined if its header is malformed. */
export const deltaTargetSize = (delta: Uint8Array): number | undefined => {
  const h = deltaHeader(delta)
  return h instanceof DeltaError ? undefined : h.targetSize
}

const asBuffer = (b: Uint8Array): Buffer =>
  Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength)

/**
 * The target `delta` describes over `base`, or the DeltaError that makes it invalid.
 * `maxTarget` refuses (before allocating) deltas that declare a larger result.
 */
export const applyDelta = (
  base: Uint8Array,
  delta: Uint8Array,
  maxTarget: number = MAX_DELTA_TARGET,
): Buffer | DeltaError => {
  const header = deltaHeader(delta)
  if (header instanceof DeltaError) return header
  if (header.sourceSize !== base.length)
    return new DeltaError({
      reason: "base-size",
      message: `delta expects a base of ${header.sourceSize} bytes, base has ${base.length}`,
    })
  const targetSize = header.targetSize
  if (targetSize > Math.min(maxTarget, MAX_DELTA_TARGET))
    return new DeltaError({
      reason: "overflow",
      message: `delta target size ${targetSize} exceeds the limit of ${Math.min(maxTarget, MAX_DELTA_TARGET)}`,
    })
  // A copy instruction of at most four bytes yields at most 0xffffff bytes: a declared
  // size beyond what the instructions can produce is a lie, refused before allocating.
  if (targetSize > (delta.length - header.headerLength) * 0x400000)
    return new DeltaError({
      reason: "overflow",
      message: `delta declares ${targetSize} bytes, more than its ${delta.length}-byte instructions can produce`,
    })
  const src = asBuffer(base)
  const d = asBuffer(delta)
  const out = Buffer.allocUnsafe(targetSize)
  let o = 0
  let pos = header.headerLength
  const end = d.length
  while (pos < end) {
    const op = d[pos++]!
    if (op & 0x80) {
      let offset = 0
      let size = 0
      if (op & 0x01) offset = d[pos++]!
      if (op & 0x02) offset |= d[pos++]! << 8
      if (op & 0x04) offset |= d[pos++]! << 16
      if (op & 0x08) offset = (offset | (d[pos++]! << 24)) >>> 0
      if (op & 0x10) size = d[pos++]!
      if (op & 0x20) size |= d[pos++]! << 8
      if (op & 0x40) size |= d[pos++]! << 16
      // Reading past the end gave undefined (→ 0); detect it once, after the fact.
      if (pos > end)
        return new DeltaError({ reason: "truncated", message: "truncated copy instruction" })
      if (size === 0) size = 0x10000
      if (offset + size > src.length)
        return new DeltaError({
          reason: "out-of-bounds",
          message: `copy of ${size} bytes at ${offset} is outside the ${src.length}-byte base`,
        })
      if (o + size > targetSize)
        return new DeltaError({
          reason: "overflow",
          message: `delta writes past its declared target size of ${targetSize}`,
        })
      src.copy(out, o, offset, offset + size)
      o += size
    } else if (op !== 0) {
      if (pos + op > end)
        return new DeltaError({ reason: "truncated", message: "truncated insert instruction" })
      if (o + op > targetSize)
        return new DeltaError({
          reason: "overflow",
          message: `delta writes past its declared target size of ${targetSize}`,
        })
      d.copy(out, o, pos, pos + op)
      o += op
      pos += op
    } else {
      return new DeltaError({ reason: "reserved", message: "reserved delta instruction 0" })
    }
  }
  if (o !== targetSize)
    return new DeltaError({
      reason: "short",
      message: `delta produced ${o} bytes, declared ${targetSize}`,
    })
  return out
}

// ---------------------------------------------------------------------------- creating

const BLOCK = 16
const MULT = 0x01000193
/** MULT^(BLOCK-1) mod 2^32, to take the outgoing byte out of the rolling hash. */
const MULT_TOP = (() => {
  let m = 1
  for (let i = 0; i < BLOCK - 1; i++) m = Math.imul(m, MULT)
  return m
})()
/** Candidates examined per target position: bounds the work on repetitive inputs. */
const MAX_PROBES = 32
/** Entries kept per hash bucket (the first occurrences of a block win). */
const MAX_BUCKET = 48
/** Largest copy per instruction, as git emits (size 0 encodes 0x10000). */
const MAX_COPY = 0x10000
/** A match this long is good enough: stop probing. */
const GOOD_MATCH = 4096

const hashAt = (b: Uint8Array, at: number): number => {
  let h = 0
  for (let k = 0; k < BLOCK; k++) h = (Math.imul(h, MULT) + b[at + k]!) | 0
  return h
}

const bucketOf = (h: number, shift: number) => Math.imul(h, 0x9e3779b1) >>> shift

class DeltaOut {
  buf: Buffer
  len = 0
  constructor(
    capacity: number,
    private readonly limit: number,
  ) {
    this.buf = Buffer.allocUnsafe(Math.max(64, capacity))
  }
  /** False once the output exceeds the caller's limit. */
  ensure(n: number): boolean {
    if (this.len + n > this.limit) return false
    if (this.len + n > this.buf.length) {
      const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.len + n))
      this.buf.copy(next, 0, 0, this.len)
      this.buf = next
    }
    return true
  }
  size(n: number) {
    while (n >= 0x80) {
      this.buf[this.len++] = (n % 0x80) | 0x80
      n = Math.floor(n / 0x80)
    }
    this.buf[this.len++] = n
  }
  insert(src: Uint8Array, from: number, to: number): boolean {
    while (from < to) {
      const n = Math.min(127, to - from)
      if (!this.ensure(n + 1)) return false
      this.buf[this.len++] = n
      this.buf.set(src.subarray(from, from + n), this.len)
      this.len += n
      from += n
    }
    return true
  }
  copy(offset: number, size: number): boolean {
    while (size > 0) {
      const n = Math.min(MAX_COPY, size)
      if (!this.ensure(8)) return false
      const at = this.len++
      let op = 0x80
      for (let i = 0; i < 4; i++) {
        const byte = Math.floor(offset / 2 ** (8 * i)) & 0xff
        if (byte !== 0) {
          op |= 1 << i
          this.buf[this.len++] = byte
        }
      }
      if (n !== 0x10000)
        for (let i = 0; i < 3; i++) {
          const byte = (n >> (8 * i)) & 0xff
          if (byte !== 0) {
            op |= 0x10 << i
            this.buf[this.len++] = byte
          }
        }
      this.buf[at] = op
      offset += n
      size -= n
    }
    return true
  }
}

/**
 * A delta turning `base` into `target`. With `maxSize`, gives up (undefined) as soon as the
 * delta would exceed it — the caller then stores the target whole.
 */
export const createDelta = (
  base: Uint8Array,
  target: Uint8Array,
  maxSize = Number.POSITIVE_INFINITY,
): Buffer | undefined => {
  const out = new DeltaOut(
    Math.min(target.length + Math.ceil(target.length / 64) + 32, maxSize + 16),
    maxSize,
  )
  if (!out.ensure(20)) return undefined
  out.size(base.length)
  out.size(target.length)

  const blocks = Math.floor(base.length / BLOCK)
  if (blocks === 0 || target.length < BLOCK) {
    if (!out.insert(target, 0, target.length)) return undefined
    return out.buf.subarray(0, out.len)
  }
  let bits = 4
  while (1 << bits < blocks * 2 && bits < 24) bits++
  const shift = 32 - bits
  const heads = new Int32Array(1 << bits).fill(-1)
  const tails = new Int32Array(1 << bits)
  const counts = new Uint8Array(1 << bits)
  const next = new Int32Array(blocks).fill(-1)
  // Chains list offsets in increasing order and keep a bucket's first occurrences: in a
  // repetitive run, the earliest block gives the longest forward match.
  for (let k = 0; k < blocks; k++) {
    const b = bucketOf(hashAt(base, k * BLOCK), shift)
    if (counts[b]! >= MAX_BUCKET) continue
    if (counts[b]!++ === 0) heads[b] = k
    else next[tails[b]!] = k
    tails[b] = k
  }

  const tlen = target.length
  const blen = base.length
  let pending = 0 // start of target bytes not yet emitted
  let i = 0
  let h = hashAt(target, 0)
  while (i + BLOCK <= tlen) {
    let best = 0
    let bestAt = 0
    let probes = 0
    for (let k = heads[bucketOf(h, shift)]!; k >= 0 && probes < MAX_PROBES; k = next[k]!) {
      probes++
      const at = k * BLOCK
      const limit = Math.min(blen - at, tlen - i)
      if (limit <= best) continue
      let n = 0
      while (n < limit && base[at + n] === target[i + n]) n++
      if (n > best) {
        best = n
        bestAt = at
        if (best >= GOOD_MATCH) break
      }
    }
    if (best >= BLOCK) {
      // Grow the match backwards over bytes that would otherwise be inserted.
      let back = 0
      while (
        i - back > pending &&
        bestAt - back > 0 &&
        base[bestAt - back - 1] === target[i - back - 1]
      )
        back++
      if (!out.insert(target, pending, i - back)) return undefined
      if (!out.copy(bestAt - back, best + back)) return undefined
      i += best
      pending = i
      if (i + BLOCK <= tlen) h = hashAt(target, i)
      continue
    }
    if (i + BLOCK >= tlen) break
    h = (Math.imul(h - Math.imul(target[i]!, MULT_TOP), MULT) + target[i + BLOCK]!) | 0
    i++
  }
  if (!out.insert(target, pending, tlen)) return undefined
  return out.buf.subarray(0, out.len)
}
