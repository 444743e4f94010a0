/**
 * GitHub Actions' expression language, the subset docs/ci.md documents: literals (`null`,
 * `true`, `false`, numbers including hex and exponents, `'strings'` with `''` for a quote),
 * context access (`github.ref`, `matrix['os']`, `needs.*.result`), the operators
 * `! < <= > >= == != && || ( )`, and the functions `contains`, `startsWith`, `endsWith`,
 * `format`, `join`, `toJSON`, `fromJSON`, `success`, `failure`, `always`, `cancelled`.
 *
 * Semantics follow GitHub's: values of different types are compared as numbers (null → 0,
 * booleans → 0/1, strings parsed as numbers, '' → 0, anything else → NaN), strings compare
 * case-insensitively, `&&` and `||` return one of their operands, and the falsy values are
 * `false`, `0`, `-0`, `''`, `null` and `NaN`. Context names and property names are
 * case-insensitive. Evaluation is pure: it reads only the context it is given.
 */
import { Data } from "effect"
import type { ExprContext } from "./Workflow.ts"

/** A malformed or failing expression; `position` is the 0-based offset into `expression`. */
export class ExpressionError extends Data.TaggedError("ExpressionError")<{
  readonly expression: string
  readonly position: number
  readonly problem: string
}> {
  override get message() {
    return `${this.problem} (at position ${this.position + 1} of '${this.expression}')`
  }
}

export type BinaryOp = "==" | "!=" | "<" | "<=" | ">" | ">=" | "&&" | "||"

export type Expr =
  | {
      readonly _tag: "Literal"
      readonly value: null | boolean | number | string
      readonly pos: number
    }
  | { readonly _tag: "Context"; readonly name: string; readonly pos: number }
  | {
      readonly _tag: "Property"
      readonly object: Expr
      readonly name: string
      readonly pos: number
    }
  | { readonly _tag: "Index"; readonly object: Expr; readonly index: Expr; readonly pos: number }
  | { readonly _tag: "Star"; readonly object: Expr; readonly pos: number }
  | { readonly _tag: "Not"; readonly operand: Expr; readonly pos: number }
  | {
      readonly _tag: "Binary"
      readonly op: BinaryOp
      readonly left: Expr
      readonly right: Expr
      readonly pos: number
    }
  | {
      readonly _tag: "Call"
      readonly name: string
      readonly args: ReadonlyArray<Expr>
      readonly pos: number
    }

/** The contexts an expression may name. Those not in `ExprContext` read as null unless supplied. */
export const CONTEXT_NAMES = [
  "github",
  "env",
  "vars",
  "job",
  "steps",
  "runner",
  "secrets",
  "strategy",
  "matrix",
  "needs",
  "inputs",
] as const

/** Function name (lower case) → [canonical name, min args, max args]. */
const FUNCTIONS: Readonly<Record<string, readonly [string, number, number]>> = {
  contains: ["contains", 2, 2],
  startswith: ["startsWith", 2, 2],
  endswith: ["endsWith", 2, 2],
  format: ["format", 1, Number.POSITIVE_INFINITY],
  join: ["join", 1, 2],
  tojson: ["toJSON", 1, 1],
  fromjson: ["fromJSON", 1, 1],
  success: ["success", 0, 0],
  failure: ["failure", 0, 0],
  always: ["always", 0, 0],
  cancelled: ["cancelled", 0, 0],
}

export const STATUS_FUNCTIONS = ["success", "failure", "always", "cancelled"] as const

// ---------------------------------------------------------------------------------------
// Lexer

type Token =
  | { readonly kind: "number"; readonly value: number; readonly pos: number }
  | { readonly kind: "string"; readonly value: string; readonly pos: number }
  | { readonly kind: "ident"; readonly value: string; readonly pos: number }
  | { readonly kind: "punct"; readonly value: string; readonly pos: number }
  | { readonly kind: "end"; readonly pos: number }

const NUMBER = /^(?:0x[0-9a-fA-F]+|0o[0-7]+|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)/
const IDENT = /^[A-Za-z_][A-Za-z0-9_-]*/
const PUNCT = ["<=", ">=", "==", "!=", "&&", "||", "<", ">", "!", "(", ")", "[", "]", ".", ",", "*"]

