/**
 * Three-way merge of one file's content (diff3 / `git merge-file`): the changes from base to
 * ours and from base to theirs are combined; where both sides change the same or adjacent
 * base lines differently, the result holds a conflict between git's markers.
 *
 * Guarantees (as git's xdiff merge at the level `git merge` uses):
 * - A side that did not change the file gives the other side's bytes exactly.
 * - Changes that touch base lines at least one unchanged line apart merge cleanly; changes
 *   that overlap or touch adjacent lines conflict unless both sides made the same change.
 * - Conflicts are narrowed: lines both sides agree on at the edges or inside a conflict are
 *   taken as merged ("zealous" refinement), and conflicts at most 3 lines apart are joined.
 * - Markers are `<<<<<<< ours-label`, `=======`, `>>>>>>> theirs-label` (and
 *   `||||||| base-label` with the diff3 style), each on its own line: a side whose last line
 *   lacks a newline gets one before the next marker.
 * - Binary content (a NUL in the first 8000 bytes of any version) is not merged line by
 *   line: the result is a conflict that keeps ours, as git's binary merge driver does.
 */
import { diffSequences, isBinary, type LineChange, splitLines } from "./Diff.ts"

export interface Merge3Options {
  /** Names after the markers (git uses the branch names). Default "ours", "base", "theirs". */
  readonly labels?: {
    readonly ours?: string
    readonly base?: string
    readonly theirs?: string
  }
  /** "merge" (default): ours and theirs. "diff3": the base version between them too. */
  readonly style?: "merge" | "diff3"
  /** Length of the marker runs (git's default 7). */
  readonly markerSize?: number
}

export interface Merge3Result {
  /** No conflicts: `content` is the merged file. */
  readonly clean: boolean
  /** How many conflict hunks `content` holds (1 for a binary conflict). */
  readonly conflicts: number
  /** The merged bytes, with conflict markers where `clean` is false. */
  readonly content: Buffer
  /** Some version was binary: `content` is ours, unmerged. */
  readonly binary: boolean
}

/**
 * A merged region in the coordinates of the three texts (line indexes): base lines
 * [i0, i0+c0) became ours [i1, i1+c1) and theirs [i2, i2+c2).
 */
interface Region {
  /** conflict: both changed; ours/theirs: only that side changed; same: both agree. */
  mode: "conflict" | "ours" | "theirs" | "same"
  i0: number
  c0: number
  i1: number
  c1: number
  i2: number
  c2: number
}

const toBuffer = (b: Uint8Array): Buffer =>
  Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength)

export const merge3 = (
  base: Uint8Array,
  ours: Uint8Array,
  theirs: Uint8Array,
  options: Merge3Options = {},
): Merge3Result => {
  if (isBinary(base) || isBinary(ours) || isBinary(theirs)) {
    const o = toBuffer(ours)
    const same = o.equals(toBuffer(theirs))
    // One side unchanged is still trivially mergeable, binary or not.
    if (same || toBuffer(base).equals(toBuffer(theirs)))
      return { clean: true, conflicts: 0, content: Buffer.from(o), binary: true }
    if (toBuffer(base).equals(o))
      return { clean: true, conflicts: 0, content: Buffer.from(theirs), binary: true }
    return { clean: false, conflicts: 1, content: Buffer.from(o), binary: true }
  }

  const baseLines = splitLines(base)
  const ourLines = splitLines(ours)
  const theirLines = splitLines(theirs)
  // One numbering for all three texts, so lines compare across them as integers.
  const ids = new Map<string, number>()
  const intern = (lines: ReadonlyArray<Buffer>) =>
    Int32Array.from(lines, (line) => {
      const key = line.toString("latin1")
      let id = ids.get(key)
      if (id === undefined) {
        id = ids.size
        ids.set(key, id)
      }
      return id
    })
  const B = intern(baseLines)
  const O = intern(ourLines)
  const T = intern(theirLines)

  const toOurs = diffSequences(B, O)
  const toTheirs = diffSequences(B, T)
  if (toOurs.length === 0)
    return { clean: true, conflicts: 0, content: Buffer.from(theirs), binary: false }
  if (toTheirs.length === 0)
    return { clean: true, conflicts: 0, content: Buffer.from(ours), binary: false }

  const regions = combine(toOurs, toTheirs, O, T, B.length, O.length, T.length)
  const style = options.style ?? "merge"
  if (style === "merge") {
    // The diff3 style shows the base of each conflict, which narrowing would misplace.
    refine(regions, O, T)
    joinNearConflicts(regions)
  }
  return render(regions, baseLines, ourLines, theirLines, options)
}

