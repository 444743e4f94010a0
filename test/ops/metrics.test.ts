/**
 * docs/monitoring.md against a running node: every metric the table documents is exported
 * with the documented type and exactly the documented labels, and every `guts_*` metric
 * the node exports is documented. The node is a validator (a cluster of one), so the
 * cluster-only metrics are there too; it serves a push and a clone first so that the
 * labelled series exist.
 */
import * as fs from "node:fs"
import * as http from "node:http"
import type { AddressInfo } from "node:net"
import * as path from "node:path"
import { Either } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { commitAll, git, initRepo, write } from "../support/Git.ts"
import { createRepo, tempDir } from "../support/TestNode.ts"
import { eventually, startValidator, type ValidatorNode } from "./OpsNode.ts"
import { type Family, parsePromText } from "./PromText.ts"

interface Documented {
  readonly name: string
  readonly type: string
  readonly labels: ReadonlyArray<string>
  readonly scope: string
}

/** The rows of the table in the "Metrics" section of docs/monitoring.md. */
const documented = (): ReadonlyArray<Documented> => {
  const text = fs.readFileSync(
    path.resolve(import.meta.dirname, "../../docs/monitoring.md"),
    "utf8",
  )
  const section = text.split(/^## /m).find((s) => s.startsWith("Metrics\n")) ?? ""
  return section
    .split("\n")
    .filter((l) => l.startsWith("| `guts_"))
    .map((l) => {
      const cells = l.split(" | ").map((c) => c.replace(/^\|\s*|\s*\|$/g, "").trim())
      return {
        name: cells[0]!.replace(/`/g, ""),
        type: cells[1]!,
        labels: cells[2] === "—" ? [] : cells[2]!.split(",").map((x) => x.trim().replace(/`/g, "")),
        scope: cells[3]!,
      }
    })
}

/**
 * Labelled series that appear only when their event happens (a peer dropping messages or
 * misbehaving, a proposal refused, a view nullified, a large repository's clone pack), which a healthy cluster of one never
 * sees. For these only the type and, if present, the labels are checked.
 */
const eventOnly = new Set([
  "guts_p2p_messages_dropped_total",
  "guts_p2p_peers_blocked_total",
  "guts_chain_messages_rejected_total",
  "guts_chain_proposals_rejected_total",
  "guts_consensus_nullifications_total",
  // Only repositories of at least clone-pack-min-objects objects get cached clone packs.
  "guts_git_clone_packs_total",
])

/** Labels a sample carries besides the metric's own (histogram buckets have `le`). */
const ownLabels = (family: Family, labels: Readonly<Record<string, string>>) =>
  Object.keys(labels)
    .filter((l) => !(family.type === "histogram" && l === "le"))
    .sort()

let node: ValidatorNode
let receiver: http.Server
let families: ReadonlyMap<string, Family>

beforeAll(async () => {
  node = await startValidator(1)
  const tokenFile = path.join(node.dataDir, "admin-token")
  await eventually(
    async () => fs.existsSync(tokenFile),
    (exists) => exists,
  )
  const token = fs.readFileSync(tokenFile, "utf8").trim()
  const repo = await createRepo({ url: node.url, token }, "watched")
  // A webhook receiver, so that the push is delivered and counted.
  receiver = http.createServer((req, res) => {
    req.resume()
    req.on("end", () => res.end("ok"))
  })
  await new Promise<void>((r) => receiver.listen(0, "127.0.0.1", r))
  const hook = await fetch(`${node.url}/api/repos/admin/watched/hooks`, {
    method: "POST",
    headers: { authorization: `token ${token}`, "content-type": "application/json" },
    body: JSON.stringify({
      events: ["push"],
      config: {
        url: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/`,
        content_type: "json",
      },
    }),
  })
  expect(hook.status).toBe(201)
  const work = tempDir("ops-metrics")
  const src = path.join(work, "src")
  await initRepo(src)
  write(src, "README", "metrics\n")
  await commitAll(src, "first")
  const remote = repo.clone_url.replace("http://", `http://admin:${token}@`)
  await git(src, ["push", "-q", remote, "HEAD:refs/heads/main"])
  await git(work, ["clone", "-q", remote, path.join(work, "clone")])
  await fetch(`${node.url}/api/nothing`)
  const text = await eventually(
    async () => (await fetch(node.metricsUrl)).text(),
    (t) => /^guts_webhook_deliveries_total\{outcome="ok"\} 1$/m.test(t),
  )
  const parsed = parsePromText(text)
  if (Either.isLeft(parsed))
    throw new Error(`the node's /metrics does not parse: ${parsed.left.message}`)
  families = parsed.right
}, 60_000)

afterAll(async () => {
  await node?.close()
  receiver?.close()
})

describe("docs/monitoring.md", () => {
  it("documents metrics (the table is found and read)", () => {
    const rows = documented()
    expect(rows.length).toBeGreaterThanOrEqual(14)
    expect(rows.map((r) => r.name)).toContain("guts_http_request_duration_seconds")
  })

  it.each(documented().map((d) => [d.name, d] as const))(
    "%s is exported with the documented type and labels",
    (_, doc) => {
      const family = families.get(doc.name)
      expect(family, `${doc.name} is not exported`).toBeDefined()
      expect(family!.type).toBe(doc.type)
      if (!eventOnly.has(doc.name))
        expect(family!.samples.length, `${doc.name} has no samples`).toBeGreaterThan(0)
      for (const sample of family!.samples)
        expect([sample.name, ownLabels(family!, sample.labels)]).toEqual([
          sample.name,
          [...doc.labels].sort(),
        ])
    },
  )

  it("documents every guts_* metric the node exports", () => {
    const names = new Set(documented().map((d) => d.name))
    const undocumented = [...families.keys()].filter((n) => n.startsWith("guts_") && !names.has(n))
    expect(undocumented).toEqual([])
  })

  it("counts what the node just did under the documented label values", () => {
    const ops = families.get("guts_git_operations_total")!.samples
    expect(ops).toContainEqual({
      name: "guts_git_operations_total",
      labels: { service: "receive-pack", outcome: "ok" },
      value: 1,
    })
    expect(ops.find((s) => s.labels.service === "upload-pack")?.labels.outcome).toBe("ok")
    const applied = families.get("guts_transactions_applied_total")!.samples
    expect(
      applied.some((s) => s.labels.kind === "UpdateRefs" && s.labels.outcome === "applied"),
    ).toBe(true)
    expect(families.get("guts_consensus_block_height")!.samples[0]!.value).toBeGreaterThan(0)
    const value = (name: string) => families.get(name)!.samples.map((s) => [s.labels, s.value])
    // The push's webhook was delivered and nothing waits; a caught-up node has no lag.
    expect(value("guts_webhook_deliveries_total")).toEqual([[{ outcome: "ok" }, 1]])
    expect(value("guts_webhook_deliveries_pending")).toEqual([[{}, 0]])
    expect(value("guts_apply_lag_blocks")).toEqual([[{}, 0]])
    expect(value("guts_ci_jobs_queued")).toEqual([[{}, 0]])
    expect(value("guts_ci_jobs_running")).toEqual([[{}, 0]])
  })
})
