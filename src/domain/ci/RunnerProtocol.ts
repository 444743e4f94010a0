/**
 * The runner protocol: every HTTP request a runner (`guts runner`) makes to a node, and every
 * answer, as Schemas. The node side lives in `src/layers/http/RunnerRoutes.ts`, the runner
 * side in `src/runner/`; both decode with these Schemas, so a change here is a change to
 * both and the protocol is versioned by `RUNNER_PROTOCOL_VERSION`.
 *
 * Conventions for every endpoint:
 * - JSON bodies (`content-type: application/json`) unless said otherwise; times are
 *   milliseconds since the epoch, taken from block timestamps (never a node's clock).
 * - Every endpoint but registration authenticates the runner with
 *   `Authorization: Bearer <runner token>` (the token `POST /api/runners` returned).
 * - Errors are `{ "message": string }` (`RunnerError`) with the status:
 *   401 unknown or removed runner token; 404 no such job (or not one of this runner's);
 *   409 a stale request (the job is not held by this runner any more: its lease expired and
 *   it was requeued, or it already completed) — the runner must stop working on that job
 *   and discard it, never retry; 410 the job was cancelled (a runner should accept it; this node signals cancellation through the heartbeat's `cancelled`); 413 body too
 *   large; 422 a body that does not decode (the message names the field).
 *   Any 5xx or network error is transient: retry the same request with backoff (every
 *   endpoint is idempotent for a retried identical request — log chunks by sequence
 *   number, step reports by step number and status, completion by job id).
 * - A runner sends every request for one job to the same node (its `--url`): that node holds
 *   the job's live log until completion seals it into replicated storage.
 * - A runner only ever learns the secrets of a job whose lease it holds, and only in the
 *   claim's answer; it must mask them in everything it sends (`makeMasker`, Mask.ts).
 *
 * The lifecycle of a job on a runner:
 *   claim → (heartbeat every `heartbeatSeconds` until done) → for each step: step
 *   `in_progress`, logs…, step `completed` → artifact uploads → complete.
 * A runner that stops heartbeating for `leaseSeconds` loses the job: at the next block after
 * the lease expired the job is requeued with `attempt + 1` and may go to another runner;
 * the old runner's further requests for it get 409.
 */
import { Schema } from "effect"

export const RUNNER_PROTOCOL_VERSION = 1

/** The header a runner sends with every request (`x-guts-runner-protocol: 1`). */
export const RUNNER_PROTOCOL_HEADER = "x-guts-runner-protocol"

const MatrixValue = Schema.Union(Schema.String, Schema.Number, Schema.Boolean)
const StringMap = Schema.Record({ key: Schema.String, value: Schema.String })

export const JobConclusion = Schema.Literal("success", "failure", "cancelled", "skipped")
export type JobConclusion = typeof JobConclusion.Type

/** The error body of every non-2xx answer. */
export const RunnerError = Schema.Struct({ message: Schema.String })
export type RunnerError = typeof RunnerError.Type

// --- POST /api/runners ----------------------------------------------------------------

/**
 * `POST /api/runners` — register a runner (no Authorization header: the registration token
 * is in the body). A registration token comes from a repository admin
 * (`POST /api/repos/{owner}/{repo}/actions/runners/registration-token`), an organisation
 * admin (`POST /api/orgs/{org}/actions/runners/registration-token`) or a site admin
 * (`POST /api/admin/actions/runners/registration-token`); the runner then takes jobs of
 * that repository, of every repository of that organisation, or of every repository.
 * Registration tokens expire after an hour and may be used for several runners.
 *
 * 201 `RegisterRunnerResponse`; 401 unknown or expired registration token; 422 bad body.
 */
export const RegisterRunnerRequest = Schema.Struct({
  /** The registration token (`gutsreg_…`). */
  token: Schema.String,
  /** Shown in the API; need not be unique. 1..100 characters. */
  name: Schema.String,
  /**
   * Labels `runs-on` is matched against (case-insensitive). Every runner also carries
   * `self-hosted`. A job goes to a runner only if each of its `runs-on` labels is one of the
   * runner's labels.
   */
  labels: Schema.Array(Schema.String),
  /** The runner program's version, informational. */
  version: Schema.optional(Schema.String),
})
export type RegisterRunnerRequest = typeof RegisterRunnerRequest.Type

