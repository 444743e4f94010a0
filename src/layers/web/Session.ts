/**
 * Web sessions. Signing in creates a real API token (CreateToken, note "web session",
 * 14-day expiry) kept in an `HttpOnly; SameSite=Lax` cookie: it is checked by the same Auth
 * service as every API request, so it works on every node of a cluster, and signing out
 * revokes it everywhere.
 *
 * CSRF: every state-changing form carries HMAC-SHA256(session token, "csrf"), checked on
 * POST. The sign-in form, used before a session exists, is protected by a double-submit
 * cookie (a random value in both a cookie and the form).
 */
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto"
import { Effect } from "effect"
import { Auth, type Principal } from "../../services/Auth.ts"
import { NodeConfig } from "../../services/NodeConfig.ts"
import type { HttpContext } from "../http/HttpServer.ts"

export const SESSION_COOKIE = "guts_session"
export const SIGNIN_COOKIE = "guts_signin"
export const SESSION_DAYS = 14
export const SESSION_NOTE = "web session"

export const cookies = (ctx: HttpContext): Record<string, string> => {
  const out: Record<string, string> = {}
  for (const part of (ctx.req.headers.cookie ?? "").split(";")) {
    const eq = part.indexOf("=")
    if (eq <= 0) continue
    const k = part.slice(0, eq).trim()
    try {
      out[k] = decodeURIComponent(part.slice(eq + 1).trim())
    } catch {
      // a malformed cookie is ignored
    }
  }
  return out
}

export interface Viewer {
  readonly principal: Principal
  /** The session token (from the cookie): the key of this session's CSRF token. */
  readonly token: string
  readonly csrf: string
}

export const csrfFor = (token: string) => createHmac("sha256", token).update("csrf").digest("hex")

const viewers = new WeakMap<HttpContext, Viewer | null>()

/** The signed-in viewer, or undefined; a stale cookie (revoked, expired) is dropped. */
export const viewerOf = (ctx: HttpContext) =>
  Effect.gen(function* () {
    const cached = viewers.get(ctx)
    if (cached !== undefined) return cached ?? undefined
    const token = cookies(ctx)[SESSION_COOKIE]
    let viewer: Viewer | null = null
    if (token && /^guts_[0-9a-f]{40}$/.test(token)) {
      const auth = yield* Auth
      const creds = yield* auth.authenticate(`Bearer ${token}`)
      if (creds._tag === "Authenticated")
        viewer = { principal: creds.principal, token, csrf: csrfFor(token) }
      else yield* clearSessionCookie(ctx)
    }
    viewers.set(ctx, viewer)
    return viewer ?? undefined
  })

const secureSuffix = Effect.map(NodeConfig, (c) =>
  c.publicUrl?.toLowerCase().startsWith("https:") ? "; Secure" : "",
)

const appendCookie = (ctx: HttpContext, cookie: string) => {
  const prior = ctx.res.getHeader("set-cookie")
  const list = Array.isArray(prior) ? prior : prior === undefined ? [] : [String(prior)]
  ctx.res.setHeader("set-cookie", [...list, cookie])
}

export const setSessionCookie = (ctx: HttpContext, token: string) =>
  Effect.map(secureSuffix, (secure) =>
    appendCookie(
      ctx,
      `${SESSION_COOKIE}=${token}; Path=/; HttpOnly; SameSite=Lax; Max-Age=${SESSION_DAYS * 86_400}${secure}`,
    ),
  )

export const clearSessionCookie = (ctx: HttpContext) =>
  Effect.map(secureSuffix, (secure) =>
    appendCookie(ctx, `${SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0${secure}`),
  )

/** The double-submit value for the sign-in form: reused from the cookie, or a new one. */
export const signinNonce = (ctx: HttpContext) =>
  Effect.gen(function* () {
    const existing = cookies(ctx)[SIGNIN_COOKIE]
    if (existing && /^[0-9a-f]{32}$/.test(existing)) return existing
    const nonce = randomBytes(16).toString("hex")
    const secure = yield* secureSuffix
    appendCookie(ctx, `${SIGNIN_COOKIE}=${nonce}; Path=/-/; HttpOnly; SameSite=Strict${secure}`)
    return nonce
  })

export const sameSecret = (a: string | undefined, b: string | undefined) => {
  if (a === undefined || b === undefined) return false
  const x = Buffer.from(a)
  const y = Buffer.from(b)
  return x.length === y.length && timingSafeEqual(x, y)
}
