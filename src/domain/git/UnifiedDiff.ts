/**
 * Diffs of trees and commits as a forge shows them: GitHub's per-file list (status,
 * additions, deletions, changes, patch), `git diff` text (`.diff`) and `git format-patch`
 * mail text (`.patch`).
 *
 * Guarantees:
 * - `diffTrees` lists every path whose content or mode differs, in git's order (tree order,
 *   so `a.c` before `a/b`), without following submodules and without rename detection. A
 *   change of kind (file ↔ symlink ↔ submodule) is a removal then an addition, as git
 *   shows it. Unchanged subtrees are skipped by id, without being read.
 * - additions/deletions are those of `git diff --numstat` (0 and 0 for binary files, where
 *   git prints `-`) as long as the line diff is exact (see Diff.ts).
 * - `gitDiff` text is what `git diff` prints (headers, `index` lines with abbreviated ids,
 *   modes, `/dev/null`, C-quoted unusual paths, 3 lines of context, hunk headers with git's
 *   default function-name heading, `\ No newline at end of file`); `git apply` applies it.
 *   Binary files show git's "Binary files … differ" note, or, with `binary: true` (as
 *   format-patch does), a `GIT binary patch` that `git apply` can apply.
 * - `formatPatch` is `git format-patch --stdout` for a series of commits: one mail per
 *   non-merge commit (numbered `[PATCH n/m]`), RFC 2047 headers for non-ASCII text,
 *   diffstat and summary, binary patches; `git am` recreates the commits.
 * - Pure and deterministic: the same objects always give the same bytes.
 */
import { deflateSync } from "node:zlib"
import { Effect } from "effect"
import { isBinary, splitLines, diffLines as lineDiff, type LineChange } from "./Diff.ts"
import {
  type Commit,
  compareTreeEntries,
  entryKind,
  type Signature,
  type TreeEntry,
  textBytes,
  textString,
} from "./GitObject.ts"
import {
  type ObjectLoader,
  type ObjectReadError,
  readBlob,
  readCommit,
  readTree,
} from "./MergeBase.ts"
import { type ObjectId, ZERO_ID } from "./ObjectId.ts"

/** GitHub's file statuses: `changed` is a mode change with the same content. */
export type FileStatus = "added" | "removed" | "modified" | "changed"

export interface FileDiff {
  /** The path, slash-separated (names that are not UTF-8 shown with U+FFFD). */
  readonly filename: string
  /** The path's bytes, as in the trees. */
  readonly path: Buffer
  readonly status: FileStatus
  /** Six-digit modes (`100644`, `100755`, `120000`, `160000`); undefined on the absent side. */
  readonly oldMode: string | undefined
  readonly newMode: string | undefined
  readonly oldId: ObjectId | undefined
  readonly newId: ObjectId | undefined
  readonly binary: boolean
  readonly oldSize: number
  readonly newSize: number
  readonly additions: number
  readonly deletions: number
  /** additions + deletions */
  readonly changes: number
  /** The hunks as text (GitHub's `patch`); undefined for binary files and mode changes. */
  readonly patch: string | undefined
  /** The hunks as bytes (the files need not be UTF-8). */
  readonly hunks: Buffer
  /** A `GIT binary patch` block, when asked for and the file is binary. */
  readonly binaryPatch: Buffer | undefined
}

export interface DiffOptions {
  /** Lines of context around changes. Default 3. */
  readonly context?: number
  /** Produce `GIT binary patch` blocks for binary files (format-patch does). */
  readonly binary?: boolean
}

export interface GitDiffOptions {
  /** Hex digits of object ids on `index` lines. Default 7. */
  readonly abbrev?: number
}

const LF = Buffer.from("\n")

// ---------------------------------------------------------------------------- tree diff

/** One side's version of a file. */
export interface Side {
  readonly mode: string
  readonly id: ObjectId
}

const mode6 = (mode: string) => mode.padStart(6, "0")

const isDirEntry = (e: TreeEntry) => entryKind(e.mode) === "tree"

