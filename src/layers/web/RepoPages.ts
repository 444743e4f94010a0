/**
 * Reading pages: explore and search, user and organisation pages, repository home (files
 * and README), tree and file views with line anchors, raw, commit history, single commits
 * and comparisons with unified or split diffs, and releases. Every read goes through the
 * same services as the REST API, so a repository the viewer cannot read is a 404 here too.
 */
import { Effect } from "effect"
import { isBinary } from "../../domain/git/Diff.ts"
import { textString } from "../../domain/git/GitObject.ts"
import { atLeast, type Level } from "../../domain/Permissions.ts"
import { Access } from "../../services/Access.ts"
import type { Principal } from "../../services/Auth.ts"
import { Identity } from "../../services/Identity.ts"
import { Metadata, type RepoRow } from "../../services/Metadata.ts"
import { NotFound } from "../../services/Errors.ts"
import { Releases } from "../../services/Releases.ts"
import { type DirItem, RepoContent } from "../../services/RepoContent.ts"
import { Repositories } from "../../services/Repositories.ts"
import type { HttpContext } from "../http/HttpServer.ts"
import { diffMode, diffModeLinks, diffView } from "./DiffView.ts"
import { type Html, html, join, pathUrl, raw } from "./Html.ts"
import { codeLines, isMarkdown, markdown } from "./Render.ts"
import type { Viewer } from "./Session.ts"
import { csrfField, fail, page, redirect, webRoute, when } from "./WebKit.ts"
import { blame } from "../../domain/git/Blame.ts"
import { ObjectStore } from "../../services/ObjectStore.ts"
import { storeLoader } from "../../services/apply/Pulls.ts"

export type Tab = "code" | "issues" | "pulls" | "commits" | "releases" | "settings" | "actions"

/** The repository (through Access: hidden ones are 404) and the viewer's level on it. */
export const openRepo = (ctx: HttpContext, viewer: Viewer | undefined) =>
  Effect.gen(function* () {
    const repos = yield* Repositories
    const found = yield* repos.access(
      ctx.params.owner!,
      ctx.params.repo!,
      viewer?.principal,
      "read",
    )
    return { repo: found.repo, level: found.level }
  })

export const repoBase = (repo: RepoRow) =>
  `/${encodeURIComponent(repo.owner_login)}/${encodeURIComponent(repo.name)}`

export const repoHeader = (repo: RepoRow, level: Level, tab: Tab) => {
  const b = repoBase(repo)
  const link = (t: Tab, href: string, label: string) =>
    html`<li><a href="${href}"${t === tab ? raw(' aria-current="page"') : ""}>${label}</a></li>`
  return html`<h1><a href="/${repo.owner_login}">${repo.owner_login}</a> / <a href="${b}">${repo.name}</a> <span class="label">${repo.visibility}</span></h1>
${repo.description ? html`<p class="muted">${repo.description}</p>` : ""}
<nav aria-label="Repository"><ul class="tabs">
${link("code", b, "Code")}${link("issues", `${b}/issues`, "Issues")}${link("pulls", `${b}/pulls`, "Pull requests")}${link(
  "commits",
  `${b}/commits`,
  "Commits",
)}${link("releases", `${b}/releases`, "Releases")}${link("actions", `${b}/actions`, "Actions")}${atLeast(level, "admin") ? link("settings", `${b}/settings`, "Settings") : ""}
</ul></nav>`
}

/** Splits `ref/path` where the ref may contain slashes: the longest branch or tag that fits. */
export const splitRefPath = (repo: RepoRow, rest: string, principal: Principal | undefined) =>
  Effect.gen(function* () {
    const content = yield* RepoContent
    const { branches } = yield* content.branches(repo.owner_login, repo.name, principal)
    const { tags } = yield* content.tags(repo.owner_login, repo.name, principal)
    const names = [...branches.map((b) => b.name), ...tags.map((t) => t.name)].sort(
      (a, b) => b.length - a.length,
    )
    for (const n of names)
      if (rest === n || rest.startsWith(`${n}/`)) return { ref: n, path: rest.slice(n.length + 1) }
    const slash = rest.indexOf("/")
    return slash < 0
      ? { ref: rest, path: "" }
      : { ref: rest.slice(0, slash), path: rest.slice(slash + 1) }
  })

