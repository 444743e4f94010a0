/**
 * Live events over `/ws`: a client authenticates with its token (an `Authorization` header
 * or `?access_token=`), subscribes to repositories it can read, to organisations (the
 * events of every repository of theirs it can read, including ones created later) and to
 * its notifications (events on issues and pull requests it opened, is assigned to, or is
 * @mentioned in), and receives the same events webhooks describe, as blocks are applied
 * and in block order. Each event carries the block
 * height; a client that reconnects with `since: <height>` first gets every event after that
 * height it missed (from a buffer of recent events), then the live stream — no gaps.
 *
 * Protocol (JSON text messages):
 *   → {"type":"subscribe","repositories":["owner/name"],"organizations":["org"],
 *      "notifications":true,"since":123}            (each list optional)
 *   ← {"type":"subscribed","repositories":[...],"organizations":[...],"notifications":true,
 *      "height":130}
 *   ← {"type":"event","height":124,"event":"issues","action":"opened","repository":"o/r","payload":{...}}
 *   ← {"type":"error","message":"..."}
 *   With `"blocks":true` in a subscribe message, also every applied block:
 *   ← {"type":"block","height":131,"timestamp":1700000000000,"transactions":3}
 */
import type * as http from "node:http"
import type { Duplex } from "node:stream"
import { Context, Effect, Layer, PubSub, Queue } from "effect"
import { Apply } from "../services/Apply.ts"
import { Auth } from "../services/Auth.ts"
import { Metadata } from "../services/Metadata.ts"
import { NodeConfig } from "../services/NodeConfig.ts"
import { Repositories } from "../services/Repositories.ts"
import { encodeFrame, frameReader, handshake, OP } from "./http/WebSocket.ts"
import { eventsOf } from "./WebhookDispatcher.ts"
import { workflowRunEvents } from "./CiEvents.ts"

export interface LiveEvent {
  /** Position in this node's stream (for handing over from replay to live without gaps). */
  readonly seq: number
  readonly height: number
  readonly repoId: number
  /** The account owning the repository (an organisation's id for its repositories). */
  readonly ownerId: number
  readonly repository: string
  /** Lowercased logins the event concerns: the issue's author, assignees, @mentioned. */
  readonly involved: ReadonlyArray<string>
  readonly event: string
  readonly action: string | undefined
  readonly payload: Record<string, unknown>
}

/** `@login` in a text (GitHub's login characters, not part of an e-mail address). */
const MENTION = /(?:^|[^\w@.])@([A-Za-z0-9](?:[A-Za-z0-9-]{0,38}))/g

/** How many recent events a reconnecting client can catch up from. */
const BUFFER = 20_000

