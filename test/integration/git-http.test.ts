/**
 * The real `git` client against a running node (in this process, RocksDB storage):
 * clone, push, fetch, shallow and partial clones, both protocol versions, big files and
 * big trees, thin packs. Each test uses its own repository.
 */
import * as crypto from "node:crypto"
import * as fs from "node:fs"
import * as path from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { authUrl, commitAll, git, initRepo, refsOf, runGit, write } from "../support/Git.ts"
import { createRepo, type RunningNode, startNode, tempDir } from "../support/TestNode.ts"

let node: RunningNode
let work: string

beforeAll(async () => {
  node = await startNode({ storage: "rocksdb" })
  work = tempDir("git-http")
})

afterAll(async () => {
  await node?.close()
})

const remote = (name: string) => authUrl(`${node.url}/admin/${name}.git`, node.token)

/** A history with two branches, a merge, an annotated and a lightweight tag. */
const makeHistory = async (dir: string) => {
  await initRepo(dir)
  write(dir, "README.md", "# demo\n")
  write(dir, "src/a.txt", "a\n".repeat(100))
  await commitAll(dir, "first", 1)
  await git(dir, ["tag", "-a", "v1.0", "-m", "release 1.0"])
  await git(dir, ["checkout", "-q", "-b", "feature"])
  write(dir, "src/b.txt", "b\n")
  await commitAll(dir, "feature work", 2)
  await git(dir, ["checkout", "-q", "main"])
  write(dir, "src/a.txt", `${"a\n".repeat(100)}more\n`)
  await commitAll(dir, "main work", 3)
  await git(dir, ["merge", "-q", "--no-ff", "-m", "merge feature", "feature"])
  await git(dir, ["tag", "light"])
}

