/**
 * An artifact as the zip GitHub's `GET …/actions/artifacts/{id}/zip` serves, whatever the
 * runner uploaded: a zip as is, a single file as a zip of that one file, and a tar (a
 * directory) entry by entry (regular files, executables, symlinks and directories; pax
 * `path` records for long names). Pure: the same bytes in give the same zip out.
 */
import { ArchiveError, ZipWriter } from "../git/Archive.ts"
import type { ObjectId } from "../git/ObjectId.ts"

const ZERO = "0".repeat(40) as ObjectId

const cString = (b: Buffer, start: number, len: number) => {
  const field = b.subarray(start, start + len)
  const nul = field.indexOf(0)
  return (nul < 0 ? field : field.subarray(0, nul)).toString("utf8")
}

const octal = (b: Buffer, start: number, len: number) =>
  Number.parseInt(cString(b, start, len).trim() || "0", 8)

interface TarEntry {
  readonly path: string
  readonly mode: string
  readonly content: Buffer
}

/** The entries of a tar archive; an Error for one that is cut short or malformed. */
export const readTar = (tar: Buffer): TarEntry[] | Error => {
  const out: TarEntry[] = []
  let pos = 0
  let paxPath: string | undefined
  while (pos + 512 <= tar.length) {
    const h = tar.subarray(pos, pos + 512)
    if (h.every((x) => x === 0)) break
    const size = octal(h, 124, 12)
    if (!Number.isFinite(size) || size < 0) return new Error(`tar header at ${pos}: bad size`)
    const type = String.fromCharCode(h[156] ?? 0x30)
    const dataStart = pos + 512
    if (dataStart + size > tar.length) return new Error(`tar entry at ${pos} is cut short`)
    const data = tar.subarray(dataStart, dataStart + size)
    pos = dataStart + Math.ceil(size / 512) * 512
    if (type === "x") {
      for (const rec of data.toString("utf8").split("\n")) {
        const m = /^\d+ path=(.*)$/.exec(rec)
        if (m) paxPath = m[1]
      }
      continue
    }
    if (type === "g") continue
    const prefix = cString(h, 345, 155)
    const name = cString(h, 0, 100)
    let path = paxPath ?? (prefix ? `${prefix}/${name}` : name)
    paxPath = undefined
    path = path.replace(/^(\.\/)+/, "").replace(/\/+$/, "")
    if (path === "" || path === ".") continue
    if (path.split("/").includes("..")) return new Error(`tar entry ${path} leaves the archive`)
    const perm = octal(h, 100, 8) & 0o111 ? "100755" : "100644"
    if (type === "5") out.push({ path, mode: "40000", content: Buffer.alloc(0) })
    else if (type === "2")
      out.push({ path, mode: "120000", content: Buffer.from(cString(h, 157, 100)) })
    else if (type === "0" || type === "\0" || type === "7")
      out.push({ path, mode: perm, content: data })
  }
  return out
}

/** The zip for an artifact stored with `contentType`. */
export const artifactZip = (
  bytes: Buffer,
  contentType: string,
  name: string,
  mtimeSeconds: number,
): Buffer | Error => {
  if (contentType === "application/zip") return bytes
  const zip = new ZipWriter(mtimeSeconds)
  const parts: Buffer[] = []
  const entries =
    contentType === "application/x-tar"
      ? readTar(bytes)
      : [{ path: name, mode: "100644", content: bytes }]
  if (entries instanceof Error) return entries
  for (const e of entries) {
    const b = zip.entry({ path: Buffer.from(e.path), mode: e.mode, id: ZERO, content: e.content })
    if (b instanceof ArchiveError) return new Error(b.message)
    parts.push(b)
  }
  parts.push(zip.end(""))
  return Buffer.concat(parts)
}
