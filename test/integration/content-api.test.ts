/**
 * The read-only content API against the real git client: a repository with nested
 * directories, a binary file, an executable, symlinks (inside and outside the tree, with a
 * long target), a submodule, very long paths, lightweight and annotated tags, a branch and a
 * merge is pushed; then every answer — branches, tags, history with its filters and
 * pagination, single commits, comparisons, blobs, trees, commits, tags and refs of the git
 * data API, contents and README, languages, tarball and zipball — is compared with what git
 * itself says about the same repository (rev-list, ls-tree, cat-file, diff --numstat,
 * merge-base, archive). Repositories the caller cannot read answer 404 everywhere.
 */
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { gunzipSync } from "node:zlib"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type Api, apiClient, makeUser } from "../support/Api.ts"
import { authUrl, commitAll, git, initRepo, write } from "../support/Git.ts"
import { type RunningNode, startNode, tempDir } from "../support/TestNode.ts"

let node: RunningNode
let alice: { login: string; token: string }
let bob: { login: string; token: string }
let A: Api
let B: Api
let anon: Api
let work: string
const R = "/repos/alice/site"

const rev = async (...args: string[]) => (await git(work, ["rev-parse", ...args])).trim()
const revList = async (...args: string[]) =>
  (await git(work, ["rev-list", ...args])).trim().split("\n").filter(Boolean)

/** `git diff --numstat` as {filename: [additions, deletions]} (binary files count 0). */
const numstat = async (...args: string[]) => {
  const out: Record<string, [number, number]> = {}
  for (const line of (await git(work, ["diff", "--numstat", "--no-renames", ...args])).split(
    "\n",
  )) {
    const m = /^(\S+)\t(\S+)\t(.*)$/.exec(line)
    if (m) out[m[3]!] = [m[1] === "-" ? 0 : Number(m[1]), m[2] === "-" ? 0 : Number(m[2])]
  }
  return out
}
const filesAsNumstat = (files: Array<{ filename: string; additions: number; deletions: number }>) =>
  Object.fromEntries(files.map((f) => [f.filename, [f.additions, f.deletions]]))

/** Every page of a list, following `Link: rel="next"`. */
const allPages = async (api: Api, first: string) => {
  const items: any[] = []
  let next: string | undefined = first
  let pages = 0
  while (next) {
    const r = await api("GET", next)
    expect(r.status).toBe(200)
    items.push(...r.body)
    pages++
    const m = /<([^>]+)>; rel="next"/.exec(r.headers.get("link") ?? "")
    next = m ? new URL(m[1]!).pathname.replace(/^\/api/, "") + new URL(m[1]!).search : undefined
  }
  return { items, pages }
}

/** Fetches bytes (archives, raw media types). */
const bytes = async (url: string, accept?: string, token = alice.token) => {
  const res = await fetch(`${node.url}/api${url}`, {
    headers: { authorization: `Bearer ${token}`, ...(accept ? { accept } : {}) },
  })
  return { status: res.status, headers: res.headers, body: Buffer.from(await res.arrayBuffer()) }
}

/** A directory's files as path → description (type, mode bit, content or link target). */
const snapshot = (dir: string) => {
  const out: Record<string, string> = {}
  const walk = (rel: string) => {
    for (const name of fs.readdirSync(path.join(dir, rel)).sort()) {
      const p = path.join(rel, name)
      const st = fs.lstatSync(path.join(dir, p))
      if (st.isSymbolicLink()) out[p] = `link ${fs.readlinkSync(path.join(dir, p))}`
      else if (st.isDirectory()) {
        out[`${p}/`] = "dir"
        walk(p)
      } else
        out[p] =
          `${st.mode & 0o100 ? "exec" : "file"} ${fs.readFileSync(path.join(dir, p)).toString("base64")}`
    }
  }
  walk("")
  return out
}

const LONG_DIR = `${"nested-directory-".repeat(5)}end`
const LONG_NAME = `${"a-very-long-file-name-".repeat(6)}.txt`
const LONG_TARGET = `../${"b".repeat(110)}/target`
const BIG = "0123456789abcdef\n".repeat(70_000) // 1.19 MB: over the inline content limit
const BINARY = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0, 1, 2, 3, 0, 255, 254, 0, 10, 13])

let c1: string
let c2: string
let featureTip: string
let mainTip: string
let merge: string
let secretCommit: string
let secretBlob: string

