/**
 * Apply handler for webhooks: created, changed and removed by repository administrators
 * (repository hooks) or organisation owners (organisation hooks). Delivery is not state:
 * it happens after blocks are applied (see WebhookDispatcher).
 */
import { Effect } from "effect"
import type * as T from "../../domain/Transaction.ts"
import type { Block } from "../../domain/Transaction.ts"
import type { MetadataShape, UserRow } from "../Metadata.ts"
import type { Kit } from "./Kit.ts"

export const HOOK_EVENTS = [
  "*",
  "push",
  "create",
  "delete",
  "issues",
  "issue_comment",
  "pull_request",
  "pull_request_review",
  "release",
  "status",
  "workflow_run",
] as const

export const makeHookHandlers = (meta: MetadataShape, kit: Kit) => {
  const { reject, done, needLevel, needOrg, needOrgAdmin } = kit
  const invalid = (field: string, reason: string) => reject(reason, { code: "invalid", field })

  const setHook = (tx: T.SetHook, block: Block, actor: UserRow) =>
    Effect.gen(function* () {
      let target: { repo_id: number | null; org_id: number | null }
      if (tx.repo !== undefined) {
        const repo = yield* needLevel(tx.owner, tx.repo, actor, "admin")
        target = { repo_id: repo.id, org_id: null }
      } else {
        const org = yield* needOrg(tx.owner)
        yield* needOrgAdmin(org, actor)
        target = { repo_id: null, org_id: org.id }
      }
      if (tx.url !== undefined && !/^https?:\/\/[^\s]+$/.test(tx.url))
        return yield* invalid("url", "url must be an http(s) URL")
      const unknown = (tx.events ?? []).filter(
        (e) => !(HOOK_EVENTS as ReadonlyArray<string>).includes(e),
      )
      if (unknown.length > 0)
        return yield* invalid("events", `unknown events: ${unknown.join(", ")}`)
      if (tx.id === undefined) {
        if (tx.url === undefined) return yield* invalid("url", "url is required")
        const id = yield* meta.insertHook({
          ...target,
          url: tx.url,
          content_type: tx.contentType ?? "json",
          secret: tx.secret ?? null,
          events: JSON.stringify(tx.events ?? ["push"]),
          active: tx.active === false ? 0 : 1,
          created_at: block.timestamp,
          updated_at: block.timestamp,
        })
        return done({ id })
      }
      const hook = yield* meta.hookById(tx.id)
      if (!hook || hook.repo_id !== target.repo_id || hook.org_id !== target.org_id)
        return yield* reject(`hook ${tx.id} does not exist`, { code: "not_found" })
      if (tx.delete) {
        yield* meta.deleteHook(hook.id)
        return done({ id: hook.id })
      }
      yield* meta.updateHook(hook.id, {
        ...(tx.url !== undefined ? { url: tx.url } : {}),
        ...(tx.contentType !== undefined ? { content_type: tx.contentType } : {}),
        ...(tx.secret !== undefined ? { secret: tx.secret } : {}),
        ...(tx.events !== undefined ? { events: JSON.stringify(tx.events) } : {}),
        ...(tx.active !== undefined ? { active: tx.active ? 1 : 0 } : {}),
        updated_at: block.timestamp,
      })
      return done({ id: hook.id })
    })

  /** Only a node (the system submitter) records what it delivered. */
  const recordHookDelivery = (tx: T.RecordHookDelivery, block: Block, actor: UserRow) =>
    Effect.gen(function* () {
      if (actor.id !== 0)
        return yield* reject("only a node records webhook deliveries", { code: "forbidden" })
      if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(tx.guid))
        return yield* invalid("guid", "guid must be a delivery id")
      if (!/^[0-9a-f]{64}$/.test(tx.node))
        return yield* invalid("node", "node must be a public key (64 hex digits)")
      yield* meta.insertHookRecord({
        guid: tx.guid,
        hook_id: tx.hookId,
        node: tx.node,
        status_code: tx.statusCode,
        attempts: tx.attempts,
        event: tx.event,
        action: tx.action ?? null,
        recorded_at: block.timestamp,
        height: block.height,
      })
      return done({ guid: tx.guid })
    })

  return { setHook, recordHookDelivery }
}
