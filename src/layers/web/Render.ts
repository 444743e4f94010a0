/**
 * Rendering user text and code: the one place pages turn markdown and source into HTML.
 * Markdown goes through domain/markup/Markdown.ts (sanitized: raw HTML escaped, URLs limited
 * to http/https/mailto/relative); source lines through domain/markup/Highlight.ts (escaped,
 * highlighted where a tokenizer exists).
 */
import { highlightLines, languageOf } from "../../domain/markup/Highlight.ts"
import { renderMarkdown } from "../../domain/markup/Markdown.ts"
import { type Html, html, raw } from "./Html.ts"

/** Markdown (READMEs, issue and comment bodies) as safe HTML. */
export const markdown = (
  text: string,
  options: { linkBase?: string; imageBase?: string } = {},
): Html =>
  html`<div class="markdown markdown-body">${raw(renderMarkdown(text, { ...options, headingIdPrefix: "user-content-" }))}</div>`

/** Source lines as escaped (highlighted) HTML, one string per line. */
export const codeLines = (code: string, path: string): ReadonlyArray<string> => {
  const lines = highlightLines(code.endsWith("\n") ? code.slice(0, -1) : code, languageOf(path))
  return lines
}

/** Whether `path` is rendered as markdown (READMEs and `.md` files). */
export const isMarkdown = (path: string) => /\.(md|markdown|mdown)$/i.test(path)
