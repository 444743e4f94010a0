/**
 * Shared by the git benchmarks: a generated repository, `git http-backend` behind a small
 * CGI bridge (the reference server), a Guts node process, and side-by-side timing.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as http from "node:http"
import { type AddressInfo, createServer as netCreateServer } from "node:net"
import * as path from "node:path"

export const root = path.resolve(import.meta.dirname, "../..")
export const resultsDir = path.join(root, "bench-results")

export const gitEnv: NodeJS.ProcessEnv = {
  PATH: process.env.PATH,
  HOME: process.env.HOME,
  GIT_CONFIG_GLOBAL: "/dev/null",
  GIT_CONFIG_NOSYSTEM: "1",
  GIT_TERMINAL_PROMPT: "0",
  GIT_AUTHOR_NAME: "Bench",
  GIT_AUTHOR_EMAIL: "bench@example.com",
  GIT_COMMITTER_NAME: "Bench",
  GIT_COMMITTER_EMAIL: "bench@example.com",
}

export const git = (cwd: string, args: string[], input?: string | Buffer) =>
  execFileSync("git", args, {
    cwd,
    env: gitEnv,
    input,
    maxBuffer: 1 << 30,
    stdio: ["pipe", "pipe", "pipe"],
  })

export const log = (msg: string) => process.stderr.write(`${msg}\n`)

/** Deterministic pseudo-random generator (so every run benchmarks the same repository). */
const rng = (seed: number) => () => {
  seed = (seed + 0x6d2b79f5) | 0
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296
}

const WORDS =
  "the of and to in is that for it as with was on be by this are or from at which but have not an they all were one their there been has more will would can if".split(
    " ",
  )

export interface RepoSpec {
  readonly commits: number
  readonly files: number
  /** Incompressible blobs (to reach a realistic packed size). */
  readonly binaries: number
  readonly binarySize: number
}

export const FULL_SPEC: RepoSpec = { commits: 3000, files: 5000, binaries: 40, binarySize: 900_000 }
export const QUICK_SPEC: RepoSpec = { commits: 300, files: 1000, binaries: 5, binarySize: 400_000 }

/**
 * A bare repository generated with `git fast-import`: `files` text files (edited a few
 * at a time, so packs hold real delta chains) and some binary files, over `commits`
 * commits. Cached under bench-results/cache.
 */
export const generateRepo = async (spec: RepoSpec): Promise<string> => {
  const dir = path.join(
    resultsDir,
    "cache",
    `repo-${spec.commits}-${spec.files}-${spec.binaries}-${spec.binarySize}.git`,
  )
  if (fs.existsSync(path.join(dir, "done"))) return dir
  fs.rmSync(dir, { recursive: true, force: true })
  fs.mkdirSync(dir, { recursive: true })
  git(dir, ["init", "-q", "--bare", "-b", "main"])
  log(`generating the benchmark repository (${spec.commits} commits, ${spec.files} files)...`)
  const random = rng(42)
  const text = (n: number) => {
    const out: string[] = []
    for (let i = 0; i < n; i++) out.push(WORDS[Math.floor(random() * WORDS.length)]!)
    return out
  }
  const files: string[][] = Array.from({ length: spec.files }, () =>
    text(200 + Math.floor(random() * 1800)),
  )
  const binaries: Buffer[] = Array.from({ length: spec.binaries }, () => {
    const b = Buffer.alloc(spec.binarySize)
    for (let i = 0; i < b.length; i += 4) b.writeUInt32LE(Math.floor(random() * 2 ** 32), i)
    return b
  })
  const child = spawn("git", ["fast-import", "--quiet"], {
    cwd: dir,
    env: gitEnv,
    stdio: ["pipe", "inherit", "inherit"],
  })
  const write = (s: string | Buffer) => child.stdin.write(s)
  const blob = (content: Buffer | string) => {
    const b = Buffer.isBuffer(content) ? content : Buffer.from(content)
    write(`data ${b.length}\n`)
    write(b)
    write("\n")
  }
  const pathOf = (i: number) => `src/mod${Math.floor(i / 100)}/file${i}.txt`
  for (let c = 0; c < spec.commits; c++) {
    const time = 1_700_000_000 + c * 60
    write(`commit refs/heads/main\ncommitter Bench <bench@example.com> ${time} +0000\n`)
    const message = `commit ${c}`
    write(`data ${message.length}\n${message}\n`)
    if (c === 0) {
      for (let i = 0; i < spec.files; i++) {
        write(`M 100644 inline ${pathOf(i)}\n`)
        blob(`${files[i]!.join(" ")}\n`)
      }
      binaries.forEach((b, i) => {
        write(`M 100644 inline assets/blob${i}.bin\n`)
        blob(b)
      })
    } else {
      for (let k = 0; k < 3; k++) {
        const i = Math.floor(random() * spec.files)
        const words = files[i]!
        const at = Math.floor(random() * words.length)
        words.splice(at, 3, ...text(5))
        write(`M 100644 inline ${pathOf(i)}\n`)
        blob(`${words.join(" ")}\n`)
      }
      if (spec.binaries > 0 && c % 100 === 0) {
        const i = Math.floor(random() * spec.binaries)
        const b = binaries[i]!
        b.writeUInt32LE(c, Math.floor(random() * (b.length - 4)))
        write(`M 100644 inline assets/blob${i}.bin\n`)
        blob(b)
      }
    }
    write("\n")
  }
  child.stdin.end()
  await new Promise<void>((resolve, reject) =>
    child.on("close", (code) =>
      code === 0 ? resolve() : reject(new Error(`fast-import exited ${code}`)),
    ),
  )
  log("repacking with deltas...")
  git(dir, ["repack", "-adf", "--depth=50", "--window=10"])
  fs.writeFileSync(path.join(dir, "done"), "")
  return dir
}

