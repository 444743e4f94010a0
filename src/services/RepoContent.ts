/**
 * RepoContent: read-only views of a repository's git data, as GitHub's REST API presents
 * them — branches, tags, commit history with filters, single commits with their changed
 * files, comparisons, the git data API (blobs, trees, commits, tags, refs), file and
 * directory contents, README, languages and archives.
 *
 * Guarantees:
 * - Every read goes through `Repositories.access(..., "read")`: a repository the caller
 *   cannot read does not exist (NotFound), exactly as for every other route.
 * - An object named by id is served only when it is reachable from the repository's refs:
 *   the object store is shared by all repositories, and an id must not open another's.
 * - Ref names resolve as GitHub resolves them: `HEAD`, a branch, a tag, a full ref
 *   (`refs/...`), a full object id, or an abbreviated commit id (at least 4 hex digits,
 *   unique among the commits reachable from the repository's refs). Annotated tags are
 *   peeled to the commit they name.
 * - History is listed in `git rev-list`'s default order (newest committer date first, a
 *   commit before its parents when dates tie in the walk), and a `path` filter follows
 *   git's default history simplification: a commit is listed when its version of the path
 *   differs from each parent's; a merge whose version equals one parent's is followed
 *   through that parent only.
 * - Nothing here writes; objects are read from the shared object store, refs from the ref
 *   store, so an answer reflects the last applied block.
 */
import { Context, Effect, Layer, Option, Stream } from "effect"
import { ArchiveError, type ArchiveEntry, TarWriter, ZipWriter } from "../domain/git/Archive.ts"
import {
  type Commit,
  commitLinks,
  entryKind,
  ObjectParseError,
  parseCommit,
  parseTag,
  parseTree,
  type Tag,
  type TreeEntry,
  tagTarget,
  textBytes,
  textString,
} from "../domain/git/GitObject.ts"
import { mergeBases } from "../domain/git/MergeBase.ts"
import { isObjectId, type ObjectId, type ObjectType } from "../domain/git/ObjectId.ts"
import { diffTrees, type FileDiff, formatPatch } from "../domain/git/UnifiedDiff.ts"
import type { Principal } from "./Auth.ts"
import { Conflict, Invalid, NotFound } from "./Errors.ts"
import { Metadata, type RepoRow, repoKey } from "./Metadata.ts"
import { ObjectStore } from "./ObjectStore.ts"
import { RepoObjects } from "./RepoObjects.ts"
import { RefStore } from "./RefStore.ts"
import { Repositories } from "./Repositories.ts"

/** Files larger than this come back from the contents API without their content (GitHub: 1 MB). */
export const CONTENT_INLINE_LIMIT = 1024 * 1024
/** Entries of one recursive tree answer before it is marked truncated (GitHub: 100,000). */
export const TREE_ENTRY_LIMIT = 100_000
/** Commits examined when resolving an abbreviated id. */
const ABBREV_SEARCH_LIMIT = 200_000
/** Commits walked for one history listing. */
const HISTORY_LIMIT = 1_000_000

export interface RefInfo {
  readonly name: string
  readonly id: ObjectId
  readonly type: ObjectType
}

export interface BranchInfo {
  readonly name: string
  readonly sha: ObjectId
  readonly protected: boolean
  /** The protection rule (JSON as stored), when the branch is protected. */
  readonly rule: string | undefined
}

export interface TreeItem {
  readonly path: string
  readonly mode: string
  readonly type: "blob" | "tree" | "commit"
  readonly sha: ObjectId
  /** Blobs only. */
  readonly size: number | undefined
}

/** One entry of a directory listing. */
export interface DirItem {
  readonly type: "file" | "dir" | "symlink" | "submodule"
  readonly name: string
  readonly path: string
  readonly sha: ObjectId
  readonly size: number
}

export type ContentNode =
  | {
      readonly type: "file"
      readonly name: string
      readonly path: string
      readonly sha: ObjectId
      readonly size: number
      /** Undefined when the file is over CONTENT_INLINE_LIMIT and raw bytes were not asked for. */
      readonly content: Uint8Array | undefined
    }
  | {
      readonly type: "dir"
      readonly name: string
      readonly path: string
      readonly sha: ObjectId
      readonly entries: ReadonlyArray<DirItem>
    }
  | {
      readonly type: "symlink"
      readonly name: string
      readonly path: string
      readonly sha: ObjectId
      readonly size: number
      readonly target: string
      readonly content: Uint8Array
    }
  | {
      readonly type: "submodule"
      readonly name: string
      readonly path: string
      readonly sha: ObjectId
      readonly url: string | null
    }

export interface HistoryFilter {
  /** Where to start: a branch, tag or commit (default: the default branch). */
  readonly sha?: string | undefined
  /** Only commits that change this file or directory. */
  readonly path?: string | undefined
  /** Committer dates, inclusive (seconds since the epoch). */
  readonly since?: number | undefined
  readonly until?: number | undefined
  /** Author email or name, or the login of a user whose email it is. */
  readonly author?: string | undefined
  readonly committer?: string | undefined
}

export type ArchiveFormat = "tar" | "zip"

const splitPath = (path: string) => path.split("/").filter((s) => s !== "")

const emptyRepo = () => new Conflict({ reason: "Git Repository is empty." })

/** GitHub's order for tags: newest version first (numeric runs compare as numbers). */
export const compareVersionsDesc = (a: string, b: string): number => {
  const chunks = (s: string) => s.match(/\d+|\D+/g) ?? []
  const x = chunks(a)
  const y = chunks(b)
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    const p = x[i]!
    const q = y[i]!
    if (p === q) continue
    const bothNumbers = /^\d/.test(p) && /^\d/.test(q)
    if (bothNumbers && Number(p) !== Number(q)) return Number(q) - Number(p)
    return q < p ? -1 : 1
  }
  return y.length - x.length
}

