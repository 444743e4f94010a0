/**
 * Markdown to HTML: a CommonMark subset with the GitHub-flavoured parts READMEs rely on
 * (tables, task lists, strikethrough, bare URL autolinks, heading anchors).
 *
 * Guarantees:
 * - Inert output, whatever the input: raw HTML in the source is rendered as text, never
 *   passed through; the only tags are the ones this module writes, every attribute value
 *   is double-quoted and escaped; link and image URLs are kept only when they are relative
 *   or use http, https (and mailto, for links), judged after entities, backslash escapes,
 *   control characters and whitespace are resolved as a browser would — anything else
 *   leaves the link text as plain text (or the image's alt text).
 * - Bounded work: block containers nest at most `MAX_NESTING` deep (deeper markers stay
 *   text), link destinations nest at most 32 parentheses, titles and labels are length
 *   capped, code spans find their closers through a precomputed index, and emphasis uses
 *   CommonMark's "openers bottom" rule, so time is about linear in the input for any
 *   input, including long runs of `*`, `[`, `` ` `` or `>`. Rendering walks trees without
 *   recursion, so deep emphasis cannot overflow the stack.
 * - Relative URLs are resolved against `linkBase` / `imageBase`; links to other sites get
 *   `rel="nofollow noopener"`.
 */
import { escapeHtml, highlightLines, languageFromName } from "./Highlight.ts"

export interface MarkdownOptions {
  /** Base for relative link URLs, e.g. `/alice/repo/blob/main/docs/` (ends with `/`). */
  readonly linkBase?: string
  /** Base for relative image URLs, e.g. `/alice/repo/raw/main/docs/`. */
  readonly imageBase?: string
  /** Prefix for heading ids (e.g. `user-content-`), against clobbering page ids. */
  readonly headingIdPrefix?: string
}

/** How deep block quotes and lists may nest; deeper markers are rendered as text. */
export const MAX_NESTING = 16
const MAX_LINK_PARENS = 32
const MAX_LABEL = 999
const MAX_TITLE = 4096

// ---------------------------------------------------------------------------------------
// Block structure
// ---------------------------------------------------------------------------------------

type Block =
  | { kind: "paragraph"; text: string; blankBefore: boolean }
  | { kind: "heading"; level: number; text: string; blankBefore: boolean }
  | { kind: "code"; info: string; text: string; blankBefore: boolean }
  | { kind: "rule"; blankBefore: boolean }
  | { kind: "quote"; children: Block[]; blankBefore: boolean }
  | {
      kind: "list"
      ordered: boolean
      start: number
      tight: boolean
      items: ListItem[]
      blankBefore: boolean
    }
  | {
      kind: "table"
      align: ReadonlyArray<Align>
      header: string[]
      rows: string[][]
      blankBefore: boolean
    }

type Align = "left" | "center" | "right" | undefined

interface ListItem {
  children: Block[]
  task: boolean | undefined
}

interface RefDef {
  readonly dest: string
  readonly title: string | undefined
}

interface Context {
  readonly refs: Map<string, RefDef>
}

const isBlank = (line: string) => /^[ \t]*$/.test(line)

const indentOf = (line: string) => {
  let n = 0
  while (n < line.length && line.charCodeAt(n) === 32) n++
  return n
}

/** Expands tabs in a line's leading whitespace to spaces (tab stops every 4 columns). */
const expandIndent = (line: string) => {
  if (!line.startsWith("\t") && !line.startsWith(" ")) return line
  let col = 0
  let i = 0
  for (; i < line.length; i++) {
    const c = line[i]
    if (c === " ") col++
    else if (c === "\t") col += 4 - (col % 4)
    else break
  }
  return " ".repeat(col) + line.slice(i)
}

const stripIndent = (line: string, n: number) => {
  const line2 = expandIndent(line)
  const k = Math.min(n, indentOf(line2))
  return line2.slice(k)
}

