/**
 * The web interface without a browser: sign-in (token and password), CSRF refusals, inert
 * user content (`<script>`, `javascript:` links, raw HTML in a README and a comment), private
 * repositories invisible to outsiders (explore, search, user page, every URL a 404), and
 * the accessibility basics every page keeps (landmarks, a label for every control).
 */
import { randomUUID } from "node:crypto"
import * as http from "node:http"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { SetPassword, SYSTEM_USER } from "../../src/domain/Transaction.ts"
import { Ledger } from "../../src/services/Ledger.ts"
import { type Api, apiClient, makeUser } from "../support/Api.ts"
import { type RunningNode, startNode } from "../support/TestNode.ts"
import { signInWithToken, type WebClient, webClient } from "./WebClient.ts"

let node: RunningNode
let alice: Api
let aliceWeb: WebClient
let bobWeb: WebClient
let anon: WebClient
let aliceToken: string

const EVIL = [
  "# Hello",
  "<script>alert('readme')</script>",
  '<img src=x onerror="alert(1)">',
  "[click me](javascript:alert(2))",
  '<a href="javascript:alert(3)">raw link</a>',
].join("\n")

beforeAll(async () => {
  node = await startNode({ storage: "memory" })
  const admin = apiClient(node.url, node.token)
  const a = await makeUser(admin, "alice", ["repo", "user", "admin:org"])
  const b = await makeUser(admin, "bob", ["repo", "user", "admin:org"])
  alice = apiClient(node.url, a.token)
  aliceToken = a.token
  expect((await alice("POST", "/user/repos", { name: "open", auto_init: false })).status).toBe(201)
  expect(
    (
      await alice("POST", "/user/repos", {
        name: "hidden-gem",
        private: true,
        description: "secret stuff",
      })
    ).status,
  ).toBe(201)
  for (const repo of ["open", "hidden-gem"]) {
    const put = await alice("PUT", `/repos/alice/${repo}/contents/README.md`, {
      message: "readme",
      content: Buffer.from(EVIL).toString("base64"),
      branch: "main",
    })
    expect(put.status).toBe(201)
  }
  aliceWeb = webClient(node.url)
  bobWeb = webClient(node.url)
  anon = webClient(node.url)
  await signInWithToken(aliceWeb, a.token)
  await signInWithToken(bobWeb, b.token)
})
afterAll(async () => {
  await node?.close()
})