beforeAll(async () => {
  node = await startNode({ storage: "memory", config: { rateLimitAnonymous: 0 } })
  const admin = apiClient(node.url, node.token)
  alice = await makeUser(admin, "alice")
  bob = await makeUser(admin, "bob")
  A = apiClient(node.url, alice.token)
  B = apiClient(node.url, bob.token)
  anon = apiClient(node.url, null)
  expect((await A("POST", "/user/repos", { name: "site" })).status).toBe(201)
  expect((await A("POST", "/user/repos", { name: "secret", private: true })).status).toBe(201)

  work = await initRepo(path.join(tempDir("content"), "w"))
  write(work, "README.md", "# Site\n\nHello.\n")
  write(work, "src/main.ts", "export const main = () => 1\n")
  write(work, "src/util/helpers.ts", "export const helper = (x: number) => x + 1\n")
  write(work, "docs/guide.md", "Guide\n")
  write(work, "bin/run.sh", "#!/bin/sh\necho run\n")
  fs.chmodSync(path.join(work, "bin/run.sh"), 0o755)
  write(work, "image.png", BINARY)
  write(work, "with space.txt", "spaced\n")
  write(work, "big.txt", BIG)
  write(work, `${LONG_DIR}/${LONG_DIR}/leaf.txt`, "deep\n")
  write(work, LONG_NAME, "long name\n")
  fs.symlinkSync("src/main.ts", path.join(work, "main-link"))
  fs.symlinkSync("../outside/file", path.join(work, "docs/escape"))
  fs.symlinkSync(LONG_TARGET, path.join(work, "far-link"))
  write(
    work,
    ".gitmodules",
    '[submodule "vendor/lib"]\n\tpath = vendor/lib\n\turl = https://example.com/lib.git\n',
  )
  c1 = await commitAll(work, "first", 1)
  // A submodule entry pointing at a commit of this repository (so it can be pushed).
  await git(work, ["update-index", "--add", "--cacheinfo", `160000,${c1},vendor/lib`])
  // An uninitialised submodule is an empty directory; `git add -A` leaves it alone.
  fs.mkdirSync(path.join(work, "vendor/lib"), { recursive: true })
  await git(work, ["commit", "-q", "-m", "add submodule"], {
    GIT_AUTHOR_DATE: "2026-01-01T00:00:02Z",
    GIT_COMMITTER_DATE: "2026-01-01T00:00:02Z",
  })
  await git(work, ["tag", "v0.9", c1])
  write(work, "src/main.ts", "export const main = () => 2\nexport const two = 2\n")
  write(work, "lib/a.py", "print('a')\n")
  c2 = await commitAll(work, "second\n\nwith a body", 3)
  await git(work, ["tag", "-a", "v1.0", "-m", "release 1.0"], {
    GIT_COMMITTER_DATE: "2026-01-01T00:00:04Z",
  })
  await git(work, ["checkout", "-q", "-b", "feature"])
  write(work, "README.md", "# Site\n\nHello from a feature.\n")
  featureTip = await commitAll(work, "feature readme", 5)
  await git(work, ["branch", "topic/nested"])
  await git(work, ["checkout", "-q", "main"])
  write(work, "src/util/helpers.ts", "export const helper = (x: number) => x + 2\n")
  mainTip = await commitAll(work, "helpers", 6)
  await git(work, ["merge", "-q", "--no-ff", "-m", "merge feature", "feature"], {
    GIT_AUTHOR_DATE: "2026-01-01T00:00:07Z",
    GIT_COMMITTER_DATE: "2026-01-01T00:00:07Z",
  })
  merge = await rev("HEAD")
  write(work, "src/util/helpers.ts", "export const helper = (x: number) => x * 3\n")
  await commitAll(work, "helpers again", 8)
  const remote = authUrl(`${node.url}/alice/site.git`, alice.token)
  await git(work, ["push", "-q", remote, "main", "feature", "topic/nested", "v0.9", "v1.0"])
  // A commit only the private repository has (the object store is shared by all repositories).
  await git(work, ["checkout", "-q", "-b", "secret-only"])
  write(work, "secret.txt", "only in the private repository\n")
  secretCommit = await commitAll(work, "secret", 9)
  secretBlob = await rev("HEAD:secret.txt")
  await git(work, ["checkout", "-q", "main"])
  await git(work, [
    "push",
    "-q",
    authUrl(`${node.url}/alice/secret.git`, alice.token),
    "secret-only:main",
  ])
  await git(work, ["branch", "-q", "-D", "secret-only"])
  const protect = await A("PUT", `${R}/branches/main/protection`, {
    required_status_checks: { strict: false, contexts: ["ci"] },
    enforce_admins: true,
    required_pull_request_reviews: null,
    restrictions: null,
  })
  expect(protect.status, JSON.stringify(protect.body)).toBe(200)
}, 60_000)

