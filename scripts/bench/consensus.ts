/**
 * consensus (shared/BENCHMARKS.md): finalized transactions per second and proposal-to-
 * finality latency of 4 validators on loopback, each its own process, running the node's
 * consensus driver (Simplex engine, fsync'd journal) over libp2p — against the simulator
 * running the same engine with the same settings: n = 4, Ed25519, the same block size,
 * timeouts, and the link latency and fsync time measured on this machine just before.
 *
 * The application is the consensus seam only (as in the simulator): each block carries
 * BLOCK_TXS synthetic transactions of TX_BYTES bytes, proposed at once, verified by digest
 * and parent link. What a real node adds on top (signature checks, Apply, SQLite) is what
 * `cluster-push` and `api-write` measure.
 *
 * Prints the figures, then `consensus: ratio=<libp2p tx/s ÷ simulated tx/s> (target …)`,
 * and writes bench-results/consensus.json. GUTS_BENCH_QUICK=1 measures for 4 s instead of
 * 10; GUTS_BENCH_TXS / GUTS_BENCH_TX_BYTES set the block size (default 200 × 256 bytes);
 * GUTS_BENCH_PROF=<dir> writes a CPU profile of each validator process there. The machine's
 * load average is printed first: a loaded host stretches every network hop, which the
 * simulator (simulated time) does not feel.
 *
 * Worker mode (internal): `consensus.ts --worker <index> <config.json>`.
 */
import "../../src/layers/p2p/Polyfills.ts"
import { type ChildProcess, spawn } from "node:child_process"
import { createHash, randomBytes } from "node:crypto"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as readline from "node:readline"
import { Deferred, Effect, Exit, Queue, Scope } from "effect"
import { engineConfigFor } from "../../src/layers/chain/ClusterNode.ts"
import { Automaton, Relay, Reporter } from "../../src/layers/consensus/Application.ts"
import { makeConsensusDriver } from "../../src/layers/consensus/ConsensusDriver.ts"
import { makeLibp2pNetwork } from "../../src/layers/p2p/Libp2pNetwork.ts"
import {
  generateNodeKey,
  loadNodeKey,
  type NodeKey,
  writeNodeKey,
} from "../../src/layers/p2p/NodeKey.ts"
import { Cluster } from "../../src/layers/sim/Cluster.ts"
import { Channels, type Inbound, Network } from "../../src/services/Network.ts"
import { log, root, writeResult } from "./lib.ts"

const BLOCK_TXS = Number(process.env.GUTS_BENCH_TXS ?? 200)
const TX_BYTES = Number(process.env.GUTS_BENCH_TX_BYTES ?? 256)
const quick = process.env.GUTS_BENCH_QUICK !== undefined
const MEASURE_MS = quick ? 4_000 : 10_000
const WARMUP_MS = 2_000
const N = 4

interface BenchConfig {
  readonly validators: ReadonlyArray<{ publicKey: string; address: string; port: number }>
  readonly keyFiles: ReadonlyArray<string>
  readonly dataDirs: ReadonlyArray<string>
}

const wallMs = () => performance.timeOrigin + performance.now()

// ---- block format: parent digest ‖ height ‖ proposed-at (ms, f64) ‖ txs ----------------
const HEADER = 32 + 8 + 8
const encodeBenchBlock = (parent: Uint8Array, height: bigint, body: Uint8Array) => {
  const out = Buffer.alloc(HEADER + body.length)
  out.set(parent, 0)
  out.writeBigUInt64BE(height, 32)
  out.writeDoubleBE(wallMs(), 40)
  out.set(body, HEADER)
  return out
}
const digestOf = (bytes: Uint8Array) => new Uint8Array(createHash("sha256").update(bytes).digest())
const hex = (d: Uint8Array) => Buffer.from(d).toString("hex")

