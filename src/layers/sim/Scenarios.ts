/**
 * The simulation catalogue of spec §7: every scenario is a named function
 * `(seed, options) => ScenarioResult` that builds a cluster, drives it through its story
 * on simulated time, checks the invariants (Invariants.ts) and its own expected outcome,
 * and returns the verdict with the run's transcript.
 *
 * Sizes: `size: "ci"` (the default) keeps each scenario's story and checks but runs fewer
 * views or cases, so the whole catalogue over a couple of seeds takes seconds; `"full"`
 * uses the sizes of the spec.
 *
 * Guarantees: a scenario is a pure function of (seed, options): same inputs, same result
 * and transcript (wall-clock time is measured for reports only and never feeds the run).
 */
import { createHash } from "node:crypto"
import { digestEquals, digestHex, type View } from "../../domain/consensus/Types.ts"
import { Byzantine, Equivocator, twinsScript } from "./Byzantine.ts"
import {
  type ActorFactory,
  Cluster,
  type ClusterOptions,
  EPOCH,
  type SchemeName,
} from "./Cluster.ts"
import { Injector } from "./Injector.ts"
import { expectFinalized } from "./Invariants.ts"
import type { StoredBlock } from "./MockApp.ts"
import { emptyAccount, type LeaderAccount, leaderSummary } from "./Reporter.ts"
import { Prng } from "./Prng.ts"
import { DEFAULT_LINK, type Link } from "./SimNetwork.ts"
import type { SimNode } from "./SimNode.ts"

export type Size = "ci" | "full"

export interface ScenarioOptions {
  readonly scheme?: SchemeName
  readonly size?: Size
  readonly trace?: (line: string) => void
}

export interface ScenarioResult {
  readonly scenario: string
  readonly seed: number
  readonly ok: boolean
  readonly violations: ReadonlyArray<string>
  readonly transcript: string
  /** Lowest last-finalized view over the honest validators watched at the end. */
  readonly views: bigint
  readonly simMs: number
  readonly wallMs: number
  readonly events: number
  readonly expect: string
  readonly notes: Readonly<Record<string, string | number>>
  /**
   * How the views each leader led ended, by participant index (see Reporter.ts
   * leaderSummary): finalized, notarized and nullified views as the honest validators saw
   * them, and their timeouts summed over them.
   */
  readonly leaders: ReadonlyArray<LeaderAccount>
}

export interface Scenario {
  readonly name: string
  /** The expected outcome, in words. */
  readonly expect: string
  run(seed: number, options?: ScenarioOptions): ScenarioResult
}

// ---- helpers --------------------------------------------------------------------------

const pick = <T>(options: ScenarioOptions | undefined, ci: T, full: T): T =>
  (options?.size ?? "ci") === "full" ? full : ci

const link = (latencyMs: number, jitterMs: number, successRate = 1): Link => ({
  latencyMs,
  jitterMs,
  successRate,
})

const base = (
  name: string,
  seed: number,
  options: ScenarioOptions | undefined,
  rest: Omit<ClusterOptions, "seed" | "scenario" | "scheme" | "trace">,
): ClusterOptions => ({
  seed,
  scenario: name,
  scheme: options?.scheme ?? "sim",
  ...(options?.trace !== undefined ? { trace: options.trace } : {}),
  ...rest,
})

const leaderOf = (view: View, n: number): number => Number((EPOCH + view) % BigInt(n))

/** Everything a result needs from one finished cluster. */
const conclude = (
  c: Cluster,
  name: string,
  seed: number,
  expect: string,
  started: number,
  watched: ReadonlyArray<SimNode> = c.validators.filter((x) => x.up),
  notes: Record<string, string | number> = {},
): ScenarioResult => ({
  scenario: name,
  seed,
  ok: c.monitor.ok,
  violations: c.monitor.violations,
  transcript: c.transcript.hex(),
  views: c.minFinalized(watched),
  simMs: c.now,
  wallMs: performance.now() - started,
  events: c.scheduler.executed,
  expect,
  notes: {
    sent: c.network.counters.sent,
    dropped: c.network.counters.dropped,
    certificates: c.monitor.certificatesChecked,
    ...notes,
  },
  leaders: leaderSummary(
    c.validators.map((x) => x.reporter),
    c.n,
  ),
})

/** Several clusters of one scenario (the cases of a campaign) as one result. */
const combine = (
  name: string,
  seed: number,
  expect: string,
  started: number,
  parts: ReadonlyArray<ScenarioResult>,
): ScenarioResult => {
  const violations = parts.flatMap((p) => p.violations)
  const h = createHash("sha256")
  for (const p of parts) h.update(p.transcript)
  return {
    scenario: name,
    seed,
    ok: violations.length === 0,
    violations,
    transcript: h.digest("hex"),
    views:
      parts.reduce<bigint | undefined>(
        (m, p) => (m === undefined || p.views < m ? p.views : m),
        undefined,
      ) ?? 0n,
    simMs: parts.reduce((s, p) => s + p.simMs, 0),
    wallMs: performance.now() - started,
    events: parts.reduce((s, p) => s + p.events, 0),
    expect,
    notes: {
      runs: parts.length,
      evidence: parts.reduce((s, p) => s + Number(p.notes.evidence ?? 0), 0),
      blocks: parts.reduce((s, p) => s + Number(p.notes.blocks ?? 0), 0),
    },
    leaders: sumLeaders(parts.map((p) => p.leaders)),
  }
}

/** Per-leader accounts of several runs added up, leader by leader. */
export const sumLeaders = (
  accounts: ReadonlyArray<ReadonlyArray<LeaderAccount>>,
): LeaderAccount[] => {
  const out: LeaderAccount[] = []
  for (const list of accounts)
    list.forEach((a, i) => {
      if (out[i] === undefined) out[i] = emptyAccount()
      const o = out[i]
      o.finalized += a.finalized
      o.notarized += a.notarized
      o.nullified += a.nullified
      o.timeouts += a.timeouts
    })
  return out
}

