// biome-ignore-all lint/suspicious/noTemplateCurlyInString: workflow text is full of ${{ }}
import { describe, expect, it } from "vitest"
import type { Workflow } from "../../src/domain/ci/Workflow.ts"
import { isWorkflowPath, parseWorkflow } from "../../src/domain/ci/WorkflowParse.ts"

const PATH = ".guts/workflows/ci.yml"

const valid = (text: string): Workflow => {
  const r = parseWorkflow(PATH, text)
  if (r._tag === "Invalid") throw new Error(JSON.stringify(r.problems, null, 2))
  return r.workflow
}

const problems = (text: string) => {
  const r = parseWorkflow(PATH, text)
  if (r._tag === "Valid") throw new Error("expected the workflow to be invalid")
  return r.problems.map((p) => ({ line: p.line, column: p.column, message: p.message }))
}

/** A minimal valid job to put around the thing under test. */
const JOB = `jobs:
  build:
    runs-on: linux
    steps:
      - run: make
`

describe("parseWorkflow: valid workflows", () => {
  it("reads a complete workflow with defaults filled in", () => {
    const w = valid(`name: CI
on:
  push:
    branches: [main, 'release/**']
    paths-ignore: ['docs/**']
env:
  RETRIES: 3
  VERBOSE: true
jobs:
  build:
    name: Build
    runs-on: [linux, x64]
    env:
      MODE: fast
    strategy:
      fail-fast: false
      max-parallel: 2
      matrix:
        node: [18, 20]
        os: [linux]
        include:
          - node: 20
            experimental: true
        exclude:
          - node: 18
            os: mac
    steps:
      - id: compile
        name: Compile
        run: npm run build
        shell: bash
        working-directory: app
        env:
          FLAG: "1"
        if: github.ref == 'refs/heads/main'
        timeout-minutes: 10
        continue-on-error: true
  test:
    needs: build
    if: \${{ always() }}
    timeout-minutes: 30
    continue-on-error: true
    runs-on: linux
    steps:
      - run: npm test
`)
    expect(w.name).toBe("CI")
    expect(w.path).toBe(PATH)
    expect(w.env).toEqual({ RETRIES: "3", VERBOSE: "true" })
    expect(w.on).toEqual({ push: { branches: ["main", "release/**"], pathsIgnore: ["docs/**"] } })
    const [build, test] = w.jobs
    expect(build).toMatchObject({
      id: "build",
      name: "Build",
      needs: [],
      runsOn: ["linux", "x64"],
      env: { MODE: "fast" },
      timeoutMinutes: 360,
      continueOnError: false,
      pos: { line: 10, column: 3 },
      matrix: {
        axes: [
          ["node", [18, 20]],
          ["os", ["linux"]],
        ],
        include: [{ node: 20, experimental: true }],
        exclude: [{ node: 18, os: "mac" }],
        failFast: false,
        maxParallel: 2,
      },
    })
    expect(build!.steps).toEqual([
      {
        id: "compile",
        name: "Compile",
        run: "npm run build",
        shell: "bash",
        workingDirectory: "app",
        env: { FLAG: "1" },
        if: "github.ref == 'refs/heads/main'",
        timeoutMinutes: 10,
        continueOnError: true,
        pos: { line: 28, column: 9 },
      },
    ])
    expect(test).toMatchObject({
      id: "test",
      needs: ["build"],
      if: "${{ always() }}",
      timeoutMinutes: 30,
      continueOnError: true,
    })
    expect(test!.matrix).toBeUndefined()
  })

  it("names the workflow after its path when it has no name:", () => {
    expect(valid(`on: push\n${JOB}`).name).toBe(PATH)
  })

  it.each([
    ["a string", "on: push", { push: {} }],
    ["a list", "on: [push, workflow_dispatch]", { push: {}, workflowDispatch: { inputs: {} } }],
    ["a map with empty events", "on:\n  push:\n  pull_request:", { push: {}, pullRequest: {} }],
    [
      "pull_request types and filters",
      "on:\n  pull_request:\n    types: [opened, labeled]\n    branches: main\n    paths: ['src/**']",
      { pullRequest: { types: ["opened", "labeled"], branches: ["main"], paths: ["src/**"] } },
    ],
    ["push tags", "on:\n  push:\n    tags: ['v*']", { push: { tags: ["v*"] } }],
    [
      "a schedule",
      "on:\n  schedule:\n    - cron: '*/15 * * * *'\n    - cron: '0 3 * * MON-FRI'",
      { schedule: [{ cron: "*/15 * * * *" }, { cron: "0 3 * * MON-FRI" }] },
    ],
    [
      "dispatch inputs",
      `on:
  workflow_dispatch:
    inputs:
      level:
        type: choice
        options: [debug, info]
        default: info
        required: true
      dry:
        type: boolean
        default: false
      count:
        type: number
        default: 3
        description: How many`,
      {
        workflowDispatch: {
          inputs: {
            level: { type: "choice", options: ["debug", "info"], default: "info", required: true },
            dry: { type: "boolean", default: "false", required: false },
            count: { type: "number", default: "3", required: false, description: "How many" },
          },
        },
      },
    ],
  ])("accepts on: as %s", (_, on, expected) => {
    expect(valid(`${on}\n${JOB}`).on).toEqual(expected)
  })

  it("stringifies env values and accepts an empty env", () => {
    const w = valid(`on: push\nenv:\n  N: 1.50\n  B: false\n  S: text\n  E:\n${JOB}`)
    expect(w.env).toEqual({ N: "1.50", B: "false", S: "text", E: "" })
  })

  it("resolves YAML anchors and aliases", () => {
    const w = valid(`on: push
jobs:
  a:
    runs-on: linux
    env: &common
      X: "1"
    steps:
      - run: make
  b:
    runs-on: linux
    env: *common
    steps:
      - run: make
`)
    expect(w.jobs[1]!.env).toEqual({ X: "1" })
  })

  it("recognises workflow paths", () => {
    expect(isWorkflowPath(".guts/workflows/ci.yml")).toBe(true)
    expect(isWorkflowPath(".github/workflows/ci.yaml")).toBe(true)
    expect(isWorkflowPath(".github/workflows/sub/ci.yml")).toBe(false)
    expect(isWorkflowPath(".github/ci.yml")).toBe(false)
    expect(isWorkflowPath(".guts/workflows/readme.md")).toBe(false)
  })
})

