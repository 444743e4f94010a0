/**
 * A real cluster for end-to-end tests: N `guts node` processes on loopback, each a
 * validator, connected over libp2p, started from the build the way `guts devnet` does.
 */
import { type ChildProcess, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { Effect } from "effect"
import { generateNodeKey, writeNodeKey } from "../../src/layers/p2p/NodeKey.ts"
import { freePort, tempDir } from "./TestNode.ts"

export interface ClusterMember {
  readonly index: number
  readonly url: string
  readonly metricsUrl: string
  readonly dataDir: string
  child: ChildProcess | undefined
  log: string
  token: () => string
}

export interface TestCluster {
  readonly nodes: ReadonlyArray<ClusterMember>
  readonly start: (i: number) => Promise<void>
  readonly kill: (i: number, signal?: NodeJS.Signals) => Promise<void>
  readonly stopAll: () => Promise<void>
}

const root = path.resolve(import.meta.dirname, "../..")

export const startCluster = async (n: number): Promise<TestCluster> => {
  const dir = tempDir("cluster")
  const ports = await Promise.all(
    Array.from({ length: n }, async () => ({
      http: await freePort(),
      metrics: await freePort(),
      p2p: await freePort(),
    })),
  )
  const validators = []
  for (let i = 0; i < n; i++) {
    const nodeDir = path.join(dir, `node-${i}`)
    fs.mkdirSync(nodeDir, { recursive: true })
    const key = generateNodeKey()
    await Effect.runPromise(writeNodeKey(path.join(nodeDir, "node.key"), key))
    validators.push({ publicKey: key.publicKeyHex, address: `/ip4/127.0.0.1/tcp/${ports[i]!.p2p}` })
  }
  const clusterFile = path.join(dir, "cluster.json")
  fs.writeFileSync(clusterFile, JSON.stringify({ validators }))
  const nodes: ClusterMember[] = ports.map((p, i) => {
    const dataDir = path.join(dir, `node-${i}`)
    return {
      index: i,
      url: `http://127.0.0.1:${p.http}`,
      metricsUrl: `http://127.0.0.1:${p.metrics}/metrics`,
      dataDir,
      child: undefined,
      log: "",
      token: () => fs.readFileSync(path.join(dataDir, "admin-token"), "utf8").trim(),
    }
  })
  const spawnNode = (i: number) => {
    const p = ports[i]!
    const node = nodes[i]!
    const child = spawn(
      process.execPath,
      [
        "--enable-source-maps",
        "dist/programs/main.js",
        "node",
        "--data-dir",
        node.dataDir,
        "--host",
        "127.0.0.1",
        "--http-port",
        String(p.http),
        "--metrics-port",
        String(p.metrics),
        "--p2p-port",
        String(p.p2p),
        "--cluster",
        clusterFile,
      ],
      {
        cwd: root,
        stdio: ["ignore", "pipe", "pipe"],
        // Writes without a quorum fail after 5 s instead of 30, to keep tests short.
        env: { ...process.env, GUTS_SUBMIT_TIMEOUT_MS: "5000" },
      },
    )
    child.stdout!.on("data", (d) => (node.log += d))
    child.stderr!.on("data", (d) => (node.log += d))
    node.child = child
  }
  const waitReady = async (i: number) => {
    const node = nodes[i]!
    const deadline = Date.now() + 60_000
    while (Date.now() < deadline) {
      try {
        if (
          (await fetch(`${node.url}/health/ready`)).status === 200 &&
          fs.existsSync(path.join(node.dataDir, "admin-token"))
        )
          return
      } catch {}
      await new Promise((r) => setTimeout(r, 200))
    }
    throw new Error(`node ${i} did not become ready:\n${node.log.slice(-3000)}`)
  }
  const kill = async (i: number, signal: NodeJS.Signals = "SIGKILL") => {
    const child = nodes[i]!.child
    if (!child || child.exitCode !== null) return
    const exited = new Promise((r) => child.once("exit", r))
    child.kill(signal)
    await exited
  }
  for (let i = 0; i < n; i++) spawnNode(i)
  await Promise.all(nodes.map((_, i) => waitReady(i)))
  return {
    nodes,
    start: async (i) => {
      spawnNode(i)
      await waitReady(i)
    },
    kill,
    stopAll: async () => {
      await Promise.all(nodes.map((_, i) => kill(i, "SIGTERM")))
    },
  }
}

export const stateOf = async (url: string) =>
  (await (await fetch(`${url}/health/state`)).json()) as { height: number; digest: string }

/** Waits until every given node reports the same state digest at a height ≥ minHeight. */
export const converged = async (
  urls: ReadonlyArray<string>,
  minHeight: number,
  timeoutMs = 30_000,
) => {
  const deadline = Date.now() + timeoutMs
  let last: Array<{ height: number; digest: string }> = []
  while (Date.now() < deadline) {
    last = await Promise.all(urls.map(stateOf))
    if (
      last.every((s) => s.height >= minHeight) &&
      new Set(last.map((s) => `${s.height}:${s.digest}`)).size === 1
    )
      return last[0]!
    await new Promise((r) => setTimeout(r, 250))
  }
  throw new Error(`nodes did not converge: ${JSON.stringify(last)}`)
}