export const RegisterRunnerResponse = Schema.Struct({
  id: Schema.Int,
  name: Schema.String,
  /** As stored: lower-cased, deduplicated, with `self-hosted`. */
  labels: Schema.Array(Schema.String),
  /** The runner token (`gutsrun_…`): keep it secret, send it as `Authorization: Bearer`. */
  token: Schema.String,
})
export type RegisterRunnerResponse = typeof RegisterRunnerResponse.Type

// --- POST /api/runners/jobs/claim -----------------------------------------------------

/**
 * `POST /api/runners/jobs/claim` — ask for a job. The node picks the oldest queued job this
 * runner may take (scope and labels) and claims it through consensus (the first claim in
 * block order wins, so exactly one runner holds a job).
 *
 * 200 `JobAssignment`; 204 (no body) nothing to do now — ask again after a pause (1–5 s).
 * With `waitSeconds`, the node may hold the request up to that long waiting for a job
 * before answering 204; a runner must accept an early 204 either way.
 */
export const ClaimRequest = Schema.Struct({
  /** Overrides the registered labels for this claim when present (e.g. a runner that was
   * reconfigured); absent: the labels given at registration. */
  labels: Schema.optional(Schema.Array(Schema.String)),
  /** Long-poll: up to this many seconds (0..60). */
  waitSeconds: Schema.optional(Schema.Number),
})
export type ClaimRequest = typeof ClaimRequest.Type

/** One step to run, in order; `number` is its 1-based position (the `{n}` of step reports). */
export const AssignedStep = Schema.Struct({
  number: Schema.Int,
  /** The step's name, or `Run <first line of run>` when it has none. */
  name: Schema.String,
  id: Schema.optional(Schema.String),
  /**
   * The script, as written: it may contain `${{ }}` expressions, which the runner
   * interpolates just before the step runs (`interpolate`, Expression.ts) with the
   * assignment's `context`, the `secrets` and the job status so far.
   */
  run: Schema.String,
  /**
   * Absent: `bash -e {file}` (GitHub's default); `bash` runs `bash --noprofile --norc -eo
   * pipefail {file}`; `sh` runs `sh -e {file}`.
   */
  shell: Schema.optional(Schema.String),
  /** Relative to the workspace (the checkout); may contain expressions. */
  workingDirectory: Schema.optional(Schema.String),
  /** The step's own env (values may contain expressions), merged over the job's `env`. */
  env: StringMap,
  /** The step's `if` (without `${{ }}`), evaluated by the runner (`evaluateIf`); absent: `success()`. */
  if: Schema.optional(Schema.String),
  timeoutMinutes: Schema.optional(Schema.Number),
  continueOnError: Schema.Boolean,
})
export type AssignedStep = typeof AssignedStep.Type

/** An artifact of a job this job `needs` (the run's earlier jobs), to download before the steps. */
export const AssignedArtifact = Schema.Struct({
  id: Schema.Int,
  name: Schema.String,
  /** The key of the job that uploaded it. */
  jobKey: Schema.String,
  size: Schema.Int,
  /** `application/x-tar` (a directory), `application/zip` or `application/octet-stream` (one file). */
  contentType: Schema.String,
  /** Absolute URL of `GET /api/runners/jobs/{id}/artifacts/{name}` (runner token). */
  url: Schema.String,
})
export type AssignedArtifact = typeof AssignedArtifact.Type

export const PlannedJobSchema = Schema.Struct({
  key: Schema.String,
  jobId: Schema.String,
  name: Schema.String,
  matrix: Schema.Record({ key: Schema.String, value: MatrixValue }),
  needs: Schema.Array(Schema.String),
  runsOn: Schema.Array(Schema.String),
})

export const NeedResult = Schema.Struct({
  result: JobConclusion,
  outputs: StringMap,
})

/**
 * What the runner's expressions read (Workflow.ts's `ExprContext` without `secrets`, which
 * come separately, and without `jobStatus`, which the runner tracks as steps finish).
 */
