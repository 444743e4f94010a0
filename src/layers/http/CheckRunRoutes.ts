/**
 * Check runs, the subset of GitHub's checks API CI needs: create and update a run on a
 * commit, read one, list a commit's runs, and a commit's check suites (one suite per
 * commit holding all its runs: Guts has no GitHub Apps to group them by). Runs are
 * transactions, replicated like statuses; completed runs with a passing conclusion satisfy
 * branch protection's required checks of the same name.
 */
import { randomUUID } from "node:crypto"
import { Effect } from "effect"
import { textString } from "../../domain/git/GitObject.ts"
import { CHECK_CONCLUSIONS, SetCheckRun, type UserId } from "../../domain/Transaction.ts"
import type { Principal } from "../../services/Auth.ts"
import { CommitStatuses } from "../../services/CommitStatuses.ts"
import type { CheckRunRow } from "../../services/CompatTables.ts"
import { NotFound } from "../../services/Errors.ts"
import { Ledger } from "../../services/Ledger.ts"
import { Metadata, type RepoRow } from "../../services/Metadata.ts"
import { RepoContent } from "../../services/RepoContent.ts"
import { Repositories } from "../../services/Repositories.ts"
import { submitTx } from "../../services/Submit.ts"
import {
  base,
  type Body,
  field,
  intParam,
  jsonObject,
  presentRepo,
  principalOf,
  type R,
  requirePrincipal,
  route,
  send,
} from "./ApiKit.ts"
import { unprocessable } from "./HttpErrors.ts"
import type { HttpContext, Route } from "./HttpServer.ts"

const P = "/repos/:owner/:repo"

const iso = (ms: number | null) =>
  ms === null ? null : new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z")

/** The suite of a commit's runs: named by its first run, so every node names it the same. */
const suiteIdOf = (runs: ReadonlyArray<CheckRunRow>) => Math.min(...runs.map((r) => r.id))

const checkRunJson = (b: string, repo: RepoRow, r: CheckRunRow, suiteId: number) => {
  const api = `${b}/api/repos/${repo.owner_login}/${repo.name}`
  const output = r.output ? (JSON.parse(r.output) as Record<string, unknown>) : {}
  const text = (k: string) => (typeof output[k] === "string" ? (output[k] as string) : null)
  return {
    id: r.id,
    node_id: Buffer.from(`CheckRun:${r.id}`).toString("base64"),
    head_sha: r.head_sha,
    external_id: r.external_id,
    url: `${api}/check-runs/${r.id}`,
    html_url: `${b}/${repo.owner_login}/${repo.name}/runs/${r.id}`,
    details_url: r.details_url,
    status: r.status,
    conclusion: r.conclusion,
    started_at: iso(r.started_at),
    completed_at: iso(r.completed_at),
    output: {
      title: text("title"),
      summary: text("summary"),
      text: text("text"),
      annotations_count: 0,
      annotations_url: `${api}/check-runs/${r.id}/annotations`,
    },
    name: r.name,
    check_suite: { id: suiteId },
    app: null,
    pull_requests: [],
  }
}

const TIMESTAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/

