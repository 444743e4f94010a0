/**
 * Reads a workflow file into a `Workflow`, or says precisely why it cannot: every problem
 * names the line and column and what to write instead. The accepted subset of GitHub
 * Actions syntax is documented in docs/ci.md; anything outside it is refused rather than
 * ignored, so a workflow never silently does less than its author expects.
 *
 * Pure: the same text gives the same result on every validator.
 */
import {
  type Alias,
  isAlias,
  isMap,
  isScalar,
  isSeq,
  LineCounter,
  type Node,
  parseDocument,
  type Document,
  type Scalar,
  type YAMLMap,
} from "yaml"
import { CronError, parseCron } from "./Cron.ts"
import { ExpressionError, findEmbedded, parseCondition, parseExpression } from "./Expression.ts"
import { compileFilterPattern, expandMatrix, FilterPatternError, MAX_MATRIX_JOBS } from "./Plan.ts"
import type {
  BranchFilter,
  DispatchInput,
  JobSpec,
  MatrixSpec,
  MatrixValue,
  ParsedWorkflow,
  SourcePos,
  StepSpec,
  Triggers,
  Workflow,
  WorkflowProblem,
} from "./Workflow.ts"

export const DEFAULT_TIMEOUT_MINUTES = 360
/** The longest timeout a job or step may ask for: one week. */
export const MAX_TIMEOUT_MINUTES = 10080

export const WORKFLOW_KEYS = ["name", "on", "env", "jobs"] as const
export const JOB_KEYS = [
  "name",
  "needs",
  "runs-on",
  "if",
  "env",
  "strategy",
  "timeout-minutes",
  "continue-on-error",
  "steps",
] as const
export const STEP_KEYS = [
  "id",
  "name",
  "run",
  "shell",
  "working-directory",
  "env",
  "if",
  "timeout-minutes",
  "continue-on-error",
] as const
export const SHELLS = ["bash", "sh", "python"] as const
export const EVENTS = ["push", "pull_request", "workflow_dispatch", "schedule"] as const
export const PULL_REQUEST_TYPES = [
  "assigned",
  "unassigned",
  "labeled",
  "unlabeled",
  "opened",
  "edited",
  "closed",
  "reopened",
  "synchronize",
  "converted_to_draft",
  "ready_for_review",
  "locked",
  "unlocked",
  "review_requested",
  "review_request_removed",
  "auto_merge_enabled",
  "auto_merge_disabled",
] as const

/** GitHub keys we know but do not support, with the reason given to the author. */
const REFUSED: Readonly<Record<string, string>> = {
  permissions: "permissions is not supported (jobs get no repository token); remove it",
  concurrency: "concurrency is not supported; remove it",
  defaults: "defaults is not supported; set shell: and working-directory: on each step",
  "run-name": "run-name is not supported; remove it (runs are named after the workflow)",
  outputs: "job outputs are not supported; remove outputs:",
  services: "service containers are not supported; start what the job needs in a run: step",
  container: "container jobs are not supported; jobs run directly on the runner",
  environment: "deployment environments are not supported; remove environment:",
  uses: "reusable workflows and actions are not supported; use run: steps",
  with: "with: passes inputs to an action, and actions are not supported; use run: steps",
  secrets: "passing secrets to a reusable workflow is not supported; remove secrets:",
}

const ID = /^[A-Za-z_][A-Za-z0-9_-]*$/
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/

const distance = (a: string, b: string): number => {
  const d = Array.from({ length: b.length + 1 }, (_, j) => j)
  for (let i = 1; i <= a.length; i++) {
    let prev = d[0]!
    d[0] = i
    for (let j = 1; j <= b.length; j++) {
      const tmp = d[j]!
      d[j] = Math.min(d[j]! + 1, d[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1))
      prev = tmp
    }
  }
  return d[b.length]!
}

const suggestion = (key: string, allowed: ReadonlyArray<string>): string => {
  const near = allowed.find((k) => distance(k, key.toLowerCase()) <= 2)
  return near ? `did you mean '${near}'? ` : ""
}

type YNode = Node | Alias | null | undefined

/** The parse in progress: the document, its line index and the problems found so far. */
class Reader {
  readonly problems: WorkflowProblem[] = []
  constructor(
    readonly path: string,
    readonly text: string,
    readonly doc: Document,
    readonly lines: LineCounter,
  ) {}

  pos(offset: number): SourcePos {
    const p = this.lines.linePos(Math.max(0, Math.min(offset, this.text.length)))
    return { line: p.line, column: p.col }
  }
  posOf(node: YNode, fallback = 0): SourcePos {
    return this.pos(node?.range?.[0] ?? fallback)
  }
  problemAt(offset: number, message: string): void {
    const p = this.pos(offset)
    this.problems.push({ path: this.path, line: p.line, column: p.column, message })
  }
  problem(node: YNode, message: string, fallback = 0): void {
    this.problemAt(node?.range?.[0] ?? fallback, message)
  }
  resolve(node: YNode): Node | null {
    if (isAlias(node)) return (node.resolve(this.doc) as Node | undefined) ?? null
    return node ?? null
  }
}

interface Entry {
  readonly key: string
  readonly keyNode: Node
  readonly value: Node | null
}

