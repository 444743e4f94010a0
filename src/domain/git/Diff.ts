/**
 * Line diff: which lines of an old text are removed and which lines of a new text are
 * inserted, as git's default ("myers") diff computes them.
 *
 * Guarantees:
 * - Valid: deleting the changed old lines and inserting the changed new lines turns the
 *   old text into the new one, for any input (including empty texts, texts without a final
 *   newline, and binary bytes).
 * - Minimal while the edit cost of a region stays under `maxCost` (default: 256, or the
 *   square root of the line count if larger, as git's xdiff): the number of removed plus
 *   inserted lines is then the edit distance, so additions/deletions equal git's.
 * - Bounded: past `maxCost` a region is split at the furthest point either search has
 *   reached (git's own heuristic) instead of searching on, so a huge file with many changes
 *   costs O((N + M) · maxCost · log) time and O(N + M) memory, never O(N · M).
 * - Changes are slid down past equal lines as far as they go, unless they can line up with
 *   a change in the other text (git's compaction without the indent heuristic), so hunks
 *   land where git puts them in the common cases.
 *
 * Lines are byte ranges ending in `\n` (the last line may lack it); lines compare by their
 * bytes, so `a\n` and `a` (final line without newline) differ, as in git.
 */

/** A run of changed lines: `oldCount` old lines at `oldStart` replaced by `newCount` new ones. */
export interface LineChange {
  /** 0-based index of the first removed old line (or where the insertion happens). */
  readonly oldStart: number
  readonly oldCount: number
  /** 0-based index of the first inserted new line (or where the removal happens). */
  readonly newStart: number
  readonly newCount: number
}

export interface DiffOptions {
  /** Edit cost of a region past which it is split heuristically (see the module header). */
  readonly maxCost?: number
}

/** How many leading bytes git inspects for a NUL to call content binary. */
export const BINARY_PROBE_BYTES = 8000

/** Git's rule: content is binary when a NUL byte occurs in its first 8000 bytes. */
export const isBinary = (content: Uint8Array): boolean => {
  const n = Math.min(content.length, BINARY_PROBE_BYTES)
  for (let i = 0; i < n; i++) if (content[i] === 0) return true
  return false
}

const asBuffer = (b: Uint8Array): Buffer =>
  Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength)

/** The lines of a text, each with its `\n` (views into `content`, not copies). */
export const splitLines = (content: Uint8Array): Buffer[] => {
  const buf = asBuffer(content)
  const lines: Buffer[] = []
  let start = 0
  while (start < buf.length) {
    const nl = buf.indexOf(0x0a, start)
    const end = nl < 0 ? buf.length : nl + 1
    lines.push(buf.subarray(start, end))
    start = end
  }
  return lines
}

/** Diffs two texts by lines; returns their lines and the changes between them. */
export const diffTexts = (
  oldText: Uint8Array,
  newText: Uint8Array,
  options: DiffOptions = {},
): { oldLines: Buffer[]; newLines: Buffer[]; changes: LineChange[] } => {
  const oldLines = splitLines(oldText)
  const newLines = splitLines(newText)
  return { oldLines, newLines, changes: diffLines(oldLines, newLines, options) }
}

/** Diffs two lists of lines (compared by their bytes). */
export const diffLines = (
  oldLines: ReadonlyArray<Uint8Array>,
  newLines: ReadonlyArray<Uint8Array>,
  options: DiffOptions = {},
): LineChange[] => {
  // Lines become small integers, so the search compares numbers, not bytes.
  const ids = new Map<string, number>()
  const intern = (lines: ReadonlyArray<Uint8Array>) => {
    const out = new Int32Array(lines.length)
    for (let i = 0; i < lines.length; i++) {
      const key = asBuffer(lines[i]!).toString("latin1")
      let id = ids.get(key)
      if (id === undefined) {
        id = ids.size
        ids.set(key, id)
      }
      out[i] = id
    }
    return out
  }
  return diffSequences(intern(oldLines), intern(newLines), options)
}

