// biome-ignore-all lint/suspicious/noTemplateCurlyInString: workflow text is full of ${{ }}
/**
 * CI end to end, all real processes: a `guts node`, the `guts runner` program as a child
 * process, a repository pushed with the real git client.
 *
 * - A workflow with a 3-entry matrix whose jobs each upload an artifact, and a dependent
 *   job that downloads one of them: every job succeeds and the commit's status turns green.
 * - A runner killed with SIGKILL in the middle of a job loses its lease; the job is rerun
 *   by a second runner and succeeds. The node runs with a 3 s lease (ci-lease-ms), and its
 *   CI ticker makes the block that requeues the job even when nothing else is written.
 *
 * Needs the build: `npx tsc -p tsconfig.build.json`.
 */
import { type ChildProcess, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { processAlive } from "../../src/runner/Executor.ts"
import { type Api, apiClient } from "../support/Api.ts"
import { authUrl, commitAll, git, initRepo, write } from "../support/Git.ts"
import { createRepo, type NodeProcess, spawnNode, tempDir } from "../support/TestNode.ts"

const repoRoot = path.resolve(import.meta.dirname, "../..")
let node: NodeProcess
let api: Api
let work: string
const runners: ChildProcess[] = []

const startRunner = (workDir: string, token: string, extra: string[] = []) => {
  const child = spawn(
    process.execPath,
    [
      "dist/programs/main.js",
      "runner",
      "--url",
      node.url,
      "--token",
      token,
      "--labels",
      "linux",
      "--work-dir",
      workDir,
      "--kill-grace-seconds",
      "1",
      ...extra,
    ],
    { cwd: repoRoot, stdio: ["ignore", "pipe", "pipe"] },
  )
  let output = ""
  child.stdout?.on("data", (d) => (output += d))
  child.stderr?.on("data", (d) => (output += d))
  runners.push(child)
  return { child, output: () => output }
}

const eventually = async <A>(
  what: string,
  probe: () => Promise<A | undefined>,
  timeoutMs = 90_000,
): Promise<A> => {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await probe()
    if (value !== undefined) return value
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 250))
  }
}

const pushWorkflow = async (repo: string, workflow: string) => {
  await createRepo(node, repo)
  const src = await initRepo(path.join(work, repo))
  write(src, "README.md", `# ${repo}\n`)
  write(src, ".guts/workflows/ci.yml", workflow)
  const sha = await commitAll(src, "add CI", 1)
  await git(src, ["push", authUrl(`${node.url}/admin/${repo}.git`, node.token), "main"])
  return sha
}

const registrationToken = async (repo: string) => {
  const r = await api("POST", `/repos/admin/${repo}/actions/runners/registration-token`)
  expect(r.status).toBe(201)
  return r.body.token as string
}

const completedRun = (repo: string, sha: string) =>
  eventually(`a completed run of ${repo}`, async () => {
    const r = await api("GET", `/repos/admin/${repo}/actions/runs?head_sha=${sha}`)
    const run = (r.body?.workflow_runs ?? []).find(
      (x: { head_sha: string; status: string }) => x.head_sha === sha && x.status === "completed",
    )
    return run as { id: number; conclusion: string } | undefined
  })

// Test files share a process (vitest.config.ts): what this file sets, it puts back.
const savedSecretsKey = process.env.GUTS_CI_SECRETS_KEY

beforeAll(async () => {
  // Secrets are encrypted at rest under this key (the node reads it from its environment).
  process.env.GUTS_CI_SECRETS_KEY = "e2e-ci-secrets-key"
  node = await spawnNode({ extraArgs: ["--ci-lease-ms", "3000"] })
  api = apiClient(node.url, node.token)
  work = tempDir("e2e-ci")
})

afterAll(async () => {
  for (const r of runners) if (r.exitCode === null) r.kill("SIGKILL")
  await node?.close()
  fs.rmSync(work, { recursive: true, force: true })
  if (savedSecretsKey === undefined) delete process.env.GUTS_CI_SECRETS_KEY
  else process.env.GUTS_CI_SECRETS_KEY = savedSecretsKey
})

