/**
 * `guts sim`: the deterministic consensus simulator on the command line.
 *
 *   --scenario NAME --seed N [--trace]   replay one run (--trace prints every event)
 *   --seeds K [--scenario NAME]          campaign: the catalogue (or one scenario) over
 *                                        seeds 0..K-1, progress on stderr, summary table
 *   --scheme sim|ed25519                 signature scheme (default sim)
 *   --size ci|full                       scenario sizes (default full, the spec's sizes)
 *   --list                               list the scenarios and their expected outcomes
 *
 * Every run prints `transcript: <hex>`; a failing run prints the command that replays it
 * and the exit code is non-zero (1 = a run failed, 2 = bad arguments).
 */
import type { SchemeName } from "../layers/sim/Cluster.ts"
import type { LeaderAccount } from "../layers/sim/Reporter.ts"
import {
  SCENARIOS,
  type Scenario,
  type ScenarioOptions,
  type ScenarioResult,
  type Size,
  sumLeaders,
} from "../layers/sim/Scenarios.ts"

interface Args {
  scenario?: string
  seed?: number
  seeds?: number
  trace: boolean
  scheme: SchemeName
  size: Size
  list: boolean
  help: boolean
}

class UsageError {
  constructor(readonly message: string) {}
}

const USAGE = `usage: npm run sim -- --scenario NAME --seed N [--trace]
       npm run sim -- --seeds K [--scenario NAME]
options: --scheme sim|ed25519  --size ci|full  --list  --help`

const parse = (argv: ReadonlyArray<string>): Args => {
  const args: Args = { trace: false, scheme: "sim", size: "full", list: false, help: false }
  const int = (flag: string, v: string | undefined): number => {
    if (v === undefined || !/^\d+$/.test(v))
      throw new UsageError(`${flag} needs a non-negative integer`)
    return Number(v)
  }
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    const [flag, inline] = a.startsWith("--") && a.includes("=") ? a.split("=", 2) : [a, undefined]
    const value = () => inline ?? argv[++i]
    switch (flag) {
      case "--":
        break
      case "--scenario":
        args.scenario = value()
        break
      case "--seed":
        args.seed = int("--seed", value())
        break
      case "--seeds":
        args.seeds = int("--seeds", value())
        break
      case "--trace":
        args.trace = true
        break
      case "--scheme": {
        const v = value()
        if (v !== "sim" && v !== "ed25519") throw new UsageError("--scheme is sim or ed25519")
        args.scheme = v
        break
      }
      case "--size": {
        const v = value()
        if (v !== "ci" && v !== "full") throw new UsageError("--size is ci or full")
        args.size = v
        break
      }
      case "--list":
        args.list = true
        break
      case "--help":
      case "-h":
        args.help = true
        break
      default:
        throw new UsageError(`unknown argument ${a}`)
    }
  }
  return args
}

const replayCommand = (r: { scenario: string; seed: number }, args: Args): string => {
  const extra = [
    args.scheme !== "sim" ? ` --scheme ${args.scheme}` : "",
    args.size !== "full" ? ` --size ${args.size}` : "",
  ].join("")
  return `npm run sim -- --seed ${r.seed} --scenario ${r.scenario}${extra}`
}

/** Runs one scenario; an exception inside the run is a failed run, not a crash of the CLI. */
const runOne = (s: Scenario, seed: number, options: ScenarioOptions): ScenarioResult => {
  const started = performance.now()
  try {
    return s.run(seed, options)
  } catch (e) {
    const what = e instanceof Error ? (e.stack ?? e.message) : String(e)
    return {
      scenario: s.name,
      seed,
      ok: false,
      violations: [`[scenario=${s.name} seed=${seed}] the run threw: ${what}`],
      transcript: "(none: the run threw)",
      views: 0n,
      simMs: 0,
      wallMs: performance.now() - started,
      events: 0,
      expect: s.expect,
      notes: {},
      leaders: [],
    }
  }
}

/** Right-aligned columns, the first one left-aligned. */
const formatTable = (header: ReadonlyArray<string>, rows: ReadonlyArray<string[]>): string[] => {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i].length)))
  const fmt = (cells: ReadonlyArray<string>) =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join("  ")
  return [fmt(header), widths.map((w) => "-".repeat(w)).join("  "), ...rows.map(fmt)]
}

/**
 * The per-leader account of a run: how the views each leader led ended (finalized,
 * notarized, nullified, as the honest validators saw them) and how many timeouts that
 * leader cost the honest validators in total.
 */
const leaderTable = (leaders: ReadonlyArray<LeaderAccount>): string[] => {
  if (leaders.length === 0) return []
  const rows = leaders.map((a, i) => [
    String(i),
    String(a.finalized),
    String(a.notarized),
    String(a.nullified),
    String(a.timeouts),
  ])
  return [
    "view changes by leader (views finalized, notarized, nullified; timeouts over honest nodes):",
    ...formatTable(["leader", "finalized", "notarized", "nullified", "timeouts"], rows).map(
      (l) => `  ${l}`,
    ),
  ]
}

/** Nullified views in total and the leaders that caused most of them, e.g. `12 (3:10 0:2)`. */
const nullifiedByLeader = (leaders: ReadonlyArray<LeaderAccount>): string => {
  const total = leaders.reduce((s, a) => s + a.nullified, 0)
  if (total === 0) return "0"
  const top = leaders
    .map((a, i) => ({ i, n: a.nullified }))
    .filter((x) => x.n > 0)
    .sort((a, b) => b.n - a.n || a.i - b.i)
    .slice(0, 3)
    .map((x) => `${x.i}:${x.n}`)
  return `${total} (${top.join(" ")})`
}

