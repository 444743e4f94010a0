import { describe, expect, it } from "vitest"
import {
  HIGHLIGHT_CLASSES,
  HIGHLIGHT_LANGUAGES,
  highlightLines,
  languageFromName,
  languageOf,
} from "../../src/domain/markup/Highlight.ts"
import { htmlProblems } from "./HtmlChecker.ts"

const fromHtml = (s: string) =>
  s
    .replace(/&lt;/g, "<")
    .replace(/&gt;/g, ">")
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&amp;/g, "&")

/** The [class, text] tokens of highlighted lines (text unescaped). */
const tokens = (lines: ReadonlyArray<string>): Array<[string, string]> =>
  lines.flatMap((line) =>
    [...line.matchAll(/<span class="hl-([a-z]+)">([^<]*)<\/span>/g)].map((m): [string, string] => [
      m[1]!,
      fromHtml(m[2]!),
    ]),
  )

/** Every line stands alone, carries only our spans, and reads back as the source line. */
const expectWellFormed = (code: string, lines: ReadonlyArray<string>) => {
  const source = code.split("\n")
  expect(lines.length).toBe(source.length)
  lines.forEach((line, k) => {
    expect(htmlProblems(line)).toEqual([])
    for (const m of line.matchAll(/<([a-z]+)([^>]*)>/g)) {
      expect(m[1]).toBe("span")
      expect(HIGHLIGHT_CLASSES).toContain(/^ class="hl-([a-z]+)"$/.exec(m[2]!)?.[1])
    }
    expect(fromHtml(line.replace(/<[^>]*>/g, ""))).toBe(source[k])
  })
}