describe("CI with a real runner", () => {
  it("a 3-entry matrix and a job that needs it run to green, passing an artifact along", async () => {
    const sha = await pushWorkflow(
      "matrix",
      `name: CI
on: push
jobs:
  build:
    runs-on: [linux]
    strategy:
      matrix:
        n: [1, 2, 3]
    steps:
      - run: |
          mkdir -p "$GUTS_ARTIFACTS/out-\${{ matrix.n }}"
          echo "built \${{ matrix.n }} at $GITHUB_SHA" > "$GUTS_ARTIFACTS/out-\${{ matrix.n }}/result.txt"
  use:
    needs: build
    runs-on: [linux]
    steps:
      - run: grep "built 1 at $GITHUB_SHA" "$GUTS_NEEDS_ARTIFACTS/out-1/result.txt"
      - run: echo "the secret is \${{ secrets.DEPLOY_TOKEN }}"
`,
    )
    const secret = await api("PUT", "/repos/admin/matrix/actions/secrets/DEPLOY_TOKEN", {
      value: "tok-e2e-1234567",
    })
    expect(secret.status).toBeLessThan(300)
    const runner = startRunner(path.join(work, "runner-a"), await registrationToken("matrix"))
    const run = await completedRun("matrix", sha).catch((err) => {
      throw new Error(`${err.message}\nrunner:\n${runner.output()}`)
    })
    expect(run.conclusion).toBe("success")
    const jobs = await api("GET", `/repos/admin/matrix/actions/runs/${run.id}/jobs`)
    expect(jobs.body.jobs).toHaveLength(4)
    for (const job of jobs.body.jobs)
      expect([job.name, job.conclusion]).toEqual([job.name, "success"])
    const status = await api("GET", `/repos/admin/matrix/commits/${sha}/status`)
    expect(status.body.state).toBe("success")
    const artifacts = await api("GET", `/repos/admin/matrix/actions/runs/${run.id}/artifacts`)
    expect(artifacts.body.artifacts.map((a: { name: string }) => a.name).sort()).toEqual([
      "out-1",
      "out-2",
      "out-3",
    ])
    const use = jobs.body.jobs.find((j: { name: string }) => j.name === "use")
    const log = await fetch(`${node.url}/api/repos/admin/matrix/actions/jobs/${use.id}/logs`, {
      headers: { authorization: `Bearer ${node.token}` },
    }).then((r) => r.text())
    expect(log).toContain("the secret is ***")
    expect(log).not.toContain("tok-e2e-1234567")
    runner.child.kill("SIGTERM")
  })

  it("a runner killed mid-job loses its lease and a second runner reruns the job", async () => {
    const pidFile = path.join(work, "killed-step.pid")
    const sha = await pushWorkflow(
      "rerun",
      `name: CI
on: push
jobs:
  slow:
    runs-on: [linux]
    steps:
      - run: |
          if [ "$GUTS_JOB_ATTEMPT" = 1 ]; then echo $$ > ${pidFile}; sleep 600; fi
          echo "attempt $GUTS_JOB_ATTEMPT done"
`,
    )
    const token = await registrationToken("rerun")
    const first = startRunner(path.join(work, "runner-b"), token, ["--once"])
    await eventually("the first attempt to start", async () =>
      fs.existsSync(pidFile) ? true : undefined,
    )
    const stepPid = Number(fs.readFileSync(pidFile, "utf8"))
    first.child.kill("SIGKILL")
    // The watchdog in the step's process group notices the runner is gone.
    await eventually(
      "the orphaned step to die",
      async () => (processAlive(stepPid) ? undefined : true),
      5_000,
    )
    const second = startRunner(path.join(work, "runner-c"), token, ["--once"])
    const run = await completedRun("rerun", sha).catch((err) => {
      throw new Error(`${err.message}\nrunner:\n${second.output()}`)
    })
    expect(run.conclusion).toBe("success")
    const jobs = await api("GET", `/repos/admin/rerun/actions/runs/${run.id}/jobs`)
    const log = await fetch(
      `${node.url}/api/repos/admin/rerun/actions/jobs/${jobs.body.jobs[0].id}/logs`,
      {
        headers: { authorization: `Bearer ${node.token}` },
      },
    )
    expect(await log.text()).toContain("attempt 2 done")
  }, 180_000)
})
