/**
 * The node's side of the runner protocol (src/domain/ci/RunnerProtocol.ts) held in memory,
 * over real HTTP, for testing the runner before and apart from the replicated server:
 * every request body is decoded with the protocol's Schemas (a runner that sends something
 * else fails the test), logs follow the `seq` rules, artifacts are stored as uploaded.
 * Tests queue assignments and script the heartbeat's answers.
 */
import * as http from "node:http"
import { Schema } from "effect"
import {
  ClaimRequest,
  CompleteRequest,
  HeartbeatRequest,
  type JobAssignment,
  LogChunk,
  RegisterRunnerRequest,
  RUNNER_PROTOCOL_HEADER,
  StepReport,
} from "../../src/domain/ci/RunnerProtocol.ts"

export interface Artifact {
  readonly jobId: number
  readonly contentType: string
  readonly body: Buffer
}

export interface ProtocolNode {
  readonly url: string
  readonly registrationToken: string
  readonly registered: Array<{ name: string; labels: ReadonlyArray<string> }>
  readonly claims: Array<{ runner: string; body: ClaimRequest }>
  readonly queue: JobAssignment[]
  readonly logs: Map<number, LogChunk[]>
  readonly steps: Map<number, Array<{ n: number; report: StepReport }>>
  readonly artifacts: Map<string, Artifact>
  readonly completed: Map<number, CompleteRequest>
  readonly heartbeats: Array<{ jobId: number; body: HeartbeatRequest }>
  /** Decides each heartbeat's answer; default: not cancelled. */
  heartbeat: (jobId: number) => { status: number; body: unknown }
  /** The text of a job's log, in seq order. */
  logText: (jobId: number) => string
  close: () => Promise<void>
}

const send = (res: http.ServerResponse, status: number, body?: unknown) => {
  if (body === undefined) {
    res.writeHead(status)
    res.end()
    return
  }
  res.writeHead(status, { "content-type": "application/json" })
  res.end(JSON.stringify(body))
}

const readBody = (req: http.IncomingMessage) =>
  new Promise<Buffer>((resolve, reject) => {
    const parts: Buffer[] = []
    req.on("data", (d: Buffer) => parts.push(d))
    req.on("end", () => resolve(Buffer.concat(parts)))
    req.on("error", reject)
  })

export const startProtocolNode = async (): Promise<ProtocolNode> => {
  const runnerTokens = new Map<string, string>()
  const held = new Map<number, string>()
  const node: Omit<ProtocolNode, "url" | "close"> = {
    registrationToken: "gutsreg_test",
    registered: [],
    claims: [],
    queue: [],
    logs: new Map(),
    steps: new Map(),
    artifacts: new Map(),
    completed: new Map(),
    heartbeats: [],
    heartbeat: () => ({
      status: 200,
      body: { cancelled: false, leaseExpiresAt: Date.now() + 60_000 },
    }),
    logText: (jobId) => (node.logs.get(jobId) ?? []).map((c) => c.text).join(""),
  }
  const decode = <A, I>(schema: Schema.Schema<A, I>, buf: Buffer): A =>
    Schema.decodeUnknownSync(schema)(JSON.parse(buf.toString("utf8") || "{}"))

  const server = http.createServer(async (req, res) => {
    try {
      const url = new URL(req.url ?? "/", "http://x")
      const body = await readBody(req)
      if (req.headers[RUNNER_PROTOCOL_HEADER] !== "1")
        return send(res, 400, { message: "missing protocol header" })
      if (req.method === "POST" && url.pathname === "/api/runners") {
        const r = decode(RegisterRunnerRequest, body)
        if (r.token !== node.registrationToken)
          return send(res, 401, { message: "unknown registration token" })
        const id = node.registered.length + 1
        const token = `gutsrun_${id}`
        runnerTokens.set(token, r.name)
        node.registered.push({ name: r.name, labels: r.labels })
        const labels = [...new Set(["self-hosted", ...r.labels.map((l) => l.toLowerCase())])]
        return send(res, 201, { id, name: r.name, labels, token })
      }
      const auth = /^Bearer (.+)$/.exec(req.headers.authorization ?? "")?.[1]
      const runner = auth ? runnerTokens.get(auth) : undefined
      if (!runner || !auth) return send(res, 401, { message: "unknown runner token" })
      if (req.method === "POST" && url.pathname === "/api/runners/jobs/claim") {
        node.claims.push({ runner: auth, body: decode(ClaimRequest, body) })
        const job = node.queue.shift()
        if (!job) return send(res, 204)
        held.set(job.jobId, auth)
        return send(res, 200, job)
      }
      const m =
        /^\/api\/runners\/jobs\/(\d+)\/(heartbeat|logs|steps\/(\d+)|artifacts\/([^/]+)|complete)$/.exec(
          url.pathname,
        )
      if (!m) return send(res, 404, { message: `no route ${req.method} ${url.pathname}` })
      const jobId = Number(m[1])
      if (held.get(jobId) !== auth) return send(res, 409, { message: `job ${jobId} is not yours` })
      if (m[2] === "heartbeat") {
        node.heartbeats.push({ jobId, body: decode(HeartbeatRequest, body) })
        const a = node.heartbeat(jobId)
        if (a.status === 409) held.delete(jobId)
        return send(res, a.status, a.body)
      }
      if (m[2] === "logs") {
        const chunk = decode(LogChunk, body)
        const log = node.logs.get(jobId) ?? []
        node.logs.set(jobId, log)
        if (chunk.seq === log.length) log.push(chunk)
        return send(res, 200, { expected: log.length })
      }
      if (m[3] !== undefined) {
        const list = node.steps.get(jobId) ?? []
        node.steps.set(jobId, list)
        list.push({ n: Number(m[3]), report: decode(StepReport, body) })
        return send(res, 200, {})
      }
      if (m[4] !== undefined) {
        const name = decodeURIComponent(m[4])
        if (req.method === "PUT") {
          node.artifacts.set(name, {
            jobId,
            contentType: req.headers["content-type"] ?? "",
            body,
          })
          return send(res, 201, { id: node.artifacts.size, name, size: body.length, digest: "d" })
        }
        const a = node.artifacts.get(name)
        if (!a) return send(res, 404, { message: `no artifact ${name}` })
        res.writeHead(200, { "content-type": a.contentType })
        res.end(a.body)
        return
      }
      const done = decode(CompleteRequest, body)
      if ((node.logs.get(jobId)?.length ?? 0) < done.logChunks)
        return send(res, 422, { message: "a log chunk is missing" })
      node.completed.set(jobId, done)
      held.delete(jobId)
      return send(res, 200, { conclusion: done.conclusion, logDigest: "0".repeat(64) })
    } catch (err) {
      send(res, 422, { message: (err as Error).message })
    }
  })
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r))
  const port = (server.address() as { port: number }).port
  return Object.assign(node, {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections()
        server.close(() => r())
      }),
  }) as ProtocolNode
}
