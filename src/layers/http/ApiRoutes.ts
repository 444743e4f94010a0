/**
 * REST API routes (GitHub's paths and shapes) under `/api` and `/api/v3`.
 */
import { Effect } from "effect"
import { Auth, type Principal } from "../../services/Auth.ts"
import { NodeConfig } from "../../services/NodeConfig.ts"
import {
  Repositories,
  RepositoryNotFound,
  RepositoryRejected,
} from "../../services/Repositories.ts"
import { readJson } from "./Body.ts"
import { HttpError, notFound, unauthorized, unprocessable } from "./HttpErrors.ts"
import type { HttpContext, Route } from "./HttpServer.ts"
import { baseUrl, sendJson } from "./HttpServer.ts"
import { repoJson, userJson } from "./Presenters.ts"

/** The caller, or undefined when anonymous; bad credentials are a 401. */
export const principalOf = (ctx: HttpContext) =>
  Effect.gen(function* () {
    const auth = yield* Auth
    const creds = yield* auth.authenticate(ctx.req.headers.authorization)
    if (creds._tag === "BadCredentials") return yield* unauthorized("Bad credentials")
    return creds._tag === "Authenticated" ? creds.principal : undefined
  })

export const requirePrincipal = (ctx: HttpContext) =>
  Effect.flatMap(principalOf(ctx), (p) =>
    p === undefined ? Effect.fail(unauthorized("Requires authentication")) : Effect.succeed(p),
  )

const mapRepoErrors = <A, R>(effect: Effect.Effect<A, unknown, R>) =>
  effect.pipe(
    Effect.catchIf(
      (e): e is RepositoryNotFound => e instanceof RepositoryNotFound,
      () => Effect.fail(notFound()),
    ),
    Effect.catchIf(
      (e): e is RepositoryRejected => e instanceof RepositoryRejected,
      (e) =>
        Effect.fail(
          unprocessable("Repository creation failed.", [
            {
              resource: "Repository",
              field: "name",
              code: e.code === "already_exists" ? "custom" : "invalid",
              message: e.reason,
            },
          ]),
        ),
    ),
  )

const createRepo = (ctx: HttpContext, principal: Principal, owner?: string) =>
  Effect.gen(function* () {
    const config = yield* NodeConfig
    const repos = yield* Repositories
    const body = yield* readJson(ctx.req)
    if (typeof body !== "object" || body === null || Array.isArray(body))
      return yield* unprocessable("Invalid request.", [])
    const b = body as Record<string, unknown>
    if (typeof b.name !== "string" || b.name === "")
      return yield* unprocessable("Invalid request.", [
        { resource: "Repository", field: "name", code: "missing_field" },
      ])
    for (const [field, type] of [
      ["description", "string"],
      ["private", "boolean"],
      ["default_branch", "string"],
    ] as const) {
      if (b[field] !== undefined && b[field] !== null && typeof b[field] !== type)
        return yield* unprocessable(`Invalid request. ${field} must be a ${type}.`, [
          { resource: "Repository", field, code: "invalid" },
        ])
    }
    const repo = yield* mapRepoErrors(
      repos.create(principal, {
        name: b.name,
        description: (b.description as string | undefined) ?? undefined,
        private: (b.private as boolean | undefined) ?? false,
        defaultBranch: (b.default_branch as string | undefined) ?? undefined,
        owner,
      }),
    )
    yield* sendJson(ctx.res, 201, repoJson(baseUrl(ctx, config.publicUrl), repo), {
      location: `${baseUrl(ctx, config.publicUrl)}/api/repos/${repo.owner_login}/${repo.name}`,
    })
  })

const routes: Array<Route<Auth | NodeConfig | Repositories>> = [
  {
    name: "GET /user",
    method: "GET",
    path: "/user",
    handler: (ctx) =>
      Effect.gen(function* () {
        const config = yield* NodeConfig
        const p = yield* requirePrincipal(ctx)
        yield* sendJson(ctx.res, 200, {
          ...userJson(baseUrl(ctx, config.publicUrl), p.user),
          name: p.user.name,
          email: p.user.email,
          created_at: new Date(p.user.created_at).toISOString(),
        })
      }),
  },
  {
    name: "POST /user/repos",
    method: "POST",
    path: "/user/repos",
    handler: (ctx) => Effect.flatMap(requirePrincipal(ctx), (p) => createRepo(ctx, p)),
  },
  {
    name: "GET /user/repos",
    method: "GET",
    path: "/user/repos",
    handler: (ctx) =>
      Effect.gen(function* () {
        const config = yield* NodeConfig
        const repos = yield* Repositories
        const p = yield* requirePrincipal(ctx)
        const rows = yield* repos.listOf(p.user.login, p)
        yield* sendJson(
          ctx.res,
          200,
          rows.map((r) => repoJson(baseUrl(ctx, config.publicUrl), r)),
        )
      }),
  },
  {
    name: "GET /users/:owner/repos",
    method: "GET",
    path: "/users/:owner/repos",
    handler: (ctx) =>
      Effect.gen(function* () {
        const config = yield* NodeConfig
        const repos = yield* Repositories
        const p = yield* principalOf(ctx)
        const rows = yield* repos.listOf(ctx.params.owner!, p)
        yield* sendJson(
          ctx.res,
          200,
          rows.map((r) => repoJson(baseUrl(ctx, config.publicUrl), r)),
        )
      }),
  },
  {
    name: "GET /repos/:owner/:repo",
    method: "GET",
    path: "/repos/:owner/:repo",
    handler: (ctx) =>
      Effect.gen(function* () {
        const config = yield* NodeConfig
        const repos = yield* Repositories
        const p = yield* principalOf(ctx)
        const repo = yield* mapRepoErrors(repos.find(ctx.params.owner!, ctx.params.repo!, p))
        yield* sendJson(ctx.res, 200, repoJson(baseUrl(ctx, config.publicUrl), repo))
      }),
  },
]

/** The API routes mounted under both `/api` and `/api/v3`. */
export const apiRoutes = (): Array<Route<Auth | NodeConfig | Repositories>> =>
  ["/api", "/api/v3"].flatMap((prefix) =>
    routes.map((r) => ({ ...r, path: prefix + r.path, name: `${r.name}` })),
  )

export const isHttpError = (e: unknown): e is HttpError => e instanceof HttpError