/** Files whose content or mode differ between two trees (undefined: the empty tree). */
export const diffTrees = <E>(
  load: ObjectLoader<E>,
  oldTree: ObjectId | undefined,
  newTree: ObjectId | undefined,
  options: DiffOptions = {},
): Effect.Effect<FileDiff[], E | ObjectReadError> =>
  Effect.gen(function* () {
    const out: FileDiff[] = []
    const contentOf = (side: Side | undefined) => {
      if (side === undefined) return Effect.succeed<Uint8Array>(Buffer.alloc(0))
      // A submodule's "content" is the commit it points at, as git shows it.
      if (entryKind(side.mode) === "gitlink")
        return Effect.succeed<Uint8Array>(Buffer.from(`Subproject commit ${side.id}\n`))
      return readBlob(load, side.id)
    }
    const file = (path: Buffer, a: Side | undefined, b: Side | undefined) =>
      Effect.gen(function* () {
        const [oldContent, newContent] =
          a !== undefined && b !== undefined && a.id === b.id
            ? [Buffer.alloc(0), Buffer.alloc(0)]
            : [yield* contentOf(a), yield* contentOf(b)]
        out.push(diffFile(path, a, b, oldContent, newContent, options))
      })
    const walk = (
      prefix: Buffer,
      a: ObjectId | undefined,
      b: ObjectId | undefined,
    ): Effect.Effect<void, E | ObjectReadError> =>
      Effect.gen(function* () {
        if (a === b) return
        const left = a === undefined ? [] : yield* readTree(load, a)
        const right = b === undefined ? [] : yield* readTree(load, b)
        let i = 0
        let j = 0
        while (i < left.length || j < right.length) {
          const l = left[i]
          const r = right[j]
          const order = l === undefined ? 1 : r === undefined ? -1 : compareTreeEntries(l, r)
          const entry = (order <= 0 ? l : r)!
          const path = Buffer.concat([prefix, textBytes(entry.name)])
          const sub = Buffer.concat([path, Buffer.from("/")])
          if (order < 0) {
            i++
            if (isDirEntry(l!)) yield* walk(sub, l!.id, undefined)
            else yield* file(path, l, undefined)
          } else if (order > 0) {
            j++
            if (isDirEntry(r!)) yield* walk(sub, undefined, r!.id)
            else yield* file(path, undefined, r)
          } else {
            i++
            j++
            if (isDirEntry(l!)) yield* walk(sub, l!.id, r!.id)
            else if (l!.id === r!.id && l!.mode === r!.mode) continue
            else if (entryKind(l!.mode) !== entryKind(r!.mode)) {
              // A change of kind is shown as a removal and an addition, as git does.
              yield* file(path, l, undefined)
              yield* file(path, undefined, r)
            } else yield* file(path, l, r)
          }
        }
      })
    yield* walk(Buffer.alloc(0), oldTree, newTree)
    return out
  })

/** Files changed from commit `from` to commit `to` (a pull request: from its merge base). */
export const diffCommits = <E>(
  load: ObjectLoader<E>,
  from: ObjectId,
  to: ObjectId,
  options: DiffOptions = {},
): Effect.Effect<FileDiff[], E | ObjectReadError> =>
  Effect.gen(function* () {
    const a = yield* readCommit(load, from)
    const b = yield* readCommit(load, to)
    return yield* diffTrees(load, a.tree, b.tree, options)
  })

/** One file's diff from its two versions (either may be absent). */
export const diffFile = (
  path: Uint8Array,
  a: Side | undefined,
  b: Side | undefined,
  oldContent: Uint8Array,
  newContent: Uint8Array,
  options: DiffOptions = {},
): FileDiff => {
  const pathBuf = Buffer.from(path)
  const status: FileStatus =
    a === undefined ? "added" : b === undefined ? "removed" : a.id === b.id ? "changed" : "modified"
  const binary = status !== "changed" && (isBinary(oldContent) || isBinary(newContent))
  let additions = 0
  let deletions = 0
  let hunks: Buffer = Buffer.alloc(0)
  if (!binary && status !== "changed") {
    const oldLines = splitLines(oldContent)
    const newLines = splitLines(newContent)
    const changes = lineDiff(oldLines, newLines)
    for (const c of changes) {
      additions += c.newCount
      deletions += c.oldCount
    }
    hunks = renderHunks(oldLines, newLines, changes, options.context ?? 3)
  }
  return {
    filename: textString(pathBuf),
    path: pathBuf,
    status,
    oldMode: a && mode6(a.mode),
    newMode: b && mode6(b.mode),
    oldId: a?.id,
    newId: b?.id,
    binary,
    oldSize: oldContent.length,
    newSize: newContent.length,
    additions,
    deletions,
    changes: additions + deletions,
    patch: binary || status === "changed" ? undefined : hunks.toString("utf8"),
    hunks,
    binaryPatch: binary && options.binary ? binaryPatch(oldContent, newContent) : undefined,
  }
}

