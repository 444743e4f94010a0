/**
 * The CI web pages against a real node, with a test-side runner speaking the runner
 * protocol over plain HTTP: the runs list (with filters), a run's job graph in `needs`
 * order with each job's status, an invalid workflow's annotations, a job's steps and its
 * log (live while running, sealed after; a `<script>` line stays text), private
 * repositories' CI pages 404 for outsiders, cancel refused without the CSRF token and for
 * readers, and a label for every control. Also `/ws` with a page's session cookie: only
 * from the node's own origin; and, in the machine's Chromium, a running job's page taking
 * its log chunks live (as text) and reloading when the job ends.
 */
import * as fs from "node:fs"
import * as http from "node:http"
import * as path from "node:path"
import type { Duplex } from "node:stream"
import { chromium } from "playwright-core"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import type { JobAssignment } from "../../src/domain/ci/RunnerProtocol.ts"
import { encodeFrame, frameReader, OP } from "../../src/layers/http/WebSocket.ts"
import { type Api, apiClient, makeUser } from "../support/Api.ts"
import { authUrl, commitAll, git, initRepo, write } from "../support/Git.ts"
import { type RunningNode, startNode, tempDir } from "../support/TestNode.ts"
import { signInWithToken, type WebClient, webClient } from "./WebClient.ts"

let node: RunningNode
let alice: Api
let aliceWeb: WebClient
let bobWeb: WebClient
let anon: WebClient
let runner: (method: string, p: string, body?: unknown) => Promise<{ status: number; body: any }>

const WORKFLOW = `name: CI
on: [push]
jobs:
  deploy:
    needs: [test]
    runs-on: [linux]
    steps:
      - run: echo deploy
  build:
    runs-on: [linux]
    steps:
      - name: Compile
        run: echo build
  test:
    needs: build
    runs-on: [linux]
    steps:
      - run: echo test
`
const BROKEN = `name: Broken
on: [push]
jobs:
  lint:
    needs: nowhere
    runs-on: [linux]
    steps:
      - run: echo lint
`
const EVIL_LINE = "<script>alert('log')</script>"

const pushWorkflows = async (repo: string, token: string, files: Record<string, string>) => {
  const work = await initRepo(path.join(tempDir("ci-web"), repo))
  for (const [file, text] of Object.entries(files)) write(work, file, text)
  write(work, "README.md", `${repo}\n`)
  await commitAll(work, "initial", 0)
  await git(work, ["push", "-q", authUrl(`${node.url}/alice/${repo}.git`, token), "main"])
}

const runnerClient =
  (token: string) =>
  async (method: string, p: string, body?: unknown): Promise<{ status: number; body: any }> => {
    const res = await fetch(`${node.url}${p}`, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        ...(body === undefined ? {} : { "content-type": "application/json" }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    })
    const text = await res.text()
    return { status: res.status, body: text ? JSON.parse(text) : undefined }
  }

/** Run ids by workflow name, from the API. */
const runIds = async (repo: string) => {
  const runs = await alice("GET", `/repos/alice/${repo}/actions/runs`)
  expect(runs.status).toBe(200)
  return new Map<string, number>(
    runs.body.workflow_runs.map((r: { name: string; id: number }) => [r.name, r.id]),
  )
}

let ciRun: number
let brokenRun: number
let buildJob: JobAssignment

