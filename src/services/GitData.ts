/**
 * The write half of GitHub's git data API: blobs, trees, commits and annotated tags made
 * one object at a time, to be named later by a ref update (`POST/PATCH .../git/refs`).
 *
 * Guarantees:
 * - Every object is built with git's own encodings (GitObject.ts), canonical as
 *   `git fsck --strict` wants it: trees sorted, modes from git's set, signatures without
 *   `<`, `>` or newlines in names and emails.
 * - Nothing is stored until the whole request has been checked: a bad input (malformed
 *   base64, an unknown or mistyped object, a bad mode or path, a malformed date) is an
 *   Invalid naming the field and what is wrong, and leaves no object behind.
 * - Written objects are handed to the other validators (ObjectReplicator) before the answer,
 *   as a push's are, so the ref update that later names them applies on every node.
 *
 * An id a request names must be visible in the repository (RepoObjects: reachable from its
 * refs, or written to it), not merely held by the node's shared store: another
 * repository's object is refused as a missing one. What a write stores is recorded as
 * written to the repository, so the next write there (or a ref update) may name it.
 */
import { Context, Effect, Layer } from "effect"
import {
  type Commit,
  entryKind,
  hashObject,
  ObjectParseError,
  parseCommit,
  parseTree,
  type Signature,
  serializeCommit,
  serializeTag,
  serializeTree,
  sortTreeEntries,
  type Tag,
  type Text,
  type TreeEntry,
  textString,
} from "../domain/git/GitObject.ts"
import { isObjectId, type ObjectId, type ObjectType } from "../domain/git/ObjectId.ts"
import { refNameProblem } from "../domain/git/RefName.ts"
import { PathProblem, pathSegments } from "../domain/git/TreeEdit.ts"
import type { Principal } from "./Auth.ts"
import { Invalid } from "./Errors.ts"
import type { RepoRow } from "./Metadata.ts"
import { awaitArrival } from "./ObjectArrival.ts"
import { ObjectReplicator } from "./ObjectReplicator.ts"
import { NodeConfig } from "./NodeConfig.ts"
import { ObjectStore } from "./ObjectStore.ts"
import { RepoObjects } from "./RepoObjects.ts"
import { Repositories } from "./Repositories.ts"

/** A person as the API sends one: name, email, optional ISO 8601 date. */
export interface PersonInput {
  readonly name: unknown
  readonly email: unknown
  readonly date?: unknown
}

/** One entry of `POST .../git/trees`, unchecked. */
export type TreeEntryInput = Record<string, unknown>

const MODES: Record<string, { kind: ObjectType; mode: string }> = {
  "100644": { kind: "blob", mode: "100644" },
  "100755": { kind: "blob", mode: "100755" },
  "120000": { kind: "blob", mode: "120000" },
  "040000": { kind: "tree", mode: "40000" },
  "160000": { kind: "commit", mode: "160000" },
}

const invalid = (resource: string, field: string, reason: string) =>
  Effect.fail(new Invalid({ reason, resource, field, code: "invalid" }))

const missingField = (resource: string, field: string) =>
  Effect.fail(
    new Invalid({
      reason: `"${field}" wasn't supplied.`,
      resource,
      field,
      code: "missing_field",
    }),
  )

/** `2014-11-07T22:01:45Z` or `...+01:00`: seconds and git's `+0100`, or undefined. */
export const parseIsoDate = (s: string): { timestamp: number; timezone: string } | undefined => {
  const m =
    /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.\d+)?(Z|([+-])(\d{2}):?(\d{2}))$/.exec(s)
  if (!m) return undefined
  const [, y, mo, d, h, mi, se, z, sign, zh, zm] = m
  const utc = Date.UTC(+y!, +mo! - 1, +d!, +h!, +mi!, +se!)
  const check = new Date(utc)
  if (
    Number.isNaN(utc) ||
    check.getUTCMonth() !== +mo! - 1 ||
    check.getUTCDate() !== +d! ||
    +h! > 23 ||
    +mi! > 59 ||
    +se! > 59
  )
    return undefined
  if (z === "Z") return utc < 0 ? undefined : { timestamp: utc / 1000, timezone: "+0000" }
  if (+zh! > 23 || +zm! > 59) return undefined
  const offset = (+zh! * 60 + +zm!) * (sign === "-" ? -1 : 1)
  const timestamp = utc / 1000 - offset * 60
  // Git's signature times are seconds since the epoch, never negative.
  return timestamp < 0 ? undefined : { timestamp, timezone: `${sign}${zh}${zm}` }
}

