/**
 * Identity and access through the REST API, as a GitHub client meets it: accounts and
 * sign-up, personal access tokens (scopes, expiry, revocation, fine-grained restriction),
 * organisations and nested teams, renames and transfers with redirects, the audit log,
 * rate limits — and the errors each bad request gets.
 */
import { createHash } from "node:crypto"
import * as path from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type Api, apiClient, makeUser } from "../support/Api.ts"
import { authUrl, commitAll, git, initRepo, runGit, write } from "../support/Git.ts"
import { type RunningNode, spawnNode, startNode, tempDir } from "../support/TestNode.ts"

let node: RunningNode
let admin: Api

beforeAll(async () => {
  node = await startNode({ storage: "memory", config: { registration: "open" } })
  admin = apiClient(node.url, node.token)
})
afterAll(async () => {
  await node?.close()
})

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

describe("accounts", () => {
  it("lets an administrator create a user, and refuses a taken or invalid login with 422", async () => {
    const made = await admin("POST", "/admin/users", { login: "dora", email: "dora@x.test" })
    expect(made.status).toBe(201)
    expect(made.body).toMatchObject({ login: "dora", type: "User", site_admin: false })
    const again = await admin("POST", "/admin/users", { login: "DORA" })
    expect(again.status).toBe(422)
    expect(again.body.errors[0]).toMatchObject({ field: "login", code: "already_exists" })
    const bad = await admin("POST", "/admin/users", { login: "-bad-" })
    expect(bad.status).toBe(422)
    const missing = await admin("POST", "/admin/users", {})
    expect(missing.status).toBe(422)
    expect(missing.body.errors[0]).toMatchObject({ field: "login", code: "missing_field" })
  })

  it("refuses user creation by a non-administrator with 403", async () => {
    const eve = await makeUser(admin, "eve")
    const r = await apiClient(node.url, eve.token)("POST", "/admin/users", { login: "eve2" })
    expect(r.status).toBe(403)
  })

  it("signs up anonymously when registration is open, returning a token once", async () => {
    const r = await apiClient(node.url)("POST", "/users", { login: "newbie" })
    expect(r.status).toBe(201)
    expect(r.body.token).toMatch(/^guts_[0-9a-f]{40}$/)
    const me = await apiClient(node.url, r.body.token)("GET", "/user")
    expect(me.body.login).toBe("newbie")
  })

  it("updates the profile with PATCH /user and shows it at /users/{login}", async () => {
    const frank = await makeUser(admin, "frank", ["user"])
    const f = apiClient(node.url, frank.token)
    const r = await f("PATCH", "/user", { name: "Frank", bio: "builds things" })
    expect(r.status).toBe(200)
    const pub = await apiClient(node.url)("GET", "/users/frank")
    expect(pub.body).toMatchObject({ login: "frank", name: "Frank", bio: "builds things" })
    const wrongType = await f("PATCH", "/user", { name: 42 })
    expect(wrongType.status).toBe(422)
    expect((await apiClient(node.url)("GET", "/users/nobody-here")).status).toBe(404)
  })
})