const lex = (src: string): Token[] => {
  const tokens: Token[] = []
  const fail = (pos: number, problem: string) =>
    new ExpressionError({ expression: src, position: pos, problem })
  let i = 0
  const prevIsValue = () => {
    const p = tokens[tokens.length - 1]
    return (
      p !== undefined &&
      (p.kind === "number" ||
        p.kind === "string" ||
        p.kind === "ident" ||
        (p.kind === "punct" && (p.value === ")" || p.value === "]" || p.value === "*")))
    )
  }
  while (i < src.length) {
    const c = src[i]!
    if (c === " " || c === "\t" || c === "\n" || c === "\r") {
      i++
      continue
    }
    if (c === "'") {
      let value = ""
      let j = i + 1
      for (;;) {
        if (j >= src.length) throw fail(i, "unterminated string: close it with '")
        if (src[j] === "'") {
          if (src[j + 1] === "'") {
            value += "'"
            j += 2
            continue
          }
          break
        }
        value += src[j]
        j++
      }
      tokens.push({ kind: "string", value, pos: i })
      i = j + 1
      continue
    }
    if (c === '"') throw fail(i, "strings are written with single quotes ('like this')")
    const signed = (c === "-" || c === "+") && !prevIsValue()
    const rest = src.slice(signed ? i + 1 : i)
    const num = NUMBER.exec(rest)
    if (num && (signed || /[0-9.]/.test(c))) {
      const text = num[0]
      const after = rest[text.length]
      if (after !== undefined && /[A-Za-z0-9_]/.test(after))
        throw fail(i, `'${src.slice(i, i + (signed ? 1 : 0) + text.length + 1)}' is not a number`)
      let value = text.startsWith("0o") ? Number.parseInt(text.slice(2), 8) : Number(text)
      if (c === "-") value = -value
      tokens.push({ kind: "number", value, pos: i })
      i += text.length + (signed ? 1 : 0)
      continue
    }
    const id = IDENT.exec(src.slice(i))
    if (id) {
      tokens.push({ kind: "ident", value: id[0], pos: i })
      i += id[0].length
      continue
    }
    const p = PUNCT.find((q) => src.startsWith(q, i))
    if (p) {
      tokens.push({ kind: "punct", value: p, pos: i })
      i += p.length
      continue
    }
    if (c === "=") throw fail(i, "'=' is not an operator; compare with '=='")
    if (c === "&" || c === "|") throw fail(i, `'${c}' is not an operator; use '${c}${c}'`)
    throw fail(i, `unexpected character '${c}'`)
  }
  tokens.push({ kind: "end", pos: src.length })
  return tokens
}

// ---------------------------------------------------------------------------------------
// Parser (precedence, loosest first: ||, &&, == !=, < <= > >=, !, postfix . [ ])