export const AssignedContext = Schema.Struct({
  /** `event_name`, `ref`, `ref_name`, `sha`, `repository`, `repository_owner`, `actor`,
   * `run_id`, `run_number`, `run_attempt`, `workflow`, `job`, `server_url`, `head_ref`,
   * `base_ref`, `event` (with `inputs` for workflow_dispatch), `workspace` absent (the
   * runner sets it). */
  github: Schema.Record({ key: Schema.String, value: Schema.Unknown }),
  /** The workflow's and the job's `env`, merged and already interpolated. */
  env: StringMap,
  matrix: Schema.Record({ key: Schema.String, value: MatrixValue }),
  needs: Schema.Record({ key: Schema.String, value: NeedResult }),
  inputs: StringMap,
})
export type AssignedContext = typeof AssignedContext.Type

export const JobAssignment = Schema.Struct({
  protocol: Schema.Literal(RUNNER_PROTOCOL_VERSION),
  /** The job's id (GitHub's job id; the `{id}` of the other endpoints). */
  jobId: Schema.Int,
  /** 1 on the first claim; +1 each time a lost lease requeued it. */
  attempt: Schema.Int,
  runId: Schema.Int,
  runNumber: Schema.Int,
  runAttempt: Schema.Int,
  repository: Schema.Struct({
    owner: Schema.String,
    name: Schema.String,
    /** `owner/name` */
    fullName: Schema.String,
    /** `git clone` this over HTTP with the git token. */
    cloneUrl: Schema.String,
  }),
  /** The commit to check out (detached). */
  sha: Schema.String,
  /** The full ref that triggered the run (`refs/heads/main`, `refs/pull/3/head`, …). */
  ref: Schema.String,
  /**
   * Read access to this repository for as long as the job's lease is held: HTTP Basic with
   * user `x-access-token` and this as the password (or `Authorization: Bearer`). Mask it.
   */
  gitToken: Schema.String,
  workflow: Schema.Struct({ name: Schema.String, path: Schema.String }),
  job: PlannedJobSchema,
  steps: Schema.Array(AssignedStep),
  context: AssignedContext,
  /** Secret name → value (repository secrets over organisation secrets). Mask every value. */
  secrets: StringMap,
  /** The job's `timeout-minutes` (default 360): past it the runner kills the steps' process
   * groups and completes the job with `failure`. */
  timeoutMinutes: Schema.Number,
  /** The job's `continue-on-error`, informational (the node applies it to the run). */
  continueOnError: Schema.Boolean,
  artifacts: Schema.Array(AssignedArtifact),
  /** The lease: heartbeat at least every `heartbeatSeconds`; lost after `leaseSeconds` of silence. */
  leaseSeconds: Schema.Number,
  heartbeatSeconds: Schema.Number,
  /** When the lease ends unless renewed (block time). */
  leaseExpiresAt: Schema.Number,
})
export type JobAssignment = typeof JobAssignment.Type

// --- POST /api/runners/jobs/{id}/heartbeat ---------------------------------------------

/**
 * `POST /api/runners/jobs/{id}/heartbeat` — renew the lease (body `{}` or
 * `HeartbeatRequest`). 200 `HeartbeatResponse`; 409 the lease is lost (stop the job's
 * processes, discard it, do not complete it).
 * When `cancelled` is true (someone cancelled the run), the runner stops the steps' process
 * groups and completes the job with conclusion `cancelled`.
 */
export const HeartbeatRequest = Schema.Struct({
  /** The step running now, informational. */
  step: Schema.optional(Schema.Int),
})
export type HeartbeatRequest = typeof HeartbeatRequest.Type

export const HeartbeatResponse = Schema.Struct({
  cancelled: Schema.Boolean,
  leaseExpiresAt: Schema.Number,
})
export type HeartbeatResponse = typeof HeartbeatResponse.Type

// --- POST /api/runners/jobs/{id}/logs --------------------------------------------------

/**
 * `POST /api/runners/jobs/{id}/logs` — append a chunk of the job's log (already masked).
 * Chunks are numbered from 0 without gaps; a chunk whose `seq` was already received is
 * acknowledged and ignored (so a retry is harmless); a chunk beyond the next expected one is
 * not stored: the answer's `expected` says where to resend from.
 * A chunk is at most 1 MiB of text. Lines should end with `\n`; GitHub's log format prefixes
 * each line with an ISO timestamp and a space, which the runner adds.
 *
 * 200 `LogResponse`. The node streams chunks to `/ws` subscribers of the repository
 * (`workflow_job.log` events) and serves the log so far at
 * `GET /api/repos/{o}/{r}/actions/jobs/{id}/logs` until the job completes.
 */