// ---------------------------------------------------------------------------- hunks

/** Git's default hunk heading: the nearest line above starting with a letter, `_` or `$`. */
const headingOf = (line: Buffer): Buffer | undefined => {
  const c = line[0]
  if (c === undefined) return undefined
  const alpha = (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a)
  if (!alpha && c !== 0x5f && c !== 0x24) return undefined
  let end = Math.min(line.length, 80)
  while (end > 0 && (line[end - 1] === 0x20 || (line[end - 1]! >= 0x09 && line[end - 1]! <= 0x0d)))
    end--
  return line.subarray(0, end)
}

const renderHunks = (
  oldLines: ReadonlyArray<Buffer>,
  newLines: ReadonlyArray<Buffer>,
  changes: ReadonlyArray<LineChange>,
  context: number,
): Buffer => {
  const parts: Buffer[] = []
  const emit = (sign: string, line: Buffer) => {
    parts.push(Buffer.from(sign), line)
    if (line[line.length - 1] !== 0x0a)
      parts.push(LF, Buffer.from("\\ No newline at end of file\n"))
  }
  let heading: Buffer | undefined
  let searchedDownTo = -1
  for (let first = 0; first < changes.length; ) {
    // Changes at most 2 × context lines apart share a hunk.
    let last = first
    while (
      last + 1 < changes.length &&
      changes[last + 1]!.oldStart - (changes[last]!.oldStart + changes[last]!.oldCount) <=
        2 * context
    )
      last++
    const a = changes[first]!
    const z = changes[last]!
    const s1 = Math.max(a.oldStart - context, 0)
    const s2 = Math.max(a.newStart - context, 0)
    const tail = Math.min(
      context,
      oldLines.length - (z.oldStart + z.oldCount),
      newLines.length - (z.newStart + z.newCount),
    )
    const e1 = z.oldStart + z.oldCount + tail
    const e2 = z.newStart + z.newCount + tail
    // The heading search resumes where the previous hunk's stopped, keeping its find.
    for (let l = s1 - 1; l > searchedDownTo; l--) {
      const h = headingOf(oldLines[l]!)
      if (h !== undefined) {
        heading = h
        break
      }
    }
    searchedDownTo = s1 - 1
    const count = (start: number, n: number) =>
      n === 1 ? `${start + 1}` : `${n === 0 ? start : start + 1},${n}`
    parts.push(Buffer.from(`@@ -${count(s1, e1 - s1)} +${count(s2, e2 - s2)} @@`))
    if (heading !== undefined && heading.length > 0) parts.push(Buffer.from(" "), heading)
    parts.push(LF)
    let i = s1
    for (let k = first; k <= last; k++) {
      const c = changes[k]!
      for (; i < c.oldStart; i++) emit(" ", oldLines[i]!)
      for (let d = 0; d < c.oldCount; d++) emit("-", oldLines[c.oldStart + d]!)
      for (let n = 0; n < c.newCount; n++) emit("+", newLines[c.newStart + n]!)
      i = c.oldStart + c.oldCount
    }
    for (; i < e1; i++) emit(" ", oldLines[i]!)
    first = last + 1
  }
  return Buffer.concat(parts)
}

// ---------------------------------------------------------------------------- binary patches

const BASE85 =
  "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz!#$%&()*+-;<=>?@^_`{|}~"

/**
 * `literal <size>` then the bytes deflated (at git's level for patches, 1) in base85 lines
 * of up to 52 bytes.
 */
