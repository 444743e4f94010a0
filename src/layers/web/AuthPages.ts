/**
 * Signing in and out, signing up (when registration is open), the account page (set a
 * password) and the new-repository form.
 *
 * A password or a token is exchanged for a new session token (a real API token with the
 * note "web session" and a 14-day expiry) in an HttpOnly cookie; signing out revokes it.
 */
import { Clock, Effect } from "effect"
import { passwordProblem, verifyPassword } from "../../domain/Password.ts"
import { hasScope } from "../../domain/Permissions.ts"
import { Auth, type Principal } from "../../services/Auth.ts"
import { Identity } from "../../services/Identity.ts"
import { Metadata, type UserRow } from "../../services/Metadata.ts"
import { NodeConfig } from "../../services/NodeConfig.ts"
import { Repositories } from "../../services/Repositories.ts"
import type { HttpContext } from "../http/HttpServer.ts"
import { html } from "./Html.ts"
import {
  clearSessionCookie,
  SESSION_DAYS,
  SESSION_NOTE,
  sameSecret,
  setSessionCookie,
  signinNonce,
  type Viewer,
} from "./Session.ts"
import {
  csrfField,
  fail,
  page,
  postForm,
  readForm,
  redirect,
  requireViewer,
  sendHtml,
  layout,
  webRoute,
} from "./WebKit.ts"

/** What a password sign-in's session may do: everything a person does in the browser. */
const SESSION_SCOPES = ["repo", "user", "admin:org", "admin:public_key", "delete_repo", "workflow"]

/** Only same-site paths are followed after sign-in. */
const safeNext = (next: string | undefined) =>
  next?.startsWith("/") && !next.startsWith("//") && !next.startsWith("/\\") ? next : "/"

const signinForm = (
  ctx: HttpContext,
  nonce: string,
  message: string | undefined,
  open: boolean,
  login = "",
) =>
  layout({
    title: "Sign in",
    viewer: undefined,
    body: html`<h1>Sign in</h1>
${message ? html`<p class="flash error" role="alert">${message}</p>` : ""}
<div class="grid">
<section class="box" aria-labelledby="pw-h"><div class="head"><h2 id="pw-h">With your password</h2></div><div class="body">
<form class="stack" method="post" action="/-/signin">
  <input type="hidden" name="_signin" value="${nonce}">
  <input type="hidden" name="next" value="${ctx.url.searchParams.get("next") ?? ""}">
  <label for="login">Username</label>
  <input id="login" name="login" autocomplete="username" required value="${login}">
  <label for="password">Password</label>
  <input id="password" name="password" type="password" autocomplete="current-password" required>
  <p><button class="primary" type="submit">Sign in</button></p>
</form></div></section>
<section class="box" aria-labelledby="tok-h"><div class="head"><h2 id="tok-h">With a token</h2></div><div class="body">
<form class="stack" method="post" action="/-/signin">
  <input type="hidden" name="_signin" value="${nonce}">
  <input type="hidden" name="next" value="${ctx.url.searchParams.get("next") ?? ""}">
  <label for="token">Personal access token</label>
  <input id="token" name="token" type="password" autocomplete="off" required>
  <p class="muted">The session gets the same scopes as the token.</p>
  <p><button type="submit">Sign in with token</button></p>
</form></div></section>
</div>
${open ? html`<p>No account? <a href="/-/signup">Sign up</a>.</p>` : ""}`,
  })

/** Creates the session token for `principal` and sets the cookie. */
const startSession = (ctx: HttpContext, principal: Principal, scopes: ReadonlyArray<string>) =>
  Effect.gen(function* () {
    const identity = yield* Identity
    const now = yield* Clock.currentTimeMillis
    const made = yield* identity.createToken(principal, {
      note: SESSION_NOTE,
      scopes,
      expiresAt: now + SESSION_DAYS * 86_400_000,
      repositories: principal.repositories ? [...principal.repositories] : undefined,
    })
    yield* setSessionCookie(ctx, made.token)
  })

const passwordPrincipal = (user: UserRow): Principal => ({
  user,
  scopes: user.site_admin === 1 ? [...SESSION_SCOPES, "site_admin"] : SESSION_SCOPES,
  tokenId: 0,
})

