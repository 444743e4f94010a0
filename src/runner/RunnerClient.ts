/**
 * The runner's side of the runner protocol (src/domain/ci/RunnerProtocol.ts): one method
 * per endpoint, answers decoded with the protocol's Schemas.
 *
 * Transient failures (network errors, 5xx, 429) are retried with capped exponential
 * backoff, resending the identical request — every endpoint is idempotent for that. The
 * answers that mean "stop" are errors a caller can tell apart: `LeaseLost` (409: the job
 * is not ours any more), `JobCancelled` (410), `RunnerRejected` (401: token unknown or
 * removed), and `ProtocolError` for anything else the node refused, with its message.
 */
import * as fs from "node:fs"
import { Readable } from "node:stream"
import { pipeline } from "node:stream/promises"
import { Schema } from "effect"
import {
  ArtifactUploaded,
  type ClaimRequest,
  type CompleteRequest,
  CompleteResponse,
  type HeartbeatRequest,
  HeartbeatResponse,
  JobAssignment,
  type LogChunk,
  LogResponse,
  RegisterRunnerRequest,
  RegisterRunnerResponse,
  RUNNER_PROTOCOL_HEADER,
  RUNNER_PROTOCOL_VERSION,
  type StepReport,
} from "../domain/ci/RunnerProtocol.ts"

export class LeaseLost extends Error {
  override readonly name = "LeaseLost"
}
export class JobCancelled extends Error {
  override readonly name = "JobCancelled"
}
export class RunnerRejected extends Error {
  override readonly name = "RunnerRejected"
}
export class ProtocolError extends Error {
  override readonly name = "ProtocolError"
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message)
  }
}
/** Aborted by the caller (job stopped, runner shutting down) while waiting or retrying. */
export class Stopped extends Error {
  override readonly name = "Stopped"
}

export interface RetryPolicy {
  /** First pause, doubled each time up to `maxDelayMs`. */
  readonly initialDelayMs: number
  readonly maxDelayMs: number
  /** Give up after this long (then the last transient error is thrown as a ProtocolError). */
  readonly giveUpAfterMs: number
}

export const defaultRetry: RetryPolicy = {
  initialDelayMs: 250,
  maxDelayMs: 5_000,
  giveUpAfterMs: 5 * 60_000,
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    if (signal?.aborted) return reject(new Stopped("stopped"))
    const t = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort)
      resolve()
    }, ms)
    const onAbort = () => {
      clearTimeout(t)
      reject(new Stopped("stopped"))
    }
    signal?.addEventListener("abort", onAbort, { once: true })
  })

type Body =
  | { readonly json: unknown }
  | { readonly file: string; readonly contentType: string; readonly size: number }

interface Answer {
  readonly status: number
  readonly text: string
}

const decode = <A, I>(schema: Schema.Schema<A, I>, text: string, what: string): A => {
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch {
    throw new ProtocolError(`${what}: the node answered with something that is not JSON`, 200)
  }
  try {
    return Schema.decodeUnknownSync(schema)(json)
  } catch (err) {
    throw new ProtocolError(
      `${what}: the node's answer does not follow runner protocol ${RUNNER_PROTOCOL_VERSION}: ${(err as Error).message}`,
      200,
    )
  }
}

const errorMessage = (text: string) => {
  try {
    const m = (JSON.parse(text) as { message?: unknown }).message
    if (typeof m === "string") return m
  } catch {}
  return text.slice(0, 500)
}

export class RunnerClient {
  /** The node's base URL, without a trailing slash. */
  readonly baseUrl: string
  private runnerToken: string | undefined

  constructor(
    url: string,
    opts: { runnerToken?: string; retry?: RetryPolicy; requestTimeoutMs?: number } = {},
  ) {
    this.baseUrl = url.replace(/\/+$/, "")
    this.runnerToken = opts.runnerToken
    this.retry = opts.retry ?? defaultRetry
    this.requestTimeoutMs = opts.requestTimeoutMs ?? 30_000
  }
  private readonly retry: RetryPolicy
  private readonly requestTimeoutMs: number

