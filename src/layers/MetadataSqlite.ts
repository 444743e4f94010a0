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
import { COLLAB_REPLICATED, COLLAB_SCHEMA, collabTables } from "./CollabSqlite.ts"
import { CI_REPLICATED, CI_SCHEMA, ciTables } from "./CiSqlite.ts"
import {
  type AuditRow,
  type MemberRow,
  Metadata,
  type RepoRow,
  type SshKeyRow,
  type StatusRow,
  type DeliveryRow,
  type TeamRow,
  type TokenRow,
  type UserRow,
} from "../services/Metadata.ts"

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
  `CREATE TABLE IF NOT EXISTS ssh_keys (
     id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL, title TEXT NOT NULL, key TEXT NOT NULL,
     fingerprint TEXT NOT NULL, created_at INTEGER NOT NULL)`,
  `CREATE TABLE IF NOT EXISTS org_members (
     org_id INTEGER NOT NULL, user_id INTEGER NOT NULL, role TEXT NOT NULL,
     PRIMARY KEY (org_id, user_id))`,
  `CREATE TABLE IF NOT EXISTS teams (
     id INTEGER PRIMARY KEY, org_id INTEGER NOT NULL, slug TEXT NOT NULL COLLATE NOCASE,
     name TEXT NOT NULL, description TEXT, privacy TEXT NOT NULL, parent_id INTEGER,
     permission TEXT NOT NULL, created_at INTEGER NOT NULL, UNIQUE (org_id, slug))`,
  `CREATE TABLE IF NOT EXISTS team_members (
     team_id INTEGER NOT NULL, user_id INTEGER NOT NULL, role TEXT NOT NULL,
     PRIMARY KEY (team_id, user_id))`,
  `CREATE TABLE IF NOT EXISTS team_repos (
     team_id INTEGER NOT NULL, repo_id INTEGER NOT NULL, permission TEXT NOT NULL,
     PRIMARY KEY (team_id, repo_id))`,
  `CREATE TABLE IF NOT EXISTS collaborators (
     repo_id INTEGER NOT NULL, user_id INTEGER NOT NULL, permission TEXT NOT NULL,
     PRIMARY KEY (repo_id, user_id))`,
  `CREATE TABLE IF NOT EXISTS repo_redirects (
     owner_login TEXT NOT NULL COLLATE NOCASE, name TEXT NOT NULL COLLATE NOCASE,
     repo_id INTEGER NOT NULL, PRIMARY KEY (owner_login, name))`,
  `CREATE TABLE IF NOT EXISTS branch_protection (
     repo_id INTEGER NOT NULL, branch TEXT NOT NULL, rule TEXT NOT NULL,
     PRIMARY KEY (repo_id, branch))`,
  `CREATE TABLE IF NOT EXISTS hook_deliveries (
     guid TEXT NOT NULL, hook_id INTEGER NOT NULL, event TEXT NOT NULL, action TEXT,
     payload TEXT NOT NULL, status TEXT NOT NULL, status_code INTEGER NOT NULL,
     duration_ms INTEGER NOT NULL, attempts INTEGER NOT NULL, redelivery INTEGER NOT NULL,
     delivered_at INTEGER NOT NULL, response TEXT, PRIMARY KEY (guid, redelivery))`,
  `CREATE TABLE IF NOT EXISTS statuses (
     id INTEGER PRIMARY KEY, repo_id INTEGER NOT NULL, sha TEXT NOT NULL, state TEXT NOT NULL,
     context TEXT NOT NULL, description TEXT, target_url TEXT, creator_id INTEGER NOT NULL,
     creator_login TEXT NOT NULL, created_at INTEGER NOT NULL)`,
  `CREATE INDEX IF NOT EXISTS statuses_by_commit ON statuses (repo_id, sha)`,
  `CREATE TABLE IF NOT EXISTS audit_log (
     id INTEGER PRIMARY KEY, created_at INTEGER NOT NULL, height INTEGER NOT NULL,
     actor_id INTEGER NOT NULL, actor_login TEXT NOT NULL, action TEXT NOT NULL,
     org_id INTEGER, repo_id INTEGER, repo TEXT, data TEXT NOT NULL)`,
]

/** Columns added after the first release, added to databases created before them. */
const ADDED_COLUMNS: ReadonlyArray<readonly [string, string, string]> = [
  ["users", "type", "TEXT NOT NULL DEFAULT 'User'"],
  ["users", "bio", "TEXT"],
  ["users", "updated_at", "INTEGER NOT NULL DEFAULT 0"],
  ["tokens", "id", "INTEGER"],
  ["tokens", "repositories", "TEXT"],
  ["repos", "visibility", "TEXT NOT NULL DEFAULT 'public'"],
  ["repos", "fork_of", "INTEGER"],
]

