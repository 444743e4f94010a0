/**
 * Manual runs (`workflow_dispatch`) and scheduled runs: which inputs a dispatch request
 * gives a run, and which `schedule:` entries fall due between two instants. Both are pure,
 * so every validator starts the same runs for the same block.
 */
import { type Cron, nextAfter, parseCron } from "./Cron.ts"
import type { Workflow } from "./Workflow.ts"

export type ResolvedInputs =
  | { readonly _tag: "Resolved"; readonly inputs: Readonly<Record<string, string>> }
  | { readonly _tag: "Rejected"; readonly problems: ReadonlyArray<string> }

/**
 * The `inputs` context of a dispatched run: each declared input from the request (text,
 * numbers and booleans are accepted and written as text) or its default (`""` when it has
 * none). Refused, with every reason: a workflow without `workflow_dispatch`, an input the
 * workflow does not declare, a missing required one, a value that is not of the input's
 * type, a choice outside the options.
 */
export const resolveDispatchInputs = (
  workflow: Workflow,
  given: Readonly<Record<string, unknown>>,
): ResolvedInputs => {
  const dispatch = workflow.on.workflowDispatch
  if (!dispatch)
    return {
      _tag: "Rejected",
      problems: [
        `workflow '${workflow.name}' cannot be run by hand: add workflow_dispatch to its on:`,
      ],
    }
  const problems: string[] = []
  const declared = dispatch.inputs
  const unknown = Object.keys(given).filter((k) => !Object.hasOwn(declared, k))
  if (unknown.length > 0)
    problems.push(
      `unexpected input${unknown.length === 1 ? "" : "s"} ${unknown.map((k) => `'${k}'`).join(", ")}; the workflow declares ${Object.keys(declared).length === 0 ? "no inputs" : Object.keys(declared).join(", ")}`,
    )
  const inputs: Record<string, string> = {}
  for (const [name, spec] of Object.entries(declared)) {
    const raw = given[name]
    let value: string
    if (raw === undefined || raw === null) {
      if (spec.required && spec.default === undefined) {
        problems.push(`input '${name}' is required`)
        continue
      }
      value = spec.default ?? (spec.type === "boolean" ? "false" : "")
    } else if (typeof raw === "string" || typeof raw === "number" || typeof raw === "boolean")
      value = String(raw)
    else {
      problems.push(`input '${name}' must be text, a number or a boolean`)
      continue
    }
    if (spec.type === "boolean" && value !== "true" && value !== "false")
      problems.push(`input '${name}' must be true or false, not '${value}'`)
    else if (spec.type === "number" && (value.trim() === "" || !Number.isFinite(Number(value))))
      problems.push(`input '${name}' must be a number, not '${value}'`)
    else if (spec.type === "choice" && !(spec.options ?? []).includes(value))
      problems.push(
        `input '${name}' must be one of ${(spec.options ?? []).join(", ")}, not '${value}'`,
      )
    else if (spec.required && value === "") problems.push(`input '${name}' is required`)
    inputs[name] = value
  }
  return problems.length > 0 ? { _tag: "Rejected", problems } : { _tag: "Resolved", inputs }
}

/**
 * The `schedule:` entries of a workflow that fire in the interval (`after`, `upTo`] —
 * for instance between the timestamps of two consecutive blocks. An entry firing several
 * times in the interval is listed once (a late block does not start a burst of runs).
 */
export const dueSchedules = (
  workflow: Workflow,
  after: Date,
  upTo: Date,
): ReadonlyArray<string> => {
  const due: string[] = []
  for (const { cron } of workflow.on.schedule ?? []) {
    if (due.includes(cron)) continue
    let parsed: Cron
    try {
      parsed = parseCron(cron)
    } catch {
      continue // the parser refuses such workflows; nothing is due for one built by hand
    }
    // The first whole minute the entry fires at strictly after `after`.
    const next = nextAfter(parsed, after)
    if (next !== undefined && next.getTime() <= upTo.getTime()) due.push(cron)
  }
  return due
}
