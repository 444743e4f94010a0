/**
 * Collaboration pages: issue lists with state and label filters, issue pages with their
 * timeline and comment form, new issues; pull request lists, the new pull request form,
 * and the pull request page — conversation, commits, files changed with inline review
 * comments and a form on every diff line, the merge box (mergeability, required checks,
 * approvals) with the three merge methods, and the review form. All writes go through
 * the Issues and Pulls services, as the REST API's do.
 */
import { Effect } from "effect"
import type { ProtectionRule } from "../../domain/BranchProtection.ts"
import { textString } from "../../domain/git/GitObject.ts"
import { atLeast, type Level } from "../../domain/Permissions.ts"
import { passingContexts } from "../../domain/Statuses.ts"
import type {
  CommentRow,
  EventRow,
  IssueRow,
  LabelRow,
  ReviewCommentRow,
  ReviewRow,
} from "../../services/CollabTables.ts"
import { Issues } from "../../services/Issues.ts"
import { Metadata, type RepoRow } from "../../services/Metadata.ts"
import { Pulls } from "../../services/Pulls.ts"
import { RepoContent } from "../../services/RepoContent.ts"
import type { HttpContext } from "../http/HttpServer.ts"
import { diffMode, diffModeLinks, diffView } from "./DiffView.ts"
import { type Html, html, join, raw } from "./Html.ts"
import { openRepo, repoBase, repoHeader } from "./RepoPages.ts"
import { markdown } from "./Render.ts"
import type { Viewer } from "./Session.ts"
import {
  csrfField,
  fail,
  type PageError,
  page,
  postForm,
  redirect,
  requireViewer,
  webRoute,
  when,
} from "./WebKit.ts"

const num = (ctx: HttpContext) => {
  const n = Number(ctx.params.number)
  return Number.isInteger(n) && n > 0
    ? Effect.succeed(n)
    : fail(404, "There is no such number here.")
}

const stateBadge = (issue: IssueRow, merged = false, draft = false) =>
  merged
    ? html`<span class="state merged">Merged</span>`
    : issue.state === "open"
      ? draft
        ? html`<span class="state draft">Draft</span>`
        : html`<span class="state open">Open</span>`
      : html`<span class="state closed">Closed</span>`

const labelChip = (l: Pick<LabelRow, "name">) => html`<span class="label">${l.name}</span>`

const commentBox = (login: string, at: number, body: string, id?: string) =>
  html`<article class="comment"${id ? raw(` id="${id}"`) : ""}><header><a href="/${login}"><strong>${login}</strong></a> <span class="muted">commented ${when(at)}</span></header><div class="body">${markdown(
    body,
  )}</div></article>`

const eventLine = (e: EventRow) => {
  const data = JSON.parse(e.data) as Record<string, string | undefined>
  const what =
    e.event === "labeled"
      ? html`added the label ${labelChip({ name: data.label ?? "" })}`
      : e.event === "unlabeled"
        ? html`removed the label ${labelChip({ name: data.label ?? "" })}`
        : e.event === "merged"
          ? html`merged commit <code>${(data.commit_id ?? "").slice(0, 7)}</code>`
          : e.event === "reviewed"
            ? html`reviewed (${(data.state ?? "").replace("_", " ")})`
            : e.event === "committed"
              ? html`pushed <code>${(data.commit_id ?? "").slice(0, 7)}</code>`
              : e.event === "renamed"
                ? "changed the title"
                : e.event.replace(/_/g, " ")
  return html`<li class="event"><a href="/${e.actor_login}">${e.actor_login}</a> ${what} <span class="muted">${when(e.created_at)}</span></li>`
}

