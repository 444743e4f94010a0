/**
 * What every REST route module shares: the caller (credentials read once per request),
 * request-body parsing with GitHub's 422 errors, presenting, answering, pagination with
 * `Link` headers, and the rate limit wrapped around each handler.
 */
import { createHash } from "node:crypto"
import { Effect } from "effect"
import {
  type Grantable,
  parseLevel,
  VISIBILITIES,
  type Visibility,
} from "../../domain/Permissions.ts"
import { Auth, type Credentials, type Principal } from "../../services/Auth.ts"
import type { CommitStatuses } from "../../services/CommitStatuses.ts"
import type { Identity } from "../../services/Identity.ts"
import type { Issues } from "../../services/Issues.ts"
import type { Ledger } from "../../services/Ledger.ts"
import type { Pulls } from "../../services/Pulls.ts"
import type { Releases } from "../../services/Releases.ts"
import type { GitData } from "../../services/GitData.ts"
import type { RepoContent } from "../../services/RepoContent.ts"
import { Metadata, type RepoRow } from "../../services/Metadata.ts"
import { NodeConfig } from "../../services/NodeConfig.ts"
import { Repositories } from "../../services/Repositories.ts"
import { readJson } from "./Body.ts"
import { HttpError, notFound, unauthorized, unprocessable } from "./HttpErrors.ts"
import type { HttpContext, Route } from "./HttpServer.ts"
import { baseUrl, sendJson } from "./HttpServer.ts"
import { repoJson } from "./Presenters.ts"
import { clientAddress } from "./ClientAddress.ts"
import { RateLimiter } from "./RateLimit.ts"

export type R =
  | Auth
  | NodeConfig
  | Repositories
  | Identity
  | Metadata
  | RateLimiter
  | CommitStatuses
  | Issues
  | Pulls
  | Releases
  | RepoContent
  | Ledger
  | GitData

export type Body = Record<string, unknown>

/** Credentials are read once per request (the rate limiter and the handler share them). */
export const credentialsCache = new WeakMap<HttpContext, Credentials>()

export const credentialsOf = (ctx: HttpContext) =>
  Effect.gen(function* () {
    const cached = credentialsCache.get(ctx)
    if (cached) return cached
    const auth = yield* Auth
    const creds = yield* auth.authenticate(ctx.req.headers.authorization)
    credentialsCache.set(ctx, creds)
    return creds
  })

/** The caller, or undefined when anonymous; bad credentials are a 401. */
export const principalOf = (ctx: HttpContext) =>
  Effect.gen(function* () {
    const creds = yield* credentialsOf(ctx)
    if (creds._tag === "BadCredentials") return yield* unauthorized("Bad credentials")
    return creds._tag === "Authenticated" ? creds.principal : undefined
  })

export const requirePrincipal = (ctx: HttpContext) =>
  Effect.flatMap(principalOf(ctx), (p) =>
    p === undefined ? Effect.fail(unauthorized("Requires authentication")) : Effect.succeed(p),
  )

// --- request bodies ---

export const jsonObject = (ctx: HttpContext, resource: string) =>
  Effect.flatMap(readJson(ctx.req), (body) =>
    typeof body === "object" && body !== null && !Array.isArray(body)
      ? Effect.succeed(body as Body)
      : Effect.fail(
          unprocessable("Invalid request. The body must be a JSON object.", [
            { resource, field: "body", code: "invalid" },
          ]),
        ),
  )

/** A field of the expected type; `required` fields that are absent are a 422. */
export const field = <T>(
  body: Body,
  resource: string,
  name: string,
  type: "string" | "boolean" | "number" | "array",
  required = false,
): Effect.Effect<T | undefined, HttpError> => {
  const v = body[name]
  if (v === undefined || v === null) {
    return required
      ? Effect.fail(
          unprocessable(`Invalid request. "${name}" wasn't supplied.`, [
            { resource, field: name, code: "missing_field" },
          ]),
        )
      : Effect.succeed(undefined)
  }
  const ok = type === "array" ? Array.isArray(v) : typeof v === type
  return ok
    ? Effect.succeed(v as T)
    : Effect.fail(
        unprocessable(`Invalid request. "${name}" must be a ${type}.`, [
          { resource, field: name, code: "invalid" },
        ]),
      )
}

export const levelField = (body: Body, resource: string, fallback: Grantable) =>
  Effect.gen(function* () {
    const raw = yield* field<string>(body, resource, "permission", "string")
    if (raw === undefined) return fallback
    const level = parseLevel(raw)
    if (!level)
      return yield* unprocessable(
        `Invalid request. permission must be one of pull, triage, push, maintain, admin.`,
        [{ resource, field: "permission", code: "invalid" }],
      )
    return level
  })

export const visibilityField = (body: Body) =>
  Effect.gen(function* () {
    const v = yield* field<string>(body, "Repository", "visibility", "string")
    if (v === undefined) return undefined
    if (!(VISIBILITIES as ReadonlyArray<string>).includes(v))
      return yield* unprocessable(
        "Invalid request. visibility must be public, private or internal.",
        [{ resource: "Repository", field: "visibility", code: "invalid" }],
      )
    return v as Visibility
  })

// --- presenting ---

export const base = (ctx: HttpContext) => Effect.map(NodeConfig, (c) => baseUrl(ctx, c.publicUrl))

