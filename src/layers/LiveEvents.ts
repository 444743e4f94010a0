/**
 * Live events over `/ws`: a client authenticates with its token (an `Authorization` header
 * or `?access_token=`), subscribes to repositories it can read, and receives the same events
 * webhooks describe, as blocks are applied and in block order. Each event carries the block
 * height; a client that reconnects with `since: <height>` first gets every event after that
 * height it missed (from a buffer of recent events), then the live stream — no gaps.
 *
 * Protocol (JSON text messages):
 *   → {"type":"subscribe","repositories":["owner/name"],"since":123}
 *   ← {"type":"subscribed","repositories":[...],"height":130}
 *   ← {"type":"event","height":124,"event":"issues","action":"opened","repository":"o/r","payload":{...}}
 *   ← {"type":"error","message":"..."}
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
  readonly repository: string
  readonly event: string
  readonly action: string | undefined
  readonly payload: Record<string, unknown>
}

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
            repository: `${ev.repo.owner_login}/${ev.repo.name}`,
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
    repo: { id: number; owner_login: string; name: string },
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
        repository: `${repo.owner_login}/${repo.name}`,
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
    const url = new URL(req.url ?? "/", "http://localhost")
    const token = url.searchParams.get("access_token")
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
    /** Per subscribed repository: events up to this seq were handled by its replay. */
    const cursors = new Map<number, number>()
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
    socket.on("error", () => Queue.unsafeOffer(inbox, "closed"))
    const stream = yield* PubSub.subscribe(events.live)
    // Live events go out as they come, to whoever subscribed to their repository.
    yield* Queue.take(stream).pipe(
      Effect.flatMap((e) =>
        e.seq > (cursors.get(e.repoId) ?? Number.POSITIVE_INFINITY)
          ? send({ type: "event", ...publicEvent(e) })
          : Effect.void,
      ),
      Effect.forever,
      Effect.forkScoped,
    )
    for (;;) {
      const msg = yield* Queue.take(inbox)
      if (msg === "closed") break
      let parsed: { type?: unknown; repositories?: unknown; since?: unknown }
      try {
        parsed = JSON.parse(msg)
      } catch {
        yield* send({ type: "error", message: "messages are JSON objects" })
        continue
      }
      if (parsed.type !== "subscribe" || !Array.isArray(parsed.repositories)) {
        yield* send({
          type: "error",
          message: 'send {"type":"subscribe","repositories":["owner/name"]}',
        })
        continue
      }
      const names: string[] = []
      const ids = new Set<number>()
      for (const full of parsed.repositories) {
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
      const since = typeof parsed.since === "number" ? parsed.since : undefined
      const height = yield* apply.appliedHeight.pipe(Effect.orElseSucceed(() => 0))
      yield* send({ type: "subscribed", repositories: names, height })
      // One synchronous step: what the replay sends, and from where the live stream takes
      // over, are decided together, so no event falls between them or is sent twice.
      const replay = yield* Effect.sync(() => {
        const buffered = events.recent()
        const out =
          since === undefined
            ? []
            : buffered.filter(
                (e) => e.height > since && ids.has(e.repoId) && !cursors.has(e.repoId),
              )
        const stale =
          since !== undefined && buffered.length >= BUFFER && buffered[0]!.height > since + 1
        const last = buffered.length > 0 ? buffered[buffered.length - 1]!.seq : 0
        for (const id of ids) if (!cursors.has(id)) cursors.set(id, last)
        return { out, stale, first: buffered[0]?.height }
      })
      if (replay.stale)
        yield* send({
          type: "error",
          message: `events before height ${replay.first} are no longer buffered`,
        })
      for (const e of replay.out) yield* send({ type: "event", ...publicEvent(e) })
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
