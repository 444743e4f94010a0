/**
 * Unsigned LEB128 varints for u64 values (spec §1: epochs and views are varint-encoded).
 *
 * Guarantees: the encoder produces the unique minimal encoding; the decoder is strict and
 * accepts exactly those encodings. Overlong encodings (a redundant trailing zero group),
 * values above 2^64-1 and truncated input are reported as a VarintError, never thrown.
 */
import { Data, Either } from "effect"
import { U64_MAX } from "./Types.ts"

export type VarintProblem = "Truncated" | "Overlong" | "Overflow" | "TrailingBytes"

export class VarintError extends Data.TaggedError("VarintError")<{
  readonly problem: VarintProblem
  readonly offset: number
}> {
  override get message() {
    return `invalid varint at byte ${this.offset}: ${this.problem}`
  }
}

/** At most 10 bytes encode a u64 (9 × 7 bits + 1 bit). */
export const MAX_VARINT_LENGTH = 10

export const varintLength = (value: bigint): number => {
  if (value < 0n || value > U64_MAX) throw new VarintError({ problem: "Overflow", offset: 0 })
  let n = 1
  while (value >= 0x80n) {
    value >>= 7n
    n++
  }
  return n
}

/**
 * Writes `value` at `offset` and returns the offset after it. Throws only on programmer
 * error (negative or > u64 value).
 */
export const writeVarint = (out: Uint8Array, offset: number, value: bigint): number => {
  if (value < 0n || value > U64_MAX) throw new VarintError({ problem: "Overflow", offset })
  if (value < 0x80000000n) {
    // Small values (every realistic view, signer count and length) take the number path.
    let n = Number(value)
    while (n >= 0x80) {
      out[offset++] = (n & 0x7f) | 0x80
      n >>>= 7
    }
    out[offset++] = n
    return offset
  }
  while (value >= 0x80n) {
    out[offset++] = Number(value & 0x7fn) | 0x80
    value >>= 7n
  }
  out[offset++] = Number(value)
  return offset
}

export const encodeVarint = (value: bigint): Uint8Array => {
  const out = new Uint8Array(varintLength(value))
  writeVarint(out, 0, value)
  return out
}

export interface Decoded<T> {
  readonly value: T
  /** Offset of the first byte after the varint. */
  readonly next: number
}

/** A read position shared by successive reads (lets the hot path avoid result objects). */
export interface Cursor {
  pos: number
}

/** Decodes one varint at `offset`. Returns the problem as a VarintError; never throws. */
export const decodeVarint = (
  bytes: Uint8Array,
  offset = 0,
): Either.Either<Decoded<bigint>, VarintError> => {
  const cursor = { pos: offset }
  const r = readVarint(bytes, cursor)
  if (typeof r === "string") return Either.left(new VarintError({ problem: r, offset }))
  return Either.right({ value: r, next: cursor.pos })
}

/** Decodes a buffer that must contain exactly one varint and nothing else. */
export const decodeVarintExact = (bytes: Uint8Array): Either.Either<bigint, VarintError> => {
  const cursor = { pos: 0 }
  const r = readVarint(bytes, cursor)
  if (typeof r === "string") return Either.left(new VarintError({ problem: r, offset: 0 }))
  if (cursor.pos !== bytes.length)
    return Either.left(new VarintError({ problem: "TrailingBytes", offset: cursor.pos }))
  return Either.right(r)
}

// Decoding allocates a BigInt per value; the small ones (signer indices, lengths, epochs,
// early views) come from this table instead.
const SMALL_LIMIT = 1 << 14
const SMALL: bigint[] = Array.from({ length: SMALL_LIMIT }, (_, k) => BigInt(k))

/**
 * Hot-path decoder: returns the value and advances `cursor.pos`, or returns the problem
 * (leaving the cursor where it was).
 */
export const readVarint = (bytes: Uint8Array, cursor: Cursor): bigint | VarintProblem => {
  let i = cursor.pos
  const n = bytes.length
  if (i >= n) return "Truncated"
  const b0 = bytes[i++]
  if (b0 < 0x80) {
    cursor.pos = i
    return SMALL[b0]
  }
  // Up to 4 bytes (28 bits) accumulate in an int: every realistic view and length.
  let acc = b0 & 0x7f
  for (let shift = 7; shift < 28; shift += 7) {
    if (i >= n) return "Truncated"
    const b = bytes[i++]
    acc |= (b & 0x7f) << shift
    if (b < 0x80) {
      if (b === 0) return "Overlong"
      cursor.pos = i
      return acc < SMALL_LIMIT ? SMALL[acc] : BigInt(acc)
    }
  }
  let big = BigInt(acc)
  let bigShift = 28n
  for (let k = 4; k < MAX_VARINT_LENGTH; k++) {
    if (i >= n) return "Truncated"
    const b = bytes[i++]
    // The tenth byte carries only bit 63.
    if (k === MAX_VARINT_LENGTH - 1 && b > 1) return "Overflow"
    big |= BigInt(b & 0x7f) << bigShift
    if ((b & 0x80) === 0) {
      if (b === 0) return "Overlong"
      cursor.pos = i
      return big
    }
    bigShift += 7n
  }
  return "Overflow"
}

/** Like readVarint for values that must fit a small non-negative integer (lengths, indices). */
export const readSmallVarint = (
  bytes: Uint8Array,
  cursor: Cursor,
  max: number,
): number | VarintProblem => {
  const r = readVarint(bytes, cursor)
  if (typeof r === "string") return r
  if (r > BigInt(max)) return "Overflow"
  return Number(r)
}
