import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { Effect, Either } from "effect"
import { afterEach, describe, expect, it } from "vitest"
import { Journal, JournalError } from "../../src/layers/consensus/Journal.ts"

const dirs: string[] = []
const tmp = () => {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), "guts-journal-"))
  dirs.push(d)
  return d
}
afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true })
})

const entry = (k: number) => new TextEncoder().encode(`entry-${k}`)
const text = (entries: ReadonlyArray<Uint8Array>) => entries.map((e) => new TextDecoder().decode(e))

const write = (dir: string, views: number[], segmentViews = 256n) => {
  const { journal } = Journal.openSync({ dir, segmentViews })
  for (const v of views) journal.appendSync(BigInt(v), entry(v))
  journal.syncSync()
  journal.closeSync()
}

describe("Journal (consensus WAL on disk)", () => {
  it("replays synced records in append order, across segments", () => {
    const dir = tmp()
    write(dir, [1, 2, 3, 1, 5, 9, 4], 4n)
    const { journal, replayed } = Journal.openSync({ dir, segmentViews: 4n })
    expect(text(replayed.entries)).toEqual([1, 2, 3, 1, 5, 9, 4].map((v) => `entry-${v}`))
    expect(replayed.truncatedBytes).toBe(0)
    expect(journal.segmentFiles.length).toBe(3)
    journal.closeSync()
  })

  it("loses appends that were never synced", () => {
    const dir = tmp()
    const { journal } = Journal.openSync({ dir })
    journal.appendSync(1n, entry(1))
    journal.syncSync()
    journal.appendSync(2n, entry(2))
    journal.closeSync() // crash: the second record was never written
    expect(text(Journal.openSync({ dir }).replayed.entries)).toEqual(["entry-1"])
  })

  it("truncates a torn tail record and keeps appending after it", () => {
    const dir = tmp()
    write(dir, [1, 2, 3])
    const [file] = fs.readdirSync(dir)
    const full = path.join(dir, file)
    const size = fs.statSync(full).size
    fs.truncateSync(full, size - 3) // the last record is cut mid-body
    const first = Journal.openSync({ dir })
    expect(text(first.replayed.entries)).toEqual(["entry-1", "entry-2"])
    expect(first.replayed.truncatedBytes).toBeGreaterThan(0)
    first.journal.appendSync(4n, entry(4))
    first.journal.syncSync()
    first.journal.closeSync()
    expect(text(Journal.openSync({ dir }).replayed.entries)).toEqual([
      "entry-1",
      "entry-2",
      "entry-4",
    ])
  })

  it("truncates a tail record whose checksum does not match", () => {
    const dir = tmp()
    write(dir, [1, 2])
    const [file] = fs.readdirSync(dir)
    const full = path.join(dir, file)
    const bytes = fs.readFileSync(full)
    bytes[bytes.length - 1] ^= 0xff
    fs.writeFileSync(full, bytes)
    expect(text(Journal.openSync({ dir }).replayed.entries)).toEqual(["entry-1"])
  })

  it("reports corruption inside a sealed segment instead of skipping it", async () => {
    const dir = tmp()
    write(dir, [1, 2, 10, 11], 4n)
    const first = path.join(dir, fs.readdirSync(dir).sort()[0])
    const bytes = fs.readFileSync(first)
    bytes[10] ^= 0xff
    fs.writeFileSync(first, bytes)
    const opened = await Effect.runPromise(
      Effect.scoped(Effect.either(Journal.open({ dir, segmentViews: 4n }))),
    )
    expect(Either.isLeft(opened) && opened.left).toBeInstanceOf(JournalError)
  })

  it("prunes whole segments whose views are all below the floor, never the active one", () => {
    const dir = tmp()
    const { journal } = Journal.openSync({ dir, segmentViews: 4n })
    for (let v = 1; v <= 20; v++) journal.appendSync(BigInt(v), entry(v))
    journal.syncSync()
    expect(journal.segmentFiles.length).toBe(5)
    expect(journal.pruneSync(12n)).toBe(2) // [1..4], [5..8]
    expect(journal.pruneSync(1_000n)).toBe(2) // everything sealed; the active segment stays
    journal.syncSync()
    journal.closeSync()
    expect(text(Journal.openSync({ dir, segmentViews: 4n }).replayed.entries)).toEqual(
      [17, 18, 19, 20].map((v) => `entry-${v}`),
    )
  })

  it("writes a late record of an old view to the active segment, pruned only with it", () => {
    const dir = tmp()
    const { journal } = Journal.openSync({ dir, segmentViews: 4n })
    // 9 starts a new segment; the late 3 goes to that active segment, not back to the first.
    for (const v of [1, 2, 9, 3]) journal.appendSync(BigInt(v), entry(v))
    journal.appendSync(12n, entry(12))
    journal.syncSync()
    journal.pruneSync(5n)
    journal.closeSync()
    expect(text(Journal.openSync({ dir, segmentViews: 4n }).replayed.entries)).toEqual([
      "entry-9",
      "entry-3",
      "entry-12",
    ])
  })
})
