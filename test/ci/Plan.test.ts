// biome-ignore-all lint/suspicious/noTemplateCurlyInString: workflow text is full of ${{ }}
import { describe, expect, it } from "vitest"
import {
  compileFilterPattern,
  expandMatrix,
  matchesPatterns,
  matchesTrigger,
  nextDecisions,
  planJobs,
  runConclusion,
} from "../../src/domain/ci/Plan.ts"
import type {
  ExprContext,
  JobResult,
  MatrixSpec,
  PlannedJob,
  TriggerEvent,
  Workflow,
} from "../../src/domain/ci/Workflow.ts"
import { parseWorkflow } from "../../src/domain/ci/WorkflowParse.ts"

const workflow = (text: string): Workflow => {
  const r = parseWorkflow(".guts/workflows/t.yml", text)
  if (r._tag === "Invalid") throw new Error(JSON.stringify(r.problems, null, 2))
  return r.workflow
}

describe("filter patterns (GitHub's cheat sheet)", () => {
  it.each([
    [["feature/*"], "feature/my-branch", true],
    [["feature/*"], "feature/beta/my-branch", false],
    [["feature/**"], "feature/mona/the/octocat", true],
    [["*"], "main", true],
    [["*"], "releases/v1", false],
    [["**"], "releases/v1", true],
    [["*feature"], "mona-feature", true],
    [["*feature"], "feature", true],
    [["v2*"], "v2", true],
    [["v2*"], "v2.9", true],
    [["v[12].[0-9]+.[0-9]+"], "v1.10.1", true],
    [["v[12].[0-9]+.[0-9]+"], "v3.0.0", false],
    [["v[12].[0-9]+.[0-9]+"], "v2..0", false],
    [["*.jsx?"], "page.js", true],
    [["*.jsx?"], "page.jsx", true],
    [["*.jsx?"], "page.jsxx", false],
    [["*.js"], "js/app.js", false],
    [["**.js"], "src/js/app.js", true],
    [["docs/*"], "docs/README.md", true],
    [["docs/*"], "docs/a/README.md", false],
    [["docs/**"], "docs/mona/octocat.txt", true],
    [["docs/**/*.md"], "docs/README.md", true],
    [["docs/**/*.md"], "docs/a/markdown/file.md", true],
    [["**/docs/**"], "docs/hello.md", true],
    [["**/docs/**"], "space/docs/plan/space.doc", true],
    [["**/README.md"], "README.md", true],
    [["**/README.md"], "js/README.md", true],
    [["**/*src/**"], "my-src/code/js/app.js", true],
    [["**/migrate-*.sql"], "db/sept/migrate-v1.sql", true],
    [["*.md", "!README.md"], "hello.md", true],
    [["*.md", "!README.md"], "README.md", false],
    [["*.md", "!README.md", "README*"], "README.md", true],
    [["*.md", "!README.md", "README*"], "README.doc", true],
    [["!main"], "main", false],
    [["!main"], "dev", false],
    [["a\\*b"], "a*b", true],
    [["a\\*b"], "axb", false],
    [["release.1"], "releasex1", false],
  ])("%j on %s → %s", (patterns, name, expected) => {
    expect(matchesPatterns(patterns, name)).toBe(expected)
  })

  it.each([
    ["", "the pattern is empty"],
    ["!", "'!' must be followed by a pattern"],
    ["?x", "'?' at position 1 must follow a character"],
    ["a*+", "'+' at position 3 must follow a character"],
    ["v[0-9", "'[' at position 2 is never closed"],
    ["v[]", "'[]' at position 2 is empty"],
    ["v[9-0]", "range '9-0' goes backwards"],
    ["a\\", "ends with '\\'"],
  ])("refuses %j", (pattern, problem) => {
    expect(() => compileFilterPattern(pattern)).toThrow(problem)
  })
})

const push = (ref: string, changedPaths?: string[]): TriggerEvent => ({
  event: "push",
  ref,
  sha: "a".repeat(40),
  actor: "mona",
  repository: "mona/app",
  ...(changedPaths ? { changedPaths } : {}),
})
const pr = (
  action: string | undefined,
  baseRef: string,
  changedPaths?: string[],
): TriggerEvent => ({
  event: "pull_request",
  ref: "refs/pull/3/merge",
  sha: "b".repeat(40),
  actor: "mona",
  repository: "mona/app",
  baseRef,
  ...(action !== undefined ? { action } : {}),
  ...(changedPaths ? { changedPaths } : {}),
})
const JOB = "jobs:\n  a:\n    runs-on: linux\n    steps: [{ run: make }]\n"

