/**
 * Webhooks as a GitHub integration meets them: a receiver in the test verifies every
 * delivery's `X-Hub-Signature-256` with the shared secret, sees the events a push, an issue,
 * a comment and a pull request produce (with GitHub's headers and payload cores), gets a
 * ping when the hook is created, is retried after a failure, and finds every attempt in the
 * delivery log, from which a delivery can be sent again.
 */
import { createHmac, timingSafeEqual } from "node:crypto"
import * as http from "node:http"
import type { AddressInfo } from "node:net"
import * as path from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type Api, apiClient, makeUser } from "../support/Api.ts"
import { authUrl, commitAll, git, initRepo, write } from "../support/Git.ts"
import { type RunningNode, startNode, tempDir } from "../support/TestNode.ts"

interface Received {
  event: string
  delivery: string
  signatureOk: boolean
  body: any
}

let node: RunningNode
let receiver: http.Server
let receiverUrl: string
const received: Received[] = []
let failNext = 0
let A: Api
let token: string
const SECRET = "s3cret-for-hooks"

const waitFor = async (what: string, check: () => boolean, ms = 10_000) => {
  const deadline = Date.now() + ms
  while (Date.now() < deadline) {
    if (check()) return
    await new Promise((r) => setTimeout(r, 50))
  }
  throw new Error(
    `timed out waiting for ${what}; received ${JSON.stringify(received.map((r) => r.event))}`,
  )
}