/** Comments and events in time order. */
const timeline = (
  comments: ReadonlyArray<CommentRow>,
  events: ReadonlyArray<EventRow>,
  reviews: ReadonlyArray<ReviewRow> = [],
) => {
  type Item = { at: number; order: number; html: Html }
  const items: Item[] = [
    ...comments.map((c, i) => ({
      at: c.created_at,
      order: i,
      html: commentBox(c.user_login, c.created_at, c.body, `comment-${c.id}`),
    })),
    ...events
      .filter((e) => e.event !== "reviewed")
      .map((e, i) => ({
        at: e.created_at,
        order: 10_000 + i,
        html: html`<ul class="rows timeline">${eventLine(e)}</ul>`,
      })),
    ...reviews
      .filter((r) => r.state !== "PENDING")
      .map((r, i) => ({
        at: r.submitted_at ?? 0,
        order: 20_000 + i,
        html: html`<article class="comment review"><header><a href="/${r.user_login}"><strong>${r.user_login}</strong></a> ${
          r.state === "APPROVED"
            ? html`<span class="ok">approved these changes</span>`
            : r.state === "CHANGES_REQUESTED"
              ? html`<span class="bad">requested changes</span>`
              : r.state === "DISMISSED"
                ? "review dismissed"
                : "reviewed"
        } <span class="muted">${when(r.submitted_at)}</span></header>${r.body ? html`<div class="body">${markdown(r.body)}</div>` : ""}</article>`,
      })),
  ]
  items.sort((a, b) => a.at - b.at || a.order - b.order)
  return join(items.map((i) => i.html))
}

const commentForm = (
  repo: RepoRow,
  number: number,
  viewer: Viewer,
  next: string,
  canClose: boolean,
  open: boolean,
) =>
  html`<form class="stack" method="post" action="${repoBase(repo)}/issues/${number}/comment">
  ${csrfField(viewer)}
  <input type="hidden" name="next" value="${next}">
  <label for="comment-body">Add a comment</label>
  <textarea id="comment-body" name="body"></textarea>
  <p><button class="primary" type="submit" name="action" value="comment">Comment</button>${
    canClose
      ? html` <button type="submit" name="action" value="${open ? "close" : "reopen"}">${open ? "Close" : "Reopen"}</button>`
      : ""
  }</p>
</form>`

const listFilters = (
  ctx: HttpContext,
  labels: ReadonlyArray<LabelRow>,
  state: string,
  label: string | undefined,
) => html`<form method="get" action="${ctx.url.pathname}" class="filters">
  <label class="inline" for="f-state">State</label>
  <select id="f-state" name="state">${["open", "closed", "all"].map((s) => html`<option${s === state ? raw(" selected") : ""}>${s}</option>`)}</select>
  <label class="inline" for="f-label">Label</label>
  <select id="f-label" name="label"><option value="">any</option>${labels.map((l) => html`<option${l.name === label ? raw(" selected") : ""}>${l.name}</option>`)}</select>
  <button type="submit">Filter</button>
</form>`

const stateParam = (ctx: HttpContext) => {
  const s = ctx.url.searchParams.get("state")
  return s === "closed" || s === "all" ? s : "open"
}

