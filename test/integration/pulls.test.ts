/**
 * Pull requests end to end with the real git client: open from a pushed branch and from a
 * fork, follow pushes, fetch `pull/N/head`, read commits, files, diff and patch (compared
 * with git's own output), review with comments on diff lines, merge three ways (merge
 * commit, squash, rebase) under a protection rule that requires an approval, and check the
 * resulting history with `git log --graph` and `git fsck`. A conflicting pull request reports
 * `mergeable: false` with the conflicting paths and its merge is refused with 405.
 */
import * as path from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type Api, apiClient, makeUser } from "../support/Api.ts"
import { authUrl, commitAll, git, initRepo, runGit, write } from "../support/Git.ts"
import { type RunningNode, startNode, tempDir } from "../support/TestNode.ts"

let node: RunningNode
let alice: { login: string; token: string }
let bob: { login: string; token: string }
let carol: { login: string; token: string }
let A: Api
let B: Api
let C: Api
let work: string
const R = "/repos/alice/app"

const remote = (who: { token: string }, repo = "alice/app") =>
  authUrl(`${node.url}/${repo}.git`, who.token)

const lines = (n: number, tag = "") =>
  Array.from({ length: n }, (_, i) => `line ${i + 1}${tag}`).join("\n") + "\n"

/** A branch from main's tip with `edits` applied, pushed by bob; returns its tip. */
const branch = async (name: string, edits: Array<[string, string]>, from = "main") => {
  await git(work, ["checkout", "-q", "-B", name, `origin/${from}`])
  let n = 0
  for (const [file, content] of edits) {
    write(work, file, content)
    await commitAll(work, `${name}: ${file}`, 100 + n++)
  }
  await git(work, ["push", "-q", "-f", remote(bob), `${name}:refs/heads/${name}`])
  return (await git(work, ["rev-parse", "HEAD"])).trim()
}

const fetchAll = () =>
  git(work, ["fetch", "-q", "-p", remote(alice), "+refs/heads/*:refs/remotes/origin/*"])

beforeAll(async () => {
  node = await startNode({ storage: "memory", config: { rateLimitAnonymous: 0 } })
  const admin = apiClient(node.url, node.token)
  alice = await makeUser(admin, "alice")
  bob = await makeUser(admin, "bob")
  carol = await makeUser(admin, "carol")
  A = apiClient(node.url, alice.token)
  B = apiClient(node.url, bob.token)
  C = apiClient(node.url, carol.token)
  expect((await A("POST", "/user/repos", { name: "app" })).status).toBe(201)
  expect((await A("PUT", `${R}/collaborators/bob`, { permission: "push" })).status).toBe(201)
  work = await initRepo(path.join(tempDir("pulls"), "w"))
  write(work, "a.txt", lines(30))
  write(work, "b.txt", lines(10, " of b"))
  await commitAll(work, "initial", 1)
  await git(work, ["push", "-q", remote(alice), "main"])
  await fetchAll()
}, 60_000)

afterAll(async () => {
  await node?.close()
})

