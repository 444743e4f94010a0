/**
 * zlib inflation for pack entries: a zlib stream (RFC 1950 around RFC 1951 deflate) whose
 * inflated size is known in advance, and whose end must be found (a pack does not say
 * where an entry's stream stops).
 *
 * Why not only node:zlib: each `zlib.inflateSync` call builds a stream object, which costs
 * tens of microseconds — more than inflating a typical commit, tree or delta. Small entries
 * (most of a pack) are inflated here in JavaScript, into a buffer of exactly the declared
 * size; large ones go to node:zlib, whose throughput wins.
 *
 * Guarantees: never throws, never reads outside the input or writes outside the output;
 * returns the inflated bytes and how many input bytes the stream used, `"incomplete"` if
 * the input ends inside the stream, or an InflateFailure (corrupt stream, or output of
 * another size than declared). The Adler-32 checksum is verified.
 */
import * as zlib from "node:zlib"

export interface Inflated {
  readonly out: Buffer
  /** Input bytes the zlib stream occupied. */
  readonly used: number
}

export interface InflateFailure {
  readonly kind: "zlib" | "size"
  readonly message: string
}

export type InflateResult = Inflated | "incomplete" | InflateFailure

/**
 * Up to this declared size the JavaScript inflater is used; node:zlib above (measured: the
 * native call costs ~20 µs more, the JavaScript loop ~2 ns more per output byte).
 */
export const JS_INFLATE_LIMIT = 4 * 1024

const LEN_BASE = [
  3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131,
  163, 195, 227, 258,
]
const LEN_EXTRA = [
  0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0,
]
const DIST_BASE = [
  1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049,
  3073, 4097, 6145, 8193, 12289, 16385, 24577,
]
const DIST_EXTRA = [
  0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13,
]
const CL_ORDER = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15]

/** Codes up to this many bits are decoded by one table lookup; longer ones bit by bit. */
const FAST_BITS = 10

/**
 * A canonical Huffman code: a lookup table for short codes (entry = symbol << 4 | length,
 * 0 when the code is longer than FAST_BITS) and counts/symbols for the slow path.
 */
class Huffman {
  readonly table = new Int32Array(1 << FAST_BITS)
  readonly counts = new Uint16Array(16)
  readonly symbols: Uint16Array
  bits = 0
  constructor(maxSymbols: number) {
    this.symbols = new Uint16Array(maxSymbols)
  }

  /**
   * Builds from code lengths; false if the lengths do not form a valid code. As in zlib, an
   * incomplete code is only accepted as a single one-bit code (not for the code-lengths
   * code), and a code with no symbols at all is accepted (using it is an error).
   */
  build(lengths: Uint8Array, n: number, allowIncomplete = true): boolean {
    const counts = this.counts
    counts.fill(0)
    for (let s = 0; s < n; s++) counts[lengths[s]!]!++
    counts[0] = 0
    let left = 1
    let max = 0
    for (let len = 1; len <= 15; len++) {
      left = (left << 1) - counts[len]!
      if (left < 0) return false // over-subscribed
      if (counts[len]! > 0) max = len
    }
    if (max === 0) {
      this.bits = 0
      this.table[0] = 0
      return true
    }
    if (left > 0 && (max !== 1 || !allowIncomplete)) return false
    const offs = new Uint16Array(16)
    for (let len = 1; len < 15; len++) offs[len + 1] = offs[len]! + counts[len]!
    for (let s = 0; s < n; s++) if (lengths[s]) this.symbols[offs[lengths[s]!]!++] = s
    // Fast table: codes assigned in canonical order, indexed by their bit-reversed value.
    this.bits = Math.min(max, FAST_BITS)
    const size = 1 << this.bits
    const table = this.table
    table.fill(0, 0, size)
    let code = 0
    let index = 0
    for (let len = 1; len <= this.bits; len++) {
      for (let k = 0; k < counts[len]!; k++) {
        let rev = 0
        for (let b = 0; b < len; b++) rev |= ((code >> b) & 1) << (len - 1 - b)
        const entry = (this.symbols[index + k]! << 4) | len
        for (let i = rev; i < size; i += 1 << len) table[i] = entry
        code++
      }
      index += counts[len]!
      code <<= 1
    }
    return true
  }
}

const fixedLit = new Huffman(288)
const fixedDist = new Huffman(32)
{
  const l = new Uint8Array(288)
  l.fill(8, 0, 144)
  l.fill(9, 144, 256)
  l.fill(7, 256, 280)
  l.fill(8, 280, 288)
  fixedLit.build(l, 288)
  // 32 five-bit codes make the code complete; 30 and 31 are refused when decoded.
  fixedDist.build(new Uint8Array(32).fill(5), 32)
}
const dynLit = new Huffman(288)
const dynDist = new Huffman(30)
const dynCl = new Huffman(19)
const lengths = new Uint8Array(288 + 32)
const clLengths = new Uint8Array(19)

