/**
 * A real cluster for end-to-end tests: `guts node` processes on loopback, connected over
 * libp2p, started from the build the way `guts devnet` does. Members 0..n-1 are the
 * validators; members n.. are full nodes (listed under `fullNodes` in the cluster file).
 * Spare keys are listed as full nodes too, without an address, for tests that act as a
 * peer themselves; a member in `startLater` is configured but not started.
 */
import { type ChildProcess, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { Effect } from "effect"
import { generateNodeKey, type NodeKey, writeNodeKey } from "../../src/layers/p2p/NodeKey.ts"
import { freePort, tempDir } from "./TestNode.ts"

export interface ClusterMember {
  readonly index: number
  readonly role: "validator" | "full"
  readonly key: NodeKey
  readonly url: string
  readonly metricsUrl: string
  readonly p2pPort: number
  readonly dataDir: string
  child: ChildProcess | undefined
  log: string
  token: () => string
}

export interface TestCluster {
  readonly nodes: ReadonlyArray<ClusterMember>
  /** Keys listed as full nodes that no process uses (for tests acting as a peer). */
  readonly spareKeys: ReadonlyArray<NodeKey>
  readonly clusterFile: string
  readonly start: (i: number) => Promise<void>
  readonly kill: (i: number, signal?: NodeJS.Signals) => Promise<void>
  readonly stopAll: () => Promise<void>
}

export interface ClusterOptions {
  /** Full nodes after the n validators (default 0). */
  readonly fullNodes?: number
  /** Members configured but not started by startCluster. */
  readonly startLater?: ReadonlyArray<number>
  /** Extra keys listed under `fullNodes` without an address (default 0). */
  readonly spareKeys?: number
}

const root = path.resolve(import.meta.dirname, "../..")

export const startCluster = async (
  n: number,
  options: ClusterOptions = {},
): Promise<TestCluster> => {
  const dir = tempDir("cluster")
  const total = n + (options.fullNodes ?? 0)
  const ports = await Promise.all(
    Array.from({ length: total }, async () => ({
      http: await freePort(),
      metrics: await freePort(),
      p2p: await freePort(),
    })),
  )
  const keys: NodeKey[] = []
  for (let i = 0; i < total; i++) {
    const nodeDir = path.join(dir, `node-${i}`)
    fs.mkdirSync(nodeDir, { recursive: true })
    const key = generateNodeKey()
    await Effect.runPromise(writeNodeKey(path.join(nodeDir, "node.key"), key))
    keys.push(key)
  }
  const entry = (i: number) => ({
    publicKey: keys[i]!.publicKeyHex,
    address: `/ip4/127.0.0.1/tcp/${ports[i]!.p2p}`,
  })
  const spareKeys = Array.from({ length: options.spareKeys ?? 0 }, () => generateNodeKey())
  const validators = Array.from({ length: n }, (_, i) => entry(i))
  const fullNodes = [
    ...Array.from({ length: total - n }, (_, i) => entry(n + i)),
    ...spareKeys.map((k) => ({ publicKey: k.publicKeyHex })),
  ]
  const clusterFile = path.join(dir, "cluster.json")
  fs.writeFileSync(
    clusterFile,
    JSON.stringify(fullNodes.length > 0 ? { validators, fullNodes } : { validators }),
  )
  const nodes: ClusterMember[] = ports.map((p, i) => {
    const dataDir = path.join(dir, `node-${i}`)
    return {
      index: i,
      role: i < n ? "validator" : "full",
      key: keys[i]!,
      url: `http://127.0.0.1:${p.http}`,
      metricsUrl: `http://127.0.0.1:${p.metrics}/metrics`,
      p2pPort: p.p2p,
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
        // Writes without a quorum fail after 10 s instead of 30, to keep tests short; less
        // was seen to fail healthy writes while other test files loaded both cores.
        env: { ...process.env, GUTS_SUBMIT_TIMEOUT_MS: "10000" },
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
    if (!child || child.exitCode !== null || child.signalCode !== null) return
    const exited = new Promise((r) => child.once("exit", r))
    child.kill(signal)
    await exited
  }
  const later = new Set(options.startLater ?? [])
  const first = nodes.map((_, i) => i).filter((i) => !later.has(i))
  for (const i of first) spawnNode(i)
  // A cluster that does not come up is stopped, not left running after the failed test.
  await Promise.all(first.map(waitReady)).catch(async (e) => {
    await Promise.all(nodes.map((_, i) => kill(i)))
    throw e
  })
  return {
    nodes,
    spareKeys,
    clusterFile,
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

/** Whether the member's process is running. */
export const isUp = (m: ClusterMember) =>
  m.child !== undefined && m.child.exitCode === null && m.child.signalCode === null

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

/**
 * The value of a metric on a member (summed over the series whose labels include
 * `labels`); 0 when absent.
 */
export const metricOf = async (
  m: ClusterMember,
  name: string,
  labels: Record<string, string> = {},
) => {
  const text = await (await fetch(m.metricsUrl)).text()
  let sum = 0
  for (const line of text.split("\n")) {
    if (!line.startsWith(name)) continue
    const match = /^([a-zA-Z_:][\w:]*)(\{[^}]*\})?\s+(\S+)$/.exec(line)
    if (!match || match[1] !== name) continue
    const set = match[2] ?? ""
    if (Object.entries(labels).every(([k, v]) => set.includes(`${k}="${v}"`)))
      sum += Number(match[3])
  }
  return sum
}

/** Polls until `check` holds (or fails with what was last seen). */
export const eventually = async <T>(
  what: string,
  probe: () => Promise<T>,
  check: (value: T) => boolean,
  timeoutMs = 60_000,
): Promise<T> => {
  const deadline = Date.now() + timeoutMs
  let last: T | undefined
  while (Date.now() < deadline) {
    last = await probe()
    if (check(last)) return last
    await new Promise((r) => setTimeout(r, 250))
  }
  throw new Error(`never: ${what} (last seen: ${JSON.stringify(last)})`)
}
