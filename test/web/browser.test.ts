/**
 * The web interface in a real browser (the machine's Chromium, driven by playwright-core)
 * against a spawned `guts node`: sign in with a password, create a repository with the
 * web form, push to it with the real git binary, browse the tree, open a file, protect
 * the branch and add a collaborator in settings, open a pull request from a pushed branch,
 * comment on a diff line, approve as a second user, merge, and see the merged state; then
 * watch the consensus dashboard follow a new block live.
 * Every step asserts what the page shows; screenshots go to test-results/screenshots/.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { type BrowserContext, chromium, type Locator, type Page } from "playwright-core"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { apiClient } from "../support/Api.ts"
import { git } from "../support/Git.ts"
import { type NodeProcess, spawnNode, tempDir } from "../support/TestNode.ts"

const CHROMIUM = process.env.GUTS_CHROMIUM ?? "/usr/bin/chromium"
const SHOTS = path.resolve(import.meta.dirname, "../../test-results/screenshots")

let node: NodeProcess
let context: BrowserContext
let page: Page
let aliceToken: string

const shot = async (name: string) => {
  await page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true })
}

/** Waits until the element is shown (fails after the page's default timeout). */
const visible = (l: Locator) => l.first().waitFor({ state: "visible" })

/** Waits until the element's text contains `text`. */
const hasText = async (l: Locator, text: string) => {
  await visible(l)
  await expect
    .poll(async () => (await l.first().textContent()) ?? "", { timeout: 10_000 })
    .toContain(text)
}

const signIn = async (login: string, password: string) => {
  await page.goto(`${node.url}/-/signin`)
  await page.getByLabel("Username").fill(login)
  await page.getByLabel("Password", { exact: true }).fill(password)
  await page.getByRole("button", { name: "Sign in", exact: true }).click()
  await visible(page.getByRole("link", { name: login, exact: true }))
}

const signOut = async () => {
  await page.getByRole("button", { name: "Sign out" }).click()
  await visible(page.getByRole("link", { name: "Sign in" }))
}

beforeAll(async () => {
  if (!fs.existsSync(CHROMIUM))
    throw new Error(
      `Chromium not found at ${CHROMIUM}: run \`apt-get install chromium\` (or point GUTS_CHROMIUM at a Chromium binary)`,
    )
  fs.mkdirSync(SHOTS, { recursive: true })
  node = await spawnNode()
  const admin = apiClient(node.url, node.token)
  for (const login of ["alice", "bob"]) {
    const u = await admin("POST", "/admin/users", {
      login,
      email: `${login}@example.test`,
      password: `${login}-password-1`,
    })
    expect(u.status).toBe(201)
  }
  const t = await admin("POST", "/admin/users/alice/tokens", { scopes: ["repo"], note: "git" })
  expect(t.status).toBe(201)
  aliceToken = t.body.token
  context = await chromium.launchPersistentContext(tempDir("chromium"), {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
    viewport: { width: 1100, height: 800 },
  })
  page = context.pages()[0] ?? (await context.newPage())
  page.setDefaultTimeout(15_000)
}, 90_000)

afterAll(async () => {
  await context?.close()
  await node?.close()
})

