/**
 * Git object encodings (gitformat-object): hashing, and parsing/serializing commits,
 * trees and annotated tags.
 *
 * Guarantees:
 * - `hashObject(type, content)` is the SHA-1 of `<type> <size>\0<content>`, git's object id.
 * - Parsing untrusted bytes never throws: malformed input is an ObjectParseError naming
 *   the object kind and what is wrong.
 * - Round trip: for every commit, tree and tag git writes, `serializeX(parseX(bytes))` is
 *   byte-identical to `bytes` — extra headers (gpgsig, mergetag, encoding, ...) are kept
 *   verbatim and in order, and text that is not valid UTF-8 (a commit written with
 *   `i18n.commitEncoding=ISO-8859-1`, a file name in a legacy encoding) is kept as bytes.
 *
 * Text fields are `Text`: a string when the bytes are valid UTF-8, else the bytes
 * themselves. `textString` gives a display string either way.
 */
import { createHash, hash } from "node:crypto"
import { Data } from "effect"
import type { ObjectId, ObjectType } from "./ObjectId.ts"

export class ObjectParseError extends Data.TaggedError("ObjectParseError")<{
  readonly kind: ObjectType
  readonly message: string
}> {}

/** A string when the bytes are valid UTF-8, else the raw bytes (kept for fidelity). */
export type Text = string | Uint8Array

// ignoreBOM keeps a leading BOM in the string, so the bytes round-trip.
const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true })

/** Decodes bytes as UTF-8 when that is lossless, else keeps them. */
export const textOf = (bytes: Uint8Array): Text => {
  // ASCII fast path: most git text is plain ASCII.
  let ascii = true
  for (let i = 0; i < bytes.length; i++)
    if (bytes[i]! >= 0x80) {
      ascii = false
      break
    }
  if (ascii) return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("latin1")
  try {
    return utf8.decode(bytes)
  } catch {
    return Buffer.from(bytes)
  }
}

export const textBytes = (t: Text): Buffer =>
  typeof t === "string" ? Buffer.from(t, "utf8") : Buffer.from(t)

/** A display string (invalid UTF-8 shows as U+FFFD). */
export const textString = (t: Text): string =>
  typeof t === "string" ? t : Buffer.from(t).toString("utf8")

// ---------------------------------------------------------------------------- hashing

export const objectHeader = (type: ObjectType, size: number): Buffer =>
  Buffer.from(`${type} ${size}\0`, "latin1")

/** Up to this size, header and content are hashed in one call from a reused buffer. */
const ONE_SHOT_LIMIT = 256 * 1024
let scratch = Buffer.allocUnsafe(4096)

/**
 * The object id: SHA-1 of `<type> <size>\0<content>`. Small objects (nearly all of a
 * pack) are copied behind their header into one reused buffer and hashed with a single
 * `crypto.hash` call: no Hash object and no header buffer per object (a push hashes every
 * object it receives, tens of thousands, and reads re-hash what they resolve).
 */
export const hashObject = (type: ObjectType, content: Uint8Array): ObjectId => {
  if (content.length > ONE_SHOT_LIMIT)
    return createHash("sha1")
      .update(objectHeader(type, content.length))
      .update(content)
      .digest("hex") as ObjectId
  const header = `${type} ${content.length}\0`
  const n = header.length + content.length
  if (scratch.length < n) scratch = Buffer.allocUnsafe(Math.max(n, scratch.length * 2))
  scratch.write(header, 0, "latin1")
  scratch.set(content, header.length)
  return hash("sha1", scratch.subarray(0, n), "hex") as ObjectId
}

/** The object id as 20 raw bytes. */
export const hashObjectBytes = (type: ObjectType, content: Uint8Array): Buffer =>
  createHash("sha1").update(objectHeader(type, content.length)).update(content).digest()

// ---------------------------------------------------------------------------- signatures

