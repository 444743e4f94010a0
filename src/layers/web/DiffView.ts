/**
 * Diffs as HTML tables, unified or split (side by side), from the hunks of
 * `UnifiedDiff.FileDiff.patch`. Each line carries its old and new numbers; a pull request's
 * files view adds review threads under the lines they belong to and a form to comment on
 * any line.
 */
import type { FileDiff } from "../../domain/git/UnifiedDiff.ts"
import { type Html, html, join } from "./Html.ts"

export interface DiffLine {
  readonly kind: "add" | "del" | "ctx" | "hunk" | "note"
  readonly text: string
  readonly oldNo?: number | undefined
  readonly newNo?: number | undefined
}

export const parsePatch = (patch: string): DiffLine[] => {
  const out: DiffLine[] = []
  let o = 0
  let n = 0
  const lines = patch.split("\n")
  if (lines.at(-1) === "") lines.pop()
  for (const line of lines) {
    const m = /^@@ -(\d+)(?:,\d+)? \+(\d+)(?:,\d+)? @@/.exec(line)
    if (m) {
      o = Number(m[1])
      n = Number(m[2])
      out.push({ kind: "hunk", text: line })
    } else if (line.startsWith("+")) out.push({ kind: "add", text: line.slice(1), newNo: n++ })
    else if (line.startsWith("-")) out.push({ kind: "del", text: line.slice(1), oldNo: o++ })
    else if (line.startsWith("\\")) out.push({ kind: "note", text: line })
    else out.push({ kind: "ctx", text: line.slice(1), oldNo: o++, newNo: n++ })
  }
  return out
}

export interface LineHooks {
  /** Rendered under a line (review threads, a comment form); side RIGHT uses newNo. */
  readonly after?: (side: "LEFT" | "RIGHT", line: number) => Html | undefined
  /** Put in a line's number cell (a comment button whose form opens over the diff). */
  readonly action?: (side: "LEFT" | "RIGHT", line: number) => Html | undefined
}

const fileId = (f: FileDiff) => `diff-${Buffer.from(f.filename).toString("hex").slice(0, 40)}`

const statusWord = (f: FileDiff) =>
  f.status === "added"
    ? "added"
    : f.status === "removed"
      ? "deleted"
      : f.status === "changed"
        ? "mode changed"
        : "modified"

const sideOf = (l: DiffLine): ["LEFT" | "RIGHT", number] | undefined =>
  l.kind === "del"
    ? ["LEFT", l.oldNo!]
    : l.kind === "add" || l.kind === "ctx"
      ? ["RIGHT", l.newNo!]
      : undefined

const unified = (lines: ReadonlyArray<DiffLine>, hooks: LineHooks) =>
  join(
    lines.map((l) => {
      if (l.kind === "hunk" || l.kind === "note")
        return html`<tr class="hunk"><td class="ln"></td><td class="ln"></td><td class="lc">${l.text}</td></tr>`
      const side = sideOf(l)
      const extra = side && hooks.after ? hooks.after(side[0], side[1]) : undefined
      const act = side ? hooks.action?.(side[0], side[1]) : undefined
      return html`<tr class="${l.kind}"><td class="ln">${side?.[0] === "LEFT" ? act : ""}${l.oldNo ?? ""}</td><td class="ln">${side?.[0] === "RIGHT" ? act : ""}${l.newNo ?? ""}</td><td class="lc">${l.text}</td></tr>${
        extra ? html`<tr class="thread"><td colspan="3">${extra}</td></tr>` : ""
      }`
    }),
  )

