// biome-ignore-all lint/suspicious/noTemplateCurlyInString: step scripts are full of ${{ }}
/**
 * The runner against the node's side of the runner protocol (ProtocolNode.ts, real HTTP):
 * registration saved and reused, a job's steps with `if`, expressions, masking,
 * `$GITHUB_ENV`, artifacts both ways, cancellation and a lost lease stopping the step's
 * processes, and the real `guts runner` program shutting down cleanly on SIGTERM.
 */
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import type { AssignedStep, JobAssignment } from "../../src/domain/ci/RunnerProtocol.ts"
import { processAlive } from "../../src/runner/Executor.ts"
import { registrationFile, runRunner } from "../../src/runner/Runner.ts"
import { commitAll, git, initRepo, write } from "../support/Git.ts"
import { tempDir } from "../support/TestNode.ts"
import { type ProtocolNode, startProtocolNode } from "./ProtocolNode.ts"

let node: ProtocolNode
let work: string
let cloneUrl: string
let sha: string

beforeAll(async () => {
  node = await startProtocolNode()
  work = tempDir("runner")
  const src = await initRepo(path.join(work, "src"))
  write(src, "README.md", "hello from the repo\n")
  write(src, "lib/VERSION", "1.2.3\n")
  sha = await commitAll(src, "first", 1)
  const bare = path.join(work, "app.git")
  await git(work, ["clone", "-q", "--bare", src, bare])
  cloneUrl = `file://${bare}`
})

afterAll(async () => {
  await node?.close()
  fs.rmSync(work, { recursive: true, force: true })
})

let nextJob = 100
const step = (n: number, run: string, extra: Partial<AssignedStep> = {}): AssignedStep => ({
  number: n,
  name: `step ${n}`,
  run,
  env: {},
  continueOnError: false,
  ...extra,
})

const assignment = (steps: AssignedStep[], extra: Partial<JobAssignment> = {}): JobAssignment => ({
  protocol: 1,
  jobId: nextJob++,
  attempt: 1,
  runId: 7,
  runNumber: 3,
  runAttempt: 1,
  repository: { owner: "ada", name: "app", fullName: "ada/app", cloneUrl },
  sha,
  ref: "refs/heads/main",
  gitToken: "gutsgit_job_token",
  workflow: { name: "CI", path: ".guts/workflows/ci.yml" },
  job: {
    key: "build (linux)",
    jobId: "build",
    name: "build (linux)",
    matrix: { os: "linux" },
    needs: [],
    runsOn: ["self-hosted"],
  },
  steps,
  context: {
    github: {
      event_name: "push",
      ref: "refs/heads/main",
      sha,
      repository: "ada/app",
      actor: "ada",
    },
    env: { GREETING: "hi" },
    matrix: { os: "linux" },
    needs: {},
    inputs: {},
  },
  secrets: { DEPLOY_KEY: "s3cr3t-value-42" },
  timeoutMinutes: 360,
  continueOnError: false,
  artifacts: [],
  leaseSeconds: 5,
  heartbeatSeconds: 0.2,
  leaseExpiresAt: Date.now() + 5_000,
  ...extra,
})

const runOnce = (workDir: string, extra: { token?: string; signal?: AbortSignal } = {}) =>
  runRunner(
    {
      url: node.url,
      registrationToken: extra.token,
      labels: ["linux"],
      workDir,
      name: "test-runner",
      once: true,
      limits: {},
      killGraceMs: 300,
      claimWaitSeconds: 0,
      say: () => {},
    },
    extra.signal ?? new AbortController().signal,
  )

const reports = (jobId: number) =>
  (node.steps.get(jobId) ?? []).map(
    ({ n, report }) => `${n}:${report.status}${report.conclusion ? `:${report.conclusion}` : ""}`,
  )

