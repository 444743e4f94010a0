/**
 * The runner loop: register (or reuse the registration saved in the work directory),
 * claim a job with the runner's labels, run it, report it, repeat. One job at a time.
 *
 * For each job:
 * - a clean workspace (Workspace.ts), the job's commit checked out from the node, the
 *   artifacts of the jobs it needs unpacked under `$GUTS_NEEDS_ARTIFACTS`;
 * - the lease renewed every `heartbeatSeconds`; the heartbeat's `cancelled` stops the
 *   current step's process group and completes the job `cancelled`; a lost lease (409, or
 *   no successful heartbeat for `leaseSeconds`) stops it and discards the job without
 *   completing it (the node gives it to another runner);
 * - each step's `if` evaluated, its script interpolated, run by the Executor under the
 *   job's and the step's timeouts, reported `in_progress` then `completed`;
 * - the log streamed in numbered chunks (LogStream.ts), every line masked — the job's
 *   secrets and its git token never leave the runner in clear;
 * - `$GUTS_ARTIFACTS/<name>` uploaded, then the job completed, then the workspace
 *   removed (also when anything failed).
 *
 * Stopping (`signal` aborted, e.g. SIGINT/SIGTERM): no new claim; the current step's
 * processes are stopped and the job is completed as `failure` with a log line saying the
 * runner shut down.
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { evaluateIf, interpolate } from "../domain/ci/Expression.ts"
import { makeMasker } from "../domain/ci/Mask.ts"
import type { AssignedStep, JobAssignment } from "../domain/ci/RunnerProtocol.ts"
import type { ExprContext } from "../domain/ci/Workflow.ts"
import { GUTS_VERSION } from "../domain/Version.ts"
import { executeStep, prlimitArgs, type ResourceLimits, type StepOutcome } from "./Executor.ts"
import { LogStream } from "./LogStream.ts"
import {
  JobCancelled,
  LeaseLost,
  RunnerClient,
  RunnerRejected,
  Stopped,
  sleep,
} from "./RunnerClient.ts"
import {
  checkout,
  collectArtifacts,
  createJobDirs,
  type JobDirs,
  packArtifact,
  placeNeededArtifact,
  removeJobDirs,
  resolveWorkingDirectory,
} from "./Workspace.ts"

export interface RunnerOptions {
  /** The node's base URL. */
  readonly url: string
  /** A registration token; needed only when the work directory has no saved registration. */
  readonly registrationToken?: string
  /** Extra labels (`self-hosted` is always there); empty: the registered ones. */
  readonly labels: ReadonlyArray<string>
  readonly workDir: string
  readonly name?: string
  /** Take one job, run it, and return. */
  readonly once: boolean
  readonly limits: ResourceLimits
  /** Between SIGTERM and SIGKILL when a step is stopped (default 5 s). */
  readonly killGraceMs?: number
  /** Long-poll length of a claim (default 20 s). */
  readonly claimWaitSeconds?: number
  /** The runner's own messages (not job logs). */
  readonly say?: (message: string) => void
}

export interface SavedRegistration {
  readonly url: string
  readonly id: number
  readonly name: string
  readonly labels: ReadonlyArray<string>
  readonly token: string
}

export const registrationFile = (workDir: string) => path.join(workDir, "runner.json")

const sameUrl = (a: string, b: string) => a.replace(/\/+$/, "") === b.replace(/\/+$/, "")

/**
 * The saved registration for this node, or a new one (saved, mode 0600). Errors say what
 * to do: pass `--token`, or delete the file to register again.
 */