/** `Name <email> 1700000000 +0100` (author, committer, tagger). */
export interface Signature {
  readonly name: Text
  readonly email: Text
  /** Seconds since the epoch. */
  readonly timestamp: number
  /** As written, e.g. `+0100`, `-0530`. */
  readonly timezone: string
}

const parseSignature = (line: Buffer): Signature | string => {
  const lt = line.indexOf(0x3c) // <
  const gt = line.indexOf(0x3e, lt + 1) // >
  if (lt < 1 || line[lt - 1] !== 0x20 || gt < 0) return "signature without '<email>'"
  const rest = line.toString("latin1", gt + 1)
  const m = /^ (0|[1-9][0-9]*) ([+-][0-9]{4})$/.exec(rest)
  if (!m) return `signature with a malformed date '${rest.trim()}'`
  const timestamp = Number(m[1])
  if (!Number.isSafeInteger(timestamp)) return "signature timestamp out of range"
  return {
    name: textOf(line.subarray(0, lt - 1)),
    email: textOf(line.subarray(lt + 1, gt)),
    timestamp,
    timezone: m[2]!,
  }
}

export const serializeSignature = (s: Signature): Buffer =>
  Buffer.concat([
    textBytes(s.name),
    Buffer.from(" <"),
    textBytes(s.email),
    Buffer.from(`> ${s.timestamp} ${s.timezone}`, "latin1"),
  ])

// ---------------------------------------------------------------------------- headers

/** A header line (and its continuation lines, joined by `\n`), as in `gpgsig` or `mergetag`. */
export interface Header {
  readonly name: string
  readonly value: Text
}

interface RawHeader {
  readonly name: string
  readonly value: Buffer
}

/**
 * Splits `name value\n( continuation\n)*` headers up to the blank line. Returns the
 * headers and where the message starts, or a problem.
 */
const splitHeaders = (buf: Buffer): { headers: RawHeader[]; body: number } | string => {
  const headers: RawHeader[] = []
  let pos = 0
  for (;;) {
    if (pos >= buf.length) return "no blank line between headers and message"
    if (buf[pos] === 0x0a) return { headers, body: pos + 1 }
    if (buf[pos] === 0x20) return "continuation line without a header"
    const nl = buf.indexOf(0x0a, pos)
    if (nl < 0) return "header line without a newline"
    const sp = buf.indexOf(0x20, pos)
    if (sp < 0 || sp > nl) return `header without a value '${buf.toString("latin1", pos, nl)}'`
    const name = buf.toString("latin1", pos, sp)
    let end = nl
    // Continuation lines begin with one space; the value keeps their newlines.
    while (end + 1 < buf.length && buf[end + 1] === 0x20) {
      const next = buf.indexOf(0x0a, end + 1)
      if (next < 0) return "continuation line without a newline"
      end = next
    }
    const raw = buf.subarray(sp + 1, end)
    headers.push({ name, value: unfold(raw) })
    pos = end + 1
  }
}

/** Removes the space that starts each continuation line. */
const unfold = (raw: Buffer): Buffer => {
  if (raw.indexOf(0x0a) < 0) return raw
  const out = Buffer.allocUnsafe(raw.length)
  let o = 0
  for (let i = 0; i < raw.length; i++) {
    out[o++] = raw[i]!
    if (raw[i] === 0x0a) i++ // skip the continuation space
  }
  return out.subarray(0, o)
}

const fold = (value: Buffer): Buffer => {
  if (value.indexOf(0x0a) < 0) return value
  const parts: Buffer[] = []
  let start = 0
  for (let nl = value.indexOf(0x0a); nl >= 0; nl = value.indexOf(0x0a, start)) {
    parts.push(value.subarray(start, nl + 1), Buffer.from(" "))
    start = nl + 1
  }
  parts.push(value.subarray(start))
  return Buffer.concat(parts)
}

const headerLine = (name: string, value: Text | Buffer): Buffer[] => [
  Buffer.from(`${name} `, "latin1"),
  fold(typeof value === "string" ? Buffer.from(value, "utf8") : Buffer.from(value)),
  Buffer.from("\n"),
]

