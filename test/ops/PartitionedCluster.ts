/**
 * A cluster of `guts node` processes whose network the test controls: every validator
 * reaches every other one through a TCP relay owned by the test, one relay per ordered
 * pair (each node has its own cluster file naming the relays as its peers' addresses).
 * `isolate(i)` cuts every connection to and from node i and refuses new ones — a network
 * partition, with the process still running and serving HTTP; `heal()` lets them through
 * again. Otherwise it is test/support/Cluster.ts: same flags, same 5 s submit timeout.
 */
import { type ChildProcess, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as net from "node:net"
import * as path from "node:path"
import { Effect } from "effect"
import { generateNodeKey, writeNodeKey } from "../../src/layers/p2p/NodeKey.ts"
import { freePort, tempDir } from "../support/TestNode.ts"

export interface PartitionMember {
  readonly index: number
  readonly url: string
  readonly dataDir: string
  child: ChildProcess | undefined
  log: string
  readonly token: () => string
}

interface Relay {
  readonly server: net.Server
  readonly sockets: Set<net.Socket>
  cut: boolean
}

const root = path.resolve(import.meta.dirname, "../..")

const startRelay = (listenPort: number, targetPort: number) =>
  new Promise<Relay>((resolve, reject) => {
    const relay: Relay = {
      server: undefined as unknown as net.Server,
      sockets: new Set(),
      cut: false,
    }
    const server = net.createServer((client) => {
      if (relay.cut) return client.destroy()
      const upstream = net.connect(targetPort, "127.0.0.1")
      for (const s of [client, upstream]) {
        relay.sockets.add(s)
        s.on("close", () => relay.sockets.delete(s))
        s.on("error", () => undefined)
      }
      client.pipe(upstream)
      upstream.pipe(client)
      client.on("close", () => upstream.destroy())
      upstream.on("close", () => client.destroy())
    })
    ;(relay as { server: net.Server }).server = server
    server.once("error", reject)
    server.listen(listenPort, "127.0.0.1", () => resolve(relay))
  })

export const startPartitionedCluster = async (n: number) => {
  const dir = tempDir("partition")
  const ports = await Promise.all(
    Array.from({ length: n }, async () => ({
      http: await freePort(),
      metrics: await freePort(),
      p2p: await freePort(),
    })),
  )
  const keys = Array.from({ length: n }, () => generateNodeKey())
  const relays = new Map<string, Relay>()
  for (let i = 0; i < n; i++)
    for (let j = 0; j < n; j++)
      if (i !== j) relays.set(`${i}>${j}`, await startRelay(await freePort(), ports[j]!.p2p))
  const members: PartitionMember[] = []
  for (let i = 0; i < n; i++) {
    const dataDir = path.join(dir, `node-${i}`)
    fs.mkdirSync(dataDir, { recursive: true })
    await Effect.runPromise(writeNodeKey(path.join(dataDir, "node.key"), keys[i]!))
    const validators = keys.map((k, j) => ({
      publicKey: k.publicKeyHex,
      address: `/ip4/127.0.0.1/tcp/${
        j === i
          ? ports[i]!.p2p
          : (relays.get(`${i}>${j}`)!.server.address() as net.AddressInfo).port
      }`,
    }))
    fs.writeFileSync(path.join(dataDir, "cluster.json"), JSON.stringify({ validators }))
    members.push({
      index: i,
      url: `http://127.0.0.1:${ports[i]!.http}`,
      dataDir,
      child: undefined,
      log: "",
      token: () => fs.readFileSync(path.join(dataDir, "admin-token"), "utf8").trim(),
    })
  }

  const spawnMember = (i: number) => {
    const p = ports[i]!
    const m = members[i]!
    const child = spawn(
      process.execPath,
      [
        "--enable-source-maps",
        "dist/programs/main.js",
        "node",
        "--data-dir",
        m.dataDir,
        "--host",
        "127.0.0.1",
        "--http-port",
        String(p.http),
        "--metrics-port",
        String(p.metrics),
        "--p2p-port",
        String(p.p2p),
        "--cluster",
        path.join(m.dataDir, "cluster.json"),
      ],
      {
        cwd: root,
        stdio: ["ignore", "pipe", "pipe"],
        env: { ...process.env, GUTS_SUBMIT_TIMEOUT_MS: "5000" },
      },
    )
    child.stdout!.on("data", (d) => (m.log += d))
    child.stderr!.on("data", (d) => (m.log += d))
    m.child = child
  }
  const waitReady = async (i: number) => {
    const m = members[i]!
    const deadline = Date.now() + 90_000
    while (Date.now() < deadline) {
      try {
        if (
          (await fetch(`${m.url}/health/ready`)).status === 200 &&
          fs.existsSync(path.join(m.dataDir, "admin-token"))
        )
          return
      } catch {}
      await new Promise((r) => setTimeout(r, 200))
    }
    throw new Error(`node ${i} did not become ready:\n${m.log.slice(-3000)}`)
  }
  const setCut = (i: number, cut: boolean) => {
    for (const [pair, relay] of relays) {
      const [from, to] = pair.split(">").map(Number)
      if (from !== i && to !== i) continue
      relay.cut = cut
      if (cut) for (const s of relay.sockets) s.destroy()
    }
  }
  const kill = async (i: number, signal: NodeJS.Signals = "SIGKILL") => {
    const child = members[i]!.child
    if (!child || child.exitCode !== null || child.signalCode !== null) return
    const exited = new Promise((r) => child.once("exit", r))
    child.kill(signal)
    await exited
  }
  for (let i = 0; i < n; i++) spawnMember(i)
  await Promise.all(members.map((_, i) => waitReady(i)))
  return {
    members,
    isolate: (i: number) => setCut(i, true),
    heal: () => {
      for (const relay of relays.values()) relay.cut = false
    },
    kill,
    start: async (i: number) => {
      spawnMember(i)
      await waitReady(i)
    },
    stopAll: async () => {
      await Promise.all(members.map((_, i) => kill(i, "SIGTERM")))
      for (const relay of relays.values()) {
        for (const s of relay.sockets) s.destroy()
        relay.server.close()
      }
    },
  }
}

export type PartitionedCluster = Awaited<ReturnType<typeof startPartitionedCluster>>
