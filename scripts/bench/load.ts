/**
 * A small closed-loop HTTP load generator for the API benchmarks: `connections` clients,
 * each with its own keep-alive connection, send a request, wait for the whole answer, and
 * send the next one, for `seconds`. Every request's latency is recorded (from writing the
 * request to the last byte of the answer), so p50/p99 come from all samples, not a
 * histogram's buckets. Answers other than 2xx/304 and connection errors are counted apart
 * and left out of the latencies.
 *
 * Built on node:http with a keep-alive Agent (no extra packages); the generator runs in
 * the benchmark's process, so it measures the node and its reference with the same client.
 *
 * Also `request`: one timed request on a keep-alive agent, for latency benchmarks of
 * sequential writes. Run directly for an ad-hoc load:
 *   tsx scripts/bench/load.ts http://127.0.0.1:8080/api/repos/o/r [connections] [seconds]
 */
import * as http from "node:http"
import { pathToFileURL } from "node:url"

export interface LoadTarget {
  readonly url: string
  readonly method?: string
  readonly headers?: Readonly<Record<string, string>>
}

export interface LoadOptions {
  readonly connections: number
  readonly seconds: number
  /** Load before measuring (connections opened, JIT warm), not recorded. Default 0. */
  readonly warmupSeconds?: number
}

export interface LoadResult {
  /** Completed requests with a 2xx/304 answer. */
  readonly requests: number
  /** Answers with another status, by status. */
  readonly badStatus: Readonly<Record<string, number>>
  /** Connection or protocol errors. */
  readonly errors: number
  /** Measured wall time, from the start until the last in-flight request finished. */
  readonly seconds: number
  readonly bytes: number
  /** Latencies (ms) of the successful requests, in completion order. */
  readonly latencies: ReadonlyArray<number>
  /**
   * CPU time this process spent during the run, as a fraction of one core: near 1 means
   * the generator itself, not the server, limited the throughput.
   */
  readonly clientCpu: number
}

export interface LoadSummary {
  readonly requests: number
  readonly failures: number
  readonly rps: number
  readonly p50: number
  readonly p99: number
  readonly max: number
  readonly mbPerSecond: number
  readonly clientCpu: number
}

const nowMs = () => Number(process.hrtime.bigint()) / 1e6

/** The q-quantile (0..1) of an ascending array, by the nearest-rank rule. */
export const quantile = (sorted: ReadonlyArray<number>, q: number) => {
  if (sorted.length === 0) return Number.NaN
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil(q * sorted.length)))
  return sorted[rank - 1]!
}

const ok = (status: number) => (status >= 200 && status < 300) || status === 304

const loop = (
  agent: http.Agent,
  target: LoadTarget,
  until: number,
  record: (status: number, ms: number, bytes: number) => void,
  fail: () => void,
) =>
  new Promise<void>((resolve) => {
    const url = new URL(target.url)
    const options: http.RequestOptions = {
      agent,
      host: url.hostname,
      port: url.port,
      path: `${url.pathname}${url.search}`,
      method: target.method ?? "GET",
      headers: target.headers ?? {},
    }
    const next = () => {
      if (nowMs() >= until) return resolve()
      const started = nowMs()
      let bytes = 0
      const req = http.request(options, (res) => {
        res.on("data", (chunk: Buffer) => {
          bytes += chunk.length
        })
        res.on("end", () => {
          record(res.statusCode ?? 0, nowMs() - started, bytes)
          next()
        })
        res.on("error", () => {
          fail()
          next()
        })
      })
      req.on("error", () => {
        fail()
        // A refused connection would otherwise spin; errors are rare and counted.
        setTimeout(next, 1)
      })
      req.end()
    }
    next()
  })

