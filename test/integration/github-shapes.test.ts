/**
 * Response shapes against GitHub's published OpenAPI description: a node is driven through
 * every endpoint family we implement (repositories, users, organisations, branches, commits,
 * compare, contents, git data, issues, comments, labels, milestones, pull requests,
 * reviews, releases, assets, statuses, hooks and deliveries, check runs, topics, languages)
 * and each answer is checked against the response schema GitHub publishes for that
 * operation and status (test/fixtures/github-openapi, cut from GitHub's description; see
 * the README there). A missing required field, a wrong type, a null where GitHub never
 * sends one or a date that is not ISO 8601 fails the test, naming the path in the answer.
 */
import * as fs from "node:fs"
import { createServer, type Server } from "node:http"
import type { AddressInfo } from "node:net"
import * as path from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type Api, type ApiAnswer, apiClient, makeUser } from "../support/Api.ts"
import { authUrl, commitAll, git, initRepo, write } from "../support/Git.ts"
import { problems, type SchemaDocument } from "../support/SchemaCheck.ts"
import { type RunningNode, startNode, tempDir } from "../support/TestNode.ts"

const fixture = JSON.parse(
  fs.readFileSync(
    path.resolve(import.meta.dirname, "../fixtures/github-openapi/responses.json"),
    "utf8",
  ),
) as SchemaDocument & {
  operations: Record<string, Record<string, Record<string, unknown>>>
}

let node: RunningNode
let receiver: Server
let hookUrl: string
let A: Api
let token: string
let head: string
let base: string
let work: string

/** Problems with `res` as the answer to `op`, or why it could not be checked. */
const shapeOf = (op: string, res: ApiAnswer): string[] => {
  const responses = fixture.operations[op]
  if (!responses) return [`${op} is not in the fixture`]
  const schema = responses[String(res.status)]
  if (!schema)
    return [
      `${op} answered ${res.status} (GitHub: ${Object.keys(responses).join("/")}): ${JSON.stringify(res.body).slice(0, 300)}`,
    ]
  return problems(fixture, schema, res.body).map((p) => `${op}: ${p}`)
}

/** Calls, checks the answer against `op`'s schema, and returns it. */
const found: string[] = []
const call = async (op: string, method: string, p: string, body?: unknown) => {
  const res = await A(method, p, body)
  found.push(...shapeOf(op, res))
  return res
}

/** Asserts the calls since the last check left no problems. */
const noProblems = () => {
  const now = found.splice(0)
  expect(now).toEqual([])
}

