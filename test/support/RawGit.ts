/**
 * Hand-made git protocol bytes for tests that must send what a well-behaved client never
 * would: stale compare-and-swap values, broken packs, oversized packets.
 */
import { createHash } from "node:crypto"
import * as zlib from "node:zlib"

export const pkt = (line: string | Buffer) => {
  const body = typeof line === "string" ? Buffer.from(line) : line
  return Buffer.concat([Buffer.from((body.length + 4).toString(16).padStart(4, "0")), body])
}
export const FLUSH = Buffer.from("0000")

export const ZERO = "0".repeat(40)

const TYPE_CODE = { commit: 1, tree: 2, blob: 3, tag: 4 } as const

export const objectId = (type: keyof typeof TYPE_CODE, content: Buffer) =>
  createHash("sha1")
    .update(Buffer.concat([Buffer.from(`${type} ${content.length}\0`), content]))
    .digest("hex")

const entryHeader = (type: number, size: number) => {
  const bytes: number[] = []
  let b = (type << 4) | (size & 0x0f)
  size >>= 4
  while (size > 0) {
    bytes.push(b | 0x80)
    b = size & 0x7f
    size >>= 7
  }
  bytes.push(b)
  return Buffer.from(bytes)
}

export type RawEntry =
  | { kind: keyof typeof TYPE_CODE; content: Buffer }
  | { kind: "ref-delta"; base: string; delta: Buffer }

/** A pack of whole objects (and REF deltas), with a correct trailer unless told otherwise. */
export const buildPack = (entries: ReadonlyArray<RawEntry>) => {
  const parts: Buffer[] = [Buffer.from("PACK"), Buffer.from([0, 0, 0, 2])]
  const count = Buffer.alloc(4)
  count.writeUInt32BE(entries.length)
  parts.push(count)
  for (const e of entries) {
    if (e.kind === "ref-delta") {
      parts.push(
        entryHeader(7, e.delta.length),
        Buffer.from(e.base, "hex"),
        zlib.deflateSync(e.delta),
      )
    } else {
      parts.push(entryHeader(TYPE_CODE[e.kind], e.content.length), zlib.deflateSync(e.content))
    }
  }
  const body = Buffer.concat(parts)
  return Buffer.concat([body, createHash("sha1").update(body).digest()])
}

/** Tree with one file, and a commit pointing at it. */
export const commitWithFile = (name: string, content: string, parent?: string) => {
  const blob = Buffer.from(content)
  const blobId = objectId("blob", blob)
  const tree = Buffer.concat([Buffer.from(`100644 ${name}\0`), Buffer.from(blobId, "hex")])
  const treeId = objectId("tree", tree)
  const commit = Buffer.from(
    `tree ${treeId}\n${parent ? `parent ${parent}\n` : ""}author A <a@x> 1700000000 +0000\ncommitter A <a@x> 1700000000 +0000\n\nraw commit\n`,
  )
  const commitId = objectId("commit", commit)
  return { blob, blobId, tree, treeId, commit, commitId }
}

/** A receive-pack request body: commands, flush, then the pack. */
export const receivePackRequest = (
  commands: ReadonlyArray<{ old: string; new: string; ref: string }>,
  pack: Buffer | undefined,
  caps = "report-status",
) => {
  const lines = commands.map((c, i) =>
    pkt(`${c.old} ${c.new} ${c.ref}${i === 0 ? `\0${caps}` : ""}\n`),
  )
  return Buffer.concat([...lines, FLUSH, ...(pack ? [pack] : [])])
}

/** Parses pkt-lines of a (non-sideband) response into strings; stops at the end. */
export const parsePktLines = (buf: Buffer) => {
  const out: string[] = []
  let i = 0
  while (i + 4 <= buf.length) {
    const len = Number.parseInt(buf.subarray(i, i + 4).toString(), 16)
    if (len === 0) {
      out.push("0000")
      i += 4
      continue
    }
    if (len < 4) break
    out.push(buf.subarray(i + 4, i + len).toString())
    i += len
  }
  return out
}
