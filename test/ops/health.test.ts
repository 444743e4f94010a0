/**
 * Health endpoints as a load balancer, an orchestrator and `guts status` see them:
 * liveness always, startup once bootstrapped and caught up, readiness only with storage,
 * enough peers and no more lag than allowed.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { Effect, Either, Layer } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import {
  assessHealth,
  type HealthInput,
  healthReport,
  requiredPeers,
} from "../../src/layers/http/HealthRoutes.ts"
import { Ledger, type LedgerShape } from "../../src/services/Ledger.ts"
import { Network, type NetworkShape } from "../../src/services/Network.ts"
import { nodeConfigLayer } from "../../src/services/NodeConfig.ts"
import { ObjectStore, type ObjectStoreShape, StorageError } from "../../src/services/ObjectStore.ts"
import { tempDir } from "../support/TestNode.ts"
import { type RunningNode, startNode } from "../support/TestNode.ts"
import { eventually, startValidator } from "./OpsNode.ts"

const healthy: HealthInput = {
  storage: Either.right(50e9),
  height: 100,
  bootstrapped: true,
  cluster: {
    validators: 4,
    connected: ["b", "c", "d"],
    minPeers: "quorum",
    highestFinalized: 103,
    maxLag: 10,
  },
}

describe("readiness rules", () => {
  it("needs n - f - 1 peers for 'quorum' (with this node, a quorum of n - f)", () => {
    expect([1, 2, 3, 4, 5, 6, 7, 10].map((n) => requiredPeers(n, "quorum"))).toEqual([
      0, 1, 2, 2, 3, 4, 4, 6,
    ])
    expect(requiredPeers(4, 3)).toBe(3)
  })

  it("is ready and started with storage, enough peers and little lag", () => {
    const r = assessHealth(healthy)
    expect([r.ready, r.started, r.problems]).toEqual([true, true, []])
    expect(r.checks.lag).toEqual({ blocks: 3, max: 10, highestFinalized: 103 })
    expect(r.checks.peers).toMatchObject({ connected: 3, required: 2, validators: 4 })
  })

  it("is started but not ready with fewer peers than required", () => {
    const r = assessHealth({ ...healthy, cluster: { ...healthy.cluster!, connected: ["b"] } })
    expect([r.ready, r.started]).toEqual([false, true])
    expect(r.problems).toEqual(["1 peer(s) connected, 2 required (ready-min-peers quorum)"])
  })

  it("is neither started nor ready while more than ready-max-lag blocks behind", () => {
    const r = assessHealth({
      ...healthy,
      cluster: { ...healthy.cluster!, highestFinalized: 111 },
    })
    expect([r.ready, r.started]).toEqual([false, false])
    expect(r.problems[0]).toContain("catching up: 11 block(s) behind")
    expect(
      assessHealth({ ...healthy, cluster: { ...healthy.cluster!, highestFinalized: 110 } }).ready,
    ).toBe(true)
  })

  it("is not ready when storage fails, and says why", () => {
    const r = assessHealth({ ...healthy, storage: Either.left("disk I/O error") })
    expect(r.ready).toBe(false)
    expect(r.checks.storage).toBe("failing: disk I/O error")
    expect(r.problems).toEqual(["storage: disk I/O error"])
  })

  it("is not started before the administrator bootstrap", () => {
    const r = assessHealth({ ...healthy, bootstrapped: false })
    expect([r.ready, r.started]).toEqual([false, false])
    expect(r.checks.startup).toMatch(/^waiting: the administrator bootstrap/)
  })

  it("reports lag as unknown, and does not fail on it, when the ledger does not tell", () => {
    const r = assessHealth({
      ...healthy,
      cluster: { ...healthy.cluster!, highestFinalized: undefined },
    })
    expect(r.ready).toBe(true)
    expect(r.checks.lag).toBe("unknown")
  })

  it("checks neither peers nor lag for a single validator", () => {
    const r = assessHealth({ ...healthy, cluster: undefined })
    expect(r.ready).toBe(true)
    expect([r.checks.peers, r.checks.lag]).toEqual(["single validator", "single validator"])
  })
})

describe("what readiness is decided from", () => {
  /** A node's services as health reads them: a cluster of 4, this node at `height`. */
  const report = (opts: {
    height: number
    finalizedHeight?: number
    connected: ReadonlyArray<string>
    storageFails?: boolean
  }) => {
    const dir = tempDir("ops-health")
    const cluster = path.join(dir, "cluster.json")
    const validators = ["a", "b", "c", "d"].map((c, i) => ({
      publicKey: c.repeat(64),
      address: `/ip4/127.0.0.1/tcp/${9000 + i}`,
    }))
    fs.writeFileSync(cluster, JSON.stringify({ validators }))
    fs.writeFileSync(path.join(dir, "admin-token"), "guts_x\n")
    const ledger = {
      height: Effect.succeed(opts.height),
      submit: () => Effect.die("unused"),
      ...(opts.finalizedHeight === undefined
        ? {}
        : { finalizedHeight: Effect.succeed(opts.finalizedHeight) }),
    } as LedgerShape
    const objects = {
      availableBytes: opts.storageFails
        ? Effect.fail(new StorageError({ operation: "statfs", cause: new Error("EIO") }))
        : Effect.succeed(1e9),
    } as unknown as ObjectStoreShape
    const network = { connected: Effect.succeed(opts.connected) } as unknown as NetworkShape
    return Effect.runPromise(
      healthReport.pipe(
        Effect.provide(
          Layer.mergeAll(
            Layer.succeed(Ledger, ledger),
            Layer.succeed(ObjectStore, objects),
            Layer.succeed(Network, network),
            nodeConfigLayer({
              dataDir: dir,
              cluster: { file: cluster, keyFile: "k", p2pHost: "127.0.0.1", p2pPort: 0 },
            }),
          ),
        ),
      ),
    )
  }

  it("counts the peers the Network reports against the cluster file's validators", async () => {
    const r = await report({ height: 5, connected: ["b", "c"] })
    expect(r.ready).toBe(true)
    expect(r.checks.peers).toEqual({ connected: 2, required: 2, validators: 4, ids: ["b", "c"] })
    expect((await report({ height: 5, connected: ["b"] })).ready).toBe(false)
  })

  it("measures lag against the ledger's finalized height when the ledger reports one", async () => {
    const near = await report({ height: 95, finalizedHeight: 100, connected: ["b", "c", "d"] })
    expect(near.checks.lag).toEqual({ blocks: 5, max: 10, highestFinalized: 100 })
    expect(near.ready).toBe(true)
    const far = await report({ height: 80, finalizedHeight: 100, connected: ["b", "c", "d"] })
    expect([far.ready, far.started]).toEqual([false, false])
    const silent = await report({ height: 80, connected: ["b", "c", "d"] })
    expect(silent.checks.lag).toBe("unknown")
  })

  it("reports a failing store with its error", async () => {
    const r = await report({ height: 1, connected: ["b", "c"], storageFails: true })
    expect(r.ready).toBe(false)
    expect(r.checks.storage).toMatch(/^failing: /)
  })
})