describe("opening and reading a pull request", () => {
  let tip: string
  it("opens a pull request from a pushed branch", async () => {
    tip = await branch("feature", [
      ["a.txt", lines(30).replace("line 5\n", "line five\n")],
      ["c.txt", "new file\n"],
    ])
    const r = await B("POST", `${R}/pulls`, {
      title: "Add c",
      head: "feature",
      base: "main",
      body: "Please",
    })
    expect(r.status, JSON.stringify(r.body)).toBe(201)
    expect(r.body).toMatchObject({
      number: 1,
      state: "open",
      title: "Add c",
      merged: false,
      mergeable: true,
      mergeable_state: "clean",
      commits: 2,
      changed_files: 2,
      additions: 2,
      deletions: 1,
      head: { ref: "feature", sha: tip, label: "alice:feature" },
      base: { ref: "main" },
      user: { login: "bob" },
    })
    const asIssue = await A("GET", `${R}/issues/1`)
    expect(asIssue.body.pull_request.url).toBe(r.body.url)
    const dup = await B("POST", `${R}/pulls`, { title: "again", head: "feature", base: "main" })
    expect(dup.status).toBe(422)
    const none = await B("POST", `${R}/pulls`, { title: "x", head: "main", base: "main" })
    expect(none.status).toBe(422)
    const missing = await B("POST", `${R}/pulls`, { title: "x", head: "nope", base: "main" })
    expect(missing.status).toBe(422)
    expect(missing.body.errors[0].field).toBe("head")
  })

  it("advertises refs/pull/1/head so git fetch origin pull/1/head works", async () => {
    await git(work, ["fetch", "-q", remote(carol), "pull/1/head:pr-1"])
    expect((await git(work, ["rev-parse", "pr-1"])).trim()).toBe(tip)
    const ls = await git(work, ["ls-remote", remote(carol)])
    expect(ls).toMatch(/refs\/pull\/1\/merge/)
  })

  it("lists commits and files, and answers the diff and patch media types like git", async () => {
    const commits = await A("GET", `${R}/pulls/1/commits`)
    expect(commits.body.map((c: { commit: { message: string } }) => c.commit.message)).toEqual([
      "feature: a.txt",
      "feature: c.txt",
    ])
    const files = await A("GET", `${R}/pulls/1/files`)
    expect(
      files.body.map((f: { filename: string; status: string }) => [f.filename, f.status]),
    ).toEqual([
      ["a.txt", "modified"],
      ["c.txt", "added"],
    ])
    const diff = await fetch(`${node.url}/api${R}/pulls/1`, {
      headers: { authorization: `Bearer ${alice.token}`, accept: "application/vnd.github.diff" },
    })
    expect(diff.headers.get("content-type")).toMatch(/application\/vnd\.github\.diff/)
    const expected = await git(work, ["diff", "--no-indent-heuristic", "origin/main...pr-1"])
    expect(await diff.text()).toBe(expected)
    const patch = await fetch(`${node.url}/api${R}/pulls/1`, {
      headers: { authorization: `Bearer ${alice.token}`, accept: "application/vnd.github.patch" },
    })
    const text = await patch.text()
    expect(text).toMatch(/^From [0-9a-f]{40} /)
    expect(text).toContain("Subject: [PATCH 1/2] feature: a.txt")
  })

  it("follows a push to the head branch", async () => {
    tip = await branch("feature", [
      ["a.txt", lines(30).replace("line 5\n", "line five\n")],
      ["c.txt", "new file\n"],
      ["d.txt", "another\n"],
    ])
    const r = await A("GET", `${R}/pulls/1`)
    expect(r.body.head.sha).toBe(tip)
    expect(r.body.commits).toBe(3)
    await git(work, ["fetch", "-q", remote(alice), "+pull/1/head:pr-1"])
    expect((await git(work, ["rev-parse", "pr-1"])).trim()).toBe(tip)
  })
})

describe("references", () => {
  it("records a referenced event on an issue a pushed commit mentions, once per commit", async () => {
    const issue = await A("POST", `${R}/issues`, { title: "Crash on save" })
    await git(work, ["checkout", "-q", "-B", "mention", "origin/main"])
    write(work, "fix.txt", "fixed\n")
    await git(work, ["add", "-A"])
    await git(work, ["commit", "-q", "-m", `Fix the crash, see #${issue.body.number}`])
    const sha = (await git(work, ["rev-parse", "HEAD"])).trim()
    await git(work, ["push", "-q", remote(bob), "mention:refs/heads/mention"])
    await git(work, ["push", "-q", remote(bob), "mention:refs/heads/mention-copy"])
    const t = await A("GET", `${R}/issues/${issue.body.number}/timeline`)
    const refs = t.body.filter((e: { event: string }) => e.event === "referenced")
    expect(refs.map((e: { commit_id: string }) => e.commit_id)).toEqual([sha])
  })
})