describe("git smart HTTP with the real git client", () => {
  it("clones an empty repository", async () => {
    await createRepo(node, "empty")
    const dir = path.join(work, "empty-clone")
    const r = await runGit(work, ["clone", remote("empty"), dir])
    expect(r.code).toBe(0)
    expect(r.stderr).toContain("empty repository")
    expect(fs.existsSync(path.join(dir, ".git"))).toBe(true)
  })

  it("pushes branches and tags, and a clone elsewhere has identical refs and passes fsck", async () => {
    await createRepo(node, "history")
    const src = path.join(work, "history-src")
    await makeHistory(src)
    await git(src, ["push", remote("history"), "--all"])
    await git(src, ["push", remote("history"), "--tags"])
    for (const version of ["0", "2"]) {
      const dst = path.join(work, `history-clone-v${version}`)
      await git(work, [
        "-c",
        `protocol.version=${version}`,
        "clone",
        "--mirror",
        remote("history"),
        dst,
      ])
      expect(await refsOf(dst)).toEqual(await refsOf(src))
      await git(dst, ["fsck", "--full", "--strict"])
      expect((await git(dst, ["rev-parse", "v1.0^{}"])).trim()).toBe(
        (await git(src, ["rev-parse", "v1.0^{}"])).trim(),
      )
    }
    // HEAD points at the default branch.
    const clone = path.join(work, "history-head")
    await git(work, ["clone", remote("history"), clone])
    expect((await git(clone, ["symbolic-ref", "HEAD"])).trim()).toBe("refs/heads/main")
  })

  it("fetches only what is new, over protocol v0 and v2", async () => {
    await createRepo(node, "incremental")
    const src = path.join(work, "inc-src")
    await makeHistory(src)
    await git(src, ["push", remote("incremental"), "main"])
    const clones = [path.join(work, "inc-v0"), path.join(work, "inc-v2")]
    await git(work, ["-c", "protocol.version=0", "clone", remote("incremental"), clones[0]!])
    await git(work, ["-c", "protocol.version=2", "clone", remote("incremental"), clones[1]!])
    for (let i = 0; i < 10; i++) {
      write(src, `new/${i}.txt`, `commit ${i}\n`)
      await commitAll(src, `new ${i}`, 10 + i)
    }
    await git(src, ["push", remote("incremental"), "main"])
    for (const [i, dir] of clones.entries()) {
      const out = await git(dir, ["-c", `protocol.version=${i === 0 ? 0 : 2}`, "fetch", "origin"])
      expect(out).toBe("")
      expect((await git(dir, ["rev-parse", "origin/main"])).trim()).toBe(
        (await git(src, ["rev-parse", "main"])).trim(),
      )
      await git(dir, ["fsck", "--full"])
    }
  })

  it("accepts a force push and deletes branches and tags", async () => {
    await createRepo(node, "force")
    const src = path.join(work, "force-src")
    await makeHistory(src)
    await git(src, ["push", remote("force"), "--all"])
    await git(src, ["push", remote("force"), "--tags"])
    // Rewrite main and force it.
    await git(src, ["reset", "-q", "--hard", "HEAD~1"])
    write(src, "rewritten.txt", "new history\n")
    const rewritten = await commitAll(src, "rewritten", 30)
    const plain = await runGit(src, ["push", remote("force"), "main"])
    expect(plain.code).not.toBe(0)
    expect(plain.stderr).toMatch(/rejected|non-fast-forward|fetch first/)
    await git(src, ["push", "--force", remote("force"), "main"])
    await git(src, ["push", remote("force"), "--delete", "feature"])
    await git(src, ["push", remote("force"), ":refs/tags/light"])
    const ls = await git(src, ["ls-remote", remote("force")])
    expect(ls).toContain(`${rewritten}\trefs/heads/main`)
    expect(ls).not.toContain("refs/heads/feature")
    expect(ls).not.toContain("refs/tags/light")
    expect(ls).toContain("refs/tags/v1.0")
  })

  it("clones with --depth 1 and then unshallows to the full history", async () => {
    await createRepo(node, "shallow")
    const src = path.join(work, "shallow-src")
    await initRepo(src)
    for (let i = 0; i < 15; i++) {
      write(src, "file.txt", `version ${i}\n`)
      await commitAll(src, `v${i}`, i)
    }
    await git(src, ["push", remote("shallow"), "main"])
    for (const version of ["0", "2"]) {
      const dst = path.join(work, `shallow-v${version}`)
      await git(work, [
        "-c",
        `protocol.version=${version}`,
        "clone",
        "--depth",
        "1",
        remote("shallow"),
        dst,
      ])
      expect((await git(dst, ["rev-list", "--count", "HEAD"])).trim()).toBe("1")
      expect(fs.existsSync(path.join(dst, ".git", "shallow"))).toBe(true)
      await git(dst, ["-c", `protocol.version=${version}`, "fetch", "--unshallow"])
      expect((await git(dst, ["rev-list", "--count", "HEAD"])).trim()).toBe("15")
      expect(fs.existsSync(path.join(dst, ".git", "shallow"))).toBe(false)
      await git(dst, ["fsck", "--full"])
    }
  })

  it("serves a blob:none partial clone whose checkout fetches blobs lazily", async () => {
    await createRepo(node, "partial")
    const src = path.join(work, "partial-src")
    await initRepo(src)
    write(src, "a.txt", "alpha\n")
    write(src, "dir/b.txt", "beta\n")
    await commitAll(src, "one", 1)
    write(src, "a.txt", "alpha 2\n")
    await commitAll(src, "two", 2)
    await git(src, ["push", remote("partial"), "main"])
    const dst = path.join(work, "partial-clone")
    await git(work, ["clone", "--filter=blob:none", "--no-checkout", remote("partial"), dst])
    // No blob is present before checkout.
    const missing = await git(dst, ["rev-list", "--objects", "--all", "--missing=print"])
    expect(missing.split("\n").filter((l) => l.startsWith("?")).length).toBeGreaterThanOrEqual(2)
    await git(dst, ["checkout", "-q", "main"])
    expect(fs.readFileSync(path.join(dst, "a.txt"), "utf8")).toBe("alpha 2\n")
    expect(fs.readFileSync(path.join(dst, "dir/b.txt"), "utf8")).toBe("beta\n")
  })

  it("round-trips a 20 MB binary file and a 5,000-file tree", async () => {
    await createRepo(node, "big")
    const src = path.join(work, "big-src")
    await initRepo(src)
    const binary = crypto.randomBytes(20 * 1024 * 1024)
    write(src, "blob.bin", binary)
    for (let i = 0; i < 5000; i++) write(src, `tree/d${i % 50}/f${i}.txt`, `file ${i}\n`)
    await commitAll(src, "big", 1)
    await git(src, ["push", remote("big"), "main"])
    const dst = path.join(work, "big-clone")
    await git(work, ["clone", remote("big"), dst])
    expect(
      crypto
        .createHash("sha256")
        .update(fs.readFileSync(path.join(dst, "blob.bin")))
        .digest("hex"),
    ).toBe(crypto.createHash("sha256").update(binary).digest("hex"))
    const files = (await git(dst, ["ls-files"])).trim().split("\n")
    expect(files.length).toBe(5001)
    await git(dst, ["fsck", "--full"])
  })

  it("accepts a thin pack whose deltas are against objects the server already has", async () => {
    await createRepo(node, "thin")
    const src = path.join(work, "thin-src")
    await initRepo(src)
    const lines = Array.from({ length: 4000 }, (_, i) => `line ${i} of a large text file\n`).join(
      "",
    )
    write(src, "large.txt", lines)
    await commitAll(src, "base", 1)
    await git(src, ["push", remote("thin"), "main"])
    write(src, "large.txt", `${lines}one more line\n`)
    await commitAll(src, "small change", 2)
    const thinBases = async () =>
      Number(
        /guts_git_thin_bases_total (\d+)/.exec(await (await fetch(node.metricsUrl)).text())?.[1] ??
          0,
      )
    const before = await thinBases()
    const push = await runGit(src, ["push", "--thin", "-v", remote("thin"), "main"])
    expect(push.code).toBe(0)
    // The pack git sent left its delta base out: the server took it from its store.
    expect(await thinBases()).toBeGreaterThan(before)
    const dst = path.join(work, "thin-clone")
    await git(work, ["clone", remote("thin"), dst])
    expect(fs.readFileSync(path.join(dst, "large.txt"), "utf8")).toBe(`${lines}one more line\n`)
    await git(dst, ["fsck", "--full"])
  })

  it("follows annotated tags into fetched history (include-tag) and honours --shallow-since and --shallow-exclude", async () => {
    await createRepo(node, "tags")
    const src = path.join(work, "tags-src")
    await initRepo(src)
    for (let i = 0; i < 6; i++) {
      write(src, "f.txt", `v${i}\n`)
      await commitAll(src, `c${i}`, i * 600) // ten minutes apart
    }
    await git(src, ["tag", "-a", "old", "-m", "old", "HEAD~4"])
    await git(src, ["push", remote("tags"), "main"])
    const dst = path.join(work, "tags-clone")
    await git(work, ["clone", "-q", remote("tags"), dst])
    // Tags pushed after the clone, one on a new commit: a plain fetch (no --tags) follows
    // both, since they point into history the client has or is fetching (include-tag).
    write(src, "f.txt", "v6\n")
    await commitAll(src, "c6", 3600)
    await git(src, ["tag", "-a", "new", "-m", "new"])
    await git(src, ["push", remote("tags"), "main", "new", "old"])
    await git(dst, ["fetch", "-q", "origin"])
    expect((await git(dst, ["tag"])).trim().split("\n")).toEqual(["new", "old"])
    for (const version of ["0", "2"]) {
      const since = path.join(work, `since-v${version}`)
      // Commits at 00:00, 00:10, ... 00:50 and 01:00: since 00:25 keeps the last four.
      await git(work, [
        "-c",
        `protocol.version=${version}`,
        "clone",
        "-q",
        "--shallow-since=2026-01-01T00:25:00Z",
        remote("tags"),
        since,
      ])
      expect((await git(since, ["rev-list", "--count", "HEAD"])).trim()).toBe("4")
      const excl = path.join(work, `exclude-v${version}`)
      await git(work, [
        "-c",
        `protocol.version=${version}`,
        "clone",
        "-q",
        "--shallow-exclude=old",
        remote("tags"),
        excl,
      ])
      expect((await git(excl, ["rev-list", "--count", "HEAD"])).trim()).toBe("5")
    }
  })
})