afterAll(async () => {
  await node?.close()
})

describe("branches and tags", () => {
  it("lists branches with their tips and protection, like git for-each-ref", async () => {
    const r = await A("GET", `${R}/branches`)
    expect(r.status).toBe(200)
    const heads = (
      await git(work, ["for-each-ref", "--format=%(refname:short) %(objectname)", "refs/heads"])
    )
      .trim()
      .split("\n")
    expect(r.body.map((b: any) => `${b.name} ${b.commit.sha}`)).toEqual(heads)
    const main = r.body.find((b: any) => b.name === "main")
    expect(main.protected).toBe(true)
    expect(main.protection.required_status_checks).toMatchObject({
      enforcement_level: "everyone",
      contexts: ["ci"],
    })
    expect(r.body.find((b: any) => b.name === "feature").protected).toBe(false)
    const onlyProtected = await A("GET", `${R}/branches?protected=true`)
    expect(onlyProtected.body.map((b: any) => b.name)).toEqual(["main"])
  })

  it("gets one branch with its tip commit, and 404 for an unknown branch", async () => {
    const r = await A("GET", `${R}/branches/feature`)
    expect(r.status).toBe(200)
    expect(r.body).toMatchObject({
      name: "feature",
      protected: false,
      commit: { sha: featureTip, commit: { message: "feature readme" } },
    })
    expect(r.body.protection_url).toMatch(
      /\/api\/repos\/alice\/site\/branches\/feature\/protection$/,
    )
    expect((await A("GET", `${R}/branches/nope`)).status).toBe(404)
    const nested = await A("GET", `${R}/branches/topic/nested`)
    expect(nested.body).toMatchObject({ name: "topic/nested", commit: { sha: featureTip } })
  })

  it("leaves the longer fixed paths under a branch or commit to their own routes", async () => {
    const protection = await A("GET", `${R}/branches/main/protection`)
    expect(protection.status).toBe(200)
    expect(protection.body.required_status_checks.contexts).toEqual(["ci"])
    const status = await A("GET", `${R}/commits/main/status`)
    expect(status.status).toBe(200)
    expect(status.body).toMatchObject({ sha: await rev("main"), state: "pending" })
  })

  it("lists tags newest version first, peeled to their commits, with archive URLs", async () => {
    const r = await A("GET", `${R}/tags`)
    expect(r.status).toBe(200)
    expect(r.body.map((t: any) => t.name)).toEqual(["v1.0", "v0.9"])
    expect(r.body[0].commit.sha).toBe(await rev("v1.0^{commit}"))
    expect(r.body[1].commit.sha).toBe(c1)
    expect(r.body[0].tarball_url).toMatch(/\/tarball\/refs\/tags\/v1\.0$/)
    expect(r.body[0].zipball_url).toMatch(/\/zipball\/refs\/tags\/v1\.0$/)
  })
})

