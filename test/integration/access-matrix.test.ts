/**
 * The permission matrix: for every kind of caller (anonymous, a signed-in outsider, an
 * organisation member, a collaborator at each of GitHub's five levels, a team member, a
 * member of a child team, an organisation owner) and every visibility (public, private,
 * internal), each API operation and each git operation either succeeds or fails with the
 * documented status — generated from one table of expected levels.
 *
 * Documented statuses: a repository the caller cannot read does not exist for them (404;
 * git asks anonymous callers to authenticate, 401); a caller who can read but lacks the
 * level gets 403; writes, and reads that need more than read (the collaborator list),
 * without credentials get 401.
 */
import * as path from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { atLeast, type Level } from "../../src/domain/Permissions.ts"
import { type Api, apiClient, makeUser } from "../support/Api.ts"
import { authUrl, commitAll, git, initRepo, runGit, write } from "../support/Git.ts"
import { type RunningNode, startNode, tempDir } from "../support/TestNode.ts"

type Visibility = "public" | "private" | "internal"
const VISIBILITIES: ReadonlyArray<Visibility> = ["public", "private", "internal"]
const REPO: Record<Visibility, string> = { public: "pub", private: "priv", internal: "int" }

/** Every caller and the level the rules give it on each visibility. */
const ACTORS: ReadonlyArray<{ name: string; level: (v: Visibility) => Level }> = [
  { name: "anonymous", level: (v) => (v === "public" ? "read" : "none") },
  { name: "outsider", level: (v) => (v === "private" ? "none" : "read") },
  { name: "member", level: () => "read" },
  { name: "reader", level: () => "read" },
  { name: "triager", level: () => "triage" },
  { name: "writer", level: () => "write" },
  { name: "maintainer", level: () => "maintain" },
  { name: "repoadmin", level: () => "admin" },
  { name: "teamwriter", level: () => "write" },
  { name: "childmember", level: () => "write" },
  { name: "owner", level: () => "admin" },
]

let node: RunningNode
const tokens = new Map<string, string>()
const clients = new Map<string, Api>()
let work: string

beforeAll(async () => {
  node = await startNode({ storage: "memory", config: { rateLimitAnonymous: 0 } })
  const admin = apiClient(node.url, node.token)
  for (const a of ACTORS) {
    if (a.name === "anonymous") continue
    const u = await makeUser(admin, a.name, ["repo", "admin:org", "read:org"])
    tokens.set(a.name, u.token)
  }
  for (const a of ACTORS) clients.set(a.name, apiClient(node.url, tokens.get(a.name) ?? null))
  const owner = clients.get("owner")!
  const ok = (r: { status: number; body: unknown }, what: string) => {
    if (r.status >= 300) throw new Error(`${what}: ${r.status} ${JSON.stringify(r.body)}`)
  }
  ok(await admin("POST", "/admin/organizations", { login: "acme", admin: "owner" }), "org")
  ok(await owner("PUT", "/orgs/acme/memberships/member", { role: "member" }), "member")
  const devs = await owner("POST", "/orgs/acme/teams", { name: "devs", privacy: "closed" })
  ok(devs, "team devs")
  ok(
    await owner("POST", "/orgs/acme/teams", { name: "sub", parent_team_id: devs.body.id }),
    "team sub",
  )
  ok(await owner("PUT", "/orgs/acme/teams/devs/memberships/teamwriter", {}), "teamwriter")
  ok(await owner("PUT", "/orgs/acme/teams/sub/memberships/childmember", {}), "childmember")
  work = await initRepo(path.join(tempDir("matrix"), "work"))
  write(work, "README.md", "hello\n")
  await commitAll(work, "initial")
  for (const v of VISIBILITIES) {
    const body =
      v === "internal"
        ? { name: REPO[v], visibility: "internal" }
        : { name: REPO[v], private: v === "private" }
    ok(await owner("POST", "/orgs/acme/repos", body), `repo ${v}`)
    for (const [user, permission] of [
      ["reader", "pull"],
      ["triager", "triage"],
      ["writer", "push"],
      ["maintainer", "maintain"],
      ["repoadmin", "admin"],
    ] as const)
      ok(
        await owner("PUT", `/repos/acme/${REPO[v]}/collaborators/${user}`, { permission }),
        `${user} on ${v}`,
      )
    ok(
      await owner("PUT", `/orgs/acme/teams/devs/repos/acme/${REPO[v]}`, { permission: "push" }),
      `devs on ${v}`,
    )
    await git(work, [
      "push",
      "-q",
      authUrl(`${node.url}/acme/${REPO[v]}.git`, tokens.get("owner")!),
      "main",
    ])
  }
}, 120_000)

