/**
 * CI runs as replicated state, at the apply level (in-memory stores, no HTTP): a push
 * creates runs from the workflow files in the pushed commit; exactly one runner claims a
 * job; a lost lease requeues the job at the next block; completed jobs advance the run's
 * DAG and set commit statuses; an invalid workflow fails its run with the line at fault.
 */
import { createHash } from "node:crypto"
import { Effect, Layer } from "effect"
import { describe, expect, it } from "vitest"
import { serializeCommit, serializeTree } from "../../src/domain/git/GitObject.ts"
import { type ObjectId, ZERO_ID } from "../../src/domain/git/ObjectId.ts"
import {
  type Block,
  CancelRun,
  ClaimJob,
  CompleteJob,
  CreateRepository,
  CreatePull,
  CreateRunnerToken,
  CreateUser,
  DispatchWorkflow,
  MergePull,
  RegisterRunner,
  RenewJobLease,
  SYSTEM_USER,
  type Transaction,
  type TxOutcome,
  UpdateRefs,
  type UserId,
} from "../../src/domain/Transaction.ts"
import { metadataLayer } from "../../src/layers/MetadataSqlite.ts"
import { Metrics } from "../../src/layers/Metrics.ts"
import { storageLayer } from "../../src/layers/Storage.ts"
import { Apply } from "../../src/services/Apply.ts"
import { LEASE_MS } from "../../src/services/apply/Ci.ts"
import { Metadata } from "../../src/services/Metadata.ts"
import { ObjectStore } from "../../src/services/ObjectStore.ts"

const layer = Apply.Live.pipe(
  Layer.provideMerge(
    Layer.mergeAll(metadataLayer(undefined), storageLayer({ kind: "memory" }), Metrics.Live),
  ),
)

const ADA = 1 as UserId
const hash = (s: string) => createHash("sha256").update(s).digest("hex")
let keys = 0
const env = (submitter: UserId = ADA) => ({ submitter, idempotencyKey: `k${++keys}` })

const WORKFLOW = `name: CI
on: [push]
jobs:
  build:
    runs-on: [linux]
    strategy:
      matrix:
        node: [18, 20, 22]
    steps:
      - run: echo build \${{ matrix.node }}
  deploy:
    needs: build
    runs-on: [linux]
    steps:
      - run: echo deploy
`

