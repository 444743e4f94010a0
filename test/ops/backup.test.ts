/**
 * Backup and restore of a busy node, with the real CLI (`guts admin backup|restore|verify`
 * from the build): pushes keep arriving while the backup is taken; the restore lands on a
 * fresh data directory, verifies clean, and a node started on it serves exactly the refs
 * the source had at the backup's height (and the same state digest). A byte changed in a
 * stored object is then reported by `admin verify` with the object's id.
 *
 * Needs the build (`npx tsc -p tsconfig.build.json`).
 */
import { execFile } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import * as zlib from "node:zlib"
import { Effect } from "effect"
import RocksDB from "rocksdb-native"
import { afterAll, describe, expect, it } from "vitest"
import { hashObject } from "../../src/domain/git/GitObject.ts"
import type { ObjectId } from "../../src/domain/git/ObjectId.ts"
import { restoreBackup } from "../../src/layers/backup/Restore.ts"
import { verifyDataDir } from "../../src/layers/backup/Verify.ts"
import { decodeStored, encodeStored, objectKey } from "../../src/layers/ObjectStoreRocks.ts"
import { authUrl, commitAll, git, initRepo, write } from "../support/Git.ts"
import { createRepo, type RunningNode, startNode, tempDir } from "../support/TestNode.ts"

const ROOT = path.resolve(import.meta.dirname, "../..")

const guts = (args: ReadonlyArray<string>) =>
  new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    execFile(
      process.execPath,
      ["dist/programs/main.js", ...args],
      { cwd: ROOT, encoding: "utf8" },
      (err, stdout, stderr) =>
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    )
  })

const stateOf = async (url: string) =>
  (await (await fetch(`${url}/health/state`)).json()) as { height: number; digest: string }

const nodes: RunningNode[] = []
afterAll(async () => {
  for (const n of nodes) await n.close().catch(() => undefined)
})