const ATX = /^ {0,3}(#{1,6})(?=[ \t]|$)(.*)$/
const RULE = /^ {0,3}(?:(?:\*[ \t]*){3,}|(?:-[ \t]*){3,}|(?:_[ \t]*){3,})$/
const FENCE = /^( {0,3})(`{3,}|~{3,})(.*)$/
const SETEXT = /^ {0,3}(=+|-+)[ \t]*$/
const QUOTE = /^ {0,3}> ?/
const LIST_MARKER = /^( {0,3})([-+*]|(\d{1,9})([.)]))(?=[ \t]|$)/

interface Marker {
  readonly ordered: boolean
  readonly start: number
  /** The bullet character or the ordered delimiter: items of one list share it. */
  readonly symbol: string
  /** Column where the item's content starts. */
  readonly contentIndent: number
  readonly rest: string
}

const listMarker = (line: string): Marker | undefined => {
  const m = LIST_MARKER.exec(line)
  if (!m) return undefined
  const after = line.slice(m[0].length)
  let spaces = 0
  while (spaces < after.length && (after[spaces] === " " || after[spaces] === "\t")) spaces++
  const base = m[0].length
  const blankRest = spaces === after.length
  const width = blankRest || spaces > 4 ? 1 : spaces
  return {
    ordered: m[3] !== undefined,
    start: m[3] !== undefined ? Number(m[3]) : 1,
    symbol: m[4] ?? m[2]!,
    contentIndent: base + width,
    rest: blankRest ? "" : after.slice(width),
  }
}

const fenceOpen = (line: string) => {
  const m = FENCE.exec(line)
  if (!m) return undefined
  const info = m[3]!
  if (m[2]![0] === "`" && info.includes("`")) return undefined
  return { indent: m[1]!.length, fence: m[2]!, info: info.trim() }
}

/** Whether a line starts a block that ends a paragraph (it cannot be a lazy continuation). */
const interrupts = (line: string, depth: number): boolean => {
  if (isBlank(line)) return true
  if (indentOf(line) >= 4) return false
  if (ATX.test(line) || RULE.test(line) || fenceOpen(line)) return true
  if (depth < MAX_NESTING) {
    if (QUOTE.test(line)) return true
    const m = listMarker(line)
    if (m && m.rest !== "" && (!m.ordered || m.start === 1)) return true
  }
  return false
}

/** Tracks whether collected container lines are inside an open fence (no lazy lines there). */
class FenceTracker {
  private open: { char: string; length: number } | undefined
  feed(line: string) {
    if (this.open) {
      const t = line.trim()
      if (
        indentOf(line) < 4 &&
        t.length >= this.open.length &&
        t === this.open.char.repeat(t.length)
      )
        this.open = undefined
      return
    }
    const f = fenceOpen(line)
    if (f) this.open = { char: f.fence[0]!, length: f.fence.length }
  }
  get inside() {
    return this.open !== undefined
  }
}

const lazyAllowed = (collected: ReadonlyArray<string>, fences: FenceTracker, line: string) => {
  const last = collected[collected.length - 1]
  if (last === undefined || isBlank(last) || fences.inside) return false
  if (indentOf(expandIndent(last)) >= 4 && !isBlank(last)) {
    // The last line may be indented code; lazy lines only continue paragraphs.
    return false
  }
  if (ATX.test(last) || RULE.test(last)) return false
  return !interrupts(line, 0) && !listMarker(line) && !RULE.test(line)
}

const parseBlocks = (rawLines: ReadonlyArray<string>, depth: number, ctx: Context): Block[] => {
  const lines = rawLines.map(expandIndent)
  const out: Block[] = []
  let blank = false
  const push = (b: Block) => {
    b.blankBefore = blank && out.length > 0
    blank = false
    out.push(b)
  }
  let i = 0
  const n = lines.length
  while (i < n) {
    const line = lines[i]!
    if (isBlank(line)) {
      blank = true
      i++
      continue
    }
    if (indentOf(line) >= 4) {
      const code: string[] = []
      while (i < n && (isBlank(lines[i]!) || indentOf(lines[i]!) >= 4)) {
        code.push(stripIndent(lines[i]!, 4))
        i++
      }
      while (code.length > 0 && isBlank(code[code.length - 1]!)) {
        code.pop()
        blank = true
      }
      push({ kind: "code", info: "", text: code.join("\n") + "\n", blankBefore: false })
      continue
    }
    const fence = fenceOpen(line)
    if (fence) {
      const code: string[] = []
      i++
      while (i < n) {
        const l = lines[i]!
        const t = l.trim()
        if (
          indentOf(l) < 4 &&
          t.length >= fence.fence.length &&
          t === fence.fence[0]!.repeat(t.length)
        ) {
          i++
          break
        }
        code.push(stripIndent(l, fence.indent))
        i++
      }
      push({
        kind: "code",
        info: fence.info,
        text: code.length > 0 ? code.join("\n") + "\n" : "",
        blankBefore: false,
      })
      continue
    }
    const atx = ATX.exec(line)
    if (atx) {
      const text = atx[2]!
        .trim()
        .replace(/(^|[ \t]+)#+[ \t]*$/, "")
        .trim()
      push({ kind: "heading", level: atx[1]!.length, text, blankBefore: false })
      i++
      continue
    }
    if (RULE.test(line)) {
      push({ kind: "rule", blankBefore: false })
      i++
      continue
    }
    if (depth < MAX_NESTING && QUOTE.test(line)) {
      const inner: string[] = []
      const fences = new FenceTracker()
      while (i < n) {
        const l = lines[i]!
        const m = QUOTE.exec(l)
        let content: string
        if (m) content = l.slice(m[0].length)
        else if (lazyAllowed(inner, fences, l)) content = l
        else break
        inner.push(content)
        fences.feed(content)
        i++
      }
      push({ kind: "quote", children: parseBlocks(inner, depth + 1, ctx), blankBefore: false })
      continue
    }
    const marker = depth < MAX_NESTING ? listMarker(line) : undefined
    if (marker) {
      const result = parseList(lines, i, marker, depth, ctx)
      push(result.list)
      i = result.next
      if (result.trailingBlank) blank = true
      continue
    }
    if (line.includes("|") && i + 1 < n) {
      const table = parseTable(lines, i, depth)
      if (table) {
        push(table.table)
        i = table.next
        continue
      }
    }
    // Paragraph, possibly a setext heading, possibly starting with reference definitions.
    const para: string[] = [line.replace(/^[ \t]+/, "")]
    i++
    let heading = 0
    while (i < n) {
      const l = lines[i]!
      if (isBlank(l)) break
      if (indentOf(l) < 4) {
        const s = SETEXT.exec(l)
        if (s) {
          heading = s[1]![0] === "=" ? 1 : 2
          i++
          break
        }
        if (interrupts(l, depth)) break
      }
      para.push(l.replace(/^[ \t]+/, ""))
      i++
    }
    let text = para.join("\n")
    text = extractDefinitions(text, ctx)
    if (heading > 0 && text.trim() !== "") {
      push({ kind: "heading", level: heading, text: text.trim(), blankBefore: false })
    } else if (text.trim() !== "") {
      push({ kind: "paragraph", text: text.replace(/[ \t]+$/, ""), blankBefore: false })
    } else if (heading === 2) {
      push({ kind: "rule", blankBefore: false })
    } else if (heading === 1) {
      push({ kind: "paragraph", text: "===", blankBefore: false })
    }
  }
  return out
}

const parseList = (
  lines: ReadonlyArray<string>,
  start: number,
  first: Marker,
  depth: number,
  ctx: Context,
): { list: Block; next: number; trailingBlank: boolean } => {
  const items: ListItem[] = []
  let loose = false
  let i = start
  let marker: Marker | undefined = first
  let trailing = 0
  const n = lines.length
  while (marker) {
    const width = marker.contentIndent
    const itemLines: string[] = [marker.rest]
    const fences = new FenceTracker()
    fences.feed(marker.rest)
    const startsBlank = marker.rest === ""
    i++
    while (i < n) {
      const l = lines[i]!
      if (isBlank(l)) {
        // An item that starts with a blank line holds at most one blank line.
        if (startsBlank && itemLines.length === 1) break
        itemLines.push("")
        i++
        continue
      }
      if (indentOf(l) >= width) {
        itemLines.push(l.slice(width))
        fences.feed(l.slice(width))
        i++
        continue
      }
      if (lazyAllowed(itemLines, fences, l)) {
        itemLines.push(l.replace(/^ +/, ""))
        i++
        continue
      }
      break
    }
    trailing = 0
    while (itemLines.length > 1 && itemLines[itemLines.length - 1] === "") {
      itemLines.pop()
      trailing++
    }
    const children = parseBlocks(itemLines, depth + 1, ctx)
    if (children.some((c, k) => k > 0 && c.blankBefore)) loose = true
    let task: boolean | undefined
    const head = children[0]
    if (head?.kind === "paragraph") {
      const t = /^\[([ xX])\](?:[ \t]+|$)/.exec(head.text)
      if (t && head.text.length > t[0].length) {
        task = t[1] !== " "
        head.text = head.text.slice(t[0].length)
      }
    }
    items.push({ children, task })
    while (i < n && isBlank(lines[i]!)) {
      trailing++
      i++
    }
    const next: Marker | undefined =
      i < n && !RULE.test(lines[i]!) ? listMarker(lines[i]!) : undefined
    if (next && next.ordered === first.ordered && next.symbol === first.symbol) {
      if (trailing > 0) loose = true
      marker = next
    } else {
      marker = undefined
    }
  }
  return {
    list: {
      kind: "list",
      ordered: first.ordered,
      start: first.start,
      tight: !loose,
      items,
      blankBefore: false,
    },
    next: i,
    trailingBlank: trailing > 0,
  }
}

const splitRow = (line: string): string[] => {
  let s = line.trim()
  if (s.startsWith("|")) s = s.slice(1)
  if (s.endsWith("|") && !s.endsWith("\\|")) s = s.slice(0, -1)
  const cells: string[] = []
  let cur = ""
  for (let k = 0; k < s.length; k++) {
    const c = s[k]!
    if (c === "\\" && s[k + 1] === "|") {
      cur += "|"
      k++
    } else if (c === "|") {
      cells.push(cur.trim())
      cur = ""
    } else cur += c
  }
  cells.push(cur.trim())
  return cells
}

const parseTable = (lines: ReadonlyArray<string>, at: number, depth: number) => {
  const delim = lines[at + 1]!
  if (indentOf(delim) >= 4 || !/^[ \t|:-]+$/.test(delim) || !delim.includes("-")) return undefined
  const specs = splitRow(delim)
  if (!specs.every((c) => /^:?-+:?$/.test(c))) return undefined
  const header = splitRow(lines[at]!)
  if (header.length !== specs.length) return undefined
  if (!delim.includes("|") && header.length < 2) return undefined
  const align: Align[] = specs.map((c) =>
    c.startsWith(":") && c.endsWith(":")
      ? "center"
      : c.endsWith(":")
        ? "right"
        : c.startsWith(":")
          ? "left"
          : undefined,
  )
  const rows: string[][] = []
  let i = at + 2
  while (i < lines.length && !isBlank(lines[i]!) && !interrupts(lines[i]!, depth)) {
    const cells = splitRow(lines[i]!)
    rows.push(header.map((_, k) => cells[k] ?? ""))
    i++
  }
  return {
    table: { kind: "table" as const, align, header, rows, blankBefore: false },
    next: i,
  }
}

/** Removes link reference definitions from a paragraph's start, recording them. */
const extractDefinitions = (text: string, ctx: Context): string => {
  let pos = 0
  while (pos < text.length && text[pos] === "[") {
    const label = scanLabel(text, pos)
    if (!label || text[label.end] !== ":") break
    let p = skipSpace(text, label.end + 1, true)
    const dest = scanDestination(text, p)
    if (!dest) break
    p = dest.end
    const beforeTitle = p
    let q = skipSpace(text, p, true)
    let title: string | undefined
    if (q > beforeTitle) {
      const t = scanTitle(text, q)
      if (t) {
        const eol = skipSpace(text, t.end, false)
        if (eol >= text.length || text[eol] === "\n") {
          title = t.title
          q = eol
        }
      }
    }
    if (title === undefined) {
      q = skipSpace(text, beforeTitle, false)
      if (q < text.length && text[q] !== "\n") break
    }
    const key = normalizeLabel(label.label)
    if (key !== "" && !ctx.refs.has(key)) ctx.refs.set(key, { dest: dest.dest, title })
    pos = q < text.length ? q + 1 : q
  }
  return text.slice(pos)
}

// ---------------------------------------------------------------------------------------
// Shared scanners (inline links and definitions)
// ---------------------------------------------------------------------------------------

const ESCAPABLE = /[!-/:-@[-`{-~]/

const skipSpace = (s: string, p: number, allowNewline: boolean) => {
  let seenNewline = false
  while (p < s.length) {
    const c = s[p]
    if (c === " " || c === "\t") p++
    else if (c === "\n" && allowNewline && !seenNewline) {
      seenNewline = true
      p++
    } else break
  }
  return p
}

const scanLabel = (s: string, p: number): { label: string; end: number } | undefined => {
  if (s[p] !== "[") return undefined
  let k = p + 1
  const limit = Math.min(s.length, p + 1 + MAX_LABEL + 1)
  while (k < limit) {
    const c = s[k]
    if (c === "\\" && k + 1 < s.length && ESCAPABLE.test(s[k + 1]!)) k += 2
    else if (c === "[") return undefined
    else if (c === "]") {
      const label = s.slice(p + 1, k)
      if (label.trim() === "" || label.length > MAX_LABEL) return undefined
      return { label, end: k + 1 }
    } else k++
  }
  return undefined
}

const normalizeLabel = (label: string) =>
  label.trim().replace(/\s+/g, " ").toLowerCase().toUpperCase()

const scanDestination = (s: string, p: number): { dest: string; end: number } | undefined => {
  if (s[p] === "<") {
    let k = p + 1
    while (k < s.length) {
      const c = s[k]
      if (c === "\\" && k + 1 < s.length && ESCAPABLE.test(s[k + 1]!)) k += 2
      else if (c === ">") return { dest: unescapeText(s.slice(p + 1, k)), end: k + 1 }
      else if (c === "<" || c === "\n") return undefined
      else k++
    }
    return undefined
  }
  let k = p
  let depth = 0
  while (k < s.length) {
    const c = s.charCodeAt(k)
    if (c <= 0x20 || c === 0x7f) break
    if (c === 0x5c && k + 1 < s.length && ESCAPABLE.test(s[k + 1]!)) {
      k += 2
      continue
    }
    if (c === 0x28) {
      depth++
      if (depth > MAX_LINK_PARENS) return undefined
    } else if (c === 0x29) {
      if (depth === 0) break
      depth--
    }
    k++
  }
  if (k === p || depth !== 0) return undefined
  return { dest: unescapeText(s.slice(p, k)), end: k }
}

const scanTitle = (s: string, p: number): { title: string; end: number } | undefined => {
  const open = s[p]
  const close = open === '"' ? '"' : open === "'" ? "'" : open === "(" ? ")" : undefined
  if (!close) return undefined
  const limit = Math.min(s.length, p + MAX_TITLE)
  let k = p + 1
  while (k < limit) {
    const c = s[k]
    if (c === "\\" && k + 1 < s.length && ESCAPABLE.test(s[k + 1]!)) k += 2
    else if (c === close) return { title: unescapeText(s.slice(p + 1, k)), end: k + 1 }
    else if (open === "(" && c === "(") return undefined
    else if (c === "\n" && s[k + 1] === "\n") return undefined
    else k++
  }
  return undefined
}

// ---------------------------------------------------------------------------------------
// Entities and escapes
// ---------------------------------------------------------------------------------------

const NAMED_ENTITIES: Record<string, string> = {
  amp: "&",
  lt: "<",
  gt: ">",
  quot: '"',
  apos: "'",
  nbsp: "\u00a0",
  copy: "©",
  reg: "®",
  trade: "™",
  hellip: "…",
  mdash: "—",
  ndash: "–",
  lsquo: "‘",
  rsquo: "’",
  sbquo: "‚",
  ldquo: "“",
  rdquo: "”",
  bdquo: "„",
  laquo: "«",
  raquo: "»",
  lsaquo: "‹",
  rsaquo: "›",
  bull: "•",
  middot: "·",
  times: "×",
  divide: "÷",
  deg: "°",
  plusmn: "±",
  para: "¶",
  sect: "§",
  euro: "€",
  pound: "£",
  yen: "¥",
  cent: "¢",
  curren: "¤",
  larr: "←",
  rarr: "→",
  uarr: "↑",
  darr: "↓",
  harr: "↔",
  lArr: "⇐",
  rArr: "⇒",
  hArr: "⇔",
  iexcl: "¡",
  iquest: "¿",
  shy: "\u00ad",
  zwj: "\u200d",
  zwnj: "\u200c",
  ensp: "\u2002",
  emsp: "\u2003",
  thinsp: "\u2009",
  colon: ":",
  Tab: "\t",
  NewLine: "\n",
  lpar: "(",
  rpar: ")",
  lsqb: "[",
  rsqb: "]",
  lbrack: "[",
  rbrack: "]",
  lcub: "{",
  rcub: "}",
  num: "#",
  excl: "!",
  quest: "?",
  period: ".",
  comma: ",",
  semi: ";",
  sol: "/",
  bsol: "\\",
  ast: "*",
  plus: "+",
  equals: "=",
  percnt: "%",
  dollar: "$",
  commat: "@",
  lowbar: "_",
  grave: "`",
  Hat: "^",
  verbar: "|",
  vert: "|",
  tilde: "˜",
  micro: "µ",
  frac12: "½",
  frac14: "¼",
  frac34: "¾",
  sup1: "¹",
  sup2: "²",
  sup3: "³",
  ne: "≠",
  le: "≤",
  ge: "≥",
  infin: "∞",
  asymp: "≈",
  minus: "−",
  check: "✓",
  star: "☆",
  starf: "★",
  hearts: "♥",
  alpha: "α",
  beta: "β",
  gamma: "γ",
  delta: "δ",
  lambda: "λ",
  mu: "μ",
  pi: "π",
  sigma: "σ",
  omega: "ω",
  Delta: "Δ",
  Sigma: "Σ",
  Omega: "Ω",
  auml: "ä",
  ouml: "ö",
  uuml: "ü",
  Auml: "Ä",
  Ouml: "Ö",
  Uuml: "Ü",
  szlig: "ß",
  eacute: "é",
  egrave: "è",
  aacute: "á",
  agrave: "à",
  ccedil: "ç",
  ntilde: "ñ",
}

const ENTITY = /&(?:#[xX]([0-9a-fA-F]{1,6})|#([0-9]{1,7})|([A-Za-z][A-Za-z0-9]{1,31}));/y

/** Decodes the entity at `p`, if it is one: its text and length. */
const entityAt = (s: string, p: number): { text: string; length: number } | undefined => {
  ENTITY.lastIndex = p
  const m = ENTITY.exec(s)
  if (!m) return undefined
  if (m[3] !== undefined) {
    const named = NAMED_ENTITIES[m[3]]
    return named === undefined ? undefined : { text: named, length: m[0].length }
  }
  const code = m[1] !== undefined ? Number.parseInt(m[1], 16) : Number.parseInt(m[2]!, 10)
  const valid = code > 0 && code <= 0x10ffff && !(code >= 0xd800 && code <= 0xdfff)
  return { text: valid ? String.fromCodePoint(code) : "\ufffd", length: m[0].length }
}

/** Resolves backslash escapes and entities (for URLs, titles and info strings). */
const unescapeText = (s: string): string => {
  if (!s.includes("\\") && !s.includes("&")) return s
  let out = ""
  for (let k = 0; k < s.length; k++) {
    const c = s[k]!
    if (c === "\\" && k + 1 < s.length && ESCAPABLE.test(s[k + 1]!)) {
      out += s[k + 1]
      k++
    } else if (c === "&") {
      const e = entityAt(s, k)
      if (e) {
        out += e.text
        k += e.length - 1
      } else out += c
    } else out += c
  }
  return out
}

// ---------------------------------------------------------------------------------------
// URLs
// ---------------------------------------------------------------------------------------

interface SafeUrl {
  readonly href: string
  readonly external: boolean
}

const LINK_SCHEMES = new Set(["http", "https", "mailto"])
const IMAGE_SCHEMES = new Set(["http", "https"])

/**
 * The URL to write into an attribute, or undefined when it is not allowed. Browsers drop
 * tabs and newlines anywhere in a URL and trim C0 controls and spaces at its ends, so the
 * scheme is judged on the URL after the same clean-up.
 */
const safeUrl = (
  raw: string,
  base: string | undefined,
  schemes: ReadonlySet<string>,
): SafeUrl | undefined => {
  const cleaned = raw.replace(/[\t\n\r]/g, "").replace(/^[\u0000-\u0020]+|[\u0000-\u0020]+$/g, "")
  if (/[\u0000-\u001f\u007f]/.test(cleaned)) return undefined
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):/.exec(cleaned)
  let href: string
  let external: boolean
  if (scheme) {
    const name = scheme[1]!.toLowerCase()
    if (!schemes.has(name)) return undefined
    href = cleaned
    external = name !== "mailto"
  } else if (cleaned.startsWith("//") || cleaned.startsWith("\\\\") || cleaned.startsWith("/\\")) {
    href = cleaned
    external = true
  } else {
    href = resolveRelative(cleaned, base)
    external = /^https?:/i.test(href)
  }
  return { href: encodeUrl(href), external }
}

const resolveRelative = (url: string, base: string | undefined): string => {
  if (!base || url === "" || url.startsWith("#") || url.startsWith("/")) return url
  try {
    if (/^https?:\/\//i.test(base)) return new URL(url, base).href
    const root = "http://base.invalid"
    const u = new URL(url, root + (base.startsWith("/") ? base : "/" + base))
    return u.pathname + u.search + u.hash
  } catch {
    return url
  }
}

/** Percent-encodes what does not belong in a URL (keeping existing escapes). */
const encodeUrl = (url: string): string => {
  let out = ""
  for (const ch of url) {
    if (/^[A-Za-z0-9\-._~:/?#[\]@!$&'()*+,;=%]$/.test(ch)) out += ch
    else if (ch === "\\") out += "%5C"
    else out += encodeURIComponent(ch)
  }
  return out
}

// ---------------------------------------------------------------------------------------
// Inline structure
// ---------------------------------------------------------------------------------------

type InlineKind =
  | "root"
  | "text"
  | "code"
  | "softbreak"
  | "hardbreak"
  | "emph"
  | "strong"
  | "del"
  | "link"
  | "image"

class Inline {
  parent: Inline | undefined
  prev: Inline | undefined
  next: Inline | undefined
  first: Inline | undefined
  last: Inline | undefined
  dest = ""
  title: string | undefined
  /** A delimiter run or bracket: later text is not merged into it. */
  delimiter = false
  constructor(
    readonly kind: InlineKind,
    public literal = "",
  ) {}

  append(child: Inline) {
    child.parent = this
    child.prev = this.last
    child.next = undefined
    if (this.last) this.last.next = child
    else this.first = child
    this.last = child
  }

  insertAfter(sibling: Inline) {
    sibling.parent = this.parent
    sibling.prev = this
    sibling.next = this.next
    if (this.next) this.next.prev = sibling
    else if (this.parent) this.parent.last = sibling
    this.next = sibling
  }

  unlink() {
    if (this.prev) this.prev.next = this.next
    else if (this.parent) this.parent.first = this.next
    if (this.next) this.next.prev = this.prev
    else if (this.parent) this.parent.last = this.prev
    this.parent = this.prev = this.next = undefined
  }
}

interface Delimiter {
  readonly node: Inline
  readonly char: string
  count: number
  readonly origCount: number
  readonly canOpen: boolean
  readonly canClose: boolean
  prev: Delimiter | undefined
  next: Delimiter | undefined
}

interface Bracket {
  readonly node: Inline
  readonly image: boolean
  /** Source index just after the opening bracket. */
  readonly start: number
  active: boolean
  readonly prev: Bracket | undefined
  readonly prevDelimiter: Delimiter | undefined
}

const SPECIAL = /[\n\\`*_~[\]!<&]/g
const BARE_URL_START = /(?:https?:\/\/|www\.)/gi
const BARE_URL_DOMAIN = /(?:https?:\/\/|www\.)([A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*)/iy
const BARE_URL_PATH = /[^\s<]*/y
const URI_AUTOLINK = /<([A-Za-z][A-Za-z0-9+.-]{1,31}:[^<>\u0000-\u0020]*)>/y
const EMAIL_AUTOLINK =
  /<([A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*)>/y
const WHITESPACE = /\s/u
const PUNCTUATION = /[!-/:-@[-`{-~\p{P}\p{S}]/u

class InlineParser {
  private pos = 0
  private readonly root = new Inline("root")
  private delimiters: Delimiter | undefined
  private brackets: Bracket | undefined
  private backtickRuns: Map<number, number[]> | undefined
  private readonly backtickCursor = new Map<number, number>()
  private readonly urlStarts: number[] = []
  private urlCursor = 0

  constructor(
    private readonly src: string,
    private readonly refs: Map<string, RefDef>,
  ) {
    BARE_URL_START.lastIndex = 0
    for (let m = BARE_URL_START.exec(src); m; m = BARE_URL_START.exec(src)) {
      const before = m.index === 0 ? " " : src[m.index - 1]!
      if (/[\s*_~(]/.test(before)) this.urlStarts.push(m.index)
    }
  }

  parse(): Inline {
    const s = this.src
    while (this.pos < s.length) {
      const c = s[this.pos]!
      switch (c) {
        case "\n":
          this.newline()
          break
        case "\\":
          this.backslash()
          break
        case "`":
          this.codeSpan()
          break
        case "*":
        case "_":
        case "~":
          this.delimiterRun(c)
          break
        case "[":
          this.openBracket(false, 1)
          break
        case "!":
          if (s[this.pos + 1] === "[") this.openBracket(true, 2)
          else this.text("!", 1)
          break
        case "]":
          this.closeBracket()
          break
        case "<":
          this.autolink()
          break
        case "&":
          this.entity()
          break
        default:
          this.plain()
      }
    }
    this.processEmphasis(undefined)
    return this.root
  }

  private text(literal: string, advance: number) {
    this.pos += advance
    return this.appendText(literal)
  }

  private appendText(literal: string) {
    const last = this.root.last
    if (last && last.kind === "text" && !last.delimiter) {
      last.literal += literal
      return last
    }
    const node = new Inline("text", literal)
    this.root.append(node)
    return node
  }

  private plain() {
    const s = this.src
    while (this.urlCursor < this.urlStarts.length && this.urlStarts[this.urlCursor]! < this.pos)
      this.urlCursor++
    const url = this.urlStarts[this.urlCursor]
    if (url === this.pos && this.bareUrl()) return
    SPECIAL.lastIndex = this.pos + 1
    const m = SPECIAL.exec(s)
    let end = m ? m.index : s.length
    if (url !== undefined && url > this.pos && url < end) end = url
    this.text(s.slice(this.pos, end), end - this.pos)
  }

  private bareUrl(): boolean {
    const s = this.src
    BARE_URL_DOMAIN.lastIndex = this.pos
    const m = BARE_URL_DOMAIN.exec(s)
    if (!m) return false
    const segments = m[1]!.split(".")
    if (segments.length < 2 && /^www\./i.test(m[0])) return false
    if (segments.slice(-2).some((x) => x.includes("_"))) return false
    BARE_URL_PATH.lastIndex = this.pos + m[0].length
    let text = m[0] + (BARE_URL_PATH.exec(s)?.[0] ?? "")
    for (;;) {
      const before = text
      text = text.replace(/[?!.,:*_~'"]+$/, "")
      if (text.endsWith(")")) {
        let open = 0
        let close = 0
        for (const ch of text) {
          if (ch === "(") open++
          else if (ch === ")") close++
        }
        while (close > open && text.endsWith(")")) {
          text = text.slice(0, -1)
          close--
        }
      }
      if (text.endsWith(";")) text = text.replace(/&[A-Za-z0-9]+;$/, "")
      if (text === before) break
    }
    if (text.length < m[0].length) return false
    const link = new Inline("link")
    link.dest = /^www\./i.test(text) ? "http://" + text : text
    link.append(new Inline("text", text))
    this.root.append(link)
    this.pos += text.length
    return true
  }

  private newline() {
    const last = this.root.last
    let hard = false
    if (last && last.kind === "text" && !last.delimiter) {
      const trimmed = last.literal.replace(/ +$/, "")
      hard = last.literal.length - trimmed.length >= 2
      last.literal = trimmed
    }
    this.root.append(new Inline(hard ? "hardbreak" : "softbreak"))
    this.pos++
    while (
      this.pos < this.src.length &&
      (this.src[this.pos] === " " || this.src[this.pos] === "\t")
    )
      this.pos++
  }

  private backslash() {
    const next = this.src[this.pos + 1]
    if (next === "\n") {
      this.root.append(new Inline("hardbreak"))
      this.pos += 2
      while (this.pos < this.src.length && this.src[this.pos] === " ") this.pos++
    } else if (next !== undefined && ESCAPABLE.test(next)) {
      this.text(next, 2)
    } else {
      this.text("\\", 1)
    }
  }

  private codeSpan() {
    const s = this.src
    let end = this.pos
    while (end < s.length && s[end] === "`") end++
    const length = end - this.pos
    const closer = this.findBacktickRun(length, end)
    if (closer === undefined) {
      this.text("`".repeat(length), length)
      return
    }
    let content = s.slice(end, closer).replace(/\n/g, " ")
    if (
      content.length >= 2 &&
      content.startsWith(" ") &&
      content.endsWith(" ") &&
      content.trim() !== ""
    )
      content = content.slice(1, -1)
    this.root.append(new Inline("code", content))
    this.pos = closer + length
  }

  /** Start of the first run of exactly `length` backticks at or after `from`. */
  private findBacktickRun(length: number, from: number): number | undefined {
    if (!this.backtickRuns) {
      const runs = new Map<number, number[]>()
      const s = this.src
      for (let k = 0; k < s.length; ) {
        if (s[k] !== "`") {
          k++
          continue
        }
        let e = k
        while (e < s.length && s[e] === "`") e++
        let list = runs.get(e - k)
        if (!list) runs.set(e - k, (list = []))
        list.push(k)
        k = e
      }
      this.backtickRuns = runs
    }
    const list = this.backtickRuns.get(length)
    if (!list) return undefined
    let c = this.backtickCursor.get(length) ?? 0
    while (c < list.length && list[c]! < from) c++
    this.backtickCursor.set(length, c)
    return list[c]
  }

  private delimiterRun(c: string) {
    const s = this.src
    let end = this.pos
    while (end < s.length && s[end] === c) end++
    const count = end - this.pos
    if (c === "~" && count > 2) {
      this.text(s.slice(this.pos, end), count)
      return
    }
    const before = this.pos === 0 ? "\n" : s[this.pos - 1]!
    const after = end >= s.length ? "\n" : s[end]!
    const beforeSpace = WHITESPACE.test(before)
    const afterSpace = WHITESPACE.test(after)
    const beforePunct = PUNCTUATION.test(before)
    const afterPunct = PUNCTUATION.test(after)
    const left = !afterSpace && (!afterPunct || beforeSpace || beforePunct)
    const right = !beforeSpace && (!beforePunct || afterSpace || afterPunct)
    const canOpen = c === "_" ? left && (!right || beforePunct) : left
    const canClose = c === "_" ? right && (!left || afterPunct) : right
    const node = new Inline("text", s.slice(this.pos, end))
    this.root.append(node)
    this.pos = end
    if (!canOpen && !canClose) return
    node.delimiter = true
    const d: Delimiter = {
      node,
      char: c,
      count,
      origCount: count,
      canOpen,
      canClose,
      prev: this.delimiters,
      next: undefined,
    }
    if (this.delimiters) this.delimiters.next = d
    this.delimiters = d
  }

  private removeDelimiter(d: Delimiter) {
    if (d.prev) d.prev.next = d.next
    if (d.next) d.next.prev = d.prev
    else this.delimiters = d.prev
  }

  private processEmphasis(bottom: Delimiter | undefined) {
    // Per (character, can-open, length mod 3): below where no opener can match (CommonMark's
    // "openers bottom", which keeps this linear).
    const openersBottom = new Array<Delimiter | undefined | null>(18).fill(null)
    // Start from the first delimiter above `bottom`.
    let closer = this.delimiters === bottom ? undefined : this.delimiters
    while (closer && closer.prev !== bottom) closer = closer.prev
    while (closer) {
      if (!closer.canClose) {
        closer = closer.next
        continue
      }
      const key =
        (closer.char === "*" ? 0 : closer.char === "_" ? 6 : 12) +
        (closer.canOpen ? 3 : 0) +
        (closer.origCount % 3)
      const found0 = openersBottom[key]
      const stop = found0 === null ? bottom : found0
      let opener = closer.prev
      let found = false
      while (opener && opener !== bottom && opener !== stop) {
        const odd =
          (closer.canOpen || opener.canClose) &&
          closer.origCount % 3 !== 0 &&
          (opener.origCount + closer.origCount) % 3 === 0
        if (
          opener.char === closer.char &&
          opener.canOpen &&
          (closer.char === "~" ? opener.count === closer.count : !odd)
        ) {
          found = true
          break
        }
        opener = opener.prev
      }
      if (found && opener) {
        const use =
          closer.char === "~" ? closer.count : closer.count >= 2 && opener.count >= 2 ? 2 : 1
        const kind: InlineKind = closer.char === "~" ? "del" : use === 2 ? "strong" : "emph"
        opener.count -= use
        closer.count -= use
        opener.node.literal = opener.node.literal.slice(0, opener.count)
        closer.node.literal = closer.node.literal.slice(0, closer.count)
        const wrapper = new Inline(kind)
        let item = opener.node.next
        while (item && item !== closer.node) {
          const next: Inline | undefined = item.next
          item.unlink()
          wrapper.append(item)
          item = next
        }
        opener.node.insertAfter(wrapper)
        // Delimiters between opener and closer can no longer match.
        opener.next = closer
        closer.prev = opener
        if (opener.count === 0) {
          opener.node.unlink()
          this.removeDelimiter(opener)
        }
        if (closer.count === 0) {
          const next = closer.next
          closer.node.unlink()
          this.removeDelimiter(closer)
          closer = next
        }
      } else {
        openersBottom[key] = closer.prev
        const next = closer.next
        if (!closer.canOpen) this.removeDelimiter(closer)
        closer = next
      }
    }
    while (this.delimiters && this.delimiters !== bottom) this.removeDelimiter(this.delimiters)
  }

  private openBracket(image: boolean, width: number) {
    // The bracket gets a node of its own so a link can take the nodes after it.
    const node = new Inline("text", image ? "![" : "[")
    this.root.append(node)
    node.delimiter = true
    this.pos += width
    this.pushBracket(node, image)
  }

  private pushBracket(node: Inline, image: boolean) {
    this.brackets = {
      node,
      image,
      start: this.pos,
      active: true,
      prev: this.brackets,
      prevDelimiter: this.delimiters,
    }
  }

  private closeBracket() {
    const s = this.src
    const opener = this.brackets
    const closeAt = this.pos
    this.pos++
    if (!opener) {
      this.appendText("]")
      return
    }
    this.brackets = opener.prev
    if (!opener.active) {
      this.appendText("]")
      return
    }
    let dest: string | undefined
    let title: string | undefined
    let end = this.pos
    // Inline link: [text](dest "title")
    if (s[this.pos] === "(") {
      let p = skipSpace(s, this.pos + 1, true)
      let ok = true
      let d = ""
      if (s[p] !== ")") {
        const scanned = scanDestination(s, p)
        if (scanned) {
          d = scanned.dest
          p = scanned.end
        } else ok = false
      }
      if (ok) {
        const q = skipSpace(s, p, true)
        if (q > p && s[q] !== ")") {
          const t = scanTitle(s, q)
          if (t) {
            title = t.title
            p = skipSpace(s, t.end, true)
          } else ok = false
        } else p = q
      }
      if (ok && s[p] === ")") {
        dest = d
        end = p + 1
      } else title = undefined
    }
    // Reference link: [text][label], [text][], [text]
    if (dest === undefined && this.refs.size > 0) {
      let key: string | undefined
      const label = scanLabel(s, this.pos)
      if (label) {
        key = normalizeLabel(label.label)
        end = label.end
      } else {
        if (s.startsWith("[]", this.pos)) end = this.pos + 2
        if (closeAt - opener.start <= MAX_LABEL)
          key = normalizeLabel(s.slice(opener.start, closeAt))
      }
      const ref = key ? this.refs.get(key) : undefined
      if (ref) {
        dest = ref.dest
        title = ref.title
      }
    }
    if (dest === undefined) {
      this.appendText("]")
      return
    }
    const link = new Inline(opener.image ? "image" : "link")
    link.dest = dest
    link.title = title
    let item = opener.node.next
    while (item) {
      const next: Inline | undefined = item.next
      item.unlink()
      link.append(item)
      item = next
    }
    this.root.append(link)
    this.processEmphasis(opener.prevDelimiter)
    opener.node.unlink()
    this.pos = end
    if (!opener.image) {
      for (let b = this.brackets; b; b = b.prev) if (!b.image) b.active = false
    }
  }

  private autolink() {
    const s = this.src
    URI_AUTOLINK.lastIndex = this.pos
    const uri = URI_AUTOLINK.exec(s)
    if (uri) {
      const link = new Inline("link")
      link.dest = uri[1]!
      link.append(new Inline("text", uri[1]!))
      this.root.append(link)
      this.pos += uri[0].length
      return
    }
    EMAIL_AUTOLINK.lastIndex = this.pos
    const email = EMAIL_AUTOLINK.exec(s)
    if (email) {
      const link = new Inline("link")
      link.dest = "mailto:" + email[1]!
      link.append(new Inline("text", email[1]!))
      this.root.append(link)
      this.pos += email[0].length
      return
    }
    this.text("<", 1)
  }

  private entity() {
    const e = entityAt(this.src, this.pos)
    if (e) this.text(e.text, e.length)
    else this.text("&", 1)
  }
}

// ---------------------------------------------------------------------------------------
// Rendering
// ---------------------------------------------------------------------------------------

const attr = (name: string, value: string) => ` ${name}="${escapeHtml(value)}"`

/** Text of an inline tree without markup (alt text, heading slugs). */
const plainText = (root: Inline): string => {
  let out = ""
  walk(root, (node, entering) => {
    if (!entering) return
    if (node.kind === "text" || node.kind === "code") out += node.literal
    else if (node.kind === "softbreak" || node.kind === "hardbreak") out += " "
  })
  return out
}

/** Visits a tree depth-first without recursion; `visit` returning false skips children. */
const walk = (root: Inline, visit: (node: Inline, entering: boolean) => boolean | undefined) => {
  let node: Inline = root
  let entering = true
  for (;;) {
    if (entering) {
      const descend = visit(node, true) !== false
      if (descend && node.first) {
        node = node.first
        continue
      }
      if (descend) visit(node, false)
    } else visit(node, false)
    if (node === root) return
    if (node.next) {
      node = node.next
      entering = true
    } else {
      node = node.parent!
      entering = false
    }
  }
}

const renderInlines = (root: Inline, options: MarkdownOptions): string => {
  let out = ""
  // Links inside links (a bare URL in link text) render as their text; images inside
  // image alt text are skipped by `plainText`.
  let linkDepth = 0
  const skipped = new Set<Inline>()
  walk(root, (node, entering) => {
    switch (node.kind) {
      case "root":
        return
      case "text":
        if (entering) out += escapeHtml(node.literal)
        return
      case "code":
        if (entering) out += `<code>${escapeHtml(node.literal)}</code>`
        return
      case "softbreak":
        if (entering) out += "\n"
        return
      case "hardbreak":
        if (entering) out += "<br>\n"
        return
      case "emph":
        out += entering ? "<em>" : "</em>"
        return
      case "strong":
        out += entering ? "<strong>" : "</strong>"
        return
      case "del":
        out += entering ? "<del>" : "</del>"
        return
      case "link": {
        if (entering) {
          const url = linkDepth > 0 ? undefined : safeUrl(node.dest, options.linkBase, LINK_SCHEMES)
          linkDepth++
          if (!url) {
            skipped.add(node)
            return
          }
          out += `<a${attr("href", url.href)}`
          if (node.title !== undefined) out += attr("title", node.title)
          if (url.external) out += ' rel="nofollow noopener"'
          out += ">"
        } else {
          linkDepth--
          if (skipped.has(node)) skipped.delete(node)
          else out += "</a>"
        }
        return
      }
      case "image": {
        if (!entering) return
        const alt = plainText(node)
        const url = safeUrl(node.dest, options.imageBase, IMAGE_SCHEMES)
        if (!url) out += escapeHtml(alt)
        else {
          out += `<img${attr("src", url.href)}${attr("alt", alt)}`
          if (node.title !== undefined) out += attr("title", node.title)
          out += ' loading="lazy">'
        }
        return false
      }
    }
  })
  return out
}

const parseInlines = (text: string, ctx: Context) => new InlineParser(text, ctx.refs).parse()

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces as hyphens. */
const slugOf = (text: string) =>
  text
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\p{M}\p{Pc} -]/gu, "")
    .replace(/ /g, "-")

class Renderer {
  private readonly slugs = new Map<string, number>()
  constructor(
    private readonly ctx: Context,
    private readonly options: MarkdownOptions,
  ) {}

  inline(text: string) {
    return renderInlines(parseInlines(text, this.ctx), this.options)
  }

  blocks(blocks: ReadonlyArray<Block>, tight: boolean): string {
    let out = ""
    for (let k = 0; k < blocks.length; k++) {
      const b = blocks[k]!
      if (tight && b.kind === "paragraph") {
        out += this.inline(b.text)
        if (k + 1 < blocks.length) out += "\n"
      } else out += this.block(b)
    }
    return out
  }

  private uniqueSlug(text: string) {
    const base = slugOf(text)
    const seen = this.slugs.get(base)
    let slug = base
    if (seen !== undefined) {
      let k = seen
      do {
        k++
        slug = `${base}-${k}`
      } while (this.slugs.has(slug))
      this.slugs.set(base, k)
    } else this.slugs.set(base, 0)
    if (slug !== base) this.slugs.set(slug, 0)
    return slug
  }

  block(b: Block): string {
    switch (b.kind) {
      case "paragraph":
        return `<p>${this.inline(b.text)}</p>\n`
      case "heading": {
        const root = parseInlines(b.text, this.ctx)
        const slug = this.uniqueSlug(plainText(root))
        const id = slug === "" ? "" : attr("id", (this.options.headingIdPrefix ?? "") + slug)
        return `<h${b.level}${id}>${renderInlines(root, this.options)}</h${b.level}>\n`
      }
      case "rule":
        return "<hr>\n"
      case "code": {
        const word = unescapeText(b.info.split(/[ \t]/, 1)[0] ?? "")
        const language = word ? languageFromName(word) : undefined
        const cls = /^[A-Za-z0-9_+#.-]{1,40}$/.test(word) ? attr("class", `language-${word}`) : ""
        let body: string
        if (b.text === "") body = ""
        else if (language) body = highlightLines(b.text.slice(0, -1), language).join("\n") + "\n"
        else body = escapeHtml(b.text)
        return `<pre><code${cls}>${body}</code></pre>\n`
      }
      case "quote":
        return `<blockquote>\n${this.blocks(b.children, false)}</blockquote>\n`
      case "list": {
        const tag = b.ordered ? "ol" : "ul"
        const start = b.ordered && b.start !== 1 ? attr("start", String(b.start)) : ""
        const tasks = b.items.some((item) => item.task !== undefined)
        let out = `<${tag}${start}${tasks ? ' class="contains-task-list"' : ""}>\n`
        for (const item of b.items) {
          out += item.task !== undefined ? '<li class="task-list-item">' : "<li>"
          if (item.task !== undefined)
            out += `<input type="checkbox" disabled=""${item.task ? ' checked=""' : ""}> `
          const first = item.children[0]
          if (first && !(b.tight && first.kind === "paragraph")) out += "\n"
          out += this.blocks(item.children, b.tight)
          out += "</li>\n"
        }
        return `${out}</${tag}>\n`
      }
      case "table": {
        const align = (k: number) => (b.align[k] ? attr("align", b.align[k]!) : "")
        let out = "<table>\n<thead>\n<tr>\n"
        b.header.forEach((cell, k) => {
          out += `<th${align(k)}>${this.inline(cell)}</th>\n`
        })
        out += "</tr>\n</thead>\n"
        if (b.rows.length > 0) {
          out += "<tbody>\n"
          for (const row of b.rows) {
            out += "<tr>\n"
            row.forEach((cell, k) => {
              out += `<td${align(k)}>${this.inline(cell)}</td>\n`
            })
            out += "</tr>\n"
          }
          out += "</tbody>\n"
        }
        return `${out}</table>\n`
      }
    }
  }
}

/** Renders Markdown to inert HTML (see the module header for what is supported). */
export const renderMarkdown = (text: string, options: MarkdownOptions = {}): string => {
  const source = text.replace(/\r\n?/g, "\n").replace(/\u0000/g, "\ufffd")
  const lines = source.split("\n")
  if (lines.length > 0 && lines[lines.length - 1] === "") lines.pop()
  const ctx: Context = { refs: new Map() }
  const blocks = parseBlocks(lines, 0, ctx)
  return new Renderer(ctx, options).blocks(blocks, false)
}
