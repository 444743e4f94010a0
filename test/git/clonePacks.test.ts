/**
 * ClonePackStore: a pack appears only when its write is committed, an aborted write
 * leaves nothing, a pack whose header disagrees with its list is refused and deleted, an
 * open pack stays readable after it is removed, and the sweep deletes unfinished writes
 * and packs nobody keeps.
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { Effect } from "effect"
import { describe, expect, it } from "vitest"
import { makeClonePackStore } from "../../src/services/git/ClonePacks.ts"

const run = <A, E>(e: Effect.Effect<A, E>) => Effect.runPromise(e)
const dirOf = () => path.join(fs.mkdtempSync(path.join(os.tmpdir(), "guts-cp-")), "packs")
const KEY = "0123456789abcdef0123456789abcdef01234567"

/** A pack-shaped file: a header naming `count` objects, some bytes, a 20-byte trailer. */
const packBytes = (count: number, body = 100) => {
  const b = Buffer.alloc(12 + body + 20, 0x5a)
  b.write("PACK", 0, "latin1")
  b.writeUInt32BE(2, 4)
  b.writeUInt32BE(count, 8)
  return b
}

describe("ClonePackStore", () => {
  it("commits a pack written in pieces and reads it back", async () => {
    const store = makeClonePackStore(dirOf())
    const bytes = packBytes(3, 5000)
    const w = await run(store.create(KEY))
    expect(await run(store.has(KEY))).toBe(false)
    await run(w.append([bytes.subarray(0, 10), bytes.subarray(10, 4000)]))
    await run(w.append([bytes.subarray(4000)]))
    expect(await run(store.open(KEY, 3))).toBeUndefined()
    await run(w.commit)
    expect(fs.readdirSync(store.dir)).toEqual([`${KEY}.pack`])
    const open = (await run(store.open(KEY, 3)))!
    expect(open.size).toBe(bytes.length)
    const into = Buffer.alloc(bytes.length)
    let at = 0
    while (at < open.size)
      at += await run(open.read(into.subarray(at), at, Math.min(1000, open.size - at)))
    expect(into.equals(bytes)).toBe(true)
    // Removed while open: still read whole.
    await run(store.remove(KEY))
    expect(await run(store.has(KEY))).toBe(false)
    const again = Buffer.alloc(bytes.length)
    expect(await run(open.read(again, 0, bytes.length))).toBe(bytes.length)
    expect(again.equals(bytes)).toBe(true)
    await run(open.close)
  })

  it("leaves nothing after an aborted write", async () => {
    const store = makeClonePackStore(dirOf())
    const w = await run(store.create(KEY))
    await run(w.append([packBytes(1)]))
    await run(w.abort)
    expect(fs.readdirSync(store.dir)).toEqual([])
    expect(await run(store.open(KEY, 1))).toBeUndefined()
  })

  it("refuses and deletes a pack whose header does not match, or that is cut short", async () => {
    const store = makeClonePackStore(dirOf())
    fs.mkdirSync(store.dir, { recursive: true })
    const file = path.join(store.dir, `${KEY}.pack`)
    fs.writeFileSync(file, packBytes(7))
    expect(await run(store.open(KEY, 8))).toBeUndefined()
    expect(fs.existsSync(file)).toBe(false)
    fs.writeFileSync(file, packBytes(7).subarray(0, 20))
    expect(await run(store.open(KEY, 7))).toBeUndefined()
    expect(fs.existsSync(file)).toBe(false)
    const bad = packBytes(7)
    bad.write("KCAP", 0, "latin1")
    fs.writeFileSync(file, bad)
    expect(await run(store.open(KEY, 7))).toBeUndefined()
    expect(fs.existsSync(file)).toBe(false)
  })

  it("sweeps unfinished writes and packs that are not kept", async () => {
    const store = makeClonePackStore(dirOf())
    const other = "f".repeat(40)
    for (const key of [KEY, other]) {
      const w = await run(store.create(key))
      await run(w.append([packBytes(1)]))
      await run(w.commit)
    }
    await run(store.create(KEY)) // never finished
    fs.writeFileSync(path.join(store.dir, "README"), "not ours")
    const removed = await run(store.sweep((key) => Effect.succeed(key === KEY)))
    expect(removed).toBe(2)
    expect(fs.readdirSync(store.dir).sort()).toEqual([`${KEY}.pack`, "README"])
  })

  it("rejects a key that is not a clone list key (no paths from outside)", () => {
    const store = makeClonePackStore(dirOf())
    expect(() => store.remove("../../etc/passwd")).toThrow(/not a clone list key/)
  })
})
