/**
 * Tracing: OpenTelemetry traces of a node, exported over OTLP/HTTP (JSON) when the
 * `tracing` setting is `otlp` (off by default: Effect's own spans then stay in process and
 * cost next to nothing).
 *
 * Spans (all `Effect.withSpan`, so they nest through fibers):
 * - `http <route>`: every HTTP request (HttpServer), with method, route and status;
 * - `guts.receive-pack`: a push, from the first byte of the pack to the report;
 * - `guts.submit`: a transaction handed to the ledger, until its outcome is known;
 * - `guts.consensus`: (cluster) from gossiping the transaction to the finalization of the
 *   block that holds it, with the block's height, digest and proposal time;
 * - `guts.apply`: applying a block, a child of the submission of the first transaction in
 *   it that this node is waiting for (a root span otherwise).
 * One push is thus one trace: request → receive-pack → submit → consensus, apply.
 */
import { Effect, Layer } from "effect"
import { GUTS_VERSION } from "../domain/Version.ts"
import type { NodeConfigShape } from "../services/NodeConfig.ts"

export const tracingLayer = (tracing: NodeConfigShape["tracing"]): Layer.Layer<never> =>
  tracing === undefined
    ? Layer.empty
    : // The OpenTelemetry SDK loads only when tracing is on (it is megabytes of modules).
      Layer.unwrapEffect(
        Effect.promise(async () => {
          const [{ NodeSdk }, { OTLPTraceExporter }, { BatchSpanProcessor }] = await Promise.all([
            import("@effect/opentelemetry"),
            import("@opentelemetry/exporter-trace-otlp-http"),
            import("@opentelemetry/sdk-trace-base"),
          ])
          return Layer.discard(
            NodeSdk.layer(() => ({
              resource: { serviceName: tracing.serviceName, serviceVersion: GUTS_VERSION },
              spanProcessor: new BatchSpanProcessor(
                new OTLPTraceExporter({ url: tracing.endpoint }),
                { scheduledDelayMillis: 1_000 },
              ),
            })),
          )
        }),
      )