// ---- worker: one validator ---------------------------------------------------------------
const worker = async (index: number, configFile: string) => {
  process.on("SIGTERM", () => process.exit(0))
  const config = JSON.parse(fs.readFileSync(configFile, "utf8")) as BenchConfig
  const key = await Effect.runPromise(loadNodeKey(config.keyFiles[index]!))
  const keys = config.validators.map((v) => v.publicKey)
  const body = randomBytes(BLOCK_TXS * TX_BYTES)
  const program = Effect.gen(function* () {
    const network = yield* makeLibp2pNetwork({
      key,
      listen: { host: "127.0.0.1", port: config.validators[index]!.port },
      peers: config.validators,
    })
    const blocks = new Map<string, { bytes: Buffer; height: bigint }>()
    const waiting = new Map<string, Deferred.Deferred<void>>()
    const hold = (bytes: Buffer) => {
      const d = hex(digestOf(bytes))
      blocks.set(d, { bytes, height: bytes.readBigUInt64BE(32) })
      const w = waiting.get(d)
      if (w) {
        waiting.delete(d)
        Deferred.unsafeDone(w, Effect.void)
      }
      return d
    }
    const consensus = yield* Queue.unbounded<Inbound>()
    yield* Queue.takeBetween(network.inbound, 1, 1024).pipe(
      Effect.flatMap((batch) => {
        const votes: Inbound[] = []
        for (const m of batch)
          if (m.channel === Channels.broadcast) hold(Buffer.from(m.bytes))
          else votes.push(m)
        return Queue.offerAll(consensus, votes)
      }),
      Effect.forever,
      Effect.forkScoped,
    )
    const heightOf = (digest: string) =>
      digest === "0".repeat(64) ? 0n : blocks.get(digest)?.height
    const awaitBlock = (digest: string) =>
      Effect.gen(function* () {
        if (blocks.has(digest)) return
        let w = waiting.get(digest)
        if (!w) {
          w = yield* Deferred.make<void>()
          waiting.set(digest, w)
        }
        yield* Deferred.await(w)
      })
    const automaton = Automaton.of({
      propose: (context) =>
        Effect.sync(() => {
          const parent = heightOf(hex(context.parent.digest))
          if (parent === undefined) return undefined
          const bytes = encodeBenchBlock(context.parent.digest, parent + 1n, body)
          return new Uint8Array(Buffer.from(hold(bytes), "hex"))
        }),
      verify: (context, digest) =>
        Effect.gen(function* () {
          yield* awaitBlock(hex(digest))
          const block = blocks.get(hex(digest))!
          const parent = heightOf(hex(context.parent.digest))
          return (
            parent !== undefined &&
            Buffer.from(block.bytes.subarray(0, 32)).equals(Buffer.from(context.parent.digest)) &&
            block.height === parent + 1n
          )
        }),
      certify: () => Effect.succeed(true),
    })
    const relay = Relay.of({
      broadcast: (digest) =>
        Effect.suspend(() => {
          const block = blocks.get(hex(digest))
          return block ? network.send(Channels.broadcast, "all", block.bytes) : Effect.void
        }).pipe(Effect.ignore),
    })
    const reporter = Reporter.of({
      report: (activity) =>
        Effect.sync(() => {
          if (activity._tag === "Nullification" && index === 0)
            process.stdout.write(`N ${activity.round.view} ${wallMs().toFixed(3)}\n`)
          if (activity._tag !== "Finalization") return
          const d = hex(activity.proposal.payload)
          const block = blocks.get(d)
          if (block && index === 0) {
            const latency = wallMs() - block.bytes.readDoubleBE(40)
            process.stdout.write(
              `F ${activity.proposal.round.view} ${block.height} ${BLOCK_TXS} ${latency.toFixed(3)} ${wallMs().toFixed(3)}\n`,
            )
          }
          // Keep the parent chain of recent blocks only.
          if (block) for (const [k, v] of blocks) if (v.height + 8n < block.height) blocks.delete(k)
        }),
    })
    yield* makeConsensusDriver({
      engine: engineConfigFor(keys, key),
      peers: keys,
      dataDir: config.dataDirs[index]!,
      inbound: consensus,
    }).pipe(
      Effect.provideService(Network, network),
      Effect.provideService(Automaton, automaton),
      Effect.provideService(Relay, relay),
      Effect.provideService(Reporter, reporter),
    )
    process.stdout.write("READY\n")
    return yield* Effect.never
  })
  await Effect.runPromise(Effect.scoped(program))
}

// ---- measurements for the simulator's settings ---------------------------------------
const median = (xs: ReadonlyArray<number>) => {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.floor(s.length / 2)] ?? Number.NaN
}
const percentile = (xs: ReadonlyArray<number>, p: number) => {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.floor((s.length * p) / 100))] ?? Number.NaN
}