const make = Effect.gen(function* () {
  const apply = yield* Apply
  const meta = yield* Metadata
  const config = yield* NodeConfig
  const base =
    config.publicUrl?.replace(/\/+$/, "") ??
    `http://${config.host === "0.0.0.0" ? "127.0.0.1" : config.host}:${config.httpPort}`
  const recent: LiveEvent[] = []
  /** Who an issue or pull request event concerns (for notification subscriptions). */
  const involvedIn = (repoId: number, payload: Record<string, unknown>) =>
    Effect.gen(function* () {
      const subject = (payload.issue ?? payload.pull_request) as
        | { number?: number; user?: { login?: string }; body?: string | null }
        | undefined
      if (!subject || typeof subject.number !== "number") return []
      const who = new Set<string>()
      if (subject.user?.login) who.add(subject.user.login.toLowerCase())
      const issue = yield* meta.issueByNumber(repoId, subject.number)
      if (issue) for (const a of yield* meta.assigneesOf(issue.id)) who.add(a.login.toLowerCase())
      const texts = [subject.body, (payload.comment as { body?: string } | null)?.body]
      texts.push((payload.review as { body?: string } | undefined)?.body)
      for (const t of texts)
        if (typeof t === "string") for (const m of t.matchAll(MENTION)) who.add(m[1]!.toLowerCase())
      return [...who]
    })
  let seq = 0
  const live = yield* PubSub.unbounded<LiveEvent>()
  const blocks = yield* PubSub.subscribe(apply.appliedBlocks)
  yield* Queue.take(blocks).pipe(
    Effect.flatMap(({ block, outcomes }) =>
      Effect.gen(function* () {
        for (const [i, tx] of block.txs.entries()) {
          const outcome = outcomes[i]
          if (!outcome || outcome._tag !== "Applied" || outcome.height !== block.height) continue
          const sender = yield* meta.userById(tx.submitter)
          if (!sender) continue
          for (const ev of yield* eventsOf(meta, base, tx, outcome, sender)) {
            const e: LiveEvent = {
              seq: ++seq,
              height: block.height,
              repoId: ev.repo.id,
              ownerId: ev.repo.owner_id,
              involved: yield* involvedIn(ev.repo.id, ev.payload),
              repository: `${ev.repo.owner_login}/${ev.repo.name}`,
              event: ev.event,
              action: ev.action,
              payload: ev.payload,
            }
            recent.push(e)
            if (recent.length > BUFFER) recent.splice(0, recent.length - BUFFER)
            yield* PubSub.publish(live, e)
          }
        }
        for (const ev of yield* workflowRunEvents(meta, base, block.height)) {
          const e: LiveEvent = {
            seq: ++seq,
            height: block.height,
            repoId: ev.repo.id,
            ownerId: ev.repo.owner_id,
            repository: `${ev.repo.owner_login}/${ev.repo.name}`,
            // A run concerns the repository, not particular people's notifications.
            involved: [],
            event: ev.event,
            action: ev.action,
            payload: ev.payload,
          }
          recent.push(e)
          if (recent.length > BUFFER) recent.splice(0, recent.length - BUFFER)
          yield* PubSub.publish(live, e)
        }
      }).pipe(Effect.catchAllCause((c) => Effect.logWarning("live events were not built", c))),
    ),
    Effect.forever,
    Effect.forkScoped,
  )
  /** A node-local event (a running job's log chunk): live subscribers only, never replayed. */
  const publishLocal = (
    repo: { id: number; owner_id: number; owner_login: string; name: string },
    event: string,
    action: string | undefined,
    payload: Record<string, unknown>,
  ) =>
    Effect.gen(function* () {
      const height = yield* apply.appliedHeight.pipe(Effect.orElseSucceed(() => 0))
      yield* PubSub.publish(live, {
        seq: ++seq,
        height,
        repoId: repo.id,
        ownerId: repo.owner_id,
        repository: `${repo.owner_login}/${repo.name}`,
        involved: [],
        event,
        action,
        payload,
      })
    })
  return { live, recent: () => recent as ReadonlyArray<LiveEvent>, publishLocal }
})

export class LiveEvents extends Context.Tag("guts/LiveEvents")<
  LiveEvents,
  Effect.Effect.Success<typeof make>
>() {
  static readonly Live = Layer.scoped(LiveEvents, make)
}

