/**
 * ClusterNode: the layers that turn one node into a validator of a cluster — the libp2p
 * network, the consensus driver with its journal, and the chain application — providing
 * the Ledger (finality-gated writes) and the ObjectReplicator in place of the
 * single-validator ones.
 *
 * The cluster file (JSON) names the validators in consensus order:
 *   { "validators": [ { "publicKey": "<hex>", "address": "/ip4/127.0.0.1/tcp/9200" }, ... ] }
 */
import * as fs from "node:fs"
import { Context, Effect, Layer, Queue } from "effect"
import { Ed25519Scheme } from "../../domain/consensus/Scheme.ts"
import { Ledger } from "../../services/Ledger.ts"
import { Channels, type Inbound, Network } from "../../services/Network.ts"
import { ObjectReplicator } from "../../services/ObjectReplicator.ts"
import { Automaton, Relay, Reporter } from "../consensus/Application.ts"
import { makeConsensusDriver } from "../consensus/ConsensusDriver.ts"
import { Metrics } from "../Metrics.ts"
import { makeLibp2pNetwork, type PeerAddress } from "../p2p/Libp2pNetwork.ts"
import type { NodeKey } from "../p2p/NodeKey.ts"
import { makeChainApp } from "./ChainApp.ts"

export interface ClusterFile {
  readonly validators: ReadonlyArray<PeerAddress>
}

export class ClusterConfigInvalid extends Error {}

export const readClusterFile = (file: string): ClusterFile => {
  let parsed: unknown
  try {
    parsed = JSON.parse(fs.readFileSync(file, "utf8"))
  } catch (e) {
    throw new ClusterConfigInvalid(`cannot read the cluster file ${file}: ${(e as Error).message}`)
  }
  const validators = (parsed as { validators?: unknown }).validators
  if (
    !Array.isArray(validators) ||
    validators.length === 0 ||
    !validators.every(
      (v) =>
        typeof v?.publicKey === "string" &&
        /^[0-9a-f]{64}$/.test(v.publicKey) &&
        typeof v?.address === "string",
    )
  )
    throw new ClusterConfigInvalid(
      `${file}: expected {"validators": [{"publicKey": "<64 hex>", "address": "/ip4/HOST/tcp/PORT"}, ...]}`,
    )
  return { validators }
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
      const network = yield* makeLibp2pNetwork(
        {
          key: options.key,
          listen: { host: options.p2pHost, port: options.p2pPort },
          peers: options.cluster.validators,
        },
        metrics.registry,
      )
      // Consensus channels go to the driver, the rest to the application.
      const consensusInbound = yield* Queue.bounded<Inbound>(10_000)
      const appInbound = yield* Queue.bounded<Inbound>(10_000)
      yield* Queue.take(network.inbound).pipe(
        Effect.flatMap((m) =>
          m.channel === Channels.broadcast || m.channel === Channels.sync
            ? Queue.offer(appInbound, m)
            : Queue.offer(consensusInbound, m),
        ),
        Effect.forever,
        Effect.forkScoped,
      )
      const publicKeys = options.cluster.validators.map((v) => v.publicKey)
      const app = yield* makeChainApp({
        key: options.key,
        validators: publicKeys,
        maxTxsPerBlock: 1000,
        idleBlockMs: 1_000,
        submitTimeoutMs: options.submitTimeoutMs ?? 30_000,
        inbound: appInbound,
      }).pipe(Effect.provideService(Network, network))
      const me = publicKeys.indexOf(options.key.publicKeyHex)
      const scheme = new Ed25519Scheme()
      yield* makeConsensusDriver({
        engine: {
          epoch: 0n,
          namespace: new TextEncoder().encode("guts"),
          participants: publicKeys.map((k) => new Uint8Array(Buffer.from(k, "hex"))),
          me: me >= 0 ? me : undefined,
          signer: me >= 0 ? scheme.signerFromSeed(options.key.seed) : undefined,
          scheme,
          genesis: new Uint8Array(32),
          leaderTimeoutMs: 3_000,
          certificationTimeoutMs: 4_000,
          timeoutRetryMs: 2_000,
          skipTimeoutMs: 12_000,
          viewRetention: 10n,
          fetchTimeoutMs: 1_000,
        },
        peers: publicKeys,
        dataDir: options.dataDir,
        inbound: consensusInbound,
      }).pipe(
        Effect.provideService(Network, network),
        Effect.provideService(Automaton, app.automaton),
        Effect.provideService(Relay, app.relay),
        Effect.provideService(Reporter, app.reporter),
        Effect.orDie,
      )
      yield* Effect.logInfo(
        `validator ${me} of ${publicKeys.length}; p2p ${options.p2pHost}:${options.p2pPort} as ${options.key.publicKeyHex.slice(0, 16)}…`,
      )
      return Context.make(Ledger, app.ledger).pipe(
        Context.add(ObjectReplicator, app.replicator),
        Context.add(Network, network),
      )
    }),
  )
