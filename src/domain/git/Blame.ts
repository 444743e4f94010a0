/**
 * Blame: for each line of a file at a commit, the commit that last introduced it, as
 * `git blame --first-parent` computes it (without rename or copy detection).
 *
 * How: start with every line of the file unexplained, at its position in the starting
 * commit's version. At each commit, diff its parent's version of the file against its own
 * with the line diff of `Diff.ts` (git's myers diff and compaction); lines the diff inserts
 * were introduced by this commit, the others move to their position in the parent's
 * version and the walk continues with the parent (first parent only). A parent with the
 * same blob passes every line on without a diff. A commit without a parent, or whose first
 * parent lacks the file, introduced every line still unexplained.
 *
 * Guarantees:
 * - Every line of the file is in exactly one range; ranges come in file order, and each
 *   names the commit and the 1-based line number in that commit's version of the file.
 * - Agrees with `git -c diff.indentHeuristic=false blame --first-parent` line for line
 *   (tested against the git binary), since it takes the same diff at every step.
 * - Bounded: at most `maxCommits` commits are compared with their parents (default 1,000).
 *   When the walk stops there with lines unexplained, they are blamed on the last parent
 *   reached, marked `boundary`, and the result says `truncated` — what git reports for
 *   the range `<that parent>..<commit>`.
 * - Reads objects through a loader (`ObjectLoader` of `MergeBase.ts`), so it runs over the
 *   object store or over objects in memory; a missing or malformed object fails with the
 *   loader's typed errors, a path that is not a file at the starting commit with
 *   `BlamePathNotFound`.
 */
import { Data, Effect } from "effect"
import { diffLines, splitLines } from "./Diff.ts"
import { type Commit, entryKind, textBytes } from "./GitObject.ts"
import {
  type ObjectLoader,
  type ObjectReadError,
  readBlob,
  readCommit,
  readTree,
} from "./MergeBase.ts"
import type { ObjectId } from "./ObjectId.ts"

export interface BlameRange {
  /** 1-based number of the range's first line in the blamed file. */
  readonly startLine: number
  readonly lineCount: number
  /** The commit that introduced these lines (or the oldest reached, when `boundary`). */
  readonly commit: ObjectId
  /** 1-based number of the range's first line in `commit`'s version of the file. */
  readonly originalLine: number
  /** The walk stopped at `maxCommits` before finding where these lines came from. */
  readonly boundary: boolean
}

export interface BlameResult {
  /** Ranges of consecutive lines from one commit, in file order, covering the file. */
  readonly ranges: ReadonlyArray<BlameRange>
  /** Lines in the file. */
  readonly lineCount: number
  /** Whether the walk stopped at `maxCommits` with lines left unexplained. */
  readonly truncated: boolean
  /** The commits read, by id (for authors, dates and summaries). */
  readonly commits: ReadonlyMap<ObjectId, Commit>
}

export interface BlameOptions {
  /**
   * Commits to compare with their parents at most, the starting one included (default
   * 1,000); lines still unexplained then are blamed on the last parent reached.
   */
  readonly maxCommits?: number
}

export const DEFAULT_BLAME_MAX_COMMITS = 1000

export class BlamePathNotFound extends Data.TaggedError("BlamePathNotFound")<{
  /** The commit blamed at. */
  readonly at: ObjectId
  readonly path: string
  /** What is there instead: nothing, a directory, a symlink or a submodule. */
  readonly found: "nothing" | "tree" | "symlink" | "gitlink"
}> {
  override get message() {
    return this.found === "nothing"
      ? `${this.path} does not exist at commit ${this.at}`
      : `${this.path} is a ${this.found === "tree" ? "directory" : this.found} at commit ${this.at}, not a file; blame a file`
  }
}

type Found = { id: ObjectId; kind: "blob" } | { kind: "nothing" | "tree" | "symlink" | "gitlink" }

/**
 * The blob id and kind at `path` in a tree, or what blocks it. `cache` remembers answers
 * by (depth, tree id): consecutive commits mostly share the trees along the path, so the
 * walk reads each of them once.
 */
const lookup = <E>(
  load: ObjectLoader<E>,
  tree: ObjectId,
  segments: ReadonlyArray<Buffer>,
  cache: Map<string, Found>,
): Effect.Effect<Found, E | ObjectReadError> =>
  Effect.gen(function* () {
    const seen: string[] = []
    const remember = (found: Found) => {
      for (const key of seen) cache.set(key, found)
      return found
    }
    let current = tree
    for (let k = 0; k < segments.length; k++) {
      const key = `${k}:${current}`
      const known = cache.get(key)
      if (known) return remember(known)
      seen.push(key)
      const entries = yield* readTree(load, current)
      const segment = segments[k]!
      const entry = entries.find((e) => textBytes(e.name).equals(segment))
      if (!entry) return remember({ kind: "nothing" })
      const kind = entryKind(entry.mode)
      const last = k === segments.length - 1
      if (!last) {
        if (kind !== "tree") return remember({ kind: "nothing" })
        current = entry.id
        continue
      }
      return remember(kind === "blob" ? { id: entry.id, kind } : { kind })
    }
    return { kind: "tree" }
  })

