/**
 * cluster-push (shared/BENCHMARKS.md, `git-push` on the cluster): `git push` of 10 commits
 * to an existing repository, and of the whole repository to an empty one, to a
 * 4-validator cluster on loopback (each node its own process, over libp2p) and to a single
 * node, interleaved. The cluster's answer waits for finality, so the difference is what
 * replication and consensus add to a push.
 *
 * Prints the figures, then `cluster-push: ratio=<cluster ÷ single node, small push>
 * (target: the cluster adds ≤ 25 ms)` and writes bench-results/cluster-push.json.
 * GUTS_BENCH_QUICK=1: the small repository; GUTS_BENCH_RUNS (default 5).
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process"
import * as fs from "node:fs"
import type { AddressInfo } from "node:net"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import { Effect } from "effect"
import { generateNodeKey, writeNodeKey } from "../../src/layers/p2p/NodeKey.ts"
import {
  createGutsRepo,
  FULL_SPEC,
  fmt,
  type GutsProcess,
  generateRepo,
  log,
  NODE_RUNTIME,
  QUICK_SPEC,
  root,
  startGuts,
  stats,
  timeGit,
  withToken,
  writeResult,
} from "./lib.ts"

const spec = process.env.GUTS_BENCH_QUICK ? QUICK_SPEC : FULL_SPEC
const runs = Number(process.env.GUTS_BENCH_RUNS ?? 5)
const N = 4

const freePort = () =>
  new Promise<number>((resolve) => {
    const s = net.createServer().listen(0, "127.0.0.1", () => {
      const p = (s.address() as AddressInfo).port
      s.close(() => resolve(p))
    })
  })

/** N validators as `guts node --cluster` processes from the build, like `guts devnet`. */
const startCluster = async (dir: string) => {
  execFileSync("npx", ["tsc", "-p", "tsconfig.build.json"], { cwd: root, stdio: "inherit" })
  const nodes = await Promise.all(
    Array.from({ length: N }, async (_, i) => ({
      dataDir: path.join(dir, `node-${i}`),
      http: await freePort(),
      metrics: await freePort(),
      p2p: await freePort(),
    })),
  )
  const validators = []
  for (const node of nodes) {
    fs.mkdirSync(node.dataDir, { recursive: true })
    const key = generateNodeKey()
    await Effect.runPromise(writeNodeKey(path.join(node.dataDir, "node.key"), key))
    validators.push({ publicKey: key.publicKeyHex, address: `/ip4/127.0.0.1/tcp/${node.p2p}` })
  }
  const clusterFile = path.join(dir, "cluster.json")
  fs.writeFileSync(clusterFile, JSON.stringify({ validators }))
  const children: ChildProcess[] = nodes.map((node) =>
    spawn(
      process.execPath,
      [
        ...NODE_RUNTIME.flags,
        "dist/programs/main.js",
        "node",
        "--data-dir",
        node.dataDir,
        "--host",
        "127.0.0.1",
        "--http-port",
        String(node.http),
        "--metrics-port",
        String(node.metrics),
        "--p2p-port",
        String(node.p2p),
        "--cluster",
        clusterFile,
      ],
      {
        cwd: root,
        stdio: ["ignore", "ignore", "inherit"],
        env: { ...process.env, ...NODE_RUNTIME.env, GUTS_LOG_LEVEL: "warning" },
      },
    ),
  )
  const url = (i: number) => `http://127.0.0.1:${nodes[i]!.http}`
  for (const [i, node] of nodes.entries()) {
    const tokenFile = path.join(node.dataDir, "admin-token")
    for (let t = 0; t < 1200 && !fs.existsSync(tokenFile); t++) {
      if (children[i]!.exitCode !== null) break
      await new Promise((r) => setTimeout(r, 100))
    }
    if (!fs.existsSync(tokenFile)) {
      for (const c of children) c.kill("SIGKILL")
      throw new Error(`cluster node ${i} did not start`)
    }
  }
  return {
    url,
    token: (i: number) =>
      fs.readFileSync(path.join(nodes[i]!.dataDir, "admin-token"), "utf8").trim(),
    stop: async () => {
      await Promise.all(
        children.map(
          (c) =>
            new Promise((r) => {
              if (c.exitCode !== null) return r(undefined)
              c.once("exit", r)
              c.kill("SIGTERM")
            }),
        ),
      )
    },
  }
}

