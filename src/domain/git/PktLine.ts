/**
 * pkt-line framing (gitprotocol-common): four hex digits of length including themselves,
 * then the payload; `0000` flush, `0001` delimiter and `0002` response end (v2).
 * Packets are at most 65520 bytes. Decoding untrusted bytes never throws: it returns a
 * PktLineError naming what is wrong.
 */
import { Data } from "effect"

export const MAX_PKT_LENGTH = 65520
export const MAX_PKT_PAYLOAD = MAX_PKT_LENGTH - 4

export const FLUSH_PKT = Buffer.from("0000", "latin1")
export const DELIM_PKT = Buffer.from("0001", "latin1")
export const RESPONSE_END_PKT = Buffer.from("0002", "latin1")

export class PktLineError extends Data.TaggedError("PktLineError")<{ readonly message: string }> {}

/** One data packet. Throws only on programmer error (payload too large). */
export const pktLine = (payload: string | Uint8Array): Buffer => {
  const body = typeof payload === "string" ? Buffer.from(payload, "utf8") : Buffer.from(payload)
  if (body.length > MAX_PKT_PAYLOAD)
    throw new Error(`pkt-line payload of ${body.length} bytes exceeds ${MAX_PKT_PAYLOAD}`)
  const header = Buffer.from((body.length + 4).toString(16).padStart(4, "0"), "latin1")
  return Buffer.concat([header, body])
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

const HEX4 = /^[0-9a-fA-F]{4}$/

/**
 * Incremental decoder: feed chunks with `push`, take packets with `next` until it answers
 * undefined (needs more bytes). Chunk boundaries can fall anywhere.
 */
export class PktLineDecoder {
  private buffer: Buffer = Buffer.alloc(0)

  push(chunk: Uint8Array): void {
    this.buffer =
      this.buffer.length === 0 ? Buffer.from(chunk) : Buffer.concat([this.buffer, chunk])
  }

  /** Bytes not yet consumed (for a pack that follows the packets). */
  rest(): Buffer {
    return this.buffer
  }

  next(): Packet | PktLineError | undefined {
    if (this.buffer.length < 4) return undefined
    const hex = this.buffer.toString("latin1", 0, 4)
    if (!HEX4.test(hex))
      return new PktLineError({
        message: `malformed pkt-line length '${hex.replace(/[^\x20-\x7e]/g, "?")}'`,
      })
    const len = Number.parseInt(hex, 16)
    if (len < 4) {
      this.buffer = this.buffer.subarray(4)
      if (len === 0) return { kind: "flush" }
      if (len === 1) return { kind: "delim" }
      if (len === 2) return { kind: "end" }
      return new PktLineError({ message: `invalid pkt-line length ${len}` })
    }
    if (len > MAX_PKT_LENGTH)
      return new PktLineError({
        message: `pkt-line length ${len} exceeds the maximum of ${MAX_PKT_LENGTH}`,
      })
    if (this.buffer.length < len) return undefined
    const data = this.buffer.subarray(4, len)
    this.buffer = this.buffer.subarray(len)
    return { kind: "data", data }
  }
}

/** All packets of a complete buffer; trailing partial bytes are an error. */
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
  if (decoder.rest().length > 0)
    return new PktLineError({
      message: `request ends inside a pkt-line (${decoder.rest().length} stray bytes)`,
    })
  return out
}

/** Like parsePackets, with data payloads as UTF-8 text (negotiation requests). */
export const parsePacketsText = (buf: Uint8Array): TextPacket[] | PktLineError => {
  const packets = parsePackets(buf)
  if (packets instanceof PktLineError) return packets
  return packets.map((p) =>
    p.kind === "data" ? { kind: "data", text: p.data.toString("utf8") } : p,
  )
}