const INCOMPLETE = -1
const CORRUPT = -2

/** Decoder state over one input; reused (the inflater is not re-entrant, and need not be). */
class Bits {
  input: Uint8Array = new Uint8Array(0)
  pos = 0
  end = 0
  buf = 0
  count = 0

  /** Makes `n` (≤ 24) bits available; false if the input ends first. */
  need(n: number): boolean {
    while (this.count < n) {
      if (this.pos >= this.end) return false
      this.buf |= this.input[this.pos++]! << this.count
      this.count += 8
    }
    return true
  }

  take(n: number): number {
    const v = this.buf & ((1 << n) - 1)
    this.buf >>>= n
    this.count -= n
    return v
  }

  /** Decodes one symbol: INCOMPLETE, CORRUPT or the symbol. */
  decode(h: Huffman): number {
    // Fill what is there; near the end of the input fewer bits than the table width is fine.
    this.need(h.bits)
    if (this.count === 0 && this.pos >= this.end) return INCOMPLETE
    const entry = h.table[this.buf & ((1 << h.bits) - 1)]!
    const len = entry & 15
    if (len > 0) {
      if (len > this.count) return INCOMPLETE
      this.buf >>>= len
      this.count -= len
      return entry >> 4
    }
    // Longer than the table: walk the canonical code one bit at a time.
    let code = 0
    let first = 0
    let index = 0
    for (let l = 1; l <= 15; l++) {
      if (!this.need(1)) return INCOMPLETE
      code |= this.take(1)
      const count = h.counts[l]!
      if (code - count < first) return h.symbols[index + (code - first)]!
      index += count
      first = (first + count) << 1
      code <<= 1
    }
    return CORRUPT
  }
}

const bits = new Bits()

const adler32 = (data: Uint8Array, end: number): number => {
  let a = 1
  let b = 0
  let i = 0
  while (i < end) {
    const stop = Math.min(end, i + 3800)
    for (; i < stop; i++) {
      a += data[i]!
      b += a
    }
    a %= 65521
    b %= 65521
  }
  return ((b << 16) | a) >>> 0
}

const corrupt = (message: string): InflateFailure => ({ kind: "zlib", message })
const tooBig = (size: number): InflateFailure => ({
  kind: "size",
  message: `inflates to more than the declared ${size} bytes`,
})

/** Reads dynamic block code lengths into dynLit/dynDist; an error message or undefined. */
const readDynamic = (bs: Bits): string | undefined | typeof INCOMPLETE => {
  if (!bs.need(14)) return INCOMPLETE
  const nlen = bs.take(5) + 257
  const ndist = bs.take(5) + 1
  const ncode = bs.take(4) + 4
  if (nlen > 286 || ndist > 30) return "bad counts in a dynamic block"
  clLengths.fill(0)
  for (let i = 0; i < ncode; i++) {
    if (!bs.need(3)) return INCOMPLETE
    clLengths[CL_ORDER[i]!] = bs.take(3)
  }
  if (!dynCl.build(clLengths, 19, false)) return "bad code lengths code"
  let i = 0
  while (i < nlen + ndist) {
    const sym = bs.decode(dynCl)
    if (sym === INCOMPLETE) return INCOMPLETE
    if (sym < 0) return "bad code length symbol"
    if (sym < 16) {
      lengths[i++] = sym
      continue
    }
    let repeat: number
    let value = 0
    if (sym === 16) {
      if (i === 0) return "repeat with no previous length"
      value = lengths[i - 1]!
      if (!bs.need(2)) return INCOMPLETE
      repeat = 3 + bs.take(2)
    } else if (sym === 17) {
      if (!bs.need(3)) return INCOMPLETE
      repeat = 3 + bs.take(3)
    } else {
      if (!bs.need(7)) return INCOMPLETE
      repeat = 11 + bs.take(7)
    }
    if (i + repeat > nlen + ndist) return "code lengths overflow"
    lengths.fill(value, i, i + repeat)
    i += repeat
  }
  if (lengths[256] === 0) return "no end-of-block code"
  if (!dynLit.build(lengths, nlen)) return "bad literal/length code"
  if (!dynDist.build(lengths.subarray(nlen), ndist)) return "bad distance code"
  return undefined
}

/** JavaScript inflation of a zlib stream into exactly `size` bytes. */
export const inflateSmall = (input: Uint8Array, size: number): InflateResult => {
  const r = inflateJs(input, size)
  bits.input = EMPTY // do not keep the caller's buffer alive
  return r
}

const EMPTY = new Uint8Array(0)

