/**
 * The node: every layer of a single Guts process wired together. `nodeLayer(config)` is
 * what `guts node` launches and what integration tests start in-process (with port 0).
 */
import { Effect, Layer, Schedule } from "effect"
import { BootstrapLive } from "../layers/Bootstrap.ts"
import { apiRoutes } from "../layers/http/ApiRoutes.ts"
import { gitRoutes } from "../layers/http/GitRoutes.ts"
import { healthRoutes } from "../layers/http/HealthRoutes.ts"
import { httpServerLayer } from "../layers/http/HttpServer.ts"
import { LedgerLocal } from "../layers/LedgerLocal.ts"
import { readClusterFile } from "../layers/chain/ClusterFile.ts"
import { metadataLayer } from "../layers/MetadataSqlite.ts"
import { Metrics, MetricsServerLive } from "../layers/Metrics.ts"
import { storageLayer } from "../layers/Storage.ts"
import { RateLimiterLive, type RateLimiter } from "../layers/http/RateLimit.ts"
import { Access } from "../services/Access.ts"
import { Apply } from "../services/Apply.ts"
import { CommitStatuses } from "../services/CommitStatuses.ts"
import { Identity } from "../services/Identity.ts"
import { Issues } from "../services/Issues.ts"
import { Pulls } from "../services/Pulls.ts"
import { webhookDispatcherLayer } from "../layers/WebhookDispatcher.ts"
import { LiveEvents, liveSocket } from "../layers/LiveEvents.ts"
import { rawRoutes } from "../layers/http/ContentRoutes.ts"
import { openApiRoutes } from "../layers/http/OpenApi.ts"
import { limited } from "../layers/http/ApiKit.ts"
import { Releases } from "../services/Releases.ts"
import { RepoObjects } from "../services/RepoObjects.ts"
import { GitData } from "../services/GitData.ts"
import { RepoContent } from "../services/RepoContent.ts"
import { releaseDownloadRoutes } from "../layers/http/ReleaseRoutes.ts"
import { Auth } from "../services/Auth.ts"
import type { Ledger } from "../services/Ledger.ts"
import { GitService } from "../services/GitService.ts"
import { NodeConfig, type NodeConfigShape, nodeConfigLayer } from "../services/NodeConfig.ts"
import { ObjectReplicator } from "../services/ObjectReplicator.ts"
import type { Metadata } from "../services/Metadata.ts"
import { ObjectStore } from "../services/ObjectStore.ts"
import type { RefStore } from "../services/RefStore.ts"
import { Repositories } from "../services/Repositories.ts"
import { adminRoutes } from "../layers/http/AdminRoutes.ts"
import { tracingLayer } from "../layers/Tracing.ts"
import type { StorageSnapshot } from "../layers/backup/StorageSnapshot.ts"
import type { BlockStore } from "../services/BlockStore.ts"
import { webRoutes } from "../layers/web/WebRoutes.ts"
import { CiRuns } from "../services/CiRuns.ts"
import { ciApiRoutes } from "../layers/http/CiRoutes.ts"
import { runnerRoutes } from "../layers/http/RunnerRoutes.ts"
import { ciTickerLayer } from "../layers/CiTicker.ts"
import { QueueGaugesLive } from "../layers/QueueGauges.ts"

// Consensus, libp2p and node keys load only when the node is a cluster validator: a
// single-validator node never needs them, and they are tens of megabytes of memory.
const loadCluster = Effect.promise(() => import("../layers/chain/ClusterNode.ts"))
const loadNodeKeyModule = Effect.promise(() => import("../layers/p2p/NodeKey.ts"))

/** Refreshes `guts_storage_available_bytes` every 15 s. */
const StorageGaugeLive = Layer.scopedDiscard(
  Effect.gen(function* () {
    const metrics = yield* Metrics
    const objects = yield* ObjectStore
    yield* objects.availableBytes.pipe(
      Effect.tap((n) => Effect.sync(() => metrics.storageAvailableBytes.set(n))),
      Effect.ignore,
      Effect.repeat(Schedule.spaced("15 seconds")),
      Effect.forkScoped,
    )
  }),
)