const SAMPLES: Record<string, { code: string; expect: Array<[string, string]> }> = {
  typescript: {
    code: 'import { x } from "y"\n@dec\nclass Foo<T> extends Bar {\n  /* multi\n     line */\n  private n: number = 0x1F // c\n  go(a: string): void { return `t${a}` }\n}\nconst re = /a"b/g; const d = a / b / c\nfunction run() {}\n',
    expect: [
      ["kw", "import"],
      ["str", '"y"'],
      ["meta", "@dec"],
      ["type", "Foo"],
      ["com", "/* multi"],
      ["com", "     line */"],
      ["num", "0x1F"],
      ["com", "// c"],
      ["fn", "go"],
      ["type", "string"],
      ["str", "`t${a}`"],
      ["str", '/a"b/g'],
      ["fn", "run"],
    ],
  },
  javascript: {
    code: "const s = 'it\\'s'; let n = 1.5e3; if (x) { f(null, true) }\n",
    expect: [
      ["kw", "const"],
      ["str", "'it\\'s'"],
      ["num", "1.5e3"],
      ["fn", "f"],
      ["lit", "null"],
      ["lit", "true"],
    ],
  },
  json: {
    code: '{\n  "key": "value",\n  "n": -1.5e2,\n  "ok": true, "nil": null\n}',
    expect: [
      ["attr", '"key"'],
      ["str", '"value"'],
      ["num", "-1.5e2"],
      ["lit", "true"],
      ["lit", "null"],
    ],
  },
  python: {
    code: '@dataclass\nclass A(B):\n    def f(self, x: int) -> str:\n        """doc\n        string"""\n        return f"{x}" # comment\nprint(None, True, 0o17)\n',
    expect: [
      ["meta", "@dataclass"],
      ["kw", "class"],
      ["type", "A"],
      ["fn", "f"],
      ["type", "int"],
      ["str", '"""doc'],
      ["str", '        string"""'],
      ["str", 'f"{x}"'],
      ["com", "# comment"],
      ["lit", "None"],
      ["num", "0o17"],
    ],
  },
  go: {
    code: "package main\n\nfunc (r *T) Name(s string) error {\n\tvar x = `raw\nstring`\n\treturn nil // done\n}\n",
    expect: [
      ["kw", "package"],
      ["kw", "func"],
      ["fn", "Name"],
      ["type", "error"],
      ["str", "`raw"],
      ["str", "string`"],
      ["lit", "nil"],
      ["com", "// done"],
    ],
  },
  rust: {
    code: '#[derive(Debug)]\npub struct S<\'a> { s: &\'a str }\nfn main() {\n    let c = \'x\';\n    println!("hi {}", r#"raw "q""#);\n}\n',
    expect: [
      ["meta", "#[derive(Debug)]"],
      ["kw", "struct"],
      ["type", "S"],
      ["meta", "'a"],
      ["fn", "main"],
      ["str", "'x'"],
      ["fn", "println!"],
      ["str", 'r#"raw "q""#'],
    ],
  },
  c: {
    code: '#include <stdio.h>\nint main(void) { /* c */ char *s = "a\\n"; return 0; }\n',
    expect: [
      ["meta", "#include <stdio.h>"],
      ["type", "int"],
      ["fn", "main"],
      ["com", "/* c */"],
      ["str", '"a\\n"'],
      ["kw", "return"],
      ["num", "0"],
    ],
  },
  cpp: {
    code: 'template <typename T> class V { public: T* p = nullptr; };\nauto s = R"x(raw ")x";\n',
    expect: [
      ["kw", "template"],
      ["type", "V"],
      ["lit", "nullptr"],
      ["str", 'R"x(raw ")x"'],
    ],
  },
  java: {
    code: '@Override\npublic static void main(String[] args) { System.out.println("x" + 1L); }\n',
    expect: [
      ["meta", "@Override"],
      ["kw", "public"],
      ["type", "void"],
      ["fn", "main"],
      ["type", "String"],
      ["str", '"x"'],
      ["num", "1L"],
    ],
  },
  shell: {
    code: "#!/bin/bash\n# comment\nfor f in *.txt; do\n  echo \"file: $f ${HOME}\" 'lit $x' | grep -v foo\ndone\n",
    expect: [
      ["meta", "#!/bin/bash"],
      ["com", "# comment"],
      ["kw", "for"],
      ["kw", "do"],
      ["fn", "echo"],
      ["str", '"file: '],
      ["var", "$f"],
      ["var", "${HOME}"],
      ["str", "'lit $x'"],
      ["attr", "-v"],
      ["kw", "done"],
    ],
  },
  yaml: {
    code: "---\n# comment\nname: CI\njobs:\n  build:\n    steps:\n      - run: echo hi\n        n: 3\n        ok: true\n        s: 'q'\n",
    expect: [
      ["meta", "---"],
      ["com", "# comment"],
      ["attr", "name"],
      ["attr", "run"],
      ["num", "3"],
      ["lit", "true"],
      ["str", "'q'"],
    ],
  },
  markdown: {
    code: "# Title\n\nSome **bold** and `code` [link](http://x).\n\n```js\nconst x = 1\n```\n> quote\n",
    expect: [
      ["head", "# Title"],
      ["kw", "**bold**"],
      ["str", "`code`"],
      ["attr", "[link]"],
      ["str", "(http://x)"],
      ["meta", "```js"],
      ["str", "const x = 1"],
      ["com", "> quote"],
    ],
  },
  html: {
    code: '<!DOCTYPE html>\n<html lang="en">\n<!-- a\n b -->\n<p>Text &amp; more</p>\n<script>const a = "<b>"</script>\n',
    expect: [
      ["meta", "<!DOCTYPE html>"],
      ["tag", "<html"],
      ["attr", "lang"],
      ["str", '"en"'],
      ["com", "<!-- a"],
      ["com", " b -->"],
      ["lit", "&amp;"],
      ["kw", "const"],
      ["str", '"<b>"'],
      ["tag", "</script>"],
    ],
  },
  xml: {
    code: '<?xml version="1.0"?>\n<root a="1"><![CDATA[ <x> ]]></root>',
    expect: [
      ["meta", '<?xml version="1.0"?>'],
      ["tag", "<root"],
      ["attr", "a"],
      ["str", " <x> "],
    ],
  },
  css: {
    code: '/* c */\n.a > #b, p { color: #fff; margin: 0 1.5em !important; background: url("x.png"); }\n',
    expect: [
      ["com", "/* c */"],
      ["type", ".a"],
      ["type", "#b"],
      ["tag", "p"],
      ["attr", "color"],
      ["num", "#fff"],
      ["num", "1.5em"],
      ["kw", "!important"],
      ["fn", "url"],
      ["str", '"x.png"'],
    ],
  },
  sql: {
    code: "SELECT id FROM users WHERE name LIKE 'O''Brien' -- c\nCREATE TABLE t (id INTEGER PRIMARY KEY);\n/* b */ select count(*) from t;\n",
    expect: [
      ["kw", "SELECT"],
      ["kw", "LIKE"],
      ["str", "'O''Brien'"],
      ["com", "-- c"],
      ["type", "INTEGER"],
      ["com", "/* b */"],
      ["kw", "select"],
      ["fn", "count"],
    ],
  },
  toml: {
    code: "# comment\n[package]\nname = \"guts\"\n[[bin]]\npath.to = 'lit'\nn = 1_000\nd = 1979-05-27T07:32:00Z\nok = true\n",
    expect: [
      ["com", "# comment"],
      ["type", "[package]"],
      ["attr", "name"],
      ["str", '"guts"'],
      ["type", "[[bin]]"],
      ["attr", "path.to"],
      ["num", "1_000"],
      ["num", "1979-05-27T07:32:00Z"],
      ["lit", "true"],
    ],
  },
  dockerfile: {
    code: 'FROM node:20 AS build\n# comment\nRUN apt-get update && echo "$HOME"\nCOPY --from=build /a /b\n',
    expect: [
      ["kw", "FROM"],
      ["kw", "AS"],
      ["com", "# comment"],
      ["kw", "RUN"],
      ["var", "$HOME"],
      ["kw", "COPY"],
      ["attr", "--from"],
    ],
  },
  makefile: {
    code: "CC ?= gcc\n# comment\nall: build\n\nbuild: $(SRC)\n\t$(CC) -o $@ $^\n\nifeq ($(X),1)\nendif\n",
    expect: [
      ["attr", "CC"],
      ["com", "# comment"],
      ["fn", "all"],
      ["var", "$(SRC)"],
      ["var", "$@"],
      ["kw", "ifeq"],
      ["kw", "endif"],
    ],
  },
  diff: {
    code: "diff --git a/x b/x\n--- a/x\n+++ b/x\n@@ -1,2 +1,2 @@\n context\n-old <b>\n+new &\n",
    expect: [
      ["meta", "diff --git a/x b/x"],
      ["meta", "--- a/x"],
      ["hunk", "@@ -1,2 +1,2 @@"],
      ["del", "-old <b>"],
      ["add", "+new &"],
    ],
  },
}

