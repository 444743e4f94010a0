/**
 * CI end to end on one node, with a test-side runner speaking the runner protocol over plain
 * HTTP (the real runner is `guts runner`): a pull request whose workflow has a 3-entry
 * matrix and a dependent job gets a run; the runner claims each job (with the job's git
 * token it can read the private repository; its secrets arrive opened), streams logs,
 * reports steps, uploads an artifact the dependent job downloads, and completes; the jobs'
 * statuses turn green, and branch protection requiring them refuses the merge until then.
 * The run, jobs, logs and artifacts read back through GitHub's Actions API.
 */
import * as http from "node:http"
import * as path from "node:path"
import type { Duplex } from "node:stream"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import type { JobAssignment } from "../../src/domain/ci/RunnerProtocol.ts"
import { encodeFrame, frameReader, OP } from "../../src/layers/http/WebSocket.ts"
import { type Api, apiClient, makeUser } from "../support/Api.ts"
import { authUrl, commitAll, git, initRepo, write } from "../support/Git.ts"
import { type RunningNode, startNode, tempDir } from "../support/TestNode.ts"

let node: RunningNode
let alice: Api

const WORKFLOW = `name: CI
on: [pull_request]
jobs:
  build:
    runs-on: [linux]
    strategy:
      matrix:
        shard: [1, 2, 3]
    steps:
      - name: Build
        run: echo "shard \${{ matrix.shard }} with $TOKEN"
        env:
          TOKEN: \${{ secrets.DEPLOY_TOKEN }}
  deploy:
    needs: build
    runs-on: [linux]
    steps:
      - run: ls "$GUTS_DOWNLOADS"
`
const CONTEXTS = ["CI / build (1)", "CI / build (2)", "CI / build (3)", "CI / deploy"]

/** A runner that is only HTTP requests (the runner token as Bearer). */
const runnerClient = (token: string) => async (method: string, p: string, body?: unknown) => {
  const res = await fetch(`${node.url}${p}`, {
    method,
    headers: {
      authorization: `Bearer ${token}`,
      ...(body === undefined
        ? {}
        : Buffer.isBuffer(body)
          ? { "content-type": "application/x-tar" }
          : { "content-type": "application/json" }),
    },
    ...(body === undefined ? {} : { body: Buffer.isBuffer(body) ? body : JSON.stringify(body) }),
  })
  const text = await res.text()
  let json: any
  try {
    json = text ? JSON.parse(text) : undefined
  } catch {
    json = text
  }
  return { status: res.status, body: json, bytes: Buffer.from(text) }
}

/** A /ws client subscribed to one repository, collecting its events. */
const watch = (repository: string, token: string) =>
  new Promise<{ events: any[]; close: () => void }>((resolve, reject) => {
    const req = http.request(`${node.url}/ws`, {
      headers: {
        connection: "Upgrade",
        upgrade: "websocket",
        "sec-websocket-version": "13",
        "sec-websocket-key": Buffer.from("0123456789abcdef").toString("base64"),
        authorization: `Bearer ${token}`,
      },
    })
    req.on("upgrade", (_res, socket: Duplex) => {
      const events: any[] = []
      const read = frameReader()
      socket.on("data", (chunk: Buffer) => {
        const frames = read(chunk)
        if (frames === "too-large") return
        for (const f of frames) {
          if (f.opcode !== OP.text) continue
          const m = JSON.parse(f.payload.toString("utf8"))
          if (m.type === "subscribed") resolve({ events, close: () => socket.destroy() })
          if (m.type === "event") events.push(m)
        }
      })
      socket.write(
        encodeFrame(
          OP.text,
          Buffer.from(JSON.stringify({ type: "subscribe", repositories: [repository] })),
          true,
        ),
      )
    })
    req.on("error", reject)
    req.end()
  })

const eventually = async (what: string, check: () => boolean) => {
  const deadline = Date.now() + 10_000
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 20))
  }
}

