/**
 * Five-field cron expressions as `on: schedule:` uses them (POSIX cron, evaluated in UTC):
 * `minute hour day-of-month month day-of-week`, each field `*`, a number, a range `a-b`,
 * a step `*\/n`, `a-b/n` or `a/n`, or a comma-separated list of those; months and weekdays
 * may be written as names (`JAN`–`DEC`, `SUN`–`SAT`, any case); weekday 7 is Sunday too.
 * As in POSIX cron, when both day fields are restricted a day matches if either matches.
 *
 * Pure: the caller supplies the instant, so every validator schedules the same runs.
 */
import { Data } from "effect"

export class CronError extends Data.TaggedError("CronError")<{
  readonly cron: string
  /** Which field (`minute`, `hour`, …), or `expression` for the whole. */
  readonly field: string
  readonly problem: string
}> {
  override get message() {
    return `invalid cron '${this.cron}': ${this.field === "expression" ? "" : `${this.field} field: `}${this.problem}`
  }
}

export interface Cron {
  readonly source: string
  readonly minutes: ReadonlySet<number>
  readonly hours: ReadonlySet<number>
  readonly daysOfMonth: ReadonlySet<number>
  readonly months: ReadonlySet<number>
  /** 0 = Sunday … 6 = Saturday. */
  readonly daysOfWeek: ReadonlySet<number>
  /** False when the field was `*` (then only the other day field restricts). */
  readonly domRestricted: boolean
  readonly dowRestricted: boolean
}

const MONTHS = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]
const DAYS = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"]

interface FieldSpec {
  readonly name: string
  readonly min: number
  readonly max: number
  readonly names?: ReadonlyArray<string>
  readonly nameBase?: number
}

const FIELDS: ReadonlyArray<FieldSpec> = [
  { name: "minute", min: 0, max: 59 },
  { name: "hour", min: 0, max: 23 },
  { name: "day-of-month", min: 1, max: 31 },
  { name: "month", min: 1, max: 12, names: MONTHS, nameBase: 1 },
  { name: "day-of-week", min: 0, max: 7, names: DAYS, nameBase: 0 },
]

const parseField = (cron: string, spec: FieldSpec, text: string): Set<number> => {
  const fail = (problem: string) => new CronError({ cron, field: spec.name, problem })
  const allowed = `${spec.min}-${spec.max}${spec.names ? ` or ${spec.names[0]}-${spec.names[spec.names.length - 1]}` : ""}`
  const value = (raw: string): number => {
    if (/^\d+$/.test(raw)) {
      const n = Number(raw)
      if (n < spec.min || n > spec.max) throw fail(`${raw} is out of range (allowed ${allowed})`)
      return n
    }
    const i = spec.names?.indexOf(raw.toUpperCase()) ?? -1
    if (i >= 0) return i + spec.nameBase!
    throw fail(`'${raw}' is not a number or name (allowed ${allowed})`)
  }
  const out = new Set<number>()
  for (const part of text.split(",")) {
    if (part === "") throw fail(`empty list item in '${text}'`)
    const [range, stepText, extra] = part.split("/")
    if (extra !== undefined) throw fail(`'${part}' has more than one '/'`)
    let step = 1
    if (stepText !== undefined) {
      if (!/^\d+$/.test(stepText) || Number(stepText) === 0)
        throw fail(`step '${stepText}' in '${part}' must be a positive whole number`)
      step = Number(stepText)
    }
    let lo: number
    let hi: number
    if (range === "*") {
      lo = spec.min
      hi = spec.name === "day-of-week" ? 6 : spec.max
    } else if (range!.includes("-")) {
      const [a, b, more] = range!.split("-")
      if (more !== undefined || a === "" || b === "") throw fail(`'${range}' is not a range a-b`)
      lo = value(a!)
      hi = value(b!)
      if (lo > hi) throw fail(`range '${range}' goes backwards; write the smaller value first`)
    } else {
      lo = value(range!)
      // `a/n` means from a to the end of the field, stepping by n.
      hi = stepText !== undefined ? (spec.name === "day-of-week" ? 6 : spec.max) : lo
    }
    for (let v = lo; v <= hi; v += step) out.add(spec.name === "day-of-week" && v === 7 ? 0 : v)
  }
  return out
}

/** Parses a five-field cron expression; throws `CronError` saying which field is wrong. */
export const parseCron = (source: string): Cron => {
  const fields = source.trim().split(/\s+/)
  if (source.trim() === "" || fields.length !== 5)
    throw new CronError({
      cron: source,
      field: "expression",
      problem: `expected 5 fields (minute hour day-of-month month day-of-week), found ${source.trim() === "" ? 0 : fields.length}`,
    })
  const sets = fields.map((f, i) => parseField(source, FIELDS[i]!, f))
  return {
    source,
    minutes: sets[0]!,
    hours: sets[1]!,
    daysOfMonth: sets[2]!,
    months: sets[3]!,
    daysOfWeek: sets[4]!,
    domRestricted: fields[2] !== "*",
    dowRestricted: fields[4] !== "*",
  }
}

const asCron = (cron: Cron | string): Cron => (typeof cron === "string" ? parseCron(cron) : cron)

const dayMatches = (c: Cron, d: Date): boolean => {
  if (!c.months.has(d.getUTCMonth() + 1)) return false
  const dom = c.daysOfMonth.has(d.getUTCDate())
  const dow = c.daysOfWeek.has(d.getUTCDay())
  if (c.domRestricted && c.dowRestricted) return dom || dow
  return dom && dow
}

/** Whether the minute containing `date` (UTC) is one the cron fires in. */
export const cronMatches = (cron: Cron | string, date: Date): boolean => {
  const c = asCron(cron)
  return (
    dayMatches(c, date) && c.hours.has(date.getUTCHours()) && c.minutes.has(date.getUTCMinutes())
  )
}

const MINUTE = 60_000
/** Beyond every leap-day cycle: a cron that has not fired by then never will (e.g. 30 FEB). */
const HORIZON = 8 * 366 * 24 * 60 * MINUTE

/**
 * The first whole minute strictly after `date` at which the cron fires, or undefined if it
 * never does (a day that no month has, like `0 0 30 2 *`).
 */
export const nextAfter = (cron: Cron | string, date: Date): Date | undefined => {
  const c = asCron(cron)
  let t = Math.floor(date.getTime() / MINUTE) * MINUTE + MINUTE
  const end = t + HORIZON
  while (t <= end) {
    const d = new Date(t)
    if (!dayMatches(c, d)) {
      t = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate() + 1)
      continue
    }
    if (!c.hours.has(d.getUTCHours())) {
      t = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate(), d.getUTCHours() + 1)
      continue
    }
    if (c.minutes.has(d.getUTCMinutes())) return d
    t += MINUTE
  }
  return undefined
}