export const presentRepo = (ctx: HttpContext, repo: RepoRow, principal: Principal | undefined) =>
  Effect.gen(function* () {
    const repos = yield* Repositories
    const meta = yield* Metadata
    const owner = yield* meta.userById(repo.owner_id).pipe(Effect.orDie)
    const level = principal ? yield* repos.levelOf(repo, principal) : undefined
    return repoJson(yield* base(ctx), repo, level, owner?.type === "Organization", {
      openIssues: yield* meta.openIssueCount(repo.id).pipe(Effect.orDie),
      topics: yield* meta.topicsOf(repo.id).pipe(Effect.orDie),
    })
  })

/**
 * Answers JSON. A successful GET carries an `ETag` (a hash of the body), and a request whose
 * `If-None-Match` names it gets `304 Not Modified` without a body — GitHub's conditional
 * requests, which let clients poll without spending their rate limit on unchanged data.
 */
export const send = (
  ctx: HttpContext,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
) =>
  Effect.suspend(() => {
    if (status !== 200 || (ctx.req.method !== "GET" && ctx.req.method !== "HEAD"))
      return sendJson(ctx.res, status, body, headers)
    const text = typeof body === "string" ? body : JSON.stringify(body)
    const etag = `W/"${createHash("sha1").update(text).digest("hex")}"`
    const asked = ctx.req.headers["if-none-match"]
    if (asked !== undefined && asked.split(",").some((t) => t.trim() === etag || t.trim() === "*"))
      return Effect.sync(() => {
        ctx.res.writeHead(304, { etag, ...headers })
        ctx.res.end()
      })
    return sendJson(ctx.res, status, text, { ...headers, etag })
  })

export const noContent = (ctx: HttpContext) =>
  Effect.sync(() => {
    ctx.res.writeHead(204)
    ctx.res.end()
  })

export const intParam = (ctx: HttpContext, name: string) => {
  const n = Number(ctx.params[name])
  return Number.isInteger(n) && n > 0 ? Effect.succeed(n) : Effect.fail(notFound())
}

/** `per_page` (default 30, at most 100) and `page` (from 1) of a list request. */
export const pageParams = (ctx: HttpContext) => {
  const per = Number(ctx.url.searchParams.get("per_page") ?? 30)
  const page = Number(ctx.url.searchParams.get("page") ?? 1)
  const perPage = Number.isInteger(per) && per > 0 ? Math.min(per, 100) : 30
  const pageNo = Number.isInteger(page) && page > 0 ? page : 1
  return { perPage, page: pageNo, offset: (pageNo - 1) * perPage }
}

/**
 * GitHub's `Link` header for a page of `total` items: first, prev, next, last, built from
 * the request's own URL (so every filter carries over), plus `extra` parameters fixed for
 * the whole walk (a snapshot bound, so items added meanwhile do not shift the pages).
 */
export const linkHeader = (
  ctx: HttpContext,
  base: string,
  total: number,
  extra: Record<string, string> = {},
): Record<string, string> => {
  const { perPage, page } = pageParams(ctx)
  const last = Math.max(1, Math.ceil(total / perPage))
  const at = (p: number) => {
    const u = new URL(ctx.url.pathname + ctx.url.search, base)
    for (const [k, v] of Object.entries(extra)) u.searchParams.set(k, v)
    u.searchParams.set("per_page", String(perPage))
    u.searchParams.set("page", String(p))
    return u.toString()
  }
  const links: string[] = []
  if (page < last) links.push(`<${at(page + 1)}>; rel="next"`, `<${at(last)}>; rel="last"`)
  if (page > 1) links.push(`<${at(1)}>; rel="first"`, `<${at(page - 1)}>; rel="prev"`)
  return links.length > 0 ? { link: links.join(", ") } : {}
}

export const route = (
  method: string,
  path: string,
  handler: (ctx: HttpContext) => Effect.Effect<void, unknown, R>,
): Route<R> => ({ name: `${method} ${path}`, method, path, handler })

/** Applies the rate limit and adds GitHub's headers before a handler runs. */
export const limited =
  (handler: Route<R>["handler"]): Route<R>["handler"] =>
  (ctx) =>
    Effect.gen(function* () {
      const limiter = yield* RateLimiter
      const creds = yield* credentialsOf(ctx)
      const principal = creds._tag === "Authenticated" ? creds.principal : undefined
      const key = principal
        ? `token:${principal.tokenId}:${principal.user.id}`
        : `ip:${clientAddress(ctx.req, (yield* NodeConfig).trustedProxies)}`
      const verdict = limiter.take(key, principal !== undefined)
      if (verdict.limit > 0) {
        ctx.res.setHeader("x-ratelimit-limit", String(verdict.limit))
        ctx.res.setHeader("x-ratelimit-remaining", String(verdict.remaining))
        ctx.res.setHeader("x-ratelimit-reset", String(verdict.reset))
        ctx.res.setHeader("x-ratelimit-used", String(verdict.used))
        ctx.res.setHeader("x-ratelimit-resource", "core")
      }
      if (principal) ctx.res.setHeader("x-oauth-scopes", principal.scopes.join(", "))
      if (!verdict.allowed)
        return yield* new HttpError({
          status: 403,
          message: principal
            ? `API rate limit exceeded for user ID ${principal.user.id}.`
            : `API rate limit exceeded for ${clientAddress(ctx.req, (yield* NodeConfig).trustedProxies)}. (Authenticated requests get a higher rate limit.)`,
        })
      yield* handler(ctx)
    })
