/**
 * A node as an operator and an API client meet it: bootstrap token, health, metrics,
 * repository creation with GitHub's shapes and errors.
 */
import * as fs from "node:fs"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { adminTokenPath } from "../../src/layers/Bootstrap.ts"
import { type RunningNode, startNode } from "../support/TestNode.ts"

let node: RunningNode

beforeAll(async () => {
  node = await startNode({ storage: "memory" })
})
afterAll(async () => {
  await node?.close()
})

const api = (path: string, init: RequestInit & { token?: string | null } = {}) => {
  const headers: Record<string, string> = { "content-type": "application/json" }
  const token = init.token === undefined ? node.token : init.token
  if (token !== null) headers.authorization = `Bearer ${token}`
  return fetch(`${node.url}${path}`, {
    ...init,
    headers: { ...headers, ...(init.headers as object) },
  })
}

describe("a fresh node", () => {
  it("writes the administrator token to <data-dir>/admin-token with mode 0600", () => {
    const stat = fs.statSync(adminTokenPath(node.dataDir))
    expect(stat.mode & 0o777).toBe(0o600)
    expect(node.token).toMatch(/^guts_[0-9a-f]{40}$/)
  })

  it("answers liveness and readiness", async () => {
    const live = await fetch(`${node.url}/health/live`)
    expect(live.status).toBe(200)
    expect(await live.json()).toMatchObject({ status: "ok" })
    const ready = await fetch(`${node.url}/health/ready`)
    expect(ready.status).toBe(200)
    expect(await ready.json()).toMatchObject({ status: "ready", checks: { storage: "ok" } })
  })

  it("exports Prometheus metrics including request durations and free storage", async () => {
    await fetch(`${node.url}/health/live`)
    const text = await (await fetch(node.metricsUrl)).text()
    expect(text).toContain("# TYPE guts_http_request_duration_seconds histogram")
    expect(text).toMatch(
      /guts_http_request_duration_seconds_count\{route="GET \/health\/live",method="GET",status="200"\} \d+/,
    )
    expect(text).toMatch(/guts_storage_available_bytes \d+/)
    expect(text).toContain("process_cpu_user_seconds_total")
  })

  it("answers unknown paths with GitHub's error body", async () => {
    const res = await fetch(`${node.url}/api/nothing/here/at/all`)
    expect(res.status).toBe(404)
    expect((await res.json()) as any).toMatchObject({
      message: "Not Found",
      documentation_url: expect.any(String),
    })
  })
})

describe("repositories API", () => {
  it("creates a repository with GitHub's response shape, under /api and /api/v3", async () => {
    const res = await api("/api/user/repos", {
      method: "POST",
      body: JSON.stringify({ name: "hello", description: "first", private: false }),
    })
    expect(res.status).toBe(201)
    const repo = (await res.json()) as any
    expect(repo).toMatchObject({
      name: "hello",
      full_name: "admin/hello",
      private: false,
      description: "first",
      default_branch: "main",
      owner: { login: "admin", type: "User" },
      clone_url: `${node.url}/admin/hello.git`,
    })
    expect(repo.created_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/)
    const v3 = await api("/api/v3/repos/admin/hello", { token: null })
    expect(v3.status).toBe(200)
    expect(((await v3.json()) as any).id).toBe(repo.id)
  })

  it("refuses a duplicate name with 422 and an errors array", async () => {
    await api("/api/user/repos", { method: "POST", body: JSON.stringify({ name: "dup" }) })
    const res = await api("/api/user/repos", {
      method: "POST",
      body: JSON.stringify({ name: "dup" }),
    })
    expect(res.status).toBe(422)
    const body = (await res.json()) as any
    expect(body.errors[0]).toMatchObject({ resource: "Repository", field: "name" })
    expect(body.errors[0].message).toContain("already exists")
  })

  it("validates names and types", async () => {
    const bad = await api("/api/user/repos", {
      method: "POST",
      body: JSON.stringify({ name: "no spaces" }),
    })
    expect(bad.status).toBe(422)
    const missing = await api("/api/user/repos", { method: "POST", body: JSON.stringify({}) })
    expect(missing.status).toBe(422)
    expect(((await missing.json()) as any).errors[0]).toMatchObject({
      field: "name",
      code: "missing_field",
    })
    const wrongType = await api("/api/user/repos", {
      method: "POST",
      body: JSON.stringify({ name: "x", private: "yes" }),
    })
    expect(wrongType.status).toBe(422)
    const malformed = await api("/api/user/repos", { method: "POST", body: "{not json" })
    expect(malformed.status).toBe(400)
    expect(((await malformed.json()) as any).message).toBe("Problems parsing JSON")
  })

  it("requires credentials to create, and rejects bad ones with 401", async () => {
    const anon = await api("/api/user/repos", { method: "POST", body: "{}", token: null })
    expect(anon.status).toBe(401)
    const bad = await api("/api/user/repos", {
      method: "POST",
      body: JSON.stringify({ name: "x" }),
      token: "guts_0000000000000000000000000000000000000000",
    })
    expect(bad.status).toBe(401)
    expect(((await bad.json()) as any).message).toBe("Bad credentials")
    const other = await fetch(`${node.url}/api/user`, {
      headers: { authorization: `token ${node.token}` },
    })
    expect(other.status).toBe(200)
    expect(((await other.json()) as any).login).toBe("admin")
  })

  it("hides private repositories from anonymous callers (404, not 403)", async () => {
    await api("/api/user/repos", {
      method: "POST",
      body: JSON.stringify({ name: "secret", private: true }),
    })
    expect((await api("/api/repos/admin/secret", { token: null })).status).toBe(404)
    expect((await api("/api/repos/admin/secret")).status).toBe(200)
    const listed = (await (await api("/api/users/admin/repos", { token: null })).json()) as Array<{
      name: string
    }>
    expect(listed.map((r) => r.name)).not.toContain("secret")
    expect(listed.map((r) => r.name)).toContain("hello")
  })
})

describe("the API description", () => {
  it("serves an OpenAPI document listing the routes the node answers, and a browsable page", async () => {
    const res = await fetch(`${node.url}/api/openapi.json`)
    expect(res.status).toBe(200)
    const doc = (await res.json()) as {
      openapi: string
      paths: Record<string, Record<string, unknown>>
    }
    expect(doc.openapi).toMatch(/^3\./)
    expect(
      Object.keys(doc.paths["/repos/{owner}/{repo}/pulls/{number}/merge"] ?? {}).sort(),
    ).toEqual(["get", "put"])
    expect(doc.paths["/repos/{owner}/{repo}/issues"]).toHaveProperty("post")
    expect(doc.paths["/user"]).toHaveProperty("get")
    const page = await fetch(`${node.url}/api/docs`)
    expect(page.headers.get("content-type")).toMatch(/text\/html/)
    expect(await page.text()).toContain("/repos/{owner}/{repo}/issues")
  })
})
