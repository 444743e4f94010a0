/**
 * The git data API's writes against a running node: a commit built object by object
 * (blob → tree on a base tree → commit → ref update) is what the real git binary clones,
 * `git fsck --strict` finds clean, with the author, committer and dates that were sent; an
 * annotated tag made through the API is what `git cat-file -p` shows; every bad input is a
 * 422 saying what is wrong, and leaves no object or ref behind.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type Api, apiClient, makeUser } from "../support/Api.ts"
import { authUrl, commitAll, git, gitWithInput, initRepo, write } from "../support/Git.ts"
import { type RunningNode, startNode, tempDir } from "../support/TestNode.ts"

let node: RunningNode
let A: Api
let token: string
let head: string
let baseTree: string
let dir: string
const R = "/repos/ada/data"

const hashBlob = async (content: string) =>
  (await gitWithInput(dir, ["hash-object", "--stdin"], Buffer.from(content))).stdout
    .toString()
    .trim()

beforeAll(async () => {
  node = await startNode({ storage: "memory" })
  const u = await makeUser(apiClient(node.url, node.token), "ada", ["repo"])
  token = u.token
  A = apiClient(node.url, token)
  expect((await A("POST", "/user/repos", { name: "data" })).status).toBe(201)
  dir = tempDir("gitdata")
  const w = await initRepo(path.join(dir, "w"))
  write(w, "README.md", "# data\n")
  write(w, "src/a.txt", "a\n")
  head = await commitAll(w, "first", 1)
  await git(w, ["push", "-q", authUrl(`${node.url}/ada/data.git`, token), "main"])
  baseTree = (await git(w, ["rev-parse", "HEAD^{tree}"])).trim()
}, 60_000)

afterAll(async () => {
  await node?.close()
})

describe("writing git objects through the API", () => {
  let commit: string

  it("builds a commit from a blob and a tree, moves a branch to it, and git clones it", async () => {
    const blob = await A("POST", `${R}/git/blobs`, {
      content: Buffer.from("intro\n\u00e9t\u00e9\n").toString("base64"),
      encoding: "base64",
    })
    expect(blob.status).toBe(201)
    expect(blob.body.sha).toBe(await hashBlob("intro\n\u00e9t\u00e9\n"))
    expect(blob.body.url).toMatch(new RegExp(`/git/blobs/${blob.body.sha}$`))

    const tree = await A("POST", `${R}/git/trees`, {
      base_tree: baseTree,
      tree: [
        { path: "docs/guide/intro.md", mode: "100644", type: "blob", sha: blob.body.sha },
        { path: "run.sh", mode: "100755", type: "blob", content: "#!/bin/sh\necho hi\n" },
        { path: "README.md", mode: "100644", type: "blob", sha: null },
      ],
    })
    expect(tree.status).toBe(201)
    expect(
      tree.body.tree.map((e: { path: string; type: string }) => `${e.type} ${e.path}`),
    ).toEqual(["tree docs", "blob run.sh", "tree src"])
    expect(tree.body.tree[1]).toMatchObject({ mode: "100755", size: 18 })

    const sent = {
      message: "built through the API\n\nwith a body\n",
      tree: tree.body.sha,
      parents: [head],
      author: { name: "Ada L", email: "ada@example.test", date: "2021-03-04T05:06:07+02:00" },
      committer: { name: "Bot", email: "bot@example.test", date: "2022-01-02T03:04:05Z" },
    }
    const made = await A("POST", `${R}/git/commits`, sent)
    expect(made.status).toBe(201)
    expect(made.body).toMatchObject({
      message: sent.message,
      tree: { sha: tree.body.sha },
      parents: [{ sha: head }],
      author: { name: "Ada L", email: "ada@example.test", date: "2021-03-04T03:06:07Z" },
      committer: { name: "Bot", email: "bot@example.test", date: "2022-01-02T03:04:05Z" },
    })
    commit = made.body.sha

    const moved = await A("PATCH", `${R}/git/refs/heads/main`, { sha: commit })
    expect(moved.status).toBe(200)

    const c = path.join(dir, "clone")
    await git(dir, ["clone", "-q", authUrl(`${node.url}/ada/data.git`, token), c])
    expect((await git(c, ["rev-parse", "HEAD"])).trim()).toBe(commit)
    expect(fs.readFileSync(path.join(c, "docs/guide/intro.md"), "utf8")).toBe("intro\nété\n")
    expect(fs.existsSync(path.join(c, "README.md"))).toBe(false)
    expect(fs.readFileSync(path.join(c, "src/a.txt"), "utf8")).toBe("a\n")
    expect(fs.statSync(path.join(c, "run.sh")).mode & 0o111).not.toBe(0)
    await git(c, ["fsck", "--strict", "--no-dangling"])
    expect((await git(c, ["log", "-1", "--format=%an|%ae|%aI|%cn|%ce|%cI|%B"])).trim()).toBe(
      "Ada L|ada@example.test|2021-03-04T05:06:07+02:00|Bot|bot@example.test|2022-01-02T03:04:05+00:00|built through the API\n\nwith a body",
    )
  })

  it("defaults the author to the caller, and makes an annotated tag git reads", async () => {
    const plain = await A("POST", `${R}/git/commits`, {
      message: "no author given",
      tree: baseTree,
      parents: [commit],
    })
    expect(plain.status).toBe(201)
    expect(plain.body.author).toMatchObject({ name: "ada", email: "ada@example.test" })
    expect(plain.body.committer).toEqual(plain.body.author)

    const tag = await A("POST", `${R}/git/tags`, {
      tag: "v2",
      message: "release two\n",
      object: commit,
      type: "commit",
      tagger: { name: "Rel Eng", email: "rel@example.test", date: "2023-05-06T07:08:09-05:30" },
    })
    expect(tag.status).toBe(201)
    expect(tag.body).toMatchObject({
      tag: "v2",
      object: { sha: commit, type: "commit" },
      tagger: { name: "Rel Eng", date: "2023-05-06T12:38:09Z" },
    })
    const ref = await A("POST", `${R}/git/refs`, { ref: "refs/tags/v2", sha: tag.body.sha })
    expect(ref.status).toBe(201)

    const c = path.join(dir, "clone")
    await git(c, ["fetch", "-q", "--tags", "origin"])
    const shown = await git(c, ["cat-file", "-p", "v2"])
    expect(shown).toBe(
      `object ${commit}\ntype commit\ntag v2\ntagger Rel Eng <rel@example.test> 1683376689 -0530\n\nrelease two\n`,
    )
    await git(c, ["fsck", "--strict", "--no-dangling"])
  })

  it("refuses bad input with a 422 that says what is wrong, and creates nothing", async () => {
    const refsBefore = (await A("GET", `${R}/git/refs`)).body
    const missing = "1234567890abcdef1234567890abcdef12345678"
    const cases: Array<[string, string, unknown, RegExp]> = [
      ["blobs", "bad base64", { content: "no*base64!", encoding: "base64" }, /not valid base64/],
      ["blobs", "bad encoding", { content: "x", encoding: "latin1" }, /utf-8 or base64/],
      [
        "trees",
        "unknown base tree",
        { base_tree: missing, tree: [] },
        /base_tree .* does not exist/,
      ],
      [
        "trees",
        "a missing object",
        {
          tree: [
            { path: "kept.txt", mode: "100644", type: "blob", content: "never stored 7f3a\n" },
            { path: "gone.txt", mode: "100644", type: "blob", sha: missing },
          ],
        },
        /tree\[1\]\.sha .* does not exist/,
      ],
      [
        "trees",
        "a bad mode",
        { tree: [{ path: "x", mode: "100600", type: "blob", content: "x" }] },
        /mode '100600' is not one of/,
      ],
      [
        "trees",
        "a mistyped entry",
        { tree: [{ path: "x", mode: "040000", type: "tree", sha: head }] },
        /is a commit, not a tree/,
      ],
      [
        "trees",
        "a path through .git",
        { tree: [{ path: ".git/config", mode: "100644", type: "blob", content: "x" }] },
        /inside \.git/,
      ],
      [
        "commits",
        "a malformed author date",
        {
          message: "m",
          tree: baseTree,
          author: { name: "A", email: "a@example.test", date: "yesterday" },
        },
        /author\.date "yesterday" is not an ISO 8601 timestamp/,
      ],
      [
        "commits",
        "a parent that is not a commit",
        { message: "m", tree: baseTree, parents: [baseTree] },
        /parents\[0\] .* is a tree, not a commit/,
      ],
      ["commits", "an unknown tree", { message: "m", tree: missing }, /tree .* does not exist/],
      ["commits", "no message", { tree: baseTree }, /"message" wasn't supplied/],
      [
        "tags",
        "a bad tag name",
        { tag: "bad..name", message: "m", object: head, type: "commit" },
        /not a valid tag name/,
      ],
      [
        "tags",
        "a wrong object type",
        { tag: "t", message: "m", object: head, type: "tree" },
        /is a commit, not a tree/,
      ],
    ]
    for (const [kind, what, body, message] of cases) {
      const res = await A("POST", `${R}/git/${kind}`, body)
      expect({ what, status: res.status }).toEqual({ what, status: 422 })
      expect({ what, message: res.body.message }).toEqual({
        what,
        message: expect.stringMatching(message),
      })
      expect(res.body.errors?.[0]?.field, what).toBeTruthy()
    }
    // The first entry's blob of the refused tree was not stored: naming it is refused too.
    const never = await hashBlob("never stored 7f3a\n")
    const named = await A("POST", `${R}/git/trees`, {
      tree: [{ path: "n", mode: "100644", type: "blob", sha: never }],
    })
    expect(named.status).toBe(422)
    expect(named.body.message).toMatch(/does not exist/)
    expect((await A("GET", `${R}/git/refs`)).body).toEqual(refsBefore)
  })

  it("are listed in the OpenAPI document", async () => {
    const doc = (await (await fetch(`${node.url}/api/openapi.json`)).json()) as {
      paths: Record<string, Record<string, unknown>>
    }
    for (const kind of ["blobs", "trees", "commits", "tags"])
      expect(doc.paths[`/repos/{owner}/{repo}/git/${kind}`], kind).toHaveProperty("post")
  })

  it("needs write access", async () => {
    const other = await makeUser(apiClient(node.url, node.token), "eve", ["repo"])
    const E = apiClient(node.url, other.token)
    const res = await E("POST", `${R}/git/blobs`, { content: "x" })
    expect(res.status).toBe(403)
    expect((await apiClient(node.url)("POST", `${R}/git/blobs`, { content: "x" })).status).toBe(401)
  })
})
