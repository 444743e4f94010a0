/**
 * simulation: how fast the deterministic simulator runs consensus, and what signatures
 * cost.
 *
 * 1. Simulated views per wall-clock second: 10 validators, all online, 10 ms ± 1 ms links,
 *    until every node finalized 1,000 views (the same cluster the catalogue uses, with
 *    invariant checks, transcript and marshal on). SimScheme (median of runs, target
 *    ≥ 1,000 views/s) and Ed25519Scheme (node:crypto).
 * 2. Ed25519 signature operations per second: node:crypto (what the engine uses) and
 *    @noble/ed25519 3 side by side, sign and verify of a vote-sized message.
 *
 * Prints `simulation: ratio=<views/s ÷ 1000> (target ≥ 1)` last and writes
 * bench-results/simulation.json. GUTS_BENCH_QUICK=1 runs fewer views and operations;
 * GUTS_BENCH_RUNS sets the SimScheme runs (default 3). The measured runs follow a
 * warm-up run as long as one of them, so they time the optimized code rather than the
 * JIT compiling it; the wall-clock figure still includes whatever else the machine runs
 * (the cpu figure of each run is printed beside it).
 */
import { createHash } from "node:crypto"
import * as ed from "@noble/ed25519"
import { Ed25519Scheme, SimScheme, suffixed } from "../../src/domain/consensus/Scheme.ts"
import { Cluster, NAMESPACE, type SchemeName } from "../../src/layers/sim/Cluster.ts"
import { Prng } from "../../src/layers/sim/Prng.ts"
import { log, writeResult } from "./lib.ts"

const quick = process.env.GUTS_BENCH_QUICK !== undefined
const runs = Number(process.env.GUTS_BENCH_RUNS ?? 3)
const VIEWS = quick ? 300n : 1000n
const ED_VIEWS = quick ? 100n : 1000n
const SIG_OPS = quick ? 500 : 3000

interface SimRun {
  readonly scheme: SchemeName
  readonly views: number
  readonly wallMs: number
  readonly cpuMs: number
  readonly simulatedMs: number
  readonly events: number
  readonly messages: number
  readonly viewsPerSecond: number
}

const simulate = (scheme: SchemeName, seed: number, views: bigint): SimRun => {
  const wall0 = performance.now()
  const cpu0 = process.cpuUsage()
  const c = new Cluster({ seed, scenario: "bench", n: 10, scheme })
  c.start()
  c.runUntilFinalized(views, 24 * 3600_000)
  const cpu = process.cpuUsage(cpu0)
  const wallMs = performance.now() - wall0
  if (!c.monitor.ok)
    throw new Error(`the benchmark run broke an invariant: ${c.monitor.violations[0]}`)
  if (c.minFinalized() < views)
    throw new Error(`the benchmark run stalled at view ${c.minFinalized()}`)
  return {
    scheme,
    views: Number(views),
    wallMs,
    cpuMs: (cpu.user + cpu.system) / 1000,
    simulatedMs: c.now,
    events: c.scheduler.executed,
    messages: c.network.counters.sent,
    viewsPerSecond: Number(views) / (wallMs / 1000),
  }
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.floor(s.length / 2)]
}

const opsPerSecond = (count: number, f: (i: number) => void): number => {
  const t0 = performance.now()
  for (let i = 0; i < count; i++) f(i)
  return count / ((performance.now() - t0) / 1000)
}

// ---- 1. simulated views per second -----------------------------------------------------

log("warming up the simulator...")
simulate("sim", 99, VIEWS)
const simRuns: SimRun[] = []
for (let r = 0; r < runs; r++) {
  const run = simulate("sim", r + 1, VIEWS)
  simRuns.push(run)
  log(
    `sim scheme, run ${r + 1}: ${run.views} views in ${run.wallMs.toFixed(0)} ms wall (${run.cpuMs.toFixed(0)} ms cpu), ${run.viewsPerSecond.toFixed(0)} views/s, ${run.messages} messages`,
  )
}
const simViewsPerSecond = median(simRuns.map((r) => r.viewsPerSecond))
const edRun = simulate("ed25519", 1, ED_VIEWS)
log(
  `ed25519 scheme: ${edRun.views} views in ${edRun.wallMs.toFixed(0)} ms wall, ${edRun.viewsPerSecond.toFixed(0)} views/s`,
)

// ---- 2. signature operations per second ------------------------------------------------