const noFaults = (c: Cluster): void => {
  for (const x of c.nodes.values()) {
    const r = x.reporter
    if (r.faults.length > 0)
      c.monitor.violation(
        `node ${x.identity} reported ${r.faults.length} faults (first ${r.faults[0].kind} by ${r.faults[0].offender}), expected none`,
      )
    if (r.invalidSignatures.length > 0)
      c.monitor.violation(
        `node ${x.identity} saw ${r.invalidSignatures.length} invalid signatures, expected none`,
      )
    if (r.blocks.length > 0)
      c.monitor.violation(
        `node ${x.identity} blocked peer ${r.blocks[0].peer} (${r.blocks[0].reason}), expected no blocks`,
      )
  }
}

/** Every honest validator blocked `peer` at least once (optionally for a reason matching `why`). */
const blockedByAll = (c: Cluster, peer: number, why?: RegExp): void => {
  for (const x of c.validators) {
    const hit = x.reporter.blocks.some(
      (b) => b.peer === peer && (why === undefined || why.test(b.reason)),
    )
    if (!hit)
      c.monitor.violation(
        `honest node ${x.identity} never blocked Byzantine node ${peer}${why === undefined ? "" : ` for ${why}`}`,
      )
  }
}

const progress = (
  c: Cluster,
  views: bigint,
  withinMs: number,
  nodes = c.validators.filter((x) => x.up),
) => expectFinalized(c.monitor, nodes, views, withinMs)

/** Runs a standard "start everything, reach `views`" story and checks progress. */
const simple = (
  c: Cluster,
  views: bigint,
  boundMs: number,
  except: ReadonlyArray<number> = [],
): void => {
  c.start(except)
  c.runUntilFinalized(views, boundMs)
  progress(c, views, boundMs)
}

const byzantineIdentity = (seed: number, n: number): number => Prng.derive(seed, "byzantine").int(n)

// ---- honest scenarios -----------------------------------------------------------------

const allOnline: Scenario = {
  name: "all_online",
  expect:
    "n=5 over 200 ms links reaches the target; no faults, invalid signatures or blocks; every view up to the target has a certificate",
  run(seed, options) {
    const t0 = performance.now()
    const views = pick(options, 30n, 100n)
    const c = new Cluster(
      base(this.name, seed, options, {
        n: 5,
        link: link(200, 20),
        timing: { leaderTimeoutMs: 2000, certificationTimeoutMs: 3000 },
      }),
    )
    simple(c, views, 600_000)
    noFaults(c)
    for (let v = 1n; v <= views; v++)
      if (!c.monitor.finalizedViews.has(v) && !c.monitor.nullifiedViews.has(v))
        c.monitor.violation(`view ${v} has neither a finalization nor a nullification`)
    return conclude(c, this.name, seed, this.expect, t0)
  },
}

const oneOffline: Scenario = {
  name: "one_offline",
  expect:
    "n=5 with one node never started reaches the target; the offline node signs nothing; its leader views are nullified (≤ 10 exceptions); no faults",
  run(seed, options) {
    const t0 = performance.now()
    const views = pick(options, 30n, 100n)
    const n = 5
    const offline = Prng.derive(seed, "offline").int(n)
    const c = new Cluster(base(this.name, seed, options, { n }))
    simple(c, views, 900_000, [offline])
    noFaults(c)
    const signed = c.monitor.signed.get(offline)
    if (signed !== undefined)
      c.monitor.violation(`offline node ${offline} appears as a signer in certificates`)
    let exceptions = 0
    for (let v = 1n; v <= views; v++)
      if (leaderOf(v, n) === offline && !c.monitor.nullifiedViews.has(v)) exceptions++
    if (exceptions > 10)
      c.monitor.violation(
        `${exceptions} views led by the offline node were not nullified (≤ 10 allowed)`,
      )
    return conclude(c, this.name, seed, this.expect, t0, undefined, { offline, exceptions })
  },
}

const slowValidator: Scenario = {
  name: "slow_validator",
  expect:
    "n=5 where one node's application takes 10 s: it never notarizes or finalizes, everyone else reaches the target",
  run(seed, options) {
    const t0 = performance.now()
    const views = pick(options, 20n, 50n)
    const slow = Prng.derive(seed, "slow").int(5)
    const tenSeconds = { meanMs: 10_000, sdMs: 0 }
    const c = new Cluster(
      base(this.name, seed, options, {
        n: 5,
        appFor: (i) =>
          i === slow ? { propose: tenSeconds, verify: tenSeconds, certify: tenSeconds } : undefined,
      }),
    )
    c.start()
    const others = c.validators.filter((x) => x.identity !== slow)
    c.runUntilFinalized(views, 900_000, others)
    progress(c, views, 900_000, others)
    const r = c.node(slow).reporter
    if (r.ownVotes.Notarize + r.ownVotes.Finalize > 0)
      c.monitor.violation(
        `slow node ${slow} signed ${r.ownVotes.Notarize} notarize and ${r.ownVotes.Finalize} finalize votes`,
      )
    return conclude(c, this.name, seed, this.expect, t0, others, {
      slow,
      slowFinalized: Number(r.lastFinalized),
    })
  },
}

const backfill: Scenario = {
  name: "backfill",
  expect:
    "n=4 with node 0 offline: the others finalize, then nullify over 3 s links for 60 s; with node 1 cut off, node 0 starts, fetches certificates and the three finalize past the old tip",
  run(seed, options) {
    const t0 = performance.now()
    const first = pick(options, 30n, 100n)
    const extra = pick(options, 10n, 20n)
    const c = new Cluster(base(this.name, seed, options, { n: 4 }))
    c.start([0])
    c.runUntilFinalized(first, 600_000)
    progress(c, first, 600_000)
    c.network.setAllLinks(link(3000, 0))
    c.run(c.now + 60_000)
    const tip = c.maxFinalized()
    c.network.setAllLinks(DEFAULT_LINK)
    c.network.setLinksOf(1, undefined)
    const resolverBefore = c.network.counters.sentOn.resolver
    c.node(0).start()
    const watched = [0, 2, 3].map((i) => c.node(i))
    const bound = c.now + 600_000
    c.runUntilFinalized(tip + extra, bound, watched)
    progress(c, tip + extra, 600_000, watched)
    const fetched = c.network.counters.sentOn.resolver - resolverBefore
    if (fetched === 0) c.monitor.violation("node 0 caught up without any resolver traffic")
    noFaults(c)
    return conclude(c, this.name, seed, this.expect, t0, watched, {
      tipBefore: Number(tip),
      resolverMessages: fetched,
    })
  },
}

