/**
 * Runs one step's script as its own process group and reports how it ended.
 *
 * Guarantees:
 * - The script runs in a new session (`detached: true`), so the step's shell and every
 *   process it starts (unless one deliberately calls `setsid` itself) share one process
 *   group. Ending the step — normally, by timeout or by cancellation — signals that whole
 *   group: SIGTERM, then SIGKILL after a grace period. Nothing a step starts outlives it,
 *   not even when the runner itself is killed (a watchdog in the group notices within 1 s).
 * - Resource limits are applied with `prlimit` (soft and hard, so the step cannot raise
 *   them) before the shell starts; see `ResourceLimits`.
 * - The step sees exactly the environment it is given: nothing of the runner's own
 *   environment leaks in (the runner token and the node URL's credentials stay out).
 * - stdout and stderr are merged at the file-descriptor level (order preserved), decoded
 *   as UTF-8, passed through the masker *before* being split into lines, and delivered as
 *   timestamped lines. A secret split across reads, or printed on its own line, reaches
 *   `onLine` only as `***`.
 */
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { StringDecoder } from "node:string_decoder"
import { Effect } from "effect"

/** What masks secrets in a stream (the shape of `makeMasker` in src/domain/ci/Mask.ts). */
export interface Masker {
  /** Takes the next chunk; returns the text that is safe to show now (may hold a tail back). */
  push(chunk: string): string
  /** Returns whatever was held back, masked. */
  flush(): string
}

/**
 * Per-step limits, applied with `prlimit` (soft = hard). Undefined means "inherit the
 * runner's". `processes` is RLIMIT_NPROC, which Linux counts per user, not per step: it
 * is only meaningful when the runner runs as a dedicated user (docs/runner.md).
 */
export interface ResourceLimits {
  /** RLIMIT_CPU: CPU seconds; the kernel sends SIGXCPU, then SIGKILL. */
  readonly cpuSeconds?: number
  /** RLIMIT_AS: bytes of virtual address space per process. */
  readonly addressSpaceBytes?: number
  /** RLIMIT_NOFILE: open file descriptors per process. */
  readonly openFiles?: number
  /** RLIMIT_NPROC: processes of the runner's user. */
  readonly processes?: number
  /** RLIMIT_FSIZE: largest file a process may write, in bytes (SIGXFSZ beyond). */
  readonly fileSizeBytes?: number
}

/** The limits a runner applies unless told otherwise (6 h of CPU, as GitHub's job cap). */
export const defaultLimits: ResourceLimits = { cpuSeconds: 6 * 3600, openFiles: 4096 }

const limitFlags: ReadonlyArray<readonly [keyof ResourceLimits, string]> = [
  ["cpuSeconds", "--cpu"],
  ["addressSpaceBytes", "--as"],
  ["openFiles", "--nofile"],
  ["processes", "--nproc"],
  ["fileSizeBytes", "--fsize"],
]

/** The `prlimit` arguments for some limits (empty when none is set). */
export const prlimitArgs = (limits: ResourceLimits): string[] =>
  limitFlags.flatMap(([key, flag]) => {
    const value = limits[key]
    if (value === undefined) return []
    if (!Number.isSafeInteger(value) || value < 0)
      throw new Error(`resource limit ${key} must be a non-negative integer, got ${value}`)
    return [`${flag}=${value}`]
  })

const builtinShells: Record<string, { argv: string[]; ext: string }> = {
  bash: { argv: ["bash", "--noprofile", "--norc", "-eo", "pipefail", "{0}"], ext: ".sh" },
  sh: { argv: ["sh", "-e", "{0}"], ext: ".sh" },
  python: { argv: ["python3", "{0}"], ext: ".py" },
}

/**
 * The command that runs a script file, as GitHub defines `shell:`: `bash -e {0}` when
 * unset, the built-in `bash`, `sh` and `python`, or a custom command line where `{0}` is
 * the script's path (appended when absent).
 */
