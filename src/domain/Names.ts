/**
 * Names users choose: logins and repository names, validated the way GitHub does (so that
 * URLs, git paths and API shapes built from them are unambiguous).
 */

const LOGIN = /^[A-Za-z0-9](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){0,38}$/
const REPO = /^[A-Za-z0-9._-]{1,100}$/

export const loginProblem = (login: string): string | undefined =>
  LOGIN.test(login)
    ? undefined
    : "a login is 1-39 letters, digits or single hyphens, not starting or ending with a hyphen"

export const repoNameProblem = (name: string): string | undefined => {
  if (!REPO.test(name)) return "a repository name is 1-100 letters, digits, '.', '-' or '_'"
  if (name === "." || name === "..") return "a repository name cannot be '.' or '..'"
  if (name.toLowerCase().endsWith(".git")) return "a repository name cannot end with '.git'"
  return undefined
}
