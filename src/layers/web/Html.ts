/**
 * The HTML kit: a tagged template that escapes every interpolation unless it is already
 * `Html` (built by this template, or wrapped by `raw()` for HTML we produced and sanitized
 * ourselves). Arrays are joined; null, undefined and false render nothing. Attribute values
 * must be quoted in the template; escaping covers `& < > " '`, so an interpolation cannot
 * leave its attribute or element.
 */

export class Html {
  constructor(readonly text: string) {}
  toString() {
    return this.text
  }
}

const ESCAPES: Record<string, string> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "'": "&#39;",
}

export const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => ESCAPES[c]!)

export type Part = Html | string | number | boolean | null | undefined | ReadonlyArray<Part>

const render = (v: Part): string => {
  if (v === null || v === undefined || v === false || v === true) return ""
  if (v instanceof Html) return v.text
  if (Array.isArray(v)) return (v as ReadonlyArray<Part>).map(render).join("")
  return escapeHtml(String(v))
}

export const html = (strings: TemplateStringsArray, ...values: ReadonlyArray<Part>): Html => {
  let out = strings[0]!
  for (let i = 0; i < values.length; i++) out += render(values[i]) + strings[i + 1]!
  return new Html(out)
}

/** Our own, already-safe HTML (sanitized markdown, highlighted code). Never user input. */
export const raw = (text: string) => new Html(text)

/** Joins parts with nothing between them. */
export const join = (parts: ReadonlyArray<Part>) => new Html(render(parts))

/** A URL for an href/src: only http(s), mailto, relative and fragment links pass. */
export const safeUrl = (url: string) =>
  /^(https?:|mailto:|\/|#|\.|\?)/i.test(url.trim()) || !/^[a-z][a-z0-9+.-]*:/i.test(url.trim())
    ? url
    : "#"

/** Encodes each segment of a path for a URL, keeping the slashes. */
export const pathUrl = (path: string) => path.split("/").map(encodeURIComponent).join("/")