/** The URL `.gitmodules` gives for the submodule at `path` (a tiny reader of git's config format). */
export const submoduleUrl = (gitmodules: string, path: string): string | null => {
  let section: { path?: string; url?: string } | undefined
  const sections: Array<{ path?: string; url?: string }> = []
  for (const raw of gitmodules.split("\n")) {
    const line = raw.trim()
    if (line === "" || line.startsWith("#") || line.startsWith(";")) continue
    if (line.startsWith("[")) {
      section = {}
      sections.push(section)
      continue
    }
    const m = /^([A-Za-z][A-Za-z0-9-]*)\s*=\s*(.*)$/.exec(line)
    if (!m || !section) continue
    const value = m[2]!.replace(/^"(.*)"$/, "$1")
    if (m[1]!.toLowerCase() === "path") section.path = value
    if (m[1]!.toLowerCase() === "url") section.url = value
  }
  return sections.find((s) => s.path === path)?.url ?? null
}

/** Languages by file extension (programming and markup languages, as GitHub counts them). */
const LANGUAGES: Record<string, string> = {
  ts: "TypeScript",
  tsx: "TypeScript",
  mts: "TypeScript",
  cts: "TypeScript",
  js: "JavaScript",
  mjs: "JavaScript",
  cjs: "JavaScript",
  jsx: "JavaScript",
  py: "Python",
  rb: "Ruby",
  go: "Go",
  rs: "Rust",
  c: "C",
  h: "C",
  cc: "C++",
  cpp: "C++",
  cxx: "C++",
  hpp: "C++",
  hh: "C++",
  cs: "C#",
  java: "Java",
  kt: "Kotlin",
  kts: "Kotlin",
  scala: "Scala",
  swift: "Swift",
  m: "Objective-C",
  mm: "Objective-C++",
  php: "PHP",
  pl: "Perl",
  pm: "Perl",
  sh: "Shell",
  bash: "Shell",
  zsh: "Shell",
  ps1: "PowerShell",
  lua: "Lua",
  r: "R",
  jl: "Julia",
  hs: "Haskell",
  ml: "OCaml",
  mli: "OCaml",
  ex: "Elixir",
  exs: "Elixir",
  erl: "Erlang",
  clj: "Clojure",
  dart: "Dart",
  zig: "Zig",
  nim: "Nim",
  sql: "SQL",
  html: "HTML",
  htm: "HTML",
  css: "CSS",
  scss: "SCSS",
  sass: "Sass",
  less: "Less",
  vue: "Vue",
  svelte: "Svelte",
  tex: "TeX",
  el: "Emacs Lisp",
  vim: "Vim Script",
  asm: "Assembly",
  s: "Assembly",
  f90: "Fortran",
  groovy: "Groovy",
  tf: "HCL",
  proto: "Protocol Buffer",
  cmake: "CMake",
  mk: "Makefile",
}
const LANGUAGE_BY_NAME: Record<string, string> = {
  makefile: "Makefile",
  gnumakefile: "Makefile",
  dockerfile: "Dockerfile",
  "cmakelists.txt": "CMake",
  rakefile: "Ruby",
  gemfile: "Ruby",
}
/** Paths GitHub leaves out of language statistics (vendored code). */
const VENDORED = /(^|\/)(node_modules|vendor|third_party|bower_components)\//

export const languageOf = (path: string): string | undefined => {
  if (VENDORED.test(path) || /\.min\.(js|css)$/.test(path)) return undefined
  const name = path.slice(path.lastIndexOf("/") + 1).toLowerCase()
  const byName = LANGUAGE_BY_NAME[name]
  if (byName) return byName
  const dot = name.lastIndexOf(".")
  return dot > 0 ? LANGUAGES[name.slice(dot + 1)] : undefined
}

/** How many trees' language counts are kept (oldest dropped first). */
const LANGUAGE_CACHE_TREES = 256