describe("reviews", () => {
  it("refuses approving your own pull request, records reviews and comments on diff lines", async () => {
    const own = await B("POST", `${R}/pulls/1/reviews`, { event: "APPROVE" })
    expect(own.status).toBe(422)
    const comment = await A("POST", `${R}/pulls/1/comments`, {
      body: "five, spelled out?",
      path: "a.txt",
      line: 5,
      side: "RIGHT",
    })
    expect(comment.status, JSON.stringify(comment.body)).toBe(201)
    const reply = await B("POST", `${R}/pulls/1/comments/${comment.body.id}/replies`, {
      body: "yes",
    })
    expect(reply.status).toBe(201)
    expect(reply.body.in_reply_to_id).toBe(comment.body.id)
    const outside = await A("POST", `${R}/pulls/1/comments`, { body: "x", path: "a.txt", line: 29 })
    expect(outside.status).toBe(422)
    const notInDiff = await A("POST", `${R}/pulls/1/comments`, {
      body: "x",
      path: "b.txt",
      line: 1,
    })
    expect(notInDiff.status).toBe(422)
    const changes = await A("POST", `${R}/pulls/1/reviews`, {
      event: "REQUEST_CHANGES",
      body: "one more thing",
      comments: [{ path: "c.txt", line: 1, body: "rename?" }],
    })
    expect(changes.status).toBe(200)
    expect(changes.body.state).toBe("CHANGES_REQUESTED")
    const all = await A("GET", `${R}/pulls/1/comments`)
    expect(all.body.map((c: { body: string }) => c.body)).toEqual([
      "five, spelled out?",
      "yes",
      "rename?",
    ])
    const pending = await C("POST", `${R}/pulls/1/reviews`, { body: "draft thoughts" })
    expect(pending.body.state).toBe("PENDING")
    expect(
      (await A("GET", `${R}/pulls/1/reviews`)).body.map((r: { state: string }) => r.state),
    ).toEqual(["CHANGES_REQUESTED"])
  })

  it("requests reviewers, but never the author", async () => {
    expect(
      (await A("POST", `${R}/pulls/1/requested_reviewers`, { reviewers: ["bob"] })).status,
    ).toBe(422)
    const r = await A("POST", `${R}/pulls/1/requested_reviewers`, { reviewers: ["carol"] })
    expect(r.status).toBe(201)
    expect(r.body.requested_reviewers.map((u: { login: string }) => u.login)).toEqual(["carol"])
    const teams = await A("POST", `${R}/pulls/1/requested_reviewers`, { team_reviewers: ["core"] })
    expect(teams.status).toBe(422)
    expect(teams.body.message).toMatch(/only organisation repositories have teams/)
  })
})

