/**
 * CiRuns: the request side of CI — what users ask of workflows, runs, jobs, artifacts,
 * secrets and runners (GitHub's Actions API), and what runners ask (the runner protocol,
 * src/domain/ci/RunnerProtocol.ts). Every change goes through a transaction (see
 * src/services/apply/Ci.ts); this service checks what it can quickly and builds the
 * answers.
 *
 * Node-local: a running job's log. Chunks a runner sends are held by the node it talks to,
 * pushed to `/ws` subscribers and served over the API while the job runs; completion seals
 * the log into a git blob, replicated to the other validators before the transaction that
 * names it (like release assets), so every node serves it afterwards.
 *
 * Secrets are sealed here at request time (AES-256-GCM, a fresh IV per secret, the name and
 * scope as associated data) under the cluster's secrets key, so the transaction carries only
 * ciphertext and apply stays deterministic; they are opened only for the runner that holds a
 * job's lease, in the claim's answer.
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes, randomUUID } from "node:crypto"
import { Context, Effect, Layer } from "effect"
import { interpolate } from "../domain/ci/Expression.ts"
import type {
  AssignedArtifact,
  AssignedStep,
  ClaimRequest,
  CompleteRequest,
  JobAssignment,
  LogChunk,
  RegisterRunnerRequest,
  StepReport,
} from "../domain/ci/RunnerProtocol.ts"
import { ARTIFACT_NAME, RUNNER_PROTOCOL_VERSION } from "../domain/ci/RunnerProtocol.ts"
import type { ExprContext, JobResult, PlannedJob, Workflow } from "../domain/ci/Workflow.ts"
import type { ObjectId } from "../domain/git/ObjectId.ts"
import {
  AddArtifact,
  CancelRun,
  RemoveRunner,
  ClaimJob,
  CompleteJob,
  CreateRunnerToken,
  DispatchWorkflow,
  RegisterRunner,
  RenewJobLease,
  ReportStep,
  RerunRun,
  SetSecret,
  SYSTEM_USER,
  type Transaction,
  type UserId,
} from "../domain/Transaction.ts"
import { LiveEvents } from "../layers/LiveEvents.ts"
import { githubContext, labelsMatch, leaseOf, normaliseLabels } from "./apply/Ci.ts"
import { hashToken, type Principal } from "./Auth.ts"
import type { CiJobRow, CiRunnerRow, CiRunRow } from "./CiTables.ts"
import { Conflict, Forbidden, Invalid, NotFound } from "./Errors.ts"
import { Ledger } from "./Ledger.ts"
import { Metadata, type RepoRow } from "./Metadata.ts"
import { NodeConfig } from "./NodeConfig.ts"
import { ObjectReplicator } from "./ObjectReplicator.ts"
import { ObjectStore } from "./ObjectStore.ts"
import { Repositories } from "./Repositories.ts"
import { submitTx } from "./Submit.ts"

/** A running job's log on this node: at most this much is kept (the rest is cut, said so). */
const MAX_LOG_BYTES = 64 * 1024 * 1024

/** Stands for the chunks a restarted node had acknowledged and lost. */
const LOST_BEFORE = "[the log before this point was lost: the node serving this runner restarted]\n"

interface LiveLog {
  readonly attempt: number
  readonly chunks: string[]
  bytes: number
  truncated: boolean
}

/** A refusal for a runner whose claim on a job ended (the protocol's 409). */
export class Stale extends Conflict {}

const sha256 = (b: Buffer | string) => createHash("sha256").update(b).digest("hex")