const refSwitcher = (
  repo: RepoRow,
  principal: Principal | undefined,
  current: string,
  kind: "tree" | "commits",
  path: string,
) =>
  Effect.gen(function* () {
    const content = yield* RepoContent
    const { branches } = yield* content.branches(repo.owner_login, repo.name, principal)
    const { tags } = yield* content.tags(repo.owner_login, repo.name, principal)
    const b = repoBase(repo)
    return html`<form class="refs" method="get" action="${b}/-/switch">
  <input type="hidden" name="kind" value="${kind}">
  <input type="hidden" name="path" value="${path}">
  <label class="inline" for="ref-select">Branch or tag</label>
  <select id="ref-select" name="ref">
    <optgroup label="Branches">${branches.map((x) => html`<option value="${x.name}"${x.name === current ? raw(" selected") : ""}>${x.name}</option>`)}</optgroup>
    ${tags.length > 0 ? html`<optgroup label="Tags">${tags.map((x) => html`<option value="${x.name}"${x.name === current ? raw(" selected") : ""}>${x.name}</option>`)}</optgroup>` : ""}
  </select>
  <button type="submit">Switch</button>
</form>`
  })

const breadcrumbs = (repo: RepoRow, ref: string, path: string) => {
  const b = repoBase(repo)
  const parts = path.split("/").filter((p) => p !== "")
  return html`<nav aria-label="Path" class="crumbs"><a href="${b}/tree/${pathUrl(ref)}">${repo.name}</a>${parts.map(
    (p, i) =>
      html` / ${i === parts.length - 1 ? html`<strong>${p}</strong>` : html`<a href="${b}/tree/${pathUrl(ref)}/${pathUrl(parts.slice(0, i + 1).join("/"))}">${p}</a>`}`,
  )}</nav>`
}

const fileTable = (repo: RepoRow, ref: string, entries: ReadonlyArray<DirItem>) => {
  const b = repoBase(repo)
  const sorted = [...entries].sort((x, y) =>
    (x.type === "dir") === (y.type === "dir")
      ? x.name < y.name
        ? -1
        : 1
      : x.type === "dir"
        ? -1
        : 1,
  )
  return html`<div class="box"><table class="files" aria-label="Files">
${sorted.map(
  (e) =>
    html`<tr><td><a href="${b}/${e.type === "dir" ? "tree" : "blob"}/${pathUrl(ref)}/${pathUrl(e.path)}">${e.name}</a>${e.type === "dir" ? html`<span class="muted" aria-label="directory">/</span>` : ""}</td><td class="muted hide-narrow">${
      e.type === "file" ? `${e.size} bytes` : e.type
    }</td></tr>`,
)}
</table></div>`
}

const emptyRepo = (repo: RepoRow, ctx: HttpContext) => {
  const host = ctx.req.headers.host ?? "localhost"
  return html`<section class="box"><div class="head"><h2>This repository is empty</h2></div><div class="body">
<p>Push an existing repository:</p>
<pre class="plain">git remote add origin http://${host}/${repo.owner_login}/${repo.name}.git
git push -u origin ${repo.default_branch}</pre></div></section>`
}

const readmeOf = (repo: RepoRow, ref: string, dir: string, principal: Principal | undefined) =>
  Effect.gen(function* () {
    const content = yield* RepoContent
    const got = yield* content
      .readme(repo.owner_login, repo.name, dir, ref, false, principal)
      .pipe(Effect.option)
    if (got._tag === "None" || got.value.node.type !== "file" || !got.value.node.content) return ""
    const node = got.value.node
    const text = Buffer.from(node.content!).toString("utf8")
    const b = repoBase(repo)
    const body = isMarkdown(node.name)
      ? markdown(text, {
          linkBase: `${b}/blob/${pathUrl(ref)}/`,
          imageBase: `${b}/-/raw/${pathUrl(ref)}/`,
        })
      : html`<div class="plain">${text}</div>`
    return html`<section class="box readme" aria-labelledby="readme-h"><div class="head"><h2 id="readme-h">${node.name}</h2></div><div class="body">${body}</div></section>`
  })

