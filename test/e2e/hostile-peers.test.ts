/**
 * Hostile peers against three honest validators (real processes, real libp2p): the fourth
 * validator's key is held by this test, which first runs a consensus engine that proposes
 * blocks whose ref updates name objects nobody has, then sends garbage on the consensus
 * channels. Listed full-node keys send garbage, forbidden messages and oversized frames on
 * every channel, and a stranger's key tries to connect. Each is rejected and counted in a
 * metric, and the honest cluster keeps finalizing pushes throughout.
 */
import "../../src/layers/p2p/Polyfills.ts"
import * as crypto from "node:crypto"
import * as path from "node:path"
import { Effect, Either, Exit, Queue, Scope } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import {
  blockDigest,
  decodeBlock,
  encodeBlock,
  GENESIS_DIGEST,
  transactionSigningBytes,
} from "../../src/domain/Block.ts"
import { digestHex } from "../../src/domain/consensus/Types.ts"
import { type ObjectId, ZERO_ID } from "../../src/domain/git/ObjectId.ts"
import { UpdateRefs, type UserId } from "../../src/domain/Transaction.ts"
import { engineConfigFor } from "../../src/layers/chain/ClusterNode.ts"
import { decodeApp, encodeApp } from "../../src/layers/chain/Wire.ts"
import { Automaton, Relay, Reporter } from "../../src/layers/consensus/Application.ts"
import { makeConsensusDriver } from "../../src/layers/consensus/ConsensusDriver.ts"
import { makeLibp2pNetwork, protocolOf } from "../../src/layers/p2p/Libp2pNetwork.ts"
import { encodeFrame, encodeFrameHeader } from "../../src/layers/p2p/Frame.ts"
import { generateNodeKey, type NodeKey, sign } from "../../src/layers/p2p/NodeKey.ts"
import {
  CHANNEL_LIMITS,
  type Channel,
  Channels,
  type Inbound,
  Network,
} from "../../src/services/Network.ts"
import {
  type ClusterMember,
  converged,
  eventually,
  metricOf,
  startCluster,
  stateOf,
  type TestCluster,
} from "../support/Cluster.ts"
import { authUrl, commitAll, git, initRepo, write } from "../support/Git.ts"
import { createRepo, tempDir } from "../support/TestNode.ts"
import { closed, rawPeer } from "../p2p/support.ts"

const HOSTILE = 3
const honest = [0, 1, 2]

let cluster: TestCluster
let work: string
let src: string
let pushes = 0

beforeAll(async () => {
  cluster = await startCluster(4, { startLater: [HOSTILE], spareKeys: 9 })
  work = tempDir("e2e-hostile")
  await createRepo({ url: node(0).url, token: node(0).token() }, "steady")
  await createRepo({ url: node(0).url, token: node(0).token() }, "target")
  src = await initRepo(path.join(work, "steady"))
}, 120_000)

afterAll(async () => {
  await cluster?.stopAll()
}, 60_000)

const node = (i: number) => cluster.nodes[i]!
const remote = (i: number, repo: string) =>
  authUrl(`${node(i).url}/admin/${repo}.git`, node(i).token())
const sumOver = async (name: string, labels: Record<string, string> = {}) =>
  (await Promise.all(honest.map((i) => metricOf(node(i), name, labels)))).reduce((a, b) => a + b)

/** A push through an honest node succeeds and every honest node ends in the same state. */
const keepsFinalizing = async () => {
  pushes++
  write(src, "a.txt", `push ${pushes}\n`)
  const tip = await commitAll(src, `push ${pushes}`, pushes)
  await git(src, ["push", "-q", remote(pushes % 3, "steady"), "main"])
  const height = Math.max(
    ...(await Promise.all(honest.map(async (i) => (await stateOf(node(i).url)).height))),
  )
  await converged(
    honest.map((i) => node(i).url),
    height,
    30_000,
  )
  for (const i of honest) {
    const ls = await git(work, ["ls-remote", remote(i, "steady"), "refs/heads/main"])
    expect(ls.split("\t")[0]).toBe(tip)
  }
}

const target = (m: ClusterMember) => ({ key: m.key, port: m.p2pPort })

