/**
 * Apply in a real cluster of four validators.
 *
 * Collaboration: the same kind of API calls spread over different nodes — pull requests
 * opened on one node, reviewed on another, merged three ways (merge commit, squash, rebase)
 * on a third — leave every node with the identical state digest and the identical merge
 * commits (their authors and times come from the transactions and blocks, not from a node),
 * and the history fetched with git is what the three methods promise.
 *
 * Enforcement: one validator turns faulty — it skips every
 * request-time check and submits, signed with its genuine validator key, transactions no
 * honest node would have taken: a history rewrite by a user with read access, and a push
 * in the owner's name carrying a certificate signed by someone else. The three honest
 * validators (a quorum, f = 1) order them, apply them, and reject them: no ref changes on
 * any node, and all nodes keep identical state. A positive control submitted the same way
 * (a legitimate change by the owner) does apply, so the rejections are not the path failing.
 */
import "../../src/layers/p2p/Polyfills.ts"
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { Effect } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type ObjectId, ZERO_ID } from "../../src/domain/git/ObjectId.ts"
import { type TxOutcome, UpdateRefs, type UserId } from "../../src/domain/Transaction.ts"
import { Ledger } from "../../src/services/Ledger.ts"
import { Metadata } from "../../src/services/Metadata.ts"
import { apiClient, makeUser } from "../support/Api.ts"
import { converged, startCluster, type TestCluster } from "../support/Cluster.ts"
import { authUrl, commitAll, git, initRepo, write } from "../support/Git.ts"
import { type RunningNode, startNode, tempDir } from "../support/TestNode.ts"

let cluster: TestCluster
let faulty: RunningNode
let owner: { login: string; token: string }
let work: string
let c1: string
let c2: string

const honest = [0, 1, 2]
const remote = (i: number) => authUrl(`${cluster.nodes[i]!.url}/owner/app.git`, owner.token)
const refsOn = async (i: number) => git(work, ["ls-remote", remote(i)])

beforeAll(async () => {
  cluster = await startCluster(4)
  const admin = apiClient(cluster.nodes[0]!.url, cluster.nodes[0]!.token())
  owner = await makeUser(admin, "owner", ["repo"])
  const reader = await makeUser(admin, "reader", ["repo"])
  const o = apiClient(cluster.nodes[0]!.url, owner.token)
  expect((await o("POST", "/user/repos", { name: "app" })).status).toBe(201)
  expect(
    (await o("PUT", "/repos/owner/app/collaborators/reader", { permission: "pull" })).status,
  ).toBe(201)
  work = await initRepo(path.join(tempDir("faulty"), "w"))
  write(work, "a", "1\n")
  c1 = await commitAll(work, "one", 1)
  write(work, "a", "2\n")
  c2 = await commitAll(work, "two", 2)
  await git(work, ["push", "-q", remote(0), "main"])
  expect(reader.token).toMatch(/^guts_/)

  // Validator 3 goes faulty: its process stops, and its key and data directory are taken
  // over by a node in this test process whose Ledger we call directly.
  const node3 = cluster.nodes[3]!
  await cluster.kill(3)
  node3.child = undefined // its process is gone for good; stopAll leaves it alone
  const clusterFile = path.join(node3.dataDir, "..", "cluster.json")
  const validators = JSON.parse(fs.readFileSync(clusterFile, "utf8")).validators as Array<{
    address: string
  }>
  const p2pPort = Number(/tcp\/(\d+)/.exec(validators[3]!.address)![1])
  faulty = await startNode({
    dataDir: node3.dataDir,
    config: {
      cluster: {
        file: clusterFile,
        keyFile: path.join(node3.dataDir, "node.key"),
        p2pHost: "127.0.0.1",
        p2pPort,
        submitTimeoutMs: 30_000,
      },
    },
  })
  // It catches up before acting.
  const height = Math.max(
    ...(await Promise.all(
      honest.map(
        async (i) =>
          (
            (await (await fetch(`${cluster.nodes[i]!.url}/health/state`)).json()) as {
              height: number
            }
          ).height,
      ),
    )),
  )
  await converged([...honest.map((i) => cluster.nodes[i]!.url), faulty.url], height, 60_000)
}, 180_000)

afterAll(async () => {
  await faulty?.close()
  await cluster?.stopAll()
}, 60_000)

/** Submits through the faulty node's ledger, skipping every request-time check. */
const forge = (
  login: string,
  fields: { changes: { name: string; old: string; new: string }[]; pushCert?: string },
) =>
  faulty.run!(
    Effect.gen(function* () {
      const meta = yield* Metadata
      const ledger = yield* Ledger
      const user = (yield* meta.userByLogin(login))!
      return yield* ledger.submit(
        UpdateRefs.make({
          submitter: user.id as UserId,
          idempotencyKey: `forged-${login}-${Math.random()}`,
          owner: "owner",
          repo: "app",
          atomic: true,
          ...fields,
        }),
      )
    }),
  ) as Promise<TxOutcome>

