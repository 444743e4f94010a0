/**
 * Failure modes of a 4-validator cluster (f = 1) and their recoveries, as
 * docs/troubleshooting.md describes them, with real processes and a network the test
 * controls (PartitionedCluster.ts):
 * - a network partition: the isolated minority cannot finalize a push (the client is told
 *   writes are unavailable and why) and is not ready; the majority goes on; once the
 *   partition heals every node converges to the same state digest;
 * - more than f validators down: writes halt with the same clear error and the survivors
 *   are not ready; writes resume when a quorum is back;
 * - a validator's disk lost: restored from a backup (its key included), it catches up on
 *   what the cluster finalized meanwhile and serves it.
 *
 * Needs the build (`npx tsc -p tsconfig.build.json`).
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { Effect } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { restoreBackup } from "../../src/layers/backup/Restore.ts"
import { converged, eventually, stateOf } from "../support/Cluster.ts"
import { authUrl, commitAll, git, initRepo, runGit, write } from "../support/Git.ts"
import { createRepo, tempDir } from "../support/TestNode.ts"
import { type PartitionedCluster, startPartitionedCluster } from "./PartitionedCluster.ts"

let cluster: PartitionedCluster
let work: string

beforeAll(async () => {
  cluster = await startPartitionedCluster(4)
  const first = cluster.members[0]!
  await createRepo({ url: first.url, token: first.token() }, "weather")
  // Every member applies the repository's creation before a test cuts one off (a member
  // still behind would answer "not found" instead of the error under test).
  for (const m of cluster.members)
    await eventually(
      `member ${m.url} has the repository`,
      async () =>
        (
          await fetch(`${m.url}/api/repos/admin/weather`, {
            headers: { authorization: `token ${m.token()}` },
          })
        ).status,
      (status) => status === 200,
    )
  work = await initRepo(path.join(tempDir("failure-work"), "weather"))
}, 180_000)

afterAll(async () => {
  await cluster?.stopAll()
}, 60_000)

const member = (i: number) => cluster.members[i]!
let commits = 0
/** Commits something new (one commit at a time: they share the work tree). */
const commitNext = async () => {
  write(work, "forecast.txt", `forecast ${++commits}\n`)
  return commitAll(work, `forecast ${commits}`, commits)
}
/** Pushes a commit to member i's `branch`. */
const pushSha = async (i: number, sha: string, branch: string) => {
  const m = member(i)
  const r = await runGit(work, [
    "push",
    "-q",
    authUrl(`${m.url}/admin/weather.git`, m.token()),
    `${sha}:refs/heads/${branch}`,
  ])
  return { ...r, sha }
}
/** Commits something new and pushes it to member i's `branch`. */
const push = async (i: number, branch: string) => pushSha(i, await commitNext(), branch)
const ready = async (i: number) => {
  const res = await fetch(`${member(i).url}/health/ready`)
  return { status: res.status, body: (await res.json()) as { problems: string[] } }
}
const heights = async (idx: number[]) =>
  Math.max(...(await Promise.all(idx.map(async (i) => (await stateOf(member(i).url)).height))))

