/**
 * Check runs, as CI uses them: a run is created on a commit, moves to in_progress, then
 * completes with a conclusion; it is listed on the commit (latest per name) with the
 * commit's suite, and refused with clear errors when the input is wrong or the caller may
 * not write. Branch protection's required check "ci/build" is satisfied by a completed run
 * of that name with a passing conclusion — the pull request becomes mergeable and merges —
 * and not by a failed one.
 */
import * as path from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type Api, apiClient, makeUser } from "../support/Api.ts"
import { authUrl, commitAll, git, initRepo, write } from "../support/Git.ts"
import { type RunningNode, startNode, tempDir } from "../support/TestNode.ts"

let node: RunningNode
let A: Api
let reader: Api
let main: string
let feature: string
const R = "/repos/cia/app"

beforeAll(async () => {
  node = await startNode({ storage: "memory" })
  const admin = apiClient(node.url, node.token)
  const owner = await makeUser(admin, "cia")
  const other = await makeUser(admin, "rea")
  A = apiClient(node.url, owner.token)
  reader = apiClient(node.url, other.token)
  expect((await A("POST", "/user/repos", { name: "app" })).status).toBe(201)
  const w = await initRepo(path.join(tempDir("checks"), "w"))
  write(w, "a.txt", "1\n")
  main = await commitAll(w, "one", 1)
  await git(w, ["push", "-q", authUrl(`${node.url}/cia/app.git`, owner.token), "main"])
  await git(w, ["checkout", "-q", "-b", "feature"])
  write(w, "a.txt", "2\n")
  feature = await commitAll(w, "two", 2)
  await git(w, ["push", "-q", authUrl(`${node.url}/cia/app.git`, owner.token), "feature"])
})

afterAll(async () => {
  await node?.close()
})

describe("check runs", () => {
  it("are created, progressed and completed, and listed on their commit", async () => {
    const created = await A("POST", `${R}/check-runs`, {
      name: "ci/lint",
      head_sha: main,
      external_id: "run-7",
      details_url: "https://ci.example/7",
    })
    expect(created.status, JSON.stringify(created.body)).toBe(201)
    expect(created.body).toMatchObject({
      name: "ci/lint",
      head_sha: main,
      status: "queued",
      conclusion: null,
      external_id: "run-7",
    })
    const id = created.body.id
    const running = await A("PATCH", `${R}/check-runs/${id}`, { status: "in_progress" })
    expect(running.body.status).toBe("in_progress")
    const done = await A("PATCH", `${R}/check-runs/${id}`, {
      conclusion: "failure",
      output: { title: "2 problems", summary: "lint failed" },
    })
    expect(done.status).toBe(200)
    expect(done.body).toMatchObject({
      status: "completed",
      conclusion: "failure",
      output: { title: "2 problems", summary: "lint failed", text: null },
    })
    expect(done.body.completed_at).toMatch(/^\d{4}-\d{2}-\d{2}T/)
    // A second run of the same name supersedes the first in the default listing.
    const again = await A("POST", `${R}/check-runs`, {
      name: "ci/lint",
      head_sha: main,
      status: "completed",
      conclusion: "success",
    })
    expect(again.status).toBe(201)
    const latest = await A("GET", `${R}/commits/main/check-runs`)
    expect(latest.body.total_count).toBe(1)
    expect(latest.body.check_runs[0]).toMatchObject({ id: again.body.id, conclusion: "success" })
    const all = await A("GET", `${R}/commits/${main}/check-runs?filter=all`)
    expect(all.body.check_runs.map((r: { id: number }) => r.id)).toEqual([again.body.id, id])
    expect((await A("GET", `${R}/check-runs/${id}`)).body.conclusion).toBe("failure")
    const suites = await A("GET", `${R}/commits/main/check-suites`)
    expect(suites.body.total_count).toBe(1)
    expect(suites.body.check_suites[0]).toMatchObject({
      id: id,
      head_sha: main,
      status: "completed",
      conclusion: "success",
      latest_check_runs_count: 1,
      head_commit: { id: main, message: "one\n" },
    })
  })

  it("refuses bad input with 422 and callers without write access", async () => {
    const noName = await A("POST", `${R}/check-runs`, { head_sha: main })
    expect(noName.status).toBe(422)
    const badSha = await A("POST", `${R}/check-runs`, { name: "x", head_sha: "0".repeat(40) })
    expect(badSha.status).toBe(422)
    const badConclusion = await A("POST", `${R}/check-runs`, {
      name: "x",
      head_sha: main,
      conclusion: "great",
    })
    expect(badConclusion.status).toBe(422)
    expect(badConclusion.body.errors[0]).toMatchObject({ field: "conclusion" })
    const badTime = await A("POST", `${R}/check-runs`, {
      name: "x",
      head_sha: main,
      started_at: "yesterday",
    })
    expect(badTime.status).toBe(422)
    const completedWithout = await A("POST", `${R}/check-runs`, {
      name: "x",
      head_sha: main,
      status: "completed",
    })
    expect(completedWithout.status).toBe(422)
    expect((await A("GET", `${R}/check-runs/999999`)).status).toBe(404)
    const asReader = await reader("POST", `${R}/check-runs`, { name: "x", head_sha: main })
    expect(asReader.status).toBe(403)
  })

  it("satisfy a required check when completed with a passing conclusion", async () => {
    const prot = await A("PUT", `${R}/branches/main/protection`, {
      required_status_checks: { strict: false, contexts: ["ci/build"] },
      enforce_admins: true,
      required_pull_request_reviews: null,
      restrictions: null,
    })
    expect(prot.status, JSON.stringify(prot.body)).toBe(200)
    const pull = await A("POST", `${R}/pulls`, { title: "two", head: "feature", base: "main" })
    expect(pull.status).toBe(201)
    const n = pull.body.number
    const failed = await A("POST", `${R}/check-runs`, {
      name: "ci/build",
      head_sha: feature,
      conclusion: "failure",
    })
    expect(failed.status).toBe(201)
    expect((await A("GET", `${R}/pulls/${n}`)).body.mergeable_state).toBe("blocked")
    const refused = await A("PUT", `${R}/pulls/${n}/merge`, {})
    expect(refused.status).toBe(405)
    expect(refused.body.message).toContain("ci/build")
    await A("POST", `${R}/check-runs`, {
      name: "ci/build",
      head_sha: feature,
      conclusion: "neutral",
    })
    expect((await A("GET", `${R}/pulls/${n}`)).body.mergeable_state).toBe("clean")
    const merged = await A("PUT", `${R}/pulls/${n}/merge`, {})
    expect(merged.status, JSON.stringify(merged.body)).toBe(200)
    expect(merged.body.merged).toBe(true)
  })
})