beforeAll(async () => {
  node = await startNode({ storage: "memory" })
  const admin = apiClient(node.url, node.token)
  const a = await makeUser(admin, "alice", ["repo", "user", "admin:org"])
  const b = await makeUser(admin, "bob", ["repo", "user", "admin:org"])
  alice = apiClient(node.url, a.token)
  expect((await alice("POST", "/user/repos", { name: "app" })).status).toBe(201)
  expect((await alice("POST", "/user/repos", { name: "vault", private: true })).status).toBe(201)
  await pushWorkflows("app", a.token, {
    ".guts/workflows/ci.yml": WORKFLOW,
    ".guts/workflows/broken.yml": BROKEN,
  })
  await pushWorkflows("vault", a.token, { ".guts/workflows/ci.yml": WORKFLOW })
  const ids = await runIds("app")
  ciRun = ids.get("CI")!
  brokenRun = ids.get(".guts/workflows/broken.yml") ?? ids.get("Broken")!
  expect(ciRun).toBeGreaterThan(0)
  expect(brokenRun).toBeGreaterThan(0)

  // A runner for alice/app takes the first job and starts writing its log.
  const reg = await alice("POST", "/repos/alice/app/actions/runners/registration-token")
  expect(reg.status).toBe(201)
  const registered = await fetch(`${node.url}/api/runners`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ token: reg.body.token, name: "box", labels: ["linux"] }),
  })
  expect(registered.status).toBe(201)
  runner = runnerClient(((await registered.json()) as { token: string }).token)
  const claimed = await runner("POST", "/api/runners/jobs/claim", {})
  expect(claimed.status).toBe(200)
  buildJob = claimed.body as JobAssignment
  expect(buildJob.job.jobId).toBe("build")
  const jid = buildJob.jobId
  expect(
    (await runner("POST", `/api/runners/jobs/${jid}/steps/1`, { status: "in_progress" })).status,
  ).toBe(200)
  const logged = await runner("POST", `/api/runners/jobs/${jid}/logs`, {
    seq: 0,
    step: 1,
    text: `building\n${EVIL_LINE}\n`,
  })
  expect(logged.body).toEqual({ expected: 1 })

  aliceWeb = webClient(node.url)
  bobWeb = webClient(node.url)
  anon = webClient(node.url)
  await signInWithToken(aliceWeb, a.token)
  await signInWithToken(bobWeb, b.token)
}, 60_000)

afterAll(async () => {
  await node?.close()
})