describe("commits", () => {
  it("lists the default branch's history in git rev-list order, page by page", async () => {
    const { items, pages } = await allPages(A, `${R}/commits?per_page=2`)
    expect(items.map((c) => c.sha)).toEqual(await revList("main"))
    expect(pages).toBe(Math.ceil(items.length / 2))
    const top = items[0]
    expect(top.commit).toMatchObject({
      message: "helpers again",
      author: { name: "Ada Lovelace", email: "ada@example.com", date: "2026-01-01T00:00:08Z" },
    })
    expect(top.parents.map((p: any) => p.sha)).toEqual([merge])
  })

  it("filters by start ref, path, dates and author like git rev-list", async () => {
    const bySha = await A("GET", `${R}/commits?sha=feature&per_page=100`)
    expect(bySha.body.map((c: any) => c.sha)).toEqual(await revList("feature"))
    const byTag = await A("GET", `${R}/commits?sha=v0.9`)
    expect(byTag.body.map((c: any) => c.sha)).toEqual([c1])
    for (const p of ["src/util", "README.md", "src", "lib/a.py", "vendor/lib"]) {
      const r = await A("GET", `${R}/commits?path=${encodeURIComponent(p)}&per_page=100`)
      expect(
        r.body.map((c: any) => c.sha),
        p,
      ).toEqual(await revList("main", "--", p))
    }
    const since = await A(
      "GET",
      `${R}/commits?since=2026-01-01T00:00:05Z&until=2026-01-01T00:00:07Z`,
    )
    expect(since.body.map((c: any) => c.sha)).toEqual(
      await revList("main", "--since=2026-01-01T00:00:05Z", "--until=2026-01-01T00:00:07Z"),
    )
    const byAuthor = await A("GET", `${R}/commits?author=ada@example.com&per_page=100`)
    expect(byAuthor.body.length).toBe((await revList("main")).length)
    expect((await A("GET", `${R}/commits?author=nobody@example.com`)).body).toEqual([])
    expect((await A("GET", `${R}/commits?since=yesterday-ish`)).status).toBe(422)
  })

  it("gets a commit with the files and stats git diff --numstat gives against its first parent", async () => {
    for (const sha of [c2, merge, featureTip]) {
      const r = await A("GET", `${R}/commits/${sha}`)
      expect(r.status).toBe(200)
      const expected = await numstat(`${sha}^1`, sha)
      expect(filesAsNumstat(r.body.files)).toEqual(expected)
      const adds = Object.values(expected).reduce((n, [a]) => n + a, 0)
      const dels = Object.values(expected).reduce((n, [, d]) => n + d, 0)
      expect(r.body.stats).toEqual({ additions: adds, deletions: dels, total: adds + dels })
    }
    const root = await A("GET", `${R}/commits/${c1}`)
    const rootFiles = (await git(work, ["ls-tree", "-r", "--name-only", c1])).trim().split("\n")
    expect(root.body.files.map((f: any) => f.filename).sort()).toEqual(rootFiles.sort())
    expect(root.body.files.find((f: any) => f.filename === "image.png")).toMatchObject({
      status: "added",
      additions: 0,
      deletions: 0,
    })
  })

  it("resolves branches, tags, full refs and abbreviated ids; unknown refs are 422", async () => {
    for (const ref of ["feature", "v1.0", "refs/tags/v1.0", "refs/heads/main", c2.slice(0, 8)]) {
      const r = await A("GET", `${R}/commits/${ref}`)
      expect(r.status, ref).toBe(200)
      expect(r.body.sha, ref).toBe(await rev(`${ref}^{commit}`))
    }
    const bad = await A("GET", `${R}/commits/no-such-ref`)
    expect(bad.status).toBe(422)
    expect(bad.body.message).toMatch(/No commit found/)
  })

  it("answers the sha, diff and patch media types", async () => {
    const sha = await bytes(`${R}/commits/feature`, "application/vnd.github.sha")
    expect(sha.body.toString()).toBe(featureTip)
    const diff = await bytes(`${R}/commits/${c2}`, "application/vnd.github.diff")
    expect(diff.body.toString()).toBe(await git(work, ["diff", `${c2}^`, c2]))
    const patch = await bytes(`${R}/commits/${c2}`, "application/vnd.github.patch")
    expect(patch.body.toString()).toMatch(/^From [0-9a-f]{40} Mon Sep 17 00:00:00 2001\n/)
    expect(patch.body.toString()).toContain("Subject: [PATCH] second")
  })

  it("compares diverged, ahead, behind and identical refs like git merge-base and rev-list", async () => {
    const cases: Array<[string, string, string]> = [
      [c2, featureTip, "ahead"],
      [featureTip, c2, "behind"],
      [mainTip, featureTip, "diverged"],
      ["main", "main", "identical"],
    ]
    for (const [b, h, status] of cases) {
      const r = await A("GET", `${R}/compare/${b}...${h}`)
      expect(r.status, `${b}...${h}`).toBe(200)
      expect(r.body.status).toBe(status)
      expect(r.body.ahead_by).toBe((await revList(`${b}..${h}`)).length)
      expect(r.body.behind_by).toBe((await revList(`${h}..${b}`)).length)
      expect(r.body.merge_base_commit.sha).toBe((await git(work, ["merge-base", b, h])).trim())
      expect(r.body.base_commit.sha).toBe(await rev(`${b}^{commit}`))
      expect(r.body.commits.map((c: any) => c.sha)).toEqual(
        await revList("--reverse", "--topo-order", `${b}..${h}`),
      )
      expect(filesAsNumstat(r.body.files)).toEqual(await numstat(`${b}...${h}`))
    }
    const diff = await bytes(
      `${R}/compare/${mainTip}...${featureTip}`,
      "application/vnd.github.diff",
    )
    expect(diff.body.toString()).toBe(await git(work, ["diff", `${mainTip}...${featureTip}`]))
    const qualified = await A("GET", `${R}/compare/alice:${mainTip}...alice:feature`)
    expect(qualified.body).toMatchObject({ status: "diverged", ahead_by: 1 })
    expect((await A("GET", `${R}/compare/main...nope`)).status).toBe(404)
    expect((await A("GET", `${R}/compare/main`)).status).toBe(404)
  })
})

