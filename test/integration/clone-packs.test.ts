/**
 * Cached clone packs (src/services/git/ClonePacks.ts): after a push, once the clone list
 * is written, the node writes the pack a full clone receives to a file; full clones then
 * stream it. Checked with the real git client: clones from the file are complete and
 * pass fsck (protocol v0 and v2), a push on top replaces the pack (the old one goes, and
 * deleting the repository deletes its pack), a clone of other tips never gets it, a damaged pack is deleted and the clone is still
 * served (and the pack is written again for the clones after it), and a fresh process
 * serves the pack written before it (and sweeps leftovers).
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { describe, expect, it } from "vitest"
import { authUrl, commitAll, git, initRepo, refsOf, runGit, write } from "../support/Git.ts"
import { createRepo, type RunningNode, spawnNode, startNode, tempDir } from "../support/TestNode.ts"

const metric = async (node: { metricsUrl: string }, name: string, outcome: string) => {
  const text = await (await fetch(node.metricsUrl)).text()
  const m = new RegExp(`^${name}\\{outcome="${outcome}"\\} (\\d+)`, "m").exec(text)
  return m ? Number(m[1]) : 0
}
const packs = (node: { metricsUrl: string }, outcome: string) =>
  metric(node, "guts_git_clone_packs_total", outcome)

/** `DELETE /api/repos/admin/{name}`: its status. */
const deleteRepo = async (node: RunningNode, name: string) =>
  (
    await fetch(`${node.url}/api/repos/admin/${name}`, {
      method: "DELETE",
      headers: { authorization: `Bearer ${node.token}` },
    })
  ).status

/** Pushes every branch and tag of `src`. */
const pushAll = async (src: string, url: string) => {
  await git(src, ["push", "-q", url, "--all"])
  await git(src, ["push", "-q", url, "--tags"])
}

const waitFor = async (what: () => Promise<boolean>, label: string) => {
  for (let i = 0; i < 400; i++) {
    if (await what()) return
    await new Promise((r) => setTimeout(r, 50))
  }
  throw new Error(`timed out waiting for ${label}`)
}

const packFiles = (dir: string) =>
  fs.existsSync(dir) ? fs.readdirSync(dir).filter((n) => n.endsWith(".pack")) : []

/** A history with branches, an annotated tag and a binary file. */
const makeSource = async (src: string) => {
  await initRepo(src)
  for (let i = 0; i < 6; i++) {
    write(src, `dir${i % 2}/f${i}.txt`, `line ${i}\n`.repeat(50 + i))
    await commitAll(src, `c${i}`, i)
  }
  write(src, "blob.bin", Buffer.alloc(200_000, 7))
  await commitAll(src, "binary", 7)
  await git(src, ["tag", "-a", "v1", "-m", "one"])
  await git(src, ["branch", "side", "HEAD~2"])
}

const cloneAndCheck = async (work: string, url: string, name: string, src: string, v: number) => {
  const dir = path.join(work, name)
  await git(work, ["-c", `protocol.version=${v}`, "clone", "-q", "--mirror", url, dir])
  expect(await refsOf(dir)).toEqual(await refsOf(src))
  await git(dir, ["fsck", "--full", "--strict"])
  return dir
}