const out = (line: string) => process.stdout.write(`${line}\n`)
const err = (line: string) => process.stderr.write(`${line}\n`)

const replay = (s: Scenario, seed: number, args: Args): number => {
  const options: ScenarioOptions = {
    scheme: args.scheme,
    size: args.size,
    ...(args.trace ? { trace: out } : {}),
  }
  const r = runOne(s, seed, options)
  out(`scenario: ${r.scenario}  seed: ${r.seed}  scheme: ${args.scheme}  size: ${args.size}`)
  out(`expect: ${r.expect}`)
  out(
    `result: ${r.ok ? "PASS" : "FAIL"}  views: ${r.views}  simulated: ${(r.simMs / 1000).toFixed(1)} s  wall: ${r.wallMs.toFixed(0)} ms  events: ${r.events}`,
  )
  const notes = Object.entries(r.notes)
  if (notes.length > 0) out(`notes: ${notes.map(([k, v]) => `${k}=${v}`).join(" ")}`)
  for (const line of leaderTable(r.leaders)) out(line)
  for (const v of r.violations) out(`violation: ${v}`)
  out(`transcript: ${r.transcript}`)
  if (!r.ok) {
    out(`replay: ${replayCommand(r, args)}`)
    return 1
  }
  return 0
}

interface Row {
  runs: number
  passed: number
  failed: number
  firstFailing: number | undefined
  viewsPerSecond: number[]
  /** Per-leader accounts summed over the scenario's runs. */
  leaders: LeaderAccount[]
}

const bar = (done: number, total: number, label: string): string => {
  const width = 30
  const filled = Math.round((done / Math.max(total, 1)) * width)
  return `\r[${"#".repeat(filled)}${"-".repeat(width - filled)}] ${done}/${total} ${label}`.padEnd(
    80,
  )
}

const campaign = (scenarios: ReadonlyArray<Scenario>, seeds: number, args: Args): number => {
  const options: ScenarioOptions = { scheme: args.scheme, size: args.size }
  const rows = new Map<string, Row>()
  const failures: ScenarioResult[] = []
  const total = scenarios.length * seeds
  let done = 0
  for (const s of scenarios) {
    const row: Row = {
      runs: 0,
      passed: 0,
      failed: 0,
      firstFailing: undefined,
      viewsPerSecond: [],
      leaders: [],
    }
    rows.set(s.name, row)
    for (let seed = 0; seed < seeds; seed++) {
      process.stderr.write(bar(done, total, `${s.name} seed ${seed}`))
      const r = runOne(s, seed, options)
      done++
      row.runs++
      if (r.ok) row.passed++
      else {
        row.failed++
        if (row.firstFailing === undefined) row.firstFailing = seed
        failures.push(r)
      }
      if (r.wallMs > 0) row.viewsPerSecond.push(Number(r.views) / (r.wallMs / 1000))
      row.leaders = sumLeaders([row.leaders, r.leaders])
      out(
        `${r.ok ? "PASS" : "FAIL"} ${r.scenario} seed=${seed} views=${r.views} transcript: ${r.transcript}`,
      )
    }
  }
  process.stderr.write(`${bar(done, total, "done")}\n`)
  const header = [
    "scenario",
    "runs",
    "passed",
    "failed",
    "first failing seed",
    "mean views/s",
    "nullified (by leader)",
    "timeouts",
  ]
  const table = [...rows].map(([name, r]) => [
    name,
    String(r.runs),
    String(r.passed),
    String(r.failed),
    r.firstFailing === undefined ? "-" : String(r.firstFailing),
    r.viewsPerSecond.length === 0
      ? "-"
      : (r.viewsPerSecond.reduce((a, b) => a + b, 0) / r.viewsPerSecond.length).toFixed(0),
    nullifiedByLeader(r.leaders),
    String(r.leaders.reduce((s, a) => s + a.timeouts, 0)),
  ])
  out("")
  for (const line of formatTable(header, table)) out(line)
  if (failures.length === 0) {
    out(`\nall ${total} runs passed`)
    return 0
  }
  out(`\n${failures.length} of ${total} runs failed:`)
  for (const f of failures) {
    out(`  ${f.violations[0] ?? f.scenario}`)
    out(`  replay: ${replayCommand(f, args)}`)
  }
  return 1
}

/**
 * Runs the CLI; returns the exit code. `catalogue` defaults to the spec catalogue (tests
 * pass their own to exercise failing runs).
 */
export const runSimCli = async (
  argv: ReadonlyArray<string>,
  catalogue: ReadonlyArray<Scenario> = SCENARIOS,
): Promise<number> => {
  let args: Args
  try {
    args = parse(argv)
  } catch (e) {
    if (e instanceof UsageError) {
      err(`sim: ${e.message}`)
      err(USAGE)
      return 2
    }
    throw e
  }
  if (args.help) {
    out(USAGE)
    return 0
  }
  if (args.list) {
    for (const s of catalogue) out(`${s.name.padEnd(42)} ${s.expect}`)
    return 0
  }
  const chosen =
    args.scenario === undefined ? undefined : catalogue.find((s) => s.name === args.scenario)
  if (args.scenario !== undefined && chosen === undefined) {
    err(`sim: unknown scenario ${args.scenario} (try --list)`)
    return 2
  }
  if (args.seeds !== undefined) {
    if (args.seed !== undefined || args.trace) {
      err("sim: --seeds runs a campaign; use --seed N [--trace] to replay one run")
      return 2
    }
    return campaign(chosen === undefined ? catalogue : [chosen], args.seeds, args)
  }
  if (chosen === undefined || args.seed === undefined) {
    err("sim: give --scenario NAME --seed N, or --seeds K")
    err(USAGE)
    return 2
  }
  return replay(chosen, args.seed, args)
}
