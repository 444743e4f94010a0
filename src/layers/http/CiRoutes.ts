/**
 * GitHub Actions' REST API, GitHub's paths and JSON shapes: workflows, workflow runs (list,
 * get, rerun, cancel, dispatch), jobs and their logs, artifacts (list, download as zip),
 * runner registration tokens and secrets. Read access lists; write cancels, reruns and
 * dispatches; admin manages secrets and runners.
 *
 * Deviation: GitHub wants secrets sealed with libsodium to the repository's public key
 * (`encrypted_value`, `key_id`); node:crypto cannot open sealed boxes, so these endpoints
 * take the plaintext `value` (over TLS, from an admin) and encrypt it at rest themselves.
 */
import { Effect } from "effect"
import { artifactZip } from "../../domain/ci/ArtifactZip.ts"
import { CiRuns } from "../../services/CiRuns.ts"
import {
  base,
  field,
  intParam,
  jsonObject,
  limited,
  linkHeader,
  noContent,
  pageParams,
  principalOf,
  type R,
  requirePrincipal,
  send,
} from "./ApiKit.ts"
import { unprocessable } from "./HttpErrors.ts"
import type { HttpContext, Route } from "./HttpServer.ts"
import { artifactJson, jobJson, runJson, workflowJson } from "./CiPresenters.ts"
import { ciRoute as route } from "./RunnerRoutes.ts"

const P = "/repos/:owner/:repo"
const own = (ctx: HttpContext) => [ctx.params.owner!, ctx.params.repo!] as const
const iso = (ms: number | null) =>
  ms === null ? null : new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z")

const listRuns = (ctx: HttpContext, workflowId?: number) =>
  Effect.gen(function* () {
    const ci = yield* CiRuns
    const p = yield* principalOf(ctx)
    const q = ctx.url.searchParams
    const { perPage, offset } = pageParams(ctx)
    const r = yield* ci.runs(...own(ctx), p, {
      workflowId,
      branch: q.get("branch") ?? undefined,
      event: q.get("event") ?? undefined,
      status: q.get("status") ?? undefined,
      headSha: q.get("head_sha") ?? undefined,
      limit: perPage,
      offset,
    })
    const b = yield* base(ctx)
    yield* send(
      ctx,
      200,
      { total_count: r.total, workflow_runs: r.rows.map((x) => runJson(b, r.repo, x)) },
      linkHeader(ctx, b, r.total),
    )
  })

const secretRoutes = (prefix: string, repoOf: (ctx: HttpContext) => string | undefined) => [
  route("GET", `${prefix}/actions/secrets`, (ctx) =>
    Effect.gen(function* () {
      const ci = yield* CiRuns
      const p = yield* requirePrincipal(ctx)
      const rows = yield* ci.secrets(p, ctx.params.owner ?? ctx.params.org!, repoOf(ctx))
      yield* send(ctx, 200, {
        total_count: rows.length,
        secrets: rows.map((s) => ({
          name: s.name,
          created_at: iso(s.created_at),
          updated_at: iso(s.updated_at),
        })),
      })
    }),
  ),
  route("PUT", `${prefix}/actions/secrets/:name`, (ctx) =>
    Effect.gen(function* () {
      const ci = yield* CiRuns
      const p = yield* requirePrincipal(ctx)
      const body = yield* jsonObject(ctx, "Secret")
      const value = yield* field<string>(body, "Secret", "value", "string")
      if (value === undefined)
        return yield* unprocessable(
          body.encrypted_value !== undefined
            ? 'Invalid request. This server does not take libsodium-sealed secrets: send the plaintext as "value" (over TLS); it is encrypted at rest.'
            : 'Invalid request. "value" wasn\'t supplied.',
          [{ resource: "Secret", field: "value", code: "missing_field" }],
        )
      const r = yield* ci.setSecret(
        p,
        ctx.params.owner ?? ctx.params.org!,
        repoOf(ctx),
        ctx.params.name!,
        value,
      )
      if (r.created) yield* send(ctx, 201, {})
      else yield* noContent(ctx)
    }),
  ),
  route("DELETE", `${prefix}/actions/secrets/:name`, (ctx) =>
    Effect.gen(function* () {
      const ci = yield* CiRuns
      const p = yield* requirePrincipal(ctx)
      yield* ci.setSecret(
        p,
        ctx.params.owner ?? ctx.params.org!,
        repoOf(ctx),
        ctx.params.name!,
        undefined,
      )
      yield* noContent(ctx)
    }),
  ),
]

const registrationTokenRoute = (
  path: string,
  scope: (ctx: HttpContext) => [string, string | undefined],
) =>
  route("POST", path, (ctx) =>
    Effect.gen(function* () {
      const ci = yield* CiRuns
      const p = yield* requirePrincipal(ctx)
      const [owner, repo] = scope(ctx)
      const t = yield* ci.registrationToken(p, owner, repo)
      yield* send(ctx, 201, { token: t.token, expires_at: iso(t.expiresAt) })
    }),
  )