/** The fields of a create or update request, checked. */
const runFields = (b: Body) =>
  Effect.gen(function* () {
    const str = (k: string) => field<string>(b, "CheckRun", k, "string")
    const status = yield* str("status")
    if (status !== undefined && !["queued", "in_progress", "completed"].includes(status))
      return yield* unprocessable(
        "Invalid request. status must be queued, in_progress or completed.",
        [{ resource: "CheckRun", field: "status", code: "invalid" }],
      )
    const conclusion = yield* str("conclusion")
    const accepted = CHECK_CONCLUSIONS as ReadonlyArray<string>
    if (conclusion !== undefined && !accepted.includes(conclusion))
      return yield* unprocessable(
        `Invalid request. conclusion must be one of ${CHECK_CONCLUSIONS.join(", ")}.`,
        [{ resource: "CheckRun", field: "conclusion", code: "invalid" }],
      )
    const time = (k: string) =>
      Effect.gen(function* () {
        const v = yield* str(k)
        if (v === undefined) return undefined
        if (!TIMESTAMP.test(v))
          return yield* unprocessable(
            `Invalid request. ${k} must be an ISO 8601 timestamp (YYYY-MM-DDTHH:MM:SSZ).`,
            [{ resource: "CheckRun", field: k, code: "invalid" }],
          )
        return Date.parse(v)
      })
    const output = b.output
    if (
      output !== undefined &&
      (typeof output !== "object" || output === null || Array.isArray(output))
    )
      return yield* unprocessable("Invalid request. output must be an object.", [
        { resource: "CheckRun", field: "output", code: "invalid" },
      ])
    const startedAt = yield* time("started_at")
    const completedAt = yield* time("completed_at")
    const externalId = yield* str("external_id")
    const detailsUrl = yield* str("details_url")
    return {
      name: yield* str("name"),
      ...(status !== undefined ? { status: status as "queued" | "in_progress" | "completed" } : {}),
      ...(conclusion !== undefined
        ? { conclusion: conclusion as (typeof CHECK_CONCLUSIONS)[number] }
        : {}),
      ...(externalId !== undefined ? { externalId } : {}),
      ...(detailsUrl !== undefined ? { detailsUrl } : {}),
      ...(output !== undefined
        ? {
            output: JSON.stringify({
              title: (output as Body).title ?? null,
              summary: (output as Body).summary ?? null,
              text: (output as Body).text ?? null,
            }),
          }
        : {}),
      ...(startedAt !== undefined ? { startedAt } : {}),
      ...(completedAt !== undefined ? { completedAt } : {}),
    }
  })

const submitRun = (
  p: Principal,
  repo: RepoRow,
  fields: Omit<SetCheckRun, "_tag" | "submitter" | "idempotencyKey" | "owner" | "repo">,
) =>
  Effect.gen(function* () {
    const ledger = yield* Ledger
    const tx = SetCheckRun.make({
      submitter: p.user.id as UserId,
      idempotencyKey: randomUUID(),
      owner: repo.owner_login,
      repo: repo.name,
      ...fields,
    })
    return (yield* submitTx<{ id: number }>(ledger, tx, "CheckRun", "head_sha")).id
  })

/** A run of the repository, with its suite id. */
const runOf = (repo: RepoRow, id: number) =>
  Effect.gen(function* () {
    const meta = yield* Metadata
    const run = yield* meta.checkRunById(id).pipe(Effect.orDie)
    if (!run || run.repo_id !== repo.id) return yield* new NotFound({ what: "check run" })
    const siblings = yield* meta.checkRunsOf(repo.id, run.head_sha).pipe(Effect.orDie)
    return { run, suiteId: suiteIdOf(siblings) }
  })

const own = (ctx: HttpContext) => [ctx.params.owner!, ctx.params.repo!] as const

/** The commit a `ref` names, and its runs (newest first). */
const runsAt = (ctx: HttpContext) =>
  Effect.gen(function* () {
    const repos = yield* Repositories
    const statuses = yield* CommitStatuses
    const meta = yield* Metadata
    const p = yield* principalOf(ctx)
    const { repo } = yield* repos.access(...own(ctx), p, "read")
    const sha = yield* statuses.resolve(repo, ctx.params.ref!)
    const runs = yield* meta.checkRunsOf(repo.id, sha).pipe(Effect.orDie)
    const name = ctx.url.searchParams.get("check_name")
    const status = ctx.url.searchParams.get("status")
    const latestOnly = ctx.url.searchParams.get("filter") !== "all"
    const seen = new Set<string>()
    const shown = runs.filter((r) => {
      if (name !== null && r.name !== name) return false
      if (status !== null && r.status !== status) return false
      if (latestOnly) {
        if (seen.has(r.name)) return false
        seen.add(r.name)
      }
      return true
    })
    return { p, repo, sha, runs, shown }
  })

/** Worst first: the conclusion a suite takes from its runs. */
const SEVERITY = [
  "action_required",
  "timed_out",
  "failure",
  "cancelled",
  "stale",
  "neutral",
  "skipped",
  "success",
]

