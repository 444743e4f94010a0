/**
 * Health endpoints for load balancers, orchestrators and `guts status`.
 *
 * - `/health/live`: the process answers (200 while it runs).
 * - `/health/startup`: 200 once the node has finished starting — the administrator
 *   bootstrap is done and, in a cluster, the node has caught up to within
 *   `ready-max-lag` blocks of the highest finalized height it has seen; 503 before.
 * - `/health/ready`: 200 while the node should receive traffic — started, storage open
 *   and answering, and in a cluster at least `ready-min-peers` peers connected and not
 *   lagging more than `ready-max-lag` blocks; 503 otherwise. The body (both codes)
 *   carries every check, which is what `guts status` prints.
 * - `/health/state`: the applied height and the digest of all replicated state.
 *
 * The decision is a pure function (`assessReadiness`) of what the node reports.
 */
import * as fs from "node:fs"
import { Effect, Either, Option } from "effect"
import { GUTS_VERSION } from "../../domain/Version.ts"
import { Ledger, type LedgerShape } from "../../services/Ledger.ts"
import type { Metadata } from "../../services/Metadata.ts"
import { Network } from "../../services/Network.ts"
import { NodeConfig } from "../../services/NodeConfig.ts"
import { ObjectStore } from "../../services/ObjectStore.ts"
import type { RefStore } from "../../services/RefStore.ts"
import { stateDigest } from "../../services/StateDigest.ts"
import { adminTokenPath } from "../Bootstrap.ts"
import { readClusterFile } from "../chain/ClusterFile.ts"
import { sendJson, type Route } from "./HttpServer.ts"

/** What readiness is decided from. */
export interface HealthInput {
  /** Free bytes on the data volume, or why storage does not answer. */
  readonly storage: Either.Either<number, string>
  /** Height of the last block applied here. */
  readonly height: number
  readonly bootstrapped: boolean
  /** Undefined for a single validator. */
  readonly cluster:
    | {
        readonly validators: number
        readonly connected: ReadonlyArray<string>
        readonly minPeers: number | "quorum"
        /** Highest finalized height seen; undefined when the ledger does not report it. */
        readonly highestFinalized: number | undefined
        readonly maxLag: number
      }
    | undefined
}

export interface HealthReport {
  readonly live: true
  readonly started: boolean
  readonly ready: boolean
  /** Why the node has not finished starting (empty once it has). */
  readonly startupProblems: ReadonlyArray<string>
  /** Why the node is not ready (empty when it is); includes the startup problems. */
  readonly problems: ReadonlyArray<string>
  readonly checks: {
    readonly storage: string
    readonly storageAvailableBytes: number | null
    readonly height: number
    readonly startup: string
    readonly peers:
      | {
          readonly connected: number
          readonly required: number
          readonly validators: number
          readonly ids: ReadonlyArray<string>
        }
      | "single validator"
    readonly lag:
      | { readonly blocks: number; readonly max: number; readonly highestFinalized: number }
      | "single validator"
      | "unknown"
  }
}

/** Peers needed for readiness: "quorum" is n - f - 1 (with this node, a quorum). */
export const requiredPeers = (validators: number, minPeers: number | "quorum"): number => {
  if (minPeers !== "quorum") return minPeers
  const f = Math.floor((validators - 1) / 3)
  return Math.max(0, validators - f - 1)
}

