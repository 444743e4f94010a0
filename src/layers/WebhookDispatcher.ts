/**
 * WebhookDispatcher: turns applied blocks into GitHub webhook deliveries.
 *
 * Deliveries happen after finality (Apply publishes a block only once it is committed), in
 * block order. Each delivery has an id derived from the block, the transaction, the event
 * and the hook, so every node names it the same. A single validator sends all; in a cluster
 * one validator owns each delivery and the others back it up in turn if no success is
 * recorded in replicated state (HookFailover.ts). Requests carry GitHub's headers — `X-GitHub-Event`,
 * `X-GitHub-Delivery`, `X-Hub-Signature-256` (HMAC-SHA256 of the body with the hook's
 * secret) — and are retried with backoff; every attempt is logged for the delivery API.
 */
import { createHash, createHmac } from "node:crypto"
import { Effect, Layer, PubSub, Queue, Schedule } from "effect"
import {
  type FailoverTiming,
  latestStart,
  rankOf,
  retryDelayMs,
  slotStart,
} from "../domain/HookFailover.ts"
import {
  type Block,
  RecordHookDelivery,
  SYSTEM_USER,
  type Transaction,
  type TxOutcome,
} from "../domain/Transaction.ts"
import { Apply } from "../services/Apply.ts"
import { Ledger } from "../services/Ledger.ts"
import type { HookRow } from "../services/CollabTables.ts"
import { Metadata, type MetadataShape, type RepoRow, type UserRow } from "../services/Metadata.ts"
import { NodeConfig } from "../services/NodeConfig.ts"
import { accountJson, repoJson } from "./http/Presenters.ts"
import { workflowRunEvents } from "./CiEvents.ts"
import { Metrics } from "./Metrics.ts"

export interface HookEvent {
  readonly event: string
  readonly action: string | undefined
  readonly repo: RepoRow
  readonly payload: Record<string, unknown>
}

