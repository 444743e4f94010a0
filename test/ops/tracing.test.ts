/**
 * OpenTelemetry traces: a node with `tracing: otlp` exports, over OTLP/HTTP, one trace per
 * push that holds the request, receive-pack, the submission, consensus (until the block
 * holding the transaction is finalized) and the apply of that block. The receiver is an
 * HTTP server in this process; the node is a one-validator cluster, so consensus runs.
 */
import * as fs from "node:fs"
import * as http from "node:http"
import type { AddressInfo } from "node:net"
import * as path from "node:path"
import { afterAll, describe, expect, it } from "vitest"
import { adminTokenPath } from "../../src/layers/Bootstrap.ts"
import { authUrl, commitAll, git, initRepo, write } from "../support/Git.ts"
import { createRepo, tempDir } from "../support/TestNode.ts"
import { eventually, startValidator, type ValidatorNode } from "./OpsNode.ts"

interface OtlpSpan {
  traceId: string
  spanId: string
  parentSpanId?: string
  name: string
  attributes: Array<{ key: string; value: { stringValue?: string; intValue?: string | number } }>
}

const received: OtlpSpan[] = []
const services = new Set<string>()
const receiver = http.createServer((req, res) => {
  let body = ""
  req.on("data", (d) => (body += d))
  req.on("end", () => {
    const parsed = JSON.parse(body) as {
      resourceSpans: Array<{
        resource: { attributes: OtlpSpan["attributes"] }
        scopeSpans: Array<{ spans: OtlpSpan[] }>
      }>
    }
    for (const rs of parsed.resourceSpans) {
      const name = rs.resource.attributes.find((a) => a.key === "service.name")
      if (name?.value.stringValue) services.add(name.value.stringValue)
      for (const ss of rs.scopeSpans) received.push(...ss.spans)
    }
    res.writeHead(200, { "content-type": "application/json" }).end("{}")
  })
})

let node: ValidatorNode | undefined
afterAll(async () => {
  await node?.close()
  await new Promise((r) => receiver.close(r))
})

describe("tracing", () => {
  it("exports one trace per push with receive-pack, consensus and apply", async () => {
    await new Promise<void>((r) => receiver.listen(0, "127.0.0.1", r))
    const endpoint = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/v1/traces`
    node = await startValidator(1, { tracing: { endpoint, serviceName: "guts-trace-test" } })
    const tokenFile = adminTokenPath(node.dataDir)
    await eventually(
      async () => fs.existsSync(tokenFile),
      (x) => x,
    )
    const token = fs.readFileSync(tokenFile, "utf8").trim()
    await createRepo({ url: node.url, token }, "traced")
    const work = await initRepo(path.join(tempDir("trace-work"), "traced"))
    write(work, "README", "traced\n")
    await commitAll(work, "first")
    await git(work, ["push", "-q", authUrl(`${node.url}/admin/traced.git`, token), "main"])
    await node.close() // flushes the exporter
    node = undefined

    expect([...services]).toEqual(["guts-trace-test"])
    const push = received.find((s) => s.name === "guts.receive-pack")
    expect(push).toBeDefined()
    const trace = received.filter((s) => s.traceId === push!.traceId)
    const named = (name: string) => trace.filter((s) => s.name === name)
    const byId = new Map(trace.map((s) => [s.spanId, s]))
    const request = named("http POST git-receive-pack")
    expect(request).toHaveLength(1)
    expect(push!.parentSpanId).toBe(request[0]!.spanId)
    const submit = named("guts.submit")
    expect(submit).toHaveLength(1)
    const consensus = named("guts.consensus")
    expect(consensus).toHaveLength(1)
    expect(consensus[0]!.parentSpanId).toBe(submit[0]!.spanId)
    const height = consensus[0]!.attributes.find((a) => a.key === "guts.block.height")
    expect(Number(height?.value.intValue)).toBeGreaterThan(0)
    const apply = named("guts.apply")
    expect(apply).toHaveLength(1)
    expect(apply[0]!.parentSpanId).toBe(submit[0]!.spanId)
    expect(apply[0]!.attributes.find((a) => a.key === "guts.block.height")?.value.intValue).toBe(
      height?.value.intValue,
    )
    // The submission is inside the push.
    let up = byId.get(submit[0]!.parentSpanId!)
    while (up && up.name !== "guts.receive-pack") up = byId.get(up.parentSpanId ?? "")
    expect(up?.spanId).toBe(push!.spanId)
  }, 60_000)
})