describe("Runner", () => {
  it("runs a job: if conditions, expressions, env, masking, artifacts, step reports and completion", async () => {
    const workDir = path.join(work, "r1")
    const job = assignment([
      step(
        1,
        [
          'echo "deploying with ${{ secrets.DEPLOY_KEY }}"',
          'printf "%s" "${KEY:0:7}"; sleep 0.1; printf "%s\\n" "${KEY:7}"',
          "mkdir -p $GUTS_ARTIFACTS/dist",
          'echo "built ${{ matrix.os }}" > $GUTS_ARTIFACTS/dist/out.txt',
          'echo "FROM_STEP_ONE=yes" >> "$GITHUB_ENV"',
        ].join("\n"),
        { env: { KEY: "${{ secrets.DEPLOY_KEY }}" } },
      ),
      step(2, "echo never", { if: "failure()" }),
      step(
        3,
        'cat VERSION; echo "$GREETING $STEP_VAR $FROM_STEP_ONE $GITHUB_SHA $GUTS_JOB_KEY"; test "$PWD" = "$GITHUB_WORKSPACE/lib"',
        { workingDirectory: "lib", env: { STEP_VAR: "${{ github.actor }}" } },
      ),
      step(4, "echo failing; exit 3"),
      step(5, "echo skipped after failure"),
      step(6, "echo cleanup ran", { if: "always()" }),
    ])
    node.queue.push(job)
    await runOnce(workDir, { token: node.registrationToken })

    expect(node.registered).toEqual([{ name: "test-runner", labels: ["linux"] }])
    const saved = registrationFile(workDir)
    expect(fs.statSync(saved).mode & 0o777).toBe(0o600)
    expect(node.claims[node.claims.length - 1].body.labels).toEqual(["linux"])

    expect(reports(job.jobId)).toEqual([
      "1:in_progress",
      "1:completed:success",
      "2:completed:skipped",
      "3:in_progress",
      "3:completed:success",
      "4:in_progress",
      "4:completed:failure",
      "5:completed:skipped",
      "6:in_progress",
      "6:completed:success",
    ])
    expect(node.steps.get(job.jobId)?.[6].report.exitCode).toBe(3)
    const log = node.logText(job.jobId)
    expect(log).not.toContain("s3cr3t")
    expect(log).toContain("deploying with ***")
    expect(log).toMatch(/^\S+Z \*\*\*$/m)
    expect(log).toContain("1.2.3")
    expect(log).toContain(`hi ada yes ${sha} build (linux)`)
    expect(log).toContain("Error: process completed with exit code 3")
    expect(log).toContain("cleanup ran")
    expect(log).not.toContain("skipped after failure")
    for (const l of log.trimEnd().split("\n")) expect(l).toMatch(/^\d{4}-\d\d-\d\dT[\d:.]+Z /)
    // Lines of step 3 were sent as chunks of step 3.
    const chunks = node.logs.get(job.jobId) ?? []
    expect(chunks.some((c) => c.step === 3 && c.text.includes("1.2.3"))).toBe(true)

    const artifact = node.artifacts.get("dist")
    expect(artifact?.contentType).toBe("application/x-tar")
    const unpacked = path.join(work, "unpacked")
    fs.mkdirSync(unpacked)
    fs.writeFileSync(path.join(work, "dist.tar"), artifact?.body ?? "")
    await git(work, ["--version"])
    await new Promise<void>((resolve, reject) =>
      spawn("tar", ["-x", "-f", path.join(work, "dist.tar"), "-C", unpacked]).on("exit", (c) =>
        c === 0 ? resolve() : reject(new Error(`tar ${c}`)),
      ),
    )
    expect(fs.readFileSync(path.join(unpacked, "out.txt"), "utf8")).toBe("built linux\n")

    expect(node.completed.get(job.jobId)).toEqual({
      conclusion: "failure",
      logChunks: chunks.length,
    })
    expect(fs.readdirSync(path.join(workDir, "jobs"))).toEqual([])

    // A second start reuses the saved registration: no token needed, no new runner.
    const second = assignment([
      step(
        1,
        'test -f "$GUTS_NEEDS_ARTIFACTS/dist/out.txt" && cat "$GUTS_NEEDS_ARTIFACTS/dist/out.txt"',
      ),
    ])
    const listed = {
      id: 1,
      name: "dist",
      jobKey: "build (linux)",
      size: artifact?.body.length ?? 0,
      contentType: "application/x-tar",
      url: `${node.url}/api/runners/jobs/${second.jobId}/artifacts/dist`,
    }
    node.queue.push({ ...second, artifacts: [listed] })
    await runOnce(workDir)
    expect(node.registered).toHaveLength(1)
    expect(node.completed.get(second.jobId)?.conclusion).toBe("success")
    expect(node.logText(second.jobId)).toContain("built linux")
  })

  it("a heartbeat saying cancelled stops the step's processes and completes the job cancelled", async () => {
    const pidFile = path.join(work, "cancelled.pid")
    const job = assignment([
      step(1, `sleep 60 &\necho $! > ${pidFile}\necho started\nwait`),
      step(2, "echo after", { if: "always()" }),
    ])
    let beats = 0
    node.heartbeat = () => {
      beats++
      return {
        status: 200,
        body: {
          cancelled: fs.existsSync(pidFile) && beats > 1,
          leaseExpiresAt: Date.now() + 5_000,
        },
      }
    }
    node.queue.push(job)
    const started = Date.now()
    await runOnce(path.join(work, "r2"), { token: node.registrationToken })
    node.heartbeat = () => ({ status: 200, body: { cancelled: false, leaseExpiresAt: 0 } })
    expect(Date.now() - started).toBeLessThan(20_000)
    expect(node.completed.get(job.jobId)?.conclusion).toBe("cancelled")
    expect(reports(job.jobId)).toEqual([
      "1:in_progress",
      "1:completed:cancelled",
      "2:completed:skipped",
    ])
    expect(processAlive(Number(fs.readFileSync(pidFile, "utf8")))).toBe(false)
    expect(node.heartbeats.some((h) => h.jobId === job.jobId && h.body.step === 1)).toBe(true)
  })

  it("a lost lease (409) stops the step's processes and the job is not completed", async () => {
    const pidFile = path.join(work, "lost.pid")
    const job = assignment([step(1, `echo $$ > ${pidFile}\nsleep 60`)])
    node.heartbeat = (jobId) =>
      jobId === job.jobId && fs.existsSync(pidFile)
        ? { status: 409, body: { message: "lease expired; job requeued" } }
        : { status: 200, body: { cancelled: false, leaseExpiresAt: 0 } }
    node.queue.push(job)
    const workDir = path.join(work, "r3")
    await runOnce(workDir, { token: node.registrationToken })
    node.heartbeat = () => ({ status: 200, body: { cancelled: false, leaseExpiresAt: 0 } })
    expect(node.completed.has(job.jobId)).toBe(false)
    expect(processAlive(Number(fs.readFileSync(pidFile, "utf8")))).toBe(false)
    expect(fs.readdirSync(path.join(workDir, "jobs"))).toEqual([])
  })

  it("a job over its timeout-minutes has its step stopped, later steps skipped, and fails", async () => {
    const job = assignment(
      [step(1, "echo started; sleep 30"), step(2, "echo after", { if: "always()" })],
      { timeoutMinutes: 0.02 },
    )
    node.queue.push(job)
    const started = Date.now()
    await runOnce(path.join(work, "r7"), { token: node.registrationToken })
    expect(Date.now() - started).toBeLessThan(15_000)
    expect(node.completed.get(job.jobId)?.conclusion).toBe("failure")
    expect(reports(job.jobId)).toEqual([
      "1:in_progress",
      "1:completed:failure",
      "2:completed:skipped",
    ])
    expect(node.logText(job.jobId)).toMatch(/timeout of 0.02 minutes/)
  })

  it("a checkout that fails fails the job and skips its steps", async () => {
    const job = assignment([step(1, "echo never")], { sha: "1".repeat(40) })
    node.queue.push(job)
    await runOnce(path.join(work, "r4"), { token: node.registrationToken })
    expect(node.completed.get(job.jobId)?.conclusion).toBe("failure")
    expect(reports(job.jobId)).toEqual(["1:completed:skipped"])
    expect(node.logText(job.jobId)).toMatch(/Error: setting up the job failed: git fetch failed/)
  })

  it("without a saved registration or --token, the runner says what to pass", async () => {
    await expect(runOnce(path.join(work, "r5"))).rejects.toThrow(/pass --token/)
  })
})