describe("health endpoints of a single validator", () => {
  let node: RunningNode
  beforeAll(async () => {
    node = await startNode({ storage: "memory" })
  })
  afterAll(async () => {
    await node?.close()
  })

  it("answers live, startup and ready with 200 and every check", async () => {
    const live = await fetch(`${node.url}/health/live`)
    expect(live.status).toBe(200)
    expect(await live.json()).toMatchObject({ status: "ok", version: expect.any(String) })
    const startup = await fetch(`${node.url}/health/startup`)
    expect(startup.status).toBe(200)
    expect(await startup.json()).toMatchObject({ status: "started", checks: { startup: "done" } })
    const ready = await fetch(`${node.url}/health/ready`)
    expect(ready.status).toBe(200)
    const body = (await ready.json()) as { checks: Record<string, unknown>; problems: unknown[] }
    expect(body).toMatchObject({
      status: "ready",
      checks: { storage: "ok", peers: "single validator", lag: "single validator" },
      problems: [],
    })
    expect(body.checks.storageAvailableBytes).toBeGreaterThan(0)
    expect(body.checks.height).toBeGreaterThanOrEqual(1) // the bootstrap's transactions
  })
})

describe("health endpoints of a validator in a cluster", () => {
  it("is ready alone in a cluster of one (no peers needed)", async () => {
    const node = await startValidator(1)
    try {
      const ready = await eventually(
        () =>
          fetch(`${node.url}/health/ready`).then(async (r) => ({
            status: r.status,
            body: await r.json(),
          })),
        (r) => r.status === 200,
      )
      expect(ready.status).toBe(200)
      expect(ready.body).toMatchObject({
        status: "ready",
        checks: { peers: { connected: 0, required: 0, validators: 1 }, startup: "done" },
      })
    } finally {
      await node.close()
    }
  })

  it("is live but neither started nor ready without a quorum of peers", async () => {
    const node = await startValidator(4)
    try {
      expect((await fetch(`${node.url}/health/live`)).status).toBe(200)
      const startup = await fetch(`${node.url}/health/startup`)
      expect(startup.status).toBe(503)
      expect(((await startup.json()) as { problems: string[] }).problems).toEqual([
        "the administrator bootstrap has not finished (in a cluster it needs a quorum)",
      ])
      const ready = await fetch(`${node.url}/health/ready`)
      expect(ready.status).toBe(503)
      const body = (await ready.json()) as { status: string; problems: string[]; checks: unknown }
      expect(body.status).toBe("unavailable")
      expect(body.problems).toContain("0 peer(s) connected, 2 required (ready-min-peers quorum)")
      expect(body.checks).toMatchObject({ peers: { connected: 0, required: 2, validators: 4 } })
    } finally {
      await node.close()
    }
  })

  it("takes the peer minimum from ready-min-peers", async () => {
    const node = await startValidator(4, { readyMinPeers: 0 })
    try {
      const body = (await (await fetch(`${node.url}/health/ready`)).json()) as {
        problems: string[]
        checks: { peers: { required: number } }
      }
      expect(body.checks.peers.required).toBe(0)
      expect(body.problems.some((p) => p.includes("peer(s) connected"))).toBe(false)
    } finally {
      await node.close()
    }
  })
})
