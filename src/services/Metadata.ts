/**
 * Metadata: the relational part of replicated state (users, tokens, repositories; later
 * collaboration, CI, webhooks), kept in SQLite.
 *
 * Reads are for everyone. Writes happen only inside `Apply` (one SQL transaction per
 * block, together with the store's applied height), so two nodes that applied the same
 * blocks hold the same rows.
 */
import type { SqlError } from "@effect/sql/SqlError"
import { Context, type Effect } from "effect"
import type { CiTables } from "./CiTables.ts"
import type { CollabTables } from "./CollabTables.ts"

export interface UserRow {
  readonly id: number
  readonly login: string
  readonly name: string | null
  readonly email: string | null
  readonly site_admin: number
  readonly created_at: number
  /** "User" or "Organization": organisations share the users' namespace, as on GitHub. */
  readonly type: "User" | "Organization"
  readonly bio: string | null
  readonly updated_at: number
}

export interface TokenRow {
  /** Public number of the token (for listing and revoking); the token itself is never stored. */
  readonly id: number
  readonly hash: string
  readonly user_id: number
  readonly scopes: string
  readonly note: string
  readonly created_at: number
  readonly expires_at: number | null
  readonly revoked: number
  /** JSON array of `owner/name` the token is restricted to, or null for all. */
  readonly repositories: string | null
}

export interface SshKeyRow {
  readonly id: number
  readonly user_id: number
  readonly title: string
  readonly key: string
  readonly fingerprint: string
  readonly created_at: number
}

export interface TeamRow {
  readonly id: number
  readonly org_id: number
  readonly slug: string
  readonly name: string
  readonly description: string | null
  readonly privacy: "secret" | "closed"
  readonly parent_id: number | null
  readonly permission: string
  readonly created_at: number
}

export interface MemberRow {
  readonly user_id: number
  readonly login: string
  readonly site_admin: number
  readonly role: string
}

export interface StatusRow {
  readonly id: number
  readonly repo_id: number
  readonly sha: string
  readonly state: "error" | "failure" | "pending" | "success"
  readonly context: string
  readonly description: string | null
  readonly target_url: string | null
  readonly creator_id: number
  readonly creator_login: string
  readonly created_at: number
}

export interface DeliveryRow {
  readonly guid: string
  readonly hook_id: number
  readonly event: string
  readonly action: string | null
  readonly payload: string
  readonly status: string
  readonly status_code: number
  readonly duration_ms: number
  readonly attempts: number
  readonly redelivery: number
  readonly delivered_at: number
  readonly response: string | null
}

export interface AuditRow {
  readonly id: number
  readonly created_at: number
  readonly height: number
  readonly actor_id: number
  readonly actor_login: string
  readonly action: string
  readonly org_id: number | null
  readonly repo_id: number | null
  readonly repo: string | null
  readonly data: string
}

/** The key a repository's refs are stored under (`owner/name`). */
export const repoKey = (repo: Pick<RepoRow, "owner_login" | "name">) =>
  `${repo.owner_login}/${repo.name}`

export interface RepoRow {
  readonly id: number
  readonly owner_id: number
  readonly owner_login: string
  readonly name: string
  readonly description: string | null
  readonly private: number
  readonly visibility: "public" | "private" | "internal"
  readonly default_branch: string
  readonly created_at: number
  readonly updated_at: number
  readonly pushed_at: number | null
  /** The repository this one was forked from. */
  readonly fork_of?: number | null
}

export interface MetadataShape extends CollabTables, CiTables {
  readonly userByLogin: (login: string) => Effect.Effect<UserRow | undefined, SqlError>
  readonly userById: (id: number) => Effect.Effect<UserRow | undefined, SqlError>
  readonly countUsers: Effect.Effect<number, SqlError>
  readonly tokenByHash: (hash: string) => Effect.Effect<TokenRow | undefined, SqlError>
  readonly repo: (owner: string, name: string) => Effect.Effect<RepoRow | undefined, SqlError>
  readonly reposOf: (ownerLogin: string) => Effect.Effect<ReadonlyArray<RepoRow>, SqlError>
  readonly allRepos: Effect.Effect<ReadonlyArray<RepoRow>, SqlError>
  readonly appliedHeight: Effect.Effect<number, SqlError>

