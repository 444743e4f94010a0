/**
 * Reachability walks against git: the objects `walkObjects` lists are exactly those of
 * `git rev-list --objects` (with and without haves, through tags, with object filters),
 * and with a depth the commits and shallow boundary of `git clone --depth`.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { Effect, Either } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import type { ObjectId, ObjectType } from "../../src/domain/git/ObjectId.ts"
import {
  type LoadedObject,
  type WalkOptions,
  WalkError,
  walkObjects,
} from "../../src/domain/git/Walk.ts"
import {
  allObjects,
  git,
  makeRepo,
  randomHistory,
  readAllObjects,
  removeTempDirs,
  tempDir,
} from "./gitFixture.ts"

afterAll(removeTempDirs)

let repo: string
let store: Map<string, { type: string; content: Buffer }>
let head: string

class Missing {
  readonly _tag = "Missing"
  constructor(readonly id: ObjectId) {}
}

beforeAll(() => {
  repo = makeRepo(path.join(tempDir("walk"), "repo"))
  const h = randomHistory(repo, { commits: 70, seed: 17, mergeEvery: 9, tagEvery: 25 })
  head = h.head
  // A side branch never merged, to use as an unrelated have.
  git(repo, "checkout", "-q", "-b", "unmerged", `${head}~20`)
  fs.writeFileSync(path.join(repo, "unmerged.txt"), "only here\n")
  git(repo, "add", "unmerged.txt")
  git(repo, "commit", "-q", "-m", "unmerged work")
  git(repo, "checkout", "-q", "main")
  store = readAllObjects(
    repo,
    allObjects(repo).map((o) => o.id),
  )
})

const load = (id: ObjectId) =>
  Effect.suspend(() => {
    const o = store.get(id)
    return o
      ? Effect.succeed<LoadedObject>({ type: o.type as ObjectType, content: o.content })
      : Effect.fail(new Missing(id))
  })

const walk = (options: Omit<WalkOptions<Missing>, "load">) =>
  Effect.runSync(walkObjects({ load, ...options }))

const revList = (...args: string[]) =>
  git(repo, "rev-list", "--objects", "--no-object-names", ...args)
    .trim()
    .split("\n")
    .filter(Boolean)
    .sort()

/** A revision; SECOND_MERGE stands for the second newest merge commit. */
const rev = (r: string) => {
  const merge = () => git(repo, "rev-list", "--merges", "--skip=1", "-n", "1", "HEAD").trim()
  return git(repo, "rev-parse", r.replace("SECOND_MERGE", merge)).trim() as ObjectId
}

describe("reachable objects, as git rev-list --objects", () => {
  it("everything reachable from a commit", () => {
    const r = walk({ wants: [head as ObjectId] })
    expect(r.objects.map((o) => o.id).sort()).toEqual(revList(head))
    expect(r.shallow).toEqual([])
    // Commits first, newest first, and types as git stores them.
    const firstNonCommit = r.objects.findIndex((o) => o.type !== "commit")
    expect(r.objects.slice(0, firstNonCommit).map((o) => o.id)).toEqual(r.commits)
    for (const o of r.objects) expect(o.type).toBe(store.get(o.id)!.type)
  })

  for (const [label, wants, haves] of [
    ["minus an ancestor", ["HEAD"], ["HEAD~10"]],
    [
      "minus several haves, one on an unmerged branch",
      ["HEAD"],
      ["HEAD~30", "unmerged", "SECOND_MERGE^2"],
    ],
    ["through an annotated tag, minus an older tag", ["v2.0", "HEAD"], ["v1.0"]],
    ["of two branches minus their merge base", ["HEAD", "unmerged"], ["HEAD~20"]],
    ["nothing when the haves include the wants", ["HEAD~3"], ["HEAD"]],
  ] as const) {
    it(label, () => {
      const w = wants.map(rev)
      const h = haves.map(rev)
      const r = walk({ wants: w, haves: h })
      expect(r.objects.map((o) => o.id).sort()).toEqual(revList(...w, ...h.map((x) => `^${x}`)))
    })
  }

  for (const [filter, spec] of [
    [{ kind: "blob:none" }, "blob:none"],
    [{ kind: "blob:limit", limit: 1500 }, "blob:limit=1500"],
    [{ kind: "tree", depth: 0 }, "tree:0"],
    [{ kind: "tree", depth: 1 }, "tree:1"],
    [{ kind: "tree", depth: 2 }, "tree:2"],
  ] as const) {
    it(`with the object filter ${spec}`, () => {
      const w = rev("HEAD")
      const h = rev("HEAD~12")
      const r = walk({ wants: [w], haves: [h], filter })
      expect(r.objects.map((o) => o.id).sort()).toEqual(revList(`--filter=${spec}`, w, `^${h}`))
    })
  }

  it("answers blob sizes through sizeOf when given, without reading blobs", () => {
    const reads: ObjectId[] = []
    const r = Effect.runSync(
      walkObjects({
        load: (id) => {
          reads.push(id)
          return load(id)
        },
        sizeOf: (ids) => Effect.succeed(ids.map((id) => store.get(id)!.content.length)),
        wants: [rev("HEAD")],
        filter: { kind: "blob:limit", limit: 1500 },
      }),
    )
    expect(r.objects.map((o) => o.id).sort()).toEqual(
      revList("--filter=blob:limit=1500", rev("HEAD")),
    )
    expect(reads.some((id) => store.get(id)!.type === "blob")).toBe(false)
  })
})

describe("shallow walks, as git clone --depth", () => {
  for (const depth of [1, 3, 12]) {
    it(`depth ${depth}: the same objects and the same shallow boundary`, () => {
      const clone = path.join(tempDir("shallow"), "clone")
      git(
        path.dirname(clone),
        "clone",
        "-q",
        "--no-tags",
        "--bare",
        `--depth=${depth}`,
        `file://${repo}`,
        clone,
      )
      const cloned = allObjects(clone)
        .map((o) => o.id)
        .sort()
      const boundary = fs
        .readFileSync(path.join(clone, "shallow"), "utf8")
        .trim()
        .split("\n")
        .sort()
      const r = walk({ wants: [head as ObjectId], depth })
      expect(r.objects.map((o) => o.id).sort()).toEqual(cloned)
      expect([...r.shallow].sort()).toEqual(boundary)
    })
  }
})

describe("failures", () => {
  it("passes the loader's own error through, typed", () => {
    const missing = "0123456789012345678901234567890123456789" as ObjectId
    const r = Effect.runSync(Effect.either(walkObjects({ load, wants: [missing] })))
    expect(Either.isLeft(r) && r.left).toEqual(new Missing(missing))
  })

  it("is a WalkError when a commit's links do not hold up", () => {
    const broken = "1111111111111111111111111111111111111111" as ObjectId
    const r = Effect.runSync(
      Effect.either(
        walkObjects({
          load: (id) =>
            id === broken
              ? Effect.succeed({ type: "commit" as const, content: Buffer.from("not a commit") })
              : load(id),
          wants: [broken],
        }),
      ),
    )
    expect(Either.isLeft(r) && r.left).toBeInstanceOf(WalkError)
  })
})
