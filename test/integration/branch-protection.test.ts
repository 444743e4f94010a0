/**
 * Branch protection enforced on `git push`, with the real git client: each rule of
 * GitHub's protection API refuses what it should with an `ng` reason a user understands
 * (git prints it after `! [remote rejected]`), lets through what it should, and exempts
 * administrators unless `enforce_admins` is set.
 */
import * as path from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type Api, apiClient, makeUser } from "../support/Api.ts"
import { authUrl, commitAll, git, initRepo, runGit, write } from "../support/Git.ts"
import { type RunningNode, startNode, tempDir } from "../support/TestNode.ts"

let node: RunningNode
let alice: { login: string; token: string } // owner (admin)
let bob: { login: string; token: string } // collaborator with write
let aliceApi: Api
let work: string
const commits: Record<"c1" | "ff" | "div" | "merge", string> = {
  c1: "",
  ff: "",
  div: "",
  merge: "",
}

const remoteFor = (who: { token: string }) => authUrl(`${node.url}/alice/guarded.git`, who.token)

const NO_RULES = {
  required_status_checks: null,
  enforce_admins: null,
  required_pull_request_reviews: null,
  restrictions: null,
}

beforeAll(async () => {
  node = await startNode({ storage: "memory" })
  const admin = apiClient(node.url, node.token)
  alice = await makeUser(admin, "alice")
  bob = await makeUser(admin, "bob")
  aliceApi = apiClient(node.url, alice.token)
  expect((await aliceApi("POST", "/user/repos", { name: "guarded" })).status).toBe(201)
  expect(
    (await aliceApi("PUT", "/repos/alice/guarded/collaborators/bob", { permission: "push" }))
      .status,
  ).toBe(201)
  work = await initRepo(path.join(tempDir("protect"), "work"))
  write(work, "a.txt", "0\n")
  const c0 = await commitAll(work, "c0", 0)
  write(work, "a.txt", "1\n")
  commits.c1 = await commitAll(work, "c1", 1)
  write(work, "a.txt", "2\n")
  commits.ff = await commitAll(work, "ff", 2)
  await git(work, ["checkout", "-q", "-b", "div", c0])
  write(work, "b.txt", "div\n")
  commits.div = await commitAll(work, "div", 3)
  await git(work, ["checkout", "-q", "-b", "merged", commits.ff])
  await git(work, ["merge", "-q", "--no-ff", "-m", "merge div", "div"], {
    GIT_AUTHOR_DATE: "2026-01-01T00:00:04Z",
    GIT_COMMITTER_DATE: "2026-01-01T00:00:04Z",
  })
  commits.merge = (await git(work, ["rev-parse", "HEAD"])).trim()
}, 60_000)

afterAll(async () => {
  await node?.close()
})

/** A branch at c1, then protected with `rule` (GitHub's request body). */
const protectedBranch = async (branch: string, rule: Record<string, unknown>) => {
  await git(work, ["push", "-q", remoteFor(alice), `${commits.c1}:refs/heads/${branch}`])
  const r = await aliceApi("PUT", `/repos/alice/guarded/branches/${branch}/protection`, {
    ...NO_RULES,
    ...rule,
  })
  expect(r.status, JSON.stringify(r.body)).toBe(200)
}

const push = (who: { token: string }, spec: string) =>
  runGit(work, ["push", "--porcelain", remoteFor(who), spec])

const tipOf = async (branch: string) =>
  (await git(work, ["ls-remote", remoteFor(alice), `refs/heads/${branch}`])).split("\t")[0]

const refused = (r: { code: number; stdout: string; stderr: string }, reason: RegExp) => {
  expect(r.code).not.toBe(0)
  expect(`${r.stdout}${r.stderr}`).toMatch(/remote rejected|\[rejected\]|!\t/)
  expect(`${r.stdout}${r.stderr}`).toMatch(reason)
}