describe("git data", () => {
  it("serves blobs as base64 with their size, and raw with the raw media type", async () => {
    const id = await rev(`${c1}:image.png`)
    const r = await A("GET", `${R}/git/blobs/${id}`)
    expect(r.status).toBe(200)
    expect(r.body).toMatchObject({ sha: id, size: BINARY.length, encoding: "base64" })
    expect(Buffer.from(r.body.content, "base64")).toEqual(BINARY)
    const raw = await bytes(`${R}/git/blobs/${id}`, "application/vnd.github.raw")
    expect(raw.body).toEqual(BINARY)
    const treeId = await rev(`${c1}^{tree}`)
    expect((await A("GET", `${R}/git/blobs/${treeId}`)).status).toBe(404)
    expect((await A("GET", `${R}/git/blobs/xyz`)).status).toBe(422)
  })

  it("lists trees like git ls-tree, recursively like ls-tree -r -t with blob sizes", async () => {
    const tree = await rev("main^{tree}")
    const lsTree = async (...args: string[]) =>
      (await git(work, ["ls-tree", "-l", ...args, tree]))
        .trim()
        .split("\n")
        .map((line) => {
          const m = /^(\d+) (\w+) ([0-9a-f]+)\s+(\S+)\t(.*)$/.exec(line)!
          return {
            mode: m[1],
            type: m[2],
            sha: m[3],
            size: m[4] === "-" ? undefined : Number(m[4]),
            path: m[5],
          }
        })
    const strip = (entries: any[]) =>
      entries.map((e) => ({ mode: e.mode, type: e.type, sha: e.sha, size: e.size, path: e.path }))
    const flat = await A("GET", `${R}/git/trees/${tree}`)
    expect(flat.status).toBe(200)
    expect(flat.body.truncated).toBe(false)
    expect(strip(flat.body.tree)).toEqual(await lsTree())
    const deep = await A("GET", `${R}/git/trees/${tree}?recursive=1`)
    expect(strip(deep.body.tree)).toEqual(await lsTree("-r", "-t"))
    // A commit or a branch name stands for its tree.
    const byBranch = await A("GET", `${R}/git/trees/main`)
    expect(byBranch.body.sha).toBe(tree)
  })

  it("reads commits, annotated tags and refs like git cat-file and for-each-ref", async () => {
    const commit = await A("GET", `${R}/git/commits/${c2}`)
    expect(commit.status).toBe(200)
    expect(commit.body).toMatchObject({
      sha: c2,
      tree: { sha: await rev(`${c2}^{tree}`) },
      message: "second\n\nwith a body\n",
      parents: [{ sha: await rev(`${c2}^`) }],
      author: { name: "Ada Lovelace", date: "2026-01-01T00:00:03Z" },
      verification: { verified: false, reason: "unsigned" },
    })
    const tagId = await rev("v1.0")
    const tag = await A("GET", `${R}/git/tags/${tagId}`)
    expect(tag.status).toBe(200)
    expect(tag.body).toMatchObject({
      sha: tagId,
      tag: "v1.0",
      message: "release 1.0\n",
      object: { type: "commit", sha: c2 },
      tagger: { name: "Ada Lovelace", date: "2026-01-01T00:00:04Z" },
    })
    expect((await A("GET", `${R}/git/tags/${c2}`)).status).toBe(404)

    const refs = (
      await git(work, ["for-each-ref", "--format=%(refname) %(objecttype) %(objectname)"])
    )
      .trim()
      .split("\n")
      .filter((l) => !l.startsWith("refs/remotes/"))
    const all = await A("GET", `${R}/git/refs?per_page=100`)
    expect(all.body.map((r: any) => `${r.ref} ${r.object.type} ${r.object.sha}`)).toEqual(refs)
    const one = await A("GET", `${R}/git/ref/heads/feature`)
    expect(one.body).toMatchObject({
      ref: "refs/heads/feature",
      object: { sha: featureTip, type: "commit" },
    })
    expect((await A("GET", `${R}/git/ref/heads/nope`)).status).toBe(404)
    const tags = await A("GET", `${R}/git/matching-refs/tags/v`)
    expect(tags.body.map((r: any) => r.ref)).toEqual(["refs/tags/v0.9", "refs/tags/v1.0"])
    expect(tags.body[1].object).toMatchObject({ type: "tag", sha: tagId })
    expect((await A("GET", `${R}/git/matching-refs/tags/zzz`)).body).toEqual([])
    const namespace = await A("GET", `${R}/git/refs/heads`)
    expect(namespace.body.map((r: any) => r.ref)).toEqual([
      "refs/heads/feature",
      "refs/heads/main",
      "refs/heads/topic/nested",
    ])
    expect((await A("GET", `${R}/git/refs/heads/main`)).body.object.sha).toBe(await rev("main"))
  })
})

