/**
 * Branch protection: the rule GitHub's `PUT /repos/{o}/{r}/branches/{b}/protection` sets,
 * normalised, and the decision whether one ref update may happen under it.
 *
 * `pushProblem` is pure: the facts it needs (fast-forward or not, merge commits in the
 * pushed range, a verified push certificate, the statuses of the new commit) are computed
 * by the caller from the object store, identically on every validator.
 */

export interface ProtectionRule {
  readonly requiredStatusChecks: { readonly strict: boolean; readonly contexts: string[] } | null
  readonly enforceAdmins: boolean
  readonly requiredReviews: {
    readonly requiredApprovingReviewCount: number
    readonly dismissStaleReviews: boolean
    readonly requireCodeOwnerReviews: boolean
  } | null
  readonly restrictions: { readonly users: string[]; readonly teams: string[] } | null
  readonly requiredLinearHistory: boolean
  readonly allowForcePushes: boolean
  readonly allowDeletions: boolean
  readonly requiredSignatures: boolean
}

export type FieldProblem = { readonly field: string; readonly message: string }

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v)

const stringList = (v: unknown): string[] | undefined =>
  Array.isArray(v) && v.every((x) => typeof x === "string") ? [...(v as string[])] : undefined

/**
 * Reads GitHub's request body. GitHub requires the four keys `required_status_checks`,
 * `enforce_admins`, `required_pull_request_reviews` and `restrictions` (each may be null).
 */
export const parseProtection = (body: unknown): ProtectionRule | FieldProblem => {
  if (!isObject(body)) return { field: "body", message: "must be a JSON object" }
  for (const key of [
    "required_status_checks",
    "enforce_admins",
    "required_pull_request_reviews",
    "restrictions",
  ])
    if (!(key in body)) return { field: key, message: `${key} is required (it may be null)` }
  let requiredStatusChecks: ProtectionRule["requiredStatusChecks"] = null
  const rsc = body.required_status_checks
  if (rsc !== null) {
    if (!isObject(rsc)) return { field: "required_status_checks", message: "must be an object" }
    const contexts =
      stringList(rsc.contexts) ??
      (Array.isArray(rsc.checks)
        ? stringList((rsc.checks as Array<{ context?: unknown }>).map((c) => c?.context))
        : undefined)
    if (contexts === undefined)
      return { field: "required_status_checks.contexts", message: "must be a list of strings" }
    requiredStatusChecks = { strict: rsc.strict === true, contexts }
  }
  if (body.enforce_admins !== null && typeof body.enforce_admins !== "boolean")
    return { field: "enforce_admins", message: "must be a boolean or null" }
  let requiredReviews: ProtectionRule["requiredReviews"] = null
  const rpr = body.required_pull_request_reviews
  if (rpr !== null) {
    if (!isObject(rpr))
      return { field: "required_pull_request_reviews", message: "must be an object" }
    const count = rpr.required_approving_review_count ?? 1
    if (typeof count !== "number" || !Number.isInteger(count) || count < 0 || count > 6)
      return {
        field: "required_pull_request_reviews.required_approving_review_count",
        message: "must be an integer from 0 to 6",
      }
    requiredReviews = {
      requiredApprovingReviewCount: count,
      dismissStaleReviews: rpr.dismiss_stale_reviews === true,
      requireCodeOwnerReviews: rpr.require_code_owner_reviews === true,
    }
  }
  let restrictions: ProtectionRule["restrictions"] = null
  const r = body.restrictions
  if (r !== null) {
    if (!isObject(r)) return { field: "restrictions", message: "must be an object" }
    const users = stringList(r.users ?? [])
    const teams = stringList(r.teams ?? [])
    if (!users || !teams)
      return { field: "restrictions", message: "users and teams must be lists of names" }
    restrictions = { users, teams }
  }
  for (const key of [
    "required_linear_history",
    "allow_force_pushes",
    "allow_deletions",
    "required_signatures",
  ])
    if (body[key] !== undefined && body[key] !== null && typeof body[key] !== "boolean")
      return { field: key, message: "must be a boolean" }
  return {
    requiredStatusChecks,
    enforceAdmins: body.enforce_admins === true,
    requiredReviews,
    restrictions,
    requiredLinearHistory: body.required_linear_history === true,
    allowForcePushes: body.allow_force_pushes === true,
    allowDeletions: body.allow_deletions === true,
    requiredSignatures: body.required_signatures === true,
  }
}

