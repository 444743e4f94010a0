/**
 * ClusterNode: the layers that turn one node into a member of a cluster — the libp2p
 * network, the consensus driver with its journal (validators only), and the chain
 * application — providing the Ledger (finality-gated writes) and the ObjectReplicator in
 * place of the single-validator ones.
 *
 * The cluster file (JSON) names the validators in consensus order, and the full nodes:
 *   { "validators": [ { "publicKey": "<hex>", "address": "/ip4/127.0.0.1/tcp/9200" }, ... ],
 *     "fullNodes":  [ { "publicKey": "<hex>", "address": "/ip4/127.0.0.1/tcp/9300" }, ... ] }
 *
 * A node whose key is a validator's runs consensus. A node whose key is listed under
 * `fullNodes` runs as a full node: it follows finalized blocks, serves clones and API reads,
 * and forwards writes to the validators. Validators accept connections from the listed full
 * nodes only (a full node receives every repository, private ones included), dial those
 * with an address, and never let them on the consensus channels. A key in neither list is
 * refused at start, with the line to add.
 */
import { Context, Effect, Layer, Queue } from "effect"
import type { EngineConfig } from "../../domain/consensus/Engine.ts"
import { Ed25519Scheme } from "../../domain/consensus/Scheme.ts"
import { Ledger } from "../../services/Ledger.ts"
import { Channels, type Inbound, Network } from "../../services/Network.ts"
import { ObjectReplicator } from "../../services/ObjectReplicator.ts"
import { Automaton, Relay, Reporter } from "../consensus/Application.ts"
import { makeConsensusDriver } from "../consensus/ConsensusDriver.ts"
import { Metrics } from "../Metrics.ts"
import { makeLibp2pNetwork } from "../p2p/Libp2pNetwork.ts"
import type { NodeKey } from "../p2p/NodeKey.ts"
import { chainMetrics, makeChainApp } from "./ChainApp.ts"
import { ClusterConfigInvalid, type ClusterFile } from "./ClusterFile.ts"

/**
 * The consensus settings of a cluster's validators; every validator must use the same
 * (tests and benchmarks that act as a validator use this too).
 */
export const engineConfigFor = (validators: ReadonlyArray<string>, key: NodeKey): EngineConfig => {
  const scheme = new Ed25519Scheme()
  const me = validators.indexOf(key.publicKeyHex)
  return {
    epoch: 0n,
    namespace: new TextEncoder().encode("guts"),
    participants: validators.map((k) => new Uint8Array(Buffer.from(k, "hex"))),
    me: me >= 0 ? me : undefined,
    signer: me >= 0 ? scheme.signerFromSeed(key.seed) : undefined,
    scheme,
    genesis: new Uint8Array(32),
    leaderTimeoutMs: 3_000,
    certificationTimeoutMs: 4_000,
    timeoutRetryMs: 2_000,
    skipTimeoutMs: 12_000,
    viewRetention: 10n,
    fetchTimeoutMs: 1_000,
  }
}

export interface ClusterOptions {
  readonly key: NodeKey
  readonly cluster: ClusterFile
  readonly p2pHost: string
  readonly p2pPort: number
  readonly dataDir: string
  readonly submitTimeoutMs?: number
}

export const clusterLayer = (options: ClusterOptions) =>
  Layer.scopedContext(
    Effect.gen(function* () {
      const metrics = yield* Metrics
      const self = options.key.publicKeyHex
      const publicKeys = options.cluster.validators.map((v) => v.publicKey)
      const fullNodeKeys = options.cluster.fullNodes.map((v) => v.publicKey)
      const me = publicKeys.indexOf(self)
      const isValidator = me >= 0
      if (!isValidator && !fullNodeKeys.includes(self))
        return yield* Effect.die(
          new ClusterConfigInvalid(
            `this node's key ${self} is neither a validator nor a full node of the cluster file; ` +
              `to run it as a full node, add {"publicKey": "${self}", "address": "/ip4/HOST/tcp/${options.p2pPort}"} ` +
              `to "fullNodes" in the cluster file of every validator, and restart them`,
          ),
        )
      const network = yield* makeLibp2pNetwork(
        {
          key: options.key,
          listen: { host: options.p2pHost, port: options.p2pPort },
          // Full nodes talk to validators only.
          peers: isValidator
            ? [...options.cluster.validators, ...options.cluster.fullNodes]
            : options.cluster.validators,
        },
        metrics.registry,
      )
      const validatorSet = new Set(publicKeys)
      const offTopic = chainMetrics(metrics.registry).rejected
      // Consensus channels go to the driver (from validators only), the rest to the app.
      const consensusInbound = yield* Queue.bounded<Inbound>(10_000)
      const appInbound = yield* Queue.bounded<Inbound>(10_000)
      // Whatever has arrived is sorted in one go (one fiber hop per batch, not per message).
      yield* Queue.takeBetween(network.inbound, 1, 1024).pipe(
        Effect.flatMap((batch) =>
          Effect.gen(function* () {
            const app: Inbound[] = []
            const consensus: Inbound[] = []
            for (const m of batch) {
              if (m.channel === Channels.broadcast || m.channel === Channels.sync) app.push(m)
              else if (!validatorSet.has(m.from)) {
                offTopic.inc({ channel: "consensus", reason: "not_allowed" })
                yield* network.block(
                  m.from,
                  "consensus message from a peer that is not a validator",
                )
              }
              // A full node runs no engine: votes that reach it anyway are dropped.
              else if (isValidator) consensus.push(m)
            }
            if (app.length > 0) yield* Queue.offerAll(appInbound, app)
            if (consensus.length > 0) yield* Queue.offerAll(consensusInbound, consensus)
          }),
        ),
        Effect.forever,
        Effect.forkScoped,
      )
      const app = yield* makeChainApp({
        key: options.key,
        validators: publicKeys,
        fullNodes: fullNodeKeys,
        maxTxsPerBlock: 1000,
        idleBlockMs: 1_000,
        submitTimeoutMs: options.submitTimeoutMs ?? 30_000,
        inbound: appInbound,
      }).pipe(Effect.provideService(Network, network))
      if (isValidator) {
        yield* makeConsensusDriver({
          engine: engineConfigFor(publicKeys, options.key),
          peers: publicKeys,
          dataDir: options.dataDir,
          inbound: consensusInbound,
          registry: metrics.registry,
        }).pipe(
          Effect.provideService(Network, network),
          Effect.provideService(Automaton, app.automaton),
          Effect.provideService(Relay, app.relay),
          Effect.provideService(Reporter, app.reporter),
          Effect.orDie,
        )
      }
      yield* Effect.logInfo(
        isValidator
          ? `validator ${me} of ${publicKeys.length}; p2p ${options.p2pHost}:${options.p2pPort} as ${self.slice(0, 16)}…`
          : `full node following ${publicKeys.length} validators; p2p ${options.p2pHost}:${options.p2pPort} as ${self.slice(0, 16)}…`,
      )
      return Context.make(Ledger, app.ledger).pipe(
        Context.add(ObjectReplicator, app.replicator),
        Context.add(Network, network),
      )
    }),
  )
