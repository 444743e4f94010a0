/**
 * api-read (shared/BENCHMARKS.md): `GET /api/repos/{owner}/{repo}` and
 * `GET /api/repos/{owner}/{repo}/issues?per_page=30` under closed-loop load (32 keep-alive
 * connections, scripts/bench/load.ts) against a node started from the build (rocksdb, its
 * own process), side by side with the reference: a bare node:http server, in its own
 * process, answering the bytes the node answered (body and headers, fetched once) on the
 * same paths. Rounds alternate between the two so both see the same machine.
 *
 * Rate limits are off on the node (`--rate-limit-* 0`): the load sends far more requests
 * than an hourly budget allows, and the load is anonymous, as the reference is.
 *
 * When the node misses a target, it runs once more under `--cpu-prof` for one round of each
 * route and the top self-time functions (mapped to src/ through the build's source maps)
 * are printed; GUTS_BENCH_PROFILE=1 always profiles, =0 never.
 *
 * Prints a table, then `api-read: ratio=<node ÷ reference req/s> (target ≥ 0.5),
 * p99=<ms> (target ≤ 5)` for the worse route, and writes bench-results/api-read.json.
 * GUTS_BENCH_SECONDS (default 10): measured seconds per route and server, split into
 * GUTS_BENCH_ROUNDS (default 5) alternating rounds; GUTS_BENCH_CONNECTIONS (default 32).
 */
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as http from "node:http"
import { SourceMap, type SourceMapPayload } from "node:module"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { build, log, root, startBenchNode, type BenchNode, writeResult } from "./lib.ts"
import { type LoadResult, type LoadSummary, request, runLoad, summarize } from "./load.ts"

const seconds = Number(process.env.GUTS_BENCH_SECONDS ?? 10)
const rounds = Math.max(1, Number(process.env.GUTS_BENCH_ROUNDS ?? 5))
const connections = Number(process.env.GUTS_BENCH_CONNECTIONS ?? 32)
const profileMode = process.env.GUTS_BENCH_PROFILE ?? "auto"
const ISSUES = 35
const TARGET_RATIO = 0.5
const TARGET_P99 = 5

interface Recorded {
  readonly path: string
  readonly status: number
  readonly headers: Record<string, string>
  readonly body: string
}

// Per-connection and per-message headers that node:http writes itself.
const OWN_HEADERS = new Set(["date", "connection", "keep-alive", "transfer-encoding"])

/**
 * The reference: a bare node:http server in its own process answering each recorded path
 * with the recorded status, headers and body, the way the node keeps connections alive.
 */
const startReference = async (dir: string, answers: ReadonlyArray<Recorded>) => {
  const file = path.join(dir, "reference.json")
  fs.writeFileSync(file, JSON.stringify(answers))
  const code = `
    const http = require("node:http")
    const fs = require("node:fs")
    const answers = new Map()
    for (const a of JSON.parse(fs.readFileSync(process.argv[1], "utf8")))
      answers.set(a.path, { status: a.status, headers: a.headers, body: Buffer.from(a.body) })
    const server = http.createServer({ keepAliveTimeout: 5000 }, (req, res) => {
      const a = answers.get(req.url)
      if (a === undefined) { res.writeHead(404); res.end(); return }
      res.writeHead(a.status, a.headers)
      res.end(a.body)
    })
    server.listen(0, "127.0.0.1", () => process.stdout.write(server.address().port + "\\n"))
    process.on("SIGTERM", () => process.exit(0))
  `
  const child = spawn(process.execPath, ["-e", code, file], {
    stdio: ["ignore", "pipe", "inherit"],
  })
  const port = await new Promise<number>((resolve, reject) => {
    let out = ""
    child.stdout!.on("data", (d) => {
      out += d
      if (out.includes("\n")) resolve(Number(out.trim()))
    })
    child.once("exit", (c) => reject(new Error(`reference server exited (${c})`)))
  })
  return {
    url: `http://127.0.0.1:${port}`,
    stop: async () => {
      if (child.exitCode !== null) return
      const exited = new Promise((r) => child.once("exit", r))
      child.kill("SIGTERM")
      await exited
    },
  }
}

