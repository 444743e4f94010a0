/**
 * RepoObjects on the memory layers: what a repository may show or name is what its refs
 * reach (through tags, commits, trees) or what was written to it, never another
 * repository's objects; the closure follows ref updates, stays within its byte budget, and
 * the RocksDB record of uploads survives reopening.
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { Effect, Layer } from "effect"
import { describe, expect, it } from "vitest"
import type { ObjectId } from "../../src/domain/git/ObjectId.ts"
import { ObjectStoreMemory } from "../../src/layers/ObjectStoreMemory.ts"
import { RefStoreMemory } from "../../src/layers/RefStoreMemory.ts"
import { RepoUploadsRocks } from "../../src/layers/RepoUploadsRocks.ts"
import { rocksLayer } from "../../src/layers/Rocks.ts"
import { ObjectReplicator } from "../../src/services/ObjectReplicator.ts"
import { ObjectStore } from "../../src/services/ObjectStore.ts"
import { RefStore } from "../../src/services/RefStore.ts"
import {
  makeRepoObjects,
  mergeSorted,
  type ScopedRepo,
  sortedHas,
  sortedIds,
} from "../../src/services/RepoObjects.ts"
import { RepoUploads, RepoUploadsMemory, uploadsKey } from "../../src/services/RepoUploads.ts"
import { makeCloneLists } from "../../src/services/git/CloneLists.ts"

const ZERO = "0".repeat(40) as ObjectId
const mine: ScopedRepo = { id: 1, created_at: 100, owner_login: "ada", name: "mine" }
const theirs: ScopedRepo = { id: 2, created_at: 100, owner_login: "bob", name: "theirs" }

const stores = Layer.mergeAll(
  ObjectStoreMemory,
  RefStoreMemory,
  RepoUploadsMemory,
  ObjectReplicator.None,
)
const run = <A, E>(
  effect: Effect.Effect<A, E, ObjectStore | RefStore | RepoUploads | ObjectReplicator>,
) => Effect.runPromise(Effect.provide(effect, stores))

/** Object writers over the store. */
const builder = Effect.map(ObjectStore, (objects) => {
  const put = (type: "blob" | "tree" | "commit" | "tag", content: string | Buffer) =>
    objects.put(type, Buffer.from(content)).pipe(Effect.orDie)
  const tree = (entries: Array<[string, string, ObjectId]>) =>
    put(
      "tree",
      Buffer.concat(
        entries.map(([mode, name, id]) =>
          Buffer.concat([Buffer.from(`${mode} ${name}\0`), Buffer.from(id, "hex")]),
        ),
      ),
    )
  let clock = 1_700_000_000
  const commit = (treeId: ObjectId, parents: ObjectId[] = []) =>
    put(
      "commit",
      `tree ${treeId}\n${parents.map((p) => `parent ${p}\n`).join("")}author A <a@x> ${clock} +0000\ncommitter A <a@x> ${clock++} +0000\n\nm\n`,
    )
  const tag = (target: ObjectId) =>
    put("tag", `object ${target}\ntype commit\ntag v1\ntagger A <a@x> 1 +0000\n\nt\n`)
  return { put, tree, commit, tag }
})

const setRef = (repo: ScopedRepo, name: string, next: ObjectId | undefined) =>
  Effect.flatMap(RefStore, (refs) =>
    refs
      .update(`${repo.owner_login}/${repo.name}`, [{ name, next: next ?? ZERO }])
      .pipe(Effect.orDie),
  )

describe("sorted id buffers", () => {
  it("merge and search agree with a set", () => {
    const random = () =>
      Array.from({ length: 40 }, () => "0123456789abcdef"[(Math.random() * 16) | 0]!).join(
        "",
      ) as ObjectId
    const a = Array.from({ length: 300 }, random)
    const b = [...a.slice(0, 100), ...Array.from({ length: 300 }, random)]
    const merged = mergeSorted(sortedIds(a), sortedIds(b))
    const all = new Set([...a, ...b])
    expect(merged.length).toBe(all.size * 20)
    for (const id of all) expect(sortedHas(merged, id)).toBe(true)
    for (let i = 0; i < 200; i++) {
      const id = random()
      expect(sortedHas(merged, id)).toBe(all.has(id))
    }
    const hex = Array.from({ length: all.size }, (_, i) =>
      merged.toString("hex", i * 20, i * 20 + 20),
    )
    expect(hex).toEqual([...all].sort())
  })
})

