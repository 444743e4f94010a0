/**
 * CI pages: a repository's workflow runs (filtered by workflow and status, paged), a run
 * with its job graph (jobs in columns by `needs` depth, rendered on the server) and the
 * annotations of an invalid workflow, and a job with its steps and numbered log. Reads go
 * through CiRuns like the Actions API (a repository the viewer cannot read is a 404);
 * cancel and re-run are CSRF-protected forms calling the same CiRuns functions as the API.
 * A running job's page takes live log chunks from `/ws` with a small script; without it,
 * the page shows what is stored and a link to refresh.
 */
import { Effect } from "effect"
import type { PlannedJob } from "../../domain/ci/Workflow.ts"
import { atLeast } from "../../domain/Permissions.ts"
import { CiRuns } from "../../services/CiRuns.ts"
import type { CiJobRow, CiRunRow, CiStepState } from "../../services/CiTables.ts"
import type { RepoRow } from "../../services/Metadata.ts"
import type { HttpContext } from "../http/HttpServer.ts"
import { type Html, html, pathUrl, raw } from "./Html.ts"
import { openRepo, repoBase, repoHeader } from "./RepoPages.ts"
import type { Viewer } from "./Session.ts"
import { csrfField, fail, page, postForm, redirect, webRoute, when } from "./WebKit.ts"

const PER_PAGE = 25

/** Run or job status filters: a status, or a conclusion (as the API's `status=`). */
const STATUSES = [
  "queued",
  "in_progress",
  "completed",
  "success",
  "failure",
  "cancelled",
  "skipped",
] as const

const words = (s: string) => s.replace(/_/g, " ")

/** The badge: the conclusion once completed, else the status. */
export const statusBadge = (status: string, conclusion: string | null) => {
  const s = status === "completed" ? (conclusion ?? "completed") : status
  return html`<span class="state ${s}">${words(s)}</span>`
}

/** A duration in ms as `1h 2m`, `3m 4s`, `5s`. */
export const duration = (ms: number | null | undefined) => {
  if (ms === null || ms === undefined || ms < 0) return ""
  const s = Math.round(ms / 1000)
  if (s < 60) return `${s}s`
  const m = Math.floor(s / 60)
  if (m < 60) return `${m}m ${s % 60}s`
  return `${Math.floor(m / 60)}h ${m % 60}m`
}

const runDuration = (r: CiRunRow) =>
  r.status === "completed" ? duration(r.updated_at - r.started_at) : ""

const jobDuration = (j: { started_at: number | null; completed_at: number | null }) =>
  j.started_at !== null && j.completed_at !== null ? duration(j.completed_at - j.started_at) : ""

const positiveInt = (ctx: HttpContext, name: string) => {
  const v = ctx.params[name] ?? ""
  return /^[1-9][0-9]{0,15}$/.test(v)
    ? Effect.succeed(Number(v))
    : fail(404, `There is no ${name === "job" ? "job" : "workflow run"} ${v} here.`)
}

const runsUrl = (repo: RepoRow) => `${repoBase(repo)}/actions`
const runUrl = (repo: RepoRow, id: number) => `${runsUrl(repo)}/runs/${id}`

const shortSha = (sha: string) => sha.slice(0, 7)

// --- the runs list ---

