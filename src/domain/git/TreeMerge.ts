/**
 * Three-way merge of trees, path by path (what `git merge-tree --write-tree` does when no
 * file was renamed), producing the merged tree's objects and every conflicting path.
 *
 * Guarantees:
 * - A path changed on one side only takes that side (added, modified, deleted, mode
 *   changed); a path changed the same way on both sides takes that change. Unchanged
 *   subtrees are resolved by id, without being read (the three root trees always are).
 * - A file changed on both sides is merged line by line (Merge3): mode and content merge
 *   separately, so one side's `chmod +x` and the other's edit combine cleanly.
 * - Conflicts, each reported once with its path and kind:
 *   `content` (overlapping edits), `add/add` (added on both sides with different content
 *   or mode), `modify/delete`, `mode` (both changed the mode differently), `binary`,
 *   `symlink` and `submodule` (both changed the target), `type` (a file on one side, a
 *   symlink or submodule on the other), `directory/file` (a file on one side where the
 *   other has a directory).
 * - Even with conflicts the result is a complete tree, as git writes it: a content conflict
 *   holds git's markers, a modify/delete keeps the modified version, binary, symlink,
 *   submodule, type and mode conflicts keep ours, and in a directory/file conflict the
 *   directory keeps the name and the file moves to `name~<label of its side>`.
 * - Pure: nothing is written. `objects` lists the blobs and trees the merge created; the
 *   caller stores them before using `tree`. Directories left empty disappear.
 * - A missing or mistyped object fails with MissingObject / WrongObjectType /
 *   MalformedObject naming it; commits with no common ancestor fail with UnrelatedHistories.
 *
 * Not done: rename detection, and merging several merge bases into a virtual one (git's
 * recursive strategy): with a criss-cross history the first merge base is used.
 */
import { Data, Effect } from "effect"
import {
  entryKind,
  hashObject,
  serializeTree,
  sortTreeEntries,
  type Text,
  type TreeEntry,
  textBytes,
  textString,
} from "./GitObject.ts"
import { merge3 } from "./Merge3.ts"
import {
  mergeBases,
  type ObjectLoader,
  type ObjectReadError,
  readBlob,
  readCommit,
  readTree,
} from "./MergeBase.ts"
import type { ObjectId, ObjectType } from "./ObjectId.ts"

export type ConflictKind =
  | "content"
  | "add/add"
  | "modify/delete"
  | "mode"
  | "binary"
  | "symlink"
  | "submodule"
  | "type"
  | "directory/file"

/** One side's version of a path (mode as written in trees, e.g. `100644`). */
export interface Version {
  readonly mode: string
  readonly id: ObjectId
}

export interface MergeConflict {
  /** Slash-separated path from the root (names that are not UTF-8 shown with U+FFFD). */
  readonly path: string
  readonly kind: ConflictKind
  /** The versions involved (absent: the path does not exist on that side). */
  readonly base?: Version
  readonly ours?: Version
  readonly theirs?: Version
}

/** An object the merge created. */
export interface NewObject {
  readonly id: ObjectId
  readonly type: ObjectType
  readonly content: Buffer
}

export interface TreeMergeResult {
  /** The merged root tree (with conflict markers etc. where `clean` is false). */
  readonly tree: ObjectId
  readonly clean: boolean
  /** Sorted by path. */
  readonly conflicts: ReadonlyArray<MergeConflict>
  /** Trees and blobs created by the merge, children before parents. */
  readonly objects: ReadonlyArray<NewObject>
}

export interface CommitMergeResult extends TreeMergeResult {
  /** The merge base used. */
  readonly base: ObjectId
  /** All merge bases (more than one in a criss-cross history; the first is used). */
  readonly bases: ReadonlyArray<ObjectId>
}

export interface TreeMergeOptions {
  /** Conflict marker labels (git uses the branch names). Default "ours", "base", "theirs". */
  readonly labels?: { readonly ours?: string; readonly base?: string; readonly theirs?: string }
  /** Conflict style in merged text files. Default "merge". */
  readonly style?: "merge" | "diff3"
}

export class UnrelatedHistories extends Data.TaggedError("UnrelatedHistories")<{
  readonly ours: ObjectId
  readonly theirs: ObjectId
}> {
  override get message() {
    return `${this.ours} and ${this.theirs} have no common ancestor`
  }
}

export const EMPTY_TREE_ID = "4b825dc642cb6eb9a060e54bf8d69288fbee4904" as ObjectId