/** Runs `connections` closed-loop clients against `target` for `seconds`. */
export const runLoad = async (target: LoadTarget, options: LoadOptions): Promise<LoadResult> => {
  const agent = new http.Agent({
    keepAlive: true,
    maxSockets: options.connections,
    maxFreeSockets: options.connections,
  })
  try {
    const clients = (until: number, record: Parameters<typeof loop>[3], fail: () => void) =>
      Promise.all(
        Array.from({ length: options.connections }, () => loop(agent, target, until, record, fail)),
      )
    const warmup = options.warmupSeconds ?? 0
    if (warmup > 0)
      await clients(
        nowMs() + warmup * 1000,
        () => {},
        () => {},
      )
    const latencies: number[] = []
    const badStatus: Record<string, number> = {}
    let errors = 0
    let bytes = 0
    const started = nowMs()
    const cpu = process.cpuUsage()
    await clients(
      started + options.seconds * 1000,
      (status, ms, n) => {
        bytes += n
        if (ok(status)) latencies.push(ms)
        else badStatus[status] = (badStatus[status] ?? 0) + 1
      },
      () => {
        errors++
      },
    )
    const seconds = (nowMs() - started) / 1000
    const used = process.cpuUsage(cpu)
    return {
      requests: latencies.length,
      badStatus,
      errors,
      seconds,
      bytes,
      latencies,
      clientCpu: (used.user + used.system) / 1e6 / seconds,
    }
  } finally {
    agent.destroy()
  }
}

/** Throughput and latency quantiles over one or more runs against the same target. */
export const summarize = (runs: ReadonlyArray<LoadResult>): LoadSummary => {
  const sorted = runs.flatMap((r) => r.latencies).sort((a, b) => a - b)
  const seconds = runs.reduce((s, r) => s + r.seconds, 0)
  const failures = runs.reduce(
    (s, r) => s + r.errors + Object.values(r.badStatus).reduce((a, b) => a + b, 0),
    0,
  )
  return {
    requests: sorted.length,
    failures,
    rps: sorted.length / seconds,
    p50: quantile(sorted, 0.5),
    p99: quantile(sorted, 0.99),
    max: sorted[sorted.length - 1] ?? Number.NaN,
    mbPerSecond: runs.reduce((s, r) => s + r.bytes, 0) / seconds / 1e6,
    clientCpu: runs.reduce((s, r) => s + r.clientCpu * r.seconds, 0) / seconds,
  }
}

export interface Answer {
  readonly status: number
  readonly headers: http.IncomingHttpHeaders
  readonly body: Buffer
  /** From writing the request to the answer's last byte. */
  readonly ms: number
}

/** One request on `agent` (keep-alive), timed; the body is sent as JSON when not a string. */
export const request = (
  agent: http.Agent,
  url: string,
  method: string,
  headers: Readonly<Record<string, string>> = {},
  body?: unknown,
) =>
  new Promise<Answer>((resolve, reject) => {
    const u = new URL(url)
    const payload =
      body === undefined
        ? undefined
        : Buffer.from(typeof body === "string" ? body : JSON.stringify(body))
    const started = nowMs()
    const req = http.request(
      {
        agent,
        host: u.hostname,
        port: u.port,
        path: `${u.pathname}${u.search}`,
        method,
        headers: {
          ...(payload
            ? { "content-type": "application/json", "content-length": String(payload.length) }
            : {}),
          ...headers,
        },
      },
      (res) => {
        const chunks: Buffer[] = []
        res.on("data", (c: Buffer) => chunks.push(c))
        res.on("end", () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks),
            ms: nowMs() - started,
          }),
        )
        res.on("error", reject)
      },
    )
    req.on("error", reject)
    req.end(payload)
  })

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const [url, connections = "32", seconds = "10"] = process.argv.slice(2)
  if (url === undefined) {
    // `npm run bench` runs every script here; without a URL there is nothing to load.
    process.stderr.write("usage: tsx scripts/bench/load.ts URL [connections] [seconds]\n")
  } else {
    const s = summarize([
      await runLoad(
        { url },
        { connections: Number(connections), seconds: Number(seconds), warmupSeconds: 1 },
      ),
    ])
    console.log(
      `${s.requests} requests (${s.failures} failed), ${s.rps.toFixed(0)} req/s, p50 ${s.p50.toFixed(2)} ms, p99 ${s.p99.toFixed(2)} ms, max ${s.max.toFixed(1)} ms, ${s.mbPerSecond.toFixed(1)} MB/s, client CPU ${(s.clientCpu * 100).toFixed(0)}%`,
    )
  }
}
