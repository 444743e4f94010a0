/**
 * CODEOWNERS files (GitHub's format): lines `pattern @owner @org/team ...`, comments with
 * `#`, the last matching line wins. Patterns follow gitignore's rules that GitHub supports:
 * a leading `/` anchors at the root, a `/` inside anchors too, a trailing `/` means
 * everything below a directory, `*` stays within a path segment, `**` crosses segments,
 * `?` is one character; a pattern without a slash matches a name at any depth.
 */

export interface OwnerRule {
  readonly pattern: string
  readonly owners: ReadonlyArray<string>
  readonly regex: RegExp
}

/** Where GitHub looks, in order. */
export const CODEOWNERS_PATHS = [".github/CODEOWNERS", "CODEOWNERS", "docs/CODEOWNERS"] as const

const toRegex = (pattern: string): RegExp => {
  let p = pattern
  const directory = p.endsWith("/")
  if (directory) p = p.slice(0, -1)
  const anchored = p.startsWith("/") || p.includes("/")
  if (p.startsWith("/")) p = p.slice(1)
  let re = ""
  for (let i = 0; i < p.length; i++) {
    const c = p[i]!
    if (c === "*" && p[i + 1] === "*") {
      const slash = p[i + 2] === "/"
      re += slash ? "(?:.*/)?" : ".*"
      i += slash ? 2 : 1
    } else if (c === "*") re += "[^/]*"
    else if (c === "?") re += "[^/]"
    else re += c.replace(/[.+^${}()|[\]\\]/g, "\\$&")
  }
  const prefix = anchored ? "^" : "^(?:.*/)?"
  // A match names the path itself or a directory above it.
  return new RegExp(`${prefix}${re}${directory ? "/" : "(?:/|$)"}`)
}

export const parseCodeOwners = (text: string): OwnerRule[] => {
  const rules: OwnerRule[] = []
  for (const raw of text.split("\n")) {
    const line = raw.replace(/(^|\s)#.*$/, "").trim()
    if (line === "") continue
    const [pattern, ...owners] = line.split(/\s+/)
    if (!pattern) continue
    rules.push({
      pattern,
      owners: owners.filter((o) => o.startsWith("@") || o.includes("@")),
      regex: toRegex(pattern),
    })
  }
  return rules
}

/** The owners of `path` (the last matching rule), without the leading `@`. */
export const ownersOf = (rules: ReadonlyArray<OwnerRule>, path: string): string[] => {
  for (let i = rules.length - 1; i >= 0; i--)
    if (rules[i]!.regex.test(path)) return rules[i]!.owners.map((o) => o.replace(/^@/, ""))
  return []
}