export const packedSize = (bare: string) => {
  const packDir = path.join(bare, "objects", "pack")
  return fs
    .readdirSync(packDir)
    .filter((f) => f.endsWith(".pack"))
    .reduce((n, f) => n + fs.statSync(path.join(packDir, f)).size, 0)
}

/** `git http-backend` behind a node:http CGI bridge, serving repositories under `projectRoot`. */
export const startHttpBackend = async (projectRoot: string) => {
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://x")
    const env: NodeJS.ProcessEnv = {
      ...gitEnv,
      GIT_PROJECT_ROOT: projectRoot,
      GIT_HTTP_EXPORT_ALL: "1",
      PATH_INFO: decodeURIComponent(url.pathname),
      QUERY_STRING: url.search.slice(1),
      REQUEST_METHOD: req.method ?? "GET",
      CONTENT_TYPE: req.headers["content-type"] ?? "",
      REMOTE_USER: "bench",
      REMOTE_ADDR: "127.0.0.1",
      GIT_PROTOCOL: String(req.headers["git-protocol"] ?? ""),
      HTTP_CONTENT_ENCODING: String(req.headers["content-encoding"] ?? ""),
    }
    const cgi = spawn("git", ["http-backend"], { env })
    req.pipe(cgi.stdin)
    let headerDone = false
    let head = Buffer.alloc(0)
    cgi.stdout.on("data", (chunk: Buffer) => {
      if (headerDone) {
        if (!res.write(chunk)) {
          cgi.stdout.pause()
          res.once("drain", () => cgi.stdout.resume())
        }
        return
      }
      head = Buffer.concat([head, chunk])
      const end = head.indexOf("\r\n\r\n")
      const endLf = head.indexOf("\n\n")
      const cut = end >= 0 ? end + 4 : endLf >= 0 ? endLf + 2 : -1
      if (cut < 0) return
      headerDone = true
      let status = 200
      const headers: Record<string, string> = {}
      for (const line of head.subarray(0, cut).toString().split(/\r?\n/)) {
        const i = line.indexOf(":")
        if (i < 0) continue
        const k = line.slice(0, i).trim()
        const v = line.slice(i + 1).trim()
        if (k.toLowerCase() === "status") status = Number.parseInt(v, 10)
        else headers[k] = v
      }
      res.writeHead(status, headers)
      res.write(head.subarray(cut))
    })
    cgi.on("close", () => res.end())
    cgi.stderr.on("data", () => {})
  })
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r))
  const port = (server.address() as AddressInfo).port
  return {
    url: `http://127.0.0.1:${port}`,
    close: () => new Promise<void>((r) => server.close(() => r())),
  }
}