/** The key/value pairs of a mapping, keys as text (non-text keys are reported). */
const entries = (r: Reader, map: YAMLMap): Entry[] => {
  const out: Entry[] = []
  for (const pair of map.items) {
    const keyNode = r.resolve(pair.key as YNode)
    if (!isScalar(keyNode) || keyNode.value === null || typeof keyNode.value === "object") {
      r.problem(keyNode, "a key must be plain text", map.range?.[0])
      continue
    }
    out.push({ key: String(keyNode.value), keyNode, value: r.resolve(pair.value as YNode) })
  }
  return out
}

const checkKeys = (
  r: Reader,
  es: ReadonlyArray<Entry>,
  allowed: ReadonlyArray<string>,
  where: string,
  extra: Readonly<Record<string, string>> = {},
): void => {
  for (const e of es) {
    if (allowed.includes(e.key)) continue
    const refused = extra[e.key] ?? REFUSED[e.key]
    if (refused) r.problem(e.keyNode, refused)
    else
      r.problem(
        e.keyNode,
        `unknown key '${e.key}' in ${where}; ${suggestion(e.key, allowed)}allowed keys are ${allowed.join(", ")}`,
      )
  }
}

const describeNode = (n: Node | null): string =>
  n === null || (isScalar(n) && n.value === null)
    ? "nothing"
    : isMap(n)
      ? "a mapping"
      : isSeq(n)
        ? "a list"
        : isScalar(n)
          ? `${typeof n.value} ${JSON.stringify(n.value)}`
          : "something else"

/** A text value (numbers and booleans as written); undefined after reporting otherwise. */
const text = (r: Reader, e: Entry, what: string): string | undefined => {
  const v = e.value
  if (
    isScalar(v) &&
    (typeof v.value === "string" || typeof v.value === "number" || typeof v.value === "boolean")
  )
    return typeof v.value === "string" ? v.value : scalarText(v)
  r.problem(v ?? e.keyNode, `${what} must be text, found ${describeNode(v)}`)
  return undefined
}

const scalarText = (s: Scalar): string =>
  typeof s.value === "string"
    ? s.value
    : s.value === null || s.value === undefined
      ? ""
      : (s.source ?? String(s.value))

/** A list of texts, also accepting a single text. */
const textList = (
  r: Reader,
  e: Entry,
  what: string,
): Array<{ value: string; node: Node }> | undefined => {
  const v = e.value
  if (isScalar(v) && (typeof v.value === "string" || typeof v.value === "number"))
    return [{ value: scalarText(v), node: v }]
  if (isSeq(v)) {
    const out: Array<{ value: string; node: Node }> = []
    let ok = true
    for (const item of v.items) {
      const n = r.resolve(item as YNode)
      if (isScalar(n) && (typeof n.value === "string" || typeof n.value === "number"))
        out.push({ value: scalarText(n), node: n })
      else {
        r.problem(
          n ?? v,
          `each entry of ${what} must be text, found ${describeNode(n)}`,
          v.range?.[0],
        )
        ok = false
      }
    }
    return ok ? out : undefined
  }
  r.problem(v ?? e.keyNode, `${what} must be text or a list of texts, found ${describeNode(v)}`)
  return undefined
}

const bool = (r: Reader, e: Entry, what: string): boolean | undefined => {
  if (isScalar(e.value) && typeof e.value.value === "boolean") return e.value.value
  r.problem(e.value ?? e.keyNode, `${what} must be true or false, found ${describeNode(e.value)}`)
  return undefined
}

const timeout = (r: Reader, e: Entry): number | undefined => {
  const v = e.value
  if (
    isScalar(v) &&
    typeof v.value === "number" &&
    Number.isInteger(v.value) &&
    v.value >= 1 &&
    v.value <= MAX_TIMEOUT_MINUTES
  )
    return v.value
  r.problem(
    v ?? e.keyNode,
    `timeout-minutes must be a whole number of minutes from 1 to ${MAX_TIMEOUT_MINUTES}, found ${describeNode(v)}`,
  )
  return undefined
}

const mapping = (r: Reader, e: Entry, what: string): YAMLMap | undefined => {
  if (isMap(e.value)) return e.value
  r.problem(
    e.value ?? e.keyNode,
    `${what} must be a mapping (key: value lines), found ${describeNode(e.value)}`,
  )
  return undefined
}

const envMap = (r: Reader, e: Entry, where: string): Record<string, string> => {
  const out: Record<string, string> = {}
  if (isScalar(e.value) && e.value.value === null) return out
  const m = mapping(r, e, `env in ${where}`)
  if (!m) return out
  for (const v of entries(r, m)) {
    if (!ENV_NAME.test(v.key)) {
      r.problem(
        v.keyNode,
        `'${v.key}' is not a valid environment variable name; use letters, digits and _ (not starting with a digit)`,
      )
      continue
    }
    if (isScalar(v.value) || v.value === null)
      out[v.key] = v.value === null ? "" : scalarText(v.value)
    else
      r.problem(
        v.value,
        `env value ${v.key} must be text, a number or a boolean, found ${describeNode(v.value)}`,
      )
  }
  return out
}

// ---------------------------------------------------------------------------------------
// Expressions anywhere in the file