const runsPage = (ctx: HttpContext, viewer: Viewer | undefined) =>
  Effect.gen(function* () {
    const { repo, level } = yield* openRepo(ctx, viewer)
    const ci = yield* CiRuns
    const q = ctx.url.searchParams
    const principal = viewer?.principal
    const { rows: workflows } = yield* ci.workflows(repo.owner_login, repo.name, principal)
    const wfParam = q.get("workflow") ?? ""
    const workflow = workflows.find((w) => String(w.id) === wfParam)
    const statusParam = q.get("status") ?? ""
    const status = (STATUSES as ReadonlyArray<string>).includes(statusParam)
      ? statusParam
      : undefined
    const pageNo = Math.max(1, Math.min(10_000, Number(q.get("page") ?? 1) || 1))
    const got = yield* ci.runs(repo.owner_login, repo.name, principal, {
      workflowId: workflow?.id,
      status,
      limit: PER_PAGE,
      offset: (pageNo - 1) * PER_PAGE,
    })
    const b = repoBase(repo)
    const pageLink = (n: number) => {
      const p = new URLSearchParams()
      if (workflow) p.set("workflow", String(workflow.id))
      if (status) p.set("status", status)
      p.set("page", String(n))
      return `${runsUrl(repo)}?${p.toString()}`
    }
    const pages = Math.max(1, Math.ceil(got.total / PER_PAGE))
    const filters = html`<form class="filters" method="get" action="${runsUrl(repo)}">
  <label for="runs-workflow">Workflow</label>
  <select id="runs-workflow" name="workflow"><option value="">All workflows</option>${workflows.map(
    (w) =>
      html`<option value="${w.id}"${w.id === workflow?.id ? raw(" selected") : ""}>${w.name} (${w.path})</option>`,
  )}</select>
  <label for="runs-status">Status</label>
  <select id="runs-status" name="status"><option value="">Any status</option>${STATUSES.map(
    (s) => html`<option value="${s}"${s === status ? raw(" selected") : ""}>${words(s)}</option>`,
  )}</select>
  <button type="submit">Filter</button>
</form>`
    const table =
      got.rows.length === 0
        ? html`<p class="body">No workflow runs${workflow || status ? " match these filters" : " yet"}.</p>`
        : html`<div class="code-wrap"><table class="data runs"><thead><tr><th scope="col">Run</th><th scope="col">Event</th><th scope="col">Branch</th><th scope="col">Commit</th><th scope="col">Status</th><th scope="col">Started</th><th scope="col">Duration</th></tr></thead>
<tbody>${got.rows.map(
            (r) =>
              html`<tr><td><a href="${runUrl(repo, r.id)}">${r.workflow_name} #${r.run_number}</a>${
                r.run_attempt > 1 ? html` <span class="muted">attempt ${r.run_attempt}</span>` : ""
              }</td><td>${r.event}</td><td>${r.head_branch ? html`<a href="${b}/tree/${pathUrl(r.head_branch)}">${r.head_branch}</a>` : ""}</td><td><a href="${b}/commit/${r.head_sha}"><code>${shortSha(r.head_sha)}</code></a></td><td>${statusBadge(r.status, r.conclusion)}</td><td>${when(r.started_at)}</td><td>${runDuration(r)}</td></tr>`,
          )}</tbody></table></div>`
    yield* page(
      ctx,
      viewer,
      `Actions · ${repo.owner_login}/${repo.name}`,
      html`${repoHeader(repo, level, "actions")}
<section class="box" aria-labelledby="runs-h"><div class="head"><h2 id="runs-h">Workflow runs</h2>${filters}</div>
${table}</section>
<nav class="pages" aria-label="Pages"><span class="muted">${got.total} run${got.total === 1 ? "" : "s"} · page ${pageNo} of ${pages}</span>${
        pageNo > 1 ? html`<a href="${pageLink(pageNo - 1)}" rel="prev">Newer</a>` : ""
      }${pageNo < pages ? html`<a href="${pageLink(pageNo + 1)}" rel="next">Older</a>` : ""}</nav>`,
    )
  })

// --- a run ---

/** Each workflow job's depth: 0 without `needs`, else one more than its deepest need. */
export const needsDepths = (
  jobs: ReadonlyArray<{ jobId: string; needs: ReadonlyArray<string> }>,
) => {
  const needs = new Map<string, ReadonlyArray<string>>()
  for (const j of jobs) if (!needs.has(j.jobId)) needs.set(j.jobId, j.needs)
  const depth = new Map<string, number>()
  const visit = (id: string, path: Set<string>): number => {
    const known = depth.get(id)
    if (known !== undefined) return known
    // A cycle cannot be planned; should one appear, it stops here rather than recursing.
    if (path.has(id)) return 0
    path.add(id)
    let d = 0
    for (const n of needs.get(id) ?? []) if (needs.has(n)) d = Math.max(d, visit(n, path) + 1)
    path.delete(id)
    depth.set(id, d)
    return d
  }
  for (const id of needs.keys()) visit(id, new Set())
  return depth
}

