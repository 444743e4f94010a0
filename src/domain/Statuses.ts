/**
 * Commit statuses (GitHub's `/statuses/{sha}`): each context's latest state counts, and the
 * combined state of a commit is failure if any counts as error or failure, pending if any
 * is pending or there are none, success otherwise.
 */

export const STATUS_STATES = ["error", "failure", "pending", "success"] as const
export type StatusState = (typeof STATUS_STATES)[number]

export interface StatusLike {
  readonly id: number
  readonly context: string
  readonly state: StatusState
}

/** The latest status of each context (input in any order), newest first. */
export const latestByContext = <S extends StatusLike>(rows: ReadonlyArray<S>): S[] => {
  const latest = new Map<string, S>()
  for (const r of rows) {
    const seen = latest.get(r.context)
    if (!seen || r.id > seen.id) latest.set(r.context, r)
  }
  return [...latest.values()].sort((a, b) => b.id - a.id)
}

export const combinedState = (latest: ReadonlyArray<StatusLike>): StatusState => {
  if (latest.some((s) => s.state === "error" || s.state === "failure")) return "failure"
  if (latest.length === 0 || latest.some((s) => s.state === "pending")) return "pending"
  return "success"
}

export const passingContexts = (rows: ReadonlyArray<StatusLike>): Set<string> =>
  new Set(
    latestByContext(rows)
      .filter((s) => s.state === "success")
      .map((s) => s.context),
  )

/** What of a check run decides whether it satisfies a required check. */
export interface CheckRunLike {
  readonly id: number
  readonly name: string
  readonly status: string
  readonly conclusion: string | null
}

/** Conclusions that satisfy a required check, as on GitHub. */
export const PASSING_CONCLUSIONS: ReadonlySet<string> = new Set(["success", "neutral", "skipped"])

/**
 * The names that satisfy branch protection's required checks on a commit: contexts whose
 * latest status is success, and check runs whose latest run of that name completed with
 * success, neutral or skipped.
 */
export const passingChecks = (
  statuses: ReadonlyArray<StatusLike>,
  checkRuns: ReadonlyArray<CheckRunLike>,
): Set<string> => {
  const passing = passingContexts(statuses)
  const latest = new Map<string, CheckRunLike>()
  for (const r of checkRuns) {
    const seen = latest.get(r.name)
    if (!seen || r.id > seen.id) latest.set(r.name, r)
  }
  for (const r of latest.values())
    if (r.status === "completed" && r.conclusion !== null && PASSING_CONCLUSIONS.has(r.conclusion))
      passing.add(r.name)
  return passing
}