/** No executable HTML from user content: no script element with our payload, no js: URL, no handler. */
const expectInert = (text: string) => {
  expect(text).not.toMatch(/<script>alert/i)
  expect(text).not.toMatch(/<img[^>]*onerror/i)
  expect(text).not.toMatch(/href\s*=\s*["']?\s*javascript:/i)
  // Only our own scripts, from our own origin.
  for (const m of text.matchAll(/<script\b[^>]*>/gi)) expect(m[0]).toMatch(/src="\/-\/static\//)
}

describe("web interface", () => {
  it("renders the repository home with the README inert and a strict CSP", async () => {
    const page = await anon.get("/alice/open")
    expect(page.status).toBe(200)
    expect(page.text).toContain("README.md")
    // Rendered as markdown (a heading, a link's text), with everything executable gone.
    expect(page.text).toMatch(/<h1[^>]*>Hello<\/h1>/)
    expect(page.text).toContain("click me")
    expectInert(page.text)
    expect(page.headers.get("content-security-policy")).toContain("script-src 'self'")
    const file = await anon.get("/alice/open/blob/main/README.md")
    expect(file.status).toBe(200)
    expect(file.text).toContain('id="L2"')
    expectInert(file.text)
  })

  it("renders an issue comment with script and javascript: links inert", async () => {
    const made = await aliceWeb.post("/alice/open/issues", {
      title: "<b>bold</b> title",
      body: EVIL,
    })
    expect(made.status).toBe(303)
    const number = /\/issues\/(\d+)$/.exec(made.location ?? "")?.[1]
    expect(number).toBeDefined()
    const commented = await bobWeb.post(`/alice/open/issues/${number}/comment`, {
      body: EVIL,
      action: "comment",
    })
    expect(commented.status).toBe(303)
    const page = await anon.get(`/alice/open/issues/${number}`)
    expect(page.status).toBe(200)
    expect(page.text).toContain("&lt;b&gt;bold&lt;/b&gt; title")
    expect(page.text).toContain("bob")
    expectInert(page.text)
  })

  it("refuses a POST without the CSRF token with a 403 page that says why, changing nothing", async () => {
    const before = await alice("GET", "/repos/alice/open/issues?state=all")
    const res = await aliceWeb.post("/alice/open/issues", { title: "forged" }, { csrf: false })
    expect(res.status).toBe(403)
    expect(res.text).toContain("CSRF")
    const wrong = await aliceWeb.post("/alice/open/issues", {
      title: "forged",
      _csrf: "0".repeat(64),
    })
    expect(wrong.status).toBe(403)
    // Another session's token does not work either.
    const bobs = await bobWeb.csrf()
    expect(
      (await aliceWeb.post("/alice/open/issues", { title: "forged", _csrf: bobs })).status,
    ).toBe(403)
    const after = await alice("GET", "/repos/alice/open/issues?state=all")
    expect(after.body.length).toBe(before.body.length)
    // The sign-in form without its double-submit value is refused too.
    const signin = await webClient(node.url).post("/-/signin", { token: "x" }, { csrf: false })
    expect(signin.status).toBe(403)
  })

  it("never shows a private repository to outsiders", async () => {
    for (const client of [anon, bobWeb]) {
      for (const path of ["/", "/?q=hidden", "/?q=secret", "/alice"]) {
        const page = await client.get(path)
        expect(page.status).toBe(200)
        expect(page.text).not.toContain("hidden-gem")
        expect(page.text).not.toContain("secret stuff")
      }
      for (const path of [
        "/alice/hidden-gem",
        "/alice/hidden-gem/tree/main",
        "/alice/hidden-gem/blob/main/README.md",
        "/alice/hidden-gem/-/raw/main/README.md",
        "/alice/hidden-gem/issues",
        "/alice/hidden-gem/pulls",
        "/alice/hidden-gem/commits",
        "/alice/hidden-gem/settings",
      ]) {
        const page = await client.get(path)
        expect(page.status, path).toBe(404)
        expect(page.text).not.toContain("secret stuff")
      }
    }
    // Its owner sees it everywhere.
    expect((await aliceWeb.get("/?q=hidden")).text).toContain("hidden-gem")
    expect((await aliceWeb.get("/alice/hidden-gem")).status).toBe(200)
  })

  it("signs in with a password set on the account page, and signing out revokes the session", async () => {
    const set = await aliceWeb.post("/-/account/password", { password: "correct horse battery" })
    expect(set.status).toBe(303)
    const short = await aliceWeb.post("/-/account/password", { password: "short" })
    expect(short.status).toBe(422)
    const fresh = webClient(node.url)
    const form = await fresh.get("/-/signin")
    const nonce = /name="_signin" value="([0-9a-f]+)"/.exec(form.text)![1]!
    const bad = await fresh.post(
      "/-/signin",
      { _signin: nonce, login: "alice", password: "wrong password" },
      { csrf: false },
    )
    expect(bad.status).toBe(401)
    expect(bad.text).toContain("Incorrect username or password")
    const good = await fresh.post(
      "/-/signin",
      { _signin: nonce, login: "alice", password: "correct horse battery" },
      { csrf: false },
    )
    expect(good.status).toBe(303)
    const session = fresh.cookies.get("guts_session")!
    expect((await fresh.get("/")).text).toContain('href="/alice"')
    // The session is a real token: the API accepts it, until sign-out revokes it.
    expect((await apiClient(node.url, session)("GET", "/user")).body.login).toBe("alice")
    expect((await fresh.post("/-/signout", {})).status).toBe(303)
    expect((await apiClient(node.url, session)("GET", "/user")).status).toBe(401)
  })

  it("keeps passwords hashed: Apply refuses anything but a scrypt hash, REST refuses short ones", async () => {
    const ledger = await node.run!(Ledger)
    const outcome = await node.run!(
      ledger.submit(
        SetPassword.make({
          submitter: SYSTEM_USER,
          idempotencyKey: randomUUID(),
          user: "alice",
          hash: "hunter2 in plain text",
        }),
      ),
    )
    expect(outcome._tag).toBe("Rejected")
    const admin = apiClient(node.url, node.token)
    const short = await admin("POST", "/admin/users", { login: "dave", password: "abc" })
    expect(short.status).toBe(422)
    expect(JSON.stringify(short.body)).toContain("at least 8 characters")
    expect((await admin("GET", "/users/dave")).status).toBe(404)
  })

  it("gives every form control a label, and every page its landmarks", async () => {
    const pages: Array<[WebClient, string]> = [
      [anon, "/-/signin"],
      [anon, "/"],
      [aliceWeb, "/-/new"],
      [aliceWeb, "/-/account"],
      [aliceWeb, "/alice/open"],
      [aliceWeb, "/alice/open/issues"],
      [aliceWeb, "/alice/open/issues/new"],
      [aliceWeb, "/alice/open/issues/1"],
      [aliceWeb, "/alice/open/settings"],
      [aliceWeb, "/alice/open/pulls"],
      [aliceWeb, "/alice/open/pulls/new"],
      [aliceWeb, "/alice/open/commits"],
      [aliceWeb, "/alice/open/blob/main/README.md"],
      [anon, "/-/cluster"],
    ]
    for (const [client, path] of pages) {
      const { text, status } = await client.get(path)
      expect(status, path).toBe(200)
      for (const landmark of ["<header", "<nav", "<main", "<footer", 'class="skip"'])
        expect(text, `${path} ${landmark}`).toContain(landmark)
      const labelled = new Set([...text.matchAll(/<label[^>]*\bfor="([^"]+)"/g)].map((m) => m[1]))
      for (const m of text.matchAll(/<(input|select|textarea)\b([^>]*)>/g)) {
        const attrs = m[2]!
        if (/type="hidden"/.test(attrs)) continue
        const id = /\bid="([^"]+)"/.exec(attrs)?.[1]
        expect(id && labelled.has(id), `${path}: ${m[0]} has no label`).toBe(true)
      }
    }
  })

  it("renders the consensus dashboard from what the node knows", async () => {
    const health = (await (await fetch(`${node.url}/health/ready`)).json()) as {
      checks: { height: number }
    }
    const page = await anon.get("/-/cluster")
    expect(page.status).toBe(200)
    const shown = Number(/id="stat-height">(\d+)</.exec(page.text)?.[1])
    expect(shown).toBeGreaterThanOrEqual(health.checks.height)
    expect(page.text).toContain("single validator")
    expect(page.text).toContain("Mempool")
    expect(page.text).toContain('src="/-/static/cluster.js"')
    const fragment = await anon.get("/-/cluster?fragment=1")
    expect(fragment.text).toContain('id="stat-height"')
    expect(fragment.text).not.toContain("<html")
  })

  it("signs people up with a password where registration is open, and nowhere else", async () => {
    expect((await anon.get("/-/signup")).status).toBe(403)
    const open = await startNode({ storage: "memory", config: { registration: "open" } })
    try {
      const web = webClient(open.url)
      const form = await web.get("/-/signup")
      expect(form.status).toBe(200)
      const nonce = /name="_signin" value="([0-9a-f]+)"/.exec(form.text)![1]!
      // A bad password loses nothing: no account is created.
      const short = await web.post(
        "/-/signup",
        { _signin: nonce, login: "carol", password: "short" },
        { csrf: false },
      )
      expect(short.status).toBe(422)
      expect((await apiClient(open.url)("GET", "/users/carol")).status).toBe(404)
      const made = await web.post(
        "/-/signup",
        { _signin: nonce, login: "carol", password: "carol-password-1" },
        { csrf: false },
      )
      expect(made.status).toBe(303)
      expect(made.location).toBe("/carol")
      expect((await web.get("/carol")).text).toContain('href="/-/account"')
      // The password works from a fresh browser.
      const other = webClient(open.url)
      const n2 = /name="_signin" value="([0-9a-f]+)"/.exec((await other.get("/-/signin")).text)![1]!
      const signed = await other.post(
        "/-/signin",
        { _signin: n2, login: "carol", password: "carol-password-1" },
        { csrf: false },
      )
      expect(signed.status).toBe(303)
    } finally {
      await open.close()
    }
  })

  it("shows releases with their assets, and webhooks with their delivery log", async () => {
    const rel = await alice("POST", "/repos/alice/open/releases", {
      tag_name: "v1.0.0",
      name: "First release",
      body: "It **works**",
    })
    expect(rel.status).toBe(201)
    const up = await fetch(
      `${node.url}/api/uploads/repos/alice/open/releases/${rel.body.id}/assets?name=tool.bin`,
      {
        method: "POST",
        headers: {
          authorization: `Bearer ${aliceToken}`,
          "content-type": "application/octet-stream",
        },
        body: Buffer.from("binary bytes"),
      },
    )
    expect(up.status).toBe(201)
    const releases = await anon.get("/alice/open/releases")
    expect(releases.text).toContain("First release")
    expect(releases.text).toContain("<strong>works</strong>")
    expect(releases.text).toContain('href="/alice/open/releases/download/v1.0.0/tool.bin"')

    // A webhook added in settings receives an event, and its page lists the delivery.
    const received: string[] = []
    const sink = http.createServer((req, res) => {
      received.push(String(req.headers["x-github-event"]))
      res.writeHead(200)
      res.end("ok")
    })
    await new Promise<void>((r) => sink.listen(0, "127.0.0.1", r))
    try {
      const port = (sink.address() as { port: number }).port
      const added = await aliceWeb.post("/alice/open/settings/hooks", {
        url: `http://127.0.0.1:${port}/hook`,
        events: "issues",
      })
      expect(added.status).toBe(303)
      // Only admins see settings; bob gets a 404, not a hint.
      expect((await bobWeb.get("/alice/open/settings")).status).toBe(404)
      const settings = await aliceWeb.get("/alice/open/settings")
      const hookPath = /href="(\/alice\/open\/settings\/hooks\/\d+)"/.exec(settings.text)?.[1]
      expect(hookPath).toBeDefined()
      expect((await aliceWeb.post("/alice/open/issues", { title: "ping the hook" })).status).toBe(
        303,
      )
      await expect.poll(() => received.includes("issues"), { timeout: 10_000 }).toBe(true)
      await expect
        .poll(async () => (await aliceWeb.get(hookPath!)).text, { timeout: 10_000 })
        .toContain("issues.opened")
    } finally {
      sink.close()
    }
  })

  it("lets an organisation owner create a team and add a member from the organisation page", async () => {
    expect(
      (await alice("POST", "/admin/organizations", { login: "acme", admin: "alice" })).status,
    ).toBe(201)
    const org = await aliceWeb.get("/acme")
    expect(org.text).toContain("New team name")
    expect((await bobWeb.get("/acme")).text).not.toContain("New team name")
    const made = await aliceWeb.post("/acme/-/teams", { name: "Core Devs", privacy: "closed" })
    expect(made.status).toBe(303)
    expect(made.location).toBe("/acme/-/teams/core-devs")
    expect((await alice("PUT", "/orgs/acme/memberships/bob", { role: "member" })).status).toBe(200)
    const added = await aliceWeb.post("/acme/-/teams/core-devs/members", {
      user: "bob",
      role: "member",
    })
    expect(added.status).toBe(303)
    const team = await bobWeb.get("/acme/-/teams/core-devs")
    expect(team.status).toBe(200)
    expect(team.text).toContain('href="/bob"')
    // Bob is not an owner: his forged POST is refused by Identity, whatever the form says.
    expect((await bobWeb.post("/acme/-/teams", { name: "Mine" })).status).toBe(403)
  })

  it("lists commits, shows a commit's diff unified and split, and compares two commits", async () => {
    const before = (await alice("GET", "/repos/alice/open/commits")).body[0].sha as string
    const readme = await alice("GET", "/repos/alice/open/contents/README.md")
    const put = await alice("PUT", "/repos/alice/open/contents/README.md", {
      message: "Say goodbye <b>loudly</b>",
      content: Buffer.from(`${EVIL}\nGoodbye\n`).toString("base64"),
      sha: readme.body.sha,
      branch: "main",
    })
    expect(put.status).toBe(200)
    const after = put.body.commit.sha as string
    const list = await anon.get("/alice/open/commits")
    expect(list.text).toContain(`href="/alice/open/commit/${after}"`)
    expect(list.text).toContain(`href="/alice/open/commit/${before}"`)
    expect(list.text).toContain("Say goodbye &lt;b&gt;loudly&lt;/b&gt;")
    const unified = await anon.get(`/alice/open/commit/${after}`)
    expect(unified.status).toBe(200)
    expect(unified.text).toMatch(
      /<tr class="add"><td class="ln"><\/td><td class="ln">\d+<\/td><td class="lc">Goodbye<\/td>/,
    )
    expectInert(unified.text)
    const split = await anon.get(`/alice/open/commit/${after}?diff=split`)
    expect(split.text).toContain('class="half add">Goodbye<')
    const compare = await anon.get(`/alice/open/compare/${before}...main`)
    expect(compare.status).toBe(200)
    expect(compare.text).toContain("1 commit ahead, 0 behind")
    expect(compare.text).toContain("Goodbye")
  })

  it("creates a repository from the web form", async () => {
    const res = await aliceWeb.post("/-/new", {
      name: "from-web",
      description: "made in a browser",
      visibility: "public",
    })
    expect(res.status).toBe(303)
    expect(res.location).toBe("/alice/from-web")
    const home = await aliceWeb.get("/alice/from-web")
    expect(home.text).toContain("This repository is empty")
    const dup = await aliceWeb.post("/-/new", { name: "from-web" })
    expect(dup.status).toBe(422)
  })
})
