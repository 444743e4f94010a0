/**
 * Issues, comments, labels, milestones, reactions and timelines: GitHub's REST paths and
 * shapes. Lists are paginated with `Link` headers; an issue list walk is pinned to the
 * issues that existed at its first page (`snapshot`), so issues created while a client
 * pages through it neither shift pages (repeats) nor push items out of reach (gaps).
 */
import { Effect } from "effect"
import { REACTIONS } from "../../domain/Transaction.ts"
import { Issues, type Reaction } from "../../services/Issues.ts"
import {
  base,
  type Body,
  field,
  intParam,
  jsonObject,
  linkHeader,
  noContent,
  pageParams,
  principalOf,
  type R,
  requirePrincipal,
  route,
  send,
} from "./ApiKit.ts"
import { unprocessable } from "./HttpErrors.ts"
import type { HttpContext, Route } from "./HttpServer.ts"
import {
  commentJson,
  eventJson,
  issueJson,
  labelJson,
  milestoneJson,
  reactionJson,
} from "./Presenters.ts"

const P = "/repos/:owner/:repo"
const own = (ctx: HttpContext) => [ctx.params.owner!, ctx.params.repo!] as const

const strings = (b: Body, resource: string, name: string) =>
  Effect.gen(function* () {
    const v = yield* field<unknown[]>(b, resource, name, "array")
    if (v === undefined) return undefined
    // GitHub accepts label objects `{ name }` as well as names.
    const out = v.map((x) =>
      typeof x === "string"
        ? x
        : typeof x === "object" && x !== null && typeof (x as { name?: unknown }).name === "string"
          ? (x as { name: string }).name
          : undefined,
    )
    if (out.some((x) => x === undefined))
      return yield* unprocessable(`Invalid request. ${name} must be a list of names.`, [
        { resource, field: name, code: "invalid" },
      ])
    return out as string[]
  })

const nullableInt = (b: Body, resource: string, name: string) =>
  Effect.gen(function* () {
    if (!(name in b)) return undefined
    if (b[name] === null) return null
    const v = b[name]
    if (typeof v !== "number" || !Number.isInteger(v))
      return yield* unprocessable(`Invalid request. ${name} must be an integer or null.`, [
        { resource, field: name, code: "invalid" },
      ])
    return v
  })

const nullableString = (b: Body, resource: string, name: string) =>
  Effect.gen(function* () {
    if (!(name in b)) return undefined
    if (b[name] === null) return null
    return yield* field<string>(b, resource, name, "string")
  })

const isoTime = (v: string | null | undefined, resource: string, name: string) =>
  Effect.gen(function* () {
    if (v === undefined || v === null) return v
    const t = Date.parse(v)
    if (!Number.isFinite(t))
      return yield* unprocessable(`Invalid request. ${name} must be an ISO 8601 time.`, [
        { resource, field: name, code: "invalid" },
      ])
    return t
  })

const listIssues = (ctx: HttpContext) =>
  Effect.gen(function* () {
    const issues = yield* Issues
    const q = ctx.url.searchParams
    const state = q.get("state") ?? "open"
    if (state !== "open" && state !== "closed" && state !== "all")
      return yield* unprocessable("Invalid request. state must be open, closed or all.", [
        { resource: "Issue", field: "state", code: "invalid" },
      ])
    const sort = q.get("sort") ?? "created"
    if (sort !== "created" && sort !== "updated" && sort !== "comments")
      return yield* unprocessable("Invalid request. sort must be created, updated or comments.", [
        { resource: "Issue", field: "sort", code: "invalid" },
      ])
    const direction = q.get("direction") ?? "desc"
    if (direction !== "asc" && direction !== "desc")
      return yield* unprocessable("Invalid request. direction must be asc or desc.", [
        { resource: "Issue", field: "direction", code: "invalid" },
      ])
    const since = q.get("since")
    const sinceMs = since === null ? undefined : Date.parse(since)
    if (sinceMs !== undefined && !Number.isFinite(sinceMs))
      return yield* unprocessable("Invalid request. since must be an ISO 8601 time.", [
        { resource: "Issue", field: "since", code: "invalid" },
      ])
    const milestone = q.get("milestone")
    const snapshot = q.get("snapshot")
    const { perPage, offset } = pageParams(ctx)
    const pulls = ctx.url.pathname.endsWith("/pulls") ? true : undefined
    const result = yield* issues.list(...own(ctx), yield* principalOf(ctx), {
      state,
      sort,
      direction,
      since: sinceMs,
      labels: q.get("labels")?.split(",").filter(Boolean),
      assignee: q.get("assignee") ?? undefined,
      creator: q.get("creator") ?? undefined,
      milestone:
        milestone === null
          ? undefined
          : milestone === "none" || milestone === "*"
            ? milestone
            : Number(milestone),
      pulls,
      maxNumber: snapshot !== null && /^\d+$/.test(snapshot) ? Number(snapshot) : undefined,
      limit: perPage,
      offset,
    })
    const b = yield* base(ctx)
    yield* send(
      ctx,
      200,
      result.rows.map((d) => issueJson(b, result.repo, d)),
      linkHeader(ctx, b, result.total, { snapshot: String(result.maxNumber) }),
    )
  })

