/**
 * From a workflow to the jobs of one run: whether an event triggers the workflow
 * (`matchesTrigger`, with GitHub's filter patterns), which job instances the matrices make
 * (`planJobs`), and, as jobs finish, which waiting jobs may start, are skipped or are
 * cancelled (`nextDecisions`).
 *
 * Everything here is a function of its arguments, so the replicated state machine advances
 * a run identically on every validator.
 */
import { Data } from "effect"
import {
  contextsUsed,
  ExpressionError,
  evaluateIfWith,
  findEmbedded,
  interpolate,
  parseExpression,
  type StatusView,
  toStringValue,
} from "./Expression.ts"
import type {
  BranchFilter,
  ExprContext,
  JobResult,
  MatrixSpec,
  MatrixValue,
  PlannedJob,
  TriggerEvent,
  Workflow,
} from "./Workflow.ts"

/** GitHub's limit on the jobs one matrix may make. */
export const MAX_MATRIX_JOBS = 256

// ---------------------------------------------------------------------------------------
// Filter patterns

export class FilterPatternError extends Data.TaggedError("FilterPatternError")<{
  readonly pattern: string
  readonly problem: string
}> {
  override get message() {
    return `invalid filter pattern '${this.pattern}': ${this.problem}`
  }
}

export interface FilterPattern {
  readonly source: string
  readonly negated: boolean
  readonly regex: RegExp
}

const REGEX_SPECIAL = /[.*+?^${}()|[\]\\/-]/g

/**
 * Compiles one of GitHub's filter patterns: `*` matches any characters except `/`, `**`
 * any characters (and `**\/` any number of directories, including none), `?` makes the
 * preceding character optional, `+` repeats it, `[…]` is one character from a set or
 * range, `\` escapes, and a leading `!` makes the pattern exclude.
 */
export const compileFilterPattern = (pattern: string): FilterPattern => {
  const fail = (problem: string) => new FilterPatternError({ pattern, problem })
  const negated = pattern.startsWith("!")
  const p = negated ? pattern.slice(1) : pattern
  if (p === "") throw fail(negated ? "'!' must be followed by a pattern" : "the pattern is empty")
  let re = ""
  let atom = false
  for (let i = 0; i < p.length; i++) {
    const c = p[i]!
    if (c === "\\") {
      if (i + 1 >= p.length) throw fail("it ends with '\\'; escape a character with \\ before it")
      re += p[++i]!.replace(REGEX_SPECIAL, "\\$&")
      atom = true
    } else if (c === "*") {
      if (p[i + 1] === "*") {
        if (p[i + 2] === "/") {
          re += "(?:.*/)?"
          i += 2
        } else {
          re += ".*"
          i += 1
        }
      } else re += "[^/]*"
      atom = false
    } else if (c === "?" || c === "+") {
      if (!atom)
        throw fail(
          `'${c}' at position ${i + 1} must follow a character (it ${c === "?" ? "makes that character optional" : "repeats that character"}); escape it as \\${c} to match it literally`,
        )
      re += c
      atom = false
    } else if (c === "[") {
      const close = p.indexOf("]", i + 1)
      if (close < 0) throw fail(`'[' at position ${i + 1} is never closed with ']'`)
      const body = p.slice(i + 1, close)
      if (body === "")
        throw fail(`'[]' at position ${i + 1} is empty; list characters or ranges like [a-z0-9]`)
      let cls = ""
      for (let j = 0; j < body.length; j++) {
        const ch = body[j]!
        if (body[j + 1] === "-" && j + 2 < body.length) {
          const to = body[j + 2]!
          if (to < ch) throw fail(`range '${ch}-${to}' goes backwards`)
          cls += `${ch.replace(/[\\\]^-]/g, "\\$&")}-${to.replace(/[\\\]^-]/g, "\\$&")}`
          j += 2
        } else cls += ch.replace(/[\\\]^-]/g, "\\$&")
      }
      re += `[${cls}]`
      i = close
      atom = true
    } else {
      re += c.replace(REGEX_SPECIAL, "\\$&")
      atom = true
    }
  }
  return { source: pattern, negated, regex: new RegExp(`^${re}$`) }
}

