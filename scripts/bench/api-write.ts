/**
 * api-write (shared/BENCHMARKS.md): latency of REST writes that go through consensus —
 * create an issue, create a comment, merge a pull request — on a single node and on a
 * 4-validator cluster on loopback (each node its own process from the build, rocksdb,
 * libp2p between validators, the default submit timeout). Requests are sequential, each on
 * a keep-alive connection, and the answer comes after the write is final; on the cluster
 * they rotate over the validators. Single node and cluster alternate request by request so
 * both see the same machine. The pull requests to merge are prepared beforehand: branches
 * pushed with git (one new file each, so every merge is clean) and opened through the API.
 *
 * Prints p50/p99 per operation side by side, then `api-write: cluster p50=… ms (target ≤ 15),
 * p99=… ms (target ≤ 50)` for the worst operation, and writes bench-results/api-write.json.
 * GUTS_BENCH_ISSUES (default 200), GUTS_BENCH_COMMENTS (200), GUTS_BENCH_MERGES (30); each
 * phase stops early after GUTS_BENCH_PHASE_SECONDS (default 30), so that a slow cluster
 * still gives its figures in about three minutes (the table says how many were measured).
 */
import { type ChildProcess, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as http from "node:http"
import * as os from "node:os"
import * as path from "node:path"
import { Effect } from "effect"
import { generateNodeKey, writeNodeKey } from "../../src/layers/p2p/NodeKey.ts"
import {
  build,
  freePort,
  NODE_RUNTIME,
  git,
  log as logLine,
  root,
  sleep,
  timeGit,
  withToken,
  writeResult,
} from "./lib.ts"
import { quantile, request } from "./load.ts"

const ISSUES = Number(process.env.GUTS_BENCH_ISSUES ?? 200)
const COMMENTS = Number(process.env.GUTS_BENCH_COMMENTS ?? 200)
const MERGES = Number(process.env.GUTS_BENCH_MERGES ?? 30)
const PHASE_SECONDS = Number(process.env.GUTS_BENCH_PHASE_SECONDS ?? 30)
const WARMUP = 2
const N = 4
const TARGET_P50 = 15
const TARGET_P99 = 50

const t0 = Date.now()
const log = (msg: string) =>
  logLine(`[${((Date.now() - t0) / 1000).toFixed(0).padStart(3)} s] ${msg}`)

interface GutsNode {
  readonly url: string
  readonly token: string
  readonly agent: http.Agent
  readonly metricsUrl: string
  readonly stop: () => Promise<void>
}

/** `guts node` from the build on free ports (`extraArgs`: cluster settings), once ready. */
const startNode = async (
  dataDir: string,
  extraArgs: ReadonlyArray<string> = [],
  httpPort?: number,
): Promise<GutsNode> => {
  const port = httpPort ?? (await freePort())
  const metricsPort = await freePort()
  fs.mkdirSync(dataDir, { recursive: true })
  const child: ChildProcess = spawn(
    process.execPath,
    [
      ...NODE_RUNTIME.flags,
      "dist/programs/main.js",
      "node",
      "--data-dir",
      dataDir,
      "--storage",
      "rocksdb",
      "--host",
      "127.0.0.1",
      "--http-port",
      String(port),
      "--metrics-port",
      String(metricsPort),
      ...extraArgs,
    ],
    {
      cwd: root,
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, ...NODE_RUNTIME.env },
    },
  )
  let output = ""
  const keep = (d: Buffer) => {
    output = (output + d.toString()).slice(-4000)
  }
  child.stdout!.on("data", keep)
  child.stderr!.on("data", keep)
  const exited = new Promise<void>((r) => child.once("exit", () => r()))
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM")
    await exited
  }
  const url = `http://127.0.0.1:${port}`
  const tokenFile = path.join(dataDir, "admin-token")
  const deadline = Date.now() + 90_000
  for (;;) {
    if (child.exitCode !== null) throw new Error(`node exited (${child.exitCode}):\n${output}`)
    if (Date.now() > deadline) {
      await stop()
      throw new Error(`node ${url} not ready after 90 s:\n${output}`)
    }
    try {
      if ((await fetch(`${url}/health/ready`)).status === 200 && fs.existsSync(tokenFile)) break
    } catch {}
    await sleep(100)
  }
  return {
    url,
    token: fs.readFileSync(tokenFile, "utf8").trim(),
    agent: new http.Agent({ keepAlive: true, maxSockets: 1 }),
    metricsUrl: `http://127.0.0.1:${metricsPort}/metrics`,
    stop,
  }
}