/** Opens a stream as `key` to `to` on `channel`, writes `bytes`, and waits for the cut. */
const misbehave = (key: NodeKey, to: ClusterMember, channel: Channel, bytes: Uint8Array) =>
  Effect.runPromise(
    Effect.scoped(
      Effect.gen(function* () {
        const peer = yield* rawPeer(key)
        const stream = yield* Effect.promise(() => peer.open(target(to), protocolOf(channel)))
        stream.send(bytes)
        yield* closed(stream)
      }),
    ),
  )

/**
 * Validator 3 as a Byzantine leader: a real engine and network with its key, whose
 * proposals carry a signed ref update to an object that exists nowhere. It never votes for
 * other proposals (so the three honest validators finalize alone).
 */
const startHostileValidator = async (key: NodeKey) => {
  const scope = Effect.runSync(Scope.make())
  const validators = cluster.nodes.filter((m) => m.role === "validator")
  const seen = new Map<string, { height: number; timestamp: number }>()
  const proposed = new Map<string, Uint8Array>()
  let proposals = 0
  const program = Effect.gen(function* () {
    const network = yield* makeLibp2pNetwork({
      key,
      listen: { host: "127.0.0.1", port: node(HOSTILE).p2pPort },
      peers: validators.map((m) => ({
        publicKey: m.key.publicKeyHex,
        address: `/ip4/127.0.0.1/tcp/${m.p2pPort}`,
      })),
    })
    const consensus = yield* Queue.unbounded<Inbound>()
    yield* Queue.take(network.inbound).pipe(
      Effect.flatMap((m) => {
        if (m.channel <= Channels.resolver) return Queue.offer(consensus, m)
        const app = decodeApp(m.bytes)
        if (app?._tag === "Block") {
          const block = decodeBlock(app.bytes)
          if (Either.isRight(block))
            seen.set(blockDigest(app.bytes), {
              height: block.right.height,
              timestamp: block.right.timestamp,
            })
        }
        return Effect.void
      }),
      Effect.forever,
      Effect.forkScoped,
    )
    const automaton = Automaton.of({
      propose: (context) =>
        Effect.sync(() => {
          const parentDigest = digestHex(context.parent.digest)
          const parent =
            parentDigest === GENESIS_DIGEST ? { height: 0, timestamp: 0 } : seen.get(parentDigest)
          if (parent === undefined) return undefined
          const tx = UpdateRefs.make({
            submitter: 1 as UserId,
            idempotencyKey: `hostile-${context.round.view}`,
            owner: "admin",
            repo: "target",
            atomic: true,
            changes: [
              {
                name: "refs/heads/evil",
                old: ZERO_ID,
                new: crypto.randomBytes(20).toString("hex") as ObjectId,
              },
            ],
          })
          const signature = Buffer.from(sign(key, transactionSigningBytes(tx))).toString("hex")
          const bytes = encodeBlock({
            parent: parentDigest,
            height: parent.height + 1,
            timestamp: Math.max(Date.now(), parent.timestamp + 1),
            txs: [{ tx, signer: key.publicKeyHex, signature }],
          })
          const digest = blockDigest(bytes)
          proposed.set(digest, bytes)
          proposals++
          return new Uint8Array(Buffer.from(digest, "hex"))
        }),
      verify: () => Effect.never,
      certify: () => Effect.succeed(true),
    })
    const relay = Relay.of({
      broadcast: (digest) =>
        Effect.suspend(() => {
          const bytes = proposed.get(digestHex(digest))
          return bytes === undefined
            ? Effect.void
            : network.send(Channels.broadcast, "all", encodeApp({ _tag: "Block", bytes }))
        }).pipe(Effect.ignore),
    })
    yield* makeConsensusDriver({
      engine: engineConfigFor(
        validators.map((m) => m.key.publicKeyHex),
        key,
      ),
      peers: validators.map((m) => m.key.publicKeyHex),
      dataDir: tempDir("hostile-validator"),
      inbound: consensus,
    }).pipe(
      Effect.provideService(Network, network),
      Effect.provideService(Automaton, automaton),
      Effect.provideService(Relay, relay),
      Effect.provideService(Reporter, Reporter.of({ report: () => Effect.void })),
    )
  })
  await Effect.runPromise(Scope.extend(program, scope))
  return {
    proposals: () => proposals,
    stop: () => Effect.runPromise(Scope.close(scope, Exit.void)),
  }
}