export const LogChunk = Schema.Struct({
  seq: Schema.Int,
  /** The step this output belongs to (1-based), absent for set-up and tear-down lines. */
  step: Schema.optional(Schema.Int),
  text: Schema.String,
})
export type LogChunk = typeof LogChunk.Type

export const LogResponse = Schema.Struct({
  /** The next `seq` the node expects. */
  expected: Schema.Int,
})
export type LogResponse = typeof LogResponse.Type

// --- POST /api/runners/jobs/{id}/steps/{n} ---------------------------------------------

/**
 * `POST /api/runners/jobs/{id}/steps/{n}` — a step started (`in_progress`) or finished
 * (`completed` with a conclusion: `skipped` when its `if` was false). Report `in_progress`
 * before `completed`; a skipped step may be reported `completed` directly. Repeating a report
 * is harmless. 200 `{}`.
 */
export const StepReport = Schema.Struct({
  status: Schema.Literal("in_progress", "completed"),
  conclusion: Schema.optional(JobConclusion),
  /** The step's exit code, when it ran. */
  exitCode: Schema.optional(Schema.Int),
})
export type StepReport = typeof StepReport.Type

// --- PUT /api/runners/jobs/{id}/artifacts/{name} ---------------------------------------

/**
 * `PUT /api/runners/jobs/{id}/artifacts/{name}` — upload an artifact. The body is the bytes
 * (not JSON), with `content-type` `application/x-tar` (a directory, as `tar -c -C dir .`
 * writes it), `application/zip`, or `application/octet-stream` (a single file, whose name is
 * the artifact's). `name`: 1..100 of `[A-Za-z0-9._-]`, starting with a letter or digit, unique within the run (a second upload
 * of the same name from the same job replaces it; from another job is 409). Up to 512 MiB.
 * 201 `ArtifactUploaded`.
 *
 * Convention between the runner and workflows (docs/ci.md): each entry a job's steps leave
 * in `$GUTS_ARTIFACTS` (`<name>` file or directory) is uploaded as artifact `<name>` after
 * the last step; the assignment's `artifacts` are downloaded before the first step into
 * `$GUTS_NEEDS_ARTIFACTS/<name>` (a directory artifact unpacked there, a file saved as that name).
 */
export const ArtifactUploaded = Schema.Struct({
  id: Schema.Int,
  name: Schema.String,
  size: Schema.Int,
  /** Content address (sha256 hex) of the stored bytes. */
  digest: Schema.String,
})
export type ArtifactUploaded = typeof ArtifactUploaded.Type

/**
 * `GET /api/runners/jobs/{id}/artifacts/{name}` — download an artifact of the job's run (as
 * listed in the assignment's `artifacts`): the bytes with the upload's `content-type`.
 */
/** Starts with a letter or digit, so no name is `.`, `..` or hidden. */
export const ARTIFACT_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/

// --- POST /api/runners/jobs/{id}/complete ----------------------------------------------

/**
 * `POST /api/runners/jobs/{id}/complete` — the job finished. Send it after the last log
 * chunk and artifact upload (422 when a chunk before `logChunks` is missing; resend it): the node then seals the log (stored content-addressed and
 * replicated, so every node serves it), records the conclusion, sets the job's commit
 * status, and starts or skips the jobs that need it. 200 `CompleteResponse`; repeating the
 * same completion is harmless; 409 when the lease was lost.
 *
 * `failure` for a failed step (not `continue-on-error`) or a timeout; `cancelled` after a
 * heartbeat said `cancelled`.
 */
export const CompleteRequest = Schema.Struct({
  conclusion: Schema.Literal("success", "failure", "cancelled"),
  /** Job outputs (`needs.<job>.outputs.<name>` for later jobs); ≤ 1 MiB in all. */
  outputs: Schema.optional(StringMap),
  /** The next log `seq` the runner would have sent: the node waits for every chunk before it. */
  logChunks: Schema.Int,
})
export type CompleteRequest = typeof CompleteRequest.Type

export const CompleteResponse = Schema.Struct({
  conclusion: JobConclusion,
  /** sha256 hex of the sealed log. */
  logDigest: Schema.String,
})
export type CompleteResponse = typeof CompleteResponse.Type
