/**
 * Ref names as `git check-ref-format` accepts them (git-check-ref-format(1), rules 1-10).
 */

const FORBIDDEN = /[\x00-\x20\x7f~^:?*[\\]/

/** Why `name` is not a valid ref name, or undefined when it is. */
export const refNameProblem = (name: string): string | undefined => {
  if (name === "@") return "'@' alone is not a ref name"
  if (name.length === 0) return "empty ref name"
  if (name.length > 1024) return "ref name longer than 1024 characters"
  if (FORBIDDEN.test(name))
    return "ref names cannot contain control characters, space, ~ ^ : ? * [ or \\"
  if (name.includes("..")) return "ref names cannot contain '..'"
  if (name.includes("@{")) return "ref names cannot contain '@{'"
  if (name.startsWith("/") || name.endsWith("/")) return "ref names cannot begin or end with '/'"
  if (name.includes("//")) return "ref names cannot contain '//'"
  if (name.endsWith(".")) return "ref names cannot end with '.'"
  for (const component of name.split("/")) {
    if (component.startsWith(".")) return "no component of a ref name can begin with '.'"
    if (component.endsWith(".lock")) return "no component of a ref name can end with '.lock'"
  }
  if (!name.includes("/") && name !== "HEAD") return "ref names must contain at least one '/'"
  return undefined
}
