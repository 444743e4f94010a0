import { Effect } from "effect"
import { describe, expect, it } from "vitest"
import type { ObjectId } from "../../src/domain/git/ObjectId.ts"
import { makeMemoryObjectStore } from "../../src/layers/ObjectStoreMemory.ts"
import {
  cloneListKey,
  decodeCloneList,
  encodeCloneList,
  extendCloneList,
  makeCloneLists,
} from "../../src/services/git/CloneLists.ts"

const id = (n: number) => n.toString(16).padStart(40, "0") as ObjectId
const list = [
  { id: id(1), type: "tag" as const },
  { id: id(2), type: "commit" as const },
  { id: id(3), type: "tree" as const },
  { id: id(4), type: "blob" as const },
]

describe("clone lists", () => {
  it("encode and decode every object type; malformed bytes decode to nothing", () => {
    const bytes = encodeCloneList(list)
    expect(bytes.length).toBe(4 * 21)
    expect(decodeCloneList(bytes)).toEqual(list)
    expect(decodeCloneList(bytes.subarray(0, 30))).toBeUndefined()
    const badType = Buffer.from(bytes)
    badType[21] = 9
    expect(decodeCloneList(badType)).toBeUndefined()
  })

  it("extend a list by a push's objects: grouped tags, commits, trees, blobs; each once", () => {
    const added = [
      { id: id(1), type: "tag" as const },
      { id: id(9), type: "commit" as const },
      { id: id(10), type: "tree" as const },
      { id: id(11), type: "blob" as const },
    ]
    expect(extendCloneList(added, list).map((o) => o.id)).toEqual([
      id(1),
      id(9),
      id(2),
      id(10),
      id(3),
      id(11),
      id(4),
    ])
  })

  it("key a want set by its members, not their order or repetition", () => {
    expect(cloneListKey([id(1), id(2)])).toBe(cloneListKey([id(2), id(1), id(2)]))
    expect(cloneListKey([id(1)])).not.toBe(cloneListKey([id(1), id(2)]))
  })

  it("keep one stored list per repository, and only lists a repository owns on disk", async () => {
    const { store } = makeMemoryObjectStore()
    const stored = (wants: ReadonlyArray<ObjectId>) =>
      store.getDerived(`clone-list/${cloneListKey(wants)}`)
    await Effect.runPromise(
      Effect.gen(function* () {
        const lists = makeCloneLists(store)
        yield* lists.put([id(2)], list, "o/r")
        expect(yield* stored([id(2)])).toBeDefined()
        yield* lists.put([id(7)], list, "o/r")
        expect(yield* stored([id(2)])).toBeUndefined()
        expect(yield* stored([id(7)])).toBeDefined()
        // Shared by two repositories (a fork): kept until neither points at it.
        yield* lists.put([id(5)], list, "o/a")
        expect(yield* lists.adopt([id(5)], "o/b")).toBe(true)
        yield* lists.put([id(6)], list, "o/a")
        expect(yield* stored([id(5)])).toBeDefined()
        yield* lists.put([id(6)], list, "o/b")
        expect(yield* stored([id(5)])).toBeUndefined()
        expect(yield* lists.adopt([id(5)], "o/c")).toBe(false)
        // Without a repository (a fetch of other tips): memory only.
        yield* lists.put([id(8)], list)
        expect(yield* stored([id(8)])).toBeUndefined()
        expect(yield* lists.get([id(8)])).toEqual(list)
        // A new process (a fresh in-memory cache) finds the repository's list on disk.
        const fresh = makeCloneLists(store)
        expect(yield* fresh.get([id(7)])).toEqual(list)
        expect(yield* fresh.get([id(8)])).toBeUndefined()
      }),
    )
  })
})
