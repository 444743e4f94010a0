/**
 * Metadata on SQLite (better-sqlite3 through @effect/sql): a file under
 * `<data-dir>/metadata/guts.db`, or `:memory:` for `--storage memory` and fast tests.
 * The schema is created on open; names compare case-insensitively like GitHub's.
 */
import { createHash } from "node:crypto"
import * as fs from "node:fs"
import * as path from "node:path"
import { SqlClient } from "@effect/sql"
import { SqliteClient } from "@effect/sql-sqlite-node"
import { Effect, Layer } from "effect"
import { Metadata, type RepoRow, type TokenRow, type UserRow } from "../services/Metadata.ts"

const SCHEMA = [
  `CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)`,
  `CREATE TABLE IF NOT EXISTS users (
     id INTEGER PRIMARY KEY, login TEXT NOT NULL UNIQUE COLLATE NOCASE, name TEXT, email TEXT,
     site_admin INTEGER NOT NULL DEFAULT 0, created_at INTEGER NOT NULL)`,
  `CREATE TABLE IF NOT EXISTS tokens (
     hash TEXT PRIMARY KEY, user_id INTEGER NOT NULL, scopes TEXT NOT NULL, note TEXT NOT NULL,
     created_at INTEGER NOT NULL, expires_at INTEGER, revoked INTEGER NOT NULL DEFAULT 0)`,
  `CREATE TABLE IF NOT EXISTS repos (
     id INTEGER PRIMARY KEY, owner_id INTEGER NOT NULL, owner_login TEXT NOT NULL COLLATE NOCASE,
     name TEXT NOT NULL COLLATE NOCASE, description TEXT, private INTEGER NOT NULL,
     default_branch TEXT NOT NULL, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL,
     pushed_at INTEGER, UNIQUE (owner_login, name))`,
  `CREATE TABLE IF NOT EXISTS applied_tx (
     key TEXT PRIMARY KEY, height INTEGER NOT NULL, outcome TEXT NOT NULL)`,
]

/** Replicated tables and their row order, for the state digest. */
const REPLICATED = [
  ["users", "id"],
  ["tokens", "hash"],
  ["repos", "id"],
  ["applied_tx", "key"],
] as const

const make = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  for (const statement of SCHEMA) yield* sql.unsafe(statement)

  const one = <A>(rows: ReadonlyArray<A>) => rows[0]

  return Metadata.of({
    userByLogin: (login) =>
      sql<UserRow>`SELECT * FROM users WHERE login = ${login}`.pipe(Effect.map(one)),
    userById: (id) => sql<UserRow>`SELECT * FROM users WHERE id = ${id}`.pipe(Effect.map(one)),
    countUsers: sql<{ n: number }>`SELECT count(*) AS n FROM users`.pipe(
      Effect.map((rows) => rows[0]?.n ?? 0),
    ),
    tokenByHash: (hash) =>
      sql<TokenRow>`SELECT * FROM tokens WHERE hash = ${hash}`.pipe(Effect.map(one)),
    repo: (owner, name) =>
      sql<RepoRow>`SELECT * FROM repos WHERE owner_login = ${owner} AND name = ${name}`.pipe(
        Effect.map(one),
      ),
    allRepos: sql<RepoRow>`SELECT * FROM repos ORDER BY id`,
    reposOf: (ownerLogin) =>
      sql<RepoRow>`SELECT * FROM repos WHERE owner_login = ${ownerLogin} ORDER BY name`,
    appliedHeight: sql<{ value: string }>`SELECT value FROM meta WHERE key = 'applied_height'`.pipe(
      Effect.map((rows) => Number(rows[0]?.value ?? 0)),
    ),
    applyAtHeight: (height, body) =>
      sql.withTransaction(
        Effect.zipLeft(
          body,
          sql`INSERT INTO meta (key, value) VALUES ('applied_height', ${String(height)})
              ON CONFLICT(key) DO UPDATE SET value = excluded.value`,
        ),
      ),
    insertUser: (row) =>
      sql<{ id: number }>`INSERT INTO users (login, name, email, site_admin, created_at)
        VALUES (${row.login}, ${row.name}, ${row.email}, ${row.site_admin}, ${row.created_at})
        RETURNING id`.pipe(Effect.map((rows) => rows[0]!.id)),
    insertToken: (row) =>
      sql`INSERT INTO tokens (hash, user_id, scopes, note, created_at, expires_at, revoked)
        VALUES (${row.hash}, ${row.user_id}, ${row.scopes}, ${row.note}, ${row.created_at},
                ${row.expires_at}, ${row.revoked})`.pipe(Effect.asVoid),
    insertRepo: (row) =>
      sql<{ id: number }>`INSERT INTO repos (owner_id, owner_login, name, description, private,
          default_branch, created_at, updated_at, pushed_at)
        VALUES (${row.owner_id}, ${row.owner_login}, ${row.name}, ${row.description},
                ${row.private}, ${row.default_branch}, ${row.created_at}, ${row.updated_at},
                ${row.pushed_at})
        RETURNING id`.pipe(Effect.map((rows) => rows[0]!.id)),
    txOutcome: (key) =>
      sql<{ outcome: string }>`SELECT outcome FROM applied_tx WHERE key = ${key}`.pipe(
        Effect.map((rows) => rows[0]?.outcome),
      ),
    recordTx: (key, height, outcome) =>
      sql`INSERT OR IGNORE INTO applied_tx (key, height, outcome) VALUES (${key}, ${height}, ${outcome})`.pipe(
        Effect.asVoid,
      ),
    stateDigest: Effect.gen(function* () {
      const hash = createHash("sha256")
      for (const [table, order] of REPLICATED) {
        const rows = yield* sql.unsafe<Record<string, unknown>>(
          `SELECT * FROM ${table} ORDER BY ${order}`,
        )
        hash.update(`${table}\n`)
        for (const row of rows) hash.update(`${JSON.stringify(Object.entries(row))}\n`)
      }
      return hash.digest("hex")
    }),
    touchRepoPushed: (id, at) =>
      sql`UPDATE repos SET pushed_at = ${at}, updated_at = ${at} WHERE id = ${id}`.pipe(
        Effect.asVoid,
      ),
  })
})

/** Metadata in `<dataDir>/metadata/guts.db`, or in memory when dataDir is undefined. */
export const metadataLayer = (dataDir: string | undefined) => {
  let filename = ":memory:"
  if (dataDir !== undefined) {
    const dir = path.join(dataDir, "metadata")
    fs.mkdirSync(dir, { recursive: true })
    filename = path.join(dir, "guts.db")
  }
  return Layer.effect(Metadata, make).pipe(
    Layer.provide(SqliteClient.layer({ filename, disableWAL: false })),
  )
}
