/**
 * A real `guts node` process: started as the README says, stopped with SIGTERM (graceful),
 * started again on the same data directory — and everything pushed is still there.
 */
import * as crypto from "node:crypto"
import * as fs from "node:fs"
import * as path from "node:path"
import { describe, expect, it } from "vitest"
import { authUrl, commitAll, git, initRepo, refsOf, write } from "../support/Git.ts"
import { FLUSH, pkt } from "../support/RawGit.ts"
import { createRepo, spawnNode, tempDir } from "../support/TestNode.ts"

describe("a node process across restarts", () => {
  it("serves identical data after SIGTERM and a restart on the same data directory", async () => {
    const work = tempDir("restart")
    const dataDir = path.join(work, "data")
    const first = await spawnNode({ dataDir })
    const token = first.token
    try {
      await createRepo(first, "kept", { private: true })
      const src = path.join(work, "src")
      await initRepo(src)
      for (let i = 0; i < 5; i++) {
        write(src, `f${i}.txt`, `v${i}\n`)
        await commitAll(src, `c${i}`, i)
      }
      await git(src, ["tag", "-a", "v1", "-m", "one"])
      await git(src, ["push", authUrl(`${first.url}/admin/kept.git`, token), "--all"])
      await git(src, ["push", authUrl(`${first.url}/admin/kept.git`, token), "--tags"])
    } finally {
      const code = await first.stop("SIGTERM")
      expect(code).toBe(0)
    }
    expect(first.output()).toMatch(/ready/)

    const second = await spawnNode({ dataDir })
    try {
      // The administrator is not created twice and its token still works.
      expect(second.token).toBe(token)
      const dst = path.join(work, "clone")
      await git(work, [
        "clone",
        "-q",
        "--mirror",
        authUrl(`${second.url}/admin/kept.git`, token),
        dst,
      ])
      expect(await refsOf(dst)).toEqual(await refsOf(path.join(work, "src")))
      await git(dst, ["fsck", "--full"])
      const repo = await fetch(`${second.url}/api/repos/admin/kept`, {
        headers: { authorization: `Bearer ${token}` },
      })
      expect(repo.status).toBe(200)
      expect(((await repo.json()) as { private: boolean }).private).toBe(true)
      expect(fs.existsSync(path.join(dataDir, "metadata"))).toBe(true)
    } finally {
      expect(await second.stop("SIGTERM")).toBe(0)
    }
  }, 120_000)

  it("takes its ports from GUTS_HTTP_PORT and GUTS_METRICS_PORT", async () => {
    const node = await spawnNode({ extraArgs: ["--storage", "memory"], portsFromEnv: true })
    try {
      const live = await fetch(`${node.url}/health/live`)
      expect(live.status).toBe(200)
      const metrics = await fetch(node.metricsUrl)
      expect(metrics.status).toBe(200)
    } finally {
      await node.stop()
    }
  }, 60_000)

  it("finishes an in-flight clone when told to stop (SIGTERM), then exits cleanly", async () => {
    const work = tempDir("graceful")
    const node = await spawnNode()
    try {
      await createRepo(node, "big")
      const src = path.join(work, "src")
      await initRepo(src)
      write(src, "blob.bin", crypto.randomBytes(8 * 1024 * 1024))
      const head = await commitAll(src, "big", 1)
      await git(src, ["push", authUrl(`${node.url}/admin/big.git`, node.token), "main"])
      // Ask for the pack ourselves, so we know the answer has started before the signal.
      const body = Buffer.concat([
        pkt(`want ${head} side-band-64k ofs-delta\n`),
        FLUSH,
        pkt("done\n"),
      ])
      const res = await fetch(`${node.url}/admin/big.git/git-upload-pack`, { method: "POST", body })
      const reader = res.body!.getReader()
      const first = await reader.read()
      expect(first.done).toBe(false)
      const exited = node.stop("SIGTERM")
      let total = first.value!.length
      let last: Uint8Array = first.value!
      for (;;) {
        const r = await reader.read()
        if (r.done) break
        total += r.value.length
        last = r.value
      }
      expect(total).toBeGreaterThan(8 * 1024 * 1024)
      expect(Buffer.from(last.subarray(last.length - 4)).toString()).toBe("0000") // complete answer
      expect(await exited).toBe(0)
    } finally {
      await node.stop("SIGKILL")
    }
  }, 60_000)
})
