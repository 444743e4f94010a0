/**
 * Objects are scoped to repositories, though every repository of a node shares one object
 * store: ada's private repository holds a secret; bob, who cannot read it, owns a public
 * repository and knows the secret's ids. Through his repository every read by id answers
 * exactly as for an object that does not exist, every write naming the secret is refused
 * as if it were missing (the refs API, git data writes, release targets, and pushes whose
 * packs leave the secret out or delta against it), and a clone never carries it.
 * Positive controls: the same writes inside ada's repository succeed, objects written to a
 * repository through the API (or by a push whose ref update failed) stay nameable there.
 */
import * as path from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type Api, apiClient, makeUser } from "../support/Api.ts"
import { authUrl, commitAll, git, initRepo, runGit, write } from "../support/Git.ts"
import { buildPack, objectId, parsePktLines, receivePackRequest, ZERO } from "../support/RawGit.ts"
import { type RunningNode, startNode, tempDir } from "../support/TestNode.ts"

const SECRET = "launch code 0000-SECRET-SCOPE\n"
/** The private file: large and varied, so git deltas an edit of it against it. */
const SECRET_FILE = Array.from({ length: 200 }, (_, i) => `${i} ${SECRET}`).join("")

let node: RunningNode
let ada: { login: string; token: string }
let bob: { login: string; token: string }
let A: Api
let B: Api
let work: string
/** ada's private objects. */
const secret = { commit: "", tree: "", blob: "" }
/** bob's public repository's tip and tree. */
let pubMain = ""
let pubTree = ""
/** An id no repository has. */
const nowhere = "0123456789abcdef0123456789abcdef01234567"

const rev = async (dir: string, what: string) => (await git(dir, ["rev-parse", what])).trim()

const receivePack = async (owner: string, repo: string, token: string, body: Buffer) => {
  const res = await fetch(`${node.url}/${owner}/${repo}.git/git-receive-pack`, {
    method: "POST",
    headers: {
      authorization: `Bearer ${token}`,
      "content-type": "application/x-git-receive-pack-request",
    },
    body,
  })
  expect(res.status).toBe(200)
  return parsePktLines(Buffer.from(await res.arrayBuffer()))
}

const pubRef = async (name: string) =>
  (await B("GET", `/repos/bob/pub/git/ref/heads/${name}`)).body?.object?.sha as string | undefined

const author =
  "author A <a@example.test> 1700000000 +0000\ncommitter A <a@example.test> 1700000000 +0000"

beforeAll(async () => {
  node = await startNode({ storage: "memory" })
  const admin = apiClient(node.url, node.token)
  ada = await makeUser(admin, "ada", ["repo"])
  bob = await makeUser(admin, "bob", ["repo"])
  A = apiClient(node.url, ada.token)
  B = apiClient(node.url, bob.token)
  expect((await A("POST", "/user/repos", { name: "vault", private: true })).status).toBe(201)
  expect((await B("POST", "/user/repos", { name: "pub" })).status).toBe(201)
  work = tempDir("scope")

  const v = await initRepo(path.join(work, "vault"))
  write(v, "README.md", "# vault\n")
  write(v, "secret.txt", SECRET_FILE)
  secret.commit = await commitAll(v, "the secret", 1)
  secret.tree = await rev(v, "HEAD^{tree}")
  secret.blob = await rev(v, "HEAD:secret.txt")
  await git(v, ["push", "-q", authUrl(`${node.url}/ada/vault.git`, ada.token), "main"])

  const p = await initRepo(path.join(work, "pub"))
  write(p, "README.md", "# pub\n")
  pubMain = await commitAll(p, "public", 2)
  pubTree = await rev(p, "HEAD^{tree}")
  await git(p, ["push", "-q", authUrl(`${node.url}/bob/pub.git`, bob.token), "main"])
}, 60_000)

afterAll(async () => {
  await node?.close()
})

/** The answer for `url(id)` with the id replaced, to compare with the answer for `nowhere`. */
const masked = async (
  get: (id: string) => Promise<{ status: number; text: string }>,
  id: string,
) => {
  const r = await get(id)
  expect(r.text).not.toContain("SECRET")
  return {
    status: r.status,
    text: r.text.replaceAll(id, "<id>").replaceAll(id.slice(0, 7), "<short>"),
  }
}