describe("guts runner (the program)", () => {
  const repoRoot = path.resolve(import.meta.dirname, "../..")
  const main = path.join(repoRoot, "dist/programs/main.js")

  it("--help documents its flags", async () => {
    const out = await new Promise<string>((resolve) => {
      let text = ""
      const child = spawn(process.execPath, [main, "runner", "--help"], { cwd: repoRoot })
      child.stdout.on("data", (d) => (text += d))
      child.on("exit", () => resolve(text))
    })
    for (const flag of ["--url", "--token", "--labels", "--work-dir", "--once", "--limits"])
      expect(out).toContain(flag)
  })

  it("SIGTERM during a job stops its step, completes it as failed, and exits 0", async () => {
    const pidFile = path.join(work, "sigterm.pid")
    const job = assignment([step(1, `echo $$ > ${pidFile}\necho working\nsleep 60`)])
    node.queue.push(job)
    const child = spawn(
      process.execPath,
      [
        main,
        "runner",
        "--url",
        node.url,
        "--token",
        node.registrationToken,
        "--labels",
        "linux",
        "--work-dir",
        path.join(work, "r6"),
        "--kill-grace-seconds",
        "1",
      ],
      { cwd: repoRoot, stdio: ["ignore", "pipe", "pipe"] },
    )
    let output = ""
    child.stdout.on("data", (d) => (output += d))
    child.stderr.on("data", (d) => (output += d))
    const deadline = Date.now() + 30_000
    while (!node.logText(job.jobId).includes("working") && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 50))
    expect(node.logText(job.jobId)).toContain("working")
    const code = new Promise<number | null>((r) => child.on("exit", (c) => r(c)))
    child.kill("SIGTERM")
    expect(await code).toBe(0)
    expect(node.completed.get(job.jobId)?.conclusion).toBe("failure")
    expect(node.logText(job.jobId)).toContain("the runner is shutting down")
    expect(processAlive(Number(fs.readFileSync(pidFile, "utf8")))).toBe(false)
    expect(output).toContain("polling") // the runner printed its start-up line
  })
})