/** Replicated tables and their row order, for the state digest. */
const REPLICATED = [
  ["users", "id"],
  ["tokens", "hash"],
  ["repos", "id"],
  ["applied_tx", "key"],
  ["ssh_keys", "id"],
  ["org_members", "org_id, user_id"],
  ["teams", "id"],
  ["team_members", "team_id, user_id"],
  ["team_repos", "team_id, repo_id"],
  ["collaborators", "repo_id, user_id"],
  ["repo_redirects", "owner_login, name"],
  ["branch_protection", "repo_id, branch"],
  ["audit_log", "id"],
  ["statuses", "id"],
] as const

const make = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  for (const statement of [...SCHEMA, ...COLLAB_SCHEMA, ...CI_SCHEMA]) yield* sql.unsafe(statement)
  for (const [table, column, definition] of ADDED_COLUMNS) {
    const columns = yield* sql.unsafe<{ name: string }>(`PRAGMA table_info(${table})`)
    if (!columns.some((c) => c.name === column))
      yield* sql.unsafe(`ALTER TABLE ${table} ADD COLUMN ${column} ${definition}`)
  }

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
    atomically: (body) => sql.withTransaction(body),
    insertUser: (row) =>
      sql<{ id: number }>`INSERT INTO users
          (login, name, email, site_admin, created_at, type, bio, updated_at)
        VALUES (${row.login}, ${row.name}, ${row.email}, ${row.site_admin}, ${row.created_at},
                ${row.type}, ${row.bio}, ${row.updated_at})
        RETURNING id`.pipe(Effect.map((rows) => rows[0]!.id)),
    insertToken: (row) =>
      sql`INSERT INTO tokens
          (id, hash, user_id, scopes, note, created_at, expires_at, revoked, repositories)
        VALUES (${row.id}, ${row.hash}, ${row.user_id}, ${row.scopes}, ${row.note},
                ${row.created_at}, ${row.expires_at}, ${row.revoked}, ${row.repositories})`.pipe(
        Effect.asVoid,
      ),
    insertRepo: (row) =>
      sql<{ id: number }>`INSERT INTO repos (owner_id, owner_login, name, description, private,
          visibility, default_branch, created_at, updated_at, pushed_at, fork_of)
        VALUES (${row.owner_id}, ${row.owner_login}, ${row.name}, ${row.description},
                ${row.private}, ${row.visibility}, ${row.default_branch}, ${row.created_at},
                ${row.updated_at}, ${row.pushed_at}, ${row.fork_of ?? null})
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
      for (const [table, order] of [...REPLICATED, ...COLLAB_REPLICATED, ...CI_REPLICATED]) {
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
    ...accessTables(sql),
    ...collabTables(sql),
    ...ciTables(sql),
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

/** Identity and access tables: accounts' keys and tokens, organisations, teams, grants. */
const accessTables = (sql: SqlClient.SqlClient) => {
  const one = <A>(rows: ReadonlyArray<A>) => rows[0]
  const first =
    <K extends string>(key: K) =>
    (rows: ReadonlyArray<Record<K, string>>) =>
      rows[0]?.[key]
  return {
    tokensOf: (userId: number) =>
      sql<TokenRow>`SELECT * FROM tokens WHERE user_id = ${userId} ORDER BY id`,
    tokenById: (id: number) =>
      sql<TokenRow>`SELECT * FROM tokens WHERE id = ${id}`.pipe(Effect.map(one)),
    nextTokenId: sql<{ n: number }>`SELECT COALESCE(MAX(id), 0) + 1 AS n FROM tokens`.pipe(
      Effect.map((rows) => rows[0]!.n),
    ),
    sshKeyByFingerprint: (fingerprint: string) =>
      sql<SshKeyRow>`SELECT * FROM ssh_keys WHERE fingerprint = ${fingerprint}`.pipe(
        Effect.map(one),
      ),
    sshKeysOf: (userId: number) =>
      sql<SshKeyRow>`SELECT * FROM ssh_keys WHERE user_id = ${userId} ORDER BY id`,
    sshKeyById: (id: number) =>
      sql<SshKeyRow>`SELECT * FROM ssh_keys WHERE id = ${id}`.pipe(Effect.map(one)),
    orgRole: (orgId: number, userId: number) =>
      sql<{
        role: string
      }>`SELECT role FROM org_members WHERE org_id = ${orgId} AND user_id = ${userId}`.pipe(
        Effect.map(first("role")),
      ),
    orgMembers: (orgId: number) =>
      sql<MemberRow>`SELECT m.user_id, u.login, u.site_admin, m.role FROM org_members m
        JOIN users u ON u.id = m.user_id WHERE m.org_id = ${orgId} ORDER BY u.login`,
    orgsOf: (userId: number) =>
      sql<UserRow>`SELECT u.* FROM org_members m JOIN users u ON u.id = m.org_id
        WHERE m.user_id = ${userId} ORDER BY u.login`,
    teamBySlug: (orgId: number, slug: string) =>
      sql<TeamRow>`SELECT * FROM teams WHERE org_id = ${orgId} AND slug = ${slug}`.pipe(
        Effect.map(one),
      ),
    teamById: (id: number) =>
      sql<TeamRow>`SELECT * FROM teams WHERE id = ${id}`.pipe(Effect.map(one)),
    teamsOf: (orgId: number) =>
      sql<TeamRow>`SELECT * FROM teams WHERE org_id = ${orgId} ORDER BY slug`,
    teamMembers: (teamId: number) =>
      sql<MemberRow>`SELECT m.user_id, u.login, u.site_admin, m.role FROM team_members m
        JOIN users u ON u.id = m.user_id WHERE m.team_id = ${teamId} ORDER BY u.login`,
    teamRole: (teamId: number, userId: number) =>
      sql<{
        role: string
      }>`SELECT role FROM team_members WHERE team_id = ${teamId} AND user_id = ${userId}`.pipe(
        Effect.map(first("role")),
      ),
    teamsOfUser: (orgId: number, userId: number) =>
      sql<TeamRow>`SELECT t.* FROM team_members m JOIN teams t ON t.id = m.team_id
        WHERE t.org_id = ${orgId} AND m.user_id = ${userId} ORDER BY t.id`,
    teamRepoLevels: (repoId: number) =>
      sql<{
        team_id: number
        permission: string
      }>`SELECT team_id, permission FROM team_repos WHERE repo_id = ${repoId} ORDER BY team_id`,
    teamRepos: (teamId: number) =>
      sql<RepoRow & { team_permission: string }>`SELECT r.*, t.permission AS team_permission
        FROM team_repos t JOIN repos r ON r.id = t.repo_id WHERE t.team_id = ${teamId}
        ORDER BY r.owner_login, r.name`,
    collaborators: (repoId: number) =>
      sql<MemberRow>`SELECT c.user_id, u.login, u.site_admin, c.permission AS role
        FROM collaborators c JOIN users u ON u.id = c.user_id WHERE c.repo_id = ${repoId}
        ORDER BY u.login`,
    collaboratorLevel: (repoId: number, userId: number) =>
      sql<{ permission: string }>`SELECT permission FROM collaborators
        WHERE repo_id = ${repoId} AND user_id = ${userId}`.pipe(Effect.map(first("permission"))),
    repoById: (id: number) =>
      sql<RepoRow>`SELECT * FROM repos WHERE id = ${id}`.pipe(Effect.map(one)),
    redirect: (owner: string, name: string) =>
      sql<RepoRow>`SELECT r.* FROM repo_redirects d JOIN repos r ON r.id = d.repo_id
        WHERE d.owner_login = ${owner} AND d.name = ${name}`.pipe(Effect.map(one)),
    protection: (repoId: number, branch: string) =>
      sql<{ rule: string }>`SELECT rule FROM branch_protection
        WHERE repo_id = ${repoId} AND branch = ${branch}`.pipe(Effect.map(first("rule"))),
    protectedBranches: (repoId: number) =>
      sql<{ branch: string; rule: string }>`SELECT branch, rule FROM branch_protection
        WHERE repo_id = ${repoId} ORDER BY branch`,
    auditLog: (f: {
      readonly orgId?: number | undefined
      readonly repoId?: number | undefined
      readonly limit: number
      readonly beforeId?: number | undefined
    }) =>
      sql<AuditRow>`SELECT * FROM audit_log WHERE
        (${f.orgId ?? null} IS NULL OR org_id = ${f.orgId ?? null}) AND
        (${f.repoId ?? null} IS NULL OR repo_id = ${f.repoId ?? null}) AND
        (${f.beforeId ?? null} IS NULL OR id < ${f.beforeId ?? null})
        ORDER BY id DESC LIMIT ${f.limit}`,

    updateUser: (
      id: number,
      fields: { name?: string | null; email?: string | null; bio?: string | null },
      at: number,
    ) =>
      sql`UPDATE users SET
          name = CASE WHEN ${fields.name === undefined ? 0 : 1} THEN ${fields.name ?? null} ELSE name END,
          email = CASE WHEN ${fields.email === undefined ? 0 : 1} THEN ${fields.email ?? null} ELSE email END,
          bio = CASE WHEN ${fields.bio === undefined ? 0 : 1} THEN ${fields.bio ?? null} ELSE bio END,
          updated_at = ${at}
        WHERE id = ${id}`.pipe(Effect.asVoid),
    revokeToken: (id: number) =>
      sql`UPDATE tokens SET revoked = 1 WHERE id = ${id}`.pipe(Effect.asVoid),
    insertSshKey: (row: Omit<SshKeyRow, "id">) =>
      sql<{ id: number }>`INSERT INTO ssh_keys (user_id, title, key, fingerprint, created_at)
        VALUES (${row.user_id}, ${row.title}, ${row.key}, ${row.fingerprint}, ${row.created_at})
        RETURNING id`.pipe(Effect.map((rows) => rows[0]!.id)),
    deleteSshKey: (id: number) => sql`DELETE FROM ssh_keys WHERE id = ${id}`.pipe(Effect.asVoid),
    setOrgRole: (orgId: number, userId: number, role: string | null) =>
      role === null
        ? Effect.zipRight(
            sql`DELETE FROM org_members WHERE org_id = ${orgId} AND user_id = ${userId}`,
            sql`DELETE FROM team_members WHERE user_id = ${userId}
                AND team_id IN (SELECT id FROM teams WHERE org_id = ${orgId})`,
          ).pipe(Effect.asVoid)
        : sql`INSERT INTO org_members (org_id, user_id, role) VALUES (${orgId}, ${userId}, ${role})
            ON CONFLICT (org_id, user_id) DO UPDATE SET role = excluded.role`.pipe(Effect.asVoid),
    insertTeam: (row: Omit<TeamRow, "id">) =>
      sql<{ id: number }>`INSERT INTO teams
          (org_id, slug, name, description, privacy, parent_id, permission, created_at)
        VALUES (${row.org_id}, ${row.slug}, ${row.name}, ${row.description}, ${row.privacy},
                ${row.parent_id}, ${row.permission}, ${row.created_at})
        RETURNING id`.pipe(Effect.map((rows) => rows[0]!.id)),
    deleteTeam: (id: number) =>
      Effect.all([
        sql`DELETE FROM team_members WHERE team_id = ${id}`,
        sql`DELETE FROM team_repos WHERE team_id = ${id}`,
        sql`UPDATE teams SET parent_id = NULL WHERE parent_id = ${id}`,
        sql`DELETE FROM teams WHERE id = ${id}`,
      ]).pipe(Effect.asVoid),
    setTeamRole: (teamId: number, userId: number, role: string | null) =>
      (role === null
        ? sql`DELETE FROM team_members WHERE team_id = ${teamId} AND user_id = ${userId}`
        : sql`INSERT INTO team_members (team_id, user_id, role) VALUES (${teamId}, ${userId}, ${role})
            ON CONFLICT (team_id, user_id) DO UPDATE SET role = excluded.role`
      ).pipe(Effect.asVoid),
    setTeamRepo: (teamId: number, repoId: number, permission: string | null) =>
      (permission === null
        ? sql`DELETE FROM team_repos WHERE team_id = ${teamId} AND repo_id = ${repoId}`
        : sql`INSERT INTO team_repos (team_id, repo_id, permission)
            VALUES (${teamId}, ${repoId}, ${permission})
            ON CONFLICT (team_id, repo_id) DO UPDATE SET permission = excluded.permission`
      ).pipe(Effect.asVoid),
    setCollaborator: (repoId: number, userId: number, permission: string | null) =>
      (permission === null
        ? sql`DELETE FROM collaborators WHERE repo_id = ${repoId} AND user_id = ${userId}`
        : sql`INSERT INTO collaborators (repo_id, user_id, permission)
            VALUES (${repoId}, ${userId}, ${permission})
            ON CONFLICT (repo_id, user_id) DO UPDATE SET permission = excluded.permission`
      ).pipe(Effect.asVoid),
    updateRepo: (
      id: number,
      f: {
        owner_id?: number
        owner_login?: string
        name?: string
        description?: string | null
        visibility?: string
        default_branch?: string
      },
      at: number,
    ) =>
      sql`UPDATE repos SET
          owner_id = COALESCE(${f.owner_id ?? null}, owner_id),
          owner_login = COALESCE(${f.owner_login ?? null}, owner_login),
          name = COALESCE(${f.name ?? null}, name),
          description = CASE WHEN ${f.description === undefined ? 0 : 1}
            THEN ${f.description ?? null} ELSE description END,
          visibility = COALESCE(${f.visibility ?? null}, visibility),
          private = CASE COALESCE(${f.visibility ?? null}, visibility)
            WHEN 'public' THEN 0 ELSE 1 END,
          default_branch = COALESCE(${f.default_branch ?? null}, default_branch),
          updated_at = ${at}
        WHERE id = ${id}`.pipe(Effect.asVoid),
    deleteRepo: (id: number) =>
      Effect.all([
        sql`DELETE FROM collaborators WHERE repo_id = ${id}`,
        sql`DELETE FROM team_repos WHERE repo_id = ${id}`,
        sql`DELETE FROM repo_redirects WHERE repo_id = ${id}`,
        sql`DELETE FROM branch_protection WHERE repo_id = ${id}`,
        sql`DELETE FROM repos WHERE id = ${id}`,
      ]).pipe(Effect.asVoid),
    addRedirect: (owner: string, name: string, repoId: number) =>
      sql`INSERT INTO repo_redirects (owner_login, name, repo_id) VALUES (${owner}, ${name}, ${repoId})
        ON CONFLICT (owner_login, name) DO UPDATE SET repo_id = excluded.repo_id`.pipe(
        Effect.asVoid,
      ),
    setProtection: (repoId: number, branch: string, rule: string | null) =>
      (rule === null
        ? sql`DELETE FROM branch_protection WHERE repo_id = ${repoId} AND branch = ${branch}`
        : sql`INSERT INTO branch_protection (repo_id, branch, rule) VALUES (${repoId}, ${branch}, ${rule})
            ON CONFLICT (repo_id, branch) DO UPDATE SET rule = excluded.rule`
      ).pipe(Effect.asVoid),
    insertDelivery: (row: DeliveryRow) =>
      sql`INSERT INTO hook_deliveries (guid, hook_id, event, action, payload, status, status_code,
          duration_ms, attempts, redelivery, delivered_at, response)
        VALUES (${row.guid}, ${row.hook_id}, ${row.event}, ${row.action}, ${row.payload},
          ${row.status}, ${row.status_code}, ${row.duration_ms}, ${row.attempts}, ${row.redelivery},
          ${row.delivered_at}, ${row.response})`.pipe(Effect.asVoid),
    updateDelivery: (guid: string, fields: Record<string, unknown>) => {
      const keys = Object.keys(fields)
      if (keys.length === 0) return Effect.void
      return sql
        .unsafe(
          `UPDATE hook_deliveries SET ${keys.map((k) => `${k} = ?`).join(", ")}
           WHERE guid = ? AND redelivery = (SELECT MAX(redelivery) FROM hook_deliveries WHERE guid = ?)`,
          [...keys.map((k) => fields[k] ?? null), guid, guid],
        )
        .pipe(Effect.asVoid)
    },
    deliveries: (hookId: number) =>
      sql<DeliveryRow>`SELECT * FROM hook_deliveries WHERE hook_id = ${hookId}
        ORDER BY delivered_at DESC, redelivery DESC`,
    delivery: (hookId: number, guid: string) =>
      sql<DeliveryRow>`SELECT * FROM hook_deliveries WHERE hook_id = ${hookId} AND guid = ${guid}
        ORDER BY redelivery DESC LIMIT 1`.pipe(Effect.map(one)),
    insertStatus: (row: Omit<StatusRow, "id">) =>
      sql<{ id: number }>`INSERT INTO statuses (repo_id, sha, state, context, description,
          target_url, creator_id, creator_login, created_at)
        VALUES (${row.repo_id}, ${row.sha}, ${row.state}, ${row.context}, ${row.description},
                ${row.target_url}, ${row.creator_id}, ${row.creator_login}, ${row.created_at})
        RETURNING id`.pipe(Effect.map((rows) => rows[0]!.id)),
    statusesOf: (repoId: number, sha: string) =>
      sql<StatusRow>`SELECT * FROM statuses WHERE repo_id = ${repoId} AND sha = ${sha}
        ORDER BY id DESC`,
    insertAudit: (row: Omit<AuditRow, "id">) =>
      sql`INSERT INTO audit_log
          (created_at, height, actor_id, actor_login, action, org_id, repo_id, repo, data)
        VALUES (${row.created_at}, ${row.height}, ${row.actor_id}, ${row.actor_login},
                ${row.action}, ${row.org_id}, ${row.repo_id}, ${row.repo}, ${row.data})`.pipe(
        Effect.asVoid,
      ),
  }
}
