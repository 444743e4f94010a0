/**
 * The runner protocol's HTTP side (src/domain/ci/RunnerProtocol.ts describes every
 * endpoint): runners register with a registration token, then authenticate every request
 * with their runner token. Bodies are decoded with the protocol's Schemas; a body that does
 * not decode is a 422 naming what is wrong.
 */
import { Effect, Either, ParseResult, Schema } from "effect"
import {
  ClaimRequest,
  CompleteRequest,
  HeartbeatRequest,
  LogChunk,
  RegisterRunnerRequest,
  StepReport,
} from "../../domain/ci/RunnerProtocol.ts"
import { CiRuns } from "../../services/CiRuns.ts"
import type { CiRunnerRow } from "../../services/CiTables.ts"
import { tokenFromAuthorization } from "../../services/Auth.ts"
import { base, type R, send } from "./ApiKit.ts"
import { readBody, readJson } from "./Body.ts"
import { HttpError, unauthorized, unprocessable } from "./HttpErrors.ts"
import type { HttpContext, Route } from "./HttpServer.ts"

const MAX_ARTIFACT_BYTES = 512 * 1024 * 1024

const decode = <A, I>(schema: Schema.Schema<A, I>, ctx: HttpContext, limit = 2 * 1024 * 1024) =>
  Effect.flatMap(readJson(ctx.req, limit), (body) => {
    const r = Schema.decodeUnknownEither(schema)(body ?? {})
    return Either.isRight(r)
      ? Effect.succeed(r.right)
      : Effect.fail(
          unprocessable(
            `Invalid request: ${ParseResult.TreeFormatter.formatErrorSync(r.left)}`,
            [],
          ),
        )
  })

/** The runner named by the request's runner token, or a 401. */
const runnerOf = (ctx: HttpContext) =>
  Effect.gen(function* () {
    const ci = yield* CiRuns
    const token = tokenFromAuthorization(ctx.req.headers.authorization)
    if (!token) return yield* unauthorized("a runner token is required (Authorization: Bearer …)")
    const runner = yield* ci.runnerByToken(token)
    if (!runner) return yield* unauthorized("unknown runner token; register the runner again")
    return runner
  })

const jobId = (ctx: HttpContext) => {
  const n = Number(ctx.params.id)
  return Number.isInteger(n) && n > 0
    ? Effect.succeed(n)
    : Effect.fail(new HttpError({ status: 404, message: "no such job" }))
}

export const ciRoute = (
  method: string,
  path: string,
  handler: (ctx: HttpContext) => Effect.Effect<void, unknown, R | CiRuns>,
): Route<R | CiRuns> => ({ name: `${method} ${path}`, method, path, handler })

const withRunner = (
  method: string,
  path: string,
  handler: (ctx: HttpContext, runner: CiRunnerRow) => Effect.Effect<void, unknown, R | CiRuns>,
) => ciRoute(method, path, (ctx) => Effect.flatMap(runnerOf(ctx), (runner) => handler(ctx, runner)))

export const runnerRoutes: Array<Route<R | CiRuns>> = [
  ciRoute("POST", "/api/runners", (ctx) =>
    Effect.gen(function* () {
      const ci = yield* CiRuns
      const req = yield* decode(RegisterRunnerRequest, ctx)
      const r = yield* ci.register(req)
      if (r._tag === "Refused") {
        const code = (r.refused.detail as { code?: string } | undefined)?.code
        if (code === "unauthorized") return yield* unauthorized(r.refused.reason)
        return yield* unprocessable(r.refused.reason)
      }
      yield* send(ctx, 201, r.runner)
    }),
  ),
  withRunner("POST", "/api/runners/jobs/claim", (ctx, runner) =>
    Effect.gen(function* () {
      const ci = yield* CiRuns
      const req = yield* decode(ClaimRequest, ctx)
      const got = yield* ci.claim(yield* base(ctx), runner, req)
      if (!got) {
        ctx.res.writeHead(204)
        ctx.res.end()
        return
      }
      yield* send(ctx, 200, got)
    }),
  ),
  withRunner("POST", "/api/runners/jobs/:id/heartbeat", (ctx, runner) =>
    Effect.gen(function* () {
      const ci = yield* CiRuns
      yield* decode(HeartbeatRequest, ctx)
      yield* send(ctx, 200, yield* ci.heartbeat(runner, yield* jobId(ctx)))
    }),
  ),
  withRunner("POST", "/api/runners/jobs/:id/logs", (ctx, runner) =>
    Effect.gen(function* () {
      const ci = yield* CiRuns
      const chunk = yield* decode(LogChunk, ctx, 4 * 1024 * 1024)
      yield* send(ctx, 200, yield* ci.appendLog(runner, yield* jobId(ctx), chunk))
    }),
  ),
  withRunner("POST", "/api/runners/jobs/:id/steps/:n", (ctx, runner) =>
    Effect.gen(function* () {
      const ci = yield* CiRuns
      const report = yield* decode(StepReport, ctx)
      const n = Number(ctx.params.n)
      if (!Number.isInteger(n) || n < 1) return yield* unprocessable("step numbers start at 1")
      yield* ci.reportStep(runner, yield* jobId(ctx), n, report)
      yield* send(ctx, 200, {})
    }),
  ),
  withRunner("PUT", "/api/runners/jobs/:id/artifacts/:name", (ctx, runner) =>
    Effect.gen(function* () {
      const ci = yield* CiRuns
      const id = yield* jobId(ctx)
      const bytes = yield* readBody(ctx.req, MAX_ARTIFACT_BYTES)
      const type = (ctx.req.headers["content-type"] ?? "application/octet-stream")
        .split(";")[0]!
        .trim()
        .toLowerCase()
      yield* send(ctx, 201, yield* ci.uploadArtifact(runner, id, ctx.params.name!, type, bytes))
    }),
  ),
  withRunner("GET", "/api/runners/jobs/:id/artifacts/:name", (ctx, runner) =>
    Effect.gen(function* () {
      const ci = yield* CiRuns
      const { artifact, bytes } = yield* ci.downloadArtifact(
        runner,
        yield* jobId(ctx),
        ctx.params.name!,
      )
      ctx.res.writeHead(200, {
        "content-type": artifact.content_type,
        "content-length": bytes.length,
      })
      ctx.res.end(bytes)
    }),
  ),
  withRunner("POST", "/api/runners/jobs/:id/complete", (ctx, runner) =>
    Effect.gen(function* () {
      const ci = yield* CiRuns
      const req = yield* decode(CompleteRequest, ctx)
      yield* send(ctx, 200, yield* ci.complete(runner, yield* jobId(ctx), req))
    }),
  ),
]
