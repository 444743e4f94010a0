/**
 * Webhooks for repositories and organisations: GitHub's REST paths and shapes for hooks,
 * pings, the delivery log (this node's attempts with payloads, and the outcomes other
 * validators recorded in replicated state) and redelivery. Hook changes are transactions;
 * pings and redeliveries are sent by the node that received the request.
 */
import { randomUUID } from "node:crypto"
import { Effect } from "effect"
import { type SetHook as SetHookTx, SetHook, type UserId } from "../../domain/Transaction.ts"
import type { Principal } from "../../services/Auth.ts"
import type { HookRow } from "../../services/CollabTables.ts"
import type { DeliveryRow } from "../../services/Metadata.ts"
import { NotFound, refusalOf } from "../../services/Errors.ts"
import { Identity } from "../../services/Identity.ts"
import { Ledger } from "../../services/Ledger.ts"
import { Metadata } from "../../services/Metadata.ts"
import { Repositories } from "../../services/Repositories.ts"
import { deliver, deliveryId } from "../WebhookDispatcher.ts"
import {
  base,
  type Body,
  field,
  intParam,
  jsonObject,
  noContent,
  type R,
  requirePrincipal,
  route,
  send,
} from "./ApiKit.ts"
import { HttpError, unprocessable } from "./HttpErrors.ts"
import type { HttpContext, Route } from "./HttpServer.ts"

const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z")

/** The hook's target from the path: a repository (`/repos/o/r/hooks`) or an organisation. */
const targetOf = (ctx: HttpContext, p: Principal) =>
  Effect.gen(function* () {
    const meta = yield* Metadata
    if (ctx.params.repo !== undefined) {
      const repos = yield* Repositories
      const { repo } = yield* repos.access(ctx.params.owner!, ctx.params.repo, p, "admin")
      return {
        owner: repo.owner_login,
        repo: repo.name as string | undefined,
        repoId: repo.id,
        orgId: undefined,
      }
    }
    const identity = yield* Identity
    const org = yield* identity.org(ctx.params.org!)
    if ((yield* identity.roleIn(org, p)) !== "admin")
      return yield* new HttpError({ status: 404, message: "Not Found" })
    yield* Effect.void
    return {
      owner: org.login,
      repo: undefined,
      repoId: undefined,
      orgId: (yield* meta.userByLogin(org.login).pipe(Effect.orDie))!.id,
    }
  })

/** The hook's last answer, from this node's delivery log (GitHub's `last_response`). */
const lastResponse = (last: DeliveryRow | undefined) =>
  last === undefined
    ? { code: null, status: "unused", message: null }
    : {
        code: last.status_code,
        status: last.status === "OK" ? "active" : "failed",
        message: last.status,
      }

/** A delivery's number (GitHub's `id`): the first 52 bits of its guid. */
const deliveryNumber = (guid: string) => Number.parseInt(guid.replace(/-/g, "").slice(0, 13), 16)

const hookJson = (b: string, path: string, h: HookRow, last?: DeliveryRow) => ({
  type: h.repo_id !== null ? "Repository" : "Organization",
  id: h.id,
  name: "web",
  active: h.active === 1,
  events: JSON.parse(h.events) as string[],
  config: {
    url: h.url,
    content_type: h.content_type,
    insecure_ssl: "0",
    ...(h.secret ? { secret: "********" } : {}),
  },
  updated_at: iso(h.updated_at),
  created_at: iso(h.created_at),
  url: `${b}/api${path}/hooks/${h.id}`,
  test_url: `${b}/api${path}/hooks/${h.id}/tests`,
  ping_url: `${b}/api${path}/hooks/${h.id}/pings`,
  last_response: lastResponse(last),
  deliveries_url: `${b}/api${path}/hooks/${h.id}/deliveries`,
})