const literalBlock = (content: Uint8Array): string => {
  const deflated = deflateSync(content, { level: 1 })
  let out = `literal ${content.length}\n`
  for (let pos = 0; pos < deflated.length; pos += 52) {
    const chunk = deflated.subarray(pos, Math.min(pos + 52, deflated.length))
    const n = chunk.length
    out += n <= 26 ? String.fromCharCode(0x41 + n - 1) : String.fromCharCode(0x61 + n - 27)
    for (let g = 0; g < n; g += 4) {
      let v = 0
      for (let k = 0; k < 4; k++) v = v * 256 + (chunk[g + k] ?? 0)
      let group = ""
      for (let k = 0; k < 5; k++) {
        group = BASE85[v % 85] + group
        v = Math.floor(v / 85)
      }
      out += group
    }
    out += "\n"
  }
  return `${out}\n`
}

/** A `GIT binary patch`: the new content, then the old one (for applying in reverse). */
const binaryPatch = (oldContent: Uint8Array, newContent: Uint8Array): Buffer =>
  Buffer.from(`GIT binary patch\n${literalBlock(newContent)}${literalBlock(oldContent)}`, "latin1")

// ---------------------------------------------------------------------------- git diff text

const QUOTE_ESCAPES: Record<number, string> = {
  7: "\\a",
  8: "\\b",
  9: "\\t",
  10: "\\n",
  11: "\\v",
  12: "\\f",
  13: "\\r",
  34: '\\"',
  92: "\\\\",
}

/** `prefix + path`, C-quoted as git does when the path has unusual bytes (core.quotePath). */
export const quotePath = (path: Uint8Array, prefix = ""): string => {
  let needs = false
  for (const c of path) if (c < 0x20 || c === 0x22 || c === 0x5c || c >= 0x7f) needs = true
  if (!needs) return prefix + Buffer.from(path).toString("latin1")
  let out = `"${prefix}`
  for (const c of path) {
    const esc = QUOTE_ESCAPES[c]
    if (esc !== undefined) out += esc
    else if (c < 0x20 || c >= 0x7f) out += `\\${c.toString(8).padStart(3, "0")}`
    else out += String.fromCharCode(c)
  }
  return `${out}"`
}

const abbreviate = (id: ObjectId | undefined, n: number) => (id ?? ZERO_ID).slice(0, n)

/** One file's section of `git diff` output. */
export const fileDiffText = (f: FileDiff, options: GitDiffOptions = {}): Buffer => {
  const abbrev = options.abbrev ?? 7
  const a = quotePath(f.path, "a/")
  const b = quotePath(f.path, "b/")
  const tab = f.path.includes(0x20) ? "\t" : ""
  let head = `diff --git ${a} ${b}\n`
  const width = f.binaryPatch ? 40 : abbrev
  const index = `index ${abbreviate(f.oldId, width)}..${abbreviate(f.newId, width)}`
  if (f.status === "added") head += `new file mode ${f.newMode}\n${index}\n`
  else if (f.status === "removed") head += `deleted file mode ${f.oldMode}\n${index}\n`
  else {
    if (f.oldMode !== f.newMode) head += `old mode ${f.oldMode}\nnew mode ${f.newMode}\n`
    if (f.status === "modified")
      head += f.oldMode === f.newMode ? `${index} ${f.newMode}\n` : `${index}\n`
  }
  const from = f.status === "added" ? "/dev/null" : a
  const to = f.status === "removed" ? "/dev/null" : b
  if (f.binary) {
    if (f.binaryPatch) return Buffer.concat([Buffer.from(head, "latin1"), f.binaryPatch])
    return Buffer.from(`${head}Binary files ${from} and ${to} differ\n`, "latin1")
  }
  if (f.hunks.length === 0) return Buffer.from(head, "latin1")
  // A path with a space gets a tab after it, so patch tools see where the name ends.
  const fromTab = f.status === "added" ? "" : tab
  const toTab = f.status === "removed" ? "" : tab
  return Buffer.concat([
    Buffer.from(`${head}--- ${from}${fromTab}\n+++ ${to}${toTab}\n`, "latin1"),
    f.hunks,
  ])
}

