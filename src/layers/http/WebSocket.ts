/**
 * A small WebSocket (RFC 6455) implementation over node's `upgrade` event: the handshake,
 * text frames in both directions (clients mask, servers do not), ping/pong and close.
 * Enough for `/ws` live events; fragmented and binary messages from clients are refused
 * with a close frame, never half-read.
 */
import { createHash, randomBytes } from "node:crypto"
import type * as http from "node:http"
import type { Duplex } from "node:stream"

const GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

export const acceptKey = (key: string) =>
  createHash("sha1")
    .update(key + GUID)
    .digest("base64")

/** Completes the server side of the handshake; false (and a 400) if the request is not one. */
export const handshake = (req: http.IncomingMessage, socket: Duplex): boolean => {
  const key = req.headers["sec-websocket-key"]
  if (req.headers.upgrade?.toLowerCase() !== "websocket" || typeof key !== "string") {
    socket.end("HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n")
    return false
  }
  socket.write(
    `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${acceptKey(key)}\r\n\r\n`,
  )
  return true
}

/** One frame; `mask` for client-to-server frames. */
export const encodeFrame = (opcode: number, payload: Buffer, mask: boolean): Buffer => {
  const len = payload.length
  const header: number[] = [0x80 | opcode]
  const maskBit = mask ? 0x80 : 0
  if (len < 126) header.push(maskBit | len)
  else if (len < 65536) header.push(maskBit | 126, len >> 8, len & 0xff)
  else {
    header.push(maskBit | 127, 0, 0, 0, 0)
    header.push((len >>> 24) & 0xff, (len >>> 16) & 0xff, (len >>> 8) & 0xff, len & 0xff)
  }
  if (!mask) return Buffer.concat([Buffer.from(header), payload])
  const key = randomBytes(4)
  const body = Buffer.alloc(len)
  for (let i = 0; i < len; i++) body[i] = payload[i]! ^ key[i % 4]!
  return Buffer.concat([Buffer.from(header), key, body])
}

export interface Frame {
  readonly fin: boolean
  readonly opcode: number
  readonly payload: Buffer
}

/** Incremental frame parser: feed bytes, get whole frames. */
export const frameReader = (maxPayload = 1024 * 1024) => {
  let buf = Buffer.alloc(0)
  return (chunk: Buffer): Frame[] | "too-large" => {
    buf = Buffer.concat([buf, chunk])
    const frames: Frame[] = []
    for (;;) {
      if (buf.length < 2) break
      const fin = (buf[0]! & 0x80) !== 0
      const opcode = buf[0]! & 0x0f
      const masked = (buf[1]! & 0x80) !== 0
      let len = buf[1]! & 0x7f
      let at = 2
      if (len === 126) {
        if (buf.length < 4) break
        len = buf.readUInt16BE(2)
        at = 4
      } else if (len === 127) {
        if (buf.length < 10) break
        const big = buf.readBigUInt64BE(2)
        if (big > BigInt(maxPayload)) return "too-large"
        len = Number(big)
        at = 10
      }
      if (len > maxPayload) return "too-large"
      const need = at + (masked ? 4 : 0) + len
      if (buf.length < need) break
      let payload = buf.subarray(at + (masked ? 4 : 0), need)
      if (masked) {
        const key = buf.subarray(at, at + 4)
        payload = Buffer.from(payload.map((b, i) => b ^ key[i % 4]!))
      } else payload = Buffer.from(payload)
      frames.push({ fin, opcode, payload })
      buf = buf.subarray(need)
    }
    return frames
  }
}

export const OP = { text: 0x1, binary: 0x2, close: 0x8, ping: 0x9, pong: 0xa } as const