/** Reports every malformed `${{ }}` in string values, at the line and column of the error. */
const checkExpressions = (r: Reader, node: YNode, isIf = false): void => {
  const n = r.resolve(node)
  if (n === null) return
  if (isMap(n)) {
    for (const pair of n.items) {
      const key = r.resolve(pair.key as YNode)
      const keyText = isScalar(key) ? String(key.value) : ""
      checkExpressions(r, pair.value as YNode, keyText === "if")
    }
    return
  }
  if (isSeq(n)) {
    for (const item of n.items) checkExpressions(r, item as YNode)
    return
  }
  if (!isScalar(n)) return
  const value = isIf ? scalarText(n) : typeof n.value === "string" ? n.value : undefined
  if (value === undefined) return
  const start = n.range?.[0] ?? 0
  const raw = r.text.slice(start, n.range?.[1] ?? start)
  // Offsets inside the value map onto the source when the text appears there verbatim.
  const sourceOffset = (valueOffset: number): number => {
    const open = value.lastIndexOf("${{", valueOffset)
    if (open < 0) return start
    const nth = value.slice(0, open).split("${{").length - 1
    let at = -1
    for (let i = 0; i <= nth; i++) {
      at = raw.indexOf("${{", at + 1)
      if (at < 0) return start
    }
    return start + at + (valueOffset - open)
  }
  const bareStart = (() => {
    if (n.type === "QUOTE_DOUBLE" || n.type === "QUOTE_SINGLE") return start + 1
    return start
  })()
  try {
    if (isIf) {
      if (value.includes("${{")) {
        for (const p of findEmbedded(value)) check(p.expression, value, p.start)
      }
      parseCondition(value)
    } else for (const p of findEmbedded(value)) check(p.expression, value, p.start)
  } catch (err) {
    if (!(err instanceof ExpressionError)) throw err
    const inValue = err.expression === value
    const offset = inValue
      ? value.includes("${{")
        ? sourceOffset(err.position)
        : bareStart + err.position
      : bareStart + err.position
    r.problemAt(offset, `${isIf ? "in if: " : ""}${err.problem}`)
  }

  function check(expr: string, whole: string, open: number) {
    try {
      parseExpression(expr)
    } catch (err) {
      if (!(err instanceof ExpressionError)) throw err
      const lead = whole.slice(open + 3).length - whole.slice(open + 3).trimStart().length
      throw new ExpressionError({
        expression: whole,
        position: open + 3 + lead + err.position,
        problem: `${err.problem} in \${{ ${expr} }}`,
      })
    }
  }
}

// ---------------------------------------------------------------------------------------
// on:

const filterKeys = (event: "push" | "pull_request") =>
  event === "push"
    ? ["branches", "branches-ignore", "tags", "tags-ignore", "paths", "paths-ignore"]
    : ["branches", "branches-ignore", "paths", "paths-ignore", "types"]

const parseFilter = (
  r: Reader,
  event: "push" | "pull_request",
  value: Node | null,
  keyNode: Node,
) => {
  const filter: { -readonly [K in keyof BranchFilter]: BranchFilter[K] } & { types?: string[] } = {}
  if (value === null || (isScalar(value) && value.value === null)) return filter
  if (!isMap(value)) {
    r.problem(
      value,
      `on.${event} must be a mapping of filters (branches:, paths:, …) or empty, found ${describeNode(value)}`,
    )
    return filter
  }
  const es = entries(r, value)
  checkKeys(r, es, filterKeys(event), `on.${event}`)
  const fields: Record<string, keyof BranchFilter> = {
    branches: "branches",
    "branches-ignore": "branchesIgnore",
    tags: "tags",
    "tags-ignore": "tagsIgnore",
    paths: "paths",
    "paths-ignore": "pathsIgnore",
  }
  for (const e of es) {
    if (e.key === "types") {
      const list = textList(r, e, `on.${event}.types`)
      if (!list) continue
      for (const t of list)
        if (!(PULL_REQUEST_TYPES as ReadonlyArray<string>).includes(t.value))
          r.problem(
            t.node,
            `'${t.value}' is not a pull_request activity type; ${suggestion(t.value, PULL_REQUEST_TYPES)}known types are ${PULL_REQUEST_TYPES.join(", ")}`,
          )
      filter.types = list.map((t) => t.value)
      continue
    }
    const field = fields[e.key]
    if (!field) continue
    const list = textList(r, e, `on.${event}.${e.key}`)
    if (!list) continue
    for (const p of list) {
      try {
        compileFilterPattern(p.value)
      } catch (err) {
        if (!(err instanceof FilterPatternError)) throw err
        r.problem(p.node, err.message)
      }
    }
    filter[field] = list.map((p) => p.value)
  }
  for (const [a, b] of [
    ["branches", "branches-ignore"],
    ["tags", "tags-ignore"],
    ["paths", "paths-ignore"],
  ] as const) {
    const second = es.find((e) => e.key === b)
    if (second && es.some((e) => e.key === a))
      r.problem(
        second.keyNode,
        `on.${event} cannot have both ${a} and ${b}; use ${a} with '!' patterns to exclude`,
      )
  }
  void keyNode
  return filter
}