describe("contents", () => {
  it("returns a file as base64 with its blob id, and its bytes with the raw media type", async () => {
    const r = await A("GET", `${R}/contents/src/main.ts`)
    expect(r.status).toBe(200)
    expect(r.body).toMatchObject({
      type: "file",
      encoding: "base64",
      name: "main.ts",
      path: "src/main.ts",
      sha: await rev("main:src/main.ts"),
      size: fs.statSync(path.join(work, "src/main.ts")).size,
    })
    expect(Buffer.from(r.body.content, "base64").toString()).toBe(
      fs.readFileSync(path.join(work, "src/main.ts"), "utf8"),
    )
    expect(r.body.url).toMatch(/\/api\/repos\/alice\/site\/contents\/src\/main\.ts\?ref=main$/)
    const bin = await A("GET", `${R}/contents/image.png`)
    expect(Buffer.from(bin.body.content, "base64")).toEqual(BINARY)
    const raw = await bytes(`${R}/contents/image.png`, "application/vnd.github.raw")
    expect(raw.body).toEqual(BINARY)
    const spaced = await A("GET", `${R}/contents/with%20space.txt`)
    expect(spaced.body.path).toBe("with space.txt")
  })

  it("leaves out the content of files over 1 MB unless raw bytes are asked for", async () => {
    const r = await A("GET", `${R}/contents/big.txt`)
    expect(r.body).toMatchObject({ type: "file", encoding: "none", content: "", size: BIG.length })
    const raw = await bytes(`${R}/contents/big.txt`, "application/vnd.github.raw")
    expect(raw.body.toString()).toBe(BIG)
  })

  it("answers 304 to a client that already holds the same version, JSON or raw", async () => {
    const url = `${node.url}/api${R}/contents/src/main.ts?ref=${c2}`
    const headers = { authorization: `Bearer ${alice.token}` }
    for (const accept of ["application/vnd.github+json", "application/vnd.github.raw"]) {
      const first = await fetch(url, { headers: { ...headers, accept } })
      expect(first.status).toBe(200)
      const etag = first.headers.get("etag")!
      expect(etag, accept).toBeTruthy()
      const again = await fetch(url, { headers: { ...headers, accept, "if-none-match": etag } })
      expect(again.status, accept).toBe(304)
      const stale = await fetch(url, {
        headers: { ...headers, accept, "if-none-match": '"other"' },
      })
      expect(stale.status, accept).toBe(200)
    }
    const tarball = await bytes(`${R}/tarball/${c2}`)
    const cached = await fetch(`${node.url}/api${R}/tarball/${c2}`, {
      headers: { ...headers, "if-none-match": tarball.headers.get("etag")! },
    })
    expect(cached.status).toBe(304)
  })

  it("reads at a ref: a tag shows the file as it was", async () => {
    const r = await A("GET", `${R}/contents/src/main.ts?ref=v0.9`)
    expect(Buffer.from(r.body.content, "base64").toString()).toBe(
      await git(work, ["show", "v0.9:src/main.ts"]),
    )
    expect((await A("GET", `${R}/contents/src/main.ts?ref=nope`)).status).toBe(404)
    expect((await A("GET", `${R}/contents/no/such/file`)).status).toBe(404)
  })

  it("lists a directory like git ls-tree, submodules typed file as GitHub does", async () => {
    const root = await A("GET", `${R}/contents`)
    expect(root.status).toBe(200)
    const ls = (await git(work, ["ls-tree", "main"])).trim().split("\n")
    const typeOf = (mode: string) =>
      mode === "040000" ? "dir" : mode === "120000" ? "symlink" : "file"
    expect(root.body.map((e: any) => `${e.type} ${e.sha} ${e.path}`)).toEqual(
      ls.map((l) => {
        const [meta, name] = l.split("\t")
        const [mode, , sha] = meta!.split(" ")
        return `${typeOf(mode!)} ${sha} ${name}`
      }),
    )
    const src = await A("GET", `${R}/contents/src`)
    expect(src.body.map((e: any) => [e.name, e.type])).toEqual([
      ["main.ts", "file"],
      ["util", "dir"],
    ])
    const vendor = await A("GET", `${R}/contents/vendor`)
    expect(vendor.body[0]).toMatchObject({ name: "lib", type: "file", sha: c1 })
    const asObject = await bytes(`${R}/contents/vendor`, "application/vnd.github.object")
    const obj = JSON.parse(asObject.body.toString())
    expect(obj).toMatchObject({ type: "dir", path: "vendor" })
    expect(obj.entries[0].type).toBe("submodule")
  })

  it("follows a symlink to a file in the tree, describes other symlinks and submodules", async () => {
    const followed = await A("GET", `${R}/contents/main-link`)
    expect(followed.body).toMatchObject({ type: "file", path: "src/main.ts" })
    expect(Buffer.from(followed.body.content, "base64").toString()).toBe(
      await git(work, ["show", "main:src/main.ts"]),
    )
    const outside = await A("GET", `${R}/contents/docs/escape`)
    expect(outside.body).toMatchObject({
      type: "symlink",
      target: "../outside/file",
      path: "docs/escape",
    })
    const sub = await A("GET", `${R}/contents/vendor/lib`)
    expect(sub.body).toMatchObject({
      type: "submodule",
      sha: c1,
      submodule_git_url: "https://example.com/lib.git",
    })
  })

  it("finds the README, as JSON and raw", async () => {
    const r = await A("GET", `${R}/readme`)
    expect(r.status).toBe(200)
    expect(r.body.name).toBe("README.md")
    expect(Buffer.from(r.body.content, "base64").toString()).toBe(
      await git(work, ["show", "main:README.md"]),
    )
    const old = await bytes(`${R}/readme?ref=v0.9`, "application/vnd.github.raw")
    expect(old.body.toString()).toBe(await git(work, ["show", "v0.9:README.md"]))
    expect((await A("GET", `${R}/readme/src`)).status).toBe(404)
  })
})

