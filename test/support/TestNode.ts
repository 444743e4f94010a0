/**
 * Starting nodes for tests: in-process (fast: a node's layers in this process on free
 * ports) or as a real `guts node` process (for restarts, signals and crashes).
 */
import { type ChildProcess, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import { Context, Effect, Exit, Layer, Scope } from "effect"
import { adminTokenPath } from "../../src/layers/Bootstrap.ts"
import { HttpServer } from "../../src/layers/http/HttpServer.ts"
import { MetricsServer } from "../../src/layers/Metrics.ts"
import type { NodeConfigShape, StorageKind } from "../../src/services/NodeConfig.ts"
import { nodeLayer } from "../../src/programs/node.ts"

export interface RunningNode {
  readonly url: string
  readonly metricsUrl: string
  readonly dataDir: string
  readonly token: string
  readonly close: () => Promise<void>
  /** Runs an effect against this node's services (in-process nodes only). */
  readonly run?: <A, E>(effect: Effect.Effect<A, E, any>) => Promise<A>
}

export const tempDir = (prefix: string) => fs.mkdtempSync(path.join(os.tmpdir(), `guts-${prefix}-`))

/** A node in this process on free ports. */
export const startNode = async (
  opts: { storage?: StorageKind; dataDir?: string; config?: Partial<NodeConfigShape> } = {},
): Promise<RunningNode> => {
  const dataDir = opts.dataDir ?? tempDir("node")
  const scope = Effect.runSync(Scope.make())
  const layer = nodeLayer({
    dataDir,
    host: "127.0.0.1",
    httpPort: 0,
    metricsPort: 0,
    storage: opts.storage ?? "rocksdb",
    shutdownGraceMs: 2_000,
    ...opts.config,
  })
  const context = await Effect.runPromise(Layer.buildWithScope(layer, scope)).catch(async (err) => {
    await Effect.runPromise(Scope.close(scope, Exit.void))
    throw err
  })
  const http = Context.get(context, HttpServer)
  const metrics = Context.get(context, MetricsServer)
  const token = fs.readFileSync(adminTokenPath(dataDir), "utf8").trim()
  return {
    url: http.url,
    metricsUrl: `http://127.0.0.1:${metrics.port}/metrics`,
    dataDir,
    token,
    close: () => Effect.runPromise(Scope.close(scope, Exit.void)),
    run: <A, E>(effect: Effect.Effect<A, E, any>) =>
      Effect.runPromise(Effect.provide(effect, context) as Effect.Effect<A, E, never>),
  }
}

export const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const srv = net.createServer()
    srv.once("error", reject)
    srv.listen(0, "127.0.0.1", () => {
      const port = (srv.address() as net.AddressInfo).port
      srv.close(() => resolve(port))
    })
  })

export interface NodeProcess extends RunningNode {
  readonly child: ChildProcess
  readonly output: () => string
  /** Sends a signal and waits for the exit code. */
  readonly stop: (signal?: NodeJS.Signals) => Promise<number | null>
}

const waitReady = async (url: string, child: ChildProcess, output: () => string) => {
  const deadline = Date.now() + 60_000
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`node exited with ${child.exitCode}:\n${output()}`)
    try {
      const res = await fetch(`${url}/health/ready`)
      if (res.status === 200) return
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100))
  }
  throw new Error(`node did not become ready within 60 s:\n${output()}`)
}

/** A real `guts node` process, run from the build as `npm start` runs it (CLI flags). */
export const spawnNode = async (
  opts: { dataDir?: string; extraArgs?: string[]; portsFromEnv?: boolean } = {},
) => {
  const dataDir = opts.dataDir ?? tempDir("proc")
  const httpPort = await freePort()
  const metricsPort = await freePort()
  const child = spawn(
    process.execPath,
    [
      "--enable-source-maps",
      "dist/programs/main.js",
      "node",
      "--data-dir",
      dataDir,
      ...(opts.portsFromEnv
        ? []
        : ["--http-port", String(httpPort), "--metrics-port", String(metricsPort)]),
      "--host",
      "127.0.0.1",
      ...(opts.extraArgs ?? []),
    ],
    {
      cwd: path.resolve(import.meta.dirname, "../.."),
      stdio: ["ignore", "pipe", "pipe"],
      env: {
        ...process.env,
        ...(opts.portsFromEnv
          ? { GUTS_HTTP_PORT: String(httpPort), GUTS_METRICS_PORT: String(metricsPort) }
          : {}),
      },
    },
  )
  let log = ""
  child.stdout!.on("data", (d) => (log += d))
  child.stderr!.on("data", (d) => (log += d))
  const output = () => log
  const url = `http://127.0.0.1:${httpPort}`
  try {
    await waitReady(url, child, output)
  } catch (err) {
    child.kill("SIGKILL")
    throw err
  }
  const exited = new Promise<number | null>((resolve) => {
    if (child.exitCode !== null) resolve(child.exitCode)
    child.once("exit", (code) => resolve(code))
  })
  const stop = async (signal: NodeJS.Signals = "SIGTERM") => {
    if (child.exitCode === null) child.kill(signal)
    return exited
  }
  const node: NodeProcess = {
    url,
    metricsUrl: `http://127.0.0.1:${metricsPort}/metrics`,
    dataDir,
    token: fs.readFileSync(adminTokenPath(dataDir), "utf8").trim(),
    child,
    output,
    stop,
    close: async () => {
      await stop("SIGTERM")
    },
  }
  return node
}

/** Creates a repository through the REST API as the node's administrator. */
export const createRepo = async (
  node: { url: string; token: string },
  name: string,
  extra: Record<string, unknown> = {},
) => {
  const res = await fetch(`${node.url}/api/user/repos`, {
    method: "POST",
    headers: { authorization: `Bearer ${node.token}`, "content-type": "application/json" },
    body: JSON.stringify({ name, ...extra }),
  })
  if (res.status !== 201) throw new Error(`create repo ${name}: ${res.status} ${await res.text()}`)
  return (await res.json()) as { full_name: string; clone_url: string; [k: string]: unknown }
}