const make = Effect.gen(function* () {
  const meta = yield* Metadata
  const ledger = yield* Ledger
  const repos = yield* Repositories
  const objects = yield* ObjectStore
  const replicator = yield* ObjectReplicator
  const config = yield* NodeConfig
  const live = yield* LiveEvents
  const logs = new Map<number, LiveLog>()

  const submit = <D>(tx: Transaction, resource: string, field?: string) =>
    submitTx<D>(ledger, tx, resource, field)
  const node = () => ({ submitter: SYSTEM_USER, idempotencyKey: randomUUID() })
  const by = (p: Principal) => ({ submitter: p.user.id as UserId, idempotencyKey: randomUUID() })

  // --- secrets ---

  const secretsKey = () => {
    const raw = config.ciSecretsKey ?? process.env.GUTS_CI_SECRETS_KEY
    return raw ? createHash("sha256").update(`guts-ci-secrets\n${raw}`).digest() : undefined
  }
  const seal = (aad: string, value: string) => {
    const key = secretsKey()
    if (!key) return undefined
    const iv = randomBytes(12)
    const c = createCipheriv("aes-256-gcm", key, iv)
    c.setAAD(Buffer.from(aad))
    const ct = Buffer.concat([c.update(value, "utf8"), c.final()])
    return `v1:${iv.toString("base64")}:${c.getAuthTag().toString("base64")}:${ct.toString("base64")}`
  }
  const open = (aad: string, sealed: string) => {
    const key = secretsKey()
    const [v, iv, tag, ct] = sealed.split(":")
    if (!key || v !== "v1" || iv === undefined || tag === undefined || ct === undefined)
      return undefined
    try {
      const d = createDecipheriv("aes-256-gcm", key, Buffer.from(iv, "base64"))
      d.setAAD(Buffer.from(aad))
      d.setAuthTag(Buffer.from(tag, "base64"))
      return Buffer.concat([d.update(Buffer.from(ct, "base64")), d.final()]).toString("utf8")
    } catch {
      return undefined
    }
  }
  const secretAad = (kind: string, scopeId: number, name: string) => `${kind}/${scopeId}/${name}`

  /** Repository secrets over organisation secrets, opened (those that cannot be are left out). */
  const secretsFor = (repo: RepoRow) =>
    Effect.gen(function* () {
      const out: Record<string, string> = {}
      const owner = yield* meta.userById(repo.owner_id).pipe(Effect.orDie)
      const rows = [
        ...(owner?.type === "Organization"
          ? yield* meta.ciSecrets("org", owner.id).pipe(Effect.orDie)
          : []),
        ...(yield* meta.ciSecrets("repo", repo.id).pipe(Effect.orDie)),
      ]
      for (const r of rows) {
        const v = open(secretAad(r.scope_kind, r.scope_id, r.name), r.sealed)
        if (v === undefined)
          yield* Effect.logWarning(
            `CI: secret ${r.name} cannot be opened with this node's secrets key; the job runs without it`,
          )
        else out[r.name] = v
      }
      return out
    })

  const setSecret = (
    p: Principal,
    owner: string,
    repoName: string | undefined,
    name: string,
    value: string | undefined,
  ) =>
    Effect.gen(function* () {
      if (owner === "") return yield* new NotFound({ what: "the site has no secrets" })
      const scope = yield* adminScope(p, owner, repoName)
      const kind = scope.kind === "repo" ? "repo" : "org"
      const scopeId = scope.id
      let sealed: string | undefined
      if (value !== undefined) {
        sealed = seal(secretAad(kind, scopeId, name), value)
        if (sealed === undefined)
          return yield* new Invalid({
            reason:
              "this node has no CI secrets key: set ciSecretsKey (or GUTS_CI_SECRETS_KEY), the same on every validator",
            resource: "Secret",
            field: "value",
            code: "custom",
          })
      }
      return yield* submit<{ created: boolean }>(
        SetSecret.make({ ...by(p), owner: scope.owner, repo: scope.repo, name, sealed }),
        "Secret",
        "name",
      )
    })

  const secrets = (p: Principal, owner: string, repoName: string | undefined) =>
    Effect.gen(function* () {
      if (repoName !== undefined) {
        const { repo } = yield* repos.access(owner, repoName, p, "admin")
        return yield* meta.ciSecrets("repo", repo.id).pipe(Effect.orDie)
      }
      const org = yield* meta.userByLogin(owner).pipe(Effect.orDie)
      if (org?.type !== "Organization") return yield* new NotFound({ what: owner })
      const role =
        p.user.site_admin === 1
          ? "admin"
          : yield* meta.orgRole(org.id, p.user.id).pipe(Effect.orDie)
      if (role !== "admin")
        return yield* new Forbidden({ reason: `you must be an owner of ${org.login}` })
      return yield* meta.ciSecrets("org", org.id).pipe(Effect.orDie)
    })

  // --- users: workflows, runs, jobs, artifacts ---

  const readable = (owner: string, name: string, p: Principal | undefined) =>
    Effect.map(repos.access(owner, name, p, "read"), (f) => f.repo)

  const runOf = (repo: RepoRow, id: number) =>
    Effect.flatMap(meta.ciRun(id).pipe(Effect.orDie), (r) =>
      r && r.repo_id === repo.id
        ? Effect.succeed(r)
        : Effect.fail(new NotFound({ what: `workflow run ${id}` })),
    )
  const jobOf = (repo: RepoRow, id: number) =>
    Effect.flatMap(meta.ciJob(id).pipe(Effect.orDie), (j) =>
      j && j.repo_id === repo.id
        ? Effect.succeed(j)
        : Effect.fail(new NotFound({ what: `job ${id}` })),
    )

  const workflows = (owner: string, name: string, p: Principal | undefined) =>
    Effect.gen(function* () {
      const repo = yield* readable(owner, name, p)
      return { repo, rows: yield* meta.ciWorkflows(repo.id).pipe(Effect.orDie) }
    })

  const workflow = (owner: string, name: string, idOrFile: string, p: Principal | undefined) =>
    Effect.gen(function* () {
      const repo = yield* readable(owner, name, p)
      const rows = yield* meta.ciWorkflows(repo.id).pipe(Effect.orDie)
      const row = rows.find(
        (w) =>
          String(w.id) === idOrFile ||
          w.path === idOrFile ||
          w.path.slice(w.path.lastIndexOf("/") + 1) === idOrFile,
      )
      if (!row) return yield* new NotFound({ what: `workflow ${idOrFile}` })
      return { repo, row }
    })

  const runs = (
    owner: string,
    name: string,
    p: Principal | undefined,
    f: {
      workflowId?: number | undefined
      branch?: string | undefined
      event?: string | undefined
      status?: string | undefined
      headSha?: string | undefined
      limit: number
      offset: number
    },
  ) =>
    Effect.gen(function* () {
      const repo = yield* readable(owner, name, p)
      return { repo, ...(yield* meta.ciRuns({ repoId: repo.id, ...f }).pipe(Effect.orDie)) }
    })

  const run = (owner: string, name: string, id: number, p: Principal | undefined) =>
    Effect.gen(function* () {
      const repo = yield* readable(owner, name, p)
      return { repo, run: yield* runOf(repo, id) }
    })

  const jobs = (
    owner: string,
    name: string,
    id: number,
    p: Principal | undefined,
    attempt?: number,
  ) =>
    Effect.gen(function* () {
      const repo = yield* readable(owner, name, p)
      const r = yield* runOf(repo, id)
      return {
        repo,
        run: r,
        jobs: yield* meta.ciJobsOfRun(r.id, attempt ?? r.run_attempt).pipe(Effect.orDie),
      }
    })

  const job = (owner: string, name: string, id: number, p: Principal | undefined) =>
    Effect.gen(function* () {
      const repo = yield* readable(owner, name, p)
      const j = yield* jobOf(repo, id)
      return { repo, job: j, run: (yield* meta.ciRun(j.run_id).pipe(Effect.orDie))! }
    })

  /** A job's log: sealed when it completed; while it runs, what this node has received. */
  const jobLog = (owner: string, name: string, id: number, p: Principal | undefined) =>
    Effect.gen(function* () {
      const { job: j } = yield* job(owner, name, id, p)
      if (j.log_blob) {
        const o = yield* objects.get(j.log_blob as ObjectId).pipe(Effect.orDie)
        return { text: Buffer.from(o.content).toString("utf8"), complete: true, chunks: 0 }
      }
      const l = logs.get(j.id)
      const mine = l && l.attempt === j.attempt ? l : undefined
      // `chunks`: how many chunks the text holds (the next live chunk's seq).
      return {
        text: mine ? mine.chunks.join("") : "",
        complete: false,
        chunks: mine?.chunks.length ?? 0,
      }
    })

  const cancel = (owner: string, name: string, id: number, p: Principal) =>
    Effect.gen(function* () {
      const { repo } = yield* repos.access(owner, name, p, "write")
      yield* submit(
        CancelRun.make({ ...by(p), owner: repo.owner_login, repo: repo.name, runId: id }),
        "WorkflowRun",
        "id",
      )
    })

  const rerun = (owner: string, name: string, id: number, p: Principal, failedOnly: boolean) =>
    Effect.gen(function* () {
      const { repo } = yield* repos.access(owner, name, p, "write")
      yield* submit(
        RerunRun.make({
          ...by(p),
          owner: repo.owner_login,
          repo: repo.name,
          runId: id,
          failedOnly,
        }),
        "WorkflowRun",
        "id",
      )
    })

  const dispatch = (
    owner: string,
    name: string,
    workflowRef: string,
    p: Principal,
    ref: string,
    inputs: Record<string, string>,
  ) =>
    Effect.gen(function* () {
      const { repo } = yield* repos.access(owner, name, p, "write")
      return yield* submit<{ runId: number }>(
        DispatchWorkflow.make({
          ...by(p),
          owner: repo.owner_login,
          repo: repo.name,
          workflow: workflowRef,
          ref,
          inputs,
        }),
        "WorkflowDispatch",
        "ref",
      )
    })

  const artifacts = (owner: string, name: string, runId: number, p: Principal | undefined) =>
    Effect.gen(function* () {
      const repo = yield* readable(owner, name, p)
      const r = yield* runOf(repo, runId)
      return { repo, run: r, rows: yield* meta.ciArtifactsOfRun(r.id).pipe(Effect.orDie) }
    })

  const artifact = (owner: string, name: string, id: number, p: Principal | undefined) =>
    Effect.gen(function* () {
      const repo = yield* readable(owner, name, p)
      const a = yield* meta.ciArtifact(id).pipe(Effect.orDie)
      if (!a || a.repo_id !== repo.id) return yield* new NotFound({ what: `artifact ${id}` })
      return { repo, artifact: a, run: (yield* meta.ciRun(a.run_id).pipe(Effect.orDie))! }
    })

  const bytesOf = (blob: string) =>
    Effect.map(objects.get(blob as ObjectId).pipe(Effect.orDie), (o) => Buffer.from(o.content))

  // --- runners: registration ---

  /** A registration token for a repository (`repo`), an organisation, or the site (`owner` ""). */
  const registrationToken = (p: Principal, owner: string, repoName: string | undefined) =>
    Effect.gen(function* () {
      const scope = yield* adminScope(p, owner, repoName)
      const token = `gutsreg_${randomBytes(20).toString("hex")}`
      const { expiresAt } = yield* submit<{ expiresAt: number }>(
        CreateRunnerToken.make({
          ...by(p),
          owner: scope.owner,
          repo: scope.repo,
          tokenHash: hashToken(token),
        }),
        "RegistrationToken",
        "owner",
      )
      return { token, expiresAt }
    })

  /** The scope (`owner`/`repo`, an organisation, or "" for the site) the caller administers. */
  const adminScope = (p: Principal, owner: string, repoName: string | undefined) =>
    Effect.gen(function* () {
      if (repoName !== undefined) {
        const { repo } = yield* repos.access(owner, repoName, p, "admin")
        return { kind: "repo" as const, id: repo.id, owner: repo.owner_login, repo: repo.name }
      }
      if (owner === "") {
        if (p.user.site_admin !== 1)
          return yield* new Forbidden({ reason: "only administrators manage site-wide runners" })
        return { kind: "site" as const, id: 0, owner: "", repo: undefined }
      }
      const org = yield* meta.userByLogin(owner).pipe(Effect.orDie)
      if (org?.type !== "Organization") return yield* new NotFound({ what: owner })
      const role =
        p.user.site_admin === 1
          ? "admin"
          : yield* meta.orgRole(org.id, p.user.id).pipe(Effect.orDie)
      if (role !== "admin")
        return yield* new Forbidden({ reason: `you must be an owner of ${org.login}` })
      return { kind: "org" as const, id: org.id, owner: org.login, repo: undefined }
    })

  /** Runners of a scope, with whether each holds a job now. */
  const runners = (p: Principal, owner: string, repoName: string | undefined) =>
    Effect.gen(function* () {
      const scope = yield* adminScope(p, owner, repoName)
      const rows = yield* meta.ciRunners(scope.kind, scope.id).pipe(Effect.orDie)
      const busy = new Set((yield* meta.ciBusyRunners.pipe(Effect.orDie)).map((r) => r.runner_id))
      return rows.map((r) => ({ runner: r, busy: busy.has(r.id) }))
    })

  const removeRunner = (p: Principal, owner: string, repoName: string | undefined, id: number) =>
    Effect.gen(function* () {
      const scope = yield* adminScope(p, owner, repoName)
      yield* submit(
        RemoveRunner.make({ ...by(p), owner: scope.owner, repo: scope.repo, runnerId: id }),
        "Runner",
        "id",
      )
    })

  const register = (req: RegisterRunnerRequest) =>
    Effect.gen(function* () {
      const token = `gutsrun_${randomBytes(20).toString("hex")}`
      const d = yield* ledger.submit(
        RegisterRunner.make({
          ...node(),
          registrationTokenHash: hashToken(req.token),
          runnerTokenHash: hashToken(token),
          name: req.name,
          labels: req.labels,
          version: req.version,
        }),
      )
      if (d._tag === "Rejected") return { _tag: "Refused", refused: d } as const
      const detail = d.detail as { id: number; name: string; labels: string[] }
      return { _tag: "Registered", runner: { ...detail, token } } as const
    })

  const runnerByToken = (token: string) => meta.ciRunnerByToken(hashToken(token)).pipe(Effect.orDie)

  // --- runners: jobs ---

  const runnerCovers = (runner: CiRunnerRow, repo: RepoRow) =>
    runner.scope_kind === "site" ||
    (runner.scope_kind === "repo" && runner.scope_id === repo.id) ||
    (runner.scope_kind === "org" && runner.scope_id === repo.owner_id)

  /** Ids of the jobs (by workflow job id) `jobId` depends on, directly or not. */
  const ancestorsOf = (planned: ReadonlyArray<PlannedJob>, jobId: string) => {
    const needs = new Map(planned.map((p) => [p.jobId, p.needs]))
    const seen = new Set<string>()
    const walk = (id: string) => {
      for (const n of needs.get(id) ?? [])
        if (!seen.has(n)) {
          seen.add(n)
          walk(n)
        }
    }
    walk(jobId)
    return seen
  }

  const assignment = (
    base: string,
    runner: CiRunnerRow,
    job: CiJobRow,
    gitToken: string,
    leaseExpiresAt: number,
  ) =>
    Effect.gen(function* () {
      const r = (yield* meta.ciRun(job.run_id).pipe(Effect.orDie))!
      const repo = (yield* meta.repoById(r.repo_id).pipe(Effect.orDie))!
      const workflow = JSON.parse(r.workflow!) as Workflow
      const spec = workflow.jobs.find((s) => s.id === job.job_id)!
      const planned = JSON.parse(job.planned) as PlannedJob
      const siblings = yield* meta.ciJobsOfRun(r.id, r.run_attempt).pipe(Effect.orDie)
      const needs: Record<string, { result: JobResult; outputs: Record<string, string> }> = {}
      for (const n of planned.needs) {
        const of = siblings.filter((s) => s.job_id === n)
        const results = of.map((s) => (s.conclusion ?? "failure") as JobResult)
        const outputs: Record<string, string> = {}
        for (const s of of) Object.assign(outputs, JSON.parse(s.outputs))
        needs[n] = {
          result: results.includes("failure")
            ? "failure"
            : results.includes("cancelled")
              ? "cancelled"
              : results.length > 0 && results.every((x) => x === "skipped")
                ? "skipped"
                : "success",
          outputs,
        }
      }
      const secretValues = yield* secretsFor(repo)
      const github = { ...githubContext(r, repo, job.job_id), server_url: base }
      const inputs = (JSON.parse(r.trigger) as { inputs?: Record<string, string> }).inputs ?? {}
      const ctx: ExprContext = {
        github,
        env: {},
        matrix: planned.matrix,
        needs,
        inputs,
        secrets: secretValues,
        jobStatus: "success",
      }
      const env: Record<string, string> = {}
      for (const [k, v] of Object.entries({ ...workflow.env, ...spec.env })) {
        try {
          env[k] = interpolate(v, { ...ctx, env })
        } catch {
          env[k] = v
        }
      }
      const steps: AssignedStep[] = spec.steps.map((s, i) => ({
        number: i + 1,
        name: s.name ?? `Run ${s.run.trim().split("\n")[0]!.slice(0, 80)}`,
        ...(s.id !== undefined ? { id: s.id } : {}),
        run: s.run,
        ...(s.shell !== undefined ? { shell: s.shell } : {}),
        ...(s.workingDirectory !== undefined ? { workingDirectory: s.workingDirectory } : {}),
        env: s.env,
        ...(s.if !== undefined ? { if: s.if } : {}),
        ...(s.timeoutMinutes !== undefined ? { timeoutMinutes: s.timeoutMinutes } : {}),
        continueOnError: s.continueOnError,
      }))
      const upstream = ancestorsOf(
        siblings.map((s) => JSON.parse(s.planned) as PlannedJob),
        job.job_id,
      )
      const keysUpstream = new Set(siblings.filter((s) => upstream.has(s.job_id)).map((s) => s.key))
      const artifacts: AssignedArtifact[] = (yield* meta.ciArtifactsOfRun(r.id).pipe(Effect.orDie))
        .filter((a) => a.run_attempt === r.run_attempt && keysUpstream.has(a.job_key))
        .map((a) => ({
          id: a.id,
          name: a.name,
          jobKey: a.job_key,
          size: a.size,
          contentType: a.content_type,
          url: `${base}/api/runners/jobs/${job.id}/artifacts/${encodeURIComponent(a.name)}`,
        }))
      const answer: JobAssignment = {
        protocol: RUNNER_PROTOCOL_VERSION,
        jobId: job.id,
        attempt: job.attempt,
        runId: r.id,
        runNumber: r.run_number,
        runAttempt: r.run_attempt,
        repository: {
          owner: repo.owner_login,
          name: repo.name,
          fullName: `${repo.owner_login}/${repo.name}`,
          cloneUrl: `${base}/${repo.owner_login}/${repo.name}.git`,
        },
        sha: r.checkout_sha,
        ref: r.ref,
        gitToken,
        workflow: { name: r.workflow_name, path: r.workflow_path },
        job: planned,
        steps,
        context: { github, env, matrix: planned.matrix, needs, inputs },
        secrets: secretValues,
        timeoutMinutes: spec.timeoutMinutes,
        continueOnError: spec.continueOnError,
        artifacts,
        leaseSeconds: leaseOf(config.ciLeaseMs) / 1000,
        // Four chances to renew before the lease ends.
        heartbeatSeconds: Math.max(0.5, leaseOf(config.ciLeaseMs) / 4000),
        leaseExpiresAt,
      }
      void runner
      return answer
    })

  /** One pass over the queue: the oldest job this runner may take, claimed; or undefined. */
  const claimOnce = (base: string, runner: CiRunnerRow, labels: ReadonlyArray<string>) =>
    Effect.gen(function* () {
      const skip = new Set<number>()
      for (let tries = 0; tries < 20; tries++) {
        let candidate: CiJobRow | undefined
        for (const j of yield* meta.ciQueuedJobs.pipe(Effect.orDie)) {
          if (skip.has(j.id)) continue
          const repo = yield* meta.repoById(j.repo_id).pipe(Effect.orDie)
          if (!repo || !runnerCovers(runner, repo)) continue
          if (!labelsMatch((JSON.parse(j.planned) as PlannedJob).runsOn, labels)) continue
          candidate = j
          break
        }
        if (!candidate) return undefined
        const gitToken = `gutsjob_${randomBytes(20).toString("hex")}`
        const outcome = yield* ledger.submit(
          ClaimJob.make({
            ...node(),
            runnerId: runner.id,
            jobId: candidate.id,
            attempt: candidate.attempt,
            gitTokenHash: hashToken(gitToken),
            leaseMs: config.ciLeaseMs,
          }),
        )
        if (outcome._tag === "Rejected") {
          skip.add(candidate.id)
          continue
        }
        const { leaseExpiresAt } = outcome.detail as { leaseExpiresAt: number }
        const claimed = (yield* meta.ciJob(candidate.id).pipe(Effect.orDie))!
        logs.set(claimed.id, { attempt: claimed.attempt, chunks: [], bytes: 0, truncated: false })
        return yield* assignment(base, runner, claimed, gitToken, leaseExpiresAt)
      }
      return undefined
    })

  const claim = (base: string, runner: CiRunnerRow, req: ClaimRequest) =>
    Effect.gen(function* () {
      const labels = req.labels
        ? normaliseLabels(req.labels)
        : (JSON.parse(runner.labels) as string[])
      const until = Date.now() + Math.min(60, Math.max(0, req.waitSeconds ?? 0)) * 1000
      for (;;) {
        const got = yield* claimOnce(base, runner, labels)
        if (got || Date.now() >= until) return got
        yield* Effect.sleep("500 millis")
      }
    })

  /** The job if this runner holds it (by this node's state; apply checks again). */
  const held = (runner: CiRunnerRow, jobId: number) =>
    Effect.gen(function* () {
      const j = yield* meta.ciJob(jobId).pipe(Effect.orDie)
      if (!j) return yield* new NotFound({ what: `job ${jobId}` })
      if (j.status !== "in_progress" || j.runner_id !== runner.id)
        return yield* new Stale({ reason: `job ${jobId} is not held by this runner any more` })
      return j
    })

  const runnerTx = <D>(tx: Transaction) =>
    Effect.flatMap(ledger.submit(tx), (o) =>
      o._tag === "Rejected"
        ? Effect.fail(
            (o.detail as { code?: string } | undefined)?.code === "stale"
              ? new Stale({ reason: o.reason })
              : new Invalid({ reason: o.reason, resource: "Job", field: "body", code: "custom" }),
          )
        : Effect.succeed(o.detail as D),
    )

  const heartbeat = (runner: CiRunnerRow, jobId: number) =>
    Effect.gen(function* () {
      const j = yield* held(runner, jobId)
      return yield* runnerTx<{ cancelled: boolean; leaseExpiresAt: number }>(
        RenewJobLease.make({
          ...node(),
          runnerId: runner.id,
          jobId,
          attempt: j.attempt,
          leaseMs: config.ciLeaseMs,
        }),
      )
    })

  const appendLog = (runner: CiRunnerRow, jobId: number, chunk: LogChunk) =>
    Effect.gen(function* () {
      const j = yield* held(runner, jobId)
      let l = logs.get(jobId)
      if (!l || l.attempt !== j.attempt) {
        l = { attempt: j.attempt, chunks: [], bytes: 0, truncated: false }
        logs.set(jobId, l)
        // This node restarted while the job ran: what it had acknowledged is gone. Say so in
        // the log rather than ask the runner for chunks it has already let go.
        if (chunk.seq > 0) {
          l.chunks.push(LOST_BEFORE)
          for (let i = 1; i < chunk.seq; i++) l.chunks.push("")
        }
      }
      if (chunk.seq !== l.chunks.length) return { expected: l.chunks.length }
      const size = Buffer.byteLength(chunk.text)
      let text = chunk.text
      if (l.bytes + size > MAX_LOG_BYTES) {
        text = l.truncated
          ? ""
          : `\n[the log passed ${MAX_LOG_BYTES} bytes; the rest is not kept]\n`
        l.truncated = true
      }
      l.chunks.push(text)
      l.bytes += Buffer.byteLength(text)
      if (text !== "") {
        const repo = yield* meta.repoById(j.repo_id).pipe(Effect.orDie)
        if (repo)
          yield* live.publishLocal(repo, "workflow_job", "log", {
            job_id: j.id,
            run_id: j.run_id,
            seq: chunk.seq,
            ...(chunk.step !== undefined ? { step: chunk.step } : {}),
            text,
          })
      }
      return { expected: l.chunks.length }
    })

  const reportStep = (runner: CiRunnerRow, jobId: number, number: number, report: StepReport) =>
    Effect.gen(function* () {
      const j = yield* held(runner, jobId)
      if (report.status === "completed" && report.conclusion === undefined)
        return yield* new Invalid({
          reason: "a completed step needs a conclusion",
          resource: "Step",
          field: "conclusion",
          code: "missing_field",
        })
      yield* runnerTx(
        ReportStep.make({
          ...node(),
          runnerId: runner.id,
          jobId,
          attempt: j.attempt,
          number,
          status: report.status,
          conclusion: report.conclusion,
        }),
      )
    })

  const storeBlob = (bytes: Buffer) =>
    Effect.gen(function* () {
      const blob = yield* objects.put("blob", bytes).pipe(Effect.orDie)
      const stored = yield* objects.getStored(blob).pipe(Effect.orDie)
      // The other validators hold the bytes before any of them applies the transaction.
      yield* replicator.replicate([stored])
      return blob
    })

  const uploadArtifact = (
    runner: CiRunnerRow,
    jobId: number,
    name: string,
    contentType: string,
    bytes: Buffer,
  ) =>
    Effect.gen(function* () {
      const j = yield* held(runner, jobId)
      if (!ARTIFACT_NAME.test(name))
        return yield* new Invalid({
          reason: "artifact names are 1-100 of A-Z a-z 0-9 . _ -",
          resource: "Artifact",
          field: "name",
          code: "invalid",
        })
      const type = ["application/x-tar", "application/zip"].includes(contentType)
        ? contentType
        : "application/octet-stream"
      const blob = yield* storeBlob(bytes)
      const digest = sha256(bytes)
      const { id } = yield* runnerTx<{ id: number }>(
        AddArtifact.make({
          ...node(),
          runnerId: runner.id,
          jobId,
          attempt: j.attempt,
          name,
          contentType: type,
          blob,
          digest,
          size: bytes.length,
        }),
      )
      return { id, name, size: bytes.length, digest }
    })

  const downloadArtifact = (runner: CiRunnerRow, jobId: number, name: string) =>
    Effect.gen(function* () {
      const j = yield* held(runner, jobId)
      const r = (yield* meta.ciRun(j.run_id).pipe(Effect.orDie))!
      const a = (yield* meta.ciArtifactsOfRun(r.id).pipe(Effect.orDie)).find(
        (x) => x.run_attempt === r.run_attempt && x.name === name,
      )
      if (!a) return yield* new NotFound({ what: `artifact ${name}` })
      return { artifact: a, bytes: yield* bytesOf(a.blob) }
    })

  const complete = (runner: CiRunnerRow, jobId: number, req: CompleteRequest) =>
    Effect.gen(function* () {
      const now = yield* meta.ciJob(jobId).pipe(Effect.orDie)
      if (!now) return yield* new NotFound({ what: `job ${jobId}` })
      // A retried completion that already went through: the same answer again.
      if (now.status === "completed" && now.runner_id === runner.id && now.log_blob) {
        return {
          conclusion: now.conclusion as JobResult,
          logDigest: sha256(yield* bytesOf(now.log_blob)),
        }
      }
      const j = yield* held(runner, jobId)
      let l = logs.get(jobId)
      if ((!l || l.attempt !== j.attempt) && req.logChunks > 0) {
        // Restarted since the last chunk: the log is lost, and the log says so.
        l = { attempt: j.attempt, chunks: [LOST_BEFORE], bytes: 0, truncated: false }
        for (let i = 1; i < req.logChunks; i++) l.chunks.push("")
      }
      const have = l && l.attempt === j.attempt ? l.chunks.length : 0
      if (req.logChunks > have)
        return yield* new Invalid({
          reason: `log chunk ${have} is missing; send chunks ${have}..${req.logChunks - 1} first`,
          resource: "Job",
          field: "logChunks",
          code: "custom",
        })
      const text = l && l.attempt === j.attempt ? l.chunks.join("") : ""
      const bytes = Buffer.from(text, "utf8")
      const blob = yield* storeBlob(bytes)
      yield* runnerTx(
        CompleteJob.make({
          ...node(),
          runnerId: runner.id,
          jobId,
          attempt: j.attempt,
          conclusion: req.conclusion,
          outputs: req.outputs ?? {},
          logBlob: blob,
          logSize: bytes.length,
        }),
      )
      logs.delete(jobId)
      return { conclusion: req.conclusion as JobResult, logDigest: sha256(bytes) }
    })

  return {
    workflows,
    workflow,
    runs,
    run,
    jobs,
    job,
    jobLog,
    cancel,
    rerun,
    dispatch,
    artifacts,
    artifact,
    bytesOf,
    setSecret,
    secrets,
    registrationToken,
    runners,
    removeRunner,
    register,
    runnerByToken,
    claim,
    heartbeat,
    appendLog,
    reportStep,
    uploadArtifact,
    downloadArtifact,
    complete,
  }
})

export type { CiRunRow }

export class CiRuns extends Context.Tag("guts/CiRuns")<
  CiRuns,
  Effect.Effect.Success<typeof make>
>() {
  static readonly Live = Layer.effect(CiRuns, make)
}
