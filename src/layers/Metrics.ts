/**
 * Metrics: one prom-client registry per node (never the global one, so several nodes can
 * run in one process in tests), the metrics every layer records into, and the `/metrics`
 * server on the metrics port.
 */
import * as http from "node:http"
import type { AddressInfo } from "node:net"
import { Context, Effect, Layer } from "effect"
import * as prom from "prom-client"
import { NodeConfig } from "../services/NodeConfig.ts"

const makeMetrics = () => {
  const registry = new prom.Registry()
  prom.collectDefaultMetrics({ register: registry })
  return {
    registry,
    httpRequestDuration: new prom.Histogram({
      name: "guts_http_request_duration_seconds",
      help: "HTTP request duration by route, method and status",
      labelNames: ["route", "method", "status"] as const,
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [registry],
    }),
    storageAvailableBytes: new prom.Gauge({
      name: "guts_storage_available_bytes",
      help: "Bytes free on the volume holding the data directory",
      registers: [registry],
    }),
    gitBytesServed: new prom.Counter({
      name: "guts_git_bytes_served_total",
      help: "Pack bytes sent to git clients",
      registers: [registry],
    }),
    gitBytesReceived: new prom.Counter({
      name: "guts_git_bytes_received_total",
      help: "Pack bytes received from git clients",
      registers: [registry],
    }),
    gitThinBases: new prom.Counter({
      name: "guts_git_thin_bases_total",
      help: "Delta bases of pushed thin packs that were taken from the store",
      registers: [registry],
    }),
    gitCloneLists: new prom.Counter({
      name: "guts_git_clone_lists_total",
      help: "Full-clone object lists: reused, walked by a clone, or computed after a push",
      labelNames: ["outcome"] as const,
      registers: [registry],
    }),
    gitClonePacks: new prom.Counter({
      name: "guts_git_clone_packs_total",
      help: "Cached clone packs: built after a push, served to a clone, or failed (clones then write the pack themselves)",
      labelNames: ["outcome"] as const,
      registers: [registry],
    }),
    gitCloneListsPending: new prom.Gauge({
      name: "guts_git_clone_lists_pending",
      help: "Repositories whose clone list is waiting to be computed after a push",
      registers: [registry],
    }),
    gitOperations: new prom.Counter({
      name: "guts_git_operations_total",
      help: "Git protocol operations by service and outcome",
      labelNames: ["service", "outcome"] as const,
      registers: [registry],
    }),
    blockHeight: new prom.Gauge({
      name: "guts_consensus_block_height",
      help: "Height of the last applied block",
      registers: [registry],
    }),
    finalizationLatency: new prom.Histogram({
      name: "guts_consensus_finalization_latency_seconds",
      help: "From a block's timestamp (its proposal) to its application on this node",
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [registry],
    }),
    mempoolSize: new prom.Gauge({
      name: "guts_mempool_transactions",
      help: "Transactions waiting for a block",
      registers: [registry],
    }),
    transactionsApplied: new prom.Counter({
      name: "guts_transactions_applied_total",
      help: "Transactions applied, by kind and outcome",
      labelNames: ["kind", "outcome"] as const,
      registers: [registry],
    }),
    applyLag: new prom.Gauge({
      name: "guts_apply_lag_blocks",
      help: "Finalized blocks not yet applied on this node",
      registers: [registry],
    }),
    webhookPending: new prom.Gauge({
      name: "guts_webhook_deliveries_pending",
      help: "Webhook deliveries queued, being sent or waiting for their slot on this node",
      registers: [registry],
    }),
    webhookDeliveries: new prom.Counter({
      name: "guts_webhook_deliveries_total",
      help: "Webhook deliveries this node finished, by outcome",
      labelNames: ["outcome"] as const,
      registers: [registry],
    }),
    ciJobsQueued: new prom.Gauge({
      name: "guts_ci_jobs_queued",
      help: "CI jobs waiting for a runner",
      registers: [registry],
    }),
    ciJobsRunning: new prom.Gauge({
      name: "guts_ci_jobs_running",
      help: "CI jobs a runner is running",
      registers: [registry],
    }),
  }
}

export class Metrics extends Context.Tag("guts/Metrics")<
  Metrics,
  ReturnType<typeof makeMetrics>
>() {
  static readonly Live = Layer.sync(Metrics, makeMetrics)
}

export class MetricsServer extends Context.Tag("guts/MetricsServer")<
  MetricsServer,
  { readonly port: number }
>() {}

/** Serves `/metrics` in the Prometheus text format on the configured metrics port. */
export const MetricsServerLive = Layer.scoped(
  MetricsServer,
  Effect.gen(function* () {
    const config = yield* NodeConfig
    const metrics = yield* Metrics
    const server = http.createServer((req, res) => {
      if (req.url === "/metrics" || req.url?.startsWith("/metrics?")) {
        metrics.registry.metrics().then(
          (text) => {
            res.writeHead(200, { "content-type": metrics.registry.contentType })
            res.end(text)
          },
          (err) => {
            res.writeHead(500, { "content-type": "text/plain" })
            res.end(String(err))
          },
        )
      } else {
        res.writeHead(404, { "content-type": "text/plain" })
        res.end("metrics are served at /metrics\n")
      }
    })
    yield* Effect.acquireRelease(
      Effect.async<void, Error>((resume) => {
        server.once("error", (err) => resume(Effect.fail(err)))
        server.listen(config.metricsPort, config.host, () => resume(Effect.void))
      }),
      () =>
        Effect.async<void>((resume) => {
          server.close(() => resume(Effect.void))
          server.closeAllConnections()
        }),
    ).pipe(
      Effect.mapError(
        (err) =>
          new Error(
            `cannot listen for metrics on ${config.host}:${config.metricsPort}: ${err.message} (choose another port with --metrics-port)`,
          ),
      ),
    )
    return { port: (server.address() as AddressInfo).port }
  }),
)