/** Diffs two sequences of non-negative integers (equal integers are equal lines). */
export const diffSequences = (
  a: ArrayLike<number>,
  b: ArrayLike<number>,
  options: DiffOptions = {},
): LineChange[] => {
  const n = a.length
  const m = b.length
  const changedA = new Uint8Array(n)
  const changedB = new Uint8Array(m)

  // A line with no equal in the other text is changed in every diff: take such lines out
  // before searching (smaller, faster search; the result stays minimal).
  let symbols = 0
  for (let i = 0; i < n; i++) symbols = Math.max(symbols, a[i]! + 1)
  for (let j = 0; j < m; j++) symbols = Math.max(symbols, b[j]! + 1)
  if (symbols > 2 * (n + m) + 16) {
    // Sparse symbols (not interned lines): renumber densely before sizing tables by them.
    const dense = new Map<number, number>()
    const renumber = (xs: ArrayLike<number>) =>
      Int32Array.from({ length: xs.length }, (_, i) => {
        let id = dense.get(xs[i]!)
        if (id === undefined) {
          id = dense.size
          dense.set(xs[i]!, id)
        }
        return id
      })
    return diffSequences(renumber(a), renumber(b), options)
  }
  const inA = new Uint8Array(symbols)
  const inB = new Uint8Array(symbols)
  for (let i = 0; i < n; i++) inA[a[i]!] = 1
  for (let j = 0; j < m; j++) inB[b[j]!] = 1
  const keptA: number[] = []
  const keptB: number[] = []
  for (let i = 0; i < n; i++)
    if (inB[a[i]!]) keptA.push(i)
    else changedA[i] = 1
  for (let j = 0; j < m; j++)
    if (inA[b[j]!]) keptB.push(j)
    else changedB[j] = 1
  const ra = Int32Array.from(keptA, (i) => a[i]!)
  const rb = Int32Array.from(keptB, (j) => b[j]!)
  const rca = new Uint8Array(ra.length)
  const rcb = new Uint8Array(rb.length)
  const maxCost = Math.max(
    options.maxCost ?? 256,
    Math.floor(Math.sqrt(ra.length + rb.length + 3)),
    1,
  )
  search(ra, rb, rca, rcb, maxCost)
  for (let i = 0; i < ra.length; i++) if (rca[i]) changedA[keptA[i]!] = 1
  for (let j = 0; j < rb.length; j++) if (rcb[j]) changedB[keptB[j]!] = 1

  compact(a, changedA, changedB)
  compact(b, changedB, changedA)
  return changesOf(changedA, changedB)
}

/**
 * Marks a shortest edit script between `a` and `b` in `ca`/`cb`, by Myers' linear-space
 * divide and conquer: find a point on an optimal path near the middle, solve both halves.
 */
const search = (
  a: Int32Array,
  b: Int32Array,
  ca: Uint8Array,
  cb: Uint8Array,
  maxCost: number,
): void => {
  const n = a.length
  const m = b.length
  // Diagonal k = x - y of a region lies in [-m, n]; one slot more each side for sentinels.
  const offset = m + 1
  const forward = new Int32Array(n + m + 3)
  const backward = new Int32Array(n + m + 3)
  const stack: number[] = [0, n, 0, m]
  while (stack.length > 0) {
    let bHi = stack.pop()!
    let bLo = stack.pop()!
    let aHi = stack.pop()!
    let aLo = stack.pop()!
    while (aLo < aHi && bLo < bHi && a[aLo] === b[bLo]) {
      aLo++
      bLo++
    }
    while (aLo < aHi && bLo < bHi && a[aHi - 1] === b[bHi - 1]) {
      aHi--
      bHi--
    }
    if (aLo === aHi) {
      for (let j = bLo; j < bHi; j++) cb[j] = 1
      continue
    }
    if (bLo === bHi) {
      for (let i = aLo; i < aHi; i++) ca[i] = 1
      continue
    }
    const [x, y] = split(a, b, aLo, aHi, bLo, bHi, forward, backward, offset, maxCost)
    if ((x === aLo && y === bLo) || (x === aHi && y === bHi)) {
      // A split that makes no progress would loop forever; replacing the region is valid.
      for (let i = aLo; i < aHi; i++) ca[i] = 1
      for (let j = bLo; j < bHi; j++) cb[j] = 1
      continue
    }
    stack.push(aLo, x, bLo, y, x, aHi, y, bHi)
  }
}

/**
 * A point (x, y) where the region [aLo, aHi) × [bLo, bHi) splits in two: on an optimal path
 * (where the forward and backward searches meet), or, once the cost passes `maxCost`, the
 * furthest point either search reached. The region's first and last lines differ.
 */