const parseDispatch = (r: Reader, value: Node | null): Record<string, DispatchInput> => {
  const inputs: Record<string, DispatchInput> = {}
  if (value === null || (isScalar(value) && value.value === null)) return inputs
  if (!isMap(value)) {
    r.problem(
      value,
      `on.workflow_dispatch must be empty or a mapping with inputs:, found ${describeNode(value)}`,
    )
    return inputs
  }
  const es = entries(r, value)
  checkKeys(r, es, ["inputs"], "on.workflow_dispatch")
  const inputsEntry = es.find((e) => e.key === "inputs")
  if (!inputsEntry || (isScalar(inputsEntry.value) && inputsEntry.value.value === null))
    return inputs
  const m = mapping(r, inputsEntry, "on.workflow_dispatch.inputs")
  if (!m) return inputs
  for (const input of entries(r, m)) {
    if (!ID.test(input.key)) {
      r.problem(
        input.keyNode,
        `'${input.key}' is not a valid input name; use letters, digits, _ and - (starting with a letter or _)`,
      )
      continue
    }
    const where = `input '${input.key}'`
    let spec: Entry[] = []
    if (isMap(input.value)) spec = entries(r, input.value)
    else if (!(isScalar(input.value) && input.value.value === null) && input.value !== null) {
      r.problem(
        input.value,
        `${where} must be a mapping (description:, required:, default:, type:, options:), found ${describeNode(input.value)}`,
      )
      continue
    }
    checkKeys(r, spec, ["description", "required", "default", "type", "options"], where)
    const get = (k: string) => spec.find((e) => e.key === k)
    const typeEntry = get("type")
    let type: DispatchInput["type"] = "string"
    if (typeEntry) {
      const t = text(r, typeEntry, `the type of ${where}`)
      if (t === "string" || t === "boolean" || t === "choice" || t === "number") type = t
      else if (t !== undefined)
        r.problem(
          typeEntry.value,
          `the type of ${where} must be string, boolean, choice or number, found '${t}'`,
        )
    }
    const requiredEntry = get("required")
    const required = requiredEntry
      ? (bool(r, requiredEntry, `required in ${where}`) ?? false)
      : false
    const descEntry = get("description")
    const description = descEntry ? text(r, descEntry, `the description of ${where}`) : undefined
    const defaultEntry = get("default")
    let dflt: string | undefined
    if (defaultEntry) {
      if (isScalar(defaultEntry.value) || defaultEntry.value === null)
        dflt = defaultEntry.value === null ? "" : scalarText(defaultEntry.value)
      else
        r.problem(
          defaultEntry.value,
          `the default of ${where} must be a single value, found ${describeNode(defaultEntry.value)}`,
        )
    }
    const optionsEntry = get("options")
    let options: string[] | undefined
    if (optionsEntry) {
      if (!isSeq(optionsEntry.value))
        r.problem(optionsEntry.value ?? optionsEntry.keyNode, `options of ${where} must be a list`)
      else {
        options = []
        for (const item of optionsEntry.value.items) {
          const n = r.resolve(item as YNode)
          if (isScalar(n) && n.value !== null && typeof n.value !== "object")
            options.push(scalarText(n))
          else r.problem(n ?? optionsEntry.value, `each option of ${where} must be a single value`)
        }
      }
    }
    if (type === "choice" && (!options || options.length === 0))
      r.problem(
        typeEntry?.value ?? input.keyNode,
        `${where} has type choice, so it needs a non-empty options: list`,
      )
    if (type !== "choice" && optionsEntry)
      r.problem(
        optionsEntry.keyNode,
        `options: only applies to type: choice (${where} has type ${type})`,
      )
    if (type === "choice" && options && dflt !== undefined && !options.includes(dflt))
      r.problem(
        defaultEntry!.value,
        `the default '${dflt}' of ${where} is not one of its options (${options.join(", ")})`,
      )
    if (type === "boolean" && dflt !== undefined && dflt !== "true" && dflt !== "false")
      r.problem(defaultEntry!.value, `the default of boolean ${where} must be true or false`)
    if (
      type === "number" &&
      dflt !== undefined &&
      (dflt.trim() === "" || !Number.isFinite(Number(dflt)))
    )
      r.problem(defaultEntry!.value, `the default of number ${where} must be a number`)
    inputs[input.key] = {
      required,
      type,
      ...(description !== undefined ? { description } : {}),
      ...(dflt !== undefined ? { default: dflt } : {}),
      ...(options !== undefined ? { options } : {}),
    }
  }
  return inputs
}

const parseSchedule = (r: Reader, value: Node | null, keyNode: Node): Array<{ cron: string }> => {
  const out: Array<{ cron: string }> = []
  if (!isSeq(value) || value.items.length === 0) {
    r.problem(
      value ?? keyNode,
      `on.schedule must be a list of '- cron: "…"' entries, found ${describeNode(value)}`,
    )
    return out
  }
  for (const item of value.items) {
    const n = r.resolve(item as YNode)
    if (!isMap(n)) {
      r.problem(
        n ?? value,
        `each on.schedule entry must be a mapping '- cron: "…"', found ${describeNode(n)}`,
      )
      continue
    }
    const es = entries(r, n)
    checkKeys(r, es, ["cron"], "on.schedule")
    const c = es.find((e) => e.key === "cron")
    if (!c) {
      r.problem(n, "each on.schedule entry needs cron: (for example cron: '30 5 * * 1-5')")
      continue
    }
    const src = text(r, c, "cron")
    if (src === undefined) continue
    try {
      parseCron(src)
      out.push({ cron: src })
    } catch (err) {
      if (!(err instanceof CronError)) throw err
      r.problem(
        c.value,
        `${err.message}; cron has 5 fields: minute hour day-of-month month day-of-week (UTC)`,
      )
    }
  }
  return out
}