beforeAll(async () => {
  node = await startNode({ storage: "memory", config: { ciSecretsKey: "test-cluster-key" } })
  const admin = apiClient(node.url, node.token)
  const a = await makeUser(admin, "alice")
  alice = apiClient(node.url, a.token)
  expect((await alice("POST", "/user/repos", { name: "app", private: true })).status).toBe(201)
  const work = await initRepo(path.join(tempDir("ci"), "work"))
  write(work, ".guts/workflows/ci.yml", WORKFLOW)
  write(work, "README.md", "app\n")
  await commitAll(work, "initial", 0)
  const remote = authUrl(`${node.url}/alice/app.git`, a.token)
  await git(work, ["push", "-q", remote, "main"])
  await git(work, ["checkout", "-q", "-b", "topic"])
  write(work, "src.txt", "change\n")
  await commitAll(work, "change", 1)
  await git(work, ["push", "-q", remote, "topic"])
  const protect = await alice("PUT", "/repos/alice/app/branches/main/protection", {
    required_status_checks: { strict: false, contexts: CONTEXTS },
    enforce_admins: true,
    required_pull_request_reviews: null,
    restrictions: null,
  })
  expect(protect.status, JSON.stringify(protect.body)).toBe(200)
  expect(
    (await alice("PUT", "/repos/alice/app/actions/secrets/DEPLOY_TOKEN", { value: "s3cr3t" }))
      .status,
  ).toBe(201)
}, 60_000)

afterAll(async () => {
  await node?.close()
})