const allRecovery: Scenario = {
  name: "all_recovery",
  expect:
    "n=5 over 3 s links makes no progress for 60 s; after an unlink and a relink at 10 ms, at least 7 of the next 10 views are notarized",
  run(seed, options) {
    const t0 = performance.now()
    const c = new Cluster(base(this.name, seed, options, { n: 5, link: link(3000, 0) }))
    c.start()
    c.run(60_000)
    for (let i = 0; i < 5; i++) for (let j = 0; j < 5; j++) if (i !== j) c.network.removeLink(i, j)
    c.run(c.now + 5_000)
    c.network.setAllLinks(DEFAULT_LINK)
    let v0 = 0n
    for (const x of c.validators)
      if (x.engine !== undefined && x.engine.currentView > v0) v0 = x.engine.currentView
    const target = v0 + 10n
    c.runUntilFinalized(target, c.now + 300_000)
    let notarized = 0
    for (let v = v0 + 1n; v <= target; v++)
      if (c.monitor.notarizedViews.has(v) || c.monitor.finalizedViews.has(v)) notarized++
    if (notarized < 7)
      c.monitor.violation(
        `only ${notarized} of views ${v0 + 1n}..${target} were notarized after the relink (≥ 7 expected)`,
      )
    noFaults(c)
    return conclude(c, this.name, seed, this.expect, t0, undefined, {
      relinkView: Number(v0),
      notarized,
    })
  },
}

const allCrashAfterNullify: Scenario = {
  name: "all_crash_after_nullify",
  expect:
    "n=5, the leader of view 1 never starts; the other four journal nullify(1) and crash before any certificate; after restart they rebuild nullification(1) from journals and retries and progress",
  run(seed, options) {
    const t0 = performance.now()
    const n = 5
    const views = pick(options, 10n, 20n)
    const offline = leaderOf(1n, n)
    const c = new Cluster(base(this.name, seed, options, { n }))
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) if (i !== j) c.network.removeLink(i, j)
    c.start([offline])
    const live = c.validators.filter((x) => x.identity !== offline)
    c.run(60_000, () => live.every((x) => x.engine?.round(1n)?.sentNullify === true))
    for (const x of live) {
      if (x.engine?.round(1n)?.sentNullify !== true)
        c.monitor.violation(`node ${x.identity} never nullified view 1`)
      if (c.monitor.nullifiedViews.has(1n))
        c.monitor.violation("a nullification of view 1 formed before the crash")
    }
    for (const x of live) x.crash()
    c.network.setAllLinks(DEFAULT_LINK)
    for (const x of live) x.start()
    c.runUntilFinalized(views, c.now + 600_000, live)
    progress(c, views, 600_000, live)
    if (!c.monitor.nullifiedViews.has(1n))
      c.monitor.violation("view 1 was never nullified after the restart")
    noFaults(c)
    return conclude(c, this.name, seed, this.expect, t0, live, { offline })
  },
}

const uncleanShutdown: Scenario = {
  name: "unclean_shutdown",
  expect:
    "n=5 over 50±50 ms links with short timeouts; all nodes are killed at random times (0.1–2 s) and restarted, losing unsynced writes, until the target is finalized; no faults",
  run(seed, options) {
    const t0 = performance.now()
    const views = pick(options, 30n, 100n)
    const c = new Cluster(
      base(this.name, seed, options, {
        n: 5,
        link: link(50, 50),
        timing: { leaderTimeoutMs: 500, certificationTimeoutMs: 1000, timeoutRetryMs: 500 },
        syncLatencyMs: 5,
        crashMode: "torn",
      }),
    )
    const chaos = Prng.derive(seed, "chaos")
    c.start()
    let restarts = 0
    while (c.minFinalized() < views && c.now < 1_800_000 && restarts < 2_000) {
      c.run(c.now + chaos.uniform(100, 2000), () => c.minFinalized() >= views)
      if (c.minFinalized() >= views) break
      for (const x of c.validators) x.crash()
      for (const x of c.validators) x.start()
      restarts++
    }
    progress(c, views, c.now)
    noFaults(c)
    const lost = [...c.disks.values()].reduce((s, d) => s + d.counters.lost, 0)
    return conclude(c, this.name, seed, this.expect, t0, undefined, { restarts, lostAppends: lost })
  },
}

const hailstormOnce = (seed: number, options: ScenarioOptions | undefined, rounds: number) => {
  const c = new Cluster(base("hailstorm", seed, options, { n: 5 }))
  const storm = Prng.derive(seed, "storm")
  c.start()
  let mark = 0n
  for (let r = 0; r < rounds; r++) {
    mark = c.maxFinalized() + 15n
    c.run(c.now + 600_000, () => c.maxFinalized() >= mark)
    const victim = c.node(storm.int(5))
    victim.crash()
    c.run(c.now + storm.uniform(0, 2000))
    victim.start()
  }
  const final = mark + 15n
  c.runUntilFinalized(final, c.now + 600_000)
  progress(c, final, c.now)
  noFaults(c)
  return c
}

const hailstorm: Scenario = {
  name: "hailstorm",
  expect:
    "n=5, repeated rounds of killing and restarting a random node 15 views apart; progress continues and two runs of the same seed end in identical state",
  run(seed, options) {
    const t0 = performance.now()
    const rounds = pick(options, 4, 10)
    const a = hailstormOnce(seed, options, rounds)
    const b = hailstormOnce(seed, { ...options, trace: undefined }, rounds)
    const extra: string[] = []
    const label = `[scenario=hailstorm seed=${seed}]`
    if (a.transcript.hex() !== b.transcript.hex())
      extra.push(`${label} two runs produced different transcripts`)
    const state = (c: Cluster) =>
      [...c.monitor.finalizedViews]
        .map(([v, d]) => `${v}:${Buffer.from(d).toString("hex")}`)
        .join(",")
    if (state(a) !== state(b)) extra.push(`${label} two runs finalized different chains`)
    const r = conclude(a, this.name, seed, this.expect, t0, undefined, { rounds })
    return { ...r, ok: r.ok && extra.length === 0, violations: [...r.violations, ...extra] }
  },
}

