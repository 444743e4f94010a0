/**
 * GitHub compatibility, judged by GitHub's own client: `@octokit/rest`, unpatched, with only
 * its `baseUrl` pointed at a running node, drives a realistic session — an organisation and
 * a repository, a push with git, branches and commits listed, files created and changed through the contents API, a pull
 * request reviewed and merged, issues and comments paged with Octokit's paginator, a release
 * with an uploaded and downloaded asset, commit statuses and the combined status.
 */
import * as path from "node:path"
import { Octokit } from "@octokit/rest"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { apiClient, makeUser } from "../support/Api.ts"
import { authUrl, commitAll, git, initRepo, write } from "../support/Git.ts"
import { type RunningNode, startNode, tempDir } from "../support/TestNode.ts"

let node: RunningNode
let maya: Octokit
let nick: Octokit
let mayaToken: string
let work: string

beforeAll(async () => {
  node = await startNode({ storage: "memory" })
  const admin = apiClient(node.url, node.token)
  const m = await makeUser(admin, "maya", ["repo", "admin:org", "user"])
  const n = await makeUser(admin, "nick", ["repo"])
  mayaToken = m.token
  const make = (token: string) =>
    new Octokit({
      auth: token,
      baseUrl: `${node.url}/api`,
      log: { debug() {}, info() {}, warn() {}, error() {} },
    })
  maya = make(m.token)
  nick = make(n.token)
})
afterAll(async () => {
  await node?.close()
})

