/**
 * Transactions: every change to replicated state, as data.
 *
 * A transaction names who asked for it (`submitter`, a user id; 0 is the node itself for
 * bootstrap), carries an idempotency key so a retried request is applied at most once,
 * and is applied by `apply` in a block, which supplies the height and the timestamp:
 * nothing in a transaction depends on the clock or counters of the node that took it.
 */
import { Schema } from "effect"

export const UserId = Schema.Int.pipe(Schema.nonNegative(), Schema.brand("UserId"))
export type UserId = typeof UserId.Type

export const SYSTEM_USER = 0 as UserId

const Envelope = {
  submitter: UserId,
  idempotencyKey: Schema.String,
}

export class CreateUser extends Schema.TaggedClass<CreateUser>()("CreateUser", {
  ...Envelope,
  login: Schema.String,
  name: Schema.optional(Schema.String),
  email: Schema.optional(Schema.String),
  siteAdmin: Schema.Boolean,
}) {}

export class CreateToken extends Schema.TaggedClass<CreateToken>()("CreateToken", {
  ...Envelope,
  user: Schema.String,
  /** sha256 of the token, hex: the token itself never enters replicated state. */
  tokenHash: Schema.String,
  scopes: Schema.Array(Schema.String),
  note: Schema.String,
  expiresAt: Schema.optional(Schema.Number),
}) {}

export class CreateRepository extends Schema.TaggedClass<CreateRepository>()("CreateRepository", {
  ...Envelope,
  owner: Schema.String,
  name: Schema.String,
  description: Schema.optional(Schema.String),
  private: Schema.Boolean,
  defaultBranch: Schema.String,
}) {}

export const RefChange = Schema.Struct({
  name: Schema.String,
  /** 40 hex; all zeros: the ref must not exist. */
  old: Schema.String,
  /** 40 hex; all zeros: delete. */
  new: Schema.String,
})
export type RefChange = typeof RefChange.Type

export class UpdateRefs extends Schema.TaggedClass<UpdateRefs>()("UpdateRefs", {
  ...Envelope,
  owner: Schema.String,
  repo: Schema.String,
  changes: Schema.Array(RefChange),
  /** All changes or none (git's `atomic` capability). */
  atomic: Schema.Boolean,
}) {}

export const Transaction = Schema.Union(CreateUser, CreateToken, CreateRepository, UpdateRefs)
export type Transaction = typeof Transaction.Type

/** What applying one transaction did. `rejected` carries a reason a user can act on. */
export type TxOutcome =
  | { readonly _tag: "Applied"; readonly height: number; readonly detail?: unknown }
  | {
      readonly _tag: "Rejected"
      readonly height: number
      readonly reason: string
      readonly detail?: unknown
    }

/** Per-ref results of an UpdateRefs (for git's report-status). */
export interface RefResult {
  readonly name: string
  readonly ok: boolean
  readonly reason?: string
}

export interface Block {
  readonly height: number
  /** Milliseconds since the epoch, chosen by the block's proposer. */
  readonly timestamp: number
  readonly txs: ReadonlyArray<Transaction>
}
