/**
 * CI workflows as data: what `.guts/workflows/*.yml` (or `.github/workflows/*.yml`) says,
 * after parsing and validation, in the documented subset of GitHub Actions syntax
 * (docs/ci.md). Parsing (`WorkflowParse.ts`), expressions (`Expression.ts`), matrix
 * expansion and run planning (`Plan.ts`) work on these types; none of them touches the
 * clock, the network or the disk, so a run is planned identically on every validator when
 * the block that triggers it is applied.
 */

/** Where in the workflow file something is (1-based), for annotations. */
export interface SourcePos {
  readonly line: number
  readonly column: number
}

/** A problem that makes a workflow invalid: the run fails with this as its annotation. */
export interface WorkflowProblem {
  readonly path: string
  readonly line: number
  readonly column: number
  readonly message: string
}

export interface BranchFilter {
  readonly branches?: ReadonlyArray<string>
  readonly branchesIgnore?: ReadonlyArray<string>
  readonly tags?: ReadonlyArray<string>
  readonly tagsIgnore?: ReadonlyArray<string>
  readonly paths?: ReadonlyArray<string>
  readonly pathsIgnore?: ReadonlyArray<string>
}

export interface DispatchInput {
  readonly description?: string
  readonly required: boolean
  readonly default?: string
  readonly type: "string" | "boolean" | "choice" | "number"
  readonly options?: ReadonlyArray<string>
}

export interface Triggers {
  readonly push?: BranchFilter
  readonly pullRequest?: BranchFilter & { readonly types?: ReadonlyArray<string> }
  readonly workflowDispatch?: { readonly inputs: Readonly<Record<string, DispatchInput>> }
  readonly schedule?: ReadonlyArray<{ readonly cron: string }>
}

export interface StepSpec {
  readonly id?: string
  readonly name?: string
  /** The shell script; may contain `${{ }}` expressions, interpolated at run time. */
  readonly run: string
  readonly shell?: string
  readonly workingDirectory?: string
  readonly env: Readonly<Record<string, string>>
  readonly if?: string
  readonly timeoutMinutes?: number
  readonly continueOnError: boolean
  readonly pos: SourcePos
}

export type MatrixValue = string | number | boolean

export interface MatrixSpec {
  /** Axis name → values, in file order. */
  readonly axes: ReadonlyArray<readonly [string, ReadonlyArray<MatrixValue>]>
  readonly include: ReadonlyArray<Readonly<Record<string, MatrixValue>>>
  readonly exclude: ReadonlyArray<Readonly<Record<string, MatrixValue>>>
  readonly failFast: boolean
  readonly maxParallel?: number
}

export interface JobSpec {
  /** The key under `jobs:`. */
  readonly id: string
  readonly name?: string
  readonly needs: ReadonlyArray<string>
  readonly runsOn: ReadonlyArray<string>
  readonly if?: string
  readonly env: Readonly<Record<string, string>>
  readonly matrix?: MatrixSpec
  readonly timeoutMinutes: number
  readonly continueOnError: boolean
  readonly steps: ReadonlyArray<StepSpec>
  readonly pos: SourcePos
}

export interface Workflow {
  /** Repository path of the file, e.g. `.guts/workflows/ci.yml`. */
  readonly path: string
  readonly name: string
  readonly on: Triggers
  readonly env: Readonly<Record<string, string>>
  /** In file order. */
  readonly jobs: ReadonlyArray<JobSpec>
}

export type ParsedWorkflow =
  | { readonly _tag: "Valid"; readonly workflow: Workflow }
  | {
      readonly _tag: "Invalid"
      readonly path: string
      readonly name: string
      readonly problems: ReadonlyArray<WorkflowProblem>
    }

/** What triggered a run: the facts `on:` filters and `github.*` expressions read. */
export interface TriggerEvent {
  readonly event: "push" | "pull_request" | "workflow_dispatch" | "schedule"
  /** Full ref name (`refs/heads/main`, `refs/tags/v1`, `refs/pull/3/merge`). */
  readonly ref: string
  readonly sha: string
  /** Paths changed by the push or pull request; undefined when unknown (no path filter applies then). */
  readonly changedPaths?: ReadonlyArray<string>
  /** pull_request: the action (`opened`, `synchronize`, `reopened`, …) and the base branch. */
  readonly action?: string
  readonly baseRef?: string
  readonly inputs?: Readonly<Record<string, string>>
  readonly actor: string
  readonly repository: string
}

/** One job instance after matrix expansion. */
export interface PlannedJob {
  /** Unique within the run: the job id, plus the matrix values for matrix jobs (`build (18, linux)`). */
  readonly key: string
  readonly jobId: string
  readonly name: string
  readonly matrix: Readonly<Record<string, MatrixValue>>
  /** Job ids (not keys) this job waits for; every instance of each must have finished. */
  readonly needs: ReadonlyArray<string>
  readonly runsOn: ReadonlyArray<string>
  /** The job's `if:` as written (absent: `success()`); the scheduler evaluates it. */
  readonly if?: string
  /** Matrix jobs: cancel the job's other instances when one fails (default true). */
  readonly failFast?: boolean
  /** Matrix jobs: at most this many of the job's instances run at once. */
  readonly maxParallel?: number
}

export type JobResult = "success" | "failure" | "cancelled" | "skipped"
export type StepConclusion = JobResult

/** What `${{ }}` expressions can read (GitHub's contexts, the subset we document). */
export interface ExprContext {
  readonly github: Readonly<Record<string, unknown>>
  readonly env: Readonly<Record<string, string>>
  readonly matrix: Readonly<Record<string, MatrixValue>>
  readonly needs: Readonly<
    Record<
      string,
      { readonly result: JobResult; readonly outputs: Readonly<Record<string, string>> }
    >
  >
  readonly inputs: Readonly<Record<string, string>>
  readonly secrets: Readonly<Record<string, string>>
  /** The job's status so far, for `success()`, `failure()`, `cancelled()`. */
  readonly jobStatus: "success" | "failure" | "cancelled"
}
