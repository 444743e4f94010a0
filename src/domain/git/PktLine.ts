/**
 * pkt-line framing (gitprotocol-common) and side-band multiplexing (gitprotocol-pack).
 *
 * A packet is four hex digits giving its total length (the four included), then the
 * payload; `0000` is a flush, `0001` a delimiter and `0002` a response end (protocol v2).
 * No packet exceeds 65520 bytes. Side-band packets carry one band byte (1 pack data,
 * 2 progress, 3 fatal error) before their payload, so a band frame holds at most 65515
 * bytes of data with side-band-64k (995 with the old side-band).
 *
 * Guarantees: encoders never produce an invalid packet (an oversized payload is a
 * PktLineError); decoders accept chunks split anywhere, never throw, and report malformed
 * input as a PktLineError saying what is wrong. Decoded payloads are views into the input
 * (no copy per packet).
 */
import { Data } from "effect"

export const MAX_PKT_LENGTH = 65520
export const MAX_PKT_PAYLOAD = MAX_PKT_LENGTH - 4
/** Data bytes per side-band-64k frame: the packet minus its header and band byte. */
export const SIDEBAND_64K_PAYLOAD = MAX_PKT_PAYLOAD - 1
/** Data bytes per frame with the original side-band capability (1000-byte packets). */
export const SIDEBAND_PAYLOAD = 1000 - 5

export const FLUSH_PKT: Buffer = Buffer.from("0000", "latin1")
export const DELIM_PKT: Buffer = Buffer.from("0001", "latin1")
export const RESPONSE_END_PKT: Buffer = Buffer.from("0002", "latin1")

export type PktLineProblem =
  /** The four length bytes are not hexadecimal digits. */
  | "bad-length"
  /** Length 0003 (1-3 are not lengths; 0000-0002 are the special packets). */
  | "invalid-length"
  /** Length above 65520, or a payload too large to encode. */
  | "oversize"
  /** The input ended inside a packet. */
  | "truncated"
  /** A side-band packet without a band byte, or with a band other than 1, 2 or 3. */
  | "bad-band"

export class PktLineError extends Data.TaggedError("PktLineError")<{
  readonly reason: PktLineProblem
  readonly message: string
}> {
  constructor(args: { readonly message: string; readonly reason?: PktLineProblem }) {
    super({ reason: args.reason ?? "bad-length", message: args.message })
  }
}

const toBuffer = (payload: string | Uint8Array): Buffer =>
  typeof payload === "string"
    ? Buffer.from(payload, "utf8")
    : Buffer.isBuffer(payload)
      ? payload
      : Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength)

const HEX = "0123456789abcdef"

const writeLength = (out: Buffer, at: number, length: number) => {
  out[at] = HEX.charCodeAt((length >> 12) & 15)
  out[at + 1] = HEX.charCodeAt((length >> 8) & 15)
  out[at + 2] = HEX.charCodeAt((length >> 4) & 15)
  out[at + 3] = HEX.charCodeAt(length & 15)
}

/** One data packet, or a PktLineError if the payload does not fit in a packet. */
export const encodePktLine = (payload: string | Uint8Array): Buffer | PktLineError => {
  const body = toBuffer(payload)
  if (body.length > MAX_PKT_PAYLOAD)
    return new PktLineError({
      reason: "oversize",
      message: `pkt-line payload of ${body.length} bytes exceeds ${MAX_PKT_PAYLOAD}`,
    })
  const out = Buffer.allocUnsafe(body.length + 4)
  writeLength(out, 0, body.length + 4)
  body.copy(out, 4)
  return out
}

/**
 * One data packet, for payloads the caller knows are small (protocol lines it builds).
 * An oversized payload is a programming error: the PktLineError is thrown.
 */
export const pktLine = (payload: string | Uint8Array): Buffer => {
  const out = encodePktLine(payload)
  if (out instanceof PktLineError) throw out
  return out
}

export type Packet =
  | { readonly kind: "data"; readonly data: Buffer }
  | { readonly kind: "flush" }
  | { readonly kind: "delim" }
  | { readonly kind: "end" }

export type TextPacket =
  | { readonly kind: "data"; readonly text: string }
  | { readonly kind: "flush" }
  | { readonly kind: "delim" }
  | { readonly kind: "end" }

const FLUSH: Packet = { kind: "flush" }
const DELIM: Packet = { kind: "delim" }
const END: Packet = { kind: "end" }

const hexValue = (c: number): number => {
  if (c >= 48 && c <= 57) return c - 48
  if (c >= 97 && c <= 102) return c - 87
  if (c >= 65 && c <= 70) return c - 55
  return -1
}

const printable = (b: Buffer) => b.toString("latin1").replace(/[^\x20-\x7e]/g, "?")

/**
 * Incremental decoder: `push` chunks as they arrive, call `next` until it answers
 * undefined (needs more bytes). Chunk boundaries can fall anywhere. Errors are sticky:
 * once `next` has returned a PktLineError it returns the same error again.
 */
export class PktLineDecoder {
  private buffer: Buffer = Buffer.alloc(0)
  private error: PktLineError | undefined