const issueRoutes = [
  webRoute("GET", "/:owner/:repo/issues", (ctx, viewer) =>
    Effect.gen(function* () {
      const { repo, level } = yield* openRepo(ctx, viewer)
      const issues = yield* Issues
      const state = stateParam(ctx)
      const label = ctx.url.searchParams.get("label") || undefined
      const pageNo = Math.max(1, Number(ctx.url.searchParams.get("page") ?? 1) || 1)
      const list = yield* issues.list(repo.owner_login, repo.name, viewer?.principal, {
        state,
        labels: label ? [label] : undefined,
        pulls: false,
        sort: "created",
        direction: "desc",
        limit: 50,
        offset: (pageNo - 1) * 50,
      })
      const { rows: labels } = yield* issues.labels(repo.owner_login, repo.name, viewer?.principal)
      const b = repoBase(repo)
      yield* page(
        ctx,
        viewer,
        `Issues · ${repo.owner_login}/${repo.name}`,
        html`${repoHeader(repo, level, "issues")}
<div class="box"><div class="head">${listFilters(ctx, labels, state, label)}${viewer ? html`<a class="button primary" href="${b}/issues/new">New issue</a>` : ""}</div>
<ul class="rows">${
          list.rows.length === 0
            ? html`<li>No ${state === "all" ? "" : state} issues${label ? html` labelled ${label}` : ""}.</li>`
            : list.rows.map(
                (r) =>
                  html`<li>${stateBadge(r.issue)} <a href="${b}/issues/${r.issue.number}"><strong>${r.issue.title}</strong></a> ${r.labels.map(labelChip)}<span class="muted">#${r.issue.number} by ${r.issue.user_login} · ${when(
                    r.issue.created_at,
                  )}${r.issue.comments > 0 ? ` · ${r.issue.comments} comments` : ""}</span></li>`,
              )
        }</ul></div>
<p class="muted">${list.total} issue${list.total === 1 ? "" : "s"}${pageNo * 50 < list.total ? html` · <a href="?state=${state}&amp;page=${pageNo + 1}">next page</a>` : ""}</p>`,
      )
    }),
  ),
  webRoute("GET", "/:owner/:repo/issues/new", (ctx, viewer) =>
    Effect.gen(function* () {
      const v = yield* requireViewer(viewer)
      const { repo, level } = yield* openRepo(ctx, viewer)
      yield* page(
        ctx,
        v,
        `New issue · ${repo.name}`,
        html`${repoHeader(repo, level, "issues")}<h2>New issue</h2>
<form class="stack" method="post" action="${repoBase(repo)}/issues">
  ${csrfField(v)}
  <label for="issue-title">Title</label>
  <input id="issue-title" name="title" required>
  <label for="issue-body">Description</label>
  <textarea id="issue-body" name="body"></textarea>
  <p><button class="primary" type="submit">Create issue</button></p>
</form>`,
      )
    }),
  ),
  webRoute("POST", "/:owner/:repo/issues", (ctx, viewer) =>
    Effect.gen(function* () {
      const { form, principal } = yield* postForm(ctx, viewer)
      const issues = yield* Issues
      const made = yield* issues.create(ctx.params.owner!, ctx.params.repo!, principal, {
        title: form.title ?? "",
        body: form.body || undefined,
      })
      yield* redirect(ctx, `${repoBase(made.repo)}/issues/${made.issue.number}`)
    }),
  ),
  webRoute("GET", "/:owner/:repo/issues/:number", (ctx, viewer) =>
    Effect.gen(function* () {
      const { repo, level } = yield* openRepo(ctx, viewer)
      const number = yield* num(ctx)
      const issues = yield* Issues
      const got = yield* issues.events(repo.owner_login, repo.name, number, viewer?.principal)
      const b = repoBase(repo)
      if (got.issue.is_pull === 1) return yield* redirect(ctx, `${b}/pull/${number}`)
      const details = yield* issues.details(got.issue)
      const canClose =
        viewer !== undefined &&
        (atLeast(level, "triage") || viewer.principal.user.id === got.issue.user_id)
      yield* page(
        ctx,
        viewer,
        `${got.issue.title} · Issue #${number}`,
        html`${repoHeader(repo, level, "issues")}
<h2>${got.issue.title} <span class="muted">#${number}</span></h2>
<p>${stateBadge(got.issue)} <a href="/${got.issue.user_login}">${got.issue.user_login}</a> opened this issue ${when(got.issue.created_at)} ${details.labels.map(labelChip)}</p>
${got.issue.body ? commentBox(got.issue.user_login, got.issue.created_at, got.issue.body) : ""}
${timeline(got.comments, got.events)}
${viewer ? commentForm(repo, number, viewer, `${b}/issues/${number}`, canClose, got.issue.state === "open") : html`<p><a href="/-/signin?next=${encodeURIComponent(ctx.url.pathname)}">Sign in</a> to comment.</p>`}`,
      )
    }),
  ),
  webRoute("POST", "/:owner/:repo/issues/:number/comment", (ctx, viewer) =>
    Effect.gen(function* () {
      const { form, principal } = yield* postForm(ctx, viewer)
      const number = yield* num(ctx)
      const issues = yield* Issues
      const owner = ctx.params.owner!
      const name = ctx.params.repo!
      const body = (form.body ?? "").trim()
      if (body !== "") yield* issues.createComment(owner, name, number, principal, body)
      else if (form.action === "comment")
        return yield* fail(422, "The comment is empty; write something first.")
      if (form.action === "close" || form.action === "reopen")
        yield* issues.update(owner, name, number, principal, {
          state: form.action === "close" ? "closed" : "open",
        })
      const next =
        form.next?.startsWith("/") && !form.next.startsWith("//")
          ? form.next
          : `/${owner}/${name}/issues/${number}`
      yield* redirect(ctx, next)
    }),
  ),
]