describe("a session with @octokit/rest", () => {
  it("reads the authenticated user", async () => {
    const { data, headers } = await maya.rest.users.getAuthenticated()
    expect(data.login).toBe("maya")
    expect(headers["x-ratelimit-limit"]).toBe("5000")
  })

  it("creates an organisation repository and pushes to it with git", async () => {
    const org = await maya.request("POST /user/orgs", { login: "studio" } as never)
    expect(org.status).toBe(201)
    const { data: repo } = await maya.rest.repos.createInOrg({
      org: "studio",
      name: "site",
      description: "our site",
    })
    expect(repo.full_name).toBe("studio/site")
    expect(repo.owner.type).toBe("Organization")
    await maya.rest.repos.addCollaborator({
      owner: "studio",
      repo: "site",
      username: "nick",
      permission: "push",
    })
    const { data: perm } = await nick.rest.repos.getCollaboratorPermissionLevel({
      owner: "studio",
      repo: "site",
      username: "nick",
    })
    expect(perm.role_name).toBe("write")
    work = await initRepo(path.join(tempDir("octokit"), "w"))
    write(work, "index.html", "<h1>hello</h1>\n")
    await commitAll(work, "first page", 1)
    await git(work, ["push", "-q", authUrl(`${node.url}/studio/site.git`, mayaToken), "main"])
    const { data: again } = await maya.rest.repos.get({ owner: "studio", repo: "site" })
    expect(again.pushed_at).not.toBeNull()
    const { data: branches } = await nick.rest.repos.listBranches({ owner: "studio", repo: "site" })
    expect(branches.map((b) => b.name)).toEqual(["main"])
    const { data: commits } = await nick.rest.repos.listCommits({ owner: "studio", repo: "site" })
    expect(commits.map((c) => c.commit.message)).toEqual(["first page"])
    expect(commits[0]!.sha).toBe((await git(work, ["rev-parse", "HEAD"])).trim())
  })

  it("creates and updates a file through the contents API, as a commit on the branch", async () => {
    const created = await maya.rest.repos.createOrUpdateFileContents({
      owner: "studio",
      repo: "site",
      path: "docs/about.md",
      message: "Add about page",
      content: Buffer.from("# About\n").toString("base64"),
      committer: { name: "Maya", email: "maya@example.test" },
    })
    expect(created.status).toBe(201)
    const blobSha = created.data.content!.sha!
    const updated = await maya.rest.repos.createOrUpdateFileContents({
      owner: "studio",
      repo: "site",
      path: "docs/about.md",
      message: "Expand about page",
      content: Buffer.from("# About\n\nWe make sites.\n").toString("base64"),
      sha: blobSha,
    })
    expect(updated.status).toBe(200)
    await expect(
      maya.rest.repos.createOrUpdateFileContents({
        owner: "studio",
        repo: "site",
        path: "docs/about.md",
        message: "stale",
        content: Buffer.from("x").toString("base64"),
        sha: blobSha,
      }),
    ).rejects.toMatchObject({ status: 409 })
    await git(work, ["pull", "-q", authUrl(`${node.url}/studio/site.git`, mayaToken), "main"])
    expect((await git(work, ["show", "HEAD:docs/about.md"])).trim()).toBe(
      "# About\n\nWe make sites.",
    )
    expect((await git(work, ["log", "-2", "--format=%s|%cn"])).trim().split("\n")).toEqual([
      "Expand about page|maya",
      "Add about page|Maya",
    ])
  })

  it("opens, reviews and merges a pull request", async () => {
    await git(work, ["checkout", "-q", "-b", "contact"])
    write(work, "contact.html", "<p>mail us</p>\n")
    await commitAll(work, "contact page", 2)
    await git(work, ["push", "-q", authUrl(`${node.url}/studio/site.git`, mayaToken), "contact"])
    const { data: pr } = await nick.rest.pulls.create({
      owner: "studio",
      repo: "site",
      title: "Contact page",
      head: "contact",
      base: "main",
    })
    expect(pr.mergeable).toBe(true)
    await maya.rest.teams.create({ org: "studio", name: "Web" })
    const { data: requested } = await nick.rest.pulls.requestReviewers({
      owner: "studio",
      repo: "site",
      pull_number: pr.number,
      reviewers: ["maya"],
      team_reviewers: ["web"],
    })
    expect(requested.requested_reviewers?.map((u) => u.login)).toEqual(["maya"])
    expect(requested.requested_teams?.map((t) => t.slug)).toEqual(["web"])
    const { data: files } = await maya.rest.pulls.listFiles({
      owner: "studio",
      repo: "site",
      pull_number: pr.number,
    })
    expect(files.map((f) => f.filename)).toEqual(["contact.html"])
    await expect(
      nick.rest.pulls.createReview({
        owner: "studio",
        repo: "site",
        pull_number: pr.number,
        event: "APPROVE",
      }),
    ).rejects.toMatchObject({ status: 422 })
    const { data: review } = await maya.rest.pulls.createReview({
      owner: "studio",
      repo: "site",
      pull_number: pr.number,
      event: "APPROVE",
    })
    expect(review.state).toBe("APPROVED")
    const { data: merged } = await maya.rest.pulls.merge({
      owner: "studio",
      repo: "site",
      pull_number: pr.number,
      merge_method: "squash",
    })
    expect(merged.merged).toBe(true)
    const { data: after } = await maya.rest.pulls.get({
      owner: "studio",
      repo: "site",
      pull_number: pr.number,
    })
    expect(after).toMatchObject({ merged: true, state: "closed", merge_commit_sha: merged.sha })
  })

  it("files issues and comments, and pages through them with octokit.paginate", async () => {
    for (let i = 1; i <= 45; i++)
      await nick.rest.issues.create({
        owner: "studio",
        repo: "site",
        title: `Bug ${i}`,
        body: "broken",
      })
    const { data: issue } = await maya.rest.issues.create({
      owner: "studio",
      repo: "site",
      title: "Plan",
      labels: ["planning"],
    })
    for (let i = 1; i <= 35; i++)
      await nick.rest.issues.createComment({
        owner: "studio",
        repo: "site",
        issue_number: issue.number,
        body: `idea ${i}`,
      })
    const all = await maya.paginate(maya.rest.issues.listForRepo, {
      owner: "studio",
      repo: "site",
      per_page: 10,
    })
    const numbers = all.map((i) => i.number)
    expect(new Set(numbers).size).toBe(numbers.length)
    expect(all.filter((i) => !i.pull_request)).toHaveLength(46)
    const comments = await maya.paginate(maya.rest.issues.listComments, {
      owner: "studio",
      repo: "site",
      issue_number: issue.number,
      per_page: 10,
    })
    expect(comments.map((c) => c.body)).toEqual(
      Array.from({ length: 35 }, (_, i) => `idea ${i + 1}`),
    )
    const { data: labelled } = await maya.rest.issues.listForRepo({
      owner: "studio",
      repo: "site",
      labels: "planning",
    })
    expect(labelled.map((i) => i.title)).toEqual(["Plan"])
  })

  it("creates a release, uploads an asset and downloads it back", async () => {
    const { data: release } = await maya.rest.repos.createRelease({
      owner: "studio",
      repo: "site",
      tag_name: "v1.0.0",
      name: "First",
      body: "It works",
    })
    expect(release.upload_url).toContain("/releases/")
    const bytes = Buffer.from(Array.from({ length: 70_000 }, (_, i) => i % 251))
    const { data: asset } = await maya.rest.repos.uploadReleaseAsset({
      owner: "studio",
      repo: "site",
      release_id: release.id,
      // GitHub Enterprise's way: uploads go to the server's own upload origin.
      baseUrl: `${node.url}/api/uploads`,
      name: "site.bin",
      data: bytes as unknown as string,
      headers: { "content-type": "application/octet-stream", "content-length": bytes.length },
    })
    expect(asset).toMatchObject({ name: "site.bin", size: bytes.length, state: "uploaded" })
    const download = await maya.request("GET /repos/{owner}/{repo}/releases/assets/{asset_id}", {
      owner: "studio",
      repo: "site",
      asset_id: asset.id,
      headers: { accept: "application/octet-stream" },
    })
    expect(Buffer.from(download.data as unknown as ArrayBuffer).equals(bytes)).toBe(true)
    const browser = await fetch(asset.browser_download_url)
    expect(Buffer.from(await browser.arrayBuffer()).equals(bytes)).toBe(true)
    const { data: latest } = await nick.rest.repos.getLatestRelease({
      owner: "studio",
      repo: "site",
    })
    expect(latest.tag_name).toBe("v1.0.0")
    expect(latest.assets.map((a) => a.name)).toEqual(["site.bin"])
    const tags = await git(work, [
      "ls-remote",
      "--tags",
      authUrl(`${node.url}/studio/site.git`, mayaToken),
    ])
    expect(tags).toContain("refs/tags/v1.0.0")
  })

  it("sets commit statuses and reads the combined status", async () => {
    const { data: main } = await maya.request("GET /repos/{owner}/{repo}/commits/{ref}/status", {
      owner: "studio",
      repo: "site",
      ref: "main",
    })
    const sha = main.sha as string
    await nick.rest.repos.createCommitStatus({
      owner: "studio",
      repo: "site",
      sha,
      state: "pending",
      context: "ci",
    })
    await nick.rest.repos.createCommitStatus({
      owner: "studio",
      repo: "site",
      sha,
      state: "success",
      context: "ci",
    })
    await nick.rest.repos.createCommitStatus({
      owner: "studio",
      repo: "site",
      sha,
      state: "success",
      context: "lint",
    })
    const { data: combined } = await maya.rest.repos.getCombinedStatusForRef({
      owner: "studio",
      repo: "site",
      ref: sha,
    })
    expect(combined.state).toBe("success")
    expect(combined.total_count).toBe(2)
    const { data: list } = await maya.rest.repos.listCommitStatusesForRef({
      owner: "studio",
      repo: "site",
      ref: sha,
    })
    expect(list).toHaveLength(3)
  })

  it("surfaces GitHub's errors: 404 for hidden repositories, 422 with errors for bad input", async () => {
    await maya.rest.repos.createForAuthenticatedUser({ name: "private-notes", private: true })
    await expect(
      nick.rest.repos.get({ owner: "maya", repo: "private-notes" }),
    ).rejects.toMatchObject({ status: 404 })
    await expect(
      maya.rest.issues.createLabel({
        owner: "studio",
        repo: "site",
        name: "x",
        color: "not-a-colour",
      }),
    ).rejects.toMatchObject({ status: 422, response: { data: { errors: [{ field: "color" }] } } })
  })

  it("commits through the git data API: blob, tree, commit, ref", async () => {
    const o = { owner: "studio", repo: "site" }
    const { data: ref } = await maya.rest.git.getRef({ ...o, ref: "heads/main" })
    const { data: parent } = await maya.rest.git.getCommit({ ...o, commit_sha: ref.object.sha })
    const { data: blob } = await maya.rest.git.createBlob({ ...o, content: "User-agent: *\n" })
    const { data: tree } = await maya.rest.git.createTree({
      ...o,
      base_tree: parent.tree.sha,
      tree: [{ path: "robots.txt", mode: "100644", type: "blob", sha: blob.sha }],
    })
    const { data: commit } = await maya.rest.git.createCommit({
      ...o,
      message: "robots.txt through the git data API",
      tree: tree.sha,
      parents: [parent.sha],
    })
    expect(commit.author.name).toBe("maya")
    const { data: moved } = await maya.rest.git.updateRef({
      ...o,
      ref: "heads/main",
      sha: commit.sha,
    })
    expect(moved.object.sha).toBe(commit.sha)
    await git(work, ["checkout", "-q", "main"])
    await git(work, ["pull", "-q", authUrl(`${node.url}/studio/site.git`, mayaToken), "main"])
    expect(await git(work, ["show", "HEAD:robots.txt"])).toBe("User-agent: *\n")
  })
})