describe("archives", () => {
  it("streams a tarball whose tar is byte-identical to git archive under {owner}-{repo}-{short}/", async () => {
    const sha = await rev("main")
    const prefix = `alice-site-${sha.slice(0, 7)}`
    const r = await bytes(`${R}/tarball/main`)
    expect(r.status).toBe(200)
    expect(r.headers.get("content-disposition")).toBe(`attachment; filename=${prefix}.tar.gz`)
    const tar = gunzipSync(r.body)
    const expected = execFileSync("git", ["archive", "--format=tar", `--prefix=${prefix}/`, sha], {
      cwd: work,
      env: { PATH: process.env.PATH, GIT_CONFIG_GLOBAL: "/dev/null", GIT_CONFIG_NOSYSTEM: "1" },
      maxBuffer: 64 * 1024 * 1024,
    })
    expect(tar.length).toBe(expected.length)
    expect(tar.equals(expected)).toBe(true)
    // And the system tar reads it back to the committed files.
    const out = tempDir("tar")
    fs.writeFileSync(path.join(out, "a.tar.gz"), r.body)
    execFileSync("tar", ["-xzf", "a.tar.gz"], { cwd: out })
    const mine = snapshot(path.join(out, prefix))
    expect(mine[`${LONG_DIR}/${LONG_DIR}/leaf.txt`]).toBe(
      `file ${Buffer.from("deep\n").toString("base64")}`,
    )
    expect(mine[LONG_NAME]).toBeDefined()
    expect(mine["far-link"]).toBe(`link ${LONG_TARGET}`)
    expect(mine["bin/run.sh"]).toMatch(/^exec /)
    expect(mine["vendor/lib/"]).toBe("dir")
  })

  it("streams a zipball that unzip extracts to the same files as git archive", async () => {
    const sha = await rev("v1.0^{commit}")
    const prefix = `alice-site-${sha.slice(0, 7)}`
    const r = await bytes(`${R}/zipball/refs/tags/v1.0`)
    expect(r.status).toBe(200)
    expect(r.headers.get("content-type")).toBe("application/zip")
    const out = tempDir("zip")
    fs.writeFileSync(path.join(out, "a.zip"), r.body)
    execFileSync("unzip", ["-q", "a.zip", "-d", "mine"], { cwd: out })
    fs.mkdirSync(path.join(out, "git"))
    const tar = execFileSync("git", ["archive", "--format=tar", `--prefix=${prefix}/`, sha], {
      cwd: work,
      maxBuffer: 64 * 1024 * 1024,
    })
    execFileSync("tar", ["-xf", "-"], { cwd: path.join(out, "git"), input: tar })
    expect(snapshot(path.join(out, "mine", prefix))).toEqual(
      snapshot(path.join(out, "git", prefix)),
    )
    const comment = execFileSync("unzip", ["-z", "a.zip"], { cwd: out }).toString()
    expect(comment).toContain(sha)
  })

  it("archives the default branch when no ref is given, and 404s for an unknown ref", async () => {
    const r = await bytes(`${R}/tarball`)
    expect(r.headers.get("content-disposition")).toContain(
      `alice-site-${(await rev("main")).slice(0, 7)}`,
    )
    expect((await bytes(`${R}/zipball/nope`)).status).toBe(404)
  })
})