const partition: Scenario = {
  name: "partition",
  expect:
    "n=10 split 5/5: nothing is notarized or finalized while split; after the heal the network finalizes past the old tip",
  run(seed, options) {
    const t0 = performance.now()
    const extra = pick(options, 10n, 20n)
    const splitMs = pick(options, 30_000, 60_000)
    const c = new Cluster(base(this.name, seed, options, { n: 10 }))
    c.start()
    c.runUntilFinalized(5n, 300_000)
    c.network.partition([
      [0, 1, 2, 3, 4],
      [5, 6, 7, 8, 9],
    ])
    c.run(c.now + 1_000)
    const highest = () => {
      let m = 0n
      for (const v of c.monitor.notarizedViews.keys()) if (v > m) m = v
      for (const v of c.monitor.finalizedViews.keys()) if (v > m) m = v
      return m
    }
    const before = highest()
    c.run(c.now + splitMs)
    const during = highest()
    if (during > before)
      c.monitor.violation(
        `view ${during} was certified while the network was split (tip was ${before})`,
      )
    c.network.heal()
    const tip = c.maxFinalized()
    c.runUntilFinalized(tip + extra, c.now + 600_000)
    progress(c, tip + extra, 600_000)
    noFaults(c)
    return conclude(c, this.name, seed, this.expect, t0, undefined, { tipAtSplit: Number(before) })
  },
}

const slowAndLossy: Scenario = {
  name: "slow_and_lossy_links",
  expect: "n=5 over 200±150 ms links losing 50 % of messages still finalizes the target; no faults",
  run(seed, options) {
    const t0 = performance.now()
    const views = pick(options, 15n, 50n)
    const c = new Cluster(base(this.name, seed, options, { n: 5, link: link(200, 150, 0.5) }))
    simple(c, views, 3_600_000)
    noFaults(c)
    return conclude(c, this.name, seed, this.expect, t0)
  },
}

const run1k: Scenario = {
  name: "run_1k",
  expect:
    "n=10 over 80±10 ms links with 98 % delivery and propose N(100, 50) ms finalizes 1000 views",
  run(seed, options) {
    const t0 = performance.now()
    const views = pick(options, 100n, 1000n)
    const c = new Cluster(
      base(this.name, seed, options, {
        n: 10,
        link: link(80, 10, 0.98),
        app: { propose: { meanMs: 100, sdMs: 50 } },
      }),
    )
    simple(c, views, 3_600_000)
    noFaults(c)
    return conclude(c, this.name, seed, this.expect, t0)
  },
}

const dishonestLeader: Scenario = {
  name: "dishonest_leader_certification_rejected",
  expect:
    "n=5 where certify rejects one leader's blocks: none of its views is finalized and the chain still reaches the target",
  run(seed, options) {
    const t0 = performance.now()
    const views = pick(options, 20n, 50n)
    const n = 5
    const rejected = Prng.derive(seed, "rejected").int(n)
    const c = new Cluster(
      base(this.name, seed, options, {
        n,
        app: { certifyPolicy: (round) => leaderOf(round.view, n) !== rejected },
      }),
    )
    simple(c, views, 900_000)
    let finalizedRejected = 0
    for (const v of c.monitor.finalizedViews.keys())
      if (leaderOf(v, n) === rejected) finalizedRejected++
    if (finalizedRejected > 0)
      c.monitor.violation(
        `${finalizedRejected} views led by rejected leader ${rejected} were finalized`,
      )
    noFaults(c)
    return conclude(c, this.name, seed, this.expect, t0, undefined, { rejected })
  },
}

const observer: Scenario = {
  name: "observer",
  expect:
    "n=4 plus a non-voting observer: the observer follows the chain to the target and delivers its blocks",
  run(seed, options) {
    const t0 = performance.now()
    const views = pick(options, 30n, 100n)
    const c = new Cluster(base(this.name, seed, options, { n: 4, observers: 1 }))
    c.start()
    const obs = c.node(4)
    c.runUntilFinalized(views, 900_000, [...c.nodes.values()])
    progress(c, views, 900_000, [...c.nodes.values()])
    if (obs.reporter.deliveries === 0) c.monitor.violation("the observer delivered no blocks")
    if (obs.sends.vote > 0) c.monitor.violation(`the observer sent ${obs.sends.vote} votes`)
    noFaults(c)
    return conclude(c, this.name, seed, this.expect, t0, [...c.nodes.values()], {
      observerDelivered: Number(obs.reporter.deliveredHeight),
    })
  },
}

const floorJoiner: Scenario = {
  name: "non_genesis_floor_joiner",
  expect:
    "n=5, one node joins late from a finalized floor (not genesis), catches the tip and delivers blocks above its floor",
  run(seed, options) {
    const t0 = performance.now()
    const first = pick(options, 20n, 50n)
    const n = 5
    const joiner = Prng.derive(seed, "joiner").int(n)
    const c = new Cluster(base(this.name, seed, options, { n }))
    c.start([joiner])
    c.runUntilFinalized(first, 600_000)
    const donor = c.validators.find((x) => x.identity !== joiner && x.up)
    const fin = donor?.engine?.round(donor.lastFinalized)?.finalization
    if (donor === undefined || fin === undefined) {
      c.monitor.violation("no finalization to join from")
      return conclude(c, this.name, seed, this.expect, t0)
    }
    const j = c.node(joiner)
    j.joinFrom(fin)
    const floorHeight = j.deliveredHeight
    j.start()
    const tip = c.maxFinalized() + 10n
    c.run(c.now + 600_000, () => c.minFinalized() >= tip && j.deliveredHeight > floorHeight + 5n)
    progress(c, tip, 600_000)
    if (j.deliveredHeight <= floorHeight)
      c.monitor.violation(`the joiner delivered nothing above its floor height ${floorHeight}`)
    noFaults(c)
    return conclude(c, this.name, seed, this.expect, t0, undefined, {
      joiner,
      floorView: Number(fin.proposal.round.view),
    })
  },
}

