/**
 * In-process validator nodes for the operations tests: `nodeLayer` with a cluster file,
 * on free ports. Unlike TestNode.startNode it does not wait for the administrator token
 * (in a cluster without a quorum there never is one), which is the point of some tests.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { Context, Effect, Exit, Layer, Scope } from "effect"
import { HttpServer } from "../../src/layers/http/HttpServer.ts"
import { MetricsServer } from "../../src/layers/Metrics.ts"
import { generateNodeKey, writeNodeKey } from "../../src/layers/p2p/NodeKey.ts"
import { nodeLayer } from "../../src/programs/node.ts"
import type { NodeConfigShape } from "../../src/services/NodeConfig.ts"
import { freePort, tempDir } from "../support/TestNode.ts"

export interface ValidatorNode {
  readonly url: string
  readonly metricsUrl: string
  readonly dataDir: string
  readonly close: () => Promise<void>
}

/**
 * This node as validator 0 of `validators` (the others are keys nobody runs, at ports
 * nobody listens on).
 */
export const startValidator = async (
  validators: number,
  config: Partial<NodeConfigShape> = {},
): Promise<ValidatorNode> => {
  const dataDir = tempDir("ops-validator")
  const keyFile = path.join(dataDir, "node.key")
  const me = generateNodeKey()
  await Effect.runPromise(writeNodeKey(keyFile, me))
  const p2pPort = await freePort()
  const entries = [{ publicKey: me.publicKeyHex, address: `/ip4/127.0.0.1/tcp/${p2pPort}` }]
  for (let i = 1; i < validators; i++)
    entries.push({
      publicKey: generateNodeKey().publicKeyHex,
      address: `/ip4/127.0.0.1/tcp/${await freePort()}`,
    })
  const clusterFile = path.join(dataDir, "cluster.json")
  fs.writeFileSync(clusterFile, JSON.stringify({ validators: entries }))
  const scope = Effect.runSync(Scope.make())
  const layer = nodeLayer({
    dataDir,
    host: "127.0.0.1",
    httpPort: 0,
    metricsPort: 0,
    storage: "memory",
    shutdownGraceMs: 1_000,
    cluster: { file: clusterFile, keyFile, p2pHost: "127.0.0.1", p2pPort, submitTimeoutMs: 5_000 },
    ...config,
  })
  const context = await Effect.runPromise(Layer.buildWithScope(layer, scope)).catch(async (err) => {
    await Effect.runPromise(Scope.close(scope, Exit.void))
    throw err
  })
  return {
    url: Context.get(context, HttpServer).url,
    metricsUrl: `http://127.0.0.1:${Context.get(context, MetricsServer).port}/metrics`,
    dataDir,
    close: () => Effect.runPromise(Scope.close(scope, Exit.void)),
  }
}

/** Polls `check` every 100 ms until it holds or `timeoutMs` passes; returns the last value. */
export const eventually = async <A>(
  probe: () => Promise<A>,
  check: (a: A) => boolean,
  timeoutMs = 20_000,
): Promise<A> => {
  const deadline = Date.now() + timeoutMs
  let last = await probe()
  while (!check(last) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100))
    last = await probe()
  }
  return last
}
