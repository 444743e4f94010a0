/**
 * `guts status --url http://host:port [--json]`: what a running node says about itself —
 * version, readiness, applied height and state digest, lag, peers, storage — read from
 * its health endpoints (`/health/live`, `/health/ready`, `/health/state`), as text for
 * people or JSON for scripts. Exits 0 when the node is ready, 1 when it is not or cannot
 * be reached.
 */
import { Command, Options } from "@effect/cli"
import { Console, Data, Effect } from "effect"

export class NodeUnreachable extends Data.TaggedError("NodeUnreachable")<{
  readonly url: string
  readonly reason: string
}> {
  override get message() {
    return `cannot read the status of ${this.url}: ${this.reason}`
  }
}

type Peers =
  | { connected: number; required: number; validators: number; ids: ReadonlyArray<string> }
  | string
type Lag = { blocks: number; max: number; highestFinalized: number } | string

export interface NodeStatus {
  readonly url: string
  readonly version: string
  readonly ready: boolean
  readonly started: boolean
  readonly height: number
  readonly digest: string | undefined
  readonly lag: Lag
  readonly peers: Peers
  readonly storage: { readonly status: string; readonly availableBytes: number | null }
  readonly problems: ReadonlyArray<string>
}

interface ReadyBody {
  status: string
  version?: string
  checks?: {
    storage?: string
    storageAvailableBytes?: number | null
    height?: number
    startup?: string
    peers?: Peers
    lag?: Lag
  }
  problems?: ReadonlyArray<string>
}

const getJson = (url: string, path: string) =>
  Effect.tryPromise({
    try: async () => {
      // Appended, not resolved: a node behind a proxy may live under a path prefix.
      const res = await fetch(`${url}${path}`, { signal: AbortSignal.timeout(10_000) })
      const text = await res.text()
      try {
        return { status: res.status, body: JSON.parse(text) as unknown }
      } catch {
        throw new Error(`${path} answered ${res.status} with something that is not JSON`)
      }
    },
    catch: (err) => {
      const e = err as Error & { cause?: { message?: string } }
      return new NodeUnreachable({ url, reason: e.cause?.message ?? e.message })
    },
  })

/** Reads a node's status from its health endpoints. */
export const fetchStatus = (url: string): Effect.Effect<NodeStatus, NodeUnreachable> =>
  Effect.gen(function* () {
    const base = url.replace(/\/+$/, "")
    const [live, ready, state] = yield* Effect.all(
      [
        getJson(base, "/health/live"),
        getJson(base, "/health/ready"),
        getJson(base, "/health/state"),
      ],
      { concurrency: 3 },
    )
    if (live.status !== 200)
      return yield* new NodeUnreachable({
        url: base,
        reason: `/health/live answered ${live.status}`,
      })
    const r = ready.body as ReadyBody
    const checks = r.checks ?? {}
    const digest = (state.body as { digest?: string }).digest
    return {
      url: base,
      version: (live.body as { version?: string }).version ?? "unknown",
      ready: ready.status === 200,
      started: checks.startup === "done",
      height: checks.height ?? (state.body as { height?: number }).height ?? 0,
      digest: typeof digest === "string" ? digest : undefined,
      lag: checks.lag ?? "unknown",
      peers: checks.peers ?? "unknown",
      storage: {
        status: checks.storage ?? "unknown",
        availableBytes: checks.storageAvailableBytes ?? null,
      },
      problems: r.problems ?? [],
    }
  })

const bytes = (n: number) => {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"]
  let v = n
  let u = 0
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024
    u++
  }
  return `${u === 0 ? v : v.toFixed(1)} ${units[u]}`
}

/** The status as aligned `label  value` lines. */
export const formatStatus = (s: NodeStatus): string => {
  const lines: Array<[string, string]> = [
    ["node", s.url],
    ["version", s.version],
    ["status", s.ready ? "ready" : `NOT READY: ${s.problems.join("; ") || "unknown reason"}`],
    ["startup", s.started ? "done" : "in progress"],
    ["height", `${s.height}${s.digest ? ` (state ${s.digest.slice(0, 16)})` : ""}`],
    [
      "lag",
      typeof s.lag === "string"
        ? s.lag
        : `${s.lag.blocks} block(s) behind finalized height ${s.lag.highestFinalized} (ready while ≤ ${s.lag.max})`,
    ],
    [
      "peers",
      typeof s.peers === "string"
        ? s.peers
        : `${s.peers.connected} connected of ${s.peers.validators - 1} other validator(s), ${s.peers.required} required${
            s.peers.ids.length > 0 ? `: ${s.peers.ids.map((id) => id.slice(0, 12)).join(", ")}` : ""
          }`,
    ],
    [
      "storage",
      s.storage.availableBytes === null
        ? s.storage.status
        : `${s.storage.status}, ${bytes(s.storage.availableBytes)} free`,
    ],
  ]
  return lines.map(([k, v]) => `${k.padEnd(8)} ${v}`).join("\n")
}

const url = Options.text("url").pipe(
  Options.withDescription("the node's HTTP address (its --http-port), e.g. http://10.0.0.1:8080"),
  Options.withDefault("http://127.0.0.1:8080"),
)
const json = Options.boolean("json").pipe(
  Options.withDescription("print the status as one JSON object instead of text"),
)

export const statusCommand = Command.make("status", { url, json }, (opts) =>
  Effect.gen(function* () {
    const status = yield* fetchStatus(opts.url).pipe(
      Effect.catchTag("NodeUnreachable", (e) =>
        Console.error(`guts status: ${e.message}`).pipe(Effect.as(undefined)),
      ),
    )
    if (status === undefined) {
      yield* Effect.sync(() => {
        process.exitCode = 1
      })
      return
    }
    yield* Console.log(opts.json ? JSON.stringify(status) : formatStatus(status))
    if (!status.ready)
      yield* Effect.sync(() => {
        process.exitCode = 1
      })
  }),
).pipe(
  Command.withDescription(
    "print a running node's version, readiness, height, lag, peers and storage (from its health endpoints)",
  ),
)