const splitViews: Scenario = {
  name: "split_views_no_lockup",
  expect:
    "n=10 with 3 nullify-only validators: the 7 honest ones must agree on every view and never lock up; no faults",
  run(seed, options) {
    const t0 = performance.now()
    const views = pick(options, 20n, 50n)
    const n = 10
    const order = Prng.derive(seed, "byzantine").shuffle(Array.from({ length: n }, (_, i) => i))
    const byzantine = new Map<number, ActorFactory>(
      order.slice(0, 3).map((i) => [i, Byzantine.nullifyOnly]),
    )
    const c = new Cluster(base(this.name, seed, options, { n, byzantine }))
    simple(c, views, 1_800_000)
    noFaults(c)
    return conclude(c, this.name, seed, this.expect, t0, undefined, {
      nullifyOnly: order.slice(0, 3).join(","),
    })
  },
}

// ---- hand-made certificate splits (spec §7 certified_split_heals_*) -------------------

/**
 * Who plays which part in a certified split (n = 4, quorum 3): a silent participant that
 * never starts and leads view 10; a lone node that holds a certified notarization the
 * others never saw; the group (two nodes) that holds nullifications instead.
 *
 * The back story is consistent: the silent node and the group signed the split view's
 * notarization (they voted for the block, then timed out without seeing the certificate)
 * and every nullification; their journals say so, so no honest node can later sign a
 * vote that conflicts with what the injected certificates claim it signed. Only the
 * delivery of the certificates is split.
 */
interface SplitRoles {
  readonly silent: number
  readonly lone: number
  readonly group: ReadonlyArray<number>
}

interface SplitStory {
  readonly name: string
  readonly expect: string
  /** Assigns the parts from the round-robin schedule of views 10..13. */
  readonly roles: (leader: (view: bigint) => number) => SplitRoles
  /**
   * Sends the preload (every validator is cut off from the others, so whatever they
   * rebroadcast is lost) and returns the blocks each node must already hold.
   */
  readonly preload: (
    inj: Injector,
    roles: SplitRoles,
    c: Cluster,
  ) => { readonly all: ReadonlyArray<StoredBlock>; readonly lone: ReadonlyArray<StoredBlock> }
  /** Checks the split really happened, before the validators are linked. */
  readonly split: (c: Cluster, roles: SplitRoles) => void
  /** Checks how it healed, once every honest node finalized past view 13. */
  readonly healed: (c: Cluster, roles: SplitRoles) => void
}

const SPLIT_N = 4
const SPLIT_TARGET = 13n
const SPLIT_LINK = link(10, 0)

const splitLeader = (view: bigint): number => leaderOf(view, SPLIT_N)

/** The preload common to every split: view 2 notarized and finalized, for everyone. */
const preloadView2 = (inj: Injector): StoredBlock => {
  const b2 = inj.block(inj.genesis, 2n)
  const p2 = inj.proposal(2n, 0n, b2.digest)
  inj.send(inj.notarization(p2), "all")
  inj.send(inj.finalization(p2), "all")
  return b2
}

/** The silent node and the group: the signers of every split certificate. */
const backers = (roles: SplitRoles): number[] =>
  [roles.silent, ...roles.group].sort((a, b) => a - b)

/** The split view's block, notarized by the backers (who journal their notarize). */
const splitNotarization = (
  inj: Injector,
  roles: SplitRoles,
  c: Cluster,
  block: StoredBlock,
  view: bigint,
) => {
  const p = inj.proposal(view, 2n, block.digest)
  for (const g of roles.group) inj.journal(c.node(g), [inj.notarize(p, g)])
  return inj.notarization(p, backers(roles))
}

/** Nullifications of `views` signed by the backers (who journal their nullify) go to `to`. */
const splitNullifications = (
  inj: Injector,
  roles: SplitRoles,
  c: Cluster,
  views: ReadonlyArray<bigint>,
  to: ReadonlyArray<number> | "all",
) => {
  for (const g of roles.group)
    inj.journal(
      c.node(g),
      views.map((v) => inj.nullify(v, g)),
    )
  for (const v of views) inj.send(inj.nullification(v, backers(roles)), to)
}

const range = (from: bigint, to: bigint): bigint[] => {
  const out: bigint[] = []
  for (let v = from; v <= to; v++) out.push(v)
  return out
}

const firstFinalizedAbove2 = (c: Cluster, roles: SplitRoles, expected: bigint): void => {
  for (const x of c.validators) {
    if (x.identity === roles.silent) continue
    const first = x.reporter.finalized.firstAbove(2n)
    if (first !== expected)
      c.monitor.violation(
        `node ${x.identity} first finalized view ${first} after the preload, expected ${expected}`,
      )
  }
}

const splitCheck = (c: Cluster, ok: boolean, what: string): void => {
  if (!ok) c.monitor.violation(what)
}

const certifiedSplit = (story: SplitStory): Scenario => ({
  name: story.name,
  expect: story.expect,
  run(seed, options) {
    const t0 = performance.now()
    const roles = story.roles(splitLeader)
    const c = new Cluster(
      base(story.name, seed, options, {
        n: SPLIT_N,
        link: SPLIT_LINK,
        // Long timeouts: nothing may time out while the preload settles; proposals wait
        // long enough for the preload to be processed first.
        timing: {
          leaderTimeoutMs: 10_000,
          certificationTimeoutMs: 11_000,
          skipTimeoutMs: 12_000,
        },
        app: { propose: { meanMs: 250, sdMs: 50 } },
      }),
    )
    for (let i = 0; i < SPLIT_N; i++)
      for (let j = 0; j < SPLIT_N; j++) if (i !== j) c.network.removeLink(i, j)
    const inj = new Injector(c, SPLIT_LINK)
    const held = story.preload(inj, roles, c)
    for (const x of c.validators) {
      if (x.identity === roles.silent) continue
      for (const b of held.all) x.app.adopt(b)
      if (x.identity === roles.lone) for (const b of held.lone) x.app.adopt(b)
    }
    c.start([roles.silent])
    c.run(2_000)
    const live = c.validators.filter((x) => x.up)
    for (const x of live)
      splitCheck(c, x.reporter.finalized.has(2n), `node ${x.identity} did not finalize view 2`)
    story.split(c, roles)
    // The end of the partition (GST).
    for (let i = 0; i < SPLIT_N; i++)
      for (let j = 0; j < SPLIT_N; j++) if (i !== j) c.network.setLink(i, j, SPLIT_LINK)
    c.runUntilFinalized(SPLIT_TARGET, c.now + 300_000, live)
    progress(c, SPLIT_TARGET, 300_000, live)
    story.healed(c, roles)
    noFaults(c)
    return conclude(c, story.name, seed, story.expect, t0, live, {
      silent: roles.silent,
      lone: roles.lone,
      group: roles.group.join(","),
    })
  },
})