const EMPTY_BLOB = Buffer.alloc(0)

const sameVersion = (a: TreeEntry | undefined, b: TreeEntry | undefined): boolean =>
  a === undefined ? b === undefined : b !== undefined && a.id === b.id && a.mode === b.mode

const isDir = (e: TreeEntry | undefined): boolean => e !== undefined && entryKind(e.mode) === "tree"

const version = (e: TreeEntry | undefined): Version | undefined => e && { mode: e.mode, id: e.id }

/**
 * Merges `ours` and `theirs` against `base` (undefined: no common tree, every path is an
 * addition on both sides).
 */
export const mergeTrees = <E>(
  load: ObjectLoader<E>,
  base: ObjectId | undefined,
  ours: ObjectId,
  theirs: ObjectId,
  options: TreeMergeOptions = {},
): Effect.Effect<TreeMergeResult, E | ObjectReadError> =>
  Effect.gen(function* () {
    const labels = {
      ours: options.labels?.ours ?? "ours",
      base: options.labels?.base ?? "base",
      theirs: options.labels?.theirs ?? "theirs",
    }
    const created = new Map<ObjectId, NewObject>()
    const conflicts: MergeConflict[] = []
    const record = (type: ObjectType, content: Buffer): ObjectId => {
      const id = hashObject(type, content)
      if (!created.has(id)) created.set(id, { id, type, content })
      return id
    }
    const entriesOf = (id: ObjectId | undefined) =>
      id === undefined ? Effect.succeed<TreeEntry[]>([]) : readTree(load, id)
    const contentOf = (e: TreeEntry | undefined) =>
      e === undefined || entryKind(e.mode) !== "blob"
        ? Effect.succeed<Uint8Array>(EMPTY_BLOB)
        : readBlob(load, e.id)

    /** A non-directory path: the version to keep, or undefined for none. */
    const mergeFile = (
      path: string,
      b: TreeEntry | undefined,
      o: TreeEntry | undefined,
      t: TreeEntry | undefined,
    ): Effect.Effect<Version | undefined, E | ObjectReadError> =>
      Effect.gen(function* () {
        if (sameVersion(o, t)) return version(o)
        if (sameVersion(b, o)) return version(t)
        if (sameVersion(b, t)) return version(o)
        const conflict = (kind: ConflictKind) =>
          conflicts.push({ path, kind, base: version(b), ours: version(o), theirs: version(t) })
        if (o === undefined || t === undefined) {
          // Deleted on one side, changed on the other: keep the change for the user to see.
          conflict("modify/delete")
          return version(o ?? t)
        }
        const kind = entryKind(o.mode)
        if (kind !== entryKind(t.mode)) {
          conflict("type")
          return version(o)
        }
        if (kind === "gitlink" || kind === "symlink") {
          conflict(kind === "gitlink" ? "submodule" : "symlink")
          return version(o)
        }
        // Regular files: the mode and the content merge separately.
        const baseFile = b !== undefined && entryKind(b.mode) === "blob" ? b : undefined
        let mode = t.mode
        let modeClean = true
        if (!(o.mode === t.mode || o.mode === baseFile?.mode)) {
          mode = o.mode
          modeClean = t.mode === baseFile?.mode
        }
        let id: ObjectId
        let contentClean = true
        let binary = false
        if (o.id === t.id) id = o.id
        else if (baseFile?.id === o.id) id = t.id
        else if (baseFile?.id === t.id) id = o.id
        else {
          const merged = merge3(
            yield* contentOf(baseFile),
            yield* readBlob(load, o.id),
            yield* readBlob(load, t.id),
            { labels, style: options.style ?? "merge" },
          )
          contentClean = merged.clean
          binary = merged.binary
          id = merged.clean || !binary ? record("blob", merged.content) : o.id
        }
        if (!contentClean)
          conflict(baseFile === undefined ? "add/add" : binary ? "binary" : "content")
        else if (!modeClean) conflict(baseFile === undefined ? "add/add" : "mode")
        return { mode, id }
      })

    /** A directory: the merged tree's id, or undefined when it ends up empty. */
    const mergeDir = (
      prefix: string,
      b: ObjectId | undefined,
      o: ObjectId | undefined,
      t: ObjectId | undefined,
    ): Effect.Effect<ObjectId | undefined, E | ObjectReadError> =>
      Effect.gen(function* () {
        type Slot = { name: Text; b?: TreeEntry; o?: TreeEntry; t?: TreeEntry }
        const slots = new Map<string, Slot>()
        const add = (entries: ReadonlyArray<TreeEntry>, side: "b" | "o" | "t") => {
          for (const e of entries) {
            const key = textBytes(e.name).toString("latin1")
            let slot = slots.get(key)
            if (!slot) {
              slot = { name: e.name }
              slots.set(key, slot)
            }
            slot[side] = e
          }
        }
        add(yield* entriesOf(b), "b")
        add(yield* entriesOf(o), "o")
        add(yield* entriesOf(t), "t")
        const out: TreeEntry[] = []
        for (const slot of slots.values()) {
          const path = prefix + textString(slot.name)
          // A name can be a directory on one side and a file on another: the directory
          // and the file are merged as two paths, which only collide if both survive.
          const dir = (e: TreeEntry | undefined) => (isDir(e) ? e : undefined)
          const file = (e: TreeEntry | undefined) => (e !== undefined && !isDir(e) ? e : undefined)
          const [bd, od, td] = [dir(slot.b), dir(slot.o), dir(slot.t)]
          let dirId: ObjectId | undefined
          if (sameVersion(od, td)) dirId = od?.id
          else if (sameVersion(bd, od)) dirId = td?.id
          else if (sameVersion(bd, td)) dirId = od?.id
          else dirId = yield* mergeDir(`${path}/`, bd?.id, od?.id, td?.id)
          const kept = yield* mergeFile(path, file(slot.b), file(slot.o), file(slot.t))
          if (dirId !== undefined) out.push({ mode: "40000", name: slot.name, id: dirId })
          if (kept === undefined) continue
          if (dirId === undefined) {
            out.push({ mode: kept.mode, name: slot.name, id: kept.id })
            continue
          }
          const fromOurs = file(slot.o)?.id === kept.id && file(slot.o)?.mode === kept.mode
          const label = fromOurs ? labels.ours : labels.theirs
          const moved = Buffer.concat([textBytes(slot.name), Buffer.from(`~${label}`, "utf8")])
          conflicts.push({
            path,
            kind: "directory/file",
            base: version(file(slot.b) ?? bd),
            ours: version(slot.o),
            theirs: version(slot.t),
          })
          out.push({ mode: kept.mode, name: textOrBytes(moved), id: kept.id })
        }
        if (out.length === 0) return undefined
        return record("tree", serializeTree(sortTreeEntries(out)))
      })

    // The roots are read even when ids decide the merge: a result never names a tree that
    // is missing or is not a tree.
    for (const root of [base, ours, theirs]) if (root !== undefined) yield* readTree(load, root)
    let tree: ObjectId | undefined
    if (ours === theirs || base === ours) tree = theirs
    else if (base === theirs) tree = ours
    else tree = yield* mergeDir("", base, ours, theirs)
    if (tree === undefined) tree = record("tree", EMPTY_BLOB)
    const sorted = conflicts.sort((x, y) => byteOrder(x.path, y.path))
    return {
      tree,
      clean: sorted.length === 0,
      conflicts: sorted,
      objects: [...created.values()],
    } satisfies TreeMergeResult
  })

