/**
 * `guts devnet`: a local cluster of validators on loopback, one process each.
 *
 *   guts devnet [--nodes 4] [--base-port 8080] [--data-dir ./devnet]
 *
 * Node i serves HTTP on P+i, metrics on P+100+i and P2P on P+200+i. Keys are generated
 * once (kept under <data-dir>/node-i/node.key) with the validator list in
 * <data-dir>/cluster.json; each node's administrator token is in <data-dir>/node-i/admin-token.
 * Ctrl-C stops every node.
 */
import { type ChildProcess, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { Effect } from "effect"
import { generateNodeKey, loadNodeKey, writeNodeKey } from "../layers/p2p/NodeKey.ts"

export interface DevnetOptions {
  readonly nodes: number
  readonly basePort: number
  readonly dataDir: string
}

const parse = (argv: ReadonlyArray<string>): DevnetOptions | string => {
  const opts = { nodes: 4, basePort: 8080, dataDir: "./devnet" }
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]
    const value = argv[i + 1]
    if (flag === "--help") return "usage: guts devnet [--nodes N] [--base-port P] [--data-dir D]"
    if (value === undefined) return `${flag} needs a value`
    if (flag === "--nodes") opts.nodes = Number(value)
    else if (flag === "--base-port") opts.basePort = Number(value)
    else if (flag === "--data-dir") opts.dataDir = value
    else return `unknown option ${flag}`
    i++
  }
  if (!Number.isInteger(opts.nodes) || opts.nodes < 1 || opts.nodes > 50)
    return "--nodes must be 1 to 50"
  if (!Number.isInteger(opts.basePort) || opts.basePort < 1 || opts.basePort + 250 > 65535)
    return "--base-port must leave room for P+250"
  return opts
}

/** Keys and the cluster file (created once, reused on later runs). */
export const prepareDevnet = (opts: DevnetOptions) =>
  Effect.gen(function* () {
    const validators: Array<{ publicKey: string; address: string }> = []
    for (let i = 0; i < opts.nodes; i++) {
      const dir = path.join(opts.dataDir, `node-${i}`)
      fs.mkdirSync(dir, { recursive: true })
      const keyFile = path.join(dir, "node.key")
      if (!fs.existsSync(keyFile)) yield* writeNodeKey(keyFile, generateNodeKey())
      const key = yield* loadNodeKey(keyFile)
      validators.push({
        publicKey: key.publicKeyHex,
        address: `/ip4/127.0.0.1/tcp/${opts.basePort + 200 + i}`,
      })
    }
    const clusterFile = path.join(opts.dataDir, "cluster.json")
    fs.writeFileSync(clusterFile, `${JSON.stringify({ validators }, null, 2)}\n`)
    return clusterFile
  })

export const nodeArgs = (opts: DevnetOptions, clusterFile: string, i: number) => [
  "node",
  "--data-dir",
  path.join(opts.dataDir, `node-${i}`),
  "--host",
  "127.0.0.1",
  "--http-port",
  String(opts.basePort + i),
  "--metrics-port",
  String(opts.basePort + 100 + i),
  "--p2p-port",
  String(opts.basePort + 200 + i),
  "--cluster",
  clusterFile,
]

export const runDevnet = async (argv: ReadonlyArray<string>): Promise<number> => {
  const opts = parse(argv)
  if (typeof opts === "string") {
    console.error(opts)
    return opts.startsWith("usage") ? 0 : 2
  }
  const clusterFile = await Effect.runPromise(prepareDevnet(opts))
  const entry = process.argv[1]!
  const children: ChildProcess[] = []
  for (let i = 0; i < opts.nodes; i++) {
    const child = spawn(
      process.execPath,
      [...process.execArgv, entry, ...nodeArgs(opts, clusterFile, i)],
      {
        stdio: ["ignore", "pipe", "pipe"],
      },
    )
    const tag = `[node-${i}] `
    child.stdout!.on("data", (d: Buffer) => process.stdout.write(d.toString().replace(/^/gm, tag)))
    child.stderr!.on("data", (d: Buffer) => process.stderr.write(d.toString().replace(/^/gm, tag)))
    children.push(child)
  }
  for (let i = 0; i < opts.nodes; i++) {
    console.log(
      `node-${i}: http://127.0.0.1:${opts.basePort + i}  metrics http://127.0.0.1:${opts.basePort + 100 + i}/metrics  p2p 127.0.0.1:${opts.basePort + 200 + i}  token ${path.join(opts.dataDir, `node-${i}`, "admin-token")}`,
    )
  }
  const stop = () => {
    for (const c of children) if (c.exitCode === null) c.kill("SIGTERM")
  }
  process.on("SIGINT", stop)
  process.on("SIGTERM", stop)
  const codes = await Promise.all(
    children.map(
      (c) => new Promise<number>((resolve) => c.once("exit", (code) => resolve(code ?? 1))),
    ),
  )
  return codes.every((c) => c === 0) ? 0 : 1
}
