/**
 * REST API routes (GitHub's paths and shapes) under `/api` and `/api/v3`: accounts, tokens,
 * SSH keys, organisations, teams, repositories, collaborators, branch protection and the
 * audit log. Handlers parse and validate the request, call a service, and present rows;
 * the rules live in the services (Repositories, Identity, Access) and again in Apply.
 *
 * Every API answer carries GitHub's rate-limit headers, and `X-OAuth-Scopes` for a token.
 */
import { Effect } from "effect"
import type { Grantable } from "../../domain/Permissions.ts"
import { protectionJson } from "../../domain/BranchProtection.ts"
import { passwordProblem } from "../../domain/Password.ts"
import type { Principal } from "../../services/Auth.ts"
import { CommitStatuses } from "../../services/CommitStatuses.ts"
import { Identity } from "../../services/Identity.ts"
import { Metadata, type RepoRow, type UserRow } from "../../services/Metadata.ts"
import { NodeConfig } from "../../services/NodeConfig.ts"
import { Repositories } from "../../services/Repositories.ts"
import { HttpError, notFound, unprocessable } from "./HttpErrors.ts"
import type { HttpContext, Route } from "./HttpServer.ts"
import { STATUS_STATES, type StatusState } from "../../domain/Statuses.ts"
import type { StatusRow } from "../../services/Metadata.ts"
import {
  accountJson,
  auditJson,
  keyJson,
  orgJson,
  teamJson,
  tokenJson,
  userFullJson,
} from "./Presenters.ts"
import {
  base,
  field,
  intParam,
  jsonObject,
  levelField,
  limited,
  noContent,
  presentRepo,
  principalOf,
  type R,
  requirePrincipal,
  route,
  send,
  visibilityField,
} from "./ApiKit.ts"
import { issueRoutes } from "./IssueRoutes.ts"
import { pullRoutes } from "./PullRoutes.ts"
import { contentRoutes } from "./ContentRoutes.ts"
import { hookRoutes } from "./HookRoutes.ts"
import { checkRunRoutes } from "./CheckRunRoutes.ts"
import { topicRoutes } from "./TopicRoutes.ts"
import { releaseRoutes } from "./ReleaseRoutes.ts"
import { gitDataRoutes } from "./GitDataRoutes.ts"

// --- handlers ---

const createRepo = (ctx: HttpContext, principal: Principal, owner?: string) =>
  Effect.gen(function* () {
    const repos = yield* Repositories
    const b = yield* jsonObject(ctx, "Repository")
    const name = yield* field<string>(b, "Repository", "name", "string", true)
    if (name === "")
      return yield* unprocessable("Invalid request.", [
        { resource: "Repository", field: "name", code: "missing_field" },
      ])
    const description = yield* field<string>(b, "Repository", "description", "string")
    const priv = yield* field<boolean>(b, "Repository", "private", "boolean")
    const defaultBranch = yield* field<string>(b, "Repository", "default_branch", "string")
    const visibility = yield* visibilityField(b)
    const repo = yield* repos.create(principal, {
      name: name!,
      description,
      private: priv ?? false,
      visibility,
      defaultBranch,
      owner,
    })
    const json = yield* presentRepo(ctx, repo, principal)
    yield* send(ctx, 201, json, { location: json.url })
  })

const listRepos = (ctx: HttpContext, owner: string, principal: Principal | undefined) =>
  Effect.gen(function* () {
    const repos = yield* Repositories
    const rows = yield* repos.listOf(owner, principal)
    const out = []
    for (const r of rows) out.push(yield* presentRepo(ctx, r, principal))
    yield* send(ctx, 200, out)
  })

const presentTeam = (ctx: HttpContext, org: UserRow, team: Parameters<typeof teamJson>[2]) =>
  Effect.gen(function* () {
    const meta = yield* Metadata
    const parent =
      team.parent_id === null ? undefined : yield* meta.teamById(team.parent_id).pipe(Effect.orDie)
    return teamJson(yield* base(ctx), org, team, parent)
  })

/** How many public and private repositories an account owns (for its profile). */
const repoCounts = (account: Pick<UserRow, "login">) =>
  Effect.gen(function* () {
    const meta = yield* Metadata
    const rows = yield* meta.reposOf(account.login).pipe(Effect.orDie)
    const publicRepos = rows.filter((r) => r.visibility === "public").length
    return { publicRepos, privateRepos: rows.length - publicRepos }
  })

/** An optional `password` on user creation (web sign-in), checked before anything is created. */
const passwordField = (b: Record<string, unknown>) =>
  Effect.gen(function* () {
    const password = yield* field<string>(b, "User", "password", "string")
    const problem = password === undefined ? undefined : passwordProblem(password)
    if (problem)
      return yield* unprocessable(`Invalid request. ${problem}.`, [
        { resource: "User", field: "password", code: "invalid" },
      ])
    return password
  })