describe("CI runs over the runner protocol", () => {
  it("runs a pull request's matrix and dependent job; statuses gate the merge", async () => {
    const live = await watch("alice/app", node.token)
    const pr = await alice("POST", "/repos/alice/app/pulls", {
      title: "change",
      head: "topic",
      base: "main",
    })
    expect(pr.status).toBe(201)
    const headSha = pr.body.head.sha as string
    const runs = await alice("GET", "/repos/alice/app/actions/runs?event=pull_request")
    expect(runs.body.total_count).toBe(1)
    const run = runs.body.workflow_runs[0]
    expect(run).toMatchObject({ name: "CI", status: "queued", head_sha: headSha })
    const merge = () => alice("PUT", "/repos/alice/app/pulls/1/merge", { merge_method: "merge" })
    expect((await merge()).status).toBe(405)

    // Register a runner.
    const reg = await alice("POST", "/repos/alice/app/actions/runners/registration-token")
    expect(reg.status).toBe(201)
    const registered = await fetch(`${node.url}/api/runners`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ token: reg.body.token, name: "box", labels: ["linux"] }),
    })
    expect(registered.status).toBe(201)
    const runnerInfo = (await registered.json()) as { id: number; token: string; labels: string[] }
    expect(runnerInfo.labels).toEqual(["self-hosted", "linux"])
    const runner = runnerClient(runnerInfo.token)
    expect((await runnerClient("nope")("POST", "/api/runners/jobs/claim", {})).status).toBe(401)

    const done: string[] = []
    for (let i = 0; i < 3; i++) {
      const claimed = await runner("POST", "/api/runners/jobs/claim", {})
      expect(claimed.status).toBe(200)
      const job = claimed.body as JobAssignment
      expect(job.job.jobId).toBe("build")
      expect(job.sha).toBe(headSha)
      expect(job.secrets).toEqual({ DEPLOY_TOKEN: "s3cr3t" })
      expect(job.steps[0]).toMatchObject({ number: 1, name: "Build" })
      expect(job.context.matrix.shard).toBe(i + 1)
      if (i === 0) {
        // The job's git token reads the private repository while the lease is held.
        const refs = await fetch(`${node.url}/alice/app.git/info/refs?service=git-upload-pack`, {
          headers: {
            authorization: `Basic ${Buffer.from(`x-access-token:${job.gitToken}`).toString("base64")}`,
          },
        })
        expect(refs.status).toBe(200)
        const anonymous = await fetch(`${node.url}/alice/app.git/info/refs?service=git-upload-pack`)
        expect(anonymous.status).not.toBe(200)
      }
      const jid = job.jobId
      expect((await runner("POST", `/api/runners/jobs/${jid}/heartbeat`, {})).body).toMatchObject({
        cancelled: false,
      })
      expect(
        (await runner("POST", `/api/runners/jobs/${jid}/steps/1`, { status: "in_progress" }))
          .status,
      ).toBe(200)
      const line = `shard ${i + 1} with ***\n`
      expect(
        (await runner("POST", `/api/runners/jobs/${jid}/logs`, { seq: 0, step: 1, text: line }))
          .body,
      ).toEqual({ expected: 1 })
      // A retried chunk is acknowledged, not stored twice; a gap is not stored.
      expect(
        (await runner("POST", `/api/runners/jobs/${jid}/logs`, { seq: 0, text: line })).body,
      ).toEqual({ expected: 1 })
      expect(
        (await runner("POST", `/api/runners/jobs/${jid}/logs`, { seq: 5, text: "x" })).body,
      ).toEqual({ expected: 1 })
      if (i === 0) {
        // Pushed to /ws subscribers as it arrives.
        await eventually("the log chunk on /ws", () =>
          live.events.some((e) => e.event === "workflow_job" && e.action === "log"),
        )
        const chunk = live.events.find((e) => e.event === "workflow_job")
        expect(chunk.payload).toMatchObject({ job_id: jid, seq: 0, step: 1, text: line })
      }
      // Readable over the API while running.
      const liveLog = await fetch(`${node.url}/api/repos/alice/app/actions/jobs/${jid}/logs`, {
        headers: { authorization: `Bearer ${node.token}` },
      })
      expect(await liveLog.text()).toBe(line)
      expect(
        (
          await runner("POST", `/api/runners/jobs/${jid}/steps/1`, {
            status: "completed",
            conclusion: "success",
          })
        ).status,
      ).toBe(200)
      if (i === 0) {
        const up = await runner(
          "PUT",
          `/api/runners/jobs/${jid}/artifacts/dist`,
          tarOf("out.txt", "built\n"),
        )
        expect(up.status, JSON.stringify(up.body)).toBe(201)
      }
      const completed = await runner("POST", `/api/runners/jobs/${jid}/complete`, {
        conclusion: "success",
        logChunks: 1,
      })
      expect(completed.status, JSON.stringify(completed.body)).toBe(200)
      // A retried completion gives the same answer; the job is no longer the runner's to act on.
      expect(
        (
          await runner("POST", `/api/runners/jobs/${jid}/complete`, {
            conclusion: "success",
            logChunks: 1,
          })
        ).body,
      ).toEqual(completed.body)
      expect((await runner("POST", `/api/runners/jobs/${jid}/heartbeat`, {})).status).toBe(409)
      done.push(job.job.key)
      if (i < 2) expect((await merge()).status).toBe(405)
    }
    expect(done.sort()).toEqual(["build (1)", "build (2)", "build (3)"])

    // The dependent job, with the artifact of the first build to download.
    const deployClaim = await runner("POST", "/api/runners/jobs/claim", {})
    const deploy = deployClaim.body as JobAssignment
    expect(deploy.job.jobId).toBe("deploy")
    expect(deploy.context.needs.build?.result).toBe("success")
    expect(deploy.artifacts.map((a) => [a.name, a.jobKey])).toEqual([["dist", "build (1)"]])
    const got = await fetch(deploy.artifacts[0]!.url, {
      headers: { authorization: `Bearer ${runnerInfo.token}` },
    })
    expect(Buffer.from(await got.arrayBuffer())).toEqual(tarOf("out.txt", "built\n"))
    expect((await runner("POST", "/api/runners/jobs/claim", {})).status).toBe(204)
    expect((await merge()).status).toBe(405)
    await runner("POST", `/api/runners/jobs/${deploy.jobId}/logs`, { seq: 0, text: "dist\n" })
    expect(
      (
        await runner("POST", `/api/runners/jobs/${deploy.jobId}/complete`, {
          conclusion: "success",
          logChunks: 1,
        })
      ).status,
    ).toBe(200)

    // Green: every required context passes, and the merge goes through.
    const status = await alice("GET", `/repos/alice/app/commits/${headSha}/status`)
    expect(status.body.state).toBe("success")
    expect(status.body.statuses.map((s: { context: string }) => s.context).sort()).toEqual(CONTEXTS)
    expect((await merge()).status).toBe(200)

    // workflow_run events: requested, in_progress, completed, in block order.
    await eventually("the run's completion on /ws", () =>
      live.events.some((e) => e.event === "workflow_run" && e.action === "completed"),
    )
    live.close()
    expect(
      live.events
        .filter((e) => e.event === "workflow_run")
        .map((e) => [e.action, e.payload.workflow_run.id]),
    ).toEqual([
      ["requested", run.id],
      ["in_progress", run.id],
      ["completed", run.id],
    ])

    // The Actions API tells the same story.
    const after = await alice("GET", `/repos/alice/app/actions/runs/${run.id}`)
    expect(after.body).toMatchObject({
      status: "completed",
      conclusion: "success",
      event: "pull_request",
    })
    const jobs = await alice("GET", `/repos/alice/app/actions/runs/${run.id}/jobs`)
    expect(
      jobs.body.jobs.map((j: { name: string; conclusion: string }) => [j.name, j.conclusion]),
    ).toEqual([
      ["build (1)", "success"],
      ["build (2)", "success"],
      ["build (3)", "success"],
      ["deploy", "success"],
    ])
    expect(jobs.body.jobs[0].steps[0]).toMatchObject({
      name: "Build",
      status: "completed",
      conclusion: "success",
    })
    const log = await fetch(
      `${node.url}/api/repos/alice/app/actions/jobs/${jobs.body.jobs[0].id}/logs`,
      {
        headers: { authorization: `Bearer ${node.token}` },
      },
    )
    expect(log.headers.get("x-guts-log-complete")).toBe("true")
    expect(await log.text()).toMatch(/^shard \d with \*\*\*\n$/)
    const artifacts = await alice("GET", `/repos/alice/app/actions/runs/${run.id}/artifacts`)
    expect(artifacts.body.artifacts.map((a: { name: string }) => a.name)).toEqual(["dist"])
    const zip = await fetch(artifacts.body.artifacts[0].archive_download_url, {
      headers: { authorization: `Bearer ${node.token}` },
    })
    const zipBytes = Buffer.from(await zip.arrayBuffer())
    expect(zipBytes.subarray(0, 2).toString()).toBe("PK")
    expect(zipBytes.includes(Buffer.from("out.txt"))).toBe(true)
    // Rerun: a new attempt with fresh jobs; cancelling it ends the jobs nobody started.
    expect((await alice("POST", `/repos/alice/app/actions/runs/${run.id}/rerun`)).status).toBe(201)
    const again = await alice("GET", `/repos/alice/app/actions/runs/${run.id}`)
    expect(again.body).toMatchObject({ run_attempt: 2, status: "queued", conclusion: null })
    expect((await alice("POST", `/repos/alice/app/actions/runs/${run.id}/cancel`)).status).toBe(202)
    const cancelled = await alice("GET", `/repos/alice/app/actions/runs/${run.id}`)
    expect(cancelled.body).toMatchObject({ status: "completed", conclusion: "cancelled" })
    expect((await alice("POST", `/repos/alice/app/actions/runs/${run.id}/cancel`)).status).toBe(409)
    const firstAttempt = await alice(
      "GET",
      `/repos/alice/app/actions/runs/${run.id}/attempts/1/jobs`,
    )
    expect(
      firstAttempt.body.jobs.every((j: { conclusion: string }) => j.conclusion === "success"),
    ).toBe(true)
    const workflows = await alice("GET", "/repos/alice/app/actions/workflows")
    expect(workflows.body.workflows.map((w: { path: string }) => w.path)).toEqual([
      ".guts/workflows/ci.yml",
    ])
  }, 60_000)

  it("rejects a workflow with an unknown need as a failed run naming the line", async () => {
    const work = await initRepo(path.join(tempDir("ci-bad"), "work"))
    write(
      work,
      ".github/workflows/bad.yml",
      "on: [push]\njobs:\n  a:\n    runs-on: [linux]\n    needs: [ghost]\n    steps:\n      - run: echo\n",
    )
    await commitAll(work, "bad", 2)
    const t = await makeUser(apiClient(node.url, node.token), "bob")
    const bob = apiClient(node.url, t.token)
    expect((await bob("POST", "/user/repos", { name: "bad" })).status).toBe(201)
    await git(work, ["push", "-q", authUrl(`${node.url}/bob/bad.git`, t.token), "main"])
    const runs = await bob("GET", "/repos/bob/bad/actions/runs")
    expect(runs.body.workflow_runs[0]).toMatchObject({ status: "completed", conclusion: "failure" })
    const [annotation] = runs.body.workflow_runs[0].annotations
    expect(annotation.message).toMatch(/^\.github\/workflows\/bad\.yml:5: .*ghost/)
  }, 30_000)
})

/** A one-file tar archive (ustar), as `tar -c` writes it. */
function tarOf(name: string, content: string) {
  const header = Buffer.alloc(512)
  header.write(name, 0)
  header.write("0000644\0", 100)
  header.write("0000000\0", 108)
  header.write("0000000\0", 116)
  header.write(`${Buffer.byteLength(content).toString(8).padStart(11, "0")}\0`, 124)
  header.write("00000000000\0", 136)
  header.write("        ", 148)
  header.write("0", 156)
  header.write("ustar\0", 257)
  header.write("00", 263)
  let sum = 0
  for (const b of header) sum += b
  header.write(`${sum.toString(8).padStart(6, "0")}\0 `, 148)
  const body = Buffer.alloc(Math.ceil(Buffer.byteLength(content) / 512) * 512)
  body.write(content)
  return Buffer.concat([header, body, Buffer.alloc(1024)])
}