const bare = await generateRepo(spec)
log(`load average (1 min) at start: ${os.loadavg()[0]!.toFixed(2)} on ${os.cpus().length} cores`)
const work = fs.mkdtempSync(path.join(os.tmpdir(), "guts-bench-cluster-push-"))
const single: GutsProcess = await startGuts(path.join(work, "single"))
log(`starting a ${N}-validator cluster...`)
const cluster = await startCluster(path.join(work, "cluster")).catch(async (e) => {
  await single.stop()
  throw e
})
let n = 0
const newSingleRepo = async () => {
  const name = `r${n++}`
  await createGutsRepo(single, name)
  return withToken(`${single.url}/admin/${name}.git`, single.token)
}
/** A repository created through node 0; pushes go to node `via`. */
const newClusterRepo = async (via: number) => {
  const name = `r${n++}`
  await createGutsRepo({ ...single, url: cluster.url(0), token: cluster.token(0) }, name)
  return withToken(`${cluster.url(via)}/admin/${name}.git`, cluster.token(via))
}
try {
  const full = { cluster: [] as number[], single: [] as number[] }
  const small = { cluster: [] as number[], single: [] as number[] }
  for (let i = -1; i < runs; i++) {
    const via = (i + N) % N
    const s = await newSingleRepo()
    const c = await newClusterRepo(via)
    const ts = await timeGit(bare, ["push", "-q", s, "main"])
    const tc = await timeGit(bare, ["push", "-q", c, "main"])
    // Small push: the repository at main~10, then the last 10 commits.
    const s2 = await newSingleRepo()
    const c2 = await newClusterRepo(via)
    await timeGit(bare, ["push", "-q", s2, "main~10:refs/heads/main"])
    await timeGit(bare, ["push", "-q", c2, "main~10:refs/heads/main"])
    const ss = await timeGit(bare, ["push", "-q", s2, "main"])
    const sc = await timeGit(bare, ["push", "-q", c2, "main"])
    if (i < 0) continue // warm-up
    full.single.push(ts)
    full.cluster.push(tc)
    small.single.push(ss)
    small.cluster.push(sc)
    log(
      `run ${i + 1}/${runs} (via node ${via}): full single ${ts.toFixed(0)} / cluster ${tc.toFixed(0)} ms; 10 commits single ${ss.toFixed(0)} / cluster ${sc.toFixed(0)} ms`,
    )
  }
  const result = {
    full: { cluster: stats(full.cluster), single: stats(full.single) },
    small: { cluster: stats(small.cluster), single: stats(small.single) },
  }
  const addedSmall = result.small.cluster.median - result.small.single.median
  const ratioSmall = result.small.cluster.median / result.small.single.median
  const ratioFull = result.full.cluster.median / result.full.single.median
  console.log(
    `full push      cluster ${fmt(result.full.cluster)}; single node ${fmt(result.full.single)}`,
  )
  console.log(
    `10-commit push cluster ${fmt(result.small.cluster)}; single node ${fmt(result.small.single)}`,
  )
  console.log(`the cluster adds ${addedSmall.toFixed(0)} ms to the 10-commit push (median)`)
  writeResult("cluster-push", { spec, validators: N, ...result, addedSmall, ratioSmall, ratioFull })
  console.log(`cluster-push (full): ratio=${ratioFull.toFixed(2)}`)
  console.log(
    `cluster-push: ratio=${ratioSmall.toFixed(2)} (target: the cluster adds ≤ 25 ms to the 10-commit push; it adds ${addedSmall.toFixed(0)} ms)`,
  )
} finally {
  await cluster.stop()
  await single.stop()
  fs.rmSync(work, { recursive: true, force: true })
}
