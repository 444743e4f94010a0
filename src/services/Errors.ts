/**
 * The refusals services answer with, independent of HTTP: the HTTP layer maps them to
 * GitHub's statuses and bodies (404, 403, 422), git's layer to `ng` lines and messages.
 */
import { Data } from "effect"
import type { TxOutcome } from "../domain/Transaction.ts"

/** Missing, or hidden from this caller (private things are never admitted to exist). */
export class NotFound extends Data.TaggedError("NotFound")<{ readonly what: string }> {
  override get message() {
    return `${this.what} not found`
  }
}

export class Forbidden extends Data.TaggedError("Forbidden")<{
  readonly reason: string
  /** The token scope that would allow this (GitHub's `X-Accepted-OAuth-Scopes`). */
  readonly scope?: string | undefined
}> {
  override get message() {
    return this.reason
  }
}

export class Invalid extends Data.TaggedError("Invalid")<{
  readonly reason: string
  readonly resource: string
  readonly field: string
  readonly code: "missing_field" | "invalid" | "already_exists" | "custom"
}> {
  override get message() {
    return this.reason
  }
}

/** The operation cannot happen in the current state (GitHub's 405 for an unmergeable PR). */
export class NotAllowed extends Data.TaggedError("NotAllowed")<{
  readonly reason: string
  readonly conflicts?: ReadonlyArray<string> | undefined
}> {
  override get message() {
    return this.reason
  }
}

/** Something changed underneath the request (GitHub's 409): look again and retry. */
export class Conflict extends Data.TaggedError("Conflict")<{ readonly reason: string }> {
  override get message() {
    return this.reason
  }
}

export type Refusal = NotFound | Forbidden | Invalid | NotAllowed | Conflict

/**
 * A rejected transaction as the refusal a caller understands. Apply's reasons say "does
 * not exist" / "no user" for missing things; `detail.code` marks permissions and clashes.
 */
export const refusalOf = (
  outcome: Extract<TxOutcome, { _tag: "Rejected" }>,
  resource: string,
  field = "name",
): Refusal => {
  const detail = outcome.detail as { code?: string; field?: string } | undefined
  const code = detail?.code
  if (detail?.field) field = detail.field
  if (code === "forbidden") return new Forbidden({ reason: outcome.reason })
  if (code === "not_mergeable")
    return new NotAllowed({
      reason: outcome.reason,
      conflicts: (outcome.detail as { conflicts?: string[] }).conflicts,
    })
  if (code === "conflict") return new Conflict({ reason: outcome.reason })
  if (code === "not_found")
    return new NotFound({ what: outcome.reason.replace(/ does not exist$/, "") })
  if (code === "invalid")
    return new Invalid({ reason: outcome.reason, resource, field, code: "invalid" })
  if (code === "already_exists")
    return new Invalid({ reason: outcome.reason, resource, field, code: "already_exists" })
  if (
    /does not exist|^no (user|organization|team|token|key|user or organization) /.test(
      outcome.reason,
    )
  )
    return new NotFound({
      what: outcome.reason.replace(/ does not exist$/, "").replace(/^no /, ""),
    })
  return new Invalid({ reason: outcome.reason, resource, field, code: "custom" })
}