const apiGet = (template: string) => async (id: string) => {
  const res = await fetch(`${node.url}/api${template.replaceAll("{id}", id)}`, {
    headers: { authorization: `Bearer ${bob.token}`, accept: "application/vnd.github+json" },
  })
  return { status: res.status, text: Buffer.from(await res.arrayBuffer()).toString("latin1") }
}
const webGet = (template: string) => async (id: string) => {
  const res = await fetch(`${node.url}${template.replaceAll("{id}", id)}`, {
    headers: { authorization: `Bearer ${bob.token}` },
  })
  return { status: res.status, text: await res.text() }
}

describe("reads by id through another repository", () => {
  it("answer every API and web route exactly as for an object that does not exist", async () => {
    const routes: Array<
      [string, (id: string) => Promise<{ status: number; text: string }>, () => string]
    > = [
      ["git blob", apiGet("/repos/bob/pub/git/blobs/{id}"), () => secret.blob],
      ["git tree", apiGet("/repos/bob/pub/git/trees/{id}"), () => secret.tree],
      [
        "git tree of a commit",
        apiGet("/repos/bob/pub/git/trees/{id}?recursive=1"),
        () => secret.commit,
      ],
      ["git commit", apiGet("/repos/bob/pub/git/commits/{id}"), () => secret.commit],
      ["git tag", apiGet("/repos/bob/pub/git/tags/{id}"), () => secret.commit],
      ["commit", apiGet("/repos/bob/pub/commits/{id}"), () => secret.commit],
      ["history", apiGet("/repos/bob/pub/commits?sha={id}"), () => secret.commit],
      ["contents", apiGet("/repos/bob/pub/contents/secret.txt?ref={id}"), () => secret.commit],
      ["readme", apiGet("/repos/bob/pub/readme?ref={id}"), () => secret.commit],
      ["compare", apiGet("/repos/bob/pub/compare/main...{id}"), () => secret.commit],
      ["tarball", apiGet("/repos/bob/pub/tarball/{id}"), () => secret.commit],
      ["zipball", apiGet("/repos/bob/pub/zipball/{id}"), () => secret.commit],
      ["raw", webGet("/bob/pub/raw/{id}/secret.txt"), () => secret.commit],
      ["web commit", webGet("/bob/pub/commit/{id}"), () => secret.commit],
      ["web tree", webGet("/bob/pub/tree/{id}"), () => secret.commit],
      ["web blob", webGet("/bob/pub/blob/{id}/secret.txt"), () => secret.commit],
      ["web blame", webGet("/bob/pub/blame/{id}/secret.txt"), () => secret.commit],
      ["web raw", webGet("/bob/pub/-/raw/{id}/secret.txt"), () => secret.commit],
      ["web history", webGet("/bob/pub/commits/{id}"), () => secret.commit],
      ["web compare", webGet("/bob/pub/compare/main...{id}"), () => secret.commit],
    ]
    for (const [what, get, id] of routes) {
      const hidden = await masked(get, id())
      const missing = await masked(get, nowhere)
      expect(hidden.status, what).toBeGreaterThanOrEqual(400)
      expect(hidden, what).toEqual(missing)
    }
    // The owner reads them in her repository.
    expect((await A("GET", `/repos/ada/vault/git/blobs/${secret.blob}`)).status).toBe(200)
    expect((await A("GET", `/repos/ada/vault/commits/${secret.commit}`)).status).toBe(200)
  })

  it("a fetch of the secret's id through the public repository is refused", async () => {
    const dir = await initRepo(path.join(work, "fetcher"))
    const r = await runGit(dir, ["fetch", "-q", `${node.url}/bob/pub.git`, secret.commit])
    expect(r.code).not.toBe(0)
    expect((await runGit(dir, ["cat-file", "-e", secret.blob])).code).not.toBe(0)
  })
})