/** View 3 split: its certified notarization for the lone node, its nullification for the group. */
const preloadView3Split: SplitStory["preload"] = (inj, roles, c) => {
  const b2 = preloadView2(inj)
  const b3 = inj.block(b2, 3n)
  inj.send(splitNotarization(inj, roles, c, b3, 3n), [roles.lone])
  splitNullifications(inj, roles, c, [3n], roles.group)
  splitNullifications(inj, roles, c, range(4n, 9n), "all")
  return { all: [b2], lone: [b3] }
}

const view3Split: SplitStory["split"] = (c, roles) => {
  const lone = c.node(roles.lone).reporter
  splitCheck(
    c,
    lone.notarized.has(3n) && lone.certified.has(3n) && !lone.nullified.has(3n),
    `lone node ${roles.lone} does not hold a certified view 3 (and only that) before the heal`,
  )
  for (const g of roles.group) {
    const r = c.node(g).reporter
    splitCheck(
      c,
      r.nullified.has(3n) && !r.notarized.has(3n),
      `group node ${g} does not hold only the nullification of view 3 before the heal`,
    )
  }
}

const splitGroupLeads = certifiedSplit({
  name: "certified_split_heals_in_group_led_view",
  expect:
    "n=4: one node holds a certified notarization of view 3, two hold its nullification, the leader of view 10 is silent; after the partition heals, group-led view 11 is the first new finalization and the lone node fetches Nullification(3) from its leader",
  roles: (leader) => ({
    silent: leader(10n),
    group: [leader(11n), leader(12n)],
    lone: leader(13n),
  }),
  preload: preloadView3Split,
  split: view3Split,
  healed: (c, roles) => {
    firstFinalizedAbove2(c, roles, 11n)
    splitCheck(
      c,
      c.node(roles.lone).reporter.nullified.has(3n),
      `lone node ${roles.lone} never obtained Nullification(3)`,
    )
  },
})

const splitLoneLeads = certifiedSplit({
  name: "certified_split_heals_when_lone_holder_leads_first",
  expect:
    "n=4: the lone holder of a certified view 3 leads view 11 and builds on it; the group fetches and certifies Notarization(3) from it, view 11 is the first new finalization and view 3's block joins every honest node's finalized chain",
  roles: (leader) => ({
    silent: leader(10n),
    lone: leader(11n),
    group: [leader(12n), leader(13n)],
  }),
  preload: preloadView3Split,
  split: view3Split,
  healed: (c, roles) => {
    for (const g of roles.group) {
      const r = c.node(g).reporter
      splitCheck(
        c,
        r.notarized.has(3n) && r.certified.has(3n),
        `group node ${g} never fetched and certified Notarization(3) from the lone node`,
      )
    }
    // View 3 itself can never be finalized (the group nullified it), so the lone node's
    // view 11, which builds on it, is the first new finalization.
    firstFinalizedAbove2(c, roles, 11n)
    // The recovered parent joins the finalized chain: honest marshals delivered view 2's
    // block at height 1 and view 3's at height 2.
    const viewAt = (height: bigint) => {
      const d = c.monitor.deliveredAt(height)
      return d === undefined ? undefined : c.relay.get(d)?.block.view
    }
    splitCheck(
      c,
      viewAt(1n) === 2n && viewAt(2n) === 3n,
      `the finalized chain does not run through view 3's block (heights 1, 2 hold views ${viewAt(1n)}, ${viewAt(2n)})`,
    )
  },
})

const splitDisplaced = certifiedSplit({
  name: "certified_split_heals_with_displaced_certified_view",
  expect:
    "n=4: the lone node holds a certified view 5 (parent 2), the group holds nullifications of views 3–5; after the heal group-led view 11 is the first new finalization and the lone node fetches all three nullifications",
  roles: (leader) => ({
    silent: leader(10n),
    group: [leader(11n), leader(12n)],
    lone: leader(13n),
  }),
  preload: (inj, roles, c) => {
    const b2 = preloadView2(inj)
    const b5 = inj.block(b2, 5n)
    inj.send(splitNotarization(inj, roles, c, b5, 5n), [roles.lone])
    splitNullifications(inj, roles, c, range(3n, 5n), roles.group)
    splitNullifications(inj, roles, c, range(6n, 9n), "all")
    return { all: [b2], lone: [b5] }
  },
  split: (c, roles) => {
    const lone = c.node(roles.lone).reporter
    splitCheck(
      c,
      lone.notarized.has(5n) &&
        lone.certified.has(5n) &&
        ![3n, 4n, 5n].some((v) => lone.nullified.has(v)),
      `lone node ${roles.lone} does not hold a certified view 5 without nullifications of 3–5`,
    )
    for (const g of roles.group) {
      const r = c.node(g).reporter
      splitCheck(
        c,
        [3n, 4n, 5n].every((v) => r.nullified.has(v)) && !r.notarized.has(5n),
        `group node ${g} does not hold only nullifications of views 3–5 before the heal`,
      )
    }
  },
  healed: (c, roles) => {
    firstFinalizedAbove2(c, roles, 11n)
    const lone = c.node(roles.lone).reporter
    for (const v of [3n, 4n, 5n])
      splitCheck(
        c,
        lone.nullified.has(v),
        `lone node ${roles.lone} never obtained Nullification(${v})`,
      )
  },
})