const routes: Array<Route<R>> = [
  // --- the authenticated user ---
  route("GET", "/user", (ctx) =>
    Effect.gen(function* () {
      const p = yield* requirePrincipal(ctx)
      yield* send(ctx, 200, userFullJson(yield* base(ctx), p.user, yield* repoCounts(p.user), true))
    }),
  ),
  route("PATCH", "/user", (ctx) =>
    Effect.gen(function* () {
      const p = yield* requirePrincipal(ctx)
      const identity = yield* Identity
      const b = yield* jsonObject(ctx, "User")
      const fields: { name?: string | null; email?: string | null; bio?: string | null } = {}
      for (const k of ["name", "email", "bio"] as const) {
        if (!(k in b)) continue
        const v = b[k]
        if (v !== null && typeof v !== "string")
          return yield* unprocessable(`Invalid request. "${k}" must be a string.`, [
            { resource: "User", field: k, code: "invalid" },
          ])
        fields[k] = v as string | null
      }
      const user = yield* identity.updateProfile(p, fields)
      yield* send(ctx, 200, userFullJson(yield* base(ctx), user, yield* repoCounts(user), true))
    }),
  ),
  route("GET", "/users/:login", (ctx) =>
    Effect.gen(function* () {
      const identity = yield* Identity
      const u = yield* identity.user(ctx.params.login!)
      const b = yield* base(ctx)
      yield* send(
        ctx,
        200,
        u.type === "Organization"
          ? { ...orgJson(b, u, yield* repoCounts(u)), ...accountJson(b, u) }
          : userFullJson(b, u, yield* repoCounts(u)),
      )
    }),
  ),
  route("POST", "/admin/users", (ctx) =>
    Effect.gen(function* () {
      const p = yield* requirePrincipal(ctx)
      const identity = yield* Identity
      const b = yield* jsonObject(ctx, "User")
      const login = yield* field<string>(b, "User", "login", "string", true)
      const email = yield* field<string>(b, "User", "email", "string")
      const name = yield* field<string>(b, "User", "name", "string")
      const password = yield* passwordField(b)
      const siteAdmin = yield* field<boolean>(b, "User", "site_admin", "boolean")
      const made = yield* identity.createUser(p, { login: login!, email, name, siteAdmin }, false)
      if (password !== undefined) yield* identity.setPassword(p, made.user.login, password)
      yield* send(ctx, 201, userFullJson(yield* base(ctx), made.user))
    }),
  ),
  route("POST", "/users", (ctx) =>
    Effect.gen(function* () {
      const config = yield* NodeConfig
      const identity = yield* Identity
      const p = yield* principalOf(ctx)
      const b = yield* jsonObject(ctx, "User")
      const login = yield* field<string>(b, "User", "login", "string", true)
      const email = yield* field<string>(b, "User", "email", "string")
      const name = yield* field<string>(b, "User", "name", "string")
      const password = yield* passwordField(b)
      const made = yield* identity.createUser(
        p,
        { login: login!, email, name },
        config.registration === "open",
      )
      if (password !== undefined)
        yield* identity.setPassword(
          p?.user.site_admin === 1 ? p : undefined,
          made.user.login,
          password,
        )
      yield* send(ctx, 201, {
        ...userFullJson(yield* base(ctx), made.user),
        ...(made.token ? { token: made.token } : {}),
      })
    }),
  ),

  // --- tokens (Guts: GitHub has no API to mint personal access tokens) ---
  route("GET", "/user/tokens", (ctx) =>
    Effect.gen(function* () {
      const p = yield* requirePrincipal(ctx)
      const identity = yield* Identity
      yield* send(ctx, 200, (yield* identity.listTokens(p)).map(tokenJson))
    }),
  ),
  route("POST", "/user/tokens", (ctx) => createTokenFor(ctx, undefined)),
  route("POST", "/admin/users/:login/tokens", (ctx) => createTokenFor(ctx, ctx.params.login!)),
  route("DELETE", "/user/tokens/:id", (ctx) =>
    Effect.gen(function* () {
      const p = yield* requirePrincipal(ctx)
      const identity = yield* Identity
      yield* identity.revokeToken(p, yield* intParam(ctx, "id"))
      yield* noContent(ctx)
    }),
  ),

  // --- SSH keys ---
  route("GET", "/user/keys", (ctx) =>
    Effect.gen(function* () {
      const p = yield* requirePrincipal(ctx)
      const identity = yield* Identity
      const b = yield* base(ctx)
      yield* send(
        ctx,
        200,
        (yield* identity.keysOf(p.user.login)).map((k) => keyJson(b, k)),
      )
    }),
  ),
  route("POST", "/user/keys", (ctx) =>
    Effect.gen(function* () {
      const p = yield* requirePrincipal(ctx)
      const identity = yield* Identity
      const body = yield* jsonObject(ctx, "PublicKey")
      const key = yield* field<string>(body, "PublicKey", "key", "string", true)
      const title = yield* field<string>(body, "PublicKey", "title", "string")
      const row = yield* identity.addKey(p, title ?? "", key!)
      yield* send(ctx, 201, keyJson(yield* base(ctx), row))
    }),
  ),
  route("GET", "/user/keys/:id", (ctx) =>
    Effect.gen(function* () {
      const p = yield* requirePrincipal(ctx)
      const identity = yield* Identity
      const id = yield* intParam(ctx, "id")
      const key = (yield* identity.keysOf(p.user.login)).find((k) => k.id === id)
      if (!key) return yield* notFound()
      yield* send(ctx, 200, keyJson(yield* base(ctx), key))
    }),
  ),
  route("DELETE", "/user/keys/:id", (ctx) =>
    Effect.gen(function* () {
      const p = yield* requirePrincipal(ctx)
      const identity = yield* Identity
      yield* identity.removeKey(p, yield* intParam(ctx, "id"))
      yield* noContent(ctx)
    }),
  ),
  route("GET", "/users/:login/keys", (ctx) =>
    Effect.gen(function* () {
      const identity = yield* Identity
      const b = yield* base(ctx)
      const keys = yield* identity.keysOf(ctx.params.login!)
      yield* send(
        ctx,
        200,
        keys.map((k) => keyJson(b, k, false)),
      )
    }),
  ),

  // --- repositories of accounts ---
  route("POST", "/user/repos", (ctx) =>
    Effect.flatMap(requirePrincipal(ctx), (p) => createRepo(ctx, p)),
  ),
  route("GET", "/user/repos", (ctx) =>
    Effect.flatMap(requirePrincipal(ctx), (p) => listRepos(ctx, p.user.login, p)),
  ),
  route("GET", "/users/:owner/repos", (ctx) =>
    Effect.flatMap(principalOf(ctx), (p) => listRepos(ctx, ctx.params.owner!, p)),
  ),

  // --- organisations ---
  route("POST", "/admin/organizations", (ctx) => createOrgFrom(ctx)),
  route("POST", "/user/orgs", (ctx) => createOrgFrom(ctx)),
  route("GET", "/user/orgs", (ctx) =>
    Effect.gen(function* () {
      const p = yield* requirePrincipal(ctx)
      const identity = yield* Identity
      const b = yield* base(ctx)
      yield* send(
        ctx,
        200,
        (yield* identity.orgsOf(p.user.login)).map((o) => orgJson(b, o)),
      )
    }),
  ),
  route("GET", "/users/:login/orgs", (ctx) =>
    Effect.gen(function* () {
      const identity = yield* Identity
      const b = yield* base(ctx)
      yield* send(
        ctx,
        200,
        (yield* identity.orgsOf(ctx.params.login!)).map((o) => orgJson(b, o)),
      )
    }),
  ),
  route("GET", "/orgs/:org", (ctx) =>
    Effect.gen(function* () {
      const identity = yield* Identity
      const org = yield* identity.org(ctx.params.org!)
      yield* send(ctx, 200, orgJson(yield* base(ctx), org, yield* repoCounts(org)))
    }),
  ),
  route("GET", "/orgs/:org/members", (ctx) =>
    Effect.gen(function* () {
      const identity = yield* Identity
      const p = yield* principalOf(ctx)
      const b = yield* base(ctx)
      const rows = yield* identity.members(ctx.params.org!, p)
      yield* send(
        ctx,
        200,
        rows.map((m) =>
          accountJson(b, { id: m.user_id, login: m.login, site_admin: m.site_admin, type: "User" }),
        ),
      )
    }),
  ),
  route("GET", "/orgs/:org/memberships/:user", (ctx) =>
    Effect.gen(function* () {
      const identity = yield* Identity
      const p = yield* principalOf(ctx)
      const m = yield* identity.membership(ctx.params.org!, ctx.params.user!, p)
      const b = yield* base(ctx)
      yield* send(ctx, 200, {
        url: `${b}/api/orgs/${m.org.login}/memberships/${m.user.login}`,
        state: "active",
        role: m.role,
        organization: orgJson(b, m.org),
        user: accountJson(b, m.user),
      })
    }),
  ),
  route("PUT", "/orgs/:org/memberships/:user", (ctx) =>
    Effect.gen(function* () {
      const p = yield* requirePrincipal(ctx)
      const identity = yield* Identity
      const body = yield* jsonObject(ctx, "Membership")
      const role = (yield* field<string>(body, "Membership", "role", "string")) ?? "member"
      if (role !== "admin" && role !== "member")
        return yield* unprocessable("Invalid request. role must be admin or member.", [
          { resource: "Membership", field: "role", code: "invalid" },
        ])
      yield* identity.setMembership(p, ctx.params.org!, ctx.params.user!, role)
      const m = yield* identity.membership(ctx.params.org!, ctx.params.user!, p)
      const b = yield* base(ctx)
      yield* send(ctx, 200, {
        url: `${b}/api/orgs/${m.org.login}/memberships/${m.user.login}`,
        state: "active",
        role: m.role,
        organization: orgJson(b, m.org),
        user: accountJson(b, m.user),
      })
    }),
  ),
  ...(["/orgs/:org/memberships/:user", "/orgs/:org/members/:user"] as const).map((path) =>
    route("DELETE", path, (ctx) =>
      Effect.gen(function* () {
        const p = yield* requirePrincipal(ctx)
        const identity = yield* Identity
        yield* identity.setMembership(p, ctx.params.org!, ctx.params.user!, null)
        yield* noContent(ctx)
      }),
    ),
  ),
  route("GET", "/orgs/:org/repos", (ctx) =>
    Effect.gen(function* () {
      const identity = yield* Identity
      const o = yield* identity.org(ctx.params.org!)
      yield* listRepos(ctx, o.login, yield* principalOf(ctx))
    }),
  ),
  route("POST", "/orgs/:org/repos", (ctx) =>
    Effect.gen(function* () {
      const p = yield* requirePrincipal(ctx)
      const identity = yield* Identity
      const o = yield* identity.org(ctx.params.org!)
      yield* createRepo(ctx, p, o.login)
    }),
  ),

  // --- teams ---
  route("GET", "/orgs/:org/teams", (ctx) =>
    Effect.gen(function* () {
      const identity = yield* Identity
      const p = yield* principalOf(ctx)
      const o = yield* identity.org(ctx.params.org!)
      const out = []
      for (const t of yield* identity.teams(o.login, p)) out.push(yield* presentTeam(ctx, o, t))
      yield* send(ctx, 200, out)
    }),
  ),
  route("POST", "/orgs/:org/teams", (ctx) =>
    Effect.gen(function* () {
      const p = yield* requirePrincipal(ctx)
      const identity = yield* Identity
      const meta = yield* Metadata
      const body = yield* jsonObject(ctx, "Team")
      const name = yield* field<string>(body, "Team", "name", "string", true)
      const description = yield* field<string>(body, "Team", "description", "string")
      const privacy = yield* field<string>(body, "Team", "privacy", "string")
      if (privacy !== undefined && privacy !== "secret" && privacy !== "closed")
        return yield* unprocessable("Invalid request. privacy must be secret or closed.", [
          { resource: "Team", field: "privacy", code: "invalid" },
        ])
      const parentId = yield* field<number>(body, "Team", "parent_team_id", "number")
      let parent: string | undefined
      if (parentId !== undefined) {
        const t = yield* meta.teamById(parentId).pipe(Effect.orDie)
        if (!t)
          return yield* unprocessable("Invalid request. parent_team_id names no team.", [
            { resource: "Team", field: "parent_team_id", code: "invalid" },
          ])
        parent = t.slug
      }
      const permission = yield* levelField(body, "Team", "read")
      const t = yield* identity.createTeam(p, ctx.params.org!, {
        name: name!,
        description,
        privacy: privacy as "secret" | "closed" | undefined,
        parent,
        permission,
      })
      yield* send(ctx, 201, yield* presentTeam(ctx, t.org, t.team))
    }),
  ),
  route("GET", "/orgs/:org/teams/:team", (ctx) =>
    Effect.gen(function* () {
      const identity = yield* Identity
      const t = yield* identity.team(ctx.params.org!, ctx.params.team!, yield* principalOf(ctx))
      yield* send(ctx, 200, yield* presentTeam(ctx, t.org, t.team))
    }),
  ),
  route("DELETE", "/orgs/:org/teams/:team", (ctx) =>
    Effect.gen(function* () {
      const p = yield* requirePrincipal(ctx)
      const identity = yield* Identity
      yield* identity.deleteTeam(p, ctx.params.org!, ctx.params.team!)
      yield* noContent(ctx)
    }),
  ),
  route("GET", "/orgs/:org/teams/:team/members", (ctx) =>
    Effect.gen(function* () {
      const identity = yield* Identity
      const b = yield* base(ctx)
      const rows = yield* identity.teamMembers(
        ctx.params.org!,
        ctx.params.team!,
        yield* principalOf(ctx),
      )
      yield* send(
        ctx,
        200,
        rows.map((m) =>
          accountJson(b, { id: m.user_id, login: m.login, site_admin: m.site_admin, type: "User" }),
        ),
      )
    }),
  ),
  route("GET", "/orgs/:org/teams/:team/memberships/:user", (ctx) =>
    Effect.gen(function* () {
      const identity = yield* Identity
      const m = yield* identity.teamMembership(
        ctx.params.org!,
        ctx.params.team!,
        ctx.params.user!,
        yield* principalOf(ctx),
      )
      const b = yield* base(ctx)
      yield* send(ctx, 200, {
        url: `${b}/api/orgs/${m.org.login}/teams/${m.team.slug}/memberships/${m.user.login}`,
        role: m.role,
        state: "active",
      })
    }),
  ),
  route("PUT", "/orgs/:org/teams/:team/memberships/:user", (ctx) =>
    Effect.gen(function* () {
      const p = yield* requirePrincipal(ctx)
      const identity = yield* Identity
      const body = yield* jsonObject(ctx, "Membership")
      const role = (yield* field<string>(body, "Membership", "role", "string")) ?? "member"
      if (role !== "member" && role !== "maintainer")
        return yield* unprocessable("Invalid request. role must be member or maintainer.", [
          { resource: "Membership", field: "role", code: "invalid" },
        ])
      yield* identity.setTeamMembership(
        p,
        ctx.params.org!,
        ctx.params.team!,
        ctx.params.user!,
        role,
      )
      const b = yield* base(ctx)
      yield* send(ctx, 200, {
        url: `${b}/api/orgs/${ctx.params.org}/teams/${ctx.params.team}/memberships/${ctx.params.user}`,
        role,
        state: "active",
      })
    }),
  ),
  route("DELETE", "/orgs/:org/teams/:team/memberships/:user", (ctx) =>
    Effect.gen(function* () {
      const p = yield* requirePrincipal(ctx)
      const identity = yield* Identity
      yield* identity.setTeamMembership(
        p,
        ctx.params.org!,
        ctx.params.team!,
        ctx.params.user!,
        null,
      )
      yield* noContent(ctx)
    }),
  ),
  route("GET", "/orgs/:org/teams/:team/repos", (ctx) =>
    Effect.gen(function* () {
      const identity = yield* Identity
      const p = yield* principalOf(ctx)
      const rows = yield* identity.teamRepos(ctx.params.org!, ctx.params.team!, p)
      const out = []
      for (const r of rows) out.push(yield* presentRepo(ctx, r, p))
      yield* send(ctx, 200, out)
    }),
  ),
  route("PUT", "/orgs/:org/teams/:team/repos/:owner/:repo", (ctx) =>
    Effect.gen(function* () {
      const p = yield* requirePrincipal(ctx)
      const identity = yield* Identity
      const t = yield* identity.team(ctx.params.org!, ctx.params.team!, p)
      const body = ctx.req.headers["content-length"] === "0" ? {} : yield* jsonObject(ctx, "Team")
      const permission = yield* levelField(body, "Team", t.team.permission as Grantable)
      yield* identity.setTeamRepo(
        p,
        ctx.params.org!,
        ctx.params.team!,
        ctx.params.owner!,
        ctx.params.repo!,
        permission,
      )
      yield* noContent(ctx)
    }),
  ),
  route("DELETE", "/orgs/:org/teams/:team/repos/:owner/:repo", (ctx) =>
    Effect.gen(function* () {
      const p = yield* requirePrincipal(ctx)
      const identity = yield* Identity
      yield* identity.setTeamRepo(
        p,
        ctx.params.org!,
        ctx.params.team!,
        ctx.params.owner!,
        ctx.params.repo!,
        null,
      )
      yield* noContent(ctx)
    }),
  ),

  // --- a repository ---
  route("GET", "/repos/:owner/:repo", (ctx) =>
    Effect.gen(function* () {
      const repos = yield* Repositories
      const p = yield* principalOf(ctx)
      const found = yield* repos.access(ctx.params.owner!, ctx.params.repo!, p, "read")
      const json = yield* presentRepo(ctx, found.repo, p)
      if (found.redirected)
        return yield* send(
          ctx,
          301,
          {
            message: "Moved Permanently",
            url: json.url,
            documentation_url: "https://docs.github.com/rest",
          },
          { location: json.url },
        )
      yield* send(ctx, 200, json)
    }),
  ),
  route("PATCH", "/repos/:owner/:repo", (ctx) =>
    Effect.gen(function* () {
      const repos = yield* Repositories
      const p = yield* requirePrincipal(ctx)
      const b = yield* jsonObject(ctx, "Repository")
      const name = yield* field<string>(b, "Repository", "name", "string")
      const description =
        "description" in b && b.description === null
          ? null
          : yield* field<string>(b, "Repository", "description", "string")
      const priv = yield* field<boolean>(b, "Repository", "private", "boolean")
      const visibility =
        (yield* visibilityField(b)) ??
        (priv === undefined ? undefined : priv ? "private" : "public")
      const defaultBranch = yield* field<string>(b, "Repository", "default_branch", "string")
      const repo = yield* repos.update(p, ctx.params.owner!, ctx.params.repo!, {
        name,
        description,
        visibility,
        defaultBranch,
      })
      yield* send(ctx, 200, yield* presentRepo(ctx, repo, p))
    }),
  ),
  route("DELETE", "/repos/:owner/:repo", (ctx) =>
    Effect.gen(function* () {
      const repos = yield* Repositories
      const p = yield* requirePrincipal(ctx)
      yield* repos.remove(p, ctx.params.owner!, ctx.params.repo!)
      yield* noContent(ctx)
    }),
  ),
  route("POST", "/repos/:owner/:repo/transfer", (ctx) =>
    Effect.gen(function* () {
      const repos = yield* Repositories
      const p = yield* requirePrincipal(ctx)
      const b = yield* jsonObject(ctx, "Repository")
      const newOwner = yield* field<string>(b, "Repository", "new_owner", "string", true)
      const newName = yield* field<string>(b, "Repository", "new_name", "string")
      const repo = yield* repos.transfer(p, ctx.params.owner!, ctx.params.repo!, newOwner!, newName)
      yield* send(ctx, 202, yield* presentRepo(ctx, repo, p))
    }),
  ),

  // --- collaborators ---
  route("GET", "/repos/:owner/:repo/collaborators", (ctx) =>
    Effect.gen(function* () {
      const repos = yield* Repositories
      const p = yield* requirePrincipal(ctx)
      const b = yield* base(ctx)
      const rows = yield* repos.collaborators(ctx.params.owner!, ctx.params.repo!, p)
      yield* send(
        ctx,
        200,
        rows.map((m) => ({
          ...accountJson(b, {
            id: m.user_id,
            login: m.login,
            site_admin: m.site_admin,
            type: "User",
          }),
          role_name: m.role,
        })),
      )
    }),
  ),
  route("GET", "/repos/:owner/:repo/collaborators/:user", (ctx) =>
    Effect.gen(function* () {
      const repos = yield* Repositories
      const p = yield* principalOf(ctx)
      const rows = yield* repos.collaborators(ctx.params.owner!, ctx.params.repo!, p)
      if (!rows.some((m) => m.login.toLowerCase() === ctx.params.user!.toLowerCase()))
        return yield* notFound()
      yield* noContent(ctx)
    }),
  ),
  route("PUT", "/repos/:owner/:repo/collaborators/:user", (ctx) =>
    Effect.gen(function* () {
      const repos = yield* Repositories
      const p = yield* requirePrincipal(ctx)
      const body =
        ctx.req.headers["content-length"] === "0" ? {} : yield* jsonObject(ctx, "Collaborator")
      const permission = yield* levelField(body, "Collaborator", "write")
      const result = yield* repos.setCollaborator(
        p,
        ctx.params.owner!,
        ctx.params.repo!,
        ctx.params.user!,
        permission,
      )
      // Guts adds collaborators at once (no invitation to accept): 201 when added, 204 when updated.
      if (!result.created) return yield* noContent(ctx)
      yield* send(ctx, 201, { permissions: permission, invitee: { login: ctx.params.user } })
    }),
  ),
  route("DELETE", "/repos/:owner/:repo/collaborators/:user", (ctx) =>
    Effect.gen(function* () {
      const repos = yield* Repositories
      const p = yield* requirePrincipal(ctx)
      yield* repos.setCollaborator(p, ctx.params.owner!, ctx.params.repo!, ctx.params.user!, null)
      yield* noContent(ctx)
    }),
  ),
  route("GET", "/repos/:owner/:repo/collaborators/:user/permission", (ctx) =>
    Effect.gen(function* () {
      const repos = yield* Repositories
      const r = yield* repos.permissionOf(
        ctx.params.owner!,
        ctx.params.repo!,
        ctx.params.user!,
        yield* principalOf(ctx),
      )
      // GitHub's legacy field knows admin/write/read/none; role_name has the five levels.
      const legacy =
        r.level === "admin"
          ? "admin"
          : r.level === "maintain" || r.level === "write"
            ? "write"
            : r.level === "none"
              ? "none"
              : "read"
      yield* send(ctx, 200, {
        permission: legacy,
        role_name: r.level,
        user: accountJson(yield* base(ctx), r.user),
      })
    }),
  ),

  // --- branch protection ---
  route("GET", "/repos/:owner/:repo/branches/:branch/protection", (ctx) =>
    Effect.gen(function* () {
      const repos = yield* Repositories
      const got = yield* repos.protection(
        ctx.params.owner!,
        ctx.params.repo!,
        ctx.params.branch!,
        yield* principalOf(ctx),
      )
      const b = yield* base(ctx)
      yield* send(
        ctx,
        200,
        protectionJson(
          `${b}/api/repos/${got.repo.owner_login}/${got.repo.name}/branches/${encodeURIComponent(ctx.params.branch!)}/protection`,
          got.rule,
        ),
      )
    }),
  ),
  route("PUT", "/repos/:owner/:repo/branches/:branch/protection", (ctx) =>
    Effect.gen(function* () {
      const repos = yield* Repositories
      const p = yield* requirePrincipal(ctx)
      const body = yield* jsonObject(ctx, "BranchProtection")
      const got = yield* repos.setProtection(
        p,
        ctx.params.owner!,
        ctx.params.repo!,
        ctx.params.branch!,
        body,
      )
      const b = yield* base(ctx)
      yield* send(
        ctx,
        200,
        protectionJson(
          `${b}/api/repos/${got!.repo.owner_login}/${got!.repo.name}/branches/${encodeURIComponent(ctx.params.branch!)}/protection`,
          got!.rule,
        ),
      )
    }),
  ),
  route("DELETE", "/repos/:owner/:repo/branches/:branch/protection", (ctx) =>
    Effect.gen(function* () {
      const repos = yield* Repositories
      const p = yield* requirePrincipal(ctx)
      yield* repos.protection(ctx.params.owner!, ctx.params.repo!, ctx.params.branch!, p)
      yield* repos.setProtection(p, ctx.params.owner!, ctx.params.repo!, ctx.params.branch!, null)
      yield* noContent(ctx)
    }),
  ),

  // --- commit statuses ---
  route("POST", "/repos/:owner/:repo/statuses/:sha", (ctx) =>
    Effect.gen(function* () {
      const statuses = yield* CommitStatuses
      const p = yield* requirePrincipal(ctx)
      const b = yield* jsonObject(ctx, "Status")
      const state = yield* field<string>(b, "Status", "state", "string", true)
      if (!(STATUS_STATES as ReadonlyArray<string>).includes(state!))
        return yield* unprocessable(
          "Invalid request. state must be error, failure, pending or success.",
          [{ resource: "Status", field: "state", code: "invalid" }],
        )
      const context = yield* field<string>(b, "Status", "context", "string")
      const description = yield* field<string>(b, "Status", "description", "string")
      const targetUrl = yield* field<string>(b, "Status", "target_url", "string")
      const made = yield* statuses.create(p, ctx.params.owner!, ctx.params.repo!, ctx.params.sha!, {
        state: state as StatusState,
        context,
        description,
        targetUrl,
      })
      yield* send(ctx, 201, statusJson(yield* base(ctx), made.repo, made.status))
    }),
  ),
  ...(
    ["/repos/:owner/:repo/commits/:ref/statuses", "/repos/:owner/:repo/statuses/:ref"] as const
  ).map((path) =>
    route("GET", path, (ctx) =>
      Effect.gen(function* () {
        const statuses = yield* CommitStatuses
        const got = yield* statuses.list(
          ctx.params.owner!,
          ctx.params.repo!,
          ctx.params.ref!,
          yield* principalOf(ctx),
        )
        const b = yield* base(ctx)
        yield* send(
          ctx,
          200,
          got.statuses.map((s) => statusJson(b, got.repo, s)),
        )
      }),
    ),
  ),
  route("GET", "/repos/:owner/:repo/commits/:ref/status", (ctx) =>
    Effect.gen(function* () {
      const statuses = yield* CommitStatuses
      const p = yield* principalOf(ctx)
      const got = yield* statuses.combined(ctx.params.owner!, ctx.params.repo!, ctx.params.ref!, p)
      const b = yield* base(ctx)
      yield* send(ctx, 200, {
        state: got.state,
        sha: got.sha,
        total_count: got.latest.length,
        statuses: got.latest.map((s) => statusJson(b, got.repo, s)),
        repository: yield* presentRepo(ctx, got.repo, p),
        commit_url: `${b}/api/repos/${got.repo.owner_login}/${got.repo.name}/commits/${got.sha}`,
        url: `${b}/api/repos/${got.repo.owner_login}/${got.repo.name}/commits/${got.sha}/status`,
      })
    }),
  ),

  // --- audit log ---
  route("GET", "/orgs/:org/audit-log", (ctx) =>
    Effect.gen(function* () {
      const identity = yield* Identity
      const meta = yield* Metadata
      const p = yield* requirePrincipal(ctx)
      const o = yield* identity.org(ctx.params.org!)
      if ((yield* identity.roleIn(o, p)) !== "admin")
        return yield* new HttpError({ status: 403, message: `you must be an owner of ${o.login}` })
      const rows = yield* meta.auditLog({ orgId: o.id, ...pageOf(ctx) }).pipe(Effect.orDie)
      yield* send(ctx, 200, rows.map(auditJson))
    }),
  ),
  route("GET", "/repos/:owner/:repo/audit-log", (ctx) =>
    Effect.gen(function* () {
      const repos = yield* Repositories
      const meta = yield* Metadata
      const p = yield* requirePrincipal(ctx)
      const found = yield* repos.access(ctx.params.owner!, ctx.params.repo!, p, "admin")
      const rows = yield* meta
        .auditLog({ repoId: found.repo.id, ...pageOf(ctx) })
        .pipe(Effect.orDie)
      yield* send(ctx, 200, rows.map(auditJson))
    }),
  ),
]

