import { describe, expect, it } from "vitest"
import { renderMarkdown } from "../../src/domain/markup/Markdown.ts"
import { htmlProblems, schemeOf } from "./HtmlChecker.ts"

// Each vector is rendered and checked: only our tags and attributes, no script, no event
// handler, no URL with a scheme other than http/https/mailto, no raw "<" from the input.
const VECTORS: ReadonlyArray<string> = [
  "<script>alert(1)</script>",
  "<SCRIPT SRC=//evil.example/x.js></SCRIPT>",
  "<img src=x onerror=alert(1)>",
  '<img src="x" onerror="alert(1)">',
  "<svg onload=alert(1)>",
  "<svg><script>alert(1)</script></svg>",
  '<iframe src="javascript:alert(1)"></iframe>',
  '<a href="javascript:alert(1)">x</a>',
  "<!-- <script>alert(1)</script> -->",
  "<![CDATA[<script>alert(1)</script>]]>",
  "<style>body{background:url(javascript:alert(1))}</style>",
  "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
  "[a](javascript:alert(1))",
  "![a](javascript:alert(1))",
  "[a][r]\n\n[r]: javascript:alert(1)",
  '[r]\n\n[r]: <javascript:alert(1)> "t"',
  "<javascript:alert(1)>",
  "<JAVASCRIPT:alert(1)>",
  "[a](JaVaScRiPt:alert(1))",
  "[a](&#106;avascript:alert(1))",
  "[a](&#x6A;avascript&#58;alert(1))",
  "[a](&#x6a;&#x61;&#x76;&#x61;&#x73;&#x63;&#x72;&#x69;&#x70;&#x74;&#x3a;alert(1))",
  "[a](javascript&colon;alert(1))",
  "[a](java&Tab;script:alert(1))",
  "[a](java&NewLine;script:alert(1))",
  "[a](ja&#x0A;vascript:alert(1))",
  "[a](<java\tscript:alert(1)>)",
  "[a](&#x20;javascript:alert(1))",
  "[a](&#x01;javascript:alert(1))",
  "[a](javascript\\:alert(1))",
  "[a](<javascript:alert(1)>)",
  '[a](javascript:alert(1) "title")',
  "[a](javascript://%0Aalert(1))",
  "[a](vbscript:msgbox(1))",
  "[a](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
  "![a](data:image/svg+xml,<svg onload=alert(1)>)",
  '![a](//evil.example/x.png" onerror="alert(1))',
  '[a](http://x.example/" onmouseover="alert(1))',
  '[a](http://x.example "t\\" onmouseover=\\"alert(1)")',
  '[r]\n\n[r]: http://x.example "a\\" onclick=\\"b"',
  '![x" onerror="alert(1)](http://x.example/y.png)',
  '<https://x.example/"onmouseover="alert(1)>',
  '<a@b.example"onmouseover="alert(1)>',
  'www.x.example/"onmouseover="alert(1)',
  "https://x.example/<script>alert(1)</script>",
  '`<a href="javascript:alert(1)">x</a>`',
  "```html\n<script>alert(1)</script>\n```",
  '```js" onmouseover="alert(1)\nx\n```',
  "    <script>alert(1)</script>",
  "# <img src=x onerror=alert(1)>",
  "Heading <script>\n===",
  "| <script> | b |\n|-|-|\n| [x](javascript:alert(1)) | <img src=x onerror=alert(1)> |",
  "- [ ] <img src=x onerror=alert(1)>",
  "> <script>alert(1)</script>\n> [a](javascript:alert(1))",
  "&lt;script&gt;alert(1)&lt;/script&gt;",
  "[<img src=x onerror=alert(1)>](http://a.example)",
  "[a](%6Aavascript:alert(1))",
  "[a](\\javascript:alert(1))",
  "*<script>*alert(1)**</script>**",
  "<scr<script>ipt>alert(1)</scr</script>ipt>",
  "\u0000<script>\u0000alert(1)",
  "[a](javas\u0000cript:alert(1))",
  "[a](http://x.example/\u2028\u2029)",
]

