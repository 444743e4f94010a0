/**
 * A parser of the Prometheus text exposition format (version 0.0.4), for tests that
 * check what a node exports: metric families with their TYPE and HELP, and samples with
 * their labels and values. Malformed input gives a PromTextInvalid naming the line; the
 * parser never throws on input.
 */
import { Data, Either } from "effect"

export class PromTextInvalid extends Data.TaggedError("PromTextInvalid")<{
  readonly line: number
  readonly reason: string
}> {
  override get message() {
    return `line ${this.line}: ${this.reason}`
  }
}

export type MetricType = "counter" | "gauge" | "histogram" | "summary" | "untyped"

export interface Sample {
  /** The sample's own name (`x_bucket`, `x_sum`, ... for histograms). */
  readonly name: string
  readonly labels: Readonly<Record<string, string>>
  readonly value: number
}

export interface Family {
  readonly name: string
  type: MetricType
  help: string | undefined
  readonly samples: Sample[]
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*/
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*/
const TYPES = new Set(["counter", "gauge", "histogram", "summary", "untyped"])
const SUFFIXES: Record<string, ReadonlyArray<string>> = {
  histogram: ["_bucket", "_sum", "_count"],
  summary: ["_sum", "_count"],
}

/** A float as Go's ParseFloat reads it (Prometheus does): NaN and Inf in any case. */
const parseValue = (text: string): number | undefined => {
  const lower = text.toLowerCase()
  if (/^\+?inf(inity)?$/.test(lower)) return Number.POSITIVE_INFINITY
  if (/^-inf(inity)?$/.test(lower)) return Number.NEGATIVE_INFINITY
  if (lower === "nan") return Number.NaN
  if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(text)) return undefined
  return Number(text)
}

/** Parses `{a="x",b="y"}` at the start of `text`; returns the labels and what follows. */
const parseLabels = (text: string): { labels: Record<string, string>; rest: string } | string => {
  const labels: Record<string, string> = {}
  let i = 1
  for (;;) {
    while (text[i] === " ") i++
    if (text[i] === "}") return { labels, rest: text.slice(i + 1) }
    const name = LABEL_NAME.exec(text.slice(i))?.[0]
    if (name === undefined) return `expected a label name at column ${i + 1}`
    i += name.length
    if (text[i] !== "=" || text[i + 1] !== '"') return `expected ="value" after label ${name}`
    i += 2
    let value = ""
    for (;;) {
      const c = text[i]
      if (c === undefined) return `unterminated value of label ${name}`
      if (c === '"') break
      if (c === "\\") {
        const next = text[i + 1]
        if (next === "n") value += "\n"
        else if (next === "\\" || next === '"') value += next
        else return `bad escape \\${next ?? ""} in label ${name}`
        i += 2
        continue
      }
      value += c
      i++
    }
    i++
    if (name in labels) return `label ${name} given twice`
    labels[name] = value
    while (text[i] === " ") i++
    if (text[i] === ",") i++
    else if (text[i] !== "}") return `expected , or } after label ${name}`
  }
}

export const parsePromText = (
  text: string,
): Either.Either<ReadonlyMap<string, Family>, PromTextInvalid> => {
  const families = new Map<string, Family>()
  const family = (name: string) => {
    let f = families.get(name)
    if (!f) {
      f = { name, type: "untyped", help: undefined, samples: [] }
      families.set(name, f)
    }
    return f
  }
  /** The family a sample belongs to: its own name, or a histogram/summary it suffixes. */
  const owner = (sample: string) => {
    for (const [name, f] of families)
      for (const suffix of SUFFIXES[f.type] ?? []) if (sample === `${name}${suffix}`) return f
    return family(sample)
  }
  const lines = text.split("\n")
  for (let n = 0; n < lines.length; n++) {
    const line = lines[n]!.trim()
    const fail = (reason: string) => Either.left(new PromTextInvalid({ line: n + 1, reason }))
    if (line === "") continue
    if (line.startsWith("#")) {
      const m = /^#\s+(HELP|TYPE)\s+(\S+)(?:\s+(.*))?$/.exec(line)
      if (!m) continue // a plain comment
      const [, kind, name, rest = ""] = m
      if (!NAME.test(name!) || NAME.exec(name!)![0] !== name) return fail(`bad metric name ${name}`)
      if (kind === "TYPE") {
        if (!TYPES.has(rest)) return fail(`unknown type ${rest} for ${name}`)
        const f = family(name!)
        if (f.samples.length > 0) return fail(`TYPE of ${name} after its samples`)
        f.type = rest as MetricType
      } else family(name!).help = rest.replace(/\\n/g, "\n").replace(/\\\\/g, "\\")
      continue
    }
    const name = NAME.exec(line)?.[0]
    if (name === undefined) return fail("expected a metric name")
    let rest = line.slice(name.length)
    let labels: Record<string, string> = {}
    if (rest.startsWith("{")) {
      const parsed = parseLabels(rest)
      if (typeof parsed === "string") return fail(parsed)
      labels = parsed.labels
      rest = parsed.rest
    }
    const parts = rest.trim().split(/\s+/)
    if (parts.length < 1 || parts.length > 2 || parts[0] === "")
      return fail(`expected a value (and optional timestamp) after ${name}`)
    const value = parseValue(parts[0]!)
    if (value === undefined) return fail(`bad value ${parts[0]} for ${name}`)
    if (parts[1] !== undefined && !/^-?\d+$/.test(parts[1]))
      return fail(`bad timestamp ${parts[1]}`)
    owner(name).samples.push({ name, labels, value })
  }
  return Either.right(families)
}
