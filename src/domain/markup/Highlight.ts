/**
 * Syntax highlighting: small tokenizers of our own, good enough to colour code in a file
 * view or a README, not parsers.
 *
 * Guarantees:
 * - `highlightLines` returns exactly one HTML string per source line (split on `\n`, a
 *   trailing `\r` kept as text), all text escaped, every `<span>` opened on a line closed
 *   on the same line: a token spanning lines (block comments, multi-line strings) is
 *   closed at each line end and reopened on the next, so any line can be shown alone.
 * - The only markup is `<span class="hl-…">`, with classes from `HIGHLIGHT_CLASSES`.
 * - Linear time: at each position the tokenizer tries a fixed list of sticky regular
 *   expressions written so that a failing attempt scans O(1) characters and a successful
 *   one consumes what it scanned (unterminated strings and comments run to the end of
 *   the line or the input instead of failing), and every step consumes at least one
 *   character.
 * - Unknown languages (and `undefined`) give the escaped lines, unchanged otherwise.
 */

const ENTITY_OF: Record<string, string> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "'": "&#39;",
}

/** Escapes text for HTML content and double- or single-quoted attribute values. */
export const escapeHtml = (s: string): string =>
  SPECIAL_HTML.test(s) ? s.replace(SPECIAL_HTML_ALL, (c) => ENTITY_OF[c]!) : s
