/**
 * Settings: a repository's collaborators, branch protection and webhooks (with each hook's
 * delivery log), and an organisation's teams. Reading needs admin on the repository (or
 * membership for teams); every change goes through the same services and transactions as
 * the REST API, so Apply checks it again.
 */
import { randomUUID } from "node:crypto"
import { Effect } from "effect"
import { parseLevel } from "../../domain/Permissions.ts"
import { SetHook, type UserId } from "../../domain/Transaction.ts"
import { Identity } from "../../services/Identity.ts"
import { Ledger } from "../../services/Ledger.ts"
import { Metadata, type RepoRow } from "../../services/Metadata.ts"
import { NotFound } from "../../services/Errors.ts"
import { Repositories } from "../../services/Repositories.ts"
import { submitTx } from "../../services/Submit.ts"
import type { HttpContext } from "../http/HttpServer.ts"
import { html, raw } from "./Html.ts"
import { repoBase, repoHeader } from "./RepoPages.ts"
import type { Viewer } from "./Session.ts"
import { csrfField, fail, page, postForm, redirect, webRoute, when } from "./WebKit.ts"

const adminRepo = (ctx: HttpContext, viewer: Viewer | undefined) =>
  Effect.gen(function* () {
    const repos = yield* Repositories
    // Below admin the settings do not exist for the viewer (the repository may still be readable).
    const found = yield* repos
      .access(ctx.params.owner!, ctx.params.repo!, viewer?.principal, "admin")
      .pipe(Effect.catchTag("Forbidden", () => Effect.fail(new NotFound({ what: "settings" }))))
    return found
  })

const settingsPage = (ctx: HttpContext, viewer: Viewer, repo: RepoRow) =>
  Effect.gen(function* () {
    const repos = yield* Repositories
    const meta = yield* Metadata
    const collaborators = yield* meta.collaborators(repo.id).pipe(Effect.orDie)
    const protections = yield* repos.protectedBranches(repo)
    const hooks = yield* meta.hooksOf({ repoId: repo.id, orgId: undefined }).pipe(Effect.orDie)
    const b = repoBase(repo)
    const saved = ctx.url.searchParams.get("saved")
    yield* page(
      ctx,
      viewer,
      `Settings · ${repo.owner_login}/${repo.name}`,
      html`${repoHeader(repo, "admin", "settings")}
${saved ? html`<p class="flash" role="status">Saved: ${saved}.</p>` : ""}
<section class="box" aria-labelledby="collab-h"><div class="head"><h2 id="collab-h">Collaborators</h2></div>
<ul class="rows">${
        collaborators.length === 0
          ? html`<li>No collaborators yet.</li>`
          : collaborators.map(
              (
                c,
              ) => html`<li><a href="/${c.login}">${c.login}</a> <span class="label">${c.role}</span>
<form method="post" action="${b}/settings/collaborators">${csrfField(viewer)}<input type="hidden" name="user" value="${c.login}"><input type="hidden" name="permission" value="none"><button class="danger" type="submit">Remove ${c.login}</button></form></li>`,
            )
      }</ul>
<div class="body"><form method="post" action="${b}/settings/collaborators">
  ${csrfField(viewer)}
  <label for="collab-user">Add a collaborator (username)</label>
  <input id="collab-user" name="user" required>
  <label for="collab-perm">Permission</label>
  <select id="collab-perm" name="permission">${["read", "triage", "write", "maintain", "admin"].map((l) => html`<option${l === "write" ? raw(" selected") : ""}>${l}</option>`)}</select>
  <p><button type="submit">Add collaborator</button></p>
</form></div></section>

<section class="box" aria-labelledby="prot-h"><div class="head"><h2 id="prot-h">Branch protection</h2></div>
<ul class="rows">${
        protections.length === 0
          ? html`<li>No protected branches.</li>`
          : protections.map(
              (
                p,
              ) => html`<li><code>${p.branch}</code> <span class="muted">${p.rule.requiredReviews ? `${p.rule.requiredReviews.requiredApprovingReviewCount} approval(s) required` : "no reviews required"}${
                p.rule.requiredStatusChecks?.contexts.length
                  ? ` · checks: ${p.rule.requiredStatusChecks.contexts.join(", ")}`
                  : ""
              }</span>
<form method="post" action="${b}/settings/protection">${csrfField(viewer)}<input type="hidden" name="branch" value="${p.branch}"><input type="hidden" name="remove" value="1"><button class="danger" type="submit">Unprotect ${p.branch}</button></form></li>`,
            )
      }</ul>
<div class="body"><form method="post" action="${b}/settings/protection">
  ${csrfField(viewer)}
  <label for="prot-branch">Branch</label>
  <input id="prot-branch" name="branch" required value="${repo.default_branch}">
  <label for="prot-approvals">Required approvals (0–6)</label>
  <input id="prot-approvals" name="approvals" type="number" min="0" max="6" value="1">
  <label for="prot-checks">Required status checks (comma-separated contexts)</label>
  <input id="prot-checks" name="checks">
  <p><input type="checkbox" id="prot-admins" name="enforce_admins" value="1"><label class="inline" for="prot-admins">Apply to administrators too</label></p>
  <p><button type="submit">Protect branch</button></p>
</form></div></section>

<section class="box" aria-labelledby="hooks-h"><div class="head"><h2 id="hooks-h">Webhooks</h2></div>
<ul class="rows">${
        hooks.length === 0
          ? html`<li>No webhooks.</li>`
          : hooks.map(
              (h) =>
                html`<li><a href="${b}/settings/hooks/${h.id}">${h.url}</a> <span class="muted">${(JSON.parse(h.events) as string[]).join(", ")} · ${h.active ? "active" : "inactive"}</span></li>`,
            )
      }</ul>
<div class="body"><form method="post" action="${b}/settings/hooks">
  ${csrfField(viewer)}
  <label for="hook-url">Payload URL</label>
  <input id="hook-url" name="url" type="url" required>
  <label for="hook-events">Events (comma-separated; * for all)</label>
  <input id="hook-events" name="events" value="push, pull_request, issues">
  <label for="hook-secret">Secret (optional)</label>
  <input id="hook-secret" name="secret" type="password" autocomplete="off">
  <p><button type="submit">Add webhook</button></p>
</form></div></section>`,
    )
  })

