/**
 * Repositories: create, find, administer. Every lookup goes through `access`, which applies
 * the rules every caller shares:
 * - below read, a repository does not exist for the caller (404, never 403), including
 *   for a token restricted to other repositories;
 * - the token must carry the scope the operation needs (`repo` for anything private and
 *   for writes; `public_repo` suffices for writes to public repositories);
 * - the caller's level (Access: owner, organisation, teams, collaborators) must reach the
 *   operation's level.
 * Old names after a rename or transfer keep resolving to the repository (`redirected`).
 */
import { randomUUID } from "node:crypto"
import { Context, Effect, Layer } from "effect"
import { type ProtectionRule, parseProtection, isFieldProblem } from "../domain/BranchProtection.ts"
import {
  atLeast,
  type Grantable,
  type Level,
  scopeProblem,
  type Visibility,
} from "../domain/Permissions.ts"
import {
  CreateRepository,
  DeleteRepository,
  SetBranchProtection,
  SetCollaborator,
  type Transaction,
  TransferRepository,
  UpdateRepository,
  type UserId,
} from "../domain/Transaction.ts"
import { Access } from "./Access.ts"
import type { Principal } from "./Auth.ts"
import { Forbidden, Invalid, NotFound } from "./Errors.ts"
import { requireScope } from "./Identity.ts"
import { Ledger } from "./Ledger.ts"
import { submitTx } from "./Submit.ts"
import { Metadata, type RepoRow } from "./Metadata.ts"

export interface CreateRepositoryInput {
  readonly name: string
  readonly description?: string | undefined
  readonly private?: boolean | undefined
  readonly visibility?: Visibility | undefined
  readonly defaultBranch?: string | undefined
  readonly owner?: string | undefined
}

export interface Found {
  readonly repo: RepoRow
  /** The caller's level on it. */
  readonly level: Level
  /** Reached through an old name (after a rename or transfer). */
  readonly redirected: boolean
}