const jobGraph = (repo: RepoRow, run: CiRunRow, jobs: ReadonlyArray<CiJobRow>) => {
  const planned = jobs.map((j) => ({ row: j, plan: JSON.parse(j.planned) as PlannedJob }))
  const depth = needsDepths(planned.map((p) => p.plan))
  const columns: Array<typeof planned> = []
  for (const p of planned) {
    const d = depth.get(p.plan.jobId) ?? 0
    while (columns.length <= d) columns.push([])
    columns[d]!.push(p)
  }
  return html`<div class="graph">${columns.map(
    (col, i) =>
      html`<div class="stage"><h3 id="stage-${i + 1}">Stage ${i + 1}</h3><ol class="stage-jobs" aria-labelledby="stage-${i + 1}">${col.map(
        ({ row, plan }) =>
          html`<li class="job" id="job-${row.id}"><a href="${runUrl(repo, run.id)}/jobs/${row.id}"><strong>${row.name}</strong></a><br>${statusBadge(
            row.status,
            row.conclusion,
          )} <span class="muted">${jobDuration(row)}</span>${
            plan.needs.length > 0
              ? html`<div class="needs">needs ${plan.needs.join(", ")}</div>`
              : ""
          }</li>`,
      )}</ol></div>`,
  )}</div>`
}

interface Annotation {
  readonly path?: string
  readonly line?: number
  readonly column?: number
  readonly message?: string
}

const annotationsOf = (run: CiRunRow): ReadonlyArray<Annotation> => {
  if (!run.annotations) return []
  try {
    const parsed = JSON.parse(run.annotations) as unknown
    return Array.isArray(parsed) ? (parsed as Annotation[]) : []
  } catch {
    return []
  }
}

const runActions = (repo: RepoRow, run: CiRunRow, viewer: Viewer) => {
  const base = runUrl(repo, run.id)
  const button = (action: string, label: string, failedOnly = false) =>
    html`<form method="post" action="${base}/${action}">${csrfField(viewer)}${
      failedOnly ? html`<input type="hidden" name="failed" value="1">` : ""
    }<button type="submit"${action === "cancel" ? raw(' class="danger"') : ""}>${label}</button></form>`
  return html`<div class="actions-forms">${
    run.status !== "completed"
      ? button("cancel", "Cancel run")
      : html`${button("rerun", "Re-run all jobs")}${
          run.conclusion === "failure" || run.conclusion === "cancelled"
            ? button("rerun", "Re-run failed jobs", true)
            : ""
        }`
  }</div>`
}