const parseOn = (r: Reader, e: Entry): Triggers => {
  const triggers: {
    push?: BranchFilter
    pullRequest?: BranchFilter & { types?: ReadonlyArray<string> }
    workflowDispatch?: { inputs: Record<string, DispatchInput> }
    schedule?: Array<{ cron: string }>
  } = {}
  const events: Array<{ name: string; node: Node; value: Node | null }> = []
  const v = e.value
  if (isScalar(v) && typeof v.value === "string")
    events.push({ name: v.value, node: v, value: null })
  else if (isSeq(v)) {
    for (const item of v.items) {
      const n = r.resolve(item as YNode)
      if (isScalar(n) && typeof n.value === "string")
        events.push({ name: n.value, node: n, value: null })
      else
        r.problem(
          n ?? v,
          `each event in the on: list must be an event name, found ${describeNode(n)}`,
        )
    }
  } else if (isMap(v)) {
    for (const ev of entries(r, v)) events.push({ name: ev.key, node: ev.keyNode, value: ev.value })
  } else {
    r.problem(
      v ?? e.keyNode,
      `on: must be an event name, a list of event names or a mapping of events, found ${describeNode(v)}`,
    )
    return triggers
  }
  if (events.length === 0 && (isSeq(v) || isMap(v)))
    r.problem(v, "on: names no event; add push, pull_request, workflow_dispatch or schedule")
  for (const ev of events) {
    switch (ev.name) {
      case "push":
        triggers.push = parseFilter(r, "push", ev.value, ev.node)
        break
      case "pull_request":
        triggers.pullRequest = parseFilter(r, "pull_request", ev.value, ev.node)
        break
      case "workflow_dispatch":
        triggers.workflowDispatch = { inputs: parseDispatch(r, ev.value) }
        break
      case "schedule":
        if (ev.value === null && !isMap(v))
          r.problem(
            ev.node,
            "schedule needs cron entries: write on: { schedule: [ { cron: '0 3 * * *' } ] }",
          )
        else triggers.schedule = parseSchedule(r, ev.value, ev.node)
        break
      default:
        r.problem(
          ev.node,
          `event '${ev.name}' is not supported; ${suggestion(ev.name, EVENTS)}supported events are ${EVENTS.join(", ")}`,
        )
    }
  }
  return triggers
}

// ---------------------------------------------------------------------------------------
// jobs:

const parseMatrix = (
  r: Reader,
  e: Entry,
  jobId: string,
): Omit<MatrixSpec, "failFast" | "maxParallel"> | undefined => {
  const v = e.value
  if (isScalar(v) && typeof v.value === "string" && v.value.includes("${{")) {
    r.problem(
      v,
      `job '${jobId}': a matrix computed by an expression is not supported; list the values under matrix:`,
    )
    return undefined
  }
  if (!isMap(v)) {
    r.problem(
      v ?? e.keyNode,
      `job '${jobId}': matrix must be a mapping of axis: [values], found ${describeNode(v)}`,
    )
    return undefined
  }
  const axes: Array<readonly [string, MatrixValue[]]> = []
  let include: Array<Record<string, MatrixValue>> = []
  let exclude: Array<Record<string, MatrixValue>> = []
  let ok = true
  const value = (n: Node | null, where: string): MatrixValue | undefined => {
    if (
      isScalar(n) &&
      (typeof n.value === "string" || typeof n.value === "number" || typeof n.value === "boolean")
    ) {
      if (typeof n.value === "string" && n.value.includes("${{")) {
        r.problem(
          n,
          `job '${jobId}': ${where} cannot be computed by an expression; write the value itself`,
        )
        ok = false
        return undefined
      }
      return n.value
    }
    r.problem(
      n ?? v,
      `job '${jobId}': ${where} must be text, a number or a boolean, found ${describeNode(n)}`,
    )
    ok = false
    return undefined
  }
  const objects = (en: Entry, name: "include" | "exclude") => {
    const out: Array<Record<string, MatrixValue>> = []
    if (!isSeq(en.value)) {
      r.problem(
        en.value ?? en.keyNode,
        `job '${jobId}': matrix.${name} must be a list of mappings, found ${describeNode(en.value)}`,
      )
      ok = false
      return out
    }
    for (const item of en.value.items) {
      const n = r.resolve(item as YNode)
      if (!isMap(n) || n.items.length === 0) {
        r.problem(
          n ?? en.value,
          `job '${jobId}': each matrix.${name} entry must be a non-empty mapping of axis: value`,
        )
        ok = false
        continue
      }
      const obj: Record<string, MatrixValue> = {}
      for (const kv of entries(r, n)) {
        const mv = value(kv.value, `matrix.${name} value ${kv.key}`)
        if (mv !== undefined) obj[kv.key] = mv
      }
      out.push(obj)
    }
    return out
  }
  const es = entries(r, v)
  for (const en of es) {
    if (en.key === "include") include = objects(en, "include")
    else if (en.key === "exclude") exclude = objects(en, "exclude")
    else if (isSeq(en.value)) {
      if (en.value.items.length === 0) {
        r.problem(
          en.value,
          `job '${jobId}': matrix axis '${en.key}' has no values; give it at least one or remove it`,
        )
        ok = false
        continue
      }
      const values: MatrixValue[] = []
      for (const item of en.value.items) {
        const mv = value(r.resolve(item as YNode), `each value of matrix axis '${en.key}'`)
        if (mv !== undefined) values.push(mv)
      }
      axes.push([en.key, values] as const)
    } else {
      r.problem(
        en.value ?? en.keyNode,
        `job '${jobId}': matrix axis '${en.key}' must be a list of values, found ${describeNode(en.value)}`,
      )
      ok = false
    }
  }
  const axisNames = axes.map(([k]) => k)
  const excludeEntry = es.find((x) => x.key === "exclude")
  exclude.forEach((ex, i) => {
    for (const k of Object.keys(ex))
      if (!axisNames.includes(k)) {
        const node = isSeq(excludeEntry?.value)
          ? (excludeEntry.value.items[i] as YNode)
          : excludeEntry?.keyNode
        r.problem(
          node,
          `job '${jobId}': matrix.exclude names '${k}', which is not a matrix axis (axes: ${axisNames.join(", ") || "none"})`,
        )
        ok = false
      }
  })
  if (!ok) return undefined
  if (axes.length === 0 && include.length === 0) {
    r.problem(v, `job '${jobId}': the matrix has no axes; add axis: [values] or include:`)
    return undefined
  }
  const spec = { axes, include, exclude }
  const count = expandMatrix({ ...spec, failFast: true }).length
  if (count === 0)
    r.problem(
      v,
      `job '${jobId}': exclude: removes every matrix combination, so the job would never run`,
    )
  else if (count > MAX_MATRIX_JOBS)
    r.problem(
      v,
      `job '${jobId}': the matrix makes ${count} jobs; at most ${MAX_MATRIX_JOBS} are allowed`,
    )
  return spec
}