// ---- profile summary -----------------------------------------------------------------

interface ProfileNode {
  readonly id: number
  readonly callFrame: {
    readonly functionName: string
    readonly url: string
    readonly lineNumber: number
    readonly columnNumber: number
  }
  readonly children?: ReadonlyArray<number>
}

interface CpuProfile {
  readonly nodes: ReadonlyArray<ProfileNode>
  /** Microseconds on the monotonic clock, the one process.hrtime reads. */
  readonly startTime: number
  readonly samples: ReadonlyArray<number>
  readonly timeDeltas: ReadonlyArray<number>
}

const sourceMaps = new Map<string, SourceMap | null>()

/** `src/…:line` for a frame in the build (through its source map), else a short location. */
const locate = (frame: ProfileNode["callFrame"]) => {
  if (frame.url === "") return ""
  let file = frame.url
  if (file.startsWith("file://")) file = fileURLToPath(file)
  if (file.startsWith(path.join(root, "dist"))) {
    let map = sourceMaps.get(file)
    if (map === undefined) {
      try {
        const payload = JSON.parse(fs.readFileSync(`${file}.map`, "utf8")) as SourceMapPayload
        map = new SourceMap(payload)
      } catch {
        map = null
      }
      sourceMaps.set(file, map)
    }
    const entry = map?.findEntry(frame.lineNumber, frame.columnNumber) as
      | { originalSource?: string; originalLine?: number }
      | undefined
    if (entry?.originalSource !== undefined && entry.originalLine !== undefined) {
      const source = entry.originalSource.startsWith("file://")
        ? fileURLToPath(entry.originalSource)
        : path.resolve(path.dirname(file), entry.originalSource)
      return `${path.relative(root, source)}:${entry.originalLine + 1}`
    }
  }
  const short = file.includes("node_modules/")
    ? file.slice(file.lastIndexOf("node_modules/") + "node_modules/".length)
    : path.relative(root, file).startsWith("..")
      ? file
      : path.relative(root, file)
  return `${short}:${frame.lineNumber + 1}`
}

/** Where a location belongs: a src/ file, a package, node's internals, or V8. */
const originOf = (where: string, name: string) => {
  if (where === "") return name.startsWith("(") ? name : "(native)"
  if (where.startsWith("src/")) return where.slice(0, where.lastIndexOf(":"))
  if (where.startsWith("node:")) return "node internals"
  const pkg = where.startsWith("@") ? where.split("/").slice(0, 2) : where.split("/").slice(0, 1)
  return pkg.join("/")
}

const monotonicMicros = () => Number(process.hrtime.bigint() / 1000n)

/** Self and inclusive times of the samples taken within [from, to] (monotonic µs). */
const summarizeProfile = (profile: CpuProfile, from: number, to: number) => {
  const parent = new Map<number, number>()
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id)
  const key = (n: ProfileNode) => {
    const where = locate(n.callFrame)
    return { key: `${n.callFrame.functionName}@${where}`, where, name: n.callFrame.functionName }
  }
  const keys = new Map(profile.nodes.map((n) => [n.id, key(n)]))
  const self = new Map<string, number>()
  const inclusive = new Map<string, number>()
  const origins = new Map<string, number>()
  let total = 0
  let t = profile.startTime
  profile.samples.forEach((id, i) => {
    t += profile.timeDeltas[i] ?? 0
    if (t < from || t > to) return
    const dt = (profile.timeDeltas[i] ?? 0) / 1000
    const k = keys.get(id)!
    if (k.name === "(idle)") return
    total += dt
    self.set(k.key, (self.get(k.key) ?? 0) + dt)
    const origin = originOf(k.where, k.name || "(anonymous)")
    origins.set(origin, (origins.get(origin) ?? 0) + dt)
    const seen = new Set<string>()
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const kk = keys.get(at)!
      if (seen.has(kk.key) || !kk.where.startsWith("src/")) continue
      seen.add(kk.key)
      inclusive.set(kk.key, (inclusive.get(kk.key) ?? 0) + dt)
    }
  })
  const top = (m: Map<string, number>, n: number) =>
    [...m.entries()].sort((a, b) => b[1] - a[1]).slice(0, n)
  const line = ([k, ms]: [string, number]) => {
    const at = k.lastIndexOf("@")
    const name = k.slice(0, at) || "(anonymous)"
    return `  ${ms.toFixed(0).padStart(6)} ms ${((ms / total) * 100).toFixed(1).padStart(5)}%  ${name}  ${k.slice(at + 1)}`
  }
  const wall = (to - from) / 1000
  const out = [
    `busy ${total.toFixed(0)} ms of ${wall.toFixed(0)} ms (${((total / wall) * 100).toFixed(0)}% of a core); shares below are of the busy time`,
  ]
  out.push("top 15 functions by self time:")
  for (const e of top(self, 15)) out.push(line(e))
  out.push("self time by origin:")
  for (const [o, ms] of top(origins, 10))
    out.push(
      `  ${ms.toFixed(0).padStart(6)} ms ${((ms / total) * 100).toFixed(1).padStart(5)}%  ${o}`,
    )
  out.push("top 10 src/ functions by inclusive time (their callees included):")
  for (const e of top(inclusive, 10)) out.push(line(e))
  return out.join("\n")
}