export const assessHealth = (input: HealthInput): HealthReport => {
  const problems: string[] = []
  const startupProblems: string[] = []
  if (!input.bootstrapped)
    startupProblems.push(
      "the administrator bootstrap has not finished (in a cluster it needs a quorum)",
    )
  let peers: HealthReport["checks"]["peers"] = "single validator"
  let lag: HealthReport["checks"]["lag"] = "single validator"
  const c = input.cluster
  if (c !== undefined) {
    const required = requiredPeers(c.validators, c.minPeers)
    peers = { connected: c.connected.length, required, validators: c.validators, ids: c.connected }
    if (c.connected.length < required)
      problems.push(
        `${c.connected.length} peer(s) connected, ${required} required (ready-min-peers ${c.minPeers})`,
      )
    if (c.highestFinalized === undefined) lag = "unknown"
    else {
      const blocks = Math.max(0, c.highestFinalized - input.height)
      lag = { blocks, max: c.maxLag, highestFinalized: c.highestFinalized }
      if (blocks > c.maxLag)
        startupProblems.push(
          `catching up: ${blocks} block(s) behind the highest finalized height ${c.highestFinalized} (ready-max-lag ${c.maxLag})`,
        )
    }
  }
  problems.unshift(...startupProblems)
  if (Either.isLeft(input.storage)) problems.push(`storage: ${input.storage.left}`)
  return {
    live: true,
    started: startupProblems.length === 0,
    ready: problems.length === 0,
    startupProblems,
    problems,
    checks: {
      storage: Either.isRight(input.storage) ? "ok" : `failing: ${input.storage.left}`,
      storageAvailableBytes: Either.isRight(input.storage) ? input.storage.right : null,
      height: input.height,
      startup: startupProblems.length === 0 ? "done" : `waiting: ${startupProblems.join("; ")}`,
      peers,
      lag,
    },
  }
}

// The cluster file does not change while a node runs; read it once per path.
const validatorCounts = new Map<string, number>()
const validatorsIn = (file: string) =>
  Effect.sync(() => {
    let n = validatorCounts.get(file)
    if (n === undefined) {
      n = readClusterFile(file).validators.length
      validatorCounts.set(file, n)
    }
    return n
  })

/** The highest finalized height the ledger trusts from its peers, when it reports one. */
const highestFinalizedOf = (ledger: LedgerShape) =>
  ledger.finalizedHeight === undefined ? Effect.succeed(undefined) : ledger.finalizedHeight

/** Gathers what the node reports and assesses it. */
export const healthReport = Effect.gen(function* () {
  const objects = yield* ObjectStore
  const ledger = yield* Ledger
  const config = yield* NodeConfig
  const storage = yield* Effect.either(objects.availableBytes).pipe(
    Effect.map(Either.mapLeft((e) => e.message)),
  )
  const height = yield* ledger.height
  const bootstrapped = yield* Effect.sync(() => fs.existsSync(adminTokenPath(config.dataDir)))
  const network = yield* Effect.serviceOption(Network)
  const cluster =
    config.cluster === undefined
      ? undefined
      : {
          validators: yield* validatorsIn(config.cluster.file),
          connected: Option.isSome(network) ? yield* network.value.connected : [],
          minPeers: config.readyMinPeers ?? "quorum",
          highestFinalized: yield* highestFinalizedOf(ledger),
          maxLag: config.readyMaxLag ?? 10,
        }
  return assessHealth({ storage, height, bootstrapped, cluster })
})

const answer = (
  report: HealthReport,
  ok: boolean,
  status: string,
  problems: ReadonlyArray<string>,
) => ({
  status: ok ? status : "unavailable",
  version: GUTS_VERSION,
  checks: report.checks,
  problems,
})

export const healthRoutes: Array<Route<ObjectStore | Ledger | Metadata | RefStore | NodeConfig>> = [
  {
    name: "GET /health/state",
    method: "GET",
    path: "/health/state",
    handler: (ctx) =>
      Effect.flatMap(stateDigest.pipe(Effect.orDie), (s) => sendJson(ctx.res, 200, s)),
  },
  {
    name: "GET /health/live",
    method: "GET",
    path: "/health/live",
    handler: (ctx) => sendJson(ctx.res, 200, { status: "ok", version: GUTS_VERSION }),
  },
  {
    name: "GET /health/startup",
    method: "GET",
    path: "/health/startup",
    handler: (ctx) =>
      Effect.flatMap(healthReport, (report) =>
        sendJson(
          ctx.res,
          report.started ? 200 : 503,
          answer(report, report.started, "started", report.startupProblems),
        ),
      ),
  },
  {
    name: "GET /health/ready",
    method: "GET",
    path: "/health/ready",
    handler: (ctx) =>
      Effect.flatMap(healthReport, (report) =>
        sendJson(
          ctx.res,
          report.ready ? 200 : 503,
          answer(report, report.ready, "ready", report.problems),
        ),
      ),
  },
]
