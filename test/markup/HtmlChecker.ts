/**
 * A strict reader of the HTML our renderers write, for tests: every `<` must open or close
 * an allowed tag, every attribute must be allowed for its tag, double-quoted and free of
 * raw `<`, `"`; URLs in `href`/`src` must be relative or use an allowed scheme after the
 * browser's own decoding (character references, tabs/newlines removed, ends trimmed).
 * Returns the problems found (empty when the HTML is inert).
 */

const ALLOWED: Record<string, ReadonlyArray<string>> = {
  a: ["href", "title", "rel"],
  img: ["src", "alt", "title", "loading"],
  h1: ["id"],
  h2: ["id"],
  h3: ["id"],
  h4: ["id"],
  h5: ["id"],
  h6: ["id"],
  p: [],
  em: [],
  strong: [],
  del: [],
  code: ["class"],
  pre: [],
  blockquote: [],
  ul: ["class"],
  ol: ["start", "class"],
  li: ["class"],
  input: ["type", "disabled", "checked"],
  br: [],
  hr: [],
  table: [],
  thead: [],
  tbody: [],
  tr: [],
  th: ["align"],
  td: ["align"],
  span: ["class"],
}

const VOID = new Set(["img", "input", "br", "hr"])

const decodeAttribute = (v: string) =>
  v.replace(/&(#x[0-9a-f]+|#[0-9]+|[a-z]+);/gi, (m, body: string) => {
    if (body[0] === "#") {
      const code =
        body[1] === "x" || body[1] === "X" ? parseInt(body.slice(2), 16) : Number(body.slice(1))
      return String.fromCodePoint(code)
    }
    const named: Record<string, string> = { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'" }
    return named[body] ?? m
  })

/** The scheme a browser would see in this URL, lower-cased, or undefined if relative. */
export const schemeOf = (url: string): string | undefined => {
  const cleaned = url.replace(/[\t\n\r]/g, "").replace(/^[\u0000-\u0020]+/, "")
  const m = /^([a-z][a-z0-9+.-]*):/i.exec(cleaned)
  return m ? m[1]!.toLowerCase() : undefined
}

export const htmlProblems = (html: string): string[] => {
  const problems: string[] = []
  const open: string[] = []
  let i = 0
  while (i < html.length) {
    const lt = html.indexOf("<", i)
    const text = html.slice(i, lt < 0 ? html.length : lt)
    if (text.includes(">")) problems.push(`raw ">" in text: ${JSON.stringify(text.slice(0, 80))}`)
    const amp = /&(?!(?:amp|lt|gt|quot|#39|#x[0-9a-f]+|#[0-9]+);)/i.exec(text)
    if (amp)
      problems.push(
        `bare "&" in text near ${JSON.stringify(text.slice(amp.index, amp.index + 20))}`,
      )
    if (lt < 0) break
    const m = /^<(\/?)([a-z][a-z0-9]*)((?:\s+[a-z-]+="[^"<]*")*)\s*>/i.exec(
      html.slice(lt, lt + 2000),
    )
    if (!m) {
      problems.push(`"<" that is not an allowed tag: ${JSON.stringify(html.slice(lt, lt + 40))}`)
      i = lt + 1
      continue
    }
    const [whole, closing, name, attrs] = m
    const tag = name!.toLowerCase()
    const allowed = ALLOWED[tag]
    if (!allowed) problems.push(`tag <${tag}> not allowed`)
    if (closing) {
      if (attrs) problems.push(`closing tag with attributes: ${whole}`)
      const top = open.pop()
      if (top !== tag) problems.push(`</${tag}> closes <${top}>`)
    } else {
      for (const a of attrs!.matchAll(/([a-z-]+)="([^"]*)"/gi)) {
        const attr = a[1]!.toLowerCase()
        const value = decodeAttribute(a[2]!)
        if (!allowed?.includes(attr)) problems.push(`attribute ${attr} not allowed on <${tag}>`)
        if (/^on/i.test(attr)) problems.push(`event handler attribute ${attr}`)
        if (attr === "href" || attr === "src") {
          const scheme = schemeOf(value)
          const ok = attr === "href" ? ["http", "https", "mailto"] : ["http", "https"]
          if (scheme !== undefined && !ok.includes(scheme))
            problems.push(`${attr} with scheme ${scheme}: ${value}`)
          if (/[\u0000-\u0020"'<>`]/.test(value))
            problems.push(`${attr} with raw special characters: ${value}`)
        }
      }
      if (!VOID.has(tag)) open.push(tag)
    }
    i = lt + whole!.length
  }
  if (open.length > 0) problems.push(`unclosed tags: ${open.join(", ")}`)
  return problems
}