const runPage = (ctx: HttpContext, viewer: Viewer | undefined) =>
  Effect.gen(function* () {
    const { repo, level } = yield* openRepo(ctx, viewer)
    const id = yield* positiveInt(ctx, "id")
    const ci = yield* CiRuns
    const got = yield* ci.jobs(repo.owner_login, repo.name, id, viewer?.principal)
    const run = got.run
    const b = repoBase(repo)
    const annotations = annotationsOf(run)
    const canWrite = viewer !== undefined && atLeast(level, "write")
    yield* page(
      ctx,
      viewer,
      `${run.workflow_name} #${run.run_number} · Actions · ${repo.name}`,
      html`${repoHeader(repo, level, "actions")}
<p><a href="${runsUrl(repo)}">All workflow runs</a></p>
<section class="box" aria-labelledby="run-h"><div class="head"><h2 id="run-h">${run.workflow_name} #${run.run_number}${
        run.run_attempt > 1 ? html` <span class="muted">(attempt ${run.run_attempt})</span>` : ""
      }</h2>${statusBadge(run.status, run.conclusion)}${canWrite && viewer ? runActions(repo, run, viewer) : ""}</div>
<div class="body"><dl class="grid">
<div><dt class="muted">Workflow</dt><dd><code>${run.workflow_path}</code></dd></div>
<div><dt class="muted">Event</dt><dd>${run.event}${run.pull_number !== null ? html` · <a href="${b}/pull/${run.pull_number}">#${run.pull_number}</a>` : ""}</dd></div>
<div><dt class="muted">Branch</dt><dd>${run.head_branch ?? run.ref}</dd></div>
<div><dt class="muted">Commit</dt><dd><a href="${b}/commit/${run.head_sha}"><code>${shortSha(run.head_sha)}</code></a></dd></div>
<div><dt class="muted">Triggered by</dt><dd><a href="/${run.actor_login}">${run.actor_login}</a></dd></div>
<div><dt class="muted">Started</dt><dd>${when(run.started_at)}</dd></div>
<div><dt class="muted">Duration</dt><dd>${runDuration(run) || "—"}</dd></div>
</dl>${run.cancel_requested === 1 && run.status !== "completed" ? html`<p class="warn">Cancelling…</p>` : ""}</div></section>
${
  annotations.length > 0
    ? html`<section class="box" aria-labelledby="ann-h"><div class="head"><h2 id="ann-h">This workflow is invalid</h2></div>
<ul class="annotations">${annotations.map(
        (a) =>
          html`<li><code>${a.path ?? run.workflow_path}:${a.line ?? 1}${a.column !== undefined ? `:${a.column}` : ""}</code>: ${a.message ?? ""}</li>`,
      )}</ul></section>`
    : ""
}
<section class="box" aria-labelledby="jobs-h"><div class="head"><h2 id="jobs-h">Jobs</h2>${
        run.status !== "completed" ? html`<a href="${runUrl(repo, run.id)}">Refresh</a>` : ""
      }</div>
${got.jobs.length === 0 ? html`<p class="body">This run has no jobs.</p>` : jobGraph(repo, run, got.jobs)}</section>`,
    )
  })

const runAction = (ctx: HttpContext, viewer: Viewer | undefined, action: "cancel" | "rerun") =>
  Effect.gen(function* () {
    const { form, principal } = yield* postForm(ctx, viewer)
    const id = yield* positiveInt(ctx, "id")
    const ci = yield* CiRuns
    const { repo } = yield* openRepo(ctx, viewer)
    if (action === "cancel") yield* ci.cancel(repo.owner_login, repo.name, id, principal)
    else yield* ci.rerun(repo.owner_login, repo.name, id, principal, form.failed === "1")
    yield* redirect(ctx, runUrl(repo, id))
  })

// --- a job ---

/** A log as numbered rows (`#L12` anchors); text only, escaped by the template. */
export const logRows = (text: string): Html => {
  const lines = text.split("\n")
  if (lines.length > 0 && lines[lines.length - 1] === "") lines.pop()
  return html`${lines.map(
    (l, i) =>
      html`<tr id="L${i + 1}"><td class="ln"><a href="#L${i + 1}">${i + 1}</a></td><td>${l}</td></tr>`,
  )}`
}

const stepsTable = (steps: ReadonlyArray<CiStepState>) =>
  steps.length === 0
    ? html`<p class="body muted">No steps reported yet.</p>`
    : html`<table class="data steps"><thead><tr><th scope="col">#</th><th scope="col">Step</th><th scope="col">Result</th><th scope="col">Duration</th></tr></thead>
<tbody>${steps.map(
        (s) =>
          html`<tr><td>${s.number}</td><td>${s.name}</td><td>${statusBadge(s.status, s.conclusion)}</td><td>${jobDuration(s)}</td></tr>`,
      )}</tbody></table>`

const jobPage = (ctx: HttpContext, viewer: Viewer | undefined) =>
  Effect.gen(function* () {
    const { repo, level } = yield* openRepo(ctx, viewer)
    const runId = yield* positiveInt(ctx, "id")
    const jobId = yield* positiveInt(ctx, "job")
    const ci = yield* CiRuns
    const principal = viewer?.principal
    const { job, run } = yield* ci.job(repo.owner_login, repo.name, jobId, principal)
    if (run.id !== runId) return yield* redirect(ctx, `${runUrl(repo, run.id)}/jobs/${job.id}`)
    const plain = (text: string, headers: Record<string, string> = {}) =>
      Effect.sync(() => {
        ctx.res.writeHead(200, {
          "content-type": "text/plain; charset=utf-8",
          "cache-control": "no-store",
          "x-content-type-options": "nosniff",
          "x-guts-job-status": job.status,
          ...headers,
        })
        ctx.res.end(ctx.req.method === "HEAD" ? undefined : text)
      })
    // What the live script asks: the job's status alone, or the log with its chunk count.
    if (ctx.url.searchParams.get("fragment") === "status") return yield* plain(job.status)
    const log = yield* ci.jobLog(repo.owner_login, repo.name, jobId, principal)
    if (ctx.url.searchParams.get("fragment") === "log")
      return yield* plain(log.text, { "x-guts-log-chunks": String(log.chunks) })
    const steps = JSON.parse(job.steps) as CiStepState[]
    const running = job.status !== "completed"
    const fullName = `${repo.owner_login}/${repo.name}`
    yield* page(
      ctx,
      viewer,
      `${job.name} · ${run.workflow_name} #${run.run_number} · ${repo.name}`,
      html`${repoHeader(repo, level, "actions")}
<p><a href="${runsUrl(repo)}">All workflow runs</a> / <a href="${runUrl(repo, run.id)}">${run.workflow_name} #${run.run_number}</a></p>
<section class="box" aria-labelledby="job-h"><div class="head"><h2 id="job-h">${job.name}</h2>${statusBadge(job.status, job.conclusion)}</div>
<div class="body"><p class="muted">${job.runner_name ? html`Runner ${job.runner_name} · ` : ""}${
        job.started_at !== null ? html`started ${when(job.started_at)}` : "not started"
      }${jobDuration(job) ? ` · took ${jobDuration(job)}` : ""}${job.attempt > 1 ? ` · claim ${job.attempt}` : ""}</p></div>
${stepsTable(steps)}</section>
<section class="box" aria-labelledby="log-h"><div class="head"><h2 id="log-h">Log</h2>${
        running
          ? html`<span><span id="live-status" role="status">The log so far.</span> <a href="${ctx.url.pathname}">Refresh</a></span>`
          : html`<span class="muted">${log.text.length === 0 ? "empty" : `${Buffer.byteLength(log.text)} bytes`}</span>`
      }</div>
<div class="code-wrap"><table class="code log" id="log" aria-labelledby="log-h" data-repo="${fullName}" data-job="${job.id}"><tbody>${logRows(
        log.text,
      )}</tbody></table></div>${
        !running && log.text.length === 0
          ? html`<p class="body muted">This job wrote no log.</p>`
          : ""
      }</section>`,
      { scripts: running ? ["ci-log.js", "lines.js"] : ["lines.js"] },
    )
  })

/** Appended to the web routes (all `/:owner/:repo/actions…`, so their order is free). */
export const ciRoutes = [
  webRoute("GET", "/:owner/:repo/actions", runsPage),
  webRoute("GET", "/:owner/:repo/actions/runs/:id", runPage),
  webRoute("POST", "/:owner/:repo/actions/runs/:id/cancel", (ctx, viewer) =>
    runAction(ctx, viewer, "cancel"),
  ),
  webRoute("POST", "/:owner/:repo/actions/runs/:id/rerun", (ctx, viewer) =>
    runAction(ctx, viewer, "rerun"),
  ),
  webRoute("GET", "/:owner/:repo/actions/runs/:id/jobs/:job", jobPage),
]