/** Base64 as GitHub accepts it (whitespace ignored, padding required), or undefined. */
const decodeBase64 = (s: string): Buffer | undefined => {
  const clean = s.replace(/\s+/g, "")
  if (clean.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(clean)) return undefined
  return Buffer.from(clean, "base64")
}

interface NewObject {
  readonly type: ObjectType
  readonly content: Buffer
}

/** A directory being edited: its entries by name, subdirectories loaded when touched. */
interface Dir {
  readonly entries: Map<string, Node>
}
interface Node {
  name: Text
  mode: string
  id: ObjectId | undefined
  dir: Dir | undefined
}

const make = Effect.gen(function* () {
  const repos = yield* Repositories
  const objects = yield* ObjectStore
  const replicator = yield* ObjectReplicator
  const scope = yield* RepoObjects
  const config = yield* NodeConfig

  const writable = (owner: string, name: string, principal: Principal) =>
    Effect.map(repos.access(owner, name, principal, "write"), (f) => f.repo)

  /** The object's type when the store holds it (or it arrives from another validator). */
  const typeOf = yield* awaitArrival((id: ObjectId) =>
    Effect.map(objects.get(id).pipe(Effect.option, Effect.orDie), (o) =>
      o._tag === "Some" ? o.value : undefined,
    ),
  )

  /** The object when the store holds it and it is visible in `repo` (waiting as typeOf). */
  const visibleIn = (repo: RepoRow) =>
    awaitArrival((id: ObjectId) =>
      Effect.gen(function* () {
        const o = yield* objects.get(id).pipe(Effect.option, Effect.orDie)
        if (o._tag === "None") return undefined
        return (yield* scope.visible(repo, id)) ? o.value : undefined
      }),
    ).pipe(Effect.provideService(NodeConfig, config))

  /**
   * A 40-hex id of an object of `type` visible in `repo`, or the Invalid saying why not
   * (another repository's object is answered as a missing one).
   */
  const existing = (
    repo: RepoRow,
    value: unknown,
    type: ObjectType,
    resource: string,
    field: string,
  ) =>
    Effect.gen(function* () {
      if (typeof value !== "string" || !isObjectId(value.toLowerCase()))
        return yield* invalid(resource, field, `${field} must be a 40-character hex object id`)
      const id = value.toLowerCase() as ObjectId
      const o = yield* (yield* visibleIn(repo))(id)
      if (!o) return yield* invalid(resource, field, `${field} ${id} does not exist`)
      if (o.type !== type)
        return yield* invalid(resource, field, `${field} ${id} is a ${o.type}, not a ${type}`)
      return o
    })

  /**
   * Stores the objects, gives them to the other validators, and records them as written
   * to `repo`.
   */
  const store = (repo: RepoRow, list: ReadonlyArray<NewObject>) =>
    Effect.gen(function* () {
      const ids: ObjectId[] = []
      for (const o of list) ids.push(yield* objects.put(o.type, o.content).pipe(Effect.orDie))
      const stored = yield* objects.getStoredMany(ids).pipe(Effect.orDie)
      yield* replicator.replicate(stored.filter((s) => s !== undefined))
      yield* scope.recordUploaded(repo, ids)
      return ids
    })

  const person = (
    input: unknown,
    fallback: Signature | undefined,
    principal: Principal,
    resource: string,
    field: string,
    now: number,
  ) =>
    Effect.gen(function* () {
      if (input === undefined || input === null) {
        if (fallback) return fallback
        const u = principal.user
        return {
          name: u.name || u.login,
          email: u.email || `${u.login}@users.noreply.guts`,
          timestamp: now,
          timezone: "+0000",
        }
      }
      if (typeof input !== "object" || Array.isArray(input))
        return yield* invalid(resource, field, `${field} must be an object with name and email`)
      const p = input as PersonInput
      if (typeof p.name !== "string" || typeof p.email !== "string")
        return yield* invalid(resource, field, `${field} needs a name and an email (strings)`)
      for (const [k, v] of [
        ["name", p.name],
        ["email", p.email],
      ] as const)
        if (/[<>\n\0]/.test(v))
          return yield* invalid(
            resource,
            `${field}.${k}`,
            `${field}.${k} cannot contain '<', '>', a newline or NUL`,
          )
      let when = { timestamp: now, timezone: "+0000" }
      if (p.date !== undefined && p.date !== null) {
        const parsed = typeof p.date === "string" ? parseIsoDate(p.date) : undefined
        if (!parsed)
          return yield* invalid(
            resource,
            `${field}.date`,
            `${field}.date ${JSON.stringify(p.date)} is not an ISO 8601 timestamp (YYYY-MM-DDTHH:MM:SSZ or with an offset like +01:00)`,
          )
        when = parsed
      }
      return { name: p.name, email: p.email, ...when }
    })

  const loadDir = (id: ObjectId) =>
    Effect.gen(function* () {
      const o = yield* typeOf(id)
      const parsed = o?.type === "tree" ? parseTree(o.content) : undefined
      if (!parsed || parsed instanceof ObjectParseError)
        return yield* invalid("Tree", "base_tree", `tree ${id} is missing or malformed`)
      const entries = new Map<string, Node>()
      for (const e of parsed)
        entries.set(textString(e.name), { name: e.name, mode: e.mode, id: e.id, dir: undefined })
      return { entries } satisfies Dir
    })

  /** Writes every edited directory bottom-up; undefined for one left empty. */
  const writeDir = (dir: Dir, out: NewObject[]): ObjectId | undefined => {
    const list: TreeEntry[] = []
    for (const n of dir.entries.values()) {
      const id = n.dir ? writeDir(n.dir, out) : n.id
      if (id !== undefined) list.push({ mode: n.mode, name: n.name, id })
    }
    if (list.length === 0) return undefined
    const content = serializeTree(sortTreeEntries(list))
    out.push({ type: "tree", content })
    return hashObject("tree", content)
  }

  return {
    createBlob: (
      owner: string,
      name: string,
      principal: Principal,
      content: string,
      encoding: string | undefined,
    ) =>
      Effect.gen(function* () {
        const repo = yield* writable(owner, name, principal)
        const enc = (encoding ?? "utf-8").toLowerCase()
        let bytes: Buffer | undefined
        if (enc === "utf-8" || enc === "utf8") bytes = Buffer.from(content, "utf8")
        else if (enc === "base64") {
          bytes = decodeBase64(content)
          if (!bytes)
            return yield* invalid(
              "Blob",
              "content",
              "content is not valid base64 (characters A-Z a-z 0-9 + /, padded with = to a multiple of 4)",
            )
        } else
          return yield* invalid(
            "Blob",
            "encoding",
            `encoding '${encoding}' is not supported: use utf-8 or base64`,
          )
        const [id] = yield* store(repo, [{ type: "blob", content: bytes }])
        return { repo, id: id! }
      }),

    /**
     * A tree: `base_tree`'s entries (if given) with each entry applied in order — a path
     * with slashes edits subtrees (creating them), `sha: null` removes the path.
     */
    createTree: (
      owner: string,
      name: string,
      principal: Principal,
      baseTree: string | undefined,
      entries: ReadonlyArray<unknown>,
    ) =>
      Effect.gen(function* () {
        const repo: RepoRow = yield* writable(owner, name, principal)
        let root: Dir = { entries: new Map() }
        if (baseTree !== undefined) {
          const o = yield* existing(repo, baseTree, "tree", "Tree", "base_tree")
          root = yield* loadDir(o.id)
        }
        const out: NewObject[] = []
        for (let i = 0; i < entries.length; i++) {
          const at = `tree[${i}]`
          const raw = entries[i]
          if (typeof raw !== "object" || raw === null || Array.isArray(raw))
            return yield* invalid("Tree", at, `${at} must be an object with path, mode and type`)
          const e = raw as TreeEntryInput
          if (typeof e.path !== "string") return yield* missingField("Tree", `${at}.path`)
          const segments = pathSegments(e.path)
          if (segments instanceof PathProblem)
            return yield* invalid("Tree", `${at}.path`, `${at}.path: ${segments.message}`)
          if (typeof e.mode !== "string") return yield* missingField("Tree", `${at}.mode`)
          const mode = MODES[e.mode.padStart(6, "0")]
          if (!mode)
            return yield* invalid(
              "Tree",
              `${at}.mode`,
              `${at}.mode '${e.mode}' is not one of 100644, 100755, 040000, 160000, 120000`,
            )
          if (e.type !== undefined && e.type !== mode.kind)
            return yield* invalid(
              "Tree",
              `${at}.type`,
              `${at}.type '${String(e.type)}' does not match mode ${e.mode} (which is a ${mode.kind})`,
            )
          const hasContent = e.content !== undefined && e.content !== null
          if ("sha" in e && e.sha !== undefined && hasContent)
            return yield* invalid("Tree", `${at}.sha`, `${at} has both sha and content: give one`)
          let id: ObjectId | undefined
          if (hasContent) {
            if (typeof e.content !== "string")
              return yield* invalid("Tree", `${at}.content`, `${at}.content must be a string`)
            if (mode.kind !== "blob")
              return yield* invalid(
                "Tree",
                `${at}.content`,
                `${at}.content makes a file: its mode must be 100644, 100755 or 120000`,
              )
            const content = Buffer.from(e.content, "utf8")
            out.push({ type: "blob", content })
            id = hashObject("blob", content)
          } else if (e.sha === null) {
            id = undefined // removal
          } else if (e.sha === undefined) {
            return yield* missingField("Tree", `${at}.sha`)
          } else if (mode.kind === "commit") {
            // A submodule's commit lives in another repository: only the id is checked.
            if (typeof e.sha !== "string" || !isObjectId(e.sha.toLowerCase()))
              return yield* invalid(
                "Tree",
                `${at}.sha`,
                `${at}.sha must be a 40-character hex object id`,
              )
            id = e.sha.toLowerCase() as ObjectId
          } else {
            id = (yield* existing(repo, e.sha, mode.kind, "Tree", `${at}.sha`)).id
          }
          // Walk to the parent directory, loading or creating each level.
          let dir: Dir | undefined = root
          for (let d = 0; d < segments.length - 1 && dir; d++) {
            const seg = segments[d]!
            const n: Node | undefined = dir.entries.get(seg)
            if (n === undefined) {
              if (id === undefined) {
                dir = undefined // removing below a directory that is not there: nothing to do
                break
              }
              const created: Node = {
                name: seg,
                mode: "40000",
                id: undefined,
                dir: { entries: new Map() },
              }
              dir.entries.set(seg, created)
              dir = created.dir!
            } else if (entryKind(n.mode) !== "tree") {
              return yield* invalid(
                "Tree",
                `${at}.path`,
                `${at}.path: '${segments.slice(0, d + 1).join("/")}' is a file, not a directory`,
              )
            } else {
              if (!n.dir) n.dir = yield* loadDir(n.id!)
              dir = n.dir
            }
          }
          const leaf = segments.at(-1)!
          if (id === undefined) dir?.entries.delete(leaf)
          else dir?.entries.set(leaf, { name: leaf, mode: mode.mode, id, dir: undefined })
        }
        const trees: NewObject[] = []
        let id = writeDir(root, trees)
        if (id === undefined) {
          const content = serializeTree([])
          trees.push({ type: "tree", content })
          id = hashObject("tree", content)
        }
        yield* store(repo, [...out, ...trees])
        // The answer lists the root's entries, as GitHub's does.
        const top = sortTreeEntries(
          [...root.entries.values()]
            .map((n) => ({ mode: n.mode, name: n.name, id: n.dir ? writeDir(n.dir, []) : n.id }))
            .filter((n): n is TreeEntry => n.id !== undefined),
        )
        const sizes = new Map<string, number>()
        const blobs = top.filter((e) => entryKind(e.mode) !== "tree" && e.mode !== "160000")
        const got = yield* objects.getMany(blobs.map((e) => e.id)).pipe(Effect.orDie)
        for (const o of got) if (o) sizes.set(o.id, o.content.length)
        const tree = top.map((e) => {
          const kind = entryKind(e.mode)
          const type = kind === "tree" ? "tree" : kind === "gitlink" ? "commit" : "blob"
          return {
            path: textString(e.name),
            mode: e.mode.padStart(6, "0"),
            type,
            sha: e.id,
            size: type === "blob" ? (sizes.get(e.id) ?? 0) : undefined,
          }
        })
        return { repo, id, tree }
      }),

    createCommit: (
      owner: string,
      name: string,
      principal: Principal,
      input: {
        message: string
        tree: string
        parents: ReadonlyArray<unknown>
        author: unknown
        committer: unknown
      },
    ) =>
      Effect.gen(function* () {
        const repo = yield* writable(owner, name, principal)
        const tree = yield* existing(repo, input.tree, "tree", "Commit", "tree")
        const parents: ObjectId[] = []
        for (let i = 0; i < input.parents.length; i++)
          parents.push(
            (yield* existing(repo, input.parents[i], "commit", "Commit", `parents[${i}]`)).id,
          )
        const now = Math.floor(Date.now() / 1000)
        const author = yield* person(input.author, undefined, principal, "Commit", "author", now)
        const committer = yield* person(
          input.committer,
          input.author === undefined || input.author === null ? undefined : author,
          principal,
          "Commit",
          "committer",
          now,
        )
        const commit: Commit = {
          tree: tree.id,
          parents,
          author,
          committer,
          headers: [],
          message: input.message,
        }
        const content = serializeCommit(commit)
        const [id] = yield* store(repo, [{ type: "commit", content }])
        const parsed = parseCommit(content)
        return {
          repo,
          id: id!,
          commit: parsed instanceof ObjectParseError ? commit : parsed,
          raw: content,
        }
      }),

    createTag: (
      owner: string,
      name: string,
      principal: Principal,
      input: { tag: string; message: string; object: string; type: string; tagger: unknown },
    ) =>
      Effect.gen(function* () {
        const repo = yield* writable(owner, name, principal)
        if (refNameProblem(`refs/tags/${input.tag}`))
          return yield* invalid(
            "Tag",
            "tag",
            `tag '${input.tag}' is not a valid tag name (git check-ref-format)`,
          )
        if (!["commit", "tree", "blob", "tag"].includes(input.type))
          return yield* invalid(
            "Tag",
            "type",
            `type '${input.type}' must be one of commit, tree, blob, tag`,
          )
        const target = yield* existing(
          repo,
          input.object,
          input.type as ObjectType,
          "Tag",
          "object",
        )
        const now = Math.floor(Date.now() / 1000)
        const tagger = yield* person(input.tagger, undefined, principal, "Tag", "tagger", now)
        const tag: Tag = {
          object: target.id,
          type: input.type as ObjectType,
          tag: input.tag,
          tagger,
          headers: [],
          message: input.message,
        }
        const [id] = yield* store(repo, [{ type: "tag", content: serializeTag(tag) }])
        return { repo, id: id!, tag }
      }),
  }
})

export class GitData extends Context.Tag("guts/GitData")<
  GitData,
  Effect.Effect.Success<typeof make>
>() {
  static readonly Live = Layer.effect(GitData, make)
}