beforeAll(async () => {
  receiver = createServer((req, res) => {
    req.resume()
    req.on("end", () => res.writeHead(200).end("ok"))
  })
  await new Promise<void>((r) => receiver.listen(0, "127.0.0.1", r))
  hookUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`
  node = await startNode({ storage: "memory" })
  const u = await makeUser(apiClient(node.url, node.token), "sam", ["repo", "admin:org", "user"])
  token = u.token
  A = apiClient(node.url, token)
  expect((await A("POST", "/user/orgs", { login: "shapes" })).status).toBe(201)
  expect(
    (await A("POST", "/orgs/shapes/repos", { name: "widget", description: "a widget" })).status,
  ).toBe(201)
  work = tempDir("shapes")
  const w = await initRepo(path.join(work, "w"))
  write(w, "README.md", "# Widget\n")
  write(w, "src/main.ts", "export const x = 1\n")
  write(w, "src/util.py", "x = 1\n")
  base = await commitAll(w, "first", 1)
  await git(w, ["tag", "-a", "v1", "-m", "version one"])
  await git(w, ["push", "-q", authUrl(`${node.url}/shapes/widget.git`, token), "main", "v1"])
  await git(w, ["checkout", "-q", "-b", "feature"])
  write(w, "src/main.ts", "export const x = 2\n")
  head = await commitAll(w, "second", 2)
  await git(w, ["push", "-q", authUrl(`${node.url}/shapes/widget.git`, token), "feature"])
}, 60_000)

afterAll(async () => {
  await node?.close()
  await new Promise((r) => receiver?.close(r))
})

const R = "/repos/shapes/widget"

describe("answers have GitHub's published shapes", () => {
  it("repositories, users and organisations", async () => {
    await call("GET /repos/{owner}/{repo}", "GET", R)
    await call("PATCH /repos/{owner}/{repo}", "PATCH", R, { description: "still a widget" })
    await call("GET /user", "GET", "/user")
    await call("GET /users/{username}", "GET", "/users/sam")
    await call("GET /user/repos", "GET", "/user/repos")
    await call("GET /orgs/{org}", "GET", "/orgs/shapes")
    await call("GET /orgs/{org}/repos", "GET", "/orgs/shapes/repos")
    noProblems()
  })

  it("branches, tags, commits, compare and contents", async () => {
    await call("GET /repos/{owner}/{repo}/branches", "GET", `${R}/branches`)
    await call("GET /repos/{owner}/{repo}/branches/{branch}", "GET", `${R}/branches/main`)
    await call("GET /repos/{owner}/{repo}/tags", "GET", `${R}/tags`)
    await call("GET /repos/{owner}/{repo}/commits", "GET", `${R}/commits`)
    await call("GET /repos/{owner}/{repo}/commits/{ref}", "GET", `${R}/commits/${head}`)
    await call("GET /repos/{owner}/{repo}/compare/{basehead}", "GET", `${R}/compare/main...feature`)
    await call("GET /repos/{owner}/{repo}/contents/{path}", "GET", `${R}/contents/README.md`)
    await call("GET /repos/{owner}/{repo}/contents/{path}", "GET", `${R}/contents/src`)
    await call("GET /repos/{owner}/{repo}/readme", "GET", `${R}/readme`)
    const created = await call(
      "PUT /repos/{owner}/{repo}/contents/{path}",
      "PUT",
      `${R}/contents/docs/new.md`,
      {
        message: "add a doc",
        content: Buffer.from("hello\n").toString("base64"),
      },
    )
    await call(
      "DELETE /repos/{owner}/{repo}/contents/{path}",
      "DELETE",
      `${R}/contents/docs/new.md`,
      {
        message: "remove the doc",
        sha: created.body?.content?.sha,
      },
    )
    noProblems()
  })

  it("git data: refs, trees, blobs, commits, tags", async () => {
    await call("GET /repos/{owner}/{repo}/git/ref/{ref}", "GET", `${R}/git/ref/heads/main`)
    await call(
      "GET /repos/{owner}/{repo}/git/matching-refs/{ref}",
      "GET",
      `${R}/git/matching-refs/heads`,
    )
    await call("POST /repos/{owner}/{repo}/git/refs", "POST", `${R}/git/refs`, {
      ref: "refs/heads/copy",
      sha: base,
    })
    await call("PATCH /repos/{owner}/{repo}/git/refs/{ref}", "PATCH", `${R}/git/refs/heads/copy`, {
      sha: head,
    })
    const commit = await call(
      "GET /repos/{owner}/{repo}/git/commits/{commit_sha}",
      "GET",
      `${R}/git/commits/${head}`,
    )
    const tree = await call(
      "GET /repos/{owner}/{repo}/git/trees/{tree_sha}",
      "GET",
      `${R}/git/trees/${commit.body?.tree?.sha}?recursive=1`,
    )
    const blob = (tree.body?.tree ?? []).find((e: { type: string }) => e.type === "blob")
    await call(
      "GET /repos/{owner}/{repo}/git/blobs/{file_sha}",
      "GET",
      `${R}/git/blobs/${blob?.sha}`,
    )
    const ref = await A("GET", `${R}/git/ref/tags/v1`)
    await call(
      "GET /repos/{owner}/{repo}/git/tags/{tag_sha}",
      "GET",
      `${R}/git/tags/${ref.body?.object?.sha}`,
    )
    // The writes answer with the same shapes.
    const made = await call("POST /repos/{owner}/{repo}/git/blobs", "POST", `${R}/git/blobs`, {
      content: "made through the API\n",
    })
    const madeTree = await call("POST /repos/{owner}/{repo}/git/trees", "POST", `${R}/git/trees`, {
      base_tree: commit.body?.tree?.sha,
      tree: [{ path: "docs/api.txt", mode: "100644", type: "blob", sha: made.body?.sha }],
    })
    const madeCommit = await call(
      "POST /repos/{owner}/{repo}/git/commits",
      "POST",
      `${R}/git/commits`,
      { message: "through the API", tree: madeTree.body?.sha, parents: [head] },
    )
    await call("POST /repos/{owner}/{repo}/git/tags", "POST", `${R}/git/tags`, {
      tag: "api-tag",
      message: "tagged through the API\n",
      object: madeCommit.body?.sha,
      type: "commit",
    })
    noProblems()
  })

  it("issues, comments, labels and milestones", async () => {
    await call("POST /repos/{owner}/{repo}/labels", "POST", `${R}/labels`, {
      name: "bug",
      color: "ff0000",
    })
    await call("GET /repos/{owner}/{repo}/labels", "GET", `${R}/labels`)
    const ms = await call("POST /repos/{owner}/{repo}/milestones", "POST", `${R}/milestones`, {
      title: "v2",
      due_on: "2030-01-01T00:00:00Z",
    })
    await call("GET /repos/{owner}/{repo}/milestones", "GET", `${R}/milestones`)
    const issue = await call("POST /repos/{owner}/{repo}/issues", "POST", `${R}/issues`, {
      title: "Broken",
      body: "it is broken",
      labels: ["bug"],
      assignees: ["sam"],
      milestone: ms.body?.number,
    })
    const n = issue.body?.number
    await call("GET /repos/{owner}/{repo}/issues/{issue_number}", "GET", `${R}/issues/${n}`)
    await call("PATCH /repos/{owner}/{repo}/issues/{issue_number}", "PATCH", `${R}/issues/${n}`, {
      state: "closed",
    })
    await call("GET /repos/{owner}/{repo}/issues", "GET", `${R}/issues?state=all`)
    await call(
      "POST /repos/{owner}/{repo}/issues/{issue_number}/comments",
      "POST",
      `${R}/issues/${n}/comments`,
      { body: "me too" },
    )
    await call(
      "GET /repos/{owner}/{repo}/issues/{issue_number}/comments",
      "GET",
      `${R}/issues/${n}/comments`,
    )
    noProblems()
  })

  it("pull requests, reviews and merges", async () => {
    const pull = await call("POST /repos/{owner}/{repo}/pulls", "POST", `${R}/pulls`, {
      title: "Change x",
      head: "feature",
      base: "main",
      body: "x is 2",
    })
    const n = pull.body?.number
    await call("GET /repos/{owner}/{repo}/pulls/{pull_number}", "GET", `${R}/pulls/${n}`)
    await call("GET /repos/{owner}/{repo}/pulls", "GET", `${R}/pulls`)
    await call(
      "POST /repos/{owner}/{repo}/pulls/{pull_number}/reviews",
      "POST",
      `${R}/pulls/${n}/reviews`,
      { event: "COMMENT", body: "looks fine" },
    )
    await call(
      "GET /repos/{owner}/{repo}/pulls/{pull_number}/reviews",
      "GET",
      `${R}/pulls/${n}/reviews`,
    )
    await call(
      "PUT /repos/{owner}/{repo}/pulls/{pull_number}/merge",
      "PUT",
      `${R}/pulls/${n}/merge`,
      { merge_method: "merge" },
    )
    noProblems()
  })

  it("releases and assets", async () => {
    const rel = await call("POST /repos/{owner}/{repo}/releases", "POST", `${R}/releases`, {
      tag_name: "v1",
      name: "One",
      body: "first release",
    })
    const id = rel.body?.id
    await call("GET /repos/{owner}/{repo}/releases", "GET", `${R}/releases`)
    await call("GET /repos/{owner}/{repo}/releases/{release_id}", "GET", `${R}/releases/${id}`)
    await call("GET /repos/{owner}/{repo}/releases/latest", "GET", `${R}/releases/latest`)
    const upload = await fetch(`${node.url}/api/uploads${R}/releases/${id}/assets?name=w.bin`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/octet-stream" },
      body: Buffer.from("bytes of the widget"),
    })
    const asset = (await upload.json()) as { id: number }
    found.push(
      ...shapeOf("POST /repos/{owner}/{repo}/releases/{release_id}/assets", {
        status: upload.status,
        body: asset,
        headers: upload.headers,
      }),
    )
    await call(
      "GET /repos/{owner}/{repo}/releases/{release_id}/assets",
      "GET",
      `${R}/releases/${id}/assets`,
    )
    await call(
      "GET /repos/{owner}/{repo}/releases/assets/{asset_id}",
      "GET",
      `${R}/releases/assets/${asset.id}`,
    )
    noProblems()
  })

  it("statuses and the combined status", async () => {
    await call("POST /repos/{owner}/{repo}/statuses/{sha}", "POST", `${R}/statuses/${head}`, {
      state: "success",
      context: "ci/test",
      target_url: "https://ci.example/1",
      description: "passed",
    })
    await call(
      "GET /repos/{owner}/{repo}/commits/{ref}/status",
      "GET",
      `${R}/commits/${head}/status`,
    )
    noProblems()
  })

  it("check runs, check suites, topics and languages", async () => {
    const run = await call("POST /repos/{owner}/{repo}/check-runs", "POST", `${R}/check-runs`, {
      name: "ci/shape",
      head_sha: head,
      status: "in_progress",
      output: { title: "running", summary: "still running" },
    })
    await call(
      "PATCH /repos/{owner}/{repo}/check-runs/{check_run_id}",
      "PATCH",
      `${R}/check-runs/${run.body?.id}`,
      { conclusion: "success" },
    )
    await call(
      "GET /repos/{owner}/{repo}/check-runs/{check_run_id}",
      "GET",
      `${R}/check-runs/${run.body?.id}`,
    )
    await call(
      "GET /repos/{owner}/{repo}/commits/{ref}/check-runs",
      "GET",
      `${R}/commits/${head}/check-runs`,
    )
    await call(
      "GET /repos/{owner}/{repo}/commits/{ref}/check-suites",
      "GET",
      `${R}/commits/${head}/check-suites`,
    )
    await call("PUT /repos/{owner}/{repo}/topics", "PUT", `${R}/topics`, {
      names: ["widgets", "typescript"],
    })
    await call("GET /repos/{owner}/{repo}/topics", "GET", `${R}/topics`)
    await call("GET /repos/{owner}/{repo}/languages", "GET", `${R}/languages`)
    noProblems()
  })

  it("repository and organisation hooks, and deliveries", async () => {
    const hook = await call("POST /repos/{owner}/{repo}/hooks", "POST", `${R}/hooks`, {
      config: { url: hookUrl, content_type: "json", secret: "s" },
      events: ["issues"],
    })
    const id = hook.body?.id
    await call("GET /repos/{owner}/{repo}/hooks", "GET", `${R}/hooks`)
    await call("GET /repos/{owner}/{repo}/hooks/{hook_id}", "GET", `${R}/hooks/${id}`)
    await call("PATCH /repos/{owner}/{repo}/hooks/{hook_id}", "PATCH", `${R}/hooks/${id}`, {
      active: true,
    })
    await A("POST", `${R}/issues`, { title: "for the hook" })
    let list: ApiAnswer | undefined
    for (let i = 0; i < 50; i++) {
      list = await A("GET", `${R}/hooks/${id}/deliveries`)
      if (
        Array.isArray(list.body) &&
        list.body.some((d: { event: string }) => d.event === "issues")
      )
        break
      await new Promise((r) => setTimeout(r, 100))
    }
    found.push(...shapeOf("GET /repos/{owner}/{repo}/hooks/{hook_id}/deliveries", list!))
    const guid = list!.body.find((d: { event: string }) => d.event === "issues").id
    await call(
      "GET /repos/{owner}/{repo}/hooks/{hook_id}/deliveries/{delivery_id}",
      "GET",
      `${R}/hooks/${id}/deliveries/${guid}`,
    )
    const org = await call("POST /orgs/{org}/hooks", "POST", "/orgs/shapes/hooks", {
      name: "web",
      config: { url: hookUrl, content_type: "json" },
      events: ["push"],
    })
    await call("GET /orgs/{org}/hooks", "GET", "/orgs/shapes/hooks")
    await call("GET /orgs/{org}/hooks/{hook_id}", "GET", `/orgs/shapes/hooks/${org.body?.id}`)
    noProblems()
  })
})

describe("topics", () => {
  it("are replaced by an administrator, shown in the repository, and checked", async () => {
    const set = await A("PUT", `${R}/topics`, { names: ["Gadgets", "widgets", "gadgets"] })
    expect(set.status, JSON.stringify(set.body)).toBe(200)
    expect(set.body).toEqual({ names: ["gadgets", "widgets"] })
    expect((await A("GET", `${R}/topics`)).body).toEqual({ names: ["gadgets", "widgets"] })
    expect((await A("GET", R)).body.topics).toEqual(["gadgets", "widgets"])
    const bad = await A("PUT", `${R}/topics`, { names: ["-dash-first"] })
    expect(bad.status).toBe(422)
    expect(bad.body.message).toContain("lowercase letter or number")
    expect((await A("PUT", `${R}/topics`, { names: "one" })).status).toBe(422)
    expect((await A("GET", `${R}/topics`)).body.names).toEqual(["gadgets", "widgets"])
    const other = await makeUser(apiClient(node.url, node.token), "tom", ["repo"])
    const asOther = await apiClient(node.url, other.token)("PUT", `${R}/topics`, { names: [] })
    expect(asOther.status).toBe(403)
    expect((await A("PUT", `${R}/topics`, { names: [] })).body).toEqual({ names: [] })
  })
})

describe("languages", () => {
  it("counts bytes per language on the default branch, by file extension", async () => {
    const got = await A("GET", `${R}/languages`)
    expect(got.status).toBe(200)
    // main after the merge: src/main.ts "export const x = 2\n", src/util.py "x = 1\n", README.md.
    expect(got.body).toMatchObject({ TypeScript: 19, Python: 6 })
  })
})

describe("the OpenAPI document", () => {
  it("lists check runs, check suites and topics", async () => {
    const doc = (await (await fetch(`${node.url}/api/openapi.json`)).json()) as {
      paths: Record<string, Record<string, unknown>>
    }
    expect(Object.keys(doc.paths["/repos/{owner}/{repo}/check-runs"] ?? {})).toEqual(["post"])
    expect(Object.keys(doc.paths["/repos/{owner}/{repo}/check-runs/{id}"] ?? {}).sort()).toEqual([
      "get",
      "patch",
    ])
    expect(doc.paths["/repos/{owner}/{repo}/commits/{ref}/check-suites"]).toHaveProperty("get")
    expect(Object.keys(doc.paths["/repos/{owner}/{repo}/topics"] ?? {}).sort()).toEqual([
      "get",
      "put",
    ])
  })
})