const survivesBurst: Scenario = {
  name: "survives_burst",
  expect:
    "n=4 with only node 0 up and its proposals stalled: a zero-latency burst of certificates (notarizations of views 1–3, then the finalization of 3) queues behind slow journal syncs, and the node reports them all, finalizes view 3 and delivers blocks 1–3 in order",
  run(seed, options) {
    const t0 = performance.now()
    const n = 4
    const c = new Cluster(
      base(this.name, seed, options, {
        n,
        syncLatencyMs: 5,
        appFor: (i) => (i === 0 ? { propose: { meanMs: 3_600_000, sdMs: 0 } } : undefined),
      }),
    )
    const inj = new Injector(c, link(0, 0))
    const node = c.node(0)
    const b1 = inj.block(inj.genesis, 1n)
    const b2 = inj.block(b1, 2n)
    const b3 = inj.block(b2, 3n)
    for (const b of [b1, b2, b3]) node.app.adopt(b)
    c.start([1, 2, 3])
    const p1 = inj.proposal(1n, 0n, b1.digest)
    const p2 = inj.proposal(2n, 1n, b2.digest)
    const p3 = inj.proposal(3n, 2n, b3.digest)
    for (const cert of [
      inj.notarization(p1),
      inj.notarization(p2),
      inj.notarization(p3),
      inj.finalization(p3),
    ])
      inj.send(cert, [0])
    c.runUntilFinalized(3n, 60_000, [node])
    progress(c, 3n, 60_000, [node])
    const r = node.reporter
    for (const v of [1n, 2n, 3n])
      splitCheck(c, r.notarized.has(v), `node 0 did not report the notarization of view ${v}`)
    splitCheck(c, r.deliveredHeight === 3n, `node 0 delivered up to height ${r.deliveredHeight}`)
    splitCheck(c, r.deliveries === 3, `node 0 delivered ${r.deliveries} blocks, expected 3`)
    splitCheck(
      c,
      node.mailboxPeak > 0,
      "the burst never had to wait behind a sync (the scenario tests nothing)",
    )
    noFaults(c)
    return conclude(c, this.name, seed, this.expect, t0, [node], {
      mailboxPeak: node.mailboxPeak,
    })
  },
}

const receivedCertificates: Scenario = {
  name: "received_certificates_are_reported",
  expect:
    "n=4 where node 0 hears only node 1 (so it can never count a quorum of votes itself): it still follows the chain to the target through the certificates node 1 relays, and reports each of them",
  run(seed, options) {
    const t0 = performance.now()
    const views = pick(options, 10n, 30n)
    const n = 4
    const c = new Cluster(base(this.name, seed, options, { n, link: link(100, 1) }))
    for (const j of [2, 3]) {
      c.network.removeLink(0, j)
      c.network.removeLink(j, 0)
    }
    simple(c, views, 900_000)
    // Node 1 relays every certificate it holds, so node 0 reports each of them too.
    const r0 = c.node(0).reporter
    const r1 = c.node(1).reporter
    let missing = 0
    for (let v = 1n; v <= views; v++) {
      if (r1.finalized.has(v) && !r0.finalized.has(v)) missing++
      if (r1.nullified.has(v) && !r0.nullified.has(v)) missing++
    }
    if (missing > 0)
      c.monitor.violation(`node 0 missed ${missing} certificates that node 1 held and relayed`)
    if (r0.count("Finalization") === 0 || r0.count("Notarization") === 0)
      c.monitor.violation("node 0 reported no notarization or no finalization")
    noFaults(c)
    return conclude(c, this.name, seed, this.expect, t0, undefined, {
      node0Finalizations: r0.count("Finalization"),
      node0Nullifications: r0.count("Nullification"),
    })
  },
}

// ---- Byzantine actors -----------------------------------------------------------------

interface ByzantineStory {
  readonly name: string
  readonly expect: string
  readonly n: number
  readonly views: (options?: ScenarioOptions) => bigint
  readonly actor: ActorFactory
  readonly check: (c: Cluster, byz: number) => void
  readonly during?: (c: Cluster, seed: number, views: bigint) => void
}

const byzantineScenario = (story: ByzantineStory): Scenario => ({
  name: story.name,
  expect: story.expect,
  run(seed, options) {
    const t0 = performance.now()
    const views = story.views(options)
    const byz = byzantineIdentity(seed, story.n)
    const c = new Cluster(
      base(story.name, seed, options, { n: story.n, byzantine: new Map([[byz, story.actor]]) }),
    )
    c.start()
    if (story.during !== undefined) story.during(c, seed, views)
    c.runUntilFinalized(views, c.now + 1_800_000)
    progress(c, views, 1_800_000)
    story.check(c, byz)
    const actor = c.actors[0]
    if (actor.acted === 0) c.monitor.violation(`the ${actor.kind} actor never sent anything`)
    return conclude(c, story.name, seed, story.expect, t0, undefined, {
      byzantine: byz,
      ...(actor.acted !== undefined ? { acted: actor.acted } : {}),
    })
  },
})

const faultKinds = (c: Cluster, allowed: ReadonlyArray<string>, byz: number): void => {
  let total = 0
  for (const x of c.validators)
    for (const f of x.reporter.faults) {
      total++
      if (!allowed.includes(f.kind) || f.offender !== byz)
        c.monitor.violation(`node ${x.identity} reported ${f.kind} against ${f.offender}`)
    }
  if (total === 0)
    c.monitor.violation(`no ${allowed.join("/")} evidence against node ${byz} was reported`)
}

const noFaultsNoBlocks = (c: Cluster): void => noFaults(c)

const conflicter = byzantineScenario({
  name: "conflicter",
  expect:
    "only ConflictingNotarize/ConflictingFinalize faults, all against the Byzantine node; every honest node blocks it; progress to the target",
  n: 5,
  views: (o) => pick(o, 20n, 50n),
  actor: Byzantine.conflicter,
  check: (c, byz) => {
    faultKinds(c, ["ConflictingNotarize", "ConflictingFinalize"], byz)
    blockedByAll(c, byz)
  },
})

const nuller = byzantineScenario({
  name: "nuller",
  expect:
    "NullifyFinalize faults against the Byzantine node; every honest node blocks it; progress",
  n: 5,
  views: (o) => pick(o, 20n, 50n),
  actor: Byzantine.nuller,
  check: (c, byz) => {
    faultKinds(c, ["NullifyFinalize"], byz)
    blockedByAll(c, byz)
  },
})

const nullifyOnly = byzantineScenario({
  name: "nullify_only",
  expect:
    "a validator that only ever nullifies slows nothing down enough to stop progress; no faults, no blocks",
  n: 5,
  views: (o) => pick(o, 20n, 50n),
  actor: Byzantine.nullifyOnly,
  check: noFaultsNoBlocks,
})