const parseStrategy = (r: Reader, e: Entry, jobId: string): MatrixSpec | undefined => {
  const m = mapping(r, e, `strategy in job '${jobId}'`)
  if (!m) return undefined
  const es = entries(r, m)
  checkKeys(r, es, ["matrix", "fail-fast", "max-parallel"], `the strategy of job '${jobId}'`)
  const matrixEntry = es.find((x) => x.key === "matrix")
  const ffEntry = es.find((x) => x.key === "fail-fast")
  const mpEntry = es.find((x) => x.key === "max-parallel")
  const failFast = ffEntry ? (bool(r, ffEntry, "fail-fast") ?? true) : true
  let maxParallel: number | undefined
  if (mpEntry) {
    const n = mpEntry.value
    if (isScalar(n) && typeof n.value === "number" && Number.isInteger(n.value) && n.value >= 1)
      maxParallel = n.value
    else
      r.problem(
        n ?? mpEntry.keyNode,
        `max-parallel must be a whole number of at least 1, found ${describeNode(n)}`,
      )
  }
  if (!matrixEntry) {
    r.problem(e.keyNode, `the strategy of job '${jobId}' needs a matrix:`)
    return undefined
  }
  const matrix = parseMatrix(r, matrixEntry, jobId)
  if (!matrix) return undefined
  return { ...matrix, failFast, ...(maxParallel !== undefined ? { maxParallel } : {}) }
}

const parseStep = (
  r: Reader,
  node: Node | null,
  jobId: string,
  index: number,
  fallback: number,
): StepSpec | undefined => {
  const where = `step ${index + 1} of job '${jobId}'`
  if (!isMap(node)) {
    r.problem(node, `${where} must be a mapping with run:, found ${describeNode(node)}`, fallback)
    return undefined
  }
  const es = entries(r, node)
  const usesEntry = es.find((x) => x.key === "uses")
  if (usesEntry)
    r.problem(
      usesEntry.keyNode,
      `${where}: actions are not supported (uses: ${isScalar(usesEntry.value) ? String(usesEntry.value.value) : "…"}); use run: with the commands instead`,
    )
  checkKeys(
    r,
    es.filter((x) => x.key !== "uses"),
    STEP_KEYS,
    where,
    {
      with: `${where}: with: passes inputs to an action, and actions are not supported; use run:`,
    },
  )
  const get = (k: string) => es.find((x) => x.key === k)
  const runEntry = get("run")
  if (!runEntry) {
    if (!usesEntry)
      r.problem(node, `${where} has no run:; every step runs a shell script, e.g. run: make test`)
    return undefined
  }
  const run = text(r, runEntry, `run in ${where}`)
  if (run === undefined) return undefined
  if (run.trim() === "")
    r.problem(
      runEntry.value ?? runEntry.keyNode,
      `${where}: run: is empty; give it the commands to run`,
    )
  const step: {
    -readonly [K in keyof StepSpec]: StepSpec[K]
  } = { run, env: {}, continueOnError: false, pos: r.posOf(node) }
  for (const en of es) {
    switch (en.key) {
      case "id": {
        const id = text(r, en, "id")
        if (id !== undefined && !ID.test(id))
          r.problem(
            en.value,
            `step id '${id}' must start with a letter or _ and contain only letters, digits, _ and -`,
          )
        else if (id !== undefined) step.id = id
        break
      }
      case "name":
        step.name = text(r, en, "name")
        break
      case "shell": {
        const sh = text(r, en, "shell")
        if (sh !== undefined && !(SHELLS as ReadonlyArray<string>).includes(sh))
          r.problem(en.value, `shell '${sh}' is not supported; use one of ${SHELLS.join(", ")}`)
        else step.shell = sh
        break
      }
      case "working-directory":
        step.workingDirectory = text(r, en, "working-directory")
        break
      case "env":
        step.env = envMap(r, en, where)
        break
      case "if":
        step.if = text(r, en, "if")
        break
      case "timeout-minutes":
        step.timeoutMinutes = timeout(r, en)
        break
      case "continue-on-error":
        step.continueOnError = bool(r, en, "continue-on-error") ?? false
        break
    }
  }
  for (const k of Object.keys(step) as Array<keyof StepSpec>)
    if (step[k] === undefined) delete step[k]
  return step
}