export const nodeLayer = (overrides: Partial<NodeConfigShape>) => {
  const config = nodeConfigLayer(overrides)
  return Layer.unwrapEffect(
    Effect.gen(function* () {
      const cfg = yield* NodeConfig
      const storage = storageLayer(
        cfg.storage === "memory" ? { kind: "memory" } : { kind: "rocksdb", dataDir: cfg.dataDir },
      )
      const metadata = metadataLayer(cfg.storage === "memory" ? undefined : cfg.dataDir)
      const base = Layer.mergeAll(storage, metadata, Metrics.Live)
      const cluster = cfg.cluster
      const ledger =
        cluster === undefined
          ? Layer.merge(LedgerLocal, ObjectReplicator.None).pipe(
              Layer.provideMerge(Apply.Live),
              Layer.provideMerge(base),
            )
          : Layer.unwrapEffect(
              Effect.gen(function* () {
                const { clusterLayer } = yield* loadCluster
                const key = yield* (yield* loadNodeKeyModule).loadNodeKey(cluster.keyFile)
                return clusterLayer({
                  key,
                  cluster: readClusterFile(cluster.file),
                  p2pHost: cluster.p2pHost,
                  p2pPort: cluster.p2pPort,
                  dataDir: cfg.dataDir,
                  submitTimeoutMs: cluster.submitTimeoutMs,
                })
              }),
            ).pipe(Layer.provideMerge(Apply.Live), Layer.provideMerge(base))
      // Webhooks: each delivery is sent by one validator, chosen from its id, with failover.
      const dispatcher =
        cluster === undefined
          ? webhookDispatcherLayer(undefined)
          : Layer.unwrapEffect(
              Effect.gen(function* () {
                const key = yield* (yield* loadNodeKeyModule).loadNodeKey(cluster.keyFile)
                const validators = readClusterFile(cluster.file).validators.map((v) => v.publicKey)
                return webhookDispatcherLayer({ validators, me: key.publicKeyHex })
              }),
            )
      const services = Layer.mergeAll(
        Auth.Live,
        Identity.Live,
        CommitStatuses.Live,
        Pulls.Live,
        Releases.Live,
        RepoContent.Live,
        GitService.Live,
        RateLimiterLive,
        LiveEvents.Live,
        GitData.Live,
      ).pipe(
        Layer.provideMerge(Issues.Live),
        Layer.provideMerge(Repositories.Live),
        Layer.provideMerge(Access.Live),
        Layer.provideMerge(RepoObjects.Live),
        Layer.provideMerge(ledger),
      )
      // CI's request side needs LiveEvents (a running job's log goes to /ws).
      const withCi = CiRuns.Live.pipe(Layer.provideMerge(services))
      const servers = Layer.mergeAll(
        httpServerLayer<
          | ObjectStore
          | Ledger
          | Auth
          | NodeConfig
          | Repositories
          | Identity
          | CommitStatuses
          | Issues
          | Pulls
          | Releases
          | RepoContent
          | LiveEvents
          | Apply
          | RateLimiter
          | GitService
          | Metadata
          | RefStore
          | StorageSnapshot
          | BlockStore
          | Access
          | Metrics
          | CiRuns
          | GitData
        >(
          [
            ...healthRoutes,
            ...openApiRoutes([...apiRoutes(), ...ciApiRoutes()] as never),
            ...apiRoutes(),
            ...ciApiRoutes(),
            ...runnerRoutes,
            ...releaseDownloadRoutes,
            ...rawRoutes.map((r) => ({ ...r, handler: limited(r.handler) })),
            ...gitRoutes,
            ...adminRoutes,
            // The web interface last: every route above keeps priority over its patterns.
            ...webRoutes(),
          ],
          {
            "/ws": liveSocket,
          },
        ),
        MetricsServerLive,
        StorageGaugeLive,
        dispatcher,
        ciTickerLayer(),
        QueueGaugesLive,
      )
      return servers.pipe(
        Layer.provideMerge(BootstrapLive),
        Layer.provideMerge(withCi),
        // Built first, so every layer's fibers (and the HTTP server's) trace through it.
        Layer.provide(tracingLayer(cfg.tracing)),
      )
    }),
  ).pipe(Layer.provideMerge(config))
}