/** `git diff` output for a list of files (GitHub's `application/vnd.github.diff`). */
export const gitDiff = (files: ReadonlyArray<FileDiff>, options: GitDiffOptions = {}): Buffer =>
  Buffer.concat(files.map((f) => fileDiffText(f, options)))

// ---------------------------------------------------------------------------- diffstat

const plural = (n: number, one: string, many: string) => `${n} ${n === 1 ? one : many}`

/**
 * `git diff --stat` lines and the totals line (`width` columns, 72 as format-patch uses),
 * then, with `summary`, the `create mode` / `delete mode` / `mode change` lines.
 */
export const diffStat = (
  files: ReadonlyArray<FileDiff>,
  options: { readonly width?: number; readonly summary?: boolean } = {},
): string => {
  if (files.length === 0) return " 0 files changed\n"
  const names = files.map((f) => quotePath(f.path))
  const binText = (f: FileDiff) => `Bin ${f.oldSize} -> ${f.newSize} bytes`
  let maxLen = 0
  let maxChange = 0
  let binWidth = 0
  for (let k = 0; k < files.length; k++) {
    const f = files[k]!
    maxLen = Math.max(maxLen, names[k]!.length)
    if (f.binary) binWidth = Math.max(binWidth, binText(f).length)
    else maxChange = Math.max(maxChange, f.changes)
  }
  const numberWidth = Math.max(String(maxChange).length, binWidth > 0 ? 3 : 0)
  let width = options.width ?? 72
  if (width < 16 + 6 + numberWidth) width = 16 + 6 + numberWidth
  let graphWidth = maxChange + 4 > binWidth ? maxChange : binWidth - 4
  let nameWidth = maxLen
  if (nameWidth + numberWidth + 6 + graphWidth > width) {
    if (graphWidth > Math.floor((width * 3) / 8) - numberWidth - 6)
      graphWidth = Math.max(Math.floor((width * 3) / 8) - numberWidth - 6, 6)
    if (nameWidth > width - numberWidth - 6 - graphWidth)
      nameWidth = width - numberWidth - 6 - graphWidth
    else graphWidth = width - numberWidth - 6 - nameWidth
  }
  const scale = (n: number) => (n === 0 ? 0 : 1 + Math.floor((n * (graphWidth - 1)) / maxChange))
  let out = ""
  let insertions = 0
  let deletions = 0
  for (let k = 0; k < files.length; k++) {
    const f = files[k]!
    let name = names[k]!
    if (name.length > nameWidth) {
      // Long names keep their end, as git shows them: "...path/to/file".
      const keep = Math.max(nameWidth - 3, 0)
      let cut = name.slice(name.length - keep)
      const slash = cut.indexOf("/")
      if (slash >= 0) cut = cut.slice(slash)
      name = `...${cut}`
    }
    out += ` ${name.padEnd(nameWidth)} |`
    if (f.binary) {
      out += ` ${"Bin".padStart(numberWidth)}`
      out += f.oldSize === 0 && f.newSize === 0 ? "\n" : ` ${f.oldSize} -> ${f.newSize} bytes\n`
      continue
    }
    insertions += f.additions
    deletions += f.deletions
    let add = f.additions
    let del = f.deletions
    if (graphWidth <= maxChange) {
      let total = scale(add + del)
      if (total < 2 && add > 0 && del > 0) total = 2
      if (add < del) {
        add = scale(add)
        del = total - add
      } else {
        del = scale(del)
        add = total - del
      }
    }
    out += ` ${String(f.changes).padStart(numberWidth)}${f.changes > 0 ? " " : ""}`
    out += `${"+".repeat(add)}${"-".repeat(del)}\n`
  }
  out += ` ${plural(files.length, "file changed", "files changed")}`
  if (insertions > 0 || deletions === 0)
    out += `, ${plural(insertions, "insertion(+)", "insertions(+)")}`
  if (deletions > 0 || insertions === 0)
    out += `, ${plural(deletions, "deletion(-)", "deletions(-)")}`
  out += "\n"
  if (options.summary)
    for (let k = 0; k < files.length; k++) {
      const f = files[k]!
      if (f.status === "added") out += ` create mode ${f.newMode} ${names[k]}\n`
      else if (f.status === "removed") out += ` delete mode ${f.oldMode} ${names[k]}\n`
      else if (f.oldMode !== f.newMode)
        out += ` mode change ${f.oldMode} => ${f.newMode} ${names[k]}\n`
    }
  return out
}

