/**
 * The CI part of replicated metadata: workflows seen in repositories, workflow runs and their
 * jobs, artifacts, runners and their registration tokens, encrypted secrets, and the
 * schedules of default-branch workflows. Part of the Metadata service (sharing its
 * connection and per-block transaction); written only inside Apply, like every replicated
 * table. Times are block timestamps.
 */
import type { SqlError } from "@effect/sql/SqlError"
import type { Effect } from "effect"

export type ScopeKind = "repo" | "org" | "site"

export interface CiWorkflowRow {
  readonly id: number
  readonly repo_id: number
  readonly path: string
  readonly name: string
  readonly state: string
  readonly created_at: number
  readonly updated_at: number
}

export type RunStatus = "queued" | "in_progress" | "completed"
export type JobStatus = "waiting" | "queued" | "in_progress" | "completed"

export interface CiRunRow {
  readonly id: number
  readonly repo_id: number
  readonly workflow_id: number
  readonly workflow_path: string
  readonly workflow_name: string
  readonly run_number: number
  readonly run_attempt: number
  readonly event: string
  /** The full ref (`refs/heads/main`, `refs/pull/3/head`). */
  readonly ref: string
  readonly head_branch: string | null
  /** The commit statuses are set on (a pull request's head). */
  readonly head_sha: string
  /** The commit the runner checks out. */
  readonly checkout_sha: string
  readonly actor_id: number
  readonly actor_login: string
  /** The TriggerEvent, JSON. */
  readonly trigger: string
  /** The parsed Workflow, JSON; null for an invalid workflow. */
  readonly workflow: string | null
  readonly status: RunStatus
  readonly conclusion: string | null
  /** The parser's problems, JSON (`[{path,line,column,message}]`), for an invalid workflow. */
  readonly annotations: string | null
  readonly pull_number: number | null
  readonly cancel_requested: number
  readonly created_at: number
  readonly updated_at: number
  readonly started_at: number
}

export interface CiStepState {
  readonly number: number
  readonly name: string
  readonly status: "queued" | "in_progress" | "completed"
  readonly conclusion: string | null
  readonly started_at: number | null
  readonly completed_at: number | null
}

export interface CiJobRow {
  readonly id: number
  readonly run_id: number
  readonly repo_id: number
  readonly run_attempt: number
  /** The planned job's key (unique in the run attempt). */
  readonly key: string
  /** The workflow's job id (`jobs.<id>`). */
  readonly job_id: string
  readonly name: string
  /** The PlannedJob, JSON. */
  readonly planned: string
  readonly status: JobStatus
  readonly conclusion: string | null
  /** Claims so far (a lost lease requeues with attempt + 1). */
  readonly attempt: number
  readonly runner_id: number | null
  readonly runner_name: string | null
  readonly lease_expires_at: number | null
  readonly git_token_hash: string | null
  /** Fail-fast cancelled this running job (its runner learns it on the next heartbeat). */
  readonly cancel_requested: number
  readonly outputs: string
  /** CiStepState[], JSON. */
  readonly steps: string
  readonly log_blob: string | null
  readonly log_size: number
  readonly created_at: number
  readonly started_at: number | null
  readonly completed_at: number | null
}

export interface CiArtifactRow {
  readonly id: number
  readonly run_id: number
  readonly run_attempt: number
  readonly job_row_id: number
  readonly job_key: string
  readonly repo_id: number
  readonly name: string
  readonly size: number
  readonly content_type: string
  /** The git blob holding the bytes. */
  readonly blob: string
  /** sha256 hex of the bytes. */
  readonly digest: string
  readonly created_at: number
}

export interface CiRunnerRow {
  readonly id: number
  readonly name: string
  readonly labels: string
  readonly token_hash: string
  readonly scope_kind: ScopeKind
  readonly scope_id: number
  readonly version: string | null
  readonly created_at: number
}

export interface CiRegistrationTokenRow {
  readonly hash: string
  readonly scope_kind: ScopeKind
  readonly scope_id: number
  readonly creator_id: number
  readonly created_at: number
  readonly expires_at: number
}

export interface CiSecretRow {
  readonly scope_kind: "repo" | "org"
  readonly scope_id: number
  readonly name: string
  /** `v1:<iv b64>:<tag b64>:<ciphertext b64>`, AES-256-GCM under the cluster's secrets key. */
  readonly sealed: string
  readonly created_at: number
  readonly updated_at: number
}