describe("renderMarkdown safety", () => {
  it("has at least 30 vectors", () => expect(VECTORS.length).toBeGreaterThanOrEqual(30))

  it.each(VECTORS)("renders %j inert", (input) => {
    for (const options of [{}, { linkBase: "/o/r/blob/main/", imageBase: "/o/r/raw/main/" }]) {
      const html = renderMarkdown(input, options)
      expect(htmlProblems(html)).toEqual([])
      expect(html).not.toMatch(/<script/i)
      // Event handlers would be attributes: look at tags with attribute values blanked.
      expect(html.replace(/="[^"]*"/g, '=""')).not.toMatch(/<[^>]*\son[a-z]+\s*=/i)
      for (const m of html.matchAll(/(?:href|src)="([^"]*)"/g)) {
        const url = m[1]!.replace(/&amp;/g, "&")
        expect(schemeOf(url) ?? "relative").toMatch(/^(https?|mailto|relative)$/)
        expect(url).not.toMatch(/^[\s\u0000-\u0020]*javascript/i)
      }
    }
  })

  it("keeps the text of a refused link", () => {
    expect(renderMarkdown("[click me](javascript:alert(1))")).toBe("<p>click me</p>\n")
    expect(renderMarkdown("![the alt](javascript:alert(1))")).toBe("<p>the alt</p>\n")
    expect(renderMarkdown("<javascript:alert(1)>")).toBe("<p>javascript:alert(1)</p>\n")
  })

  it("checks the checker: it finds what it should", () => {
    expect(htmlProblems('<a href="javascript:x">a</a>')).not.toEqual([])
    expect(htmlProblems('<a href="java&#x73;cript:x">a</a>')).not.toEqual([])
    expect(htmlProblems('<img src="x" onerror="y">')).not.toEqual([])
    expect(htmlProblems("<p>a < b</p>")).not.toEqual([])
    expect(htmlProblems("<script>x</script>")).not.toEqual([])
    expect(htmlProblems("<p><em>x</p></em>")).not.toEqual([])
    expect(htmlProblems("<a href=x>a</a>")).not.toEqual([])
  })
})

// Inputs built to make naive parsers quadratic or overflow the stack. Time is not
// asserted (see scripts/bench); the test proves they finish and bounds the output.
const ADVERSARIAL: Record<string, string> = {
  // 100 KB of everything that opens something, never closed in order.
  everything: "**_~`[![<&\\(>-".repeat(7_000),
  stars: "*a".repeat(15_000),
  underscores: "_a_".repeat(10_000),
  openBrackets: "[".repeat(30_000),
  nestedBrackets: "[".repeat(15_000) + "]".repeat(15_000),
  unclosedLinks: "[a](".repeat(8_000),
  parens: "[](x (".repeat(5_000),
  quotes: ">".repeat(30_000),
  lists: "- ".repeat(15_000) + "x",
  indentedLists: Array.from({ length: 200 }, (_, i) => " ".repeat(i) + "- x").join("\n"),
  backticks: Array.from({ length: 240 }, (_, i) => "`".repeat(i + 1) + "a").join(""),
  mixedDelimiters: "*a _b ".repeat(5_000),
  openers: "*a ".repeat(10_000) + "b*",
  tildes: "~~a".repeat(10_000),
  autolinks: "<a:".repeat(10_000),
  bareUrls: "(http://_".repeat(3_500),
  entities: "&#x".repeat(10_000),
  references: "[a]: /u\n".repeat(100) + "[a]".repeat(10_000),
  nestedReferences: "[a]: /u\n\n" + "[a".repeat(8_000) + "]".repeat(8_000),
  lazyQuote: ">".repeat(20) + " a\n" + "b\n".repeat(5_000),
  fences: "```\n".repeat(8_000),
}

describe("renderMarkdown on adversarial input", () => {
  it.each(Object.entries(ADVERSARIAL))(
    "%s: finishes with output linear in the input",
    (_, input) => {
      expect(input.length).toBeGreaterThan(10_000)
      const html = renderMarkdown(input)
      expect(html.length).toBeLessThan(input.length * 8 + 1000)
      expect(htmlProblems(html)).toEqual([])
    },
  )

  it("stops nesting containers at a fixed depth", () => {
    const html = renderMarkdown(">".repeat(100) + " deep")
    expect(html.split("<blockquote>").length - 1).toBe(16)
    expect(html).toContain("&gt;".repeat(84) + " deep")
  })
})
