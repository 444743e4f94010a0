/**
 * Access: what a user may do, computed from replicated state. The one source of answers for
 * both the request path (fast, clear errors) and `Apply` (the check every validator repeats),
 * so the two can never disagree.
 *
 * A user's level on a repository is the strongest of: site administrator or owner (admin);
 * organisation owner (admin) or member (the organisation's base level, read); a direct
 * collaborator grant; the grants of every team they belong to and of those teams' parents
 * (child teams inherit their parent's access, as on GitHub); and read for everyone on a
 * public repository, or for any signed-in user on an internal one.
 */
import type { SqlError } from "@effect/sql/SqlError"
import { Context, Effect, Layer } from "effect"
import { type Level, strongest } from "../domain/Permissions.ts"
import { SYSTEM_USER } from "../domain/Transaction.ts"
import { Metadata, type RepoRow, type TeamRow, type UserRow } from "./Metadata.ts"

/** The base level organisation members have on the organisation's repositories. */
export const ORG_MEMBER_BASE: Level = "read"

const asLevel = (s: string | undefined): Level => (s as Level | undefined) ?? "none"

const make = Effect.gen(function* () {
  const meta = yield* Metadata

  /** The user a transaction's submitter id names (0: the node itself, an administrator). */
  const actor = (userId: number): Effect.Effect<UserRow | undefined, SqlError> =>
    userId === SYSTEM_USER
      ? Effect.succeed({
          id: 0,
          login: "system",
          name: null,
          email: null,
          site_admin: 1,
          created_at: 0,
          type: "User",
          bio: null,
          updated_at: 0,
        } satisfies UserRow)
      : meta.userById(userId)

  /** Teams `userId` belongs to in `orgId`, with every ancestor of each. */
  const teamsWithAncestors = (orgId: number, userId: number) =>
    Effect.gen(function* () {
      const direct = yield* meta.teamsOfUser(orgId, userId)
      const seen = new Map<number, TeamRow>()
      const queue = [...direct]
      while (queue.length > 0) {
        const t = queue.pop()!
        if (seen.has(t.id)) continue
        seen.set(t.id, t)
        if (t.parent_id !== null) {
          const parent = yield* meta.teamById(t.parent_id)
          if (parent) queue.push(parent)
        }
      }
      return [...seen.values()]
    })

  const levelOf = (repo: RepoRow, user: UserRow | undefined): Effect.Effect<Level, SqlError> =>
    Effect.gen(function* () {
      const floor: Level =
        repo.visibility === "public" || (repo.visibility === "internal" && user !== undefined)
          ? "read"
          : "none"
      if (user === undefined) return floor
      if (user.site_admin === 1 || user.id === repo.owner_id) return "admin"
      const levels: Level[] = [floor, asLevel(yield* meta.collaboratorLevel(repo.id, user.id))]
      const owner = yield* meta.userById(repo.owner_id)
      if (owner?.type === "Organization") {
        const role = yield* meta.orgRole(owner.id, user.id)
        if (role === "admin") return "admin"
        if (role === "member") levels.push(ORG_MEMBER_BASE)
        const teams = yield* teamsWithAncestors(owner.id, user.id)
        if (teams.length > 0) {
          const ids = new Set(teams.map((t) => t.id))
          for (const grant of yield* meta.teamRepoLevels(repo.id))
            if (ids.has(grant.team_id)) levels.push(asLevel(grant.permission))
        }
      }
      return strongest(levels)
    })

  /** The organisation role of `user` in `org` ("admin" for site administrators). */
  const orgRoleOf = (org: UserRow, user: UserRow | undefined) =>
    Effect.gen(function* () {
      if (user === undefined) return undefined
      if (user.site_admin === 1) return "admin"
      return yield* meta.orgRole(org.id, user.id)
    })

  /** May `user` manage `team` (organisation owner, or a maintainer of the team)? */
  const canManageTeam = (org: UserRow, team: TeamRow, user: UserRow) =>
    Effect.gen(function* () {
      if ((yield* orgRoleOf(org, user)) === "admin") return true
      return (yield* meta.teamRole(team.id, user.id)) === "maintainer"
    })

  /** Teams of a user (with ancestors): whether `user` is in a team named by slug. */
  const inTeams = (orgId: number, user: UserRow, slugs: ReadonlyArray<string>) =>
    Effect.gen(function* () {
      if (slugs.length === 0) return false
      const wanted = new Set(slugs.map((s) => s.toLowerCase()))
      const teams = yield* teamsWithAncestors(orgId, user.id)
      return teams.some((t) => wanted.has(t.slug.toLowerCase()))
    })

  return { actor, levelOf, orgRoleOf, canManageTeam, inTeams }
})

export class Access extends Context.Tag("guts/Access")<
  Access,
  Effect.Effect.Success<typeof make>
>() {
  static readonly Live = Layer.effect(Access, make)
}
