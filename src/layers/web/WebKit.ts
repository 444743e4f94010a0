/**
 * What every web page shares: the signed-in viewer, the page layout (landmarks, skip link,
 * header navigation), HTML answers, redirects, form bodies with their CSRF check, and
 * failures rendered as HTML pages (a missing or hidden repository is a 404 page, never a
 * hint that it exists).
 */
import { Effect } from "effect"
import type { Principal } from "../../services/Auth.ts"
import { readBody } from "../http/Body.ts"
import { HttpError, toHttpError } from "../http/HttpErrors.ts"
import type { HttpContext, Route } from "../http/HttpServer.ts"
import { type Html, html } from "./Html.ts"
import { sameSecret, type Viewer, viewerOf } from "./Session.ts"

export interface PageOptions {
  readonly title: string
  readonly viewer: Viewer | undefined
  readonly body: Html
  readonly scripts?: ReadonlyArray<string>
  /** The search box's current text. */
  readonly q?: string
}

export const layout = (o: PageOptions) => html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${o.title} · Guts</title>
<link rel="stylesheet" href="/-/static/style.css">
</head>
<body>
<a class="skip" href="#main">Skip to content</a>
<header class="site">
  <a class="brand" href="/">Guts</a>
  <nav aria-label="Site">
    <ul>
      <li><a href="/">Explore</a></li>
      <li><a href="/-/cluster">Cluster</a></li>
      ${o.viewer ? html`<li><a href="/-/new">New repository</a></li>` : ""}
    </ul>
  </nav>
  <form class="search" role="search" method="get" action="/">
    <label class="visually-hidden" for="site-q">Search repositories</label>
    <input id="site-q" name="q" type="search" placeholder="Search repositories" value="${o.q ?? ""}">
    <button type="submit">Search</button>
  </form>
  <div class="me">
  ${
    o.viewer
      ? html`<a href="/${o.viewer.principal.user.login}">${o.viewer.principal.user.login}</a>
    <a href="/-/account">Account</a>
    <form method="post" action="/-/signout">
      <input type="hidden" name="_csrf" value="${o.viewer.csrf}">
      <button type="submit">Sign out</button>
    </form>`
      : html`<a href="/-/signin">Sign in</a>`
  }
  </div>
</header>
<main id="main" tabindex="-1">
${o.body}
</main>
<footer class="site">Guts — code collaboration replicated by Simplex BFT consensus · <a href="/api/docs">REST API</a></footer>
${(o.scripts ?? []).map((s) => html`<script src="/-/static/${s}" defer></script>`)}
</body>
</html>`

export const sendHtml = (ctx: HttpContext, status: number, page: Html) =>
  Effect.sync(() => {
    const text = page.text
    ctx.res.writeHead(status, {
      "content-type": "text/html; charset=utf-8",
      "content-length": Buffer.byteLength(text),
      "cache-control": "no-store",
      "x-content-type-options": "nosniff",
      "x-frame-options": "DENY",
      "referrer-policy": "same-origin",
      // Scripts only from our own origin: inline <script> in user content could never run.
      "content-security-policy":
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: https:; connect-src 'self' ws: wss:; frame-ancestors 'none'; base-uri 'self'; form-action 'self'",
    })
    ctx.res.end(ctx.req.method === "HEAD" ? undefined : text)
  })

export const page = (
  ctx: HttpContext,
  viewer: Viewer | undefined,
  title: string,
  body: Html,
  extra: Partial<PageOptions> = {},
) => sendHtml(ctx, 200, layout({ title, viewer, body, ...extra }))

export const redirect = (ctx: HttpContext, location: string) =>
  Effect.sync(() => {
    ctx.res.writeHead(303, { location, "content-length": 0 })
    ctx.res.end()
  })

/** A failure as an HTML page with the status it maps to. */
export class PageError {
  constructor(
    readonly status: number,
    readonly message: string,
  ) {}
}

export const fail = (status: number, message: string) => Effect.fail(new PageError(status, message))

const errorTitle = (status: number) =>
  status === 404
    ? "Not found"
    : status === 403
      ? "Forbidden"
      : status === 401
        ? "Sign in required"
        : status === 422
          ? "Cannot do that"
          : status === 405
            ? "Not allowed"
            : status === 409
              ? "Conflict"
              : status === 503
                ? "Unavailable"
                : "Error"

const errorPage = (ctx: HttpContext, viewer: Viewer | undefined, status: number, message: string) =>
  sendHtml(
    ctx,
    status,
    layout({
      title: errorTitle(status),
      viewer,
      body: html`<h1>${status} — ${errorTitle(status)}</h1>