describe("matchesTrigger", () => {
  it.each([
    ["on: push", push("refs/heads/any"), true],
    ["on: push", push("refs/tags/v1"), true],
    ["on: pull_request", push("refs/heads/main"), false],
    ["on: [push, pull_request]", pr("opened", "main"), true],
    ["on:\n  push:\n    branches: [main]", push("refs/heads/main"), true],
    ["on:\n  push:\n    branches: [main]", push("refs/heads/dev"), false],
    // only branch filters: tag pushes do not run
    ["on:\n  push:\n    branches: [main]", push("refs/tags/v1"), false],
    // only tag filters: branch pushes do not run
    ["on:\n  push:\n    tags: ['v*']", push("refs/tags/v1.2"), true],
    ["on:\n  push:\n    tags: ['v*']", push("refs/heads/main"), false],
    ["on:\n  push:\n    tags-ignore: ['v*']", push("refs/tags/v1.2"), false],
    ["on:\n  push:\n    tags-ignore: ['v*']", push("refs/tags/nightly"), true],
    ["on:\n  push:\n    branches: [main]\n    tags: ['v*']", push("refs/tags/v2"), true],
    [
      "on:\n  push:\n    branches-ignore: ['dependabot/**']",
      push("refs/heads/dependabot/npm/x"),
      false,
    ],
    ["on:\n  push:\n    branches-ignore: ['dependabot/**']", push("refs/heads/main"), true],
    [
      "on:\n  push:\n    branches: ['releases/**', '!releases/**-alpha']",
      push("refs/heads/releases/10-alpha"),
      false,
    ],
    [
      "on:\n  push:\n    branches: ['releases/**', '!releases/**-alpha']",
      push("refs/heads/releases/10"),
      true,
    ],
    [
      "on:\n  push:\n    paths: ['src/**']",
      push("refs/heads/main", ["src/a.ts", "README.md"]),
      true,
    ],
    ["on:\n  push:\n    paths: ['src/**']", push("refs/heads/main", ["README.md"]), false],
    ["on:\n  push:\n    paths: ['src/**']", push("refs/heads/main"), true],
    ["on:\n  push:\n    paths: ['src/**']", push("refs/tags/v1", ["README.md"]), true],
    ["on:\n  push:\n    paths-ignore: ['docs/**']", push("refs/heads/main", ["docs/a.md"]), false],
    [
      "on:\n  push:\n    paths-ignore: ['docs/**']",
      push("refs/heads/main", ["docs/a.md", "x.ts"]),
      true,
    ],
    [
      "on:\n  push:\n    paths: ['**.md', '!docs/**']",
      push("refs/heads/main", ["docs/a.md"]),
      false,
    ],
    [
      "on:\n  push:\n    branches: [main]\n    paths: ['src/**']",
      push("refs/heads/dev", ["src/a"]),
      false,
    ],
    ["on: pull_request", pr("opened", "main"), true],
    ["on: pull_request", pr("synchronize", "main"), true],
    ["on: pull_request", pr("reopened", "main"), true],
    ["on: pull_request", pr("closed", "main"), false],
    ["on: pull_request", pr("labeled", "main"), false],
    ["on:\n  pull_request:\n    types: [closed]", pr("closed", "main"), true],
    ["on:\n  pull_request:\n    types: [closed]", pr("opened", "main"), false],
    // branch filters apply to the base branch
    ["on:\n  pull_request:\n    branches: [main]", pr("opened", "main"), true],
    ["on:\n  pull_request:\n    branches: [main]", pr("opened", "refs/heads/main"), true],
    ["on:\n  pull_request:\n    branches: [main]", pr("opened", "dev"), false],
    ["on:\n  pull_request:\n    branches-ignore: ['wip/*']", pr("opened", "wip/x"), false],
    ["on:\n  pull_request:\n    paths: ['src/**']", pr("opened", "main", ["docs/x"]), false],
    [
      "on: workflow_dispatch",
      { ...push("refs/heads/main"), event: "workflow_dispatch" as const },
      true,
    ],
    ["on: push", { ...push("refs/heads/main"), event: "workflow_dispatch" as const }, false],
    [
      "on:\n  schedule:\n    - cron: '0 3 * * *'",
      { ...push("refs/heads/main"), event: "schedule" as const },
      true,
    ],
    ["on: push", { ...push("refs/heads/main"), event: "schedule" as const }, false],
  ])("%s with %j → %s", (on, event, expected) => {
    expect(matchesTrigger(workflow(`${on}\n${JOB}`), event)).toBe(expected)
  })
})

