/**
 * Archive writers for a tree's files: tar (as `git archive --format=tar` writes it) and zip.
 * Callers feed entries one at a time in the order they should appear and send each returned
 * buffer as it comes, so an archive streams without holding more than one file in memory.
 *
 * Guarantees:
 * - Tar: for the same entries, commit id and time, the bytes are those `git archive
 *   --format=tar` produces with its default `tar.umask` (002): a pax global header carrying
 *   the commit id, ustar headers (uid/gid 0, owner `root`), names longer than the ustar
 *   fields split into prefix/name or, when that is impossible, carried by a pax `path`
 *   record (symlink targets longer than 100 bytes by a `linkpath` record), 512-byte records
 *   and 10240-byte blocks.
 * - Zip: every entry is stored or deflated (whichever is smaller), with its CRC-32, Unix
 *   modes (so symlinks and executables survive `unzip`), an extended timestamp, UTF-8 names
 *   flagged as such, and the commit id as the archive comment. Zip64 records are written
 *   when there are more than 65535 entries or offsets pass 4 GiB.
 * - Pure: no I/O; the same input gives the same bytes. A request the formats cannot carry
 *   is an ArchiveError, never an exception.
 */
import { crc32, deflateRawSync } from "node:zlib"
import { Data } from "effect"
import type { ObjectId } from "./ObjectId.ts"

export class ArchiveError extends Data.TaggedError("ArchiveError")<{ readonly message: string }> {}

/** One thing to put in an archive. */
export interface ArchiveEntry {
  /** Path inside the archive without a trailing slash (bytes: names need not be UTF-8). */
  readonly path: Uint8Array
  /** The git mode: `100644`, `100755`, `120000`, `40000` (a directory), `160000` (a submodule). */
  readonly mode: string
  /** The object the entry comes from (names pax records, as git does). */
  readonly id: ObjectId
  /** A file's content or a symlink's target; absent for directories and submodules. */
  readonly content?: Uint8Array | undefined
}

type Kind = "dir" | "file" | "symlink"

const kindOf = (mode: string): Kind => {
  if (mode === "40000" || mode === "040000" || mode === "160000") return "dir"
  if (mode === "120000") return "symlink"
  return "file"
}

const modeBits = (mode: string) => Number.parseInt(mode, 8) & 0o7777

const asBuffer = (b: Uint8Array): Buffer =>
  Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength)

// ---------------------------------------------------------------------------- tar

const RECORD = 512
const BLOCK = RECORD * 20
const UMASK = 0o002
const USTAR_MAX_MTIME = 0o77777777777
const NAME_LEN = 100
const PREFIX_LEN = 155

/** `%0<width-1>o` and a NUL, as git's xsnprintf fills a field of `width` bytes. */
const putOctal = (h: Buffer, at: number, width: number, n: number) => {
  h.write(n.toString(8).padStart(width - 1, "0"), at, width - 1, "latin1")
  h[at + width - 1] = 0
}

/** A pax record `"<len> <key>=<value>\n"` where len counts the whole record. */
const paxRecord = (key: string, value: Uint8Array): Buffer => {
  const body = Buffer.concat([Buffer.from(` ${key}=`, "latin1"), value, Buffer.from("\n")])
  let len = body.length + 1
  while (String(len).length + body.length > len) len++
  return Buffer.concat([Buffer.from(String(len), "latin1"), body])
}

/** Where to split a long path into ustar prefix and name (git's rule; 0: cannot). */
const prefixSplit = (path: Buffer): number => {
  let i = path.length
  if (i > 1 && path[i - 1] === 0x2f) i--
  if (i > PREFIX_LEN) i = PREFIX_LEN
  do i--
  while (i > 0 && path[i] !== 0x2f)
  return i
}

const padTo = (n: number, size: number) => (size - (n % size)) % size

/**
 * Writes a tar archive entry by entry. `mtime` (seconds) is stamped on every entry, as git
 * stamps the commit's time.
 */
export class TarWriter {
  private written = 0
  private mtime: number
  constructor(mtime: number) {
    this.mtime = Math.max(0, Math.floor(mtime))
  }

