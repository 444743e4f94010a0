/**
 * Syntax highlighting. For now: lines escaped for HTML, no tokens (tokenizers follow).
 */

const ENTITY_OF: Record<string, string> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "'": "&#39;",
}

/** Escapes text for HTML content and double- or single-quoted attribute values. */
export const escapeHtml = (s: string): string => s.replace(/[&<>"']/g, (c) => ENTITY_OF[c]!)

/** The language named by a fenced code block's info word ("ts", "Python", "sh"), if known. */
export const languageFromName = (_name: string): string | undefined => undefined

/** The language of a file, by its name or extension, if known. */
export const languageOf = (_path: string): string | undefined => undefined

/** One escaped HTML string per line of `code`. */
export const highlightLines = (
  code: string,
  _language: string | undefined,
): ReadonlyArray<string> => code.split("\n").map(escapeHtml)
