/**
 * A 4-validator cluster with a full node, as real processes on loopback: a full node that
 * joins late catches up and serves what it missed, and forwards writes; an object damaged
 * on one node's disk is detected and repaired from peers; and through a seeded sequence of
 * pushes and kill -9 restarts (at most f = 1 validator down at a time), no push a client
 * was told `ok` for is ever lost.
 *
 * Sizes: GUTS_E2E_FULL_NODE_PUSHES (default 30; the issue's figure is 100),
 * GUTS_E2E_NEVER_LOST_STEPS (default 12) and GUTS_E2E_SEED (default 1).
 */
import * as path from "node:path"
import * as zlib from "node:zlib"
import RocksDB from "rocksdb-native"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import type { ObjectId } from "../../src/domain/git/ObjectId.ts"
import { decodeStored, encodeStored, objectKey } from "../../src/layers/ObjectStoreRocks.ts"
import {
  type ClusterMember,
  converged,
  eventually,
  isUp,
  metricOf,
  startCluster,
  stateOf,
  type TestCluster,
} from "../support/Cluster.ts"
import { authUrl, commitAll, git, initRepo, refsOf, runGit, write } from "../support/Git.ts"
import { createRepo, tempDir } from "../support/TestNode.ts"

const PUSHES = Number(process.env.GUTS_E2E_FULL_NODE_PUSHES ?? 30)
const STEPS = Number(process.env.GUTS_E2E_NEVER_LOST_STEPS ?? 12)
const SEED = Number(process.env.GUTS_E2E_SEED ?? 1)
const FULL = 4

let cluster: TestCluster
let work: string

beforeAll(async () => {
  cluster = await startCluster(4, { fullNodes: 1, startLater: [FULL] })
  work = tempDir("e2e-recovery")
}, 120_000)

afterAll(async () => {
  await cluster?.stopAll()
}, 60_000)

const node = (i: number) => cluster.nodes[i]!
const admin = (i: number) => ({ url: node(i).url, token: node(i).token() })
const remote = (i: number, repo: string) =>
  authUrl(`${node(i).url}/admin/${repo}.git`, node(i).token())
const up = () => cluster.nodes.filter(isUp)

/** Waits until every running member holds the same state at the highest height seen. */
const settle = async (members: ReadonlyArray<ClusterMember> = up(), timeoutMs = 60_000) => {
  const heights = await Promise.all(members.map(async (m) => (await stateOf(m.url)).height))
  return converged(
    members.map((m) => m.url),
    Math.max(...heights),
    timeoutMs,
  ).catch((e) => {
    throw new Error(
      `${e.message}\n${members.map((m) => `--- node ${m.index} ---\n${m.log.slice(-2500)}`).join("\n")}`,
    )
  })
}

const cloneFrom = async (i: number, repo: string, dir: string) => {
  await git(work, ["clone", "-q", "--mirror", remote(i, repo), dir])
  return dir
}

describe("a cluster with a full node", () => {
  const repos = ["follow-a", "follow-b", "follow-c"]

  it(`starts a full node after ${PUSHES} pushes; it catches up and serves them: identical refs, fsck clean`, async () => {
    for (const [k, repo] of repos.entries()) {
      await createRepo(admin(k), repo)
      await initRepo(path.join(work, repo))
    }
    // One stream of pushes per repository, side by side, each through its own validator
    // (a client that moves between nodes can meet one that has not applied its last push
    // yet, and gets `fetch first`).
    await Promise.all(
      repos.map(async (repo, k) => {
        const src = path.join(work, repo)
        for (let p = k; p < PUSHES; p += repos.length) {
          write(src, `f${p % 7}.txt`, `push ${p}\n`.repeat(20 + p))
          await commitAll(src, `push ${p}`, p)
          if (p % 5 === 0) await git(src, ["tag", `t${p}`])
          await git(src, ["push", "-q", "--tags", remote(k, repo), "main"])
        }
      }),
    )
    await settle(cluster.nodes.slice(0, 4))

    await cluster.start(FULL)
    const state = await settle()
    expect(state.height).toBeGreaterThanOrEqual(PUSHES)
    for (const repo of repos) {
      const dst = await cloneFrom(FULL, repo, path.join(work, `${repo}-from-full`))
      expect(await refsOf(dst)).toEqual(await refsOf(path.join(work, repo)))
      await git(dst, ["fsck", "--full", "--strict"])
    }
  }, 180_000)

  it("forwards writes made on the full node to the validators, answering once they are final", async () => {
    if (!isUp(node(FULL))) await cluster.start(FULL)
    const created = await fetch(`${node(FULL).url}/api/user/repos`, {
      method: "POST",
      headers: {
        authorization: `Bearer ${node(FULL).token()}`,
        "content-type": "application/json",
      },
      body: JSON.stringify({ name: "via-full" }),
    })
    expect(created.status).toBe(201)
    const src = await initRepo(path.join(work, "via-full"))
    write(src, "a.txt", "written through the full node\n")
    const tip = await commitAll(src, "via full node", 1)
    await git(src, ["push", "-q", remote(FULL, "via-full"), "main"])
    // Acknowledged means final: a validator already serves it.
    const ls = await git(work, ["ls-remote", remote(2, "via-full"), "refs/heads/main"])
    expect(ls.split("\t")[0]).toBe(tip)
  }, 60_000)
})

