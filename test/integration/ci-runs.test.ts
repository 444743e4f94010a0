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
    const future = await fetch(`${node.url}/api/runners/jobs/claim`, {
      method: "POST",
      headers: { authorization: `Bearer ${runnerInfo.token}`, "x-guts-runner-protocol": "2" },
    })
    expect(future.status).toBe(400)
    expect(((await future.json()) as { message: string }).message).toMatch(/runner protocol 1/)

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
    // Runners: listed for the repository's admins; a removed runner's token stops working.
    const listed = await alice("GET", "/repos/alice/app/actions/runners")
    expect(
      listed.body.runners.map((r: { id: number; name: string; busy: boolean }) => [
        r.id,
        r.name,
        r.busy,
      ]),
    ).toEqual([[runnerInfo.id, "box", false]])
    expect(
      (await alice("DELETE", `/repos/alice/app/actions/runners/${runnerInfo.id}`)).status,
    ).toBe(204)
    expect((await runner("POST", "/api/runners/jobs/claim", {})).status).toBe(401)
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
    // A webhook for workflow_run hears of the run.
    const deliveries: Array<{ event: string; body: any }> = []
    const receiver = http.createServer((req, res) => {
      let text = ""
      req.on("data", (c) => (text += c))
      req.on("end", () => {
        deliveries.push({ event: String(req.headers["x-github-event"]), body: JSON.parse(text) })
        res.end("ok")
      })
    })
    await new Promise<void>((r) => receiver.listen(0, "127.0.0.1", r))
    const port = (receiver.address() as { port: number }).port
    const hook = await bob("POST", "/repos/bob/bad/hooks", {
      config: { url: `http://127.0.0.1:${port}/hook`, content_type: "json" },
      events: ["workflow_run"],
    })
    expect(hook.status).toBe(201)
    await git(work, ["push", "-q", authUrl(`${node.url}/bob/bad.git`, t.token), "main"])
    const runs = await bob("GET", "/repos/bob/bad/actions/runs")
    expect(runs.body.workflow_runs[0]).toMatchObject({ status: "completed", conclusion: "failure" })
    const [annotation] = runs.body.workflow_runs[0].annotations
    expect(annotation.message).toMatch(/^\.github\/workflows\/bad\.yml:5: .*ghost/)
    const runEvents = () => deliveries.filter((d) => d.event === "workflow_run")
    await eventually("workflow_run deliveries", () => runEvents().length >= 2)
    receiver.close()
    expect(
      runEvents().map((d) => [d.event, d.body.action, d.body.workflow_run.conclusion]),
    ).toEqual([
      ["workflow_run", "requested", null],
      ["workflow_run", "completed", "failure"],
    ])
  }, 30_000)

  it("a node restarted mid-job keeps the run and says in the log what it lost", async () => {
    const dataDir = tempDir("ci-restart")
    let n = await startNode({ dataDir })
    try {
      const admin = apiClient(n.url, n.token)
      const c = await makeUser(admin, "carol")
      const carol = apiClient(n.url, c.token)
      expect((await carol("POST", "/user/repos", { name: "r" })).status).toBe(201)
      const work = await initRepo(path.join(tempDir("ci-restart-w"), "w"))
      write(
        work,
        ".guts/workflows/ci.yml",
        "on: [push]\njobs:\n  t:\n    runs-on: [linux]\n    steps:\n      - run: echo\n",
      )
      await commitAll(work, "c", 3)
      await git(work, ["push", "-q", authUrl(`${n.url}/carol/r.git`, c.token), "main"])
      const reg = await carol("POST", "/repos/carol/r/actions/runners/registration-token")
      const post = async (
        url: string,
        method: string,
        p: string,
        token: string | undefined,
        body: unknown,
      ) => {
        const res = await fetch(`${url}${p}`, {
          method,
          headers: {
            "content-type": "application/json",
            ...(token ? { authorization: `Bearer ${token}` } : {}),
          },
          body: JSON.stringify(body),
        })
        return {
          status: res.status,
          body: (res.status === 204 ? undefined : await res.json()) as any,
        }
      }
      const r = await post(n.url, "POST", "/api/runners", undefined, {
        token: reg.body.token,
        name: "x",
        labels: ["linux"],
      })
      const token = r.body.token as string
      const job = (await post(n.url, "POST", "/api/runners/jobs/claim", token, {}))
        .body as JobAssignment
      await post(n.url, "POST", `/api/runners/jobs/${job.jobId}/logs`, token, {
        seq: 0,
        text: "before\n",
      })
      await n.close()
      n = await startNode({ dataDir })
      expect(
        (
          await post(n.url, "POST", `/api/runners/jobs/${job.jobId}/logs`, token, {
            seq: 1,
            text: "after\n",
          })
        ).body,
      ).toEqual({ expected: 2 })
      expect(
        (
          await post(n.url, "POST", `/api/runners/jobs/${job.jobId}/complete`, token, {
            conclusion: "success",
            logChunks: 2,
          })
        ).status,
      ).toBe(200)
      const log = await fetch(`${n.url}/api/repos/carol/r/actions/jobs/${job.jobId}/logs`, {
        headers: { authorization: `Bearer ${c.token}` },
      })
      expect(await log.text()).toBe(
        "[the log before this point was lost: the node serving this runner restarted]\nafter\n",
      )
      const run = await apiClient(n.url, c.token)("GET", `/repos/carol/r/actions/runs/${job.runId}`)
      expect(run.body).toMatchObject({ status: "completed", conclusion: "success" })
    } finally {
      await n.close()
    }
  }, 60_000)

  it("a runner that goes silent loses its job to another runner, even on an idle node", async () => {
    const n = await startNode({ storage: "memory", config: { ciLeaseMs: 2000 } })
    try {
      const d = await makeUser(apiClient(n.url, n.token), "dora")
      const dora = apiClient(n.url, d.token)
      expect((await dora("POST", "/user/repos", { name: "r" })).status).toBe(201)
      const work = await initRepo(path.join(tempDir("ci-lease"), "w"))
      write(
        work,
        ".guts/workflows/ci.yml",
        "on: [push]\njobs:\n  t:\n    runs-on: [linux]\n    steps:\n      - run: echo\n",
      )
      await commitAll(work, "c", 4)
      await git(work, ["push", "-q", authUrl(`${n.url}/dora/r.git`, d.token), "main"])
      const call = async (p: string, token: string | undefined, body: unknown) => {
        const res = await fetch(`${n.url}${p}`, {
          method: "POST",
          headers: {
            "content-type": "application/json",
            ...(token ? { authorization: `Bearer ${token}` } : {}),
          },
          body: JSON.stringify(body),
        })
        return {
          status: res.status,
          body: (res.status === 204 ? undefined : await res.json()) as any,
        }
      }
      const register = async (name: string) => {
        const reg = await dora("POST", "/repos/dora/r/actions/runners/registration-token")
        return (
          await call("/api/runners", undefined, { token: reg.body.token, name, labels: ["linux"] })
        ).body.token as string
      }
      const a = await register("a")
      const b = await register("b")
      const first = (await call("/api/runners/jobs/claim", a, {})).body as JobAssignment
      expect(first).toMatchObject({ attempt: 1, leaseSeconds: 2 })
      expect((await call("/api/runners/jobs/claim", b, {})).status).toBe(204)
      // a says nothing more; nobody else submits anything. b waits for the job.
      const second = await call("/api/runners/jobs/claim", b, { waitSeconds: 15 })
      expect(second.status).toBe(200)
      expect(second.body).toMatchObject({ jobId: first.jobId, attempt: 2 })
      expect((await call(`/api/runners/jobs/${first.jobId}/heartbeat`, a, {})).status).toBe(409)
      expect(
        (
          await call(`/api/runners/jobs/${first.jobId}/complete`, a, {
            conclusion: "success",
            logChunks: 0,
          })
        ).status,
      ).toBe(409)
      expect(
        (
          await call(`/api/runners/jobs/${first.jobId}/complete`, b, {
            conclusion: "success",
            logChunks: 0,
          })
        ).status,
      ).toBe(200)
      const job = await dora("GET", `/repos/dora/r/actions/jobs/${first.jobId}`)
      expect(job.body).toMatchObject({ conclusion: "success", runner_name: "b", attempt: 2 })
    } finally {
      await n.close()
    }
  }, 60_000)
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