const make = Effect.gen(function* () {
  const meta = yield* Metadata
  const ledger = yield* Ledger
  const access = yield* Access

  const submit = <D>(tx: Transaction, resource: string, field?: string) =>
    submitTx<D>(ledger, tx, resource, field)
  const envelope = (principal: Principal) => ({
    submitter: principal.user.id as UserId,
    idempotencyKey: randomUUID(),
  })

  /**
   * The repository if `principal` holds at least `needed` on it; NotFound when it cannot
   * even read it, Forbidden when it can read but not do this.
   */
  const accessRepo = (
    owner: string,
    name: string,
    principal: Principal | undefined,
    needed: Level = "read",
  ) =>
    Effect.gen(function* () {
      let repo = yield* meta.repo(owner, name).pipe(Effect.orDie)
      let redirected = false
      if (!repo) {
        repo = yield* meta.redirect(owner, name).pipe(Effect.orDie)
        redirected = repo !== undefined
      }
      // Built only when needed: an error captures a stack, which costs on every request.
      const missing = () => new NotFound({ what: `repository ${owner}/${name}` })
      if (!repo) return yield* missing()
      const full = `${repo.owner_login}/${repo.name}`.toLowerCase()
      if (principal?.repositories && !principal.repositories.has(full)) return yield* missing()
      const level = yield* access.levelOf(repo, principal?.user).pipe(Effect.orDie)
      if (!atLeast(level, "read")) return yield* missing()
      if (principal) {
        const scope = scopeProblem(principal.scopes, repo.visibility, needed)
        if (scope) {
          // Without the scope to read it, a private repository stays hidden.
          if (needed === "read") return yield* missing()
          return yield* new Forbidden({
            reason: `this token lacks the ${scope} scope needed here`,
            scope,
          })
        }
      }
      if (!atLeast(level, needed))
        return yield* new Forbidden({
          reason: `${needed} access to ${repo.owner_login}/${repo.name} is required${
            principal ? ` (${principal.user.login} has ${level})` : ""
          }`,
        })
      return { repo, level, redirected } satisfies Found
    })

  const find = (owner: string, name: string, principal: Principal | undefined) =>
    Effect.map(accessRepo(owner, name, principal, "read"), (f) => f.repo)

  const create = (principal: Principal, input: CreateRepositoryInput) =>
    Effect.gen(function* () {
      yield* requireScope(
        principal,
        input.private || (input.visibility && input.visibility !== "public")
          ? "repo"
          : "public_repo",
      )
      const owner = input.owner ?? principal.user.login
      const visibility: Visibility = input.visibility ?? (input.private ? "private" : "public")
      yield* submit(
        CreateRepository.make({
          ...envelope(principal),
          owner,
          name: input.name,
          description: input.description,
          private: visibility !== "public",
          visibility,
          defaultBranch: input.defaultBranch ?? "main",
        }),
        "Repository",
      )
      const repo = yield* meta.repo(owner, input.name).pipe(Effect.orDie)
      if (!repo) return yield* Effect.dieMessage("repository vanished right after creation")
      return repo
    })

  const listOf = (owner: string, principal: Principal | undefined) =>
    Effect.gen(function* () {
      const rows = yield* meta.reposOf(owner).pipe(Effect.orDie)
      return yield* Effect.filter(rows, (r) =>
        Effect.map(access.levelOf(r, principal?.user).pipe(Effect.orDie), (l) => {
          if (!atLeast(l, "read")) return false
          if (principal?.repositories)
            return principal.repositories.has(`${r.owner_login}/${r.name}`.toLowerCase())
          return true
        }),
      )
    })

  const levelOf = (repo: RepoRow, principal: Principal | undefined) =>
    access.levelOf(repo, principal?.user).pipe(Effect.orDie)

  const update = (
    principal: Principal,
    owner: string,
    name: string,
    fields: {
      name?: string | undefined
      description?: string | null | undefined
      visibility?: Visibility | undefined
      defaultBranch?: string | undefined
    },
  ) =>
    Effect.gen(function* () {
      const { repo } = yield* accessRepo(owner, name, principal, "admin")
      yield* submit(
        UpdateRepository.make({
          ...envelope(principal),
          owner: repo.owner_login,
          repo: repo.name,
          ...fields,
        }),
        "Repository",
      )
      return (yield* meta.repoById(repo.id).pipe(Effect.orDie))!
    })

  const transfer = (
    principal: Principal,
    owner: string,
    name: string,
    newOwner: string,
    newName?: string,
  ) =>
    Effect.gen(function* () {
      const { repo } = yield* accessRepo(owner, name, principal, "admin")
      yield* submit(
        TransferRepository.make({
          ...envelope(principal),
          owner: repo.owner_login,
          repo: repo.name,
          newOwner,
          newName,
        }),
        "Repository",
        "new_owner",
      )
      return (yield* meta.repoById(repo.id).pipe(Effect.orDie))!
    })

  const remove = (principal: Principal, owner: string, name: string) =>
    Effect.gen(function* () {
      const { repo } = yield* accessRepo(owner, name, principal, "admin")
      yield* requireScope(principal, "delete_repo")
      yield* submit(
        DeleteRepository.make({ ...envelope(principal), owner: repo.owner_login, repo: repo.name }),
        "Repository",
      )
    })

  const collaborators = (owner: string, name: string, principal: Principal | undefined) =>
    Effect.gen(function* () {
      const { repo } = yield* accessRepo(owner, name, principal, "write")
      return yield* meta.collaborators(repo.id).pipe(Effect.orDie)
    })

  const setCollaborator = (
    principal: Principal,
    owner: string,
    name: string,
    user: string,
    permission: Grantable | null,
  ) =>
    Effect.gen(function* () {
      const self = principal.user.login.toLowerCase() === user.toLowerCase()
      const { repo } = yield* accessRepo(
        owner,
        name,
        principal,
        permission === null && self ? "read" : "admin",
      )
      return yield* submit<{ created: boolean }>(
        SetCollaborator.make({
          ...envelope(principal),
          owner: repo.owner_login,
          repo: repo.name,
          user,
          permission,
        }),
        "Collaborator",
        "permission",
      )
    })

  /** `user`'s level on the repository (GitHub: readable by anyone with read on it). */
  const permissionOf = (
    owner: string,
    name: string,
    login: string,
    principal: Principal | undefined,
  ) =>
    Effect.gen(function* () {
      const { repo } = yield* accessRepo(owner, name, principal, "read")
      const user = yield* meta.userByLogin(login).pipe(Effect.orDie)
      if (!user || user.type !== "User") return yield* new NotFound({ what: `user ${login}` })
      return { repo, user, level: yield* access.levelOf(repo, user).pipe(Effect.orDie) }
    })

  const protection = (
    owner: string,
    name: string,
    branch: string,
    principal: Principal | undefined,
  ) =>
    Effect.gen(function* () {
      const { repo } = yield* accessRepo(owner, name, principal, "write")
      const text = yield* meta.protection(repo.id, branch).pipe(Effect.orDie)
      if (text === undefined) return yield* new NotFound({ what: "Branch not protected" })
      return { repo, rule: JSON.parse(text) as ProtectionRule }
    })

  const protectedBranches = (repo: RepoRow) =>
    Effect.map(meta.protectedBranches(repo.id).pipe(Effect.orDie), (rows) =>
      rows.map((r) => ({ branch: r.branch, rule: JSON.parse(r.rule) as ProtectionRule })),
    )

  const setProtection = (
    principal: Principal,
    owner: string,
    name: string,
    branch: string,
    body: unknown | null,
  ) =>
    Effect.gen(function* () {
      const { repo } = yield* accessRepo(owner, name, principal, "admin")
      if (body !== null) {
        const parsed = parseProtection(body)
        if (isFieldProblem(parsed))
          return yield* new Invalid({
            reason: `Invalid request. ${parsed.field} ${parsed.message}`,
            resource: "BranchProtection",
            field: parsed.field,
            code: "invalid",
          })
      }
      yield* submit(
        SetBranchProtection.make({
          ...envelope(principal),
          owner: repo.owner_login,
          repo: repo.name,
          branch,
          rule: body === null ? null : JSON.stringify(body),
        }),
        "BranchProtection",
      )
      if (body === null) return undefined
      return yield* protection(repo.owner_login, repo.name, branch, principal)
    })

  return {
    access: accessRepo,
    find,
    create,
    listOf,
    levelOf,
    update,
    transfer,
    remove,
    collaborators,
    setCollaborator,
    permissionOf,
    protection,
    protectedBranches,
    setProtection,
  }
})

export class Repositories extends Context.Tag("guts/Repositories")<
  Repositories,
  Effect.Effect.Success<typeof make>
>() {
  static readonly Live = Layer.effect(Repositories, make)
}
