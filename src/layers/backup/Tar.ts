/**
 * Just enough of the POSIX tar format (ustar) for backups: regular files in one flat
 * directory, written as a stream and read back into a directory. Sizes of 8 GiB and more
 * use the base-256 size field GNU tar and libarchive read.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import type { Writable } from "node:stream"

const BLOCK = 512

const octal = (n: number, width: number) => `${n.toString(8).padStart(width - 1, "0")}\0`

const header = (name: string, size: number, mode: number, mtime: number) => {
  const h = Buffer.alloc(BLOCK)
  if (Buffer.byteLength(name) > 100) throw new Error(`tar: name too long: ${name}`)
  h.write(name, 0, 100, "utf8")
  h.write(octal(mode & 0o7777, 8), 100, "latin1")
  h.write(octal(0, 8), 108, "latin1")
  h.write(octal(0, 8), 116, "latin1")
  if (size < 8 ** 11) h.write(octal(size, 12), 124, "latin1")
  else {
    h[124] = 0x80
    h.writeBigUInt64BE(BigInt(size), 128)
  }
  h.write(octal(Math.floor(mtime / 1000), 12), 136, "latin1")
  h.write("        ", 148, "latin1")
  h.write("0", 156, "latin1")
  h.write("ustar\0" + "00", 257, "latin1")
  let sum = 0
  for (const b of h) sum += b
  h.write(`${sum.toString(8).padStart(6, "0")}\0 `, 148, "latin1")
  return h
}

const write = (out: Writable, chunk: Buffer) =>
  new Promise<void>((resolve, reject) => {
    out.write(chunk, (err) => (err ? reject(err) : resolve()))
  })

/** Streams the named files of `dir` as a tar archive into `out` (not ended). */
export const writeTar = async (dir: string, names: ReadonlyArray<string>, out: Writable) => {
  for (const name of names) {
    const file = path.join(dir, name)
    const stat = await fs.promises.stat(file)
    await write(out, header(name, stat.size, stat.mode, stat.mtimeMs))
    for await (const chunk of fs.createReadStream(file, { highWaterMark: 1 << 20 }))
      await write(out, chunk as Buffer)
    const pad = (BLOCK - (stat.size % BLOCK)) % BLOCK
    if (pad > 0) await write(out, Buffer.alloc(pad))
  }
  await write(out, Buffer.alloc(2 * BLOCK))
}

const sizeOf = (h: Buffer) => {
  if ((h[124]! & 0x80) !== 0) return Number(h.readBigUInt64BE(128))
  const text = h.toString("latin1", 124, 136).replace(/[\0 ]+$/g, "")
  if (!/^[0-7]*$/.test(text)) throw new Error("tar: malformed size field")
  return text === "" ? 0 : Number.parseInt(text, 8)
}

/** Extracts a tar archive of regular files (flat names only) into `dir`. */
export const extractTar = async (file: string, dir: string): Promise<string[]> => {
  const names: string[] = []
  const fd = await fs.promises.open(file, "r")
  try {
    let pos = 0
    const h = Buffer.alloc(BLOCK)
    for (;;) {
      const { bytesRead } = await fd.read(h, 0, BLOCK, pos)
      if (bytesRead < BLOCK) throw new Error(`${file}: truncated tar archive`)
      pos += BLOCK
      if (h.every((b) => b === 0)) return names
      const name = h.toString("utf8", 0, 100).replace(/\0.*$/s, "")
      if (name === "" || name.includes("/") || name === "." || name === "..")
        throw new Error(`${file}: unexpected entry ${JSON.stringify(name)} (not a Guts backup)`)
      const type = String.fromCharCode(h[156]!)
      if (type !== "0" && type !== "\0")
        throw new Error(`${file}: entry ${name} is not a regular file`)
      const size = sizeOf(h)
      const out = await fs.promises.open(path.join(dir, name), "wx", 0o600)
      try {
        const buf = Buffer.alloc(1 << 20)
        let left = size
        while (left > 0) {
          const n = Math.min(left, buf.length)
          const r = await fd.read(buf, 0, n, pos)
          if (r.bytesRead < n) throw new Error(`${file}: truncated in ${name}`)
          await out.write(buf.subarray(0, n))
          pos += n
          left -= n
        }
      } finally {
        await out.close()
      }
      pos += (BLOCK - (size % BLOCK)) % BLOCK
      names.push(name)
    }
  } finally {
    await fd.close()
  }
}
