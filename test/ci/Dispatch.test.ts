import { describe, expect, it } from "vitest"
import { dueSchedules, resolveDispatchInputs } from "../../src/domain/ci/Dispatch.ts"
import type { Workflow } from "../../src/domain/ci/Workflow.ts"
import { parseWorkflow } from "../../src/domain/ci/WorkflowParse.ts"

const JOB = "jobs:\n  a:\n    runs-on: linux\n    steps: [{ run: make }]\n"
const workflow = (on: string): Workflow => {
  const r = parseWorkflow(".guts/workflows/t.yml", `${on}\n${JOB}`)
  if (r._tag === "Invalid") throw new Error(JSON.stringify(r.problems))
  return r.workflow
}

describe("resolveDispatchInputs", () => {
  const w = workflow(`on:
  workflow_dispatch:
    inputs:
      level:
        type: choice
        options: [debug, info]
        default: info
      dry:
        type: boolean
      count:
        type: number
        required: true
      note:
        description: free text`)

  it.each([
    [{ count: 3 }, { level: "info", dry: "false", count: "3", note: "" }],
    [
      { count: "2.5", dry: true, level: "debug", note: "hi" },
      { level: "debug", dry: "true", count: "2.5", note: "hi" },
    ],
  ])("resolves %j with defaults", (given, inputs) => {
    expect(resolveDispatchInputs(w, given)).toEqual({ _tag: "Resolved", inputs })
  })

  it.each([
    [{}, ["input 'count' is required"]],
    [
      { count: 1, colour: "red" },
      ["unexpected input 'colour'; the workflow declares level, dry, count, note"],
    ],
    [{ count: "many" }, ["input 'count' must be a number, not 'many'"]],
    [{ count: 1, dry: "yes" }, ["input 'dry' must be true or false, not 'yes'"]],
    [{ count: 1, level: "trace" }, ["input 'level' must be one of debug, info, not 'trace'"]],
    [{ count: 1, note: { a: 1 } }, ["input 'note' must be text, a number or a boolean"]],
    [
      { dry: "no", x: 1 },
      [
        "unexpected input 'x'; the workflow declares level, dry, count, note",
        "input 'dry' must be true or false, not 'no'",
        "input 'count' is required",
      ],
    ],
  ])("rejects %j", (given, problems) => {
    expect(resolveDispatchInputs(w, given)).toEqual({ _tag: "Rejected", problems })
  })

  it("rejects a workflow that cannot be dispatched", () => {
    expect(resolveDispatchInputs(workflow("on: push"), {})).toEqual({
      _tag: "Rejected",
      problems: [
        "workflow '.guts/workflows/t.yml' cannot be run by hand: add workflow_dispatch to its on:",
      ],
    })
  })
})

describe("dueSchedules", () => {
  const w = workflow(`on:
  schedule:
    - cron: '*/15 * * * *'
    - cron: '0 3 * * *'
    - cron: '*/15 * * * *'`)
  const at = (iso: string) => new Date(`${iso}Z`)

  it.each([
    ["2026-03-04T10:14:00", "2026-03-04T10:15:00", ["*/15 * * * *"]],
    ["2026-03-04T10:15:00", "2026-03-04T10:29:59", []],
    ["2026-03-04T10:14:30", "2026-03-04T10:14:59", []],
    ["2026-03-04T02:59:00", "2026-03-04T03:00:00", ["*/15 * * * *", "0 3 * * *"]],
    // a late block: each entry once, however many times it fired
    ["2026-03-04T00:00:00", "2026-03-05T00:00:00", ["*/15 * * * *", "0 3 * * *"]],
  ])("from %s to %s", (after, upTo, due) => {
    expect(dueSchedules(w, at(after), at(upTo))).toEqual(due)
  })

  it("is empty for a workflow without schedule", () => {
    expect(
      dueSchedules(workflow("on: push"), at("2026-01-01T00:00:00"), at("2027-01-01T00:00:00")),
    ).toEqual([])
  })
})