/** Parses an expression (the text inside `${{ }}`); throws `ExpressionError` with its position. */
export const parseExpression = (src: string): Expr => {
  const tokens = lex(src)
  let k = 0
  const peek = () => tokens[k]!
  const fail = (pos: number, problem: string) =>
    new ExpressionError({ expression: src, position: pos, problem })
  const describe = (t: Token) =>
    t.kind === "end" ? "the end of the expression" : `'${src.slice(t.pos).split(/\s/)[0]}'`
  const isPunct = (v: string) => {
    const t = peek()
    return t.kind === "punct" && t.value === v
  }
  const expect = (v: string, what: string) => {
    if (!isPunct(v)) throw fail(peek().pos, `expected '${v}' ${what}, found ${describe(peek())}`)
    k++
  }
  if (peek().kind === "end") throw fail(0, "the expression is empty")

  const binary = (ops: ReadonlyArray<BinaryOp>, next: () => Expr) => (): Expr => {
    let left = next()
    for (;;) {
      const t = peek()
      if (t.kind !== "punct" || !ops.includes(t.value as BinaryOp)) return left
      k++
      const right = next()
      left = { _tag: "Binary", op: t.value as BinaryOp, left, right, pos: t.pos }
    }
  }

  const primary = (): Expr => {
    const t = peek()
    switch (t.kind) {
      case "number":
      case "string":
        k++
        return { _tag: "Literal", value: t.value, pos: t.pos }
      case "ident": {
        k++
        const lower = t.value.toLowerCase()
        if (isPunct("(")) {
          k++
          const fn = FUNCTIONS[lower]
          if (!fn)
            throw fail(
              t.pos,
              lower === "hashfiles"
                ? "hashFiles() is not supported (workflows are planned without reading files)"
                : `unknown function '${t.value}'; available: ${Object.values(FUNCTIONS)
                    .map((f) => f[0])
                    .join(", ")}`,
            )
          const args: Expr[] = []
          if (!isPunct(")")) {
            args.push(or())
            while (isPunct(",")) {
              k++
              args.push(or())
            }
          }
          expect(")", `to close the call of ${fn[0]}(`)
          if (args.length < fn[1] || args.length > fn[2])
            throw fail(
              t.pos,
              `${fn[0]}() takes ${fn[1] === fn[2] ? fn[1] : fn[2] === Number.POSITIVE_INFINITY ? `at least ${fn[1]}` : `${fn[1]} or ${fn[2]}`} argument${fn[2] === 1 ? "" : "s"}, given ${args.length}`,
            )
          return { _tag: "Call", name: fn[0], args, pos: t.pos }
        }
        if (t.value === "null") return { _tag: "Literal", value: null, pos: t.pos }
        if (t.value === "true") return { _tag: "Literal", value: true, pos: t.pos }
        if (t.value === "false") return { _tag: "Literal", value: false, pos: t.pos }
        const name = CONTEXT_NAMES.find((n) => n === lower)
        if (!name)
          throw fail(
            t.pos,
            `unknown name '${t.value}'; an expression reads one of the contexts ${CONTEXT_NAMES.join(", ")}, or a literal ('text', 42, true, null)`,
          )
        return { _tag: "Context", name, pos: t.pos }
      }
      case "punct":
        if (t.value === "(") {
          k++
          const inner = or()
          expect(")", "to close '('")
          return inner
        }
        throw fail(t.pos, `unexpected ${describe(t)}; expected a value`)
      case "end":
        throw fail(t.pos, "the expression ends where a value is expected")
    }
  }

  const postfix = (): Expr => {
    let e = primary()
    for (;;) {
      if (isPunct(".")) {
        const dot = peek().pos
        k++
        const t = peek()
        if (t.kind === "punct" && t.value === "*") {
          k++
          e = { _tag: "Star", object: e, pos: dot }
        } else if (t.kind === "ident") {
          k++
          e = { _tag: "Property", object: e, name: t.value, pos: dot }
        } else if (t.kind === "number" && Number.isInteger(t.value) && t.value >= 0) {
          // `a.0` is lexed as a number token; GitHub rejects it too.
          throw fail(t.pos, `a property name cannot start with a digit; write [${t.value}]`)
        } else throw fail(t.pos, `expected a property name after '.', found ${describe(t)}`)
      } else if (isPunct("[")) {
        const open = peek().pos
        k++
        if (isPunct("*")) {
          k++
          expect("]", "after '[*'")
          e = { _tag: "Star", object: e, pos: open }
        } else {
          const index = or()
          expect("]", "to close '['")
          e = { _tag: "Index", object: e, index, pos: open }
        }
      } else return e
    }
  }

  const unary = (): Expr => {
    const t = peek()
    if (t.kind === "punct" && t.value === "!") {
      k++
      return { _tag: "Not", operand: unary(), pos: t.pos }
    }
    return postfix()
  }
  const comparison = binary(["<", "<=", ">", ">="], unary)
  const equality = binary(["==", "!="], comparison)
  const and = binary(["&&"], equality)
  const or: () => Expr = binary(["||"], and)

  const e = or()
  if (peek().kind !== "end")
    throw fail(
      peek().pos,
      `unexpected ${describe(peek())} after a complete expression; join conditions with && or ||`,
    )
  return e
}

/** Whether the expression calls a status function anywhere (then `if:` is not wrapped in success()). */
export const usesStatusFunction = (e: Expr): boolean => {
  switch (e._tag) {
    case "Call":
      return (
        (STATUS_FUNCTIONS as ReadonlyArray<string>).includes(e.name) ||
        e.args.some(usesStatusFunction)
      )
    case "Binary":
      return usesStatusFunction(e.left) || usesStatusFunction(e.right)
    case "Not":
      return usesStatusFunction(e.operand)
    case "Property":
    case "Star":
      return usesStatusFunction(e.object)
    case "Index":
      return usesStatusFunction(e.object) || usesStatusFunction(e.index)
    default:
      return false
  }
}

/** The contexts an expression reads (lower case), e.g. `matrix` and `github`. */
export const contextsUsed = (e: Expr, into: Set<string> = new Set()): Set<string> => {
  switch (e._tag) {
    case "Context":
      into.add(e.name)
      break
    case "Call":
      for (const a of e.args) contextsUsed(a, into)
      break
    case "Binary":
      contextsUsed(e.left, into)
      contextsUsed(e.right, into)
      break
    case "Not":
      contextsUsed(e.operand, into)
      break
    case "Property":
    case "Star":
      contextsUsed(e.object, into)
      break
    case "Index":
      contextsUsed(e.object, into)
      contextsUsed(e.index, into)
      break
  }
  return into
}