ed.hashes.sha512 = (m: Uint8Array) => new Uint8Array(createHash("sha512").update(m).digest())
const prng = new Prng(7)
const seed = prng.bytes(32)
const ns = suffixed(NAMESPACE, "_NOTARIZE")
// A vote-sized message (an encoded proposal: round, parent, 32-byte payload).
const messages = Array.from({ length: 64 }, () => prng.bytes(48))
const framed = (m: Uint8Array) => {
  // The bytes the engine signs: varint(len(ns)) ‖ ns ‖ message (ns is shorter than 128).
  const out = new Uint8Array(1 + ns.length + m.length)
  out[0] = ns.length
  out.set(ns, 1)
  out.set(m, 1 + ns.length)
  return out
}

const nodeScheme = new Ed25519Scheme()
const nodeSigner = nodeScheme.signerFromSeed(seed)
const nodeSigs = messages.map((m) => nodeSigner.sign(ns, m))
const nodeSign = opsPerSecond(SIG_OPS, (i) => nodeSigner.sign(ns, messages[i % 64]))
const nodeVerify = opsPerSecond(SIG_OPS, (i) => {
  if (!nodeScheme.verify(nodeSigner.publicKey, ns, messages[i % 64], nodeSigs[i % 64]))
    throw new Error("node:crypto rejected its own signature")
})

const noblePublic = ed.getPublicKey(seed)
const nobleMessages = messages.map(framed)
const nobleSigs = nobleMessages.map((m) => ed.sign(m, seed))
for (let i = 0; i < 64; i++)
  if (Buffer.compare(Buffer.from(nobleSigs[i]), Buffer.from(nodeSigs[i])) !== 0)
    throw new Error("@noble/ed25519 and node:crypto disagree on a signature")
const nobleSign = opsPerSecond(SIG_OPS, (i) => ed.sign(nobleMessages[i % 64], seed))
const nobleVerify = opsPerSecond(SIG_OPS, (i) => {
  if (!ed.verify(nobleSigs[i % 64], nobleMessages[i % 64], noblePublic))
    throw new Error("@noble/ed25519 rejected its own signature")
})

const simScheme = new SimScheme()
const simSigner = simScheme.signerFromSeed(seed)
const simSigs = messages.map((m) => simSigner.sign(ns, m))
const simSign = opsPerSecond(SIG_OPS * 10, (i) => simSigner.sign(ns, messages[i % 64]))
const simVerify = opsPerSecond(SIG_OPS * 10, (i) => {
  if (!simScheme.verify(simSigner.publicKey, ns, messages[i % 64], simSigs[i % 64]))
    throw new Error("SimScheme rejected its own signature")
})

const row = (name: string, sign: number, verify: number) =>
  `${name.padEnd(24)} ${sign.toFixed(0).padStart(10)} ${verify.toFixed(0).padStart(10)}`
log("")
log(`${"signatures/s".padEnd(24)} ${"sign".padStart(10)} ${"verify".padStart(10)}`)
log(row("node:crypto Ed25519", nodeSign, nodeVerify))
log(row("@noble/ed25519 3", nobleSign, nobleVerify))
log(row("SimScheme (insecure)", simSign, simVerify))
log("")

const ratio = simViewsPerSecond / 1000
writeResult("simulation", {
  quick,
  validators: 10,
  views: Number(VIEWS),
  sim: { viewsPerSecond: simViewsPerSecond, runs: simRuns, target: 1000 },
  ed25519: edRun,
  signatures: {
    opsPerMeasure: SIG_OPS,
    nodeCrypto: { sign: nodeSign, verify: nodeVerify },
    noble: { sign: nobleSign, verify: nobleVerify },
    simScheme: { sign: simSign, verify: simVerify },
  },
  ratio,
})
console.log(
  `sim scheme: ${simViewsPerSecond.toFixed(0)} views/s (median of ${runs}, 10 validators, ${VIEWS} views)`,
)
console.log(`ed25519 scheme: ${edRun.viewsPerSecond.toFixed(0)} views/s`)
console.log(
  `ed25519 sign/verify per s: node:crypto ${nodeSign.toFixed(0)}/${nodeVerify.toFixed(0)}, @noble/ed25519 ${nobleSign.toFixed(0)}/${nobleVerify.toFixed(0)}`,
)
console.log(`simulation: ratio=${ratio.toFixed(2)} (target ≥ 1)`)