beforeAll(async () => {
  receiver = http.createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on("data", (c) => chunks.push(c))
    req.on("end", () => {
      if (failNext > 0) {
        failNext--
        res.writeHead(500)
        res.end("try later")
        return
      }
      const raw = Buffer.concat(chunks)
      const expected = `sha256=${createHmac("sha256", SECRET).update(raw).digest("hex")}`
      const got = String(req.headers["x-hub-signature-256"] ?? "")
      received.push({
        event: String(req.headers["x-github-event"]),
        delivery: String(req.headers["x-github-delivery"]),
        signatureOk:
          got.length === expected.length &&
          timingSafeEqual(Buffer.from(got), Buffer.from(expected)),
        body: JSON.parse(raw.toString("utf8")),
      })
      res.writeHead(200)
      res.end("ok")
    })
  })
  await new Promise<void>((r) => receiver.listen(0, "127.0.0.1", r))
  receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`
  node = await startNode({ storage: "memory" })
  const u = await makeUser(apiClient(node.url, node.token), "hank", ["repo"])
  token = u.token
  A = apiClient(node.url, token)
  expect((await A("POST", "/user/repos", { name: "hooked" })).status).toBe(201)
})

afterAll(async () => {
  await node?.close()
  await new Promise((r) => receiver.close(r))
})

describe("repository webhooks", () => {
  let hookId: number

  it("creates a hook and pings it, signed with the secret", async () => {
    const r = await A("POST", "/repos/hank/hooked/hooks", {
      name: "web",
      config: { url: receiverUrl, content_type: "json", secret: SECRET },
      events: ["push", "issues", "issue_comment", "pull_request", "create"],
    })
    expect(r.status, JSON.stringify(r.body)).toBe(201)
    expect(r.body.config).toMatchObject({
      url: receiverUrl,
      content_type: "json",
      secret: "********",
    })
    hookId = r.body.id
    await waitFor("ping", () => received.some((x) => x.event === "ping"))
    const ping = received.find((x) => x.event === "ping")!
    expect(ping.signatureOk).toBe(true)
    expect(ping.body.hook_id).toBe(hookId)
  })

  it("delivers push and create events after a git push", async () => {
    const w = await initRepo(path.join(tempDir("hooks"), "w"))
    write(w, "a", "1\n")
    const tip = await commitAll(w, "one", 1)
    await git(w, ["push", "-q", authUrl(`${node.url}/hank/hooked.git`, token), "main"])
    await waitFor("push", () => received.some((x) => x.event === "push"))
    const push = received.find((x) => x.event === "push")!
    expect(push.signatureOk).toBe(true)
    expect(push.body).toMatchObject({
      ref: "refs/heads/main",
      after: tip,
      created: true,
      repository: { full_name: "hank/hooked" },
      sender: { login: "hank" },
    })
    expect(push.delivery).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/)
    await waitFor("create", () => received.some((x) => x.event === "create"))
    expect(received.find((x) => x.event === "create")!.body).toMatchObject({
      ref: "main",
      ref_type: "branch",
    })
  })

  it("delivers issues and issue_comment events, in the order they happened", async () => {
    const issue = await A("POST", "/repos/hank/hooked/issues", { title: "Hooked issue" })
    await A("POST", `/repos/hank/hooked/issues/${issue.body.number}/comments`, { body: "first!" })
    await A("PATCH", `/repos/hank/hooked/issues/${issue.body.number}`, { state: "closed" })
    await waitFor(
      "three issue events",
      () => received.filter((x) => x.event.startsWith("issue")).length >= 3,
    )
    const seq = received
      .filter((x) => x.event.startsWith("issue"))
      .map((x) => `${x.event}:${x.body.action}`)
    expect(seq).toEqual(["issues:opened", "issue_comment:created", "issues:closed"])
    const comment = received.find((x) => x.event === "issue_comment")!
    expect(comment.body.comment.body).toBe("first!")
    expect(comment.body.issue.title).toBe("Hooked issue")
    expect(received.every((x) => x.signatureOk)).toBe(true)
  })

  it("retries a delivery the receiver refused, and logs every attempt", async () => {
    failNext = 1
    await A("POST", "/repos/hank/hooked/issues", { title: "Retry me" })
    await waitFor("retried delivery", () =>
      received.some((x) => x.event === "issues" && x.body.issue?.title === "Retry me"),
    )
    const log = await A("GET", `/repos/hank/hooked/hooks/${hookId}/deliveries`)
    expect(log.status).toBe(200)
    const retried = log.body.find(
      (d: { event: string; status: string }) => d.event === "issues" && d.status === "OK",
    )
    expect(retried).toBeDefined()
    const one = await A("GET", `/repos/hank/hooked/hooks/${hookId}/deliveries/${log.body[0].guid}`)
    expect(one.body.attempts).toBeGreaterThanOrEqual(1)
    const attempts = await A("GET", `/repos/hank/hooked/hooks/${hookId}/deliveries`)
    const retriedGuid = attempts.body.find((d: { event: string }) => d.event === "issues")!.guid
    const detail = await A("GET", `/repos/hank/hooked/hooks/${hookId}/deliveries/${retriedGuid}`)
    expect(detail.body.request.payload.issue.title).toBeDefined()
  })

  it("redelivers a logged delivery with the same delivery id", async () => {
    const log = await A("GET", `/repos/hank/hooked/hooks/${hookId}/deliveries`)
    const push = log.body.find((d: { event: string }) => d.event === "push")
    const before = received.filter((x) => x.delivery === push.guid).length
    const r = await A("POST", `/repos/hank/hooked/hooks/${hookId}/deliveries/${push.guid}/attempts`)
    expect(r.status).toBe(202)
    await waitFor(
      "redelivery",
      () => received.filter((x) => x.delivery === push.guid).length === before + 1,
    )
  })

  it("refuses hooks from those who can read but not administer (403) and bad configs (422)", async () => {
    const bad = await A("POST", "/repos/hank/hooked/hooks", { config: { url: "ftp://x" } })
    expect(bad.status).toBe(422)
    const unknown = await A("POST", "/repos/hank/hooked/hooks", {
      config: { url: receiverUrl },
      events: ["nope"],
    })
    expect(unknown.status).toBe(422)
    const other = await makeUser(apiClient(node.url, node.token), "ivy", ["repo"])
    const asOther = await apiClient(node.url, other.token)("GET", "/repos/hank/hooked/hooks")
    expect(asOther.status).toBe(403)
    expect((await A("DELETE", `/repos/hank/hooked/hooks/${hookId}`)).status).toBe(204)
    expect((await A("GET", `/repos/hank/hooked/hooks/${hookId}`)).status).toBe(404)
  })
})

describe("organisation webhooks", () => {
  it("receive the events of every repository of the organisation, and are managed at /orgs/{org}/hooks", async () => {
    const owner = await makeUser(apiClient(node.url, node.token), "olive", ["repo", "admin:org"])
    const O = apiClient(node.url, owner.token)
    expect((await O("POST", "/user/orgs", { login: "hooks-org" })).status).toBe(201)
    expect((await O("POST", "/orgs/hooks-org/repos", { name: "first" })).status).toBe(201)
    const created = await O("POST", "/orgs/hooks-org/hooks", {
      name: "web",
      config: { url: receiverUrl, content_type: "json", secret: SECRET },
      events: ["issues"],
    })
    expect(created.status, JSON.stringify(created.body)).toBe(201)
    expect(created.body).toMatchObject({ type: "Organization", events: ["issues"] })
    const id = created.body.id
    expect((await O("GET", "/orgs/hooks-org/hooks")).body.map((h: { id: number }) => h.id)).toEqual(
      [id],
    )
    // A repository created after the hook is covered too.
    expect((await O("POST", "/orgs/hooks-org/repos", { name: "second" })).status).toBe(201)
    await O("POST", "/repos/hooks-org/first/issues", { title: "org one" })
    await O("POST", "/repos/hooks-org/second/issues", { title: "org two" })
    // (Hook ids are reused after a deletion: the earlier tests' hook had this id too.)
    const mine = () =>
      received.filter(
        (x) =>
          x.body.hook_id === id &&
          x.event === "issues" &&
          x.body.repository.full_name.startsWith("hooks-org/"),
      )
    await waitFor("both org events", () => mine().length >= 2)
    expect(mine().map((x) => `${x.body.repository.full_name}: ${x.body.issue.title}`)).toEqual([
      "hooks-org/first: org one",
      "hooks-org/second: org two",
    ])
    expect(mine().every((x) => x.signatureOk)).toBe(true)
    expect(mine()[0]!.body.repository.owner.type).toBe("Organization")
    const patched = await O("PATCH", `/orgs/hooks-org/hooks/${id}`, { events: ["push"] })
    expect(patched.body.events).toEqual(["push"])
    const orgPing = (x: Received) => x.event === "ping" && x.body.hook?.type === "Organization"
    const pings = received.filter(orgPing).length
    expect((await O("POST", `/orgs/hooks-org/hooks/${id}/pings`)).status).toBe(204)
    await waitFor("a second ping", () => received.filter(orgPing).length > pings)
    // Only the organisation's owners manage its hooks.
    expect((await A("GET", "/orgs/hooks-org/hooks")).status).toBe(404)
    expect((await O("DELETE", `/orgs/hooks-org/hooks/${id}`)).status).toBe(204)
    expect((await O("GET", `/orgs/hooks-org/hooks/${id}`)).status).toBe(404)
  })
})