// ---------------------------------------------------------------------------------------
// Values and coercion

/** Arrays produced by `.*`: a property read on one maps over its elements. */
const filtered = new WeakSet<ReadonlyArray<unknown>>()
const filteredArray = (items: unknown[]): unknown[] => {
  filtered.add(items)
  return items
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v)

/** GitHub's number coercion. */
export const toNumber = (v: unknown): number => {
  if (v === null || v === undefined) return 0
  if (typeof v === "boolean") return v ? 1 : 0
  if (typeof v === "number") return v
  if (typeof v === "string") {
    const s = v.trim()
    if (s === "") return 0
    if (/^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/.test(s)) return Number(s)
    if (/^0x[0-9a-fA-F]+$/.test(s)) return Number(s)
    if (/^0o[0-7]+$/.test(s)) return Number.parseInt(s.slice(2), 8)
    return Number.NaN
  }
  return Number.NaN
}

/** GitHub's string coercion (what `format`, `contains` and interpolation see). */
export const toStringValue = (v: unknown): string => {
  if (v === null || v === undefined) return ""
  if (typeof v === "string") return v
  if (typeof v === "boolean") return v ? "true" : "false"
  if (typeof v === "number") {
    if (Number.isNaN(v)) return "NaN"
    if (v === Number.POSITIVE_INFINITY) return "Infinity"
    if (v === Number.NEGATIVE_INFINITY) return "-Infinity"
    return Object.is(v, -0) ? "0" : String(v)
  }
  return Array.isArray(v) ? "Array" : "Object"
}

export const isTruthy = (v: unknown): boolean => {
  if (v === null || v === undefined) return false
  if (typeof v === "boolean") return v
  if (typeof v === "number") return v !== 0 && !Number.isNaN(v)
  if (typeof v === "string") return v !== ""
  return true
}

const kind = (v: unknown) =>
  v === null || v === undefined ? "null" : Array.isArray(v) ? "array" : typeof v

/** GitHub's `==`: same kinds compare directly (strings ignoring case), others as numbers. */
export const looseEquals = (a: unknown, b: unknown): boolean => {
  const ka = kind(a)
  const kb = kind(b)
  if (ka === kb) {
    if (ka === "null") return true
    if (ka === "string") return (a as string).toUpperCase() === (b as string).toUpperCase()
    return a === b
  }
  if (ka === "array" || ka === "object" || kb === "array" || kb === "object") return false
  return toNumber(a) === toNumber(b)
}

const compare = (op: "<" | "<=" | ">" | ">=", a: unknown, b: unknown): boolean => {
  let x: number | string
  let y: number | string
  if (typeof a === "string" && typeof b === "string") {
    x = a.toUpperCase()
    y = b.toUpperCase()
  } else {
    x = toNumber(a)
    y = toNumber(b)
    if (Number.isNaN(x) || Number.isNaN(y)) return false
  }
  switch (op) {
    case "<":
      return x < y
    case "<=":
      return x <= y
    case ">":
      return x > y
    case ">=":
      return x >= y
  }
}

const lookup = (obj: unknown, key: string): unknown => {
  if (!isObject(obj)) return null
  if (Object.hasOwn(obj, key)) return obj[key] ?? null
  const lower = key.toLowerCase()
  for (const k of Object.keys(obj)) if (k.toLowerCase() === lower) return obj[k] ?? null
  return null
}

const property = (obj: unknown, key: string): unknown => {
  if (Array.isArray(obj) && filtered.has(obj)) {
    const out: unknown[] = []
    for (const item of obj) {
      const v = lookup(item, key)
      if (v !== null) out.push(v)
    }
    return filteredArray(out)
  }
  return lookup(obj, key)
}

const index = (obj: unknown, idx: unknown): unknown => {
  if (Array.isArray(obj) && filtered.has(obj) && typeof idx === "string") return property(obj, idx)
  if (Array.isArray(obj)) {
    const n = toNumber(idx)
    return Number.isInteger(n) && n >= 0 && n < obj.length ? (obj[n] ?? null) : null
  }
  return lookup(obj, toStringValue(idx))
}

