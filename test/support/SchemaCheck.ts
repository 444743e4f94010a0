/**
 * A small JSON Schema checker for the subset GitHub's OpenAPI description uses to describe
 * responses: `$ref` (to `#/components/schemas/*`), `type` (one or a list, with "null"),
 * OpenAPI 3.0's `nullable`, `required`, `properties`, `additionalProperties`, `items`,
 * `allOf`/`anyOf`/`oneOf`, `enum`, and the formats `date-time` and `uri`. Everything else
 * (lengths, bounds, patterns) is not checked.
 *
 * `problems` lists every place a value departs from its schema, as `$.path: what`.
 */

type Schema = Record<string, unknown>

export interface SchemaDocument {
  readonly components: { readonly schemas: Record<string, Schema> }
}

const DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/

const typeOf = (v: unknown) =>
  v === null ? "null" : Array.isArray(v) ? "array" : typeof v === "number" ? "number" : typeof v

const isType = (v: unknown, t: string) => {
  switch (t) {
    case "null":
      return v === null
    case "object":
      return typeof v === "object" && v !== null && !Array.isArray(v)
    case "array":
      return Array.isArray(v)
    case "integer":
      return typeof v === "number" && Number.isInteger(v)
    case "number":
      return typeof v === "number" && Number.isFinite(v)
    case "string":
      return typeof v === "string"
    case "boolean":
      return typeof v === "boolean"
    default:
      return true
  }
}

const isUri = (s: string) => {
  try {
    new URL(s)
    return true
  } catch {
    return false
  }
}

const show = (v: unknown) => {
  const text = JSON.stringify(v)
  return text === undefined ? "undefined" : text.length > 60 ? `${text.slice(0, 57)}...` : text
}

export const problems = (
  doc: SchemaDocument,
  schema: Schema,
  value: unknown,
  at = "$",
): Array<string> => {
  const out: string[] = []
  const check = (s: Schema, v: unknown, path: string, depth: number): void => {
    if (depth > 64) throw new Error(`${path}: schema nests too deeply (a reference cycle?)`)
    if (typeof s.$ref === "string") {
      const name = s.$ref.replace(/^#\/components\/schemas\//, "")
      const target = doc.components.schemas[name]
      if (target === undefined) throw new Error(`${path}: unknown reference ${s.$ref}`)
      check(target, v, path, depth + 1)
      return
    }
    const types =
      s.type === undefined ? undefined : Array.isArray(s.type) ? (s.type as string[]) : [s.type]
    const nullable = s.nullable === true || (types?.includes("null") ?? false)
    if (v === null && nullable) return
    if (types !== undefined && !types.some((t) => isType(v, t as string))) {
      out.push(`${path}: expected ${types.join(" or ")}, got ${typeOf(v)} ${show(v)}`)
      return
    }
    if (Array.isArray(s.enum) && !s.enum.some((e) => e === v))
      out.push(`${path}: ${show(v)} is not one of ${show(s.enum)}`)
    if (typeof v === "string" && s.format === "date-time" && !DATE_TIME.test(v))
      out.push(`${path}: ${show(v)} is not an ISO 8601 date-time`)
    if (typeof v === "string" && s.format === "uri" && !isUri(v))
      out.push(`${path}: ${show(v)} is not an absolute URI`)
    if (Array.isArray(s.allOf))
      for (const sub of s.allOf as Schema[]) check(sub, v, path, depth + 1)
    const branches = (list: Schema[]) =>
      list.map((sub) => {
        const found = problems(doc, sub, v, path)
        return found
      })
    if (Array.isArray(s.anyOf)) {
      const results = branches(s.anyOf as Schema[])
      if (!results.some((r) => r.length === 0)) {
        const closest = results.reduce((a, b) => (b.length < a.length ? b : a))
        out.push(`${path}: matches none of anyOf; closest: ${closest.join("; ")}`)
      }
    }
    if (Array.isArray(s.oneOf)) {
      const results = branches(s.oneOf as Schema[])
      const passing = results.filter((r) => r.length === 0).length
      if (passing === 0) {
        const closest = results.reduce((a, b) => (b.length < a.length ? b : a))
        out.push(`${path}: matches none of oneOf; closest: ${closest.join("; ")}`)
      } else if (passing > 1) out.push(`${path}: matches ${passing} branches of oneOf, not one`)
    }
    if (isType(v, "object")) {
      const obj = v as Record<string, unknown>
      for (const key of (s.required as string[] | undefined) ?? [])
        if (obj[key] === undefined) out.push(`${path}: missing required property ${key}`)
      const props = (s.properties as Record<string, Schema> | undefined) ?? {}
      for (const [key, sub] of Object.entries(props))
        if (obj[key] !== undefined) check(sub, obj[key], `${path}.${key}`, depth + 1)
      const extra = s.additionalProperties
      if (extra !== undefined && extra !== true)
        for (const key of Object.keys(obj))
          if (!(key in props)) {
            if (extra === false) out.push(`${path}: unexpected property ${key}`)
            else check(extra as Schema, obj[key], `${path}.${key}`, depth + 1)
          }
    }
    if (Array.isArray(v) && s.items !== undefined)
      for (const [i, item] of v.entries())
        check(s.items as Schema, item, `${path}[${i}]`, depth + 1)
  }
  check(schema, value, at, 0)
  return out
}
