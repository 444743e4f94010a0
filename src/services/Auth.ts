/**
 * Auth: who is making a request. Accepts GitHub's header forms — `Authorization: Bearer T`,
 * `Authorization: token T` — and HTTP Basic with the token as password (what git sends).
 *
 * Tokens are stored only as sha256 hashes; the lookup is by hash, so comparing a presented
 * token never compares secrets byte by byte. A presented token that is unknown, revoked or
 * expired is an error ("Bad credentials"), never silently anonymous.
 */
import { createHash, randomBytes, timingSafeEqual } from "node:crypto"
import { Clock, Context, Effect, Layer } from "effect"
import { Metadata, type UserRow } from "./Metadata.ts"

export interface Principal {
  readonly user: UserRow
  readonly scopes: ReadonlyArray<string>
  /** The token's public number. */
  readonly tokenId: number
  /** Fine-grained restriction: lower-cased `owner/name` the token may touch; undefined: all. */
  readonly repositories?: ReadonlySet<string> | undefined
}

export type Credentials =
  | { readonly _tag: "Anonymous" }
  | { readonly _tag: "Authenticated"; readonly principal: Principal }
  | { readonly _tag: "BadCredentials"; readonly reason: string }

export const hashToken = (token: string) => createHash("sha256").update(token).digest("hex")

/** A new random token: `guts_` and 40 hex digits (160 bits). */
export const newToken = () => `guts_${randomBytes(20).toString("hex")}`

/** The token in an Authorization header value, if any. */
export const tokenFromAuthorization = (header: string | undefined): string | undefined => {
  if (!header) return undefined
  const space = header.indexOf(" ")
  if (space < 0) return undefined
  const scheme = header.slice(0, space).toLowerCase()
  const value = header.slice(space + 1).trim()
  if (scheme === "bearer" || scheme === "token") return value
  if (scheme === "basic") {
    const decoded = Buffer.from(value, "base64").toString("utf8")
    const colon = decoded.indexOf(":")
    return colon >= 0 ? decoded.slice(colon + 1) : decoded
  }
  return undefined
}

const make = Effect.gen(function* () {
  const meta = yield* Metadata
  const authenticate = (authorization: string | undefined) =>
    Effect.gen(function* () {
      const token = tokenFromAuthorization(authorization)
      if (token === undefined || token === "") {
        return authorization
          ? ({ _tag: "BadCredentials", reason: "unsupported Authorization scheme" } as Credentials)
          : ({ _tag: "Anonymous" } as Credentials)
      }
      const presented = hashToken(token)
      // A CI job's git token: that repository, while the job's lease is held (CiRuns).
      if (token.startsWith("gutsjob_")) return yield* jobCredentials(presented)
      const row = yield* meta.tokenByHash(presented).pipe(Effect.orDie)
      const now = yield* Clock.currentTimeMillis
      // The lookup is by hash; the comparison of the hashes themselves takes constant time.
      if (
        !row ||
        !timingSafeEqual(Buffer.from(row.hash, "hex"), Buffer.from(presented, "hex")) ||
        row.revoked === 1 ||
        (row.expires_at !== null && row.expires_at <= now)
      )
        return { _tag: "BadCredentials", reason: "Bad credentials" } as Credentials
      const user = yield* meta.userById(row.user_id).pipe(Effect.orDie)
      if (!user) return { _tag: "BadCredentials", reason: "Bad credentials" } as Credentials
      const repositories =
        row.repositories === null
          ? undefined
          : new Set((JSON.parse(row.repositories) as string[]).map((r) => r.toLowerCase()))
      return {
        _tag: "Authenticated",
        principal: {
          user,
          scopes: row.scopes ? row.scopes.split(",") : [],
          tokenId: row.id,
          repositories,
        },
      } as Credentials
    })
  /**
   * A job token acts as the run's actor, limited to the run's repository; on a public
   * repository it reads only (no scope), on a private one it carries `repo` (GitHub's
   * GITHUB_TOKEN can write too).
   */
  const jobCredentials = (hash: string) =>
    Effect.gen(function* () {
      const bad = { _tag: "BadCredentials", reason: "Bad credentials" } as Credentials
      const job = yield* meta.ciJobByGitToken(hash).pipe(Effect.orDie)
      const run = job ? yield* meta.ciRun(job.run_id).pipe(Effect.orDie) : undefined
      const repo = run ? yield* meta.repoById(run.repo_id).pipe(Effect.orDie) : undefined
      const user = run ? yield* meta.userById(run.actor_id).pipe(Effect.orDie) : undefined
      if (!job || !repo || !user) return bad
      return {
        _tag: "Authenticated",
        principal: {
          user,
          scopes: repo.visibility === "public" ? [] : ["repo"],
          tokenId: -job.id,
          repositories: new Set([`${repo.owner_login}/${repo.name}`.toLowerCase()]),
        },
      } as Credentials
    })
  return { authenticate }
})

export class Auth extends Context.Tag("guts/Auth")<Auth, Effect.Effect.Success<typeof make>>() {
  static readonly Live = Layer.effect(Auth, make)
}