const treePage = (
  ctx: HttpContext,
  viewer: Viewer | undefined,
  repo: RepoRow,
  level: Level,
  ref: string | undefined,
  path: string,
) =>
  Effect.gen(function* () {
    const content = yield* RepoContent
    const principal = viewer?.principal
    const got = yield* content
      .contents(repo.owner_login, repo.name, path, ref, false, principal)
      .pipe(
        Effect.catchTag("NotFound", (e) =>
          e.what === "This repository is empty." ? Effect.succeed(undefined) : Effect.fail(e),
        ),
      )
    if (!got)
      return yield* page(
        ctx,
        viewer,
        repo.name,
        html`${repoHeader(repo, level, "code")}${emptyRepo(repo, ctx)}`,
      )
    const refName = ref ?? got.ref ?? repo.default_branch
    if (got.node.type !== "dir")
      return yield* redirect(ctx, `${repoBase(repo)}/blob/${pathUrl(refName)}/${pathUrl(path)}`)
    const switcher = yield* refSwitcher(repo, principal, refName, "tree", path)
    const readme = yield* readmeOf(repo, refName, path, principal)
    const b = repoBase(repo)
    yield* page(
      ctx,
      viewer,
      path ? `${path} · ${repo.owner_login}/${repo.name}` : `${repo.owner_login}/${repo.name}`,
      html`${repoHeader(repo, level, "code")}
<div class="box"><div class="head">${switcher}<span><a href="${b}/commits/${pathUrl(refName)}">History</a> · <a href="${b}/pulls/new">New pull request</a></span></div>
<div class="body muted">Clone: <code>http://${ctx.req.headers.host ?? "localhost"}/${repo.owner_login}/${repo.name}.git</code></div></div>
${path ? breadcrumbs(repo, refName, path) : ""}
${fileTable(repo, refName, got.node.entries)}
${readme}`,
    )
  })

const blobPage = (
  ctx: HttpContext,
  viewer: Viewer | undefined,
  repo: RepoRow,
  level: Level,
  ref: string,
  path: string,
) =>
  Effect.gen(function* () {
    const content = yield* RepoContent
    const principal = viewer?.principal
    const got = yield* content.contents(repo.owner_login, repo.name, path, ref, false, principal)
    const node = got.node
    if (node.type === "dir")
      return yield* redirect(ctx, `${repoBase(repo)}/tree/${pathUrl(ref)}/${pathUrl(path)}`)
    const b = repoBase(repo)
    const rawHref = `${b}/-/raw/${pathUrl(ref)}/${pathUrl(path)}`
    let body: Html
    if (node.type === "submodule") body = html`<p class="body">Submodule at ${node.sha}.</p>`
    else if (node.type === "symlink")
      body = html`<p class="body">Symbolic link to <code>${node.target}</code>.</p>`
    else if (node.content === undefined)
      body = html`<p class="body">This file is too large to show (${node.size} bytes). <a href="${rawHref}">View raw</a>.</p>`
    else if (isBinary(node.content))
      body = html`<p class="body">Binary file (${node.size} bytes). <a href="${rawHref}">Download</a>.</p>`
    else {
      const text = Buffer.from(node.content).toString("utf8")
      const table = codeTable(node.sha, path, text)
      body = html`${isMarkdown(path) && ctx.url.searchParams.get("plain") !== "1" ? html`<div class="body">${markdown(text)}</div>` : ""}<div class="code-wrap"><table class="code" aria-label="File contents">${table}</table></div>`
    }
    const switcher = yield* refSwitcher(repo, principal, ref, "tree", path)
    const size = node.type === "file" || node.type === "symlink" ? node.size : 0
    yield* page(
      ctx,
      viewer,
      `${path} · ${repo.owner_login}/${repo.name}`,
      html`${repoHeader(repo, level, "code")}
${switcher}
${breadcrumbs(repo, ref, path)}
<section class="box" aria-label="${path}"><div class="head"><span>${size} bytes</span><span><a href="${rawHref}">Raw</a> · <a href="${b}/commits/${pathUrl(ref)}?path=${encodeURIComponent(path)}">History</a> · <a href="${b}/blame/${pathUrl(ref)}/${pathUrl(path)}">Blame</a></span></div>
${body}</section>`,
      { scripts: ["lines.js"] },
    )
  })

/**
 * A file's numbered, highlighted rows. Blobs are immutable, so the rows are kept by blob id
 * and language in a small LRU (bounded by total size): a file viewed again is not
 * highlighted again.
 */
