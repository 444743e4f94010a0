/**
 * The CI tables in SQLite (see src/services/CiTables.ts): schema, the replicated table list
 * for the state digest, and queries. Spread into the Metadata service by MetadataSqlite so
 * they share its connection and its per-block transaction.
 */
import type { SqlClient } from "@effect/sql"
import { Effect } from "effect"
import type {
  CiArtifactRow,
  CiJobRow,
  CiRegistrationTokenRow,
  CiRunEventRow,
  CiRunnerRow,
  CiRunRow,
  CiScheduleRow,
  CiSecretRow,
  CiTables,
  CiWorkflowRow,
} from "../services/CiTables.ts"

export const CI_SCHEMA = [
  `CREATE TABLE IF NOT EXISTS ci_workflows (
     id INTEGER PRIMARY KEY, repo_id INTEGER NOT NULL, path TEXT NOT NULL, name TEXT NOT NULL,
     state TEXT NOT NULL, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL,
     UNIQUE (repo_id, path))`,
  `CREATE TABLE IF NOT EXISTS ci_runs (
     id INTEGER PRIMARY KEY, repo_id INTEGER NOT NULL, workflow_id INTEGER NOT NULL,
     workflow_path TEXT NOT NULL, workflow_name TEXT NOT NULL, run_number INTEGER NOT NULL,
     run_attempt INTEGER NOT NULL, event TEXT NOT NULL, ref TEXT NOT NULL, head_branch TEXT,
     head_sha TEXT NOT NULL, checkout_sha TEXT NOT NULL, actor_id INTEGER NOT NULL,
     actor_login TEXT NOT NULL, trigger TEXT NOT NULL, workflow TEXT, status TEXT NOT NULL,
     conclusion TEXT, annotations TEXT, pull_number INTEGER,
     cancel_requested INTEGER NOT NULL DEFAULT 0, created_at INTEGER NOT NULL,
     updated_at INTEGER NOT NULL, started_at INTEGER NOT NULL)`,
  `CREATE INDEX IF NOT EXISTS ci_runs_by_repo ON ci_runs (repo_id, id)`,
  `CREATE TABLE IF NOT EXISTS ci_jobs (
     id INTEGER PRIMARY KEY, run_id INTEGER NOT NULL, repo_id INTEGER NOT NULL,
     run_attempt INTEGER NOT NULL, key TEXT NOT NULL, job_id TEXT NOT NULL, name TEXT NOT NULL,
     planned TEXT NOT NULL, status TEXT NOT NULL,
     conclusion TEXT, attempt INTEGER NOT NULL, runner_id INTEGER, runner_name TEXT,
     lease_expires_at INTEGER, git_token_hash TEXT, cancel_requested INTEGER NOT NULL DEFAULT 0,
     outputs TEXT NOT NULL, steps TEXT NOT NULL,
     log_blob TEXT, log_size INTEGER NOT NULL DEFAULT 0, created_at INTEGER NOT NULL,
     started_at INTEGER, completed_at INTEGER)`,
  `CREATE INDEX IF NOT EXISTS ci_jobs_by_run ON ci_jobs (run_id, run_attempt, id)`,
  `CREATE INDEX IF NOT EXISTS ci_jobs_by_status ON ci_jobs (status, id)`,
  `CREATE TABLE IF NOT EXISTS ci_artifacts (
     id INTEGER PRIMARY KEY, run_id INTEGER NOT NULL, run_attempt INTEGER NOT NULL,
     job_row_id INTEGER NOT NULL, job_key TEXT NOT NULL, repo_id INTEGER NOT NULL,
     name TEXT NOT NULL, size INTEGER NOT NULL, content_type TEXT NOT NULL, blob TEXT NOT NULL,
     digest TEXT NOT NULL, created_at INTEGER NOT NULL)`,
  `CREATE INDEX IF NOT EXISTS ci_artifacts_by_run ON ci_artifacts (run_id, id)`,
  `CREATE TABLE IF NOT EXISTS ci_runners (
     id INTEGER PRIMARY KEY, name TEXT NOT NULL, labels TEXT NOT NULL,
     token_hash TEXT NOT NULL UNIQUE, scope_kind TEXT NOT NULL, scope_id INTEGER NOT NULL,
     version TEXT, created_at INTEGER NOT NULL)`,
  `CREATE TABLE IF NOT EXISTS ci_registration_tokens (
     hash TEXT PRIMARY KEY, scope_kind TEXT NOT NULL, scope_id INTEGER NOT NULL,
     creator_id INTEGER NOT NULL, created_at INTEGER NOT NULL, expires_at INTEGER NOT NULL)`,
  `CREATE TABLE IF NOT EXISTS ci_secrets (
     scope_kind TEXT NOT NULL, scope_id INTEGER NOT NULL, name TEXT NOT NULL,
     sealed TEXT NOT NULL, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL,
     PRIMARY KEY (scope_kind, scope_id, name))`,
  `CREATE TABLE IF NOT EXISTS ci_schedules (
     repo_id INTEGER NOT NULL, workflow_path TEXT NOT NULL, cron TEXT NOT NULL,
     PRIMARY KEY (repo_id, workflow_path, cron))`,
  `CREATE TABLE IF NOT EXISTS ci_state (key TEXT PRIMARY KEY, value TEXT NOT NULL)`,
  `CREATE TABLE IF NOT EXISTS ci_run_events (
     id INTEGER PRIMARY KEY, height INTEGER NOT NULL, run_id INTEGER NOT NULL,
     action TEXT NOT NULL)`,
  `CREATE INDEX IF NOT EXISTS ci_run_events_by_height ON ci_run_events (height, id)`,
]