describe("three honest validators facing hostile peers", () => {
  it("refuse a stranger's key at the handshake", async () => {
    const stranger = await Effect.runPromise(
      Effect.scoped(
        Effect.gen(function* () {
          const peer = yield* rawPeer(generateNodeKey())
          return yield* Effect.promise(() =>
            peer.open(target(node(0)), protocolOf(Channels.sync)).then(
              () => "opened",
              () => "refused",
            ),
          )
        }),
      ),
    )
    expect(stranger).toBe("refused")
    expect(await metricOf(node(0), "guts_p2p_connections_refused_total")).toBeGreaterThanOrEqual(1)
    await keepsFinalizing()
  }, 60_000)

  it("do not vote for a block whose ref update names an object nobody has, and nullify its leader's view", async () => {
    const hostile = await startHostileValidator(node(HOSTILE).key)
    try {
      await eventually(
        "an honest validator gives up on the hostile proposal's objects",
        () => sumOver("guts_chain_proposals_rejected_total", { reason: "objects_unavailable" }),
        (n) => n >= 1,
        90_000,
      )
      expect(hostile.proposals()).toBeGreaterThanOrEqual(1)
      await keepsFinalizing()
    } finally {
      await hostile.stop()
    }
    expect(
      await metricOf(node(0), "guts_consensus_nullifications_total", { leader: String(HOSTILE) }),
    ).toBeGreaterThanOrEqual(1)
    for (const i of honest)
      expect(await git(work, ["ls-remote", remote(i, "target")])).not.toContain("evil")
  }, 150_000)

  it("block a validator that sends garbage on each consensus channel", async () => {
    const key = node(HOSTILE).key
    const garbage = encodeFrame(new TextEncoder().encode("this is not a consensus message"))
    for (const [i, channel] of [
      Channels.pending,
      Channels.recovered,
      Channels.resolver,
    ].entries()) {
      const before = await metricOf(node(i), "guts_p2p_peers_blocked_total", {
        reason: "misbehaving",
      })
      await misbehave(key, node(i), channel, garbage)
      expect(
        await metricOf(node(i), "guts_p2p_peers_blocked_total", { reason: "misbehaving" }),
      ).toBe(before + 1)
    }
    await keepsFinalizing()
  }, 60_000)

  it("block full nodes that send garbage or what only validators may send", async () => {
    const [f0, f1, f2, f3] = cluster.spareKeys
    const rejected = (i: number, channel: string, reason: string) =>
      metricOf(node(i), "guts_chain_messages_rejected_total", { channel, reason })
    const cases: ReadonlyArray<[NodeKey, number, Channel, Uint8Array, string, string]> = [
      [f0!, 0, Channels.broadcast, Uint8Array.from([0xee, 1, 2, 3]), "broadcast", "malformed"],
      [f1!, 1, Channels.sync, Uint8Array.from([4, 0xff]), "sync", "malformed"],
      [
        f2!,
        2,
        Channels.broadcast,
        encodeApp({
          _tag: "Block",
          bytes: encodeBlock({ parent: GENESIS_DIGEST, height: 1, timestamp: 1, txs: [] }),
        }),
        "broadcast",
        "not_allowed",
      ],
      [f3!, 0, Channels.pending, Uint8Array.from([0, 1, 2]), "consensus", "not_allowed"],
    ]
    for (const [key, i, channel, payload, label, reason] of cases) {
      const before = await rejected(i, label, reason)
      await misbehave(key, node(i), channel, encodeFrame(payload))
      expect(await rejected(i, label, reason)).toBe(before + 1)
    }
    await keepsFinalizing()
  }, 60_000)

  it("block any peer that announces a frame over a channel's limit, on every channel", async () => {
    const keys = cluster.spareKeys.slice(4)
    for (const channel of Object.values(Channels)) {
      const i = channel % 3
      const before = await metricOf(node(i), "guts_p2p_peers_blocked_total", {
        reason: "frame_too_large",
      })
      await misbehave(
        keys[channel]!,
        node(i),
        channel,
        encodeFrameHeader(CHANNEL_LIMITS[channel] + 1),
      )
      expect(
        await metricOf(node(i), "guts_p2p_peers_blocked_total", { reason: "frame_too_large" }),
      ).toBe(before + 1)
    }
    await keepsFinalizing()
  }, 60_000)
})