/** N validators, as `guts devnet` starts them: a key each and one cluster file. */
const startCluster = async (dir: string): Promise<GutsNode[]> => {
  const members = await Promise.all(
    Array.from({ length: N }, async (_, i) => ({
      dataDir: path.join(dir, `node-${i}`),
      http: await freePort(),
      p2p: await freePort(),
    })),
  )
  const validators = []
  for (const m of members) {
    fs.mkdirSync(m.dataDir, { recursive: true })
    const key = generateNodeKey()
    await Effect.runPromise(writeNodeKey(path.join(m.dataDir, "node.key"), key))
    validators.push({ publicKey: key.publicKeyHex, address: `/ip4/127.0.0.1/tcp/${m.p2p}` })
  }
  const clusterFile = path.join(dir, "cluster.json")
  fs.writeFileSync(clusterFile, JSON.stringify({ validators }))
  const started = await Promise.allSettled(
    members.map((m) =>
      startNode(m.dataDir, ["--p2p-port", String(m.p2p), "--cluster", clusterFile], m.http),
    ),
  )
  const nodes = started.flatMap((s) => (s.status === "fulfilled" ? [s.value] : []))
  const failed = started.find((s) => s.status === "rejected")
  if (failed) {
    await Promise.all(nodes.map((n) => n.stop()))
    throw (failed as PromiseRejectedResult).reason
  }
  return nodes
}

interface Target {
  readonly name: "single" | "cluster"
  readonly nodes: ReadonlyArray<GutsNode>
}

const REPO = "bench"
const api = (node: GutsNode) => `${node.url}/api/repos/admin/${REPO}`

/** A write through `node` as the administrator; fails unless the status is `expected`. */
const write = async (
  node: GutsNode,
  what: string,
  url: string,
  method: string,
  body: unknown,
  expected: number,
  agent: http.Agent = node.agent,
) => {
  const auth = { authorization: `Bearer ${node.token}`, accept: "application/vnd.github+json" }
  const answer = await request(agent, url, method, auth, body)
  if (answer.status !== expected)
    throw new Error(`${what} via ${node.url}: ${answer.status} ${answer.body.toString()}`)
  return { ms: answer.ms, json: JSON.parse(answer.body.toString()) as Record<string, unknown> }
}

const stateOf = async (node: GutsNode) =>
  (await (await fetch(`${node.url}/health/state`)).json()) as { height: number; digest: string }

/** Waits until every node of the target reports the same state (so all have the setup). */
const converge = async (target: Target) => {
  const deadline = Date.now() + 60_000
  while (Date.now() < deadline) {
    const states = await Promise.all(target.nodes.map(stateOf))
    if (new Set(states.map((s) => `${s.height}:${s.digest}`)).size === 1) return
    await sleep(200)
  }
  throw new Error(`${target.name}: the nodes did not converge`)
}

/** Sum and count of the node's proposal-to-applied histogram (ChainApp's finalization). */
const finalization = async (node: GutsNode) => {
  const text = await (await fetch(node.metricsUrl)).text()
  const value = (name: string) =>
    Number(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, "m").exec(text)?.[1] ?? 0)
  return {
    sum: value("guts_consensus_finalization_latency_seconds_sum"),
    count: value("guts_consensus_finalization_latency_seconds_count"),
  }
}

const MERGE_FILE = (j: number) => `changes/change-${j}.txt`

/**
 * The local repository whose branches become the pull requests: `main` with a README, and
 * `pr-<j>` adding one file each on top of it.
 */
const prepareGitRepo = (dir: string) => {
  fs.mkdirSync(dir, { recursive: true })
  git(dir, ["init", "-q", "-b", "main"])
  fs.writeFileSync(path.join(dir, "README.md"), "# bench\n\nThe api-write benchmark.\n")
  git(dir, ["add", "-A"])
  git(dir, ["commit", "-q", "-m", "initial commit"])
  for (let j = 0; j < MERGES; j++) {
    git(dir, ["checkout", "-q", "-b", `pr-${j}`, "main"])
    fs.mkdirSync(path.join(dir, "changes"), { recursive: true })
    fs.writeFileSync(path.join(dir, MERGE_FILE(j)), `change ${j}\n`.repeat(20))
    git(dir, ["add", "-A"])
    git(dir, ["commit", "-q", "-m", `change ${j}`])
  }
  git(dir, ["checkout", "-q", "main"])
}