/** One-way latency of a small message between two libp2p networks on loopback (median). */
const measureLinkLatency = async (keys: [NodeKey, NodeKey], ports: [number, number]) => {
  const scope = Effect.runSync(Scope.make())
  try {
    return await Effect.runPromise(
      Scope.extend(
        Effect.gen(function* () {
          const peers = keys.map((k, i) => ({
            publicKey: k.publicKeyHex,
            address: `/ip4/127.0.0.1/tcp/${ports[i]}`,
          }))
          const [a, b] = yield* Effect.all(
            keys.map((key, i) =>
              makeLibp2pNetwork({ key, listen: { host: "127.0.0.1", port: ports[i]! }, peers }),
            ),
          )
          while (!(yield* a!.connected).includes(b!.self)) yield* Effect.sleep("20 millis")
          const rtts: number[] = []
          for (let i = 0; i < 300; i++) {
            const t = performance.now()
            yield* a!.send(Channels.pending, [b!.self], new Uint8Array(100))
            yield* Queue.take(b!.inbound)
            yield* b!.send(Channels.pending, [a!.self], new Uint8Array(100))
            yield* Queue.take(a!.inbound)
            if (i >= 50) rtts.push(performance.now() - t)
          }
          return median(rtts) / 2
        }),
        scope,
      ),
    )
  } finally {
    await Effect.runPromise(Scope.close(scope, Exit.void))
  }
}

/** Median time of a small append + fdatasync in `dir` (what the journal pays per step). */
const measureFsync = (dir: string) => {
  const file = path.join(dir, "fsync-probe")
  const fd = fs.openSync(file, "a")
  const times: number[] = []
  try {
    for (let i = 0; i < 60; i++) {
      const t = performance.now()
      fs.writeSync(fd, Buffer.alloc(128, i))
      fs.fdatasyncSync(fd)
      if (i >= 10) times.push(performance.now() - t)
    }
  } finally {
    fs.closeSync(fd)
    fs.rmSync(file)
  }
  return median(times)
}

/** The simulator with the same settings: views per simulated second and finality latency. */
const simulate = (linkMs: number, fsyncMs: number, views: bigint) => {
  const finalizedAt = new Map<string, number>()
  const proposedAt = new Map<string, number>()
  const own = /^(\S+) node (\d+) reports Notarize v(\d+) by (\d+)$/
  const fin = /^(\S+) node 0 finalized view (\d+) /
  const c = new Cluster({
    seed: 1,
    scenario: "bench-consensus",
    n: N,
    scheme: "ed25519",
    link: { latencyMs: linkMs, jitterMs: linkMs / 10, successRate: 1 },
    syncLatencyMs: fsyncMs,
    timing: {
      leaderTimeoutMs: 3_000,
      certificationTimeoutMs: 4_000,
      timeoutRetryMs: 2_000,
      skipTimeoutMs: 12_000,
      viewRetention: 10n,
      fetchTimeoutMs: 1_000,
    },
    app: {
      payloadBytes: BLOCK_TXS * TX_BYTES,
      propose: { meanMs: 0.05, sdMs: 0.01 },
      verify: { meanMs: 0.05, sdMs: 0.01 },
      certify: { meanMs: 0.01, sdMs: 0 },
    },
    trace: (line) => {
      const o = own.exec(line)
      // A validator's own notarize: the earliest one of a view is its leader's, just after
      // proposing.
      if (o && o[2] === o[4] && !proposedAt.has(o[3]!)) proposedAt.set(o[3]!, Number(o[1]))
      const f = fin.exec(line)
      if (f) finalizedAt.set(f[2]!, Number(f[1]))
    },
  })
  c.start()
  c.runUntilFinalized(views, 3600_000)
  const latencies: number[] = []
  for (const [view, t] of finalizedAt) {
    const p = proposedAt.get(view)
    if (p !== undefined && Number(view) > 10) latencies.push(t - p)
  }
  const viewsDone = Number(c.minFinalized())
  return {
    views: viewsDone,
    simulatedMs: c.now,
    txPerSecond: (viewsDone * BLOCK_TXS) / (c.now / 1000),
    latencyP50: median(latencies),
    latencyP99: percentile(latencies, 99),
  }
}