export const CI_REPLICATED: ReadonlyArray<readonly [string, string]> = [
  ["ci_workflows", "id"],
  ["ci_runs", "id"],
  ["ci_jobs", "id"],
  ["ci_artifacts", "id"],
  ["ci_runners", "id"],
  ["ci_registration_tokens", "hash"],
  ["ci_secrets", "scope_kind, scope_id, name"],
  ["ci_schedules", "repo_id, workflow_path, cron"],
  ["ci_state", "key"],
  ["ci_run_events", "id"],
]

/** `INSERT INTO table (cols…) VALUES (?…) RETURNING id` for a row object. */
const insert = (sql: SqlClient.SqlClient, table: string, row: Record<string, unknown>) => {
  const cols = Object.keys(row)
  return sql
    .unsafe<{ id: number }>(
      `INSERT INTO ${table} (${cols.join(", ")}) VALUES (${cols.map(() => "?").join(", ")}) RETURNING id`,
      cols.map((c) => (row[c] === undefined ? null : row[c])),
    )
    .pipe(Effect.map((rows) => rows[0]!.id))
}

const update = (
  sql: SqlClient.SqlClient,
  table: string,
  id: number,
  fields: Record<string, unknown>,
) => {
  const cols = Object.keys(fields).filter((c) => fields[c] !== undefined)
  if (cols.length === 0) return Effect.void
  return sql
    .unsafe(`UPDATE ${table} SET ${cols.map((c) => `${c} = ?`).join(", ")} WHERE id = ?`, [
      ...cols.map((c) => fields[c]),
      id,
    ])
    .pipe(Effect.asVoid)
}

