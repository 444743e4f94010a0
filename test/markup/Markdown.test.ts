import { describe, expect, it } from "vitest"
import { renderMarkdown } from "../../src/domain/markup/Markdown.ts"
import { htmlProblems } from "./HtmlChecker.ts"

const base = { linkBase: "/o/r/blob/main/docs/", imageBase: "/o/r/raw/main/docs/" }
const md = (text: string) => renderMarkdown(text, base)

// [input, expected HTML]
const CASES: ReadonlyArray<readonly [string, string]> = [
  ["Hello\nworld", "<p>Hello\nworld</p>\n"],
  ["a\n\n\nb", "<p>a</p>\n<p>b</p>\n"],
  [
    "# h1\n###### h6\n####### not\n#no",
    '<h1 id="h1">h1</h1>\n<h6 id="h6">h6</h6>\n<p>####### not\n#no</p>\n',
  ],
  [
    "## Closing ##\n# with # inside #",
    '<h2 id="closing">Closing</h2>\n<h1 id="with--inside">with # inside</h1>\n',
  ],
  [
    "Setext\n===\nTwo\nlines\n---",
    '<h1 id="setext">Setext</h1>\n<h2 id="two-lines">Two\nlines</h2>\n',
  ],
  [
    "*em* _em_ **strong** __strong__ ***both***",
    "<p><em>em</em> <em>em</em> <strong>strong</strong> <strong>strong</strong> <em><strong>both</strong></em></p>\n",
  ],
  ["snake_case_name and 2*3*4", "<p>snake_case_name and 2<em>3</em>4</p>\n"],
  ["**unclosed *mixed**", "<p>*<em>unclosed <em>mixed</em></em></p>\n"],
  ["*foo**bar**baz*", "<p><em>foo<strong>bar</strong>baz</em></p>\n"],
  ["**foo*bar*baz**", "<p><strong>foo<em>bar</em>baz</strong></p>\n"],
  ["_foo_bar_", "<p><em>foo_bar</em></p>\n"],
  ["~~gone~~ ~one~ ~~~three~~~", "<p><del>gone</del> <del>one</del> ~~~three~~~</p>\n"],
  [
    "`code` ``with ` tick`` ` spaced `",
    "<p><code>code</code> <code>with ` tick</code> <code>spaced</code></p>\n",
  ],
  ["`unclosed", "<p>`unclosed</p>\n"],
  ['`<a href="x">`', "<p><code>&lt;a href=&quot;x&quot;&gt;</code></p>\n"],
  ["```\nplain <b>\n```", "<pre><code>plain &lt;b&gt;\n</code></pre>\n"],
  ["```\nunclosed fence", "<pre><code>unclosed fence\n</code></pre>\n"],
  ["    code\n\n    more", "<pre><code>code\n\nmore\n</code></pre>\n"],
  ["\ttab indented code", "<pre><code>tab indented code\n</code></pre>\n"],
  ["> a\n>\n> b", "<blockquote>\n<p>a</p>\n<p>b</p>\n</blockquote>\n"],
  ["> quote\nlazy", "<blockquote>\n<p>quote\nlazy</p>\n</blockquote>\n"],
  ["> quote\n- list", "<blockquote>\n<p>quote</p>\n</blockquote>\n<ul>\n<li>list</li>\n</ul>\n"],
  ["- a\n- b", "<ul>\n<li>a</li>\n<li>b</li>\n</ul>\n"],
  ["- a\n\n- b", "<ul>\n<li>\n<p>a</p>\n</li>\n<li>\n<p>b</p>\n</li>\n</ul>\n"],
  ["* one\n+ two", "<ul>\n<li>one</li>\n</ul>\n<ul>\n<li>two</li>\n</ul>\n"],
  ["3. three\n4. four", '<ol start="3">\n<li>three</li>\n<li>four</li>\n</ol>\n'],
  ["1) paren\n2) style", "<ol>\n<li>paren</li>\n<li>style</li>\n</ol>\n"],
  ["para\n2. not a list", "<p>para\n2. not a list</p>\n"],
  ["text\n- list after para", "<p>text</p>\n<ul>\n<li>list after para</li>\n</ul>\n"],
  [
    "1. a\n   1. nested\n      - deeper",
    "<ol>\n<li>a\n<ol>\n<li>nested\n<ul>\n<li>deeper</li>\n</ul>\n</li>\n</ol>\n</li>\n</ol>\n",
  ],
  [
    "- a\n  > quoted\n- b\n\n      code in item",
    "<ul>\n<li>\n<p>a</p>\n<blockquote>\n<p>quoted</p>\n</blockquote>\n</li>\n<li>\n<p>b</p>\n<pre><code>code in item\n</code></pre>\n</li>\n</ul>\n",
  ],
  [
    "- [ ] open\n- [x] closed",
    '<ul class="contains-task-list">\n<li class="task-list-item"><input type="checkbox" disabled=""> open</li>\n<li class="task-list-item"><input type="checkbox" disabled="" checked=""> closed</li>\n</ul>\n',
  ],
  ["- a\n- b\n\n\ntext", "<ul>\n<li>a</li>\n<li>b</li>\n</ul>\n<p>text</p>\n"],
  ["*", "<ul>\n<li></li>\n</ul>\n"],
  ["***\n---\n___\n* * *", "<hr>\n<hr>\n<hr>\n<hr>\n"],
  ["[text](/abs/path)", '<p><a href="/abs/path">text</a></p>\n'],
  ["[text](#anchor)", '<p><a href="#anchor">text</a></p>\n'],
  ["[text](../up.md)", '<p><a href="/o/r/blob/main/up.md">text</a></p>\n'],
  [
    "[text](https://e.com/a_b_(c))",
    '<p><a href="https://e.com/a_b_(c)" rel="nofollow noopener">text</a></p>\n',
  ],
  ["[text](<with space.md>)", '<p><a href="/o/r/blob/main/docs/with%20space.md">text</a></p>\n'],
  [
    "[text](url 'single') [t2](url (paren))",
    '<p><a href="/o/r/blob/main/docs/url" title="single">text</a> <a href="/o/r/blob/main/docs/url" title="paren">t2</a></p>\n',
  ],
  ["[**bold link**](x)", '<p><a href="/o/r/blob/main/docs/x"><strong>bold link</strong></a></p>\n'],
  ["[outer [inner](a)](b)", '<p>[outer <a href="/o/r/blob/main/docs/a">inner</a>](b)</p>\n'],
  [
    '![alt *em*](img.png "title")',
    '<p><img src="/o/r/raw/main/docs/img.png" alt="alt em" title="title" loading="lazy"></p>\n',
  ],
  [
    "[![badge](https://img.shields.io/x.svg)](https://ci.example)",
    '<p><a href="https://ci.example" rel="nofollow noopener"><img src="https://img.shields.io/x.svg" alt="badge" loading="lazy"></a></p>\n',
  ],
  ["[undefined ref]", "<p>[undefined ref]</p>\n"],
  [
    "[Ref Case]\n\n[ref case]: <dest> 'T'",
    '<p><a href="/o/r/blob/main/docs/dest" title="T">Ref Case</a></p>\n',
  ],
  [
    '[foo]: http://x\n[bar]: http://y "t"\n\n[foo] [bar][] [x][foo]',
    '<p><a href="http://x" rel="nofollow noopener">foo</a> <a href="http://y" title="t" rel="nofollow noopener">bar</a> <a href="http://x" rel="nofollow noopener">x</a></p>\n',
  ],
  [
    "<http://a.b/c?d=1&e=2>",
    '<p><a href="http://a.b/c?d=1&amp;e=2" rel="nofollow noopener">http://a.b/c?d=1&amp;e=2</a></p>\n',
  ],
  [
    "mail <user@example.com>",
    '<p>mail <a href="mailto:user@example.com">user@example.com</a></p>\n',
  ],
  ["<not a link>", "<p>&lt;not a link&gt;</p>\n"],
  [
    "Visit https://example.com/path?q=1, or www.example.org/x).",
    '<p>Visit <a href="https://example.com/path?q=1" rel="nofollow noopener">https://example.com/path?q=1</a>, or <a href="http://www.example.org/x" rel="nofollow noopener">www.example.org/x</a>).</p>\n',
  ],
  [
    "(see https://x.com/a_(b))",
    '<p>(see <a href="https://x.com/a_(b)" rel="nofollow noopener">https://x.com/a_(b)</a>)</p>\n',
  ],
  ["a  \nb\\\nc", "<p>a<br>\nb<br>\nc</p>\n"],
  ["\\# not heading \\[not link\\] \\\\ \\a", "<p># not heading [not link] \\ \\a</p>\n"],
  [
    "&amp; &lt; &nbsp;x &#35; &#x1F600; &#0; &unknown;",
    "<p>&amp; &lt; \u00a0x # 😀 \ufffd &amp;unknown;</p>\n",
  ],
  [
    "| Left | Center | Right |\n| :--- | :---: | ---: |\n| `a` | **x** | \\| |",
    '<table>\n<thead>\n<tr>\n<th align="left">Left</th>\n<th align="center">Center</th>\n<th align="right">Right</th>\n</tr>\n</thead>\n<tbody>\n<tr>\n<td align="left"><code>a</code></td>\n<td align="center"><strong>x</strong></td>\n<td align="right">|</td>\n</tr>\n</tbody>\n</table>\n',
  ],
  [
    "a | b\n--|--\n1 | 2 | extra\n3\n\nafter",
    "<table>\n<thead>\n<tr>\n<th>a</th>\n<th>b</th>\n</tr>\n</thead>\n<tbody>\n<tr>\n<td>1</td>\n<td>2</td>\n</tr>\n<tr>\n<td>3</td>\n<td></td>\n</tr>\n</tbody>\n</table>\n<p>after</p>\n",
  ],
  [
    "Title with `code` and [link](x)\n===",
    '<h1 id="title-with-code-and-link">Title with <code>code</code> and <a href="/o/r/blob/main/docs/x">link</a></h1>\n',
  ],
  [
    "# Émoji & Ünïcode 🎉\n# Dup\n# Dup\n# Dup-1",
    '<h1 id="émoji--ünïcode-">Émoji &amp; Ünïcode 🎉</h1>\n<h1 id="dup">Dup</h1>\n<h1 id="dup-1">Dup</h1>\n<h1 id="dup-1-1">Dup-1</h1>\n',
  ],
  ["<div>raw html</div>", "<p>&lt;div&gt;raw html&lt;/div&gt;</p>\n"],
  ["", ""],
  ["a\r\nb\rc", "<p>a\nb\nc</p>\n"],
]