// ---- the benchmark -------------------------------------------------------------------

const fmtMs = (x: number) => x.toFixed(2)
const row = (cells: ReadonlyArray<string>, widths: ReadonlyArray<number>) =>
  cells.map((c, i) => (i < 2 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  ")

log("building (npm run build)...")
build()
const work = fs.mkdtempSync(path.join(os.tmpdir(), "guts-bench-api-read-"))
const dataDir = path.join(work, "data")
let node: BenchNode
try {
  node = await startBenchNode(dataDir)
} catch (err) {
  fs.rmSync(work, { recursive: true, force: true })
  throw err
}
let reference: Awaited<ReturnType<typeof startReference>> | undefined
try {
  const agent = new http.Agent({ keepAlive: true })
  const auth = { authorization: `Bearer ${node.token}`, accept: "application/vnd.github+json" }
  const created = await request(agent, `${node.url}/api/user/repos`, "POST", auth, {
    name: "bench",
    description: "the api-read benchmark's repository",
  })
  if (created.status !== 201) throw new Error(`create repository: ${created.status}`)
  const owner = (JSON.parse(created.body.toString()) as { owner: { login: string } }).owner.login
  log(`creating ${ISSUES} issues...`)
  for (let i = 1; i <= ISSUES; i++) {
    const r = await request(agent, `${node.url}/api/repos/${owner}/bench/issues`, "POST", auth, {
      title: `Issue ${i}: the build fails on a fresh checkout`,
      body: `Steps to reproduce (${i}):\n\n1. clone\n2. build\n3. see the error\n\nExpected the build to pass.`,
    })
    if (r.status !== 201) throw new Error(`create issue ${i}: ${r.status} ${r.body}`)
  }
  agent.destroy()

  const paths = [`/api/repos/${owner}/bench`, `/api/repos/${owner}/bench/issues?per_page=30`]
  const recorded: Recorded[] = []
  for (const p of paths) {
    const r = await request(new http.Agent(), `${node.url}${p}`, "GET")
    if (r.status !== 200) throw new Error(`GET ${p}: ${r.status}`)
    const headers: Record<string, string> = {}
    for (const [k, v] of Object.entries(r.headers))
      if (v !== undefined && !OWN_HEADERS.has(k)) headers[k] = Array.isArray(v) ? v.join(", ") : v
    recorded.push({ path: p, status: r.status, headers, body: r.body.toString() })
    log(`GET ${p}: ${r.body.length} bytes, ${headers["content-type"]}`)
  }
  reference = await startReference(work, recorded)

  const perRound = seconds / rounds
  const results = new Map<string, { node: LoadResult[]; reference: LoadResult[] }>()
  for (const p of paths) {
    const runs = { node: [] as LoadResult[], reference: [] as LoadResult[] }
    results.set(p, runs)
    for (let r = 0; r < rounds; r++) {
      const warmupSeconds = r === 0 ? 1 : 0
      const a = await runLoad(
        { url: `${node.url}${p}` },
        { connections, seconds: perRound, warmupSeconds },
      )
      const b = await runLoad(
        { url: `${reference.url}${p}` },
        { connections, seconds: perRound, warmupSeconds },
      )
      runs.node.push(a)
      runs.reference.push(b)
      const rps = (x: LoadResult) => (x.requests / x.seconds).toFixed(0)
      log(`GET ${p} round ${r + 1}/${rounds}: node ${rps(a)} req/s, reference ${rps(b)} req/s`)
    }
  }

  const widths = [48, 9, 8, 9, 9, 9, 9, 11]
  console.log(
    row(["route", "server", "req/s", "p50 ms", "p99 ms", "max ms", "failed", "client CPU"], widths),
  )
  const routes: Array<{ path: string; node: LoadSummary; reference: LoadSummary; ratio: number }> =
    []
  for (const p of paths) {
    const runs = results.get(p)!
    const n = summarize(runs.node)
    const ref = summarize(runs.reference)
    const ratio = n.rps / ref.rps
    routes.push({ path: p, node: n, reference: ref, ratio })
    for (const [name, s] of [
      ["guts", n],
      ["node:http", ref],
    ] as const)
      console.log(
        row(
          [
            name === "guts" ? `GET ${p}` : "",
            name,
            s.rps.toFixed(0),
            fmtMs(s.p50),
            fmtMs(s.p99),
            fmtMs(s.max),
            String(s.failures),
            `${(s.clientCpu * 100).toFixed(0)}%`,
          ],
          widths,
        ),
      )
    console.log(row(["", "ratio", ratio.toFixed(2), "", "", "", "", ""], widths))
  }
  console.log(
    `(${connections} connections, ${seconds} s per route and server in ${rounds} alternating rounds; ` +
      `${os.cpus().length} cores, load average ${os.loadavg()[0]!.toFixed(1)}; ` +
      "client CPU near 100% means the load generator, not the server, was the limit)",
  )
  const worstRatio = routes.reduce((a, b) => (b.ratio < a.ratio ? b : a))
  const worstP99 = routes.reduce((a, b) => (b.node.p99 > a.node.p99 ? b : a))

  const missed = worstRatio.ratio < TARGET_RATIO || worstP99.node.p99 > TARGET_P99
  let profileSummary: string | undefined
  if (profileMode === "1" || (profileMode === "auto" && missed)) {
    log("profiling the node for one round of each route (--cpu-prof)...")
    await node.stop()
    const profDir = path.join(work, "profile")
    node = await startBenchNode(dataDir, ["--cpu-prof", `--cpu-prof-dir=${profDir}`])
    const windows: Array<{ path: string; from: number; to: number }> = []
    for (const p of paths) {
      const target = { url: `${node.url}${p}` }
      await runLoad(target, { connections, seconds: 1 })
      const from = monotonicMicros()
      await runLoad(target, { connections, seconds: Math.max(2, perRound) })
      windows.push({ path: p, from, to: monotonicMicros() })
    }
    await node.stop()
    const file = fs.readdirSync(profDir).find((f) => f.endsWith(".cpuprofile"))
    if (file === undefined) profileSummary = "no profile was written"
    else {
      const profile = JSON.parse(fs.readFileSync(path.join(profDir, file), "utf8")) as CpuProfile
      profileSummary = windows
        .map(
          (w) =>
            `CPU profile of the node under load on GET ${w.path}:\n${summarizeProfile(profile, w.from, w.to)}`,
        )
        .join("\n\n")
    }
    console.log(`\n${profileSummary}\n`)
  }

  writeResult("api-read", {
    connections,
    seconds,
    rounds,
    routes: routes.map((r) => ({
      path: r.path,
      ratio: r.ratio,
      node: r.node,
      reference: r.reference,
    })),
    ratio: worstRatio.ratio,
    p99: worstP99.node.p99,
    profile: profileSummary,
  })
  console.log(
    `api-read: ratio=${worstRatio.ratio.toFixed(2)} (target ≥ ${TARGET_RATIO}), p99=${worstP99.node.p99.toFixed(1)} ms (target ≤ ${TARGET_P99})`,
  )
} finally {
  await node.stop()
  await reference?.stop()
  fs.rmSync(work, { recursive: true, force: true })
}