/** Mounted under `/api` and `/api/v3` like the other REST routes. */
export const ciRoutes: Array<Route<R | CiRuns>> = [
  route("GET", `${P}/actions/workflows`, (ctx) =>
    Effect.gen(function* () {
      const ci = yield* CiRuns
      const r = yield* ci.workflows(...own(ctx), yield* principalOf(ctx))
      const b = yield* base(ctx)
      yield* send(ctx, 200, {
        total_count: r.rows.length,
        workflows: r.rows.map((w) => workflowJson(b, r.repo, w)),
      })
    }),
  ),
  route("GET", `${P}/actions/workflows/:workflow`, (ctx) =>
    Effect.gen(function* () {
      const ci = yield* CiRuns
      const r = yield* ci.workflow(...own(ctx), ctx.params.workflow!, yield* principalOf(ctx))
      yield* send(ctx, 200, workflowJson(yield* base(ctx), r.repo, r.row))
    }),
  ),
  route("GET", `${P}/actions/workflows/:workflow/runs`, (ctx) =>
    Effect.gen(function* () {
      const ci = yield* CiRuns
      const r = yield* ci.workflow(...own(ctx), ctx.params.workflow!, yield* principalOf(ctx))
      yield* listRuns(ctx, r.row.id)
    }),
  ),
  route("POST", `${P}/actions/workflows/:workflow/dispatches`, (ctx) =>
    Effect.gen(function* () {
      const ci = yield* CiRuns
      const p = yield* requirePrincipal(ctx)
      const body = yield* jsonObject(ctx, "WorkflowDispatch")
      const ref = yield* field<string>(body, "WorkflowDispatch", "ref", "string", true)
      const raw = body.inputs ?? {}
      if (typeof raw !== "object" || raw === null || Array.isArray(raw))
        return yield* unprocessable("Invalid request. inputs must be an object.", [
          { resource: "WorkflowDispatch", field: "inputs", code: "invalid" },
        ])
      const inputs: Record<string, string> = {}
      for (const [k, v] of Object.entries(raw as Record<string, unknown>)) {
        if (typeof v === "object" && v !== null)
          return yield* unprocessable(
            `Invalid request. input ${k} must be a string, number or boolean.`,
            [{ resource: "WorkflowDispatch", field: "inputs", code: "invalid" }],
          )
        inputs[k] = String(v)
      }
      yield* ci.dispatch(...own(ctx), ctx.params.workflow!, p, ref!, inputs)
      yield* noContent(ctx)
    }),
  ),
  route("GET", `${P}/actions/runs`, (ctx) => listRuns(ctx)),
  route("GET", `${P}/actions/runs/:run_id`, (ctx) =>
    Effect.gen(function* () {
      const ci = yield* CiRuns
      const r = yield* ci.run(...own(ctx), yield* intParam(ctx, "run_id"), yield* principalOf(ctx))
      yield* send(ctx, 200, runJson(yield* base(ctx), r.repo, r.run))
    }),
  ),
  route("POST", `${P}/actions/runs/:run_id/cancel`, (ctx) =>
    Effect.gen(function* () {
      const ci = yield* CiRuns
      const p = yield* requirePrincipal(ctx)
      yield* ci.cancel(...own(ctx), yield* intParam(ctx, "run_id"), p)
      yield* send(ctx, 202, {})
    }),
  ),
  route("POST", `${P}/actions/runs/:run_id/rerun`, (ctx) =>
    Effect.gen(function* () {
      const ci = yield* CiRuns
      const p = yield* requirePrincipal(ctx)
      yield* ci.rerun(...own(ctx), yield* intParam(ctx, "run_id"), p, false)
      yield* send(ctx, 201, {})
    }),
  ),
  route("POST", `${P}/actions/runs/:run_id/rerun-failed-jobs`, (ctx) =>
    Effect.gen(function* () {
      const ci = yield* CiRuns
      const p = yield* requirePrincipal(ctx)
      yield* ci.rerun(...own(ctx), yield* intParam(ctx, "run_id"), p, true)
      yield* send(ctx, 201, {})
    }),
  ),
  route("GET", `${P}/actions/runs/:run_id/jobs`, (ctx) =>
    Effect.gen(function* () {
      const ci = yield* CiRuns
      const r = yield* ci.jobs(...own(ctx), yield* intParam(ctx, "run_id"), yield* principalOf(ctx))
      const b = yield* base(ctx)
      yield* send(ctx, 200, {
        total_count: r.jobs.length,
        jobs: r.jobs.map((j) => jobJson(b, r.repo, r.run, j)),
      })
    }),
  ),
  route("GET", `${P}/actions/runs/:run_id/attempts/:attempt/jobs`, (ctx) =>
    Effect.gen(function* () {
      const ci = yield* CiRuns
      const r = yield* ci.jobs(
        ...own(ctx),
        yield* intParam(ctx, "run_id"),
        yield* principalOf(ctx),
        yield* intParam(ctx, "attempt"),
      )
      const b = yield* base(ctx)
      yield* send(ctx, 200, {
        total_count: r.jobs.length,
        jobs: r.jobs.map((j) => jobJson(b, r.repo, r.run, j)),
      })
    }),
  ),
  route("GET", `${P}/actions/jobs/:job_id`, (ctx) =>
    Effect.gen(function* () {
      const ci = yield* CiRuns
      const r = yield* ci.job(...own(ctx), yield* intParam(ctx, "job_id"), yield* principalOf(ctx))
      yield* send(ctx, 200, jobJson(yield* base(ctx), r.repo, r.run, r.job))
    }),
  ),
  route("GET", `${P}/actions/jobs/:job_id/logs`, (ctx) =>
    Effect.gen(function* () {
      const ci = yield* CiRuns
      const log = yield* ci.jobLog(
        ...own(ctx),
        yield* intParam(ctx, "job_id"),
        yield* principalOf(ctx),
      )
      const bytes = Buffer.from(log.text, "utf8")
      ctx.res.writeHead(200, {
        "content-type": "text/plain; charset=utf-8",
        "content-length": bytes.length,
        // Guts: whether this is the sealed log or what this node received while the job runs.
        "x-guts-log-complete": String(log.complete),
      })
      ctx.res.end(bytes)
    }),
  ),
  route("GET", `${P}/actions/runs/:run_id/artifacts`, (ctx) =>
    Effect.gen(function* () {
      const ci = yield* CiRuns
      const r = yield* ci.artifacts(
        ...own(ctx),
        yield* intParam(ctx, "run_id"),
        yield* principalOf(ctx),
      )
      const name = ctx.url.searchParams.get("name")
      const rows = r.rows.filter((a) => name === null || a.name === name)
      const b = yield* base(ctx)
      yield* send(ctx, 200, {
        total_count: rows.length,
        artifacts: rows.map((a) => artifactJson(b, r.repo, r.run, a)),
      })
    }),
  ),
  route("GET", `${P}/actions/artifacts/:artifact_id`, (ctx) =>
    Effect.gen(function* () {
      const ci = yield* CiRuns
      const r = yield* ci.artifact(
        ...own(ctx),
        yield* intParam(ctx, "artifact_id"),
        yield* principalOf(ctx),
      )
      yield* send(ctx, 200, artifactJson(yield* base(ctx), r.repo, r.run, r.artifact))
    }),
  ),
  route("GET", `${P}/actions/artifacts/:artifact_id/zip`, (ctx) =>
    Effect.gen(function* () {
      const ci = yield* CiRuns
      const r = yield* ci.artifact(
        ...own(ctx),
        yield* intParam(ctx, "artifact_id"),
        yield* principalOf(ctx),
      )
      const bytes = yield* ci.bytesOf(r.artifact.blob)
      const zip = artifactZip(
        bytes,
        r.artifact.content_type,
        r.artifact.name,
        Math.floor(r.artifact.created_at / 1000),
      )
      if (zip instanceof Error)
        return yield* unprocessable(`the artifact is unreadable: ${zip.message}`)
      ctx.res.writeHead(200, {
        "content-type": "application/zip",
        "content-length": zip.length,
        "content-disposition": `attachment; filename="${r.artifact.name}.zip"`,
      })
      ctx.res.end(zip)
    }),
  ),
  registrationTokenRoute(`${P}/actions/runners/registration-token`, (ctx) => [
    ctx.params.owner!,
    ctx.params.repo!,
  ]),
  registrationTokenRoute("/orgs/:org/actions/runners/registration-token", (ctx) => [
    ctx.params.org!,
    undefined,
  ]),
  registrationTokenRoute("/admin/actions/runners/registration-token", () => ["", undefined]),
  ...secretRoutes(P, (ctx) => ctx.params.repo),
  ...secretRoutes("/orgs/:org", () => undefined),
]

/** The Actions routes under `/api` and `/api/v3`, rate limited like every REST route. */
export const ciApiRoutes = (): Array<Route<R | CiRuns>> =>
  ["/api", "/api/v3"].flatMap((prefix) =>
    ciRoutes.map((r) => ({
      ...r,
      path: prefix + r.path,
      // limited only adds RateLimiter (part of R) around the handler.
      handler: limited(r.handler as Route<R>["handler"]) as Route<R | CiRuns>["handler"],
    })),
  )