const ID_RE = /^[0-9a-f]{40}$/

const asBuffer = (b: Uint8Array): Buffer =>
  Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength)

// ---------------------------------------------------------------------------- commits

export interface Commit {
  readonly tree: ObjectId
  readonly parents: ReadonlyArray<ObjectId>
  readonly author: Signature
  readonly committer: Signature
  /** Headers after `committer`, in order: `encoding`, `mergetag`, `gpgsig`, ... */
  readonly headers: ReadonlyArray<Header>
  readonly message: Text
}

export const parseCommit = (content: Uint8Array): Commit | ObjectParseError => {
  const fail = (message: string) => new ObjectParseError({ kind: "commit", message })
  const buf = asBuffer(content)
  const split = splitHeaders(buf)
  if (typeof split === "string") return fail(split)
  const { headers } = split
  let i = 0
  const value = (h: RawHeader) => h.value.toString("latin1")
  if (headers[i]?.name !== "tree") return fail("first header is not 'tree'")
  const tree = value(headers[i++]!)
  if (!ID_RE.test(tree)) return fail(`malformed tree id '${tree.slice(0, 60)}'`)
  const parents: ObjectId[] = []
  while (headers[i]?.name === "parent") {
    const p = value(headers[i++]!)
    if (!ID_RE.test(p)) return fail(`malformed parent id '${p.slice(0, 60)}'`)
    parents.push(p as ObjectId)
  }
  if (headers[i]?.name !== "author") return fail("missing 'author' after tree and parents")
  const author = parseSignature(headers[i++]!.value)
  if (typeof author === "string") return fail(`author: ${author}`)
  if (headers[i]?.name !== "committer") return fail("missing 'committer' after 'author'")
  const committer = parseSignature(headers[i++]!.value)
  if (typeof committer === "string") return fail(`committer: ${committer}`)
  const extra: Header[] = []
  for (; i < headers.length; i++) {
    const h = headers[i]!
    if (h.name === "tree" || h.name === "parent" || h.name === "author" || h.name === "committer")
      return fail(`'${h.name}' header out of place`)
    extra.push({ name: h.name, value: textOf(h.value) })
  }
  return {
    tree: tree as ObjectId,
    parents,
    author,
    committer,
    headers: extra,
    message: textOf(buf.subarray(split.body)),
  }
}

export const serializeCommit = (c: Commit): Buffer => {
  const parts: Buffer[] = [Buffer.from(`tree ${c.tree}\n`, "latin1")]
  for (const p of c.parents) parts.push(Buffer.from(`parent ${p}\n`, "latin1"))
  parts.push(...headerLine("author", serializeSignature(c.author)))
  parts.push(...headerLine("committer", serializeSignature(c.committer)))
  for (const h of c.headers) parts.push(...headerLine(h.name, h.value))
  parts.push(Buffer.from("\n"), textBytes(c.message))
  return Buffer.concat(parts)
}

/**
 * Just the links of a commit (tree, parents) and its committer time, read leniently from
 * the headers: what a reachability walk needs, tolerant of malformed signatures.
 */
export const commitLinks = (
  content: Uint8Array,
): { tree: ObjectId; parents: ObjectId[]; time: number } | ObjectParseError => {
  const buf = asBuffer(content)
  let pos = 0
  let tree: ObjectId | undefined
  const parents: ObjectId[] = []
  let time = 0
  while (pos < buf.length) {
    const nl = buf.indexOf(0x0a, pos)
    const end = nl < 0 ? buf.length : nl
    if (end === pos) break
    if (buf[pos] === 0x74 && buf.toString("latin1", pos, pos + 5) === "tree ") {
      tree = buf.toString("latin1", pos + 5, end) as ObjectId
    } else if (buf[pos] === 0x70 && buf.toString("latin1", pos, pos + 7) === "parent ") {
      parents.push(buf.toString("latin1", pos + 7, end) as ObjectId)
    } else if (buf[pos] === 0x63 && buf.toString("latin1", pos, pos + 10) === "committer ") {
      const m = /> (\d+) [+-]\d+$/.exec(buf.toString("latin1", pos, end))
      if (m) time = Number(m[1])
    }
    pos = end + 1
  }
  if (tree === undefined || !ID_RE.test(tree))
    return new ObjectParseError({ kind: "commit", message: "missing or malformed tree id" })
  for (const p of parents)
    if (!ID_RE.test(p))
      return new ObjectParseError({ kind: "commit", message: `malformed parent id '${p}'` })
  return { tree, parents, time }
}