/** [case, workflow text, expected problems as [line, column, message fragment]] */
const INVALID: ReadonlyArray<
  readonly [string, string, ReadonlyArray<readonly [number, number, string]>]
> = [
  ["a YAML syntax error", "on: push\njobs: [\n", [[3, 1, "YAML syntax error"]]],
  [
    "a duplicate key",
    `on: push\non: pull_request\n${JOB}`,
    [[2, 1, "YAML syntax error: Map keys must be unique"]],
  ],
  ["a file that is not a mapping", "- push\n", [[1, 1, "must be a mapping with on: and jobs:"]]],
  ["no on:", JOB, [[1, 1, "has no on:"]]],
  ["no jobs:", "on: push\n", [[1, 1, "has no jobs:"]]],
  ["empty jobs:", "on: push\njobs: {}\n", [[2, 7, "jobs: must be a mapping of job id to job"]]],
  [
    "an unknown workflow key, with a suggestion",
    `on: push\nnmae: CI\n${JOB}`,
    [[2, 1, "unknown key 'nmae' in the workflow; did you mean 'name'?"]],
  ],
  [
    "a refused workflow key",
    `on: push\npermissions: read-all\n${JOB}`,
    [[2, 1, "permissions is not supported"]],
  ],
  [
    "an unknown job key",
    "on: push\njobs:\n  build:\n    runs-on: linux\n    runs_on: x\n    steps:\n      - run: make\n",
    [[5, 5, "unknown key 'runs_on' in job 'build'; did you mean 'runs-on'?"]],
  ],
  [
    "an unknown step key",
    "on: push\njobs:\n  build:\n    runs-on: linux\n    steps:\n      - run: make\n        envv: {}\n",
    [[7, 9, "unknown key 'envv' in step 1 of job 'build'; did you mean 'env'?"]],
  ],
  [
    "a uses: step",
    "on: push\njobs:\n  build:\n    runs-on: linux\n    steps:\n      - uses: actions/checkout@v4\n        with:\n          depth: 1\n",
    [
      [6, 9, "actions are not supported (uses: actions/checkout@v4); use run:"],
      [7, 9, "with: passes inputs to an action, and actions are not supported"],
    ],
  ],
  [
    "a step without run:",
    "on: push\njobs:\n  build:\n    runs-on: linux\n    steps:\n      - run: make\n      - name: Test\n",
    [[7, 9, "step 2 of job 'build' has no run:"]],
  ],
  [
    "a needs naming an unknown job",
    "on: push\njobs:\n  build:\n    runs-on: linux\n    steps:\n      - run: make\n  test:\n    needs: [biuld]\n    runs-on: linux\n    steps:\n      - run: make\n",
    [
      [
        8,
        13,
        "job 'test' needs 'biuld', which is not a job in this workflow; did you mean 'build'?",
      ],
    ],
  ],
  [
    "a needs cycle",
    `on: push
jobs:
  a:
    needs: c
    runs-on: linux
    steps: [{ run: make }]
  b:
    needs: a
    runs-on: linux
    steps: [{ run: make }]
  c:
    needs: [b]
    runs-on: linux
    steps: [{ run: make }]
`,
    [[8, 12, "jobs 'a', 'c', 'b' need each other in a cycle (a → c → b → a)"]],
  ],
  [
    "a job needing itself",
    "on: push\njobs:\n  a:\n    needs: a\n    runs-on: linux\n    steps: [{ run: make }]\n",
    [[4, 12, "job 'a' needs itself"]],
  ],
  [
    "a negative timeout-minutes",
    "on: push\njobs:\n  a:\n    timeout-minutes: -5\n    runs-on: linux\n    steps: [{ run: make }]\n",
    [[4, 22, "timeout-minutes must be a whole number of minutes from 1 to 10080, found number -5"]],
  ],
  [
    "a text timeout-minutes on a step",
    "on: push\njobs:\n  a:\n    runs-on: linux\n    steps:\n      - run: make\n        timeout-minutes: soon\n",
    [[7, 26, "timeout-minutes must be a whole number of minutes"]],
  ],
  [
    "a fractional timeout-minutes",
    "on: push\njobs:\n  a:\n    timeout-minutes: 1.5\n    runs-on: linux\n    steps: [{ run: make }]\n",
    [[4, 22, "whole number"]],
  ],
  [
    "an unsupported event",
    `on: [push, issues]\n${JOB}`,
    [[1, 12, "event 'issues' is not supported"]],
  ],
  [
    "a misspelt event",
    `on:\n  pushh:\n${JOB}`,
    [[2, 3, "event 'pushh' is not supported; did you mean 'push'?"]],
  ],
  [
    "on: as a number",
    `on: 5\n${JOB}`,
    [[1, 5, "on: must be an event name, a list of event names or a mapping"]],
  ],
  [
    "an unknown push filter",
    `on:\n  push:\n    branch: main\n${JOB}`,
    [[3, 5, "unknown key 'branch' in on.push; did you mean 'branches'?"]],
  ],
  [
    "branches with branches-ignore",
    `on:\n  push:\n    branches: [main]\n    branches-ignore: [dev]\n${JOB}`,
    [[4, 5, "cannot have both branches and branches-ignore"]],
  ],
  [
    "tags with tags-ignore",
    `on:\n  push:\n    tags: ['v*']\n    tags-ignore: [v0]\n${JOB}`,
    [[4, 5, "cannot have both tags and tags-ignore"]],
  ],
  [
    "a bad pull_request type",
    `on:\n  pull_request:\n    types: [opend]\n${JOB}`,
    [[3, 13, "'opend' is not a pull_request activity type"]],
  ],
  [
    "an unclosed [ in a filter",
    `on:\n  push:\n    branches: ['rel[ease']\n${JOB}`,
    [[3, 16, "'[' at position 4 is never closed"]],
  ],
  [
    "a leading ? in a filter",
    `on:\n  push:\n    paths: ['?foo']\n${JOB}`,
    [[3, 13, "'?' at position 1 must follow a character"]],
  ],
  [
    "a bad cron",
    `on:\n  schedule:\n    - cron: '61 * * * *'\n${JOB}`,
    [[3, 13, "minute field: 61 is out of range (allowed 0-59)"]],
  ],
  [
    "a cron with 4 fields",
    `on:\n  schedule:\n    - cron: '* * * *'\n${JOB}`,
    [[3, 13, "expected 5 fields"]],
  ],
  [
    "a schedule that is not a list",
    `on:\n  schedule: daily\n${JOB}`,
    [[2, 13, "on.schedule must be a list"]],
  ],
  [
    "a choice input without options",
    `on:\n  workflow_dispatch:\n    inputs:\n      level:\n        type: choice\n${JOB}`,
    [[5, 15, "needs a non-empty options: list"]],
  ],
  [
    "a default outside the options",
    `on:\n  workflow_dispatch:\n    inputs:\n      level:\n        type: choice\n        options: [a, b]\n        default: c\n${JOB}`,
    [[7, 18, "the default 'c' of input 'level' is not one of its options (a, b)"]],
  ],
  [
    "an unknown input type",
    `on:\n  workflow_dispatch:\n    inputs:\n      env:\n        type: environment\n${JOB}`,
    [[5, 15, "must be string, boolean, choice or number"]],
  ],
  [
    "runs-on missing",
    "on: push\njobs:\n  a:\n    steps: [{ run: make }]\n",
    [[3, 3, "job 'a' has no runs-on:"]],
  ],
  [
    "runs-on as a mapping",
    "on: push\njobs:\n  a:\n    runs-on:\n      group: big\n    steps: [{ run: make }]\n",
    [[5, 7, "runs-on as a mapping (group:, labels:) is not supported"]],
  ],
  [
    "runs-on with a non-text label",
    "on: push\njobs:\n  a:\n    runs-on: [linux, {x: 1}]\n    steps: [{ run: make }]\n",
    [[4, 22, "each entry of runs-on must be text"]],
  ],
  [
    "an empty runs-on list",
    "on: push\njobs:\n  a:\n    runs-on: []\n    steps: [{ run: make }]\n",
    [[4, 14, "runs-on lists no label"]],
  ],
  [
    "a matrix axis that is not a list",
    "on: push\njobs:\n  a:\n    runs-on: linux\n    strategy:\n      matrix:\n        node: 18\n    steps: [{ run: make }]\n",
    [[7, 15, "matrix axis 'node' must be a list of values"]],
  ],
  [
    "an empty matrix axis",
    "on: push\njobs:\n  a:\n    runs-on: linux\n    strategy:\n      matrix:\n        node: []\n    steps: [{ run: make }]\n",
    [[7, 15, "matrix axis 'node' has no values"]],
  ],
  [
    "a matrix value that is a mapping",
    "on: push\njobs:\n  a:\n    runs-on: linux\n    strategy:\n      matrix:\n        node: [18, {v: 20}]\n    steps: [{ run: make }]\n",
    [[7, 20, "each value of matrix axis 'node' must be text, a number or a boolean"]],
  ],
  [
    "a computed matrix",
    "on: push\njobs:\n  a:\n    runs-on: linux\n    strategy:\n      matrix: ${{ fromJSON(github.event.matrix) }}\n    steps: [{ run: make }]\n",
    [[6, 15, "a matrix computed by an expression is not supported"]],
  ],
  [
    "an exclude naming no axis",
    "on: push\njobs:\n  a:\n    runs-on: linux\n    strategy:\n      matrix:\n        node: [18]\n        exclude:\n          - os: mac\n    steps: [{ run: make }]\n",
    [[9, 13, "matrix.exclude names 'os', which is not a matrix axis (axes: node)"]],
  ],
  [
    "an exclude removing everything",
    "on: push\njobs:\n  a:\n    runs-on: linux\n    strategy:\n      matrix:\n        node: [18]\n        exclude:\n          - node: 18\n    steps: [{ run: make }]\n",
    [[7, 9, "exclude: removes every matrix combination"]],
  ],
  [
    "a matrix over 256 jobs",
    `on: push\njobs:\n  a:\n    runs-on: linux\n    strategy:\n      matrix:\n        x: [${Array.from({ length: 20 }, (_, i) => i).join(", ")}]\n        y: [${Array.from({ length: 13 }, (_, i) => i).join(", ")}]\n    steps: [{ run: make }]\n`,
    [[7, 9, "the matrix makes 260 jobs; at most 256 are allowed"]],
  ],
  [
    "a strategy without matrix",
    "on: push\njobs:\n  a:\n    runs-on: linux\n    strategy:\n      fail-fast: false\n    steps: [{ run: make }]\n",
    [[5, 5, "needs a matrix:"]],
  ],
  [
    "an unbalanced ${{",
    "on: push\njobs:\n  a:\n    runs-on: linux\n    steps:\n      - run: echo ${{ github.sha\n",
    [[6, 19, "'${{' is never closed; end the expression with '}}'"]],
  ],
  [
    "an expression that does not parse, inside a block",
    "on: push\njobs:\n  a:\n    runs-on: linux\n    steps:\n      - run: |\n          make\n          echo ${{ github.ref == }} ${{ matrix.x && }}\n",
    [
      [8, 33, "the expression ends where a value is expected in ${{ github.ref == }}"],
      // only the first malformed expression of a value is reported
    ],
  ],
  [
    "an unknown context",
    "on: push\njobs:\n  a:\n    runs-on: linux\n    env:\n      X: ${{ secret.TOKEN }}\n    steps: [{ run: make }]\n",
    [[6, 14, "unknown name 'secret'"]],
  ],
  [
    "an unknown function",
    "on: push\njobs:\n  a:\n    runs-on: linux\n    steps:\n      - run: echo ${{ hashFiles('x') }}\n",
    [[6, 23, "hashFiles() is not supported"]],
  ],
  [
    "a malformed bare if:",
    "on: push\njobs:\n  a:\n    runs-on: linux\n    if: github.ref = 'main'\n    steps: [{ run: make }]\n",
    [[5, 20, "in if: '=' is not an operator; compare with '=='"]],
  ],
  [
    "an if: mixing ${{ }} and text",
    "on: push\njobs:\n  a:\n    runs-on: linux\n    if: ${{ success() }} && github.ref == 'x'\n    steps: [{ run: make }]\n",
    [[5, 9, "mixes ${{ }} with other text, which would always be true"]],
  ],
  [
    "a bad job id",
    "on: push\njobs:\n  1st:\n    runs-on: linux\n    steps: [{ run: make }]\n",
    [[3, 3, "job id '1st' must start with a letter or _"]],
  ],
  [
    "duplicate step ids",
    "on: push\njobs:\n  a:\n    runs-on: linux\n    steps:\n      - id: x\n        run: a\n      - id: x\n        run: b\n",
    [[8, 9, "two steps with id 'x'"]],
  ],
  [
    "an unsupported shell",
    "on: push\njobs:\n  a:\n    runs-on: linux\n    steps:\n      - run: a\n        shell: cmd\n",
    [[7, 16, "shell 'cmd' is not supported; use one of bash, sh, python"]],
  ],
  [
    "an env value that is a list",
    "on: push\njobs:\n  a:\n    runs-on: linux\n    env:\n      X: [1]\n    steps: [{ run: make }]\n",
    [[6, 10, "env value X must be text, a number or a boolean"]],
  ],
  [
    "a bad env name",
    "on: push\nenv:\n  MY-VAR: 1\njobs:\n  a:\n    runs-on: linux\n    steps: [{ run: make }]\n",
    [[3, 3, "'MY-VAR' is not a valid environment variable name"]],
  ],
  [
    "empty steps",
    "on: push\njobs:\n  a:\n    runs-on: linux\n    steps: []\n",
    [[5, 12, "steps of job 'a' must be a non-empty list"]],
  ],
  [
    "continue-on-error as text",
    "on: push\njobs:\n  a:\n    runs-on: linux\n    continue-on-error: maybe\n    steps: [{ run: make }]\n",
    [[5, 24, "continue-on-error must be true or false"]],
  ],
]

