/**
 * The collaboration tables in SQLite (see src/services/CollabTables.ts): schema, replicated
 * table list for the state digest, and queries. Spread into the Metadata service by
 * MetadataSqlite so that they share its connection and its per-block transaction.
 */
import type { SqlClient } from "@effect/sql"
import { Effect } from "effect"
import type {
  CollabTables,
  CommentRow,
  EventRow,
  IssueRow,
  LabelRow,
  MilestoneRow,
  PullRow,
  ReactionRow,
  ReviewCommentRow,
  ReviewRow,
  ReleaseRow,
  AssetRow,
  HookRow,
} from "../services/CollabTables.ts"

export const COLLAB_SCHEMA = [
  `CREATE TABLE IF NOT EXISTS issues (
     id INTEGER PRIMARY KEY, repo_id INTEGER NOT NULL, number INTEGER NOT NULL,
     title TEXT NOT NULL, body TEXT, state TEXT NOT NULL, state_reason TEXT,
     locked INTEGER NOT NULL DEFAULT 0, lock_reason TEXT, user_id INTEGER NOT NULL,
     user_login TEXT NOT NULL, milestone_id INTEGER, comments INTEGER NOT NULL DEFAULT 0,
     is_pull INTEGER NOT NULL DEFAULT 0, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL,
     closed_at INTEGER, closed_by_id INTEGER, closed_by_login TEXT, UNIQUE (repo_id, number))`,
  `CREATE TABLE IF NOT EXISTS issue_assignees (
     issue_id INTEGER NOT NULL, user_id INTEGER NOT NULL, login TEXT NOT NULL,
     PRIMARY KEY (issue_id, user_id))`,
  `CREATE TABLE IF NOT EXISTS labels (
     id INTEGER PRIMARY KEY, repo_id INTEGER NOT NULL, name TEXT NOT NULL COLLATE NOCASE,
     color TEXT NOT NULL, description TEXT, UNIQUE (repo_id, name))`,
  `CREATE TABLE IF NOT EXISTS issue_labels (
     issue_id INTEGER NOT NULL, label_id INTEGER NOT NULL, PRIMARY KEY (issue_id, label_id))`,
  `CREATE TABLE IF NOT EXISTS issue_comments (
     id INTEGER PRIMARY KEY, issue_id INTEGER NOT NULL, repo_id INTEGER NOT NULL,
     user_id INTEGER NOT NULL, user_login TEXT NOT NULL, body TEXT NOT NULL,
     created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL)`,
  `CREATE INDEX IF NOT EXISTS issue_comments_by_issue ON issue_comments (issue_id, id)`,
  `CREATE TABLE IF NOT EXISTS milestones (
     id INTEGER PRIMARY KEY, repo_id INTEGER NOT NULL, number INTEGER NOT NULL,
     title TEXT NOT NULL, description TEXT, state TEXT NOT NULL, due_on INTEGER,
     creator_id INTEGER NOT NULL, creator_login TEXT NOT NULL, created_at INTEGER NOT NULL,
     updated_at INTEGER NOT NULL, closed_at INTEGER, UNIQUE (repo_id, number))`,
  `CREATE TABLE IF NOT EXISTS reactions (
     id INTEGER PRIMARY KEY, subject TEXT NOT NULL, subject_id INTEGER NOT NULL,
     user_id INTEGER NOT NULL, user_login TEXT NOT NULL, content TEXT NOT NULL,
     created_at INTEGER NOT NULL, UNIQUE (subject, subject_id, user_id, content))`,
  `CREATE TABLE IF NOT EXISTS issue_events (
     id INTEGER PRIMARY KEY, issue_id INTEGER NOT NULL, actor_id INTEGER NOT NULL,
     actor_login TEXT NOT NULL, event TEXT NOT NULL, data TEXT NOT NULL,
     created_at INTEGER NOT NULL)`,
  `CREATE INDEX IF NOT EXISTS issue_events_by_issue ON issue_events (issue_id, id)`,
  `CREATE TABLE IF NOT EXISTS pulls (
     issue_id INTEGER PRIMARY KEY, repo_id INTEGER NOT NULL, number INTEGER NOT NULL,
     head_repo_id INTEGER NOT NULL, head_ref TEXT NOT NULL, head_sha TEXT NOT NULL,
     base_ref TEXT NOT NULL, base_sha TEXT NOT NULL, draft INTEGER NOT NULL,
     merged INTEGER NOT NULL DEFAULT 0, merged_at INTEGER, merged_by_id INTEGER,
     merged_by_login TEXT, merge_commit_sha TEXT, UNIQUE (repo_id, number))`,
  `CREATE TABLE IF NOT EXISTS reviews (
     id INTEGER PRIMARY KEY, issue_id INTEGER NOT NULL, user_id INTEGER NOT NULL,
     user_login TEXT NOT NULL, state TEXT NOT NULL, body TEXT, commit_id TEXT NOT NULL,
     submitted_at INTEGER)`,
  `CREATE TABLE IF NOT EXISTS review_comments (
     id INTEGER PRIMARY KEY, issue_id INTEGER NOT NULL, review_id INTEGER,
     user_id INTEGER NOT NULL, user_login TEXT NOT NULL, path TEXT NOT NULL,
     line INTEGER NOT NULL, side TEXT NOT NULL, commit_id TEXT NOT NULL, body TEXT NOT NULL,
     in_reply_to INTEGER, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL)`,
  `CREATE TABLE IF NOT EXISTS releases (
     id INTEGER PRIMARY KEY, repo_id INTEGER NOT NULL, tag_name TEXT NOT NULL,
     target_commitish TEXT NOT NULL, name TEXT, body TEXT, draft INTEGER NOT NULL,
     prerelease INTEGER NOT NULL, author_id INTEGER NOT NULL, author_login TEXT NOT NULL,
     created_at INTEGER NOT NULL, published_at INTEGER)`,
  `CREATE TABLE IF NOT EXISTS release_assets (
     id INTEGER PRIMARY KEY, release_id INTEGER NOT NULL, name TEXT NOT NULL, label TEXT,
     content_type TEXT NOT NULL, size INTEGER NOT NULL, blob TEXT NOT NULL,
     uploader_id INTEGER NOT NULL, uploader_login TEXT NOT NULL, created_at INTEGER NOT NULL,
     updated_at INTEGER NOT NULL, UNIQUE (release_id, name))`,
  `CREATE TABLE IF NOT EXISTS hooks (
     id INTEGER PRIMARY KEY, repo_id INTEGER, org_id INTEGER, url TEXT NOT NULL,
     content_type TEXT NOT NULL, secret TEXT, events TEXT NOT NULL, active INTEGER NOT NULL,
     created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL)`,
  `CREATE TABLE IF NOT EXISTS review_team_requests (
     issue_id INTEGER NOT NULL, team_id INTEGER NOT NULL, slug TEXT NOT NULL,
     PRIMARY KEY (issue_id, team_id))`,
  `CREATE TABLE IF NOT EXISTS review_requests (
     issue_id INTEGER NOT NULL, user_id INTEGER NOT NULL, login TEXT NOT NULL,
     PRIMARY KEY (issue_id, user_id))`,
]