  private header(
    name: Buffer,
    mode: number,
    size: number,
    type: string,
    linkname?: Buffer,
    prefix?: Buffer,
  ): Buffer {
    const h = Buffer.alloc(RECORD)
    name.copy(h, 0, 0, Math.min(name.length, NAME_LEN))
    putOctal(h, 100, 8, mode)
    putOctal(h, 108, 8, 0)
    putOctal(h, 116, 8, 0)
    putOctal(h, 124, 12, size)
    putOctal(h, 136, 12, this.mtime)
    h.write(type, 156, 1, "latin1")
    if (linkname) linkname.copy(h, 157, 0, Math.min(linkname.length, NAME_LEN))
    h.write("ustar\0", 257, 6, "latin1")
    h.write("00", 263, 2, "latin1")
    h.write("root", 265, "latin1")
    h.write("root", 297, "latin1")
    putOctal(h, 329, 8, 0)
    putOctal(h, 337, 8, 0)
    if (prefix) prefix.copy(h, 345, 0, Math.min(prefix.length, PREFIX_LEN))
    let sum = 8 * 0x20 // the checksum field counts as spaces
    for (let i = 0; i < RECORD; i++) if (i < 148 || i >= 156) sum += h[i]!
    putOctal(h, 148, 8, sum)
    return h
  }

  private emit(parts: Buffer[]): Buffer {
    const out = Buffer.concat(parts)
    this.written += out.length
    return out
  }

  /** Data padded to whole records. */
  private padded(data: Buffer): Buffer[] {
    const pad = padTo(data.length, RECORD)
    return pad === 0 ? [data] : [data, Buffer.alloc(pad)]
  }

  /** The pax global header naming the commit (git writes it first when archiving a commit). */
  globalHeader(commit: ObjectId): Buffer {
    let records = paxRecord("comment", Buffer.from(commit, "latin1"))
    if (this.mtime > USTAR_MAX_MTIME) {
      records = Buffer.concat([records, paxRecord("mtime", Buffer.from(String(this.mtime)))])
      this.mtime = USTAR_MAX_MTIME
    }
    const h = this.header(Buffer.from("pax_global_header"), 0o666, records.length, "g")
    return this.emit([h, ...this.padded(records)])
  }

  /** One entry: its header (after a pax header when names do not fit) and its content. */
  entry(e: ArchiveEntry): Buffer {
    const kind = kindOf(e.mode)
    const bits = modeBits(e.mode)
    const path = Buffer.concat([
      asBuffer(e.path),
      kind === "dir" ? Buffer.from("/") : Buffer.alloc(0),
    ])
    const content = kind === "dir" ? Buffer.alloc(0) : asBuffer(e.content ?? new Uint8Array(0))
    const mode =
      kind === "dir"
        ? (bits | 0o777) & ~UMASK
        : kind === "symlink"
          ? bits | 0o777
          : (bits | (bits & 0o100 ? 0o777 : 0o666)) & ~UMASK
    const type = kind === "dir" ? "5" : kind === "symlink" ? "2" : "0"
    const pax: Buffer[] = []
    let name = path
    let prefix: Buffer | undefined
    if (path.length > NAME_LEN) {
      const plen = prefixSplit(path)
      const rest = path.length - plen - 1
      if (plen > 0 && rest <= NAME_LEN) {
        prefix = path.subarray(0, plen)
        name = path.subarray(plen + 1)
      } else {
        name = Buffer.from(`${e.id}.data`, "latin1")
        pax.push(paxRecord("path", path))
      }
    }
    let linkname: Buffer | undefined
    if (kind === "symlink") {
      if (content.length > NAME_LEN) {
        linkname = Buffer.from(`see ${e.id}.paxheader`, "latin1")
        pax.push(paxRecord("linkpath", content))
      } else linkname = content
    }
    const parts: Buffer[] = []
    if (pax.length > 0) {
      const records = Buffer.concat(pax)
      const name = Buffer.from(`${e.id}.paxheader`, "latin1")
      parts.push(this.header(name, 0o666, records.length, "x"), ...this.padded(records))
    }
    const size = kind === "file" ? content.length : 0
    parts.push(this.header(name, mode & 0o7777, size, type, linkname, prefix))
    if (size > 0) parts.push(...this.padded(content))
    return this.emit(parts)
  }

