/**
 * Request bodies: bounded reads (a body over the limit is refused, never buffered whole),
 * transparent gzip (git compresses large negotiation requests), and JSON with the error a
 * GitHub client expects for malformed input.
 */
import type * as http from "node:http"
import type { Readable } from "node:stream"
import * as zlib from "node:zlib"
import { Effect } from "effect"
import { badRequest, HttpError, payloadTooLarge } from "./HttpErrors.ts"

/** The request body as a stream, inflated if the client sent `Content-Encoding: gzip`. */
export const bodyStream = (req: http.IncomingMessage): Readable => {
  const encoding = (req.headers["content-encoding"] ?? "").toLowerCase()
  if (encoding === "gzip" || encoding === "x-gzip") return req.pipe(zlib.createGunzip())
  return req
}

/** Reads a whole body of at most `limit` bytes (after decompression). */
export const readBody = (req: http.IncomingMessage, limit: number) =>
  Effect.async<Buffer, HttpError>((resume) => {
    const stream = bodyStream(req)
    const chunks: Buffer[] = []
    let size = 0
    let done = false
    const finish = (e: Effect.Effect<Buffer, HttpError>) => {
      if (done) return
      done = true
      resume(e)
    }
    stream.on("data", (chunk: Buffer) => {
      size += chunk.length
      if (size > limit) {
        stream.destroy()
        finish(Effect.fail(payloadTooLarge(limit)))
        return
      }
      chunks.push(chunk)
    })
    stream.on("end", () => finish(Effect.succeed(Buffer.concat(chunks, size))))
    stream.on("error", (err) =>
      finish(
        Effect.fail(
          new HttpError({ status: 400, message: `unreadable request body: ${err.message}` }),
        ),
      ),
    )
    return Effect.sync(() => stream.destroy())
  })

export const readJson = (req: http.IncomingMessage, limit = 1024 * 1024) =>
  readBody(req, limit).pipe(
    Effect.flatMap((buf) =>
      Effect.try({
        try: () => (buf.length === 0 ? {} : JSON.parse(buf.toString("utf8"))) as unknown,
        catch: () => badRequest("Problems parsing JSON"),
      }),
    ),
  )