describe("languages, topics and visibility", () => {
  it("counts bytes per language by extension on the default branch", async () => {
    const sizes: Record<string, number> = {}
    for (const line of (await git(work, ["ls-tree", "-r", "-l", "main"])).trim().split("\n")) {
      const m = /^(\d+) blob [0-9a-f]+\s+(\d+)\t(.*)$/.exec(line)
      if (!m || m[1] === "120000") continue
      const lang = { ts: "TypeScript", py: "Python", sh: "Shell" }[m[3]!.split(".").pop()!]
      if (lang) sizes[lang] = (sizes[lang] ?? 0) + Number(m[2])
    }
    const r = await A("GET", `${R}/languages`)
    expect(r.status).toBe(200)
    expect(r.body).toEqual(sizes)
    expect(Object.values(r.body)).toEqual(Object.values(sizes).sort((a, b) => b - a))
  })

  it("treats an empty repository as GitHub does", async () => {
    expect((await A("POST", "/user/repos", { name: "blank" })).status).toBe(201)
    expect((await A("GET", "/repos/alice/blank/branches")).body).toEqual([])
    expect((await A("GET", "/repos/alice/blank/commits")).status).toBe(409)
    expect((await A("GET", "/repos/alice/blank/contents")).status).toBe(404)
    expect((await A("GET", "/repos/alice/blank/readme")).status).toBe(404)
    expect((await bytes("/repos/alice/blank/tarball")).status).toBe(404)
    expect((await A("GET", "/repos/alice/blank/languages")).body).toEqual({})
  })

  it("answers topics with an empty list", async () => {
    expect((await A("GET", `${R}/topics`)).body).toEqual({ names: [] })
  })

  it("hides a private repository from others and anonymous callers on every content route", async () => {
    const sha = (await A("GET", "/repos/alice/secret/commits")).body[0].sha
    const paths = [
      "/branches",
      "/branches/main",
      "/tags",
      "/commits",
      `/commits/${sha}`,
      `/compare/main...main`,
      `/git/commits/${sha}`,
      "/git/refs",
      "/git/ref/heads/main",
      "/contents/README.md",
      "/readme",
      "/tarball/main",
      "/zipball/main",
      "/languages",
      "/topics",
    ]
    for (const p of paths) {
      expect((await B("GET", `/repos/alice/secret${p}`)).status, p).toBe(404)
      expect((await anon("GET", `/repos/alice/secret${p}`)).status, p).toBe(404)
      expect((await A("GET", `/repos/alice/secret${p}`)).status, p).toBe(200)
    }
  })

  it("does not open another repository's objects by id, though the store is shared", async () => {
    expect((await A("GET", `/repos/alice/secret/git/blobs/${secretBlob}`)).status).toBe(200)
    expect((await A("GET", `/repos/alice/secret/commits/${secretCommit}`)).status).toBe(200)
    for (const who of [A, B, anon]) {
      expect((await who("GET", `${R}/git/blobs/${secretBlob}`)).status).toBe(404)
      expect((await who("GET", `${R}/git/commits/${secretCommit}`)).status).toBe(404)
      expect((await who("GET", `${R}/git/trees/${secretCommit}`)).status).toBe(404)
      expect((await who("GET", `${R}/commits/${secretCommit}`)).status).toBe(422)
      expect((await who("GET", `${R}/contents/secret.txt?ref=${secretCommit}`)).status).toBe(404)
      expect((await who("GET", `${R}/compare/main...${secretCommit}`)).status).toBe(404)
    }
    expect((await bytes(`${R}/tarball/${secretCommit}`)).status).toBe(404)
    // Its own old objects stay readable by id, including blobs deep in history.
    expect((await A("GET", `${R}/git/blobs/${await rev(`${c1}:src/main.ts`)}`)).status).toBe(200)
  })

  it("answers under the /api/v3 prefix as well", async () => {
    const res = await fetch(`${node.url}/api/v3${R}/branches`, {
      headers: { authorization: `Bearer ${alice.token}` },
    })
    expect(res.status).toBe(200)
    expect(((await res.json()) as any[]).map((b) => b.name)).toEqual([
      "feature",
      "main",
      "topic/nested",
    ])
  })
})