export const shellCommand = (shell: string | undefined): { argv: string[]; ext: string } => {
  if (shell === undefined || shell.trim() === "") return { argv: ["bash", "-e", "{0}"], ext: ".sh" }
  const builtin = builtinShells[shell.trim()]
  if (builtin) return builtin
  const argv = shell.trim().split(/\s+/)
  return { argv: argv.includes("{0}") ? argv : [...argv, "{0}"], ext: "" }
}

export interface LogLine {
  /** Epoch milliseconds when the line's first byte was read. */
  readonly time: number
  /** The line without its newline, secrets masked. */
  readonly text: string
}

export type StepOutcome =
  | { readonly _tag: "Success" }
  | {
      readonly _tag: "Failure"
      /** The shell's exit code, or null when it was killed by a signal (or never started). */
      readonly exitCode: number | null
      readonly signal: string | null
      /** One sentence for the log and the step's annotation. */
      readonly reason: string
    }
  | { readonly _tag: "TimedOut"; readonly timeoutMs: number }
  | { readonly _tag: "Cancelled" }

export interface StepResult {
  readonly outcome: StepOutcome
  readonly startedAt: number
  readonly finishedAt: number
}

export interface StepRun {
  /** The script after expression interpolation. */
  readonly script: string
  readonly shell?: string
  /** Absolute directory the script starts in; it must exist. */
  readonly cwd: string
  /** The complete environment of the step. */
  readonly env: Readonly<Record<string, string>>
  /** Where the script file is written (the job's temp directory). */
  readonly tempDir: string
  /** A name for the script file, unique within the job (e.g. the step's index). */
  readonly scriptName: string
  readonly timeoutMs?: number
  /** Between SIGTERM and SIGKILL; default 5 s. */
  readonly killGraceMs?: number
  readonly limits?: ResourceLimits
  readonly masker: Masker
  readonly onLine: (line: LogLine) => void
  /** Aborting cancels the step: its process group is stopped and the outcome is Cancelled. */
  readonly signal?: AbortSignal
  /** Kill the step's group if this process dies (default true; see the watchdog below). */
  readonly watchRunner?: boolean
}

/** Longest line delivered; longer output is cut into pieces of this size. */
export const MAX_LINE = 64 * 1024

/** Splits masked text into timestamped lines. */
class LineSplitter {
  private pending = ""
  private pendingSince = 0
  constructor(private readonly emit: (line: LogLine) => void) {}

  push(text: string, now: number) {
    if (text === "") return
    if (this.pending === "") this.pendingSince = now
    this.pending += text
    let nl = this.pending.indexOf("\n")
    while (nl >= 0) {
      this.emitLine(this.pending.slice(0, nl))
      this.pending = this.pending.slice(nl + 1)
      this.pendingSince = now
      nl = this.pending.indexOf("\n")
    }
    while (this.pending.length >= MAX_LINE) {
      this.emitLine(this.pending.slice(0, MAX_LINE))
      this.pending = this.pending.slice(MAX_LINE)
    }
  }

  flush() {
    if (this.pending !== "") this.emitLine(this.pending)
    this.pending = ""
  }

  private emitLine(text: string) {
    this.emit({ time: this.pendingSince, text: text.endsWith("\r") ? text.slice(0, -1) : text })
  }
}

/**
 * Whether any live (non-zombie) process is in a process group. Reads /proc where it
 * exists, because a zombie left to an init that does not reap still counts for kill(2).
 */
export const groupAlive = (pgid: number): boolean => {
  if (fs.existsSync("/proc/self/stat")) {
    for (const entry of fs.readdirSync("/proc")) {
      if (!/^\d+$/.test(entry)) continue
      let stat: string
      try {
        stat = fs.readFileSync(`/proc/${entry}/stat`, "utf8")
      } catch {
        continue
      }
      // pid (comm) state ppid pgrp ... — comm may contain spaces and parentheses.
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
      if (Number(fields[2]) === pgid && fields[0] !== "Z" && fields[0] !== "X") return true
    }
    return false
  }
  try {
    process.kill(-pgid, 0)
    return true
  } catch {
    return false
  }
}