export const authRoutes = [
  webRoute("GET", "/-/signin", (ctx, viewer) =>
    Effect.gen(function* () {
      if (viewer) return yield* redirect(ctx, "/")
      const config = yield* NodeConfig
      const nonce = yield* signinNonce(ctx)
      yield* sendHtml(ctx, 200, signinForm(ctx, nonce, undefined, config.registration === "open"))
    }),
  ),
  webRoute("POST", "/-/signin", (ctx) =>
    Effect.gen(function* () {
      const form = yield* readForm(ctx)
      const config = yield* NodeConfig
      const open = config.registration === "open"
      const nonce = yield* signinNonce(ctx)
      if (!sameSecret(form._signin, nonce))
        return yield* fail(
          403,
          "The sign-in form's security token is missing or does not match this browser's cookie, so you were not signed in. Open the sign-in page again and retry (cookies must be enabled).",
        )
      const again = (message: string, login = "") =>
        sendHtml(ctx, 401, signinForm(ctx, nonce, message, open, login))
      const next = safeNext(form.next)
      if (form.token) {
        const auth = yield* Auth
        const creds = yield* auth.authenticate(`Bearer ${form.token.trim()}`)
        if (creds._tag !== "Authenticated")
          return yield* again("That token is unknown, revoked or expired.")
        yield* startSession(ctx, creds.principal, creds.principal.scopes)
        return yield* redirect(ctx, next)
      }
      const login = (form.login ?? "").trim()
      const meta = yield* Metadata
      const user = login ? yield* meta.userByLogin(login).pipe(Effect.orDie) : undefined
      const stored =
        user?.type === "User" ? yield* meta.passwordOf(user.id).pipe(Effect.orDie) : undefined
      // The same answer (and roughly the same work) whether the user or the password is wrong.
      const ok = yield* verifyPassword(
        form.password ?? "",
        stored ??
          "scrypt$16384$8$1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
      )
      if (!user || stored === undefined || !ok)
        return yield* again("Incorrect username or password.", login)
      const principal = passwordPrincipal(user)
      yield* startSession(ctx, principal, principal.scopes)
      yield* redirect(ctx, next)
    }),
  ),
  webRoute("POST", "/-/signout", (ctx, viewer) =>
    Effect.gen(function* () {
      const { principal } = yield* postForm(ctx, viewer)
      const identity = yield* Identity
      yield* identity.revokeToken(principal, principal.tokenId).pipe(Effect.ignore)
      yield* clearSessionCookie(ctx)
      yield* redirect(ctx, "/")
    }),
  ),
  webRoute("GET", "/-/signup", (ctx, viewer) =>
    Effect.gen(function* () {
      const config = yield* NodeConfig
      if (config.registration !== "open")
        return yield* fail(
          403,
          "Sign-up is closed on this node; an administrator creates accounts.",
        )
      if (viewer) return yield* redirect(ctx, "/")
      const nonce = yield* signinNonce(ctx)
      yield* page(
        ctx,
        undefined,
        "Sign up",
        html`<h1>Create an account</h1>
<form class="stack" method="post" action="/-/signup">
  <input type="hidden" name="_signin" value="${nonce}">
  <label for="login">Username</label>
  <input id="login" name="login" autocomplete="username" required>
  <label for="email">Email (optional)</label>
  <input id="email" name="email" type="email" autocomplete="email">
  <label for="password">Password</label>
  <input id="password" name="password" type="password" autocomplete="new-password" minlength="8" required>
  <p><button class="primary" type="submit">Sign up</button></p>
</form>`,
      )
    }),
  ),
  webRoute("POST", "/-/signup", (ctx) =>
    Effect.gen(function* () {
      const config = yield* NodeConfig
      if (config.registration !== "open")
        return yield* fail(
          403,
          "Sign-up is closed on this node; an administrator creates accounts.",
        )
      const form = yield* readForm(ctx)
      if (!sameSecret(form._signin, yield* signinNonce(ctx)))
        return yield* fail(
          403,
          "The sign-up form's security token is missing or does not match; reload the page and retry.",
        )
      const password = form.password ?? ""
      const problem = passwordProblem(password)
      if (problem) return yield* fail(422, problem)
      const identity = yield* Identity
      const login = (form.login ?? "").trim()
      const made = yield* identity.createUser(
        undefined,
        { login, email: form.email || undefined },
        true,
      )
      const principal = passwordPrincipal(made.user)
      // Submitted as the node (the account has no session yet), like the sign-up token.
      yield* identity.setPassword(undefined, made.user.login, password)
      yield* startSession(ctx, principal, principal.scopes)
      yield* redirect(ctx, `/${made.user.login}`)
    }),
  ),
  webRoute("GET", "/-/account", (ctx, viewer) =>
    Effect.gen(function* () {
      const v = yield* requireViewer(viewer)
      const meta = yield* Metadata
      const has = (yield* meta.passwordOf(v.principal.user.id).pipe(Effect.orDie)) !== undefined
      yield* page(
        ctx,
        v,
        "Account",
        html`<h1>Account: ${v.principal.user.login}</h1>
${ctx.url.searchParams.get("saved") ? html`<p class="flash" role="status">Password saved.</p>` : ""}
<section class="box" aria-labelledby="pw"><div class="head"><h2 id="pw">${has ? "Change password" : "Set a password"}</h2></div><div class="body">
<form class="stack" method="post" action="/-/account/password">
  ${csrfField(v)}
  <label for="new-password">New password</label>
  <input id="new-password" name="password" type="password" autocomplete="new-password" minlength="8" required>
  <p><button type="submit">Save password</button></p>
</form></div></section>
<p class="muted">Signed in with scopes: ${v.principal.scopes.join(", ") || "none"}.</p>`,
      )
    }),
  ),
  webRoute("POST", "/-/account/password", (ctx, viewer) =>
    Effect.gen(function* () {
      const { form, principal } = yield* postForm(ctx, viewer)
      if (!hasScope(principal.scopes, "user"))
        return yield* fail(
          403,
          "This session's token lacks the user scope needed to set a password.",
        )
      const identity = yield* Identity
      yield* identity.setPassword(principal, principal.user.login, form.password ?? "")
      yield* redirect(ctx, "/-/account?saved=1")
    }),
  ),
  webRoute("GET", "/-/new", (ctx, viewer) =>
    Effect.gen(function* () {
      const v = yield* requireViewer(viewer)
      const identity = yield* Identity
      const orgs = yield* identity.orgsOf(v.principal.user.login)
      yield* page(
        ctx,
        v,
        "New repository",
        newRepoForm(
          v,
          orgs.map((o) => o.login),
        ),
      )
    }),
  ),
  webRoute("POST", "/-/new", (ctx, viewer) =>
    Effect.gen(function* () {
      const { form, principal } = yield* postForm(ctx, viewer)
      const repos = yield* Repositories
      const visibility =
        form.visibility === "private"
          ? "private"
          : form.visibility === "internal"
            ? "internal"
            : "public"
      const repo = yield* repos.create(principal, {
        name: (form.name ?? "").trim(),
        description: form.description || undefined,
        visibility,
        owner: form.owner && form.owner !== principal.user.login ? form.owner : undefined,
      })
      yield* redirect(ctx, `/${repo.owner_login}/${repo.name}`)
    }),
  ),
]

const newRepoForm = (v: Viewer, orgs: ReadonlyArray<string>) => html`<h1>Create a repository</h1>
<form class="stack" method="post" action="/-/new">
  ${csrfField(v)}
  <label for="owner">Owner</label>
  <select id="owner" name="owner">
    <option value="${v.principal.user.login}">${v.principal.user.login}</option>
    ${orgs.map((o) => html`<option value="${o}">${o}</option>`)}
  </select>
  <label for="name">Repository name</label>
  <input id="name" name="name" required pattern="[A-Za-z0-9._-]+" title="letters, digits, dot, dash and underscore">
  <label for="description">Description (optional)</label>
  <input id="description" name="description">
  <fieldset>
    <legend>Visibility</legend>
    <input type="radio" id="vis-public" name="visibility" value="public" checked><label class="inline" for="vis-public">Public</label>
    <input type="radio" id="vis-internal" name="visibility" value="internal"><label class="inline" for="vis-internal">Internal</label>
    <input type="radio" id="vis-private" name="visibility" value="private"><label class="inline" for="vis-private">Private</label>
  </fieldset>
  <p><button class="primary" type="submit">Create repository</button></p>
</form>`
