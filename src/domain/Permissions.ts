/**
 * Permissions: GitHub's five repository levels, token scopes, and the rules that combine
 * them. Pure: the same answers at request time (a fast, clear error) and inside `apply`
 * (the check a faulty node cannot skip), because both call these functions.
 */

/** Repository permission levels, weakest first. `none` is the absence of any. */
export const LEVELS = ["none", "read", "triage", "write", "maintain", "admin"] as const
export type Level = (typeof LEVELS)[number]

export const GRANTABLE = ["read", "triage", "write", "maintain", "admin"] as const
export type Grantable = (typeof GRANTABLE)[number]

const rank = (level: Level) => LEVELS.indexOf(level)

export const atLeast = (have: Level, need: Level) => rank(have) >= rank(need)

export const strongest = (levels: Iterable<Level>): Level => {
  let best: Level = "none"
  for (const l of levels) if (rank(l) > rank(best)) best = l
  return best
}

/** GitHub's API names the levels differently in places: `pull`/`push` for read/write. */
export const parseLevel = (value: unknown): Grantable | undefined => {
  if (typeof value !== "string") return undefined
  const v = value.toLowerCase()
  if (v === "pull") return "read"
  if (v === "push") return "write"
  return (GRANTABLE as ReadonlyArray<string>).includes(v) ? (v as Grantable) : undefined
}

/** The legacy `permissions` object GitHub returns with a repository for the caller. */
export const permissionsObject = (level: Level) => ({
  admin: atLeast(level, "admin"),
  maintain: atLeast(level, "maintain"),
  push: atLeast(level, "write"),
  triage: atLeast(level, "triage"),
  pull: atLeast(level, "read"),
})

export const VISIBILITIES = ["public", "private", "internal"] as const
export type Visibility = (typeof VISIBILITIES)[number]

/** Token scopes we know (GitHub's classic personal access token scopes). */
export const SCOPES = [
  "repo",
  "public_repo",
  "read:org",
  "write:org",
  "admin:org",
  "read:user",
  "user",
  "admin:public_key",
  "read:public_key",
  "write:public_key",
  "delete_repo",
  "workflow",
  "site_admin",
] as const
export type Scope = (typeof SCOPES)[number]

export const unknownScopes = (scopes: ReadonlyArray<string>) =>
  scopes.filter((s) => !(SCOPES as ReadonlyArray<string>).includes(s))

/** Scopes implied by a broader one (GitHub: `admin:org` includes `write:org` and `read:org`). */
const IMPLIED: Readonly<Record<string, ReadonlyArray<string>>> = {
  repo: ["public_repo"],
  "admin:org": ["write:org", "read:org"],
  "write:org": ["read:org"],
  user: ["read:user"],
  "admin:public_key": ["write:public_key", "read:public_key"],
  "write:public_key": ["read:public_key"],
}

/** `site_admin` (the bootstrap administrator's token) implies every scope. */
export const hasScope = (granted: ReadonlyArray<string>, needed: string): boolean =>
  granted.some((g) => g === needed || g === "site_admin" || (IMPLIED[g]?.includes(needed) ?? false))

/**
 * The scope a request needs to act on a repository with `level`: reading a public
 * repository needs none; anything private, and any write, needs `repo` (`public_repo`
 * suffices for writes to public repositories).
 */
export const scopeProblem = (
  granted: ReadonlyArray<string>,
  visibility: Visibility,
  needed: Level,
): string | undefined => {
  if (needed === "read" && visibility === "public") return undefined
  if (visibility === "public" && hasScope(granted, "public_repo")) return undefined
  if (hasScope(granted, "repo")) return undefined
  return visibility === "public" ? "public_repo" : "repo"
}

/** Organisation roles, as GitHub's membership API names them. */
export type OrgRole = "admin" | "member"
export type TeamRole = "member" | "maintainer"
export type TeamPrivacy = "secret" | "closed"