/**
 * How `npm start` runs a node (package.json; the Dockerfile and deploy/guts.service say
 * the same): glibc with two arenas and fixed mmap/trim thresholds, so freed buffers go
 * back to the system instead of staying in a grown heap; V8 with an 8 MB young generation
 * and a 1,536 MB old-generation limit, under which V8 collects garbage before the heap
 * grows to four times what is live (docs/operators.md, "Memory").
 */
export const NODE_RUNTIME = {
  // GUTS_BENCH_NODE_FLAGS replaces the V8 flags, to measure a node without them.
  flags: process.env.GUTS_BENCH_NODE_FLAGS?.split(" ").filter((f) => f !== "") ?? [
    "--max-semi-space-size=8",
    "--max-old-space-size=1536",
  ],
  env: {
    MALLOC_ARENA_MAX: "2",
    MALLOC_MMAP_THRESHOLD_: "262144",
    MALLOC_TRIM_THRESHOLD_: "1048576",
  },
} as const

export interface GutsProcess {
  readonly url: string
  readonly metricsUrl: string
  readonly token: string
  readonly child: ChildProcess
  readonly peakRssMb: () => number
  readonly stop: () => Promise<void>
}

/** A Guts node as its own process, from the build (so its memory is measured alone). */
export const startGuts = async (dataDir: string): Promise<GutsProcess> => {
  execFileSync("npx", ["tsc", "-p", "tsconfig.build.json"], { cwd: root, stdio: "inherit" })
  const net = await import("node:net")
  const port = async () =>
    new Promise<number>((resolve) => {
      const s = net.createServer().listen(0, "127.0.0.1", () => {
        const p = (s.address() as AddressInfo).port
        s.close(() => resolve(p))
      })
    })
  const httpPort = await port()
  const metricsPort = await port()
  const child = spawn(
    process.execPath,
    [
      ...NODE_RUNTIME.flags,
      "dist/programs/main.js",
      "node",
      "--data-dir",
      dataDir,
      "--http-port",
      String(httpPort),
      "--metrics-port",
      String(metricsPort),
      "--host",
      "127.0.0.1",
    ],
    // As `npm start` runs it (NODE_RUNTIME).
    {
      cwd: root,
      stdio: ["ignore", "ignore", "inherit"],
      env: { ...process.env, ...NODE_RUNTIME.env },
    },
  )
  const url = `http://127.0.0.1:${httpPort}`
  for (let i = 0; i < 600; i++) {
    try {
      if ((await fetch(`${url}/health/ready`)).status === 200) break
    } catch {}
    await new Promise((r) => setTimeout(r, 100))
  }
  const token = fs.readFileSync(path.join(dataDir, "admin-token"), "utf8").trim()
  return {
    url,
    metricsUrl: `http://127.0.0.1:${metricsPort}/metrics`,
    token,
    child,
    peakRssMb: () => {
      const status = fs.readFileSync(`/proc/${child.pid}/status`, "utf8")
      return Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024
    },
    stop: async () => {
      child.kill("SIGTERM")
      await new Promise((r) => child.once("exit", r))
    },
  }
}

/** The summed value of a metric's samples whose labels contain `labels` (0 when absent). */
export const metricValue = async (guts: GutsProcess, name: string, labels = "") => {
  const text = await (await fetch(guts.metricsUrl)).text()
  let sum = 0
  for (const line of text.split("\n")) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue
    if (labels && !line.includes(labels)) continue
    sum += Number(line.slice(line.lastIndexOf(" ") + 1))
  }
  return sum
}

/**
 * Waits (up to `timeoutMs`) until the node has no clone list left to compute: the
 * background work a push leaves, so that it does not run into the next measurement.
 * True when the node went idle; the wait starts after the push has returned.
 */
export const waitForCloneLists = async (guts: GutsProcess, timeoutMs = 120_000) => {
  const start = Date.now()
  while (Date.now() - start < timeoutMs) {
    if ((await metricValue(guts, "guts_git_clone_lists_pending")) === 0) return true
    await new Promise((r) => setTimeout(r, 50))
  }
  return false
}

export const createGutsRepo = async (guts: GutsProcess, name: string) => {
  const res = await fetch(`${guts.url}/api/user/repos`, {
    method: "POST",
    headers: { authorization: `Bearer ${guts.token}`, "content-type": "application/json" },
    body: JSON.stringify({ name }),
  })
  if (res.status !== 201) throw new Error(`create ${name}: ${res.status} ${await res.text()}`)
}

