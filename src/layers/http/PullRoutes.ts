/**
 * Pull requests, reviews, review comments, requested reviewers, forks and ref deletion:
 * GitHub's REST paths and shapes. `GET /pulls/{n}` answers the diff or the patch when asked
 * with `Accept: application/vnd.github.diff` / `.patch`, as GitHub does.
 */
import { Effect } from "effect"
import { type Signature, textString } from "../../domain/git/GitObject.ts"
import type { FileDiff } from "../../domain/git/UnifiedDiff.ts"
import type { ReviewCommentRow, ReviewRow } from "../../services/CollabTables.ts"
import type { RepoRow } from "../../services/Metadata.ts"
import { Pulls } from "../../services/Pulls.ts"
import {
  base,
  type Body,
  field,
  intParam,
  jsonObject,
  linkHeader,
  noContent,
  pageParams,
  presentRepo,
  principalOf,
  type R,
  requirePrincipal,
  route,
  send,
} from "./ApiKit.ts"
import { unprocessable } from "./HttpErrors.ts"
import type { HttpContext, Route } from "./HttpServer.ts"
import { issueJson, userJson } from "./Presenters.ts"

const P = "/repos/:owner/:repo"
const own = (ctx: HttpContext) => [ctx.params.owner!, ctx.params.repo!] as const
const iso = (ms: number | null) =>
  ms === null ? null : new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z")
const person = (b: string, id: number, login: string) => userJson(b, { id, login, site_admin: 0 })

type Details = Effect.Effect.Success<ReturnType<Pulls["Type"]["get"]>>

const pullJson = (ctx: HttpContext, b: string, d: Details) =>
  Effect.gen(function* () {
    const repo = d.repo
    const repoUrl = `${b}/api/repos/${repo.owner_login}/${repo.name}`
    const issue = issueJson(b, repo, d)
    const url = `${repoUrl}/pulls/${d.pull.number}`
    const end = (r: RepoRow, ref: string, sha: string) =>
      Effect.map(presentRepo(ctx, r, undefined), (json) => ({
        label: `${r.owner_login}:${ref}`,
        ref,
        sha,
        user: person(b, r.owner_id, r.owner_login),
        repo: json ?? null,
      }))
    return {
      url,
      id: d.issue.id,
      node_id: issue.node_id,
      html_url: `${b}/${repo.owner_login}/${repo.name}/pull/${d.pull.number}`,
      diff_url: `${b}/${repo.owner_login}/${repo.name}/pull/${d.pull.number}.diff`,
      patch_url: `${b}/${repo.owner_login}/${repo.name}/pull/${d.pull.number}.patch`,
      issue_url: issue.url,
      commits_url: `${url}/commits`,
      review_comments_url: `${url}/comments`,
      review_comment_url: `${repoUrl}/pulls/comments{/number}`,
      comments_url: issue.comments_url,
      statuses_url: `${repoUrl}/statuses/${d.headSha}`,
      number: d.pull.number,
      state: d.issue.state,
      locked: issue.locked,
      title: issue.title,
      user: issue.user,
      body: issue.body,
      labels: issue.labels,
      milestone: issue.milestone,
      active_lock_reason: issue.active_lock_reason,
      created_at: issue.created_at,
      updated_at: issue.updated_at,
      closed_at: issue.closed_at,
      merged_at: iso(d.pull.merged_at),
      auto_merge: null,
      _links: {
        self: { href: url },
        html: { href: `${b}/${repo.owner_login}/${repo.name}/pull/${d.pull.number}` },
        issue: { href: issue.url },
        comments: { href: issue.comments_url },
        review_comments: { href: `${url}/comments` },
        review_comment: { href: `${repoUrl}/pulls/comments{/number}` },
        commits: { href: `${url}/commits` },
        statuses: { href: `${repoUrl}/statuses/${d.headSha}` },
      },
      merge_commit_sha: d.pull.merge_commit_sha,
      assignee: issue.assignee,
      assignees: issue.assignees,
      requested_reviewers: d.requested.map((u) => person(b, u.user_id, u.login)),
      requested_teams: d.requestedTeams.map((t) => ({ id: t.team_id, slug: t.slug, name: t.slug })),
      head: yield* end(d.headRepo, d.pull.head_ref, d.headSha),
      base: yield* end(repo, d.pull.base_ref, d.baseSha),
      author_association: "NONE",
      draft: d.pull.draft === 1,
      merged: d.pull.merged === 1,
      mergeable: d.merge.mergeable,
      rebaseable: d.merge.mergeable,
      mergeable_state: d.merge.state,
      /** Guts: the paths a merge would conflict on (GitHub shows these only on its web page). */
      conflicting_files: d.merge.conflicts,
      merged_by:
        d.pull.merged_by_id !== null
          ? person(b, d.pull.merged_by_id, d.pull.merged_by_login!)
          : null,
      comments: d.issue.comments,
      review_comments: d.reviewComments,
      maintainer_can_modify: false,
      commits: d.commits,
      additions: d.additions,
      deletions: d.deletions,
      changed_files: d.changedFiles,
    }
  })