// --- pull requests

const pullTabs = (
  repo: RepoRow,
  number: number,
  tab: "conversation" | "commits" | "files",
  counts: { commits: number; files: number },
) => {
  const b = `${repoBase(repo)}/pull/${number}`
  const link = (t: string, href: string, label: string) =>
    html`<li><a href="${href}"${t === tab ? raw(' aria-current="page"') : ""}>${label}</a></li>`
  return html`<nav aria-label="Pull request"><ul class="tabs">${link("conversation", b, "Conversation")}${link("commits", `${b}/commits`, `Commits (${counts.commits})`)}${link(
    "files",
    `${b}/files`,
    `Files changed (${counts.files})`,
  )}</ul></nav>`
}

type PullDetails = Effect.Effect.Success<ReturnType<Pulls["Type"]["details"]>>

const pullHead = (
  repo: RepoRow,
  level: Level,
  d: PullDetails,
  tab: "conversation" | "commits" | "files",
) =>
  html`${repoHeader(repo, level, "pulls")}
<h2>${d.issue.title} <span class="muted">#${d.pull.number}</span></h2>
<p>${stateBadge(d.issue, d.pull.merged === 1, d.pull.draft === 1)} <a href="/${d.issue.user_login}">${d.issue.user_login}</a> wants to merge ${d.commits} commit${
    d.commits === 1 ? "" : "s"
  } into <code>${d.pull.base_ref}</code> from <code>${d.headRepo.owner_login !== repo.owner_login ? `${d.headRepo.owner_login}:` : ""}${d.pull.head_ref}</code>${
    d.pull.merged === 1
      ? html` — merged by ${d.pull.merged_by_login} ${when(d.pull.merged_at)}`
      : ""
  }</p>
${pullTabs(repo, d.pull.number, tab, { commits: d.commits, files: d.changedFiles })}`

const mergeBox = (
  repo: RepoRow,
  level: Level,
  d: PullDetails,
  viewer: Viewer | undefined,
  rule: ProtectionRule | undefined,
  approvals: ReadonlyArray<string>,
  passing: ReadonlySet<string>,
) => {
  if (d.pull.merged === 1)
    return html`<section class="box merge-box" aria-labelledby="merge-h"><div class="head"><h3 id="merge-h">Merged</h3></div><div class="body"><p class="merged-note">This pull request was merged into <code>${d.pull.base_ref}</code> as <code>${(d.pull.merge_commit_sha ?? "").slice(0, 7)}</code>.</p></div></section>`
  if (d.issue.state === "closed")
    return html`<section class="box merge-box" aria-labelledby="merge-h"><div class="head"><h3 id="merge-h">Closed</h3></div><div class="body"><p>This pull request is closed without being merged.</p></div></section>`
  const m = d.merge
  const checks = rule?.requiredStatusChecks?.contexts ?? []
  const needed = rule?.requiredReviews?.requiredApprovingReviewCount ?? 0
  const verdict =
    m.state === "clean"
      ? html`<p class="ok"><strong>Ready to merge:</strong> no conflicts with the base branch.</p>`
      : m.state === "dirty"
        ? html`<p class="bad"><strong>This branch has conflicts</strong>${m.conflicts.length > 0 ? html` in ${m.conflicts.map((c, i) => html`${i > 0 ? ", " : ""}<code>${c}</code>`)}` : ""}; resolve them before merging.</p>`
        : m.state === "blocked"
          ? html`<p class="warn"><strong>Merging is blocked</strong> by the base branch's protection rules.</p>`
          : m.state === "draft"
            ? html`<p class="warn">This pull request is still a draft.</p>`
            : html`<p class="muted">Mergeability is being computed.</p>`
  const canMerge = viewer !== undefined && atLeast(level, "write")
  return html`<section class="box merge-box" aria-labelledby="merge-h"><div class="head"><h3 id="merge-h">Merge</h3></div><div class="body">
${verdict}
<ul>
  <li>Approvals: ${approvals.length}${needed > 0 ? ` of ${needed} required` : ""}${approvals.length > 0 ? html` (${approvals.join(", ")})` : ""}</li>
  ${checks.length > 0 ? html`<li>Required checks: ${checks.map((c, i) => html`${i > 0 ? ", " : ""}<span class="${passing.has(c) ? "ok" : "bad"}">${c} ${passing.has(c) ? "✓ passing" : "✗ not passing"}</span>`)}</li>` : html`<li>No required checks.</li>`}
</ul>
${
  canMerge
    ? html`<form method="post" action="${repoBase(repo)}/pull/${d.pull.number}/merge">
  ${csrfField(viewer!)}
  <input type="hidden" name="sha" value="${d.headSha}">
  <label for="merge-method">Merge method</label>
  <select id="merge-method" name="method">
    <option value="merge">Create a merge commit</option>
    <option value="squash">Squash and merge</option>
    <option value="rebase">Rebase and merge</option>
  </select>
  <p><button class="primary" type="submit"${m.mergeable === true && m.state !== "blocked" && m.state !== "draft" ? "" : raw(" disabled")}>Merge pull request</button></p>
</form>`
    : viewer
      ? html`<p class="muted">Only people with write access can merge.</p>`
      : html`<p><a href="/-/signin">Sign in</a> to merge.</p>`
}
</div></section>`
}

