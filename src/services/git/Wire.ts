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
