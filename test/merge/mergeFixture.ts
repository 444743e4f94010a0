/**
 * Test support for merge and diff: histories written with `git fast-import` from snapshots
 * (so modes, symlinks and odd paths are exact), and the repository's objects as a loader.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { hashObject, serializeTree, sortTreeEntries } from "../../src/domain/git/GitObject.ts"
import { type LoadedObject, mapLoader, type ObjectLoader } from "../../src/domain/git/MergeBase.ts"
import type { ObjectId, ObjectType } from "../../src/domain/git/ObjectId.ts"
import { allObjects, gitInput, readAllObjects } from "../git/gitFixture.ts"

export interface FileSpec {
  readonly mode: "100644" | "100755" | "120000"
  readonly content: Buffer
}

/** Every file of a commit, by slash-separated path. */
export type Snapshot = ReadonlyMap<string, FileSpec>

export interface CommitSpec {
  /** Branch the commit is written to (refs/heads/<ref>). */
  readonly ref: string
  /** Indexes of earlier commits in the same import. */
  readonly parents: ReadonlyArray<number>
  readonly files: Snapshot
  /** Committer and author time, seconds. */
  readonly time: number
  readonly message?: string
}

/** Writes the commits with fast-import; returns their ids, in order. */
export const importCommits = (repo: string, commits: ReadonlyArray<CommitSpec>): string[] => {
  const parts: Buffer[] = []
  const emit = (s: string | Buffer) => parts.push(typeof s === "string" ? Buffer.from(s) : s)
  const data = (b: Buffer) => {
    emit(`data ${b.length}\n`)
    emit(b)
    emit("\n")
  }
  commits.forEach((c, k) => {
    const ref = `refs/heads/${c.ref}`
    // A reset first, so a root commit does not continue the branch's earlier tip.
    emit(`reset ${ref}\n`)
    emit(`commit ${ref}\nmark :${k + 1}\n`)
    emit(`author Ada Lovelace <ada@example.com> ${c.time} +0000\n`)
    emit(`committer Ada Lovelace <ada@example.com> ${c.time} +0000\n`)
    data(Buffer.from(c.message ?? `commit ${k}\n`))
    c.parents.forEach((p, i) => {
      if (p >= k) throw new Error(`commit ${k} names a later parent ${p}`)
      emit(`${i === 0 ? "from" : "merge"} :${p + 1}\n`)
    })
    emit("deleteall\n")
    for (const [name, f] of c.files) {
      emit(`M ${f.mode} inline ${name}\n`)
      data(f.content)
    }
    emit("\n")
  })
  const marks = path.join(repo, ".git", "guts-test-marks")
  gitInput(repo, Buffer.concat(parts), "fast-import", "--quiet", `--export-marks=${marks}`)
  const ids = new Map<number, string>()
  for (const line of fs.readFileSync(marks, "utf8").trim().split("\n")) {
    const [mark, id] = line.split(" ")
    ids.set(Number(mark!.slice(1)), id!)
  }
  return commits.map((_, k) => ids.get(k + 1)!)
}

/** All objects of the repository, as a loader's map. */
export const objectsOf = (repo: string): Map<string, LoadedObject> => {
  const raw = readAllObjects(
    repo,
    allObjects(repo).map((o) => o.id),
  )
  const out = new Map<string, LoadedObject>()
  for (const [id, o] of raw) out.set(id, { type: o.type as ObjectType, content: o.content })
  return out
}

/** How many test cases a generator makes: `GUTS_MERGE_CASES` scales them (default 1). */
export const scaled = (n: number): number =>
  Math.max(1, Math.round(n * Number(process.env.GUTS_MERGE_CASES ?? 1)))

/** Objects built in memory (for unit tests that need exact, small, or broken objects). */
export class MemoryObjects {
  readonly objects = new Map<string, LoadedObject>()

  put(type: ObjectType, content: Buffer | string): ObjectId {
    const bytes = typeof content === "string" ? Buffer.from(content) : content
    const id = hashObject(type, bytes)
    this.objects.set(id, { type, content: bytes })
    return id
  }

  blob(content: Buffer | string): ObjectId {
    return this.put("blob", content)
  }

  /** A tree from `name → [mode, id]` (sorted into git's order). */
  tree(entries: Record<string, readonly [string, ObjectId]>): ObjectId {
    const list = Object.entries(entries).map(([name, [mode, id]]) => ({ mode, name, id }))
    return this.put("tree", serializeTree(sortTreeEntries(list)))
  }

  /** A tree from `path → content` (files 100644; nested directories from slashes). */
  files(files: Record<string, string | readonly [string, string]>): ObjectId {
    const here: Record<string, readonly [string, ObjectId]> = {}
    const below = new Map<string, Record<string, string | readonly [string, string]>>()
    for (const [name, spec] of Object.entries(files)) {
      const slash = name.indexOf("/")
      if (slash >= 0) {
        const dir = name.slice(0, slash)
        const sub = below.get(dir) ?? {}
        sub[name.slice(slash + 1)] = spec
        below.set(dir, sub)
      } else {
        const [mode, content] = typeof spec === "string" ? ["100644", spec] : spec
        here[name] = [mode, this.blob(content)]
      }
    }
    for (const [dir, sub] of below) here[dir] = ["40000", this.files(sub)]
    return this.tree(here)
  }

  commit(
    tree: ObjectId,
    parents: ReadonlyArray<ObjectId>,
    time: number,
    message = "m\n",
  ): ObjectId {
    const who = `Ada Lovelace <ada@example.com> ${time} +0000`
    const head = [`tree ${tree}`, ...parents.map((p) => `parent ${p}`)]
    return this.put("commit", `${head.join("\n")}\nauthor ${who}\ncommitter ${who}\n\n${message}`)
  }

  get load(): ObjectLoader {
    return mapLoader(this.objects)
  }
}