export const isFieldProblem = (x: ProtectionRule | FieldProblem): x is FieldProblem =>
  "field" in x && "message" in x

/** What the caller knows about one ref update on a protected branch. */
export interface PushFacts {
  readonly kind: "create" | "update" | "delete"
  /** The new commit descends from the old one (only meaningful for updates). */
  readonly fastForward: boolean
  /** A merge commit is among the commits the update adds. */
  readonly addsMergeCommit: boolean
  /** The pusher has admin on the repository. */
  readonly isAdmin: boolean
  /** The pusher is named in `restrictions` (directly or through a team). */
  readonly inRestrictions: boolean
  /** The push carried a push certificate that every validator verified. */
  readonly signed: boolean
  /**
   * Required-check names the new commit satisfies: contexts whose latest status is
   * `success`, and check runs completed with a passing conclusion (Statuses.passingChecks).
   */
  readonly passingContexts: ReadonlySet<string>
  /** The update is the merge of a pull request that satisfied its review rules. */
  readonly viaPullRequest: boolean
}

/**
 * Why this ref update is refused under `rule`, in words a user understands (git shows them
 * after `! [remote rejected]`), or undefined when it may proceed.
 */
export const pushProblem = (
  branch: string,
  rule: ProtectionRule,
  facts: PushFacts,
): string | undefined => {
  const prefix = `protected branch hook declined: ${branch}:`
  if (facts.kind === "delete")
    return rule.allowDeletions ? undefined : `${prefix} cannot delete this protected branch`
  const bypass = facts.isAdmin && !rule.enforceAdmins
  if (rule.restrictions && !facts.inRestrictions && !facts.isAdmin)
    return `${prefix} you are not allowed to push to this branch`
  if (facts.kind === "update" && !facts.fastForward && !rule.allowForcePushes)
    return `${prefix} cannot force-push to this branch`
  if (bypass) return undefined
  if (rule.requiredReviews && !facts.viaPullRequest)
    return `${prefix} changes must be made through a pull request`
  if (rule.requiredLinearHistory && facts.addsMergeCommit)
    return `${prefix} this branch must not contain merge commits`
  if (rule.requiredSignatures && !facts.signed)
    return `${prefix} pushes must be signed (git push --signed)`
  if (rule.requiredStatusChecks) {
    const missing = rule.requiredStatusChecks.contexts.filter((c) => !facts.passingContexts.has(c))
    if (missing.length > 0)
      return `${prefix} required status check${missing.length > 1 ? "s" : ""} ${missing
        .map((c) => `"${c}"`)
        .join(", ")} expected`
  }
  return undefined
}

/** GitHub's response shape for a rule (`GET .../protection`). */
export const protectionJson = (url: string, rule: ProtectionRule) => ({
  url,
  required_status_checks: rule.requiredStatusChecks
    ? {
        url: `${url}/required_status_checks`,
        strict: rule.requiredStatusChecks.strict,
        contexts: rule.requiredStatusChecks.contexts,
        checks: rule.requiredStatusChecks.contexts.map((context) => ({ context, app_id: null })),
      }
    : undefined,
  enforce_admins: { url: `${url}/enforce_admins`, enabled: rule.enforceAdmins },
  required_pull_request_reviews: rule.requiredReviews
    ? {
        url: `${url}/required_pull_request_reviews`,
        dismiss_stale_reviews: rule.requiredReviews.dismissStaleReviews,
        require_code_owner_reviews: rule.requiredReviews.requireCodeOwnerReviews,
        required_approving_review_count: rule.requiredReviews.requiredApprovingReviewCount,
      }
    : undefined,
  restrictions: rule.restrictions
    ? {
        url: `${url}/restrictions`,
        users: rule.restrictions.users.map((login) => ({ login })),
        teams: rule.restrictions.teams.map((slug) => ({ slug })),
        apps: [],
      }
    : undefined,
  required_linear_history: { enabled: rule.requiredLinearHistory },
  allow_force_pushes: { enabled: rule.allowForcePushes },
  allow_deletions: { enabled: rule.allowDeletions },
  required_signatures: { url: `${url}/required_signatures`, enabled: rule.requiredSignatures },
})