// ---------------------------------------------------------------------------- format-patch

export interface FormatPatchOptions extends DiffOptions, GitDiffOptions {
  /** The line after `-- ` that ends each mail (git prints its version). Default "guts". */
  readonly signature?: string
}

const DAYS = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

/** RFC 2822 date in the signature's own time zone, e.g. `Thu, 1 Jan 2026 00:00:00 +0100`. */
export const rfc2822Date = (s: Signature): string => {
  const m = /^([+-])(\d\d)(\d\d)$/.exec(s.timezone)
  const offset = m ? (m[1] === "-" ? -1 : 1) * (Number(m[2]) * 3600 + Number(m[3]) * 60) : 0
  const d = new Date((s.timestamp + offset) * 1000)
  const pad = (n: number) => String(n).padStart(2, "0")
  const time = `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}`
  return `${DAYS[d.getUTCDay()]}, ${d.getUTCDate()} ${MONTHS[d.getUTCMonth()]} ${d.getUTCFullYear()} ${time} ${m ? s.timezone : "+0000"}`
}

const hasNonAscii = (b: Uint8Array) => b.some((c) => c >= 0x80)

const needsEncoding = (b: Buffer) => hasNonAscii(b) || b.includes("\n") || b.includes("=?")

/** RFC 2047 Q-encoding, folded to 76 columns, never splitting a UTF-8 character. */
const rfc2047 = (text: Buffer, column: number, address: boolean): string => {
  const special = (c: number) => {
    if (c >= 0x80 || c < 0x21 || c === 0x7f) return true
    if (c === 0x3d || c === 0x3f || c === 0x5f) return true
    if (!address) return false
    const alnum = (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a)
    return !(alnum || c === 0x21 || c === 0x2a || c === 0x2b || c === 0x2d || c === 0x2f)
  }
  let out = "=?UTF-8?q?"
  let width = column + 10
  for (let i = 0; i < text.length; ) {
    const c = text[i]!
    let len = c < 0x80 ? 1 : c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 1
    len = Math.min(len, text.length - i)
    const encode = len > 1 || special(c)
    const piece = encode
      ? Array.from(
          text.subarray(i, i + len),
          (x) => `=${x.toString(16).toUpperCase().padStart(2, "0")}`,
        ).join("")
      : String.fromCharCode(c)
    if (width + piece.length + 2 > 76) {
      out += "?=\n =?UTF-8?q?"
      width = 11
    }
    out += piece
    width += piece.length
    i += len
  }
  return `${out}?=`
}

/** Word-wraps an ASCII header value at `width` columns; continuation lines start with a space. */
const wrapHeader = (text: string, column: number, width = 78): string => {
  let out = ""
  let bol = 0
  let pos = 0
  let w = column
  // Where the pending piece starts (at a space), or -1 at the start of a continuation line.
  let space = 0
  for (;;) {
    const c = text[pos]
    if (c !== undefined && c !== " ") {
      w++
      pos++
      continue
    }
    if (w <= width || space < 0) {
      if (c === undefined && pos === bol) return out
      out += space < 0 ? ` ${text.slice(bol, pos)}` : text.slice(space, pos)
      if (c === undefined) return out
      space = pos
      w++
      pos++
    } else {
      out += "\n"
      pos = bol = space + (text[space] === " " ? 1 : 0)
      space = -1
      w = 1
    }
  }
}

const RFC822_SPECIALS = new Set(Array.from('()<>@,;:\\".[]', (c) => c.charCodeAt(0)))

const fromHeader = (author: Signature): string => {
  const name = textBytes(author.name)
  const email = textString(author.email)
  let line = "From: "
  let width = 78
  if (needsEncoding(name)) {
    line += rfc2047(name, line.length, true)
    width = 76
  } else if (name.some((c) => RFC822_SPECIALS.has(c)))
    line += wrapHeader(`"${name.toString("latin1").replace(/(["\\])/g, "\\$1")}"`, line.length)
  else line += wrapHeader(name.toString("latin1"), line.length)
  // The address goes on its own line when it would overflow the name's last line.
  const lastLine = line.length - (line.lastIndexOf("\n") + 1)
  if (lastLine + 2 + Buffer.byteLength(email) + 1 > width) line += "\n"
  return `${line} <${email}>\n`
}

