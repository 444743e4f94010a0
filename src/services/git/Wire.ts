/**
 * Protocol output helpers over a ResponseSink: pkt-lines, and side-band multiplexing
 * (band 1 data, 2 progress, 3 fatal error) when the client asked for it.
 */
import { Effect } from "effect"
import { FLUSH_PKT, pktLine } from "../../domain/git/PktLine.ts"
import type { ResponseSink } from "../GitService.ts"

/** Largest side-band payload: 65520 - 4 (length) - 1 (band). */
const SIDEBAND_64K = 65515
/** Old `side-band`: 1000-byte packets. */
const SIDEBAND_SMALL = 995

export type Sideband = "none" | "side-band" | "side-band-64k"

export const sidebandOf = (caps: ReadonlySet<string>): Sideband =>
  caps.has("side-band-64k") ? "side-band-64k" : caps.has("side-band") ? "side-band" : "none"

export const makeWire = (sink: ResponseSink, sideband: Sideband) => {
  const max = sideband === "side-band-64k" ? SIDEBAND_64K : SIDEBAND_SMALL
  const band = (n: 1 | 2 | 3, data: Uint8Array) =>
    Effect.gen(function* () {
      for (let off = 0; off < data.length; off += max) {
        const part = data.subarray(off, Math.min(off + max, data.length))
        const header = Buffer.alloc(5)
        header.write((part.length + 5).toString(16).padStart(4, "0"), 0, "latin1")
        header[4] = n
        yield* sink.write(Buffer.concat([header, part]))
      }
    })
  return {
    sideband,
    line: (text: string) => sink.write(pktLine(text)),
    flush: () => sink.write(FLUSH_PKT),
    raw: (bytes: Uint8Array) => sink.write(bytes),
    /** Pack data: on band 1, or raw when no side-band was negotiated. */
    data: (bytes: Uint8Array) => (sideband === "none" ? sink.write(bytes) : band(1, bytes)),
    /** Progress text; dropped when there is no side-band. */
    progress: (text: string) =>
      sideband === "none" ? Effect.void : band(2, Buffer.from(text, "utf8")),
    /** A fatal error the client prints as `remote: error: ...`. */
    fatal: (text: string) =>
      sideband === "none"
        ? sink.write(pktLine(`ERR ${text}\n`))
        : band(3, Buffer.from(`${text}\n`, "utf8")),
  }
}

export type Wire = ReturnType<typeof makeWire>

/**
 * Collects pack bytes straight into side-band frames as they are produced: each byte is
 * copied once, instead of once into a chunk and again into each frame. Full frames wait
 * in `ready` until the caller sends them.
 */
export const makeFramer = (sideband: Sideband) => {
  const payload =
    sideband === "side-band-64k"
      ? SIDEBAND_64K
      : sideband === "side-band"
        ? SIDEBAND_SMALL
        : SIDEBAND_64K
  const head = sideband === "none" ? 0 : 5
  let frame = Buffer.allocUnsafe(head + payload)
  let used = 0
  let ready: Buffer[] = []
  let readyBytes = 0
  let total = 0
  const close = () => {
    if (used === 0) return
    if (head > 0) {
      frame.write((used + head).toString(16).padStart(4, "0"), 0, "latin1")
      frame[4] = 1
    }
    const f = used === payload ? frame : frame.subarray(0, head + used)
    ready.push(f)
    readyBytes += f.length
    total += used
    frame = Buffer.allocUnsafe(head + payload)
    used = 0
  }
  return {
    push: (bytes: Uint8Array) => {
      let off = 0
      while (off < bytes.length) {
        const n = Math.min(payload - used, bytes.length - off)
        frame.set(bytes.subarray(off, off + n), head + used)
        used += n
        off += n
        if (used === payload) close()
      }
    },
    /** Bytes of full frames waiting to be sent. */
    readyBytes: () => readyBytes,
    /** The frames to send now (with `end`, the last partial one too). */
    take: (end = false) => {
      if (end) close()
      const out = ready
      ready = []
      readyBytes = 0
      return out
    },
    /** Pack bytes framed so far. */
    total: () => total,
  }
}
