/**
 * Clone lists (src/services/git/CloneLists.ts): after a push the node computes, in the
 * background, the objects a `git clone` of the repository needs; clones then reuse that
 * list instead of walking the history, also after a restart. A push on top extends the
 * list; a force push that drops a commit gives a new list: the dropped commit is never
 * served from the old one.
 */
import * as path from "node:path"
import { describe, expect, it } from "vitest"
import { authUrl, commitAll, git, initRepo, refsOf, runGit, write } from "../support/Git.ts"
import { createRepo, type NodeProcess, spawnNode, tempDir } from "../support/TestNode.ts"

const listCount = async (node: NodeProcess, outcome: string) => {
  const text = await (await fetch(node.metricsUrl)).text()
  const m = new RegExp(`^guts_git_clone_lists_total\\{outcome="${outcome}"\\} (\\d+)`, "m").exec(
    text,
  )
  return m ? Number(m[1]) : 0
}

const waitForCount = async (node: NodeProcess, outcome: string, atLeast: number) => {
  for (let i = 0; i < 300; i++) {
    if ((await listCount(node, outcome)) >= atLeast) return
    await new Promise((r) => setTimeout(r, 50))
  }
  throw new Error(`guts_git_clone_lists_total{outcome="${outcome}"} never reached ${atLeast}`)
}

describe("clone lists", () => {
  it("are written after a push, reused by clones (also after a restart), and replaced by a force push", async () => {
    const work = tempDir("clone-lists")
    const dataDir = path.join(work, "data")
    const src = path.join(work, "src")
    const first = await spawnNode({ dataDir })
    const token = first.token
    const url = () => authUrl(`${node.url}/admin/lists.git`, token)
    let node = first
    let dropped = ""
    try {
      await createRepo(node, "lists")
      await initRepo(src)
      for (let i = 0; i < 4; i++) {
        write(src, `f${i}.txt`, `v${i}\n`)
        await commitAll(src, `c${i}`, i)
      }
      await git(src, ["tag", "-a", "v1", "-m", "one"])
      await git(src, ["branch", "side"])
      write(src, "secret.txt", "dropped by the force push\n")
      await commitAll(src, "to be dropped", 9)
      dropped = (await git(src, ["rev-parse", "HEAD"])).trim()
      await git(src, ["push", "-q", url(), "--all"])
      await git(src, ["push", "-q", url(), "--tags"])
      await waitForCount(node, "warmed", 1)

      const c1 = path.join(work, "c1")
      await git(work, ["clone", "-q", "--mirror", url(), c1])
      expect(await listCount(node, "reused")).toBe(1)
      expect(await listCount(node, "walked")).toBe(0)
      expect(await refsOf(c1)).toEqual(await refsOf(src))
      await git(c1, ["fsck", "--full"])

      // A push on top: the list is extended by what it added, not walked again.
      write(src, "more.txt", "on top\n")
      await commitAll(src, "on top", 10)
      await git(src, ["push", "-q", url(), "main"])
      await waitForCount(node, "extended", 1)
      const c1b = path.join(work, "c1b")
      await git(work, ["clone", "-q", "--mirror", url(), c1b])
      expect(await listCount(node, "reused")).toBe(2)
      expect(await refsOf(c1b)).toEqual(await refsOf(src))
      await git(c1b, ["fsck", "--full"])
      expect(await listCount(node, "warmed")).toBe(1)

      // Drop the last two commits: the clone list is computed again for the new tips.
      await git(src, ["reset", "-q", "--hard", "HEAD~2"])
      await git(src, ["push", "-q", "--force", url(), "main"])
      const warmedBefore = await listCount(node, "warmed")
      await waitForCount(node, "warmed", warmedBefore + 1)
    } finally {
      expect(await first.stop("SIGTERM")).toBe(0)
    }

    // A fresh process reads the list from disk: no walk.
    node = await spawnNode({ dataDir })
    try {
      const c2 = path.join(work, "c2")
      await git(work, ["clone", "-q", "--mirror", url(), c2])
      expect(await listCount(node, "reused")).toBe(1)
      expect(await listCount(node, "walked")).toBe(0)
      expect(await refsOf(c2)).toEqual(await refsOf(src))
      await git(c2, ["fsck", "--full"])
      const gone = await runGit(c2, ["cat-file", "-e", dropped])
      expect(gone.code).not.toBe(0)
      // A clone of one branch asks for another set of tips: it walks, and is still right.
      const c3 = path.join(work, "c3")
      await git(work, [
        "clone",
        "-q",
        "--single-branch",
        "--branch",
        "side",
        "--no-tags",
        url(),
        c3,
      ])
      expect(await listCount(node, "walked")).toBe(1)
      await git(c3, ["fsck", "--full"])
    } finally {
      expect(await node.stop("SIGTERM")).toBe(0)
    }
  }, 120_000)
})
