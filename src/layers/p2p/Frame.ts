/**
 * Frame: how messages are laid out on a channel's stream. A frame is the payload length as
 * an unsigned LEB128 varint (minimal encoding, at most 4 bytes since no channel allows
 * 256 MiB), followed by the payload.
 *
 * The decoder is the first code that touches bytes from a peer, so it guarantees:
 * - a length over the channel's limit is rejected as soon as the length bytes read so far
 *   exceed it, before any of the payload is buffered;
 * - a non-minimal or overlong length is rejected (there is one encoding per length);
 * - it never throws and never buffers more than one frame's declared payload;
 * - after an error it stays failed: a peer that broke the framing has nothing more to say.
 */
import { Data } from "effect"

export class FrameTooLarge extends Data.TaggedError("FrameTooLarge")<{
  /** The declared length, or a lower bound of it when rejected before its last byte. */
  readonly size: number
  readonly limit: number
}> {
  override get message() {
    return `frame of at least ${this.size} bytes exceeds the ${this.limit}-byte limit`
  }
}

export class MalformedFrame extends Data.TaggedError("MalformedFrame")<{
  readonly reason: string
}> {
  override get message() {
    return `malformed frame: ${this.reason}`
  }
}

export type FrameError = FrameTooLarge | MalformedFrame

/** Longest length prefix accepted: 4 varint bytes carry 28 bits (256 MiB). */
const MAX_HEADER_BYTES = 4

/** The length prefix of a payload of `length` bytes. */
export const encodeFrameHeader = (length: number): Uint8Array => {
  if (!Number.isSafeInteger(length) || length < 0 || length >= 2 ** (7 * MAX_HEADER_BYTES)) {
    throw new RangeError(`frame length out of range: ${length}`)
  }
  const out: number[] = []
  let n = length
  while (n >= 0x80) {
    out.push((n & 0x7f) | 0x80)
    n = Math.floor(n / 128)
  }
  out.push(n)
  return Uint8Array.from(out)
}

/** Header and payload in one buffer. */
export const encodeFrame = (payload: Uint8Array): Uint8Array => encodeFrames([payload])

/** Several frames, one after the other, in one buffer. */
export const encodeFrames = (payloads: ReadonlyArray<Uint8Array>): Uint8Array => {
  const headers = payloads.map((p) => encodeFrameHeader(p.length))
  let total = 0
  for (let i = 0; i < payloads.length; i++) total += headers[i].length + payloads[i].length
  const out = new Uint8Array(total)
  let offset = 0
  for (let i = 0; i < payloads.length; i++) {
    out.set(headers[i], offset)
    offset += headers[i].length
    out.set(payloads[i], offset)
    offset += payloads[i].length
  }
  return out
}

export interface DecodeResult {
  /** Frames completed by this chunk, in order (those before an error included). */
  readonly frames: ReadonlyArray<Uint8Array>
  readonly error?: FrameError
}

/** Incremental decoder for one stream; feed it chunks as they arrive. */
export class FrameDecoder {
  private headerValue = 0
  private headerBytes = 0
  /** Payload length once the header is complete; -1 while reading the header. */
  private bodyLength = -1
  private bodyParts: Uint8Array[] = []
  private bodyFilled = 0
  private failure: FrameError | undefined

  constructor(readonly limit: number) {}

  /** Bytes held for the frame in progress (header excluded). */
  get bufferedBytes(): number {
    return this.bodyFilled
  }

  get failed(): FrameError | undefined {
    return this.failure
  }

  push(chunk: Uint8Array): DecodeResult {
    const frames: Uint8Array[] = []
    if (this.failure !== undefined) return { frames, error: this.failure }
    let i = 0
    while (i < chunk.length) {
      if (this.bodyLength < 0) {
        const byte = chunk[i++]
        const value = this.headerValue + (byte & 0x7f) * 2 ** (7 * this.headerBytes)
        this.headerBytes++
        if (this.headerBytes > 1 && byte === 0) {
          return this.fail(frames, new MalformedFrame({ reason: "non-minimal length prefix" }))
        }
        if (value > this.limit) {
          return this.fail(frames, new FrameTooLarge({ size: value, limit: this.limit }))
        }
        if ((byte & 0x80) !== 0) {
          if (this.headerBytes >= MAX_HEADER_BYTES) {
            return this.fail(frames, new MalformedFrame({ reason: "length prefix too long" }))
          }
          this.headerValue = value
          continue
        }
        this.headerValue = 0
        this.headerBytes = 0
        if (value === 0) {
          frames.push(new Uint8Array(0))
        } else {
          this.bodyLength = value
        }
        continue
      }
      const take = Math.min(this.bodyLength - this.bodyFilled, chunk.length - i)
      this.bodyParts.push(chunk.subarray(i, i + take))
      this.bodyFilled += take
      i += take
      if (this.bodyFilled === this.bodyLength) {
        frames.push(concat(this.bodyParts, this.bodyLength))
        this.bodyParts = []
        this.bodyFilled = 0
        this.bodyLength = -1
      }
    }
    return { frames }
  }

  private fail(frames: Uint8Array[], error: FrameError): DecodeResult {
    this.failure = error
    this.bodyParts = []
    this.bodyFilled = 0
    return { frames, error }
  }
}

// Always copies: the payload handed to the application must not alias transport buffers.
const concat = (parts: ReadonlyArray<Uint8Array>, length: number): Uint8Array => {
  const out = new Uint8Array(length)
  let offset = 0
  for (const part of parts) {
    out.set(part, offset)
    offset += part.length
  }
  return out
}