describe("writes naming another repository's objects", () => {
  it("are refused by the refs API, git data writes and releases like missing objects", async () => {
    const refused = async (what: string, method: string, url: string, body: unknown) => {
      const hidden = await B(method, url, body)
      const missing = await B(
        method,
        url,
        JSON.parse(
          JSON.stringify(body)
            .replaceAll(secret.commit, nowhere)
            .replaceAll(secret.tree, nowhere)
            .replaceAll(secret.blob, nowhere),
        ),
      )
      expect(hidden.status, `${what}: ${JSON.stringify(hidden.body)}`).toBe(422)
      expect(JSON.stringify(hidden.body).replaceAll(/[0-9a-f]{40}/g, "<id>"), what).toBe(
        JSON.stringify(missing.body).replaceAll(/[0-9a-f]{40}/g, "<id>"),
      )
    }
    const R = "/repos/bob/pub"
    await refused("create ref", "POST", `${R}/git/refs`, {
      ref: "refs/heads/stolen",
      sha: secret.commit,
    })
    await refused("move ref", "PATCH", `${R}/git/refs/heads/main`, {
      sha: secret.commit,
      force: true,
    })
    await refused("tree entry", "POST", `${R}/git/trees`, {
      tree: [{ path: "s.txt", mode: "100644", type: "blob", sha: secret.blob }],
    })
    await refused("subtree entry", "POST", `${R}/git/trees`, {
      tree: [{ path: "dir", mode: "040000", type: "tree", sha: secret.tree }],
    })
    await refused("base tree", "POST", `${R}/git/trees`, {
      base_tree: secret.tree,
      tree: [{ path: "x.txt", mode: "100644", type: "blob", content: "x\n" }],
    })
    await refused("commit tree", "POST", `${R}/git/commits`, {
      message: "m",
      tree: secret.tree,
      parents: [],
    })
    await refused("commit parent", "POST", `${R}/git/commits`, {
      message: "m",
      tree: pubTree,
      parents: [secret.commit],
    })
    await refused("tag object", "POST", `${R}/git/tags`, {
      tag: "t",
      message: "m",
      object: secret.commit,
      type: "commit",
    })
    await refused("release target", "POST", `${R}/releases`, {
      tag_name: "v1",
      target_commitish: secret.commit,
    })
    expect(await pubRef("main")).toBe(pubMain)
    expect((await B("GET", `${R}/git/ref/heads/stolen`)).status).toBe(404)
  })

  it("the same writes inside the owner's repository, and on objects written to a repository, succeed", async () => {
    const V = "/repos/ada/vault"
    const tree = await A("POST", `${V}/git/trees`, {
      base_tree: secret.tree,
      tree: [{ path: "copy.txt", mode: "100644", type: "blob", sha: secret.blob }],
    })
    expect(tree.status, JSON.stringify(tree.body)).toBe(201)
    const commit = await A("POST", `${V}/git/commits`, {
      message: "more",
      tree: tree.body.sha,
      parents: [secret.commit],
    })
    expect(commit.status).toBe(201)
    // Written to the repository: readable and nameable there before any ref reaches it.
    expect((await A("GET", `${V}/git/trees/${tree.body.sha}`)).status).toBe(200)
    expect((await A("GET", `${V}/git/commits/${commit.body.sha}`)).status).toBe(200)
    expect(
      (await A("POST", `${V}/git/refs`, { ref: "refs/heads/more", sha: commit.body.sha })).status,
    ).toBe(201)
    // ... but not in another repository.
    expect((await B("GET", `/repos/bob/pub/git/commits/${commit.body.sha}`)).status).toBe(404)

    // bob's own blob → tree → commit → ref chain in his repository.
    const blob = await B("POST", "/repos/bob/pub/git/blobs", { content: "bob's\n" })
    expect(blob.status).toBe(201)
    expect((await B("GET", `/repos/bob/pub/git/blobs/${blob.body.sha}`)).status).toBe(200)
    const t = await B("POST", "/repos/bob/pub/git/trees", {
      base_tree: pubTree,
      tree: [{ path: "b.txt", mode: "100644", type: "blob", sha: blob.body.sha }],
    })
    expect(t.status).toBe(201)
    const c = await B("POST", "/repos/bob/pub/git/commits", {
      message: "b",
      tree: t.body.sha,
      parents: [pubMain],
    })
    expect(c.status).toBe(201)
    expect(
      (await B("POST", "/repos/bob/pub/git/refs", { ref: "refs/heads/api", sha: c.body.sha }))
        .status,
    ).toBe(201)
  })
})