const statusJson = (b: string, repo: RepoRow, s: StatusRow) => ({
  url: `${b}/api/repos/${repo.owner_login}/${repo.name}/statuses/${s.sha}`,
  id: s.id,
  node_id: Buffer.from(`StatusContext:${s.id}`).toString("base64"),
  state: s.state,
  description: s.description,
  target_url: s.target_url,
  context: s.context,
  avatar_url: `${b}/avatars/${s.creator_login}`,
  created_at: new Date(s.created_at).toISOString().replace(/\.\d{3}Z$/, "Z"),
  updated_at: new Date(s.created_at).toISOString().replace(/\.\d{3}Z$/, "Z"),
  creator: accountJson(b, {
    id: s.creator_id,
    login: s.creator_login,
    site_admin: 0,
    type: "User",
  }),
})

/** `per_page` (≤ 100, default 30) and an `before` cursor (an entry id) for the audit log. */
const pageOf = (ctx: HttpContext) => {
  const per = Number(ctx.url.searchParams.get("per_page") ?? 30)
  const before = Number(ctx.url.searchParams.get("before") ?? Number.NaN)
  return {
    limit: Number.isInteger(per) && per > 0 ? Math.min(per, 100) : 30,
    beforeId: Number.isInteger(before) ? before : undefined,
  }
}