interface Pending {
  /** Index of the line in the blamed (final) file. */
  readonly final: number
  /** Index of the line in the version of the file being examined. */
  readonly current: number
}

interface Blamed {
  readonly commit: ObjectId
  readonly original: number
  readonly boundary: boolean
}

/** Blames the file at `path` in `commit` (see the module header). */
export const blame = <E>(
  load: ObjectLoader<E>,
  commit: ObjectId,
  path: string,
  options: BlameOptions = {},
): Effect.Effect<BlameResult, E | ObjectReadError | BlamePathNotFound> =>
  Effect.gen(function* () {
    const maxCommits = Math.max(1, options.maxCommits ?? DEFAULT_BLAME_MAX_COMMITS)
    const segments = path
      .split("/")
      .filter((s) => s !== "")
      .map((s) => Buffer.from(s, "utf8"))
    const commits = new Map<ObjectId, Commit>()
    let id = commit
    let info = yield* readCommit(load, id)
    commits.set(id, info)
    const trees = new Map<string, Found>()
    const start = yield* lookup(load, info.tree, segments, trees)
    if (start.kind !== "blob")
      return yield* new BlamePathNotFound({ at: commit, path, found: start.kind })
    let blob = start.id
    let lines = splitLines(yield* readBlob(load, blob))
    const blamed = new Array<Blamed | undefined>(lines.length)
    let pending: Pending[] = lines.map((_, k) => ({ final: k, current: k }))
    const assign = (p: Pending, to: ObjectId, boundary: boolean) => {
      blamed[p.final] = { commit: to, original: p.current + 1, boundary }
    }
    let truncated = false
    let examined = 0
    while (pending.length > 0) {
      if (examined >= maxCommits) {
        // The edge of the walk: like git at the bottom of a revision range, blame what is
        // left on this commit without looking further.
        for (const p of pending) assign(p, id, true)
        truncated = true
        break
      }
      examined++
      const parent = info.parents[0]
      const found =
        parent === undefined ? undefined : yield* parentFile(load, parent, segments, trees)
      if (parent === undefined || found === undefined) {
        for (const p of pending) assign(p, id, false)
        break
      }
      if (found.blob === blob) {
        // Unchanged: every line passes to the parent as it is.
      } else {
        const parentLines = splitLines(yield* readBlob(load, found.blob))
        const changes = diffLines(parentLines, lines)
        const next: Pending[] = []
        let c = 0
        let shift = 0
        for (const p of pending) {
          while (c < changes.length && changes[c]!.newStart + changes[c]!.newCount <= p.current) {
            shift += changes[c]!.oldCount - changes[c]!.newCount
            c++
          }
          const change = changes[c]
          if (
            change &&
            p.current >= change.newStart &&
            p.current < change.newStart + change.newCount
          )
            assign(p, id, false)
          else next.push({ final: p.final, current: p.current + shift })
        }
        pending = next
        lines = parentLines
      }
      commits.set(parent, found.commit)
      id = parent
      info = found.commit
      blob = found.blob
    }
    return { ranges: toRanges(blamed), lineCount: blamed.length, truncated, commits }
  })

/** The parent commit and its blob at the path, if it has the file there. */
const parentFile = <E>(
  load: ObjectLoader<E>,
  parent: ObjectId,
  segments: ReadonlyArray<Buffer>,
  trees: Map<string, Found>,
) =>
  Effect.gen(function* () {
    const commit = yield* readCommit(load, parent)
    const file = yield* lookup(load, commit.tree, segments, trees)
    if (file.kind !== "blob") return undefined
    return { commit, blob: file.id }
  })

const toRanges = (blamed: ReadonlyArray<Blamed | undefined>): BlameRange[] => {
  const ranges: BlameRange[] = []
  let open: { start: number; count: number; b: Blamed } | undefined
  const close = () => {
    if (!open) return
    ranges.push({
      startLine: open.start + 1,
      lineCount: open.count,
      commit: open.b.commit,
      originalLine: open.b.original,
      boundary: open.b.boundary,
    })
  }
  blamed.forEach((b, k) => {
    // Every line is blamed before the walk ends; a gap would be a bug in the walk.
    if (!b) throw new Error(`blame: line ${k + 1} was left unexplained`)
    if (
      open &&
      open.b.commit === b.commit &&
      open.b.boundary === b.boundary &&
      open.b.original + open.count === b.original
    ) {
      open.count++
      return
    }
    close()
    open = { start: k, count: 1, b }
  })
  close()
  return ranges
}
