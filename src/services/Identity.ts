/**
 * Identity: accounts, tokens, SSH keys, organisations and teams — the request side. Each
 * operation checks what it can quickly (token scopes, which only exist here; permissions,
 * through the same Access rules Apply uses), then submits a transaction and waits for its
 * outcome. Apply checks the permissions again, so a node that skipped this step gains
 * nothing.
 */
import { randomUUID } from "node:crypto"
import { Effect, Context, Layer } from "effect"
import { hasScope, type Grantable, type OrgRole, type TeamRole } from "../domain/Permissions.ts"
import {
  AddSshKey,
  CreateOrganization,
  CreateTeam,
  CreateToken,
  CreateUser,
  DeleteTeam,
  RemoveSshKey,
  RevokeToken,
  SetOrgMembership,
  SetPassword,
  SetTeamMembership,
  SetTeamRepository,
  SYSTEM_USER,
  type Transaction,
  UpdateUser,
  type UserId,
} from "../domain/Transaction.ts"
import { Access } from "./Access.ts"
import { hashToken, newToken, type Principal } from "./Auth.ts"
import { Forbidden, Invalid, NotFound } from "./Errors.ts"
import { hashPassword, passwordProblem } from "../domain/Password.ts"
import { Ledger } from "./Ledger.ts"
import { submitTx } from "./Submit.ts"
import { Metadata, type TeamRow, type UserRow } from "./Metadata.ts"

export const requireScope = (principal: Principal, scope: string) =>
  hasScope(principal.scopes, scope)
    ? Effect.void
    : Effect.fail(
        new Forbidden({
          reason: `this token lacks the ${scope} scope (create one with it)`,
          scope,
        }),
      )

const envelope = (principal: Principal | undefined) => ({
  submitter: (principal?.user.id ?? SYSTEM_USER) as UserId,
  idempotencyKey: randomUUID(),
})

/** Scopes a token for a new account gets when it signs itself up. */
export const SIGNUP_SCOPES = ["repo", "user", "read:org", "write:public_key", "workflow"]

