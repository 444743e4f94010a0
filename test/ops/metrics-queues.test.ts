/**
 * The backlog gauges follow the work they count, on a single validator: CI jobs pushed with
 * no runner are `guts_ci_jobs_queued`, one claimed by a runner moves to
 * `guts_ci_jobs_running`; a webhook delivery whose receiver has not answered yet is
 * `guts_webhook_deliveries_pending` until it answers, then counted by outcome; a node that
 * applies what it finalizes has no apply lag.
 */
import * as http from "node:http"
import type { AddressInfo } from "node:net"
import * as path from "node:path"
import { Either } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { commitAll, git, initRepo, write } from "../support/Git.ts"
import { createRepo, type RunningNode, startNode, tempDir } from "../support/TestNode.ts"
import { eventually } from "./OpsNode.ts"
import { parsePromText } from "./PromText.ts"

const WORKFLOW = `name: CI
on: [push]
jobs:
  lint:
    runs-on: [linux]
    steps:
      - run: echo lint
  test:
    runs-on: [linux]
    steps:
      - run: echo test
`

let node: RunningNode
let receiver: http.Server
/** Answers to the webhook event requests the receiver holds. */
const held: Array<() => void> = []

/** The value of an unlabelled sample, or of the sample with `labels`; undefined if absent. */
const metric = async (name: string, labels: Record<string, string> = {}) => {
  const parsed = parsePromText(await (await fetch(node.metricsUrl)).text())
  if (Either.isLeft(parsed)) throw new Error(parsed.left.message)
  return parsed.right
    .get(name)
    ?.samples.find((s) => JSON.stringify(s.labels) === JSON.stringify(labels))?.value
}
const until = (name: string, value: number, labels: Record<string, string> = {}) =>
  eventually(
    () => metric(name, labels),
    (v) => v === value,
  )

const api = (method: string, p: string, body?: unknown) =>
  fetch(`${node.url}/api${p}`, {
    method,
    headers: { authorization: `Bearer ${node.token}`, "content-type": "application/json" },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  })

beforeAll(async () => {
  node = await startNode({ storage: "memory" })
  receiver = http.createServer((req, res) => {
    req.resume()
    // The ping sent when the hook is created is answered at once; events wait.
    if (req.headers["x-github-event"] === "ping") req.on("end", () => res.end("pong"))
    else req.on("end", () => held.push(() => res.end("ok")))
  })
  await new Promise<void>((r) => receiver.listen(0, "127.0.0.1", r))
  await createRepo(node, "app")
}, 60_000)

afterAll(async () => {
  for (const answer of held) answer()
  await node?.close()
  receiver?.close()
})

describe("backlog gauges", () => {
  it("count CI jobs waiting for a runner, then the one a runner runs", async () => {
    expect(await metric("guts_ci_jobs_queued")).toBe(0)
    const src = path.join(tempDir("ops-queues"), "src")
    await initRepo(src)
    write(src, ".github/workflows/ci.yml", WORKFLOW)
    await commitAll(src, "ci")
    const remote = `${node.url.replace("http://", `http://admin:${node.token}@`)}/admin/app.git`
    await git(src, ["push", "-q", remote, "HEAD:refs/heads/main"])
    expect(await until("guts_ci_jobs_queued", 2)).toBe(2)
    expect(await metric("guts_ci_jobs_running")).toBe(0)

    const reg = await api("POST", "/repos/admin/app/actions/runners/registration-token")
    const { token } = (await reg.json()) as { token: string }
    const registered = await fetch(`${node.url}/api/runners`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ token, name: "box", labels: ["linux"] }),
    })
    const runner = (await registered.json()) as { token: string }
    const claim = await fetch(`${node.url}/api/runners/jobs/claim`, {
      method: "POST",
      headers: { authorization: `Bearer ${runner.token}`, "content-type": "application/json" },
      body: "{}",
    })
    expect(claim.status).toBe(200)
    expect(await until("guts_ci_jobs_running", 1)).toBe(1)
    expect(await metric("guts_ci_jobs_queued")).toBe(1)
  })

  it("count a webhook delivery as pending until its receiver answers", async () => {
    const url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/`
    const hook = await api("POST", "/repos/admin/app/hooks", {
      events: ["issues"],
      config: { url, content_type: "json" },
    })
    expect(hook.status).toBe(201)
    expect(await metric("guts_webhook_deliveries_pending")).toBe(0)
    expect((await api("POST", "/repos/admin/app/issues", { title: "slow receiver" })).status).toBe(
      201,
    )
    await eventually(
      async () => held.length,
      (n) => n === 1,
    )
    expect(await metric("guts_webhook_deliveries_pending")).toBe(1)
    expect(await metric("guts_webhook_deliveries_total", { outcome: "ok" })).toBeUndefined()
    held.shift()!()
    expect(await until("guts_webhook_deliveries_pending", 0)).toBe(0)
    expect(await until("guts_webhook_deliveries_total", 1, { outcome: "ok" })).toBe(1)
  })

  it("show no apply lag on a single validator", async () => {
    expect(await metric("guts_apply_lag_blocks")).toBe(0)
  })
})