describe("renderMarkdown", () => {
  it.each(CASES)("renders %j", (input, expected) => {
    expect(md(input)).toBe(expected)
    expect(htmlProblems(md(input))).toEqual([])
  })

  it("highlights fenced code in known languages and labels the language", () => {
    const html = md("```ts\nconst x = 'a' // c\n```")
    expect(html).toMatch(/^<pre><code class="language-ts">/)
    expect(html).toContain('<span class="hl-kw">const</span>')
    expect(html).toContain('<span class="hl-str">&#39;a&#39;</span>')
    expect(htmlProblems(html)).toEqual([])
  })

  it("drops an info string that cannot be a class name", () => {
    expect(md('```x" onclick="y\nz\n```')).toBe("<pre><code>z\n</code></pre>\n")
  })

  it("resolves relative URLs against an absolute base, and leaves them alone without one", () => {
    const abs = {
      linkBase: "https://h.example/o/r/blob/main/",
      imageBase: "https://h.example/o/r/raw/main/",
    }
    expect(renderMarkdown("[a](x/y.md) ![b](i.png)", abs)).toBe(
      '<p><a href="https://h.example/o/r/blob/main/x/y.md" rel="nofollow noopener">a</a> <img src="https://h.example/o/r/raw/main/i.png" alt="b" loading="lazy"></p>\n',
    )
    expect(renderMarkdown("[a](x/y.md)")).toBe('<p><a href="x/y.md">a</a></p>\n')
  })

  it("prefixes heading ids when asked", () => {
    expect(renderMarkdown("# Top", { headingIdPrefix: "user-content-" })).toBe(
      '<h1 id="user-content-top">Top</h1>\n',
    )
  })
})