const CODE_CACHE_BYTES = 32 * 1024 * 1024
const codeCache = new Map<string, Html>()
let codeCacheBytes = 0
const codeTable = (blob: string, path: string, text: string) => {
  const key = `${blob}:${path.slice(path.lastIndexOf("/") + 1)}`
  const hit = codeCache.get(key)
  if (hit) {
    codeCache.delete(key)
    codeCache.set(key, hit)
    return hit
  }
  const lines = codeLines(text, path)
  const rows: string[] = []
  for (let i = 0; i < lines.length; i++) {
    const n = i + 1
    rows.push(
      `<tr id="L${n}"><td class="ln"><a href="#L${n}">${n}</a></td><td class="lc">${lines[i]}</td></tr>`,
    )
  }
  const made = raw(rows.join("\n"))
  if (made.text.length <= CODE_CACHE_BYTES / 4) {
    codeCache.set(key, made)
    codeCacheBytes += made.text.length
    for (const [k, v] of codeCache) {
      if (codeCacheBytes <= CODE_CACHE_BYTES) break
      codeCache.delete(k)
      codeCacheBytes -= v.text.length
    }
  }
  return made
}

const commitRow = (
  repo: RepoRow,
  id: string,
  c: { message: unknown; author: { name: unknown; timestamp: number } },
) => {
  const msg = textString(c.message as string)
  const subject = msg.split("\n")[0] ?? ""
  return html`<li><a href="${repoBase(repo)}/commit/${id}">${subject}</a><span class="muted">${textString(c.author.name as string)} · ${when(
    c.author.timestamp,
  )} · <code>${id.slice(0, 7)}</code></span></li>`
}

const PER_PAGE = 30

const commitsPage = (ctx: HttpContext, viewer: Viewer | undefined, refArg: string | undefined) =>
  Effect.gen(function* () {
    const { repo, level } = yield* openRepo(ctx, viewer)
    const content = yield* RepoContent
    const principal = viewer?.principal
    const ref =
      refArg && refArg !== ""
        ? (yield* splitRefPath(repo, refArg, principal)).ref
        : repo.default_branch
    const path = ctx.url.searchParams.get("path") ?? undefined
    const got = yield* content
      .history(repo.owner_login, repo.name, principal, { sha: ref, path: path || undefined })
      .pipe(Effect.catchTag("Conflict", () => Effect.fail(new NotFound({ what: "commits" }))))
    const pageNo = Math.max(1, Number(ctx.url.searchParams.get("page") ?? 1) || 1)
    const ids = got.ids.slice((pageNo - 1) * PER_PAGE, pageNo * PER_PAGE)
    const rows = yield* content.commits(ids)
    const b = repoBase(repo)
    const at = (p: number) => {
      const u = new URL(ctx.url.toString())
      u.searchParams.set("page", String(p))
      return u.pathname + u.search
    }
    const switcher = yield* refSwitcher(repo, principal, ref, "commits", "")
    yield* page(
      ctx,
      viewer,
      `Commits · ${repo.owner_login}/${repo.name}`,
      html`${repoHeader(repo, level, "commits")}
${switcher}
<h2>Commits on ${ref}${path ? html` touching <code>${path}</code>` : ""}</h2>
<div class="box"><ul class="rows">${rows.map((r) => commitRow(repo, r.id, r.commit))}</ul></div>
<nav class="pages" aria-label="Pagination">${pageNo > 1 ? html`<a href="${at(pageNo - 1)}" rel="prev">Newer</a>` : ""}<span>Page ${pageNo} of ${Math.max(
        1,
        Math.ceil(got.ids.length / PER_PAGE),
      )}</span>${pageNo * PER_PAGE < got.ids.length ? html`<a href="${at(pageNo + 1)}" rel="next">Older</a>` : ""}</nav>
<p><a href="${b}/compare">Compare branches</a></p>`,
    )
  })

