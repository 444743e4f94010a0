/**
 * Apply handlers for CI: workflow runs and their jobs as replicated state.
 *
 * Runs are created while the block that triggers them is applied — a push (`onPush`), a
 * pull request opened or synchronised, a `DispatchWorkflow`, or a schedule whose minute
 * passed between the previous block's timestamp and this one's (`onBlock`) — from the
 * workflow files in the triggering commit's tree, read from the object store (a push's
 * objects are stored before its transaction is applied). Every validator reads the same
 * objects and plans with the same pure functions (src/domain/ci), so every validator makes
 * the same runs, jobs and ids. An invalid workflow makes a run that fails at once with the
 * parser's problems (`path:line: message`) as its annotations.
 *
 * Jobs are claimed through `ClaimJob`: the first claim in block order wins; a job's lease
 * lasts `LEASE_MS` from the block that claimed or renewed it, and a job whose lease ended
 * by a block's timestamp is requeued (attempt + 1) when that block is applied. A finished
 * job advances its run (`nextDecisions`: which waiting jobs start, are skipped or
 * cancelled). Every job sets a commit status `<workflow name> / <job key>` on the run's
 * head commit, which branch protection can require.
 *
 * Runner transactions are submitted by the node serving the runner (submitter 0, the node
 * itself) after it checked the runner's token; apply checks that the runner holds the job.
 */
import { Effect } from "effect"
import { cronMatches } from "../../domain/ci/Cron.ts"
import { resolveDispatchInputs } from "../../domain/ci/Dispatch.ts"
import {
  effectiveResult,
  matchesTrigger,
  nextDecisions,
  planJobs,
  runConclusion,
} from "../../domain/ci/Plan.ts"
import { ARTIFACT_NAME } from "../../domain/ci/RunnerProtocol.ts"
import type {
  ExprContext,
  JobResult,
  JobSpec,
  ParsedWorkflow,
  PlannedJob,
  TriggerEvent,
  Workflow,
  WorkflowProblem,
} from "../../domain/ci/Workflow.ts"
import { parseWorkflow, WORKFLOW_DIRECTORIES } from "../../domain/ci/WorkflowParse.ts"
import { ObjectParseError, parseCommit, parseTree, textString } from "../../domain/git/GitObject.ts"
import { isObjectId, type ObjectId, ZERO_ID } from "../../domain/git/ObjectId.ts"
import { SYSTEM_USER } from "../../domain/Transaction.ts"
import type * as T from "../../domain/Transaction.ts"
import type { Block } from "../../domain/Transaction.ts"
import type { CiJobRow, CiRunRow, CiStepState, ScopeKind } from "../CiTables.ts"
import { type MetadataShape, type RepoRow, type UserRow, repoKey } from "../Metadata.ts"
import type { ObjectCorrupt, ObjectStoreShape, StorageError } from "../ObjectStore.ts"
import type { RefStoreShape } from "../RefStore.ts"
import type { Kit } from "./Kit.ts"

/** A job's lease: lost when no claim or heartbeat renewed it for this long (block time). */
export const LEASE_MS = 60_000
/** The lease a node may ask for (`ciLeaseMs`), bounded so no node can pin a job forever. */
export const leaseOf = (asked: number | undefined) =>
  Math.min(10 * 60_000, Math.max(2_000, asked ?? LEASE_MS))
export const REGISTRATION_TOKEN_TTL_MS = 60 * 60 * 1000
/** A job whose runner was lost this many times fails instead of being requeued again. */
export const MAX_JOB_ATTEMPTS = 5
const MAX_WORKFLOW_FILES = 50
const MAX_WORKFLOW_BYTES = 512 * 1024
/** Schedules look back at most this many minutes (a long pause between blocks). */
const MAX_SCHEDULE_CATCHUP_MINUTES = 60
export const STATUS_CREATOR = "guts-actions"

export const statusContext = (workflowName: string, jobKey: string) => `${workflowName} / ${jobKey}`

/** `self-hosted` plus the given labels, lower-cased, trimmed and deduplicated, in order. */
export const normaliseLabels = (labels: ReadonlyArray<string>) => [
  ...new Set(["self-hosted", ...labels.map((l) => l.trim().toLowerCase()).filter((l) => l)]),
]

/** Whether a runner with `labels` may run a job asking for `runsOn`. */
export const labelsMatch = (runsOn: ReadonlyArray<string>, labels: ReadonlyArray<string>) => {
  const have = new Set(labels.map((l) => l.toLowerCase()))
  return runsOn.every((l) => have.has(l.toLowerCase()))
}

