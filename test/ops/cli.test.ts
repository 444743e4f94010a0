/**
 * The `guts` command line as an operator runs it (from the build, as `npm start` and the
 * other process tests run it): `guts node --check-config` and the refusal of an invalid
 * configuration, and `guts status` against a ready node and one that is not.
 */
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { Effect } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { fetchStatus, formatStatus } from "../../src/programs/status.ts"
import { type RunningNode, startNode, tempDir } from "../support/TestNode.ts"
import { startValidator } from "./OpsNode.ts"

const root = path.resolve(import.meta.dirname, "../..")

/** Runs `guts ...args` from the build; resolves with the exit code and output. */
const guts = (args: ReadonlyArray<string>, env: Record<string, string> = {}) =>
  new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
    const clean = Object.fromEntries(
      Object.entries(process.env).filter(([k]) => !k.startsWith("GUTS_")),
    )
    const child = spawn(process.execPath, ["dist/programs/main.js", ...args], {
      cwd: root,
      env: { ...clean, ...env },
      stdio: ["ignore", "pipe", "pipe"],
    })
    let stdout = ""
    let stderr = ""
    child.stdout.on("data", (d) => (stdout += d))
    child.stderr.on("data", (d) => (stderr += d))
    child.once("error", reject)
    child.once("exit", (code) => resolve({ code, stdout, stderr }))
  })

describe("guts node --check-config", () => {
  it("prints every setting with the value and source that won, and exits 0", async () => {
    const dir = tempDir("ops-cli")
    const file = path.join(dir, "guts.yaml")
    fs.writeFileSync(file, "http-port: 7001\nmetrics-port: 7101\nstorage: memory\ndata-dir: data\n")
    const r = await guts(
      ["node", "--check-config", "--http-port", "7003", "--log-level", "debug"],
      {
        GUTS_CONFIG: file,
        GUTS_HTTP_PORT: "7002",
        GUTS_METRICS_PORT: "7102",
      },
    )
    expect(r.stderr).toBe("")
    expect(r.code).toBe(0)
    expect(r.stdout).toMatch(/^http-port +7003 +flag --http-port$/m)
    expect(r.stdout).toMatch(/^metrics-port +7102 +env GUTS_METRICS_PORT$/m)
    expect(r.stdout).toMatch(new RegExp(`^storage +memory +file ${file}:3$`, "m"))
    expect(r.stdout).toMatch(
      new RegExp(`^data-dir +${path.join(dir, "data")} +file ${file}:4$`, "m"),
    )
    expect(r.stdout).toMatch(/^log-level +debug +flag --log-level$/m)
    expect(r.stdout).toMatch(/^p2p-port +9000 +default$/m)
  })

  it("refuses an invalid configuration with every problem and exit status 2", async () => {
    const r = await guts(["node", "--storage", "disk"], {
      GUTS_HTTP_PORT: "abc",
      GUTS_CONFIG: "/nonexistent/guts.yaml",
    })
    expect(r.code).toBe(2)
    expect(r.stdout).toBe("")
    expect(r.stderr).toContain("GUTS_HTTP_PORT=abc: http-port must be an integer 0–65535")
    expect(r.stderr).toContain("--storage disk: storage must be one of rocksdb, memory")
    expect(r.stderr).toContain(
      "GUTS_CONFIG=/nonexistent/guts.yaml: cannot read the configuration file",
    )
  })
})

describe("guts status", () => {
  let node: RunningNode
  beforeAll(async () => {
    node = await startNode({ storage: "memory" })
  })
  afterAll(async () => {
    await node?.close()
  })

  it("reads version, readiness, height and storage from a ready node", async () => {
    const status = await Effect.runPromise(fetchStatus(node.url))
    expect(status).toMatchObject({
      url: node.url,
      ready: true,
      started: true,
      lag: "single validator",
      peers: "single validator",
      storage: { status: "ok" },
      problems: [],
    })
    expect(status.version).toMatch(/^\d+\.\d+\.\d+/)
    expect(status.height).toBeGreaterThanOrEqual(1)
    expect(status.digest).toMatch(/^[0-9a-f]{64}$/)
    const text = formatStatus(status)
    expect(text).toMatch(/^status +ready$/m)
    expect(text).toMatch(
      new RegExp(`^height +${status.height} \\(state ${status.digest!.slice(0, 16)}\\)$`, "m"),
    )
    expect(text).toMatch(/^storage +ok, [\d.]+ [KMGT]?i?B free$/m)
  })

  it("says why a node is not ready, as text and as JSON with exit status 1", async () => {
    const validator = await startValidator(4)
    try {
      const text = formatStatus(await Effect.runPromise(fetchStatus(validator.url)))
      expect(text).toMatch(/^status +NOT READY: .*0 peer\(s\) connected, 2 required/m)
      expect(text).toMatch(/^peers +0 connected of 3 other validator\(s\), 2 required$/m)
      expect(text).toMatch(/^startup +in progress$/m)
      const r = await guts(["status", "--url", validator.url, "--json"])
      expect(r.code).toBe(1)
      const json = JSON.parse(r.stdout) as { ready: boolean; problems: string[]; peers: unknown }
      expect(json.ready).toBe(false)
      expect(json.problems).toContain("0 peer(s) connected, 2 required (ready-min-peers quorum)")
      expect(json.peers).toMatchObject({ connected: 0, required: 2, validators: 4 })
    } finally {
      await validator.close()
    }
  })

  it("fails naming the URL when nothing answers there", async () => {
    const result = await Effect.runPromise(Effect.either(fetchStatus("http://127.0.0.1:9")))
    expect(result._tag).toBe("Left")
    if (result._tag === "Left") {
      expect(result.left._tag).toBe("NodeUnreachable")
      expect(result.left.message).toContain("cannot read the status of http://127.0.0.1:9")
    }
  })
})
