import { createHash } from "node:crypto"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { Duration, Effect, Exit, Scope } from "effect"
import { afterEach, describe, expect, it } from "vitest"
import type { Activity } from "../../src/domain/consensus/Engine.ts"
import { Ed25519Scheme } from "../../src/domain/consensus/Scheme.ts"
import { digestHex } from "../../src/domain/consensus/Types.ts"
import { Automaton, Relay, Reporter } from "../../src/layers/consensus/Application.ts"
import {
  type ConsensusDriverShape,
  journalDir,
  makeConsensusDriver,
} from "../../src/layers/consensus/ConsensusDriver.ts"
import { Network } from "../../src/services/Network.ts"
import { baseConfig, keys } from "./Harness.ts"
import { MemoryHub } from "./MemoryNetwork.ts"

const dirs: string[] = []
afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true })
})

const scheme = new Ed25519Scheme()
const signers = keys(scheme, 4)
const peers = signers.map((s) => Buffer.from(s.publicKey).toString("hex"))

interface Node {
  readonly index: number
  readonly dataDir: string
  readonly reports: Activity[]
  scope?: Scope.CloseableScope
  driver?: ConsensusDriverShape
}

const startNode = (hub: MemoryHub, node: Node) =>
  Effect.gen(function* () {
    const scope = yield* Scope.make()
    const network = yield* hub.attach(peers[node.index])
    const config = baseConfig(scheme, signers, node.index, {
      leaderTimeoutMs: 400,
      certificationTimeoutMs: 800,
      timeoutRetryMs: 500,
      skipTimeoutMs: 5_000,
      fetchTimeoutMs: 300,
    })
    const driver = yield* makeConsensusDriver({
      engine: config,
      peers,
      dataDir: node.dataDir,
      segmentViews: 4n,
    }).pipe(
      Effect.provideService(Network, network),
      Effect.provideService(Automaton, {
        propose: (ctx) =>
          Effect.succeed(
            new Uint8Array(
              createHash("sha256")
                .update(`${ctx.round.view}:${digestHex(ctx.parent.digest)}`)
                .digest(),
            ),
          ),
        verify: () => Effect.succeed(true),
        certify: () => Effect.succeed(true),
      }),
      Effect.provideService(Relay, { broadcast: () => Effect.void }),
      Effect.provideService(Reporter, { report: (a) => Effect.sync(() => node.reports.push(a)) }),
      Scope.extend(scope),
    )
    node.scope = scope
    node.driver = driver
  })

const stopNode = (hub: MemoryHub, node: Node) =>
  Effect.gen(function* () {
    hub.detach(peers[node.index])
    if (node.scope !== undefined) yield* Scope.close(node.scope, Exit.void)
    node.scope = undefined
  })

const newNode = (index: number): Node => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), `guts-driver-${index}-`))
  dirs.push(dataDir)
  return { index, dataDir, reports: [] }
}

const finalizedPayloads = (node: Node) =>
  new Map(
    node.reports.flatMap((a) =>
      a._tag === "Finalization"
        ? [[a.proposal.round.view, digestHex(a.proposal.payload)] as const]
        : [],
    ),
  )

const FAULTS = new Set([
  "ConflictingNotarize",
  "ConflictingFinalize",
  "NullifyFinalize",
  "InvalidSignature",
])

describe("ConsensusDriver (real time, in-memory network, Ed25519, on-disk journal)", () => {
  it("four drivers finalize 10 views and agree on every finalized payload", async () => {
    const hub = new MemoryHub()
    const nodes = [0, 1, 2, 3].map(newNode)
    await Effect.runPromise(
      Effect.gen(function* () {
        for (const node of nodes) yield* startNode(hub, node)
        yield* Effect.all(
          nodes.map((n) => n.driver!.awaitFinalized(10n)),
          { concurrency: "unbounded" },
        ).pipe(
          Effect.timeoutFail({
            duration: Duration.seconds(30),
            onTimeout: () => new Error("no finality"),
          }),
        )
        for (const node of nodes) yield* stopNode(hub, node)
      }),
    )
    const reference = finalizedPayloads(nodes[0])
    for (const node of nodes) {
      for (const [view, payload] of finalizedPayloads(node)) {
        const other = reference.get(view)
        if (other !== undefined) expect(payload).toBe(other)
      }
      expect(node.reports.filter((a) => FAULTS.has(a._tag))).toEqual([])
      expect(fs.readdirSync(journalDir(node.dataDir)).length).toBeGreaterThan(0)
    }
    expect(hub.blocks).toEqual([])
  }, 60_000)

  it("a driver restarted from its journal rejoins without conflicting votes", async () => {
    const hub = new MemoryHub()
    const nodes = [0, 1, 2, 3].map(newNode)
    await Effect.runPromise(
      Effect.gen(function* () {
        for (const node of nodes) yield* startNode(hub, node)
        yield* nodes[0].driver!.awaitFinalized(4n).pipe(Effect.timeout(Duration.seconds(30)))
        yield* stopNode(hub, nodes[0])
        const before = nodes[0].reports.length
        yield* startNode(hub, nodes[0])
        const status = yield* nodes[0].driver!.status
        // Replay restored at least the finalized view it had reached.
        expect(status.lastFinalized).toBeGreaterThanOrEqual(4n)
        yield* Effect.all(
          nodes.map((n) => n.driver!.awaitFinalized(12n)),
          { concurrency: "unbounded" },
        ).pipe(
          Effect.timeoutFail({
            duration: Duration.seconds(30),
            onTimeout: () => new Error("no finality"),
          }),
        )
        expect(nodes[0].reports.length).toBeGreaterThan(before)
        for (const node of nodes) yield* stopNode(hub, node)
      }),
    )
    for (const node of nodes) expect(node.reports.filter((a) => FAULTS.has(a._tag))).toEqual([])
    expect(hub.blocks).toEqual([])
  }, 60_000)
})
