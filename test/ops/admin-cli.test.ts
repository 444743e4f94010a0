/**
 * `guts admin create-user` and `guts admin create-token` as an operator runs them: the CLI
 * from the build against a `guts node` process, over its REST API. What they create is
 * checked through the API; every refusal must say what went wrong and what to do.
 */
import { spawn } from "node:child_process"
import * as path from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type NodeProcess, spawnNode } from "../support/TestNode.ts"
import { webClient } from "../web/WebClient.ts"

const root = path.resolve(import.meta.dirname, "../..")

/** Runs `guts admin ...args` from the build, with `input` on standard input. */
const admin = (args: ReadonlyArray<string>, input = "") =>
  new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
    const clean = Object.fromEntries(
      Object.entries(process.env).filter(([k]) => !k.startsWith("GUTS_")),
    )
    const child = spawn(process.execPath, ["dist/programs/main.js", "admin", ...args], {
      cwd: root,
      env: { ...clean, NO_COLOR: "1" },
      stdio: ["pipe", "pipe", "pipe"],
    })
    let stdout = ""
    let stderr = ""
    child.stdout.on("data", (d) => (stdout += d))
    child.stderr.on("data", (d) => (stderr += d))
    child.once("error", reject)
    child.once("exit", (code) => resolve({ code, stdout, stderr }))
    child.stdin.end(input)
  })

let node: NodeProcess
const api = (p: string, token: string, body?: unknown) =>
  fetch(`${node.url}/api${p}`, {
    method: body === undefined ? "GET" : "POST",
    headers: { authorization: `token ${token}`, "content-type": "application/json" },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  })

beforeAll(async () => {
  node = await spawnNode({ extraArgs: ["--storage", "memory"] })
}, 60_000)

afterAll(async () => {
  await node?.close()
})

describe("guts admin create-user", () => {
  it("creates a site administrator with an email and a password read from stdin", async () => {
    const r = await admin(
      [
        "create-user",
        `--url=${node.url}`,
        `--token=${node.token}`,
        "--login=carol",
        "--email=carol@example.org",
        "--site-admin",
        "--password-stdin",
      ],
      "correct horse battery\n",
    )
    expect(r.stderr).toBe("")
    expect(r.code).toBe(0)
    expect(r.stdout).toMatch(
      /^created user carol \(id \d+, site administrator, with a password\)$/m,
    )
    const user = (await (await api("/users/carol", node.token)).json()) as Record<string, unknown>
    expect(user).toMatchObject({ login: "carol", site_admin: true, email: "carol@example.org" })
    // The password (without its line break) signs carol in on the web.
    const web = webClient(node.url)
    const form = await web.get("/-/signin")
    const nonce = /name="_signin" value="([0-9a-f]+)"/.exec(form.text)![1]!
    const signin = await web.post(
      "/-/signin",
      { _signin: nonce, login: "carol", password: "correct horse battery" },
      { csrf: false },
    )
    expect(signin.status).toBe(303)
  })

  it("explains a login that is taken (422), and changes nothing", async () => {
    const r = await admin([
      "create-user",
      `--url=${node.url}`,
      `--token=${node.token}`,
      "--login=carol",
    ])
    expect(r.code).toBe(1)
    expect(r.stdout).toBe("")
    expect(r.stderr).toContain("login carol is taken (422): choose another --login")
    const user = (await (await api("/users/carol", node.token)).json()) as Record<string, unknown>
    expect(user.site_admin).toBe(true)
  })

  it("explains a token the node does not accept (401) and one without admin rights (403)", async () => {
    // alice is an ordinary user with her own token.
    expect((await api("/admin/users", node.token, { login: "alice" })).status).toBe(201)
    const mint = await api("/admin/users/alice/tokens", node.token, { scopes: ["repo"] })
    const { token } = (await mint.json()) as { token: string }
    const [bad, weak] = await Promise.all([
      admin(["create-user", `--url=${node.url}`, "--token=guts_0000", "--login=bob"]),
      admin(["create-user", `--url=${node.url}`, `--token=${token}`, "--login=bob"]),
    ])
    expect(bad.code).toBe(1)
    expect(bad.stderr).toContain("the node does not accept this token (401")
    expect(bad.stderr).toContain("give a valid site administrator token with --token or GUTS_TOKEN")
    expect(weak.code).toBe(1)
    expect(weak.stderr).toContain("403 only administrators can create users")
    expect(weak.stderr).toContain("use a site administrator's token")
    expect((await api("/users/bob", node.token)).status).toBe(404)
  })

  it("refuses --password-stdin with nothing on stdin, before asking the node", async () => {
    const r = await admin(
      [
        "create-user",
        `--url=${node.url}`,
        `--token=${node.token}`,
        "--login=dave",
        "--password-stdin",
      ],
      "",
    )
    expect(r.code).toBe(1)
    expect(r.stderr).toContain("standard input is empty; pipe the password in")
    expect((await api("/users/dave", node.token)).status).toBe(404)
  })

  it("explains every flag in --help", async () => {
    const r = await admin(["create-user", "--help"])
    expect(r.code).toBe(0)
    for (const text of [
      "--login",
      "the new user's login",
      "--email",
      "--site-admin",
      "make the user a site administrator",
      "--password-stdin",
      "read a password for web sign-in from standard input",
      "--token",
      "a site administrator's API token",
    ])
      expect(r.stdout).toContain(text)
  })
})

