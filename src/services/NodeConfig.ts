/**
 * NodeConfig: the settings a node runs with, resolved once at start (flags, then
 * environment variables `GUTS_*`, then defaults) and read by every layer that needs them.
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
  /** How long shutdown waits for in-flight requests before interrupting them. */
  readonly shutdownGraceMs: number
  /** API requests per hour per token (0: unlimited). */
  readonly rateLimitAuthenticated?: number | undefined
  /** API requests per hour per client address without a token (0: unlimited). */
  readonly rateLimitAnonymous?: number | undefined
  /** "admin": only administrators create users; "open": anyone may sign up. */
  readonly registration?: "admin" | "open" | undefined
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
  shutdownGraceMs: 10_000,
  rateLimitAuthenticated: 5000,
  rateLimitAnonymous: 60,
  registration: "admin",
}

export const nodeConfigLayer = (overrides: Partial<NodeConfigShape> = {}) =>
  Layer.succeed(NodeConfig, { ...defaultNodeConfig, ...overrides })