export interface CiScheduleRow {
  readonly repo_id: number
  readonly workflow_path: string
  readonly cron: string
}

export interface CiRunEventRow {
  readonly id: number
  readonly height: number
  readonly run_id: number
  readonly action: string
}

type E<A> = Effect.Effect<A, SqlError>

export interface CiTables {
  readonly ciUpsertWorkflow: (repoId: number, path: string, name: string, at: number) => E<number>
  readonly ciWorkflows: (repoId: number) => E<ReadonlyArray<CiWorkflowRow>>
  readonly ciWorkflow: (id: number) => E<CiWorkflowRow | undefined>

  readonly ciInsertRun: (row: Omit<CiRunRow, "id">) => E<number>
  readonly ciUpdateRun: (id: number, fields: Partial<Omit<CiRunRow, "id">>) => E<void>
  readonly ciRun: (id: number) => E<CiRunRow | undefined>
  readonly ciRuns: (f: {
    readonly repoId: number
    readonly workflowId?: number | undefined
    readonly branch?: string | undefined
    readonly event?: string | undefined
    readonly status?: string | undefined
    readonly headSha?: string | undefined
    readonly limit: number
    readonly offset: number
  }) => E<{ readonly rows: ReadonlyArray<CiRunRow>; readonly total: number }>
  readonly ciMaxRunNumber: (workflowId: number) => E<number>

  readonly ciInsertJob: (row: Omit<CiJobRow, "id">) => E<number>
  readonly ciUpdateJob: (id: number, fields: Partial<Omit<CiJobRow, "id">>) => E<void>
  readonly ciJob: (id: number) => E<CiJobRow | undefined>
  /** Jobs of one attempt of a run, in creation order. */
  readonly ciJobsOfRun: (runId: number, attempt: number) => E<ReadonlyArray<CiJobRow>>
  /** Every queued job, oldest first. */
  readonly ciQueuedJobs: E<ReadonlyArray<CiJobRow>>
  /** In-progress jobs whose lease ended at or before `at`. */
  readonly ciExpiredLeases: (at: number) => E<ReadonlyArray<CiJobRow>>
  readonly ciJobByGitToken: (hash: string) => E<CiJobRow | undefined>
  /** How many jobs are queued (waiting for a runner) and in progress, for the metrics. */
  readonly ciJobCounts: E<{ readonly queued: number; readonly running: number }>

  readonly ciInsertArtifact: (row: Omit<CiArtifactRow, "id">) => E<number>
  readonly ciDeleteArtifact: (id: number) => E<void>
  readonly ciArtifact: (id: number) => E<CiArtifactRow | undefined>
  readonly ciArtifactsOfRun: (runId: number) => E<ReadonlyArray<CiArtifactRow>>

  readonly ciInsertRunner: (row: Omit<CiRunnerRow, "id">) => E<number>
  readonly ciRunner: (id: number) => E<CiRunnerRow | undefined>
  readonly ciRunnerByToken: (hash: string) => E<CiRunnerRow | undefined>
  readonly ciRunners: (kind: ScopeKind, scopeId: number) => E<ReadonlyArray<CiRunnerRow>>
  readonly ciDeleteRunner: (id: number) => E<void>
  /** Runners holding an in-progress job. */
  readonly ciBusyRunners: E<ReadonlyArray<{ readonly runner_id: number }>>

  readonly ciInsertRegistrationToken: (row: CiRegistrationTokenRow) => E<void>
  readonly ciRegistrationToken: (hash: string) => E<CiRegistrationTokenRow | undefined>

  /** `sealed` null removes the secret. */
  readonly ciSetSecret: (
    kind: "repo" | "org",
    scopeId: number,
    name: string,
    sealed: string | null,
    at: number,
  ) => E<void>
  readonly ciSecrets: (kind: "repo" | "org", scopeId: number) => E<ReadonlyArray<CiSecretRow>>

  readonly ciSetSchedules: (
    repoId: number,
    rows: ReadonlyArray<{ readonly path: string; readonly cron: string }>,
  ) => E<void>
  readonly ciSchedules: E<ReadonlyArray<CiScheduleRow>>
  readonly ciState: (key: string) => E<string | undefined>
  readonly ciSetState: (key: string, value: string) => E<void>

  readonly ciInsertRunEvent: (height: number, runId: number, action: string) => E<void>
  readonly ciRunEventsAt: (height: number) => E<ReadonlyArray<CiRunEventRow>>
}