export const ciTables = (sql: SqlClient.SqlClient): CiTables => {
  const one = <A>(rows: ReadonlyArray<A>) => rows[0]
  return {
    ciUpsertWorkflow: (repoId, path, name, at) =>
      Effect.gen(function* () {
        const existing = one(
          yield* sql<CiWorkflowRow>`SELECT * FROM ci_workflows WHERE repo_id = ${repoId} AND path = ${path}`,
        )
        if (existing) {
          if (existing.name !== name)
            yield* sql`UPDATE ci_workflows SET name = ${name}, updated_at = ${at} WHERE id = ${existing.id}`
          return existing.id
        }
        return yield* insert(sql, "ci_workflows", {
          repo_id: repoId,
          path,
          name,
          state: "active",
          created_at: at,
          updated_at: at,
        })
      }),
    ciWorkflows: (repoId) =>
      sql<CiWorkflowRow>`SELECT * FROM ci_workflows WHERE repo_id = ${repoId} ORDER BY id`,
    ciWorkflow: (id) =>
      sql<CiWorkflowRow>`SELECT * FROM ci_workflows WHERE id = ${id}`.pipe(Effect.map(one)),

    ciInsertRun: (row) => insert(sql, "ci_runs", row),
    ciUpdateRun: (id, fields) => update(sql, "ci_runs", id, fields),
    ciRun: (id) => sql<CiRunRow>`SELECT * FROM ci_runs WHERE id = ${id}`.pipe(Effect.map(one)),
    ciRuns: (f) =>
      Effect.gen(function* () {
        const where = ["repo_id = ?"]
        const params: unknown[] = [f.repoId]
        const add = (clause: string, value: unknown) => {
          if (value === undefined) return
          where.push(clause)
          params.push(value)
        }
        add("workflow_id = ?", f.workflowId)
        add("head_branch = ?", f.branch)
        add("event = ?", f.event)
        add("head_sha = ?", f.headSha)
        if (f.status !== undefined) {
          if (["queued", "in_progress", "completed"].includes(f.status)) add("status = ?", f.status)
          else add("conclusion = ?", f.status)
        }
        const clause = where.join(" AND ")
        const total = yield* sql.unsafe<{ n: number }>(
          `SELECT count(*) AS n FROM ci_runs WHERE ${clause}`,
          params,
        )
        const rows = yield* sql.unsafe<CiRunRow>(
          `SELECT * FROM ci_runs WHERE ${clause} ORDER BY id DESC LIMIT ? OFFSET ?`,
          [...params, f.limit, f.offset],
        )
        return { rows, total: total[0]?.n ?? 0 }
      }),
    ciMaxRunNumber: (workflowId) =>
      sql<{
        n: number | null
      }>`SELECT max(run_number) AS n FROM ci_runs WHERE workflow_id = ${workflowId}`.pipe(
        Effect.map((rows) => rows[0]?.n ?? 0),
      ),

    ciInsertJob: (row) => insert(sql, "ci_jobs", row),
    ciUpdateJob: (id, fields) => update(sql, "ci_jobs", id, fields),
    ciJob: (id) => sql<CiJobRow>`SELECT * FROM ci_jobs WHERE id = ${id}`.pipe(Effect.map(one)),
    ciJobsOfRun: (runId, attempt) =>
      sql<CiJobRow>`SELECT * FROM ci_jobs WHERE run_id = ${runId} AND run_attempt = ${attempt} ORDER BY id`,
    ciQueuedJobs: sql<CiJobRow>`SELECT * FROM ci_jobs WHERE status = 'queued' ORDER BY id`,
    ciExpiredLeases: (at) =>
      sql<CiJobRow>`SELECT * FROM ci_jobs WHERE status = 'in_progress' AND lease_expires_at <= ${at} ORDER BY id`,
    ciJobByGitToken: (hash) =>
      sql<CiJobRow>`SELECT * FROM ci_jobs WHERE git_token_hash = ${hash} AND status = 'in_progress'`.pipe(
        Effect.map(one),
      ),

    ciInsertArtifact: (row) => insert(sql, "ci_artifacts", row),
    ciDeleteArtifact: (id) => sql`DELETE FROM ci_artifacts WHERE id = ${id}`.pipe(Effect.asVoid),
    ciArtifact: (id) =>
      sql<CiArtifactRow>`SELECT * FROM ci_artifacts WHERE id = ${id}`.pipe(Effect.map(one)),
    ciArtifactsOfRun: (runId) =>
      sql<CiArtifactRow>`SELECT * FROM ci_artifacts WHERE run_id = ${runId} ORDER BY id`,

    ciInsertRunner: (row) => insert(sql, "ci_runners", row),
    ciRunner: (id) =>
      sql<CiRunnerRow>`SELECT * FROM ci_runners WHERE id = ${id}`.pipe(Effect.map(one)),
    ciRunnerByToken: (hash) =>
      sql<CiRunnerRow>`SELECT * FROM ci_runners WHERE token_hash = ${hash}`.pipe(Effect.map(one)),
    ciRunners: (kind, scopeId) =>
      sql<CiRunnerRow>`SELECT * FROM ci_runners WHERE scope_kind = ${kind} AND scope_id = ${scopeId} ORDER BY id`,
    ciDeleteRunner: (id) => sql`DELETE FROM ci_runners WHERE id = ${id}`.pipe(Effect.asVoid),
    ciJobCounts: sql<{ queued: number | null; running: number | null }>`SELECT
        SUM(status = 'queued') AS queued, SUM(status = 'in_progress') AS running FROM ci_jobs`.pipe(
      Effect.map((rows) => ({ queued: rows[0]?.queued ?? 0, running: rows[0]?.running ?? 0 })),
    ),
    ciBusyRunners: sql<{
      runner_id: number
    }>`SELECT DISTINCT runner_id FROM ci_jobs WHERE status = 'in_progress' AND runner_id IS NOT NULL`,

    ciInsertRegistrationToken: (row) =>
      sql`INSERT INTO ci_registration_tokens (hash, scope_kind, scope_id, creator_id, created_at, expires_at)
          VALUES (${row.hash}, ${row.scope_kind}, ${row.scope_id}, ${row.creator_id}, ${row.created_at}, ${row.expires_at})`.pipe(
        Effect.asVoid,
      ),
    ciRegistrationToken: (hash) =>
      sql<CiRegistrationTokenRow>`SELECT * FROM ci_registration_tokens WHERE hash = ${hash}`.pipe(
        Effect.map(one),
      ),

    ciSetSecret: (kind, scopeId, name, sealed, at) =>
      (sealed === null
        ? sql`DELETE FROM ci_secrets WHERE scope_kind = ${kind} AND scope_id = ${scopeId} AND name = ${name}`
        : sql`INSERT INTO ci_secrets (scope_kind, scope_id, name, sealed, created_at, updated_at)
              VALUES (${kind}, ${scopeId}, ${name}, ${sealed}, ${at}, ${at})
              ON CONFLICT (scope_kind, scope_id, name)
              DO UPDATE SET sealed = excluded.sealed, updated_at = excluded.updated_at`
      ).pipe(Effect.asVoid),
    ciSecrets: (kind, scopeId) =>
      sql<CiSecretRow>`SELECT * FROM ci_secrets WHERE scope_kind = ${kind} AND scope_id = ${scopeId} ORDER BY name`,

    ciSetSchedules: (repoId, rows) =>
      Effect.gen(function* () {
        yield* sql`DELETE FROM ci_schedules WHERE repo_id = ${repoId}`
        for (const r of rows)
          yield* sql`INSERT OR IGNORE INTO ci_schedules (repo_id, workflow_path, cron)
                     VALUES (${repoId}, ${r.path}, ${r.cron})`
      }),
    ciSchedules: sql<CiScheduleRow>`SELECT * FROM ci_schedules ORDER BY repo_id, workflow_path, cron`,
    ciState: (key) =>
      sql<{ value: string }>`SELECT value FROM ci_state WHERE key = ${key}`.pipe(
        Effect.map((rows) => rows[0]?.value),
      ),
    ciSetState: (key, value) =>
      sql`INSERT INTO ci_state (key, value) VALUES (${key}, ${value})
          ON CONFLICT (key) DO UPDATE SET value = excluded.value`.pipe(Effect.asVoid),

    ciInsertRunEvent: (height, runId, action) =>
      sql`INSERT INTO ci_run_events (height, run_id, action) VALUES (${height}, ${runId}, ${action})`.pipe(
        Effect.asVoid,
      ),
    ciRunEventsAt: (height) =>
      sql<CiRunEventRow>`SELECT * FROM ci_run_events WHERE height = ${height} ORDER BY id`,
  }
}