/** A stable, UUID-shaped id for one delivery (the same on every node). */
export const deliveryId = (parts: ReadonlyArray<string | number>) => {
  const h = createHash("sha256").update(parts.join("/")).digest("hex")
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`
}

export const signBody = (secret: string, body: string) =>
  `sha256=${createHmac("sha256", secret).update(body).digest("hex")}`

const wants = (hook: HookRow, event: string) => {
  const events = JSON.parse(hook.events) as string[]
  return event === "ping" || events.includes("*") || events.includes(event)
}

/** The webhook events a transaction's outcome produces (GitHub's names and payload cores). */
export const eventsOf = (
  meta: MetadataShape,
  base: string,
  tx: Transaction,
  outcome: TxOutcome,
  sender: UserRow,
) =>
  Effect.gen(function* () {
    const out: HookEvent[] = []
    if (outcome._tag !== "Applied" || !("owner" in tx) || !("repo" in tx) || !tx.repo) return out
    const repo = yield* meta.repo(tx.owner, tx.repo as string)
    if (!repo) return out
    const detail = outcome.detail as Record<string, unknown>
    const common = {
      repository: repoJson(
        base,
        repo,
        undefined,
        (yield* meta.userById(repo.owner_id))?.type === "Organization",
        {
          openIssues: yield* meta.openIssueCount(repo.id),
          topics: yield* meta.topicsOf(repo.id),
        },
      ),
      sender: accountJson(base, sender),
    }
    const add = (event: string, action: string | undefined, payload: Record<string, unknown>) =>
      out.push({
        event,
        action,
        repo,
        payload: { ...(action ? { action } : {}), ...payload, ...common },
      })
    const issueCore = (n: number) =>
      Effect.map(meta.issueByNumber(repo.id, n), (i) =>
        i
          ? {
              number: i.number,
              title: i.title,
              body: i.body,
              state: i.state,
              user: { login: i.user_login, id: i.user_id },
              html_url: `${base}/${repo.owner_login}/${repo.name}/${i.is_pull ? "pull" : "issues"}/${i.number}`,
            }
          : undefined,
      )
    switch (tx._tag) {
      case "UpdateRefs": {
        const refs = (detail.refs as Array<{ name: string; ok: boolean }>) ?? []
        for (const r of refs) {
          if (!r.ok) continue
          const c = tx.changes.find((x) => x.name === r.name)!
          const zero = "0".repeat(40)
          add("push", undefined, {
            ref: c.name,
            before: c.old,
            after: c.new,
            created: c.old === zero,
            deleted: c.new === zero,
            forced: false,
            pusher: { name: sender.login, email: sender.email },
          })
          const kind = c.name.startsWith("refs/tags/") ? "tag" : "branch"
          const short = c.name.replace(/^refs\/(heads|tags)\//, "")
          if (c.old === zero) add("create", undefined, { ref: short, ref_type: kind })
          if (c.new === zero) add("delete", undefined, { ref: short, ref_type: kind })
        }
        break
      }
      case "CreateIssue":
        add("issues", "opened", { issue: yield* issueCore(detail.number as number) })
        break
      case "UpdateIssue": {
        const action =
          tx.state === "closed" ? "closed" : tx.state === "open" ? "reopened" : "edited"
        const issue = yield* issueCore(tx.number)
        const isPull = (yield* meta.pullByNumber(repo.id, tx.number)) !== undefined
        add(isPull ? "pull_request" : "issues", action, {
          [isPull ? "pull_request" : "issue"]: issue,
          number: tx.number,
        })
        break
      }
      case "CreateComment": {
        const c = yield* meta.commentById(detail.id as number)
        add("issue_comment", "created", {
          issue: yield* issueCore(tx.number),
          comment: c
            ? { id: c.id, body: c.body, user: { login: c.user_login, id: c.user_id } }
            : null,
        })
        break
      }
      case "CreatePull":
        add("pull_request", "opened", {
          number: detail.number,
          pull_request: yield* issueCore(detail.number as number),
        })
        break
      case "MergePull":
        add("pull_request", "closed", {
          number: tx.number,
          pull_request: {
            ...(yield* issueCore(tx.number)),
            merged: true,
            merge_commit_sha: detail.sha,
          },
        })
        break
      case "CreateReview":
      case "SubmitReview": {
        const review = yield* meta.reviewById((detail.id as number) ?? 0)
        if (review && review.state !== "PENDING")
          add("pull_request_review", review.state === "DISMISSED" ? "dismissed" : "submitted", {
            review: {
              id: review.id,
              state: review.state.toLowerCase(),
              body: review.body,
              user: { login: review.user_login },
            },
            pull_request: yield* issueCore(tx.number),
          })
        break
      }
      case "SetRelease": {
        const r = yield* meta.releaseById(detail.id as number)
        if (r && !tx.delete)
          add("release", tx.id === undefined ? (r.draft ? "created" : "published") : "edited", {
            release: { id: r.id, tag_name: r.tag_name, name: r.name, draft: r.draft === 1 },
          })
        break
      }
      case "CreateStatus":
        add("status", undefined, {
          sha: tx.sha,
          state: tx.state,
          context: tx.context,
          description: tx.description ?? null,
          target_url: tx.targetUrl ?? null,
        })
        break
      default:
        break
    }
    return out
  })

export interface Delivery {
  readonly guid: string
  readonly hook: HookRow
  readonly event: string
  readonly action: string | undefined
  readonly body: string
  readonly redelivery: number
}

export interface DeliverOptions {
  /** Attempts in all (default 3). */
  readonly attempts?: number
  /** How long one attempt waits for the receiver (default 10 s). */
  readonly timeoutMs?: number
  /** The sending node's public key, sent as `X-Guts-Node` (which node delivered). */
  readonly node?: string
}

/** What a delivery ended with: the last attempt's HTTP status (0: unreachable). */
export interface DeliveryResult {
  readonly statusCode: number
  readonly attempts: number
}

/** Sends one delivery, with retries; records every attempt in the node's delivery log. */
export const deliver = (meta: MetadataShape, d: Delivery, options: DeliverOptions | number = {}) =>
  Effect.gen(function* () {
    const opts = typeof options === "number" ? { attempts: options } : options
    const attempts = opts.attempts ?? 3
    const timeoutMs = opts.timeoutMs ?? 10_000
    const headers: Record<string, string> = {
      "content-type":
        d.hook.content_type === "form" ? "application/x-www-form-urlencoded" : "application/json",
      "user-agent": "GitHub-Hookshot/guts",
      "x-github-event": d.event,
      "x-github-delivery": d.guid,
      "x-github-hook-id": String(d.hook.id),
      ...(opts.node ? { "x-guts-node": opts.node } : {}),
    }
    const payload =
      d.hook.content_type === "form" ? `payload=${encodeURIComponent(d.body)}` : d.body
    if (d.hook.secret) headers["x-hub-signature-256"] = signBody(d.hook.secret, payload)
    yield* meta
      .insertDelivery({
        guid: d.guid,
        hook_id: d.hook.id,
        event: d.event,
        action: d.action ?? null,
        payload: d.body,
        status: "pending",
        status_code: 0,
        duration_ms: 0,
        attempts: 0,
        redelivery: d.redelivery,
        delivered_at: Date.now(),
        response: null,
      })
      .pipe(Effect.orDie)
    let attempt = 0
    let lastCode = 0
    const once = Effect.gen(function* () {
      attempt++
      const started = Date.now()
      const res = yield* Effect.tryPromise(() =>
        fetch(d.hook.url, {
          method: "POST",
          headers,
          body: payload,
          signal: AbortSignal.timeout(timeoutMs),
        }),
      ).pipe(Effect.either)
      const code = res._tag === "Right" ? res.right.status : 0
      const text =
        res._tag === "Right"
          ? yield* Effect.promise(() => res.right.text().catch(() => ""))
          : String(res.left.error)
      const ms = Date.now() - started
      lastCode = code
      const ok = code >= 200 && code < 300
      yield* meta
        .updateDelivery(d.guid, {
          status: ok ? "OK" : code === 0 ? "failed to connect" : `HTTP ${code}`,
          status_code: code,
          duration_ms: ms,
          attempts: attempt,
          response: text.slice(0, 2000),
        })
        .pipe(Effect.orDie)
      if (!ok) return yield* Effect.fail(new Error(`delivery ${d.guid} answered ${code}`))
    })
    yield* once.pipe(
      Effect.retry(
        Schedule.exponential(`${retryDelayMs(1)} millis`, 3).pipe(
          Schedule.intersect(Schedule.recurs(attempts - 1)),
        ),
      ),
      Effect.catchAll((e) => Effect.logWarning(`webhook ${d.hook.url}: ${e.message}; giving up`)),
    )
    return { statusCode: lastCode, attempts: attempt } satisfies DeliveryResult
  })

/** The validators of a cluster, for choosing who sends each delivery. */
export interface DispatchCluster {
  /** Public keys (hex), in cluster order. */
  readonly validators: ReadonlyArray<string>
  /** This node's public key. */
  readonly me: string
}

interface Pending {
  readonly delivery: Delivery
  /** The timestamp of the block that finalized the event. */
  readonly finalizedAt: number
  readonly rank: number
}

/**
 * Runs the dispatcher. Without a cluster this node sends every delivery. In a cluster each
 * delivery has an owner and backups (HookFailover.ts): the owner sends at once, a backup
 * only in its own slot and only if the replicated state records no success by then; every
 * validator that sends records the outcome with a RecordHookDelivery transaction.
 */
export const webhookDispatcherLayer = (cluster: DispatchCluster | undefined) =>
  Layer.scopedDiscard(
    Effect.gen(function* () {
      const apply = yield* Apply
      const meta = yield* Metadata
      const config = yield* NodeConfig
      const ledger = yield* Ledger
      const metrics = yield* Metrics
      const base =
        config.publicUrl?.replace(/\/+$/, "") ??
        `http://${config.host === "0.0.0.0" ? "127.0.0.1" : config.host}:${config.httpPort}`
      const timing: FailoverTiming = {
        attempts: 3,
        attemptTimeoutMs: config.webhookTimeoutMs ?? 10_000,
        takeoverMs: config.webhookTakeoverMs ?? 60_000,
      }
      const n = cluster?.validators.length ?? 1
      const me = cluster ? cluster.validators.indexOf(cluster.me) : 0
      // The newest block applied here: a backup decides on state at least this recent.
      let latestApplied = 0
      const blocks = yield* PubSub.subscribe(apply.appliedBlocks)
      const owned = yield* Queue.unbounded<Pending>()

      /** Waits until this node's state includes every block finalized before `t`. */
      const stateAsOf = (t: number) =>
        Effect.gen(function* () {
          // Nothing can be newer than the clock: sleep until then, then watch for the block.
          const wait = t - Date.now()
          if (wait > 0) yield* Effect.sleep(`${wait} millis`)
          while (latestApplied < t) yield* Effect.sleep("50 millis")
        })

      const send = (p: Pending) =>
        Effect.gen(function* () {
          const d = p.delivery
          if (p.rank > 0) {
            yield* stateAsOf(slotStart(timing, p.finalizedAt, p.rank))
            if (yield* meta.hookDelivered(d.guid).pipe(Effect.orDie)) {
              metrics.webhookDeliveries.inc({ outcome: "delivered_elsewhere" })
              return
            }
          }
          if (Date.now() > latestStart(timing, p.finalizedAt, p.rank, n)) {
            metrics.webhookDeliveries.inc({ outcome: "expired" })
            return
          }
          const result = yield* deliver(meta, d, {
            attempts: timing.attempts,
            timeoutMs: timing.attemptTimeoutMs,
            ...(cluster ? { node: cluster.me } : {}),
          })
          metrics.webhookDeliveries.inc({
            outcome: result.statusCode >= 200 && result.statusCode < 300 ? "ok" : "failed",
          })
          if (!cluster) return
          // Recorded beside the next delivery: finality takes a moment.
          yield* ledger
            .submit(
              RecordHookDelivery.make({
                submitter: SYSTEM_USER,
                idempotencyKey: `hook-record/${d.guid}/${cluster.me.slice(0, 16)}`,
                guid: d.guid,
                hookId: d.hook.id,
                node: cluster.me,
                statusCode: result.statusCode,
                attempts: result.attempts,
                event: d.event,
                action: d.action ?? null,
              }),
            )
            .pipe(
              Effect.catchAll((e) =>
                Effect.logWarning(`webhook delivery ${d.guid} not recorded: ${e.message}`),
              ),
              Effect.forkScoped,
            )
        }).pipe(
          Effect.catchAllCause((c) => Effect.logWarning("webhook delivery failed", c)),
          Effect.ensuring(Effect.sync(() => metrics.webhookPending.dec())),
        )

      /** Queues (owner) or schedules (backup) the deliveries of one event to its hooks. */
      const deliverEvent = (
        block: Block,
        ev: {
          repo: { id: number; owner_id: number }
          event: string
          action?: string | undefined
          payload: Record<string, unknown>
        },
        guidOf: (hookId: number) => string,
      ) =>
        Effect.gen(function* () {
          if (me < 0) return // not a validator: validators deliver
          const org = yield* meta.userById(ev.repo.owner_id)
          const hooks = [
            ...(yield* meta.hooksOf({ repoId: ev.repo.id })),
            ...(org?.type === "Organization" ? yield* meta.hooksOf({ orgId: org.id }) : []),
          ]
          for (const hook of hooks) {
            if (hook.active !== 1 || !wants(hook, ev.event)) continue
            const guid = guidOf(hook.id)
            const pending: Pending = {
              delivery: {
                guid,
                hook,
                event: ev.event,
                action: ev.action,
                body: JSON.stringify({ ...ev.payload, hook_id: hook.id }),
                redelivery: 0,
              },
              finalizedAt: block.timestamp,
              rank: rankOf(guid, n, me),
            }
            metrics.webhookPending.inc()
            if (pending.rank === 0) yield* Queue.offer(owned, pending)
            else yield* send(pending).pipe(Effect.forkScoped)
          }
        })

      const handle = (block: Block, outcomes: ReadonlyArray<TxOutcome>) =>
        Effect.gen(function* () {
          for (const [i, tx] of block.txs.entries()) {
            const outcome = outcomes[i]
            if (!outcome || outcome._tag !== "Applied" || outcome.height !== block.height) continue
            const sender = yield* meta.userById(tx.submitter)
            if (!sender) continue
            const events = yield* eventsOf(meta, base, tx, outcome, sender)
            for (const [k, ev] of events.entries())
              yield* deliverEvent(block, ev, (hookId) => deliveryId([block.height, i, k, hookId]))
          }
          // CI: workflow_run events of the runs this block changed.
          for (const ev of yield* workflowRunEvents(meta, base, block.height))
            yield* deliverEvent(block, ev, (hookId) =>
              deliveryId([block.height, "workflow_run", ev.id, hookId]),
            )
        }).pipe(Effect.catchAllCause((c) => Effect.logWarning("webhook events were not built", c)))
      // Building events follows block order. The deliveries this node owns are sent one at a
      // time, so a slow receiver delays, never reorders, them; a backup's wait for its slot
      // runs on its own.
      yield* Queue.take(blocks).pipe(
        Effect.flatMap((b) => {
          latestApplied = Math.max(latestApplied, b.block.timestamp)
          return handle(b.block, b.outcomes)
        }),
        Effect.forever,
        Effect.forkScoped,
      )
      yield* Queue.take(owned).pipe(Effect.flatMap(send), Effect.forever, Effect.forkScoped)
    }),
  )
