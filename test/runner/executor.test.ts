// biome-ignore-all lint/suspicious/noTemplateCurlyInString: shell parameter expansions, not JS templates
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { Effect, Fiber } from "effect"
import { afterAll, describe, expect, it } from "vitest"
import { makeMasker } from "../../src/domain/ci/Mask.ts"
import {
  executeStep,
  type LogLine,
  type Masker,
  processAlive,
  runStep,
  type StepRun,
} from "../../src/runner/Executor.ts"

const root = fs.mkdtempSync(path.join(os.tmpdir(), "guts-executor-"))
afterAll(() => fs.rmSync(root, { recursive: true, force: true }))

/** A job with no secrets masks nothing. */
const noSecrets: Masker = { push: (s) => s, flush: () => "" }

const baseEnv = { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: root, LANG: "C.UTF-8" }

let counter = 0
const step = (script: string, extra: Partial<StepRun> = {}) => {
  const lines: LogLine[] = []
  const run: StepRun = {
    script,
    cwd: root,
    env: baseEnv,
    tempDir: path.join(root, "temp"),
    scriptName: `step-${counter++}`,
    killGraceMs: 300,
    masker: noSecrets,
    onLine: (line) => lines.push(line),
    ...extra,
  }
  return { run, lines, text: () => lines.map((l) => l.text) }
}

