/**
 * A running SHA-256 over a canonical binary encoding of every simulator event: message
 * sends (with their bytes), deliveries, drops, timer fires, application answers, engine
 * outputs that matter (finalizations, blocks), crashes and restarts.
 *
 * Guarantees: two runs produce the same `hex()` iff they recorded the same events with the
 * same fields in the same order (up to SHA-256 collisions). Each record is
 * `kind (u8) ‖ time (f64 LE) ‖ fields`, every variable-length field length-prefixed, so
 * the encoding is unambiguous. Records are buffered and hashed in 64 KiB chunks, which
 * keeps the cost per event to a few byte copies.
 *
 * An optional trace sink receives one readable line per event for `--trace`.
 */
import { createHash, type Hash } from "node:crypto"

export const EventKind = {
  Send: 1,
  Deliver: 2,
  Drop: 3,
  Timer: 4,
  AppRequest: 5,
  AppAnswer: 6,
  Finalized: 7,
  Block: 8,
  Crash: 9,
  Restart: 10,
  Note: 11,
  Delivered: 12,
  Fault: 13,
} as const

export type EventKind = (typeof EventKind)[keyof typeof EventKind]

const CHUNK = 1 << 16
const encoder = new TextEncoder()
// Little-endian bytes of a double, through a shared scratch (cheaper than Buffer.writeDoubleLE).
const f64 = new Float64Array(1)
const f64Bytes = new Uint8Array(f64.buffer)
const littleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1

export class Transcript {
  private readonly hash: Hash = createHash("sha256")
  private buf = Buffer.allocUnsafe(CHUNK)
  private len = 0
  /** Events recorded so far. */
  events = 0

  constructor(private readonly sink?: (line: string) => void) {}

  /** True when a trace sink wants readable lines (callers skip formatting otherwise). */
  get tracing(): boolean {
    return this.sink !== undefined
  }

  line(text: string): void {
    this.sink?.(text)
  }

  /** Starts a record. */
  begin(kind: EventKind, time: number): this {
    this.events++
    this.ensure(9)
    this.buf[this.len++] = kind
    this.putF64(time)
    return this
  }

  private putF64(x: number): void {
    const b = this.buf
    let i = this.len
    f64[0] = x
    if (littleEndian) for (let k = 0; k < 8; k++) b[i++] = f64Bytes[k]
    else for (let k = 7; k >= 0; k--) b[i++] = f64Bytes[k]
    this.len = i
  }

  private putU32(x: number): void {
    const b = this.buf
    const i = this.len
    b[i] = x
    b[i + 1] = x >>> 8
    b[i + 2] = x >>> 16
    b[i + 3] = x >>> 24
    this.len = i + 4
  }

  u8(x: number): this {
    this.ensure(1)
    this.buf[this.len++] = x
    return this
  }

  u32(x: number): this {
    this.ensure(4)
    this.putU32(x)
    return this
  }

  /** A non-negative integer below 2^53 (views, heights, ids). */
  uint(x: number | bigint): this {
    const v = typeof x === "bigint" ? Number(x) : x
    this.ensure(8)
    this.putU32(v >>> 0)
    this.putU32(Math.floor(v / 0x100000000) >>> 0)
    return this
  }

  f64(x: number): this {
    this.ensure(8)
    this.putF64(x)
    return this
  }

  bytes(b: Uint8Array): this {
    this.u32(b.length)
    if (b.length > CHUNK) {
      this.flush()
      this.hash.update(b)
      return this
    }
    this.ensure(b.length)
    this.buf.set(b, this.len)
    this.len += b.length
    return this
  }

  str(s: string): this {
    return this.bytes(encoder.encode(s))
  }

  /** Hex digest of everything recorded so far (recording may continue afterwards). */
  hex(): string {
    this.flush()
    return this.hash.copy().digest("hex")
  }

  private ensure(n: number): void {
    if (this.len + n > this.buf.length) this.flush()
  }

  private flush(): void {
    if (this.len === 0) return
    this.hash.update(this.buf.subarray(0, this.len))
    this.len = 0
  }
}