/** Whether a single process is alive (not a zombie). */
export const processAlive = (pid: number): boolean => {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8")
    const state = stat.slice(stat.lastIndexOf(")") + 2).split(" ")[0]
    return state !== "Z" && state !== "X"
  } catch {
    if (fs.existsSync("/proc/self/stat")) return false
    try {
      process.kill(pid, 0)
      return true
    } catch {
      return false
    }
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

const signalGroup = (pgid: number, signal: NodeJS.Signals) => {
  try {
    process.kill(-pgid, signal)
  } catch {
    // ESRCH: the group is already empty.
  }
}

/** SIGTERM to the group, SIGKILL to whatever is left after `graceMs`; resolves when it is empty. */
export const stopGroup = async (pgid: number, graceMs: number): Promise<void> => {
  if (!groupAlive(pgid)) return
  signalGroup(pgid, "SIGTERM")
  const termDeadline = Date.now() + graceMs
  while (Date.now() < termDeadline) {
    if (!groupAlive(pgid)) return
    await sleep(25)
  }
  const killDeadline = Date.now() + 5_000
  while (groupAlive(pgid) && Date.now() < killDeadline) {
    signalGroup(pgid, "SIGKILL")
    await sleep(25)
  }
}

const signalNumbers: Record<number, string> = {
  1: "SIGHUP",
  2: "SIGINT",
  6: "SIGABRT",
  9: "SIGKILL",
  11: "SIGSEGV",
  13: "SIGPIPE",
  15: "SIGTERM",
  24: "SIGXCPU",
  25: "SIGXFSZ",
}

const signalHints: Record<string, string> = {
  SIGXCPU: " (the CPU time limit was exceeded)",
  SIGXFSZ: " (the file size limit was exceeded)",
  SIGKILL: " (perhaps out of memory, or over the CPU time limit)",
}

const failureReason = (code: number | null, signal: string | null): string => {
  if (signal !== null) return `the shell was killed by ${signal}${signalHints[signal] ?? ""}`
  const bySignal = code !== null && code > 128 ? signalNumbers[code - 128] : undefined
  if (bySignal)
    return `process completed with exit code ${code}: a command was killed by ${bySignal}${signalHints[bySignal] ?? ""}`
  return `process completed with exit code ${code}`
}

/**
 * Runs a step to its end. Never rejects: a shell that cannot start is a Failure whose
 * reason says why.
 */
export const executeStep = async (run: StepRun): Promise<StepResult> => {
  const startedAt = Date.now()
  const lines = new LineSplitter(run.onLine)
  const finish = (outcome: StepOutcome): StepResult => {
    lines.push(run.masker.flush(), Date.now())
    lines.flush()
    return { outcome, startedAt, finishedAt: Date.now() }
  }
  const fail = (reason: string) => finish({ _tag: "Failure", exitCode: null, signal: null, reason })

  if (run.signal?.aborted) return finish({ _tag: "Cancelled" })
  if (!fs.statSync(run.cwd, { throwIfNoEntry: false })?.isDirectory())
    return fail(`the working directory ${run.cwd} does not exist`)
  let limitArgs: string[]
  try {
    limitArgs = prlimitArgs(run.limits ?? {})
  } catch (err) {
    return fail((err as Error).message)
  }
  const { argv, ext } = shellCommand(run.shell)
  const scriptPath = path.join(run.tempDir, `${run.scriptName}${ext}`)
  fs.mkdirSync(run.tempDir, { recursive: true })
  fs.writeFileSync(scriptPath, run.script, { mode: 0o700 })
  const command = argv.map((a) => a.replaceAll("{0}", scriptPath))
  // prlimit sets the limits and execs sh, which points stderr at stdout and execs the
  // shell: one pipe, so the order of stdout and stderr lines is what the step wrote.
  // A watchdog in the step's group (its output detached from the pipe) kills the group
  // when this process is gone: a runner killed with SIGKILL leaves no step running.
  const watchdog =
    run.watchRunner === false
      ? ""
      : `(trap - TERM; while kill -0 ${process.pid} 2>/dev/null; do sleep 1; done; kill -KILL 0) </dev/null >/dev/null 2>&1 & `
  const wrapped = [
    ...(limitArgs.length > 0 ? ["prlimit", ...limitArgs, "--"] : []),
    "sh",
    "-c",
    `${watchdog}exec 2>&1; exec "$@"`,
    "sh",
    ...command,
  ]

  return new Promise<StepResult>((resolve) => {
    const decoder = new StringDecoder("utf8")
    const onData = (buf: Buffer) => lines.push(run.masker.push(decoder.write(buf)), Date.now())
    let child: ReturnType<typeof spawn>
    try {
      child = spawn(wrapped[0], wrapped.slice(1), {
        cwd: run.cwd,
        env: run.env,
        detached: true,
        stdio: ["ignore", "pipe", "pipe"],
      })
    } catch (err) {
      resolve(fail(`could not start ${wrapped[0]}: ${(err as Error).message}`))
      return
    }
    let ending: "timeout" | "cancel" | undefined
    let exit: { code: number | null; signal: string | null } | undefined
    let stopping: Promise<void> | undefined
    let streamsOpen = 2
    const grace = run.killGraceMs ?? 5_000
    const stop = () => {
      if (child.pid === undefined) return Promise.resolve()
      stopping ??= stopGroup(child.pid, grace)
      return stopping
    }
    const timer =
      run.timeoutMs !== undefined
        ? setTimeout(() => {
            ending ??= "timeout"
            void stop()
          }, run.timeoutMs)
        : undefined
    const onAbort = () => {
      ending ??= "cancel"
      void stop()
    }
    run.signal?.addEventListener("abort", onAbort, { once: true })

    const settle = async () => {
      if (exit === undefined || streamsOpen > 0) return
      if (timer) clearTimeout(timer)
      run.signal?.removeEventListener("abort", onAbort)
      await stop()
      lines.push(run.masker.push(decoder.end()), Date.now())
      fs.rmSync(scriptPath, { force: true })
      if (ending === "timeout") resolve(finish({ _tag: "TimedOut", timeoutMs: run.timeoutMs ?? 0 }))
      else if (ending === "cancel") resolve(finish({ _tag: "Cancelled" }))
      else if (exit.code === 0) resolve(finish({ _tag: "Success" }))
      else
        resolve(
          finish({
            _tag: "Failure",
            exitCode: exit.code,
            signal: exit.signal,
            reason: failureReason(exit.code, exit.signal),
          }),
        )
    }
    for (const stream of [child.stdout, child.stderr]) {
      stream?.on("data", onData)
      stream?.on("close", () => {
        streamsOpen -= 1
        void settle()
      })
    }
    child.on("error", (err) => {
      // spawn failed (ENOENT for prlimit or sh): no process, no streams worth waiting for.
      if (exit !== undefined) return
      exit = { code: null, signal: null }
      if (timer) clearTimeout(timer)
      run.signal?.removeEventListener("abort", onAbort)
      resolve(fail(`could not start ${wrapped[0]}: ${err.message}`))
    })
    child.on("exit", (code, signal) => {
      if (exit !== undefined) return
      exit = { code, signal }
      // The shell is done; whatever it left running in its group (a background job
      // holding the pipe open) is stopped now so the streams close.
      if (child.pid !== undefined && groupAlive(child.pid)) void stop()
      void settle()
    })
  })
}

/**
 * The step as an Effect: interrupting it stops the process group (the outcome is then
 * Cancelled, and interruption waits until the group is gone).
 */
export const runStep = (run: StepRun): Effect.Effect<StepResult> =>
  Effect.async<StepResult>((resume, interrupted) => {
    const controller = new AbortController()
    const forward = () => controller.abort()
    run.signal?.addEventListener("abort", forward, { once: true })
    if (run.signal?.aborted) controller.abort()
    interrupted.addEventListener("abort", forward, { once: true })
    const done = executeStep({ ...run, signal: controller.signal }).finally(() =>
      run.signal?.removeEventListener("abort", forward),
    )
    done.then((result) => resume(Effect.succeed(result)))
    return Effect.promise(() => done)
  })