/** Nothing executable from the log: no script element but our own, from our own origin. */
const expectInert = (text: string) => {
  expect(text).not.toContain(EVIL_LINE)
  for (const m of text.matchAll(/<script\b[^>]*>/gi)) expect(m[0]).toMatch(/src="\/-\/static\//)
}

describe("CI web pages", () => {
  it("lists runs with their workflow, event, branch, commit and status; filters and links", async () => {
    const list = await anon.get("/alice/app/actions")
    expect(list.status).toBe(200)
    expect(list.text).toContain('aria-current="page">Actions<')
    expect(list.text).toContain(`href="/alice/app/actions/runs/${ciRun}"`)
    expect(list.text).toContain(`href="/alice/app/actions/runs/${brokenRun}"`)
    expect(list.text).toMatch(
      /CI #1<\/a>.*?<td>push<\/td>.*?>main<\/a>.*?<code>[0-9a-f]{7}<\/code>.*?class="state in_progress"/s,
    )
    expect(list.text).toContain('class="state failure"')
    expect(list.text).toContain("2 runs")
    // By status (a conclusion), and by workflow.
    const failed = await anon.get("/alice/app/actions?status=failure")
    expect(failed.text).toContain(`/actions/runs/${brokenRun}"`)
    expect(failed.text).not.toContain(`/actions/runs/${ciRun}"`)
    expect(failed.text).toContain("1 run ")
    const wf = await alice("GET", "/repos/alice/app/actions/workflows")
    const ciWorkflow = wf.body.workflows.find((w: { path: string }) => w.path.endsWith("ci.yml"))
    const byWorkflow = await anon.get(`/alice/app/actions?workflow=${ciWorkflow.id}`)
    expect(byWorkflow.text).toContain(`/actions/runs/${ciRun}"`)
    expect(byWorkflow.text).not.toContain(`/actions/runs/${brokenRun}"`)
    expect(byWorkflow.text).toMatch(new RegExp(`<option value="${ciWorkflow.id}" selected>`))
  })

  it("shows a run's job graph in columns by needs, with each job's status", async () => {
    const run = await anon.get(`/alice/app/actions/runs/${ciRun}`)
    expect(run.status).toBe(200)
    const columns = [...run.text.matchAll(/<ol class="stage-jobs"[^>]*>(.*?)<\/ol>/gs)].map(
      (m) => m[1]!,
    )
    expect(columns).toHaveLength(3)
    const jobIn = (col: string) => /<strong>([^<]+)<\/strong>/.exec(col)?.[1]
    expect(columns.map(jobIn)).toEqual(["build", "test", "deploy"])
    expect(columns[0]).toContain('class="state in_progress"')
    expect(columns[1]).toContain('class="state waiting"')
    expect(columns[1]).toContain("needs build")
    expect(columns[2]).toContain("needs test")
    expect(columns[0]).toContain(`/alice/app/actions/runs/${ciRun}/jobs/${buildJob.jobId}"`)
    // Readers see no cancel button; the repository's writer does.
    expect(run.text).not.toContain("/cancel")
    const mine = await aliceWeb.get(`/alice/app/actions/runs/${ciRun}`)
    expect(mine.text).toContain(`action="/alice/app/actions/runs/${ciRun}/cancel"`)
  })

  it("shows an invalid workflow's annotations as path:line: message", async () => {
    const run = await anon.get(`/alice/app/actions/runs/${brokenRun}`)
    expect(run.status).toBe(200)
    expect(run.text).toContain("This workflow is invalid")
    expect(run.text).toMatch(
      /<code>\.guts\/workflows\/broken\.yml:\d+(:\d+)?<\/code>: [^<]*nowhere/,
    )
  })

  it("shows a running job's log escaped and numbered, live-enhanced; then the sealed log and steps", async () => {
    const url = `/alice/app/actions/runs/${ciRun}/jobs/${buildJob.jobId}`
    const running = await anon.get(url)
    expect(running.status).toBe(200)
    expectInert(running.text)
    expect(running.text).toContain("&lt;script&gt;alert(&#39;log&#39;)&lt;/script&gt;")
    expect(running.text).toContain('<tr id="L2"><td class="ln"><a href="#L2">2</a></td>')
    expect(running.text).toContain('src="/-/static/ci-log.js"')
    expect(running.text).toContain(`href="${url}">Refresh</a>`)
    expect(running.text).toContain('data-repo="alice/app"')
    // What the script refetches: the text as stored, with the count of chunks it holds.
    const fragment = await fetch(`${node.url}${url}?fragment=log`)
    expect(fragment.headers.get("content-type")).toMatch(/^text\/plain/)
    expect(fragment.headers.get("x-guts-log-chunks")).toBe("1")
    expect(await fragment.text()).toBe(`building\n${EVIL_LINE}\n`)
    expect(await (await fetch(`${node.url}${url}?fragment=status`)).text()).toBe("in_progress")
    const script = await fetch(`${node.url}/-/static/ci-log.js`)
    expect(script.status).toBe(200)
    expect(await script.text()).toContain("textContent")

    const jid = buildJob.jobId
    await runner("POST", `/api/runners/jobs/${jid}/steps/1`, {
      status: "completed",
      conclusion: "success",
    })
    const done = await runner("POST", `/api/runners/jobs/${jid}/complete`, {
      conclusion: "success",
      logChunks: 1,
    })
    expect(done.status).toBe(200)
    const sealed = await anon.get(url)
    expectInert(sealed.text)
    expect(sealed.text).not.toContain("ci-log.js")
    expect(sealed.text).toMatch(/<td>Compile<\/td><td><span class="state success">/)
    expect(sealed.text).toContain("&lt;script&gt;alert(&#39;log&#39;)&lt;/script&gt;")
    expect(sealed.text).not.toContain('id="L3"')
    // The run page now has build green and test queued for a runner.
    const run = await anon.get(`/alice/app/actions/runs/${ciRun}`)
    const columns = [...run.text.matchAll(/<ol class="stage-jobs"[^>]*>(.*?)<\/ol>/gs)].map(
      (m) => m[1]!,
    )
    expect(columns[0]).toContain('class="state success"')
    expect(columns[1]).toContain('class="state queued"')
  })

  it("hides a private repository's CI pages from outsiders (404), not from its owner", async () => {
    const ids = await runIds("vault")
    const id = ids.get("CI")!
    const jobs = await alice("GET", `/repos/alice/vault/actions/runs/${id}/jobs`)
    const job = jobs.body.jobs[0].id as number
    const urls = [
      "/alice/vault/actions",
      `/alice/vault/actions/runs/${id}`,
      `/alice/vault/actions/runs/${id}/jobs/${job}`,
      `/alice/vault/actions/runs/${id}/jobs/${job}?fragment=log`,
    ]
    for (const u of urls) {
      expect((await anon.get(u)).status, u).toBe(404)
      const bob = await bobWeb.get(u)
      expect(bob.status, u).toBe(404)
      expect(bob.text).not.toContain("CI #")
      expect((await aliceWeb.get(u)).status, u).toBe(200)
    }
    // A job of another repository is not reachable through this one.
    expect((await anon.get(`/alice/app/actions/runs/${id}/jobs/${job}`)).status).toBe(404)
    expect((await anon.get("/alice/app/actions/runs/999999")).status).toBe(404)
    expect((await anon.get("/alice/app/actions/runs/abc")).status).toBe(404)
  })

  it("refuses cancel without the CSRF token (403) and for a reader, then cancels with it", async () => {
    const ids = await runIds("vault")
    const id = ids.get("CI")!
    const cancel = `/alice/vault/actions/runs/${id}/cancel`
    const forged = await aliceWeb.post(cancel, {}, { csrf: false })
    expect(forged.status).toBe(403)
    expect(forged.text).toContain("CSRF")
    const outsider = await bobWeb.post(cancel, {})
    expect(outsider.status).toBe(404)
    const appCancel = await bobWeb.post(`/alice/app/actions/runs/${ciRun}/cancel`, {})
    expect(appCancel.status).toBe(403)
    expect((await alice("GET", `/repos/alice/vault/actions/runs/${id}`)).body.status).not.toBe(
      "completed",
    )
    const ok = await aliceWeb.post(cancel, {})
    expect(ok.status).toBe(303)
    expect(ok.location).toBe(`/alice/vault/actions/runs/${id}`)
    const after = await alice("GET", `/repos/alice/vault/actions/runs/${id}`)
    expect(after.body).toMatchObject({ status: "completed", conclusion: "cancelled" })
    const page = await aliceWeb.get(`/alice/vault/actions/runs/${id}`)
    expect(page.text).toContain(`action="/alice/vault/actions/runs/${id}/rerun"`)
    expect(page.text).toContain("Re-run failed jobs")
    // Re-running failed jobs through the form makes the run's next attempt.
    const rerun = await aliceWeb.post(`/alice/vault/actions/runs/${id}/rerun`, { failed: "1" })
    expect(rerun.status, rerun.text.slice(0, 400)).toBe(303)
    expect((await alice("GET", `/repos/alice/vault/actions/runs/${id}`)).body.run_attempt).toBe(2)
  })

  it("gives every control on the CI pages a label", async () => {
    const pages = [
      "/alice/app/actions",
      `/alice/app/actions/runs/${ciRun}`,
      `/alice/app/actions/runs/${brokenRun}`,
      `/alice/app/actions/runs/${ciRun}/jobs/${buildJob.jobId}`,
    ]
    for (const p of pages) {
      const { text, status } = await aliceWeb.get(p)
      expect(status, p).toBe(200)
      const labelled = new Set([...text.matchAll(/<label[^>]*\bfor="([^"]+)"/g)].map((m) => m[1]))
      for (const m of text.matchAll(/<(input|select|textarea)\b([^>]*)>/g)) {
        const attrs = m[2]!
        if (/type="hidden"/.test(attrs)) continue
        const id = /\bid="([^"]+)"/.exec(attrs)?.[1]
        expect(id && labelled.has(id), `${p}: ${m[0]} has no label`).toBe(true)
      }
    }
  })

  it("lets /ws use a page's session cookie from the node's own origin only", async () => {
    const session = aliceWeb.cookies.get("guts_session")!
    const subscribe = (origin: string) =>
      new Promise<any>((resolve, reject) => {
        const url = new URL(node.url)
        const req = http.request(`${node.url}/ws`, {
          headers: {
            connection: "Upgrade",
            upgrade: "websocket",
            "sec-websocket-version": "13",
            "sec-websocket-key": Buffer.from("0123456789abcdef").toString("base64"),
            cookie: `guts_session=${session}`,
            origin: origin === "self" ? `http://${url.host}` : origin,
          },
        })
        req.on("upgrade", (_res, socket: Duplex) => {
          const read = frameReader()
          socket.on("data", (chunk: Buffer) => {
            const frames = read(chunk)
            if (frames === "too-large") return
            for (const f of frames)
              if (f.opcode === OP.text) {
                const m = JSON.parse(f.payload.toString("utf8"))
                if (m.type === "subscribed") {
                  socket.destroy()
                  resolve(m)
                }
              }
          })
          socket.write(
            encodeFrame(
              OP.text,
              Buffer.from(JSON.stringify({ type: "subscribe", repositories: ["alice/vault"] })),
              true,
            ),
          )
        })
        req.on("error", reject)
        req.end()
      })
    expect((await subscribe("self")).repositories).toEqual(["alice/vault"])
    expect((await subscribe("http://evil.example")).repositories).toEqual([])
  })

  it("appends a running job's log chunks live in a browser, as text, and reloads when it ends", async () => {
    const chromiumPath = process.env.GUTS_CHROMIUM ?? "/usr/bin/chromium"
    if (!fs.existsSync(chromiumPath))
      throw new Error(`Chromium not found at ${chromiumPath}: install it or set GUTS_CHROMIUM`)
    const claimed = await runner("POST", "/api/runners/jobs/claim", {})
    expect(claimed.status).toBe(200)
    const job = claimed.body as JobAssignment
    expect(job.job.jobId).toBe("test")
    const jid = job.jobId
    await runner("POST", `/api/runners/jobs/${jid}/logs`, { seq: 0, text: "first line\n" })
    const browser = await chromium.launch({
      executablePath: chromiumPath,
      headless: true,
      args: ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"],
    })
    try {
      const context = await browser.newContext()
      await context.addCookies([
        { name: "guts_session", value: aliceWeb.cookies.get("guts_session")!, url: node.url },
      ])
      const tab = await context.newPage()
      tab.setDefaultTimeout(10_000)
      await tab.goto(`${node.url}/alice/app/actions/runs/${ciRun}/jobs/${jid}`)
      await tab.locator("#live-status", { hasText: "Live" }).waitFor()
      await runner("POST", `/api/runners/jobs/${jid}/logs`, { seq: 1, text: `${EVIL_LINE}\npart` })
      await runner("POST", `/api/runners/jobs/${jid}/logs`, { seq: 2, text: "ial\n" })
      await tab.locator("#L3", { hasText: "partial" }).waitFor()
      expect(await tab.locator("#L2 td").nth(1).textContent()).toBe(EVIL_LINE)
      expect(await tab.locator("#log script").count()).toBe(0)
      expect(await tab.locator("#log tr").count()).toBe(3)
      await runner("POST", `/api/runners/jobs/${jid}/complete`, {
        conclusion: "success",
        logChunks: 3,
      })
      await tab.locator("#job-h + .state.success").waitFor()
      expect(await tab.locator("#log tr").count()).toBe(3)
    } finally {
      await browser.close()
    }
  }, 30_000)
})
