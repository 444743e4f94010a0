/**
 * The tables behind GitHub-compatibility features that are replicated state: webhook
 * delivery records (which node delivered which delivery, with what answer), check runs and
 * repository topics. Written only by Apply; part of the state digest.
 */
import type { SqlError } from "@effect/sql/SqlError"
import type { Effect } from "effect"

export interface HookRecordRow {
  readonly id: number
  readonly guid: string
  readonly hook_id: number
  /** The delivering validator's public key (hex). */
  readonly node: string
  /** The receiver's HTTP status of the last attempt; 0 when it could not be reached. */
  readonly status_code: number
  /** How many attempts the node made. */
  readonly attempts: number
  readonly event: string
  readonly action: string | null
  readonly recorded_at: number
  readonly height: number
}

export interface CheckRunRow {
  readonly id: number
  readonly repo_id: number
  readonly head_sha: string
  readonly name: string
  readonly status: "queued" | "in_progress" | "completed"
  readonly conclusion: string | null
  readonly external_id: string | null
  readonly details_url: string | null
  /** JSON of GitHub's `output` object ({title, summary, text}), or null. */
  readonly output: string | null
  readonly started_at: number | null
  readonly completed_at: number | null
  readonly creator_id: number
  readonly creator_login: string
  readonly created_at: number
  readonly updated_at: number
}

export interface CompatTables {
  readonly insertHookRecord: (row: Omit<HookRecordRow, "id">) => Effect.Effect<void, SqlError>
  /** Every record of a delivery, oldest first. */
  readonly hookRecords: (guid: string) => Effect.Effect<ReadonlyArray<HookRecordRow>, SqlError>
  /** The latest record of each delivery of a hook, newest first. */
  readonly hookRecordsOf: (hookId: number) => Effect.Effect<ReadonlyArray<HookRecordRow>, SqlError>
  /** Whether some node recorded a successful (2xx) answer for the delivery. */
  readonly hookDelivered: (guid: string) => Effect.Effect<boolean, SqlError>

  readonly insertCheckRun: (row: Omit<CheckRunRow, "id">) => Effect.Effect<number, SqlError>
  readonly updateCheckRun: (
    id: number,
    fields: Partial<Omit<CheckRunRow, "id" | "repo_id" | "creator_id" | "creator_login">>,
  ) => Effect.Effect<void, SqlError>
  readonly checkRunById: (id: number) => Effect.Effect<CheckRunRow | undefined, SqlError>
  /** Every check run of a commit, newest first. */
  readonly checkRunsOf: (
    repoId: number,
    sha: string,
  ) => Effect.Effect<ReadonlyArray<CheckRunRow>, SqlError>

  /** Open issues and pull requests of a repository (GitHub's `open_issues_count`). */
  readonly openIssueCount: (repoId: number) => Effect.Effect<number, SqlError>

  readonly topicsOf: (repoId: number) => Effect.Effect<ReadonlyArray<string>, SqlError>
  readonly setTopics: (
    repoId: number,
    topics: ReadonlyArray<string>,
  ) => Effect.Effect<void, SqlError>
}
