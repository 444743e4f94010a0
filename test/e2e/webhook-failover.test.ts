/**
 * Webhook delivery with failover, on four validators as real processes: every delivery has
 * an owner (hash of its id mod n) and backups in turn. A receiver in the test verifies
 * every `X-Hub-Signature-256` with the shared secret and notes, per delivery, which node
 * sent it and when it arrived and finished. Issues are opened in a stream; the node owning
 * some of them is killed (SIGKILL) mid-stream. Every event still arrives, with one stable
 * delivery id, a dead owner's deliveries are sent by the next validator after the takeover
 * window, no delivery id is ever being handled by two nodes at overlapping times, and
 * every node's delivery log lists every delivery (outcomes are replicated state).
 *
 * Windows are small here (GUTS_WEBHOOK_TIMEOUT_MS=500, GUTS_WEBHOOK_TAKEOVER_MS=9000: a
 * retry window of 2.3 s, and room for a backup to wait out a dead leader's view).
 */
import { createHmac, timingSafeEqual } from "node:crypto"
import * as http from "node:http"
import type { AddressInfo } from "node:net"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { ownerOf } from "../../src/domain/HookFailover.ts"
import { apiClient } from "../support/Api.ts"
import { startCluster, type TestCluster } from "../support/Cluster.ts"
import { createRepo } from "../support/TestNode.ts"

const SECRET = "failover-secret"
const TAKEOVER_MS = 9000
const VICTIM = 3
/** Issues opened before the victim is killed, and at least this many in all. */
const BEFORE_KILL = 10
const AT_LEAST = 30

interface Arrival {
  readonly guid: string
  readonly node: number
  readonly issue: number
  readonly signatureOk: boolean
  readonly arrived: number
  finished: number
}

let cluster: TestCluster
let receiver: http.Server
let receiverUrl: string
const arrivals: Arrival[] = []
const savedEnv = {
  timeout: process.env.GUTS_WEBHOOK_TIMEOUT_MS,
  takeover: process.env.GUTS_WEBHOOK_TAKEOVER_MS,
}