const make = Effect.gen(function* () {
  const languageCache = new Map<string, Array<[string, number]>>()
  const repos = yield* Repositories
  const objects = yield* ObjectStore
  const refs = yield* RefStore
  const meta = yield* Metadata
  const scope = yield* RepoObjects

  const readable = (owner: string, name: string, principal: Principal | undefined) =>
    Effect.map(repos.access(owner, name, principal, "read"), (f) => f.repo)

  const load = (id: ObjectId) =>
    Effect.map(objects.getMany([id]).pipe(Effect.orDie), ([o]) =>
      o ? { type: o.type, content: o.content } : undefined,
    )
  const missing = (what: string) => new NotFound({ what })

  /** The object, with annotated tags followed until something else. */
  const peel = (id: ObjectId) =>
    Effect.gen(function* () {
      let current = id
      for (let hops = 0; hops < 32; hops++) {
        const o = yield* load(current)
        if (!o) return undefined
        if (o.type !== "tag") return { id: current, type: o.type }
        const t = tagTarget(o.content)
        if (t instanceof ObjectParseError) return undefined
        current = t.object
      }
      return undefined
    })

  /** Object types from their stored records, without inflating them. */
  const typesOf = (ids: ReadonlyArray<ObjectId>) =>
    Effect.map(objects.getStoredMany(ids).pipe(Effect.orDie), (stored) =>
      stored.map((o) => o?.type),
    )
  const typeOf = (id: ObjectId) => Effect.map(typesOf([id]), ([t]) => t)

  const commitAt = (id: ObjectId) =>
    Effect.gen(function* () {
      const o = yield* load(id)
      if (o?.type !== "commit") return yield* missing(`commit ${id}`)
      const c = parseCommit(o.content)
      if (c instanceof ObjectParseError) return yield* missing(`commit ${id}`)
      return c
    })

  const treeCache = new Map<ObjectId, TreeEntry[]>()
  const treeAt = (id: ObjectId) =>
    Effect.gen(function* () {
      const hit = treeCache.get(id)
      if (hit) return hit
      const o = yield* load(id)
      if (o?.type !== "tree") return yield* missing(`tree ${id}`)
      const t = parseTree(o.content)
      if (t instanceof ObjectParseError) return yield* missing(`tree ${id}`)
      // A small cache: trees are immutable, and history walks read the same ones repeatedly.
      if (treeCache.size > 512) treeCache.clear()
      treeCache.set(id, t)
      return t
    })

  /** The entry at `segments` below `tree` (the root itself for no segments). */
  const entryAt = (tree: ObjectId, segments: ReadonlyArray<string>) =>
    Effect.gen(function* () {
      let entry: { mode: string; id: ObjectId; name: string } = {
        mode: "40000",
        id: tree,
        name: "",
      }
      for (const seg of segments) {
        if (entryKind(entry.mode) !== "tree") return undefined
        const found = (yield* treeAt(entry.id)).find((e) => textString(e.name) === seg)
        if (!found) return undefined
        entry = { mode: found.mode, id: found.id, name: seg }
      }
      return entry
    })

  const sizesOf = (ids: ReadonlyArray<ObjectId>) =>
    Effect.gen(function* () {
      const sizes = new Map<ObjectId, number>()
      for (let i = 0; i < ids.length; i += 1000) {
        const batch = ids.slice(i, i + 1000)
        const stored = yield* objects.getStoredMany(batch).pipe(Effect.orDie)
        stored.forEach((s, k) => {
          if (s) sizes.set(batch[k]!, s.size)
        })
      }
      return sizes
    })

  // ------------------------------------------------------------------------ refs

  const refList = (repo: RepoRow) => refs.list(repoKey(repo)).pipe(Effect.orDie)

  const headBranch = (repo: RepoRow) =>
    Effect.map(refs.getHead(repoKey(repo)).pipe(Effect.orDie), (target) =>
      target?.startsWith("refs/heads/") ? target.slice("refs/heads/".length) : repo.default_branch,
    )

  /** A commit whose id starts with `prefix`, among those reachable from the refs. */
  const abbreviated = (repo: RepoRow, prefix: string) =>
    Effect.gen(function* () {
      const found = new Set<ObjectId>()
      const seen = new Set<ObjectId>()
      const stack: ObjectId[] = []
      for (const r of yield* refList(repo)) {
        const p = yield* peel(r.id)
        if (p?.type === "commit") stack.push(p.id)
      }
      while (stack.length > 0 && seen.size < ABBREV_SEARCH_LIMIT) {
        const id = stack.pop()!
        if (seen.has(id)) continue
        seen.add(id)
        if (id.startsWith(prefix)) found.add(id)
        const o = yield* load(id)
        if (o?.type !== "commit") continue
        const links = commitLinks(o.content)
        if (!(links instanceof ObjectParseError)) stack.push(...links.parents)
      }
      return found.size === 1 ? [...found][0] : undefined
    })

  // The object store is shared by every repository, so an id alone must not open another
  // repository's objects: an id-addressed read needs the object visible here (RepoObjects:
  // reachable from this repository's refs, or written to it), as upload-pack requires of
  // unadvertised wants. An invisible object answers as a missing one.
  /** The object `id` names if it exists and belongs to this repository. */
  const own = (repo: RepoRow, id: ObjectId) =>
    Effect.gen(function* () {
      const type = yield* typeOf(id)
      if (type === undefined || !(yield* scope.visible(repo, id))) return undefined
      return type
    })

  /**
   * What `ref` names: HEAD, a branch, a tag, a full ref name, an object id or an abbreviated
   * commit id. Returns the object the ref points at (not peeled).
   */
  const resolveName = (repo: RepoRow, ref: string) =>
    Effect.gen(function* () {
      const key = repoKey(repo)
      const get = (name: string) => refs.get(key, name).pipe(Effect.orDie)
      if (ref === "HEAD") return yield* get(`refs/heads/${yield* headBranch(repo)}`)
      const candidates = ref.startsWith("refs/")
        ? [ref]
        : [`refs/heads/${ref}`, `refs/tags/${ref}`, `refs/${ref}`]
      for (const name of candidates) {
        const id = yield* get(name)
        if (id) return id
      }
      const lower = ref.toLowerCase()
      if (isObjectId(lower)) return (yield* own(repo, lower)) ? lower : undefined
      if (/^[0-9a-f]{4,39}$/.test(lower)) return yield* abbreviated(repo, lower)
      return undefined
    })

  /** The commit `ref` names, peeling tags; undefined when it names none. */
  const resolveCommit = (repo: RepoRow, ref: string) =>
    Effect.gen(function* () {
      const id = yield* resolveName(repo, ref)
      if (!id) return undefined
      const p = yield* peel(id)
      return p?.type === "commit" ? p.id : undefined
    })

  /** The commit `ref` names (default: the default branch), or the error GitHub answers. */
  const commitOrFail = (
    repo: RepoRow,
    ref: string | undefined,
    onMissing: (ref: string) => NotFound | Invalid,
  ) =>
    Effect.gen(function* () {
      if (ref === undefined || ref === "") {
        const branch = yield* headBranch(repo)
        const id = yield* resolveCommit(repo, `refs/heads/${branch}`)
        if (!id) return yield* emptyRepo()
        return { sha: id, ref: branch }
      }
      const id = yield* resolveCommit(repo, ref)
      if (!id) return yield* onMissing(ref)
      return { sha: id, ref }
    })

  const noCommitForRef = (ref: string) => missing(`No commit found for the ref ${ref}`)
  const noCommitForSha = (ref: string) =>
    new Invalid({
      reason: `No commit found for SHA: ${ref}`,
      resource: "Commit",
      field: "sha",
      code: "invalid",
    })

  // ------------------------------------------------------------------------ branches and tags

  const branchList = (repo: RepoRow) =>
    Effect.gen(function* () {
      const rules = new Map(
        (yield* meta.protectedBranches(repo.id).pipe(Effect.orDie)).map((p) => [p.branch, p.rule]),
      )
      const out: BranchInfo[] = []
      for (const r of yield* refList(repo)) {
        if (!r.name.startsWith("refs/heads/")) continue
        const name = r.name.slice("refs/heads/".length)
        const rule = rules.get(name)
        out.push({ name, sha: r.id, protected: rule !== undefined, rule })
      }
      return out
    })

  const tagList = (repo: RepoRow) =>
    Effect.gen(function* () {
      const out: Array<{ name: string; sha: ObjectId; object: ObjectId }> = []
      for (const r of yield* refList(repo)) {
        if (!r.name.startsWith("refs/tags/")) continue
        const p = yield* peel(r.id)
        out.push({ name: r.name.slice("refs/tags/".length), sha: p?.id ?? r.id, object: r.id })
      }
      return out.sort((a, b) => compareVersionsDesc(a.name, b.name))
    })

  // ------------------------------------------------------------------------ history

  /** Whether a signature matches GitHub's `author`/`committer` filter value. */
  const personMatcher = (value: string | undefined) =>
    Effect.gen(function* () {
      if (value === undefined || value === "") return undefined
      const wanted = new Set([value.toLowerCase()])
      const user = yield* meta.userByLogin(value).pipe(Effect.orDie)
      if (user?.email) wanted.add(user.email.toLowerCase())
      return (s: Commit["author"]) =>
        wanted.has(textString(s.email).toLowerCase()) ||
        wanted.has(textString(s.name).toLowerCase())
    })

  /** Ids of the commits reachable from `start`, newest first, filtered as GitHub filters. */
  const history = (start: ObjectId, f: HistoryFilter) =>
    Effect.gen(function* () {
      const segments = f.path ? splitPath(f.path) : undefined
      const byAuthor = yield* personMatcher(f.author)
      const byCommitter = yield* personMatcher(f.committer)
      interface Node {
        readonly id: ObjectId
        readonly commit: Commit
      }
      const read = (id: ObjectId) => Effect.map(commitAt(id), (commit): Node => ({ id, commit }))
      // git's commit list: newest committer date first, ties in insertion order.
      const queue: Node[] = []
      const insert = (n: Node) => {
        let i = queue.length
        while (i > 0 && queue[i - 1]!.commit.committer.timestamp < n.commit.committer.timestamp) i--
        queue.splice(i, 0, n)
      }
      const seen = new Set<ObjectId>([start])
      insert(yield* read(start))
      const out: ObjectId[] = []
      const pathId = (c: Commit) =>
        Effect.map(entryAt(c.tree, segments ?? []), (e) => (e ? `${e.mode} ${e.id}` : undefined))
      while (queue.length > 0 && seen.size <= HISTORY_LIMIT) {
        const node = queue.shift()!
        let parents = node.commit.parents
        const parentNodes: Node[] = []
        for (const p of parents) {
          const found = yield* read(p).pipe(Effect.option)
          if (Option.isSome(found)) parentNodes.push(found.value)
        }
        let show = true
        if (segments) {
          const mine = yield* pathId(node.commit)
          if (parentNodes.length === 0) show = mine !== undefined
          else {
            let same = -1
            for (let k = 0; k < parentNodes.length && same < 0; k++)
              if ((yield* pathId(parentNodes[k]!.commit)) === mine) same = k
            show = same < 0
            if (same >= 0) parents = [parentNodes[same]!.id]
          }
        }
        const c = node.commit
        if (
          show &&
          (f.since === undefined || c.committer.timestamp >= f.since) &&
          (f.until === undefined || c.committer.timestamp <= f.until) &&
          (!byAuthor || byAuthor(c.author)) &&
          (!byCommitter || byCommitter(c.committer))
        )
          out.push(node.id)
        for (const p of parentNodes) {
          if (!parents.includes(p.id) || seen.has(p.id)) continue
          seen.add(p.id)
          insert(p)
        }
      }
      return out
    })

  /** Commits reachable from `head` and not from `base`, oldest first (parents first). */
  const between = (base: ObjectId, head: ObjectId) =>
    Effect.gen(function* () {
      const fromBase = new Set<ObjectId>()
      const reach = (from: ObjectId, stop: Set<ObjectId> | undefined, into: Set<ObjectId>) =>
        Effect.gen(function* () {
          const parents = new Map<ObjectId, ObjectId[]>()
          const stack = [from]
          while (stack.length > 0 && into.size < HISTORY_LIMIT) {
            const id = stack.pop()!
            if (into.has(id) || stop?.has(id)) continue
            const o = yield* load(id)
            if (o?.type !== "commit") continue
            const links = commitLinks(o.content)
            if (links instanceof ObjectParseError) continue
            into.add(id)
            parents.set(id, links.parents)
            stack.push(...links.parents)
          }
          return parents
        })
      yield* reach(base, undefined, fromBase)
      const range = new Set<ObjectId>()
      const parents = yield* reach(head, fromBase, range)
      // Parents before children, deterministically (depth-first from head, parents in order).
      const order: ObjectId[] = []
      const placed = new Set<ObjectId>()
      const stack: Array<[ObjectId, boolean]> = [[head, false]]
      while (stack.length > 0) {
        const [c, done] = stack.pop()!
        if (done) {
          if (!placed.has(c)) {
            placed.add(c)
            order.push(c)
          }
          continue
        }
        if (placed.has(c) || !range.has(c)) continue
        stack.push([c, true])
        for (const p of [...(parents.get(c) ?? [])].reverse())
          if (range.has(p) && !placed.has(p)) stack.push([p, false])
      }
      return order
    })

  const loader = (id: ObjectId) => load(id)
  const diffOf = (from: ObjectId | undefined, to: ObjectId) =>
    Effect.gen(function* () {
      const b = yield* commitAt(to)
      const a = from === undefined ? undefined : (yield* commitAt(from)).tree
      // Objects of finalized refs are always held (DESIGN: data availability): a missing one is a bug.
      return yield* diffTrees(loader, a, b.tree).pipe(Effect.orDie)
    })

  // ------------------------------------------------------------------------ contents

  const dirItems = (dirPath: string, entries: ReadonlyArray<TreeEntry>) =>
    Effect.gen(function* () {
      const sizes = yield* sizesOf(
        entries
          .filter((e) => entryKind(e.mode) === "blob" || entryKind(e.mode) === "symlink")
          .map((e) => e.id),
      )
      return entries.map((e): DirItem => {
        const name = textString(e.name)
        const kind = entryKind(e.mode)
        return {
          type:
            kind === "tree"
              ? "dir"
              : kind === "symlink"
                ? "symlink"
                : kind === "gitlink"
                  ? "submodule"
                  : "file",
          name,
          path: dirPath === "" ? name : `${dirPath}/${name}`,
          sha: e.id,
          size: kind === "blob" || kind === "symlink" ? (sizes.get(e.id) ?? 0) : 0,
        }
      })
    })

  /** Where a symlink at `path` with `target` points inside the repository, if it does. */
  const linkTarget = (path: string, target: string): string[] | undefined => {
    if (target.startsWith("/")) return undefined
    const parts = splitPath(path).slice(0, -1)
    for (const seg of target.split("/")) {
      if (seg === "" || seg === ".") continue
      if (seg === "..") {
        if (parts.length === 0) return undefined
        parts.pop()
      } else parts.push(seg)
    }
    return parts
  }

  const contentAt = (
    tree: ObjectId,
    path: string,
    raw: boolean,
  ): Effect.Effect<ContentNode, NotFound> =>
    Effect.gen(function* () {
      const segments = splitPath(path)
      const normal = segments.join("/")
      const entry = yield* entryAt(tree, segments)
      if (!entry) return yield* missing(`path ${path}`)
      const name = segments.at(-1) ?? ""
      const kind = entryKind(entry.mode)
      if (kind === "tree") {
        const entries = yield* dirItems(normal, yield* treeAt(entry.id))
        return { type: "dir", name, path: normal, sha: entry.id, entries }
      }
      if (kind === "gitlink") {
        const gm = yield* entryAt(tree, [".gitmodules"])
        const text = gm && entryKind(gm.mode) === "blob" ? yield* load(gm.id) : undefined
        const url = text ? submoduleUrl(Buffer.from(text.content).toString("utf8"), normal) : null
        return { type: "submodule", name, path: normal, sha: entry.id, url }
      }
      const o = yield* load(entry.id)
      if (o?.type !== "blob") return yield* missing(`blob ${entry.id}`)
      if (kind === "symlink") {
        const target = Buffer.from(o.content).toString("utf8")
        const to = linkTarget(normal, target)
        if (to) {
          const dest = yield* entryAt(tree, to)
          if (dest && entryKind(dest.mode) === "blob")
            return yield* contentAt(tree, to.join("/"), raw)
        }
        return {
          type: "symlink",
          name,
          path: normal,
          sha: entry.id,
          size: o.content.length,
          target,
          content: o.content,
        }
      }
      return {
        type: "file",
        name,
        path: normal,
        sha: entry.id,
        size: o.content.length,
        content: raw || o.content.length <= CONTENT_INLINE_LIMIT ? o.content : undefined,
      }
    })

  // ------------------------------------------------------------------------ archives

  const archiveStream = (
    sha: ObjectId,
    commit: Commit,
    format: ArchiveFormat,
    prefix: string,
  ): Stream.Stream<Uint8Array, ArchiveError | NotFound> =>
    Stream.suspend(() => {
      type Item = { path: Buffer; mode: string; id: ObjectId }
      const mtime = commit.committer.timestamp
      const root: Item = { path: Buffer.from(prefix, "utf8"), mode: "40000", id: commit.tree }
      const stack: Item[] = [root]
      const tar = format === "tar" ? new TarWriter(mtime) : undefined
      const zip = format === "zip" ? new ZipWriter(mtime) : undefined
      let phase: "header" | "entries" | "end" | "done" = tar ? "header" : "entries"
      const write = (e: ArchiveEntry) =>
        Effect.gen(function* () {
          if (tar) return tar.entry(e)
          const out = zip!.entry(e)
          if (out instanceof ArchiveError) return yield* out
          return out
        })
      const step = (): Effect.Effect<Option.Option<Uint8Array>, ArchiveError | NotFound> =>
        Effect.gen(function* () {
          if (phase === "header") {
            phase = "entries"
            return Option.some(tar!.globalHeader(sha))
          }
          if (phase === "entries") {
            const item = stack.pop()
            if (!item) {
              phase = "end"
              return yield* step()
            }
            const kind = entryKind(item.mode)
            if (kind === "tree") {
              const entries = yield* treeAt(item.id)
              for (let i = entries.length - 1; i >= 0; i--) {
                const e = entries[i]!
                stack.push({
                  path: Buffer.concat([item.path, Buffer.from("/"), textBytes(e.name)]),
                  mode: e.mode,
                  id: e.id,
                })
              }
              return Option.some(yield* write({ path: item.path, mode: "40000", id: item.id }))
            }
            if (kind === "gitlink")
              return Option.some(yield* write({ path: item.path, mode: item.mode, id: item.id }))
            const o = yield* load(item.id)
            if (o?.type !== "blob") return yield* missing(`blob ${item.id}`)
            return Option.some(
              yield* write({ path: item.path, mode: item.mode, id: item.id, content: o.content }),
            )
          }
          if (phase === "end") {
            phase = "done"
            return Option.some(tar ? tar.end() : zip!.end(sha))
          }
          return Option.none()
        })
      return Stream.repeatEffectOption(
        step().pipe(
          Effect.mapError(Option.some),
          Effect.flatMap((o) =>
            Option.isSome(o) ? Effect.succeed(o.value) : Effect.fail(Option.none()),
          ),
        ),
      )
    })

  // ------------------------------------------------------------------------ the service

  return {
    readable,
    /** The commit a ref names in a readable repository (default: the default branch). */
    resolve: (
      owner: string,
      name: string,
      ref: string | undefined,
      principal: Principal | undefined,
    ) =>
      Effect.gen(function* () {
        const repo = yield* readable(owner, name, principal)
        return { repo, ...(yield* commitOrFail(repo, ref, noCommitForRef)) }
      }),

    branches: (owner: string, name: string, principal: Principal | undefined) =>
      Effect.gen(function* () {
        const repo = yield* readable(owner, name, principal)
        return { repo, branches: yield* branchList(repo) }
      }),

    branch: (owner: string, name: string, branch: string, principal: Principal | undefined) =>
      Effect.gen(function* () {
        const repo = yield* readable(owner, name, principal)
        const info = (yield* branchList(repo)).find((b) => b.name === branch)
        if (!info) return yield* missing("Branch not found")
        const sha = (yield* peel(info.sha))?.id ?? info.sha
        return { repo, branch: info, sha, commit: yield* commitAt(sha) }
      }),

    tags: (owner: string, name: string, principal: Principal | undefined) =>
      Effect.gen(function* () {
        const repo = yield* readable(owner, name, principal)
        return { repo, tags: yield* tagList(repo) }
      }),

    /** Every matching commit id, newest first (the caller pages). */
    history: (owner: string, name: string, principal: Principal | undefined, f: HistoryFilter) =>
      Effect.gen(function* () {
        const repo = yield* readable(owner, name, principal)
        const start = yield* commitOrFail(repo, f.sha, noCommitForSha)
        return { repo, ids: yield* history(start.sha, f) }
      }),

    /** Parsed commits by id (for a page of a listing). */
    commits: (ids: ReadonlyArray<ObjectId>) =>
      Effect.forEach(ids, (id) => Effect.map(commitAt(id), (commit) => ({ id, commit }))),

    /** `git format-patch --stdout` of commits (oldest first; merges are left out, as git does). */
    patch: (ids: ReadonlyArray<ObjectId>) => formatPatch(loader, ids).pipe(Effect.orDie),

    /** One commit with the files it changed against its first parent. */
    commit: (owner: string, name: string, ref: string, principal: Principal | undefined) =>
      Effect.gen(function* () {
        const repo = yield* readable(owner, name, principal)
        const { sha } = yield* commitOrFail(repo, ref, noCommitForSha)
        const commit = yield* commitAt(sha)
        const files = yield* diffOf(commit.parents[0], sha)
        return { repo, id: sha, commit, files }
      }),

    /**
     * `base...head` (or `base..head`): how head relates to base, the commits head has that
     * base lacks, and the files changed since their merge base (since base for `..`).
     * Either side may be `owner:ref` to name the same-named repository of another owner.
     */
    compare: (owner: string, name: string, basehead: string, principal: Principal | undefined) =>
      Effect.gen(function* () {
        const repo = yield* readable(owner, name, principal)
        const three = basehead.indexOf("...")
        const two = basehead.indexOf("..")
        const [baseRef, headRef, direct] =
          three >= 0
            ? [basehead.slice(0, three), basehead.slice(three + 3), false]
            : two >= 0
              ? [basehead.slice(0, two), basehead.slice(two + 2), true]
              : [undefined, undefined, false]
        if (!baseRef || !headRef) return yield* missing(`comparison ${basehead}`)
        const end = (spec: string) =>
          Effect.gen(function* () {
            const colon = spec.indexOf(":")
            let where = repo
            let ref = spec
            if (colon > 0) {
              const who = spec.slice(0, colon)
              ref = spec.slice(colon + 1)
              if (who.toLowerCase() !== repo.owner_login.toLowerCase())
                where = yield* readable(who, repo.name, principal)
            }
            const id = yield* resolveCommit(where, ref)
            if (!id) return yield* missing(`ref ${spec}`)
            return id
          })
        const base = yield* end(baseRef)
        const head = yield* end(headRef)
        const bases = yield* mergeBases(loader, base, head).pipe(Effect.orDie)
        const mergeBase = bases[0]
        if (!mergeBase)
          return yield* missing(`No common ancestor between ${baseRef} and ${headRef}`)
        const ahead = yield* between(base, head)
        const behind = yield* between(head, base)
        const status =
          base === head
            ? ("identical" as const)
            : behind.length === 0
              ? ("ahead" as const)
              : ahead.length === 0
                ? ("behind" as const)
                : ("diverged" as const)
        const files: FileDiff[] = yield* diffOf(direct ? base : mergeBase, head)
        return {
          repo,
          base,
          head,
          mergeBase,
          baseCommit: yield* commitAt(base),
          mergeBaseCommit: yield* commitAt(mergeBase),
          status,
          aheadBy: ahead.length,
          behindBy: behind.length,
          commits: ahead,
          files,
        }
      }),

    // --- git data

    blob: (owner: string, name: string, sha: string, principal: Principal | undefined) =>
      Effect.gen(function* () {
        const repo = yield* readable(owner, name, principal)
        const id = sha.toLowerCase()
        if (!isObjectId(id)) return yield* badSha()
        const o = (yield* own(repo, id)) === "blob" ? yield* load(id) : undefined
        if (o?.type !== "blob") return yield* missing(`blob ${sha}`)
        return { repo, id, content: o.content }
      }),

    /** A tree by id, or the tree of the commit (or tag, or ref) `sha` names. */
    tree: (
      owner: string,
      name: string,
      sha: string,
      recursive: boolean,
      principal: Principal | undefined,
    ) =>
      Effect.gen(function* () {
        const repo = yield* readable(owner, name, principal)
        const named = yield* resolveName(repo, sha)
        const p = named ? yield* peel(named) : undefined
        let id: ObjectId | undefined
        if (p?.type === "tree") id = p.id
        else if (p?.type === "commit") id = (yield* commitAt(p.id)).tree
        if (!id) return yield* missing(`tree ${sha}`)
        const items: Array<Omit<TreeItem, "size">> = []
        let truncated = false
        // Depth-first, each directory's entries in tree order: `git ls-tree -r -t`'s order.
        const frames: Array<{ dir: string; entries: TreeEntry[]; next: number }> = [
          { dir: "", entries: yield* treeAt(id), next: 0 },
        ]
        while (frames.length > 0) {
          const frame = frames.at(-1)!
          const e = frame.entries[frame.next++]
          if (!e) {
            frames.pop()
            continue
          }
          if (items.length >= TREE_ENTRY_LIMIT) {
            truncated = true
            break
          }
          const path = frame.dir === "" ? textString(e.name) : `${frame.dir}/${textString(e.name)}`
          const kind = entryKind(e.mode)
          const type = kind === "tree" ? "tree" : kind === "gitlink" ? "commit" : "blob"
          items.push({ path, mode: e.mode.padStart(6, "0"), type, sha: e.id })
          if (recursive && kind === "tree")
            frames.push({ dir: path, entries: yield* treeAt(e.id), next: 0 })
        }
        const sizes = yield* sizesOf(items.filter((i) => i.type === "blob").map((i) => i.sha))
        const tree: TreeItem[] = items.map((i) => ({
          ...i,
          size: i.type === "blob" ? (sizes.get(i.sha) ?? 0) : undefined,
        }))
        return { repo, id, tree, truncated }
      }),

    gitCommit: (owner: string, name: string, sha: string, principal: Principal | undefined) =>
      Effect.gen(function* () {
        const repo = yield* readable(owner, name, principal)
        const id = sha.toLowerCase()
        if (!isObjectId(id)) return yield* badSha()
        const o = (yield* own(repo, id)) === "commit" ? yield* load(id) : undefined
        if (o?.type !== "commit") return yield* missing(`commit ${sha}`)
        const commit = parseCommit(o.content)
        if (commit instanceof ObjectParseError) return yield* missing(`commit ${sha}`)
        return { repo, id, commit, raw: o.content }
      }),

    gitTag: (owner: string, name: string, sha: string, principal: Principal | undefined) =>
      Effect.gen(function* () {
        const repo = yield* readable(owner, name, principal)
        const id = sha.toLowerCase()
        if (!isObjectId(id)) return yield* badSha()
        const o = (yield* own(repo, id)) === "tag" ? yield* load(id) : undefined
        if (o?.type !== "tag") return yield* missing(`tag ${sha}`)
        const tag: Tag | ObjectParseError = parseTag(o.content)
        if (tag instanceof ObjectParseError) return yield* missing(`tag ${sha}`)
        return { repo, id, tag, raw: o.content }
      }),

    /** Every ref, sorted by name, with the type of the object it names. */
    refs: (owner: string, name: string, principal: Principal | undefined) =>
      Effect.gen(function* () {
        const repo = yield* readable(owner, name, principal)
        const list = yield* refList(repo)
        const types = yield* typesOf(list.map((r) => r.id))
        const out = list.map(
          (r, i): RefInfo => ({ name: r.name, id: r.id, type: types[i] ?? "commit" }),
        )
        return { repo, refs: out }
      }),

    /** The file, directory, symlink or submodule at `path` in the commit `ref` names. */
    contents: (
      owner: string,
      name: string,
      path: string,
      ref: string | undefined,
      raw: boolean,
      principal: Principal | undefined,
    ) =>
      Effect.gen(function* () {
        const repo = yield* readable(owner, name, principal)
        const at = yield* commitOrFail(repo, ref, noCommitForRef).pipe(
          Effect.catchTag("Conflict", () => missing("This repository is empty.")),
        )
        const commit = yield* commitAt(at.sha)
        return { repo, ref: at.ref, sha: at.sha, node: yield* contentAt(commit.tree, path, raw) }
      }),

    /**
     * A file by `{ref}/{path}` where the ref itself may contain slashes: the shortest
     * leading part that names a commit is the ref (raw download URLs have this shape).
     */
    raw: (owner: string, name: string, refAndPath: string, principal: Principal | undefined) =>
      Effect.gen(function* () {
        const repo = yield* readable(owner, name, principal)
        const parts = splitPath(refAndPath)
        for (let i = 1; i < parts.length; i++) {
          const sha = yield* resolveCommit(repo, parts.slice(0, i).join("/"))
          if (!sha) continue
          const node = yield* contentAt((yield* commitAt(sha)).tree, parts.slice(i).join("/"), true)
          if (node.type === "file" || node.type === "symlink") return { repo, sha, node }
          return yield* missing(`file ${refAndPath}`)
        }
        return yield* missing(`file ${refAndPath}`)
      }),

    /** The README of `dir` (default: the root): README.md first, then README, then README.*. */
    readme: (
      owner: string,
      name: string,
      dir: string,
      ref: string | undefined,
      raw: boolean,
      principal: Principal | undefined,
    ) =>
      Effect.gen(function* () {
        const repo = yield* readable(owner, name, principal)
        const at = yield* commitOrFail(repo, ref, noCommitForRef).pipe(
          Effect.catchTag("Conflict", () => missing("This repository is empty.")),
        )
        const commit = yield* commitAt(at.sha)
        const segments = splitPath(dir)
        const where = yield* entryAt(commit.tree, segments)
        if (!where || entryKind(where.mode) !== "tree") return yield* missing("README")
        const files = (yield* treeAt(where.id))
          .filter((e) => entryKind(e.mode) === "blob" || entryKind(e.mode) === "symlink")
          .map((e) => textString(e.name))
        const rank = (n: string) => {
          const l = n.toLowerCase()
          if (l === "readme.md") return 0
          if (l === "readme") return 1
          if (/^readme\.[^/]+$/.test(l)) return 2
          return 3
        }
        const best = files.filter((n) => rank(n) < 3).sort((a, b) => rank(a) - rank(b))[0]
        if (best === undefined) return yield* missing("README")
        const node = yield* contentAt(commit.tree, [...segments, best].join("/"), raw)
        return { repo, ref: at.ref, sha: at.sha, node }
      }),

    /** Bytes per language on the default branch, largest first. */
    languages: (owner: string, name: string, principal: Principal | undefined) =>
      Effect.gen(function* () {
        const repo = yield* readable(owner, name, principal)
        const tip = yield* resolveCommit(repo, `refs/heads/${yield* headBranch(repo)}`)
        if (!tip) return { repo, languages: [] as Array<[string, number]> }
        const root = (yield* commitAt(tip)).tree
        // A tree's languages never change: computed once per tree id.
        const cached = languageCache.get(root)
        if (cached) return { repo, languages: cached }
        const files: Array<[string, ObjectId]> = []
        const walk: Array<[string, ObjectId]> = [["", root]]
        while (walk.length > 0) {
          const [dir, tree] = walk.pop()!
          for (const e of yield* treeAt(tree)) {
            const path = dir === "" ? textString(e.name) : `${dir}/${textString(e.name)}`
            const kind = entryKind(e.mode)
            if (kind === "tree") walk.push([path, e.id])
            else if (kind === "blob") files.push([path, e.id])
          }
        }
        const counted = files.flatMap(([path, id]) => {
          const language = languageOf(path)
          return language ? [[language, id] as const] : []
        })
        const sizes = yield* sizesOf(counted.map(([, id]) => id))
        const totals = new Map<string, number>()
        for (const [language, id] of counted)
          totals.set(language, (totals.get(language) ?? 0) + (sizes.get(id) ?? 0))
        const languages = [...totals].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
        languageCache.set(root, languages)
        if (languageCache.size > LANGUAGE_CACHE_TREES)
          languageCache.delete(languageCache.keys().next().value!)
        return { repo, languages }
      }),

    /**
     * The tree of the commit `ref` names as a tar (uncompressed; the caller gzips) or zip,
     * under the top directory `{owner}-{repo}-{short id}/` as GitHub lays archives out.
     */
    archive: (
      owner: string,
      name: string,
      ref: string | undefined,
      format: ArchiveFormat,
      principal: Principal | undefined,
    ) =>
      Effect.gen(function* () {
        const repo = yield* readable(owner, name, principal)
        const at = yield* commitOrFail(repo, ref, noCommitForRef).pipe(
          Effect.catchTag("Conflict", () => missing("This repository is empty.")),
        )
        const commit = yield* commitAt(at.sha)
        const prefix = `${repo.owner_login}-${repo.name}-${at.sha.slice(0, 7)}`
        return {
          repo,
          sha: at.sha,
          prefix,
          body: archiveStream(at.sha, commit, format, prefix),
        }
      }),
  }
})

const badSha = () =>
  new Invalid({
    reason: "The sha parameter must be exactly 40 characters and contain only [0-9a-f].",
    resource: "Git",
    field: "sha",
    code: "invalid",
  })

export class RepoContent extends Context.Tag("guts/RepoContent")<
  RepoContent,
  Effect.Effect.Success<typeof make>
>() {
  static Live = Layer.effect(this, make)
}
