/**
 * What every group of apply handlers shares: the rejection a transaction ends with when a
 * rule refuses it, the audit note it may leave, and the lookups that enforce visibility and
 * permission levels the same way everywhere.
 */
import type { SqlError } from "@effect/sql/SqlError"
import { Effect } from "effect"
import { atLeast, type Level } from "../../domain/Permissions.ts"
import type { Block, Transaction } from "../../domain/Transaction.ts"
import type { Access } from "../Access.ts"
import type { MetadataShape, RepoRow, UserRow } from "../Metadata.ts"
import type { ObjectCorrupt, StorageError } from "../ObjectStore.ts"

/** A transaction refused by a rule: recorded as its outcome, with nothing applied. */
export class Reject {
  constructor(
    readonly reason: string,
    readonly detail?: unknown,
  ) {}
}

/** An audit entry a handler asks for; written in the same SQL transaction as its effects. */
export interface AuditNote {
  readonly action: string
  readonly org?: UserRow | undefined
  readonly repo?: RepoRow | undefined
  readonly data?: Record<string, unknown>
}

export type Handled = { readonly detail: unknown; readonly audit?: AuditNote | undefined }

export type HandlerError = Reject | SqlError | StorageError | ObjectCorrupt

export type Handler<T extends Transaction = Transaction> = (
  tx: T,
  block: Block,
  actor: UserRow,
) => Effect.Effect<Handled, HandlerError>

export const makeKit = (meta: MetadataShape, access: Access["Type"]) => {
  const reject = (reason: string, detail?: unknown) => Effect.fail(new Reject(reason, detail))
  const done = (detail: unknown, audit?: AuditNote): Handled => ({ detail, audit })
  const needUser = (login: string) =>
    Effect.flatMap(meta.userByLogin(login), (u) =>
      u && u.type === "User" ? Effect.succeed(u) : reject(`no user ${login}`),
    )
  const needOrg = (login: string) =>
    Effect.flatMap(meta.userByLogin(login), (u) =>
      u && u.type === "Organization" ? Effect.succeed(u) : reject(`no organization ${login}`),
    )
  const needRepo = (owner: string, name: string) =>
    Effect.flatMap(meta.repo(owner, name), (r) =>
      r ? Effect.succeed(r) : reject(`repository ${owner}/${name} does not exist`),
    )
  const needOrgAdmin = (org: UserRow, actor: UserRow) =>
    Effect.flatMap(access.orgRoleOf(org, actor), (role) =>
      role === "admin"
        ? Effect.void
        : reject(`you must be an owner of ${org.login} to do this`, { code: "forbidden" }),
    )
  /** The repository if the actor holds at least `level` on it (private ones stay hidden). */
  const needLevel = (owner: string, name: string, actor: UserRow, level: Level) =>
    Effect.gen(function* () {
      const repo = yield* needRepo(owner, name)
      const have = yield* access.levelOf(repo, actor)
      if (!atLeast(have, "read")) return yield* reject(`repository ${owner}/${name} does not exist`)
      if (!atLeast(have, level))
        return yield* reject(`permission to ${repo.owner_login}/${repo.name} denied`, {
          code: "forbidden",
        })
      return repo
    })
  const orgOfRepo = (repo: RepoRow) =>
    Effect.map(meta.userById(repo.owner_id), (o) => (o?.type === "Organization" ? o : undefined))
  const selfOrAdmin = (user: UserRow, actor: UserRow, what: string) =>
    user.id === actor.id || actor.site_admin === 1
      ? Effect.void
      : reject(`only ${user.login} or an administrator can ${what}`, { code: "forbidden" })
  return {
    reject,
    done,
    needUser,
    needOrg,
    needRepo,
    needOrgAdmin,
    needLevel,
    orgOfRepo,
    selfOrAdmin,
  }
}

export type Kit = ReturnType<typeof makeKit>