const make = Effect.gen(function* () {
  const meta = yield* Metadata
  const ledger = yield* Ledger
  const access = yield* Access

  /** Submits and returns Apply's detail, or the refusal for a rejection. */
  const submit = <D>(tx: Transaction, resource: string, field?: string) =>
    submitTx<D>(ledger, tx, resource, field)

  const user = (login: string) =>
    Effect.flatMap(meta.userByLogin(login).pipe(Effect.orDie), (u) =>
      u ? Effect.succeed(u) : Effect.fail(new NotFound({ what: `user ${login}` })),
    )
  const org = (login: string) =>
    Effect.flatMap(meta.userByLogin(login).pipe(Effect.orDie), (u) =>
      u?.type === "Organization"
        ? Effect.succeed(u)
        : Effect.fail(new NotFound({ what: `organization ${login}` })),
    )

  // --- accounts ---

  const createUser = (
    principal: Principal | undefined,
    input: {
      login: string
      email?: string | undefined
      name?: string | undefined
      /** Only an administrator (a principal) can make another administrator. */
      siteAdmin?: boolean | undefined
    },
    open: boolean,
  ) =>
    Effect.gen(function* () {
      if (principal) {
        if (principal.user.site_admin !== 1)
          return yield* new Forbidden({ reason: "only administrators can create users" })
        yield* requireScope(principal, "site_admin")
      } else if (!open)
        return yield* new Forbidden({
          reason: "sign-up is closed on this node; an administrator creates accounts",
        })
      yield* submit(
        CreateUser.make({
          ...envelope(principal),
          login: input.login,
          name: input.name,
          email: input.email,
          siteAdmin: principal !== undefined && input.siteAdmin === true,
        }),
        "User",
        "login",
      )
      const created = yield* user(input.login)
      // Someone signing themselves up gets a token, shown once.
      if (principal) return { user: created, token: undefined }
      const token = newToken()
      yield* submit(
        CreateToken.make({
          ...envelope(undefined),
          user: created.login,
          tokenHash: hashToken(token),
          scopes: SIGNUP_SCOPES,
          note: "sign-up",
        }),
        "Token",
      )
      return { user: created, token }
    })

  const updateProfile = (
    principal: Principal,
    fields: { name?: string | null; email?: string | null; bio?: string | null },
  ) =>
    Effect.gen(function* () {
      yield* requireScope(principal, "user")
      yield* submit(
        UpdateUser.make({ ...envelope(principal), user: principal.user.login, ...fields }),
        "User",
      )
      return yield* user(principal.user.login)
    })

  // --- tokens ---

  const createToken = (
    principal: Principal,
    input: {
      user?: string | undefined
      note: string
      scopes: ReadonlyArray<string>
      expiresAt?: number | undefined
      repositories?: ReadonlyArray<string> | undefined
    },
  ) =>
    Effect.gen(function* () {
      const owner = input.user ?? principal.user.login
      // A token can only hand out what it holds itself, or it would escalate.
      const beyond = input.scopes.filter((s) => !hasScope(principal.scopes, s))
      if (beyond.length > 0)
        return yield* new Forbidden({
          reason: `a token cannot grant scopes it does not hold: ${beyond.join(", ")}`,
          scope: beyond[0],
        })
      const token = newToken()
      const detail = yield* submit<{ tokenId: number }>(
        CreateToken.make({
          ...envelope(principal),
          user: owner,
          tokenHash: hashToken(token),
          scopes: [...input.scopes],
          note: input.note,
          expiresAt: input.expiresAt,
          repositories: input.repositories ? [...input.repositories] : undefined,
        }),
        "Token",
        "scopes",
      )
      const row = yield* meta.tokenById(detail.tokenId).pipe(Effect.orDie)
      return { token, row: row! }
    })

  const listTokens = (principal: Principal) =>
    Effect.map(meta.tokensOf(principal.user.id).pipe(Effect.orDie), (rows) =>
      rows.filter((r) => r.revoked === 0),
    )

  const revokeToken = (principal: Principal, id: number) =>
    submit(
      RevokeToken.make({ ...envelope(principal), user: principal.user.login, tokenId: id }),
      "Token",
    ).pipe(Effect.asVoid)

  // --- SSH keys ---

  const addKey = (principal: Principal, title: string, key: string) =>
    Effect.gen(function* () {
      yield* requireScope(principal, "write:public_key")
      const { id } = yield* submit<{ id: number }>(
        AddSshKey.make({ ...envelope(principal), user: principal.user.login, title, key }),
        "PublicKey",
        "key",
      )
      return (yield* meta.sshKeyById(id).pipe(Effect.orDie))!
    })

  const keysOf = (login: string) =>
    Effect.flatMap(user(login), (u) => meta.sshKeysOf(u.id).pipe(Effect.orDie))

  const removeKey = (principal: Principal, id: number) =>
    Effect.gen(function* () {
      yield* requireScope(principal, "admin:public_key")
      yield* submit(
        RemoveSshKey.make({ ...envelope(principal), user: principal.user.login, keyId: id }),
        "PublicKey",
      )
    })

  // --- organisations ---

  const createOrg = (
    principal: Principal,
    input: { login: string; name?: string | undefined; admin?: string | undefined },
  ) =>
    Effect.gen(function* () {
      yield* requireScope(principal, "admin:org")
      yield* submit(
        CreateOrganization.make({
          ...envelope(principal),
          login: input.login,
          name: input.name,
          admin: input.admin ?? principal.user.login,
        }),
        "Organization",
        "login",
      )
      return yield* org(input.login)
    })

  const roleIn = (o: UserRow, principal: Principal | undefined) =>
    access.orgRoleOf(o, principal?.user).pipe(Effect.orDie)

  const members = (login: string, principal: Principal | undefined) =>
    Effect.gen(function* () {
      const o = yield* org(login)
      // Membership is visible to members; others see no one (we have no public members).
      if (!(yield* roleIn(o, principal))) return []
      return yield* meta.orgMembers(o.id).pipe(Effect.orDie)
    })

  const membership = (login: string, member: string, principal: Principal | undefined) =>
    Effect.gen(function* () {
      const o = yield* org(login)
      const u = yield* user(member)
      const mine = yield* roleIn(o, principal)
      if (!mine && principal?.user.id !== u.id)
        return yield* new NotFound({ what: `membership of ${member} in ${login}` })
      const role = yield* meta.orgRole(o.id, u.id).pipe(Effect.orDie)
      if (!role) return yield* new NotFound({ what: `membership of ${member} in ${login}` })
      return { org: o, user: u, role: role as OrgRole }
    })

  const setMembership = (
    principal: Principal,
    login: string,
    member: string,
    role: OrgRole | null,
  ) =>
    Effect.gen(function* () {
      yield* requireScope(principal, "admin:org")
      const o = yield* org(login)
      if (role !== null || principal.user.login.toLowerCase() !== member.toLowerCase())
        if ((yield* roleIn(o, principal)) !== "admin")
          return yield* new Forbidden({ reason: `you must be an owner of ${o.login}` })
      yield* submit(
        SetOrgMembership.make({ ...envelope(principal), org: o.login, user: member, role }),
        "Membership",
        "role",
      )
    })

  const orgsOf = (login: string) =>
    Effect.flatMap(user(login), (u) => meta.orgsOf(u.id).pipe(Effect.orDie))

  // --- teams ---

  /** Secret teams are visible only to organisation members. */
  const visibleTeam = (o: UserRow, t: TeamRow | undefined, principal: Principal | undefined) =>
    Effect.gen(function* () {
      if (!t) return false
      if (t.privacy === "closed") return (yield* roleIn(o, principal)) !== undefined
      if ((yield* roleIn(o, principal)) === "admin") return true
      return principal
        ? (yield* meta.teamRole(t.id, principal.user.id).pipe(Effect.orDie)) !== undefined
        : false
    })

  const team = (login: string, slug: string, principal: Principal | undefined) =>
    Effect.gen(function* () {
      const o = yield* org(login)
      const t = yield* meta.teamBySlug(o.id, slug).pipe(Effect.orDie)
      if (!t || !(yield* visibleTeam(o, t, principal)))
        return yield* new NotFound({ what: `team ${slug}` })
      return { org: o, team: t }
    })

  const teams = (login: string, principal: Principal | undefined) =>
    Effect.gen(function* () {
      const o = yield* org(login)
      const all = yield* meta.teamsOf(o.id).pipe(Effect.orDie)
      return yield* Effect.filter(all, (t) => visibleTeam(o, t, principal))
    })

  const createTeam = (
    principal: Principal,
    login: string,
    input: {
      name: string
      description?: string | undefined
      privacy?: "secret" | "closed" | undefined
      parent?: string | undefined
      permission?: Grantable | undefined
    },
  ) =>
    Effect.gen(function* () {
      yield* requireScope(principal, "admin:org")
      const o = yield* org(login)
      if ((yield* roleIn(o, principal)) !== "admin")
        return yield* new Forbidden({ reason: `you must be an owner of ${o.login}` })
      const { slug } = yield* submit<{ slug: string }>(
        CreateTeam.make({
          ...envelope(principal),
          org: o.login,
          name: input.name,
          description: input.description,
          privacy: input.privacy ?? (input.parent ? "closed" : "secret"),
          parent: input.parent,
          permission: input.permission ?? "read",
        }),
        "Team",
      )
      return yield* team(o.login, slug, principal)
    })

  const deleteTeam = (principal: Principal, login: string, slug: string) =>
    Effect.gen(function* () {
      yield* requireScope(principal, "admin:org")
      const t = yield* team(login, slug, principal)
      yield* submit(
        DeleteTeam.make({ ...envelope(principal), org: t.org.login, team: t.team.slug }),
        "Team",
      )
    })

  const teamMembers = (login: string, slug: string, principal: Principal | undefined) =>
    Effect.flatMap(team(login, slug, principal), (t) =>
      meta.teamMembers(t.team.id).pipe(Effect.orDie),
    )

  const teamMembership = (
    login: string,
    slug: string,
    member: string,
    principal: Principal | undefined,
  ) =>
    Effect.gen(function* () {
      const t = yield* team(login, slug, principal)
      const u = yield* user(member)
      const role = yield* meta.teamRole(t.team.id, u.id).pipe(Effect.orDie)
      if (!role) return yield* new NotFound({ what: `membership of ${member} in ${slug}` })
      return { ...t, user: u, role: role as TeamRole }
    })

  const setTeamMembership = (
    principal: Principal,
    login: string,
    slug: string,
    member: string,
    role: TeamRole | null,
  ) =>
    Effect.gen(function* () {
      yield* requireScope(principal, "write:org")
      const t = yield* team(login, slug, principal)
      yield* submit(
        SetTeamMembership.make({
          ...envelope(principal),
          org: t.org.login,
          team: t.team.slug,
          user: member,
          role,
        }),
        "Membership",
        "role",
      )
    })

  const teamRepos = (login: string, slug: string, principal: Principal | undefined) =>
    Effect.flatMap(team(login, slug, principal), (t) =>
      meta.teamRepos(t.team.id).pipe(Effect.orDie),
    )

  const setTeamRepo = (
    principal: Principal,
    login: string,
    slug: string,
    owner: string,
    repo: string,
    permission: Grantable | null,
  ) =>
    Effect.gen(function* () {
      yield* requireScope(principal, "admin:org")
      const t = yield* team(login, slug, principal)
      yield* submit(
        SetTeamRepository.make({
          ...envelope(principal),
          org: t.org.login,
          team: t.team.slug,
          owner,
          repo,
          permission,
        }),
        "Team",
        "permission",
      )
    })

  // --- passwords (web sign-in) ---

  /** Sets `login`'s password (hashed here with a fresh salt); self, or an administrator. */
  const setPassword = (principal: Principal | undefined, login: string, password: string) =>
    Effect.gen(function* () {
      const problem = passwordProblem(password)
      if (problem)
        return yield* new Invalid({
          reason: problem,
          resource: "User",
          field: "password",
          code: "invalid",
        })
      const hash = yield* hashPassword(password)
      yield* submit(
        SetPassword.make({ ...envelope(principal), user: login, hash }),
        "User",
        "password",
      )
    })

  return {
    setPassword,
    user,
    org,
    createUser,
    updateProfile,
    createToken,
    listTokens,
    revokeToken,
    addKey,
    keysOf,
    removeKey,
    createOrg,
    members,
    membership,
    setMembership,
    orgsOf,
    roleIn,
    team,
    teams,
    createTeam,
    deleteTeam,
    teamMembers,
    teamMembership,
    setTeamMembership,
    teamRepos,
    setTeamRepo,
  }
})

export class Identity extends Context.Tag("guts/Identity")<
  Identity,
  Effect.Effect.Success<typeof make>
>() {
  static readonly Live = Layer.effect(Identity, make)
}
