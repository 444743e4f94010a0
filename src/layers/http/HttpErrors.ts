/**
 * The one place where failures become HTTP answers. Handlers fail with `HttpError` (or a
 * domain error mapped to one by `toHttpError`); everything unexpected becomes a 500 whose
 * body names the request id to look up in the logs, never a stack trace.
 *
 * Bodies follow GitHub's error shape: `{ message, documentation_url, errors? }`.
 */
import { Data } from "effect"
import { Conflict, Forbidden, Invalid, NotAllowed, NotFound } from "../../services/Errors.ts"
import { LedgerUnavailable } from "../../services/Ledger.ts"

export interface FieldError {
  readonly resource: string
  readonly field: string
  readonly code:
    | "missing"
    | "missing_field"
    | "invalid"
    | "already_exists"
    | "unprocessable"
    | "custom"
  readonly message?: string
}

export class HttpError extends Data.TaggedError("HttpError")<{
  readonly status: number
  readonly message: string
  readonly errors?: ReadonlyArray<FieldError>
  readonly headers?: Readonly<Record<string, string>>
}> {}

export const badRequest = (message: string) => new HttpError({ status: 400, message })
export const unauthorized = (message = "Requires authentication") =>
  new HttpError({ status: 401, message, headers: { "www-authenticate": 'Basic realm="Guts"' } })
export const forbidden = (message: string) => new HttpError({ status: 403, message })
export const notFound = (message = "Not Found") => new HttpError({ status: 404, message })
export const unprocessable = (message: string, errors: ReadonlyArray<FieldError> = []) =>
  new HttpError({ status: 422, message, errors })
export const payloadTooLarge = (limit: number) =>
  new HttpError({
    status: 413,
    message: `request body exceeds the limit of ${limit} bytes`,
  })

export const DOCUMENTATION_URL = "https://docs.github.com/rest"

export const errorBody = (err: HttpError) =>
  JSON.stringify({
    message: err.message,
    documentation_url: DOCUMENTATION_URL,
    ...(err.errors && err.errors.length > 0 ? { errors: err.errors } : {}),
    status: String(err.status),
  })

/**
 * Failures every route may meet, mapped once: HttpError as is; writes that cannot be
 * finalized (no quorum) are 503 with the reason, so clients retry later.
 */
export const toHttpError = (e: unknown): HttpError | undefined => {
  if (e instanceof HttpError) return e
  if (e instanceof NotFound) return notFound()
  if (e instanceof Forbidden)
    return new HttpError({
      status: 403,
      message: e.reason,
      ...(e.scope ? { headers: { "x-accepted-oauth-scopes": e.scope } } : {}),
    })
  if (e instanceof Invalid)
    return unprocessable(e.reason, [
      { resource: e.resource, field: e.field, code: e.code, message: e.reason },
    ])
  if (e instanceof NotAllowed) return new HttpError({ status: 405, message: e.reason })
  if (e instanceof Conflict) return new HttpError({ status: 409, message: e.reason })
  if (e instanceof LedgerUnavailable)
    return new HttpError({ status: 503, message: e.message, headers: { "retry-after": "5" } })
  return undefined
}