export const COLLAB_REPLICATED: ReadonlyArray<readonly [string, string]> = [
  ["issues", "id"],
  ["issue_assignees", "issue_id, user_id"],
  ["labels", "id"],
  ["issue_labels", "issue_id, label_id"],
  ["issue_comments", "id"],
  ["milestones", "id"],
  ["reactions", "id"],
  ["issue_events", "id"],
  ["pulls", "issue_id"],
  ["reviews", "id"],
  ["review_comments", "id"],
  ["review_requests", "issue_id, user_id"],
  ["review_team_requests", "issue_id, team_id"],
  ["releases", "id"],
  ["release_assets", "id"],
  ["hooks", "id"],
]

const MILESTONE_COUNTS = `(SELECT count(*) FROM issues i WHERE i.milestone_id = m.id AND i.state = 'open') AS open_issues,
  (SELECT count(*) FROM issues i WHERE i.milestone_id = m.id AND i.state = 'closed') AS closed_issues`

type MilestoneWithCounts = MilestoneRow & { open_issues: number; closed_issues: number }

export const collabTables = (sql: SqlClient.SqlClient): CollabTables => {
  const one = <A>(rows: ReadonlyArray<A>) => rows[0]
  const ISSUE_COLUMNS = [
    "title",
    "body",
    "state",
    "state_reason",
    "locked",
    "lock_reason",
    "milestone_id",
    "is_pull",
    "created_at",
    "updated_at",
    "closed_at",
    "closed_by_id",
    "closed_by_login",
  ] as const
  return {
    issueByNumber: (repoId, number) =>
      sql<IssueRow>`SELECT * FROM issues WHERE repo_id = ${repoId} AND number = ${number}`.pipe(
        Effect.map(one),
      ),
    issueById: (id) => sql<IssueRow>`SELECT * FROM issues WHERE id = ${id}`.pipe(Effect.map(one)),
    issues: (f) =>
      Effect.gen(function* () {
        const where: string[] = ["i.repo_id = ?"]
        const params: unknown[] = [f.repoId]
        if (f.state !== "all") {
          where.push("i.state = ?")
          params.push(f.state)
        }
        if (f.pulls !== undefined) {
          where.push("i.is_pull = ?")
          params.push(f.pulls ? 1 : 0)
        }
        if (f.maxNumber !== undefined) {
          where.push("i.number <= ?")
          params.push(f.maxNumber)
        }
        if (f.since !== undefined) {
          where.push("i.updated_at >= ?")
          params.push(f.since)
        }
        if (f.creator !== undefined) {
          where.push("i.user_login = ? COLLATE NOCASE")
          params.push(f.creator)
        }
        if (f.assignee === "none")
          where.push("NOT EXISTS (SELECT 1 FROM issue_assignees a WHERE a.issue_id = i.id)")
        else if (f.assignee === "*")
          where.push("EXISTS (SELECT 1 FROM issue_assignees a WHERE a.issue_id = i.id)")
        else if (f.assignee !== undefined) {
          where.push(
            "EXISTS (SELECT 1 FROM issue_assignees a WHERE a.issue_id = i.id AND a.login = ? COLLATE NOCASE)",
          )
          params.push(f.assignee)
        }
        if (f.milestone === "none") where.push("i.milestone_id IS NULL")
        else if (f.milestone === "*") where.push("i.milestone_id IS NOT NULL")
        else if (f.milestone !== undefined) {
          where.push(
            "i.milestone_id = (SELECT id FROM milestones WHERE repo_id = i.repo_id AND number = ?)",
          )
          params.push(f.milestone)
        }
        for (const label of f.labels ?? []) {
          where.push(
            "EXISTS (SELECT 1 FROM issue_labels x JOIN labels l ON l.id = x.label_id WHERE x.issue_id = i.id AND l.name = ? COLLATE NOCASE)",
          )
          params.push(label)
        }
        const column =
          f.sort === "updated"
            ? "i.updated_at"
            : f.sort === "comments"
              ? "i.comments"
              : "i.created_at"
        const dir = f.direction === "asc" ? "ASC" : "DESC"
        const clause = where.join(" AND ")
        const total = yield* sql.unsafe<{ n: number }>(
          `SELECT count(*) AS n FROM issues i WHERE ${clause}`,
          params,
        )
        const rows = yield* sql.unsafe<IssueRow>(
          `SELECT i.* FROM issues i WHERE ${clause} ORDER BY ${column} ${dir}, i.number ${dir} LIMIT ? OFFSET ?`,
          [...params, f.limit, f.offset],
        )
        return { rows, total: total[0]?.n ?? 0 }
      }),
    maxIssueNumber: (repoId) =>
      sql<{
        n: number
      }>`SELECT COALESCE(MAX(number), 0) AS n FROM issues WHERE repo_id = ${repoId}`.pipe(
        Effect.map((rows) => rows[0]!.n),
      ),
    assigneesOf: (issueId) =>
      sql<{ user_id: number; login: string }>`SELECT user_id, login FROM issue_assignees
        WHERE issue_id = ${issueId} ORDER BY login`,
    labelsOf: (issueId) =>
      sql<LabelRow>`SELECT l.* FROM issue_labels x JOIN labels l ON l.id = x.label_id
        WHERE x.issue_id = ${issueId} ORDER BY l.name`,
    issueExtras: (ids) =>
      Effect.gen(function* () {
        if (ids.length === 0) return { labels: [], assignees: [], reactions: [] }
        const marks = ids.map(() => "?").join(",")
        const labels = yield* sql.unsafe<LabelRow & { issue_id: number }>(
          `SELECT l.*, x.issue_id FROM issue_labels x JOIN labels l ON l.id = x.label_id
           WHERE x.issue_id IN (${marks}) ORDER BY l.name`,
          [...ids],
        )
        const assignees = yield* sql.unsafe<{ issue_id: number; user_id: number; login: string }>(
          `SELECT issue_id, user_id, login FROM issue_assignees WHERE issue_id IN (${marks})
           ORDER BY login`,
          [...ids],
        )
        const reactions = yield* sql.unsafe<ReactionRow>(
          `SELECT * FROM reactions WHERE subject = 'issue' AND subject_id IN (${marks}) ORDER BY id`,
          [...ids],
        )
        return { labels, assignees, reactions }
      }),
    comments: (issueId, since) =>
      sql<CommentRow>`SELECT * FROM issue_comments WHERE issue_id = ${issueId}
        AND updated_at >= ${since ?? 0} ORDER BY id`,
    commentById: (id) =>
      sql<CommentRow>`SELECT * FROM issue_comments WHERE id = ${id}`.pipe(Effect.map(one)),
    repoComments: (repoId) =>
      sql<CommentRow>`SELECT * FROM issue_comments WHERE repo_id = ${repoId} ORDER BY id`,
    labels: (repoId) => sql<LabelRow>`SELECT * FROM labels WHERE repo_id = ${repoId} ORDER BY name`,
    labelByName: (repoId, name) =>
      sql<LabelRow>`SELECT * FROM labels WHERE repo_id = ${repoId} AND name = ${name}`.pipe(
        Effect.map(one),
      ),
    milestones: (repoId, state) =>
      sql.unsafe<MilestoneWithCounts>(
        `SELECT m.*, ${MILESTONE_COUNTS} FROM milestones m WHERE m.repo_id = ?
         ${state === "all" ? "" : "AND m.state = ?"} ORDER BY m.number`,
        state === "all" ? [repoId] : [repoId, state],
      ),
    milestoneByNumber: (repoId, number) =>
      sql
        .unsafe<MilestoneWithCounts>(
          `SELECT m.*, ${MILESTONE_COUNTS} FROM milestones m WHERE m.repo_id = ? AND m.number = ?`,
          [repoId, number],
        )
        .pipe(Effect.map(one)),
    milestoneById: (id) =>
      sql
        .unsafe<MilestoneWithCounts>(
          `SELECT m.*, ${MILESTONE_COUNTS} FROM milestones m WHERE m.id = ?`,
          [id],
        )
        .pipe(Effect.map(one)),
    reactionsOf: (subject, id) =>
      sql<ReactionRow>`SELECT * FROM reactions WHERE subject = ${subject} AND subject_id = ${id}
        ORDER BY id`,
    events: (issueId) =>
      sql<EventRow>`SELECT * FROM issue_events WHERE issue_id = ${issueId} ORDER BY id`,

    insertIssue: (row) =>
      sql<{ id: number }>`INSERT INTO issues (repo_id, number, title, body, state, state_reason,
          locked, lock_reason, user_id, user_login, milestone_id, is_pull, created_at, updated_at,
          closed_at, closed_by_id, closed_by_login)
        VALUES (${row.repo_id}, ${row.number}, ${row.title}, ${row.body}, ${row.state},
          ${row.state_reason}, ${row.locked}, ${row.lock_reason}, ${row.user_id}, ${row.user_login},
          ${row.milestone_id}, ${row.is_pull}, ${row.created_at}, ${row.updated_at},
          ${row.closed_at}, ${row.closed_by_id}, ${row.closed_by_login})
        RETURNING id`.pipe(Effect.map((rows) => rows[0]!.id)),
    updateIssue: (id, fields) => {
      const keys = ISSUE_COLUMNS.filter((k) => k in fields)
      if (keys.length === 0) return Effect.void
      return sql
        .unsafe(`UPDATE issues SET ${keys.map((k) => `${k} = ?`).join(", ")} WHERE id = ?`, [
          ...keys.map((k) => (fields as Record<string, unknown>)[k] ?? null),
          id,
        ])
        .pipe(Effect.asVoid)
    },
    setAssignees: (issueId, users) =>
      Effect.gen(function* () {
        yield* sql`DELETE FROM issue_assignees WHERE issue_id = ${issueId}`
        for (const u of users)
          yield* sql`INSERT INTO issue_assignees (issue_id, user_id, login)
            VALUES (${issueId}, ${u.id}, ${u.login})`
      }),
    setIssueLabels: (issueId, labelIds) =>
      Effect.gen(function* () {
        yield* sql`DELETE FROM issue_labels WHERE issue_id = ${issueId}`
        for (const l of new Set(labelIds))
          yield* sql`INSERT INTO issue_labels (issue_id, label_id) VALUES (${issueId}, ${l})`
      }),
    insertComment: (row) =>
      Effect.gen(function* () {
        const rows = yield* sql<{ id: number }>`INSERT INTO issue_comments
            (issue_id, repo_id, user_id, user_login, body, created_at, updated_at)
          VALUES (${row.issue_id}, ${row.repo_id}, ${row.user_id}, ${row.user_login}, ${row.body},
            ${row.created_at}, ${row.updated_at})
          RETURNING id`
        yield* sql`UPDATE issues SET comments = comments + 1, updated_at = ${row.created_at}
          WHERE id = ${row.issue_id}`
        return rows[0]!.id
      }),
    updateComment: (id, body, at) =>
      sql`UPDATE issue_comments SET body = ${body}, updated_at = ${at} WHERE id = ${id}`.pipe(
        Effect.asVoid,
      ),
    deleteComment: (id) =>
      Effect.gen(function* () {
        yield* sql`UPDATE issues SET comments = comments - 1
          WHERE id = (SELECT issue_id FROM issue_comments WHERE id = ${id})`
        yield* sql`DELETE FROM reactions WHERE subject = 'comment' AND subject_id = ${id}`
        yield* sql`DELETE FROM issue_comments WHERE id = ${id}`
      }),
    insertLabel: (row) =>
      sql<{ id: number }>`INSERT INTO labels (repo_id, name, color, description)
        VALUES (${row.repo_id}, ${row.name}, ${row.color}, ${row.description})
        RETURNING id`.pipe(Effect.map((rows) => rows[0]!.id)),
    updateLabel: (id, f) =>
      sql`UPDATE labels SET name = COALESCE(${f.name ?? null}, name),
          color = COALESCE(${f.color ?? null}, color),
          description = CASE WHEN ${f.description === undefined ? 0 : 1}
            THEN ${f.description ?? null} ELSE description END
        WHERE id = ${id}`.pipe(Effect.asVoid),
    deleteLabel: (id) =>
      Effect.zipRight(
        sql`DELETE FROM issue_labels WHERE label_id = ${id}`,
        sql`DELETE FROM labels WHERE id = ${id}`,
      ).pipe(Effect.asVoid),
    insertMilestone: (row) =>
      sql<{ id: number }>`INSERT INTO milestones (repo_id, number, title, description, state,
          due_on, creator_id, creator_login, created_at, updated_at, closed_at)
        VALUES (${row.repo_id}, ${row.number}, ${row.title}, ${row.description}, ${row.state},
          ${row.due_on}, ${row.creator_id}, ${row.creator_login}, ${row.created_at},
          ${row.updated_at}, ${row.closed_at})
        RETURNING id`.pipe(Effect.map((rows) => rows[0]!.id)),
    updateMilestone: (id, fields) => {
      const keys = (
        ["title", "description", "state", "due_on", "updated_at", "closed_at"] as const
      ).filter((k) => k in fields)
      if (keys.length === 0) return Effect.void
      return sql
        .unsafe(`UPDATE milestones SET ${keys.map((k) => `${k} = ?`).join(", ")} WHERE id = ?`, [
          ...keys.map((k) => (fields as Record<string, unknown>)[k] ?? null),
          id,
        ])
        .pipe(Effect.asVoid)
    },
    deleteMilestone: (id) =>
      Effect.zipRight(
        sql`UPDATE issues SET milestone_id = NULL WHERE milestone_id = ${id}`,
        sql`DELETE FROM milestones WHERE id = ${id}`,
      ).pipe(Effect.asVoid),
    insertReaction: (row) =>
      sql<{ id: number }>`INSERT INTO reactions (subject, subject_id, user_id, user_login, content,
          created_at)
        VALUES (${row.subject}, ${row.subject_id}, ${row.user_id}, ${row.user_login},
          ${row.content}, ${row.created_at})
        ON CONFLICT (subject, subject_id, user_id, content) DO UPDATE SET content = excluded.content
        RETURNING id`.pipe(Effect.map((rows) => rows[0]!.id)),
    deleteReaction: (id) => sql`DELETE FROM reactions WHERE id = ${id}`.pipe(Effect.asVoid),
    pullByNumber: (repoId, number) =>
      sql<PullRow>`SELECT * FROM pulls WHERE repo_id = ${repoId} AND number = ${number}`.pipe(
        Effect.map(one),
      ),
    pullsWithHead: (headRepoId, ref, all = false) =>
      sql<PullRow>`SELECT p.* FROM pulls p JOIN issues i ON i.id = p.issue_id
        WHERE p.head_repo_id = ${headRepoId} AND p.head_ref = ${ref}
          AND (${all ? 1 : 0} = 1 OR i.state = 'open')
        ORDER BY p.issue_id`,
    insertPull: (row) =>
      sql`INSERT INTO pulls (issue_id, repo_id, number, head_repo_id, head_ref, head_sha, base_ref,
          base_sha, draft, merged, merged_at, merged_by_id, merged_by_login, merge_commit_sha)
        VALUES (${row.issue_id}, ${row.repo_id}, ${row.number}, ${row.head_repo_id},
          ${row.head_ref}, ${row.head_sha}, ${row.base_ref}, ${row.base_sha}, ${row.draft},
          ${row.merged}, ${row.merged_at}, ${row.merged_by_id}, ${row.merged_by_login},
          ${row.merge_commit_sha})`.pipe(Effect.asVoid),
    updatePull: (issueId, fields) => {
      const keys = Object.keys(fields)
      if (keys.length === 0) return Effect.void
      return sql
        .unsafe(`UPDATE pulls SET ${keys.map((k) => `${k} = ?`).join(", ")} WHERE issue_id = ?`, [
          ...keys.map((k) => (fields as Record<string, unknown>)[k] ?? null),
          issueId,
        ])
        .pipe(Effect.asVoid)
    },
    reviews: (issueId) =>
      sql<ReviewRow>`SELECT * FROM reviews WHERE issue_id = ${issueId} ORDER BY id`,
    reviewById: (id) =>
      sql<ReviewRow>`SELECT * FROM reviews WHERE id = ${id}`.pipe(Effect.map(one)),
    insertReview: (row) =>
      sql<{ id: number }>`INSERT INTO reviews (issue_id, user_id, user_login, state, body,
          commit_id, submitted_at)
        VALUES (${row.issue_id}, ${row.user_id}, ${row.user_login}, ${row.state}, ${row.body},
          ${row.commit_id}, ${row.submitted_at})
        RETURNING id`.pipe(Effect.map((rows) => rows[0]!.id)),
    updateReview: (id, fields) => {
      const keys = Object.keys(fields)
      if (keys.length === 0) return Effect.void
      return sql
        .unsafe(`UPDATE reviews SET ${keys.map((k) => `${k} = ?`).join(", ")} WHERE id = ?`, [
          ...keys.map((k) => (fields as Record<string, unknown>)[k] ?? null),
          id,
        ])
        .pipe(Effect.asVoid)
    },
    reviewComments: (issueId) =>
      sql<ReviewCommentRow>`SELECT * FROM review_comments WHERE issue_id = ${issueId} ORDER BY id`,
    reviewCommentById: (id) =>
      sql<ReviewCommentRow>`SELECT * FROM review_comments WHERE id = ${id}`.pipe(Effect.map(one)),
    insertReviewComment: (row) =>
      sql<{ id: number }>`INSERT INTO review_comments (issue_id, review_id, user_id, user_login,
          path, line, side, commit_id, body, in_reply_to, created_at, updated_at)
        VALUES (${row.issue_id}, ${row.review_id}, ${row.user_id}, ${row.user_login}, ${row.path},
          ${row.line}, ${row.side}, ${row.commit_id}, ${row.body}, ${row.in_reply_to},
          ${row.created_at}, ${row.updated_at})
        RETURNING id`.pipe(Effect.map((rows) => rows[0]!.id)),
    hooksOf: (t) =>
      t.repoId !== undefined
        ? sql<HookRow>`SELECT * FROM hooks WHERE repo_id = ${t.repoId} ORDER BY id`
        : sql<HookRow>`SELECT * FROM hooks WHERE org_id = ${t.orgId ?? -1} ORDER BY id`,
    hookById: (id) => sql<HookRow>`SELECT * FROM hooks WHERE id = ${id}`.pipe(Effect.map(one)),
    insertHook: (row) =>
      sql<{ id: number }>`INSERT INTO hooks (repo_id, org_id, url, content_type, secret, events,
          active, created_at, updated_at)
        VALUES (${row.repo_id}, ${row.org_id}, ${row.url}, ${row.content_type}, ${row.secret},
          ${row.events}, ${row.active}, ${row.created_at}, ${row.updated_at})
        RETURNING id`.pipe(Effect.map((rows) => rows[0]!.id)),
    updateHook: (id, fields) => {
      const keys = Object.keys(fields)
      if (keys.length === 0) return Effect.void
      return sql
        .unsafe(`UPDATE hooks SET ${keys.map((k) => `${k} = ?`).join(", ")} WHERE id = ?`, [
          ...keys.map((k) => (fields as Record<string, unknown>)[k] ?? null),
          id,
        ])
        .pipe(Effect.asVoid)
    },
    deleteHook: (id) => sql`DELETE FROM hooks WHERE id = ${id}`.pipe(Effect.asVoid),
    releases: (repoId) =>
      sql<ReleaseRow>`SELECT * FROM releases WHERE repo_id = ${repoId}
        ORDER BY COALESCE(published_at, created_at) DESC, id DESC`,
    releaseById: (id) =>
      sql<ReleaseRow>`SELECT * FROM releases WHERE id = ${id}`.pipe(Effect.map(one)),
    insertRelease: (row) =>
      sql<{ id: number }>`INSERT INTO releases (repo_id, tag_name, target_commitish, name, body,
          draft, prerelease, author_id, author_login, created_at, published_at)
        VALUES (${row.repo_id}, ${row.tag_name}, ${row.target_commitish}, ${row.name}, ${row.body},
          ${row.draft}, ${row.prerelease}, ${row.author_id}, ${row.author_login},
          ${row.created_at}, ${row.published_at})
        RETURNING id`.pipe(Effect.map((rows) => rows[0]!.id)),
    updateRelease: (id, fields) => {
      const keys = Object.keys(fields)
      if (keys.length === 0) return Effect.void
      return sql
        .unsafe(`UPDATE releases SET ${keys.map((k) => `${k} = ?`).join(", ")} WHERE id = ?`, [
          ...keys.map((k) => (fields as Record<string, unknown>)[k] ?? null),
          id,
        ])
        .pipe(Effect.asVoid)
    },
    deleteRelease: (id) =>
      Effect.zipRight(
        sql`DELETE FROM release_assets WHERE release_id = ${id}`,
        sql`DELETE FROM releases WHERE id = ${id}`,
      ).pipe(Effect.asVoid),
    assets: (releaseId) =>
      sql<AssetRow>`SELECT * FROM release_assets WHERE release_id = ${releaseId} ORDER BY id`,
    assetById: (id) =>
      sql<AssetRow>`SELECT * FROM release_assets WHERE id = ${id}`.pipe(Effect.map(one)),
    insertAsset: (row) =>
      sql<{ id: number }>`INSERT INTO release_assets (release_id, name, label, content_type, size,
          blob, uploader_id, uploader_login, created_at, updated_at)
        VALUES (${row.release_id}, ${row.name}, ${row.label}, ${row.content_type}, ${row.size},
          ${row.blob}, ${row.uploader_id}, ${row.uploader_login}, ${row.created_at},
          ${row.updated_at})
        RETURNING id`.pipe(Effect.map((rows) => rows[0]!.id)),
    updateAsset: (id, fields) => {
      const keys = Object.keys(fields)
      if (keys.length === 0) return Effect.void
      return sql
        .unsafe(
          `UPDATE release_assets SET ${keys.map((k) => `${k} = ?`).join(", ")} WHERE id = ?`,
          [...keys.map((k) => (fields as Record<string, unknown>)[k] ?? null), id],
        )
        .pipe(Effect.asVoid)
    },
    deleteAsset: (id) => sql`DELETE FROM release_assets WHERE id = ${id}`.pipe(Effect.asVoid),
    teamReviewRequests: (issueId) =>
      sql<{ team_id: number; slug: string }>`SELECT team_id, slug FROM review_team_requests
        WHERE issue_id = ${issueId} ORDER BY slug`,
    setTeamReviewRequest: (issueId, team, requested) =>
      (requested
        ? sql`INSERT OR IGNORE INTO review_team_requests (issue_id, team_id, slug)
            VALUES (${issueId}, ${team.id}, ${team.slug})`
        : sql`DELETE FROM review_team_requests WHERE issue_id = ${issueId} AND team_id = ${team.id}`
      ).pipe(Effect.asVoid),
    reviewRequests: (issueId) =>
      sql<{ user_id: number; login: string }>`SELECT user_id, login FROM review_requests
        WHERE issue_id = ${issueId} ORDER BY login`,
    setReviewRequest: (issueId, user, requested) =>
      (requested
        ? sql`INSERT OR IGNORE INTO review_requests (issue_id, user_id, login)
            VALUES (${issueId}, ${user.id}, ${user.login})`
        : sql`DELETE FROM review_requests WHERE issue_id = ${issueId} AND user_id = ${user.id}`
      ).pipe(Effect.asVoid),
    insertEvent: (row) =>
      sql`INSERT INTO issue_events (issue_id, actor_id, actor_login, event, data, created_at)
        VALUES (${row.issue_id}, ${row.actor_id}, ${row.actor_login}, ${row.event}, ${row.data},
          ${row.created_at})`.pipe(Effect.asVoid),
  }
}