/** The `/ws` upgrade handler. */
export const liveSocket = (req: http.IncomingMessage, socket: Duplex, _head: Buffer) =>
  Effect.gen(function* () {
    const events = yield* LiveEvents
    const auth = yield* Auth
    const repos = yield* Repositories
    const apply = yield* Apply
    const meta = yield* Metadata
    const url = new URL(req.url ?? "/", "http://localhost")
    const { publicUrl } = yield* NodeConfig
    const token = url.searchParams.get("access_token") ?? sameOriginSession(req, publicUrl)
    const creds = yield* auth.authenticate(
      req.headers.authorization ?? (token ? `Bearer ${token}` : undefined),
    )
    if (creds._tag === "BadCredentials") {
      socket.end("HTTP/1.1 401 Unauthorized\r\nConnection: close\r\n\r\n")
      return
    }
    const principal = creds._tag === "Authenticated" ? creds.principal : undefined
    if (!handshake(req, socket)) return
    const send = (message: unknown) =>
      Effect.sync(() => {
        if (!socket.destroyed)
          socket.write(encodeFrame(OP.text, Buffer.from(JSON.stringify(message)), false))
      })
    /** What a client subscribed to; events up to `cursor` were handled by its replay. */
    interface Subscription {
      readonly matches: (e: LiveEvent) => Effect.Effect<boolean>
      readonly cursor: number
    }
    const subs: Subscription[] = []
    const wanted = (e: LiveEvent) =>
      Effect.gen(function* () {
        for (const s of subs) if (e.seq > s.cursor && (yield* s.matches(e))) return true
        return false
      })
    /** Whether the client may read the event's repository now. */
    const readable = (e: LiveEvent) => {
      const [owner, name] = e.repository.split("/") as [string, string]
      return repos.access(owner, name, principal, "read").pipe(
        Effect.as(true),
        Effect.orElseSucceed(() => false),
      )
    }
    // Held while a subscription replays, so live events never overtake replayed ones.
    const order = yield* Effect.makeSemaphore(1)
    const inbox = yield* Queue.unbounded<string | "closed">()
    const read = frameReader()
    socket.on("data", (chunk: Buffer) => {
      const frames = read(chunk)
      if (frames === "too-large") {
        socket.end(encodeFrame(OP.close, Buffer.from([0x03, 0xf1]), false))
        return
      }
      for (const f of frames) {
        if (f.opcode === OP.text && f.fin) Queue.unsafeOffer(inbox, f.payload.toString("utf8"))
        else if (f.opcode === OP.ping) socket.write(encodeFrame(OP.pong, f.payload, false))
        else if (f.opcode === OP.close) {
          socket.end(encodeFrame(OP.close, Buffer.alloc(0), false))
          Queue.unsafeOffer(inbox, "closed")
        } else if (f.opcode !== OP.pong)
          socket.end(encodeFrame(OP.close, Buffer.from([0x03, 0xeb]), false))
      }
    })
    socket.on("close", () => Queue.unsafeOffer(inbox, "closed"))
    // The server keeps half-open sockets: a client gone without a close frame only ends.
    socket.on("end", () => Queue.unsafeOffer(inbox, "closed"))
    socket.on("error", () => Queue.unsafeOffer(inbox, "closed"))
    // Block notices (height, time, transaction count) for those who asked (`"blocks":true`):
    // what the cluster dashboard refreshes on. They name no repository.
    let wantBlocks = false
    const blocks = yield* PubSub.subscribe(apply.appliedBlocks)
    yield* Queue.take(blocks).pipe(
      Effect.flatMap(({ block }) =>
        wantBlocks
          ? send({
              type: "block",
              height: block.height,
              timestamp: block.timestamp,
              transactions: block.txs.length,
            })
          : Effect.void,
      ),
      Effect.forever,
      Effect.forkScoped,
    )
    const stream = yield* PubSub.subscribe(events.live)
    // Live events go out as they come, to whoever subscribed to them.
    yield* Queue.take(stream).pipe(
      Effect.flatMap((e) =>
        order.withPermits(1)(
          Effect.flatMap(wanted(e), (yes) =>
            yes ? send({ type: "event", ...publicEvent(e) }) : Effect.void,
          ),
        ),
      ),
      Effect.forever,
      Effect.forkScoped,
    )
    const usage =
      'send {"type":"subscribe","repositories":["owner/name"],"organizations":["org"],"notifications":true,"blocks":true} (any of them)'
    for (;;) {
      const msg = yield* Queue.take(inbox)
      if (msg === "closed") break
      let parsed: {
        type?: unknown
        repositories?: unknown
        organizations?: unknown
        notifications?: unknown
        since?: unknown
        blocks?: unknown
      }
      try {
        parsed = JSON.parse(msg)
      } catch {
        yield* send({ type: "error", message: "messages are JSON objects" })
        continue
      }
      const list = (v: unknown) => (Array.isArray(v) ? v : v === undefined ? [] : undefined)
      const repoList = list(parsed.repositories)
      const orgList = list(parsed.organizations)
      if (
        parsed.type !== "subscribe" ||
        repoList === undefined ||
        orgList === undefined ||
        (repoList.length === 0 &&
          orgList.length === 0 &&
          parsed.notifications !== true &&
          parsed.blocks !== true)
      ) {
        yield* send({ type: "error", message: usage })
        continue
      }
      if (parsed.blocks === true) wantBlocks = true
      const names: string[] = []
      const ids = new Set<number>()
      for (const full of repoList) {
        const [owner, name] = typeof full === "string" ? full.split("/") : []
        if (!owner || !name) continue
        const found = yield* repos.access(owner, name, principal, "read").pipe(Effect.option)
        if (found._tag === "None") {
          yield* send({ type: "error", message: `repository ${full} not found` })
          continue
        }
        ids.add(found.value.repo.id)
        names.push(`${found.value.repo.owner_login}/${found.value.repo.name}`)
      }
      const fresh: Array<(e: LiveEvent) => Effect.Effect<boolean>> = []
      if (ids.size > 0) fresh.push((e) => Effect.succeed(ids.has(e.repoId)))
      const orgNames: string[] = []
      for (const login of orgList) {
        const org =
          typeof login === "string"
            ? yield* meta.userByLogin(login).pipe(Effect.orElseSucceed(() => undefined))
            : undefined
        if (org?.type !== "Organization") {
          yield* send({ type: "error", message: `organization ${String(login)} not found` })
          continue
        }
        orgNames.push(org.login)
        fresh.push((e) => (e.ownerId === org.id ? readable(e) : Effect.succeed(false)))
      }
      let notifications = false
      if (parsed.notifications === true) {
        if (!principal)
          yield* send({ type: "error", message: "notifications need a token (you are anonymous)" })
        else {
          notifications = true
          const me = principal.user.login.toLowerCase()
          fresh.push((e) => (e.involved.includes(me) ? readable(e) : Effect.succeed(false)))
        }
      }
      const since = typeof parsed.since === "number" ? parsed.since : undefined
      yield* order.withPermits(1)(
        Effect.gen(function* () {
          const height = yield* apply.appliedHeight.pipe(Effect.orElseSucceed(() => 0))
          yield* send({
            type: "subscribed",
            repositories: names,
            organizations: orgNames,
            notifications,
            height,
          })
          // What the replay covers and where the live stream takes over are decided in one
          // step (the live stream waits for the permit), so nothing is missed or sent twice.
          const buffered = [...events.recent()]
          const last = buffered.length > 0 ? buffered[buffered.length - 1]!.seq : 0
          const before = [...subs]
          for (const matches of fresh) subs.push({ matches, cursor: last })
          if (since === undefined) return
          if (buffered.length >= BUFFER && buffered[0]!.height > since + 1)
            yield* send({
              type: "error",
              message: `events before height ${buffered[0]!.height} are no longer buffered`,
            })
          for (const e of buffered) {
            if (e.height <= since) continue
            let mine = false
            for (const m of fresh) if (yield* m(e)) mine = true
            if (!mine) continue
            let seen = false
            for (const s of before) if (yield* s.matches(e)) seen = true
            if (!seen) yield* send({ type: "event", ...publicEvent(e) })
          }
        }),
      )
    }
  }).pipe(
    Effect.scoped,
    Effect.ensuring(Effect.sync(() => socket.destroy())),
    Effect.catchAllCause((c) => Effect.logDebug("websocket ended", c)),
  )

const publicEvent = (e: LiveEvent) => ({
  height: e.height,
  event: e.event,
  action: e.action,
  repository: e.repository,
  payload: e.payload,
})

/**
 * A web page's session (the `guts_session` cookie) for a socket opened by a page of this
 * node: only when the browser says the page came from this host or the node's public URL
 * (`Origin`), so another site cannot open a socket with a visitor's cookie.
 */
const sameOriginSession = (req: http.IncomingMessage, publicUrl: string | undefined) => {
  const origin = req.headers.origin
  if (!origin) return undefined
  try {
    const from = new URL(origin)
    const ours =
      from.host === req.headers.host ||
      (publicUrl !== undefined && from.origin === new URL(publicUrl).origin)
    if (!ours) return undefined
  } catch {
    return undefined
  }
  const m = /(?:^|;\s*)guts_session=(guts_[0-9a-f]{40})(?:;|$)/.exec(req.headers.cookie ?? "")
  return m?.[1]
}
