/**
 * The consensus dashboard: validators and whether each is connected, finalized height,
 * finality latency, view changes and nullifications by leader, mempool depth. Rendered on
 * the server from what the node already knows (its health report, its metrics registry,
 * the cluster file); a small script refreshes it whenever `/ws` announces a block.
 */
import { Effect, Option } from "effect"
import { Metrics } from "../Metrics.ts"
import { Ledger } from "../../services/Ledger.ts"
import { Network } from "../../services/Network.ts"
import { NodeConfig } from "../../services/NodeConfig.ts"
import { readClusterFile } from "../chain/ClusterFile.ts"
import { type Html, html } from "./Html.ts"
import { page, webRoute } from "./WebKit.ts"

interface MetricValue {
  readonly value: number
  readonly labels: Record<string, string | number>
  readonly metricName?: string
}

/** A quantile from a cumulative histogram's buckets (the upper bound of the bucket it lands in). */
export const bucketQuantile = (
  buckets: ReadonlyArray<{ le: number; count: number }>,
  q: number,
) => {
  const total =
    buckets.find((b) => b.le === Number.POSITIVE_INFINITY)?.count ?? buckets.at(-1)?.count ?? 0
  if (total === 0) return undefined
  const rank = q * total
  for (const b of buckets) if (b.count >= rank) return b.le
  return undefined
}

const seconds = (s: number | undefined) =>
  s === undefined
    ? "—"
    : s === Number.POSITIVE_INFINITY
      ? "> 30 s"
      : s < 1
        ? `≤ ${Math.round(s * 1000)} ms`
        : `≤ ${s} s`

const dashboard = Effect.gen(function* () {
  const metrics = yield* Metrics
  const config = yield* NodeConfig
  const ledger = yield* Ledger
  const network = yield* Effect.serviceOption(Network)
  const json = (yield* Effect.promise(() =>
    metrics.registry.getMetricsAsJSON(),
  )) as unknown as ReadonlyArray<{
    name: string
    values: ReadonlyArray<MetricValue>
  }>
  const values = (name: string) => json.find((m) => m.name === name)?.values ?? []
  const single = (name: string) => values(name)[0]?.value
  const height = yield* ledger.height
  const finalizedView = single("guts_consensus_finalized_view")
  const view = single("guts_consensus_view")
  const mempool = single("guts_mempool_transactions") ?? 0
  const buckets = values("guts_consensus_finalization_latency_seconds")
    .filter((v) => v.metricName?.endsWith("_bucket"))
    .map((v) => ({
      le: v.labels.le === "+Inf" ? Number.POSITIVE_INFINITY : Number(v.labels.le),
      count: v.value,
    }))
    .sort((a, b) => a.le - b.le)
  const byLeader = (name: string) => {
    const out = new Map<number, number>()
    for (const v of values(name)) out.set(Number(v.labels.leader), v.value)
    return out
  }
  const viewChanges = byLeader("guts_consensus_view_changes_total")
  const nullifications = byLeader("guts_consensus_nullifications_total")
  const connected = new Set(Option.isSome(network) ? yield* network.value.connected : [])
  const self = Option.isSome(network) ? network.value.self : undefined
  const validators = config.cluster
    ? yield* Effect.try(() => readClusterFile(config.cluster!.file).validators).pipe(
        Effect.orElseSucceed(() => []),
      )
    : []
  const rows: Html[] =
    validators.length === 0
      ? [
          html`<tr><td>0</td><td>this node (single validator)</td><td class="ok">self</td><td>${viewChanges.get(0) ?? 0}</td><td>${nullifications.get(0) ?? 0}</td></tr>`,
        ]
      : validators.map((v, i) => {
          const state =
            v.publicKey === self
              ? html`<span class="ok">self</span>`
              : connected.has(v.publicKey)
                ? html`<span class="ok">connected</span>`
                : html`<span class="bad">not connected</span>`
          return html`<tr><td>${i}</td><td><code title="${v.publicKey}">${v.publicKey.slice(0, 16)}…</code> <span class="muted hide-narrow">${v.address}</span></td><td>${state}</td><td>${viewChanges.get(i) ?? 0}</td><td>${nullifications.get(i) ?? 0}</td></tr>`
        })
  return html`<div class="grid">
<div class="stat"><div class="muted">Finalized height</div><div class="n" id="stat-height">${height}</div></div>
<div class="stat"><div class="muted">Consensus view</div><div class="n">${view ?? "—"}</div><div class="muted">finalized view ${finalizedView ?? "—"}</div></div>
<div class="stat"><div class="muted">Finality latency</div><div class="n">${seconds(bucketQuantile(buckets, 0.5))}</div><div class="muted">p50 · p99 ${seconds(bucketQuantile(buckets, 0.99))}</div></div>
<div class="stat"><div class="muted">Mempool</div><div class="n">${mempool}</div><div class="muted">transactions waiting</div></div>
</div>
<section class="box" aria-labelledby="val-h"><div class="head"><h2 id="val-h">Validators</h2><span class="muted">${
    validators.length === 0
      ? "single validator"
      : `${validators.length} validators, ${connected.size} peer(s) connected`
  }</span></div>
<div class="code-wrap"><table class="data"><thead><tr><th scope="col">Index</th><th scope="col">Validator</th><th scope="col">Connection</th><th scope="col">View changes (as leader)</th><th scope="col">Nullifications (as leader)</th></tr></thead>
<tbody>${rows}</tbody></table></div></section>`
})

export const clusterRoutes = [
  webRoute("GET", "/-/cluster", (ctx, viewer) =>
    Effect.gen(function* () {
      const body = yield* dashboard
      if (ctx.url.searchParams.get("fragment") === "1")
        return yield* Effect.sync(() => {
          ctx.res.writeHead(200, {
            "content-type": "text/html; charset=utf-8",
            "cache-control": "no-store",
            "x-content-type-options": "nosniff",
          })
          ctx.res.end(body.text)
        })
      yield* page(
        ctx,
        viewer,
        "Cluster",
        html`<h1>Cluster</h1>
<p class="muted">What this node knows about consensus. <span id="live-status" role="status">Updates live when scripts are on.</span></p>
<div id="cluster" aria-live="polite">${body}</div>`,
        { scripts: ["cluster.js"] },
      )
    }),
  ),
]