describe("cached clone packs", () => {
  for (const storage of ["rocksdb", "memory"] as const) {
    it(`are written after a push, served to full clones, and replaced by the next push (${storage})`, async () => {
      const work = tempDir("clone-packs")
      const node: RunningNode = await startNode({
        storage,
        config: { clonePackMinObjects: 1, clonePackPaceMs: 0 },
      })
      try {
        const src = path.join(work, "src")
        await makeSource(src)
        await createRepo(node, "packs")
        const url = authUrl(`${node.url}/admin/packs.git`, node.token)
        await pushAll(src, url)
        await waitFor(async () => (await packs(node, "built")) >= 1, "a built pack")

        await cloneAndCheck(work, url, "v2", src, 2)
        expect(await packs(node, "served")).toBe(1)
        await cloneAndCheck(work, url, "v0", src, 0)
        expect(await packs(node, "served")).toBe(2)

        // Other tips (one branch, no tags): the pack is not theirs; the clone is still right.
        const one = path.join(work, "one")
        await git(work, [
          "clone",
          "-q",
          "--single-branch",
          "--branch",
          "side",
          "--no-tags",
          url,
          one,
        ])
        await git(one, ["fsck", "--full"])
        expect(await packs(node, "served")).toBe(2)

        // A push on top: a new pack for the new tips; the old one is deleted with its list.
        write(src, "more.txt", "on top\n")
        await commitAll(src, "on top", 10)
        await git(src, ["push", "-q", url, "main"])
        await waitFor(async () => (await packs(node, "built")) >= 2, "the second pack")
        await cloneAndCheck(work, url, "after", src, 2)
        expect(await packs(node, "served")).toBe(3)
        if (storage === "rocksdb") {
          const packDir = path.join(node.dataDir, "clone-packs")
          expect(packFiles(packDir)).toHaveLength(1)
          // Deleting the repository deletes its pack.
          expect(await deleteRepo(node, "packs")).toBe(204)
          await waitFor(async () => packFiles(packDir).length === 0, "the pack deleted")
        }
      } finally {
        await node.close()
      }
    }, 120_000)
  }

  it("are written at most once per clone-pack-pace-ms for a repository pushed to again and again", async () => {
    const work = tempDir("clone-packs-pace")
    const node = await startNode({ config: { clonePackMinObjects: 1, clonePackPaceMs: 4000 } })
    try {
      const src = path.join(work, "src")
      await makeSource(src)
      await createRepo(node, "paced")
      const url = authUrl(`${node.url}/admin/paced.git`, node.token)
      await pushAll(src, url)
      await waitFor(async () => (await packs(node, "built")) >= 1, "the first pack")
      const builtAt = Date.now()
      write(src, "more.txt", "on top\n")
      await commitAll(src, "on top", 10)
      await git(src, ["push", "-q", url, "main"])
      await waitFor(
        async () => (await metric(node, "guts_git_clone_lists_total", "extended")) >= 1,
        "the extended list",
      )
      // Within the pause: no pack for the new tips yet; the clone is served all the same.
      await cloneAndCheck(work, url, "between", src, 2)
      expect(await packs(node, "served")).toBe(0)
      expect(await packs(node, "built")).toBe(1)
      // When the pause ends, the pack is written without another push.
      await waitFor(async () => (await packs(node, "built")) >= 2, "the paced pack")
      expect(Date.now() - builtAt).toBeGreaterThanOrEqual(3500)
      await cloneAndCheck(work, url, "after", src, 2)
      expect(await packs(node, "served")).toBe(1)
    } finally {
      await node.close()
    }
  }, 60_000)

  it("are not left behind by a repository deleted while its pack was paused and created again", async () => {
    const work = tempDir("clone-packs-again")
    const node = await startNode({ config: { clonePackMinObjects: 1, clonePackPaceMs: 2000 } })
    const packDir = path.join(node.dataDir, "clone-packs")
    const pending = async () => {
      const text = await (await fetch(node.metricsUrl)).text()
      return Number(/^guts_git_clone_lists_pending (\d+)/m.exec(text)?.[1] ?? 1)
    }
    try {
      const first = path.join(work, "first")
      await makeSource(first)
      await createRepo(node, "again")
      const url = authUrl(`${node.url}/admin/again.git`, node.token)
      await git(first, ["push", "-q", url, "main"])
      await waitFor(async () => (await packs(node, "built")) >= 1, "the first pack")
      write(first, "more.txt", "on top\n")
      await commitAll(first, "on top", 10)
      await git(first, ["push", "-q", url, "main"])
      await waitFor(
        async () => (await metric(node, "guts_git_clone_lists_total", "extended")) >= 1,
        "the extended list",
      )
      // Its next pack is paused; the repository goes, and another takes its name.
      expect(await deleteRepo(node, "again")).toBe(204)
      await createRepo(node, "again")
      const second = path.join(work, "second")
      await initRepo(second)
      write(second, "other.txt", "another history\n")
      await commitAll(second, "other", 20)
      await git(second, ["push", "-q", url, "main"])
      await waitFor(async () => (await packs(node, "built")) >= 2, "the new repository's pack")
      // The paused run ends meanwhile; then the new repository moves on.
      await new Promise((r) => setTimeout(r, 2500))
      write(second, "next.txt", "next\n")
      await commitAll(second, "next", 21)
      await git(second, ["push", "-q", url, "main"])
      await waitFor(async () => (await packs(node, "built")) >= 3, "the pack after the pause")
      await waitFor(async () => (await pending()) === 0, "no background work")
      // One pack: the new repository's latest. Nothing of the deleted one, and no list
      // held by it.
      expect(packFiles(packDir)).toHaveLength(1)
      const clone = await cloneAndCheck(work, url, "c", second, 2)
      expect(await runGit(clone, ["cat-file", "-e", "HEAD:next.txt"])).toMatchObject({ code: 0 })
    } finally {
      await node.close()
    }
  }, 60_000)

  it("are not written for small repositories (below clone-pack-min-objects)", async () => {
    const work = tempDir("clone-packs-small")
    const node = await startNode({ config: { clonePackMinObjects: 1_000_000 } })
    try {
      const src = path.join(work, "src")
      await makeSource(src)
      await createRepo(node, "small")
      const url = authUrl(`${node.url}/admin/small.git`, node.token)
      await git(src, ["push", "-q", url, "--all"])
      await waitFor(
        async () => (await metric(node, "guts_git_clone_lists_total", "warmed")) >= 1,
        "the clone list",
      )
      await new Promise((r) => setTimeout(r, 300))
      const dir = path.join(work, "c")
      await git(work, ["clone", "-q", "--bare", url, dir])
      await git(dir, ["fsck", "--full"])
      expect(await packs(node, "built")).toBe(0)
      expect(await packs(node, "served")).toBe(0)
      expect(packFiles(path.join(node.dataDir, "clone-packs"))).toEqual([])
    } finally {
      await node.close()
    }
  }, 60_000)

  it("survive a restart, a damaged one is deleted and the clone still served, leftovers are swept", async () => {
    const work = tempDir("clone-packs-restart")
    const dataDir = path.join(work, "data")
    const packDir = path.join(dataDir, "clone-packs")
    const src = path.join(work, "src")
    await makeSource(src)
    let node = await spawnNode({ dataDir, extraArgs: ["--clone-pack-min-objects", "1"] })
    const url = () => authUrl(`${node.url}/admin/kept.git`, node.token)
    try {
      await createRepo(node, "kept")
      await pushAll(src, url())
      await waitFor(async () => (await packs(node, "built")) >= 1, "a built pack")
    } finally {
      expect(await node.stop("SIGTERM")).toBe(0)
    }
    const [file] = packFiles(packDir)
    expect(file).toBeDefined()
    // What a crash mid-write leaves, and a pack no list names any more.
    fs.writeFileSync(path.join(packDir, `${file}.tmp-1-0`), "half")
    fs.writeFileSync(path.join(packDir, `${"a".repeat(40)}.pack`), "orphan")

    node = await spawnNode({ dataDir, extraArgs: ["--clone-pack-min-objects", "1"] })
    try {
      // The fresh process streams the pack written by the one before.
      await cloneAndCheck(work, url(), "fresh", src, 2)
      expect(await packs(node, "served")).toBe(1)
      await waitFor(async () => packFiles(packDir).length === 1, "the sweep")
      expect(fs.readdirSync(packDir)).toEqual([file])

      // A pack whose header no longer matches its list: deleted, and the clone is served
      // the ordinary way.
      const bytes = fs.readFileSync(path.join(packDir, file!))
      bytes.writeUInt32BE(bytes.readUInt32BE(8) + 1, 8)
      fs.writeFileSync(path.join(packDir, file!), bytes)
      await cloneAndCheck(work, url(), "damaged", src, 2)
      expect(await packs(node, "served")).toBe(1)
      expect(packFiles(packDir)).toEqual([])
      const tag = await runGit(work, ["-C", path.join(work, "damaged"), "cat-file", "-e", "v1"])
      expect(tag.code).toBe(0)
      // That clone asked for the pack to be written again, for the clones after it.
      await waitFor(async () => (await packs(node, "built")) >= 1, "the pack written again")
      expect(packFiles(packDir)).toEqual([file])
      await cloneAndCheck(work, url(), "rebuilt", src, 0)
      expect(await packs(node, "served")).toBe(2)
    } finally {
      expect(await node.stop("SIGTERM")).toBe(0)
    }
  }, 120_000)
})