const star = (obj: unknown): unknown[] => {
  if (Array.isArray(obj) && filtered.has(obj)) {
    const out: unknown[] = []
    for (const item of obj)
      out.push(...(Array.isArray(item) ? item : isObject(item) ? Object.values(item) : []))
    return filteredArray(out)
  }
  if (Array.isArray(obj)) return filteredArray([...obj])
  if (isObject(obj)) return filteredArray(Object.values(obj))
  return filteredArray([])
}

const toJSONValue = (v: unknown): string => JSON.stringify(v === undefined ? null : v, null, 2)

// ---------------------------------------------------------------------------------------
// Evaluation

/** What the status functions answer; the job scheduler supplies its own (see Plan.ts). */
export interface StatusView {
  readonly success: boolean
  readonly failure: boolean
  readonly cancelled: boolean
}

const statusOf = (ctx: ExprContext): StatusView => ({
  success: ctx.jobStatus === "success",
  failure: ctx.jobStatus === "failure",
  cancelled: ctx.jobStatus === "cancelled",
})

const run = (src: string, e: Expr, ctx: ExprContext, status: StatusView): unknown => {
  const ev = (x: Expr) => run(src, x, ctx, status)
  switch (e._tag) {
    case "Literal":
      return e.value
    case "Context":
      return (ctx as unknown as Record<string, unknown>)[e.name] ?? null
    case "Property":
      return property(ev(e.object), e.name)
    case "Index":
      return index(ev(e.object), ev(e.index))
    case "Star":
      return star(ev(e.object))
    case "Not":
      return !isTruthy(ev(e.operand))
    case "Binary": {
      const left = ev(e.left)
      switch (e.op) {
        case "&&":
          return isTruthy(left) ? ev(e.right) : left
        case "||":
          return isTruthy(left) ? left : ev(e.right)
        case "==":
          return looseEquals(left, ev(e.right))
        case "!=":
          return !looseEquals(left, ev(e.right))
        default:
          return compare(e.op, left, ev(e.right))
      }
    }
    case "Call": {
      const args = e.args.map(ev)
      const fail = (problem: string) =>
        new ExpressionError({ expression: src, position: e.pos, problem })
      switch (e.name) {
        case "success":
          return status.success
        case "failure":
          return status.failure
        case "cancelled":
          return status.cancelled
        case "always":
          return true
        case "contains": {
          const [hay, needle] = args
          if (Array.isArray(hay)) return hay.some((item) => looseEquals(item, needle))
          return toStringValue(hay).toUpperCase().includes(toStringValue(needle).toUpperCase())
        }
        case "startsWith":
          return toStringValue(args[0])
            .toUpperCase()
            .startsWith(toStringValue(args[1]).toUpperCase())
        case "endsWith":
          return toStringValue(args[0]).toUpperCase().endsWith(toStringValue(args[1]).toUpperCase())
        case "format":
          return format(toStringValue(args[0]), args.slice(1), fail)
        case "join": {
          const sep = args.length > 1 ? toStringValue(args[1]) : ","
          if (Array.isArray(args[0])) return args[0].map(toStringValue).join(sep)
          return toStringValue(args[0])
        }
        case "toJSON":
          return toJSONValue(args[0])
        case "fromJSON": {
          const text = toStringValue(args[0])
          try {
            return JSON.parse(text) as unknown
          } catch {
            throw fail(
              `fromJSON() was given text that is not JSON: '${text.length > 60 ? `${text.slice(0, 60)}…` : text}'`,
            )
          }
        }
      }
      throw fail(`unknown function '${e.name}'`)
    }
  }
}

const format = (
  fmt: string,
  args: ReadonlyArray<unknown>,
  fail: (problem: string) => ExpressionError,
): string => {
  let out = ""
  for (let i = 0; i < fmt.length; i++) {
    const c = fmt[i]!
    if (c === "{" && fmt[i + 1] === "{") {
      out += "{"
      i++
    } else if (c === "}" && fmt[i + 1] === "}") {
      out += "}"
      i++
    } else if (c === "{") {
      const m = /^\{(\d+)\}/.exec(fmt.slice(i))
      if (!m)
        throw fail(
          `format(): '{' at ${i} must start a placeholder like {0}; write '{{' for a literal brace`,
        )
      const n = Number(m[1])
      if (n >= args.length)
        throw fail(
          `format(): placeholder {${n}} has no argument (${args.length} given after the format string)`,
        )
      out += toStringValue(args[n])
      i += m[0].length - 1
    } else if (c === "}") throw fail(`format(): lone '}' at ${i}; write '}}' for a literal brace`)
    else out += c
  }
  return out
}