  push(chunk: Uint8Array): void {
    if (chunk.length === 0) return
    const bytes = toBuffer(chunk)
    this.buffer = this.buffer.length === 0 ? bytes : Buffer.concat([this.buffer, bytes])
  }

  /** Bytes not yet consumed (for a pack that follows the packets). */
  rest(): Buffer {
    return this.buffer
  }

  /** Bytes buffered but not yet returned as packets. */
  get pending(): number {
    return this.buffer.length
  }

  next(): Packet | PktLineError | undefined {
    if (this.error) return this.error
    const buf = this.buffer
    if (buf.length < 4) return undefined
    const d0 = hexValue(buf[0]!)
    const d1 = hexValue(buf[1]!)
    const d2 = hexValue(buf[2]!)
    const d3 = hexValue(buf[3]!)
    if ((d0 | d1 | d2 | d3) < 0) {
      this.error = new PktLineError({
        reason: "bad-length",
        message: `malformed pkt-line length '${printable(buf.subarray(0, 4))}'`,
      })
      return this.error
    }
    const len = (d0 << 12) | (d1 << 8) | (d2 << 4) | d3
    if (len < 4) {
      if (len === 3) {
        this.error = new PktLineError({
          reason: "invalid-length",
          message: "invalid pkt-line length 3 (lengths 1 to 3 are not allowed)",
        })
        return this.error
      }
      this.buffer = buf.subarray(4)
      return len === 0 ? FLUSH : len === 1 ? DELIM : END
    }
    if (len > MAX_PKT_LENGTH) {
      this.error = new PktLineError({
        reason: "oversize",
        message: `pkt-line length ${len} exceeds the maximum of ${MAX_PKT_LENGTH}`,
      })
      return this.error
    }
    if (buf.length < len) return undefined
    this.buffer = buf.subarray(len)
    return { kind: "data", data: buf.subarray(4, len) }
  }
}

/** All packets of a complete buffer; bytes left inside an unfinished packet are an error. */
export const parsePackets = (buf: Uint8Array): Packet[] | PktLineError => {
  const decoder = new PktLineDecoder()
  decoder.push(buf)
  const out: Packet[] = []
  for (;;) {
    const p = decoder.next()
    if (p instanceof PktLineError) return p
    if (p === undefined) break
    out.push(p)
  }
  if (decoder.pending > 0)
    return new PktLineError({
      reason: "truncated",
      message: `input ends inside a pkt-line (${decoder.pending} stray bytes)`,
    })
  return out
}

/** Alias of parsePackets: every packet of a complete buffer. */
export const readAllPackets = parsePackets

/** Like parsePackets, with data payloads as UTF-8 text (negotiation requests). */
export const parsePacketsText = (buf: Uint8Array): TextPacket[] | PktLineError => {
  const packets = parsePackets(buf)
  if (packets instanceof PktLineError) return packets
  return packets.map((p) =>
    p.kind === "data" ? { kind: "data", text: p.data.toString("utf8") } : p,
  )
}

export type Band = 1 | 2 | 3

/**
 * `data` framed as side-band packets on `band`, split so no packet exceeds its limit
 * (`maxPayload` data bytes per packet: 65515 for side-band-64k, 995 for side-band).
 * Returns one buffer holding all the packets (empty data gives no packet).
 */
export const sideBand = (
  band: Band,
  data: Uint8Array,
  maxPayload: number = SIDEBAND_64K_PAYLOAD,
): Buffer => {
  const body = toBuffer(data)
  const per = Math.max(1, Math.min(maxPayload, SIDEBAND_64K_PAYLOAD))
  const packets = Math.ceil(body.length / per)
  const out = Buffer.allocUnsafe(body.length + packets * 5)
  let o = 0
  for (let i = 0; i < body.length; i += per) {
    const n = Math.min(per, body.length - i)
    writeLength(out, o, n + 5)
    out[o + 4] = band
    body.copy(out, o + 5, i, i + n)
    o += n + 5
  }
  return out
}

/** Like sideBand, one buffer per packet (for streaming writers that send packet by packet). */
export const sideBandPackets = (
  band: Band,
  data: Uint8Array,
  maxPayload: number = SIDEBAND_64K_PAYLOAD,
): Buffer[] => {
  const body = toBuffer(data)
  const per = Math.max(1, Math.min(maxPayload, SIDEBAND_64K_PAYLOAD))
  const out: Buffer[] = []
  for (let i = 0; i < body.length; i += per) {
    const n = Math.min(per, body.length - i)
    const p = Buffer.allocUnsafe(n + 5)
    writeLength(p, 0, n + 5)
    p[4] = band
    body.copy(p, 5, i, i + n)
    out.push(p)
  }
  return out
}

/** The band and data of a side-band packet's payload (a view, not a copy). */
export const parseSideBand = (payload: Uint8Array): { band: Band; data: Buffer } | PktLineError => {
  const body = toBuffer(payload)
  const band = body[0]
  if (band !== 1 && band !== 2 && band !== 3)
    return new PktLineError({
      reason: "bad-band",
      message:
        band === undefined ? "empty side-band packet" : `side-band packet on unknown band ${band}`,
    })
  return { band, data: body.subarray(1) }
}
