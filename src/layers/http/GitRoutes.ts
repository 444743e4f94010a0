/**
 * Git smart HTTP (shared/specs/git-http.md) under `/git/{owner}/{repo}/...` and
 * `/{owner}/{repo}.git/...`: access control and HTTP framing here, the protocol itself in
 * GitService. A private repository answers 401 with a Basic challenge to anonymous clients
 * (so git's credential helper prompts) and 404 to users who cannot read it.
 */
import type * as http from "node:http"
import { Effect } from "effect"
import { Auth, type Principal } from "../../services/Auth.ts"
import { GitService, type ResponseSink } from "../../services/GitService.ts"
import type { RepoRow } from "../../services/Metadata.ts"
import { NodeConfig } from "../../services/NodeConfig.ts"
import { Forbidden, NotFound } from "../../services/Errors.ts"
import { Repositories } from "../../services/Repositories.ts"
import { bodyStream, readBody } from "./Body.ts"
import { HttpError, unauthorized } from "./HttpErrors.ts"
import type { HttpContext, Route } from "./HttpServer.ts"

type GitServiceName = "git-upload-pack" | "git-receive-pack"

/** Git negotiation requests are small; packs come only with receive-pack (streamed). */
const MAX_NEGOTIATION_BYTES = 64 * 1024 * 1024

const stripGit = (name: string) => (name.endsWith(".git") ? name.slice(0, -4) : name)

const gitNotFound = (owner: string, repo: string) =>
  new HttpError({ status: 404, message: `repository ${owner}/${repo} not found` })

/**
 * Resolves the repository and checks the caller may use `service` on it: read for fetches,
 * write for pushes (Repositories.access: levels, token scopes, fine-grained restriction).
 */
const authorize = (ctx: HttpContext, service: GitServiceName) =>
  Effect.gen(function* () {
    const auth = yield* Auth
    const repos = yield* Repositories
    const owner = ctx.params.owner!
    const name = stripGit(ctx.params.repo!)
    const creds = yield* auth.authenticate(ctx.req.headers.authorization)
    if (creds._tag === "BadCredentials") return yield* unauthorized("Bad credentials")
    const principal: Principal | undefined =
      creds._tag === "Authenticated" ? creds.principal : undefined
    const push = service === "git-receive-pack"
    // Anonymous pushes are asked for credentials before anything else is revealed.
    if (push && principal === undefined)
      return yield* unauthorized("Authentication required to push")
    const found = yield* repos.access(owner, name, principal, push ? "write" : "read").pipe(
      Effect.catchIf(
        (e): e is NotFound => e instanceof NotFound,
        () =>
          // Private (or missing): anonymous callers are asked to authenticate first.
          Effect.fail(
            principal === undefined
              ? unauthorized("Authentication required")
              : gitNotFound(owner, name),
          ),
      ),
      Effect.catchIf(
        (e): e is Forbidden => e instanceof Forbidden,
        (e) =>
          Effect.fail(
            new HttpError({
              status: 403,
              message: `permission to ${owner}/${name} denied to ${principal?.user.login ?? "anonymous"}: ${e.reason}`,
            }),
          ),
      ),
    )
    return { repo: found.repo, principal } as { repo: RepoRow; principal: Principal | undefined }
  })

const parseService = (value: string | null): GitServiceName | undefined =>
  value === "git-upload-pack" || value === "git-receive-pack" ? value : undefined

/** A sink over the response that respects backpressure; fails when the client is gone. */
const responseSink = (res: http.ServerResponse): ResponseSink => ({
  write: (chunk) =>
    Effect.async<void>((resume) => {
      if (res.destroyed) return resume(Effect.interrupt)
      if (res.write(chunk)) return resume(Effect.void)
      const onDrain = () => {
        res.off("close", onClose)
        resume(Effect.void)
      }
      const onClose = () => {
        res.off("drain", onDrain)
        resume(Effect.interrupt)
      }
      res.once("drain", onDrain)
      res.once("close", onClose)
    }),
})

const startResult = (res: http.ServerResponse, service: GitServiceName) =>
  res.writeHead(200, {
    "content-type": `application/x-${service}-result`,
    "cache-control": "no-cache",
  })

const infoRefs: Route<Auth | Repositories | GitService | NodeConfig>["handler"] = (ctx) =>
  Effect.gen(function* () {
    const git = yield* GitService
    const service = parseService(ctx.url.searchParams.get("service"))
    if (!service)
      return yield* new HttpError({
        status: 403,
        message:
          "dumb HTTP is not supported; use a git client that speaks smart HTTP (git ≥ 1.6.6)",
      })
    const { repo } = yield* authorize(ctx, service)
    const protocol = String(ctx.req.headers["git-protocol"] ?? "")
    const body = yield* git.advertise(repo, service, protocol)
    ctx.res.writeHead(200, {
      "content-type": `application/x-${service}-advertisement`,
      "cache-control": "no-cache, max-age=0, must-revalidate",
      expires: "Fri, 01 Jan 1980 00:00:00 GMT",
      pragma: "no-cache",
      "content-length": body.length,
    })
    ctx.res.end(body)
  })

const uploadPack: Route<Auth | Repositories | GitService | NodeConfig>["handler"] = (ctx) =>
  Effect.gen(function* () {
    const git = yield* GitService
    const { repo } = yield* authorize(ctx, "git-upload-pack")
    const protocol = String(ctx.req.headers["git-protocol"] ?? "")
    const body = yield* readBody(ctx.req, MAX_NEGOTIATION_BYTES)
    startResult(ctx.res, "git-upload-pack")
    yield* git.uploadPack(repo, protocol, body, responseSink(ctx.res))
    ctx.res.end()
  })

const receivePack: Route<Auth | Repositories | GitService | NodeConfig>["handler"] = (ctx) =>
  Effect.gen(function* () {
    const git = yield* GitService
    const config = yield* NodeConfig
    const { repo, principal } = yield* authorize(ctx, "git-receive-pack")
    startResult(ctx.res, "git-receive-pack")
    yield* git
      .receivePack(repo, principal!, bodyStream(ctx.req), responseSink(ctx.res), {
        maxBytes: config.maxPushBytes,
      })
      .pipe(
        Effect.withSpan("guts.receive-pack", {
          attributes: { "guts.repo": `${ctx.params.owner}/${ctx.params.repo}` },
        }),
      )
    ctx.res.end()
  })

const routesUnder = (prefix: string, repoParam: string) => [
  {
    name: "GET git info/refs",
    method: "GET",
    path: `${prefix}/:owner/${repoParam}/info/refs`,
    handler: infoRefs,
  },
  {
    name: "POST git-upload-pack",
    method: "POST",
    path: `${prefix}/:owner/${repoParam}/git-upload-pack`,
    handler: uploadPack,
  },
  {
    name: "POST git-receive-pack",
    method: "POST",
    path: `${prefix}/:owner/${repoParam}/git-receive-pack`,
    handler: receivePack,
  },
]

export const gitRoutes: Array<Route<Auth | Repositories | GitService | NodeConfig>> = [
  ...routesUnder("/git", ":repo"),
  ...routesUnder("", ":repo"),
]