describe("RepoObjects", () => {
  it("shows what the refs reach (tags, commits, trees, blobs), hides the rest", () =>
    run(
      Effect.gen(function* () {
        const b = yield* builder
        const blob1 = yield* b.put("blob", "one\n")
        const nested = yield* b.put("blob", "nested\n")
        const sub = yield* b.tree([["100644", "n.txt", nested]])
        const t1 = yield* b.tree([
          ["100644", "a.txt", blob1],
          ["40000", "dir", sub],
        ])
        const c1 = yield* b.commit(t1)
        const blob2 = yield* b.put("blob", "two\n")
        const t2 = yield* b.tree([
          ["100644", "a.txt", blob2],
          ["40000", "dir", sub],
        ])
        const c2 = yield* b.commit(t2, [c1])
        const tag = yield* b.tag(c1)
        yield* setRef(mine, "refs/heads/main", c2)
        yield* setRef(mine, "refs/tags/v1", tag)

        const secretBlob = yield* b.put("blob", "secret\n")
        const secretTree = yield* b.tree([["100644", "s.txt", secretBlob]])
        const secretCommit = yield* b.commit(secretTree, [c1])
        yield* setRef(theirs, "refs/heads/main", secretCommit)

        const scope = yield* makeRepoObjects()
        // What the tip's own tree holds is found without walking (or caching) the history.
        expect(yield* scope.invisible(mine, [t2, blob2, sub, nested])).toEqual([])
        expect((yield* scope.cached).repos).toBe(0)
        const reachable = [c1, c2, t1, t2, sub, blob1, blob2, nested, tag]
        expect(yield* scope.invisible(mine, reachable)).toEqual([])
        expect(yield* scope.invisible(mine, [secretBlob, secretTree, secretCommit, c1])).toEqual([
          secretBlob,
          secretTree,
          secretCommit,
        ])
        // Not found in the snapshots: the whole history was walked, and is kept.
        expect((yield* scope.cached).repos).toBe(1)
        // Shared history is visible in both; each repository's own objects only in it.
        expect(yield* scope.visible(theirs, c1)).toBe(true)
        expect(yield* scope.visible(theirs, blob2)).toBe(false)
        expect(yield* scope.visible(theirs, secretBlob)).toBe(true)

        // A ref update extends the closure: the new commit's objects become visible.
        const blob3 = yield* b.put("blob", "three\n")
        const t3 = yield* b.tree([["100644", "a.txt", blob3]])
        const c3 = yield* b.commit(t3, [c2])
        expect(yield* scope.visible(mine, blob3)).toBe(false)
        yield* setRef(mine, "refs/heads/main", c3)
        expect(yield* scope.invisible(mine, [blob3, t3, c3, blob1])).toEqual([])

        // A deleted branch keeps its objects visible while the closure is held; a new
        // service (a restart) computes it from the refs there are.
        yield* setRef(mine, "refs/heads/main", undefined)
        expect(yield* scope.visible(mine, blob3)).toBe(true)
        const fresh = yield* makeRepoObjects()
        expect(yield* fresh.visible(mine, blob3)).toBe(false)
        expect(yield* fresh.visible(mine, c1)).toBe(true) // still tagged
      }),
    ))

  it("finds what a push based on an older commit names without walking every tree", () =>
    run(
      Effect.gen(function* () {
        const b = yield* builder
        const kept = yield* b.put("blob", "kept\n")
        const old = yield* b.put("blob", "old\n")
        const c1 = yield* b.commit(
          yield* b.tree([
            ["100644", "k", kept],
            ["100644", "o", old],
          ]),
        )
        const c2 = yield* b.commit(yield* b.tree([["100644", "k", kept]]), [c1])
        const c3 = yield* b.commit(yield* b.tree([["100644", "n", kept]]), [c2])
        yield* setRef(mine, "refs/heads/main", c3)
        const stranger = yield* b.put("blob", "not here\n")
        const scope = yield* makeRepoObjects()
        // A branch from c1 names c1 and the file only c1's tree has.
        expect(yield* scope.invisible(mine, [c1, old])).toEqual([])
        expect((yield* scope.cached).repos).toBe(0)
        // A miss everywhere walks (and keeps) the whole closure.
        expect(yield* scope.invisible(mine, [c1, old, stranger])).toEqual([stranger])
        expect((yield* scope.cached).repos).toBe(1)
      }),
    ))

  it("finds what is in the repository's own clone list without a walk; never another's", () =>
    run(
      Effect.gen(function* () {
        const b = yield* builder
        const objects = yield* ObjectStore
        const blob = yield* b.put("blob", "listed\n")
        const tree = yield* b.tree([["100644", "l.txt", blob]])
        const c = yield* b.commit(tree)
        yield* setRef(mine, "refs/heads/main", c)
        yield* setRef(theirs, "refs/heads/main", c)
        // A list written for `mine` (under its identity) that also names an object no ref
        // reaches any more (as after a rewind, before the list is written again).
        const gone = yield* b.put("blob", "rewound away\n")
        const lists = makeCloneLists(objects)
        yield* lists.put(
          [c],
          [
            { id: c, type: "commit" },
            { id: tree, type: "tree" },
            { id: blob, type: "blob" },
            { id: gone, type: "blob" },
          ],
          uploadsKey(mine),
        )
        const scope = yield* makeRepoObjects()
        expect(yield* scope.invisible(mine, [gone, blob])).toEqual([])
        // Found in the list: neither a snapshot nor the history was walked.
        expect((yield* scope.cached).repos).toBe(0)
        // The same list does not speak for another repository, nor for a repository
        // created again under the same name (another identity).
        expect(yield* scope.invisible(theirs, [gone])).toEqual([gone])
        const again: ScopedRepo = { ...mine, id: 9, created_at: 200 }
        expect(yield* scope.invisible(again, [gone])).toEqual([gone])
      }),
    ))

  it("shows objects written to a repository, in that repository only", () =>
    run(
      Effect.gen(function* () {
        const b = yield* builder
        const base = yield* b.commit(yield* b.tree([]))
        yield* setRef(mine, "refs/heads/main", base)
        const loose = yield* b.put("blob", "written through the API\n")
        const scope = yield* makeRepoObjects()
        expect(yield* scope.visible(mine, loose)).toBe(false)
        yield* scope.recordUploaded(mine, [loose])
        expect(yield* scope.visible(mine, loose)).toBe(true)
        expect(yield* scope.visible(theirs, loose)).toBe(false)
        // A repository created again under a reused id does not inherit the record.
        expect(yield* scope.visible({ ...mine, created_at: 200 }, loose)).toBe(false)
        // An empty repository sees only what was written to it.
        expect(yield* scope.invisible(theirs, [base, ZERO])).toEqual([base, ZERO])
      }),
    ))

  it("keeps cached closures within the byte budget, answering correctly beyond it", () =>
    run(
      Effect.gen(function* () {
        const b = yield* builder
        const repos: ScopedRepo[] = []
        const blobs: ObjectId[] = []
        for (let i = 0; i < 6; i++) {
          const repo = { id: 10 + i, created_at: 1, owner_login: "o", name: `r${i}` }
          const blob = yield* b.put("blob", `file ${i}\n`)
          yield* setRef(
            repo,
            "refs/heads/main",
            yield* b.commit(yield* b.tree([["100644", "f", blob]])),
          )
          repos.push(repo)
          blobs.push(blob)
        }
        // Each closure: commit, tree, blob = 60 bytes; room for two.
        const scope = yield* makeRepoObjects({ cacheBytes: 130 })
        for (let round = 0; round < 2; round++)
          for (let i = 0; i < repos.length; i++) {
            expect(yield* scope.visible(repos[i]!, blobs[i]!)).toBe(true)
            expect(yield* scope.visible(repos[i]!, blobs[(i + 1) % repos.length]!)).toBe(false)
            const held = yield* scope.cached
            expect(held.bytes).toBeLessThanOrEqual(130)
            expect(held.repos).toBeLessThanOrEqual(2)
          }
      }),
    ))
})

describe("RepoUploadsRocks", () => {
  it("keeps the record across closing and reopening the database", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "guts-uploads-"))
    try {
      const layer = RepoUploadsRocks.pipe(Layer.provide(rocksLayer(dir)))
      const a = "ab".repeat(20) as ObjectId
      const b = "cd".repeat(20) as ObjectId
      await Effect.runPromise(
        Effect.provide(
          Effect.flatMap(RepoUploads, (u) => u.record("1.100", [a])),
          layer,
        ),
      )
      const got = await Effect.runPromise(
        Effect.provide(
          Effect.flatMap(RepoUploads, (u) =>
            Effect.all([u.recorded("1.100", [a, b]), u.recorded("1.200", [a])]),
          ),
          layer,
        ),
      )
      expect(got).toEqual([[true, false], [false]])
    } finally {
      fs.rmSync(dir, { recursive: true, force: true })
    }
  })
})