describe("failure modes", () => {
  it("a partitioned minority cannot write; the majority goes on; all converge after healing", async () => {
    cluster.isolate(3)
    // The minority's push fails only once the submit timeout has passed; meanwhile the
    // isolated node's readiness is checked and the majority writes.
    const minorityPush = pushSha(3, await commitNext(), "minority")
    const [isolated, majority] = await Promise.all([
      eventually(
        "the isolated node reports too few peers",
        () => ready(3),
        (r) => r.status === 503,
      ),
      push(0, "main"),
    ])
    const minority = await minorityPush
    expect(minority.code).not.toBe(0)
    expect(minority.stderr).toContain("writes are unavailable")
    expect(minority.stderr).toContain("fewer than a quorum of validators may be reachable")
    expect(isolated.body.problems.join("\n")).toMatch(/0 peer\(s\) connected, 2 required/)

    expect(majority.stderr).toBe("")
    expect(majority.code).toBe(0)
    const majorityHeight = await heights([0, 1, 2])
    expect((await stateOf(member(3).url)).height).toBeLessThan(majorityHeight)

    cluster.heal()
    const state = await converged(
      cluster.members.map((m) => m.url),
      majorityHeight,
      60_000,
    )
    expect(state.height).toBeGreaterThanOrEqual(majorityHeight)
    const back = await eventually(
      "the healed node is ready and knows the cluster's height",
      () => ready(3),
      (r) => r.status === 200,
      30_000,
    )
    expect(back.body.problems).toEqual([])
    const lag = (
      (await (await fetch(`${member(3).url}/health/ready`)).json()) as {
        checks: { lag: { highestFinalized: number } }
      }
    ).checks.lag
    expect(lag.highestFinalized).toBeGreaterThanOrEqual(majorityHeight)
    // The healed node serves what the majority wrote while it was cut off.
    const refs = await git(work, [
      "ls-remote",
      authUrl(`${member(3).url}/admin/weather.git`, member(3).token()),
      "refs/heads/main",
    ])
    expect(refs.split("\t")[0]).toBe(majority.sha)
  }, 150_000)

  it("with more than f validators down writes halt with a clear error, and resume with a quorum", async () => {
    await Promise.all([cluster.kill(2), cluster.kill(3)])
    // The push fails once the submit timeout has passed; readiness is checked meanwhile.
    const [halted, survivors] = await Promise.all([
      push(0, "main"),
      eventually(
        "the survivors report too few peers",
        () => ready(0),
        (r) => r.status === 503,
      ),
    ])
    expect(halted.code).not.toBe(0)
    expect(halted.stderr).toContain("writes are unavailable")
    expect(survivors.body.problems.join("\n")).toMatch(/1 peer\(s\) connected, 2 required/)

    await cluster.start(2) // three of four: a quorum again
    // Consensus resumes once the returning validator has caught up with the views; a
    // client retrying its push gets through then. The push refused during the halt waited
    // in the mempool and may land first: the retry is then told to fetch first, and the
    // remote holds a commit that was refused (nothing else).
    const deadline = Date.now() + 60_000
    const refused = [halted.sha]
    let resumed = await push(0, "main")
    while (resumed.code !== 0 && Date.now() < deadline) {
      refused.push(resumed.sha)
      if (resumed.stderr.includes("fetch first")) {
        const remote = await git(work, [
          "ls-remote",
          authUrl(`${member(0).url}/admin/weather.git`, member(0).token()),
          "refs/heads/main",
        ])
        expect(refused).toContain(remote.split("\t")[0])
      } else expect(resumed.stderr).toContain("writes are unavailable")
      resumed = await push(0, "main")
    }
    expect(resumed.stderr).toBe("")
    expect(resumed.code).toBe(0)
    await cluster.start(3)
    await converged(
      cluster.members.map((m) => m.url),
      await heights([0, 1, 2]),
      60_000,
    )
  }, 180_000)

  it("a validator restored from a backup catches up from its peers", async () => {
    const victim = member(1)
    const backupDir = path.join(tempDir("cluster-backup"), "b")
    const res = await fetch(`${victim.url}/api/admin/backup`, {
      method: "POST",
      headers: { authorization: `Bearer ${victim.token()}`, "content-type": "application/json" },
      body: JSON.stringify({ target: backupDir }),
    })
    expect(res.status).toBe(201)
    const { manifest } = (await res.json()) as {
      manifest: { height: number; files: Array<{ name: string }> }
    }
    expect(manifest.files.map((f) => f.name)).toContain("node.key")

    // The node's disk is lost; the cluster goes on without it.
    await cluster.kill(1)
    const clusterFile = fs.readFileSync(path.join(victim.dataDir, "cluster.json"))
    fs.rmSync(victim.dataDir, { recursive: true })
    const pushed = await push(0, "main")
    expect(pushed.code).toBe(0)

    await Effect.runPromise(restoreBackup(backupDir, victim.dataDir))
    fs.writeFileSync(path.join(victim.dataDir, "cluster.json"), clusterFile)
    await cluster.start(1)
    await converged(
      cluster.members.map((m) => m.url),
      await heights([0, 2, 3]),
      60_000,
    )
    const refs = await git(work, [
      "ls-remote",
      authUrl(`${victim.url}/admin/weather.git`, victim.token()),
      "refs/heads/main",
    ])
    expect(refs.split("\t")[0]).toBe(pushed.sha)
    expect((await stateOf(victim.url)).height).toBeGreaterThan(manifest.height)
  }, 120_000)
})