interface ParsedJob {
  readonly spec: JobSpec
  readonly needNodes: ReadonlyArray<{ value: string; node: Node }>
  readonly keyNode: Node
}

const parseJob = (r: Reader, e: Entry): ParsedJob | undefined => {
  const id = e.key
  if (!ID.test(id)) {
    r.problem(
      e.keyNode,
      `job id '${id}' must start with a letter or _ and contain only letters, digits, _ and -`,
    )
    return undefined
  }
  if (!isMap(e.value)) {
    r.problem(
      e.value ?? e.keyNode,
      `job '${id}' must be a mapping with runs-on: and steps:, found ${describeNode(e.value)}`,
    )
    return undefined
  }
  const es = entries(r, e.value)
  checkKeys(r, es, JOB_KEYS, `job '${id}'`)
  const get = (k: string) => es.find((x) => x.key === k)
  let needNodes: Array<{ value: string; node: Node }> = []
  const job: { -readonly [K in keyof JobSpec]: JobSpec[K] } = {
    id,
    needs: [],
    runsOn: [],
    env: {},
    timeoutMinutes: DEFAULT_TIMEOUT_MINUTES,
    continueOnError: false,
    steps: [],
    pos: r.posOf(e.keyNode),
  }
  const runsOn = get("runs-on")
  if (!runsOn)
    r.problem(
      e.keyNode,
      `job '${id}' has no runs-on:; name the runner labels it needs, e.g. runs-on: linux`,
    )
  else if (isMap(runsOn.value))
    r.problem(
      runsOn.value,
      `job '${id}': runs-on as a mapping (group:, labels:) is not supported; give a label or a list of labels`,
    )
  else {
    const labels = textList(r, runsOn, "runs-on")
    if (labels && labels.length === 0)
      r.problem(runsOn.value, `job '${id}': runs-on lists no label`)
    else if (labels) {
      const empty = labels.find((l) => l.value.trim() === "")
      if (empty) r.problem(empty.node, `job '${id}': a runs-on label is empty`)
      job.runsOn = labels.map((l) => l.value)
    }
  }
  for (const en of es) {
    switch (en.key) {
      case "name":
        job.name = text(r, en, "name")
        break
      case "needs": {
        const list = textList(r, en, "needs")
        if (list) {
          needNodes = list
          job.needs = [...new Set(list.map((n) => n.value))]
        }
        break
      }
      case "if":
        job.if = text(r, en, "if")
        break
      case "env":
        job.env = envMap(r, en, `job '${id}'`)
        break
      case "strategy":
        job.matrix = parseStrategy(r, en, id)
        break
      case "timeout-minutes":
        job.timeoutMinutes = timeout(r, en) ?? DEFAULT_TIMEOUT_MINUTES
        break
      case "continue-on-error":
        job.continueOnError = bool(r, en, "continue-on-error") ?? false
        break
    }
  }
  const stepsEntry = get("steps")
  if (!stepsEntry) r.problem(e.keyNode, `job '${id}' has no steps:; add a list of - run: steps`)
  else if (!isSeq(stepsEntry.value) || stepsEntry.value.items.length === 0)
    r.problem(
      stepsEntry.value ?? stepsEntry.keyNode,
      `steps of job '${id}' must be a non-empty list of - run: steps, found ${describeNode(stepsEntry.value)}`,
    )
  else {
    const steps: StepSpec[] = []
    const ids = new Set<string>()
    stepsEntry.value.items.forEach((item, i) => {
      const node = r.resolve(item as YNode)
      const s = parseStep(r, node, id, i, stepsEntry.value?.range?.[0] ?? 0)
      if (!s) return
      if (s.id !== undefined) {
        if (ids.has(s.id))
          r.problem(
            node,
            `job '${id}' has two steps with id '${s.id}'; step ids must be unique within a job`,
          )
        ids.add(s.id)
      }
      steps.push(s)
    })
    job.steps = steps
  }
  for (const k of Object.keys(job) as Array<keyof JobSpec>) if (job[k] === undefined) delete job[k]
  return { spec: job, needNodes, keyNode: e.keyNode }
}

/** Reports unknown needs and every cycle among needs (naming the jobs in it). */
const checkNeeds = (r: Reader, jobs: ReadonlyArray<ParsedJob>): void => {
  const byId = new Map(jobs.map((j) => [j.spec.id, j]))
  for (const j of jobs)
    for (const n of j.needNodes)
      if (!byId.has(n.value))
        r.problem(
          n.node,
          `job '${j.spec.id}' needs '${n.value}', which is not a job in this workflow; ${suggestion(n.value, [...byId.keys()])}jobs are ${[...byId.keys()].join(", ")}`,
        )
  // Depth-first search in file order; a back edge closes a cycle, reported once per set of jobs.
  const state = new Map<string, "active" | "done">()
  const stack: string[] = []
  const reported = new Set<string>()
  const visit = (id: string) => {
    state.set(id, "active")
    stack.push(id)
    const job = byId.get(id)!
    for (const n of job.needNodes) {
      if (!byId.has(n.value)) continue
      const s = state.get(n.value)
      if (s === "active") {
        const cycle = stack.slice(stack.indexOf(n.value))
        const sig = [...cycle].sort().join(",")
        if (!reported.has(sig)) {
          reported.add(sig)
          r.problem(
            n.node,
            cycle.length === 1
              ? `job '${id}' needs itself; remove '${id}' from its needs`
              : `jobs ${cycle.map((c) => `'${c}'`).join(", ")} need each other in a cycle (${[...cycle, n.value].join(" → ")}), so none could start; remove one of these needs`,
          )
        }
      } else if (s === undefined) visit(n.value)
    }
    stack.pop()
    state.set(id, "done")
  }
  for (const j of jobs) if (!state.has(j.spec.id)) visit(j.spec.id)
}