/** A name as Text: a string when it is valid UTF-8, so names stay comparable. */
const textOrBytes = (bytes: Buffer): Text => {
  const s = bytes.toString("utf8")
  return Buffer.from(s, "utf8").equals(bytes) ? s : bytes
}

const byteOrder = (a: string, b: string): number => Buffer.compare(Buffer.from(a), Buffer.from(b))

/**
 * Merges commit `theirs` into commit `ours`: finds their merge base and merges the trees.
 * Fails with UnrelatedHistories when they have no common ancestor.
 */
export const mergeCommits = <E>(
  load: ObjectLoader<E>,
  ours: ObjectId,
  theirs: ObjectId,
  options: TreeMergeOptions = {},
): Effect.Effect<CommitMergeResult, E | ObjectReadError | UnrelatedHistories> =>
  Effect.gen(function* () {
    const bases = yield* mergeBases(load, ours, theirs)
    const base = bases[0]
    if (base === undefined) return yield* new UnrelatedHistories({ ours, theirs })
    const [b, o, t] = [
      yield* readCommit(load, base),
      yield* readCommit(load, ours),
      yield* readCommit(load, theirs),
    ]
    const merged = yield* mergeTrees(load, b.tree, o.tree, t.tree, options)
    return { ...merged, base, bases }
  })