export const loadOrRegister = async (
  client: RunnerClient,
  opts: RunnerOptions,
  signal?: AbortSignal,
): Promise<SavedRegistration> => {
  const file = registrationFile(opts.workDir)
  if (fs.existsSync(file)) {
    let saved: SavedRegistration
    try {
      saved = JSON.parse(fs.readFileSync(file, "utf8")) as SavedRegistration
    } catch (err) {
      throw new Error(
        `${file} is not a readable registration (${(err as Error).message}): delete it and register again with --token`,
      )
    }
    if (typeof saved.token !== "string" || typeof saved.url !== "string")
      throw new Error(`${file} lacks a url or token: delete it and register again with --token`)
    if (sameUrl(saved.url, opts.url)) return saved
    if (opts.registrationToken === undefined)
      throw new Error(
        `${file} registers this runner with ${saved.url}, not ${opts.url}: pass --token to register with ${opts.url} (this replaces the saved registration), or use another --work-dir`,
      )
  } else if (opts.registrationToken === undefined) {
    throw new Error(
      `no saved registration in ${file}: pass --token with a registration token (POST /api/repos/{owner}/{repo}/actions/runners/registration-token)`,
    )
  }
  const registered = await client.register(
    {
      token: opts.registrationToken as string,
      name: (opts.name ?? os.hostname()).slice(0, 100) || "guts-runner",
      labels: [...opts.labels],
      version: GUTS_VERSION,
    },
    signal,
  )
  const saved: SavedRegistration = {
    url: opts.url,
    id: registered.id,
    name: registered.name,
    labels: registered.labels,
    token: registered.token,
  }
  fs.mkdirSync(opts.workDir, { recursive: true })
  const tmp = `${file}.tmp`
  fs.writeFileSync(tmp, `${JSON.stringify(saved, null, 2)}\n`, { mode: 0o600 })
  fs.renameSync(tmp, file)
  return saved
}

/** How a job ended on this runner. `lost`: the lease was lost and nothing was completed. */
export type JobEnd = "success" | "failure" | "cancelled" | "lost"

type StopReason = "cancelled" | "lost" | "timeout" | "shutdown"

/**
 * Parses `$GITHUB_ENV` (and `$GITHUB_PATH`) as GitHub does: `NAME=value` lines and
 * `NAME<<DELIMITER` … `DELIMITER` blocks.
 */
export const parseEnvFile = (text: string): Record<string, string> => {
  const out: Record<string, string> = {}
  const lines = text.split("\n")
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].replace(/\r$/, "")
    if (line === "") continue
    const heredoc = /^([^=<\s]+)<<(.+)$/.exec(line)
    if (heredoc) {
      const value: string[] = []
      i++
      while (i < lines.length && lines[i].replace(/\r$/, "") !== heredoc[2]) value.push(lines[i++])
      out[heredoc[1]] = value.join("\n")
      continue
    }
    const eq = line.indexOf("=")
    if (eq > 0) out[line.slice(0, eq)] = line.slice(eq + 1)
  }
  return out
}

const str = (v: unknown, fallback = "") => (v === undefined || v === null ? fallback : String(v))