describe("guts admin create-token", () => {
  it("prints the token alone on stdout, once; it works with the scopes and expiry asked", async () => {
    expect((await api("/admin/users", node.token, { login: "erin" })).status).toBe(201)
    const r = await admin([
      "create-token",
      `--url=${node.url}`,
      `--token=${node.token}`,
      "--user=erin",
      "--scopes=repo,workflow",
      "--note=deploy bot",
      "--expires-days=30",
    ])
    expect(r.code).toBe(0)
    expect(r.stdout).toMatch(/^guts_[0-9a-f]+\n$/)
    expect(r.stderr).toContain("shown only this once")
    const token = r.stdout.trim()
    const me = await api("/user", token)
    expect(me.status).toBe(200)
    expect(((await me.json()) as { login: string }).login).toBe("erin")
    expect(me.headers.get("x-oauth-scopes")?.split(/,\s*/).sort()).toEqual(["repo", "workflow"])
    const tokens = (await (await api("/user/tokens", token)).json()) as Array<{
      note: string
      expires_at: string | null
    }>
    const made = tokens.find((t) => t.note === "deploy bot")
    expect(made).toBeDefined()
    const days = (Date.parse(made!.expires_at!) - Date.now()) / 86_400_000
    expect(days).toBeGreaterThan(29.9)
    expect(days).toBeLessThan(30.1)
  })

  it("explains a user that does not exist (404) and refuses unknown scopes itself", async () => {
    const [missing, unknown] = await Promise.all([
      admin([
        "create-token",
        `--url=${node.url}`,
        `--token=${node.token}`,
        "--user=nobody",
        "--scopes=repo",
      ]),
      admin([
        "create-token",
        `--url=${node.url}`,
        `--token=${node.token}`,
        "--user=erin",
        "--scopes=repo,everything",
      ]),
    ])
    expect(missing.code).toBe(1)
    expect(missing.stdout).toBe("")
    expect(missing.stderr).toContain("user nobody does not exist (404)")
    expect(missing.stderr).toContain("guts admin create-user --login nobody")
    expect(unknown.code).toBe(1)
    expect(unknown.stderr).toContain("unknown scope(s) everything in --scopes; known: repo,")
  })

  it("explains every flag in --help", async () => {
    const r = await admin(["create-token", "--help"])
    expect(r.code).toBe(0)
    for (const text of [
      "--user",
      "the login of the user the token is for",
      "--scopes",
      "comma-separated scopes",
      "--note",
      "--expires-days",
      "days until the token stops working",
    ])
      expect(r.stdout).toContain(text)
  })
})
