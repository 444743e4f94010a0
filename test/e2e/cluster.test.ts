/**
 * Four validators as real processes on loopback, agreeing over libp2p: what is pushed to
 * one node is served by the others, all hold the same state, and losing one node (f = 1)
 * does not stop writes — it catches up when it returns.
 */
import * as path from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type TestCluster, converged, startCluster, stateOf } from "../support/Cluster.ts"
import { authUrl, commitAll, git, initRepo, refsOf, runGit, write } from "../support/Git.ts"
import { createRepo, tempDir } from "../support/TestNode.ts"

let cluster: TestCluster
let work: string

beforeAll(async () => {
  cluster = await startCluster(4)
  work = tempDir("e2e-cluster")
}, 120_000)

afterAll(async () => {
  await cluster?.stopAll()
})

const node = (i: number) => ({ url: cluster.nodes[i]!.url, token: cluster.nodes[i]!.token() })
const remote = (i: number, repo: string) =>
  authUrl(`${cluster.nodes[i]!.url}/admin/${repo}.git`, node(i).token)

describe("a 4-validator cluster", () => {
  it("serves from node 3 what was pushed to node 1: identical refs, fsck clean", async () => {
    await createRepo(node(1), "shared")
    const src = path.join(work, "src")
    await initRepo(src)
    for (let i = 0; i < 5; i++) {
      write(src, `f${i}.txt`, `content ${i}\n`.repeat(100))
      await commitAll(src, `c${i}`, i)
    }
    await git(src, ["tag", "-a", "v1", "-m", "one"])
    await git(src, ["push", remote(1, "shared"), "main", "v1"])
    const dst = path.join(work, "from-node-3")
    await git(work, ["clone", "-q", "--mirror", remote(3, "shared"), dst])
    expect(await refsOf(dst)).toEqual(await refsOf(src))
    await git(dst, ["fsck", "--full"])
  }, 60_000)

  it("holds identical state on every node after a burst of pushes to many repositories", async () => {
    const pushes = []
    for (let r = 0; r < 6; r++) {
      const via = r % 4
      pushes.push(
        (async () => {
          await createRepo(node(via), `burst-${r}`)
          const src = path.join(work, `burst-${r}`)
          await initRepo(src)
          write(src, "x.txt", `repo ${r}\n`)
          await commitAll(src, `r${r}`, r)
          await git(src, ["push", "-q", remote(via, `burst-${r}`), "main"])
        })(),
      )
    }
    await Promise.all(pushes)
    const height = Math.max(
      ...(await Promise.all(cluster.nodes.map((n) => stateOf(n.url)))).map((s) => s.height),
    )
    const state = await converged(
      cluster.nodes.map((n) => n.url),
      height,
    )
    expect(state.digest).toMatch(/^[0-9a-f]{64}$/)
  }, 90_000)

  it("lets exactly one of two racing pushes to one branch through different nodes win", async () => {
    await createRepo(node(0), "race")
    const base = path.join(work, "race-base")
    await initRepo(base)
    write(base, "a.txt", "base\n")
    await commitAll(base, "base", 1)
    await git(base, ["push", "-q", remote(0, "race"), "main"])
    const clones = [path.join(work, "race-a"), path.join(work, "race-b")]
    for (const [k, dir] of clones.entries()) {
      await git(work, ["clone", "-q", remote(k === 0 ? 1 : 2, "race"), dir])
      write(dir, "a.txt", `change from ${k}\n`)
      await commitAll(dir, `change ${k}`, 10 + k)
    }
    const results = await Promise.all(clones.map((dir) => runGit(dir, ["push", "origin", "main"])))
    expect(results.filter((r) => r.code === 0)).toHaveLength(1)
    const loser = results.find((r) => r.code !== 0)!
    expect(loser.stderr).toMatch(/fetch first|rejected|stale/)
  }, 60_000)

  it("keeps accepting pushes with one validator killed, and the returning node catches up", async () => {
    await createRepo(node(0), "resilient")
    const src = path.join(work, "resilient")
    await initRepo(src)
    write(src, "a.txt", "0\n")
    await commitAll(src, "0", 0)
    await git(src, ["push", "-q", remote(0, "resilient"), "main"])
    await cluster.kill(2, "SIGKILL")
    for (let i = 1; i <= 3; i++) {
      write(src, "a.txt", `${i}\n`)
      await commitAll(src, `${i}`, i)
      await git(src, ["push", "-q", remote(i === 2 ? 3 : i, "resilient"), "main"])
    }
    const tip = (await git(src, ["rev-parse", "HEAD"])).trim()
    await cluster.start(2)
    const live = [0, 1, 3].map((i) => cluster.nodes[i]!.url)
    const height = (await stateOf(live[0]!)).height
    await converged([...live, cluster.nodes[2]!.url], height, 60_000).catch((e) => {
      throw new Error(`${e.message}\n--- node 2 log ---\n${cluster.nodes[2]!.log.slice(-4000)}`)
    })
    const dst = path.join(work, "resilient-from-2")
    await git(work, ["clone", "-q", remote(2, "resilient"), dst])
    expect((await git(dst, ["rev-parse", "HEAD"])).trim()).toBe(tip)
  }, 120_000)

  it("stops writes with a clear error when two of four are down, keeps serving reads, and resumes with three", async () => {
    await createRepo(node(0), "quorum")
    const src = path.join(work, "quorum")
    await initRepo(src)
    write(src, "a.txt", "before\n")
    await commitAll(src, "before", 0)
    await git(src, ["push", "-q", remote(0, "quorum"), "main"])
    const before = (await git(src, ["rev-parse", "HEAD"])).trim()
    await cluster.kill(1, "SIGKILL")
    await cluster.kill(2, "SIGKILL")
    write(src, "a.txt", "during\n")
    await commitAll(src, "during", 1)
    // Both writes wait out the submit timeout before failing: side by side, one wait.
    const [push, api] = await Promise.all([
      runGit(src, ["push", remote(0, "quorum"), "main"]),
      fetch(`${cluster.nodes[0]!.url}/api/user/repos`, {
        method: "POST",
        headers: { authorization: `Bearer ${node(0).token}`, "content-type": "application/json" },
        body: JSON.stringify({ name: "no-quorum" }),
      }),
    ])
    expect(push.code).not.toBe(0)
    expect(push.stderr).toContain("writes are unavailable")
    expect(api.status).toBe(503)
    expect(((await api.json()) as { message: string }).message).toMatch(/quorum/)
    // Reads need no quorum.
    const dst = path.join(work, "quorum-read")
    await git(work, ["clone", "-q", remote(3, "quorum"), dst])
    expect((await git(dst, ["rev-parse", "HEAD"])).trim()).toBe(before)
    await cluster.start(1)
    // The returning validator first catches up on views; writes resume within seconds.
    const deadline = Date.now() + 60_000
    let resumed = await runGit(src, ["push", "-q", remote(0, "quorum"), "main"])
    while (resumed.code !== 0 && Date.now() < deadline) {
      expect(resumed.stderr).toMatch(/writes are unavailable|fetch first|stale/)
      resumed = await runGit(src, ["push", "-q", remote(0, "quorum"), "main"])
    }
    expect(resumed.code).toBe(0)
    const ls = await git(work, ["ls-remote", remote(3, "quorum"), "refs/heads/main"])
    expect(ls.split("\t")[0]).toBe((await git(src, ["rev-parse", "HEAD"])).trim())
  }, 120_000)
})