describe("highlightLines", () => {
  it("has a sample for every language it knows", () => {
    expect(Object.keys(SAMPLES).sort()).toEqual([...HIGHLIGHT_LANGUAGES].sort())
  })

  it.each(Object.entries(SAMPLES))("%s: classifies tokens", (language, sample) => {
    const lines = highlightLines(sample.code, language)
    expectWellFormed(sample.code, lines)
    const found = tokens(lines)
    for (const token of sample.expect) expect(found).toContainEqual(token)
  })

  it("escapes and keeps lines of unknown languages as they are", () => {
    expect(highlightLines('<script>alert("x")</script>\n&\n', undefined)).toEqual([
      "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;",
      "&amp;",
      "",
    ])
    expect(highlightLines("a\nb", "cobol")).toEqual(["a", "b"])
  })

  it("never lets source text become markup", () => {
    const code = '</span><script>x</script> "<img onerror=a>" // </span>\n'
    for (const language of HIGHLIGHT_LANGUAGES) {
      const lines = highlightLines(code, language)
      expectWellFormed(code, lines)
      expect(lines.join("\n")).not.toMatch(/<script|<img/)
    }
  })

  it("closes unterminated strings and comments at line or input end", () => {
    for (const code of [
      'x = "abc\ny = 1',
      "/* never closed\nstill\n",
      "'''\nopen",
      "`open\nlines",
    ]) {
      for (const language of HIGHLIGHT_LANGUAGES)
        expectWellFormed(code, highlightLines(code, language))
    }
  })

  it("tells regular expression literals from division, and gives up on unclosed ones", () => {
    const found = tokens(highlightLines("const re = /a[/]b\\/c/gi; x = a / b / c", "typescript"))
    expect(found).toContainEqual(["str", "/a[/]b\\/c/gi"])
    expect(found.filter(([c, t]) => c === "op" && t === "/")).toHaveLength(2)
    // An unclosed class used to make the literal's pattern backtrack quadratically.
    const lines = highlightLines("x = /[" + "a".repeat(50_000), "typescript")
    expect(tokens(lines)).toContainEqual(["op", "/"])
  })

  // Inputs that would make backtracking tokenizers quadratic. Time is not asserted (see
  // scripts/bench); each must finish, stay well-formed, and produce output linear in size.
  const ADVERSARIAL = [
    '"',
    "'",
    "`",
    "/*",
    "//",
    "#",
    "<a ",
    "<!--",
    "[",
    "(",
    "a,",
    "a:",
    "${",
    "r#",
    'R"',
    "\\",
    "= ",
    '"""',
    "&#",
    "<<",
    "- ",
    "x\n",
  ]
  it("handles adversarial inputs in every language", () => {
    const mixed = ADVERSARIAL.join("").repeat(Math.ceil(30_000 / ADVERSARIAL.join("").length))
    for (const language of HIGHLIGHT_LANGUAGES) {
      for (const code of [
        mixed,
        ...ADVERSARIAL.map((p) => p.repeat(Math.ceil(2_000 / p.length))),
      ]) {
        const lines = highlightLines(code, language)
        expect(lines.length).toBe(code.split("\n").length)
        expect(lines.join("\n").length).toBeLessThan(code.length * 40 + 100)
      }
    }
  })
})