/** The subject (first paragraph, lines joined by spaces) and the body after it. */
const splitMessage = (message: Buffer): { subject: Buffer; body: Buffer } => {
  const lines = splitLines(message).map((l) => {
    let end = l.length
    while (end > 0 && (l[end - 1] === 0x0a || l[end - 1] === 0x20 || l[end - 1] === 0x09)) end--
    return { line: l, trimmed: l.subarray(0, end) }
  })
  let k = 0
  while (k < lines.length && lines[k]!.trimmed.length === 0) k++
  const subject: Buffer[] = []
  for (; k < lines.length && lines[k]!.trimmed.length > 0; k++) {
    if (subject.length > 0) subject.push(Buffer.from(" "))
    subject.push(lines[k]!.trimmed)
  }
  while (k < lines.length && lines[k]!.trimmed.length === 0) k++
  const rest = Buffer.concat(lines.slice(k).map((l) => l.line))
  const body = rest.length > 0 && rest[rest.length - 1] !== 0x0a ? Buffer.concat([rest, LF]) : rest
  return { subject: Buffer.concat(subject), body }
}

/** One commit as a format-patch mail (number `n` of `total`; `total` 1 gives `[PATCH]`). */
export const commitMail = (
  id: ObjectId,
  commit: Commit,
  files: ReadonlyArray<FileDiff>,
  n: number,
  total: number,
  options: FormatPatchOptions = {},
): Buffer => {
  const { subject, body } = splitMessage(textBytes(commit.message))
  const number = String(n).padStart(String(total).length, "0")
  const prefix = `Subject: ${total === 1 ? "[PATCH]" : `[PATCH ${number}/${total}]`} `
  const subjectLine = needsEncoding(subject)
    ? rfc2047(subject, prefix.length, false)
    : wrapHeader(subject.toString("latin1"), prefix.length)
  let head = `From ${id} Mon Sep 17 00:00:00 2001\n`
  head += fromHeader(commit.author)
  head += `Date: ${rfc2822Date(commit.author)}\n`
  head += `${prefix}${subjectLine}\n`
  if (hasNonAscii(subject) || hasNonAscii(body))
    head +=
      "MIME-Version: 1.0\nContent-Type: text/plain; charset=UTF-8\nContent-Transfer-Encoding: 8bit\n"
  head += "\n"
  return Buffer.concat([
    Buffer.from(head, "utf8"),
    body,
    Buffer.from(`---\n${diffStat(files, { summary: true })}\n`, "latin1"),
    gitDiff(files, options),
    Buffer.from(`-- \n${options.signature ?? "guts"}\n\n`, "utf8"),
  ])
}

/**
 * `git format-patch --stdout` for `commits` (oldest first): each non-merge commit against
 * its parent (a root commit against the empty tree), with binary patches.
 */
export const formatPatch = <E>(
  load: ObjectLoader<E>,
  commits: ReadonlyArray<ObjectId>,
  options: FormatPatchOptions = {},
): Effect.Effect<Buffer, E | ObjectReadError> =>
  Effect.gen(function* () {
    const series: Array<{ id: ObjectId; commit: Commit }> = []
    for (const id of commits) {
      const commit = yield* readCommit(load, id)
      if (commit.parents.length <= 1) series.push({ id, commit })
    }
    const mails: Buffer[] = []
    for (let k = 0; k < series.length; k++) {
      const { id, commit } = series[k]!
      const parent = commit.parents[0]
      const parentTree = parent === undefined ? undefined : (yield* readCommit(load, parent)).tree
      const files = yield* diffTrees(load, parentTree, commit.tree, {
        ...options,
        binary: options.binary ?? true,
      })
      mails.push(commitMail(id, commit, files, k + 1, series.length, options))
    }
    // `git format-patch --stdout` puts an empty line between mails.
    return Buffer.concat(mails.flatMap((m, k) => (k === 0 ? [m] : [LF, m])))
  })