const inflateJs = (input: Uint8Array, size: number): InflateResult => {
  const bs = bits
  bs.input = input
  bs.pos = 0
  bs.end = input.length
  bs.buf = 0
  bs.count = 0
  if (input.length < 2) return "incomplete"
  const cmf = input[0]!
  const flg = input[1]!
  if ((cmf & 0x0f) !== 8 || cmf >> 4 > 7 || ((cmf << 8) | flg) % 31 !== 0)
    return corrupt("incorrect zlib header")
  if (flg & 0x20) return corrupt("preset dictionary not supported")
  bs.pos = 2
  const out = Buffer.allocUnsafe(size)
  let o = 0
  for (;;) {
    if (!bs.need(3)) return "incomplete"
    const final = bs.take(1)
    const type = bs.take(2)
    if (type === 0) {
      // Stored: skip to a byte boundary; whole bytes still in the bit buffer are input again.
      bs.take(bs.count & 7)
      bs.pos -= bs.count >> 3
      bs.buf = 0
      bs.count = 0
      if (bs.pos + 4 > bs.end) return "incomplete"
      const len = input[bs.pos]! | (input[bs.pos + 1]! << 8)
      const nlen = input[bs.pos + 2]! | (input[bs.pos + 3]! << 8)
      if ((len ^ 0xffff) !== nlen) return corrupt("stored block length check failed")
      bs.pos += 4
      if (bs.pos + len > bs.end) return "incomplete"
      if (o + len > size) return tooBig(size)
      out.set(input.subarray(bs.pos, bs.pos + len), o)
      o += len
      bs.pos += len
    } else if (type === 3) {
      return corrupt("invalid block type")
    } else {
      let lit = fixedLit
      let dist = fixedDist
      if (type === 2) {
        const problem = readDynamic(bs)
        if (problem === INCOMPLETE) return "incomplete"
        if (problem) return corrupt(problem)
        lit = dynLit
        dist = dynDist
      }
      for (;;) {
        const sym = bs.decode(lit)
        if (sym < 256) {
          if (sym === INCOMPLETE) return "incomplete"
          if (sym < 0) return corrupt("invalid literal/length code")
          if (o >= size) return tooBig(size)
          out[o++] = sym
          continue
        }
        if (sym === 256) break
        const li = sym - 257
        if (li >= 29) return corrupt("invalid literal/length code")
        if (!bs.need(LEN_EXTRA[li]!)) return "incomplete"
        const len = LEN_BASE[li]! + bs.take(LEN_EXTRA[li]!)
        const ds = bs.decode(dist)
        if (ds === INCOMPLETE) return "incomplete"
        if (ds < 0 || ds >= 30) return corrupt("invalid distance code")
        if (!bs.need(DIST_EXTRA[ds]!)) return "incomplete"
        const d = DIST_BASE[ds]! + bs.take(DIST_EXTRA[ds]!)
        if (d > o) return corrupt("invalid distance too far back")
        if (o + len > size) return tooBig(size)
        if (d >= len) {
          out.copyWithin(o, o - d, o - d + len)
          o += len
        } else for (let k = 0; k < len; k++, o++) out[o] = out[o - d]!
      }
    }
    if (final) break
  }
  // The Adler-32 trailer starts at the next byte boundary.
  bs.take(bs.count & 7)
  bs.pos -= bs.count >> 3
  if (bs.pos + 4 > bs.end) return "incomplete"
  const expected =
    ((input[bs.pos]! << 24) |
      (input[bs.pos + 1]! << 16) |
      (input[bs.pos + 2]! << 8) |
      input[bs.pos + 3]!) >>>
    0
  if (o !== size) return { kind: "size", message: `inflates to ${o} bytes, declared ${size}` }
  if (adler32(out, o) !== expected) return corrupt("incorrect data check")
  return { out, used: bs.pos + 4 }
}

/** node:zlib inflation, finding the stream's end, bounded at `size` bytes of output. */
export const inflateLarge = (input: Uint8Array, size: number): InflateResult => {
  try {
    const r = zlib.inflateSync(input, {
      info: true,
      maxOutputLength: Math.max(size, 1),
    }) as unknown as { buffer: Buffer; engine: { bytesWritten: number } }
    if (r.buffer.length !== size)
      return { kind: "size", message: `inflates to ${r.buffer.length} bytes, declared ${size}` }
    return { out: r.buffer, used: r.engine.bytesWritten }
  } catch (e) {
    const code = (e as { code?: string }).code
    if (code === "Z_BUF_ERROR") return "incomplete"
    if (code === "ERR_BUFFER_TOO_LARGE") return tooBig(size)
    return corrupt((e as Error).message)
  }
}

/** Inflates the zlib stream at the start of `input`, whose output is declared `size` bytes. */
export const inflateEntry = (input: Uint8Array, size: number): InflateResult =>
  size <= JS_INFLATE_LIMIT ? inflateSmall(input, size) : inflateLarge(input, size)