describe("guts admin backup / restore / verify", () => {
  it("backs up a busy node, restores it, verifies it and serves the same refs", async () => {
    const source = await startNode()
    nodes.push(source)
    await createRepo(source, "busy")
    const remote = authUrl(`${source.url}/admin/busy.git`, source.token)
    const work = await initRepo(path.join(tempDir("backup-work"), "busy"))
    const h0 = (await stateOf(source.url)).height

    // The pusher: one push (one block) at a time, each advancing main and every third one
    // also adding a tag; after push k the source holds `pushed[k]` (k = height - h0).
    const pushed: Array<ReadonlyArray<string>> = [[]]
    let stop = false
    const pusher = (async () => {
      for (let k = 1; !stop; k++) {
        write(work, "file.txt", `version ${k}\n`)
        write(work, `dir/${k}.txt`, `${k}\n`.repeat(k))
        await commitAll(work, `commit ${k}`, k)
        const refspecs = ["HEAD:refs/heads/main"]
        if (k % 3 === 0) {
          await git(work, ["tag", "-a", `v${k}`, "-m", `release ${k}`])
          refspecs.push(`refs/tags/v${k}`)
        }
        await git(work, ["push", "-q", remote, ...refspecs])
        pushed.push(
          (await git(work, ["for-each-ref", "--format=%(objectname) %(refname)", "refs/tags"]))
            .trim()
            .split("\n")
            .filter(Boolean)
            .concat(`${(await git(work, ["rev-parse", "HEAD"])).trim()} refs/heads/main`)
            .sort(),
        )
      }
    })()
    while (pushed.length < 4) await new Promise((r) => setTimeout(r, 50))

    const backupDir = path.join(tempDir("backup"), "b1")
    const backup = await guts([
      "admin",
      "backup",
      "--url",
      source.url,
      "--token",
      source.token,
      "--out",
      backupDir,
    ])
    expect(backup.stderr).toBe("")
    expect(backup.code).toBe(0)
    const pushesDuringBackup = pushed.length
    while (pushed.length < pushesDuringBackup + 2) await new Promise((r) => setTimeout(r, 50))
    stop = true
    await pusher
    const manifest = JSON.parse(fs.readFileSync(path.join(backupDir, "manifest.json"), "utf8"))
    expect(manifest.height).toBeGreaterThan(h0)
    // Pushes went on after the backup: the source moved past it.
    expect((await stateOf(source.url)).height).toBeGreaterThan(manifest.height)

    // A data directory that is not empty is refused, and nothing is written to it.
    const busyDir = tempDir("restore-busy")
    fs.writeFileSync(path.join(busyDir, "keep.txt"), "mine")
    const refused = await Effect.runPromise(Effect.flip(restoreBackup(backupDir, busyDir)))
    expect(refused.message).toContain(`the data directory ${busyDir} is not empty`)
    expect(fs.readdirSync(busyDir)).toEqual(["keep.txt"])

    const restored = path.join(tempDir("restore"), "data")
    const restore = await guts(["admin", "restore", "--from", backupDir, "--data-dir", restored])
    expect(restore.stderr).toBe("")
    expect(restore.code).toBe(0)
    const verify = await Effect.runPromise(verifyDataDir(restored))
    expect(verify).toMatchObject({
      height: manifest.height,
      digest: manifest.digest,
      recorded: { height: manifest.height, digest: manifest.digest },
      problems: [],
    })
    expect(verify.refsChecked).toBe(pushed[manifest.height - h0]!.length)

    const node = await startNode({ dataDir: restored })
    nodes.push(node)
    expect(await stateOf(node.url)).toEqual({ height: manifest.height, digest: manifest.digest })
    const mirror = path.join(tempDir("backup-clone"), "busy.git")
    await git(ROOT, [
      "clone",
      "-q",
      "--mirror",
      authUrl(`${node.url}/admin/busy.git`, node.token),
      mirror,
    ])
    const refs = (await git(mirror, ["for-each-ref", "--format=%(objectname) %(refname)"]))
      .trim()
      .split("\n")
      .sort()
    expect(refs).toEqual(pushed[manifest.height - h0])
    expect(await git(mirror, ["fsck", "--no-progress"])).toBe("")
    await node.close()
    nodes.pop()

    // One stored object's bytes changed on disk: verify names it and exits 1.
    const blob = (
      await git(work, ["rev-parse", `${refs[0]!.split(" ")[0]}:file.txt`])
    ).trim() as ObjectId
    const db = new RocksDB(path.join(restored, "db"), {
      columnFamilies: ["objects", "refs", "meta"],
    }) as RocksDB & { columnFamily(name: string): RocksDB }
    await db.ready()
    const objects = db.columnFamily("objects")
    const stored = decodeStored(blob, (await objects.get(objectKey(blob)))!)
    if (typeof stored === "string") throw new Error(stored)
    const content = zlib.inflateSync(stored.repr.deflated)
    content[0]! ^= 0x01
    const batch = objects.write({ capacity: 1 })
    batch.tryPut(
      objectKey(blob),
      encodeStored({ ...stored, repr: { kind: "whole", deflated: zlib.deflateSync(content) } }),
    )
    await batch.flush()
    batch.destroy()
    await db.close()
    const damaged = await guts(["admin", "verify", "--data-dir", restored])
    expect(damaged.code).toBe(1)
    expect(damaged.stdout).toContain(
      `PROBLEM object ${blob}: content does not hash to its id (expected id ${blob}, content hashes to ${hashObject("blob", content)})`,
    )
    expect(damaged.stdout).toMatch(/1 problem\(s\)\n$/)
  }, 120_000)

  it("streams a backup as a tar archive that restores the same way", async () => {
    const source = nodes[0]!
    const res = await fetch(`${source.url}/api/admin/backup`, {
      method: "POST",
      headers: { authorization: `Bearer ${source.token}`, "content-type": "application/json" },
      body: JSON.stringify({ format: "tar" }),
    })
    expect(res.status).toBe(200)
    expect(res.headers.get("content-type")).toBe("application/x-tar")
    const file = path.join(tempDir("backup-tar"), "b.tar")
    fs.writeFileSync(file, Buffer.from(await res.arrayBuffer()))
    // A tar that tar itself reads, the manifest last.
    const listed = (await tarList(file)).trim().split("\n")
    expect(listed).toEqual(["store.dump", "metadata.db", "admin-token", "manifest.json"])
    const dir = path.join(tempDir("restore-tar"), "data")
    const { manifest } = await Effect.runPromise(restoreBackup(file, dir))
    expect(manifest.digest).toBe((await stateOf(source.url)).digest)
    expect((await Effect.runPromise(verifyDataDir(dir))).problems).toEqual([])
    // Without a site administrator's token there is no backup.
    const anonymous = await fetch(`${source.url}/api/admin/backup`, {
      method: "POST",
      body: JSON.stringify({ format: "tar" }),
    })
    expect(anonymous.status).toBe(401)
  }, 60_000)
})

const tarList = (file: string) =>
  new Promise<string>((resolve, reject) =>
    execFile("tar", ["-tf", file], { encoding: "utf8" }, (err, stdout) =>
      err ? reject(err) : resolve(stdout),
    ),
  )