const blamePage = (ctx: HttpContext, viewer: Viewer | undefined) =>
  Effect.gen(function* () {
    const { repo, level } = yield* openRepo(ctx, viewer)
    const principal = viewer?.principal
    const { ref, path } = yield* splitRefPath(repo, ctx.params.rest ?? "", principal)
    const content = yield* RepoContent
    const objects = yield* ObjectStore
    // The same access check as every read; then the walk over the shared object store.
    const at = yield* content.resolve(repo.owner_login, repo.name, ref, principal)
    const file = yield* content.contents(
      repo.owner_login,
      repo.name,
      path,
      at.sha,
      false,
      principal,
    )
    if (file.node.type !== "file" || file.node.content === undefined || isBinary(file.node.content))
      return yield* fail(422, "Blame works on text files only.")
    const result = yield* blame(storeLoader(objects), at.sha, path).pipe(
      Effect.catchTag("BlamePathNotFound", (e) => fail(404, e.message)),
      Effect.orDie,
    )
    const lines = codeLines(Buffer.from(file.node.content).toString("utf8"), path)
    const b = repoBase(repo)
    const rows: string[] = []
    for (const r of result.ranges) {
      const c = result.commits.get(r.commit)
      const subject = c ? (textString(c.message).split("\n")[0] ?? "") : ""
      const who = c ? textString(c.author.name) : ""
      for (let k = 0; k < r.lineCount; k++) {
        const n = r.startLine + k
        const info =
          k === 0
            ? html`<a href="${b}/commit/${r.commit}" title="${subject}">${r.commit.slice(0, 7)}</a> <span class="muted">${who}${r.boundary ? " (boundary)" : ""}</span>`
                .text
            : ""
        rows.push(
          `<tr id="L${n}"${k === 0 ? ' class="range-start"' : ""}><td class="blame">${info}</td><td class="ln"><a href="#L${n}">${n}</a></td><td class="lc">${lines[n - 1] ?? ""}</td></tr>`,
        )
      }
    }
    yield* page(
      ctx,
      viewer,
      `Blame ${path} · ${repo.owner_login}/${repo.name}`,
      html`${repoHeader(repo, level, "code")}
${breadcrumbs(repo, ref, path)}
<section class="box" aria-label="Blame of ${path}"><div class="head"><span>Blame at <code>${at.sha.slice(0, 7)}</code>${
        result.truncated ? " (history walk stopped early; older lines are marked boundary)" : ""
      }</span><a href="${b}/blob/${pathUrl(ref)}/${pathUrl(path)}">View file</a></div>
<div class="code-wrap"><table class="code blame" aria-label="Blame">${raw(rows.join("\n"))}</table></div></section>`,
      { scripts: ["lines.js"] },
    )
  })