  setRunnerToken(token: string) {
    this.runnerToken = token
  }

  private async once(
    method: string,
    url: string,
    body: Body | undefined,
    timeoutMs: number,
    signal?: AbortSignal,
  ): Promise<Answer> {
    const headers: Record<string, string> = {
      [RUNNER_PROTOCOL_HEADER]: String(RUNNER_PROTOCOL_VERSION),
      accept: "application/json",
    }
    if (this.runnerToken) headers.authorization = `Bearer ${this.runnerToken}`
    let payload: RequestInit["body"]
    if (body && "json" in body) {
      headers["content-type"] = "application/json"
      payload = JSON.stringify(body.json)
    } else if (body) {
      headers["content-type"] = body.contentType
      headers["content-length"] = String(body.size)
      payload = Readable.toWeb(fs.createReadStream(body.file)) as unknown as RequestInit["body"]
    }
    const timeout = AbortSignal.timeout(timeoutMs)
    const res = await fetch(url, {
      method,
      headers,
      body: payload,
      signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
      ...(body && "file" in body ? { duplex: "half" } : {}),
    } as RequestInit)
    return { status: res.status, text: await res.text() }
  }

  /**
   * Sends a request until it gets a non-transient answer; maps the stop answers to errors.
   * `what` names the request in error messages.
   */
  private async request(
    what: string,
    method: string,
    path: string,
    body: Body | undefined,
    opts: {
      signal?: AbortSignal
      timeoutMs?: number
      ok?: ReadonlyArray<number>
      giveUpAfterMs?: number
    } = {},
  ): Promise<Answer> {
    const url = path.startsWith("http") ? path : `${this.baseUrl}${path}`
    const started = Date.now()
    let delay = this.retry.initialDelayMs
    for (;;) {
      let transient: string
      try {
        const answer = await this.once(
          method,
          url,
          body,
          opts.timeoutMs ?? this.requestTimeoutMs,
          opts.signal,
        )
        if ((opts.ok ?? [200, 201, 204]).includes(answer.status)) return answer
        const message = errorMessage(answer.text)
        if (answer.status === 401)
          throw new RunnerRejected(`${what}: the node refused the token (401): ${message}`)
        if (answer.status === 409) throw new LeaseLost(`${what}: ${message}`)
        if (answer.status === 410) throw new JobCancelled(`${what}: ${message}`)
        if (answer.status < 500 && answer.status !== 429)
          throw new ProtocolError(`${what}: ${answer.status} ${message}`, answer.status)
        transient = `${answer.status} ${message}`
      } catch (err) {
        if (opts.signal?.aborted) throw new Stopped(`${what}: stopped`)
        if (
          err instanceof RunnerRejected ||
          err instanceof LeaseLost ||
          err instanceof JobCancelled ||
          err instanceof ProtocolError
        )
          throw err
        const e = err as Error & { cause?: { message?: string } }
        transient = e.cause?.message ?? e.message
      }
      if (Date.now() - started >= (opts.giveUpAfterMs ?? this.retry.giveUpAfterMs))
        throw new ProtocolError(`${what}: gave up after repeated failures: ${transient}`, 503)
      await sleep(delay, opts.signal)
      delay = Math.min(delay * 2, this.retry.maxDelayMs)
    }
  }

  async register(req: RegisterRunnerRequest, signal?: AbortSignal) {
    const body = Schema.encodeSync(RegisterRunnerRequest)(req)
    const a = await this.request(
      "registering the runner",
      "POST",
      "/api/runners",
      { json: body },
      {
        signal,
        ok: [200, 201],
      },
    )
    return decode(RegisterRunnerResponse, a.text, "registering the runner")
  }

  /** A job, or undefined when there is none now. */
  async claim(req: ClaimRequest, signal?: AbortSignal) {
    const a = await this.request(
      "claiming a job",
      "POST",
      "/api/runners/jobs/claim",
      { json: req },
      {
        signal,
        timeoutMs: ((req.waitSeconds ?? 0) + 30) * 1000,
      },
    )
    if (a.status === 204 || a.text === "") return undefined
    return decode(JobAssignment, a.text, "claiming a job")
  }