/** A world: ada's repository app, a runner registered for it, and a block counter. */
const world = Effect.gen(function* () {
  const apply = yield* Apply
  const meta = yield* Metadata
  const objects = yield* ObjectStore
  let height = 0
  let now = 1_700_000_000_000
  const block = (txs: Transaction[], advanceMs = 1000) =>
    Effect.map(
      apply.applyBlock({ height: ++height, timestamp: (now += advanceMs), txs } as Block),
      (r) => r.outcomes as TxOutcome[],
    )
  const applied = (o: TxOutcome) => {
    if (o._tag !== "Applied") throw new Error(`rejected: ${o.reason}`)
    return o.detail as Record<string, unknown>
  }
  yield* block([
    CreateUser.make({ ...env(SYSTEM_USER), login: "ada", siteAdmin: false }),
    CreateRepository.make({
      ...env(),
      owner: "ada",
      name: "app",
      private: false,
      defaultBranch: "main",
    }),
    CreateRunnerToken.make({ ...env(), owner: "ada", repo: "app", tokenHash: hash("reg") }),
  ])
  const runner = (name: string) =>
    Effect.map(
      block([
        RegisterRunner.make({
          ...env(SYSTEM_USER),
          registrationTokenHash: hash("reg"),
          runnerTokenHash: hash(`runner-${name}`),
          name,
          labels: ["Linux"],
        }),
      ]),
      ([o]) => applied(o!).id as number,
    )
  /** A commit whose tree holds `files` (paths with slashes), pushed to main. */
  const push = (
    files: Record<string, string>,
    parent?: ObjectId,
    branch = "main",
    old?: ObjectId,
  ) =>
    Effect.gen(function* () {
      const tree = (entries: Record<string, string>): Effect.Effect<ObjectId, unknown> =>
        Effect.gen(function* () {
          const dirs = new Map<string, Record<string, string>>()
          const out: Array<{ mode: string; name: string; id: ObjectId }> = []
          for (const [path, text] of Object.entries(entries)) {
            const slash = path.indexOf("/")
            if (slash < 0) {
              out.push({
                mode: "100644",
                name: path,
                id: yield* objects.put("blob", Buffer.from(text)),
              })
              continue
            }
            const d = dirs.get(path.slice(0, slash)) ?? {}
            d[path.slice(slash + 1)] = text
            dirs.set(path.slice(0, slash), d)
          }
          for (const [name, sub] of dirs) out.push({ mode: "40000", name, id: yield* tree(sub) })
          out.sort((a, b) => (a.name < b.name ? -1 : 1))
          return yield* objects.put("tree", serializeTree(out))
        })
      const who = { name: "Ada", email: "ada@example.com", timestamp: 1, timezone: "+0000" }
      const commit = yield* objects.put(
        "commit",
        serializeCommit({
          tree: yield* tree(files),
          parents: parent ? [parent] : [],
          author: who,
          committer: who,
          headers: [],
          message: "ci\n",
        }),
      )
      const [o] = yield* block([
        UpdateRefs.make({
          ...env(),
          owner: "ada",
          repo: "app",
          atomic: true,
          changes: [{ name: `refs/heads/${branch}`, old: old ?? parent ?? ZERO_ID, new: commit }],
        }),
      ])
      applied(o!)
      return commit
    })
  const repo = (yield* meta.repo("ada", "app"))!
  const runs = () =>
    Effect.map(meta.ciRuns({ repoId: repo.id, limit: 50, offset: 0 }), (r) => r.rows)
  const jobs = (runId: number) =>
    Effect.flatMap(meta.ciRun(runId), (r) => meta.ciJobsOfRun(runId, r!.run_attempt))
  const claim = (runnerId: number, jobId: number, attempt = 1) =>
    ClaimJob.make({
      ...env(SYSTEM_USER),
      runnerId,
      jobId,
      attempt,
      gitTokenHash: hash(`git-${runnerId}-${jobId}-${attempt}`),
    })
  const complete = (
    runnerId: number,
    jobId: number,
    conclusion: "success" | "failure",
    attempt = 1,
  ) =>
    Effect.gen(function* () {
      const log = yield* objects.put("blob", Buffer.from(`log of ${jobId}\n`))
      return CompleteJob.make({
        ...env(SYSTEM_USER),
        runnerId,
        jobId,
        attempt,
        conclusion,
        outputs: {},
        logBlob: log,
        logSize: 10,
      })
    })
  const statuses = (sha: string) =>
    Effect.map(meta.statusesOf(repo.id, sha), (rows) => {
      const latest = new Map<string, string>()
      for (const r of [...rows].sort((a, b) => a.id - b.id)) latest.set(r.context, r.state)
      return Object.fromEntries(latest)
    })
  return {
    block,
    applied,
    runner,
    push,
    runs,
    jobs,
    claim,
    complete,
    statuses,
    meta,
    repo,
    now: () => now,
  }
})

const run = <A>(body: Effect.Effect<A, unknown, Apply | Metadata | ObjectStore>) =>
  Effect.runPromise(body.pipe(Effect.provide(layer), Effect.scoped) as Effect.Effect<A, unknown>)

