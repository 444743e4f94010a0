/**
 * The on-disk format of a Guts backup: a directory holding
 *
 *   manifest.json   what the backup is (below); written last, so a directory without it
 *                   is an interrupted backup and restore refuses it
 *   store.dump      every record of the RocksDB column families (objects, refs, meta —
 *                   the block store and chain position live in meta) as of one snapshot
 *   metadata.db     the SQLite database (repositories, collaboration, identity, CI)
 *   admin-token     the administrator token file, when the node has one (mode 0600)
 *   node.key        the node's key file, for a cluster member (mode 0600)
 *
 * store.dump is `GUTSDUMP1\n` followed by records `u8 column family index ‖ u32 BE key
 * length ‖ u32 BE value length ‖ key ‖ value` and ends with a record of index 0xff.
 * Every file's size and SHA-256 are in the manifest, so a restore checks them before it
 * writes anything.
 */
import { createHash } from "node:crypto"
import * as fs from "node:fs"
import * as path from "node:path"
import type { ColumnFamily } from "../Rocks.ts"
import { COLUMN_FAMILIES } from "../Rocks.ts"

export const BACKUP_FORMAT = "guts-backup-1"
export const MANIFEST_FILE = "manifest.json"
export const DUMP_FILE = "store.dump"
export const METADATA_FILE = "metadata.db"
export const ADMIN_TOKEN_FILE = "admin-token"
export const NODE_KEY_FILE = "node.key"
/** Where a restore leaves the manifest in the data directory (read by `admin verify`). */
export const RESTORED_MANIFEST = "backup-manifest.json"

const MAGIC = Buffer.from("GUTSDUMP1\n")
const END = 0xff

export interface BackupFile {
  readonly name: string
  readonly bytes: number
  readonly sha256: string
}

export interface BackupManifest {
  readonly format: typeof BACKUP_FORMAT
  readonly version: string
  readonly createdAt: string
  /** The applied height every part was taken at. */
  readonly height: number
  /** The state digest at that height (as `/health/state` reports it). */
  readonly digest: string
  /** The block store's chain position (it may trail `height` by one block). */
  readonly chainPosition: { readonly height: number; readonly digest: string } | null
  readonly records: Readonly<Record<ColumnFamily, number>>
  readonly files: ReadonlyArray<BackupFile>
}

/** Writes the dump of a snapshot; returns the record count per column family. */
export const writeDump = async (
  file: string,
  entries: (cf: ColumnFamily) => AsyncIterable<{ key: Buffer; value: Buffer }>,
): Promise<Record<ColumnFamily, number>> => {
  const out = fs.createWriteStream(file, { mode: 0o600 })
  const failed = new Promise<never>((_, reject) => out.once("error", reject))
  failed.catch(() => undefined)
  const put = async (chunk: Buffer) => {
    if (!out.write(chunk))
      await Promise.race([new Promise<void>((r) => out.once("drain", () => r())), failed])
  }
  const counts = { objects: 0, refs: 0, meta: 0 } as Record<ColumnFamily, number>
  try {
    await put(MAGIC)
    for (const [index, cf] of COLUMN_FAMILIES.entries()) {
      for await (const { key, value } of entries(cf)) {
        const head = Buffer.allocUnsafe(9)
        head[0] = index
        head.writeUInt32BE(key.length, 1)
        head.writeUInt32BE(value.length, 5)
        await put(Buffer.concat([head, key, value]))
        counts[cf]++
      }
    }
    await put(Buffer.from([END]))
    await Promise.race([new Promise<void>((r) => out.end(() => r())), failed])
    const fd = await fs.promises.open(file, "r")
    await fd.sync()
    await fd.close()
  } catch (e) {
    out.destroy()
    throw e
  }
  return counts
}

export class DumpError extends Error {}

/** Reads a dump's records in order; fails on a damaged or truncated file. */
export async function* readDump(
  file: string,
): AsyncGenerator<{ cf: ColumnFamily; key: Buffer; value: Buffer }> {
  let buf: Buffer = Buffer.alloc(0)
  let magicSeen = false
  let ended = false
  for await (const chunk of fs.createReadStream(file, { highWaterMark: 1 << 20 })) {
    buf = buf.length === 0 ? (chunk as Buffer) : Buffer.concat([buf, chunk as Buffer])
    if (!magicSeen) {
      if (buf.length < MAGIC.length) continue
      if (!buf.subarray(0, MAGIC.length).equals(MAGIC))
        throw new DumpError(`${file} is not a Guts store dump`)
      buf = buf.subarray(MAGIC.length)
      magicSeen = true
    }
    let pos = 0
    while (!ended && pos < buf.length) {
      if (buf[pos] === END) {
        ended = true
        pos++
        break
      }
      if (buf.length - pos < 9) break
      const cf = COLUMN_FAMILIES[buf[pos]!]
      if (cf === undefined)
        throw new DumpError(`${file}: unknown column family index ${buf[pos]} (damaged dump)`)
      const klen = buf.readUInt32BE(pos + 1)
      const vlen = buf.readUInt32BE(pos + 5)
      if (buf.length - pos < 9 + klen + vlen) break
      const key = Buffer.from(buf.subarray(pos + 9, pos + 9 + klen))
      const value = Buffer.from(buf.subarray(pos + 9 + klen, pos + 9 + klen + vlen))
      pos += 9 + klen + vlen
      yield { cf, key, value }
    }
    buf = buf.subarray(pos)
    if (ended && buf.length > 0) throw new DumpError(`${file}: bytes after the end record`)
  }
  if (!ended) throw new DumpError(`${file} is truncated (no end record)`)
}

export const sha256File = async (file: string): Promise<string> => {
  const hash = createHash("sha256")
  for await (const chunk of fs.createReadStream(file, { highWaterMark: 1 << 20 }))
    hash.update(chunk as Buffer)
  return hash.digest("hex")
}

export const describeFile = async (dir: string, name: string): Promise<BackupFile> => ({
  name,
  bytes: (await fs.promises.stat(path.join(dir, name))).size,
  sha256: await sha256File(path.join(dir, name)),
})

/** Problems with a backup's files (missing, wrong size, wrong checksum); empty when sound. */
export const checkFiles = async (dir: string, manifest: BackupManifest): Promise<string[]> => {
  const problems: string[] = []
  for (const f of manifest.files) {
    const file = path.join(dir, f.name)
    let size: number
    try {
      size = (await fs.promises.stat(file)).size
    } catch {
      problems.push(`${f.name}: missing`)
      continue
    }
    if (size !== f.bytes) {
      problems.push(`${f.name}: ${size} bytes, the manifest says ${f.bytes}`)
      continue
    }
    const actual = await sha256File(file)
    if (actual !== f.sha256)
      problems.push(`${f.name}: SHA-256 ${actual}, the manifest says ${f.sha256}`)
  }
  return problems
}

export const readManifest = (dir: string): BackupManifest => {
  const file = path.join(dir, MANIFEST_FILE)
  let text: string
  try {
    text = fs.readFileSync(file, "utf8")
  } catch {
    throw new DumpError(
      `${dir} is not a complete Guts backup: it has no ${MANIFEST_FILE} (an interrupted backup has none; take a new one)`,
    )
  }
  let m: BackupManifest
  try {
    m = JSON.parse(text) as BackupManifest
  } catch {
    throw new DumpError(`${file} is not JSON`)
  }
  if (m.format !== BACKUP_FORMAT)
    throw new DumpError(
      `${file}: format ${JSON.stringify(m.format)}, this Guts reads ${BACKUP_FORMAT}`,
    )
  return m
}