// ---------------------------------------------------------------------------------------

const YAML_HINTS: Partial<Record<string, string>> = {
  BAD_INDENT: "check the indentation: entries of one mapping or list line up under each other",
  TAB_AS_INDENT: "indent with spaces; YAML does not allow tabs for indentation",
  DUPLICATE_KEY: "a key may appear only once in a mapping; remove or merge the repeated one",
  MULTILINE_IMPLICIT_KEY:
    "a key and its colon must be on one line; look for a missing colon or quote",
  BLOCK_AS_IMPLICIT_KEY:
    "put a space after each colon and nested entries on their own indented lines",
  MISSING_CHAR: "a closing quote or bracket is missing",
  MULTIPLE_DOCS: "a workflow file holds one YAML document; remove the extra '---'",
  BAD_ALIAS: "an alias (*name) must refer to an anchor (&name) defined earlier in the file",
}

/** Parses and validates a workflow file. Never throws. */
export const parseWorkflow = (path: string, source: string): ParsedWorkflow => {
  // The parser's own line counting skips newlines it meets while recovering from syntax
  // errors; counting them here keeps every position right.
  const lines = new LineCounter()
  lines.addNewLine(0)
  for (let i = source.indexOf("\n"); i >= 0; i = source.indexOf("\n", i + 1))
    lines.addNewLine(i + 1)
  const doc = parseDocument(source, { prettyErrors: false, uniqueKeys: true })
  const r = new Reader(path, source, doc, lines)
  const invalid = (name: string): ParsedWorkflow => ({
    _tag: "Invalid",
    path,
    name,
    problems: [...r.problems].sort((a, b) => a.line - b.line || a.column - b.column),
  })
  if (doc.errors.length > 0) {
    // Later syntax errors are mostly consequences of the first: report that one, well.
    const err = doc.errors[0]!
    const more = doc.errors.length - 1
    r.problemAt(
      err.pos[0],
      `YAML syntax error: ${err.message.replace(/ at line \d+, column \d+[\s\S]*$/, "")}; ${YAML_HINTS[err.code] ?? "check the indentation, quotes, brackets and colons here and on the line before"}${more > 0 ? ` (${more} more YAML error${more === 1 ? "" : "s"} after this one may be caused by it)` : ""}`,
    )
    return invalid(path)
  }
  const root = r.resolve(doc.contents as YNode)
  if (!isMap(root)) {
    r.problem(
      root,
      `a workflow file must be a mapping with on: and jobs:, found ${describeNode(root)}`,
    )
    return invalid(path)
  }
  const es = entries(r, root)
  checkKeys(r, es, WORKFLOW_KEYS, "the workflow")
  const get = (k: string) => es.find((x) => x.key === k)
  const nameEntry = get("name")
  const name = (nameEntry ? text(r, nameEntry, "name") : undefined) ?? path
  checkExpressions(r, root)

  const onEntry = get("on")
  let on: Triggers = {}
  if (!onEntry)
    r.problemAt(
      0,
      "the workflow has no on:; say which events start it, e.g. on: [push, pull_request]",
    )
  else on = parseOn(r, onEntry)
  const envEntry = get("env")
  const env = envEntry ? envMap(r, envEntry, "the workflow") : {}

  const jobsEntry = get("jobs")
  const jobs: ParsedJob[] = []
  if (!jobsEntry)
    r.problemAt(0, "the workflow has no jobs:; add at least one job with runs-on: and steps:")
  else if (!isMap(jobsEntry.value) || jobsEntry.value.items.length === 0)
    r.problem(
      jobsEntry.value ?? jobsEntry.keyNode,
      `jobs: must be a mapping of job id to job, found ${describeNode(jobsEntry.value)}`,
    )
  else
    for (const je of entries(r, jobsEntry.value)) {
      const j = parseJob(r, je)
      if (j) jobs.push(j)
    }
  checkNeeds(r, jobs)

  if (r.problems.length > 0) return invalid(name)
  const workflow: Workflow = { path, name, on, env, jobs: jobs.map((j) => j.spec) }
  return { _tag: "Valid", workflow }
}

/** Where GitHub-shaped workflow files live in a repository (both are read). */
export const WORKFLOW_DIRECTORIES = [".guts/workflows", ".github/workflows"] as const

/** Whether a repository path is a workflow file. */
export const isWorkflowPath = (path: string): boolean =>
  WORKFLOW_DIRECTORIES.some((d) => {
    if (!path.startsWith(`${d}/`)) return false
    const rest = path.slice(d.length + 1)
    return !rest.includes("/") && /\.ya?ml$/.test(rest)
  })