describe("pushes naming another repository's objects", () => {
  /** A commit over `tree` with `parent`, and the pack holding only that commit. */
  const commitOnly = (tree: string, parent: string, message: string) => {
    const content = Buffer.from(`tree ${tree}\nparent ${parent}\n${author}\n\n${message}\n`)
    return { id: objectId("commit", content), pack: buildPack([{ kind: "commit", content }]) }
  }

  it("a pack leaving out a tree and parent only the private repository has: refused, ref unchanged", async () => {
    const c = commitOnly(secret.tree, pubMain, "borrowed tree")
    const lines = await receivePack(
      "bob",
      "pub",
      bob.token,
      receivePackRequest([{ old: pubMain, new: c.id, ref: "refs/heads/main" }], c.pack),
    )
    expect(lines[0]).toBe("unpack ok\n")
    expect(lines[1]).toBe(
      `ng refs/heads/main missing necessary objects (${secret.tree} is not in the pack or this repository)\n`,
    )
    const d = commitOnly(pubTree, secret.commit, "borrowed parent")
    const lines2 = await receivePack(
      "bob",
      "pub",
      bob.token,
      receivePackRequest([{ old: ZERO, new: d.id, ref: "refs/heads/grafted" }], d.pack),
    )
    expect(lines2[1]).toMatch(/^ng refs\/heads\/grafted missing necessary objects/)
    expect(await pubRef("main")).toBe(pubMain)
    expect((await B("GET", "/repos/bob/pub/git/ref/heads/grafted")).status).toBe(404)

    // Positive control: the same commit pushed to the private repository by its owner.
    const e = commitOnly(secret.tree, secret.commit, "own tree")
    const ok = await receivePack(
      "ada",
      "vault",
      ada.token,
      receivePackRequest([{ old: ZERO, new: e.id, ref: "refs/heads/own" }], e.pack),
    )
    expect(ok.slice(0, 2)).toEqual(["unpack ok\n", "ok refs/heads/own\n"])
  })

  it("a thin pack whose blob is a delta against the secret: unpacker error, nothing stored", async () => {
    // What `git pack-objects --thin` sends for an edited file when the client believes the
    // server has the old one: a REF_DELTA naming the secret blob as its base.
    const size = Buffer.byteLength(SECRET_FILE)
    const extra = Buffer.from("one more line\n")
    const varint = (n: number) => {
      const out: number[] = []
      while (n >= 0x80) {
        out.push((n & 0x7f) | 0x80)
        n >>>= 7
      }
      out.push(n)
      return out
    }
    const delta = Buffer.from([
      ...varint(size),
      ...varint(size + extra.length),
      // copy the whole base (offset 0, three size bytes), then insert the extra line
      0x80 | 0x10 | 0x20 | 0x40,
      size & 0xff,
      (size >> 8) & 0xff,
      (size >> 16) & 0xff,
      extra.length,
      ...extra,
    ])
    const copied = Buffer.concat([Buffer.from(SECRET_FILE), extra])
    const blobId = objectId("blob", copied)
    const thinPush = (parent: string, parentTree: string | undefined) => {
      const tree = Buffer.concat([Buffer.from("100644 copied.txt\0"), Buffer.from(blobId, "hex")])
      const commit = Buffer.from(
        `tree ${objectId("tree", tree)}\nparent ${parent}\n${author}\n\ncopy ${parentTree}\n`,
      )
      return {
        id: objectId("commit", commit),
        pack: buildPack([
          { kind: "ref-delta", base: secret.blob, delta },
          { kind: "tree", content: tree },
          { kind: "commit", content: commit },
        ]),
      }
    }
    const onPub = thinPush(pubMain, pubTree)
    const lines = await receivePack(
      "bob",
      "pub",
      bob.token,
      receivePackRequest([{ old: ZERO, new: onPub.id, ref: "refs/heads/thin" }], onPub.pack),
    )
    expect(lines[0]).toMatch(new RegExp(`^unpack .*${secret.blob}`))
    expect(lines[1]).toBe("ng refs/heads/thin unpacker error\n")
    expect((await B("GET", "/repos/bob/pub/git/ref/heads/thin")).status).toBe(404)
    expect((await B("GET", `/repos/bob/pub/git/blobs/${blobId}`)).status).toBe(404)

    // The same delta into the private repository, where its base is: accepted.
    const onVault = thinPush(secret.commit, secret.tree)
    const ok = await receivePack(
      "ada",
      "vault",
      ada.token,
      receivePackRequest([{ old: ZERO, new: onVault.id, ref: "refs/heads/thin" }], onVault.pack),
    )
    expect(ok.slice(0, 2)).toEqual(["unpack ok\n", "ok refs/heads/thin\n"])
    expect((await A("GET", `/repos/ada/vault/git/blobs/${blobId}`)).status).toBe(200)
  })

  it("objects of a push whose ref update failed stay nameable in that repository only", async () => {
    const blob = Buffer.from("pushed but not landed\n")
    const blobId = objectId("blob", blob)
    const tree = Buffer.concat([Buffer.from("100644 landed.txt\0"), Buffer.from(blobId, "hex")])
    const treeId = objectId("tree", tree)
    const commit = Buffer.from(`tree ${treeId}\nparent ${pubMain}\n${author}\n\nstale\n`)
    const commitId = objectId("commit", commit)
    const pack = buildPack([
      { kind: "blob", content: blob },
      { kind: "tree", content: tree },
      { kind: "commit", content: commit },
    ])
    // A stale old value: the ref update fails after the objects are stored.
    const lines = await receivePack(
      "bob",
      "pub",
      bob.token,
      receivePackRequest([{ old: nowhere, new: commitId, ref: "refs/heads/main" }], pack),
    )
    expect(lines[1]).toMatch(/^ng refs\/heads\/main /)
    expect(await pubRef("main")).toBe(pubMain)
    expect((await B("GET", `/repos/bob/pub/git/commits/${commitId}`)).status).toBe(200)
    expect(
      (await B("POST", "/repos/bob/pub/git/refs", { ref: "refs/heads/landed", sha: commitId }))
        .status,
    ).toBe(201)
    expect((await A("GET", `/repos/ada/vault/git/commits/${commitId}`)).status).toBe(404)
  })

  it("a clone of the public repository never carries the secret", async () => {
    const dir = path.join(work, "clone")
    await git(work, ["clone", "-q", "--mirror", `${node.url}/bob/pub.git`, dir])
    expect((await runGit(dir, ["cat-file", "-e", secret.blob])).code).not.toBe(0)
    expect((await runGit(dir, ["cat-file", "-e", secret.commit])).code).not.toBe(0)
    expect((await git(dir, ["fsck", "--no-dangling"])).length).toBeGreaterThanOrEqual(0)
    const all = await git(dir, ["log", "--all", "-p", "--format=%H"])
    expect(all).not.toContain("SECRET")
  })
})

describe("the record of objects written to a repository", () => {
  it("survives a restart (RocksDB): a blob written before it can be named after it", async () => {
    let n = await startNode({ storage: "rocksdb" })
    try {
      const u = await makeUser(apiClient(n.url, n.token), "cy", ["repo"])
      const C = () => apiClient(n.url, u.token)
      expect((await C()("POST", "/user/repos", { name: "kept", auto_init: true })).status).toBe(201)
      const blob = await C()("POST", "/repos/cy/kept/git/blobs", { content: "before\n" })
      expect(blob.status).toBe(201)
      await n.close()
      n = await startNode({ storage: "rocksdb", dataDir: n.dataDir })
      const tree = await C()("POST", "/repos/cy/kept/git/trees", {
        tree: [{ path: "b.txt", mode: "100644", type: "blob", sha: blob.body.sha }],
      })
      expect(tree.status, JSON.stringify(tree.body)).toBe(201)
      expect((await C()("GET", `/repos/cy/kept/git/blobs/${blob.body.sha}`)).status).toBe(200)
    } finally {
      await n.close()
    }
  }, 30_000)
})