describe("the web interface in a browser", () => {
  it("takes a change from push to merged pull request", async () => {
    // Sign in with a password.
    await signIn("alice", "alice-password-1")
    await shot("01-signed-in")

    // Create a repository with the web form.
    await page.getByRole("link", { name: "New repository" }).click()
    await page.getByLabel("Repository name").fill("demo")
    await page.getByLabel("Description (optional)").fill("A demo repository")
    await page.getByRole("button", { name: "Create repository" }).click()
    await page.waitForURL(`${node.url}/alice/demo`)
    await visible(page.getByText("This repository is empty"))
    await shot("02-empty-repository")

    // Push with the real git binary: main, then a feature branch.
    const work = tempDir("browser-git")
    const remote = `http://alice:${aliceToken}@127.0.0.1:${new URL(node.url).port}/alice/demo.git`
    await git(work, ["init", "-q", "-b", "main"])
    fs.writeFileSync(path.join(work, "README.md"), "# Demo\n\nHello from **git**.\n")
    fs.mkdirSync(path.join(work, "src"))
    const lines = Array.from({ length: 30 }, (_, i) => `export const value${i + 1} = ${i + 1}`)
    fs.writeFileSync(path.join(work, "src", "values.ts"), `${lines.join("\n")}\n`)
    await git(work, ["add", "."])
    await git(work, ["commit", "-q", "-m", "First commit"])
    await git(work, ["push", "-q", remote, "main"])
    await git(work, ["checkout", "-q", "-b", "feature"])
    lines[9] = "export const value10 = 100 // changed"
    fs.writeFileSync(path.join(work, "src", "values.ts"), `${lines.join("\n")}\n`)
    await git(work, ["commit", "-q", "-am", "Change value10"])
    await git(work, ["push", "-q", remote, "feature"])

    // Browse the tree: the README is rendered, the files are listed.
    await page.goto(`${node.url}/alice/demo`)
    await visible(page.getByRole("heading", { name: "README.md" }))
    await visible(page.getByText("Hello from"))
    await page.getByRole("link", { name: "src", exact: true }).click()
    await page.waitForURL(/\/alice\/demo\/tree\/main\/src$/)
    await shot("03-tree")

    // Open a file: line numbers with anchors; a range in the URL highlights its lines.
    await page.getByRole("link", { name: "values.ts" }).click()
    await page.waitForURL(/\/blob\/main\/src\/values\.ts$/)
    await hasText(page.locator("#L10"), "export const value10 = 10")
    await page.goto(`${page.url()}#L3-L5`)
    await expect.poll(() => page.locator("tr.hl").count()).toBe(3)
    await shot("04-file")

    // Settings: bob becomes a collaborator, main needs one approval.
    await page.goto(`${node.url}/alice/demo/settings`)
    await page.getByLabel("Add a collaborator (username)").fill("bob")
    await page.getByRole("button", { name: "Add collaborator" }).click()
    await visible(page.getByRole("link", { name: "bob", exact: true }))
    await page.getByLabel("Required approvals (0–6)").fill("1")
    await page.getByRole("button", { name: "Protect branch" }).click()
    await visible(page.getByText("1 approval(s) required"))
    await shot("05-settings")

    // Open a pull request from the pushed branch.
    await page.goto(`${node.url}/alice/demo/pulls`)
    await page.getByRole("link", { name: "New pull request" }).click()
    await page.getByLabel("Base branch (merge into)").selectOption("main")
    await page.getByLabel("Head branch (your changes)").selectOption("feature")
    await page.getByLabel("Title").fill("Change value10")
    await page.getByLabel("Description").fill("Makes value10 a hundred.")
    await page.getByRole("button", { name: "Create pull request" }).click()
    await page.waitForURL(/\/alice\/demo\/pull\/1$/)
    await visible(page.getByRole("heading", { name: /Change value10/ }))
    await hasText(page.locator(".merge-box"), "Merging is blocked")
    await hasText(page.locator(".merge-box"), "0 of 1 required")
    await shot("06-pull-request")

    // Comment on a diff line.
    await page.getByRole("link", { name: /Files changed/ }).click()
    await hasText(page.locator("table.diff"), "value10 = 100")
    await page
      .locator('summary[aria-label="Open a comment form for src/values.ts line 10"]')
      .click()
    await page
      .getByLabel("Comment on src/values.ts line 10", { exact: true })
      .fill("Is 100 the right value?")
    await page.locator("details[open]").getByRole("button", { name: "Add comment" }).click()
    await hasText(page.locator(".review-comment"), "Is 100 the right value?")
    await shot("07-diff-comment")
    await signOut()

    // Approve as a second user.
    await signIn("bob", "bob-password-1")
    await page.goto(`${node.url}/alice/demo/pull/1`)
    await page.getByLabel("Review comment").fill("Looks good to me.")
    await page.getByLabel("Approve").check()
    await page.getByRole("button", { name: "Submit review" }).click()
    await visible(page.getByText("approved these changes"))
    await hasText(page.locator(".merge-box"), "Ready to merge")
    await shot("08-approved")
    await signOut()

    // Merge as the author, and see the merged state.
    await signIn("alice", "alice-password-1")
    await page.goto(`${node.url}/alice/demo/pull/1`)
    await hasText(page.locator(".merge-box"), "1 of 1 required (bob)")
    await page.getByLabel("Merge method").selectOption("squash")
    await page.getByRole("button", { name: "Merge pull request" }).click()
    await visible(page.locator(".state.merged"))
    await hasText(page.locator(".merged-note"), "was merged into main")
    await shot("09-merged")

    // The change is on main now.
    await page.goto(`${node.url}/alice/demo/blob/main/src/values.ts#L10`)
    await hasText(page.locator("#L10"), "value10 = 100")
    // Blame: line 10 comes from the merge, line 1 from the first commit.
    await page.getByRole("link", { name: "Blame" }).click()
    await page.waitForURL(/\/blame\/main\/src\/values\.ts$/)
    const first = await page.locator("#L1 td.blame a").textContent()
    const tenth = await page.locator("#L10 td.blame a").textContent()
    expect(first).toMatch(/^[0-9a-f]{7}$/)
    expect(tenth).toMatch(/^[0-9a-f]{7}$/)
    expect(tenth).not.toBe(first)
    await hasText(page.locator("#L10"), "value10 = 100")
    await shot("10a-blame")
    await page.goto(`${node.url}/alice/demo/pulls?state=closed`)
    await visible(page.getByRole("link", { name: "Change value10" }))
    await shot("10-closed-pulls")

    // The consensus dashboard renders on the server and follows new blocks over /ws.
    await page.goto(`${node.url}/-/cluster`)
    await hasText(page.locator("#live-status"), "Live")
    const before = Number(await page.locator("#stat-height").textContent())
    expect(before).toBeGreaterThan(0)
    const api = apiClient(node.url, aliceToken)
    expect((await api("POST", "/repos/alice/demo/issues", { title: "a new block" })).status).toBe(
      201,
    )
    await expect
      .poll(async () => Number(await page.locator("#stat-height").textContent()), {
        timeout: 10_000,
      })
      .toBeGreaterThan(before)
    await shot("11-cluster")

    // At a phone's width (360 px) nothing makes the page scroll sideways.
    await page.setViewportSize({ width: 360, height: 740 })
    for (const path of [
      "/alice/demo",
      "/alice/demo/pull/1/files",
      "/alice/demo/blob/main/src/values.ts",
    ]) {
      await page.goto(`${node.url}${path}`)
      expect(await page.evaluate("document.documentElement.scrollWidth"), path).toBeLessThanOrEqual(
        360,
      )
    }
    await shot("12-narrow-file")
  }, 120_000)
})