const submitHook = (
  viewer: Viewer,
  fields: Omit<SetHook, "_tag" | "submitter" | "idempotencyKey">,
) =>
  Effect.gen(function* () {
    const ledger = yield* Ledger
    return yield* submitTx<{ id: number }>(
      ledger,
      SetHook.make({
        submitter: viewer.principal.user.id as UserId,
        idempotencyKey: randomUUID(),
        ...fields,
      }),
      "Hook",
      "config",
    )
  })

export const settingsRoutes = [
  webRoute("GET", "/:owner/:repo/settings", (ctx, viewer) =>
    Effect.gen(function* () {
      const { repo } = yield* adminRepo(ctx, viewer)
      yield* settingsPage(ctx, viewer!, repo)
    }),
  ),
  webRoute("POST", "/:owner/:repo/settings/collaborators", (ctx, viewer) =>
    Effect.gen(function* () {
      const { form, principal } = yield* postForm(ctx, viewer)
      const { repo } = yield* adminRepo(ctx, viewer)
      const repos = yield* Repositories
      const user = (form.user ?? "").trim()
      if (!user) return yield* fail(422, "Name the user to add.")
      const level = form.permission === "none" ? null : (parseLevel(form.permission) ?? null)
      if (form.permission !== "none" && level === null)
        return yield* fail(
          422,
          "The permission must be one of read, triage, write, maintain, admin.",
        )
      yield* repos.setCollaborator(principal, repo.owner_login, repo.name, user, level)
      yield* redirect(ctx, `${repoBase(repo)}/settings?saved=collaborators`)
    }),
  ),
  webRoute("POST", "/:owner/:repo/settings/protection", (ctx, viewer) =>
    Effect.gen(function* () {
      const { form, principal } = yield* postForm(ctx, viewer)
      const { repo } = yield* adminRepo(ctx, viewer)
      const repos = yield* Repositories
      const branch = (form.branch ?? "").trim()
      if (!branch) return yield* fail(422, "Name the branch to protect.")
      if (form.remove === "1") {
        yield* repos.setProtection(principal, repo.owner_login, repo.name, branch, null)
        return yield* redirect(ctx, `${repoBase(repo)}/settings?saved=protection`)
      }
      const approvals = Number(form.approvals ?? 0)
      if (!Number.isInteger(approvals) || approvals < 0 || approvals > 6)
        return yield* fail(422, "Required approvals must be a whole number from 0 to 6.")
      const contexts = (form.checks ?? "")
        .split(",")
        .map((s) => s.trim())
        .filter((s) => s !== "")
      yield* repos.setProtection(principal, repo.owner_login, repo.name, branch, {
        required_status_checks: contexts.length > 0 ? { strict: false, contexts } : null,
        enforce_admins: form.enforce_admins === "1",
        required_pull_request_reviews:
          approvals > 0 ? { required_approving_review_count: approvals } : null,
        restrictions: null,
      })
      yield* redirect(ctx, `${repoBase(repo)}/settings?saved=protection`)
    }),
  ),
  webRoute("POST", "/:owner/:repo/settings/hooks", (ctx, viewer) =>
    Effect.gen(function* () {
      const { form } = yield* postForm(ctx, viewer)
      const { repo } = yield* adminRepo(ctx, viewer)
      const url = (form.url ?? "").trim()
      if (!/^https?:\/\//i.test(url))
        return yield* fail(422, "The payload URL must start with http:// or https://.")
      const events = (form.events ?? "push")
        .split(",")
        .map((s) => s.trim())
        .filter((s) => s !== "")
      yield* submitHook(viewer!, {
        owner: repo.owner_login,
        repo: repo.name,
        url,
        contentType: "json",
        secret: form.secret || undefined,
        events,
        active: true,
      })
      yield* redirect(ctx, `${repoBase(repo)}/settings?saved=webhook`)
    }),
  ),
  webRoute("GET", "/:owner/:repo/settings/hooks/:id", (ctx, viewer) =>
    Effect.gen(function* () {
      const { repo } = yield* adminRepo(ctx, viewer)
      const meta = yield* Metadata
      const hook = yield* meta.hookById(Number(ctx.params.id)).pipe(Effect.orDie)
      if (!hook || hook.repo_id !== repo.id) return yield* new NotFound({ what: "hook" })
      const deliveries = yield* meta.deliveries(hook.id).pipe(Effect.orDie)
      yield* page(
        ctx,
        viewer,
        `Webhook ${hook.id}`,
        html`${repoHeader(repo, "admin", "settings")}
<h2>Webhook <code>${hook.url}</code></h2>
<p class="muted">Events: ${(JSON.parse(hook.events) as string[]).join(", ")} · ${hook.active ? "active" : "inactive"} · created ${when(hook.created_at)}</p>
<form method="post" action="${repoBase(repo)}/settings/hooks/${hook.id}/delete">${csrfField(viewer!)}<button class="danger" type="submit">Delete webhook</button></form>
<section class="box" aria-labelledby="deliv-h"><div class="head"><h3 id="deliv-h">Recent deliveries</h3></div>
${
  deliveries.length === 0
    ? html`<p class="body">No deliveries yet.</p>`
    : html`<div class="code-wrap"><table class="data"><thead><tr><th scope="col">Delivered</th><th scope="col">Event</th><th scope="col">Status</th><th scope="col">Duration</th><th scope="col">Attempts</th></tr></thead><tbody>${deliveries.map(
        (d) =>
          html`<tr><td>${when(d.delivered_at)}</td><td>${d.event}${d.action ? `.${d.action}` : ""}</td><td class="${d.status_code >= 200 && d.status_code < 300 ? "ok" : "bad"}">${d.status} (${d.status_code})</td><td>${d.duration_ms} ms</td><td>${d.attempts}</td></tr>`,
      )}</tbody></table></div>`
}</section>`,
      )
    }),
  ),
  webRoute("POST", "/:owner/:repo/settings/hooks/:id/delete", (ctx, viewer) =>
    Effect.gen(function* () {
      yield* postForm(ctx, viewer)
      const { repo } = yield* adminRepo(ctx, viewer)
      const meta = yield* Metadata
      const hook = yield* meta.hookById(Number(ctx.params.id)).pipe(Effect.orDie)
      if (!hook || hook.repo_id !== repo.id) return yield* new NotFound({ what: "hook" })
      yield* submitHook(viewer!, {
        owner: repo.owner_login,
        repo: repo.name,
        id: hook.id,
        delete: true,
      })
      yield* redirect(ctx, `${repoBase(repo)}/settings?saved=webhook`)
    }),
  ),
  // --- organisation teams
  webRoute("GET", "/:owner/-/teams/:slug", (ctx, viewer) =>
    Effect.gen(function* () {
      const identity = yield* Identity
      const principal = viewer?.principal
      const { org, team } = yield* identity.team(ctx.params.owner!, ctx.params.slug!, principal)
      const members = yield* identity.teamMembers(org.login, team.slug, principal)
      const repos = yield* identity.teamRepos(org.login, team.slug, principal)
      const role = yield* identity.roleIn(org, principal)
      yield* page(
        ctx,
        viewer,
        `${team.name} · ${org.login}`,
        html`<h1><a href="/${org.login}">${org.login}</a> / ${team.name}</h1>
<p class="muted">${team.description ?? ""} · ${team.privacy} · default permission ${team.permission}</p>
<section class="box" aria-labelledby="tm-h"><div class="head"><h2 id="tm-h">Members</h2></div><ul class="rows">${
          members.length === 0
            ? html`<li>No members.</li>`
            : members.map(
                (m) =>
                  html`<li><a href="/${m.login}">${m.login}</a> <span class="label">${m.role}</span></li>`,
              )
        }</ul>
${
  viewer && role === "admin"
    ? html`<div class="body"><form method="post" action="/${org.login}/-/teams/${team.slug}/members">${csrfField(viewer)}
<label for="tm-user">Add a member (username)</label><input id="tm-user" name="user" required>
<label for="tm-role">Role</label><select id="tm-role" name="role"><option>member</option><option>maintainer</option></select>
<p><button type="submit">Add member</button></p></form></div>`
    : ""
}</section>
<section class="box" aria-labelledby="tr-h"><div class="head"><h2 id="tr-h">Repositories</h2></div><ul class="rows">${
          repos.length === 0
            ? html`<li>No repositories.</li>`
            : repos.map(
                (r) =>
                  html`<li><a href="/${r.owner_login}/${r.name}">${r.name}</a> <span class="label">${r.team_permission}</span></li>`,
              )
        }</ul></section>`,
      )
    }),
  ),
  webRoute("POST", "/:owner/-/teams", (ctx, viewer) =>
    Effect.gen(function* () {
      const { form, principal } = yield* postForm(ctx, viewer)
      const identity = yield* Identity
      const name = (form.name ?? "").trim()
      if (!name) return yield* fail(422, "Name the team.")
      const made = yield* identity.createTeam(principal, ctx.params.owner!, {
        name,
        description: form.description || undefined,
        privacy: form.privacy === "secret" ? "secret" : "closed",
      })
      yield* redirect(ctx, `/${made.org.login}/-/teams/${made.team.slug}`)
    }),
  ),
  webRoute("POST", "/:owner/-/teams/:slug/members", (ctx, viewer) =>
    Effect.gen(function* () {
      const { form, principal } = yield* postForm(ctx, viewer)
      const identity = yield* Identity
      const user = (form.user ?? "").trim()
      if (!user) return yield* fail(422, "Name the user to add.")
      yield* identity.setTeamMembership(
        principal,
        ctx.params.owner!,
        ctx.params.slug!,
        user,
        form.role === "maintainer" ? "maintainer" : "member",
      )
      yield* redirect(ctx, `/${ctx.params.owner}/-/teams/${ctx.params.slug}`)
    }),
  ),
]