const reviewForm = (
  repo: RepoRow,
  number: number,
  viewer: Viewer,
) => html`<section class="box" aria-labelledby="review-h"><div class="head"><h3 id="review-h">Review</h3></div><div class="body">
<form class="stack" method="post" action="${repoBase(repo)}/pull/${number}/review">
  ${csrfField(viewer)}
  <label for="review-body">Review comment</label>
  <textarea id="review-body" name="body"></textarea>
  <fieldset><legend>Verdict</legend>
    <input type="radio" id="ev-comment" name="event" value="COMMENT" checked><label class="inline" for="ev-comment">Comment</label>
    <input type="radio" id="ev-approve" name="event" value="APPROVE"><label class="inline" for="ev-approve">Approve</label>
    <input type="radio" id="ev-changes" name="event" value="REQUEST_CHANGES"><label class="inline" for="ev-changes">Request changes</label>
  </fieldset>
  <p><button type="submit">Submit review</button></p>
</form></div></section>`

const loadPull = (ctx: HttpContext, viewer: Viewer | undefined) =>
  Effect.gen(function* () {
    const { repo, level } = yield* openRepo(ctx, viewer)
    const number = yield* num(ctx)
    const pulls = yield* Pulls
    const d = yield* pulls
      .get(repo.owner_login, repo.name, number, viewer?.principal)
      .pipe(
        Effect.catchTag("NotFound", () =>
          Effect.flatMap(Metadata, (meta) =>
            Effect.flatMap(
              meta.issueByNumber(repo.id, number).pipe(Effect.orDie),
              (i): Effect.Effect<PullDetails, Redirect | PageError> =>
                i
                  ? Effect.fail(new Redirect(`${repoBase(repo)}/issues/${number}`))
                  : fail(404, `There is no pull request #${number}.`),
            ),
          ),
        ),
      )
    return { repo, level, number, d }
  })

class Redirect {
  constructor(readonly to: string) {}
}

const withRedirect = <A, E, R>(ctx: HttpContext, e: Effect.Effect<A, E | Redirect, R>) =>
  Effect.catchIf(
    e,
    (x): x is Redirect => x instanceof Redirect,
    (r) => redirect(ctx, r.to),
  )

const approvalsOf = (reviews: ReadonlyArray<ReviewRow>, authorId: number) => {
  const latest = new Map<number, ReviewRow>()
  for (const r of reviews)
    if (r.state !== "PENDING" && r.state !== "COMMENTED") latest.set(r.user_id, r)
  return [...latest.values()]
    .filter((r) => r.state === "APPROVED" && r.user_id !== authorId)
    .map((r) => r.user_login)
}