const split = (
  a: Int32Array,
  b: Int32Array,
  aLo: number,
  aHi: number,
  bLo: number,
  bHi: number,
  fwd: Int32Array,
  bwd: Int32Array,
  offset: number,
  maxCost: number,
): [number, number] => {
  // Coordinates are absolute; diagonal k = x - y, stored at k - (aLo - bLo) + offset.
  const base = aLo - bLo
  const at = (k: number) => k - base + offset
  const kMin = aLo - bHi
  const kMax = aHi - bLo
  const fMid = aLo - bLo
  const bMid = aHi - bHi
  const odd = ((fMid - bMid) & 1) !== 0
  let fLo = fMid
  let fHi = fMid
  let bLoK = bMid
  let bHiK = bMid
  fwd[at(fMid)] = aLo
  bwd[at(bMid)] = aHi
  for (let cost = 1; ; cost++) {
    // Widen the forward band by one diagonal each side, staying inside the region;
    // sentinels just outside make the "which neighbour is further" test need no bounds.
    if (fLo > kMin) fwd[at(--fLo - 1)] = -1
    else fLo++
    if (fHi < kMax) fwd[at(++fHi + 1)] = -1
    else fHi--
    for (let k = fHi; k >= fLo; k -= 2) {
      let x = fwd[at(k - 1)]! >= fwd[at(k + 1)]! ? fwd[at(k - 1)]! + 1 : fwd[at(k + 1)]!
      let y = x - k
      while (x < aHi && y < bHi && a[x] === b[y]) {
        x++
        y++
      }
      fwd[at(k)] = x
      if (odd && bLoK <= k && k <= bHiK && bwd[at(k)]! <= x) return [x, y]
    }

    if (bLoK > kMin) bwd[at(--bLoK - 1)] = 0x7fffffff
    else bLoK++
    if (bHiK < kMax) bwd[at(++bHiK + 1)] = 0x7fffffff
    else bHiK--
    for (let k = bHiK; k >= bLoK; k -= 2) {
      let x = bwd[at(k - 1)]! < bwd[at(k + 1)]! ? bwd[at(k - 1)]! : bwd[at(k + 1)]! - 1
      let y = x - k
      while (x > aLo && y > bLo && a[x - 1] === b[y - 1]) {
        x--
        y--
      }
      bwd[at(k)] = x
      if (!odd && fLo <= k && k <= fHi && x <= fwd[at(k)]!) return [x, y]
    }

    if (cost >= maxCost) {
      // Too expensive to be exact: split where one search got furthest.
      let fBest = -1
      let fX = aLo
      for (let k = fHi; k >= fLo; k -= 2) {
        let x = Math.min(fwd[at(k)]!, aHi)
        let y = x - k
        if (y > bHi) {
          x = bHi + k
          y = bHi
        }
        if (x + y > fBest) {
          fBest = x + y
          fX = x
        }
      }
      let bBest = Number.MAX_SAFE_INTEGER
      let bX = aHi
      for (let k = bHiK; k >= bLoK; k -= 2) {
        let x = Math.max(bwd[at(k)]!, aLo)
        let y = x - k
        if (y < bLo) {
          x = bLo + k
          y = bLo
        }
        if (x + y < bBest) {
          bBest = x + y
          bX = x
        }
      }
      return aHi + bHi - bBest < fBest - (aLo + bLo) ? [fX, fBest - fX] : [bX, bBest - bX]
    }
  }
}

/**
 * Slides each group of changed lines of `lines` down past equal lines as far as it goes
 * (merging with groups it meets), then back up to line up with a change in the other text
 * if it passed one on the way. Keeps the script valid: a group moves over a line only when
 * that line equals the one it swaps with.
 */
const compact = (lines: ArrayLike<number>, changed: Uint8Array, other: Uint8Array): void => {
  const n = changed.length
  const on = other.length
  // A group is [start, end) of changed lines (possibly empty); the k-th group of one text
  // faces the k-th group of the other (the unchanged lines between them pair up in order).
  let start = 0
  let end = 0
  while (end < n && changed[end]) end++
  let oStart = 0
  let oEnd = 0
  while (oEnd < on && other[oEnd]) oEnd++
  for (;;) {
    if (end > start) {
      let size: number
      let endMatchingOther: number
      do {
        size = end - start
        // Up as far as possible, absorbing groups above.
        while (start > 0 && lines[start - 1] === lines[end - 1]) {
          changed[--start] = 1
          changed[--end] = 0
          while (start > 0 && changed[start - 1]) start--
          // The facing group in the other text moves to the previous gap.
          oEnd = oStart - 1
          oStart = oEnd
          while (oStart > 0 && other[oStart - 1]) oStart--
        }
        endMatchingOther = oEnd > oStart ? end : -1
        // Then down as far as possible, absorbing groups below.
        while (end < n && lines[start] === lines[end]) {
          changed[start++] = 0
          changed[end++] = 1
          while (end < n && changed[end]) end++
          oStart = oEnd + 1
          oEnd = oStart
          while (oEnd < on && other[oEnd]) oEnd++
          if (oEnd > oStart) endMatchingOther = end
        }
      } while (size !== end - start)
      // Prefer lining up with a change in the other text over the lowest position.
      if (endMatchingOther !== -1)
        while (end > endMatchingOther) {
          changed[--start] = 1
          changed[--end] = 0
          oEnd = oStart - 1
          oStart = oEnd
          while (oStart > 0 && other[oStart - 1]) oStart--
        }
    }
    if (end >= n) break
    start = end + 1
    end = start
    while (end < n && changed[end]) end++
    oStart = oEnd + 1
    oEnd = oStart
    while (oEnd < on && other[oEnd]) oEnd++
  }
}

/** Reads the change runs off the two marked texts (their unchanged lines pair up in order). */
const changesOf = (ca: Uint8Array, cb: Uint8Array): LineChange[] => {
  const out: LineChange[] = []
  let i = 0
  let j = 0
  while (i < ca.length || j < cb.length) {
    if (i < ca.length && j < cb.length && !ca[i] && !cb[j]) {
      i++
      j++
      continue
    }
    const oldStart = i
    const newStart = j
    while (i < ca.length && ca[i]) i++
    while (j < cb.length && cb[j]) j++
    out.push({ oldStart, oldCount: i - oldStart, newStart, newCount: j - newStart })
  }
  return out
}
