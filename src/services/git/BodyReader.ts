/**
 * BodyReader: pulls a request body chunk by chunk (with backpressure: the socket is read
 * only as fast as we parse), shared by the pkt-line command section and the pack that
 * follows it in a push.
 */
import type { Readable } from "node:stream"
import { Effect } from "effect"

export interface BodyReader {
  /** The next chunk, or undefined at the end of the body. */
  readonly next: Effect.Effect<Buffer | undefined, Error>
  /** Returns bytes read too far so the next consumer sees them first. */
  readonly unshift: (bytes: Buffer) => void
}

export const makeBodyReader = (stream: Readable): BodyReader => {
  const iterator = stream[Symbol.asyncIterator]() as AsyncIterator<Buffer>
  const pushedBack: Buffer[] = []
  return {
    next: Effect.suspend(() => {
      const back = pushedBack.pop()
      if (back) return Effect.succeed(back)
      return Effect.tryPromise({
        try: () => iterator.next(),
        catch: (e) => (e instanceof Error ? e : new Error(String(e))),
      }).pipe(
        Effect.map((r) =>
          r.done ? undefined : Buffer.isBuffer(r.value) ? r.value : Buffer.from(r.value),
        ),
      )
    }),
    unshift: (bytes) => {
      if (bytes.length > 0) pushedBack.push(bytes)
    },
  }
}

/** Max pkt-line length (gitprotocol-common: 65520 bytes including the 4-byte header). */
export const MAX_PKT = 65520

/**
 * Reads pkt-lines until a flush packet; returns their payloads as text. An oversized or
 * malformed length, or the end of the body before the flush, is an Error with a message
 * for the client.
 */
export const readPktSection = (reader: BodyReader) =>
  Effect.gen(function* () {
    const lines: string[] = []
    let buf: Buffer = Buffer.alloc(0)
    for (;;) {
      while (buf.length >= 4) {
        const hex = buf.toString("latin1", 0, 4)
        if (!/^[0-9a-fA-F]{4}$/.test(hex)) return new Error(`malformed pkt-line length '${hex}'`)
        const len = Number.parseInt(hex, 16)
        if (len === 0) {
          reader.unshift(buf.subarray(4))
          return lines
        }
        if (len < 4) return new Error(`unexpected special packet ${hex} in the command list`)
        if (len > MAX_PKT)
          return new Error(`pkt-line length ${len} exceeds the maximum of ${MAX_PKT}`)
        if (buf.length < len) break
        lines.push(buf.toString("utf8", 4, len))
        buf = buf.subarray(len)
      }
      const chunk = yield* reader.next
      if (chunk === undefined) return new Error("request ended before the end of the command list")
      buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk])
    }
  })