afterAll(async () => {
  await node?.close()
})

/** What an API operation answers for a caller with `level` (anonymous or not). */
const expectedStatus = (level: Level, needed: Level, anonymous: boolean, ok: number) => {
  if (!atLeast(level, "read")) return anonymous && needed !== "read" ? 401 : 404
  if (anonymous && needed !== "read") return 401
  return atLeast(level, needed) ? ok : 403
}

const cases = ACTORS.flatMap((a) =>
  VISIBILITIES.map((v) => ({ actor: a.name, visibility: v, level: a.level(v) })),
)

describe.each(cases)("$actor on a $visibility repository (level $level)", (c) => {
  const repo = `acme/${REPO[c.visibility]}`
  const anonymous = c.actor === "anonymous"
  const api = () => clients.get(c.actor)!

  it(`GET /repos/${repo} answers ${atLeast(c.level, "read") ? 200 : 404}`, async () => {
    const r = await api()("GET", `/repos/${repo}`)
    expect(r.status).toBe(atLeast(c.level, "read") ? 200 : 404)
    if (r.status === 200 && !anonymous)
      expect(r.body.permissions.push).toBe(atLeast(c.level, "write"))
  })

  it("reads its own level from collaborators/{user}/permission", async () => {
    if (anonymous) {
      const r = await api()("GET", `/repos/${repo}/collaborators/outsider/permission`)
      expect(r.status).toBe(atLeast(c.level, "read") ? 200 : 404)
      return
    }
    const r = await api()("GET", `/repos/${repo}/collaborators/${c.actor}/permission`)
    if (!atLeast(c.level, "read")) return expect(r.status).toBe(404)
    expect(r.status).toBe(200)
    expect(r.body.role_name).toBe(c.level)
  })

  it("lists collaborators only with write", async () => {
    const r = await api()("GET", `/repos/${repo}/collaborators`)
    expect(r.status).toBe(expectedStatus(c.level, "write", anonymous, 200))
  })

  it("updates the repository only with admin", async () => {
    const r = await api()("PATCH", `/repos/${repo}`, { description: `set by ${c.actor}` })
    expect(r.status).toBe(expectedStatus(c.level, "admin", anonymous, 200))
  })

  it("protects a branch only with admin", async () => {
    const r = await api()("PUT", `/repos/${repo}/branches/guarded-${c.actor}/protection`, {
      required_status_checks: null,
      enforce_admins: null,
      required_pull_request_reviews: null,
      restrictions: null,
    })
    expect(r.status).toBe(expectedStatus(c.level, "admin", anonymous, 200))
  })

  it("adds a collaborator only with admin", async () => {
    const r = await api()("PUT", `/repos/${repo}/collaborators/outsider`, { permission: "pull" })
    const status = expectedStatus(c.level, "admin", anonymous, 201)
    if (status === 201) expect([201, 204]).toContain(r.status)
    else expect(r.status).toBe(status)
  })

  const remote = () => {
    const url = `${node.url}/${repo}.git`
    return anonymous ? url : authUrl(url, tokens.get(c.actor)!)
  }

  it(`git ls-remote ${atLeast(c.level, "read") ? "lists refs" : "fails"}`, async () => {
    const r = await runGit(work, ["ls-remote", remote()])
    if (atLeast(c.level, "read")) {
      expect(r.code).toBe(0)
      expect(r.stdout).toContain("refs/heads/main")
    } else {
      expect(r.code).not.toBe(0)
      expect(r.stderr).toMatch(
        anonymous ? /Authentication failed|could not read Username/ : /not found/,
      )
    }
  })

  it(`git push ${atLeast(c.level, "write") ? "succeeds" : "is refused"}`, async () => {
    const branch = `refs/heads/by-${c.actor}`
    const r = await runGit(work, ["push", remote(), `HEAD:${branch}`])
    if (atLeast(c.level, "write")) {
      expect(r.code, r.stderr).toBe(0)
      const ls = await git(work, [
        "ls-remote",
        authUrl(`${node.url}/${repo}.git`, tokens.get("owner")!),
      ])
      expect(ls).toContain(branch)
    } else {
      expect(r.code).not.toBe(0)
      if (anonymous) expect(r.stderr).toMatch(/Authentication failed|could not read Username/)
      else if (atLeast(c.level, "read")) expect(r.stderr).toMatch(/403|denied/)
      else expect(r.stderr).toMatch(/not found/)
    }
  })
})