/** The repository, its branches, the pull requests to merge, and warm connections. */
const setUp = async (target: Target, gitDir: string) => {
  const first = target.nodes[0]!
  await write(
    first,
    "create repository",
    `${first.url}/api/user/repos`,
    "POST",
    { name: REPO },
    201,
  )
  const branches = Array.from({ length: MERGES }, (_, j) => `pr-${j}`)
  await timeGit(gitDir, [
    "push",
    "-q",
    withToken(`${first.url}/admin/${REPO}.git`, first.token),
    "main",
    ...branches,
  ])
  // Opened concurrently (not measured): they share blocks, so setup stays short.
  const bulk = new http.Agent({ keepAlive: true })
  const pulls = await Promise.all(
    branches.map(async (branch, j) => {
      const made = await write(
        first,
        "open pull request",
        `${api(first)}/pulls`,
        "POST",
        { title: `Change ${j}`, head: branch, base: "main", body: `Adds ${MERGE_FILE(j)}.` },
        201,
        bulk,
      )
      return made.json.number as number
    }),
  )
  bulk.destroy()
  await converge(target)
  // Warm each node's request path (and this client's connection to it).
  for (const node of target.nodes)
    for (let i = 0; i < WARMUP; i++)
      await write(node, "warm-up issue", `${api(node)}/issues`, "POST", { title: "warm-up" }, 201)
  return pulls
}

const summary = (ms: ReadonlyArray<number>) => {
  const s = [...ms].sort((a, b) => a - b)
  return { n: s.length, p50: quantile(s, 0.5), p99: quantile(s, 0.99), max: s[s.length - 1]! }
}

type Op = "create issue" | "create comment" | "merge pull request"