// ---- the run -----------------------------------------------------------------------------
const main = async () => {
  const net = await import("node:net")
  const freePort = () =>
    new Promise<number>((resolve) => {
      const s = net.createServer().listen(0, "127.0.0.1", () => {
        const p = (s.address() as import("node:net").AddressInfo).port
        s.close(() => resolve(p))
      })
    })
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "guts-bench-consensus-"))
  const children: ChildProcess[] = []
  try {
    const keys = Array.from({ length: N }, () => generateNodeKey())
    const ports = await Promise.all(keys.map(() => freePort()))
    const keyFiles = keys.map((_, i) => path.join(dir, `node-${i}.key`))
    for (const [i, k] of keys.entries()) await Effect.runPromise(writeNodeKey(keyFiles[i]!, k))
    const config: BenchConfig = {
      validators: keys.map((k, i) => ({
        publicKey: k.publicKeyHex,
        address: `/ip4/127.0.0.1/tcp/${ports[i]}`,
        port: ports[i]!,
      })),
      keyFiles,
      dataDirs: keys.map((_, i) => path.join(dir, `node-${i}`)),
    }
    const configFile = path.join(dir, "config.json")
    fs.writeFileSync(configFile, JSON.stringify(config))

    const linkMs = await measureLinkLatency(
      [generateNodeKey(), generateNodeKey()],
      [await freePort(), await freePort()],
    )
    const fsyncMs = measureFsync(dir)
    log(
      `load average (1 min) at start: ${os.loadavg()[0]!.toFixed(2)} on ${os.cpus().length} cores`,
    )
    log(
      `measured: libp2p one-way latency ${linkMs.toFixed(3)} ms, journal fsync ${fsyncMs.toFixed(3)} ms`,
    )

    log(`starting ${N} validator processes (blocks of ${BLOCK_TXS} × ${TX_BYTES}-byte txs)...`)
    const samples: Array<{ txs: number; latency: number; at: number }> = []
    const nullified: number[] = []
    let ready = 0
    for (let i = 0; i < N; i++) {
      const child = spawn(
        process.execPath,
        [
          ...(process.env.GUTS_BENCH_PROF
            ? ["--cpu-prof", `--cpu-prof-dir=${process.env.GUTS_BENCH_PROF}`]
            : []),
          "--import",
          "tsx",
          import.meta.filename,
          "--worker",
          String(i),
          configFile,
        ],
        { cwd: root, stdio: ["ignore", "pipe", "inherit"] },
      )
      children.push(child)
      readline.createInterface({ input: child.stdout! }).on("line", (line) => {
        if (line === "READY") ready++
        const m = /^F (\d+) (\d+) (\d+) (\S+) (\S+)$/.exec(line)
        if (m) samples.push({ txs: Number(m[3]), latency: Number(m[4]), at: Number(m[5]) })
        const n = /^N (\d+) (\S+)$/.exec(line)
        if (n) nullified.push(Number(n[2]))
      })
    }
    const deadline = Date.now() + 120_000
    while (samples.length === 0 && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 100))
    if (samples.length === 0) throw new Error(`no block finalized (${ready} workers ready)`)
    const start = samples[0]!.at + WARMUP_MS
    await new Promise((r) => setTimeout(r, WARMUP_MS + MEASURE_MS + 500))
    const window = samples.filter((s) => s.at >= start && s.at < start + MEASURE_MS)
    const txs = window.reduce((n, s) => n + s.txs, 0)
    const real = {
      blocks: window.length,
      nullifiedViews: nullified.filter((t) => t >= start && t < start + MEASURE_MS).length,
      txPerSecond: txs / (MEASURE_MS / 1000),
      latencyP50: median(window.map((s) => s.latency)),
      latencyP99: percentile(
        window.map((s) => s.latency),
        99,
      ),
    }
    for (const child of children) child.kill("SIGTERM")

    log("simulating the same settings...")
    const sim = simulate(linkMs, fsyncMs, BigInt(Math.max(200, real.blocks)))
    const ratio = real.txPerSecond / sim.txPerSecond
    console.log(
      `libp2p, 4 processes: ${real.txPerSecond.toFixed(0)} tx/s (${real.blocks} blocks, ${real.nullifiedViews} nullified views in ${MEASURE_MS / 1000} s), finality p50 ${real.latencyP50.toFixed(1)} ms, p99 ${real.latencyP99.toFixed(1)} ms`,
    )
    console.log(
      `simulator (link ${linkMs.toFixed(3)} ms, fsync ${fsyncMs.toFixed(3)} ms): ${sim.txPerSecond.toFixed(0)} tx/s, finality p50 ${sim.latencyP50.toFixed(1)} ms, p99 ${sim.latencyP99.toFixed(1)} ms`,
    )
    writeResult("consensus", {
      quick,
      validators: N,
      blockTxs: BLOCK_TXS,
      txBytes: TX_BYTES,
      measured: { linkMs, fsyncMs },
      libp2p: real,
      simulator: sim,
      ratio,
    })
    console.log(
      `consensus: ratio=${ratio.toFixed(2)} (libp2p ÷ simulator tx/s; target ≥ 2,000 tx/s and finality p50 ≤ 10 ms: ${real.txPerSecond.toFixed(0)} tx/s, p50 ${real.latencyP50.toFixed(1)} ms)`,
    )
  } finally {
    for (const child of children) if (child.exitCode === null) child.kill("SIGKILL")
    fs.rmSync(dir, { recursive: true, force: true })
  }
}

if (process.argv[2] === "--worker") await worker(Number(process.argv[3]), process.argv[4]!)
else await main()