const allNodes = () => [...honest.map((i) => cluster.nodes[i]!.url), faulty.url]

const settle = async () => {
  const heights = await Promise.all(
    allNodes().map(
      async (u) => ((await (await fetch(`${u}/health/state`)).json()) as { height: number }).height,
    ),
  )
  return converged(allNodes(), Math.max(...heights), 60_000)
}

describe("a faulty validator that skips request-time checks", () => {
  it("gets a legitimate change by the owner applied (the path works)", async () => {
    const outcome = await forge("owner", {
      changes: [{ name: "refs/heads/control", old: ZERO_ID, new: c1 as ObjectId }],
    })
    expect(outcome._tag).toBe("Applied")
    await settle()
    for (const i of honest) expect(await refsOn(i)).toContain(`${c1}\trefs/heads/control`)
  }, 90_000)

  it("cannot rewrite history in the name of a user who only has read access", async () => {
    const outcome = await forge("reader", {
      changes: [{ name: "refs/heads/main", old: c2, new: c1 }],
    })
    expect(outcome).toMatchObject({ _tag: "Rejected" })
    expect((outcome as { reason: string }).reason).toMatch(/permission to owner\/app denied/)
    await settle()
    for (const i of honest) expect(await refsOn(i)).toContain(`${c2}\trefs/heads/main`)
  }, 90_000)

  it("cannot forge a signed push in the owner's name on a branch that requires signatures", async () => {
    const o = apiClient(cluster.nodes[1]!.url, owner.token)
    const rule = await o("PUT", "/repos/owner/app/branches/main/protection", {
      required_status_checks: null,
      enforce_admins: true,
      required_pull_request_reviews: null,
      restrictions: null,
      required_signatures: true,
    })
    expect(rule.status).toBe(200)
    const key = path.join(tempDir("forger"), "k")
    execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", key])
    const payload = `certificate version 0.1\npusher owner <o@x> 1 +0000\npushee x\nnonce n\n\n${c2} ${c1} refs/heads/main\n`
    const cert =
      payload +
      execFileSync("ssh-keygen", ["-Y", "sign", "-n", "git", "-f", key], {
        input: payload,
      }).toString()
    const forged = await forge("owner", {
      changes: [{ name: "refs/heads/main", old: c2, new: c1 }],
      pushCert: cert,
    })
    expect(forged).toMatchObject({ _tag: "Rejected" })
    expect((forged as { reason: string }).reason).toMatch(/not a key of owner/)
    const unsigned = await forge("owner", {
      changes: [{ name: "refs/heads/main", old: c2, new: c1 }],
    })
    expect(unsigned._tag).toBe("Applied")
    const refs = (unsigned as { detail: { refs: { ok: boolean; reason?: string }[] } }).detail.refs
    expect(refs[0]).toMatchObject({ ok: false })
    expect(refs[0]!.reason).toMatch(/cannot force-push|must be signed/)
    const state = await settle()
    expect(state.digest).toMatch(/^[0-9a-f]{64}$/)
    for (const i of honest) expect(await refsOn(i)).toContain(`${c2}\trefs/heads/main`)
  }, 90_000)
})