log("building (npm run build)...")
build()
const work = fs.mkdtempSync(path.join(os.tmpdir(), "guts-bench-api-write-"))
log(`starting a single node and a ${N}-validator cluster...`)
const [singleStarted, clusterStarted] = await Promise.allSettled([
  startNode(path.join(work, "single")),
  startCluster(path.join(work, "cluster")),
])
const stopAll = async () => {
  const all = [
    ...(singleStarted.status === "fulfilled" ? [singleStarted.value] : []),
    ...(clusterStarted.status === "fulfilled" ? clusterStarted.value : []),
  ]
  await Promise.all(all.map((n) => n.stop()))
}
try {
  if (singleStarted.status === "rejected") throw singleStarted.reason
  if (clusterStarted.status === "rejected") throw clusterStarted.reason
  const targets: Target[] = [
    { name: "single", nodes: [singleStarted.value] },
    { name: "cluster", nodes: clusterStarted.value },
  ]
  const gitDir = path.join(work, "git")
  prepareGitRepo(gitDir)
  log(`pushing ${MERGES} branches and opening their pull requests...`)
  const pulls = new Map<Target, number[]>(
    await Promise.all(targets.map(async (t) => [t, await setUp(t, gitDir)] as const)),
  )

  const times = new Map<string, number[]>()
  const record = (t: Target, op: Op, ms: number) => {
    const k = `${t.name}/${op}`
    const list = times.get(k) ?? []
    list.push(ms)
    times.set(k, list)
  }
  const issueNumbers = new Map<Target, number[]>(targets.map((t) => [t, []]))
  // Alternate single and cluster request by request; the cluster rotates over validators.
  const phase = (what: string, count: number) => {
    log(`${what} (up to ${count}, at most ${PHASE_SECONDS} s)...`)
    const until = Date.now() + PHASE_SECONDS * 1000
    return (i: number) => {
      if (i >= count) return false
      if (Date.now() < until) return true
      log(`time budget reached after ${i} of ${count}`)
      return false
    }
  }
  const finalizedBefore = await Promise.all(
    targets.map((t) => Promise.all(t.nodes.map(finalization))),
  )
  for (let i = 0, more = phase("creating issues", ISSUES); more(i); i++)
    for (const t of targets) {
      const node = t.nodes[i % t.nodes.length]!
      const made = await write(
        node,
        "create issue",
        `${api(node)}/issues`,
        "POST",
        {
          title: `Issue ${i}: the build fails on a fresh checkout`,
          body: `Steps to reproduce (${i}):\n\n1. clone\n2. build\n3. see the error`,
        },
        201,
      )
      record(t, "create issue", made.ms)
      issueNumbers.get(t)!.push(made.json.number as number)
    }
  for (let i = 0, more = phase("creating comments", COMMENTS); more(i); i++)
    for (const t of targets) {
      const node = t.nodes[i % t.nodes.length]!
      const numbers = issueNumbers.get(t)!
      const number = numbers[i % Math.max(1, numbers.length)]
      if (number === undefined) throw new Error("comments need at least one issue")
      const made = await write(
        node,
        "create comment",
        `${api(node)}/issues/${number}/comments`,
        "POST",
        { body: `Reproduced it here too (${i}); it fails in the same step.` },
        201,
      )
      record(t, "create comment", made.ms)
    }
  for (let j = 0, more = phase("merging pull requests", MERGES); more(j); j++)
    for (const t of targets) {
      const node = t.nodes[j % t.nodes.length]!
      const made = await write(
        node,
        "merge pull request",
        `${api(node)}/pulls/${pulls.get(t)![j]}/merge`,
        "PUT",
        { merge_method: "merge" },
        200,
      )
      record(t, "merge pull request", made.ms)
    }

  const ops: Op[] = ["create issue", "create comment", "merge pull request"]
  const widths = [20, 6, 11, 11, 12, 12, 14]
  const row = (cells: ReadonlyArray<string>) =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  ")
  console.log(
    row([
      "operation",
      "n",
      "single p50",
      "single p99",
      "cluster p50",
      "cluster p99",
      "cluster adds",
    ]),
  )
  const results = ops.map((op) => {
    const single = summary(times.get(`single/${op}`) ?? [])
    const cluster = summary(times.get(`cluster/${op}`) ?? [])
    console.log(
      row([
        op,
        String(cluster.n),
        `${single.p50.toFixed(1)} ms`,
        `${single.p99.toFixed(1)} ms`,
        `${cluster.p50.toFixed(1)} ms`,
        `${cluster.p99.toFixed(1)} ms`,
        `${(cluster.p50 - single.p50).toFixed(1)} ms`,
      ]),
    )
    return { op, single, cluster }
  })
  console.log(
    `(sequential requests; single node vs ${N} validators on loopback, alternating; "cluster adds" compares the p50s; ` +
      `${os.cpus().length} cores, load average ${os.loadavg()[0]!.toFixed(1)} at the end)`,
  )
  // Where the cluster's time goes: from a block's proposal to its application, per node.
  const finalizedAfter = await Promise.all(
    targets.map((t) => Promise.all(t.nodes.map(finalization))),
  )
  const consensus = targets.map((t, ti) => {
    const per = t.nodes.map((_, ni) => {
      const a = finalizedBefore[ti]![ni]!
      const b = finalizedAfter[ti]![ni]!
      return { blocks: b.count - a.count, meanMs: ((b.sum - a.sum) / (b.count - a.count)) * 1000 }
    })
    // A single validator does not go through the consensus engine and records nothing.
    if (per[0]!.blocks > 0)
      console.log(
        `${t.name}: proposal → applied (guts_consensus_finalization_latency) mean ` +
          `${per.map((x) => `${x.meanMs.toFixed(1)} ms`).join(" / ")} over ${per[0]!.blocks} blocks${t.nodes.length > 1 ? " (per validator)" : ""}`,
      )
    return { target: t.name, perNode: per }
  })
  const worstP50 = results.reduce((a, b) => (b.cluster.p50 > a.cluster.p50 ? b : a))
  const worstP99 = results.reduce((a, b) => (b.cluster.p99 > a.cluster.p99 ? b : a))
  const ratio = worstP50.cluster.p50 / worstP50.single.p50
  writeResult("api-write", {
    validators: N,
    counts: { issues: ISSUES, comments: COMMENTS, merges: MERGES },
    results,
    consensus,
    clusterP50: worstP50.cluster.p50,
    clusterP99: worstP99.cluster.p99,
    ratio,
  })
  console.log(
    `api-write: cluster p50=${worstP50.cluster.p50.toFixed(1)} ms (target ≤ ${TARGET_P50}), ` +
      `p99=${worstP99.cluster.p99.toFixed(1)} ms (target ≤ ${TARGET_P99}); ` +
      `worst: ${worstP50.op} (p50), ${worstP99.op} (p99); ratio=${ratio.toFixed(2)} (cluster ÷ single node, p50)`,
  )
} finally {
  await stopAll()
  fs.rmSync(work, { recursive: true, force: true })
}
