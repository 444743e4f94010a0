/**
 * commitsBetween (pull request commit lists, issue references of a push): the commits
 * reachable from head and not from base, parents first — checked against a plain
 * reachability computation on random histories with merges, including committer clocks
 * that go backwards (by less than CLOCK_SLOP), and that the walk stays near the range.
 */
import { Effect } from "effect"
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import type { ObjectId } from "../../src/domain/git/ObjectId.ts"
import { makeMemoryObjectStore } from "../../src/layers/ObjectStoreMemory.ts"
import { CLOCK_SLOP, commitsBetween } from "../../src/services/apply/Pulls.ts"

const TREE = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"

describe("commitsBetween", () => {
  it("agrees with plain reachability on random histories, parents before children", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(fc.nat(), fc.nat(), fc.boolean(), fc.integer({ min: -1800, max: 600 })), {
          minLength: 1,
          maxLength: 60,
        }),
        fc.nat(),
        fc.nat(),
        async (shape, b, h) => {
          const { store } = makeMemoryObjectStore()
          const ids: ObjectId[] = []
          const parents = new Map<ObjectId, ObjectId[]>()
          let clock = 1_700_000_000
          let newest = clock
          for (const [p1, p2, merge, step] of shape) {
            const ps =
              ids.length === 0
                ? []
                : merge && ids.length > 1
                  ? [...new Set([ids[p1 % ids.length]!, ids[p2 % ids.length]!])]
                  : [ids[p1 % ids.length]!]
            // Sometimes backwards (a skewed committer clock), never more than half of
            // CLOCK_SLOP behind the newest commit so far.
            newest = Math.max(newest, clock)
            clock = Math.max(clock + step, newest - CLOCK_SLOP / 2)
            const text = `tree ${TREE}\n${ps.map((p) => `parent ${p}\n`).join("")}author A <a@x> ${clock} +0000\ncommitter A <a@x> ${clock} +0000\n\nc${ids.length}\n`
            const id = await Effect.runPromise(store.put("commit", Buffer.from(text)))
            ids.push(id)
            parents.set(id, ps)
          }
          const reach = (from: ObjectId) => {
            const seen = new Set<ObjectId>()
            const stack = [from]
            while (stack.length > 0) {
              const id = stack.pop()!
              if (seen.has(id)) continue
              seen.add(id)
              stack.push(...parents.get(id)!)
            }
            return seen
          }
          const base = ids[b % ids.length]!
          const head = ids[h % ids.length]!
          const fromBase = reach(base)
          const expected = [...reach(head)].filter((id) => !fromBase.has(id))
          const got = await Effect.runPromise(commitsBetween(store, base, head))
          expect(new Set(got)).toEqual(new Set(expected))
          expect(got.length).toBe(expected.length)
          const position = new Map(got.map((id, i) => [id, i]))
          for (const id of got)
            for (const p of parents.get(id)!)
              if (position.has(p)) expect(position.get(p)!).toBeLessThan(position.get(id)!)
        },
      ),
      { numRuns: 300 },
    )
  })
})

describe("commitsBetween on a long history", () => {
  it("reads about the range, not the history below it", async () => {
    const { store } = makeMemoryObjectStore()
    let reads = 0
    const counting = {
      ...store,
      getMany: (ids: ReadonlyArray<ObjectId>) => {
        reads += ids.length
        return store.getMany(ids)
      },
    }
    let parent: ObjectId | undefined
    const chain: ObjectId[] = []
    for (let i = 0; i < 2000; i++) {
      const t = 1_700_000_000 + i * 600
      const text = `tree ${TREE}\n${parent ? `parent ${parent}\n` : ""}author A <a@x> ${t} +0000\ncommitter A <a@x> ${t} +0000\n\nc${i}\n`
      parent = await Effect.runPromise(store.put("commit", Buffer.from(text)))
      chain.push(parent)
    }
    const got = await Effect.runPromise(commitsBetween(counting, chain[1989]!, chain[1999]!))
    expect(got).toEqual(chain.slice(1990))
    // Ten commits in range, six more within the slop below them, and the boundary.
    expect(reads).toBeLessThan(40)
  })
})
