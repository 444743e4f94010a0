/**
 * Ref names as `git check-ref-format` accepts them (git-check-ref-format(1), rules 1-10):
 * no component starting with `.` or ending with `.lock`; at least one `/` (HEAD excepted);
 * no `..`; no ASCII control character, space, `~`, `^`, `:`, `?`, `*`, `[` or `\`; no
 * leading, trailing or doubled `/`; no trailing `.`; no `@{`; not `@` alone.
 *
 * `refNameProblem` says why a name is invalid (undefined when valid), so the reason can be
 * shown to the user in a push's status report.
 */

const FORBIDDEN = /[\x00-\x20\x7f~^:?*[\\]/

export interface RefNameOptions {
  /** Accept one-level names such as `main` (`--allow-onelevel`). Default false. */
  readonly allowOneLevel?: boolean
}

/** Why `name` is not a valid ref name, or undefined when it is. `HEAD` is valid. */
export const refNameProblem = (name: string, options: RefNameOptions = {}): string | undefined => {
  if (name.length === 0) return "empty ref name"
  if (name === "@") return "'@' alone is not a ref name"
  if (name.length > 4096) return "ref name longer than 4096 characters"
  const bad = FORBIDDEN.exec(name)
  if (bad) {
    const c = bad[0]
    const shown =
      c.charCodeAt(0) < 0x20 || c === "\x7f"
        ? `control character 0x${c.charCodeAt(0).toString(16).padStart(2, "0")}`
        : c === " "
          ? "a space"
          : `'${c}'`
    return `ref names cannot contain ${shown}`
  }
  if (name.includes("..")) return "ref names cannot contain '..'"
  if (name.includes("@{")) return "ref names cannot contain '@{'"
  if (name.startsWith("/")) return "ref names cannot begin with '/'"
  if (name.endsWith("/")) return "ref names cannot end with '/'"
  if (name.includes("//")) return "ref names cannot contain '//'"
  if (name.endsWith(".")) return "ref names cannot end with '.'"
  for (const component of name.split("/")) {
    if (component.startsWith(".")) return `ref name component '${component}' begins with '.'`
    if (component.endsWith(".lock")) return `ref name component '${component}' ends with '.lock'`
  }
  if (!name.includes("/") && name !== "HEAD" && !options.allowOneLevel)
    return "ref names must contain at least one '/' (e.g. refs/heads/main)"
  return undefined
}

export const isValidRefName = (name: string, options: RefNameOptions = {}): boolean =>
  refNameProblem(name, options) === undefined

/**
 * Why `name` cannot be the target of a push (or a ref update), or undefined: a valid ref
 * name under `refs/`.
 */
export const updatableRefNameProblem = (name: string): string | undefined => {
  const problem = refNameProblem(name)
  if (problem) return problem
  if (!name.startsWith("refs/")) return "ref names that can be updated start with 'refs/'"
  return undefined
}