const spec = (m: Partial<MatrixSpec>): MatrixSpec => ({
  axes: [],
  include: [],
  exclude: [],
  failFast: true,
  ...m,
})

describe("matrix expansion", () => {
  it("is the cross product, first axis outermost", () => {
    expect(
      expandMatrix(
        spec({
          axes: [
            ["os", ["linux", "mac"]],
            ["node", [18, 20]],
          ],
        }),
      ),
    ).toEqual([
      { os: "linux", node: 18 },
      { os: "linux", node: 20 },
      { os: "mac", node: 18 },
      { os: "mac", node: 20 },
    ])
  })

  it("removes combinations an exclude entry matches, by all its keys", () => {
    expect(
      expandMatrix(
        spec({
          axes: [
            ["os", ["linux", "mac"]],
            ["node", [18, 20]],
            ["arch", ["x64", "arm"]],
          ],
          exclude: [
            { os: "mac", node: 18 },
            { arch: "arm", node: 20 },
          ],
        }),
      ),
    ).toEqual([
      { os: "linux", node: 18, arch: "x64" },
      { os: "linux", node: 18, arch: "arm" },
      { os: "linux", node: 20, arch: "x64" },
      { os: "mac", node: 20, arch: "x64" },
    ])
  })

  it("follows GitHub's documented include example", () => {
    // https://docs.github.com: fruit × animal with five include entries
    expect(
      expandMatrix(
        spec({
          axes: [
            ["fruit", ["apple", "pear"]],
            ["animal", ["cat", "dog"]],
          ],
          include: [
            { color: "green" },
            { color: "pink", animal: "cat" },
            { fruit: "apple", shape: "circle" },
            { fruit: "banana" },
            { fruit: "banana", animal: "cat" },
          ],
        }),
      ),
    ).toEqual([
      { fruit: "apple", animal: "cat", color: "pink", shape: "circle" },
      { fruit: "apple", animal: "dog", color: "green", shape: "circle" },
      { fruit: "pear", animal: "cat", color: "pink" },
      { fruit: "pear", animal: "dog", color: "green" },
      { fruit: "banana" },
      { fruit: "banana", animal: "cat" },
    ])
  })

  it("applies exclude before include, and makes a matrix of includes alone", () => {
    expect(
      expandMatrix(
        spec({
          axes: [["node", [18, 20]]],
          exclude: [{ node: 18 }],
          include: [{ node: 18, experimental: true }],
        }),
      ),
    ).toEqual([{ node: 20 }, { node: 18, experimental: true }])
    expect(expandMatrix(spec({ include: [{ os: "a" }, { os: "b", x: 1 }] }))).toEqual([
      { os: "a" },
      { os: "b", x: 1 },
    ])
  })
})

describe("planJobs", () => {
  const w = workflow(`on: push
jobs:
  lint:
    runs-on: linux
    steps: [{ run: make lint }]
  build:
    runs-on: \${{ matrix.os }}
    strategy:
      max-parallel: 2
      matrix:
        node: [18, 20]
        os: [linux, mac]
        exclude:
          - node: 18
            os: mac
    steps: [{ run: make }]
  named:
    name: Test on \${{ matrix.os }}
    needs: [build]
    if: always()
    runs-on: linux
    strategy:
      fail-fast: false
      matrix:
        os: [a]
    steps: [{ run: make }]
`)
  it("expands matrices into keyed instances, in file order", () => {
    const planned = planJobs(w)
    expect(planned.map((p) => [p.key, p.name, p.runsOn])).toEqual([
      ["lint", "lint", ["linux"]],
      ["build (18, linux)", "build (18, linux)", ["linux"]],
      ["build (20, linux)", "build (20, linux)", ["linux"]],
      ["build (20, mac)", "build (20, mac)", ["mac"]],
      ["named (a)", "Test on a", ["linux"]],
    ])
    expect(planned[0]).toEqual({
      key: "lint",
      jobId: "lint",
      name: "lint",
      matrix: {},
      needs: [],
      runsOn: ["linux"],
    })
    expect(planned[1]).toMatchObject({
      matrix: { node: 18, os: "linux" },
      failFast: true,
      maxParallel: 2,
    })
    expect(planned[4]).toMatchObject({ needs: ["build"], if: "always()", failFast: false })
  })

  it("fills in only what is known when planning, leaving the rest for the runner", () => {
    const w2 = workflow(`on: workflow_dispatch
jobs:
  deploy:
    name: Deploy \${{ github.ref }} \${{ secrets.TOKEN }}
    runs-on: ['\${{ inputs.os }}', big]
    steps: [{ run: make }]
`)
    expect(planJobs(w2)[0]).toMatchObject({
      name: "Deploy ${{ github.ref }} ${{ secrets.TOKEN }}",
      runsOn: ["${{ inputs.os }}", "big"],
    })
    const base = {
      inputs: { os: "mac" },
      github: { ref: "refs/heads/main" },
      secrets: { TOKEN: "x" },
    }
    expect(planJobs(w2, base)[0]).toMatchObject({
      name: "Deploy ${{ github.ref }} ${{ secrets.TOKEN }}",
      runsOn: ["mac", "big"],
    })
  })

  it("plans the same jobs every time (no hidden state)", () => {
    expect(planJobs(w)).toEqual(planJobs(w))
  })
})