export const checkRunRoutes: Array<Route<R>> = [
  route("POST", `${P}/check-runs`, (ctx) =>
    Effect.gen(function* () {
      const p = yield* requirePrincipal(ctx)
      const repos = yield* Repositories
      const { repo } = yield* repos.access(...own(ctx), p, "write")
      const body = yield* jsonObject(ctx, "CheckRun")
      const headSha = yield* field<string>(body, "CheckRun", "head_sha", "string", true)
      const fields = yield* runFields(body)
      if (fields.name === undefined)
        return yield* unprocessable("Invalid request. name is required.", [
          { resource: "CheckRun", field: "name", code: "missing_field" },
        ])
      const id = yield* submitRun(p, repo, { ...fields, headSha: headSha! })
      const { run, suiteId } = yield* runOf(repo, id)
      yield* send(ctx, 201, checkRunJson(yield* base(ctx), repo, run, suiteId))
    }),
  ),
  route("PATCH", `${P}/check-runs/:id`, (ctx) =>
    Effect.gen(function* () {
      const p = yield* requirePrincipal(ctx)
      const repos = yield* Repositories
      const { repo } = yield* repos.access(...own(ctx), p, "write")
      const id = yield* intParam(ctx, "id")
      yield* runOf(repo, id)
      const fields = yield* runFields(yield* jsonObject(ctx, "CheckRun"))
      yield* submitRun(p, repo, { ...fields, id })
      const { run, suiteId } = yield* runOf(repo, id)
      yield* send(ctx, 200, checkRunJson(yield* base(ctx), repo, run, suiteId))
    }),
  ),
  route("GET", `${P}/check-runs/:id`, (ctx) =>
    Effect.gen(function* () {
      const repos = yield* Repositories
      const { repo } = yield* repos.access(...own(ctx), yield* principalOf(ctx), "read")
      const { run, suiteId } = yield* runOf(repo, yield* intParam(ctx, "id"))
      yield* send(ctx, 200, checkRunJson(yield* base(ctx), repo, run, suiteId))
    }),
  ),
  route("GET", `${P}/commits/:ref/check-runs`, (ctx) =>
    Effect.gen(function* () {
      const { repo, runs, shown } = yield* runsAt(ctx)
      const b = yield* base(ctx)
      const suiteId = runs.length > 0 ? suiteIdOf(runs) : 0
      yield* send(ctx, 200, {
        total_count: shown.length,
        check_runs: shown.map((r) => checkRunJson(b, repo, r, suiteId)),
      })
    }),
  ),
  route("GET", `${P}/commits/:ref/check-suites`, (ctx) =>
    Effect.gen(function* () {
      const { p, repo, sha, runs } = yield* runsAt(ctx)
      if (runs.length === 0) return yield* send(ctx, 200, { total_count: 0, check_suites: [] })
      const content = yield* RepoContent
      const b = yield* base(ctx)
      const { commit } = yield* content.commit(repo.owner_login, repo.name, sha, p)
      const latest = new Map<string, CheckRunRow>()
      for (const r of runs) if (!latest.has(r.name)) latest.set(r.name, r)
      const current = [...latest.values()]
      const done = current.every((r) => r.status === "completed")
      const conclusion = done
        ? (SEVERITY.find((c) => current.some((r) => r.conclusion === c)) ?? null)
        : null
      const suiteId = suiteIdOf(runs)
      const person = (s: typeof commit.author) => ({
        name: textString(s.name),
        email: textString(s.email),
      })
      const api = `${b}/api/repos/${repo.owner_login}/${repo.name}`
      yield* send(ctx, 200, {
        total_count: 1,
        check_suites: [
          {
            id: suiteId,
            node_id: Buffer.from(`CheckSuite:${suiteId}`).toString("base64"),
            head_branch: null,
            head_sha: sha,
            status: done
              ? "completed"
              : current.some((r) => r.status === "in_progress")
                ? "in_progress"
                : "queued",
            conclusion,
            url: `${api}/check-suites/${suiteId}`,
            before: null,
            after: null,
            pull_requests: [],
            app: null,
            repository: yield* presentRepo(ctx, repo, p),
            created_at: iso(Math.min(...runs.map((r) => r.created_at))),
            updated_at: iso(Math.max(...runs.map((r) => r.updated_at))),
            head_commit: {
              id: sha,
              tree_id: commit.tree,
              message: textString(commit.message),
              timestamp: iso(commit.committer.timestamp * 1000),
              author: person(commit.author),
              committer: person(commit.committer),
            },
            latest_check_runs_count: current.length,
            check_runs_url: `${api}/check-suites/${suiteId}/check-runs`,
            rerequestable: false,
            runs_rerequestable: false,
          },
        ],
      })
    }),
  ),
]