describe("branch protection on git push", () => {
  it("without protection, a collaborator may force-push and delete", async () => {
    await git(work, ["push", "-q", remoteFor(alice), `${commits.c1}:refs/heads/free`])
    expect((await push(bob, `+${commits.div}:refs/heads/free`)).code).toBe(0)
    expect(await tipOf("free")).toBe(commits.div)
    expect((await push(bob, ":refs/heads/free")).code).toBe(0)
  })

  it("refuses force pushes but accepts fast-forwards", async () => {
    await protectedBranch("noforce", {})
    refused(await push(bob, `+${commits.div}:refs/heads/noforce`), /cannot force-push/)
    expect(await tipOf("noforce")).toBe(commits.c1)
    expect((await push(bob, `${commits.ff}:refs/heads/noforce`)).code).toBe(0)
    expect(await tipOf("noforce")).toBe(commits.ff)
  })

  it("refuses force pushes even from administrators (GitHub's rule has no admin bypass for this)", async () => {
    await protectedBranch("noforce-admin", {})
    refused(await push(alice, `+${commits.div}:refs/heads/noforce-admin`), /cannot force-push/)
  })

  it("accepts force pushes when allow_force_pushes is set", async () => {
    await protectedBranch("forceok", { allow_force_pushes: true })
    expect((await push(bob, `+${commits.div}:refs/heads/forceok`)).code).toBe(0)
  })

  it("refuses deletion unless allow_deletions is set", async () => {
    await protectedBranch("nodelete", {})
    refused(await push(bob, ":refs/heads/nodelete"), /cannot delete this protected branch/)
    expect(await tipOf("nodelete")).toBe(commits.c1)
    await protectedBranch("deleteok", { allow_deletions: true })
    expect((await push(bob, ":refs/heads/deleteok")).code).toBe(0)
  })

  it("refuses merge commits under required_linear_history", async () => {
    await protectedBranch("linear", { required_linear_history: true })
    refused(await push(bob, `${commits.merge}:refs/heads/linear`), /must not contain merge commits/)
    expect((await push(bob, `${commits.ff}:refs/heads/linear`)).code).toBe(0)
  })

  it("lets only the named users push under restrictions, and always administrators", async () => {
    await git(work, ["push", "-q", remoteFor(alice), `${commits.c1}:refs/heads/restricted`])
    await protectedBranch("restricted", { restrictions: { users: ["carol"], teams: [] } })
    refused(await push(bob, `${commits.ff}:refs/heads/restricted`), /not allowed to push/)
    expect((await push(alice, `${commits.ff}:refs/heads/restricted`)).code).toBe(0)
  })

  it("requires a pull request for direct pushes, exempting administrators unless enforce_admins", async () => {
    await protectedBranch("reviewed", {
      required_pull_request_reviews: { required_approving_review_count: 1 },
    })
    refused(
      await push(bob, `${commits.ff}:refs/heads/reviewed`),
      /changes must be made through a pull request/,
    )
    expect((await push(alice, `${commits.ff}:refs/heads/reviewed`)).code).toBe(0)
    await protectedBranch("reviewed-strict", {
      enforce_admins: true,
      required_pull_request_reviews: { required_approving_review_count: 1 },
    })
    refused(
      await push(alice, `${commits.ff}:refs/heads/reviewed-strict`),
      /changes must be made through a pull request/,
    )
  })

  it("requires the named status checks to have passed on the pushed commit", async () => {
    await protectedBranch("checked", {
      required_status_checks: { strict: false, contexts: ["ci/build"] },
    })
    refused(
      await push(bob, `${commits.ff}:refs/heads/checked`),
      /required status check "ci\/build" expected/,
    )
    const bobApi = apiClient(node.url, bob.token)
    const pending = await bobApi("POST", `/repos/alice/guarded/statuses/${commits.ff}`, {
      state: "pending",
      context: "ci/build",
    })
    expect(pending.status).toBe(201)
    refused(await push(bob, `${commits.ff}:refs/heads/checked`), /"ci\/build" expected/)
    await bobApi("POST", `/repos/alice/guarded/statuses/${commits.ff}`, {
      state: "success",
      context: "ci/build",
      target_url: "https://ci.example.test/1",
    })
    expect((await push(bob, `${commits.ff}:refs/heads/checked`)).code).toBe(0)
    expect(await tipOf("checked")).toBe(commits.ff)
  })

  it("computes the combined status from each context's latest state", async () => {
    const bobApi = apiClient(node.url, bob.token)
    const combined = async () =>
      (await bobApi("GET", `/repos/alice/guarded/commits/${commits.div}/status`)).body
    expect((await combined()).state).toBe("pending")
    expect((await combined()).total_count).toBe(0)
    const post = (state: string, context: string) =>
      bobApi("POST", `/repos/alice/guarded/statuses/${commits.div}`, { state, context })
    await post("success", "lint")
    await post("failure", "test")
    expect((await combined()).state).toBe("failure")
    await post("success", "test")
    const now = await combined()
    expect(now.state).toBe("success")
    expect(now.total_count).toBe(2)
    expect(now.statuses.map((x: { context: string }) => x.context).sort()).toEqual(["lint", "test"])
    const all = await bobApi("GET", `/repos/alice/guarded/commits/${commits.div}/statuses`)
    expect(all.body.map((x: { state: string }) => x.state)).toEqual([
      "success",
      "failure",
      "success",
    ])
    await git(work, ["push", "-q", remoteFor(alice), `${commits.div}:refs/heads/div-branch`])
    const byBranch = await bobApi("GET", "/repos/alice/guarded/commits/div-branch/status")
    expect(byBranch.body.sha).toBe(commits.div)
  })

  it("refuses statuses for unknown commits (422), from readers (403), on hidden repositories (404)", async () => {
    const bobApi = apiClient(node.url, bob.token)
    const unknown = await bobApi("POST", `/repos/alice/guarded/statuses/${"1".repeat(40)}`, {
      state: "success",
    })
    expect(unknown.status).toBe(422)
    const badState = await bobApi("POST", `/repos/alice/guarded/statuses/${commits.ff}`, {
      state: "great",
    })
    expect(badState.status).toBe(422)
    const carl = await makeUser(apiClient(node.url, node.token), "carl")
    await aliceApi("PUT", "/repos/alice/guarded/collaborators/carl", { permission: "pull" })
    const asReader = await apiClient(node.url, carl.token)(
      "POST",
      `/repos/alice/guarded/statuses/${commits.ff}`,
      { state: "success" },
    )
    expect(asReader.status).toBe(403)
    expect((await aliceApi("POST", "/user/repos", { name: "hidden", private: true })).status).toBe(
      201,
    )
    const hidden = await bobApi("GET", `/repos/alice/hidden/commits/${commits.ff}/status`)
    expect(hidden.status).toBe(404)
  })

  it("requires signed pushes under required_signatures", async () => {
    await protectedBranch("signed-only", { required_signatures: true })
    refused(await push(bob, `${commits.ff}:refs/heads/signed-only`), /pushes must be signed/)
  })

  it("shows the rule with GitHub's shape and removes it", async () => {
    await protectedBranch("shown", { allow_deletions: true, required_linear_history: true })
    const got = await aliceApi("GET", "/repos/alice/guarded/branches/shown/protection")
    expect(got.status).toBe(200)
    expect(got.body).toMatchObject({
      allow_deletions: { enabled: true },
      allow_force_pushes: { enabled: false },
      required_linear_history: { enabled: true },
      enforce_admins: { enabled: false },
    })
    expect(
      (await aliceApi("DELETE", "/repos/alice/guarded/branches/shown/protection")).status,
    ).toBe(204)
    expect((await aliceApi("GET", "/repos/alice/guarded/branches/shown/protection")).status).toBe(
      404,
    )
  })

  it("answers 422 with GitHub's errors for a malformed rule, and changes nothing", async () => {
    const r = await aliceApi("PUT", "/repos/alice/guarded/branches/bad/protection", {
      enforce_admins: "yes",
      required_status_checks: null,
      required_pull_request_reviews: null,
      restrictions: null,
    })
    expect(r.status).toBe(422)
    expect(r.body.errors[0]).toMatchObject({ field: "enforce_admins", code: "invalid" })
    const missing = await aliceApi("PUT", "/repos/alice/guarded/branches/bad/protection", {})
    expect(missing.status).toBe(422)
    expect((await aliceApi("GET", "/repos/alice/guarded/branches/bad/protection")).status).toBe(404)
  })
})