describe("nextDecisions", () => {
  const w = workflow(`on: push
jobs:
  build:
    runs-on: linux
    steps: [{ run: make }]
  test:
    needs: build
    runs-on: linux
    steps: [{ run: make test }]
  report:
    needs: test
    if: always()
    runs-on: linux
    steps: [{ run: ./report }]
  on-failure:
    needs: [build, test]
    if: failure()
    runs-on: linux
    steps: [{ run: ./alert }]
  main-only:
    needs: build
    if: github.ref == 'refs/heads/main'
    runs-on: linux
    steps: [{ run: ./deploy }]
  need-result:
    needs: build
    if: needs.build.result == 'failure'
    runs-on: linux
    steps: [{ run: ./x }]
`)
  const planned = planJobs(w)
  const ctxFor =
    (jobStatus: ExprContext["jobStatus"] = "success", ref = "refs/heads/main") =>
    (_: PlannedJob): ExprContext => ({
      github: { ref },
      env: {},
      matrix: {},
      needs: {},
      inputs: {},
      secrets: {},
      jobStatus,
    })
  const decide = (
    results: Record<string, JobResult>,
    started: string[] = [],
    status?: ExprContext["jobStatus"],
    ref?: string,
  ) => {
    const d = nextDecisions(
      planned,
      new Map(Object.entries(results)),
      ctxFor(status, ref),
      new Set(started),
    )
    return {
      ready: d.ready.map((p) => p.key),
      skipped: d.skipped.map((p) => p.key),
      cancelled: d.cancelled.map((p) => p.key),
      errored: d.errored.map((e) => e.job.key),
    }
  }

  it("starts jobs without needs first, and nothing twice", () => {
    expect(decide({})).toEqual({ ready: ["build"], skipped: [], cancelled: [], errored: [] })
    expect(decide({}, ["build"]).ready).toEqual([])
  })

  it("starts dependants once their needs succeeded; if: false skips", () => {
    expect(decide({ build: "success" })).toEqual({
      ready: ["test", "main-only"],
      skipped: ["need-result"],
      cancelled: [],
      errored: [],
    })
    expect(decide({ build: "success" }, [], "success", "refs/heads/dev").skipped).toEqual([
      "main-only",
      "need-result",
    ])
  })

  it("skips dependants of a failure, but if: always() still runs and if: failure() runs", () => {
    // need-result's if: has no status function, so it is success() && (…): skipped as well
    expect(decide({ build: "failure" })).toEqual({
      ready: [],
      skipped: ["test", "main-only", "need-result"],
      cancelled: [],
      errored: [],
    })
    // test was skipped because build failed: report (always) runs, on-failure (failure) runs
    expect(
      decide({
        build: "failure",
        test: "skipped",
        "main-only": "skipped",
        "need-result": "skipped",
      }),
    ).toEqual({
      ready: ["report", "on-failure"],
      skipped: [],
      cancelled: [],
      errored: [],
    })
  })

  it("runs if: failure() only on failure", () => {
    const ok = {
      build: "success",
      test: "success",
      "main-only": "success",
      "need-result": "skipped",
    } as const
    expect(decide(ok)).toEqual({
      ready: ["report"],
      skipped: ["on-failure"],
      cancelled: [],
      errored: [],
    })
    expect(decide({ ...ok, test: "failure" }).ready).toEqual(["report", "on-failure"])
  })

  it("treats a skipped need as not successful, without it being a failure", () => {
    expect(
      decide({
        build: "success",
        test: "skipped",
        "main-only": "skipped",
        "need-result": "skipped",
      }),
    ).toEqual({
      ready: ["report"],
      skipped: ["on-failure"],
      cancelled: [],
      errored: [],
    })
  })

  it("in a cancelled run, cancels waiting jobs unless their if: asks for it", () => {
    expect(decide({ build: "cancelled" }, [], "cancelled")).toEqual({
      ready: [],
      skipped: [],
      cancelled: ["test", "main-only", "need-result"],
      errored: [],
    })
    expect(
      decide(
        {
          build: "cancelled",
          test: "cancelled",
          "main-only": "cancelled",
          "need-result": "cancelled",
        },
        [],
        "cancelled",
      ).ready,
    ).toEqual(["report"])
  })

  it("fills needs.<id>.result from the results, over all instances", () => {
    const w2 = workflow(`on: push
jobs:
  a:
    runs-on: linux
    strategy:
      matrix:
        n: [1, 2]
    steps: [{ run: make }]
  b:
    needs: a
    if: always() && needs.a.result == 'failure'
    runs-on: linux
    steps: [{ run: make }]
`)
    const p2 = planJobs(w2)
    const ready = (r: Record<string, JobResult>) =>
      nextDecisions(p2, new Map(Object.entries(r)), ctxFor()).ready.map((p) => p.key)
    expect(ready({ "a (1)": "success", "a (2)": "failure" })).toEqual(["b"])
    expect(ready({ "a (1)": "success", "a (2)": "success" })).toEqual([])
  })

  it("fails a job whose if: cannot be evaluated", () => {
    const w2 = workflow(
      `on: push\njobs:\n  a:\n    if: fromJSON('{bad')\n    runs-on: linux\n    steps: [{ run: make }]\n`,
    )
    const d = nextDecisions(planJobs(w2), new Map(), ctxFor())
    expect(d.errored.map((e) => [e.job.key, e.message])).toEqual([
      ["a", expect.stringContaining("not JSON")],
    ])
  })

  describe("matrix jobs", () => {
    const m = workflow(`on: push
jobs:
  build:
    runs-on: linux
    strategy:
      max-parallel: 2
      matrix:
        n: [1, 2, 3]
    steps: [{ run: make }]
  free:
    runs-on: linux
    strategy:
      fail-fast: false
      matrix:
        n: [1, 2]
    steps: [{ run: make }]
  after:
    needs: [build]
    runs-on: linux
    steps: [{ run: make }]
`)
    const mp = planJobs(m)
    const run = (results: Record<string, JobResult>, started: string[] = []) => {
      const d = nextDecisions(mp, new Map(Object.entries(results)), ctxFor(), new Set(started))
      return {
        ready: d.ready.map((p) => p.key),
        cancelled: d.cancelled.map((p) => p.key),
        skipped: d.skipped.map((p) => p.key),
      }
    }
    it("respects max-parallel", () => {
      expect(run({}).ready).toEqual(["build (1)", "build (2)", "free (1)", "free (2)"])
      expect(run({}, ["build (1)"]).ready).toEqual(["build (2)", "free (1)", "free (2)"])
      expect(run({ "build (1)": "success" }, ["build (1)", "build (2)"]).ready).toEqual([
        "build (3)",
        "free (1)",
        "free (2)",
      ])
    })
    it("waits for every instance of a needed job", () => {
      expect(
        run({ "build (1)": "success", "build (2)": "success" }, ["build (3)"]).ready,
      ).not.toContain("after")
      expect(
        run({ "build (1)": "success", "build (2)": "success", "build (3)": "success" }).ready,
      ).toContain("after")
    })
    it("cancels the other instances of a fail-fast matrix when one fails", () => {
      expect(run({ "build (1)": "failure", "free (1)": "failure" }, ["build (2)"])).toEqual({
        ready: ["free (2)"],
        cancelled: ["build (2)", "build (3)"],
        skipped: [],
      })
      expect(
        run({ "build (1)": "failure", "build (2)": "cancelled", "build (3)": "cancelled" }).skipped,
      ).toEqual(["after"])
    })
  })

  it("concludes a run", () => {
    expect(runConclusion(["success", "skipped"])).toBe("success")
    expect(runConclusion(["success", "failure", "cancelled"])).toBe("failure")
    expect(runConclusion(["cancelled", "success"])).toBe("cancelled")
  })
})
