/**
 * Issues through GitHub's REST API: creation with labels, assignees and a milestone;
 * editing, closing with a reason, reopening and locking; comments and reactions; labels
 * and milestones; the timeline; filters; pagination with `Link` headers that neither
 * repeats nor skips while issues are being created; and GitHub's errors for bad input,
 * with nothing half-applied.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type Api, apiClient, makeUser } from "../support/Api.ts"
import { type RunningNode, startNode } from "../support/TestNode.ts"

let node: RunningNode
let owner: Api
let reader: Api
let stranger: Api

beforeAll(async () => {
  node = await startNode({ storage: "memory" })
  const admin = apiClient(node.url, node.token)
  const o = await makeUser(admin, "olive")
  const r = await makeUser(admin, "rick")
  const s = await makeUser(admin, "sam")
  owner = apiClient(node.url, o.token)
  reader = apiClient(node.url, r.token)
  stranger = apiClient(node.url, s.token)
  expect((await owner("POST", "/user/repos", { name: "tracker" })).status).toBe(201)
  expect((await owner("POST", "/user/repos", { name: "secret", private: true })).status).toBe(201)
  expect(
    (await owner("PUT", "/repos/olive/tracker/collaborators/rick", { permission: "pull" })).status,
  ).toBe(201)
})
afterAll(async () => {
  await node?.close()
})

const R = "/repos/olive/tracker"

describe("issues", () => {
  it("creates an issue with labels, an assignee and a milestone, numbered from 1", async () => {
    const m = await owner("POST", `${R}/milestones`, {
      title: "v1",
      due_on: "2027-01-01T00:00:00Z",
    })
    expect(m.status).toBe(201)
    expect(m.body.number).toBe(1)
    const made = await owner("POST", `${R}/issues`, {
      title: "Crash on start",
      body: "It **crashes**.\n\n<script>alert(1)</script>",
      labels: ["bug", "p1"],
      assignees: ["olive"],
      milestone: 1,
    })
    expect(made.status).toBe(201)
    expect(made.body).toMatchObject({
      number: 1,
      state: "open",
      title: "Crash on start",
      body: "It **crashes**.\n\n<script>alert(1)</script>",
      user: { login: "olive" },
      assignees: [{ login: "olive" }],
      milestone: { number: 1, title: "v1", open_issues: 1 },
      locked: false,
      comments: 0,
    })
    expect(made.body.labels.map((l: { name: string }) => l.name)).toEqual(["bug", "p1"])
    expect(made.headers.get("location")).toBe(made.body.url)
    const again = await owner("GET", `${R}/issues/1`)
    expect(again.body.title).toBe("Crash on start")
  })

  it("lets a reader open an issue but silently drops labels and assignees, as GitHub does", async () => {
    const r = await reader("POST", `${R}/issues`, {
      title: "Question",
      labels: ["bug"],
      assignees: ["rick"],
    })
    expect(r.status).toBe(201)
    expect(r.body.number).toBe(2)
    expect(r.body.labels).toEqual([])
    expect(r.body.assignees).toEqual([])
  })

  it("lets the author edit their issue; others without triage get 403", async () => {
    expect((await reader("PATCH", `${R}/issues/2`, { title: "A question" })).status).toBe(200)
    const denied = await reader("PATCH", `${R}/issues/1`, { title: "mine now" })
    expect(denied.status).toBe(403)
    const labelling = await reader("PATCH", `${R}/issues/2`, { labels: ["bug"] })
    expect(labelling.status).toBe(403)
    expect((await owner("GET", `${R}/issues/1`)).body.title).toBe("Crash on start")
  })

  it("closes with a reason and reopens, recording who and when", async () => {
    const closed = await owner("PATCH", `${R}/issues/2`, {
      state: "closed",
      state_reason: "not_planned",
    })
    expect(closed.body).toMatchObject({ state: "closed", state_reason: "not_planned" })
    expect(closed.body.closed_by.login).toBe("olive")
    expect(closed.body.closed_at).toMatch(/Z$/)
    const open = await owner("PATCH", `${R}/issues/2`, { state: "open" })
    expect(open.body).toMatchObject({ state: "open", state_reason: "reopened", closed_at: null })
  })

  it("adds and removes labels and assignees through their own endpoints", async () => {
    const added = await owner("POST", `${R}/issues/2/labels`, { labels: ["question"] })
    expect(added.body.map((l: { name: string }) => l.name)).toEqual(["question"])
    const set = await owner("PUT", `${R}/issues/2/labels`, { labels: ["docs", "question"] })
    expect(set.body.map((l: { name: string }) => l.name)).toEqual(["docs", "question"])
    const removed = await owner("DELETE", `${R}/issues/2/labels/docs`)
    expect(removed.body.map((l: { name: string }) => l.name)).toEqual(["question"])
    expect((await owner("DELETE", `${R}/issues/2/labels/nope`)).status).toBe(404)
    const assigned = await owner("POST", `${R}/issues/2/assignees`, { assignees: ["rick"] })
    expect(assigned.status).toBe(201)
    expect(assigned.body.assignees.map((a: { login: string }) => a.login)).toEqual(["rick"])
    const notUser = await owner("POST", `${R}/issues/2/assignees`, { assignees: ["ghost"] })
    expect(notUser.status).toBe(422)
    const unassigned = await owner("DELETE", `${R}/issues/2/assignees`, { assignees: ["rick"] })
    expect(unassigned.body.assignees).toEqual([])
  })

  it("comments, edits and deletes comments, and counts them on the issue", async () => {
    const c = await reader("POST", `${R}/issues/1/comments`, { body: "Same here" })
    expect(c.status).toBe(201)
    expect(c.body).toMatchObject({ body: "Same here", user: { login: "rick" } })
    const c2 = await owner("POST", `${R}/issues/1/comments`, { body: "Looking" })
    expect((await owner("GET", `${R}/issues/1`)).body.comments).toBe(2)
    const edited = await reader("PATCH", `${R}/issues/comments/${c.body.id}`, {
      body: "Same here!",
    })
    expect(edited.body.body).toBe("Same here!")
    expect(
      (await reader("PATCH", `${R}/issues/comments/${c2.body.id}`, { body: "x" })).status,
    ).toBe(403)
    expect((await owner("DELETE", `${R}/issues/comments/${c2.body.id}`)).status).toBe(204)
    const list = await owner("GET", `${R}/issues/1/comments`)
    expect(list.body.map((x: { body: string }) => x.body)).toEqual(["Same here!"])
    expect((await owner("GET", `${R}/issues/1`)).body.comments).toBe(1)
  })

  it("adds reactions once per user and content, and counts them", async () => {
    const first = await reader("POST", `${R}/issues/1/reactions`, { content: "+1" })
    expect(first.status).toBe(201)
    const dup = await reader("POST", `${R}/issues/1/reactions`, { content: "+1" })
    expect(dup.status).toBe(200)
    expect(dup.body.id).toBe(first.body.id)
    await owner("POST", `${R}/issues/1/reactions`, { content: "heart" })
    const issue = await owner("GET", `${R}/issues/1`)
    expect(issue.body.reactions).toMatchObject({ total_count: 2, "+1": 1, heart: 1 })
    expect((await reader("POST", `${R}/issues/1/reactions`, { content: "wow" })).status).toBe(422)
    expect((await owner("DELETE", `${R}/issues/1/reactions/${first.body.id}`)).status).toBe(403)
    expect((await reader("DELETE", `${R}/issues/1/reactions/${first.body.id}`)).status).toBe(204)
  })

  it("locks an issue: only collaborators with write may still comment", async () => {
    expect((await reader("PUT", `${R}/issues/1/lock`, { lock_reason: "too heated" })).status).toBe(
      403,
    )
    expect((await owner("PUT", `${R}/issues/1/lock`, { lock_reason: "too heated" })).status).toBe(
      204,
    )
    expect((await owner("GET", `${R}/issues/1`)).body).toMatchObject({
      locked: true,
      active_lock_reason: "too heated",
    })
    const blocked = await reader("POST", `${R}/issues/1/comments`, { body: "but" })
    expect(blocked.status).toBe(403)
    expect((await owner("POST", `${R}/issues/1/comments`, { body: "final word" })).status).toBe(201)
    expect((await owner("DELETE", `${R}/issues/1/lock`)).status).toBe(204)
    expect((await reader("POST", `${R}/issues/1/comments`, { body: "thanks" })).status).toBe(201)
  })

  it("lists the timeline in order: labels, assignments, renames, closing, comments", async () => {
    const t = await owner("GET", `${R}/issues/2/timeline?per_page=100`)
    expect(t.status).toBe(200)
    const events = t.body.map((e: { event: string }) => e.event)
    expect(events).toEqual([
      "renamed",
      "closed",
      "reopened",
      "labeled",
      "labeled",
      "unlabeled",
      "assigned",
      "unassigned",
    ])
    expect(t.body[0].rename).toEqual({ from: "Question", to: "A question" })
    const one = await owner("GET", `${R}/issues/1/timeline?per_page=100`)
    const kinds = one.body.map((e: { event: string }) => e.event)
    expect(kinds.slice(0, 4)).toEqual(["assigned", "labeled", "labeled", "milestoned"])
    expect(kinds).toContain("commented")
    expect(kinds).toContain("locked")
    expect(kinds.indexOf("locked")).toBeLessThan(kinds.indexOf("unlocked"))
  })

  it("filters by state, labels, assignee, creator and milestone", async () => {
    const titles = async (q: string) =>
      (await owner("GET", `${R}/issues?${q}`)).body.map((i: { number: number }) => i.number)
    expect(await titles("labels=bug")).toEqual([1])
    expect(await titles("creator=rick")).toEqual([2])
    expect(await titles("assignee=olive")).toEqual([1])
    expect(await titles("assignee=none")).toEqual([2])
    expect(await titles("milestone=1")).toEqual([1])
    expect(await titles("milestone=none")).toEqual([2])
    await owner("PATCH", `${R}/issues/2`, { state: "closed" })
    expect(await titles("state=closed")).toEqual([2])
    expect(await titles("state=all&direction=asc")).toEqual([1, 2])
    expect((await owner("GET", `${R}/issues?state=weird`)).status).toBe(422)
  })
})

describe("labels and milestones", () => {
  it("creates, renames, recolours and deletes labels; refuses a bad colour or a duplicate", async () => {
    const made = await owner("POST", `${R}/labels`, { name: "needs triage", color: "#FF0000" })
    expect(made.status).toBe(201)
    expect(made.body).toMatchObject({ name: "needs triage", color: "ff0000" })
    const bad = await owner("POST", `${R}/labels`, { name: "x", color: "red" })
    expect(bad.status).toBe(422)
    expect(bad.body.errors[0]).toMatchObject({ resource: "Label", field: "color" })
    const dup = await owner("POST", `${R}/labels`, { name: "NEEDS TRIAGE" })
    expect(dup.status).toBe(422)
    expect(dup.body.errors[0].code).toBe("already_exists")
    const renamed = await owner("PATCH", `${R}/labels/needs%20triage`, { new_name: "triage" })
    expect(renamed.body.name).toBe("triage")
    expect((await reader("POST", `${R}/labels`, { name: "mine" })).status).toBe(403)
    expect((await owner("DELETE", `${R}/labels/triage`)).status).toBe(204)
    expect((await owner("GET", `${R}/labels/triage`)).status).toBe(404)
  })

  it("closes a milestone and counts its issues", async () => {
    const m = await owner("PATCH", `${R}/milestones/1`, { state: "closed" })
    expect(m.body).toMatchObject({ state: "closed", open_issues: 1, closed_issues: 0 })
    expect((await owner("GET", `${R}/milestones`)).body).toEqual([])
    expect((await owner("GET", `${R}/milestones?state=closed`)).body).toHaveLength(1)
    expect((await owner("DELETE", `${R}/milestones/1`)).status).toBe(204)
    expect((await owner("GET", `${R}/issues/1`)).body.milestone).toBeNull()
  })
})

describe("conditional requests", () => {
  it("answers 304 to If-None-Match with the current ETag, and 200 once the issue changed", async () => {
    const url = `${node.url}/api${R}/issues/1`
    const first = await fetch(url)
    const etag = first.headers.get("etag")
    expect(etag).toMatch(/^W\/"[0-9a-f]{40}"$/)
    const same = await fetch(url, { headers: { "if-none-match": etag! } })
    expect(same.status).toBe(304)
    expect(await same.text()).toBe("")
    await owner("PATCH", `${R}/issues/1`, { body: "changed" })
    const changed = await fetch(url, { headers: { "if-none-match": etag! } })
    expect(changed.status).toBe(200)
    expect(changed.headers.get("etag")).not.toBe(etag)
  })
})

describe("bad input", () => {
  it("answers 404 for an unknown repository, a private one, or an unknown number", async () => {
    expect((await owner("GET", "/repos/olive/nowhere/issues")).status).toBe(404)
    expect((await stranger("GET", "/repos/olive/secret/issues")).status).toBe(404)
    expect((await stranger("POST", "/repos/olive/secret/issues", { title: "x" })).status).toBe(404)
    expect((await owner("GET", `${R}/issues/999`)).status).toBe(404)
    expect((await owner("POST", `${R}/issues/999/comments`, { body: "x" })).status).toBe(404)
  })

  it("answers 422 with GitHub's errors for missing, mistyped or oversized fields; 400 for broken JSON; nothing is created", async () => {
    const before = (await owner("GET", `${R}/issues?state=all&per_page=1`)).body[0].number
    const missing = await owner("POST", `${R}/issues`, { body: "no title" })
    expect(missing.status).toBe(422)
    expect(missing.body.errors[0]).toMatchObject({
      resource: "Issue",
      field: "title",
      code: "missing_field",
    })
    const wrong = await owner("POST", `${R}/issues`, { title: 42 })
    expect(wrong.status).toBe(422)
    expect(wrong.body.errors[0]).toMatchObject({ field: "title", code: "invalid" })
    const wrongLabels = await owner("POST", `${R}/issues`, { title: "x", labels: "bug" })
    expect(wrongLabels.status).toBe(422)
    const huge = await owner("POST", `${R}/issues`, { title: "x", body: "y".repeat(70_000) })
    expect(huge.status).toBe(422)
    expect(huge.body.errors[0].field).toBe("body")
    const broken = await owner("POST", `${R}/issues`, "{not json")
    expect(broken.status).toBe(400)
    const unknownMilestone = await owner("POST", `${R}/issues`, { title: "x", milestone: 77 })
    expect(unknownMilestone.status).toBe(422)
    const after = (await owner("GET", `${R}/issues?state=all&per_page=1`)).body[0].number
    expect(after).toBe(before)
  })
})

describe("pagination", () => {
  it("pages through 1,000 issues with Link headers, with no gaps or repeats while more are created", async () => {
    const total = Number(process.env.GUTS_PAGINATION_ISSUES ?? 1000)
    expect((await owner("POST", "/user/repos", { name: "many" })).status).toBe(201)
    for (let i = 0; i < total; i++) {
      const r = await owner("POST", "/repos/olive/many/issues", { title: `issue ${i + 1}` })
      if (r.status !== 201) throw new Error(`creating issue ${i + 1}: ${r.status}`)
    }
    const seen: number[] = []
    let next: string | undefined = `${node.url}/api/repos/olive/many/issues?per_page=100`
    let pages = 0
    let created = 0
    while (next) {
      const res = await fetch(next)
      const body = (await res.json()) as Array<{ number: number }>
      seen.push(...body.map((i) => i.number))
      pages++
      // Someone keeps filing issues while the client pages.
      await owner("POST", "/repos/olive/many/issues", { title: `late ${++created}` })
      const link = res.headers.get("link") ?? ""
      next = /<([^>]+)>; rel="next"/.exec(link)?.[1]
      if (pages === 1) expect(link).toMatch(/rel="last"/)
    }
    expect(pages).toBe(Math.ceil(total / 100))
    expect(seen).toHaveLength(total)
    expect(new Set(seen).size).toBe(total)
    expect(seen).toEqual(Array.from({ length: total }, (_, i) => total - i))
    const fresh = await owner("GET", "/repos/olive/many/issues?per_page=1")
    expect(fresh.body[0].number).toBe(total + created)
  }, 120_000)
})