/** Evaluates with the status functions answered by `status` instead of `ctx.jobStatus`. */
export const evaluateWith = (expr: string, ctx: ExprContext, status: StatusView): unknown =>
  run(expr, parseExpression(expr), ctx, status)

/** Evaluates an expression (the text inside `${{ }}`); throws `ExpressionError`. */
export const evaluate = (expr: string, ctx: ExprContext): unknown =>
  evaluateWith(expr, ctx, statusOf(ctx))

// ---------------------------------------------------------------------------------------
// `${{ }}` in text

/** One `${{ … }}` in a text: offsets of `${{` and just past `}}`, and the expression inside. */
export interface Embedded {
  readonly start: number
  readonly end: number
  readonly expression: string
}

/**
 * Finds every `${{ … }}` in a text. The closing `}}` is the first outside a quoted string,
 * so `${{ format('{0}}}', x) }}` works. Throws `ExpressionError` (position within the
 * text) for a `${{` that is never closed.
 */
export const findEmbedded = (text: string): Embedded[] => {
  const out: Embedded[] = []
  let from = 0
  for (;;) {
    const start = text.indexOf("${{", from)
    if (start < 0) return out
    let j = start + 3
    let end = -1
    while (j < text.length) {
      if (text[j] === "'") {
        const close = text.indexOf("'", j + 1)
        if (close < 0) break
        j = close + 1
        continue
      }
      if (text.startsWith("}}", j)) {
        end = j
        break
      }
      j++
    }
    if (end < 0)
      throw new ExpressionError({
        expression: text,
        position: start,
        // biome-ignore lint/suspicious/noTemplateCurlyInString: the literal syntax
        problem: "'${{' is never closed; end the expression with '}}'",
      })
    out.push({ start, end: end + 2, expression: text.slice(start + 3, end).trim() })
    from = end + 2
  }
}

/** The text with every `${{ … }}` replaced by its value (objects and arrays as JSON). */
export const interpolate = (text: string, ctx: ExprContext): string => {
  const parts = findEmbedded(text)
  if (parts.length === 0) return text
  let out = ""
  let at = 0
  for (const p of parts) {
    out += text.slice(at, p.start)
    const v = evaluate(p.expression, ctx)
    out += v !== null && typeof v === "object" ? toJSONValue(v) : toStringValue(v)
    at = p.end
  }
  return out + text.slice(at)
}

/**
 * The expression an `if:` holds: written bare (`github.ref == 'refs/heads/main'`) or as one
 * `${{ … }}`. Text mixed with `${{ }}` would be a non-empty string, always true, so it is
 * refused. Throws `ExpressionError`.
 */
export const conditionExpression = (cond: string): string => {
  const trimmed = cond.trim()
  if (!trimmed.includes("${{")) return trimmed
  const parts = findEmbedded(trimmed)
  if (parts.length === 1 && parts[0]!.start === 0 && parts[0]!.end === trimmed.length)
    return parts[0]!.expression
  throw new ExpressionError({
    expression: cond,
    position: Math.max(0, cond.indexOf("${{")),
    problem:
      // biome-ignore lint/suspicious/noTemplateCurlyInString: the literal syntax
      "an if: condition mixes ${{ }} with other text, which would always be true; write the whole condition inside one ${{ }} or without ${{ }}",
  })
}

/**
 * Parses an `if:` the way it is evaluated: a condition that calls no status function is
 * `success() && (condition)`; an absent one is `success()`.
 */
export const parseCondition = (cond: string | undefined): Expr => {
  if (cond === undefined || cond.trim() === "")
    return { _tag: "Call", name: "success", args: [], pos: 0 }
  const e = parseExpression(conditionExpression(cond))
  if (usesStatusFunction(e)) return e
  return {
    _tag: "Binary",
    op: "&&",
    left: { _tag: "Call", name: "success", args: [], pos: 0 },
    right: e,
    pos: 0,
  }
}

/** `evaluateIf` with the status functions answered by `status`. */
export const evaluateIfWith = (
  cond: string | undefined,
  ctx: ExprContext,
  status: StatusView,
): boolean =>
  isTruthy(run(cond === undefined ? "success()" : cond, parseCondition(cond), ctx, status))

/** Whether a step's or job's `if:` lets it run. Throws `ExpressionError`. */
export const evaluateIf = (cond: string | undefined, ctx: ExprContext): boolean =>
  evaluateIfWith(cond, ctx, statusOf(ctx))