// ---------------------------------------------------------------------------- trees

export interface TreeEntry {
  /** Octal mode as written: `100644`, `100755`, `120000`, `40000`, `160000`. */
  readonly mode: string
  readonly name: Text
  readonly id: ObjectId
}

export type EntryKind = "blob" | "tree" | "symlink" | "gitlink"

/** What an entry's mode says it is (blobs include executables; unknown modes are blobs). */
export const entryKind = (mode: string): EntryKind => {
  if (mode === "40000" || mode === "040000") return "tree"
  if (mode === "160000") return "gitlink"
  if (mode === "120000") return "symlink"
  return "blob"
}

export const parseTree = (content: Uint8Array): TreeEntry[] | ObjectParseError => {
  const fail = (message: string) => new ObjectParseError({ kind: "tree", message })
  const buf = asBuffer(content)
  const entries: TreeEntry[] = []
  let pos = 0
  while (pos < buf.length) {
    const sp = buf.indexOf(0x20, pos)
    if (sp < 0) return fail(`entry at byte ${pos} has no mode`)
    const mode = buf.toString("latin1", pos, sp)
    if (!/^[0-7]{1,7}$/.test(mode)) return fail(`entry at byte ${pos} has a malformed mode`)
    const nul = buf.indexOf(0, sp + 1)
    if (nul < 0) return fail(`entry at byte ${pos} has an unterminated name`)
    if (nul === sp + 1) return fail(`entry at byte ${pos} has an empty name`)
    if (nul + 21 > buf.length) return fail(`entry at byte ${pos} is truncated`)
    entries.push({
      mode,
      name: textOf(buf.subarray(sp + 1, nul)),
      id: buf.toString("hex", nul + 1, nul + 21) as ObjectId,
    })
    pos = nul + 21
  }
  return entries
}

export const serializeTree = (entries: ReadonlyArray<TreeEntry>): Buffer => {
  const parts: Buffer[] = []
  for (const e of entries) {
    parts.push(Buffer.from(`${e.mode} `, "latin1"), textBytes(e.name), Buffer.from([0]))
    parts.push(Buffer.from(e.id, "hex"))
  }
  return Buffer.concat(parts)
}

/**
 * Git's tree order: byte-wise by name, where a tree's name compares as if it ended in
 * `/` (so `foo.c` sorts before the directory `foo`, and `foo` before `foo0`).
 */
export const compareTreeEntries = (a: TreeEntry, b: TreeEntry): number => {
  const an = textBytes(a.name)
  const bn = textBytes(b.name)
  const n = Math.min(an.length, bn.length)
  for (let i = 0; i < n; i++) if (an[i] !== bn[i]) return an[i]! - bn[i]!
  const ac = an.length > n ? an[n]! : entryKind(a.mode) === "tree" ? 0x2f : 0
  const bc = bn.length > n ? bn[n]! : entryKind(b.mode) === "tree" ? 0x2f : 0
  return ac - bc
}

/** Entries in canonical order (for building trees). */
export const sortTreeEntries = (entries: ReadonlyArray<TreeEntry>): TreeEntry[] =>
  [...entries].sort(compareTreeEntries)

/**
 * Why a tree is not canonical (git fsck's rules that matter for interoperability), or
 * undefined: entries sorted, no duplicate names, no `.`/`..`/`.git` or `/` in names.
 */
