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

export interface UserRow {
  readonly id: number
  readonly login: string
  readonly name: string | null
  readonly email: string | null
  readonly site_admin: number
  readonly created_at: number
}

export interface TokenRow {
  readonly hash: string
  readonly user_id: number
  readonly scopes: string
  readonly note: string
  readonly created_at: number
  readonly expires_at: number | null
  readonly revoked: number
}

export interface RepoRow {
  readonly id: number
  readonly owner_id: number
  readonly owner_login: string
  readonly name: string
  readonly description: string | null
  readonly private: number
  readonly default_branch: string
  readonly created_at: number
  readonly updated_at: number
  readonly pushed_at: number | null
}

export interface MetadataShape {
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
  readonly insertUser: (row: Omit<UserRow, "id">) => Effect.Effect<number, SqlError>
  readonly insertToken: (row: TokenRow) => Effect.Effect<void, SqlError>
  readonly insertRepo: (row: Omit<RepoRow, "id">) => Effect.Effect<number, SqlError>
  readonly touchRepoPushed: (id: number, at: number) => Effect.Effect<void, SqlError>
  /** The recorded outcome (JSON) of an applied transaction, by idempotency key. */
  readonly txOutcome: (key: string) => Effect.Effect<string | undefined, SqlError>
  readonly recordTx: (key: string, height: number, outcome: string) => Effect.Effect<void, SqlError>
  /** A digest of every replicated table, for comparing nodes' state. */
  readonly stateDigest: Effect.Effect<string, SqlError>
}

export class Metadata extends Context.Tag("guts/Metadata")<Metadata, MetadataShape>() {}