const split = (lines: ReadonlyArray<DiffLine>, hooks: LineHooks) => {
  const rows: Html[] = []
  let i = 0
  while (i < lines.length) {
    const l = lines[i]!
    if (l.kind === "hunk" || l.kind === "note") {
      rows.push(
        html`<tr class="hunk"><td class="ln"></td><td colspan="3" class="lc">${l.text}</td></tr>`,
      )
      i++
      continue
    }
    if (l.kind === "ctx") {
      const extra = hooks.after?.("RIGHT", l.newNo!)
      rows.push(
        html`<tr class="ctx"><td class="ln">${l.oldNo}</td><td class="half">${l.text}</td><td class="ln">${hooks.action?.("RIGHT", l.newNo!)}${l.newNo}</td><td class="half">${l.text}</td></tr>${
          extra ? html`<tr class="thread"><td colspan="4">${extra}</td></tr>` : ""
        }`,
      )
      i++
      continue
    }
    // A run of deletions then additions, paired side by side.
    const dels: DiffLine[] = []
    const adds: DiffLine[] = []
    while (i < lines.length && lines[i]!.kind === "del") dels.push(lines[i++]!)
    while (i < lines.length && lines[i]!.kind === "add") adds.push(lines[i++]!)
    for (let k = 0; k < Math.max(dels.length, adds.length); k++) {
      const d = dels[k]
      const a = adds[k]
      const extras = [
        d ? hooks.after?.("LEFT", d.oldNo!) : undefined,
        a ? hooks.after?.("RIGHT", a.newNo!) : undefined,
      ].filter((x): x is Html => x !== undefined)
      rows.push(
        html`<tr><td class="ln">${d ? hooks.action?.("LEFT", d.oldNo!) : ""}${d?.oldNo ?? ""}</td><td class="half${d ? " del" : ""}">${d?.text ?? ""}</td><td class="ln">${a ? hooks.action?.("RIGHT", a.newNo!) : ""}${a?.newNo ?? ""}</td><td class="half${a ? " add" : ""}">${a?.text ?? ""}</td></tr>${
          extras.length > 0 ? html`<tr class="thread"><td colspan="4">${extras}</td></tr>` : ""
        }`,
      )
    }
  }
  return join(rows)
}

/** Changed lines shown on one page, over all its files. */
export const MAX_DIFF_LINES = 20_000

/** Every file of a diff, with a summary list linking to each. */
export const diffView = (
  files: ReadonlyArray<FileDiff>,
  mode: "unified" | "split",
  hooksFor: (f: FileDiff) => LineHooks = () => ({}),
) => {
  const adds = files.reduce((n, f) => n + f.additions, 0)
  const dels = files.reduce((n, f) => n + f.deletions, 0)
  // A page stays a page: past the budget, files are listed without their lines.
  let budget = MAX_DIFF_LINES
  return html`<p>${files.length} file${files.length === 1 ? "" : "s"} changed, <span class="ok">+${adds}</span> <span class="bad">−${dels}</span></p>
${files.map((f) => {
  const over = budget < f.changes
  budget = Math.max(0, budget - f.changes)
  const body = f.binary
    ? html`<p class="body muted">Binary file not shown.</p>`
    : over && f.patch
      ? html`<p class="body muted">This diff is too large to show here (${f.changes} changed lines on a page over ${MAX_DIFF_LINES}); fetch it with git or the REST API.</p>`
      : f.patch === undefined || f.patch === ""
        ? html`<p class="body muted">No content changes (${statusWord(f)}).</p>`
        : html`<div class="code-wrap"><table class="code diff ${mode}">${
            mode === "split"
              ? split(parsePatch(f.patch), hooksFor(f))
              : unified(parsePatch(f.patch), hooksFor(f))
          }</table></div>`
  return html`<section class="box file-diff" id="${fileId(f)}" aria-label="${f.filename}">
<div class="head"><h3 class="path">${f.filename}</h3><span class="muted">${statusWord(f)} · <span class="ok">+${f.additions}</span> <span class="bad">−${f.deletions}</span></span></div>
${body}
</section>`
})}`
}

/** Unified/split switch links that keep the rest of the query. */
export const diffModeLinks = (url: URL, mode: "unified" | "split") => {
  const at = (m: string) => {
    const u = new URL(url.toString())
    u.searchParams.set("diff", m)
    return u.pathname + u.search
  }
  return html`<p>View: ${mode === "unified" ? html`<strong>Unified</strong>` : html`<a href="${at("unified")}">Unified</a>`} · ${
    mode === "split" ? html`<strong>Split</strong>` : html`<a href="${at("split")}">Split</a>`
  }</p>`
}

export const diffMode = (url: URL): "unified" | "split" =>
  url.searchParams.get("diff") === "split" ? "split" : "unified"
