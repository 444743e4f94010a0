/**
 * `guts`: the command line. `guts node` runs a node, `guts status` asks a running one how
 * it is, `guts keygen` makes a node key; `guts sim` and `guts devnet` have their own
 * argument parsers.
 *
 * `guts node` takes its settings from a configuration file, `GUTS_*` environment
 * variables and flags (in increasing precedence; src/config/Settings.ts describes each),
 * checks them all before opening anything, and exits with status 2 listing every invalid
 * one. `--check-config` prints the resolved settings and where each came from.
 */
import "../layers/p2p/Polyfills.ts"
import * as fs from "node:fs"
import { Command, Options } from "@effect/cli"
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Console, Effect, Either } from "effect"
import {
  builtinFlagValues,
  flagValues,
  settingOptions,
  withoutBuiltinFlags,
} from "../config/CliOptions.ts"
import { withLogging } from "../config/Logging.ts"
import { GUTS_VERSION } from "../domain/Version.ts"
import type { NodeConfigShape } from "../services/NodeConfig.ts"
import { keygenCommand } from "./keygen.ts"
import { runnerCommand } from "./runner.ts"
import { statusCommand } from "./status.ts"
import { adminCommand } from "./admin.ts"

const checkConfig = Options.boolean("check-config").pipe(
  Options.withDescription(
    "check the configuration, print every setting with its value and source, and exit",
  ),
)

// The node's layers (storage engines, libp2p, ...) load only when a node runs, so that
// `guts status` and `guts keygen` start quickly.
const runNode = (config: NodeConfigShape) =>
  Effect.gen(function* () {
    const { nodeLayer } = yield* Effect.promise(() => import("./node.ts"))
    const { HttpServer } = yield* Effect.promise(() => import("../layers/http/HttpServer.ts"))
    const { adminTokenPath } = yield* Effect.promise(() => import("../layers/Bootstrap.ts"))
    yield* Effect.gen(function* () {
      const server = yield* HttpServer
      yield* Effect.logInfo(
        `guts ${GUTS_VERSION} node ready: http ${server.url} (git: ${server.url}/{owner}/{repo}.git), ` +
          `metrics http://${config.host === "0.0.0.0" ? "127.0.0.1" : config.host}:${config.metricsPort}/metrics, ` +
          `storage ${config.storage} in ${config.dataDir}, admin token in ${adminTokenPath(config.dataDir)}`,
      )
      return yield* Effect.never
    }).pipe(Effect.provide(nodeLayer(config)))
  })

const node = Command.make("node", { settings: settingOptions, checkConfig }, (opts) =>
  Effect.gen(function* () {
    const { describeResolved, resolveConfig, toNodeConfig } = yield* Effect.promise(
      () => import("../config/ResolveConfig.ts"),
    )
    const resolved = resolveConfig({
      flags: { ...flagValues(opts.settings), ...builtinFlagValues(process.argv.slice(2)) },
      env: process.env,
      readFile: (file) => fs.readFileSync(file, "utf8"),
    })
    if (Either.isLeft(resolved)) {
      yield* Console.error(`guts node: ${resolved.left.message}`)
      yield* Effect.sync(() => {
        process.exitCode = 2
      })
      return
    }
    if (opts.checkConfig) {
      yield* Console.log(describeResolved(resolved.right))
      return
    }
    const settings = resolved.right.settings
    yield* runNode(toNodeConfig(settings)).pipe(withLogging(settings.logFormat, settings.logLevel))
  }),
).pipe(
  Command.withDescription(
    "run a Guts node: a single validator, or with --cluster one validator of a cluster (settings: docs/configuration.md)",
  ),
)

const guts = Command.make("guts").pipe(
  Command.withDescription("Guts: a code forge replicated by Byzantine-fault-tolerant consensus"),
  Command.withSubcommands([node, statusCommand, keygenCommand, adminCommand, runnerCommand]),
)

const cli = Command.run(guts, { name: "guts", version: GUTS_VERSION })

if (process.argv[2] === "sim") {
  const { runSimCli } = await import("./sim.ts")
  process.exit(await runSimCli(process.argv.slice(3)))
} else if (process.argv[2] === "devnet") {
  const { runDevnet } = await import("./devnet.ts")
  process.exit(await runDevnet(process.argv.slice(3)))
} else {
  // Until `guts node` has resolved (and checked) its settings, log as the environment asks.
  const bootFormat = process.env.GUTS_LOG_FORMAT === "json" ? "json" : "logfmt"
  const bootLevel = process.env.GUTS_LOG_LEVEL === "debug" ? "debug" : "info"
  cli(withoutBuiltinFlags(process.argv)).pipe(
    Effect.provide(NodeContext.layer),
    withLogging(bootFormat, bootLevel),
    NodeRuntime.runMain({ disablePrettyLogger: true }),
  )
}