  /** Two zero records, then zeros to the end of the 10240-byte block (git's trailer). */
  end(): Buffer {
    const inBlock = this.written % BLOCK
    let tail = BLOCK - inBlock
    if (tail < 2 * RECORD) tail += BLOCK
    return this.emit([Buffer.alloc(tail)])
  }
}

// ---------------------------------------------------------------------------- zip

const U32 = 0xffffffff
const U16 = 0xffff

/** MS-DOS time and date (UTC; clamped to the years DOS can express). */
const dosDateTime = (seconds: number) => {
  const d = new Date(seconds * 1000)
  const year = d.getUTCFullYear()
  if (year < 1980) return { time: 0, date: (1 << 5) | 1 }
  if (year > 2107) return { time: (23 << 11) | (59 << 5) | 29, date: (127 << 9) | (12 << 5) | 31 }
  return {
    time: (d.getUTCHours() << 11) | (d.getUTCMinutes() << 5) | (d.getUTCSeconds() >> 1),
    date: ((year - 1980) << 9) | ((d.getUTCMonth() + 1) << 5) | d.getUTCDate(),
  }
}

const isAscii = (b: Uint8Array) => b.every((x) => x < 0x80)

const isUtf8 = (b: Uint8Array) => {
  try {
    new TextDecoder("utf-8", { fatal: true }).decode(b)
    return true
  } catch {
    return false
  }
}

interface CentralRecord {
  readonly name: Buffer
  readonly flags: number
  readonly method: number
  readonly crc: number
  readonly compressed: number
  readonly size: number
  readonly external: number
  readonly offset: number
}

/**
 * Writes a zip archive entry by entry; `end` writes the central directory. `mtime` (seconds)
 * is stamped on every entry.
 */
export class ZipWriter {
  private written = 0
  private readonly central: CentralRecord[] = []
  private readonly time: number
  private readonly date: number
  private readonly mtime: number
  constructor(mtime: number) {
    this.mtime = Math.max(0, Math.floor(mtime))
    const dos = dosDateTime(this.mtime)
    this.time = dos.time
    this.date = dos.date
  }

  /** Extended timestamp (0x5455): modification time only, in both headers. */
  private timestampExtra(): Buffer {
    if (this.mtime > 0x7fffffff) return Buffer.alloc(0)
    const x = Buffer.alloc(9)
    x.writeUInt16LE(0x5455, 0)
    x.writeUInt16LE(5, 2)
    x[4] = 1
    x.writeUInt32LE(this.mtime, 5)
    return x
  }

  entry(e: ArchiveEntry): Buffer | ArchiveError {
    const kind = kindOf(e.mode)
    const raw = asBuffer(e.path)
    const name = Buffer.concat([raw, kind === "dir" ? Buffer.from("/") : Buffer.alloc(0)])
    if (name.length > U16)
      return new ArchiveError({ message: `path too long for zip: ${name.length} bytes` })
    const data = kind === "dir" ? Buffer.alloc(0) : asBuffer(e.content ?? new Uint8Array(0))
    if (data.length >= U32)
      return new ArchiveError({ message: `${name.toString()} is too large for a zip entry` })
    let method = 0
    let body = data
    if (kind === "file" && data.length > 0) {
      const deflated = deflateRawSync(data)
      if (deflated.length < data.length) {
        method = 8
        body = deflated
      }
    }
    const crc = data.length > 0 ? crc32(data) >>> 0 : 0
    const flags = !isAscii(raw) && isUtf8(raw) ? 0x0800 : 0
    const bits = modeBits(e.mode)
    const unixMode =
      kind === "dir"
        ? 0o40755
        : kind === "symlink"
          ? 0o120777
          : 0o100000 | (bits & 0o100 ? 0o755 : 0o644)
    const external = ((unixMode << 16) | (kind === "dir" ? 0x10 : 0)) >>> 0
    const extra = this.timestampExtra()
    const local = Buffer.alloc(30)
    local.writeUInt32LE(0x04034b50, 0)
    local.writeUInt16LE(method === 8 ? 20 : 10, 4)
    local.writeUInt16LE(flags, 6)
    local.writeUInt16LE(method, 8)
    local.writeUInt16LE(this.time, 10)
    local.writeUInt16LE(this.date, 12)
    local.writeUInt32LE(crc, 14)
    local.writeUInt32LE(body.length, 18)
    local.writeUInt32LE(data.length, 22)
    local.writeUInt16LE(name.length, 26)
    local.writeUInt16LE(extra.length, 28)
    this.central.push({
      name,
      flags,
      method,
      crc,
      compressed: body.length,
      size: data.length,
      external,
      offset: this.written,
    })
    const out = Buffer.concat([local, name, extra, body])
    this.written += out.length
    return out
  }