<p class="flash error" role="alert">${message}</p>
<p><a href="/">Back to the start page</a>${
        status === 401 || (status === 404 && !viewer)
          ? html` · <a href="/-/signin?next=${encodeURIComponent(ctx.url.pathname + ctx.url.search)}">Sign in</a>`
          : ""
      }</p>`,
    }),
  )

/** Owners that are not users: paths the rest of the node serves (never a web page). */
const RESERVED = new Set(["api", "health", "ws", "git", "uploads", "-"])

/** A web route: failures become HTML error pages; reserved first segments stay JSON 404s. */
export const webRoute = <R>(
  method: string,
  path: string,
  handler: (ctx: HttpContext, viewer: Viewer | undefined) => Effect.Effect<void, unknown, R>,
): Route<R> => ({
  name: `WEB ${method} ${path}`,
  method,
  path,
  handler: (ctx) =>
    Effect.gen(function* () {
      const owner = ctx.params.owner
      if (owner !== undefined && RESERVED.has(owner.toLowerCase()))
        return yield* new HttpError({ status: 404, message: "Not Found" })
      const viewer = yield* viewerOf(ctx)
      yield* handler(ctx, viewer).pipe(
        Effect.catchAll((e) => {
          if (e instanceof PageError) return errorPage(ctx, viewer, e.status, e.message)
          const known = toHttpError(e)
          if (known) {
            const message =
              known.status === 404 ? "There is nothing here, or you cannot see it." : known.message
            return errorPage(ctx, viewer, known.status, message)
          }
          return Effect.fail(e)
        }),
      )
    }) as Effect.Effect<void, unknown, R>,
})

/** The viewer, or a 401 page asking to sign in. */
export const requireViewer = (viewer: Viewer | undefined) =>
  viewer ? Effect.succeed(viewer) : fail(401, "You need to sign in to do this.")

export type Form = Readonly<Record<string, string>> & { readonly all: (k: string) => string[] }

/** An urlencoded form body (at most 1 MiB). */
export const readForm = (ctx: HttpContext) =>
  Effect.map(readBody(ctx.req, 1024 * 1024), (buf) => {
    const params = new URLSearchParams(buf.toString("utf8"))
    const out: Record<string, string> = {}
    for (const [k, v] of params) if (!(k in out)) out[k] = v
    return Object.assign(out, { all: (k: string) => params.getAll(k) }) as Form
  })

/**
 * A signed-in POST: the form, after checking its CSRF token against the session. A form
 * without one (or with another session's) is refused with a 403 page that says why.
 */
export const postForm = (ctx: HttpContext, viewer: Viewer | undefined) =>
  Effect.gen(function* () {
    const form = yield* readForm(ctx)
    if (!viewer) return yield* fail(401, "You need to sign in to do this.")
    if (!sameSecret(form._csrf, viewer.csrf))
      return yield* fail(
        403,
        "This form's security token (CSRF) is missing or does not match your session, so nothing was changed. Reload the page and submit it again.",
      )
    return { form, viewer, principal: viewer.principal as Principal }
  })

export const csrfField = (viewer: Viewer) =>
  html`<input type="hidden" name="_csrf" value="${viewer.csrf}">`

/** Seconds or milliseconds since the epoch, as a short UTC date. */
export const when = (t: number | null | undefined) => {
  if (t === null || t === undefined) return ""
  const ms = t < 1e12 ? t * 1000 : t
  const d = new Date(ms)
  return html`<time datetime="${d.toISOString()}">${d.toISOString().slice(0, 16).replace("T", " ")} UTC</time>`
}