beforeAll(async () => {
  receiver = http.createServer((req, res) => {
    const arrived = Date.now()
    const chunks: Buffer[] = []
    req.on("data", (c) => chunks.push(c))
    req.on("end", () => {
      const raw = Buffer.concat(chunks)
      const expected = `sha256=${createHmac("sha256", SECRET).update(raw).digest("hex")}`
      const got = String(req.headers["x-hub-signature-256"] ?? "")
      const body = JSON.parse(raw.toString("utf8"))
      const key = String(req.headers["x-guts-node"] ?? "")
      const arrival: Arrival = {
        guid: String(req.headers["x-github-delivery"]),
        node: cluster.nodes.findIndex((m) => m.key.publicKeyHex === key),
        issue: body.issue?.number ?? 0,
        signatureOk:
          got.length === expected.length &&
          timingSafeEqual(Buffer.from(got), Buffer.from(expected)),
        arrived,
        finished: Number.POSITIVE_INFINITY,
      }
      if (req.headers["x-github-event"] !== "issues") {
        res.writeHead(200).end("ok")
        return
      }
      arrivals.push(arrival)
      // A little work, so that handling a delivery takes a measurable while.
      res.on("close", () => {
        arrival.finished = Date.now()
      })
      setTimeout(() => res.writeHead(200).end("ok"), 20)
    })
  })
  await new Promise<void>((r) => receiver.listen(0, "127.0.0.1", r))
  receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`
  process.env.GUTS_WEBHOOK_TIMEOUT_MS = "500"
  process.env.GUTS_WEBHOOK_TAKEOVER_MS = String(TAKEOVER_MS)
  cluster = await startCluster(4)
}, 120_000)

afterAll(async () => {
  await cluster?.stopAll()
  await new Promise((r) => receiver?.close(r))
  for (const [k, v] of [
    ["GUTS_WEBHOOK_TIMEOUT_MS", savedEnv.timeout],
    ["GUTS_WEBHOOK_TAKEOVER_MS", savedEnv.takeover],
  ] as const)
    if (v === undefined) delete process.env[k]
    else process.env[k] = v
}, 60_000)

const api = (i: number) => apiClient(cluster.nodes[i]!.url, cluster.nodes[i]!.token())

const waitFor = async (
  what: string,
  check: () => boolean,
  ms: number,
  refresh: () => Promise<void> = async () => {},
) => {
  const deadline = Date.now() + ms
  while (Date.now() < deadline) {
    await refresh()
    if (check()) return
    await new Promise((r) => setTimeout(r, 100))
  }
  throw new Error(
    `timed out waiting for ${what}; arrivals: ${JSON.stringify(arrivals.map((a) => [a.issue, a.node]))}`,
  )
}

describe("webhook delivery on a 4-validator cluster", () => {
  it("delivers every event once its owner is killed mid-stream, from one node at a time, with stable ids", async () => {
    await createRepo({ url: cluster.nodes[0]!.url, token: cluster.nodes[0]!.token() }, "stream")
    const hook = await api(0)("POST", "/repos/admin/stream/hooks", {
      config: { url: receiverUrl, content_type: "json", secret: SECRET },
      events: ["issues"],
    })
    expect(hook.status, JSON.stringify(hook.body)).toBe(201)

    // A write can time out (503) while views led by the dead node time out; a client retries
    // (a retried write may land twice: an extra issue, delivered like the others).
    const open = async (via: number, n: number) => {
      for (let attempt = 1; ; attempt++) {
        const r = await api(via)("POST", "/repos/admin/stream/issues", { title: `event ${n}` })
        if (r.status === 503 && attempt < 4) continue
        expect(r.status, JSON.stringify(r.body)).toBe(201)
        return r.body.number as number
      }
    }
    const opened: number[] = []
    for (let n = 0; n < BEFORE_KILL; n++) opened.push(await open(n % 3, n))
    await cluster.kill(VICTIM, "SIGKILL")
    const killedAt = Date.now()
    // Keep the stream going (three at a time) until at least AT_LEAST events exist and some
    // opened after the kill belong to the dead node.
    const deadOwned = () =>
      arrivals.filter((a) => a.arrived > killedAt && ownerOf(a.guid, 4) === VICTIM)
    let n = BEFORE_KILL
    while (n < AT_LEAST || (deadOwned().length < 2 && n < 3 * AT_LEAST)) {
      opened.push(...(await Promise.all([0, 1, 2].map((via) => open(via, n + via)))))
      n += 3
      // Up to one takeover window for the dead node's deliveries to be taken over (ending
      // as soon as two are); if they still are not, more events are opened.
      const until = Date.now() + TAKEOVER_MS
      while (n >= AT_LEAST && deadOwned().length < 2 && Date.now() < until)
        await new Promise((r) => setTimeout(r, 100))
    }

    // Every event arrives (at least once).
    await waitFor(
      "every event",
      () => opened.every((i) => arrivals.some((a) => a.issue === i)),
      3 * TAKEOVER_MS + 10_000,
    )
    await waitFor("handling to finish", () => arrivals.every((a) => a.finished < Infinity), 5000)
    expect(arrivals.every((a) => a.signatureOk)).toBe(true)

    // One stable delivery id per event, sent by a validator.
    const byIssue = new Map<number, Set<string>>()
    for (const a of arrivals) byIssue.set(a.issue, (byIssue.get(a.issue) ?? new Set()).add(a.guid))
    for (const i of opened) expect([i, byIssue.get(i)?.size]).toEqual([i, 1])
    expect(arrivals.every((a) => a.node >= 0 && a.node < 4)).toBe(true)

    // A delivery the dead node owned is sent by the next validator, after the takeover window.
    const takenOver = deadOwned()
    expect(takenOver.length).toBeGreaterThanOrEqual(2)
    for (const a of takenOver) expect(a.node).toBe((VICTIM + 1) % 4)
    // Others go out from their owners.
    const live = arrivals.filter((a) => ownerOf(a.guid, 4) !== VICTIM)
    expect(live.every((a) => a.node === ownerOf(a.guid, 4))).toBe(true)

    // Never two nodes handling one delivery id at overlapping times.
    const byGuid = new Map<string, Arrival[]>()
    for (const a of arrivals) byGuid.set(a.guid, [...(byGuid.get(a.guid) ?? []), a])
    for (const [guid, list] of byGuid)
      for (const x of list)
        for (const y of list)
          if (x !== y && x.node !== y.node)
            expect(
              x.finished < y.arrived || y.finished < x.arrived,
              `${guid}: node ${x.node} [${x.arrived}, ${x.finished}] and node ${y.node} [${y.arrived}, ${y.finished}]`,
            ).toBe(true)

    // Every node's delivery log shows every delivery, whichever validator sent it (outcomes
    // are recorded in replicated state).
    const guids = [...new Set(arrivals.map((a) => a.guid))]
    for (const i of [1, 2]) {
      let listed = new Set<string>()
      await waitFor(
        `node ${i}'s delivery log`,
        () => guids.every((g) => listed.has(g)),
        15_000,
        async () => {
          const log = await api(i)("GET", `/repos/admin/stream/hooks/${hook.body.id}/deliveries`)
          listed = new Set(log.body.map((d: { guid: string }) => d.guid))
        },
      )
    }
  }, 120_000)
})
