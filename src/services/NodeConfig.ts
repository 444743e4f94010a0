/**
 * NodeConfig: the settings a node runs with, resolved once at start and read by every
 * layer that needs them. `guts node` resolves them from a configuration file, `GUTS_*`
 * environment variables and flags (src/config/ResolveConfig.ts, described once in
 * src/config/Settings.ts); tests build one directly from `defaultNodeConfig` + overrides.
 */
import { Context, Layer } from "effect"

export type StorageKind = "memory" | "rocksdb"

export interface NodeConfigShape {
  /** Where RocksDB, SQLite and consensus state live (`./data` by default). */
  readonly dataDir: string
  readonly host: string
  readonly httpPort: number
  readonly metricsPort: number
  readonly storage: StorageKind
  /** The URL clients reach this node at (used in API responses); undefined: from the Host header. */
  readonly publicUrl: string | undefined
  /** Largest git request body accepted, in bytes (a push pack). */
  readonly maxPushBytes: number
  /** Clone lists of at least this many objects get a cached clone pack (default 1,000). */
  readonly clonePackMinObjects?: number | undefined
  /** Shortest pause between two cached clone packs of one repository (default 30 s). */
  readonly clonePackPaceMs?: number | undefined
  /** How long shutdown waits for in-flight requests before interrupting them. */
  readonly shutdownGraceMs: number
  /** API requests per hour per token (0: unlimited). */
  readonly rateLimitAuthenticated?: number | undefined
  /** API requests per hour per client address without a token (0: unlimited). */
  readonly rateLimitAnonymous?: number | undefined
  /** "admin": only administrators create users; "open": anyone may sign up. */
  readonly registration?: "admin" | "open" | undefined
  /**
   * In a cluster, `/health/ready` needs this many connected peers; "quorum": enough for a
   * quorum with this node (n - f - 1).
   */
  readonly readyMinPeers?: number | "quorum" | undefined
  /** In a cluster, `/health/ready` fails while more than this many blocks behind. */
  readonly readyMaxLag?: number | undefined
  /** How long one webhook delivery attempt waits for the receiver. */
  readonly webhookTimeoutMs?: number | undefined
  /** In a cluster, when the next validator takes over an undelivered webhook (HookFailover.ts). */
  readonly webhookTakeoverMs?: number | undefined
  /**
   * The key CI secrets are encrypted under (any string; the same on every validator of a
   * cluster). Unset: `GUTS_CI_SECRETS_KEY` from the environment; neither: secrets cannot be set.
   */
  readonly ciSecretsKey?: string | undefined
  /** How long a CI job's lease lasts without a heartbeat (default 60 s; 2 s to 10 min). */
  readonly ciLeaseMs?: number | undefined
  /** Set to run as a validator of a cluster; unset: a single validator. */
  readonly cluster?:
    | {
        /** JSON file naming the validators (see ClusterNode.ts). */
        readonly file: string
        /** The node's Ed25519 key file (`guts keygen`). */
        readonly keyFile: string
        readonly p2pHost: string
        readonly p2pPort: number
        /** How long a write waits for finality before failing with 503 / `ng`. */
        readonly submitTimeoutMs?: number | undefined
      }
    | undefined
  /**
   * Reverse proxies (IP addresses or CIDR ranges) whose X-Forwarded-For is believed; from
   * anyone else the header is ignored. Undefined: no proxy is trusted.
   */
  readonly trustedProxies?: ReadonlyArray<string> | undefined
  /** Set to export OpenTelemetry traces over OTLP/HTTP; undefined: tracing is off. */
  readonly tracing?: { readonly endpoint: string; readonly serviceName: string } | undefined
}

export class NodeConfig extends Context.Tag("guts/NodeConfig")<NodeConfig, NodeConfigShape>() {}

export const defaultNodeConfig: NodeConfigShape = {
  dataDir: "./data",
  host: "0.0.0.0",
  httpPort: 8080,
  metricsPort: 9090,
  storage: "rocksdb",
  publicUrl: undefined,
  maxPushBytes: 2 * 1024 * 1024 * 1024,
  clonePackMinObjects: 1000,
  clonePackPaceMs: 30_000,
  shutdownGraceMs: 10_000,
  rateLimitAuthenticated: 5000,
  rateLimitAnonymous: 60,
  registration: "admin",
  readyMinPeers: "quorum",
  readyMaxLag: 10,
  webhookTimeoutMs: 10_000,
  webhookTakeoverMs: 60_000,
  ciLeaseMs: 60_000,
}

export const nodeConfigLayer = (overrides: Partial<NodeConfigShape> = {}) =>
  Layer.succeed(NodeConfig, { ...defaultNodeConfig, ...overrides })