const shortRef = (ref: string) => ref.replace(/^refs\/(heads|tags)\//, "")

/** GitHub's `github` context for a run (and one of its jobs). */
export const githubContext = (
  run: CiRunRow,
  repo: Pick<RepoRow, "owner_login" | "name">,
  jobId?: string,
): Record<string, unknown> => {
  const trigger = JSON.parse(run.trigger) as TriggerEvent
  return {
    event_name: run.event,
    ref: run.ref,
    ref_name: shortRef(run.ref),
    ref_type: run.ref.startsWith("refs/tags/") ? "tag" : "branch",
    sha: run.checkout_sha,
    repository: `${repo.owner_login}/${repo.name}`,
    repository_owner: repo.owner_login,
    actor: run.actor_login,
    triggering_actor: run.actor_login,
    run_id: String(run.id),
    run_number: String(run.run_number),
    run_attempt: String(run.run_attempt),
    workflow: run.workflow_name,
    ...(jobId !== undefined ? { job: jobId } : {}),
    head_ref: run.event === "pull_request" ? (run.head_branch ?? "") : "",
    base_ref: trigger.baseRef ? shortRef(trigger.baseRef) : "",
    event: {
      ...(trigger.inputs ? { inputs: trigger.inputs } : {}),
      ...(run.pull_number !== null
        ? { number: run.pull_number, pull_request: { number: run.pull_number } }
        : {}),
    },
  }
}

export const jobSpecOf = (run: CiRunRow, jobId: string): JobSpec | undefined =>
  run.workflow === null
    ? undefined
    : (JSON.parse(run.workflow) as Workflow).jobs.find((j) => j.id === jobId)

export const stepsOf = (job: CiJobRow) => JSON.parse(job.steps) as CiStepState[]

/** The status a job's conclusion sets (skipped jobs pass, as on GitHub). */
const statusState = (conclusion: string) =>
  conclusion === "success" || conclusion === "skipped"
    ? "success"
    : conclusion === "cancelled"
      ? "error"
      : "failure"

const stepName = (s: { name?: string | undefined; run: string }) =>
  s.name ?? `Run ${s.run.trim().split("\n")[0]!.slice(0, 80)}`

/**
 * Whether a block at `now` would have CI work: a lease that has ended, or a schedule whose
 * minute passed since the last block. An idle single validator asks this to decide when to
 * make a block (CiTicker); the answer only triggers a block, apply decides what happens.
 */
export const ciWorkDue = (meta: MetadataShape, now: number) =>
  Effect.gen(function* () {
    if ((yield* meta.ciExpiredLeases(now)).length > 0) return true
    const lastText = yield* meta.ciState("last_block_ts")
    if (lastText === undefined) return false
    const MINUTE = 60_000
    const from = Math.max(
      Math.floor(Number(lastText) / MINUTE) + 1,
      Math.floor(now / MINUTE) - MAX_SCHEDULE_CATCHUP_MINUTES + 1,
    )
    const to = Math.floor(now / MINUTE)
    if (to < from) return false
    for (const s of yield* meta.ciSchedules)
      for (let m = from; m <= to; m++) {
        try {
          if (cronMatches(s.cron, new Date(m * MINUTE))) return true
        } catch {
          break
        }
      }
    return false
  })

export const makeCiHandlers = (deps: {
  meta: MetadataShape
  kit: Kit
  objects: ObjectStoreShape
  refs: () => RefStoreShape
}) => {
  const { meta, kit, objects } = deps
  const { reject, done, needLevel, needOrg, needOrgAdmin } = kit
  const invalid = (field: string, reason: string) => reject(reason, { code: "invalid", field })

  // --- reading workflows from a commit ---

  const readObject = (id: ObjectId) => Effect.map(objects.getMany([id]), ([o]) => o)

  /** The tree under `segments` of `tree`, if there is one. */
  const subtree = (tree: ObjectId, segments: ReadonlyArray<string>) =>
    Effect.gen(function* () {
      let at: ObjectId | undefined = tree
      for (const seg of segments) {
        const o = yield* readObject(at!)
        if (o?.type !== "tree") return undefined
        const entries = parseTree(o.content)
        if (entries instanceof ObjectParseError) return undefined
        const hit = entries.find((e) => textString(e.name) === seg && e.mode === "40000")
        if (!hit) return undefined
        at = hit.id
      }
      return at
    })

  /** Workflow files (`.guts/workflows/*.yml`, `.github/workflows/*.yml`) in a commit, by path. */
  const workflowFiles = (sha: string) =>
    Effect.gen(function* () {
      const out: Array<{ path: string; text: string }> = []
      if (!isObjectId(sha) || sha === ZERO_ID) return out
      const commitObj = yield* readObject(sha as ObjectId)
      if (commitObj?.type !== "commit") return out
      const commit = parseCommit(commitObj.content)
      if (commit instanceof ObjectParseError) return out
      for (const dir of WORKFLOW_DIRECTORIES) {
        const tree = yield* subtree(commit.tree, dir.split("/"))
        if (!tree) continue
        const o = yield* readObject(tree)
        const entries = o && o.type === "tree" ? parseTree(o.content) : []
        if (entries instanceof ObjectParseError) continue
        for (const e of entries) {
          const name = textString(e.name)
          if (!/\.ya?ml$/.test(name) || !e.mode.startsWith("100")) continue
          if (out.length >= MAX_WORKFLOW_FILES) break
          const blob = yield* readObject(e.id)
          if (blob?.type !== "blob") continue
          const path = `${dir}/${name}`
          out.push({
            path,
            text:
              blob.content.length > MAX_WORKFLOW_BYTES
                ? ""
                : Buffer.from(blob.content).toString("utf8"),
          })
        }
      }
      return out
    })

  /**
   * Paths that differ between two commits' trees (for `paths:` filters), walking only the
   * subtrees that differ; undefined when unknown (no old commit, or more than GitHub's 3000
   * files — then no path filter applies).
   */
  const changedPaths = (oldSha: string | undefined, newSha: string) =>
    Effect.gen(function* () {
      if (!oldSha || oldSha === ZERO_ID || !isObjectId(oldSha)) return undefined
      const treeOf = (sha: string) =>
        Effect.map(readObject(sha as ObjectId), (o) => {
          if (o?.type !== "commit") return undefined
          const c = parseCommit(o.content)
          return c instanceof ObjectParseError ? undefined : c.tree
        })
      const a = yield* treeOf(oldSha)
      const b = yield* treeOf(newSha)
      if (!a || !b) return undefined
      const out: string[] = []
      const entriesOf = (id: ObjectId | undefined) =>
        Effect.map(id ? readObject(id) : Effect.succeed(undefined), (o) => {
          const m = new Map<string, { mode: string; id: ObjectId }>()
          if (o?.type !== "tree") return m
          const es = parseTree(o.content)
          if (!(es instanceof ObjectParseError))
            for (const e of es) m.set(textString(e.name), { mode: e.mode, id: e.id })
          return m
        })
      const walk = (
        x: ObjectId | undefined,
        y: ObjectId | undefined,
        prefix: string,
      ): Effect.Effect<boolean, StorageError | ObjectCorrupt> =>
        Effect.gen(function* () {
          const ex = yield* entriesOf(x)
          const ey = yield* entriesOf(y)
          for (const name of [...new Set([...ex.keys(), ...ey.keys()])].sort()) {
            const l = ex.get(name)
            const r = ey.get(name)
            if (l && r && l.id === r.id && l.mode === r.mode) continue
            const path = `${prefix}${name}`
            const lt = l?.mode === "40000" ? l.id : undefined
            const rt = r?.mode === "40000" ? r.id : undefined
            if (lt || rt) {
              if (!(yield* walk(lt, rt, `${path}/`))) return false
              if ((l && !lt) || (r && !rt)) out.push(path)
            } else out.push(path)
            if (out.length > 3000) return false
          }
          return true
        })
      return (yield* walk(a, b, "")) ? out : undefined
    })

  const parseFile = (f: { path: string; text: string }): ParsedWorkflow =>
    f.text === ""
      ? {
          _tag: "Invalid",
          path: f.path,
          name: f.path,
          problems: [
            {
              path: f.path,
              line: 1,
              column: 1,
              message: `the workflow file is empty or larger than ${MAX_WORKFLOW_BYTES / 1024} KiB`,
            },
          ],
        }
      : parseSafely(f.path, f.text)

  /** The parser promises not to throw; should it, the run fails instead of the block. */
  const parseSafely = (path: string, text: string): ParsedWorkflow => {
    try {
      return parseWorkflow(path, text)
    } catch (err) {
      return {
        _tag: "Invalid",
        path,
        name: path,
        problems: [
          { path, line: 1, column: 1, message: `the workflow could not be read: ${String(err)}` },
        ],
      }
    }
  }

  // --- statuses, events ---

  const setStatus = (
    repoId: number,
    run: CiRunRow,
    jobKey: string,
    state: "pending" | "success" | "failure" | "error",
    description: string,
    block: Block,
  ) =>
    meta.insertStatus({
      repo_id: repoId,
      sha: run.head_sha,
      state,
      context: statusContext(run.workflow_name, jobKey),
      description,
      target_url: null,
      creator_id: SYSTEM_USER,
      creator_login: STATUS_CREATOR,
      created_at: block.timestamp,
    })

  const runEvent = (run: CiRunRow | number, action: string, block: Block) =>
    meta.ciInsertRunEvent(block.height, typeof run === "number" ? run : run.id, action)

  // --- creating runs ---

  interface Trigger {
    readonly event: TriggerEvent
    /** Statuses go on this commit (a pull request's head). */
    readonly headSha: string
    readonly headBranch: string | null
    readonly pullNumber?: number | undefined
  }

  const createRun = (
    repo: RepoRow,
    parsed: ParsedWorkflow,
    trigger: Trigger,
    actor: UserRow,
    block: Block,
  ) =>
    Effect.gen(function* () {
      const path = parsed._tag === "Valid" ? parsed.workflow.path : parsed.path
      const name = parsed._tag === "Valid" ? parsed.workflow.name : parsed.name
      const workflowId = yield* meta.ciUpsertWorkflow(repo.id, path, name, block.timestamp)
      const runNumber = (yield* meta.ciMaxRunNumber(workflowId)) + 1
      const ts = block.timestamp
      const base = {
        repo_id: repo.id,
        workflow_id: workflowId,
        workflow_path: path,
        workflow_name: name,
        run_number: runNumber,
        run_attempt: 1,
        event: trigger.event.event,
        ref: trigger.event.ref,
        head_branch: trigger.headBranch,
        head_sha: trigger.headSha,
        checkout_sha: trigger.event.sha,
        actor_id: actor.id,
        actor_login: actor.login,
        // The changed paths only decided whether to run; they are not kept.
        trigger: JSON.stringify({ ...trigger.event, changedPaths: undefined }),
        pull_number: trigger.pullNumber ?? null,
        cancel_requested: 0,
        created_at: ts,
        updated_at: ts,
        started_at: ts,
      }
      const failed = (problems: ReadonlyArray<WorkflowProblem>) =>
        Effect.gen(function* () {
          const id = yield* meta.ciInsertRun({
            ...base,
            workflow: null,
            status: "completed",
            conclusion: "failure",
            annotations: JSON.stringify(problems),
          })
          const first = problems[0]
          yield* meta.insertStatus({
            repo_id: repo.id,
            sha: trigger.headSha,
            state: "failure",
            context: name,
            description: first
              ? `${first.path}:${first.line}: ${first.message}`.slice(0, 140)
              : "invalid workflow",
            target_url: null,
            creator_id: SYSTEM_USER,
            creator_login: STATUS_CREATOR,
            created_at: ts,
          })
          yield* runEvent(id, "requested", block)
          yield* runEvent(id, "completed", block)
          return id
        })
      if (parsed._tag === "Invalid") return yield* failed(parsed.problems)
      const workflow = parsed.workflow
      const runId = yield* meta.ciInsertRun({
        ...base,
        workflow: JSON.stringify(workflow),
        status: "queued",
        conclusion: null,
        annotations: null,
      })
      const run = (yield* meta.ciRun(runId))!
      let planned: ReadonlyArray<PlannedJob>
      try {
        planned = planJobs(workflow, {
          github: githubContext(run, repo),
          inputs: trigger.event.inputs ?? {},
          env: workflow.env,
        })
      } catch (err) {
        yield* meta.ciUpdateRun(runId, {
          workflow: null,
          status: "completed",
          conclusion: "failure",
          annotations: JSON.stringify([
            { path, line: 1, column: 1, message: err instanceof Error ? err.message : String(err) },
          ]),
        })
        yield* runEvent(runId, "requested", block)
        yield* runEvent(runId, "completed", block)
        return runId
      }
      yield* insertJobs(run, planned, block)
      yield* runEvent(runId, "requested", block)
      yield* advance(runId, block)
      return runId
    })

  const insertJobs = (
    run: CiRunRow,
    planned: ReadonlyArray<PlannedJob>,
    block: Block,
    carried: ReadonlyMap<string, CiJobRow> = new Map(),
  ) =>
    Effect.gen(function* () {
      for (const p of planned) {
        const spec = jobSpecOf(run, p.jobId)
        const before = carried.get(p.key)
        const steps: CiStepState[] = (spec?.steps ?? []).map((s, i) => ({
          number: i + 1,
          name: stepName(s),
          status: "queued",
          conclusion: null,
          started_at: null,
          completed_at: null,
        }))
        yield* meta.ciInsertJob({
          run_id: run.id,
          repo_id: run.repo_id,
          run_attempt: run.run_attempt,
          key: p.key,
          job_id: p.jobId,
          name: p.name,
          planned: JSON.stringify(p),
          status: before ? "completed" : "waiting",
          conclusion: before?.conclusion ?? null,
          attempt: 1,
          runner_id: before?.runner_id ?? null,
          runner_name: before?.runner_name ?? null,
          lease_expires_at: null,
          git_token_hash: null,
          cancel_requested: 0,
          outputs: before?.outputs ?? "{}",
          steps: before?.steps ?? JSON.stringify(steps),
          log_blob: before?.log_blob ?? null,
          log_size: before?.log_size ?? 0,
          created_at: block.timestamp,
          started_at: before?.started_at ?? null,
          completed_at: before?.completed_at ?? null,
        })
        if (!before) yield* setStatus(run.repo_id, run, p.key, "pending", "Waiting to run", block)
      }
    })

  /** Runs of every workflow in `sha`'s tree that `trigger` starts. */
  const createRunsFor = (
    repo: RepoRow,
    base: Trigger,
    actor: UserRow,
    block: Block,
    // The paths a change touched, for `paths:` filters: a tree diff, computed only when
    // the commit has workflow files (most pushes have none).
    pathsOf?: Effect.Effect<ReadonlyArray<string> | undefined, StorageError | ObjectCorrupt>,
  ) =>
    Effect.gen(function* () {
      const ids: number[] = []
      const files = yield* workflowFiles(base.event.sha)
      if (files.length === 0) return ids
      const trigger: Trigger = pathsOf
        ? { ...base, event: { ...base.event, changedPaths: yield* pathsOf } }
        : base
      for (const file of files) {
        const parsed = parseFile(file)
        // An invalid file's triggers are unknown: it fails the pushes and pull requests that
        // carry it, where its author sees it (as on GitHub).
        if (parsed._tag === "Invalid") {
          if (trigger.event.event === "push" || trigger.event.event === "pull_request")
            ids.push(yield* createRun(repo, parsed, trigger, actor, block))
          continue
        }
        if (!matchesTrigger(parsed.workflow, trigger.event)) continue
        ids.push(yield* createRun(repo, parsed, trigger, actor, block))
      }
      return ids
    })

  // --- advancing runs ---

  /** Decides waiting jobs, until nothing changes, and completes the run when all jobs are. */
  const advance = (runId: number, block: Block) =>
    Effect.gen(function* () {
      for (let round = 0; round < 1000; round++) {
        const run = (yield* meta.ciRun(runId))!
        if (run.status === "completed") return
        const repo = yield* meta.repoById(run.repo_id)
        if (!repo) return
        const workflow = JSON.parse(run.workflow!) as Workflow
        const jobs = yield* meta.ciJobsOfRun(run.id, run.run_attempt)
        const planned = jobs.map((j) => JSON.parse(j.planned) as PlannedJob)
        const byKey = new Map(jobs.map((j) => [j.key, j]))
        const results = new Map<string, JobResult>()
        const started = new Set<string>()
        for (const j of jobs) {
          if (j.status === "completed") {
            const p = JSON.parse(j.planned) as PlannedJob
            const spec = workflow.jobs.find((s) => s.id === j.job_id)
            // continue-on-error: a failed job does not fail what depends on it, nor the run.
            const withSpec = { ...p, continueOnError: p.continueOnError ?? spec?.continueOnError }
            results.set(j.key, effectiveResult(withSpec, (j.conclusion ?? "failure") as JobResult))
          } else if (j.status === "queued" || j.status === "in_progress") started.add(j.key)
        }
        if (results.size === jobs.length) {
          const conclusion =
            run.cancel_requested === 1 ? "cancelled" : runConclusion(results.values())
          yield* meta.ciUpdateRun(run.id, {
            status: "completed",
            conclusion,
            updated_at: block.timestamp,
          })
          yield* runEvent(run.id, "completed", block)
          return
        }
        const ctxFor = (p: PlannedJob): ExprContext => {
          const needs: Record<string, { result: JobResult; outputs: Record<string, string> }> = {}
          for (const n of p.needs) {
            const outputs: Record<string, string> = {}
            for (const j of jobs)
              if (j.job_id === n && j.status === "completed")
                Object.assign(outputs, JSON.parse(j.outputs))
            needs[n] = { result: "success", outputs }
          }
          return {
            github: githubContext(run, repo, p.jobId),
            env: workflow.env,
            matrix: p.matrix,
            needs,
            inputs: (JSON.parse(run.trigger) as TriggerEvent).inputs ?? {},
            secrets: {},
            jobStatus: run.cancel_requested === 1 ? "cancelled" : "success",
          }
        }
        const d = nextDecisions(planned, results, ctxFor, started)
        let changed = false
        const finish = (key: string, conclusion: string, description: string) =>
          Effect.gen(function* () {
            const j = byKey.get(key)!
            if (j.status === "in_progress") {
              if (j.cancel_requested === 0) {
                yield* meta.ciUpdateJob(j.id, { cancel_requested: 1 })
                changed = true
              }
              return
            }
            yield* meta.ciUpdateJob(j.id, {
              status: "completed",
              conclusion,
              completed_at: block.timestamp,
            })
            yield* setStatus(run.repo_id, run, key, statusState(conclusion), description, block)
            changed = true
          })
        for (const p of d.ready) {
          const j = byKey.get(p.key)!
          if (j.status !== "waiting") continue
          yield* meta.ciUpdateJob(j.id, { status: "queued" })
          yield* setStatus(run.repo_id, run, p.key, "pending", "Queued", block)
          changed = true
        }
        for (const p of d.skipped) yield* finish(p.key, "skipped", "Skipped")
        for (const p of d.cancelled) yield* finish(p.key, "cancelled", "Cancelled")
        for (const e of d.errored) yield* finish(e.job.key, "failure", e.message.slice(0, 140))
        if (!changed) return
      }
    })

  // --- triggers ---

  /** After a ref moved: runs for the push, pull requests it synchronises, and schedules. */
  const onPush = (
    repo: RepoRow,
    change: { name: string; old: string; new: string },
    actor: UserRow,
    block: Block,
  ) =>
    Effect.gen(function* () {
      if (change.new === ZERO_ID) return
      const isBranch = change.name.startsWith("refs/heads/")
      if (!isBranch && !change.name.startsWith("refs/tags/")) return
      yield* createRunsFor(
        repo,
        {
          event: {
            event: "push",
            ref: change.name,
            sha: change.new,
            actor: actor.login,
            repository: `${repo.owner_login}/${repo.name}`,
          },
          headSha: change.new,
          headBranch: isBranch ? shortRef(change.name) : null,
        },
        actor,
        block,
        changedPaths(change.old, change.new),
      )
      if (!isBranch) return
      const branch = change.name.slice("refs/heads/".length)
      if (branch === repo.default_branch) yield* refreshSchedules(repo, change.new)
      for (const pull of yield* meta.pullsWithHead(repo.id, branch)) {
        if (pull.head_sha !== change.new) continue
        const issue = yield* meta.issueById(pull.issue_id)
        if (issue?.state !== "open") continue
        const base = yield* meta.repoById(pull.repo_id)
        if (base) yield* onPull(base, pull.number, "synchronize", actor, block)
      }
    })

  /** A pull request opened, reopened or synchronised: runs of the head's workflows. */
  const onPull = (repo: RepoRow, number: number, action: string, actor: UserRow, block: Block) =>
    Effect.gen(function* () {
      const pull = yield* meta.pullByNumber(repo.id, number)
      if (!pull) return
      yield* createRunsFor(
        repo,
        {
          event: {
            event: "pull_request",
            ref: `refs/pull/${number}/head`,
            sha: pull.head_sha,
            action,
            baseRef: `refs/heads/${pull.base_ref}`,
            actor: actor.login,
            repository: `${repo.owner_login}/${repo.name}`,
          },
          headSha: pull.head_sha,
          headBranch: pull.head_ref,
          pullNumber: number,
        },
        actor,
        block,
        changedPaths(pull.base_sha, pull.head_sha),
      )
    })

  /** A merged pull request moved its base branch: that is a push to it. */
  const onMerged = (repo: RepoRow, number: number, actor: UserRow, block: Block) =>
    Effect.gen(function* () {
      const pull = yield* meta.pullByNumber(repo.id, number)
      if (pull?.merged !== 1 || !pull.merge_commit_sha) return
      yield* onPush(
        repo,
        { name: `refs/heads/${pull.base_ref}`, old: pull.base_sha, new: pull.merge_commit_sha },
        actor,
        block,
      )
    })

  const refreshSchedules = (repo: RepoRow, sha: string) =>
    Effect.gen(function* () {
      const rows: Array<{ path: string; cron: string }> = []
      for (const file of yield* workflowFiles(sha)) {
        const parsed = parseFile(file)
        if (parsed._tag !== "Valid") continue
        for (const s of parsed.workflow.on.schedule ?? [])
          rows.push({ path: file.path, cron: s.cron })
      }
      yield* meta.ciSetSchedules(repo.id, rows)
    })

  /** Before a block's transactions: expired leases requeue their jobs; schedules fire. */
  const onBlock = (block: Block) =>
    Effect.gen(function* () {
      for (const job of yield* meta.ciExpiredLeases(block.timestamp)) {
        const run = yield* meta.ciRun(job.run_id)
        if (!run) continue
        const lost = `the runner ${job.runner_name ?? job.runner_id} stopped answering`
        if (
          run.cancel_requested === 1 ||
          job.cancel_requested === 1 ||
          job.attempt >= MAX_JOB_ATTEMPTS
        ) {
          const conclusion =
            run.cancel_requested === 1 || job.cancel_requested === 1 ? "cancelled" : "failure"
          yield* meta.ciUpdateJob(job.id, {
            status: "completed",
            conclusion,
            lease_expires_at: null,
            git_token_hash: null,
            completed_at: block.timestamp,
          })
          yield* setStatus(
            run.repo_id,
            run,
            job.key,
            statusState(conclusion),
            conclusion === "failure" ? `${lost} ${job.attempt} times` : "Cancelled",
            block,
          )
          yield* advance(run.id, block)
          continue
        }
        const spec = jobSpecOf(run, job.job_id)
        yield* meta.ciUpdateJob(job.id, {
          status: "queued",
          attempt: job.attempt + 1,
          runner_id: null,
          runner_name: null,
          lease_expires_at: null,
          git_token_hash: null,
          steps: JSON.stringify(
            (spec?.steps ?? []).map((s, i) => ({
              number: i + 1,
              name: stepName(s),
              status: "queued",
              conclusion: null,
              started_at: null,
              completed_at: null,
            })),
          ),
        })
        yield* setStatus(run.repo_id, run, job.key, "pending", `Requeued: ${lost}`, block)
      }
      const lastText = yield* meta.ciState("last_block_ts")
      yield* meta.ciSetState("last_block_ts", String(block.timestamp))
      if (lastText === undefined) return
      const last = Number(lastText)
      const MINUTE = 60_000
      // Minutes that began after the previous block and by this one.
      let from = Math.floor(last / MINUTE) + 1
      const to = Math.floor(block.timestamp / MINUTE)
      if (to < from) return
      from = Math.max(from, to - MAX_SCHEDULE_CATCHUP_MINUTES + 1)
      const schedules = yield* meta.ciSchedules
      if (schedules.length === 0) return
      const fired = new Set<string>()
      for (let m = from; m <= to; m++) {
        const at = new Date(m * MINUTE)
        for (const s of schedules) {
          const key = `${s.repo_id}\n${s.workflow_path}`
          if (fired.has(key)) continue
          let hit = false
          try {
            hit = cronMatches(s.cron, at)
          } catch {
            hit = false
          }
          if (hit) fired.add(key)
        }
      }
      for (const key of [...fired].sort()) {
        const [repoIdText, path] = key.split("\n") as [string, string]
        const repo = yield* meta.repoById(Number(repoIdText))
        if (!repo) continue
        const ref = `refs/heads/${repo.default_branch}`
        const sha = yield* deps.refs().get(repoKey(repo), ref)
        if (!sha) continue
        const file = (yield* workflowFiles(sha)).find((f) => f.path === path)
        if (!file) continue
        const parsed = parseFile(file)
        if (parsed._tag !== "Valid") continue
        const owner = yield* meta.userById(repo.owner_id)
        if (!owner) continue
        yield* createRun(
          repo,
          parsed,
          {
            event: {
              event: "schedule",
              ref,
              sha,
              actor: owner.login,
              repository: `${repo.owner_login}/${repo.name}`,
            },
            headSha: sha,
            headBranch: repo.default_branch,
          },
          owner,
          block,
        )
      }
    })

  // --- transactions from users ---

  const dispatchWorkflow = (tx: T.DispatchWorkflow, block: Block, actor: UserRow) =>
    Effect.gen(function* () {
      const repo = yield* needLevel(tx.owner, tx.repo, actor, "write")
      const ref = tx.ref.startsWith("refs/") ? tx.ref : `refs/heads/${tx.ref}`
      let sha = yield* deps.refs().get(repoKey(repo), ref)
      let fullRef = ref
      if (!sha && !tx.ref.startsWith("refs/")) {
        fullRef = `refs/tags/${tx.ref}`
        sha = yield* deps.refs().get(repoKey(repo), fullRef)
      }
      if (!sha) return yield* invalid("ref", `No ref found for: ${tx.ref}`)
      const files = yield* workflowFiles(sha)
      let wanted = tx.workflow
      if (/^\d+$/.test(wanted)) {
        const row = yield* meta.ciWorkflow(Number(wanted))
        if (!row || row.repo_id !== repo.id)
          return yield* reject(`workflow ${wanted} not found`, { code: "not_found" })
        wanted = row.path
      }
      const file = files.find(
        (f) => f.path === wanted || f.path.slice(f.path.lastIndexOf("/") + 1) === wanted,
      )
      if (!file)
        return yield* reject(`workflow ${tx.workflow} not found at ${tx.ref}`, {
          code: "not_found",
        })
      const parsed = parseFile(file)
      const trigger: Trigger = {
        event: {
          event: "workflow_dispatch",
          ref: fullRef,
          sha,
          inputs: {},
          actor: actor.login,
          repository: `${repo.owner_login}/${repo.name}`,
        },
        headSha: sha,
        headBranch: fullRef.startsWith("refs/heads/") ? shortRef(fullRef) : null,
      }
      if (parsed._tag === "Invalid") {
        const id = yield* createRun(repo, parsed, trigger, actor, block)
        return done({ runId: id })
      }
      const resolved = resolveDispatchInputs(parsed.workflow, tx.inputs)
      if (resolved._tag === "Rejected")
        return yield* invalid("inputs", resolved.problems.join("; "))
      const inputs = resolved.inputs
      const id = yield* createRun(
        repo,
        parsed,
        { ...trigger, event: { ...trigger.event, inputs } },
        actor,
        block,
      )
      return done({ runId: id })
    })

  const needRun = (repo: RepoRow, runId: number) =>
    Effect.flatMap(meta.ciRun(runId), (r) =>
      r && r.repo_id === repo.id
        ? Effect.succeed(r)
        : reject(`workflow run ${runId} not found`, { code: "not_found" }),
    )

  const cancelRun = (tx: T.CancelRun, block: Block, actor: UserRow) =>
    Effect.gen(function* () {
      const repo = yield* needLevel(tx.owner, tx.repo, actor, "write")
      const run = yield* needRun(repo, tx.runId)
      if (run.status === "completed")
        return yield* reject("Cannot cancel a workflow run that is completed.", {
          code: "conflict",
        })
      yield* meta.ciUpdateRun(run.id, { cancel_requested: 1, updated_at: block.timestamp })
      yield* advance(run.id, block)
      // Jobs not started yet end now; running ones when their runner hears of it.
      const after = (yield* meta.ciRun(run.id))!
      for (const j of yield* meta.ciJobsOfRun(run.id, run.run_attempt)) {
        if (j.status !== "waiting" && j.status !== "queued") continue
        yield* meta.ciUpdateJob(j.id, {
          status: "completed",
          conclusion: "cancelled",
          completed_at: block.timestamp,
        })
        yield* setStatus(repo.id, after, j.key, "error", "Cancelled", block)
      }
      yield* advance(run.id, block)
      return done({ id: run.id })
    })

  const rerunRun = (tx: T.RerunRun, block: Block, actor: UserRow) =>
    Effect.gen(function* () {
      const repo = yield* needLevel(tx.owner, tx.repo, actor, "write")
      const run = yield* needRun(repo, tx.runId)
      if (run.status !== "completed")
        return yield* reject(`workflow run ${run.id} is still running; cancel it first`, {
          code: "forbidden",
        })
      if (run.workflow === null)
        return yield* reject(
          "this run's workflow file is invalid; push a fixed workflow to run it again",
          { code: "forbidden" },
        )
      const previous = yield* meta.ciJobsOfRun(run.id, run.run_attempt)
      const carried = new Map<string, CiJobRow>()
      if (tx.failedOnly) {
        // Successful jobs keep their result unless something they need reruns.
        const rerun = new Set(
          previous.filter((j) => j.conclusion !== "success").map((j) => j.job_id),
        )
        let grew = true
        while (grew) {
          grew = false
          for (const j of previous) {
            const p = JSON.parse(j.planned) as PlannedJob
            if (!rerun.has(j.job_id) && p.needs.some((n) => rerun.has(n))) {
              rerun.add(j.job_id)
              grew = true
            }
          }
        }
        for (const j of previous) if (!rerun.has(j.job_id)) carried.set(j.key, j)
      }
      yield* meta.ciUpdateRun(run.id, {
        run_attempt: run.run_attempt + 1,
        status: "queued",
        conclusion: null,
        cancel_requested: 0,
        actor_id: actor.id,
        actor_login: actor.login,
        updated_at: block.timestamp,
        started_at: block.timestamp,
      })
      const next = (yield* meta.ciRun(run.id))!
      yield* insertJobs(
        next,
        previous.map((j) => JSON.parse(j.planned) as PlannedJob),
        block,
        carried,
      )
      yield* runEvent(run.id, "requested", block)
      yield* advance(run.id, block)
      return done({ id: run.id, attempt: next.run_attempt })
    })

  /** The scope a token or runner transaction names, checked against the actor. */
  const needScopeAdmin = (owner: string, repoName: string | undefined, actor: UserRow) =>
    Effect.gen(function* () {
      if (repoName !== undefined) {
        const repo = yield* needLevel(owner, repoName, actor, "admin")
        return { kind: "repo" as ScopeKind, id: repo.id }
      }
      if (owner !== "") {
        const org = yield* needOrg(owner)
        yield* needOrgAdmin(org, actor)
        return { kind: "org" as ScopeKind, id: org.id }
      }
      if (actor.site_admin !== 1)
        return yield* reject("only administrators can create site-wide runners", {
          code: "forbidden",
        })
      return { kind: "site" as ScopeKind, id: 0 }
    })

  const createRunnerToken = (tx: T.CreateRunnerToken, block: Block, actor: UserRow) =>
    Effect.gen(function* () {
      const scope = yield* needScopeAdmin(tx.owner, tx.repo, actor)
      if (!/^[0-9a-f]{64}$/.test(tx.tokenHash)) return yield* reject("malformed token hash")
      if (yield* meta.ciRegistrationToken(tx.tokenHash))
        return yield* reject("token already exists")
      const expiresAt = block.timestamp + REGISTRATION_TOKEN_TTL_MS
      yield* meta.ciInsertRegistrationToken({
        hash: tx.tokenHash,
        scope_kind: scope.kind,
        scope_id: scope.id,
        creator_id: actor.id,
        created_at: block.timestamp,
        expires_at: expiresAt,
      })
      return done({ expiresAt })
    })

  const needNode = (actor: UserRow) =>
    actor.id === SYSTEM_USER
      ? Effect.void
      : reject("runner transactions come from the node serving the runner", { code: "forbidden" })

  const registerRunner = (tx: T.RegisterRunner, block: Block, actor: UserRow) =>
    Effect.gen(function* () {
      yield* needNode(actor)
      const reg = yield* meta.ciRegistrationToken(tx.registrationTokenHash)
      if (!reg || reg.expires_at <= block.timestamp)
        return yield* reject(
          "the registration token is unknown or expired; create a new one (POST …/actions/runners/registration-token)",
          { code: "unauthorized" },
        )
      const name = tx.name.trim()
      if (name === "" || name.length > 100)
        return yield* invalid("name", "name must be 1-100 characters")
      if (tx.labels.length > 50) return yield* invalid("labels", "at most 50 labels")
      if (!/^[0-9a-f]{64}$/.test(tx.runnerTokenHash)) return yield* reject("malformed token hash")
      if (yield* meta.ciRunnerByToken(tx.runnerTokenHash))
        return yield* reject("token already exists")
      const labels = normaliseLabels(tx.labels)
      const id = yield* meta.ciInsertRunner({
        name,
        labels: JSON.stringify(labels),
        token_hash: tx.runnerTokenHash,
        scope_kind: reg.scope_kind,
        scope_id: reg.scope_id,
        version: tx.version ?? null,
        created_at: block.timestamp,
      })
      return done({ id, name, labels })
    })

  const removeRunner = (tx: T.RemoveRunner, _block: Block, actor: UserRow) =>
    Effect.gen(function* () {
      const scope = yield* needScopeAdmin(tx.owner, tx.repo, actor)
      const runner = yield* meta.ciRunner(tx.runnerId)
      if (!runner || runner.scope_kind !== scope.kind || runner.scope_id !== scope.id)
        return yield* reject(`runner ${tx.runnerId} not found`, { code: "not_found" })
      yield* meta.ciDeleteRunner(runner.id)
      return done({ id: runner.id })
    })

  /** May this runner take jobs of this repository? */
  const runnerCovers = (runner: { scope_kind: string; scope_id: number }, repo: RepoRow) =>
    runner.scope_kind === "site" ||
    (runner.scope_kind === "repo" && runner.scope_id === repo.id) ||
    (runner.scope_kind === "org" && runner.scope_id === repo.owner_id)

  const claimJob = (tx: T.ClaimJob, block: Block, actor: UserRow) =>
    Effect.gen(function* () {
      yield* needNode(actor)
      const runner = yield* meta.ciRunner(tx.runnerId)
      if (!runner) return yield* reject(`runner ${tx.runnerId} not found`, { code: "unauthorized" })
      const job = yield* meta.ciJob(tx.jobId)
      if (job?.status !== "queued" || job.attempt !== tx.attempt)
        return yield* reject(`job ${tx.jobId} was claimed by another runner`, { code: "stale" })
      const repo = yield* meta.repoById(job.repo_id)
      const planned = JSON.parse(job.planned) as PlannedJob
      if (!repo || !runnerCovers(runner, repo))
        return yield* reject(`runner ${runner.id} may not run jobs of this repository`, {
          code: "forbidden",
        })
      if (!labelsMatch(planned.runsOn, JSON.parse(runner.labels)))
        return yield* reject(`runner ${runner.id} lacks labels ${planned.runsOn.join(", ")}`, {
          code: "forbidden",
        })
      if (!/^[0-9a-f]{64}$/.test(tx.gitTokenHash)) return yield* reject("malformed token hash")
      const run = (yield* meta.ciRun(job.run_id))!
      const leaseExpiresAt = block.timestamp + leaseOf(tx.leaseMs)
      yield* meta.ciUpdateJob(job.id, {
        status: "in_progress",
        runner_id: runner.id,
        runner_name: runner.name,
        lease_expires_at: leaseExpiresAt,
        git_token_hash: tx.gitTokenHash,
        started_at: block.timestamp,
      })
      if (run.status === "queued") {
        yield* meta.ciUpdateRun(run.id, { status: "in_progress", updated_at: block.timestamp })
        yield* runEvent(run.id, "in_progress", block)
      }
      yield* setStatus(repo.id, run, job.key, "pending", `Running on ${runner.name}`, block)
      return done({ leaseExpiresAt })
    })

  /** The job, if this runner holds it in this attempt. */
  const heldJob = (tx: { runnerId: number; jobId: number; attempt: number }, actor: UserRow) =>
    Effect.gen(function* () {
      yield* needNode(actor)
      const job = yield* meta.ciJob(tx.jobId)
      if (
        job?.status !== "in_progress" ||
        job.runner_id !== tx.runnerId ||
        job.attempt !== tx.attempt
      )
        return yield* reject(`runner ${tx.runnerId} does not hold job ${tx.jobId} any more`, {
          code: "stale",
        })
      const run = (yield* meta.ciRun(job.run_id))!
      return { job, run }
    })

  const renewJobLease = (tx: T.RenewJobLease, block: Block, actor: UserRow) =>
    Effect.gen(function* () {
      const { job, run } = yield* heldJob(tx, actor)
      const leaseExpiresAt = block.timestamp + leaseOf(tx.leaseMs)
      yield* meta.ciUpdateJob(job.id, { lease_expires_at: leaseExpiresAt })
      return done({
        leaseExpiresAt,
        cancelled: run.cancel_requested === 1 || job.cancel_requested === 1,
      })
    })

  const reportStep = (tx: T.ReportStep, block: Block, actor: UserRow) =>
    Effect.gen(function* () {
      const { job } = yield* heldJob(tx, actor)
      const steps = stepsOf(job)
      const i = steps.findIndex((s) => s.number === tx.number)
      if (i < 0) return yield* invalid("number", `job ${job.id} has no step ${tx.number}`)
      if (tx.status === "completed" && tx.conclusion === undefined)
        return yield* invalid("conclusion", "a completed step needs a conclusion")
      const s = steps[i]!
      steps[i] =
        tx.status === "in_progress"
          ? { ...s, status: "in_progress", started_at: s.started_at ?? block.timestamp }
          : {
              ...s,
              status: "completed",
              conclusion: tx.conclusion!,
              started_at: s.started_at ?? block.timestamp,
              completed_at: block.timestamp,
            }
      yield* meta.ciUpdateJob(job.id, { steps: JSON.stringify(steps) })
      return done({ number: tx.number })
    })

  const addArtifact = (tx: T.AddArtifact, block: Block, actor: UserRow) =>
    Effect.gen(function* () {
      const { job, run } = yield* heldJob(tx, actor)
      if (!ARTIFACT_NAME.test(tx.name))
        return yield* invalid("name", "artifact names are 1-100 of A-Z a-z 0-9 . _ -")
      if (!isObjectId(tx.blob) || !(yield* objects.has(tx.blob as ObjectId)))
        return yield* invalid("blob", `the artifact's bytes (${tx.blob}) are not stored`)
      for (const a of yield* meta.ciArtifactsOfRun(run.id)) {
        if (a.run_attempt !== run.run_attempt || a.name !== tx.name) continue
        if (a.job_row_id !== job.id)
          return yield* reject(`artifact ${tx.name} was uploaded by job ${a.job_key}`, {
            code: "conflict",
          })
        yield* meta.ciDeleteArtifact(a.id)
      }
      const id = yield* meta.ciInsertArtifact({
        run_id: run.id,
        run_attempt: run.run_attempt,
        job_row_id: job.id,
        job_key: job.key,
        repo_id: run.repo_id,
        name: tx.name,
        size: tx.size,
        content_type: tx.contentType,
        blob: tx.blob,
        digest: tx.digest,
        created_at: block.timestamp,
      })
      return done({ id })
    })

  const completeJob = (tx: T.CompleteJob, block: Block, actor: UserRow) =>
    Effect.gen(function* () {
      const { job, run } = yield* heldJob(tx, actor)
      if (!isObjectId(tx.logBlob) || !(yield* objects.has(tx.logBlob as ObjectId)))
        return yield* invalid("log", `the job's log (${tx.logBlob}) is not stored`)
      yield* meta.ciUpdateJob(job.id, {
        status: "completed",
        conclusion: tx.conclusion,
        outputs: JSON.stringify(tx.outputs),
        log_blob: tx.logBlob,
        log_size: tx.logSize,
        lease_expires_at: null,
        git_token_hash: null,
        completed_at: block.timestamp,
      })
      const description =
        tx.conclusion === "success"
          ? "Successful"
          : tx.conclusion === "cancelled"
            ? "Cancelled"
            : "Failed"
      yield* setStatus(run.repo_id, run, job.key, statusState(tx.conclusion), description, block)
      yield* advance(run.id, block)
      return done({ conclusion: tx.conclusion })
    })

  const setSecret = (tx: T.SetSecret, block: Block, actor: UserRow) =>
    Effect.gen(function* () {
      if (!/^[A-Za-z_][A-Za-z0-9_]{0,99}$/.test(tx.name) || /^GITHUB_/i.test(tx.name))
        return yield* invalid(
          "name",
          "secret names are letters, digits and _, not starting with a digit or GITHUB_",
        )
      let kind: "repo" | "org"
      let scopeId: number
      if (tx.repo !== undefined) {
        const repo = yield* needLevel(tx.owner, tx.repo, actor, "admin")
        kind = "repo"
        scopeId = repo.id
      } else {
        const org = yield* needOrg(tx.owner)
        yield* needOrgAdmin(org, actor)
        kind = "org"
        scopeId = org.id
      }
      if (
        tx.sealed !== undefined &&
        !/^v1:[A-Za-z0-9+/=]+:[A-Za-z0-9+/=]+:[A-Za-z0-9+/=]*$/.test(tx.sealed)
      )
        return yield* invalid("value", "the sealed secret is malformed")
      const existed = (yield* meta.ciSecrets(kind, scopeId)).some((s) => s.name === tx.name)
      if (tx.sealed === undefined && !existed)
        return yield* reject(`secret ${tx.name} not found`, { code: "not_found" })
      yield* meta.ciSetSecret(kind, scopeId, tx.name, tx.sealed ?? null, block.timestamp)
      return done({ created: !existed && tx.sealed !== undefined })
    })

  /** The block it is in did the work (`onBlock`); only the node itself sends one. */
  const tick = (_tx: T.CiTick, _block: Block, actor: UserRow) =>
    Effect.as(needNode(actor), done({}))

  return {
    tick,
    onBlock,
    onPush,
    onPull,
    onMerged,
    dispatchWorkflow,
    cancelRun,
    rerunRun,
    createRunnerToken,
    registerRunner,
    removeRunner,
    claimJob,
    renewJobLease,
    reportStep,
    addArtifact,
    completeJob,
    setSecret,
    workflowFiles,
  }
}