  /** Runs `body` in one SQL transaction and records `height` as applied in it. */
  readonly applyAtHeight: <A, E, R>(
    height: number,
    body: Effect.Effect<A, E, R>,
  ) => Effect.Effect<A, E | SqlError, R>
  /** Runs `body` in a savepoint of the current transaction: undone whole if it fails. */
  readonly atomically: <A, E, R>(body: Effect.Effect<A, E, R>) => Effect.Effect<A, E | SqlError, R>
  readonly insertUser: (row: Omit<UserRow, "id">) => Effect.Effect<number, SqlError>
  readonly insertToken: (row: TokenRow) => Effect.Effect<void, SqlError>
  readonly insertRepo: (row: Omit<RepoRow, "id">) => Effect.Effect<number, SqlError>
  readonly touchRepoPushed: (id: number, at: number) => Effect.Effect<void, SqlError>

  // Identity and access (reads).
  readonly tokensOf: (userId: number) => Effect.Effect<ReadonlyArray<TokenRow>, SqlError>
  readonly tokenById: (id: number) => Effect.Effect<TokenRow | undefined, SqlError>
  readonly nextTokenId: Effect.Effect<number, SqlError>
  readonly sshKeyByFingerprint: (
    fingerprint: string,
  ) => Effect.Effect<SshKeyRow | undefined, SqlError>
  readonly sshKeysOf: (userId: number) => Effect.Effect<ReadonlyArray<SshKeyRow>, SqlError>
  readonly sshKeyById: (id: number) => Effect.Effect<SshKeyRow | undefined, SqlError>
  readonly orgRole: (orgId: number, userId: number) => Effect.Effect<string | undefined, SqlError>
  readonly orgMembers: (orgId: number) => Effect.Effect<ReadonlyArray<MemberRow>, SqlError>
  readonly orgsOf: (userId: number) => Effect.Effect<ReadonlyArray<UserRow>, SqlError>
  readonly teamBySlug: (orgId: number, slug: string) => Effect.Effect<TeamRow | undefined, SqlError>
  readonly teamById: (id: number) => Effect.Effect<TeamRow | undefined, SqlError>
  readonly teamsOf: (orgId: number) => Effect.Effect<ReadonlyArray<TeamRow>, SqlError>
  readonly teamMembers: (teamId: number) => Effect.Effect<ReadonlyArray<MemberRow>, SqlError>
  readonly teamRole: (teamId: number, userId: number) => Effect.Effect<string | undefined, SqlError>
  /** Teams of `orgId` that `userId` is a direct member of. */
  readonly teamsOfUser: (
    orgId: number,
    userId: number,
  ) => Effect.Effect<ReadonlyArray<TeamRow>, SqlError>
  readonly teamRepoLevels: (
    repoId: number,
  ) => Effect.Effect<ReadonlyArray<{ team_id: number; permission: string }>, SqlError>
  readonly teamRepos: (
    teamId: number,
  ) => Effect.Effect<ReadonlyArray<RepoRow & { team_permission: string }>, SqlError>
  readonly collaborators: (repoId: number) => Effect.Effect<ReadonlyArray<MemberRow>, SqlError>
  readonly collaboratorLevel: (
    repoId: number,
    userId: number,
  ) => Effect.Effect<string | undefined, SqlError>
  readonly repoById: (id: number) => Effect.Effect<RepoRow | undefined, SqlError>
  /** Where an old `owner/name` now lives (after a rename or transfer). */
  readonly redirect: (owner: string, name: string) => Effect.Effect<RepoRow | undefined, SqlError>
  readonly protection: (
    repoId: number,
    branch: string,
  ) => Effect.Effect<string | undefined, SqlError>
  readonly protectedBranches: (
    repoId: number,
  ) => Effect.Effect<ReadonlyArray<{ branch: string; rule: string }>, SqlError>
  readonly auditLog: (filter: {
    readonly orgId?: number | undefined
    readonly repoId?: number | undefined
    readonly limit: number
    readonly beforeId?: number | undefined
  }) => Effect.Effect<ReadonlyArray<AuditRow>, SqlError>