  async heartbeat(jobId: number, req: HeartbeatRequest, signal?: AbortSignal) {
    // One attempt per tick: the heartbeat loop itself is the retry.
    const a = await this.request(
      "heartbeat",
      "POST",
      `/api/runners/jobs/${jobId}/heartbeat`,
      {
        json: req,
      },
      { signal, giveUpAfterMs: 0 },
    )
    return decode(HeartbeatResponse, a.text, "heartbeat")
  }

  async log(jobId: number, chunk: LogChunk, signal?: AbortSignal) {
    const a = await this.request(
      `log chunk ${chunk.seq}`,
      "POST",
      `/api/runners/jobs/${jobId}/logs`,
      { json: chunk },
      { signal },
    )
    return decode(LogResponse, a.text, `log chunk ${chunk.seq}`)
  }

  async step(jobId: number, n: number, report: StepReport, signal?: AbortSignal) {
    await this.request(
      `step ${n} ${report.status}`,
      "POST",
      `/api/runners/jobs/${jobId}/steps/${n}`,
      { json: report },
      { signal },
    )
  }

  async uploadArtifact(
    jobId: number,
    name: string,
    file: string,
    contentType: string,
    signal?: AbortSignal,
  ) {
    const size = fs.statSync(file).size
    const a = await this.request(
      `uploading artifact ${name}`,
      "PUT",
      `/api/runners/jobs/${jobId}/artifacts/${encodeURIComponent(name)}`,
      { file, contentType, size },
      { signal, timeoutMs: 30 * 60_000, ok: [200, 201] },
    )
    return decode(ArtifactUploaded, a.text, `uploading artifact ${name}`)
  }

  /** Streams an artifact to `dest`; returns its content type. Retries transient failures. */
  async downloadArtifact(url: string, dest: string, signal?: AbortSignal): Promise<string> {
    const started = Date.now()
    let delay = this.retry.initialDelayMs
    for (;;) {
      let transient: string
      try {
        const res = await fetch(url, {
          headers: {
            [RUNNER_PROTOCOL_HEADER]: String(RUNNER_PROTOCOL_VERSION),
            ...(this.runnerToken ? { authorization: `Bearer ${this.runnerToken}` } : {}),
          },
          signal: signal
            ? AbortSignal.any([signal, AbortSignal.timeout(30 * 60_000)])
            : AbortSignal.timeout(30 * 60_000),
        })
        if (res.status === 200 && res.body) {
          await pipeline(
            Readable.fromWeb(res.body as import("node:stream/web").ReadableStream),
            fs.createWriteStream(dest),
          )
          return res.headers.get("content-type") ?? "application/octet-stream"
        }
        const message = errorMessage(await res.text())
        if (res.status === 409) throw new LeaseLost(`downloading ${url}: ${message}`)
        if (res.status === 401) throw new RunnerRejected(`downloading ${url}: ${message}`)
        if (res.status < 500 && res.status !== 429)
          throw new ProtocolError(`downloading ${url}: ${res.status} ${message}`, res.status)
        transient = `${res.status} ${message}`
      } catch (err) {
        if (signal?.aborted) throw new Stopped("download stopped")
        if (
          err instanceof LeaseLost ||
          err instanceof RunnerRejected ||
          err instanceof ProtocolError
        )
          throw err
        transient = (err as Error).message
      }
      if (Date.now() - started > this.retry.giveUpAfterMs)
        throw new ProtocolError(`downloading ${url}: gave up: ${transient}`, 503)
      await sleep(delay, signal)
      delay = Math.min(delay * 2, this.retry.maxDelayMs)
    }
  }

  async complete(jobId: number, req: CompleteRequest, signal?: AbortSignal) {
    const a = await this.request(
      "completing the job",
      "POST",
      `/api/runners/jobs/${jobId}/complete`,
      {
        json: req,
      },
      { signal },
    )
    return decode(CompleteResponse, a.text, "completing the job")
  }
}

export { sleep }
