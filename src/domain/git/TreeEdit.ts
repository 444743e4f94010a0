/**
 * Editing one path of a tree: put a blob at `a/b/c.txt` (creating directories) or remove
 * it (removing directories left empty), producing the new root tree and every tree object
 * written on the way. Pure over an object loader; nothing is stored here.
 */
import { Effect } from "effect"
import {
  entryKind,
  hashObject,
  ObjectParseError,
  parseTree,
  serializeTree,
  sortTreeEntries,
  type TreeEntry,
  textString,
} from "./GitObject.ts"
import type { ObjectId } from "./ObjectId.ts"
import type { ObjectLoader } from "./MergeBase.ts"
import type { NewObject } from "./TreeMerge.ts"

export class PathProblem {
  readonly _tag = "PathProblem"
  constructor(readonly message: string) {}
}

/** The path's segments, or why it cannot name a file (GitHub's and git's rules). */
export const pathSegments = (path: string): string[] | PathProblem => {
  const parts = path.split("/")
  if (path === "" || parts.some((p) => p === "" || p === "." || p === ".."))
    return new PathProblem(`'${path}' is not a valid file path`)
  if (parts.some((p) => p.toLowerCase() === ".git"))
    return new PathProblem("paths inside .git cannot be written")
  if (parts.some((p) => p.includes("\0"))) return new PathProblem("paths cannot contain NUL")
  return parts
}

const readTree = <E>(load: ObjectLoader<E>, id: ObjectId | undefined) =>
  Effect.gen(function* () {
    if (id === undefined) return [] as TreeEntry[]
    const o = yield* load(id)
    if (!o || o.type !== "tree") return yield* Effect.fail(new PathProblem(`tree ${id} is missing`))
    const entries = parseTree(o.content)
    if (entries instanceof ObjectParseError)
      return yield* Effect.fail(new PathProblem(`tree ${id} is malformed`))
    return entries
  })

export interface TreeEditResult {
  readonly tree: ObjectId
  readonly objects: ReadonlyArray<NewObject>
  /** The entry that was at the path before (undefined: none). */
  readonly previous: TreeEntry | undefined
}

/**
 * Sets `path` to `entry` (a blob's mode and id), or removes it when `entry` is undefined.
 * Fails with PathProblem when a directory is in the way of a file or vice versa.
 */
export const editTree = <E>(
  load: ObjectLoader<E>,
  root: ObjectId | undefined,
  path: ReadonlyArray<string>,
  entry: { readonly mode: string; readonly id: ObjectId } | undefined,
): Effect.Effect<TreeEditResult, E | PathProblem> =>
  Effect.gen(function* () {
    const objects: NewObject[] = []
    let previous: TreeEntry | undefined
    const go = (
      treeId: ObjectId | undefined,
      depth: number,
    ): Effect.Effect<ObjectId | undefined, E | PathProblem> =>
      Effect.gen(function* () {
        const entries = yield* readTree(load, treeId)
        const name = path[depth]!
        const at = entries.findIndex((e) => textString(e.name) === name)
        const existing = at >= 0 ? entries[at] : undefined
        const rest = entries.filter((_, i) => i !== at)
        let replacement: TreeEntry | undefined
        if (depth === path.length - 1) {
          if (existing && entryKind(existing.mode) === "tree")
            return yield* Effect.fail(new PathProblem(`'${path.join("/")}' is a directory`))
          previous = existing
          replacement = entry ? { mode: entry.mode, name, id: entry.id } : undefined
        } else {
          if (existing && entryKind(existing.mode) !== "tree")
            return yield* Effect.fail(
              new PathProblem(`'${path.slice(0, depth + 1).join("/")}' is a file, not a directory`),
            )
          const child = yield* go(existing?.id, depth + 1)
          replacement = child === undefined ? undefined : { mode: "40000", name, id: child }
        }
        const next = sortTreeEntries(replacement ? [...rest, replacement] : rest)
        if (next.length === 0) return undefined
        const content = serializeTree(next)
        const id = hashObject("tree", content)
        objects.push({ id, type: "tree", content })
        return id
      })
    const tree = yield* go(root, 0)
    if (tree === undefined) {
      const content = serializeTree([])
      const id = hashObject("tree", content)
      objects.push({ id, type: "tree", content })
      return { tree: id, objects, previous }
    }
    return { tree, objects, previous }
  })