/**
 * Walks both change lists in base order: a change with a clean gap before the other's next
 * change is taken alone; changes that overlap or touch become one conflict (unless equal).
 */
const combine = (
  toOurs: ReadonlyArray<LineChange>,
  toTheirs: ReadonlyArray<LineChange>,
  O: Int32Array,
  T: Int32Array,
  baseCount: number,
  oursCount: number,
  theirsCount: number,
): Region[] => {
  const out: Region[] = []
  const append = (r: Region) => {
    const last = out[out.length - 1]
    // A region touching the previous one extends it; two different modes make a conflict.
    if (last && (r.i1 <= last.i1 + last.c1 || r.i2 <= last.i2 + last.c2)) {
      if (r.mode !== last.mode) last.mode = "conflict"
      last.c0 = r.i0 + r.c0 - last.i0
      last.c1 = r.i1 + r.c1 - last.i1
      last.c2 = r.i2 + r.c2 - last.i2
    } else out.push(r)
  }
  let p = 0
  let q = 0
  while (p < toOurs.length && q < toTheirs.length) {
    const x = toOurs[p]!
    const y = toTheirs[q]!
    if (x.oldStart + x.oldCount < y.oldStart) {
      append({
        mode: "ours",
        i0: x.oldStart,
        c0: x.oldCount,
        i1: x.newStart,
        c1: x.newCount,
        i2: y.newStart - y.oldStart + x.oldStart,
        c2: x.oldCount,
      })
      p++
      continue
    }
    if (y.oldStart + y.oldCount < x.oldStart) {
      append({
        mode: "theirs",
        i0: y.oldStart,
        c0: y.oldCount,
        i1: x.newStart - x.oldStart + y.oldStart,
        c1: y.oldCount,
        i2: y.newStart,
        c2: y.newCount,
      })
      q++
      continue
    }
    const identical =
      x.oldStart === y.oldStart &&
      x.oldCount === y.oldCount &&
      x.newCount === y.newCount &&
      sameLines(O, x.newStart, T, y.newStart, x.newCount)
    if (!identical) {
      // The conflict spans the union of both changes' base lines, widened on each side
      // by the base lines only the other side's change covers.
      const off = x.oldStart - y.oldStart
      const ffo = off + x.oldCount - y.oldCount
      let i0 = x.oldStart
      let i1 = x.newStart
      let i2 = y.newStart
      if (off > 0) {
        i0 -= off
        i1 -= off
      } else i2 += off
      let c0 = x.oldStart + x.oldCount - i0
      let c1 = x.newStart + x.newCount - i1
      let c2 = y.newStart + y.newCount - i2
      if (ffo < 0) {
        c0 -= ffo
        c1 -= ffo
      } else c2 += ffo
      append({ mode: "conflict", i0, c0, i1, c1, i2, c2 })
    }
    const endX = x.oldStart + x.oldCount
    const endY = y.oldStart + y.oldCount
    if (endX >= endY) q++
    if (endY >= endX) p++
  }
  for (; p < toOurs.length; p++) {
    const x = toOurs[p]!
    append({
      mode: "ours",
      i0: x.oldStart,
      c0: x.oldCount,
      i1: x.newStart,
      c1: x.newCount,
      i2: x.oldStart + theirsCount - baseCount,
      c2: x.oldCount,
    })
  }
  for (; q < toTheirs.length; q++) {
    const y = toTheirs[q]!
    append({
      mode: "theirs",
      i0: y.oldStart,
      c0: y.oldCount,
      i1: y.oldStart + oursCount - baseCount,
      c1: y.oldCount,
      i2: y.newStart,
      c2: y.newCount,
    })
  }
  return out
}