describe("an object damaged on one node's disk", () => {
  it("is detected by the scrub after a restart, repaired from peers, and the node's clone is correct", async () => {
    await createRepo(admin(0), "tamper")
    const src = await initRepo(path.join(work, "tamper"))
    write(src, "precious.txt", "the bytes that must survive\n".repeat(50))
    write(src, "other.txt", "other\n")
    await commitAll(src, "precious", 1)
    await git(src, ["push", "-q", remote(0, "tamper"), "main"])
    const blob = (await git(src, ["rev-parse", "HEAD:precious.txt"])).trim() as ObjectId
    await settle()

    const victim = node(2)
    await cluster.kill(2, "SIGTERM")
    // Behind the node's back: same id, same size, other content.
    const db = new RocksDB(path.join(victim.dataDir, "db"), {
      columnFamilies: ["objects", "refs", "meta"],
    }) as RocksDB & { columnFamily(name: string): RocksDB }
    await db.ready()
    const objects = db.columnFamily("objects")
    const record = await objects.get(objectKey(blob))
    expect(record).not.toBeNull()
    const stored = decodeStored(blob, record!)
    if (typeof stored === "string") throw new Error(stored)
    const forged = Buffer.alloc(stored.size, "x")
    const batch = objects.write({ capacity: 1 })
    batch.tryPut(
      objectKey(blob),
      encodeStored({ ...stored, repr: { kind: "whole", deflated: zlib.deflateSync(forged) } }),
    )
    await batch.flush()
    batch.destroy()
    await db.close()

    await cluster.start(2)
    await eventually(
      "the damaged object is detected and repaired",
      async () => ({
        corrupt: await metricOf(victim, "guts_storage_corrupt_objects_total"),
        repaired: await metricOf(victim, "guts_storage_repaired_objects_total"),
      }),
      (m) => m.corrupt >= 1 && m.repaired >= 1,
      60_000,
    ).catch((e) => {
      throw new Error(`${e.message}\n${victim.log.slice(-4000)}`)
    })

    const dst = await cloneFrom(2, "tamper", path.join(work, "tamper-from-2"))
    expect(await refsOf(dst)).toEqual(await refsOf(src))
    await git(dst, ["fsck", "--full", "--strict"])
    expect(await git(dst, ["cat-file", "blob", blob])).toBe(
      "the bytes that must survive\n".repeat(50),
    )
  }, 120_000)
})

/** A small seeded PRNG (mulberry32): the same seed replays the same sequence. */
const prng = (seed: number) => () => {
  seed = (seed + 0x6d2b79f5) | 0
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296
}

describe("acknowledged pushes", () => {
  it(`are never lost through ${STEPS} seeded steps of pushes and kill -9 restarts of at most f nodes (seed ${SEED})`, async () => {
    const random = prng(SEED)
    const pick = <T>(xs: ReadonlyArray<T>) => xs[Math.floor(random() * xs.length)]!
    if (!isUp(node(FULL))) await cluster.start(FULL)
    const names = ["lost-a", "lost-b"]
    for (const name of names) {
      await createRepo(admin(0), name)
      await initRepo(path.join(work, name))
    }
    await settle()
    const acked: Array<{ repo: string; commit: string }> = []
    const trace: string[] = []
    let down: number | undefined
    let pushesSinceKill = 0
    let n = 0
    for (let step = 0; step < STEPS; step++) {
      const roll = random()
      if (down === undefined && roll < 0.3) {
        down = Math.floor(random() * 4)
        pushesSinceKill = 0
        trace.push(`kill -9 validator ${down}`)
        await cluster.kill(down, "SIGKILL")
        continue
      }
      // A killed validator stays down for at least two pushes.
      if (down !== undefined && pushesSinceKill >= 2 && roll < 0.4) {
        trace.push(`restart validator ${down}`)
        await cluster.start(down)
        down = undefined
        continue
      }
      const repo = pick(names)
      const via = pick(up()).index
      const dir = path.join(work, repo)
      write(dir, "log.txt", `step ${step}\n`)
      const commit = await commitAll(dir, `step ${step}`, 100 + n++)
      pushesSinceKill++
      const pushed = await runGit(dir, ["push", "-q", remote(via, repo), "main"])
      trace.push(`push ${commit.slice(0, 8)} to ${repo} via node ${via}: ${pushed.code}`)
      if (pushed.code === 0) acked.push({ repo, commit })
      else expect(pushed.stderr).toMatch(/writes are unavailable|fetch first|stale|rejected/)
    }
    if (down !== undefined) await cluster.start(down)
    expect(acked.length, trace.join("\n")).toBeGreaterThan(0)

    await settle(cluster.nodes, 90_000)
    for (const m of cluster.nodes)
      for (const name of names) {
        const dst = await cloneFrom(m.index, name, path.join(work, `${name}-final-${m.index}`))
        for (const a of acked.filter((x) => x.repo === name)) {
          const reachable = await runGit(dst, ["merge-base", "--is-ancestor", a.commit, "main"])
          expect(
            reachable.code,
            `acknowledged ${a.commit} of ${name} is missing on node ${m.index}\n${trace.join("\n")}`,
          ).toBe(0)
        }
      }
  }, 240_000)
})