describe("collaboration through different nodes", () => {
  it("opens, reviews and merges pull requests three ways on different nodes, with identical results everywhere", async () => {
    const url = (i: number) => cluster.nodes[i]!.url
    const admin = apiClient(url(0), cluster.nodes[0]!.token())
    const dev = await makeUser(admin, "dev", ["repo"])
    const o = (i: number) => apiClient(url(i), owner.token)
    const d = (i: number) => apiClient(url(i), dev.token)
    expect((await o(0)("POST", "/user/repos", { name: "collab" })).status).toBe(201)
    // Final on one node is final everywhere, but another node applies the block a moment
    // later: a client moving between nodes waits for what it wrote to show there.
    const seenOn = async (node: number, what: string) => {
      for (let i = 0; (await o(node)("GET", what)).status !== 200; i++) {
        if (i > 100) throw new Error(`${what} never appeared on node ${node}`)
        await new Promise((r) => setTimeout(r, 50))
      }
    }
    await seenOn(1, "/repos/owner/collab")
    expect(
      (await o(1)("PUT", "/repos/owner/collab/collaborators/dev", { permission: "push" })).status,
    ).toBe(201)
    const devRemote = (i: number) => authUrl(`${url(i)}/owner/collab.git`, dev.token)
    const w = await initRepo(path.join(tempDir("collab"), "w"))
    write(w, "readme", "hello\n")
    await commitAll(w, "start", 10)
    await git(w, ["push", "-q", devRemote(0), "main"])
    const branches: Array<[string, Array<[string, string]>]> = [
      ["one", [["x.txt", "x\n"]]],
      ["two", [["y.txt", "y\n"]]],
      [
        "three",
        [
          ["z.txt", "z1\n"],
          ["z.txt", "z2\n"],
        ],
      ],
    ]
    let n = 20
    for (const [name, edits] of branches) {
      await git(w, ["checkout", "-q", "-B", name, "main"])
      for (const [file, content] of edits) {
        write(w, file, content)
        await commitAll(w, `${name}: ${file}`, n++)
      }
      await git(w, ["push", "-q", devRemote(2), `${name}:refs/heads/${name}`])
    }
    const numbers: number[] = []
    for (const [i, [name]] of branches.entries()) {
      const pr = await d(i)("POST", "/repos/owner/collab/pulls", {
        title: `PR ${name}`,
        head: name,
        base: "main",
      })
      expect(pr.status, JSON.stringify(pr.body)).toBe(201)
      numbers.push(pr.body.number)
      await seenOn((i + 1) % 3, `/repos/owner/collab/pulls/${pr.body.number}`)
      const review = await o((i + 1) % 3)(
        "POST",
        `/repos/owner/collab/pulls/${pr.body.number}/reviews`,
        {
          event: "APPROVE",
        },
      )
      expect(review.status).toBe(200)
    }
    const methods = ["merge", "squash", "rebase"] as const
    const shas: string[] = []
    for (const [i, method] of methods.entries()) {
      await seenOn((i + 2) % 3, `/repos/owner/collab/pulls/${numbers[i]}/reviews`)
      const merged = await o((i + 2) % 3)("PUT", `/repos/owner/collab/pulls/${numbers[i]}/merge`, {
        merge_method: method,
      })
      expect(merged.status, JSON.stringify(merged.body)).toBe(200)
      shas.push(merged.body.sha)
    }
    const state = await settle()
    expect(state.digest).toMatch(/^[0-9a-f]{64}$/)
    for (const i of honest) {
      const ls = await git(w, ["ls-remote", devRemote(i), "refs/heads/main"])
      expect(ls.split("\t")[0]).toBe(shas[2])
      const pr = await d(i)("GET", `/repos/owner/collab/pulls/${numbers[0]}`)
      expect(pr.body.merge_commit_sha).toBe(shas[0])
    }
    const clone = path.join(tempDir("collab-clone"), "c")
    await git(w, ["clone", "-q", devRemote(1), clone])
    await git(clone, ["fsck", "--full"])
    const log = (await git(clone, ["log", "--format=%s|%P", "main"])).trim().split("\n")
    expect(log.map((l) => l.split("|")[0])).toEqual([
      "three: z.txt",
      "three: z.txt",
      "PR two (#2)",
      "Merge pull request #1 from owner/one",
      "one: x.txt",
      "start",
    ])
    expect(log[3]!.split("|")[1]!.split(" ")).toHaveLength(2)
    expect(log[2]!.split("|")[1]!.split(" ")).toHaveLength(1)
    const graph = await git(clone, ["log", "--graph", "--oneline", "main"])
    expect(graph).toContain("Merge pull request #1")
  }, 180_000)
})

describe("objects written through the git data API", () => {
  it("reach every validator, so a ref naming them moved through another node applies everywhere", async () => {
    const on = (i: number) => apiClient(cluster.nodes[i]!.url, owner.token)
    const blob = await on(0)("POST", "/repos/owner/app/git/blobs", { content: "via the API\n" })
    expect(blob.status).toBe(201)
    const tree = await on(0)("POST", "/repos/owner/app/git/trees", {
      tree: [{ path: "deep/api.txt", mode: "100644", type: "blob", sha: blob.body.sha }],
    })
    expect(tree.status).toBe(201)
    const commit = await on(1)("POST", "/repos/owner/app/git/commits", {
      message: "written object by object",
      tree: tree.body.sha,
      parents: [c2],
    })
    expect(commit.status, JSON.stringify(commit.body)).toBe(201)
    const ref = await on(2)("POST", "/repos/owner/app/git/refs", {
      ref: "refs/heads/api",
      sha: commit.body.sha,
    })
    expect(ref.status, JSON.stringify(ref.body)).toBe(201)
    await settle()
    for (const i of honest) expect(await refsOn(i)).toContain(`${commit.body.sha}\trefs/heads/api`)
    const clone = path.join(tempDir("gitdata-clone"), "c")
    await git(work, ["clone", "-q", "-b", "api", remote(1), clone])
    await git(clone, ["fsck", "--strict", "--no-dangling"])
    expect(fs.readFileSync(path.join(clone, "deep/api.txt"), "utf8")).toBe("via the API\n")
  }, 90_000)
})