describe("Executor", () => {
  it("a script that exits 0 succeeds and its stdout and stderr lines arrive in order, timestamped", async () => {
    const s = step("echo one\necho two >&2\nprintf 'three'")
    const before = Date.now()
    const result = await executeStep(s.run)
    expect(result.outcome).toEqual({ _tag: "Success" })
    expect(s.text()).toEqual(["one", "two", "three"])
    for (const line of s.lines) {
      expect(line.time).toBeGreaterThanOrEqual(before)
      expect(line.time).toBeLessThanOrEqual(result.finishedAt)
    }
  })

  it("a non-zero exit fails with the exit code, and bash -e stops at the first failing command", async () => {
    const s = step("echo before\nfalse\necho after")
    const result = await executeStep(s.run)
    expect(result.outcome).toMatchObject({ _tag: "Failure", exitCode: 1 })
    expect(s.text()).toEqual(["before"])
    const seven = await executeStep(step("exit 7").run)
    expect(seven.outcome).toMatchObject({
      _tag: "Failure",
      exitCode: 7,
      reason: "process completed with exit code 7",
    })
  })

  it("shell: sh and a custom shell with {0} run the script with that interpreter", async () => {
    const sh = step('echo "$0"', { shell: "sh" })
    await executeStep(sh.run)
    expect(sh.text()[0]).toMatch(/\.sh$/)
    const custom = step("print(6 * 7)", { shell: "python3 -u {0}" })
    const result = await executeStep(custom.run)
    expect(result.outcome).toEqual({ _tag: "Success" })
    expect(custom.text()).toEqual(["42"])
  })

  it("runs in the given working directory with exactly the given environment", async () => {
    const dir = path.join(root, "sub dir")
    fs.mkdirSync(dir, { recursive: true })
    process.env.GUTS_RUNNER_PRIVATE = "must-not-leak"
    const s = step('pwd\necho "$GUTS_SHA|$(printenv GUTS_RUNNER_PRIVATE || echo unset)"', {
      cwd: dir,
      env: { ...baseEnv, GUTS_SHA: "abc123" },
    })
    const result = await executeStep(s.run)
    delete process.env.GUTS_RUNNER_PRIVATE
    expect(result.outcome).toEqual({ _tag: "Success" })
    expect(s.text()).toEqual([fs.realpathSync(dir), "abc123|unset"])
  })

  it("a secret printed whole, in pieces across writes, and on stderr reaches the log only as ***", async () => {
    const secret = "hunter2-very-secret"
    const s = step(
      [
        'echo "password: $PW"',
        'printf "%s" "${PW:0:8}"; sleep 0.1; printf "%s\\n" "${PW:8}"',
        'echo "$PW" >&2',
        // A prefix alone is not the secret: shown as is once the line ends.
        'echo "${PW:0:8}"',
      ].join("\n"),
      { env: { ...baseEnv, PW: secret }, masker: makeMasker([secret]) },
    )
    const result = await executeStep(s.run)
    expect(result.outcome).toEqual({ _tag: "Success" })
    expect(s.text()).toEqual(["password: ***", "***", "***", "hunter2-"])
  })

  it("a missing working directory fails the step with a message naming it", async () => {
    const s = step("true", { cwd: path.join(root, "nope") })
    const result = await executeStep(s.run)
    expect(result.outcome).toMatchObject({ _tag: "Failure" })
    expect(result.outcome._tag === "Failure" && result.outcome.reason).toContain("nope")
  })

  it("a step over its timeout is stopped with its whole process group, background grandchildren included", async () => {
    const pidFile = path.join(root, "grandchild.pid")
    // The grandchild ignores SIGTERM, so only the SIGKILL after the grace period ends it.
    const s = step(
      `(trap '' TERM; sleep 30) &\necho $! > ${pidFile}\necho started\nsleep 30\necho never`,
      { timeoutMs: 500 },
    )
    const result = await executeStep(s.run)
    expect(result.outcome).toEqual({ _tag: "TimedOut", timeoutMs: 500 })
    expect(s.text()).toEqual(["started"])
    const grandchild = Number(fs.readFileSync(pidFile, "utf8"))
    expect(grandchild).toBeGreaterThan(0)
    expect(processAlive(grandchild)).toBe(false)
    expect(result.finishedAt - result.startedAt).toBeLessThan(5_000)
  })

  it("a background process left behind by a successful step is stopped when the step ends", async () => {
    const pidFile = path.join(root, "left.pid")
    const s = step(`sleep 30 &\necho $! > ${pidFile}`)
    const result = await executeStep(s.run)
    expect(result.outcome).toEqual({ _tag: "Success" })
    expect(processAlive(Number(fs.readFileSync(pidFile, "utf8")))).toBe(false)
  })

  it("a step outlives no runner: when the runner process is killed with SIGKILL, the step's group dies", async () => {
    const pidFile = path.join(root, "orphan.pid")
    const program = path.join(root, "runner-like.mjs")
    // The compiled Executor (npx tsc -p tsconfig.build.json), so the child starts quickly.
    const executor = path.resolve(import.meta.dirname, "../../dist/runner/Executor.js")
    if (!fs.existsSync(executor))
      throw new Error(`${executor} is missing: run npx tsc -p tsconfig.build.json`)
    fs.writeFileSync(
      program,
      `import { executeStep } from ${JSON.stringify(executor)}
await executeStep({
  script: "echo $$ > ${pidFile}; sleep 60", cwd: ${JSON.stringify(root)}, env: { PATH: process.env.PATH },
  tempDir: ${JSON.stringify(path.join(root, "temp"))}, scriptName: "orphan",
  masker: { push: (s) => s, flush: () => "" }, onLine: () => {},
})
`,
    )
    const child = spawn(process.execPath, [program], {
      cwd: path.resolve(import.meta.dirname, "../.."),
      stdio: "ignore",
    })
    const deadline = Date.now() + 30_000
    while (!fs.existsSync(pidFile) && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 50))
    const pid = Number(fs.readFileSync(pidFile, "utf8"))
    expect(processAlive(pid)).toBe(true)
    child.kill("SIGKILL")
    const gone = Date.now() + 5_000
    while (processAlive(pid) && Date.now() < gone) await new Promise((r) => setTimeout(r, 100))
    expect(processAlive(pid)).toBe(false)
  })

  it("aborting the signal cancels the step and stops its processes", async () => {
    const pidFile = path.join(root, "cancel.pid")
    const controller = new AbortController()
    const s = step(`sleep 30 &\necho $! > ${pidFile}\necho waiting\nwait`, {
      signal: controller.signal,
    })
    const running = executeStep(s.run)
    while (s.lines.length === 0) await new Promise((r) => setTimeout(r, 20))
    controller.abort()
    const result = await running
    expect(result.outcome).toEqual({ _tag: "Cancelled" })
    expect(processAlive(Number(fs.readFileSync(pidFile, "utf8")))).toBe(false)
  })

  it("interrupting the Effect cancels the step and waits until its processes are gone", async () => {
    const pidFile = path.join(root, "interrupt.pid")
    const s = step(`echo $$ > ${pidFile}\necho up\nsleep 30`)
    await Effect.runPromise(
      Effect.gen(function* () {
        const fiber = yield* Effect.fork(runStep(s.run))
        while (s.lines.length === 0) yield* Effect.sleep("20 millis")
        yield* Fiber.interrupt(fiber)
      }),
    )
    expect(processAlive(Number(fs.readFileSync(pidFile, "utf8")))).toBe(false)
  })

  it("a step writing past the file-size limit fails, and the reason says which limit", async () => {
    const s = step(`head -c 2000000 /dev/zero > ${path.join(root, "big")}`, {
      limits: { fileSizeBytes: 1_000_000 },
    })
    const result = await executeStep(s.run)
    expect(result.outcome).toMatchObject({ _tag: "Failure" })
    expect(result.outcome._tag === "Failure" && result.outcome.reason).toContain("file size limit")
    expect(fs.statSync(path.join(root, "big")).size).toBeLessThanOrEqual(1_000_000)
  })

  it("a step over the open-files limit fails", async () => {
    // Opening descriptors 3..80 needs more than 64; the 62nd `exec` fails and bash -e stops.
    const s = step(
      'ulimit -n\nfor i in $(seq 3 80); do eval "exec $i</dev/null"; done\necho all-open',
      {
        limits: { openFiles: 64 },
      },
    )
    const result = await executeStep(s.run)
    expect(s.text()[0]).toBe("64")
    expect(s.text()).not.toContain("all-open")
    expect(result.outcome).toMatchObject({ _tag: "Failure" })
    const unlimited = step('for i in $(seq 3 80); do eval "exec $i</dev/null"; done\necho all-open')
    expect((await executeStep(unlimited.run)).outcome).toEqual({ _tag: "Success" })
  })
})