describe("merging", () => {
  it("refuses a merge until the required approval is given, then merges with a merge commit", async () => {
    const rule = await A("PUT", `${R}/branches/main/protection`, {
      required_status_checks: null,
      // Administrators (alice) may still push to main directly; bob needs an approval.
      enforce_admins: false,
      required_pull_request_reviews: { required_approving_review_count: 1 },
      restrictions: null,
    })
    expect(rule.status).toBe(200)
    const blocked = await B("PUT", `${R}/pulls/1/merge`, { merge_method: "merge" })
    expect(blocked.status).toBe(405)
    expect(blocked.body.message).toMatch(/Changes were requested|approving review/)
    expect((await A("GET", `${R}/pulls/1`)).body.mergeable_state).toBe("blocked")
    const approve = await A("POST", `${R}/pulls/1/reviews`, { event: "APPROVE" })
    expect(approve.body.state).toBe("APPROVED")
    const merged = await B("PUT", `${R}/pulls/1/merge`, { merge_method: "merge" })
    expect(merged.status, JSON.stringify(merged.body)).toBe(200)
    expect(merged.body).toMatchObject({ merged: true })
    await fetchAll()
    expect((await git(work, ["rev-parse", "origin/main"])).trim()).toBe(merged.body.sha)
    const parents = (await git(work, ["log", "-1", "--format=%P", "origin/main"])).trim().split(" ")
    expect(parents).toHaveLength(2)
    const graph = await git(work, ["log", "--graph", "--oneline", "origin/main"])
    expect(graph).toMatch(/\*\s+[0-9a-f]+ Merge pull request #1 from alice\/feature/)
    await git(work, ["fsck", "--full"])
    const pr = await A("GET", `${R}/pulls/1`)
    expect(pr.body).toMatchObject({
      state: "closed",
      merged: true,
      merge_commit_sha: merged.body.sha,
    })
    expect((await A("GET", `${R}/pulls/1/merge`)).status).toBe(204)
    const again = await B("PUT", `${R}/pulls/1/merge`, {})
    expect(again.status).toBe(405)
  })

  it("deletes the head branch after the merge through the git refs API", async () => {
    expect((await B("DELETE", `${R}/git/refs/heads/feature`)).status).toBe(204)
    const ls = await git(work, ["ls-remote", remote(alice)])
    expect(ls).not.toMatch(/refs\/heads\/feature/)
    const timeline = await A("GET", `${R}/issues/1/timeline`)
    expect(timeline.body.map((e: { event: string }) => e.event)).toEqual(
      expect.arrayContaining(["merged", "closed", "head_ref_deleted"]),
    )
  })

  it("squashes: one new commit on main with the branch's changes", async () => {
    await fetchAll()
    await branch("squashme", [
      ["b.txt", lines(10, " of b").replace("line 1 of b", "first of b")],
      ["e.txt", "e\n"],
    ])
    const pr = await B("POST", `${R}/pulls`, { title: "Squash me", head: "squashme", base: "main" })
    expect(pr.status).toBe(201)
    await A("POST", `${R}/pulls/${pr.body.number}/reviews`, { event: "APPROVE" })
    const before = (await git(work, ["rev-parse", "origin/main"])).trim()
    const merged = await B("PUT", `${R}/pulls/${pr.body.number}/merge`, { merge_method: "squash" })
    expect(merged.status, JSON.stringify(merged.body)).toBe(200)
    await fetchAll()
    expect((await git(work, ["log", "-1", "--format=%P", "origin/main"])).trim()).toBe(before)
    expect((await git(work, ["log", "-1", "--format=%s", "origin/main"])).trim()).toBe(
      `Squash me (#${pr.body.number})`,
    )
    expect((await git(work, ["diff", "origin/squashme", "origin/main", "--stat"])).trim()).toBe("")
    await git(work, ["fsck", "--full"])
  })

  it("rebases: the branch's commits replayed on main, authors kept, history linear", async () => {
    await fetchAll()
    await branch("rebaseme", [
      ["f.txt", "f1\n"],
      ["f.txt", "f2\n"],
    ])
    // main moves on meanwhile (a squash above already did; one more from alice).
    await git(work, ["checkout", "-q", "-B", "side", "origin/main"])
    write(work, "g.txt", "g\n")
    await commitAll(work, "alice: g", 300)
    await git(work, ["push", "-q", remote(alice), "side:refs/heads/main"])
    await fetchAll()
    const pr = await B("POST", `${R}/pulls`, { title: "Rebase me", head: "rebaseme", base: "main" })
    await A("POST", `${R}/pulls/${pr.body.number}/reviews`, { event: "APPROVE" })
    const base = (await git(work, ["rev-parse", "origin/main"])).trim()
    const merged = await B("PUT", `${R}/pulls/${pr.body.number}/merge`, { merge_method: "rebase" })
    expect(merged.status, JSON.stringify(merged.body)).toBe(200)
    await fetchAll()
    const log = (await git(work, ["log", "--format=%s|%P", `${base}..origin/main`]))
      .trim()
      .split("\n")
    expect(log.map((l) => l.split("|")[0])).toEqual(["rebaseme: f.txt", "rebaseme: f.txt"])
    expect(log.every((l) => l.split("|")[1]!.split(" ").length === 1)).toBe(true)
    expect((await git(work, ["show", "origin/main:f.txt"])).trim()).toBe("f2")
    expect((await git(work, ["log", "-1", "--format=%an", "origin/main"])).trim()).toBe(
      "Ada Lovelace",
    )
    await git(work, ["fsck", "--full"])
  })

  it("reports a conflicting pull request as unmergeable, naming the files, and refuses to merge it", async () => {
    await fetchAll()
    await branch("clash", [["a.txt", lines(30).replace("line 20\n", "line twenty (bob)\n")]])
    await git(work, ["checkout", "-q", "-B", "main-edit", "origin/main"])
    write(
      work,
      "a.txt",
      (await git(work, ["show", "origin/main:a.txt"])).replace("line 20\n", "line 20 (alice)\n"),
    )
    await commitAll(work, "alice edits line 20", 400)
    await git(work, ["push", "-q", remote(alice), "main-edit:refs/heads/main"])
    const pr = await B("POST", `${R}/pulls`, { title: "Clash", head: "clash", base: "main" })
    expect(pr.status).toBe(201)
    expect(pr.body).toMatchObject({
      mergeable: false,
      mergeable_state: "dirty",
      conflicting_files: ["a.txt"],
    })
    await A("POST", `${R}/pulls/${pr.body.number}/reviews`, { event: "APPROVE" })
    const refused = await A("PUT", `${R}/pulls/${pr.body.number}/merge`, { merge_method: "merge" })
    expect(refused.status).toBe(405)
    expect(refused.body.message).toMatch(/Merge conflict in a\.txt/)
    const main = (await git(work, ["ls-remote", remote(alice), "refs/heads/main"])).split("\t")[0]
    expect(main).toBe((await git(work, ["rev-parse", "main-edit"])).trim())
  })
})

describe("code owners", () => {
  it("refuses a merge until the code owners of the changed files approve, when the rule asks", async () => {
    await fetchAll()
    await git(work, ["checkout", "-q", "-B", "owners", "origin/main"])
    write(work, ".github/CODEOWNERS", "# owners\n*.md @carol\n/src/ @alice\n")
    await commitAll(work, "code owners", 600)
    await git(work, ["push", "-q", remote(alice), "owners:refs/heads/release"])
    const rule = await A("PUT", `${R}/branches/release/protection`, {
      required_status_checks: null,
      enforce_admins: true,
      required_pull_request_reviews: {
        required_approving_review_count: 1,
        require_code_owner_reviews: true,
      },
      restrictions: null,
    })
    expect(rule.status).toBe(200)
    await fetchAll()
    await branch("docs-change", [["guide.md", "# Guide\n"]], "release")
    const pr = await B("POST", `${R}/pulls`, {
      title: "Docs",
      head: "docs-change",
      base: "release",
    })
    expect(pr.status, JSON.stringify(pr.body)).toBe(201)
    await A("POST", `${R}/pulls/${pr.body.number}/reviews`, { event: "APPROVE" })
    const waiting = await A("PUT", `${R}/pulls/${pr.body.number}/merge`, { merge_method: "merge" })
    expect(waiting.status).toBe(405)
    expect(waiting.body.message).toMatch(/Waiting on code owner review from @carol \(guide\.md\)/)
    await C("POST", `${R}/pulls/${pr.body.number}/reviews`, { event: "APPROVE" })
    const merged = await A("PUT", `${R}/pulls/${pr.body.number}/merge`, { merge_method: "merge" })
    expect(merged.status, JSON.stringify(merged.body)).toBe(200)
  })
})

describe("forks", () => {
  it("forks into a user account sharing objects, and merges a pull request from the fork", async () => {
    const fork = await C("POST", `${R}/forks`, {})
    expect(fork.status).toBe(202)
    expect(fork.body.full_name).toBe("carol/app")
    const forks = await A("GET", `${R}/forks`)
    expect(forks.body.map((r: { full_name: string }) => r.full_name)).toEqual(["carol/app"])
    await fetchAll()
    await git(work, ["checkout", "-q", "-B", "carol-fix", "origin/main"])
    write(work, "h.txt", "from carol\n")
    await commitAll(work, "carol: h", 500)
    await git(work, ["push", "-q", remote(carol, "carol/app"), "carol-fix:refs/heads/fix"])
    const pr = await C("POST", `${R}/pulls`, {
      title: "From my fork",
      head: "carol:fix",
      base: "main",
    })
    expect(pr.status, JSON.stringify(pr.body)).toBe(201)
    expect(pr.body.head).toMatchObject({ label: "carol:fix", repo: { full_name: "carol/app" } })
    await B("POST", `${R}/pulls/${pr.body.number}/reviews`, { event: "APPROVE" })
    const merged = await A("PUT", `${R}/pulls/${pr.body.number}/merge`, { merge_method: "merge" })
    expect(merged.status, JSON.stringify(merged.body)).toBe(200)
    await fetchAll()
    expect((await git(work, ["show", "origin/main:h.txt"])).trim()).toBe("from carol")
    const clone = path.join(tempDir("fork-clone"), "c")
    await git(work, ["clone", "-q", remote(carol), clone])
    await git(clone, ["fsck", "--full"])
  })

  it("answers 404 for pull requests of a repository the caller cannot see", async () => {
    expect((await A("POST", "/user/repos", { name: "hidden", private: true })).status).toBe(201)
    expect((await C("GET", "/repos/alice/hidden/pulls")).status).toBe(404)
    expect(
      (await C("POST", "/repos/alice/hidden/pulls", { title: "x", head: "a", base: "b" })).status,
    ).toBe(404)
    expect((await A("GET", `${R}/pulls/999`)).status).toBe(404)
    const wrong = await B("POST", `${R}/pulls`, { title: 5, head: "a", base: "main" })
    expect(wrong.status).toBe(422)
    expect((await runGit(work, ["ls-remote", remote(carol, "alice/hidden")])).code).not.toBe(0)
  })
})