  /** The central directory and end records, with `comment` (the commit id) as the comment. */
  end(comment: string): Buffer {
    const parts: Buffer[] = []
    const start = this.written
    const extra = this.timestampExtra()
    for (const c of this.central) {
      const far = c.offset >= U32
      const zip64 = far ? Buffer.alloc(12) : Buffer.alloc(0)
      if (far) {
        zip64.writeUInt16LE(0x0001, 0)
        zip64.writeUInt16LE(8, 2)
        zip64.writeBigUInt64LE(BigInt(c.offset), 4)
      }
      const h = Buffer.alloc(46)
      h.writeUInt32LE(0x02014b50, 0)
      h.writeUInt16LE((3 << 8) | 30, 4) // made by: Unix, zip 3.0
      h.writeUInt16LE(far ? 45 : c.method === 8 ? 20 : 10, 6)
      h.writeUInt16LE(c.flags, 8)
      h.writeUInt16LE(c.method, 10)
      h.writeUInt16LE(this.time, 12)
      h.writeUInt16LE(this.date, 14)
      h.writeUInt32LE(c.crc, 16)
      h.writeUInt32LE(c.compressed, 20)
      h.writeUInt32LE(c.size, 24)
      h.writeUInt16LE(c.name.length, 28)
      h.writeUInt16LE(extra.length + zip64.length, 30)
      h.writeUInt16LE(0, 32)
      h.writeUInt16LE(0, 34)
      h.writeUInt16LE(0, 36)
      h.writeUInt32LE(c.external, 38)
      h.writeUInt32LE(far ? U32 : c.offset, 42)
      parts.push(h, c.name, extra, zip64)
    }
    const cdSize = parts.reduce((n, p) => n + p.length, 0)
    const count = this.central.length
    const needs64 = count >= U16 || start >= U32 || cdSize >= U32
    if (needs64) {
      const rec = Buffer.alloc(56)
      rec.writeUInt32LE(0x06064b50, 0)
      rec.writeBigUInt64LE(44n, 4)
      rec.writeUInt16LE((3 << 8) | 45, 12)
      rec.writeUInt16LE(45, 14)
      rec.writeUInt32LE(0, 16)
      rec.writeUInt32LE(0, 20)
      rec.writeBigUInt64LE(BigInt(count), 24)
      rec.writeBigUInt64LE(BigInt(count), 32)
      rec.writeBigUInt64LE(BigInt(cdSize), 40)
      rec.writeBigUInt64LE(BigInt(start), 48)
      const locator = Buffer.alloc(20)
      locator.writeUInt32LE(0x07064b50, 0)
      locator.writeUInt32LE(0, 4)
      locator.writeBigUInt64LE(BigInt(start + cdSize), 8)
      locator.writeUInt32LE(1, 16)
      parts.push(rec, locator)
    }
    const text = Buffer.from(comment, "utf8").subarray(0, U16)
    const eocd = Buffer.alloc(22)
    eocd.writeUInt32LE(0x06054b50, 0)
    eocd.writeUInt16LE(0, 4)
    eocd.writeUInt16LE(0, 6)
    eocd.writeUInt16LE(Math.min(count, U16), 8)
    eocd.writeUInt16LE(Math.min(count, U16), 10)
    eocd.writeUInt32LE(Math.min(cdSize, U32), 12)
    eocd.writeUInt32LE(Math.min(start, U32), 16)
    eocd.writeUInt16LE(text.length, 20)
    parts.push(eocd, text)
    const out = Buffer.concat(parts)
    this.written += out.length
    return out
  }
}
