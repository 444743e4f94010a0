/**
 * `guts`: the command line. `guts node` runs a node; `guts sim` runs the consensus
 * simulator (its own argument parser); more subcommands join as they land.
 */
import "../layers/p2p/Polyfills.ts"
import * as path from "node:path"
import { Command, Options } from "@effect/cli"
import { NodeContext, NodeRuntime } from "@effect/platform-node"
import { Config, Effect, Layer, Logger, LogLevel, Option } from "effect"
import { GUTS_VERSION } from "../domain/Version.ts"
import { HttpServer } from "../layers/http/HttpServer.ts"
import { adminTokenPath } from "../layers/Bootstrap.ts"
import { NodeConfig } from "../services/NodeConfig.ts"
import { keygenCommand } from "./keygen.ts"
import { nodeLayer } from "./node.ts"

const dataDir = Options.directory("data-dir").pipe(
  Options.withDescription("where RocksDB, SQLite and consensus state live (env GUTS_DATA_DIR)"),
  Options.withFallbackConfig(Config.string("GUTS_DATA_DIR")),
  Options.withDefault("./data"),
)
const httpPort = Options.integer("http-port").pipe(
  Options.withDescription("port of the REST API, git smart HTTP and health (env GUTS_HTTP_PORT)"),
  Options.withFallbackConfig(Config.integer("GUTS_HTTP_PORT")),
  Options.withDefault(8080),
)
const metricsPort = Options.integer("metrics-port").pipe(
  Options.withDescription("port of the Prometheus /metrics endpoint (env GUTS_METRICS_PORT)"),
  Options.withFallbackConfig(Config.integer("GUTS_METRICS_PORT")),
  Options.withDefault(9090),
)
const host = Options.text("host").pipe(
  Options.withDescription("address to listen on (env GUTS_HOST)"),
  Options.withFallbackConfig(Config.string("GUTS_HOST")),
  Options.withDefault("0.0.0.0"),
)
const storage = Options.choice("storage", ["rocksdb", "memory"]).pipe(
  Options.withDescription(
    "rocksdb keeps data under --data-dir; memory forgets everything on exit (env GUTS_STORAGE)",
  ),
  Options.withFallbackConfig(Config.literal("rocksdb", "memory")("GUTS_STORAGE")),
  Options.withDefault("rocksdb" as const),
)
const publicUrl = Options.text("public-url").pipe(
  Options.withDescription(
    "URL clients reach this node at, used in API answers (env GUTS_PUBLIC_URL)",
  ),
  Options.withFallbackConfig(Config.string("GUTS_PUBLIC_URL")),
  Options.optional,
)

const clusterFile = Options.file("cluster").pipe(
  Options.withDescription(
    "run as a validator of the cluster this JSON file describes ({validators: [{publicKey, address}]}); without it the node is a single validator (env GUTS_CLUSTER)",
  ),
  Options.withFallbackConfig(Config.string("GUTS_CLUSTER")),
  Options.optional,
)
const keyFile = Options.file("key").pipe(
  Options.withDescription(
    "the node's key file, made by `guts keygen` (default <data-dir>/node.key; env GUTS_KEY)",
  ),
  Options.withFallbackConfig(Config.string("GUTS_KEY")),
  Options.optional,
)
const p2pPort = Options.integer("p2p-port").pipe(
  Options.withDescription("port for peer-to-peer connections in a cluster (env GUTS_P2P_PORT)"),
  Options.withFallbackConfig(Config.integer("GUTS_P2P_PORT")),
  Options.withDefault(9000),
)

const node = Command.make(
  "node",
  { dataDir, httpPort, metricsPort, host, storage, publicUrl, clusterFile, keyFile, p2pPort },
  (opts) =>
    Effect.gen(function* () {
      const layer = nodeLayer({
        dataDir: opts.dataDir,
        httpPort: opts.httpPort,
        metricsPort: opts.metricsPort,
        host: opts.host,
        storage: opts.storage,
        ...(Option.isSome(opts.publicUrl) ? { publicUrl: opts.publicUrl.value } : {}),
        ...(Option.isSome(opts.clusterFile)
          ? {
              cluster: {
                file: opts.clusterFile.value,
                keyFile: Option.getOrElse(opts.keyFile, () => path.join(opts.dataDir, "node.key")),
                p2pHost: opts.host,
                p2pPort: opts.p2pPort,
                submitTimeoutMs: Number(process.env.GUTS_SUBMIT_TIMEOUT_MS ?? 30_000),
              },
            }
          : {}),
      })
      yield* Effect.gen(function* () {
        const server = yield* HttpServer
        const config = yield* NodeConfig
        yield* Effect.logInfo(
          `guts ${GUTS_VERSION} node ready: http ${server.url} (git: ${server.url}/{owner}/{repo}.git), ` +
            `metrics http://${config.host === "0.0.0.0" ? "127.0.0.1" : config.host}:${config.metricsPort}/metrics, ` +
            `storage ${config.storage} in ${config.dataDir}, admin token in ${adminTokenPath(config.dataDir)}`,
        )
        return yield* Effect.never
      }).pipe(Effect.provide(layer))
    }),
).pipe(Command.withDescription("run a Guts node (single validator)"))

const guts = Command.make("guts").pipe(
  Command.withDescription("Guts: a code forge replicated by Byzantine-fault-tolerant consensus"),
  Command.withSubcommands([node, keygenCommand]),
)

const cli = Command.run(guts, { name: "guts", version: GUTS_VERSION })

const logger = process.env.GUTS_LOG_FORMAT === "json" ? Logger.json : Logger.logFmt
if (process.argv[2] === "sim") {
  const { runSimCli } = await import("./sim.ts")
  process.exit(await runSimCli(process.argv.slice(3)))
} else if (process.argv[2] === "devnet") {
  const { runDevnet } = await import("./devnet.ts")
  process.exit(await runDevnet(process.argv.slice(3)))
} else {
  cli(process.argv).pipe(
    Effect.provide(Layer.mergeAll(NodeContext.layer, logger)),
    Logger.withMinimumLogLevel(
      process.env.GUTS_LOG_LEVEL === "debug" ? LogLevel.Debug : LogLevel.Info,
    ),
    NodeRuntime.runMain({ disablePrettyLogger: true }),
  )
}
