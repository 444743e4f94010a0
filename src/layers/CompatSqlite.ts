/**
 * The GitHub-compatibility tables in SQLite (see src/services/CompatTables.ts): schema,
 * replicated table list for the state digest, and queries. Spread into the Metadata
 * service by MetadataSqlite so that they share its connection and per-block transaction.
 */
import type { SqlClient } from "@effect/sql"
import { Effect } from "effect"
import type { CheckRunRow, CompatTables, HookRecordRow } from "../services/CompatTables.ts"

export const COMPAT_SCHEMA = [
  `CREATE TABLE IF NOT EXISTS hook_records (
     id INTEGER PRIMARY KEY, guid TEXT NOT NULL, hook_id INTEGER NOT NULL, node TEXT NOT NULL,
     status_code INTEGER NOT NULL, attempts INTEGER NOT NULL, event TEXT NOT NULL, action TEXT,
     recorded_at INTEGER NOT NULL, height INTEGER NOT NULL)`,
  `CREATE INDEX IF NOT EXISTS hook_records_by_hook ON hook_records (hook_id, id)`,
  `CREATE INDEX IF NOT EXISTS hook_records_by_guid ON hook_records (guid)`,
  `CREATE TABLE IF NOT EXISTS check_runs (
     id INTEGER PRIMARY KEY, repo_id INTEGER NOT NULL, head_sha TEXT NOT NULL,
     name TEXT NOT NULL, status TEXT NOT NULL, conclusion TEXT, external_id TEXT,
     details_url TEXT, output TEXT, started_at INTEGER, completed_at INTEGER,
     creator_id INTEGER NOT NULL, creator_login TEXT NOT NULL, created_at INTEGER NOT NULL,
     updated_at INTEGER NOT NULL)`,
  `CREATE INDEX IF NOT EXISTS check_runs_by_commit ON check_runs (repo_id, head_sha)`,
  `CREATE TABLE IF NOT EXISTS repo_topics (
     repo_id INTEGER NOT NULL, position INTEGER NOT NULL, topic TEXT NOT NULL,
     PRIMARY KEY (repo_id, position))`,
]

export const COMPAT_REPLICATED: ReadonlyArray<readonly [string, string]> = [
  ["hook_records", "id"],
  ["check_runs", "id"],
  ["repo_topics", "repo_id, position"],
]

const CHECK_RUN_COLUMNS = [
  "head_sha",
  "name",
  "status",
  "conclusion",
  "external_id",
  "details_url",
  "output",
  "started_at",
  "completed_at",
  "created_at",
  "updated_at",
] as const

export const compatTables = (sql: SqlClient.SqlClient): CompatTables => ({
  insertHookRecord: (row) =>
    sql`INSERT INTO hook_records (guid, hook_id, node, status_code, attempts, event, action,
        recorded_at, height)
      VALUES (${row.guid}, ${row.hook_id}, ${row.node}, ${row.status_code}, ${row.attempts},
              ${row.event}, ${row.action}, ${row.recorded_at}, ${row.height})`.pipe(Effect.asVoid),
  hookRecordsOf: (hookId) =>
    sql<HookRecordRow>`SELECT * FROM hook_records r WHERE hook_id = ${hookId}
      AND id = (SELECT MAX(id) FROM hook_records WHERE guid = r.guid)
      ORDER BY id DESC LIMIT 1000`,
  hookRecords: (guid) =>
    sql<HookRecordRow>`SELECT * FROM hook_records WHERE guid = ${guid} ORDER BY id`,
  hookDelivered: (guid) =>
    sql<{ n: number }>`SELECT count(*) AS n FROM hook_records
      WHERE guid = ${guid} AND status_code >= 200 AND status_code < 300`.pipe(
      Effect.map((rows) => (rows[0]?.n ?? 0) > 0),
    ),
  insertCheckRun: (row) =>
    sql<{ id: number }>`INSERT INTO check_runs (repo_id, head_sha, name, status, conclusion,
        external_id, details_url, output, started_at, completed_at, creator_id, creator_login,
        created_at, updated_at)
      VALUES (${row.repo_id}, ${row.head_sha}, ${row.name}, ${row.status}, ${row.conclusion},
        ${row.external_id}, ${row.details_url}, ${row.output}, ${row.started_at},
        ${row.completed_at}, ${row.creator_id}, ${row.creator_login}, ${row.created_at},
        ${row.updated_at})
      RETURNING id`.pipe(Effect.map((rows) => rows[0]!.id)),
  updateCheckRun: (id, fields) => {
    const keys = CHECK_RUN_COLUMNS.filter((k) => k in fields)
    if (keys.length === 0) return Effect.void
    return sql
      .unsafe(`UPDATE check_runs SET ${keys.map((k) => `${k} = ?`).join(", ")} WHERE id = ?`, [
        ...keys.map((k) => (fields as Record<string, unknown>)[k] ?? null),
        id,
      ] as never)
      .pipe(Effect.asVoid)
  },
  checkRunById: (id) =>
    sql<CheckRunRow>`SELECT * FROM check_runs WHERE id = ${id}`.pipe(Effect.map((r) => r[0])),
  checkRunsOf: (repoId, sha) =>
    sql<CheckRunRow>`SELECT * FROM check_runs WHERE repo_id = ${repoId} AND head_sha = ${sha}
      ORDER BY id DESC`,
  openIssueCount: (repoId) =>
    sql<{ n: number }>`SELECT count(*) AS n FROM issues WHERE repo_id = ${repoId}
      AND state = 'open'`.pipe(Effect.map((rows) => rows[0]?.n ?? 0)),
  topicsOf: (repoId) =>
    sql<{ topic: string }>`SELECT topic FROM repo_topics WHERE repo_id = ${repoId}
      ORDER BY position`.pipe(Effect.map((rows) => rows.map((r) => r.topic))),
  setTopics: (repoId, topics) =>
    Effect.gen(function* () {
      yield* sql`DELETE FROM repo_topics WHERE repo_id = ${repoId}`
      for (const [i, topic] of topics.entries())
        yield* sql`INSERT INTO repo_topics (repo_id, position, topic) VALUES (${repoId}, ${i}, ${topic})`
    }),
})
