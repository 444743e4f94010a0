/**
 * GitHub's JSON shapes for Actions: workflows, workflow runs, jobs and artifacts.
 */
import type { CiArtifactRow, CiJobRow, CiRunRow, CiWorkflowRow } from "../../services/CiTables.ts"
import type { RepoRow } from "../../services/Metadata.ts"
import { repoJson, userJson } from "./Presenters.ts"

const iso = (ms: number | null) =>
  ms === null ? null : new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z")
const api = (b: string, repo: RepoRow) => `${b}/api/repos/${repo.owner_login}/${repo.name}`
const html = (b: string, repo: RepoRow) => `${b}/${repo.owner_login}/${repo.name}`

export const workflowJson = (b: string, repo: RepoRow, w: CiWorkflowRow) => ({
  id: w.id,
  node_id: Buffer.from(`Workflow:${w.id}`).toString("base64"),
  name: w.name,
  path: w.path,
  state: w.state,
  created_at: iso(w.created_at),
  updated_at: iso(w.updated_at),
  url: `${api(b, repo)}/actions/workflows/${w.id}`,
  html_url: `${html(b, repo)}/blob/${repo.default_branch}/${w.path}`,
  badge_url: `${html(b, repo)}/workflows/${encodeURIComponent(w.name)}/badge.svg`,
})

export const runJson = (b: string, repo: RepoRow, r: CiRunRow) => {
  const url = `${api(b, repo)}/actions/runs/${r.id}`
  return {
    id: r.id,
    name: r.workflow_name,
    node_id: Buffer.from(`WorkflowRun:${r.id}`).toString("base64"),
    head_branch: r.head_branch,
    head_sha: r.head_sha,
    path: r.workflow_path,
    display_title: r.workflow_name,
    run_number: r.run_number,
    run_attempt: r.run_attempt,
    event: r.event,
    status: r.status,
    conclusion: r.conclusion,
    workflow_id: r.workflow_id,
    url,
    html_url: `${html(b, repo)}/actions/runs/${r.id}`,
    pull_requests:
      r.pull_number === null
        ? []
        : [{ number: r.pull_number, url: `${api(b, repo)}/pulls/${r.pull_number}` }],
    created_at: iso(r.created_at),
    updated_at: iso(r.updated_at),
    run_started_at: iso(r.started_at),
    actor: userJson(b, { id: r.actor_id, login: r.actor_login, site_admin: 0 }),
    triggering_actor: userJson(b, { id: r.actor_id, login: r.actor_login, site_admin: 0 }),
    jobs_url: `${url}/jobs`,
    logs_url: `${url}/logs`,
    artifacts_url: `${url}/artifacts`,
    cancel_url: `${url}/cancel`,
    rerun_url: `${url}/rerun`,
    workflow_url: `${api(b, repo)}/actions/workflows/${r.workflow_id}`,
    /** Guts: why an invalid workflow failed (`path:line: message`), GitHub's annotations. */
    annotations: r.annotations
      ? (
          JSON.parse(r.annotations) as Array<{
            path: string
            line: number
            column: number
            message: string
          }>
        ).map((a) => ({
          path: a.path,
          start_line: a.line,
          end_line: a.line,
          start_column: a.column,
          annotation_level: "failure",
          message: `${a.path}:${a.line}: ${a.message}`,
        }))
      : [],
    repository: repoJson(b, repo),
    head_repository: repoJson(b, repo),
  }
}

export const jobJson = (b: string, repo: RepoRow, run: CiRunRow, j: CiJobRow) => {
  const planned = JSON.parse(j.planned) as { runsOn: string[] }
  const steps = JSON.parse(j.steps) as Array<{
    number: number
    name: string
    status: string
    conclusion: string | null
    started_at: number | null
    completed_at: number | null
  }>
  return {
    id: j.id,
    run_id: j.run_id,
    run_url: `${api(b, repo)}/actions/runs/${j.run_id}`,
    run_attempt: j.run_attempt,
    node_id: Buffer.from(`WorkflowJob:${j.id}`).toString("base64"),
    head_sha: run.head_sha,
    head_branch: run.head_branch,
    url: `${api(b, repo)}/actions/jobs/${j.id}`,
    html_url: `${html(b, repo)}/actions/runs/${j.run_id}/job/${j.id}`,
    status: j.status,
    conclusion: j.conclusion,
    created_at: iso(j.created_at),
    started_at: iso(j.started_at),
    completed_at: iso(j.completed_at),
    name: j.name,
    workflow_name: run.workflow_name,
    steps: steps.map((s) => ({
      name: s.name,
      status: s.status,
      conclusion: s.conclusion,
      number: s.number,
      started_at: iso(s.started_at),
      completed_at: iso(s.completed_at),
    })),
    check_run_url: `${api(b, repo)}/actions/jobs/${j.id}`,
    labels: planned.runsOn,
    runner_id: j.runner_id,
    runner_name: j.runner_name,
    runner_group_id: null,
    runner_group_name: null,
    /** Guts: claims so far (a runner lost mid-job requeues it). */
    attempt: j.attempt,
  }
}

export const artifactJson = (b: string, repo: RepoRow, run: CiRunRow, a: CiArtifactRow) => ({
  id: a.id,
  node_id: Buffer.from(`Artifact:${a.id}`).toString("base64"),
  name: a.name,
  size_in_bytes: a.size,
  url: `${api(b, repo)}/actions/artifacts/${a.id}`,
  archive_download_url: `${api(b, repo)}/actions/artifacts/${a.id}/zip`,
  expired: false,
  digest: `sha256:${a.digest}`,
  created_at: iso(a.created_at),
  updated_at: iso(a.created_at),
  expires_at: null,
  workflow_run: {
    id: run.id,
    repository_id: repo.id,
    head_repository_id: repo.id,
    head_branch: run.head_branch,
    head_sha: run.head_sha,
  },
})