describe("tokens", () => {
  let gina: { login: string; token: string }
  beforeAll(async () => {
    gina = await makeUser(admin, "gina", ["repo", "user"])
  })

  it("answers a malformed Authorization header, an unknown token and a revoked one with 401", async () => {
    for (const header of ["Bearer", "Digest abc", "Bearer guts_0000", "token nope"]) {
      const res = await fetch(`${node.url}/api/user`, { headers: { authorization: header } })
      expect(res.status, header).toBe(401)
      const body = (await res.json()) as { message: string; documentation_url: string }
      expect(body.message).toBe("Bad credentials")
      expect(body.documentation_url).toMatch(/^https:\/\//)
    }
    const g = apiClient(node.url, gina.token)
    const made = await g("POST", "/user/tokens", { note: "ci", scopes: ["repo"] })
    expect(made.status).toBe(201)
    expect(made.body.token).toMatch(/^guts_/)
    const listed = await g("GET", "/user/tokens")
    expect(listed.body.map((t: { note: string }) => t.note)).toContain("ci")
    expect(JSON.stringify(listed.body)).not.toContain(made.body.token)
    const second = apiClient(node.url, made.body.token)
    expect((await second("GET", "/user")).status).toBe(200)
    expect((await g("DELETE", `/user/tokens/${made.body.id}`)).status).toBe(204)
    const after = await second("GET", "/user")
    expect(after.status).toBe(401)
    expect(after.body.message).toBe("Bad credentials")
  })

  it("stops accepting a token once it has expired", async () => {
    const g = apiClient(node.url, gina.token)
    const made = await g("POST", "/user/tokens", {
      note: "short",
      scopes: ["repo"],
      expires_at: new Date(Date.now() + 1500).toISOString(),
    })
    expect(made.status).toBe(201)
    const t = apiClient(node.url, made.body.token)
    expect((await t("GET", "/user")).status).toBe(200)
    await sleep(1700)
    expect((await t("GET", "/user")).status).toBe(401)
    const past = await g("POST", "/user/tokens", {
      note: "past",
      scopes: [],
      expires_at: "2000-01-01T00:00:00Z",
    })
    expect(past.status).toBe(422)
  })

  it("refuses a token that lacks the scope with 403 and X-Accepted-OAuth-Scopes", async () => {
    const g = apiClient(node.url, gina.token)
    const readOnly = await g("POST", "/user/tokens", { note: "ro", scopes: [] })
    const ro = apiClient(node.url, readOnly.body.token)
    const r = await ro("POST", "/user/repos", { name: "nope" })
    expect(r.status).toBe(403)
    expect(r.headers.get("x-accepted-oauth-scopes")).toBe("public_repo")
    expect(r.headers.get("x-oauth-scopes")).toBe("")
    const p = await ro("PATCH", "/user", { name: "x" })
    expect(p.status).toBe(403)
    expect(p.headers.get("x-accepted-oauth-scopes")).toBe("user")
  })

  it("refuses to mint a token with scopes the caller's token does not hold", async () => {
    const g = apiClient(node.url, gina.token)
    const r = await g("POST", "/user/tokens", { note: "escalate", scopes: ["admin:org"] })
    expect(r.status).toBe(403)
    const unknown = await admin("POST", "/user/tokens", { note: "x", scopes: ["fly"] })
    expect(unknown.status).toBe(422)
    expect(unknown.body.message).toMatch(/unknown scopes: fly/)
  })

  it("limits a fine-grained token to its repositories: others do not exist for it", async () => {
    const g = apiClient(node.url, gina.token)
    expect((await g("POST", "/user/repos", { name: "one", private: true })).status).toBe(201)
    expect((await g("POST", "/user/repos", { name: "two", private: true })).status).toBe(201)
    const fine = await g("POST", "/user/tokens", {
      note: "fine",
      scopes: ["repo"],
      repositories: ["gina/one"],
    })
    const f = apiClient(node.url, fine.body.token)
    expect((await f("GET", "/repos/gina/one")).status).toBe(200)
    expect((await f("GET", "/repos/gina/two")).status).toBe(404)
    const names = (await f("GET", "/user/repos")).body.map((r: { name: string }) => r.name)
    expect(names).toEqual(["one"])
    const ls = await runGit(tempDir("fine"), [
      "ls-remote",
      authUrl(`${node.url}/gina/two.git`, fine.body.token),
    ])
    expect(ls.code).not.toBe(0)
  })
})

describe("organisations and teams", () => {
  let olga: { login: string; token: string }
  let pete: { login: string; token: string }
  let o: Api
  let p: Api
  beforeAll(async () => {
    olga = await makeUser(admin, "olga", ["repo", "admin:org"])
    pete = await makeUser(admin, "pete", ["repo", "admin:org"])
    o = apiClient(node.url, olga.token)
    p = apiClient(node.url, pete.token)
  })

  it("creates an organisation whose creator is its owner", async () => {
    const r = await o("POST", "/user/orgs", { login: "guild" })
    expect(r.status).toBe(201)
    expect(r.body).toMatchObject({ login: "guild", type: "Organization" })
    const m = await o("GET", "/orgs/guild/memberships/olga")
    expect(m.body).toMatchObject({ role: "admin", state: "active" })
    expect((await o("GET", "/user/orgs")).body.map((x: { login: string }) => x.login)).toEqual([
      "guild",
    ])
    const taken = await o("POST", "/user/orgs", { login: "olga" })
    expect(taken.status).toBe(422)
  })

  it("lets only owners add members; members cannot promote themselves", async () => {
    expect((await p("PUT", "/orgs/guild/memberships/pete", { role: "admin" })).status).toBe(403)
    expect((await o("PUT", "/orgs/guild/memberships/pete", { role: "member" })).status).toBe(200)
    expect((await p("PUT", "/orgs/guild/memberships/pete", { role: "admin" })).status).toBe(403)
    const members = await o("GET", "/orgs/guild/members")
    expect(members.body.map((m: { login: string }) => m.login)).toEqual(["olga", "pete"])
    expect((await apiClient(node.url)("GET", "/orgs/guild/members")).body).toEqual([])
  })

  it("refuses to remove the last owner", async () => {
    const r = await o("DELETE", "/orgs/guild/memberships/olga")
    expect(r.status).toBe(422)
    expect(r.body.message).toMatch(/last owner/)
  })

  it("hides secret teams from members who are not in them, shows closed ones", async () => {
    const secret = await o("POST", "/orgs/guild/teams", { name: "Red Team", privacy: "secret" })
    expect(secret.status).toBe(201)
    expect(secret.body.slug).toBe("red-team")
    const closed = await o("POST", "/orgs/guild/teams", { name: "Builders", privacy: "closed" })
    expect(closed.status).toBe(201)
    const child = await o("POST", "/orgs/guild/teams", {
      name: "Frontend",
      parent_team_id: closed.body.id,
    })
    expect(child.status).toBe(201)
    expect(child.body.parent.slug).toBe("builders")
    const seen = (await p("GET", "/orgs/guild/teams")).body.map((t: { slug: string }) => t.slug)
    expect(seen).toEqual(["builders", "frontend"])
    expect((await p("GET", "/orgs/guild/teams/red-team")).status).toBe(404)
    const secretChild = await o("POST", "/orgs/guild/teams", {
      name: "Under Red",
      parent_team_id: secret.body.id,
    })
    expect(secretChild.status).toBe(422)
  })

  it("gives members of a child team the parent team's repository access", async () => {
    expect((await o("POST", "/orgs/guild/repos", { name: "vault", private: true })).status).toBe(
      201,
    )
    expect((await p("GET", "/repos/guild/vault")).body.permissions.push).toBe(false)
    expect(
      (await o("PUT", "/orgs/guild/teams/builders/repos/guild/vault", { permission: "maintain" }))
        .status,
    ).toBe(204)
    expect((await o("PUT", "/orgs/guild/teams/frontend/memberships/pete", {})).status).toBe(200)
    const perm = await p("GET", "/repos/guild/vault/collaborators/pete/permission")
    expect(perm.body).toMatchObject({ role_name: "maintain", permission: "write" })
    expect((await o("DELETE", "/orgs/guild/teams/frontend/memberships/pete")).status).toBe(204)
    const after = await p("GET", "/repos/guild/vault/collaborators/pete/permission")
    expect(after.body.role_name).toBe("read")
  })

  it("records who did what in the organisation's audit log, newest first", async () => {
    const log = await o("GET", "/orgs/guild/audit-log?per_page=100")
    expect(log.status).toBe(200)
    const actions = log.body.map((e: { action: string }) => e.action)
    expect(actions).toContain("org.create")
    expect(actions).toContain("org.add_member")
    expect(actions).toContain("team.create")
    expect(actions).toContain("team.add_repository")
    expect(actions.indexOf("team.remove_member")).toBeLessThan(actions.indexOf("org.create"))
    expect(log.body.every((e: { actor: string }) => typeof e.actor === "string")).toBe(true)
    expect((await p("GET", "/orgs/guild/audit-log")).status).toBe(403)
  })
})

describe("renames and transfers", () => {
  it("keeps the old name working (API redirect, git clone) after a rename and a transfer", async () => {
    const rita = await makeUser(admin, "rita", ["repo", "admin:org", "delete_repo"])
    const r = apiClient(node.url, rita.token)
    expect((await r("POST", "/user/repos", { name: "first" })).status).toBe(201)
    const work = await initRepo(path.join(tempDir("rename"), "w"))
    write(work, "f", "x\n")
    const tip = await commitAll(work, "x")
    await git(work, ["push", "-q", authUrl(`${node.url}/rita/first.git`, rita.token), "main"])
    const renamed = await r("PATCH", "/repos/rita/first", { name: "second" })
    expect(renamed.status).toBe(200)
    expect(renamed.body.full_name).toBe("rita/second")
    const old = await r("GET", "/repos/rita/first")
    expect(old.status).toBe(301)
    expect(old.headers.get("location")).toMatch(/\/api\/repos\/rita\/second$/)
    expect((await r("POST", "/user/orgs", { login: "ritaco" })).status).toBe(201)
    const moved = await r("POST", "/repos/rita/second/transfer", { new_owner: "ritaco" })
    expect(moved.status).toBe(202)
    expect(moved.body.full_name).toBe("ritaco/second")
    for (const oldName of ["rita/first", "rita/second", "ritaco/second"]) {
      const ls = await git(work, ["ls-remote", authUrl(`${node.url}/${oldName}.git`, rita.token)])
      expect(ls, oldName).toContain(`${tip}\trefs/heads/main`)
    }
    expect((await r("DELETE", "/repos/ritaco/second")).status).toBe(204)
    expect((await r("GET", "/repos/ritaco/second")).status).toBe(404)
    const audit = await r("GET", "/orgs/ritaco/audit-log")
    expect(audit.body.map((e: { action: string }) => e.action)).toEqual(
      expect.arrayContaining(["repo.transfer", "repo.destroy"]),
    )
  })
})

describe("rate limits", () => {
  it("counts requests per token and per address with GitHub's headers, and refuses beyond", async () => {
    const limited = await startNode({
      storage: "memory",
      config: { rateLimitAnonymous: 3, rateLimitAuthenticated: 5 },
    })
    try {
      const anon = apiClient(limited.url)
      const first = await anon("GET", "/users/admin")
      expect(first.headers.get("x-ratelimit-limit")).toBe("3")
      expect(first.headers.get("x-ratelimit-remaining")).toBe("2")
      expect(Number(first.headers.get("x-ratelimit-reset"))).toBeGreaterThan(Date.now() / 1000)
      await anon("GET", "/users/admin")
      await anon("GET", "/users/admin")
      const over = await anon("GET", "/users/admin")
      expect(over.status).toBe(403)
      expect(over.body.message).toMatch(/API rate limit exceeded/)
      expect(over.headers.get("x-ratelimit-remaining")).toBe("0")
      const authed = await apiClient(limited.url, limited.token)("GET", "/user")
      expect(authed.status).toBe(200)
      expect(authed.headers.get("x-ratelimit-limit")).toBe("5")
    } finally {
      await limited.close()
    }
  })
})

describe("secrets stay out of logs", () => {
  it("never writes a token or its hash to the node's log, even for failures", async () => {
    const proc = await spawnNode({ extraArgs: [] })
    try {
      const a = apiClient(proc.url, proc.token)
      const u = await makeUser(a, "loggy", ["repo"])
      const made = await apiClient(proc.url, u.token)("POST", "/user/tokens", {
        note: "x",
        scopes: ["repo"],
      })
      const bogus = "guts_0123456789abcdef0123456789abcdef01234567"
      await apiClient(proc.url, bogus)("GET", "/user")
      await fetch(`${proc.url}/api/user`, {
        headers: { authorization: `Basic ${btoa(`x:${bogus}`)}` },
      })
      await runGit(tempDir("loggy"), ["ls-remote", authUrl(`${proc.url}/loggy/none.git`, u.token)])
      await apiClient(proc.url, u.token)("POST", "/user/repos", "{not json")
      const log = proc.output()
      expect(log.length).toBeGreaterThan(0)
      for (const secret of [proc.token, u.token, made.body.token, bogus]) {
        const hash = createHash("sha256").update(secret).digest("hex")
        expect(log).not.toContain(secret)
        expect(log).not.toContain(hash)
      }
    } finally {
      await proc.stop()
    }
  })
})
