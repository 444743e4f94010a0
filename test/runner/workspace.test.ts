/**
 * A job's workspace: checkout of an exact commit of a private repository from a running
 * node with the real git client (the token never on a command line nor in .git/config),
 * the artifacts convention, and removal.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import {
  CheckoutFailed,
  checkout,
  collectArtifacts,
  createJobDirs,
  packArtifact,
  placeNeededArtifact,
  removeJobDirs,
  resolveWorkingDirectory,
} from "../../src/runner/Workspace.ts"
import { authUrl, commitAll, git, initRepo, write } from "../support/Git.ts"
import { createRepo, type RunningNode, startNode, tempDir } from "../support/TestNode.ts"

let node: RunningNode
let work: string
let first: string
let second: string

beforeAll(async () => {
  node = await startNode({ storage: "rocksdb" })
  work = tempDir("workspace")
  await createRepo(node, "app", { private: true })
  const src = await initRepo(path.join(work, "src"))
  write(src, "README.md", "first\n")
  first = await commitAll(src, "first", 1)
  write(src, "README.md", "second\n")
  write(src, "lib/x.txt", "x\n")
  second = await commitAll(src, "second", 2)
  await git(src, ["push", authUrl(`${node.url}/admin/app.git`, node.token), "main"])
})

afterAll(async () => {
  await node?.close()
  fs.rmSync(work, { recursive: true, force: true })
})

describe("Workspace", () => {
  it("checks out the exact commit asked for, not the branch tip, without keeping the token", async () => {
    const dirs = createJobDirs(path.join(work, "runner"), "job-1")
    const lines: string[] = []
    await checkout(dirs, {
      repoUrl: `${node.url}/admin/app.git`,
      sha: first,
      token: node.token,
      onLine: (l) => lines.push(l),
    })
    expect(fs.readFileSync(path.join(dirs.workspace, "README.md"), "utf8")).toBe("first\n")
    expect(fs.existsSync(path.join(dirs.workspace, "lib"))).toBe(false)
    expect(lines.join("\n")).toContain(first)
    expect(lines.join("\n")).not.toContain(node.token)
    expect(fs.readFileSync(path.join(dirs.workspace, ".git/config"), "utf8")).not.toContain(
      Buffer.from(`guts-runner:${node.token}`).toString("base64"),
    )
    removeJobDirs(dirs)
    expect(fs.existsSync(dirs.root)).toBe(false)
  })

  it("a wrong token or an unknown commit fails the checkout with git's reason and no token in it", async () => {
    const dirs = createJobDirs(path.join(work, "runner"), "job-2")
    const denied = await checkout(dirs, {
      repoUrl: `${node.url}/admin/app.git`,
      sha: second,
      token: "not-a-token",
    }).catch((e) => e)
    expect(denied).toBeInstanceOf(CheckoutFailed)
    expect(String(denied.message)).toMatch(/fetch failed/)
    expect(String(denied.message)).not.toContain("not-a-token")

    const fresh = createJobDirs(path.join(work, "runner"), "job-2")
    expect(fs.readdirSync(fresh.workspace)).toEqual([])
    const missing = await checkout(fresh, {
      repoUrl: `${node.url}/admin/app.git`,
      sha: "0".repeat(40),
      token: node.token,
    }).catch((e) => e)
    expect(missing).toBeInstanceOf(CheckoutFailed)
    removeJobDirs(fresh)
  })

  it("working-directory resolves inside the workspace and is refused outside it", () => {
    const dirs = createJobDirs(path.join(work, "runner"), "job-3")
    expect(resolveWorkingDirectory(dirs)).toBe(dirs.workspace)
    expect(resolveWorkingDirectory(dirs, "lib/sub")).toBe(path.join(dirs.workspace, "lib/sub"))
    expect(() => resolveWorkingDirectory(dirs, "../artifacts")).toThrow(/outside the workspace/)
    expect(() => resolveWorkingDirectory(dirs, "/etc")).toThrow(/outside the workspace/)
    removeJobDirs(dirs)
  })

  it("collects each $GUTS_ARTIFACTS/<name> as an artifact, packs and unpacks it, and explains what it skips", async () => {
    const dirs = createJobDirs(path.join(work, "runner"), "job-4")
    write(dirs.artifacts, "dist/app.js", "console.log(1)\n")
    write(dirs.artifacts, "dist/maps/app.js.map", "{}")
    write(dirs.artifacts, "report.txt", "ok")
    write(dirs.artifacts, "bad name/f", "x")
    fs.mkdirSync(path.join(dirs.artifacts, "empty"))
    fs.symlinkSync("/etc/passwd", path.join(dirs.artifacts, "dist", "passwd"))
    const { artifacts, warnings } = collectArtifacts(dirs)
    expect(artifacts.map((a) => [a.name, a.kind, a.files.map((f) => f.path), a.size])).toEqual([
      ["dist", "directory", ["app.js", "maps/app.js.map"], 17],
      ["report.txt", "file", ["report.txt"], 2],
    ])
    expect(warnings).toHaveLength(3)
    expect(warnings.join("\n")).toMatch(/"bad name" is not allowed/)
    expect(warnings.join("\n")).toMatch(/empty is empty/)
    expect(warnings.join("\n")).toMatch(/symbolic link passwd/)

    // What one job uploads, a job that needs it finds under $GUTS_NEEDS_ARTIFACTS.
    const next = createJobDirs(path.join(work, "runner"), "job-5")
    const tar = await packArtifact(dirs, artifacts[0])
    const copy = path.join(next.temp, "download")
    fs.copyFileSync(tar, copy)
    const placed = await placeNeededArtifact(next, "dist", "application/x-tar", copy)
    expect(placed).toBe(path.join(next.needs, "dist"))
    expect(fs.readFileSync(path.join(placed, "maps/app.js.map"), "utf8")).toBe("{}")
    expect(fs.existsSync(path.join(placed, "passwd"))).toBe(false)
    const file = await packArtifact(dirs, artifacts[1])
    fs.copyFileSync(file, copy)
    await placeNeededArtifact(next, "report.txt", "application/octet-stream", copy)
    expect(fs.readFileSync(path.join(next.needs, "report.txt"), "utf8")).toBe("ok")
    await expect(placeNeededArtifact(next, "..", "application/x-tar", copy)).rejects.toThrow(
      /not allowed/,
    )

    removeJobDirs(dirs)
    removeJobDirs(next)
    expect(fs.existsSync(dirs.root)).toBe(false)
  })
})