describe("CI runs in apply", () => {
  it("a push creates a run with the matrix expanded; the dependent job waits", () =>
    run(
      Effect.gen(function* () {
        const w = yield* world
        const sha = yield* w.push({ ".guts/workflows/ci.yml": WORKFLOW, "README.md": "hi" })
        const [r] = yield* w.runs()
        expect(r).toMatchObject({
          workflow_name: "CI",
          event: "push",
          head_sha: sha,
          status: "queued",
        })
        const jobs = yield* w.jobs(r!.id)
        expect(jobs.map((j) => [j.key, j.status])).toEqual([
          ["build (18)", "queued"],
          ["build (20)", "queued"],
          ["build (22)", "queued"],
          ["deploy", "waiting"],
        ])
        expect(yield* w.statuses(sha)).toEqual({
          "CI / build (18)": "pending",
          "CI / build (20)": "pending",
          "CI / build (22)": "pending",
          "CI / deploy": "pending",
        })
        // A push without workflow files starts nothing.
        yield* w.push({ "README.md": "bye" }, sha)
        expect((yield* w.runs()).length).toBe(1)
      }),
    ))

  it("exactly one runner gets a job: the first claim in block order wins", () =>
    run(
      Effect.gen(function* () {
        const w = yield* world
        const one = yield* w.runner("one")
        const two = yield* w.runner("two")
        yield* w.push({ ".guts/workflows/ci.yml": WORKFLOW })
        const [r] = yield* w.runs()
        const [first] = yield* w.jobs(r!.id)
        const outcomes = yield* w.block([w.claim(one, first!.id), w.claim(two, first!.id)])
        expect(outcomes.map((o) => o._tag)).toEqual(["Applied", "Rejected"])
        const job = (yield* w.meta.ciJob(first!.id))!
        expect(job).toMatchObject({ status: "in_progress", runner_id: one, runner_name: "one" })
        expect((yield* w.meta.ciRun(r!.id))!.status).toBe("in_progress")
        // The loser cannot act on the job either.
        const [renew] = yield* w.block([
          RenewJobLease.make({ ...env(SYSTEM_USER), runnerId: two, jobId: first!.id, attempt: 1 }),
        ])
        expect(renew).toMatchObject({ _tag: "Rejected", detail: { code: "stale" } })
      }),
    ))

  it("a lease not renewed in time requeues the job with the next attempt, for another runner", () =>
    run(
      Effect.gen(function* () {
        const w = yield* world
        const one = yield* w.runner("one")
        const two = yield* w.runner("two")
        yield* w.push({ ".guts/workflows/ci.yml": WORKFLOW })
        const [r] = yield* w.runs()
        const [job] = yield* w.jobs(r!.id)
        yield* w.block([w.claim(one, job!.id)])
        // Renewed within the lease: still held.
        const [renewed] = yield* w.block(
          [RenewJobLease.make({ ...env(SYSTEM_USER), runnerId: one, jobId: job!.id, attempt: 1 })],
          LEASE_MS - 1000,
        )
        expect(w.applied(renewed!)).toMatchObject({ cancelled: false })
        yield* w.block([], LEASE_MS - 1000)
        expect((yield* w.meta.ciJob(job!.id))!.status).toBe("in_progress")
        // Silence past the lease: the next block requeues it.
        yield* w.block([], 2000)
        expect(yield* w.meta.ciJob(job!.id)).toMatchObject({
          status: "queued",
          attempt: 2,
          runner_id: null,
        })
        // The old runner's completion is refused; the new claim of attempt 2 succeeds.
        const late = yield* w.complete(one, job!.id, "success")
        const [refused, claimed] = yield* w.block([late, w.claim(two, job!.id, 2)])
        expect(refused).toMatchObject({ _tag: "Rejected", detail: { code: "stale" } })
        expect(claimed!._tag).toBe("Applied")
        expect((yield* w.meta.ciJob(job!.id))!.runner_id).toBe(two)
      }),
    ))

  it("completed jobs advance the run: the dependent job starts after every matrix instance, statuses turn green", () =>
    run(
      Effect.gen(function* () {
        const w = yield* world
        const one = yield* w.runner("one")
        const sha = yield* w.push({ ".guts/workflows/ci.yml": WORKFLOW })
        const [r] = yield* w.runs()
        const jobs = yield* w.jobs(r!.id)
        const builds = jobs.slice(0, 3)
        yield* w.block(builds.map((j) => w.claim(one, j.id)))
        yield* w.block([yield* w.complete(one, builds[0]!.id, "success")])
        yield* w.block([yield* w.complete(one, builds[1]!.id, "success")])
        expect((yield* w.meta.ciJob(jobs[3]!.id))!.status).toBe("waiting")
        yield* w.block([yield* w.complete(one, builds[2]!.id, "success")])
        expect((yield* w.meta.ciJob(jobs[3]!.id))!.status).toBe("queued")
        yield* w.block([w.claim(one, jobs[3]!.id)])
        yield* w.block([yield* w.complete(one, jobs[3]!.id, "success")])
        expect(yield* w.meta.ciRun(r!.id)).toMatchObject({
          status: "completed",
          conclusion: "success",
        })
        expect(Object.values(yield* w.statuses(sha))).toEqual([
          "success",
          "success",
          "success",
          "success",
        ])
      }),
    ))

  it("a failed job skips the job that needs it and fails the run", () =>
    run(
      Effect.gen(function* () {
        const w = yield* world
        const one = yield* w.runner("one")
        const sha = yield* w.push({
          ".guts/workflows/ci.yml": WORKFLOW.replace("node: [18, 20, 22]", "node: [18]"),
        })
        const [r] = yield* w.runs()
        const [build, deploy] = yield* w.jobs(r!.id)
        yield* w.block([w.claim(one, build!.id)])
        yield* w.block([yield* w.complete(one, build!.id, "failure")])
        expect(yield* w.meta.ciJob(deploy!.id)).toMatchObject({
          status: "completed",
          conclusion: "skipped",
        })
        expect(yield* w.meta.ciRun(r!.id)).toMatchObject({
          status: "completed",
          conclusion: "failure",
        })
        expect(yield* w.statuses(sha)).toMatchObject({ "CI / build (18)": "failure" })
      }),
    ))

  it("an invalid workflow makes a failed run whose annotation names the line", () =>
    run(
      Effect.gen(function* () {
        const w = yield* world
        yield* w.push({
          ".guts/workflows/bad.yml":
            "name: Bad\non: [push]\njobs:\n  a:\n    runs-on: [linux]\n    needs: nowhere\n    steps:\n      - run: echo\n",
        })
        const [r] = yield* w.runs()
        expect(r).toMatchObject({
          workflow_name: "Bad",
          status: "completed",
          conclusion: "failure",
        })
        const problems = JSON.parse(r!.annotations!) as Array<{
          path: string
          line: number
          message: string
        }>
        expect(problems[0]).toMatchObject({ path: ".guts/workflows/bad.yml", line: 6 })
        expect(problems[0]!.message).toContain("nowhere")
      }),
    ))

  it("paths filters: a push that changes no matching path starts no run", () =>
    run(
      Effect.gen(function* () {
        const w = yield* world
        const wf = ".guts/workflows/ci.yml"
        const text =
          "on:\n  push:\n    paths: ['src/**']\njobs:\n  t:\n    runs-on: [linux]\n    steps:\n      - run: echo\n"
        const first = yield* w.push({ [wf]: text, "README.md": "1", "src/a.txt": "a" })
        expect((yield* w.runs()).length).toBe(1)
        const second = yield* w.push({ [wf]: text, "README.md": "2", "src/a.txt": "a" }, first)
        expect((yield* w.runs()).length).toBe(1)
        yield* w.push({ [wf]: text, "README.md": "2", "src/a.txt": "b" }, second)
        expect((yield* w.runs()).length).toBe(2)
      }),
    ))

  it("cancelling a run ends its waiting jobs at once and tells the running job's runner", () =>
    run(
      Effect.gen(function* () {
        const w = yield* world
        const one = yield* w.runner("one")
        yield* w.push({ ".guts/workflows/ci.yml": WORKFLOW })
        const [r] = yield* w.runs()
        const jobs = yield* w.jobs(r!.id)
        yield* w.block([w.claim(one, jobs[0]!.id)])
        const [cancelled] = yield* w.block([
          CancelRun.make({ ...env(), owner: "ada", repo: "app", runId: r!.id }),
        ])
        expect(cancelled!._tag).toBe("Applied")
        const after = yield* w.jobs(r!.id)
        expect(after.map((j) => j.conclusion)).toEqual([
          null,
          "cancelled",
          "cancelled",
          "cancelled",
        ])
        const [beat] = yield* w.block([
          RenewJobLease.make({
            ...env(SYSTEM_USER),
            runnerId: one,
            jobId: jobs[0]!.id,
            attempt: 1,
          }),
        ])
        expect(w.applied(beat!)).toMatchObject({ cancelled: true })
        yield* w.block([yield* w.complete(one, jobs[0]!.id, "failure")])
        expect(yield* w.meta.ciRun(r!.id)).toMatchObject({
          status: "completed",
          conclusion: "cancelled",
        })
      }),
    ))

  it("a schedule fires when a block's time passes a matching minute", () =>
    run(
      Effect.gen(function* () {
        const w = yield* world
        yield* w.push({
          ".guts/workflows/nightly.yml":
            "name: Nightly\non:\n  schedule:\n    - cron: '*/5 * * * *'\njobs:\n  t:\n    runs-on: [linux]\n    steps:\n      - run: echo\n",
        })
        expect((yield* w.runs()).length).toBe(0)
        // Blocks a second apart stay within one minute, then one block jumps past the
        // next multiple of five minutes.
        const toBoundary = 5 * 60_000 - (w.now() % (5 * 60_000))
        yield* w.block([], toBoundary - 2000)
        expect((yield* w.runs()).length).toBe(0)
        yield* w.block([], 3000)
        const runs = yield* w.runs()
        expect(runs.map((r) => [r.workflow_name, r.event])).toEqual([["Nightly", "schedule"]])
        yield* w.block([], 1000)
        expect((yield* w.runs()).length).toBe(1)
      }),
    ))

  it("workflow_dispatch takes declared inputs (defaults filled in) and refuses others", () =>
    run(
      Effect.gen(function* () {
        const w = yield* world
        yield* w.push({
          ".guts/workflows/release.yml":
            "name: Release\non:\n  workflow_dispatch:\n    inputs:\n      level:\n        type: choice\n        options: [patch, minor]\n        default: patch\njobs:\n  t:\n    runs-on: [linux]\n    steps:\n      - run: echo\n",
        })
        const dispatch = (inputs: Record<string, string>) =>
          DispatchWorkflow.make({
            ...env(),
            owner: "ada",
            repo: "app",
            workflow: "release.yml",
            ref: "main",
            inputs,
          })
        const [ok, unknown, bad] = yield* w.block([
          dispatch({}),
          dispatch({ nope: "1" }),
          dispatch({ level: "major" }),
        ])
        const { runId } = w.applied(ok!) as { runId: number }
        expect(JSON.parse((yield* w.meta.ciRun(runId))!.trigger).inputs).toEqual({ level: "patch" })
        expect(unknown).toMatchObject({ _tag: "Rejected", detail: { code: "invalid" } })
        expect(bad).toMatchObject({ _tag: "Rejected" })
        expect((bad as { reason: string }).reason).toContain("major")
      }),
    ))

  it("merging a pull request is a push to its base branch", () =>
    run(
      Effect.gen(function* () {
        const w = yield* world
        const wf =
          "name: Main\non:\n  push:\n    branches: [main]\njobs:\n  t:\n    runs-on: [linux]\n    steps:\n      - run: echo\n"
        const base = yield* w.push({ ".guts/workflows/ci.yml": wf, "a.txt": "1" })
        yield* w.push({ ".guts/workflows/ci.yml": wf, "a.txt": "2" }, base, "topic", ZERO_ID)
        expect((yield* w.runs()).length).toBe(1)
        const [pr] = yield* w.block([
          CreatePull.make({
            ...env(),
            owner: "ada",
            repo: "app",
            title: "t",
            head: "topic",
            base: "main",
          }),
        ])
        const [merged] = yield* w.block([
          MergePull.make({
            ...env(),
            owner: "ada",
            repo: "app",
            number: (w.applied(pr!) as { number: number }).number,
            method: "merge",
          }),
        ])
        const { sha } = w.applied(merged!) as { sha: string }
        const runs = yield* w.runs()
        expect(runs.map((r) => [r.event, r.head_branch, r.head_sha])).toEqual([
          ["push", "main", sha],
          ["push", "main", base],
        ])
      }),
    ))
})