const reviewThread = (comments: ReadonlyArray<ReviewCommentRow>) =>
  join(
    comments.map(
      (c) =>
        html`<article class="comment review-comment" id="r${c.id}"><header><a href="/${c.user_login}"><strong>${c.user_login}</strong></a> <span class="muted">on line ${c.line} ${when(c.created_at)}</span></header><div class="body">${markdown(c.body)}</div></article>`,
    ),
  )

const pullRoutes = [
  webRoute("GET", "/:owner/:repo/pulls", (ctx, viewer) =>
    Effect.gen(function* () {
      const { repo, level } = yield* openRepo(ctx, viewer)
      const pulls = yield* Pulls
      const state = stateParam(ctx)
      const list = yield* pulls.list(repo.owner_login, repo.name, viewer?.principal, {
        state,
        sort: "created",
        direction: "desc",
        limit: 50,
        offset: 0,
      })
      const b = repoBase(repo)
      yield* page(
        ctx,
        viewer,
        `Pull requests · ${repo.owner_login}/${repo.name}`,
        html`${repoHeader(repo, level, "pulls")}
<div class="box"><div class="head">${listFilters(ctx, [], state, undefined)}${viewer ? html`<a class="button primary" href="${b}/pulls/new">New pull request</a>` : ""}</div>
<ul class="rows">${
          list.rows.length === 0
            ? html`<li>No ${state === "all" ? "" : state} pull requests.</li>`
            : list.rows.map(
                (d) =>
                  html`<li>${stateBadge(d.issue, d.pull.merged === 1, d.pull.draft === 1)} <a href="${b}/pull/${d.pull.number}"><strong>${d.issue.title}</strong></a> ${d.labels.map(labelChip)}<span class="muted">#${d.pull.number} ${d.pull.head_ref} → ${d.pull.base_ref} by ${d.issue.user_login} · ${when(d.issue.created_at)}</span></li>`,
              )
        }</ul></div>`,
      )
    }),
  ),
  webRoute("GET", "/:owner/:repo/pulls/new", (ctx, viewer) =>
    Effect.gen(function* () {
      const v = yield* requireViewer(viewer)
      const { repo, level } = yield* openRepo(ctx, viewer)
      const content = yield* RepoContent
      const { branches } = yield* content.branches(repo.owner_login, repo.name, v.principal)
      const names = branches.map((x) => x.name)
      const base = ctx.url.searchParams.get("base") ?? repo.default_branch
      const head = ctx.url.searchParams.get("head") ?? names.find((n) => n !== base) ?? ""
      let summary: Html = html``
      if (head && head !== base) {
        const cmp = yield* content
          .compare(repo.owner_login, repo.name, `${base}...${head}`, v.principal)
          .pipe(Effect.option)
        if (cmp._tag === "Some") {
          const rows = yield* content.commits(cmp.value.commits)
          summary = html`<p>${cmp.value.aheadBy} commit${cmp.value.aheadBy === 1 ? "" : "s"}, ${cmp.value.files.length} file${cmp.value.files.length === 1 ? "" : "s"} changed.</p>
<ul>${rows.map((r) => html`<li>${textString(r.commit.message).split("\n")[0]} <code>${r.id.slice(0, 7)}</code></li>`)}</ul>`
        }
      }
      const firstSubject = ""
      yield* page(
        ctx,
        v,
        `New pull request · ${repo.name}`,
        html`${repoHeader(repo, level, "pulls")}<h2>Open a pull request</h2>
<form class="stack" method="post" action="${repoBase(repo)}/pulls">
  ${csrfField(v)}
  <label for="pr-base">Base branch (merge into)</label>
  <select id="pr-base" name="base">${names.map((x) => html`<option${x === base ? raw(" selected") : ""}>${x}</option>`)}</select>
  <label for="pr-head">Head branch (your changes)</label>
  <select id="pr-head" name="head">${names.map((x) => html`<option${x === head ? raw(" selected") : ""}>${x}</option>`)}</select>
  <label for="pr-title">Title</label>
  <input id="pr-title" name="title" required value="${firstSubject}">
  <label for="pr-body">Description</label>
  <textarea id="pr-body" name="body"></textarea>
  <p><input type="checkbox" id="pr-draft" name="draft" value="1"><label class="inline" for="pr-draft">Open as a draft</label></p>
  <p><button class="primary" type="submit">Create pull request</button></p>
</form>
${summary}`,
      )
    }),
  ),
  webRoute("POST", "/:owner/:repo/pulls", (ctx, viewer) =>
    Effect.gen(function* () {
      const { form, principal } = yield* postForm(ctx, viewer)
      const pulls = yield* Pulls
      const d = yield* pulls.create(ctx.params.owner!, ctx.params.repo!, principal, {
        title: form.title ?? "",
        body: form.body || undefined,
        base: form.base ?? "",
        head: form.head ?? "",
        draft: form.draft === "1",
      })
      yield* redirect(ctx, `${repoBase(d.repo)}/pull/${d.pull.number}`)
    }),
  ),
  webRoute("GET", "/:owner/:repo/pull/:number", (ctx, viewer) =>
    withRedirect(
      ctx,
      Effect.gen(function* () {
        const { repo, level, number, d } = yield* loadPull(ctx, viewer)
        const issues = yield* Issues
        const pulls = yield* Pulls
        const meta = yield* Metadata
        const ev = yield* issues.events(repo.owner_login, repo.name, number, viewer?.principal)
        const { rows: reviews } = yield* pulls.reviews(
          repo.owner_login,
          repo.name,
          number,
          viewer?.principal,
        )
        const ruleText = yield* meta.protection(repo.id, d.pull.base_ref).pipe(Effect.orDie)
        const rule = ruleText === undefined ? undefined : (JSON.parse(ruleText) as ProtectionRule)
        const passing = passingContexts(
          yield* meta.statusesOf(repo.id, d.headSha).pipe(Effect.orDie),
        )
        const b = repoBase(repo)
        const canClose =
          viewer !== undefined &&
          (atLeast(level, "triage") || viewer.principal.user.id === d.issue.user_id)
        yield* page(
          ctx,
          viewer,
          `${d.issue.title} · Pull request #${number}`,
          html`${pullHead(repo, level, d, "conversation")}
${d.issue.body ? commentBox(d.issue.user_login, d.issue.created_at, d.issue.body) : ""}
${timeline(ev.comments, ev.events, reviews)}
${mergeBox(repo, level, d, viewer, rule, approvalsOf(reviews, d.issue.user_id), passing)}
${viewer && d.pull.merged === 0 && d.issue.state === "open" ? reviewForm(repo, number, viewer) : ""}
${viewer ? commentForm(repo, number, viewer, `${b}/pull/${number}`, canClose && d.pull.merged === 0, d.issue.state === "open") : html`<p><a href="/-/signin?next=${encodeURIComponent(ctx.url.pathname)}">Sign in</a> to comment or review.</p>`}`,
        )
      }),
    ),
  ),
  webRoute("GET", "/:owner/:repo/pull/:number/commits", (ctx, viewer) =>
    withRedirect(
      ctx,
      Effect.gen(function* () {
        const { repo, level, number, d } = yield* loadPull(ctx, viewer)
        const pulls = yield* Pulls
        const got = yield* pulls.commits(repo.owner_login, repo.name, number, viewer?.principal)
        const b = repoBase(repo)
        yield* page(
          ctx,
          viewer,
          `Commits · Pull request #${number}`,
          html`${pullHead(repo, level, d, "commits")}<div class="box"><ul class="rows">${got.commits.map(
            (c) =>
              html`<li><a href="${b}/commit/${c.id}">${textString(c.commit.message).split("\n")[0]}</a><span class="muted">${textString(c.commit.author.name)} · <code>${c.id.slice(0, 7)}</code></span></li>`,
          )}</ul></div>`,
        )
      }),
    ),
  ),
  webRoute("GET", "/:owner/:repo/pull/:number/files", (ctx, viewer) =>
    withRedirect(
      ctx,
      Effect.gen(function* () {
        const { repo, level, number, d } = yield* loadPull(ctx, viewer)
        const pulls = yield* Pulls
        const { files } = yield* pulls.files(repo.owner_login, repo.name, number, viewer?.principal)
        const { rows: comments } = yield* pulls.reviewComments(
          repo.owner_login,
          repo.name,
          number,
          viewer?.principal,
        )
        const mode = diffMode(ctx.url)
        const b = repoBase(repo)
        const canComment = viewer !== undefined && d.pull.merged === 0
        const hooksFor = (f: { filename: string }) => ({
          after: (side: "LEFT" | "RIGHT", line: number) => {
            const here = comments.filter(
              (c) => c.path === f.filename && c.line === line && c.side === side,
            )
            return here.length > 0 ? reviewThread(here) : undefined
          },
          action: canComment
            ? (side: "LEFT" | "RIGHT", line: number) => {
                const id = `lc-${side}-${line}-${f.filename}`
                const where = `${f.filename} ${side === "LEFT" ? "old " : ""}line ${line}`
                return html`<details class="line-comment"><summary aria-label="Open a comment form for ${where}">+</summary>
<form method="post" action="${b}/pull/${number}/line-comment">
${csrfField(viewer!)}<input type="hidden" name="path" value="${f.filename}"><input type="hidden" name="line" value="${line}"><input type="hidden" name="side" value="${side}"><input type="hidden" name="commit" value="${d.headSha}">
<label for="${id}">Comment on ${where}</label>
<textarea id="${id}" name="body" required></textarea>
<button type="submit">Add comment</button></form></details>`
              }
            : undefined,
        })
        yield* page(
          ctx,
          viewer,
          `Files changed · Pull request #${number}`,
          html`${pullHead(repo, level, d, "files")}${diffModeLinks(ctx.url, mode)}${diffView(files, mode, hooksFor)}`,
        )
      }),
    ),
  ),
  webRoute("POST", "/:owner/:repo/pull/:number/line-comment", (ctx, viewer) =>
    Effect.gen(function* () {
      const { form, principal } = yield* postForm(ctx, viewer)
      const number = yield* num(ctx)
      const pulls = yield* Pulls
      const line = Number(form.line)
      if (!Number.isInteger(line) || line <= 0)
        return yield* fail(422, "The line to comment on is missing.")
      const body = (form.body ?? "").trim()
      if (body === "") return yield* fail(422, "The comment is empty; write something first.")
      const made = yield* pulls.comment(ctx.params.owner!, ctx.params.repo!, number, principal, {
        body,
        path: form.path ?? "",
        line,
        side: form.side === "LEFT" ? "LEFT" : "RIGHT",
        commitId: form.commit || undefined,
      })
      yield* redirect(ctx, `${repoBase(made.repo)}/pull/${number}/files#r${made.comment.id}`)
    }),
  ),
  webRoute("POST", "/:owner/:repo/pull/:number/review", (ctx, viewer) =>
    Effect.gen(function* () {
      const { form, principal } = yield* postForm(ctx, viewer)
      const number = yield* num(ctx)
      const pulls = yield* Pulls
      const event =
        form.event === "APPROVE"
          ? "APPROVE"
          : form.event === "REQUEST_CHANGES"
            ? "REQUEST_CHANGES"
            : "COMMENT"
      const made = yield* pulls.review(ctx.params.owner!, ctx.params.repo!, number, principal, {
        event,
        body: form.body || undefined,
      })
      yield* redirect(ctx, `${repoBase(made.repo)}/pull/${number}`)
    }),
  ),
  webRoute("POST", "/:owner/:repo/pull/:number/merge", (ctx, viewer) =>
    Effect.gen(function* () {
      const { form, principal } = yield* postForm(ctx, viewer)
      const number = yield* num(ctx)
      const pulls = yield* Pulls
      const method =
        form.method === "squash" ? "squash" : form.method === "rebase" ? "rebase" : "merge"
      yield* pulls.merge(ctx.params.owner!, ctx.params.repo!, number, principal, {
        method,
        sha: form.sha || undefined,
      })
      yield* redirect(ctx, `/${ctx.params.owner}/${ctx.params.repo}/pull/${number}`)
    }),
  ),
]

export const collabRoutes = [...issueRoutes, ...pullRoutes]
