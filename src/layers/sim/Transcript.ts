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

/** What tells the current simulated time (the scheduler). */
export interface Clock {
  readonly now: number
}

const CHUNK = 1 << 16
const encoder = new TextEncoder()

export class Transcript {
  private readonly hash: Hash = createHash("sha256")
  private readonly buf = Buffer.allocUnsafe(CHUNK)
  // Numbers go in through a DataView (little-endian, inlined by the JIT).
  private readonly view = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.length)
  private len = 0
  /** Events recorded so far. */
  events = 0
  private lastBig = -1n
  private lastNumber = -1

  constructor(private readonly sink?: (line: string) => void) {}

  /** True when a trace sink wants readable lines (callers skip formatting otherwise). */
  get tracing(): boolean {
    return this.sink !== undefined
  }

  line(text: string): void {
    this.sink?.(text)
  }

  /**
   * Starts a record at the clock's current time. The simulator's hot paths use this form:
   * reading the time here instead of passing it spares allocating a box for the number
   * whenever the call is not inlined.
   */
  beginAt(kind: EventKind, clock: Clock): this {
    this.events++
    this.ensure(9)
    this.buf[this.len++] = kind
    this.putF64(clock.now)
    return this
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
    this.view.setFloat64(this.len, x, true)
    this.len += 8
  }

  private putU32(x: number): void {
    this.view.setUint32(this.len, x >>> 0, true)
    this.len += 4
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
    let v: number
    if (typeof x !== "bigint") v = x
    else if (x === this.lastBig) v = this.lastNumber
    else {
      // A bigint-to-number conversion is a runtime call; consecutive records mostly carry
      // the same view.
      v = Number(x)
      this.lastBig = x
      this.lastNumber = v
    }
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