const SPECIAL_HTML = /[&<>"']/
const SPECIAL_HTML_ALL = /[&<>"']/g

/** Token classes, as `hl-<name>` CSS classes (see `Css.ts`). */
export const HIGHLIGHT_CLASSES = [
  "kw", // keyword
  "str", // string, character
  "com", // comment
  "num", // number, colour, date
  "fn", // function name, make target
  "type", // type, class name, table header
  "op", // operator
  "lit", // literal constant: true, false, null, entity
  "attr", // attribute, property, object key
  "tag", // markup tag name
  "meta", // preprocessor, decorator, annotation, directive
  "var", // variable interpolation ($x)
  "head", // heading
  "add", // inserted line
  "del", // deleted line
  "hunk", // hunk header
] as const
export type HighlightClass = (typeof HIGHLIGHT_CLASSES)[number]

type Emit = (cls: HighlightClass | undefined, text: string) => void
type Tokenizer = (code: string, emit: Emit) => void

// ---------------------------------------------------------------------------------------
// Languages and file names
// ---------------------------------------------------------------------------------------

const BY_EXTENSION: Record<string, string> = {
  ts: "typescript",
  tsx: "typescript",
  mts: "typescript",
  cts: "typescript",
  js: "javascript",
  jsx: "javascript",
  mjs: "javascript",
  cjs: "javascript",
  json: "json",
  jsonc: "json",
  json5: "json",
  geojson: "json",
  webmanifest: "json",
  py: "python",
  pyi: "python",
  pyw: "python",
  go: "go",
  rs: "rust",
  c: "c",
  h: "c",
  cc: "cpp",
  cpp: "cpp",
  cxx: "cpp",
  hh: "cpp",
  hpp: "cpp",
  hxx: "cpp",
  ino: "cpp",
  java: "java",
  sh: "shell",
  bash: "shell",
  zsh: "shell",
  ksh: "shell",
  envrc: "shell",
  yml: "yaml",
  yaml: "yaml",
  md: "markdown",
  markdown: "markdown",
  mdown: "markdown",
  html: "html",
  htm: "html",
  xhtml: "html",
  vue: "html",
  svelte: "html",
  xml: "xml",
  svg: "xml",
  xsd: "xml",
  xsl: "xml",
  plist: "xml",
  csproj: "xml",
  css: "css",
  scss: "css",
  less: "css",
  sql: "sql",
  toml: "toml",
  mk: "makefile",
  mak: "makefile",
  diff: "diff",
  patch: "diff",
  dockerfile: "dockerfile",
}

const BY_FILE_NAME: Record<string, string> = {
  dockerfile: "dockerfile",
  containerfile: "dockerfile",
  makefile: "makefile",
  gnumakefile: "makefile",
  "cargo.lock": "toml",
  pipfile: "toml",
  "poetry.lock": "toml",
  ".bashrc": "shell",
  ".bash_profile": "shell",
  ".profile": "shell",
  ".zshrc": "shell",
  "package-lock.json": "json",
  "tsconfig.json": "json",
  ".babelrc": "json",
  ".eslintrc": "json",
  "go.mod": "go",
}

/** The language of a file, by its name or extension, if we can highlight it. */
export const languageOf = (path: string): string | undefined => {
  const name = path.slice(path.lastIndexOf("/") + 1).toLowerCase()
  const byName = BY_FILE_NAME[name]
  if (byName) return byName
  if (name.startsWith("dockerfile.") || name.endsWith(".dockerfile")) return "dockerfile"
  if (name.startsWith("makefile.")) return "makefile"
  const dot = name.lastIndexOf(".")
  return dot >= 0 ? BY_EXTENSION[name.slice(dot + 1)] : undefined
}

const BY_NAME: Record<string, string> = {
  typescript: "typescript",
  javascript: "javascript",
  node: "javascript",
  python: "python",
  python3: "python",
  py3: "python",
  golang: "go",
  rust: "rust",
  "c++": "cpp",
  shell: "shell",
  shellscript: "shell",
  console: "shell",
  docker: "dockerfile",
  make: "makefile",
  makefile: "makefile",
  dockerfile: "dockerfile",
}

/** The language named by a fenced code block's info word ("ts", "Python", "sh"), if known. */
export const languageFromName = (name: string): string | undefined => {
  const n = name.toLowerCase()
  return BY_NAME[n] ?? (TOKENIZERS[n] ? n : BY_EXTENSION[n])
}

// ---------------------------------------------------------------------------------------
// The rule engine
// ---------------------------------------------------------------------------------------

interface WordContext {
  /** The last word or symbol before this one (whitespace and comments skipped). */
  readonly previous: string
  /** The character right after the word. */
  readonly next: string
}

interface Rule {
  readonly re: RegExp
  readonly cls:
    | HighlightClass
    | undefined
    | ((text: string, ctx: WordContext) => HighlightClass | undefined)
  /** Only at the start of a line (after indentation). */
  readonly lineStart?: boolean
  /** Only when the previous token allows it (e.g. a `/` starting a regular expression). */
  readonly when?: (previous: string) => boolean
  /** The one character every match starts with, when the pattern says so (a fast filter). */
  readonly first?: string
  /** A hand-written matcher used instead of `re`: where the token ends, or -1. */
  readonly scan?: (code: string, pos: number) => number
  /** ASCII characters a match can start with, when given (a fast filter). */
  readonly firstSet?: Uint8Array
}

const charSet = (chars: string): Uint8Array => {
  const set = new Uint8Array(128)
  for (let k = 0; k < chars.length; k++) set[chars.charCodeAt(k)] = 1
  return set
}
const DIGITS = "0123456789"
const LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
const NUMBER_START = charSet(DIGITS + ".")
const WORD_START = charSet(LETTERS + "_$")
const OPERATOR_START = charSet("-+*/%=&|^!<>?:~")

/** `r` with a first-character filter. */
const startingWith = (r: Rule, set: Uint8Array): Rule => ({ ...r, firstSet: set })

/**
 * The character every match of `source` must start with, if it is evident: the pattern
 * starts with a literal character (escaped or not) that is not optional, and has no
 * top-level alternation. Otherwise undefined (no filter).
 */
const firstCharOf = (source: string, flags: string): string | undefined => {
  let depth = 0
  let inClass = false
  for (let k = 0; k < source.length; k++) {
    const ch = source[k]
    if (ch === "\\") k++
    else if (inClass) inClass = ch !== "]"
    else if (ch === "[") inClass = true
    else if (ch === "(") depth++
    else if (ch === ")") depth--
    else if (ch === "|" && depth === 0) return undefined
  }
  let first: string
  let next: number
  if (source[0] === "\\" && source.length > 1 && /[^A-Za-z0-9]/.test(source[1]!)) {
    first = source[1]!
    next = 2
  } else if (source.length > 0 && !"()[]{}.*+?^$|\\".includes(source[0]!)) {
    first = source[0]!
    next = 1
  } else return undefined
  if ("?*{".includes(source[next] ?? "")) return undefined
  if (flags.includes("i") && /[A-Za-z]/.test(first)) return undefined
  return first
}

const rule = (
  source: string,
  cls: Rule["cls"],
  lineStart = false,
  flags = "",
  when?: (previous: string) => boolean,
): Rule => {
  const first = firstCharOf(source, flags)
  return {
    re: new RegExp(source, "y" + flags),
    cls,
    lineStart,
    ...(when ? { when } : {}),
    ...(first !== undefined ? { first } : {}),
  }
}

/**
 * Runs rules over `code[from, to)`; unmatched characters are plain text. A token is cut at
 * `to` (regions are split where no token can continue, so this only trims what belongs to
 * the next region).
 */
const runRules = (
  code: string,
  rules: ReadonlyArray<Rule>,
  emit: Emit,
  from = 0,
  to = code.length,
) => {
  let pos = from
  let plainStart = from
  let previous = ""
  let atLineStart = true
  const flushPlain = () => {
    if (plainStart < pos) emit(undefined, code.slice(plainStart, pos))
  }
  while (pos < to) {
    const c = code.charCodeAt(pos)
    if (c === 10) {
      atLineStart = true
      pos++
      continue
    }
    if (c === 32 || c === 9 || c === 13) {
      pos++
      continue
    }
    let matched = false
    const ch = code[pos]
    for (const r of rules) {
      if (r.first !== undefined && r.first !== ch) continue
      if (r.firstSet !== undefined && (c >= 128 || r.firstSet[c] === 0)) continue
      if (r.lineStart && !atLineStart) continue
      if (r.when && !r.when(previous)) continue
      let matchEnd: number
      if (r.scan) matchEnd = r.scan(code, pos)
      else {
        r.re.lastIndex = pos
        // test(), not exec(): no match array to allocate; lastIndex is where the match ends.
        matchEnd = r.re.test(code) ? r.re.lastIndex : -1
      }
      if (matchEnd <= pos) continue
      const end = Math.min(to, matchEnd)
      const token = code.slice(pos, end)
      const cls =
        typeof r.cls === "function" ? r.cls(token, { previous, next: code[end] ?? "" }) : r.cls
      flushPlain()
      emit(cls, token)
      if (cls !== "com") previous = token
      pos = end
      plainStart = pos
      matched = true
      break
    }
    atLineStart = false
    if (!matched) {
      previous = code[pos]!
      pos++
    }
  }
  flushPlain()
}

interface WordSets {
  readonly keywords: ReadonlySet<string>
  readonly types?: ReadonlySet<string>
  readonly literals?: ReadonlySet<string>
  /** Words after which a name is a function name (`function`, `def`, `fn`). */
  readonly functionIntro?: ReadonlySet<string>
  /** Words after which a name is a type name (`class`, `struct`). */
  readonly typeIntro?: ReadonlySet<string>
  /** Capitalised names are types (TypeScript, Java, Rust). */
  readonly capitalisedTypes?: boolean
  readonly caseInsensitive?: boolean
}

const words = (list: string) => new Set(list.split(/\s+/).filter((w) => w !== ""))

/** `Foo`, `HTTPServer`: starts upper case and has a lower-case letter (not `MAX_SIZE`). */
const isCapitalised = (word: string) => {
  const c0 = word.charCodeAt(0)
  if (c0 < 65 || c0 > 90) return false
  for (let k = 1; k < word.length; k++) {
    const c = word.charCodeAt(k)
    if (c >= 97 && c <= 122) return true
  }
  return false
}

const classifyWord =
  (sets: WordSets) =>
  (word: string, ctx: WordContext): HighlightClass | undefined => {
    const w = sets.caseInsensitive ? word.toLowerCase() : word
    if (sets.keywords.has(w)) return "kw"
    if (sets.literals?.has(w)) return "lit"
    if (sets.types?.has(w)) return "type"
    if (sets.functionIntro?.has(ctx.previous)) return "fn"
    if (sets.typeIntro?.has(ctx.previous)) return "type"
    if (ctx.next === "(") return "fn"
    if (sets.capitalisedTypes && isCapitalised(word)) return "type"
    return undefined
  }

// Shared token shapes. Unterminated strings end at the line end, comments at the input end.
const DQ = String.raw`"(?:[^"\\\n]|\\[\s\S])*(?:"|(?=\n)|$)`
const SQ = String.raw`'(?:[^'\\\n]|\\[\s\S])*(?:'|(?=\n)|$)`
const BLOCK_COMMENT = String.raw`\/\*[\s\S]*?(?:\*\/|$)`
const NUMBER = String.raw`(?:0[xX][\da-fA-F_]+|0[bB][01_]+|0[oO][0-7_]+|\d[\d_]*(?:\.[\d_]*)?(?:[eE][+-]?\d+)?|\.\d[\d_]*(?:[eE][+-]?\d+)?)[a-zA-Z_\d]*`
const OPERATOR = String.raw`[-+*/%=&|^!<>?:~]+`

const cLike = (
  sets: WordSets,
  extra: { before?: ReadonlyArray<Rule>; strings?: ReadonlyArray<Rule>; ident?: string } = {},
): Tokenizer => {
  const rules: Rule[] = [
    ...(extra.before ?? []),
    rule(String.raw`\/\/[^\n]*`, "com"),
    rule(BLOCK_COMMENT, "com"),
    ...(extra.strings ?? [rule(DQ, "str"), rule(SQ, "str")]),
    startingWith(rule(NUMBER, "num"), NUMBER_START),
    startingWith(rule(extra.ident ?? String.raw`[A-Za-z_$][\w$]*`, classifyWord(sets)), WORD_START),
    startingWith(rule(OPERATOR, "op"), OPERATOR_START),
  ]
  return (code, emit) => runRules(code, rules, emit)
}

// ---------------------------------------------------------------------------------------
// Languages
// ---------------------------------------------------------------------------------------

const JS_KEYWORDS =
  "break case catch class const continue debugger default delete do else export extends finally for function if import in instanceof let new of return super switch this throw try typeof var void while with yield async await static get set from as"
const TS_KEYWORDS = `${JS_KEYWORDS} type interface enum namespace declare abstract implements private protected public readonly keyof infer is satisfies override module asserts unique accessor`
const JS_LITERALS = words("true false null undefined NaN Infinity")
const TS_TYPES = words(
  "string number boolean bigint symbol object any unknown never void Array Promise Record ReadonlyArray Map Set",
)

const jsStrings = [
  rule(DQ, "str"),
  rule(SQ, "str"),
  rule(String.raw`\`(?:[^\`\\]|\\[\s\S])*(?:\`|$)`, "str"),
]
/** The longest regular expression literal we look for (bounds the work of a failed try). */
const MAX_REGEX_LITERAL = 1000

/**
 * The end of a regular expression literal starting at `pos` (a `/`), or -1: it must close
 * on the same line within `MAX_REGEX_LITERAL` characters. Written by hand because the
 * regular expression for it backtracks quadratically on an unclosed `[` class.
 */
const scanRegexLiteral = (code: string, pos: number): number => {
  const next = code[pos + 1]
  if (next === "/" || next === "*") return -1
  const limit = Math.min(code.length, pos + MAX_REGEX_LITERAL)
  let inClass = false
  for (let k = pos + 1; k < limit; k++) {
    const c = code[k]
    if (c === "\n") return -1
    if (c === "\\") k++
    else if (inClass) inClass = c !== "]"
    else if (c === "[") inClass = true
    else if (c === "/") {
      if (k === pos + 1) return -1
      let end = k + 1
      while (end < code.length && code.charCodeAt(end) >= 97 && code.charCodeAt(end) <= 122) end++
      return end
    }
  }
  return -1
}

/** A `/` after these starts a regular expression literal, not a division. */
const REGEX_CONTEXT =
  /(?:^|[-(,=:[!&|?{};+*%<>~^]|\b(?:return|typeof|case|do|else|in|of|new|delete|void|throw|yield|await))$/
const jsBefore: Rule[] = [
  rule(String.raw`#![^\n]*`, "meta", true),
  rule(String.raw`@[A-Za-z_$][\w$.]*`, "meta"),
  {
    re: /\//y,
    cls: "str",
    first: "/",
    when: (previous: string) => REGEX_CONTEXT.test(previous),
    scan: (code: string, pos: number) => scanRegexLiteral(code, pos),
  },
]

const typescript = cLike(
  {
    keywords: words(TS_KEYWORDS),
    literals: JS_LITERALS,
    types: TS_TYPES,
    functionIntro: words("function"),
    typeIntro: words("class interface type enum extends implements new namespace"),
    capitalisedTypes: true,
  },
  { before: jsBefore, strings: jsStrings },
)

const javascript = cLike(
  {
    keywords: words(JS_KEYWORDS),
    literals: JS_LITERALS,
    functionIntro: words("function"),
    typeIntro: words("class extends new"),
    capitalisedTypes: true,
  },
  { before: jsBefore, strings: jsStrings },
)

const go = cLike(
  {
    keywords: words(
      "break case chan const continue default defer else fallthrough for func go goto if import interface map package range return select struct switch type var",
    ),
    literals: words("true false nil iota"),
    types: words(
      "bool byte complex64 complex128 error float32 float64 int int8 int16 int32 int64 rune string uint uint8 uint16 uint32 uint64 uintptr any comparable",
    ),
    functionIntro: words("func"),
    typeIntro: words("type"),
  },
  {
    strings: [rule(DQ, "str"), rule(SQ, "str"), rule("`[^`]*(?:`|$)", "str")],
    ident: String.raw`[A-Za-z_]\w*`,
  },
)

const rust = cLike(
  {
    keywords: words(
      "as async await break const continue crate dyn else enum extern fn for if impl in let loop match mod move mut pub ref return self Self static struct super trait type unsafe use where while union macro_rules",
    ),
    literals: words("true false None Some Ok Err"),
    types: words(
      "i8 i16 i32 i64 i128 isize u8 u16 u32 u64 u128 usize f32 f64 bool char str String Vec Option Result Box",
    ),
    functionIntro: words("fn"),
    typeIntro: words("struct enum trait type impl for"),
    capitalisedTypes: true,
  },
  {
    before: [
      rule(String.raw`#!?\[[^\]\n]*\]?`, "meta"),
      rule(String.raw`[A-Za-z_]\w*!(?=[(\[{])`, "fn"),
    ],
    strings: [
      rule(String.raw`b?r(#*)"[\s\S]*?(?:"\1|$)`, "str"),
      rule(String.raw`b?${DQ}`, "str"),
      rule(String.raw`b?'(?:[^'\\\n]|\\(?:x[\da-fA-F]{2}|u\{[\da-fA-F]{1,6}\}|[^\n]))'`, "str"),
      rule(String.raw`'[A-Za-z_]\w*`, "meta"),
    ],
    ident: String.raw`[A-Za-z_]\w*`,
  },
)

const C_KEYWORDS =
  "auto break case const continue default do else enum extern for goto if inline register restrict return sizeof static struct switch typedef union volatile while _Bool _Static_assert"
const C_TYPES =
  "char double float int long short signed unsigned void size_t ssize_t bool int8_t int16_t int32_t int64_t uint8_t uint16_t uint32_t uint64_t FILE"
const preprocessor = rule(String.raw`#[ \t]*(?:include[^\n]*|[A-Za-z]+)`, "meta", true)

const c = cLike(
  {
    keywords: words(C_KEYWORDS),
    literals: words("true false NULL"),
    types: words(C_TYPES),
    typeIntro: words("struct union enum"),
  },
  { before: [preprocessor], ident: String.raw`[A-Za-z_]\w*` },
)

const cpp = cLike(
  {
    keywords: words(
      `${C_KEYWORDS} alignas alignof catch class concept consteval constexpr constinit co_await co_return co_yield decltype delete explicit export final friend mutable namespace new noexcept operator override private protected public requires static_assert static_cast dynamic_cast reinterpret_cast const_cast template this thread_local throw try typeid typename using virtual`,
    ),
    literals: words("true false nullptr NULL"),
    types: words(`${C_TYPES} auto wchar_t char8_t char16_t char32_t std string vector`),
    typeIntro: words("class struct union enum namespace typename"),
  },
  {
    before: [preprocessor],
    strings: [
      rule(String.raw`R"([^(\s]{0,16})\([\s\S]*?(?:\)\1"|$)`, "str"),
      rule(DQ, "str"),
      rule(SQ, "str"),
    ],
    ident: String.raw`[A-Za-z_]\w*`,
  },
)

const java = cLike(
  {
    keywords: words(
      "abstract assert break case catch class const continue default do else enum extends final finally for goto if implements import instanceof interface native new package private protected public return static strictfp super switch synchronized this throw throws transient try volatile while var record sealed permits yield non-sealed",
    ),
    literals: words("true false null"),
    types: words(
      "boolean byte char double float int long short void String Object Integer Long List Map",
    ),
    typeIntro: words("class interface enum extends implements new record"),
    capitalisedTypes: true,
  },
  {
    before: [rule(String.raw`@[A-Za-z_]\w*`, "meta")],
    strings: [rule(String.raw`"""[\s\S]*?(?:"""|$)`, "str"), rule(DQ, "str"), rule(SQ, "str")],
  },
)

const PY_STRING = String.raw`(?:[rRbBuUfF]{1,2})?(?:"""[\s\S]*?(?:"""|$)|'''[\s\S]*?(?:'''|$)|${DQ}|${SQ})`
const python: Tokenizer = (() => {
  const classify = classifyWord({
    keywords: words(
      "and as assert async await break class continue def del elif else except finally for from global if import in is lambda nonlocal not or pass raise return try while with yield match case type",
    ),
    literals: words("True False None Ellipsis NotImplemented"),
    types: words("int float str bytes bool list dict set tuple object complex frozenset bytearray"),
    functionIntro: words("def"),
    typeIntro: words("class"),
  })
  const rules = [
    rule(String.raw`#[^\n]*`, "com"),
    rule(PY_STRING, "str"),
    rule(String.raw`@[A-Za-z_][\w.]*`, "meta", true),
    startingWith(rule(NUMBER, "num"), NUMBER_START),
    startingWith(rule(String.raw`[A-Za-z_]\w*`, classify), WORD_START),
    startingWith(rule(OPERATOR, "op"), OPERATOR_START),
  ]
  return (code, emit) => runRules(code, rules, emit)
})()

const json: Tokenizer = (() => {
  const rules = [
    rule(`${DQ}(?=[ \\t]*:)`, "attr"),
    rule(DQ, "str"),
    rule(String.raw`\/\/[^\n]*`, "com"),
    rule(BLOCK_COMMENT, "com"),
    rule(String.raw`-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?`, "num"),
    rule(String.raw`(?:true|false|null)\b`, "lit"),
    rule(String.raw`[A-Za-z_]\w*`, undefined),
  ]
  return (code, emit) => runRules(code, rules, emit)
})()

const SHELL_KEYWORDS = words(
  "if then else elif fi for while until do done case esac in function select return exit break continue local export readonly declare unset shift source alias set trap eval exec time",
)
const SHELL_BUILTINS = words(
  "echo printf cd pwd test read cat grep sed awk ls rm cp mv mkdir chmod chown ln tar curl wget git make npm node python sudo apt-get apt docker kill true false",
)
const shellRules = (extra: ReadonlyArray<Rule>): Rule[] => [
  ...extra,
  rule(String.raw`#![^\n]*`, "meta", true),
  rule(String.raw`(?<![^\s;|&(])#[^\n]*`, "com"),
  rule(String.raw`'[^']*(?:'|$)`, "str"),
  rule(String.raw`\$(?:\{[^}\n]*\}?|\(\(?|[A-Za-z_]\w*|[@*#?$!0-9-])`, "var"),
  rule(String.raw`\d+(?![\w.-])`, "num"),
  rule(String.raw`--?[A-Za-z][\w-]*`, "attr"),
  rule(String.raw`[A-Za-z_][\w.-]*`, (w, ctx) =>
    SHELL_KEYWORDS.has(w)
      ? "kw"
      : ctx.next === "=" && /^[A-Za-z_]\w*$/.test(w)
        ? "attr"
        : SHELL_BUILTINS.has(w)
          ? "fn"
          : undefined,
  ),
  rule(String.raw`[|&;<>]+`, "op"),
]

/** Shell needs a string state: `"…$var…"` is a string with variables inside it. */
const shellLike = (extra: ReadonlyArray<Rule>): Tokenizer => {
  const rules = shellRules(extra)
  const inString = [
    rule(String.raw`\$(?:\{[^}\n]*\}?|[A-Za-z_]\w*|[@*#?$!0-9-])`, "var"),
    rule(String.raw`(?:[^"\\$]|\\[\s\S])+`, "str"),
    rule(String.raw`\$`, "str"),
  ]
  return (code, emit) => {
    // Split the input into outside-string and inside-double-quote regions.
    let pos = 0
    const n = code.length
    let quoted = false
    let start = 0
    while (pos < n) {
      const ch = code[pos]!
      if (quoted) {
        if (ch === "\\") pos += 2
        else if (ch === '"') {
          // The string region includes its quotes.
          stringRegion(code, start, pos + 1, inString, emit)
          quoted = false
          pos++
          start = pos
        } else pos++
        continue
      }
      if (ch === "\\") {
        pos += 2
        continue
      }
      if (ch === "'") {
        const close = code.indexOf("'", pos + 1)
        pos = close < 0 ? n : close + 1
        continue
      }
      if (ch === "#" && (pos === 0 || /[\s;|&(]/.test(code[pos - 1]!))) {
        const nl = code.indexOf("\n", pos)
        pos = nl < 0 ? n : nl
        continue
      }
      if (ch === '"') {
        runRules(code, rules, emit, start, pos)
        quoted = true
        start = pos
        pos++
        continue
      }
      pos++
    }
    if (quoted) stringRegion(code, start, n, inString, emit)
    else runRules(code, rules, emit, start, n)
  }
}

/** A double-quoted shell string `code[from, to)`: string text with variables inside. */
const stringRegion = (
  code: string,
  from: number,
  to: number,
  rules: ReadonlyArray<Rule>,
  emit: Emit,
) => {
  emit("str", '"')
  const last = code[to - 1] === '"' && to - 1 > from ? to - 1 : to
  let pos = from + 1
  while (pos < last) {
    let matched = false
    for (const r of rules) {
      r.re.lastIndex = pos
      const m = r.re.exec(code)
      if (!m || m[0].length === 0) continue
      const end = Math.min(last, pos + m[0].length)
      emit(typeof r.cls === "function" ? undefined : r.cls, code.slice(pos, end))
      pos = end
      matched = true
      break
    }
    if (!matched) {
      emit("str", code[pos]!)
      pos++
    }
  }
  if (last < to) emit("str", '"')
}

const shell = shellLike([])

const DOCKER_INSTRUCTIONS =
  "FROM|RUN|CMD|LABEL|MAINTAINER|EXPOSE|ENV|ADD|COPY|ENTRYPOINT|VOLUME|USER|WORKDIR|ARG|ONBUILD|STOPSIGNAL|HEALTHCHECK|SHELL|AS"
const dockerfile = shellLike([
  rule(String.raw`(?:${DOCKER_INSTRUCTIONS})(?=[ \t\n]|$)`, "kw", true, "i"),
  rule(String.raw`\b(?:AS|as)\b(?=[ \t])`, "kw"),
])

const makefile = shellLike([
  rule(
    String.raw`(?:include|-include|sinclude|ifeq|ifneq|ifdef|ifndef|else|endif|define|endef|export|unexport|override|vpath)(?=[ \t\n]|$)`,
    "kw",
    true,
  ),
  rule(String.raw`[A-Za-z0-9_.\-/%$(){}]+(?=[ \t]*(?:::?|&:)(?!=))`, "fn", true),
  rule(String.raw`[A-Za-z_][\w.-]*(?=[ \t]*(?:[:+?!]?=))`, "attr", true),
  rule(String.raw`\$(?:\([^)\n]*\)?|\{[^}\n]*\}?|[@<^+?*%|])`, "var"),
])

const sql: Tokenizer = (() => {
  const classify = classifyWord({
    keywords: words(
      "select from where and or not insert into values update set delete create table drop alter add column index view as on join left right inner outer full cross natural using group by order having limit offset union all distinct case when then else end is null in exists between like ilike primary key foreign references unique default constraint check begin commit rollback transaction returning with recursive if replace trigger function procedure returns language declare asc desc cascade grant revoke to explain analyze vacuum pragma autoincrement conflict do nothing collate escape",
    ),
    literals: words("true false null current_timestamp current_date"),
    types: words(
      "int integer bigint smallint tinyint serial bigserial real double precision float numeric decimal text varchar char character boolean bool date time timestamp timestamptz interval blob bytea json jsonb uuid",
    ),
    caseInsensitive: true,
  })
  const rules = [
    rule(String.raw`--[^\n]*`, "com"),
    rule(BLOCK_COMMENT, "com"),
    rule(String.raw`'(?:[^']|'')*(?:'|$)`, "str"),
    rule(String.raw`"[^"\n]*(?:"|(?=\n)|$)`, "attr"),
    rule(String.raw`\d+(?:\.\d+)?(?:[eE][+-]?\d+)?`, "num"),
    rule(String.raw`[A-Za-z_][\w$]*`, classify),
    rule(String.raw`[-+*/%=<>!|]+`, "op"),
  ]
  return (code, emit) => runRules(code, rules, emit)
})()

const toml: Tokenizer = (() => {
  const rules = [
    rule(String.raw`#[^\n]*`, "com"),
    rule(String.raw`\[\[?[^\]\n]*\]?\]?`, "type", true),
    rule(
      String.raw`(?:[A-Za-z0-9_-]+|${DQ}|'[^'\n]*')(?:[ \t]*\.[ \t]*(?:[A-Za-z0-9_-]+|${DQ}|'[^'\n]*'))*(?=[ \t]*=)`,
      "attr",
      true,
    ),
    rule(String.raw`"""[\s\S]*?(?:"""|$)`, "str"),
    rule(String.raw`'''[\s\S]*?(?:'''|$)`, "str"),
    rule(DQ, "str"),
    rule(String.raw`'[^'\n]*(?:'|(?=\n)|$)`, "str"),
    rule(
      String.raw`\d{4}-\d{2}-\d{2}(?:[Tt ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:[Zz]|[+-]\d{2}:\d{2})?)?`,
      "num",
    ),
    rule(
      String.raw`[+-]?(?:0x[\da-fA-F_]+|0o[0-7_]+|0b[01_]+|\d[\d_]*(?:\.[\d_]+)?(?:[eE][+-]?\d+)?|inf|nan)`,
      "num",
    ),
    rule(String.raw`(?:true|false)\b`, "lit"),
    rule(String.raw`[A-Za-z_][\w-]*`, undefined),
    rule("=", "op"),
  ]
  return (code, emit) => runRules(code, rules, emit)
})()

const yaml: Tokenizer = (() => {
  const scalar = (token: string): HighlightClass | undefined => {
    if (/^(?:true|false|yes|no|on|off|null|~)$/i.test(token)) return "lit"
    if (/^[-+]?(?:\d[\d_]*(?:\.\d*)?(?:[eE][+-]?\d+)?|0x[\da-fA-F]+|\.inf|\.nan)$/i.test(token))
      return "num"
    return undefined
  }
  const rules = [
    rule(String.raw`(?:---|\.\.\.)(?=\s|$)`, "meta", true),
    rule(String.raw`(?<![^\s])#[^\n]*`, "com"),
    rule(String.raw`-(?=[ \t]|$)`, "op"),
    // A key: plain or quoted text followed by ": " (checked by the lookahead, which only
    // looks at the characters the key itself consumed plus one).
    rule(
      String.raw`(?:[^\s#'"{}\[\],:&*!|>%@\`-][^\s:#,\[\]{}]*|${DQ}|'[^'\n]*')(?=:(?:[ \t\n]|$))`,
      "attr",
    ),
    rule(String.raw`[&*][^\s,\[\]{}]+`, "meta"),
    rule(String.raw`![^\s]*`, "type"),
    rule(DQ, "str"),
    rule(String.raw`'(?:[^'\n]|'')*(?:'|(?=\n)|$)`, "str"),
    rule(String.raw`[|>][-+]?\d*(?=[ \t]*(?:#|$|\n))`, "op"),
    rule(String.raw`[^\s:#,\[\]{}]+`, (w) => scalar(w)),
    rule(String.raw`[:,\[\]{}]`, "op"),
  ]
  return (code, emit) => runRules(code, rules, emit)
})()

const css: Tokenizer = (code, emit) => {
  // Braces decide whether a word is a selector or a property: track their depth.
  let depth = 0
  let expectProperty = false
  const rules = [
    rule(BLOCK_COMMENT, "com"),
    rule(String.raw`\/\/[^\n]*`, "com"),
    rule(DQ, "str"),
    rule(SQ, "str"),
    rule(String.raw`@[A-Za-z-]+`, "kw"),
    rule(String.raw`!important\b`, "kw"),
    rule(String.raw`[{};]`, (t) => {
      if (t === "{") depth++
      else if (t === "}") depth = Math.max(0, depth - 1)
      expectProperty = depth > 0
      return undefined
    }),
    rule(
      String.raw`::?[A-Za-z-]+`,
      () => (depth === 0 || !expectProperty ? "meta" : "attr"),
      false,
      "",
      () => depth === 0,
    ),
    rule(":", () => {
      expectProperty = false
      return "op"
    }),
    rule(String.raw`#[\da-fA-F]{3,8}\b`, "num", false, "", () => depth > 0),
    rule(String.raw`[.#][A-Za-z_-][\w-]*`, "type", false, "", () => depth === 0 || expectProperty),
    rule(String.raw`-?(?:\d+\.?\d*|\.\d+)(?:[a-zA-Z]+|%)?`, "num"),
    rule(String.raw`--[A-Za-z0-9_-]+|-?[A-Za-z_][\w-]*`, (_w, ctx) => {
      if (ctx.next === "(") return "fn"
      if (depth > 0 && expectProperty) return "attr"
      if (depth === 0) return "tag"
      return undefined
    }),
  ]
  runRules(code, rules, emit)
}

const markupTokenizer =
  (html: boolean): Tokenizer =>
  (code, emit) => {
    const n = code.length
    let pos = 0
    let text = 0
    const flush = (to: number) => {
      if (text < to) emitEntities(code.slice(text, to), emit)
    }
    while (pos < n) {
      const lt = code.indexOf("<", pos)
      if (lt < 0) break
      pos = lt
      if (code.startsWith("<!--", pos)) {
        flush(pos)
        const end = code.indexOf("-->", pos + 4)
        const stop = end < 0 ? n : end + 3
        emit("com", code.slice(pos, stop))
        pos = text = stop
        continue
      }
      if (code.startsWith("<![CDATA[", pos)) {
        flush(pos)
        const end = code.indexOf("]]>", pos)
        const stop = end < 0 ? n : end + 3
        emit("meta", code.slice(pos, pos + 9))
        emit("str", code.slice(pos + 9, Math.max(pos + 9, end < 0 ? n : end)))
        if (end >= 0) emit("meta", "]]>")
        pos = text = stop
        continue
      }
      if (code.startsWith("<?", pos) || code.startsWith("<!", pos)) {
        flush(pos)
        const end = code.indexOf(">", pos)
        const stop = end < 0 ? n : end + 1
        emit("meta", code.slice(pos, stop))
        pos = text = stop
        continue
      }
      const m = /<\/?([A-Za-z][\w:.-]*)/y
      m.lastIndex = pos
      const tag = m.exec(code)
      if (!tag) {
        pos++
        continue
      }
      flush(pos)
      emit("tag", tag[0])
      pos += tag[0].length
      // Attributes up to the closing ">".
      const attr = /\s+|[^\s"'=<>/]+|=|"[^"]*(?:"|$)|'[^']*(?:'|$)|\/?>|\//y
      let closed = false
      while (pos < n && !closed) {
        attr.lastIndex = pos
        const a = attr.exec(code)
        if (!a) break
        const t = a[0]
        if (t === ">" || t === "/>") {
          emit("tag", t)
          closed = true
        } else if (t === "=") emit("op", t)
        else if (t[0] === '"' || t[0] === "'") emit("str", t)
        else if (/^\s/.test(t) || t === "/") emit(undefined, t)
        else emit("attr", t)
        pos += t.length
      }
      text = pos
      // Script and style bodies in HTML are code of their own.
      const name = tag[1]!.toLowerCase()
      if (html && closed && tag[0][1] !== "/" && (name === "script" || name === "style")) {
        const closeTag = new RegExp(`</${name}`, "gi")
        closeTag.lastIndex = pos
        const close = closeTag.exec(code)
        const end = close ? close.index : n
        ;(name === "script" ? javascript : css)(code.slice(pos, end), emit)
        pos = text = end
      }
    }
    flush(n)
  }

const emitEntities = (s: string, emit: Emit) => {
  const re = /&(?:#\d+|#x[\da-fA-F]+|[A-Za-z]\w*);/g
  let last = 0
  for (let m = re.exec(s); m; m = re.exec(s)) {
    if (m.index > last) emit(undefined, s.slice(last, m.index))
    emit("lit", m[0])
    last = m.index + m[0].length
  }
  if (last < s.length) emit(undefined, s.slice(last))
}

/** Line-oriented languages: a class per line, decided by its start. */
const diff: Tokenizer = (code, emit) => {
  for (const line of code.split(/(?<=\n)/)) {
    const cls: HighlightClass | undefined =
      line.startsWith("+++") || line.startsWith("---")
        ? "meta"
        : line.startsWith("@@")
          ? "hunk"
          : line.startsWith("+")
            ? "add"
            : line.startsWith("-")
              ? "del"
              : /^(?:diff |index |new file|deleted file|similarity|rename |old mode|new mode|Binary files)/.test(
                    line,
                  )
                ? "meta"
                : undefined
    emit(cls, line)
  }
}

const markdown: Tokenizer = (code, emit) => {
  const inline = [
    rule("(`+)[^`]*?\\1", "str"),
    rule(String.raw`(\*\*|__)(?=\S)[^*_\n]*?\S\1`, "kw"),
    rule(String.raw`!?\[[^[\]\n]*\](?=\()`, "attr"),
    rule(String.raw`\((?:[^()\s]|\([^()\s]*\))*\)`, (_t, ctx) =>
      ctx.previous.endsWith("]") ? "str" : undefined,
    ),
    rule(String.raw`<https?:[^>\s]*>`, "str"),
    rule(String.raw`[^\s\`*_\[!(<]+`, undefined),
  ]
  let fence: string | undefined
  for (const line of code.split(/(?<=\n)/)) {
    const body = line.replace(/\n$/, "")
    if (fence !== undefined) {
      const t = body.trim()
      if (t.startsWith(fence) && /^[`~]+$/.test(t)) {
        emit("meta", line)
        fence = undefined
      } else emit("str", line)
      continue
    }
    const open = /^ {0,3}(`{3,}|~{3,})/.exec(body)
    if (open) {
      fence = open[1]!
      emit("meta", line)
    } else if (/^ {0,3}#{1,6}(?:[ \t]|$)/.test(body)) {
      emit("head", line)
    } else if (/^ {0,3}>/.test(body)) {
      emit("com", line)
    } else {
      const marker = /^[ \t]*(?:[-+*]|\d{1,9}[.)])(?=[ \t])/.exec(body)
      if (marker) emit("op", marker[0])
      const rest = line.slice(marker ? marker[0].length : 0)
      runRules(rest, inline, emit)
    }
  }
}

const TOKENIZERS: Record<string, Tokenizer> = {
  typescript,
  javascript,
  json,
  python,
  go,
  rust,
  c,
  cpp,
  java,
  shell,
  yaml,
  markdown,
  html: markupTokenizer(true),
  xml: markupTokenizer(false),
  css,
  sql,
  toml,
  dockerfile,
  makefile,
  diff,
}

/** The languages `highlightLines` knows. */
export const HIGHLIGHT_LANGUAGES: ReadonlyArray<string> = Object.keys(TOKENIZERS)

// ---------------------------------------------------------------------------------------
// Lines
// ---------------------------------------------------------------------------------------

/** One escaped HTML string per line of `code` (split on `\n`), tokens in `hl-` spans. */
export const highlightLines = (
  code: string,
  language: string | undefined,
): ReadonlyArray<string> => {
  const tokenizer = language === undefined ? undefined : TOKENIZERS[language]
  if (!tokenizer) return code.split("\n").map(escapeHtml)
  const lines: string[] = []
  let current = ""
  let consumed = 0
  // Adjacent pieces of one class share a span.
  let pendingCls: HighlightClass | undefined
  let pending = ""
  const flush = () => {
    if (pending === "") return
    let start = 0
    for (;;) {
      const nl = pending.indexOf("\n", start)
      const piece = pending.slice(start, nl < 0 ? pending.length : nl)
      if (piece !== "")
        current += pendingCls
          ? `<span class="hl-${pendingCls}">${escapeHtml(piece)}</span>`
          : escapeHtml(piece)
      if (nl < 0) break
      lines.push(current)
      current = ""
      start = nl + 1
    }
    pending = ""
  }
  const emit: Emit = (cls, text) => {
    consumed += text.length
    if (cls !== pendingCls) {
      flush()
      pendingCls = cls
    }
    pending += text
  }
  tokenizer(code, emit)
  flush()
  // A tokenizer that lost or repeated text would be a bug: never show wrong code.
  if (consumed !== code.length) return code.split("\n").map(escapeHtml)
  lines.push(current)
  return lines
}