const issueFields = (b: Body) =>
  Effect.gen(function* () {
    return {
      title: yield* field<string>(b, "Issue", "title", "string"),
      body: yield* nullableString(b, "Issue", "body"),
      assignees: yield* strings(b, "Issue", "assignees"),
      labels: yield* strings(b, "Issue", "labels"),
      milestone: yield* nullableInt(b, "Issue", "milestone"),
    }
  })

const reactionContent = (b: Body) =>
  Effect.gen(function* () {
    const content = yield* field<string>(b, "Reaction", "content", "string", true)
    if (!(REACTIONS as ReadonlyArray<string>).includes(content!))
      return yield* unprocessable(
        `Invalid request. content must be one of ${REACTIONS.join(", ")}.`,
        [{ resource: "Reaction", field: "content", code: "invalid" }],
      )
    return content as Reaction
  })

export const issueRoutes: Array<Route<R>> = [
  route("GET", `${P}/issues`, listIssues),
  route("POST", `${P}/issues`, (ctx) =>
    Effect.gen(function* () {
      const p = yield* requirePrincipal(ctx)
      const issues = yield* Issues
      const b = yield* jsonObject(ctx, "Issue")
      const f = yield* issueFields(b)
      if (f.title === undefined || f.title.trim() === "")
        return yield* unprocessable('Invalid request. "title" wasn\'t supplied.', [
          { resource: "Issue", field: "title", code: "missing_field" },
        ])
      const made = yield* issues.create(...own(ctx), p, { ...f, title: f.title })
      const json = issueJson(yield* base(ctx), made.repo, made)
      yield* send(ctx, 201, json, { location: json.url })
    }),
  ),
  route("GET", `${P}/issues/:number`, (ctx) =>
    Effect.gen(function* () {
      const issues = yield* Issues
      const got = yield* issues.get(
        ...own(ctx),
        yield* intParam(ctx, "number"),
        yield* principalOf(ctx),
      )
      yield* send(ctx, 200, issueJson(yield* base(ctx), got.repo, got))
    }),
  ),
  route("PATCH", `${P}/issues/:number`, (ctx) =>
    Effect.gen(function* () {
      const p = yield* requirePrincipal(ctx)
      const issues = yield* Issues
      const b = yield* jsonObject(ctx, "Issue")
      const f = yield* issueFields(b)
      const state = yield* field<string>(b, "Issue", "state", "string")
      if (state !== undefined && state !== "open" && state !== "closed")
        return yield* unprocessable("Invalid request. state must be open or closed.", [
          { resource: "Issue", field: "state", code: "invalid" },
        ])
      const reason = yield* nullableString(b, "Issue", "state_reason")
      if (reason && !["completed", "not_planned", "reopened"].includes(reason))
        return yield* unprocessable(
          "Invalid request. state_reason must be completed, not_planned or reopened.",
          [{ resource: "Issue", field: "state_reason", code: "invalid" }],
        )
      const got = yield* issues.update(...own(ctx), yield* intParam(ctx, "number"), p, {
        ...f,
        state: state as "open" | "closed" | undefined,
        stateReason: reason as "completed" | "not_planned" | "reopened" | null | undefined,
      })
      yield* send(ctx, 200, issueJson(yield* base(ctx), got.repo, got))
    }),
  ),
  route("PUT", `${P}/issues/:number/lock`, (ctx) =>
    Effect.gen(function* () {
      const p = yield* requirePrincipal(ctx)
      const issues = yield* Issues
      const b = ctx.req.headers["content-length"] === "0" ? {} : yield* jsonObject(ctx, "Issue")
      const reason = yield* field<string>(b, "Issue", "lock_reason", "string")
      yield* issues.lock(...own(ctx), yield* intParam(ctx, "number"), p, true, reason)
      yield* noContent(ctx)
    }),
  ),
  route("DELETE", `${P}/issues/:number/lock`, (ctx) =>
    Effect.gen(function* () {
      const p = yield* requirePrincipal(ctx)
      const issues = yield* Issues
      yield* issues.lock(...own(ctx), yield* intParam(ctx, "number"), p, false)
      yield* noContent(ctx)
    }),
  ),
  ...(["POST", "DELETE"] as const).map((method) =>
    route(method, `${P}/issues/:number/assignees`, (ctx) =>
      Effect.gen(function* () {
        const p = yield* requirePrincipal(ctx)
        const issues = yield* Issues
        const b = yield* jsonObject(ctx, "Issue")
        const who = (yield* strings(b, "Issue", "assignees")) ?? []
        const got = yield* issues.update(
          ...own(ctx),
          yield* intParam(ctx, "number"),
          p,
          method === "POST" ? { addAssignees: who } : { removeAssignees: who },
        )
        yield* send(ctx, method === "POST" ? 201 : 200, issueJson(yield* base(ctx), got.repo, got))
      }),
    ),
  ),
  route("GET", `${P}/issues/:number/labels`, (ctx) =>
    Effect.gen(function* () {
      const issues = yield* Issues
      const got = yield* issues.get(
        ...own(ctx),
        yield* intParam(ctx, "number"),
        yield* principalOf(ctx),
      )
      const b = yield* base(ctx)
      yield* send(
        ctx,
        200,
        got.labels.map((l) => labelJson(b, got.repo, l)),
      )
    }),
  ),
  ...(["POST", "PUT"] as const).map((method) =>
    route(method, `${P}/issues/:number/labels`, (ctx) =>
      Effect.gen(function* () {
        const p = yield* requirePrincipal(ctx)
        const issues = yield* Issues
        const raw = yield* jsonObject(ctx, "Label").pipe(
          Effect.catchAll(() => Effect.succeed(undefined)),
        )
        const names = raw ? ((yield* strings(raw, "Label", "labels")) ?? []) : []
        const got = yield* issues.update(
          ...own(ctx),
          yield* intParam(ctx, "number"),
          p,
          method === "POST" ? { addLabels: names } : { labels: names },
        )
        const b = yield* base(ctx)
        yield* send(
          ctx,
          200,
          got.labels.map((l) => labelJson(b, got.repo, l)),
        )
      }),
    ),
  ),
  route("DELETE", `${P}/issues/:number/labels`, (ctx) =>
    Effect.gen(function* () {
      const p = yield* requirePrincipal(ctx)
      const issues = yield* Issues
      yield* issues.update(...own(ctx), yield* intParam(ctx, "number"), p, { labels: [] })
      yield* noContent(ctx)
    }),
  ),
  route("DELETE", `${P}/issues/:number/labels/:name`, (ctx) =>
    Effect.gen(function* () {
      const p = yield* requirePrincipal(ctx)
      const issues = yield* Issues
      const number = yield* intParam(ctx, "number")
      const before = yield* issues.get(...own(ctx), number, p)
      if (!before.labels.some((l) => l.name.toLowerCase() === ctx.params.name!.toLowerCase()))
        return yield* send(ctx, 404, {
          message: "Label does not exist",
          documentation_url: "https://docs.github.com/rest",
        })
      const got = yield* issues.update(...own(ctx), number, p, { removeLabels: [ctx.params.name!] })
      const b = yield* base(ctx)
      yield* send(
        ctx,
        200,
        got.labels.map((l) => labelJson(b, got.repo, l)),
      )
    }),
  ),

  // --- comments ---
  route("GET", `${P}/issues/:number/comments`, (ctx) =>
    Effect.gen(function* () {
      const issues = yield* Issues
      const since = yield* isoTime(ctx.url.searchParams.get("since"), "IssueComment", "since")
      const got = yield* issues.comments(
        ...own(ctx),
        yield* intParam(ctx, "number"),
        yield* principalOf(ctx),
        since ?? undefined,
      )
      const b = yield* base(ctx)
      const { perPage, offset } = pageParams(ctx)
      const page = got.rows.slice(offset, offset + perPage)
      yield* send(
        ctx,
        200,
        page.map((c) => commentJson(b, got.repo, got.issue.number, c)),
        linkHeader(ctx, b, got.rows.length),
      )
    }),
  ),
  route("POST", `${P}/issues/:number/comments`, (ctx) =>
    Effect.gen(function* () {
      const p = yield* requirePrincipal(ctx)
      const issues = yield* Issues
      const b = yield* jsonObject(ctx, "IssueComment")
      const body = yield* field<string>(b, "IssueComment", "body", "string", true)
      const made = yield* issues.createComment(
        ...own(ctx),
        yield* intParam(ctx, "number"),
        p,
        body!,
      )
      const json = commentJson(yield* base(ctx), made.repo, made.issue.number, made.comment)
      yield* send(ctx, 201, json, { location: json.url })
    }),
  ),
  route("GET", `${P}/issues/comments/:id`, (ctx) =>
    Effect.gen(function* () {
      const issues = yield* Issues
      const got = yield* issues.comment(
        ...own(ctx),
        yield* intParam(ctx, "id"),
        yield* principalOf(ctx),
      )
      yield* send(
        ctx,
        200,
        commentJson(yield* base(ctx), got.repo, got.issue.number, got.comment, got.reactions),
      )
    }),
  ),
  route("PATCH", `${P}/issues/comments/:id`, (ctx) =>
    Effect.gen(function* () {
      const p = yield* requirePrincipal(ctx)
      const issues = yield* Issues
      const b = yield* jsonObject(ctx, "IssueComment")
      const body = yield* field<string>(b, "IssueComment", "body", "string", true)
      const id = yield* intParam(ctx, "id")
      yield* issues.changeComment(...own(ctx), id, p, body!)
      const got = yield* issues.comment(...own(ctx), id, p)
      yield* send(
        ctx,
        200,
        commentJson(yield* base(ctx), got.repo, got.issue.number, got.comment, got.reactions),
      )
    }),
  ),
  route("DELETE", `${P}/issues/comments/:id`, (ctx) =>
    Effect.gen(function* () {
      const p = yield* requirePrincipal(ctx)
      const issues = yield* Issues
      yield* issues.changeComment(...own(ctx), yield* intParam(ctx, "id"), p, undefined)
      yield* noContent(ctx)
    }),
  ),

  // --- reactions ---
  ...(
    [
      ["issue", `${P}/issues/:number/reactions`, "number"],
      ["comment", `${P}/issues/comments/:id/reactions`, "id"],
    ] as const
  ).flatMap(([subject, path, param]) => [
    route("GET", path, (ctx) =>
      Effect.gen(function* () {
        const issues = yield* Issues
        const got = yield* issues.reactions(
          ...own(ctx),
          subject,
          yield* intParam(ctx, param),
          yield* principalOf(ctx),
        )
        const b = yield* base(ctx)
        yield* send(
          ctx,
          200,
          got.rows.map((r) => reactionJson(b, r)),
        )
      }),
    ),
    route("POST", path, (ctx) =>
      Effect.gen(function* () {
        const p = yield* requirePrincipal(ctx)
        const issues = yield* Issues
        const content = yield* reactionContent(yield* jsonObject(ctx, "Reaction"))
        const got = yield* issues.react(
          ...own(ctx),
          p,
          subject,
          yield* intParam(ctx, param),
          content,
        )
        yield* send(ctx, got.created ? 201 : 200, reactionJson(yield* base(ctx), got.reaction!))
      }),
    ),
    route("DELETE", `${path}/:reaction`, (ctx) =>
      Effect.gen(function* () {
        const p = yield* requirePrincipal(ctx)
        const issues = yield* Issues
        yield* issues.react(
          ...own(ctx),
          p,
          subject,
          yield* intParam(ctx, param),
          "+1",
          yield* intParam(ctx, "reaction"),
        )
        yield* noContent(ctx)
      }),
    ),
  ]),

  // --- timeline ---
  ...(["events", "timeline"] as const).map((kind) =>
    route("GET", `${P}/issues/:number/${kind}`, (ctx) =>
      Effect.gen(function* () {
        const issues = yield* Issues
        const got = yield* issues.events(
          ...own(ctx),
          yield* intParam(ctx, "number"),
          yield* principalOf(ctx),
        )
        const b = yield* base(ctx)
        const events = got.events.map((e) => ({
          at: e.created_at,
          key: e.id * 2,
          json: eventJson(b, got.repo, got.issue.number, e),
        }))
        const items =
          kind === "timeline"
            ? [
                ...events,
                ...got.comments.map((c) => ({
                  at: c.created_at,
                  key: c.id * 2 + 1,
                  json: {
                    ...commentJson(b, got.repo, got.issue.number, c),
                    event: "commented",
                    actor: commentJson(b, got.repo, got.issue.number, c).user,
                  },
                })),
              ].sort((x, y) => x.at - y.at || x.key - y.key)
            : events
        const { perPage, offset } = pageParams(ctx)
        yield* send(
          ctx,
          200,
          items.slice(offset, offset + perPage).map((x) => x.json),
          linkHeader(ctx, b, items.length),
        )
      }),
    ),
  ),

  // --- labels ---
  route("GET", `${P}/labels`, (ctx) =>
    Effect.gen(function* () {
      const issues = yield* Issues
      const got = yield* issues.labels(...own(ctx), yield* principalOf(ctx))
      const b = yield* base(ctx)
      const { perPage, offset } = pageParams(ctx)
      yield* send(
        ctx,
        200,
        got.rows.slice(offset, offset + perPage).map((l) => labelJson(b, got.repo, l)),
        linkHeader(ctx, b, got.rows.length),
      )
    }),
  ),
  route("POST", `${P}/labels`, (ctx) =>
    Effect.gen(function* () {
      const p = yield* requirePrincipal(ctx)
      const issues = yield* Issues
      const b = yield* jsonObject(ctx, "Label")
      const name = yield* field<string>(b, "Label", "name", "string", true)
      const color = yield* field<string>(b, "Label", "color", "string")
      const description = yield* nullableString(b, "Label", "description")
      const got = yield* issues.setLabel(...own(ctx), p, {
        newName: name!,
        color: color?.replace(/^#/, ""),
        description,
      })
      yield* send(ctx, 201, labelJson(yield* base(ctx), got.repo, got.label!))
    }),
  ),
  route("GET", `${P}/labels/:name`, (ctx) =>
    Effect.gen(function* () {
      const issues = yield* Issues
      const got = yield* issues.label(...own(ctx), ctx.params.name!, yield* principalOf(ctx))
      yield* send(ctx, 200, labelJson(yield* base(ctx), got.repo, got.label))
    }),
  ),
  route("PATCH", `${P}/labels/:name`, (ctx) =>
    Effect.gen(function* () {
      const p = yield* requirePrincipal(ctx)
      const issues = yield* Issues
      const b = yield* jsonObject(ctx, "Label")
      const newName = yield* field<string>(b, "Label", "new_name", "string")
      const color = yield* field<string>(b, "Label", "color", "string")
      const description = yield* nullableString(b, "Label", "description")
      const got = yield* issues.setLabel(...own(ctx), p, {
        name: ctx.params.name!,
        newName,
        color: color?.replace(/^#/, ""),
        description,
      })
      yield* send(ctx, 200, labelJson(yield* base(ctx), got.repo, got.label!))
    }),
  ),
  route("DELETE", `${P}/labels/:name`, (ctx) =>
    Effect.gen(function* () {
      const p = yield* requirePrincipal(ctx)
      const issues = yield* Issues
      yield* issues.setLabel(...own(ctx), p, { name: ctx.params.name!, delete: true })
      yield* noContent(ctx)
    }),
  ),

  // --- milestones ---
  route("GET", `${P}/milestones`, (ctx) =>
    Effect.gen(function* () {
      const issues = yield* Issues
      const state = ctx.url.searchParams.get("state") ?? "open"
      if (state !== "open" && state !== "closed" && state !== "all")
        return yield* unprocessable("Invalid request. state must be open, closed or all.", [
          { resource: "Milestone", field: "state", code: "invalid" },
        ])
      const got = yield* issues.milestones(...own(ctx), yield* principalOf(ctx), state)
      const b = yield* base(ctx)
      yield* send(
        ctx,
        200,
        got.rows.map((m) => milestoneJson(b, got.repo, m)),
      )
    }),
  ),
  route("POST", `${P}/milestones`, (ctx) =>
    Effect.gen(function* () {
      const p = yield* requirePrincipal(ctx)
      const issues = yield* Issues
      const b = yield* jsonObject(ctx, "Milestone")
      const title = yield* field<string>(b, "Milestone", "title", "string", true)
      const state = yield* field<string>(b, "Milestone", "state", "string")
      if (state !== undefined && state !== "open" && state !== "closed")
        return yield* unprocessable("Invalid request. state must be open or closed.", [
          { resource: "Milestone", field: "state", code: "invalid" },
        ])
      const got = yield* issues.setMilestone(...own(ctx), p, {
        title: title!,
        state: state as "open" | "closed" | undefined,
        description: yield* nullableString(b, "Milestone", "description"),
        dueOn: yield* isoTime(
          yield* nullableString(b, "Milestone", "due_on"),
          "Milestone",
          "due_on",
        ),
      })
      yield* send(ctx, 201, milestoneJson(yield* base(ctx), got.repo, got.milestone!))
    }),
  ),
  route("GET", `${P}/milestones/:number`, (ctx) =>
    Effect.gen(function* () {
      const issues = yield* Issues
      const got = yield* issues.milestone(
        ...own(ctx),
        yield* intParam(ctx, "number"),
        yield* principalOf(ctx),
      )
      yield* send(ctx, 200, milestoneJson(yield* base(ctx), got.repo, got.milestone))
    }),
  ),
  route("PATCH", `${P}/milestones/:number`, (ctx) =>
    Effect.gen(function* () {
      const p = yield* requirePrincipal(ctx)
      const issues = yield* Issues
      const b = yield* jsonObject(ctx, "Milestone")
      const state = yield* field<string>(b, "Milestone", "state", "string")
      if (state !== undefined && state !== "open" && state !== "closed")
        return yield* unprocessable("Invalid request. state must be open or closed.", [
          { resource: "Milestone", field: "state", code: "invalid" },
        ])
      const got = yield* issues.setMilestone(...own(ctx), p, {
        number: yield* intParam(ctx, "number"),
        title: yield* field<string>(b, "Milestone", "title", "string"),
        state: state as "open" | "closed" | undefined,
        description: yield* nullableString(b, "Milestone", "description"),
        dueOn: yield* isoTime(
          yield* nullableString(b, "Milestone", "due_on"),
          "Milestone",
          "due_on",
        ),
      })
      yield* send(ctx, 200, milestoneJson(yield* base(ctx), got.repo, got.milestone!))
    }),
  ),
  route("DELETE", `${P}/milestones/:number`, (ctx) =>
    Effect.gen(function* () {
      const p = yield* requirePrincipal(ctx)
      const issues = yield* Issues
      yield* issues.setMilestone(...own(ctx), p, {
        number: yield* intParam(ctx, "number"),
        delete: true,
      })
      yield* noContent(ctx)
    }),
  ),
]