const createTokenFor = (ctx: HttpContext, user: string | undefined) =>
  Effect.gen(function* () {
    const p = yield* requirePrincipal(ctx)
    const identity = yield* Identity
    const body = yield* jsonObject(ctx, "Token")
    const note = (yield* field<string>(body, "Token", "note", "string")) ?? ""
    const scopes = (yield* field<unknown[]>(body, "Token", "scopes", "array")) ?? []
    if (!scopes.every((s) => typeof s === "string"))
      return yield* unprocessable("Invalid request. scopes must be strings.", [
        { resource: "Token", field: "scopes", code: "invalid" },
      ])
    const expires = yield* field<string>(body, "Token", "expires_at", "string")
    let expiresAt: number | undefined
    if (expires !== undefined) {
      expiresAt = Date.parse(expires)
      if (!Number.isFinite(expiresAt))
        return yield* unprocessable("Invalid request. expires_at must be an ISO 8601 time.", [
          { resource: "Token", field: "expires_at", code: "invalid" },
        ])
    }
    const repositories = yield* field<unknown[]>(body, "Token", "repositories", "array")
    if (
      repositories &&
      !repositories.every((r) => typeof r === "string" && /^[^/]+\/[^/]+$/.test(r))
    )
      return yield* unprocessable("Invalid request. repositories must be owner/name strings.", [
        { resource: "Token", field: "repositories", code: "invalid" },
      ])
    const made = yield* identity.createToken(p, {
      user,
      note,
      scopes: scopes as string[],
      expiresAt,
      repositories: repositories as string[] | undefined,
    })
    // The token is shown once, here; only its hash is kept.
    yield* send(ctx, 201, { ...tokenJson(made.row), token: made.token })
  })

const createOrgFrom = (ctx: HttpContext) =>
  Effect.gen(function* () {
    const p = yield* requirePrincipal(ctx)
    const identity = yield* Identity
    const body = yield* jsonObject(ctx, "Organization")
    const login = yield* field<string>(body, "Organization", "login", "string", true)
    const name = yield* field<string>(body, "Organization", "profile_name", "string")
    const admin = yield* field<string>(body, "Organization", "admin", "string")
    const org = yield* identity.createOrg(p, { login: login!, name, admin })
    yield* send(ctx, 201, orgJson(yield* base(ctx), org))
  })

/** The API routes mounted under both `/api` and `/api/v3`. */
export const apiRoutes = (): Array<Route<R>> =>
  ["/api", "/api/v3"].flatMap((prefix) =>
    [
      ...routes,
      ...checkRunRoutes,
      ...topicRoutes,
      ...issueRoutes,
      ...pullRoutes,
      ...releaseRoutes,
      ...contentRoutes,
      ...hookRoutes,
      ...gitDataRoutes,
    ].map((r) => ({
      ...r,
      path: prefix + r.path,
      handler: limited(r.handler),
    })),
  )

export const isHttpError = (e: unknown): e is HttpError => e instanceof HttpError