export const treeProblem = (entries: ReadonlyArray<TreeEntry>): string | undefined => {
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i]!
    const name = textBytes(e.name)
    if (name.indexOf(0x2f) >= 0) return `entry name '${textString(e.name)}' contains '/'`
    const s = name.toString("latin1")
    if (s === "." || s === ".." || s.toLowerCase() === ".git")
      return `entry name '${s}' is not allowed`
    if (i > 0) {
      const prev = entries[i - 1]!
      const c = compareTreeEntries(prev, e)
      if (c > 0) return `entries '${textString(prev.name)}' and '${s}' are not sorted`
      if (textBytes(prev.name).equals(name)) return `duplicate entry '${s}'`
    }
  }
  return undefined
}

// ---------------------------------------------------------------------------- tags

export interface Tag {
  readonly object: ObjectId
  readonly type: ObjectType
  readonly tag: Text
  /** Absent in some very old tags. */
  readonly tagger: Signature | undefined
  /** Headers after `tagger` (or `tag`), in order. */
  readonly headers: ReadonlyArray<Header>
  /** The message, including an inline PGP signature if there is one. */
  readonly message: Text
}

const OBJECT_TYPES = new Set(["commit", "tree", "blob", "tag"])

export const parseTag = (content: Uint8Array): Tag | ObjectParseError => {
  const fail = (message: string) => new ObjectParseError({ kind: "tag", message })
  const buf = asBuffer(content)
  const split = splitHeaders(buf)
  if (typeof split === "string") return fail(split)
  const { headers } = split
  let i = 0
  if (headers[i]?.name !== "object") return fail("first header is not 'object'")
  const object = headers[i++]!.value.toString("latin1")
  if (!ID_RE.test(object)) return fail(`malformed object id '${object.slice(0, 60)}'`)
  if (headers[i]?.name !== "type") return fail("missing 'type' after 'object'")
  const type = headers[i++]!.value.toString("latin1")
  if (!OBJECT_TYPES.has(type)) return fail(`unknown target type '${type.slice(0, 20)}'`)
  if (headers[i]?.name !== "tag") return fail("missing 'tag' after 'type'")
  const tag = textOf(headers[i++]!.value)
  let tagger: Signature | undefined
  if (headers[i]?.name === "tagger") {
    const s = parseSignature(headers[i++]!.value)
    if (typeof s === "string") return fail(`tagger: ${s}`)
    tagger = s
  }
  const extra: Header[] = []
  for (; i < headers.length; i++) {
    const h = headers[i]!
    if (h.name === "object" || h.name === "type" || h.name === "tag" || h.name === "tagger")
      return fail(`'${h.name}' header out of place`)
    extra.push({ name: h.name, value: textOf(h.value) })
  }
  return {
    object: object as ObjectId,
    type: type as ObjectType,
    tag,
    tagger,
    headers: extra,
    message: textOf(buf.subarray(split.body)),
  }
}

export const serializeTag = (t: Tag): Buffer => {
  const parts: Buffer[] = [Buffer.from(`object ${t.object}\ntype ${t.type}\n`, "latin1")]
  parts.push(...headerLine("tag", t.tag))
  if (t.tagger) parts.push(...headerLine("tagger", serializeSignature(t.tagger)))
  for (const h of t.headers) parts.push(...headerLine(h.name, h.value))
  parts.push(Buffer.from("\n"), textBytes(t.message))
  return Buffer.concat(parts)
}

/** The object a tag points at, read leniently (for peeling). */
export const tagTarget = (
  content: Uint8Array,
): { object: ObjectId; type: ObjectType } | ObjectParseError => {
  const buf = asBuffer(content)
  const head = buf.toString("latin1", 0, Math.min(buf.length, 128))
  const m = /^object ([0-9a-f]{40})\ntype (commit|tree|blob|tag)\n/.exec(head)
  if (!m) return new ObjectParseError({ kind: "tag", message: "missing object/type headers" })
  return { object: m[1] as ObjectId, type: m[2] as ObjectType }
}