const sig = (s: Signature) => ({
  name: textString(s.name),
  email: textString(s.email),
  date: new Date(s.timestamp * 1000).toISOString().replace(/\.\d{3}Z$/, "Z"),
})

const fileJson = (b: string, repo: RepoRow, head: string, f: FileDiff) => ({
  sha: f.newId ?? f.oldId ?? null,
  filename: f.filename,
  status: f.status,
  additions: f.additions,
  deletions: f.deletions,
  changes: f.changes,
  blob_url: `${b}/${repo.owner_login}/${repo.name}/blob/${head}/${f.filename}`,
  raw_url: `${b}/${repo.owner_login}/${repo.name}/raw/${head}/${f.filename}`,
  contents_url: `${b}/api/repos/${repo.owner_login}/${repo.name}/contents/${f.filename}?ref=${head}`,
  ...(f.patch !== undefined ? { patch: f.patch } : {}),
})

const reviewJson = (b: string, repo: RepoRow, number: number, r: ReviewRow) => ({
  id: r.id,
  node_id: Buffer.from(`PullRequestReview:${r.id}`).toString("base64"),
  user: person(b, r.user_id, r.user_login),
  body: r.body ?? "",
  state: r.state,
  html_url: `${b}/${repo.owner_login}/${repo.name}/pull/${number}#pullrequestreview-${r.id}`,
  pull_request_url: `${b}/api/repos/${repo.owner_login}/${repo.name}/pulls/${number}`,
  submitted_at: iso(r.submitted_at),
  commit_id: r.commit_id,
  author_association: "NONE",
  _links: {
    html: {
      href: `${b}/${repo.owner_login}/${repo.name}/pull/${number}#pullrequestreview-${r.id}`,
    },
    pull_request: { href: `${b}/api/repos/${repo.owner_login}/${repo.name}/pulls/${number}` },
  },
})

const reviewCommentJson = (b: string, repo: RepoRow, number: number, c: ReviewCommentRow) => ({
  id: c.id,
  node_id: Buffer.from(`PullRequestReviewComment:${c.id}`).toString("base64"),
  url: `${b}/api/repos/${repo.owner_login}/${repo.name}/pulls/comments/${c.id}`,
  pull_request_review_id: c.review_id,
  path: c.path,
  line: c.line,
  side: c.side,
  original_line: c.line,
  commit_id: c.commit_id,
  original_commit_id: c.commit_id,
  in_reply_to_id: c.in_reply_to ?? undefined,
  user: person(b, c.user_id, c.user_login),
  body: c.body,
  created_at: iso(c.created_at),
  updated_at: iso(c.updated_at),
  html_url: `${b}/${repo.owner_login}/${repo.name}/pull/${number}#discussion_r${c.id}`,
  pull_request_url: `${b}/api/repos/${repo.owner_login}/${repo.name}/pulls/${number}`,
  author_association: "NONE",
})

const stringList = (b: Body, resource: string, name: string) =>
  Effect.gen(function* () {
    const v = (yield* field<unknown[]>(b, resource, name, "array")) ?? []
    if (!v.every((x) => typeof x === "string"))
      return yield* unprocessable(`Invalid request. ${name} must be a list of logins.`, [
        { resource, field: name, code: "invalid" },
      ])
    return v as string[]
  })

const accepts = (ctx: HttpContext, kind: "diff" | "patch") =>
  (ctx.req.headers.accept ?? "").includes(`application/vnd.github.${kind}`) ||
  (ctx.req.headers.accept ?? "").includes(`application/vnd.github.v3.${kind}`)