/** Deletes a repository of the administrator (its clone list and cached pack go with it). */
export const deleteGutsRepo = async (guts: GutsProcess, name: string) => {
  const res = await fetch(`${guts.url}/api/repos/admin/${name}`, {
    method: "DELETE",
    headers: { authorization: `Bearer ${guts.token}` },
  })
  if (res.status !== 204) throw new Error(`delete ${name}: ${res.status} ${await res.text()}`)
}

export const withToken = (url: string, token: string) => {
  const u = new URL(url)
  u.username = "bench"
  u.password = token
  return u.toString()
}

/**
 * Runs git without blocking this process's event loop (the reference server's CGI bridge
 * lives in this process) and returns the wall time in ms.
 */
export const timeGit = (cwd: string, args: string[]) =>
  new Promise<number>((resolve, reject) => {
    const t = process.hrtime.bigint()
    const child = spawn("git", args, { cwd, env: gitEnv, stdio: ["ignore", "ignore", "pipe"] })
    let err = ""
    child.stderr.on("data", (d) => (err += d))
    child.on("close", (code) => {
      if (code === 0) resolve(Number(process.hrtime.bigint() - t) / 1e6)
      else reject(new Error(`git ${args.join(" ")} failed (${code}): ${err}`))
    })
  })

export const stats = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b)
  return { min: s[0]!, median: s[Math.floor(s.length / 2)]!, max: s[s.length - 1]! }
}

export const fmt = (s: { min: number; median: number; max: number }) =>
  `min ${s.min.toFixed(0)} / median ${s.median.toFixed(0)} / max ${s.max.toFixed(0)} ms`

export const writeResult = (name: string, data: unknown) => {
  fs.mkdirSync(resultsDir, { recursive: true })
  fs.writeFileSync(path.join(resultsDir, `${name}.json`), `${JSON.stringify(data, null, 2)}\n`)
}

export const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const s = netCreateServer()
    s.once("error", reject)
    s.listen(0, "127.0.0.1", () => {
      const p = (s.address() as AddressInfo).port
      s.close(() => resolve(p))
    })
  })

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/**
 * `npm run build`. tsc emits even when it reports type errors, so a failed check (another
 * file mid-edit) leaves a runnable build: say so and go on.
 */
export const build = () => {
  try {
    execFileSync("npm", ["run", "build", "--silent"], {
      cwd: root,
      stdio: ["ignore", "ignore", "pipe"],
    })
  } catch (err) {
    if (!fs.existsSync(path.join(root, "dist/programs/main.js"))) throw err
    log("warning: `npm run build` reported errors; running the build it emitted")
  }
}

export interface BenchNode {
  readonly url: string
  readonly port: number
  readonly token: string
  readonly stop: () => Promise<void>
}

/** `node [nodeFlags] dist/programs/main.js node …` on free ports, once it is ready. */
export const startBenchNode = async (
  dataDir: string,
  nodeFlags: string[] = [],
): Promise<BenchNode> => {
  const httpPort = await freePort()
  const metricsPort = await freePort()
  const child: ChildProcess = spawn(
    process.execPath,
    [
      ...NODE_RUNTIME.flags,
      ...nodeFlags,
      "dist/programs/main.js",
      "node",
      "--data-dir",
      dataDir,
      "--storage",
      "rocksdb",
      "--host",
      "127.0.0.1",
      "--http-port",
      String(httpPort),
      "--metrics-port",
      String(metricsPort),
      "--rate-limit-authenticated",
      "0",
      "--rate-limit-anonymous",
      "0",
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
  const url = `http://127.0.0.1:${httpPort}`
  const tokenFile = path.join(dataDir, "admin-token")
  for (let i = 0; ; i++) {
    if (child.exitCode !== null) throw new Error(`node exited (${child.exitCode}):\n${output}`)
    if (i > 600) {
      child.kill("SIGKILL")
      throw new Error(`node not ready after 60 s:\n${output}`)
    }
    try {
      if ((await fetch(`${url}/health/ready`)).status === 200 && fs.existsSync(tokenFile)) break
    } catch {}
    await sleep(100)
  }
  return {
    url,
    port: httpPort,
    token: fs.readFileSync(tokenFile, "utf8").trim(),
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM")
      await exited
    },
  }
}