const outdated = byzantineScenario({
  name: "outdated",
  expect:
    "votes re-signed for views 4·view_retention back are silently ignored: no faults, no blocks, progress to 100",
  n: 5,
  views: (o) => pick(o, 60n, 100n),
  actor: Byzantine.outdated,
  check: noFaultsNoBlocks,
})

const impersonator = byzantineScenario({
  name: "impersonator",
  expect:
    "votes signed with its own key under another index get the Byzantine node blocked by every honest node",
  n: 5,
  views: (o) => pick(o, 20n, 50n),
  actor: Byzantine.impersonator,
  check: (c, byz) => blockedByAll(c, byz, /signer/),
})

const reconfigurer = byzantineScenario({
  name: "reconfigurer",
  expect:
    "votes re-signed for epoch + 1 get the Byzantine node blocked for an epoch mismatch by every honest node",
  n: 5,
  views: (o) => pick(o, 20n, 50n),
  actor: Byzantine.reconfigurer,
  check: (c, byz) => blockedByAll(c, byz, /epoch/),
})

const equivocator = byzantineScenario({
  name: "equivocator",
  expect:
    "n=7, a leader proposes A to one victim and B to the rest; when a conflicting certificate or vote appears an honest node blocks it; one honest node is killed and restarted; safety holds and progress continues",
  n: 7,
  views: (o) => pick(o, 20n, 40n),
  actor: Byzantine.equivocator,
  during: (c, seed, views) => {
    const honest = c.validators
    const victim = honest[Prng.derive(seed, "restart").int(honest.length)]
    c.run(c.now + 600_000, () => c.maxFinalized() >= views / 2n)
    victim.crash()
    c.run(c.now + 2_000)
    victim.start()
  },
  check: (c, byz) => {
    // A victim that stayed up saw proposal A and then the notarization of B: that is a
    // conflicting certificate, and it must block the equivocator.
    const actor = c.actors[0]
    if (!(actor instanceof Equivocator)) throw new Error("the equivocator scenario lost its actor")
    for (const e of actor.equivocations) {
      const victim = c.node(e.victim)
      const notarized = c.monitor.notarizedViews.get(e.view)
      if (notarized === undefined || digestEquals(notarized, e.odd)) continue
      if (!e.victimUp || victim.incarnation !== e.incarnation || !victim.up) continue
      if (!victim.reporter.blocks.some((b) => b.peer === byz))
        c.monitor.violation(
          `victim ${e.victim} was offered ${digestHex(e.odd).slice(0, 12)} in view ${e.view}, saw another payload notarized, and never blocked equivocator ${byz}`,
        )
    }
  },
})

const corruptSignatures = byzantineScenario({
  name: "corrupt_signatures",
  expect:
    "a validator whose signatures each have one flipped bit: honest nodes report invalid signatures from it, block it, never accept an invalid certificate, and progress",
  n: 5,
  views: (o) => pick(o, 20n, 50n),
  actor: Byzantine.corruptSignatures,
  check: (c, byz) => {
    if ((c.monitor.attributedInvalid.get(byz) ?? 0) === 0)
      c.monitor.violation(`no invalid signature from node ${byz} was reported`)
    blockedByAll(c, byz, /signature/)
  },
})

// ---- twins ----------------------------------------------------------------------------

const TWIN_LINKS: ReadonlyArray<Link> = [link(10, 10), link(500, 500)]

const twinsCampaign = (
  name: string,
  n: number,
  rounds: number,
  cases: (o?: ScenarioOptions) => number,
): Scenario => ({
  name,
  expect: `n=${n}, f twins run two engines each with one key; for ${rounds} views a seeded script splits their traffic, then all-to-all: honest finalizations never conflict, progress resumes, every fault and block is against a twin`,
  run(seed, options) {
    const t0 = performance.now()
    const parts: ScenarioResult[] = []
    const f = Math.floor((n - 1) / 3)
    const count = cases(options)
    for (let k = 0; k < count; k++) {
      const caseSeed = Prng.derive(seed, `twins-case-${k}`)
      const ids = caseSeed.shuffle(Array.from({ length: n }, (_, i) => i))
      const twins = ids.slice(0, f)
      const others = Array.from({ length: n }, (_, i) => i)
      const factory = Byzantine.twins((ctx) =>
        twinsScript(
          Prng.derive(seed, `twins-script-${k}-${ctx.identity}`),
          others.filter((i) => i !== ctx.identity),
          rounds,
        ),
      )
      const linkModel = TWIN_LINKS[k % TWIN_LINKS.length]
      const c = new Cluster(
        base(name, seed, options, {
          n,
          link: linkModel,
          byzantine: new Map(twins.map((t) => [t, factory])),
        }),
      )
      const target = BigInt(rounds) + 10n
      c.start()
      c.runUntilFinalized(target, 3_600_000)
      progress(c, target, 3_600_000)
      parts.push(
        conclude(c, name, seed, this.expect, t0, undefined, {
          twins: twins.join(","),
          evidence: [...c.monitor.attributedFaults.values()].reduce((a, b) => a + b, 0),
          blocks: [...c.monitor.attributedBlocks.values()].reduce((a, b) => a + b, 0),
          link: `${linkModel.latencyMs}±${linkModel.jitterMs}`,
        }),
      )
    }
    return combine(name, seed, this.expect, t0, parts)
  },
})

const twins = twinsCampaign("twins", 5, 3, (o) => pick(o, 2, 20))
const twinsLarge = twinsCampaign("twins_n10", 10, 5, (o) => pick(o, 1, 4))

// ---- catalogue ------------------------------------------------------------------------

export const SCENARIOS: ReadonlyArray<Scenario> = [
  allOnline,
  oneOffline,
  slowValidator,
  backfill,
  allRecovery,
  allCrashAfterNullify,
  uncleanShutdown,
  hailstorm,
  partition,
  slowAndLossy,
  run1k,
  observer,
  floorJoiner,
  splitViews,
  splitGroupLeads,
  splitLoneLeads,
  splitDisplaced,
  survivesBurst,
  receivedCertificates,
  dishonestLeader,
  conflicter,
  nuller,
  nullifyOnly,
  outdated,
  impersonator,
  reconfigurer,
  equivocator,
  corruptSignatures,
  twins,
  twinsLarge,
]

export const scenarioNamed = (name: string): Scenario | undefined =>
  SCENARIOS.find((s) => s.name === name)