const sameLines = (a: Int32Array, i: number, b: Int32Array, j: number, n: number): boolean => {
  for (let k = 0; k < n; k++) if (a[i + k] !== b[j + k]) return false
  return true
}

/**
 * Narrows each conflict to the lines where ours and theirs really differ: diffs the two
 * sides' lines of the conflict and keeps one conflict per change of that diff (lines in
 * between are the same on both sides, hence merged). Equal sides resolve the conflict.
 */
const refine = (regions: Region[], O: Int32Array, T: Int32Array): void => {
  for (let r = 0; r < regions.length; r++) {
    const m = regions[r]!
    if (m.mode !== "conflict" || m.c1 === 0 || m.c2 === 0) continue
    const changes = diffSequences(O.subarray(m.i1, m.i1 + m.c1), T.subarray(m.i2, m.i2 + m.c2))
    if (changes.length === 0) {
      m.mode = "same"
      continue
    }
    const pieces: Region[] = changes.map((c) => ({
      mode: "conflict",
      // The base span stays the whole conflict's: only the diff3 style shows it.
      i0: m.i0,
      c0: m.c0,
      i1: m.i1 + c.oldStart,
      c1: c.oldCount,
      i2: m.i2 + c.newStart,
      c2: c.newCount,
    }))
    regions.splice(r, 1, ...pieces)
    r += pieces.length - 1
  }
}

/** Joins conflicts separated by at most 3 merged lines into one (easier to resolve). */
const joinNearConflicts = (regions: Region[]): void => {
  for (let r = 0; r + 1 < regions.length; ) {
    const m = regions[r]!
    const next = regions[r + 1]!
    const gap = next.i1 - (m.i1 + m.c1)
    if (m.mode !== "conflict" || next.mode !== "conflict" || gap > 3) {
      r++
      continue
    }
    m.c0 = next.i0 + next.c0 - m.i0
    m.c1 = next.i1 + next.c1 - m.i1
    m.c2 = next.i2 + next.c2 - m.i2
    regions.splice(r + 1, 1)
  }
}

const render = (
  regions: ReadonlyArray<Region>,
  baseLines: ReadonlyArray<Buffer>,
  ourLines: ReadonlyArray<Buffer>,
  theirLines: ReadonlyArray<Buffer>,
  options: Merge3Options,
): Merge3Result => {
  const size = options.markerSize ?? 7
  const marker = (c: string, label: string | undefined) =>
    Buffer.from(`${c.repeat(size)}${label ? ` ${label}` : ""}\n`, "utf8")
  const labels = options.labels ?? {}
  const parts: Buffer[] = []
  /** Copies lines; `newline` ends the copy with `\n` if its last line lacks one. */
  const copy = (lines: ReadonlyArray<Buffer>, from: number, count: number, newline: boolean) => {
    for (let k = 0; k < count; k++) parts.push(lines[from + k]!)
    if (newline && count > 0) {
      const last = lines[from + count - 1]!
      if (last[last.length - 1] !== 0x0a) parts.push(Buffer.from("\n"))
    }
  }
  let conflicts = 0
  // Output follows ours: text between regions is ours (equal to base and theirs there).
  let at = 0
  for (const m of regions) {
    if (m.mode === "same") continue
    copy(ourLines, at, m.i1 - at, false)
    if (m.mode === "conflict") {
      conflicts++
      parts.push(marker("<", labels.ours ?? "ours"))
      copy(ourLines, m.i1, m.c1, true)
      if (options.style === "diff3") {
        parts.push(marker("|", labels.base ?? "base"))
        copy(baseLines, m.i0, m.c0, true)
      }
      parts.push(marker("=", undefined))
      copy(theirLines, m.i2, m.c2, true)
      parts.push(marker(">", labels.theirs ?? "theirs"))
    } else if (m.mode === "ours") copy(ourLines, m.i1, m.c1, false)
    else copy(theirLines, m.i2, m.c2, false)
    at = m.i1 + m.c1
  }
  copy(ourLines, at, ourLines.length - at, false)
  return { clean: conflicts === 0, conflicts, content: Buffer.concat(parts), binary: false }
}