/** Whether a name is selected by patterns applied in order: the last that matches decides. */
export const matchesPatterns = (patterns: ReadonlyArray<string>, name: string): boolean => {
  let selected = false
  for (const source of patterns) {
    const p = compileFilterPattern(source)
    if (p.regex.test(name)) selected = !p.negated
  }
  return selected
}

const passes = (
  include: ReadonlyArray<string> | undefined,
  ignore: ReadonlyArray<string> | undefined,
  name: string,
): boolean => {
  if (include !== undefined && !matchesPatterns(include, name)) return false
  if (ignore !== undefined && matchesPatterns(ignore, name)) return false
  return true
}

/** Path filters: `paths` needs one changed path selected, `paths-ignore` one not ignored. */
const pathsPass = (f: BranchFilter, changed: ReadonlyArray<string> | undefined): boolean => {
  if (changed === undefined) return true
  if (f.paths !== undefined && !changed.some((p) => matchesPatterns(f.paths!, p))) return false
  if (f.pathsIgnore !== undefined && changed.every((p) => matchesPatterns(f.pathsIgnore!, p)))
    return false
  return true
}

export const DEFAULT_PULL_REQUEST_TYPES = ["opened", "synchronize", "reopened"] as const

/** Whether `event` starts a run of `workflow` (its `on:` and the event's filters). */
export const matchesTrigger = (workflow: Workflow, event: TriggerEvent): boolean => {
  const on = workflow.on
  switch (event.event) {
    case "push": {
      const f = on.push
      if (!f) return false
      const byBranch = f.branches !== undefined || f.branchesIgnore !== undefined
      const byTag = f.tags !== undefined || f.tagsIgnore !== undefined
      if (event.ref.startsWith("refs/tags/")) {
        // Only branch filters: tag pushes do not run. Path filters are not evaluated for tags.
        if (byBranch && !byTag) return false
        return passes(f.tags, f.tagsIgnore, event.ref.slice("refs/tags/".length))
      }
      if (event.ref.startsWith("refs/heads/")) {
        if (byTag && !byBranch) return false
        return (
          passes(f.branches, f.branchesIgnore, event.ref.slice("refs/heads/".length)) &&
          pathsPass(f, event.changedPaths)
        )
      }
      return !byBranch && !byTag && pathsPass(f, event.changedPaths)
    }
    case "pull_request": {
      const f = on.pullRequest
      if (!f) return false
      const types = f.types ?? DEFAULT_PULL_REQUEST_TYPES
      if (event.action !== undefined && !types.includes(event.action)) return false
      if (f.branches !== undefined || f.branchesIgnore !== undefined) {
        if (event.baseRef === undefined) return false
        const base = event.baseRef.replace(/^refs\/heads\//, "")
        if (!passes(f.branches, f.branchesIgnore, base)) return false
      }
      return pathsPass(f, event.changedPaths)
    }
    case "workflow_dispatch":
      return on.workflowDispatch !== undefined
    case "schedule":
      return (on.schedule?.length ?? 0) > 0
  }
}

// ---------------------------------------------------------------------------------------
// Matrix expansion

const sameValue = (a: MatrixValue | undefined, b: MatrixValue): boolean =>
  a !== undefined && toStringValue(a) === toStringValue(b)

/**
 * The combinations a matrix makes, in order, as GitHub documents: the cross product of the
 * axes (first axis outermost), minus every combination an `exclude` entry matches (all its
 * keys equal), then each `include` entry is merged into every original combination it does
 * not contradict on an axis value (values it added earlier may be overwritten); an entry
 * that fits none becomes a combination of its own.
 */
export const expandMatrix = (spec: MatrixSpec): Array<Record<string, MatrixValue>> => {
  let combos: Array<Record<string, MatrixValue>> = spec.axes.length === 0 ? [] : [{}]
  for (const [axis, values] of spec.axes)
    combos = combos.flatMap((c) => values.map((v) => ({ ...c, [axis]: v })))
  combos = combos.filter(
    (c) => !spec.exclude.some((ex) => Object.entries(ex).every(([k, v]) => sameValue(c[k], v))),
  )
  const axisNames = new Set(spec.axes.map(([k]) => k))
  const added: Array<Record<string, MatrixValue>> = []
  for (const inc of spec.include) {
    let merged = false
    for (const c of combos) {
      const fits = Object.entries(inc).every(([k, v]) => !axisNames.has(k) || sameValue(c[k], v))
      if (fits) {
        Object.assign(c, inc)
        merged = true
      }
    }
    if (!merged) added.push({ ...inc })
  }
  return [...combos, ...added]
}

const emptyContext = (
  matrix: Readonly<Record<string, MatrixValue>>,
  base?: Partial<ExprContext>,
): ExprContext => ({
  github: {},
  env: {},
  needs: {},
  inputs: {},
  secrets: {},
  jobStatus: "success",
  ...base,
  matrix,
})

/**
 * Interpolates what can be known at plan time: expressions that read only the matrix and
 * the contexts in `known`. Any other text (or an expression that fails) stays as written,
 * for the runner to interpolate when the job starts.
 */
const planText = (text: string, ctx: ExprContext, known: ReadonlySet<string>): string => {
  if (!text.includes("${{")) return text
  try {
    for (const p of findEmbedded(text))
      for (const c of contextsUsed(parseExpression(p.expression))) if (!known.has(c)) return text
    return interpolate(text, ctx)
  } catch (err) {
    if (err instanceof ExpressionError) return text
    throw err
  }
}

/**
 * The job instances of a run, in file order, matrices expanded. A matrix instance's key is
 * the job id with its values (`build (18, linux)`); its name is the job's `name:` (with
 * `${{ matrix.… }}` filled in) or the job id followed by the values. `runs-on` labels may
 * use the matrix. `base` supplies other contexts known when the run is planned (`github`,
 * `inputs`); secrets never belong there.
 */
export const planJobs = (
  workflow: Workflow,
  base?: Partial<ExprContext>,
): ReadonlyArray<PlannedJob> => {
  const out: PlannedJob[] = []
  const known = new Set(["matrix", ...Object.keys(base ?? {})])
  known.delete("secrets")
  const keys = new Set<string>()
  const unique = (key: string) => {
    let k = key
    for (let n = 2; keys.has(k); n++) k = `${key} #${n}`
    keys.add(k)
    return k
  }
  for (const job of workflow.jobs) {
    const common = {
      jobId: job.id,
      needs: job.needs,
      ...(job.if !== undefined ? { if: job.if } : {}),
    }
    if (!job.matrix) {
      const ctx = emptyContext({}, base)
      out.push({
        ...common,
        key: unique(job.id),
        name: job.name !== undefined ? planText(job.name, ctx, known) : job.id,
        matrix: {},
        runsOn: job.runsOn.map((l) => planText(l, ctx, known)),
      })
      continue
    }
    for (const combo of expandMatrix(job.matrix)) {
      const ctx = emptyContext(combo, base)
      const values = Object.values(combo).map(toStringValue).join(", ")
      const name = job.name?.includes("${{")
        ? planText(job.name, ctx, known)
        : `${job.name ?? job.id} (${values})`
      out.push({
        ...common,
        key: unique(`${job.id} (${values})`),
        name,
        matrix: combo,
        runsOn: job.runsOn.map((l) => planText(l, ctx, known)),
        failFast: job.matrix.failFast,
        ...(job.matrix.maxParallel !== undefined ? { maxParallel: job.matrix.maxParallel } : {}),
      })
    }
  }
  return out
}

// ---------------------------------------------------------------------------------------
// Scheduling

export interface Decisions {
  /** May start now. */
  readonly ready: ReadonlyArray<PlannedJob>
  /** Will not run: a need failed or was skipped and `if:` does not ask for that, or `if:` is false. */
  readonly skipped: ReadonlyArray<PlannedJob>
  /**
   * To be cancelled: instances of a fail-fast matrix job after one of them failed (including
   * ones already started), and waiting jobs that will not run in a cancelled run.
   */
  readonly cancelled: ReadonlyArray<PlannedJob>
  /** `if:` could not be evaluated (e.g. fromJSON of bad text): the job fails with this message. */
  readonly errored: ReadonlyArray<{ readonly job: PlannedJob; readonly message: string }>
}

/** A job's result as `needs.<id>.result` reports it over all its matrix instances. */
export const aggregateResult = (results: ReadonlyArray<JobResult>): JobResult => {
  if (results.includes("failure")) return "failure"
  if (results.includes("cancelled")) return "cancelled"
  if (results.length > 0 && results.every((r) => r === "skipped")) return "skipped"
  return "success"
}

/** The conclusion of a run from its jobs' results. */
export const runConclusion = (
  results: Iterable<JobResult>,
): "success" | "failure" | "cancelled" => {
  const all = [...results]
  if (all.includes("failure")) return "failure"
  if (all.includes("cancelled")) return "cancelled"
  return "success"
}

/**
 * What to do next with the jobs of a run. `results` holds the finished instances by key;
 * `started` the instances already running (they are neither started again nor decided, but
 * count towards `max-parallel`). A job is decided once every instance of every job it
 * needs has a result. For its `if:`, `success()` is true when every job it depends on,
 * directly or not, succeeded and the run is not cancelled; `failure()` when one of them
 * failed; `cancelled()` when the run is cancelled (`ctxFor(job).jobStatus === "cancelled"`);
 * `needs.<id>.result` is filled in from `results`.
 */
export const nextDecisions = (
  planned: ReadonlyArray<PlannedJob>,
  results: ReadonlyMap<string, JobResult>,
  ctxFor: (job: PlannedJob) => ExprContext,
  started: ReadonlySet<string> = new Set(),
): Decisions => {
  const instances = new Map<string, PlannedJob[]>()
  for (const p of planned) {
    const list = instances.get(p.jobId) ?? []
    list.push(p)
    instances.set(p.jobId, list)
  }
  const needsOf = new Map(planned.map((p) => [p.jobId, p.needs]))
  const ancestors = (jobId: string): Set<string> => {
    const seen = new Set<string>()
    const walk = (id: string) => {
      for (const n of needsOf.get(id) ?? [])
        if (!seen.has(n)) {
          seen.add(n)
          walk(n)
        }
    }
    walk(jobId)
    return seen
  }
  const resultsOf = (jobId: string): JobResult[] =>
    (instances.get(jobId) ?? []).flatMap((p) => {
      const r = results.get(p.key)
      return r === undefined ? [] : [r]
    })
  const finished = (jobId: string) => (instances.get(jobId) ?? []).every((p) => results.has(p.key))

  const ready: PlannedJob[] = []
  const skipped: PlannedJob[] = []
  const cancelled: PlannedJob[] = []
  const errored: Array<{ job: PlannedJob; message: string }> = []
  const running = new Map<string, number>()
  for (const p of planned)
    if (started.has(p.key) && !results.has(p.key))
      running.set(p.jobId, (running.get(p.jobId) ?? 0) + 1)

  for (const p of planned) {
    if (results.has(p.key)) continue
    if (
      p.failFast !== false &&
      Object.keys(p.matrix).length > 0 &&
      resultsOf(p.jobId).includes("failure")
    ) {
      cancelled.push(p)
      continue
    }
    if (started.has(p.key)) continue
    if (!p.needs.every(finished)) continue
    const base = ctxFor(p)
    const runCancelled = base.jobStatus === "cancelled"
    const upstream = [...ancestors(p.jobId)].flatMap(resultsOf)
    const status: StatusView = {
      success: !runCancelled && upstream.every((r) => r === "success"),
      failure: upstream.includes("failure"),
      cancelled: runCancelled,
    }
    const needs: Record<string, { result: JobResult; outputs: Readonly<Record<string, string>> }> =
      {
        ...base.needs,
      }
    for (const n of p.needs)
      needs[n] = { result: aggregateResult(resultsOf(n)), outputs: base.needs[n]?.outputs ?? {} }
    let run: boolean
    try {
      run = evaluateIfWith(p.if, { ...base, needs }, status)
    } catch (err) {
      if (!(err instanceof ExpressionError)) throw err
      errored.push({ job: p, message: `if: ${err.message}` })
      continue
    }
    if (!run) {
      ;(runCancelled ? cancelled : skipped).push(p)
      continue
    }
    if (p.maxParallel !== undefined) {
      const n = running.get(p.jobId) ?? 0
      if (n >= p.maxParallel) continue
      running.set(p.jobId, n + 1)
    }
    ready.push(p)
  }
  return { ready, skipped, cancelled, errored }
}