const hookFields = (b: Body) =>
  Effect.gen(function* () {
    const config = (b.config ?? {}) as Record<string, unknown>
    if (typeof config !== "object" || config === null)
      return yield* unprocessable("Invalid request. config must be an object.", [
        { resource: "Hook", field: "config", code: "invalid" },
      ])
    const events = yield* field<unknown[]>(b, "Hook", "events", "array")
    if (events && !events.every((e) => typeof e === "string"))
      return yield* unprocessable("Invalid request. events must be strings.", [
        { resource: "Hook", field: "events", code: "invalid" },
      ])
    const contentType = config.content_type
    if (contentType !== undefined && contentType !== "json" && contentType !== "form")
      return yield* unprocessable("Invalid request. content_type must be json or form.", [
        { resource: "Hook", field: "content_type", code: "invalid" },
      ])
    return {
      url: typeof config.url === "string" ? config.url : undefined,
      contentType: contentType as "json" | "form" | undefined,
      secret: typeof config.secret === "string" ? config.secret : undefined,
      events: events as string[] | undefined,
      active: yield* field<boolean>(b, "Hook", "active", "boolean"),
    }
  })

const submitHook = (
  p: Principal,
  fields: Omit<SetHookTx, "_tag" | "submitter" | "idempotencyKey">,
) =>
  Effect.gen(function* () {
    const ledger = yield* Ledger
    const outcome = yield* ledger.submit(
      SetHook.make({ submitter: p.user.id as UserId, idempotencyKey: randomUUID(), ...fields }),
    )
    if (outcome._tag === "Rejected") return yield* refusalOf(outcome, "Hook", "config")
    return (outcome.detail as { id: number }).id
  })

const hookOf = (ctx: HttpContext, p: Principal) =>
  Effect.gen(function* () {
    const meta = yield* Metadata
    const t = yield* targetOf(ctx, p)
    const hook = yield* meta.hookById(yield* intParam(ctx, "id")).pipe(Effect.orDie)
    if (!hook || (t.repoId !== undefined ? hook.repo_id !== t.repoId : hook.org_id !== t.orgId))
      return yield* new NotFound({ what: "hook" })
    return { t, hook }
  })

const lastDelivery = (hook: HookRow) =>
  Effect.flatMap(Metadata, (meta) =>
    Effect.map(meta.deliveries(hook.id).pipe(Effect.orDie), (rows) => rows[0]),
  )

/**
 * The hook's delivery log: what this node sent (with payloads), and what other validators
 * recorded sending in replicated state (outcome only: their log holds the payload).
 */
const deliveryLog = (hook: HookRow) =>
  Effect.gen(function* () {
    const meta = yield* Metadata
    const local = yield* meta.deliveries(hook.id).pipe(Effect.orDie)
    const seen = new Set(local.map((d) => d.guid))
    const remote = (yield* meta.hookRecordsOf(hook.id).pipe(Effect.orDie))
      .filter((r) => !seen.has(r.guid))
      .map((r): DeliveryRow & { remote?: true } => ({
        guid: r.guid,
        hook_id: r.hook_id,
        event: r.event,
        action: r.action,
        payload: "null",
        status:
          r.status_code >= 200 && r.status_code < 300
            ? "OK"
            : r.status_code === 0
              ? "failed to connect"
              : `HTTP ${r.status_code}`,
        status_code: r.status_code,
        duration_ms: 0,
        attempts: r.attempts,
        redelivery: 0,
        delivered_at: r.recorded_at,
        response: null,
        remote: true,
      }))
    const all: Array<DeliveryRow & { remote?: true }> = [...local, ...remote]
    return all.sort((a, b) => b.delivered_at - a.delivered_at)
  })

/** A delivery of the hook by guid or by number (GitHub's `delivery_id`). */
const deliveryOf = (hook: HookRow, key: string) =>
  Effect.gen(function* () {
    const meta = yield* Metadata
    const local = /^\d+$/.test(key)
      ? undefined
      : yield* meta.delivery(hook.id, key).pipe(Effect.orDie)
    if (local) return local as DeliveryRow & { remote?: true }
    return (yield* deliveryLog(hook)).find((d) =>
      /^\d+$/.test(key) ? deliveryNumber(d.guid) === Number(key) : d.guid === key,
    )
  })