describe("languageOf and languageFromName", () => {
  it.each([
    ["src/a.ts", "typescript"],
    ["web/App.tsx", "typescript"],
    ["x.mjs", "javascript"],
    ["package.json", "json"],
    ["setup.py", "python"],
    ["main.go", "go"],
    ["lib.rs", "rust"],
    ["a.h", "c"],
    ["a.hpp", "cpp"],
    ["A.java", "java"],
    ["run.sh", "shell"],
    [".github/workflows/ci.yml", "yaml"],
    ["README.md", "markdown"],
    ["index.html", "html"],
    ["icon.svg", "xml"],
    ["style.scss", "css"],
    ["q.sql", "sql"],
    ["Cargo.toml", "toml"],
    ["Cargo.lock", "toml"],
    ["deploy/Dockerfile", "dockerfile"],
    ["Dockerfile.dev", "dockerfile"],
    ["Makefile", "makefile"],
    ["rules.mk", "makefile"],
    ["fix.patch", "diff"],
    ["LICENSE", undefined],
    ["photo.png", undefined],
  ])("%s is %s", (path, language) => {
    expect(languageOf(path)).toBe(language)
  })

  it("knows fence names and aliases", () => {
    expect(languageFromName("ts")).toBe("typescript")
    expect(languageFromName("TypeScript")).toBe("typescript")
    expect(languageFromName("sh")).toBe("shell")
    expect(languageFromName("bash")).toBe("shell")
    expect(languageFromName("py")).toBe("python")
    expect(languageFromName("yml")).toBe("yaml")
    expect(languageFromName("c++")).toBe("cpp")
    expect(languageFromName("golang")).toBe("go")
    expect(languageFromName("diff")).toBe("diff")
    expect(languageFromName("brainfuck")).toBeUndefined()
    for (const language of HIGHLIGHT_LANGUAGES) expect(languageFromName(language)).toBe(language)
  })
})