export const repoRoutes = [
  webRoute("GET", "/", (ctx, viewer) =>
    Effect.gen(function* () {
      const meta = yield* Metadata
      const access = yield* Access
      const q = (ctx.url.searchParams.get("q") ?? "").trim().toLowerCase()
      const principal = viewer?.principal
      const all = yield* meta.allRepos.pipe(Effect.orDie)
      const visible = yield* Effect.filter(all, (r) =>
        Effect.map(access.levelOf(r, principal?.user).pipe(Effect.orDie), (l) => {
          if (!atLeast(l, "read")) return false
          if (principal?.repositories)
            return principal.repositories.has(`${r.owner_login}/${r.name}`.toLowerCase())
          return true
        }),
      )
      const matches = q
        ? visible.filter(
            (r) =>
              `${r.owner_login}/${r.name}`.toLowerCase().includes(q) ||
              (r.description ?? "").toLowerCase().includes(q),
          )
        : visible
      matches.sort((a, b) => (b.pushed_at ?? b.updated_at) - (a.pushed_at ?? a.updated_at))
      yield* page(
        ctx,
        viewer,
        q ? `Search: ${q}` : "Explore",
        html`<h1>${q ? html`Repositories matching “${q}”` : "Explore repositories"}</h1>
<p class="muted">${matches.length} repositor${matches.length === 1 ? "y" : "ies"}${viewer ? "" : html` · <a href="/-/signin">Sign in</a> to see more`}</p>
<div class="box"><ul class="rows">${
          matches.length === 0
            ? html`<li>No repositories${q ? " match" : " yet"}.</li>`
            : matches
                .slice(0, 200)
                .map(
                  (r) =>
                    html`<li><a href="/${r.owner_login}/${r.name}"><strong>${r.owner_login}/${r.name}</strong></a>${
                      r.visibility !== "public"
                        ? html`<span class="label">${r.visibility}</span>`
                        : ""
                    }<span class="muted">${r.description ?? ""}</span></li>`,
                )
        }</ul></div>`,
        { q },
      )
    }),
  ),
  webRoute("GET", "/:owner", (ctx, viewer) =>
    Effect.gen(function* () {
      const identity = yield* Identity
      const repos = yield* Repositories
      const meta = yield* Metadata
      const login = ctx.params.owner!
      const who = yield* meta.userByLogin(login).pipe(Effect.orDie)
      if (!who) return yield* new NotFound({ what: `user ${login}` })
      const list = yield* repos.listOf(who.login, viewer?.principal)
      const isOrg = who.type === "Organization"
      const orgs = isOrg ? [] : yield* identity.orgsOf(who.login)
      const teams = isOrg ? yield* identity.teams(who.login, viewer?.principal) : []
      const owner = isOrg && (yield* identity.roleIn(who, viewer?.principal)) === "admin"
      yield* page(
        ctx,
        viewer,
        who.login,
        html`<h1>${who.name ? html`${who.name} <span class="muted">(${who.login})</span>` : who.login}</h1>
<p class="muted">${isOrg ? "Organisation" : "User"}${who.bio ? html` · ${who.bio}` : ""}</p>
${orgs.length > 0 ? html`<p>Organisations: ${orgs.map((o, i) => html`${i > 0 ? ", " : ""}<a href="/${o.login}">${o.login}</a>`)}</p>` : ""}
<section class="box" aria-labelledby="repos-h"><div class="head"><h2 id="repos-h">Repositories</h2></div><ul class="rows">${
          list.length === 0
            ? html`<li>No repositories you can see.</li>`
            : list.map(
                (r) =>
                  html`<li><a href="/${r.owner_login}/${r.name}"><strong>${r.name}</strong></a>${
                    r.visibility !== "public"
                      ? html`<span class="label">${r.visibility}</span>`
                      : ""
                  }<span class="muted">${r.description ?? ""}</span></li>`,
              )
        }</ul></section>
${
  isOrg && (teams.length > 0 || owner)
    ? html`<section class="box" aria-labelledby="teams-h"><div class="head"><h2 id="teams-h">Teams</h2></div><ul class="rows">${
        teams.length === 0
          ? html`<li>No teams yet.</li>`
          : teams.map(
              (t) =>
                html`<li><a href="/${who.login}/-/teams/${t.slug}">${t.name}</a><span class="muted">${t.description ?? ""}</span></li>`,
            )
      }</ul>${
        owner && viewer
          ? html`<div class="body"><form method="post" action="/${who.login}/-/teams">${csrfField(viewer)}
<label for="team-name">New team name</label><input id="team-name" name="name" required>
<label for="team-desc">Description (optional)</label><input id="team-desc" name="description">
<label for="team-privacy">Visibility</label><select id="team-privacy" name="privacy"><option value="closed">visible to members</option><option value="secret">secret</option></select>
<p><button type="submit">Create team</button></p></form></div>`
          : ""
      }</section>`
    : ""
}`,
      )
    }),
  ),
  webRoute("GET", "/:owner/:repo", (ctx, viewer) =>
    Effect.gen(function* () {
      const { repo, level } = yield* openRepo(ctx, viewer)
      yield* treePage(ctx, viewer, repo, level, undefined, "")
    }),
  ),
  webRoute("GET", "/:owner/:repo/-/switch", (ctx, viewer) =>
    Effect.gen(function* () {
      const { repo } = yield* openRepo(ctx, viewer)
      const ref = ctx.url.searchParams.get("ref") ?? repo.default_branch
      const path = ctx.url.searchParams.get("path") ?? ""
      const kind = ctx.url.searchParams.get("kind") === "commits" ? "commits" : "tree"
      const b = repoBase(repo)
      const target =
        kind === "commits"
          ? `${b}/commits/${pathUrl(ref)}`
          : `${b}/tree/${pathUrl(ref)}${path ? `/${pathUrl(path)}` : ""}`
      yield* Effect.sync(() => {
        ctx.res.writeHead(303, { location: target, "content-length": 0 })
        ctx.res.end()
      })
    }),
  ),
  webRoute("GET", "/:owner/:repo/tree/*rest", (ctx, viewer) =>
    Effect.gen(function* () {
      const { repo, level } = yield* openRepo(ctx, viewer)
      const { ref, path } = yield* splitRefPath(repo, ctx.params.rest ?? "", viewer?.principal)
      yield* treePage(ctx, viewer, repo, level, ref, path)
    }),
  ),
  webRoute("GET", "/:owner/:repo/blob/*rest", (ctx, viewer) =>
    Effect.gen(function* () {
      const { repo, level } = yield* openRepo(ctx, viewer)
      const { ref, path } = yield* splitRefPath(repo, ctx.params.rest ?? "", viewer?.principal)
      yield* blobPage(ctx, viewer, repo, level, ref, path)
    }),
  ),
  webRoute("GET", "/:owner/:repo/blame/*rest", blamePage),
  webRoute("GET", "/:owner/:repo/-/raw/*rest", (ctx, viewer) =>
    Effect.gen(function* () {
      const content = yield* RepoContent
      const got = yield* content.raw(
        ctx.params.owner!,
        ctx.params.repo!,
        ctx.params.rest ?? "",
        viewer?.principal,
      )
      const bytes =
        got.node.type === "file" || got.node.type === "symlink"
          ? (got.node.content ?? new Uint8Array(0))
          : new Uint8Array(0)
      yield* Effect.sync(() => {
        ctx.res.writeHead(200, {
          // Never rendered as HTML by the browser: user content on our origin stays inert.
          "content-type": isBinary(bytes)
            ? "application/octet-stream"
            : "text/plain; charset=utf-8",
          "content-length": bytes.length,
          "x-content-type-options": "nosniff",
          "content-security-policy": "default-src 'none'; sandbox",
        })
        ctx.res.end(ctx.req.method === "HEAD" ? undefined : bytes)
      })
    }),
  ),
  webRoute("GET", "/:owner/:repo/commits", (ctx, viewer) => commitsPage(ctx, viewer, undefined)),
  webRoute("GET", "/:owner/:repo/commits/*rest", (ctx, viewer) =>
    commitsPage(ctx, viewer, ctx.params.rest),
  ),
  webRoute("GET", "/:owner/:repo/commit/:sha", (ctx, viewer) =>
    Effect.gen(function* () {
      const { repo, level } = yield* openRepo(ctx, viewer)
      const content = yield* RepoContent
      const got = yield* content.commit(
        repo.owner_login,
        repo.name,
        ctx.params.sha!,
        viewer?.principal,
      )
      const mode = diffMode(ctx.url)
      const msg = textString(got.commit.message)
      const [subject, ...rest] = msg.split("\n")
      const b = repoBase(repo)
      yield* page(
        ctx,
        viewer,
        `${subject} · ${got.id.slice(0, 7)}`,
        html`${repoHeader(repo, level, "commits")}
<section class="box"><div class="head"><h2>${subject}</h2><code>${got.id}</code></div><div class="body">
${rest.join("\n").trim() ? html`<div class="plain">${rest.join("\n").trim()}</div>` : ""}
<p class="muted">${textString(got.commit.author.name)} &lt;${textString(got.commit.author.email)}&gt; · ${when(got.commit.author.timestamp)}</p>
<p>Parents: ${got.commit.parents.length === 0 ? "none" : got.commit.parents.map((p, i) => html`${i > 0 ? ", " : ""}<a href="${b}/commit/${p}">${p.slice(0, 7)}</a>`)} · <a href="${b}/tree/${got.id}">Browse files</a></p>
</div></section>
${diffModeLinks(ctx.url, mode)}
${diffView(got.files, mode)}`,
      )
    }),
  ),
  webRoute("GET", "/:owner/:repo/compare", (ctx, viewer) =>
    Effect.gen(function* () {
      const { repo, level } = yield* openRepo(ctx, viewer)
      const content = yield* RepoContent
      const { branches } = yield* content.branches(repo.owner_login, repo.name, viewer?.principal)
      const base = ctx.url.searchParams.get("base")
      const head = ctx.url.searchParams.get("head")
      if (base && head) {
        const b = repoBase(repo)
        return yield* Effect.sync(() => {
          ctx.res.writeHead(303, {
            location: `${b}/compare/${pathUrl(base)}...${pathUrl(head)}`,
            "content-length": 0,
          })
          ctx.res.end()
        })
      }
      yield* page(
        ctx,
        viewer,
        `Compare · ${repo.name}`,
        html`${repoHeader(repo, level, "code")}${compareForm(
          repo,
          branches.map((x) => x.name),
          repo.default_branch,
          branches[0]?.name ?? "",
        )}`,
      )
    }),
  ),
  webRoute("GET", "/:owner/:repo/compare/*basehead", (ctx, viewer) =>
    Effect.gen(function* () {
      const { repo, level } = yield* openRepo(ctx, viewer)
      const content = yield* RepoContent
      const spec = ctx.params.basehead ?? ""
      const got = yield* content.compare(repo.owner_login, repo.name, spec, viewer?.principal)
      const rows = yield* content.commits(got.commits)
      const mode = diffMode(ctx.url)
      const [baseRef, headRef] = spec.split("...")
      const b = repoBase(repo)
      yield* page(
        ctx,
        viewer,
        `Compare ${spec}`,
        html`${repoHeader(repo, level, "code")}
<h2>Comparing <code>${baseRef}</code> … <code>${headRef}</code></h2>
<p>${got.status}: ${got.aheadBy} commit${got.aheadBy === 1 ? "" : "s"} ahead, ${got.behindBy} behind.${
          viewer && headRef && got.aheadBy > 0
            ? html` <a class="button primary" href="${b}/pulls/new?base=${encodeURIComponent(baseRef ?? "")}&amp;head=${encodeURIComponent(headRef)}">Open a pull request</a>`
            : ""
        }</p>
<div class="box"><ul class="rows">${rows.map((r) => commitRow(repo, r.id, r.commit))}</ul></div>
${diffModeLinks(ctx.url, mode)}
${diffView(got.files, mode)}`,
      )
    }),
  ),
  webRoute("GET", "/:owner/:repo/releases", (ctx, viewer) =>
    Effect.gen(function* () {
      const { repo, level } = yield* openRepo(ctx, viewer)
      const releases = yield* Releases
      const meta = yield* Metadata
      const { rows } = yield* releases.releases(repo.owner_login, repo.name, viewer?.principal)
      const b = repoBase(repo)
      const items = yield* Effect.forEach(rows, (r) =>
        Effect.map(
          meta.assets(r.id).pipe(Effect.orDie),
          (assets) =>
            html`<section class="box" aria-label="${r.name ?? r.tag_name}"><div class="head"><h2>${r.name ?? r.tag_name}</h2><span>${
              r.draft ? html`<span class="state draft">draft</span>` : ""
            }${r.prerelease ? html`<span class="label">pre-release</span>` : ""} <code>${r.tag_name}</code> · ${when(r.published_at ?? r.created_at)}</span></div>
<div class="body">${r.body ? markdown(r.body) : ""}
${
  assets.length > 0
    ? html`<h3>Assets</h3><ul>${assets.map(
        (a) =>
          html`<li><a href="${b}/releases/download/${encodeURIComponent(r.tag_name)}/${encodeURIComponent(a.name)}">${a.name}</a> <span class="muted">${a.size} bytes</span></li>`,
      )}</ul>`
    : ""
}
<p><a href="${b}/tree/${pathUrl(r.tag_name)}">Browse the code at ${r.tag_name}</a></p></div></section>`,
        ),
      )
      yield* page(
        ctx,
        viewer,
        `Releases · ${repo.name}`,
        html`${repoHeader(repo, level, "releases")}${items.length === 0 ? html`<p>No releases yet.</p>` : join(items)}`,
      )
    }),
  ),
]

export const compareForm = (
  repo: RepoRow,
  branches: ReadonlyArray<string>,
  base: string,
  head: string,
) => html`<form class="stack" method="get" action="${repoBase(repo)}/compare">
  <label for="cmp-base">Base</label>
  <select id="cmp-base" name="base">${branches.map((x) => html`<option${x === base ? raw(" selected") : ""}>${x}</option>`)}</select>
  <label for="cmp-head">Compare</label>
  <select id="cmp-head" name="head">${branches.map((x) => html`<option${x === head ? raw(" selected") : ""}>${x}</option>`)}</select>
  <p><button type="submit">Compare</button></p>
</form>`