const pathOf = (ctx: HttpContext) =>
  ctx.params.repo !== undefined
    ? `/repos/${ctx.params.owner}/${ctx.params.repo}`
    : `/orgs/${ctx.params.org}`

const routesFor = (prefix: string): Array<Route<R>> => [
  route("GET", `${prefix}/hooks`, (ctx) =>
    Effect.gen(function* () {
      const p = yield* requirePrincipal(ctx)
      const meta = yield* Metadata
      const t = yield* targetOf(ctx, p)
      const rows = yield* meta.hooksOf({ repoId: t.repoId, orgId: t.orgId }).pipe(Effect.orDie)
      const b = yield* base(ctx)
      const out = []
      for (const h of rows) out.push(hookJson(b, pathOf(ctx), h, yield* lastDelivery(h)))
      yield* send(ctx, 200, out)
    }),
  ),
  route("POST", `${prefix}/hooks`, (ctx) =>
    Effect.gen(function* () {
      const p = yield* requirePrincipal(ctx)
      const meta = yield* Metadata
      const t = yield* targetOf(ctx, p)
      const f = yield* hookFields(yield* jsonObject(ctx, "Hook"))
      if (f.url === undefined)
        return yield* unprocessable("Invalid request. config.url is required.", [
          { resource: "Hook", field: "url", code: "missing_field" },
        ])
      const id = yield* submitHook(p, { owner: t.owner, repo: t.repo, ...f })
      const hook = (yield* meta.hookById(id).pipe(Effect.orDie))!
      // GitHub pings a new hook.
      yield* ping(meta, hook, t.repo === undefined ? undefined : `${t.owner}/${t.repo}`).pipe(
        Effect.forkDaemon,
      )
      yield* send(ctx, 201, hookJson(yield* base(ctx), pathOf(ctx), hook))
    }),
  ),
  route("GET", `${prefix}/hooks/:id`, (ctx) =>
    Effect.gen(function* () {
      const p = yield* requirePrincipal(ctx)
      const { hook } = yield* hookOf(ctx, p)
      yield* send(
        ctx,
        200,
        hookJson(yield* base(ctx), pathOf(ctx), hook, yield* lastDelivery(hook)),
      )
    }),
  ),
  route("PATCH", `${prefix}/hooks/:id`, (ctx) =>
    Effect.gen(function* () {
      const p = yield* requirePrincipal(ctx)
      const meta = yield* Metadata
      const { t, hook } = yield* hookOf(ctx, p)
      const f = yield* hookFields(yield* jsonObject(ctx, "Hook"))
      yield* submitHook(p, { owner: t.owner, repo: t.repo, id: hook.id, ...f })
      const after = (yield* meta.hookById(hook.id).pipe(Effect.orDie))!
      yield* send(
        ctx,
        200,
        hookJson(yield* base(ctx), pathOf(ctx), after, yield* lastDelivery(after)),
      )
    }),
  ),
  route("DELETE", `${prefix}/hooks/:id`, (ctx) =>
    Effect.gen(function* () {
      const p = yield* requirePrincipal(ctx)
      const { t, hook } = yield* hookOf(ctx, p)
      yield* submitHook(p, { owner: t.owner, repo: t.repo, id: hook.id, delete: true })
      yield* noContent(ctx)
    }),
  ),
  route("POST", `${prefix}/hooks/:id/pings`, (ctx) =>
    Effect.gen(function* () {
      const p = yield* requirePrincipal(ctx)
      const meta = yield* Metadata
      const { t, hook } = yield* hookOf(ctx, p)
      yield* ping(meta, hook, t.repo === undefined ? undefined : `${t.owner}/${t.repo}`)
      yield* noContent(ctx)
    }),
  ),
  // GitHub's test: the latest push again, if the hook takes pushes (else nothing is sent).
  route("POST", `${prefix}/hooks/:id/tests`, (ctx) =>
    Effect.gen(function* () {
      const p = yield* requirePrincipal(ctx)
      const meta = yield* Metadata
      const { hook } = yield* hookOf(ctx, p)
      const events = JSON.parse(hook.events) as string[]
      const push = (yield* meta.deliveries(hook.id).pipe(Effect.orDie)).find(
        (d) => d.event === "push",
      )
      if (push && (events.includes("push") || events.includes("*")))
        yield* deliver(meta, {
          guid: push.guid,
          hook,
          event: push.event,
          action: undefined,
          body: push.payload,
          redelivery: push.redelivery + 1,
        }).pipe(Effect.forkDaemon)
      yield* noContent(ctx)
    }),
  ),
  route("GET", `${prefix}/hooks/:id/deliveries`, (ctx) =>
    Effect.gen(function* () {
      const p = yield* requirePrincipal(ctx)
      const { hook } = yield* hookOf(ctx, p)
      const rows = yield* deliveryLog(hook)
      yield* send(
        ctx,
        200,
        rows.map((d) => ({
          id: deliveryNumber(d.guid),
          guid: d.guid,
          delivered_at: iso(d.delivered_at),
          redelivery: d.redelivery > 0,
          duration: d.duration_ms / 1000,
          status: d.status,
          status_code: d.status_code,
          event: d.event,
          action: d.action,
          installation_id: null,
          repository_id: hook.repo_id,
        })),
      )
    }),
  ),
  route("GET", `${prefix}/hooks/:id/deliveries/:guid`, (ctx) =>
    Effect.gen(function* () {
      const p = yield* requirePrincipal(ctx)
      const { hook } = yield* hookOf(ctx, p)
      const d = yield* deliveryOf(hook, ctx.params.guid!)
      if (!d) return yield* new NotFound({ what: "delivery" })
      yield* send(ctx, 200, {
        id: deliveryNumber(d.guid),
        guid: d.guid,
        delivered_at: iso(d.delivered_at),
        redelivery: d.redelivery > 0,
        duration: d.duration_ms / 1000,
        status: d.status,
        status_code: d.status_code,
        event: d.event,
        action: d.action,
        attempts: d.attempts,
        installation_id: null,
        repository_id: hook.repo_id,
        request: {
          headers: { "X-GitHub-Event": d.event, "X-GitHub-Delivery": d.guid },
          payload: JSON.parse(d.payload),
        },
        response: { headers: null, payload: d.response },
      })
    }),
  ),
  route("POST", `${prefix}/hooks/:id/deliveries/:guid/attempts`, (ctx) =>
    Effect.gen(function* () {
      const p = yield* requirePrincipal(ctx)
      const meta = yield* Metadata
      const { hook } = yield* hookOf(ctx, p)
      const d = yield* deliveryOf(hook, ctx.params.guid!)
      if (!d) return yield* new NotFound({ what: "delivery" })
      if (d.remote)
        return yield* unprocessable(
          `Delivery ${d.guid} was sent by another node of the cluster, whose log holds its payload: redeliver it through that node.`,
          [{ resource: "HookDelivery", field: "id", code: "invalid" }],
        )
      yield* deliver(meta, {
        guid: d.guid,
        hook,
        event: d.event,
        action: d.action ?? undefined,
        body: d.payload,
        redelivery: d.redelivery + 1,
      }).pipe(Effect.forkDaemon)
      yield* send(ctx, 202, {})
    }),
  ),
]

const ping = (meta: Metadata["Type"], hook: HookRow, fullName: string | undefined) =>
  deliver(
    meta,
    {
      guid: deliveryId(["ping", hook.id, Date.now(), Math.random()]),
      hook,
      event: "ping",
      action: undefined,
      body: JSON.stringify({
        zen: "Keep it logically awesome.",
        hook_id: hook.id,
        hook: {
          id: hook.id,
          type: hook.repo_id !== null ? "Repository" : "Organization",
          events: JSON.parse(hook.events),
          active: hook.active === 1,
        },
        ...(fullName ? { repository: { full_name: fullName } } : {}),
      }),
      redelivery: 0,
    },
    1,
  )

export const hookRoutes: Array<Route<R>> = [
  ...routesFor("/repos/:owner/:repo"),
  ...routesFor("/orgs/:org"),
]