  // Identity and access (writes, inside Apply only).
  readonly updateUser: (
    id: number,
    fields: { name?: string | null; email?: string | null; bio?: string | null },
    at: number,
  ) => Effect.Effect<void, SqlError>
  readonly revokeToken: (id: number) => Effect.Effect<void, SqlError>
  readonly insertSshKey: (row: Omit<SshKeyRow, "id">) => Effect.Effect<number, SqlError>
  readonly deleteSshKey: (id: number) => Effect.Effect<void, SqlError>
  readonly setOrgRole: (
    orgId: number,
    userId: number,
    role: string | null,
  ) => Effect.Effect<void, SqlError>
  readonly insertTeam: (row: Omit<TeamRow, "id">) => Effect.Effect<number, SqlError>
  readonly deleteTeam: (id: number) => Effect.Effect<void, SqlError>
  readonly setTeamRole: (
    teamId: number,
    userId: number,
    role: string | null,
  ) => Effect.Effect<void, SqlError>
  readonly setTeamRepo: (
    teamId: number,
    repoId: number,
    permission: string | null,
  ) => Effect.Effect<void, SqlError>
  readonly setCollaborator: (
    repoId: number,
    userId: number,
    permission: string | null,
  ) => Effect.Effect<void, SqlError>
  readonly updateRepo: (
    id: number,
    fields: {
      owner_id?: number
      owner_login?: string
      name?: string
      description?: string | null
      visibility?: string
      default_branch?: string
    },
    at: number,
  ) => Effect.Effect<void, SqlError>
  readonly deleteRepo: (id: number) => Effect.Effect<void, SqlError>
  readonly addRedirect: (
    owner: string,
    name: string,
    repoId: number,
  ) => Effect.Effect<void, SqlError>
  readonly setProtection: (
    repoId: number,
    branch: string,
    rule: string | null,
  ) => Effect.Effect<void, SqlError>
  readonly insertAudit: (row: Omit<AuditRow, "id">) => Effect.Effect<void, SqlError>
  // Webhook deliveries: node-local (not replicated, not in the state digest).
  readonly insertDelivery: (row: DeliveryRow) => Effect.Effect<void, SqlError>
  readonly updateDelivery: (
    guid: string,
    fields: Partial<
      Pick<
        DeliveryRow,
        "status" | "status_code" | "duration_ms" | "attempts" | "delivered_at" | "response"
      >
    >,
  ) => Effect.Effect<void, SqlError>
  readonly deliveries: (hookId: number) => Effect.Effect<ReadonlyArray<DeliveryRow>, SqlError>
  readonly delivery: (
    hookId: number,
    guid: string,
  ) => Effect.Effect<DeliveryRow | undefined, SqlError>
  readonly insertStatus: (row: Omit<StatusRow, "id">) => Effect.Effect<number, SqlError>
  /** Every status of a commit, newest first. */
  readonly statusesOf: (
    repoId: number,
    sha: string,
  ) => Effect.Effect<ReadonlyArray<StatusRow>, SqlError>
  /** The recorded outcome (JSON) of an applied transaction, by idempotency key. */
  readonly txOutcome: (key: string) => Effect.Effect<string | undefined, SqlError>
  readonly recordTx: (key: string, height: number, outcome: string) => Effect.Effect<void, SqlError>
  /** A digest of every replicated table, for comparing nodes' state. */
  readonly stateDigest: Effect.Effect<string, SqlError>
}

export class Metadata extends Context.Tag("guts/Metadata")<Metadata, MetadataShape>() {}