describe("parseWorkflow: invalid workflows name the line, column and the fix", () => {
  it.each(INVALID)("refuses %s", (_, text, expected) => {
    const got = problems(text)
    expect(got.map((p) => [p.line, p.column])).toEqual(expected.map(([l, c]) => [l, c]))
    got.forEach((p, i) => {
      expect(p.message).toContain(expected[i]![2])
    })
  })

  it("reports every problem at once, in file order, with the workflow's name", () => {
    const r = parseWorkflow(
      PATH,
      "name: Broken\non: [push, issues]\njobs:\n  a:\n    runs-on: linux\n    foo: 1\n    steps:\n      - uses: x\n",
    )
    expect(r._tag).toBe("Invalid")
    if (r._tag !== "Invalid") return
    expect(r.name).toBe("Broken")
    expect(r.path).toBe(PATH)
    expect(r.problems.map((p) => p.line)).toEqual([2, 6, 8])
    expect(r.problems.every((p) => p.path === PATH)).toBe(true)
  })
})

/** mulberry32, so a failing case is reproducible from its seed. */
const rng = (seed: number) => () => {
  seed = (seed + 0x6d2b79f5) | 0
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296
}

describe("parseWorkflow on damaged files", () => {
  it("never throws, and places every problem inside the file (300 seeded mutations)", () => {
    const base = `on:\n  push:\n    branches: [main]\njobs:\n  build:\n    runs-on: linux\n    strategy:\n      matrix:\n        n: [1, 2]\n    steps:\n      - run: echo \${{ matrix.n }}\n  test:\n    needs: build\n    if: always()\n    runs-on: linux\n    steps:\n      - run: make\n`
    const junk = [
      "${{",
      "}}",
      ":",
      "-",
      " ",
      "\n",
      "[",
      "]",
      "{",
      "'",
      '"',
      "&a",
      "*a",
      "|",
      "\t",
      "#",
      "needs: test",
      "if: ",
      "include:",
    ]
    for (let seed = 0; seed < 300; seed++) {
      const next = rng(seed)
      let t = base
      for (let i = 0, n = 1 + Math.floor(next() * 3); i < n; i++) {
        const at = Math.floor(next() * t.length)
        t =
          next() < 0.4
            ? t.slice(0, at) + t.slice(at + 1 + Math.floor(next() * 4))
            : t.slice(0, at) + junk[Math.floor(next() * junk.length)] + t.slice(at)
      }
      const r = parseWorkflow(PATH, t)
      if (r._tag === "Valid") continue
      const lines = t.split("\n")
      expect(r.problems.length, `seed ${seed}`).toBeGreaterThan(0)
      for (const p of r.problems) {
        expect(p.line, `seed ${seed}: ${p.message}`).toBeGreaterThanOrEqual(1)
        expect(p.line, `seed ${seed}: ${p.message}`).toBeLessThanOrEqual(lines.length)
        expect(p.column, `seed ${seed}: ${p.message}`).toBeGreaterThanOrEqual(1)
        expect(p.column, `seed ${seed}: ${p.message}`).toBeLessThanOrEqual(
          lines[p.line - 1]!.length + 1,
        )
      }
    }
  })
})

describe("docs/ci.md", () => {
  it("its complete example parses and plans the jobs it describes", async () => {
    const { readFile } = await import("node:fs/promises")
    const { planJobs } = await import("../../src/domain/ci/Plan.ts")
    const doc = await readFile(new URL("../../docs/ci.md", import.meta.url), "utf8")
    const example = /## Complete example[\s\S]*?```yaml\n([\s\S]*?)```/.exec(doc)?.[1]
    expect(example).toBeDefined()
    const w = valid(example!)
    expect(planJobs(w).map((p) => p.key)).toEqual([
      "build (18)",
      "build (20)",
      "build (22)",
      "test",
      "report",
    ])
    expect(w.jobs.find((j) => j.id === "report")?.if).toBe("always()")
  })
})
