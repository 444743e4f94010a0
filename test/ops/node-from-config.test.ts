/**
 * A real `guts node` process (from the build, as `npm start` runs it) configured by a
 * file, environment variables and flags at once: each setting takes the value of the
 * strongest source that gives it.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { describe, expect, it } from "vitest"
import { createRepo, spawnNode, tempDir } from "../support/TestNode.ts"

describe("a node process started from a configuration file", () => {
  it("takes the file's settings, except where GUTS_* variables or flags override them", async () => {
    const dir = tempDir("ops-config-node")
    const file = path.join(dir, "guts.yaml")
    fs.writeFileSync(
      file,
      [
        "# overridden by the --data-dir flag spawnNode passes",
        "data-dir: from-file",
        "# overridden by GUTS_HTTP_PORT and GUTS_METRICS_PORT (ports 1 and 2 need root)",
        "http-port: 1",
        "metrics-port: 2",
        "# taken from the file",
        "storage: memory",
        "public-url: https://git.example.test",
        "log-format: json",
        "",
      ].join("\n"),
    )
    const node = await spawnNode({ extraArgs: ["--config", file], portsFromEnv: true })
    try {
      // Answering on the ports from the environment: env over file.
      expect((await fetch(`${node.url}/health/ready`)).status).toBe(200)
      expect((await fetch(node.metricsUrl)).status).toBe(200)
      // The token is in the flag's data directory, and nothing is under the file's: flag over file.
      expect(node.token).toMatch(/^guts_/)
      expect(fs.existsSync(path.join(dir, "from-file"))).toBe(false)
      // From the file: memory storage (no RocksDB directory), the public URL, JSON logs.
      expect(fs.existsSync(path.join(node.dataDir, "db"))).toBe(false)
      const repo = await createRepo(node, "configured")
      expect(repo.clone_url).toBe("https://git.example.test/admin/configured.git")
      const ready = node
        .output()
        .split("\n")
        .filter((l) => l.startsWith("{"))
        .map((l) => JSON.parse(l) as { message: string; logLevel: string })
        .find((l) => l.message.includes("node ready"))
      expect(ready?.logLevel).toBe("INFO")
    } finally {
      expect(await node.stop("SIGTERM")).toBe(0)
    }
  }, 90_000)
})