export const pullRoutes: Array<Route<R>> = [
  route("GET", `${P}/pulls`, (ctx) =>
    Effect.gen(function* () {
      const pulls = yield* Pulls
      const q = ctx.url.searchParams
      const state = q.get("state") ?? "open"
      if (state !== "open" && state !== "closed" && state !== "all")
        return yield* unprocessable("Invalid request. state must be open, closed or all.", [
          { resource: "PullRequest", field: "state", code: "invalid" },
        ])
      const { perPage, offset } = pageParams(ctx)
      const got = yield* pulls.list(...own(ctx), yield* principalOf(ctx), {
        state,
        sort: q.get("sort") === "updated" ? "updated" : "created",
        direction: q.get("direction") === "asc" ? "asc" : "desc",
        limit: perPage,
        offset,
        head: q.get("head") ?? undefined,
        base: q.get("base") ?? undefined,
      })
      const b = yield* base(ctx)
      const out = []
      for (const d of got.rows) out.push(yield* pullJson(ctx, b, d))
      yield* send(ctx, 200, out, linkHeader(ctx, b, got.total))
    }),
  ),
  route("POST", `${P}/pulls`, (ctx) =>
    Effect.gen(function* () {
      const p = yield* requirePrincipal(ctx)
      const pulls = yield* Pulls
      const b = yield* jsonObject(ctx, "PullRequest")
      const title = yield* field<string>(b, "PullRequest", "title", "string", true)
      const head = yield* field<string>(b, "PullRequest", "head", "string", true)
      const baseRef = yield* field<string>(b, "PullRequest", "base", "string", true)
      const body = yield* field<string>(b, "PullRequest", "body", "string")
      const draft = yield* field<boolean>(b, "PullRequest", "draft", "boolean")
      const d = yield* pulls.create(...own(ctx), p, {
        title: title!,
        head: head!,
        base: baseRef!,
        body,
        draft,
      })
      const json = yield* pullJson(ctx, yield* base(ctx), d)
      yield* send(ctx, 201, json, { location: json.url })
    }),
  ),
  route("GET", `${P}/pulls/:number`, (ctx) =>
    Effect.gen(function* () {
      const pulls = yield* Pulls
      const number = yield* intParam(ctx, "number")
      const principal = yield* principalOf(ctx)
      for (const kind of ["diff", "patch"] as const)
        if (accepts(ctx, kind)) {
          const text =
            kind === "diff"
              ? yield* pulls.diffText(...own(ctx), number, principal)
              : yield* pulls.patchText(...own(ctx), number, principal)
          const buf = Buffer.isBuffer(text) ? text : Buffer.from(text)
          ctx.res.writeHead(200, {
            "content-type": `application/vnd.github.${kind}; charset=utf-8`,
            "content-length": buf.length,
          })
          ctx.res.end(buf)
          return
        }
      const d = yield* pulls.get(...own(ctx), number, principal)
      yield* send(ctx, 200, yield* pullJson(ctx, yield* base(ctx), d))
    }),
  ),
  route("PATCH", `${P}/pulls/:number`, (ctx) =>
    Effect.gen(function* () {
      const p = yield* requirePrincipal(ctx)
      const pulls = yield* Pulls
      const b = yield* jsonObject(ctx, "PullRequest")
      const state = yield* field<string>(b, "PullRequest", "state", "string")
      if (state !== undefined && state !== "open" && state !== "closed")
        return yield* unprocessable("Invalid request. state must be open or closed.", [
          { resource: "PullRequest", field: "state", code: "invalid" },
        ])
      const d = yield* pulls.update(...own(ctx), yield* intParam(ctx, "number"), p, {
        title: yield* field<string>(b, "PullRequest", "title", "string"),
        body: yield* field<string>(b, "PullRequest", "body", "string"),
        state: state as "open" | "closed" | undefined,
        base: yield* field<string>(b, "PullRequest", "base", "string"),
        draft: yield* field<boolean>(b, "PullRequest", "draft", "boolean"),
      })
      yield* send(ctx, 200, yield* pullJson(ctx, yield* base(ctx), d))
    }),
  ),
  route("GET", `${P}/pulls/:number/merge`, (ctx) =>
    Effect.gen(function* () {
      const pulls = yield* Pulls
      const d = yield* pulls.get(
        ...own(ctx),
        yield* intParam(ctx, "number"),
        yield* principalOf(ctx),
      )
      if (d.pull.merged === 1) return yield* noContent(ctx)
      yield* send(ctx, 404, {
        message: "Not Found",
        documentation_url: "https://docs.github.com/rest",
      })
    }),
  ),
  route("PUT", `${P}/pulls/:number/merge`, (ctx) =>
    Effect.gen(function* () {
      const p = yield* requirePrincipal(ctx)
      const pulls = yield* Pulls
      const b =
        ctx.req.headers["content-length"] === "0" ? {} : yield* jsonObject(ctx, "PullRequest")
      const method = (yield* field<string>(b, "PullRequest", "merge_method", "string")) ?? "merge"
      if (method !== "merge" && method !== "squash" && method !== "rebase")
        return yield* unprocessable(
          "Invalid request. merge_method must be merge, squash or rebase.",
          [{ resource: "PullRequest", field: "merge_method", code: "invalid" }],
        )
      const done = yield* pulls.merge(...own(ctx), yield* intParam(ctx, "number"), p, {
        method,
        commitTitle: yield* field<string>(b, "PullRequest", "commit_title", "string"),
        commitMessage: yield* field<string>(b, "PullRequest", "commit_message", "string"),
        sha: yield* field<string>(b, "PullRequest", "sha", "string"),
      })
      yield* send(ctx, 200, {
        sha: done.sha,
        merged: true,
        message: "Pull Request successfully merged",
      })
    }),
  ),
  route("GET", `${P}/pulls/:number/commits`, (ctx) =>
    Effect.gen(function* () {
      const pulls = yield* Pulls
      const got = yield* pulls.commits(
        ...own(ctx),
        yield* intParam(ctx, "number"),
        yield* principalOf(ctx),
      )
      const b = yield* base(ctx)
      const repoUrl = `${b}/api/repos/${got.repo.owner_login}/${got.repo.name}`
      yield* send(
        ctx,
        200,
        got.commits.map(({ id, commit }) => ({
          sha: id,
          node_id: Buffer.from(`Commit:${id}`).toString("base64"),
          url: `${repoUrl}/commits/${id}`,
          html_url: `${b}/${got.repo.owner_login}/${got.repo.name}/commit/${id}`,
          commit: {
            author: sig(commit.author),
            committer: sig(commit.committer),
            message: textString(commit.message).replace(/\n$/, ""),
            tree: { sha: commit.tree, url: `${repoUrl}/git/trees/${commit.tree}` },
            url: `${repoUrl}/git/commits/${id}`,
            comment_count: 0,
          },
          author: null,
          committer: null,
          parents: commit.parents.map((sha) => ({ sha, url: `${repoUrl}/commits/${sha}` })),
        })),
      )
    }),
  ),
  route("GET", `${P}/pulls/:number/files`, (ctx) =>
    Effect.gen(function* () {
      const pulls = yield* Pulls
      const number = yield* intParam(ctx, "number")
      const principal = yield* principalOf(ctx)
      const got = yield* pulls.files(...own(ctx), number, principal)
      const d = yield* pulls.get(...own(ctx), number, principal)
      const b = yield* base(ctx)
      const { perPage, offset } = pageParams(ctx)
      yield* send(
        ctx,
        200,
        got.files.slice(offset, offset + perPage).map((f) => fileJson(b, got.repo, d.headSha, f)),
        linkHeader(ctx, b, got.files.length),
      )
    }),
  ),

  // --- reviews ---
  route("GET", `${P}/pulls/:number/reviews`, (ctx) =>
    Effect.gen(function* () {
      const pulls = yield* Pulls
      const got = yield* pulls.reviews(
        ...own(ctx),
        yield* intParam(ctx, "number"),
        yield* principalOf(ctx),
      )
      const b = yield* base(ctx)
      yield* send(
        ctx,
        200,
        got.rows.map((r) => reviewJson(b, got.repo, got.pull.number, r)),
      )
    }),
  ),
  route("POST", `${P}/pulls/:number/reviews`, (ctx) =>
    Effect.gen(function* () {
      const p = yield* requirePrincipal(ctx)
      const pulls = yield* Pulls
      const b = yield* jsonObject(ctx, "PullRequestReview")
      const event = yield* field<string>(b, "PullRequestReview", "event", "string")
      if (event !== undefined && !["APPROVE", "REQUEST_CHANGES", "COMMENT"].includes(event))
        return yield* unprocessable(
          "Invalid request. event must be APPROVE, REQUEST_CHANGES or COMMENT.",
          [{ resource: "PullRequestReview", field: "event", code: "invalid" }],
        )
      const raw = (yield* field<unknown[]>(b, "PullRequestReview", "comments", "array")) ?? []
      const comments = []
      for (const c of raw) {
        const o = c as Record<string, unknown>
        if (typeof o?.path !== "string" || typeof o.body !== "string" || typeof o.line !== "number")
          return yield* unprocessable("Invalid request. Each comment needs path, line and body.", [
            { resource: "PullRequestReview", field: "comments", code: "invalid" },
          ])
        comments.push({
          path: o.path,
          line: o.line,
          body: o.body,
          side: (o.side === "LEFT" ? "LEFT" : "RIGHT") as "LEFT" | "RIGHT",
        })
      }
      const got = yield* pulls.review(...own(ctx), yield* intParam(ctx, "number"), p, {
        event: event as "APPROVE" | "REQUEST_CHANGES" | "COMMENT" | undefined,
        body: yield* field<string>(b, "PullRequestReview", "body", "string"),
        commitId: yield* field<string>(b, "PullRequestReview", "commit_id", "string"),
        comments,
      })
      yield* send(ctx, 200, reviewJson(yield* base(ctx), got.repo, got.pull.number, got.review))
    }),
  ),
  route("GET", `${P}/pulls/:number/reviews/:id`, (ctx) =>
    Effect.gen(function* () {
      const pulls = yield* Pulls
      const id = yield* intParam(ctx, "id")
      const got = yield* pulls.reviews(
        ...own(ctx),
        yield* intParam(ctx, "number"),
        yield* principalOf(ctx),
      )
      const r = got.rows.find((x) => x.id === id)
      if (!r)
        return yield* send(ctx, 404, {
          message: "Not Found",
          documentation_url: "https://docs.github.com/rest",
        })
      yield* send(ctx, 200, reviewJson(yield* base(ctx), got.repo, got.pull.number, r))
    }),
  ),
  route("POST", `${P}/pulls/:number/reviews/:id/events`, (ctx) =>
    Effect.gen(function* () {
      const p = yield* requirePrincipal(ctx)
      const pulls = yield* Pulls
      const b = yield* jsonObject(ctx, "PullRequestReview")
      const event = yield* field<string>(b, "PullRequestReview", "event", "string", true)
      if (!["APPROVE", "REQUEST_CHANGES", "COMMENT"].includes(event!))
        return yield* unprocessable(
          "Invalid request. event must be APPROVE, REQUEST_CHANGES or COMMENT.",
          [{ resource: "PullRequestReview", field: "event", code: "invalid" }],
        )
      const got = yield* pulls.submitReview(
        ...own(ctx),
        yield* intParam(ctx, "number"),
        yield* intParam(ctx, "id"),
        p,
        event as "APPROVE" | "REQUEST_CHANGES" | "COMMENT",
        yield* field<string>(b, "PullRequestReview", "body", "string"),
      )
      yield* send(ctx, 200, reviewJson(yield* base(ctx), got.repo, got.pull.number, got.review))
    }),
  ),
  route("PUT", `${P}/pulls/:number/reviews/:id/dismissals`, (ctx) =>
    Effect.gen(function* () {
      const p = yield* requirePrincipal(ctx)
      const pulls = yield* Pulls
      const b = yield* jsonObject(ctx, "PullRequestReview")
      const message = yield* field<string>(b, "PullRequestReview", "message", "string", true)
      const got = yield* pulls.submitReview(
        ...own(ctx),
        yield* intParam(ctx, "number"),
        yield* intParam(ctx, "id"),
        p,
        "DISMISS",
        message,
      )
      yield* send(ctx, 200, reviewJson(yield* base(ctx), got.repo, got.pull.number, got.review))
    }),
  ),

  // --- review comments ---
  route("GET", `${P}/pulls/:number/comments`, (ctx) =>
    Effect.gen(function* () {
      const pulls = yield* Pulls
      const got = yield* pulls.reviewComments(
        ...own(ctx),
        yield* intParam(ctx, "number"),
        yield* principalOf(ctx),
      )
      const b = yield* base(ctx)
      yield* send(
        ctx,
        200,
        got.rows.map((c) => reviewCommentJson(b, got.repo, got.pull.number, c)),
      )
    }),
  ),
  route("POST", `${P}/pulls/:number/comments`, (ctx) =>
    Effect.gen(function* () {
      const p = yield* requirePrincipal(ctx)
      const pulls = yield* Pulls
      const b = yield* jsonObject(ctx, "PullRequestReviewComment")
      const body = yield* field<string>(b, "PullRequestReviewComment", "body", "string", true)
      const inReplyTo = yield* field<number>(b, "PullRequestReviewComment", "in_reply_to", "number")
      const side = yield* field<string>(b, "PullRequestReviewComment", "side", "string")
      if (side !== undefined && side !== "LEFT" && side !== "RIGHT")
        return yield* unprocessable("Invalid request. side must be LEFT or RIGHT.", [
          { resource: "PullRequestReviewComment", field: "side", code: "invalid" },
        ])
      const got = yield* pulls.comment(...own(ctx), yield* intParam(ctx, "number"), p, {
        body: body!,
        path: yield* field<string>(b, "PullRequestReviewComment", "path", "string"),
        line: yield* field<number>(b, "PullRequestReviewComment", "line", "number"),
        side: side as "LEFT" | "RIGHT" | undefined,
        commitId: yield* field<string>(b, "PullRequestReviewComment", "commit_id", "string"),
        inReplyTo,
      })
      yield* send(
        ctx,
        201,
        reviewCommentJson(yield* base(ctx), got.repo, got.pull.number, got.comment),
      )
    }),
  ),
  route("POST", `${P}/pulls/:number/comments/:id/replies`, (ctx) =>
    Effect.gen(function* () {
      const p = yield* requirePrincipal(ctx)
      const pulls = yield* Pulls
      const b = yield* jsonObject(ctx, "PullRequestReviewComment")
      const body = yield* field<string>(b, "PullRequestReviewComment", "body", "string", true)
      const got = yield* pulls.comment(...own(ctx), yield* intParam(ctx, "number"), p, {
        body: body!,
        inReplyTo: yield* intParam(ctx, "id"),
      })
      yield* send(
        ctx,
        201,
        reviewCommentJson(yield* base(ctx), got.repo, got.pull.number, got.comment),
      )
    }),
  ),

  // --- requested reviewers ---
  route("GET", `${P}/pulls/:number/requested_reviewers`, (ctx) =>
    Effect.gen(function* () {
      const pulls = yield* Pulls
      const d = yield* pulls.get(
        ...own(ctx),
        yield* intParam(ctx, "number"),
        yield* principalOf(ctx),
      )
      const b = yield* base(ctx)
      yield* send(ctx, 200, {
        users: d.requested.map((u) => person(b, u.user_id, u.login)),
        teams: d.requestedTeams.map((t) => ({ id: t.team_id, slug: t.slug, name: t.slug })),
      })
    }),
  ),
  ...(["POST", "DELETE"] as const).map((method) =>
    route(method, `${P}/pulls/:number/requested_reviewers`, (ctx) =>
      Effect.gen(function* () {
        const p = yield* requirePrincipal(ctx)
        const pulls = yield* Pulls
        const b = yield* jsonObject(ctx, "PullRequest")
        const reviewers = yield* stringList(b, "PullRequest", "reviewers")
        const teams = yield* stringList(b, "PullRequest", "team_reviewers")
        const d = yield* pulls.requestReviewers(
          ...own(ctx),
          yield* intParam(ctx, "number"),
          p,
          reviewers,
          method === "DELETE",
          teams,
        )
        yield* send(ctx, method === "POST" ? 201 : 200, yield* pullJson(ctx, yield* base(ctx), d))
      }),
    ),
  ),

  // --- forks and refs ---
  route("POST", `${P}/forks`, (ctx) =>
    Effect.gen(function* () {
      const p = yield* requirePrincipal(ctx)
      const pulls = yield* Pulls
      const b =
        ctx.req.headers["content-length"] === "0" ? {} : yield* jsonObject(ctx, "Repository")
      const repo = yield* pulls.fork(...own(ctx), p, {
        organization: yield* field<string>(b, "Repository", "organization", "string"),
        name: yield* field<string>(b, "Repository", "name", "string"),
      })
      yield* send(ctx, 202, yield* presentRepo(ctx, repo, p))
    }),
  ),
  route("GET", `${P}/forks`, (ctx) =>
    Effect.gen(function* () {
      const pulls = yield* Pulls
      const p = yield* principalOf(ctx)
      const rows = yield* pulls.forks(...own(ctx), p)
      const out = []
      for (const r of rows) out.push(yield* presentRepo(ctx, r, p))
      yield* send(ctx, 200, out)
    }),
  ),
  route("DELETE", `${P}/git/refs/*ref`, (ctx) =>
    Effect.gen(function* () {
      const p = yield* requirePrincipal(ctx)
      const pulls = yield* Pulls
      yield* pulls.deleteRef(...own(ctx), ctx.params.ref!, p)
      yield* noContent(ctx)
    }),
  ),
]