/** The variables every step sees (docs/runner.md lists them). */
export const jobEnvironment = (
  a: JobAssignment,
  dirs: JobDirs,
  runnerName: string,
  serverUrl: string,
): Record<string, string> => {
  const g = a.context.github
  const refName = str(g.ref_name, a.ref.replace(/^refs\/(heads|tags)\//, ""))
  return {
    PATH: process.env.PATH ?? "/usr/local/bin:/usr/bin:/bin",
    HOME: dirs.home,
    LANG: "C.UTF-8",
    TMPDIR: dirs.temp,
    CI: "true",
    GUTS: "true",
    GITHUB_WORKSPACE: dirs.workspace,
    GITHUB_SHA: a.sha,
    GITHUB_REF: a.ref,
    GITHUB_REF_NAME: refName,
    GITHUB_REPOSITORY: a.repository.fullName,
    GITHUB_REPOSITORY_OWNER: a.repository.owner,
    GITHUB_RUN_ID: String(a.runId),
    GITHUB_RUN_NUMBER: String(a.runNumber),
    GITHUB_RUN_ATTEMPT: String(a.runAttempt),
    GITHUB_JOB: a.job.jobId,
    GITHUB_WORKFLOW: a.workflow.name,
    GITHUB_EVENT_NAME: str(g.event_name),
    GITHUB_ACTOR: str(g.actor),
    GITHUB_SERVER_URL: serverUrl,
    GITHUB_API_URL: `${serverUrl}/api`,
    GITHUB_ENV: path.join(dirs.temp, "github_env"),
    GITHUB_PATH: path.join(dirs.temp, "github_path"),
    GITHUB_OUTPUT: path.join(dirs.temp, "github_output"),
    GITHUB_STEP_SUMMARY: path.join(dirs.temp, "step_summary.md"),
    RUNNER_NAME: runnerName,
    RUNNER_OS: "Linux",
    RUNNER_ARCH: process.arch === "x64" ? "X64" : process.arch.toUpperCase(),
    RUNNER_TEMP: dirs.temp,
    GUTS_WORKSPACE: dirs.workspace,
    GUTS_ARTIFACTS: dirs.artifacts,
    GUTS_NEEDS_ARTIFACTS: dirs.needs,
    GUTS_DOWNLOADS: dirs.needs,
    GUTS_JOB_ID: String(a.jobId),
    GUTS_JOB_KEY: a.job.key,
    GUTS_JOB_ATTEMPT: String(a.attempt),
    GUTS_RUN_ID: String(a.runId),
    GUTS_RUN_ATTEMPT: String(a.runAttempt),
    GUTS_REPOSITORY: a.repository.fullName,
    GUTS_SHA: a.sha,
    GUTS_REF: a.ref,
    GUTS_SERVER_URL: serverUrl,
    GUTS_MATRIX: JSON.stringify(a.job.matrix),
  }
}

interface JobRun {
  readonly client: RunnerClient
  readonly a: JobAssignment
  readonly workDir: string
  readonly runnerName: string
  readonly limits: ResourceLimits
  readonly killGraceMs?: number
  /** Aborted when the runner shuts down. */
  readonly shutdown: AbortSignal
  readonly say: (message: string) => void
}

/** Runs one claimed job to its end. Never throws: every failure becomes the job's result. */
export const runJob = async (r: JobRun): Promise<JobEnd> => {
  const { client, a } = r
  const secrets = [...Object.values(a.secrets), a.gitToken].filter((s) => s.length > 0)
  let stopReason: StopReason | undefined
  const stepAbort = new AbortController()
  /** Aborted only when the job is lost: requests for it are pointless after that. */
  const lostAbort = new AbortController()
  const done = new AbortController()
  const stop = (why: StopReason) => {
    if (why === "lost") lostAbort.abort()
    if (stopReason !== undefined) {
      // A lost lease overrides anything: there is nobody to report to.
      if (why === "lost") stopReason = "lost"
      return
    }
    stopReason = why
    stepAbort.abort()
  }
  const onShutdown = () => stop("shutdown")
  r.shutdown.addEventListener("abort", onShutdown, { once: true })
  if (r.shutdown.aborted) stop("shutdown")

  const logs = new LogStream(
    { send: (chunk) => client.log(a.jobId, chunk, lostAbort.signal) },
    {
      onFailure: (err) => {
        if (err instanceof LeaseLost || err instanceof Stopped) stop("lost")
        else r.say(`job ${a.jobId}: sending its log failed: ${(err as Error).message}`)
      },
    },
  )
  /** Runner-made lines (set-up, step headers, errors), masked like step output. */
  const note = (text: string, step?: number) => {
    const m = makeMasker(secrets)
    const masked = m.push(text) + m.flush()
    const time = Date.now()
    for (const line of masked.split("\n")) logs.write({ time, text: line }, step)
  }

  let currentStep: number | undefined
  const heartbeat = (async () => {
    let lastOk = Date.now()
    while (!done.signal.aborted) {
      try {
        await sleep(Math.max(0.2, a.heartbeatSeconds) * 1000, done.signal)
      } catch {
        return
      }
      try {
        const answer = await client.heartbeat(
          a.jobId,
          currentStep === undefined ? {} : { step: currentStep },
          done.signal,
        )
        lastOk = Date.now()
        if (answer.cancelled) stop("cancelled")
      } catch (err) {
        if (done.signal.aborted) return
        if (err instanceof LeaseLost) stop("lost")
        else if (err instanceof JobCancelled) stop("cancelled")
        else if (Date.now() - lastOk > a.leaseSeconds * 1000) {
          r.say(
            `job ${a.jobId}: no heartbeat got through for ${a.leaseSeconds} s; the lease is lost`,
          )
          stop("lost")
        }
      }
    }
  })()
  const jobDeadline = Date.now() + a.timeoutMinutes * 60_000
  const jobTimer = setTimeout(() => stop("timeout"), a.timeoutMinutes * 60_000)

  let jobStatus: "success" | "failure" | "cancelled" = "success"
  let dirs: JobDirs | undefined
  /** Sends a report; a lost lease or a cancellation stops the job, anything else fails it. */
  const report = async (what: () => Promise<unknown>) => {
    try {
      await what()
    } catch (err) {
      if (err instanceof LeaseLost || err instanceof Stopped) stop("lost")
      else if (err instanceof JobCancelled) stop("cancelled")
      else throw err
    }
  }

  try {
    dirs = createJobDirs(r.workDir, String(a.jobId))
    note(
      `Runner ${r.runnerName} (guts ${GUTS_VERSION}) runs job ${a.job.name} (${a.job.key}), attempt ${a.attempt}, of run ${a.runId} of ${a.repository.fullName}`,
    )
    let setupOk = true
    try {
      await checkout(dirs, {
        repoUrl: a.repository.cloneUrl,
        sha: a.sha,
        token: a.gitToken,
        onLine: (l) => note(l),
        signal: stepAbort.signal,
      })
      for (const artifact of a.artifacts) {
        const tmp = path.join(dirs.temp, `download-${artifact.id}`)
        const type = await client.downloadArtifact(artifact.url, tmp, stepAbort.signal)
        await placeNeededArtifact(dirs, artifact.name, type, tmp)
        note(
          `Downloaded artifact ${artifact.name} of ${artifact.jobKey} (${artifact.size} bytes) into $GUTS_NEEDS_ARTIFACTS/${artifact.name}`,
        )
      }
    } catch (err) {
      if (err instanceof LeaseLost) stop("lost")
      setupOk = false
      if (stopReason === undefined) {
        jobStatus = "failure"
        note(`Error: setting up the job failed: ${(err as Error).message}`)
      }
    }

    const env = jobEnvironment(a, dirs, r.runnerName, client.baseUrl)
    let addedEnv: Record<string, string> = {}
    let addedPath: string[] = []
    for (const step of a.steps) {
      if (stopReason === "lost") break
      if (stopReason === "cancelled") jobStatus = "cancelled"
      else if (stopReason !== undefined) jobStatus = "failure"
      if (!setupOk || stopReason !== undefined) {
        await report(() =>
          client.step(
            a.jobId,
            step.number,
            { status: "completed", conclusion: "skipped" },
            lostAbort.signal,
          ),
        )
        continue
      }
      const baseEnv = { ...env, ...a.context.env, ...addedEnv }
      if (addedPath.length > 0) baseEnv.PATH = [...addedPath, baseEnv.PATH].join(":")
      const ctx: ExprContext = {
        github: { ...a.context.github, workspace: dirs.workspace },
        env: baseEnv,
        matrix: a.job.matrix,
        needs: a.context.needs,
        inputs: a.context.inputs,
        secrets: a.secrets,
        jobStatus,
      }
      currentStep = step.number
      const result = await runOneStep(r, step, ctx, dirs, {
        note,
        logs,
        signal: stepAbort.signal,
        lostSignal: lostAbort.signal,
        jobDeadline,
        report,
        stopReason: () => stopReason,
      })
      currentStep = undefined
      if (result === "failure" && !step.continueOnError) jobStatus = "failure"
      if (result === "cancelled") jobStatus = stopReason === "cancelled" ? "cancelled" : "failure"
      // What the step appended to $GITHUB_ENV and $GITHUB_PATH holds for the next steps.
      const envFile = fs.readFileSync(env.GITHUB_ENV, { encoding: "utf8", flag: "a+" })
      addedEnv = parseEnvFile(envFile)
      const pathFile = fs.readFileSync(env.GITHUB_PATH, { encoding: "utf8", flag: "a+" })
      addedPath = pathFile
        .split("\n")
        .map((l) => l.trim())
        .filter(Boolean)
        .reverse()
    }
    if (stopReason === "timeout")
      note(`Error: the job exceeded its timeout of ${a.timeoutMinutes} minutes`)
    if (stopReason === "shutdown") note("Error: the runner shut down while running this job")
    if (stopReason === "cancelled") {
      jobStatus = "cancelled"
      note("The run was cancelled")
    }

    if (stopReason !== "lost" && stopReason !== "cancelled") {
      const { artifacts, warnings } = collectArtifacts(dirs)
      for (const w of warnings) note(`Warning: ${w}`)
      for (const artifact of artifacts) {
        try {
          const file = await packArtifact(dirs, artifact)
          const up = await client.uploadArtifact(
            a.jobId,
            artifact.name,
            file,
            artifact.kind === "directory" ? "application/x-tar" : "application/octet-stream",
            lostAbort.signal,
          )
          note(`Uploaded artifact ${artifact.name} (${up.size} bytes, sha256 ${up.digest})`)
        } catch (err) {
          if (err instanceof LeaseLost || err instanceof Stopped) {
            stop("lost")
            break
          }
          jobStatus = "failure"
          note(`Error: uploading artifact ${artifact.name} failed: ${(err as Error).message}`)
        }
      }
    }
  } catch (err) {
    if (stopReason !== "lost") {
      jobStatus = "failure"
      note(`Error: the runner failed: ${(err as Error).message}`)
      r.say(`job ${a.jobId}: ${(err as Error).stack ?? err}`)
    }
  } finally {
    clearTimeout(jobTimer)
    r.shutdown.removeEventListener("abort", onShutdown)
  }

  let end: JobEnd = stopReason === "lost" ? "lost" : jobStatus
  if (end !== "lost") {
    try {
      note(`Job finished: ${jobStatus}`)
      const logChunks = await logs.close()
      await client.complete(a.jobId, { conclusion: jobStatus, logChunks }, lostAbort.signal)
    } catch (err) {
      if (err instanceof LeaseLost || err instanceof Stopped) end = "lost"
      else {
        r.say(`job ${a.jobId}: completing it failed: ${(err as Error).message}`)
        end = "lost"
      }
    }
  }
  done.abort()
  await heartbeat
  if (dirs) removeJobDirs(dirs)
  return end
}

interface StepTools {
  readonly note: (text: string, step?: number) => void
  readonly logs: LogStream
  readonly signal: AbortSignal
  /** Aborted when the lease is lost. */
  readonly lostSignal: AbortSignal
  readonly jobDeadline: number
  readonly report: (what: () => Promise<unknown>) => Promise<void>
  readonly stopReason: () => StopReason | undefined
}

/** Runs (or skips) one step and reports it; returns its conclusion. */
const runOneStep = async (
  r: JobRun,
  step: AssignedStep,
  ctx: ExprContext,
  dirs: JobDirs,
  t: StepTools,
): Promise<"success" | "failure" | "cancelled" | "skipped"> => {
  const { client, a } = r
  const n = step.number
  const complete = (
    conclusion: "success" | "failure" | "cancelled" | "skipped",
    exitCode?: number,
  ) =>
    t.report(() =>
      client.step(
        a.jobId,
        n,
        exitCode === undefined
          ? { status: "completed", conclusion }
          : { status: "completed", conclusion, exitCode },
        t.lostSignal,
      ),
    )
  let runIt: boolean
  try {
    runIt = evaluateIf(step.if, ctx)
  } catch (err) {
    t.note(`Error: the if of step ${step.name} cannot be evaluated: ${(err as Error).message}`, n)
    await complete("failure")
    return "failure"
  }
  if (!runIt) {
    await complete("skipped")
    return "skipped"
  }
  await t.report(() => client.step(a.jobId, n, { status: "in_progress" }, t.lostSignal))
  let script: string
  let stepEnv: Record<string, string>
  let cwd: string
  try {
    script = interpolate(step.run, ctx)
    stepEnv = Object.fromEntries(
      Object.entries(step.env).map(([k, v]) => [k, interpolate(v, ctx)] as const),
    )
    cwd = resolveWorkingDirectory(
      dirs,
      step.workingDirectory === undefined ? undefined : interpolate(step.workingDirectory, ctx),
    )
  } catch (err) {
    t.note(`Error: ${(err as Error).message}`, n)
    await complete("failure")
    return "failure"
  }
  t.note(`Run ${step.name}`, n)
  for (const line of script.replace(/\n$/, "").split("\n")) t.note(`  ${line}`, n)
  const stepTimeout = step.timeoutMinutes === undefined ? undefined : step.timeoutMinutes * 60_000
  const untilJobDeadline = Math.max(1, t.jobDeadline - Date.now())
  const timeoutMs = Math.min(stepTimeout ?? untilJobDeadline, untilJobDeadline)
  const secrets = [...Object.values(a.secrets), a.gitToken].filter((s) => s.length > 0)
  const result = await executeStep({
    script,
    shell: step.shell,
    cwd,
    env: { ...ctx.env, ...stepEnv },
    tempDir: dirs.temp,
    scriptName: `step-${n}`,
    timeoutMs,
    killGraceMs: r.killGraceMs,
    limits: r.limits,
    masker: makeMasker(secrets),
    onLine: (line) => t.logs.write(line, n),
    signal: t.signal,
  })
  const outcome: StepOutcome = result.outcome
  switch (outcome._tag) {
    case "Success":
      await complete("success", 0)
      return "success"
    case "Failure":
      t.note(`Error: ${outcome.reason}`, n)
      await complete("failure", outcome.exitCode ?? undefined)
      return "failure"
    case "TimedOut": {
      const byJob = stepTimeout === undefined || timeoutMs < stepTimeout
      t.note(
        byJob
          ? `Error: the job's timeout of ${a.timeoutMinutes} minutes ran out during this step; its processes were stopped`
          : `Error: the step exceeded its timeout of ${step.timeoutMinutes} minutes; its processes were stopped`,
        n,
      )
      await complete("failure")
      return "failure"
    }
    case "Cancelled": {
      const why = t.stopReason()
      if (why === "lost") return "cancelled"
      if (why === "timeout") {
        t.note(`Error: the job exceeded its timeout of ${a.timeoutMinutes} minutes`, n)
        await complete("failure")
        return "failure"
      }
      t.note(why === "shutdown" ? "Error: stopped: the runner is shutting down" : "Cancelled", n)
      await complete(why === "cancelled" ? "cancelled" : "failure")
      return why === "cancelled" ? "cancelled" : "failure"
    }
  }
}

const onPath = (program: string) =>
  (process.env.PATH ?? "")
    .split(":")
    .some((dir) => dir !== "" && fs.existsSync(path.join(dir, program)))

/** The loop. Resolves when `signal` is aborted (after the current job), or after one job with `once`. */
export const runRunner = async (opts: RunnerOptions, signal: AbortSignal): Promise<void> => {
  const say = opts.say ?? ((m: string) => console.log(m))
  if (prlimitArgs(opts.limits).length > 0 && !onPath("prlimit"))
    throw new Error(
      "resource limits need prlimit (util-linux) on the PATH: install it, or run without limits (--limits cpu=unlimited,nofile=unlimited)",
    )
  fs.mkdirSync(opts.workDir, { recursive: true })
  // Job directories left by a runner that crashed or was killed: nothing runs in them now
  // (one runner per work directory).
  fs.rmSync(path.join(opts.workDir, "jobs"), { recursive: true, force: true })
  const client = new RunnerClient(opts.url)
  const reg = await loadOrRegister(client, opts, signal)
  client.setRunnerToken(reg.token)
  say(
    `guts runner ${reg.name} (id ${reg.id}, labels ${reg.labels.join(",")}) polling ${opts.url} for jobs; work dir ${path.resolve(opts.workDir)}`,
  )
  const wait = opts.claimWaitSeconds ?? 20
  while (!signal.aborted) {
    const asked = Date.now()
    let job: JobAssignment | undefined
    try {
      job = await client.claim(
        opts.labels.length > 0
          ? { labels: [...opts.labels], waitSeconds: wait }
          : { waitSeconds: wait },
        signal,
      )
    } catch (err) {
      if (signal.aborted || err instanceof Stopped) break
      if (err instanceof RunnerRejected)
        throw new Error(
          `${(err as Error).message}: the runner's registration is gone; delete ${registrationFile(opts.workDir)} and register again with --token`,
        )
      say(`claiming a job failed: ${(err as Error).message}; trying again`)
      await sleep(5_000, signal).catch(() => {})
      continue
    }
    if (job === undefined) {
      // An early "nothing to do" must not turn into a busy loop.
      if (Date.now() - asked < 1_000) await sleep(2_000, signal).catch(() => {})
      continue
    }
    say(
      `job ${job.jobId} (${job.job.key}, attempt ${job.attempt}) of ${job.repository.fullName}: started`,
    )
    const end = await runJob({
      client,
      a: job,
      workDir: opts.workDir,
      runnerName: reg.name,
      limits: opts.limits,
      killGraceMs: opts.killGraceMs,
      shutdown: signal,
      say,
    })
    say(`job ${job.jobId}: ${end === "lost" ? "lease lost, discarded" : end}`)
    if (opts.once) break
  }
}
