/**
 * Stylesheets for what `Highlight.ts` and `Markdown.ts` write: the `hl-*` token classes
 * (light and dark, following `prefers-color-scheme`) and the few classes Markdown output
 * uses. Colours keep at least 4.5:1 contrast against the code background of their scheme.
 * Pages include the text in a `<style>` element or serve it as a stylesheet.
 */
import { HIGHLIGHT_CLASSES, type HighlightClass } from "./Highlight.ts"

type Palette = Readonly<Record<HighlightClass, string>>

const LIGHT: Palette = {
  kw: "color:#cf222e",
  str: "color:#0a3069",
  com: "color:#57606a;font-style:italic",
  num: "color:#0550ae",
  fn: "color:#8250df",
  type: "color:#953800",
  op: "color:#cf222e",
  lit: "color:#0550ae",
  attr: "color:#116329",
  tag: "color:#116329",
  meta: "color:#6639ba",
  var: "color:#953800",
  head: "color:#0550ae;font-weight:bold",
  add: "color:#116329;background:#dafbe1",
  del: "color:#82071e;background:#ffebe9",
  hunk: "color:#57606a;background:#ddf4ff",
}

const DARK: Palette = {
  kw: "color:#ff7b72",
  str: "color:#a5d6ff",
  com: "color:#8b949e;font-style:italic",
  num: "color:#79c0ff",
  fn: "color:#d2a8ff",
  type: "color:#ffa657",
  op: "color:#ff7b72",
  lit: "color:#79c0ff",
  attr: "color:#7ee787",
  tag: "color:#7ee787",
  meta: "color:#d2a8ff",
  var: "color:#ffa657",
  head: "color:#79c0ff;font-weight:bold",
  add: "color:#aff5b4;background:#033a16",
  del: "color:#ffdcd7;background:#67060c",
  hunk: "color:#a5b3c2;background:#0c2d6b",
}

const rules = (palette: Palette, indent: string) =>
  HIGHLIGHT_CLASSES.map((c) => `${indent}.hl-${c}{${palette[c]}}`).join("\n")

/** The `hl-*` token colours, light by default and dark when the reader prefers it. */
export const HIGHLIGHT_CSS = `${rules(LIGHT, "")}
@media (prefers-color-scheme: dark) {
${rules(DARK, "  ")}
}
`

/** Layout for rendered Markdown, scoped to an element with class `markdown-body`. */
export const MARKDOWN_CSS = `.markdown-body{line-height:1.5;overflow-wrap:break-word}
.markdown-body pre{overflow:auto;padding:.75em 1em;border-radius:6px;background:#f6f8fa}
.markdown-body code{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.9em}
.markdown-body :not(pre)>code{padding:.1em .3em;border-radius:4px;background:#eff1f3}
.markdown-body table{border-collapse:collapse;display:block;overflow:auto}
.markdown-body th,.markdown-body td{border:1px solid #d0d7de;padding:.3em .8em}
.markdown-body blockquote{margin:0;padding:0 1em;color:#57606a;border-left:.25em solid #d0d7de}
.markdown-body img{max-width:100%}
.markdown-body .task-list-item{list-style:none}
.markdown-body .contains-task-list{padding-left:1.5em}
@media (prefers-color-scheme: dark) {
  .markdown-body pre{background:#161b22}
  .markdown-body :not(pre)>code{background:#343942}
  .markdown-body th,.markdown-body td{border-color:#30363d}
  .markdown-body blockquote{color:#8b949e;border-left-color:#30363d}
}
`
