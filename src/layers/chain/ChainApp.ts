/**
 * ChainApp: the node as a consensus application, and the replicated Ledger — for a
 * validator, and for a full node (a node of the cluster whose key is not a validator).
 *
 * - Ledger.submit signs the transaction with the node key, puts it in the mempool (a
 *   validator's own), gossips it to the validators (again every second until it lands),
 *   and completes when the block holding it is finalized and applied here (or fails with a
 *   clear "writes unavailable" after a timeout, e.g. when fewer than a quorum of validators
 *   are reachable). A full node's writes are thus forwarded to the validators' mempools.
 * - Automaton.propose builds a block {parent, height, timestamp, txs} on the parent the
 *   engine chose; verify checks a proposal (digest, parent link, height, timestamps,
 *   signatures of validators or listed full nodes, and data availability: the objects its
 *   ref updates name are held here, fetched from peers if missing) and stays pending while
 *   bytes are missing; certify is true.
 * - The Reporter feeds finalizations to the Marshal; one delivery fiber applies the blocks
 *   it releases, in height order, at least once (Apply is idempotent by height and by
 *   transaction key), after fetching the git objects the block's ref updates need.
 * - A full node runs no consensus: it follows blocks that more than f validators vouch
 *   for (each validator tells the full nodes every block it applies, and answers when they
 *   ask), fetches them and their objects, and applies them the same way.
 * - Peers are trusted by role: validators may say anything; a full node may only ask
 *   (blocks, objects, its vouch), send objects, and forward its own transactions. Anything
 *   else, or anything malformed, is counted in `guts_chain_messages_rejected_total` and
 *   blocks the sender.
 * - Blocks and git objects move on the broadcast and sync channels (Wire.ts); objects are
 *   verified before being served and on receipt, and damaged ones are repaired from peers
 *   (ObjectRepair.ts).
 */
import {
  Clock,
  Deferred,
  Duration,
  Effect,
  Either,
  Exit,
  Option,
  Queue,
  Ref,
  Schedule,
  Schema,
  type Scope,
  type Tracer,
} from "effect"
import * as prom from "prom-client"
import {
  type Block,
  blockDigest,
  canonicalJson,
  decodeBlock,
  encodeBlock,
  GENESIS_DIGEST,
  SignedTransaction,
  transactionSigningBytes,
} from "../../domain/Block.ts"
import type { Activity } from "../../domain/consensus/Engine.ts"
import { Marshal, type MarshalStep } from "../../domain/consensus/Marshal.ts"
import { type Digest, digestHex, maxFaults } from "../../domain/consensus/Types.ts"
import { type ObjectId, ZERO_ID } from "../../domain/git/ObjectId.ts"
import { Mempool } from "../../domain/Mempool.ts"
import type { Transaction, TxOutcome } from "../../domain/Transaction.ts"
import { Apply } from "../../services/Apply.ts"
import { BlockStore } from "../../services/BlockStore.ts"
import { makeWalker } from "../../services/git/ObjectWalk.ts"
import { Ledger, LedgerUnavailable } from "../../services/Ledger.ts"
import { Channels, type Inbound, Network, type PeerId } from "../../services/Network.ts"
import { ObjectReplicator } from "../../services/ObjectReplicator.ts"
import { ObjectStore, type StoredObject } from "../../services/ObjectStore.ts"
import { RefStore } from "../../services/RefStore.ts"
import { RepoUploads } from "../../services/RepoUploads.ts"
import { Automaton, Relay, Reporter } from "../consensus/Application.ts"
import { Metrics } from "../Metrics.ts"
import { type NodeKey, sign, verify } from "../p2p/NodeKey.ts"
import { makeObjectRepair } from "./ObjectRepair.ts"
import { trustedPeerHeight } from "./PeerHeights.ts"
import { chunkObjects } from "./ObjectSync.ts"
import { type AppMessage, decodeApp, encodeApp } from "./Wire.ts"

export interface ChainConfig {
  readonly key: NodeKey
  /** Hex public keys of the validators, in consensus order. */
  readonly validators: ReadonlyArray<PeerId>
  /** Hex public keys of the cluster's full nodes (they may forward transactions). */
  readonly fullNodes: ReadonlyArray<PeerId>
  readonly maxTxsPerBlock: number
  readonly submitTimeoutMs: number
  /** How long a leader with nothing to propose waits for a transaction (< leader timeout). */
  readonly idleBlockMs: number
  /** Messages for the application (broadcast and sync channels), demultiplexed. */
  readonly inbound: Queue.Dequeue<Inbound>
  /** How often a full node asks the validators for their last finalized block (default 1 s). */
  readonly followIntervalMs?: number
  /** Delay before the first scrub of the object store (default 3 s). */
  readonly firstScrubAfterMs?: number
}

const hexToDigest = (hex: string): Digest => new Uint8Array(Buffer.from(hex, "hex"))
const decodeSigned = Schema.decodeUnknownEither(SignedTransaction)
const encodeSigned = Schema.encodeSync(SignedTransaction)

/** What a full node may send to a validator; everything else is misbehaviour. */
const FROM_FULL_NODES: ReadonlySet<AppMessage["_tag"]> = new Set([
  "Tx",
  "GetBlock",
  "GetHeight",
  "GetChain",
  "GetClosure",
  "GetObjects",
  "GetFinalized",
  "Objects",
  "ClosureEnd",
  // Objects it stored for a repository: it could as well forward a ref update naming them.
  "Uploads",
])

/** Ids per `Uploads` message (20 bytes each: about 1 MB). */
const UPLOADS_PER_MESSAGE = 50_000

/** Blocks kept decoded in memory below the applied height (older ones are in the store). */
const KNOWN_RETENTION = 16

const CHANNEL_NAMES: Record<number, string> = {
  [Channels.broadcast]: "broadcast",
  [Channels.sync]: "sync",
}

/** The chain's counters in the node's registry (created once, shared by later callers). */
export const chainMetrics = (registry: prom.Registry) => {
  const existing = <T>(name: string) => registry.getSingleMetric(name) as T | undefined
  return {
    rejected:
      existing<prom.Counter<"channel" | "reason">>("guts_chain_messages_rejected_total") ??
      new prom.Counter({
        name: "guts_chain_messages_rejected_total",
        help: "Application messages from peers rejected (the peer is then blocked), by channel and reason",
        labelNames: ["channel", "reason"] as const,
        registers: [registry],
      }),
    proposals:
      existing<prom.Counter<"reason">>("guts_chain_proposals_rejected_total") ??
      new prom.Counter({
        name: "guts_chain_proposals_rejected_total",
        help: "Block proposals this validator did not vote for: invalid, or objects_unavailable (the view ended before the objects its ref updates name could be found)",
        labelNames: ["reason"] as const,
        registers: [registry],
      }),
  }
}

export const makeChainApp = (config: ChainConfig) =>
  Effect.gen(function* () {
    const net = yield* Network
    const blocks = yield* BlockStore
    const refStore = yield* RefStore
    const objects = yield* ObjectStore
    const uploads = yield* Effect.serviceOption(RepoUploads)
    const apply = yield* Apply
    const metrics = yield* Metrics
    const counters = chainMetrics(metrics.registry)
    const me = config.key.publicKeyHex
    const validators = new Set(config.validators)
    const fullNodes = new Set(config.fullNodes)
    const isValidator = validators.has(me)
    const otherValidators = config.validators.filter((v) => v !== me)
    const vouchQuorum = maxFaults(config.validators.length) + 1
    const mempool = new Mempool(20_000)

    /** Spans of this node's submissions awaiting their block (src/layers/Tracing.ts). */
    const traced = new Map<string, { consensus: Tracer.Span; submit: Tracer.Span }>()
    const known = new Map<string, { bytes: Uint8Array; block: Block }>()
    const blockWaiters = new Map<string, Deferred.Deferred<void>>()
    const outcomeWaiters = new Map<string, Deferred.Deferred<TxOutcome>>()
    const start = (yield* blocks.position) ?? { height: 0, digest: GENESIS_DIGEST }
    const marshal = new Marshal({ digest: hexToDigest(start.digest), height: BigInt(start.height) })
    let applied = { height: start.height, digest: start.digest }

    const send = (channel: 3 | 4, to: ReadonlyArray<PeerId> | "all", bytes: Uint8Array) =>
      net.send(channel, to, bytes).pipe(Effect.catchAll((e) => Effect.logWarning(e.message)))

    /** A block we hold (memory, then the store), decoded. */
    const lookup = (digest: string) =>
      Effect.gen(function* () {
        const hit = known.get(digest)
        if (hit) return hit
        const bytes = yield* blocks.get(digest).pipe(Effect.orElseSucceed(() => undefined))
        if (!bytes) return undefined
        const decoded = decodeBlock(bytes)
        if (Either.isLeft(decoded)) return undefined
        const entry = { bytes, block: decoded.right }
        if (decoded.right.height + KNOWN_RETENTION > applied.height) known.set(digest, entry)
        return entry
      })

    // Ask for a missing block and its ancestors (one round trip for a long gap); the same
    // request is not repeated within half a second, whatever triggers it again.
    const recentRequests = new Map<string, number>()
    const requestChain = (digest: string) =>
      Effect.gen(function* () {
        const now = yield* Clock.currentTimeMillis
        const last = recentRequests.get(digest)
        if (last !== undefined && now - last < 500) return
        recentRequests.set(digest, now)
        if (recentRequests.size > 1000) recentRequests.delete(recentRequests.keys().next().value!)
        yield* Effect.logDebug(`asking validators for block ${digest.slice(0, 12)} and ancestors`)
        yield* send(
          Channels.sync,
          otherValidators,
          encodeApp({ _tag: "GetChain", digest, max: 256 }),
        )
      })

    // Peers to fetch objects from, validators first (they hold every finalized object).
    const objectSources = Effect.map(net.connected, (peers) => [
      ...peers.filter((p) => validators.has(p)),
      ...peers.filter((p) => !validators.has(p)),
    ])

    // A block being applied must not make a ref point at an object this node lacks (a
    // node that was down missed the pushes, a full node follows): fetch the missing history
    // from one peer at a time, the next one when a peer lacks it or stays silent.
    const closureWaiters = new Map<number, Deferred.Deferred<boolean>>()
    let nextRequest = 1
    const fetchClosure = (repo: string, tips: ReadonlyArray<ObjectId>) =>
      Effect.gen(function* () {
        for (let attempt = 0; ; attempt++) {
          const missing = yield* objects.missing(tips).pipe(Effect.orDie)
          if (missing.length === 0) return
          const peers = yield* objectSources
          if (peers.length === 0) {
            yield* Effect.sleep(Duration.millis(500))
            continue
          }
          const peer = peers[attempt % peers.length]!
          const haves = (yield* refStore.list(repo).pipe(Effect.orElseSucceed(() => [])))
            .map((r) => r.id)
            .slice(0, 4096)
          const request = nextRequest++
          const waiter = yield* Deferred.make<boolean>()
          closureWaiters.set(request, waiter)
          if (attempt % peers.length === 0)
            yield* Effect.logInfo(
              `fetching ${missing.length} missing tip(s) of ${repo} and their history from peers`,
            )
          yield* send(
            Channels.sync,
            [peer],
            encodeApp({ _tag: "GetClosure", request, tips: missing, haves }),
          )
          const found = yield* Deferred.await(waiter).pipe(
            Effect.timeout(Duration.seconds(10)),
            Effect.orElseSucceed(() => false),
          )
          closureWaiters.delete(request)
          // A whole round of peers without the objects: do not spin.
          if (!found && attempt % peers.length === peers.length - 1)
            yield* Effect.sleep(Duration.millis(500))
        }
      })

    const ensureClosure = (block: Block) =>
      Effect.forEach(
        block.txs,
        (s) =>
          s.tx._tag === "UpdateRefs"
            ? fetchClosure(
                `${s.tx.owner}/${s.tx.repo}`,
                s.tx.changes.filter((c) => c.new !== ZERO_ID).map((c) => c.new as ObjectId),
              )
            : Effect.void,
        { discard: true },
      )

    // ---- delivery: one fiber applies what the marshal releases, in order -----------------
    const steps = yield* Queue.unbounded<MarshalStep>()
    const enqueue = (step: MarshalStep) =>
      step.deliver.length > 0 || step.missing ? Queue.offer(steps, step) : Effect.void

    const applyOne = (digest: string, block: Block) =>
      Effect.gen(function* () {
        if (block.height <= applied.height) return
        yield* ensureClosure(block)
        // Finalized: the consensus spans of this node's transactions in it end here.
        const waiting = block.txs.flatMap((s) => traced.get(s.tx.idempotencyKey) ?? [])
        if (waiting.length > 0) {
          const now = yield* Clock.currentTimeNanos
          for (const w of waiting) {
            w.consensus.attribute("guts.block.height", block.height)
            w.consensus.attribute("guts.block.digest", digest)
            w.consensus.attribute("guts.block.proposed_at", new Date(block.timestamp).toISOString())
            w.consensus.end(now, Exit.void)
          }
        }
        const applying = apply.applyBlock({
          height: block.height,
          timestamp: block.timestamp,
          txs: block.txs.map((s) => s.tx),
        })
        const result = yield* block.txs.length === 0
          ? applying
          : applying.pipe(
              Effect.withSpan("guts.apply", {
                ...(waiting[0] ? { parent: waiting[0].submit } : {}),
                attributes: {
                  "guts.block.height": block.height,
                  "guts.block.digest": digest,
                  "guts.block.txs": block.txs.length,
                },
              }),
            )
        yield* blocks.setPosition({ height: block.height, digest })
        applied = { height: block.height, digest }
        mempool.committed(block.txs.map((s) => s.tx.idempotencyKey))
        block.txs.forEach((s, i) => {
          const waiter = outcomeWaiters.get(s.tx.idempotencyKey)
          const outcome = result.outcomes[i]
          if (waiter && outcome) {
            outcomeWaiters.delete(s.tx.idempotencyKey)
            Deferred.unsafeDone(waiter, Effect.succeed(outcome))
          }
        })
        metrics.blockHeight.set(block.height)
        metrics.mempoolSize.set(mempool.size)
        const now = yield* Clock.currentTimeMillis
        metrics.finalizationLatency.observe(Math.max(0, now - block.timestamp) / 1000)
        for (const [d, e] of known)
          if (e.block.height + KNOWN_RETENTION <= block.height) known.delete(d)
        if (isValidator && fullNodes.size > 0)
          yield* send(
            Channels.sync,
            config.fullNodes,
            encodeApp({ _tag: "Finalized", height: block.height, digest }),
          )
      })

    const deliverStep = (step: MarshalStep) =>
      Effect.gen(function* () {
        for (const ref of step.deliver) {
          const digest = digestHex(ref.digest)
          const entry = yield* lookup(digest)
          if (!entry)
            return yield* Effect.dieMessage(`marshal delivered block ${digest} that is not held`)
          // Retried until it succeeds: skipping a finalized block would fork this node.
          yield* applyOne(digest, entry.block).pipe(
            Effect.tapErrorCause((c) =>
              Effect.logError(`applying block ${entry.block.height} failed; retrying`, c),
            ),
            Effect.retry(Schedule.spaced(Duration.seconds(1))),
          )
        }
        if (step.missing) {
          // Held locally (e.g. from before a restart)? Then no need to ask anyone.
          const local = yield* lookup(digestHex(step.missing))
          if (local)
            yield* enqueue(
              marshal.block({
                digest: step.missing,
                parent: hexToDigest(local.block.parent),
                height: BigInt(local.block.height),
              }),
            )
          else yield* requestChain(digestHex(step.missing))
        }
      })
    yield* Queue.take(steps).pipe(Effect.flatMap(deliverStep), Effect.forever, Effect.forkScoped)

    /** Records a block's bytes (from our proposal, a relay or a fetch). */
    const accept = (bytes: Uint8Array) =>
      Effect.gen(function* () {
        const decoded = decodeBlock(bytes)
        if (Either.isLeft(decoded)) return false
        const digest = blockDigest(bytes)
        const block = decoded.right
        if (block.height <= applied.height) return true // old news (a reply to a repeated ask)
        if (!known.has(digest)) {
          known.set(digest, { bytes, block })
          yield* blocks.put(digest, bytes).pipe(Effect.orDie)
        }
        const waiter = blockWaiters.get(digest)
        if (waiter) {
          blockWaiters.delete(digest)
          Deferred.unsafeDone(waiter, Effect.void)
        }
        yield* enqueue(
          marshal.block({
            digest: hexToDigest(digest),
            parent: hexToDigest(block.parent),
            height: BigInt(block.height),
          }),
        )
        return true
      })

    /** Waits until the block's bytes are held, asking the validators every second. */
    const awaitBlock = (digest: string) =>
      Effect.gen(function* () {
        for (;;) {
          const hit = yield* lookup(digest)
          if (hit) return hit
          let waiter = blockWaiters.get(digest)
          if (!waiter) {
            waiter = yield* Deferred.make<void>()
            blockWaiters.set(digest, waiter)
          }
          yield* send(Channels.sync, otherValidators, encodeApp({ _tag: "GetBlock", digest }))
          yield* Deferred.await(waiter).pipe(Effect.timeout(Duration.seconds(1)), Effect.ignore)
        }
      })

    /**
     * Waits until every object is held, asking peers for the missing ones. Interrupted
     * (the view ended) while objects are still missing: counted as unavailable data.
     */
    const awaitObjects = (ids: ReadonlyArray<ObjectId>) =>
      Effect.gen(function* () {
        const missingNow = yield* Ref.make(ids.length)
        const wait = Effect.gen(function* () {
          for (let attempt = 0; ; attempt++) {
            const missing = yield* objects.missing(ids).pipe(Effect.orDie)
            yield* Ref.set(missingNow, missing.length)
            if (missing.length === 0) return
            if (attempt % 5 === 0)
              yield* send(Channels.sync, "all", encodeApp({ _tag: "GetObjects", ids: missing }))
            yield* Effect.sleep(Duration.millis(200))
          }
        })
        yield* wait.pipe(
          Effect.onInterrupt(() =>
            Effect.flatMap(Ref.get(missingNow), (n) =>
              Effect.sync(() => {
                if (n > 0) counters.proposals.inc({ reason: "objects_unavailable" })
              }),
            ),
          ),
        )
      })

    const signTx = (tx: Transaction) => {
      const signature = Buffer.from(sign(config.key, transactionSigningBytes(tx))).toString("hex")
      return { tx, signer: me, signature } as SignedTransaction
    }

    const validSigned = (stx: SignedTransaction) =>
      (validators.has(stx.signer) || fullNodes.has(stx.signer)) &&
      verify(stx.signer, transactionSigningBytes(stx.tx), Buffer.from(stx.signature, "hex"))

    // ---- the full node's follower ---------------------------------------------------------
    /** The last vouches of each validator: (height, digest) of blocks it applied. */
    const vouches = new Map<PeerId, Array<{ height: number; digest: string }>>()
    let followTarget = 0
    const onVouch = (from: PeerId, height: number, digest: string) =>
      Effect.gen(function* () {
        if (isValidator || height <= applied.height) return
        const list = vouches.get(from) ?? []
        if (!list.some((v) => v.height === height && v.digest === digest)) {
          list.push({ height, digest })
          if (list.length > 64) list.shift()
          vouches.set(from, list)
        }
        let count = 0
        for (const l of vouches.values())
          if (l.some((v) => v.height === height && v.digest === digest)) count++
        // More than f validators: at least one honest one applied it, so it is final.
        if (count < vouchQuorum || height < followTarget) return
        followTarget = height
        yield* enqueue(marshal.finalized(BigInt(height), hexToDigest(digest)))
      })
    /** The highest height each validator said it applied (for readiness). */
    const peerHeights = new Map<PeerId, number>()
    // Validators ask each other too, every 2 s, so each knows how far behind it is.
    if (isValidator && otherValidators.length > 0)
      yield* send(Channels.sync, otherValidators, encodeApp({ _tag: "GetFinalized" })).pipe(
        Effect.repeat(Schedule.spaced(Duration.seconds(2))),
        Effect.forkScoped,
      )
    if (!isValidator)
      yield* send(Channels.sync, config.validators, encodeApp({ _tag: "GetFinalized" })).pipe(
        Effect.repeat(Schedule.spaced(Duration.millis(config.followIntervalMs ?? 1_000))),
        Effect.forkScoped,
      )

    // ---- serving objects, verified ---------------------------------------------------
    const repair = yield* makeObjectRepair({
      objects,
      registry: metrics.registry,
      firstScrubAfterMs: config.firstScrubAfterMs,
      ask: (ids) => send(Channels.sync, "all", encodeApp({ _tag: "GetObjects", ids })),
    })
    const serving = yield* Effect.makeSemaphore(2)
    const serveObjects = (to: PeerId, stored: ReadonlyArray<StoredObject | undefined>) =>
      Effect.gen(function* () {
        const have: StoredObject[] = []
        for (const o of stored) if (o) have.push(o)
        const sound = yield* repair.sound(have)
        for (const chunk of chunkObjects(sound))
          yield* send(Channels.sync, [to], encodeApp({ _tag: "Objects", objects: chunk }))
      })

    const serveClosure = (
      to: PeerId,
      request: number,
      wanted: ReadonlyArray<ObjectId>,
      haves: ReadonlyArray<ObjectId>,
    ) =>
      Effect.gen(function* () {
        // Everything reachable from the tips that the asker does not hold.
        const absent = yield* objects.missing(wanted).pipe(Effect.orElseSucceed(() => wanted))
        const tips = wanted.filter((t) => !absent.includes(t))
        if (tips.length > 0) {
          const haveMissing = new Set(
            yield* objects.missing(haves).pipe(Effect.orElseSucceed(() => haves)),
          )
          const walker = makeWalker({
            read: (id) => objects.get(id),
            readMany: (ids) => objects.getMany(ids),
            sizesOf: (ids) =>
              Effect.map(objects.getStoredMany(ids), (xs) => xs.map((x) => x?.size)),
          })
          const walk = yield* walker
            .walk({
              wants: tips,
              haves: haves.filter((h) => !haveMissing.has(h)),
              clientShallows: [],
            })
            .pipe(Effect.orElseSucceed(() => undefined))
          if (walk)
            for (let at = 0; at < walk.objects.length; at += 512) {
              const stored = yield* objects
                .getStoredMany(walk.objects.slice(at, at + 512).map((o) => o.id))
                .pipe(Effect.orElseSucceed(() => []))
              yield* serveObjects(to, stored)
            }
        }
        yield* send(
          Channels.sync,
          [to],
          encodeApp({ _tag: "ClosureEnd", request, found: tips.length === wanted.length }),
        )
      })

    // ---- inbound application messages ------------------------------------------------
    const reject = (msg: Inbound, reason: string, detail: string) =>
      Effect.gen(function* () {
        counters.rejected.inc({ channel: CHANNEL_NAMES[msg.channel] ?? "other", reason })
        yield* net.block(msg.from, detail)
      })

    const reply = (to: PeerId, m: AppMessage) => send(Channels.sync, [to], encodeApp(m))

    const handle = (msg: Inbound, scope: Scope.Scope) =>
      Effect.gen(function* () {
        const m = decodeApp(msg.bytes)
        if (!m) return yield* reject(msg, "malformed", "malformed application message")
        const fromValidator = validators.has(msg.from)
        if (!fromValidator && !FROM_FULL_NODES.has(m._tag))
          return yield* reject(msg, "not_allowed", `a full node may not send ${m._tag}`)
        switch (m._tag) {
          case "Block":
            if (!(yield* accept(m.bytes))) yield* reject(msg, "malformed", "malformed block")
            return
          case "Tx": {
            let parsed: unknown
            try {
              parsed = JSON.parse(m.json)
            } catch {
              return yield* reject(msg, "malformed", "malformed transaction")
            }
            const stx = decodeSigned(parsed)
            if (
              Either.isLeft(stx) ||
              !validSigned(stx.right) ||
              (!fromValidator && stx.right.signer !== msg.from)
            )
              return yield* reject(
                msg,
                "bad_signature",
                "transaction with a bad signature or signer",
              )
            if (isValidator) mempool.add(stx.right)
            return
          }
          case "GetBlock": {
            const hit = yield* lookup(m.digest)
            if (hit) yield* reply(msg.from, { _tag: "Block", bytes: hit.bytes })
            return
          }
          case "GetChain": {
            // The block and its ancestors, newest first, up to `max` blocks or 8 MB.
            const out: Uint8Array[] = []
            let size = 0
            let digest = m.digest
            while (
              out.length < Math.min(m.max, 1024) &&
              digest !== GENESIS_DIGEST &&
              size < 8 * 1024 * 1024
            ) {
              const hit = yield* lookup(digest)
              if (!hit) break
              out.push(hit.bytes)
              size += hit.bytes.length
              digest = hit.block.parent
            }
            if (out.length > 0) yield* reply(msg.from, { _tag: "Blocks", blocks: out })
            return
          }
          case "Blocks": {
            // Oldest first, so the marshal can deliver the whole run at once.
            for (let i = m.blocks.length - 1; i >= 0; i--)
              if (!(yield* accept(m.blocks[i]!)))
                return yield* reject(msg, "malformed", "malformed block")
            return
          }
          case "GetClosure":
            yield* serving
              .withPermits(1)(
                serveClosure(msg.from, m.request, m.tips.slice(0, 1024), m.haves.slice(0, 4096)),
              )
              .pipe(Effect.catchAllCause(Effect.logWarning), Effect.forkIn(scope))
            return
          case "ClosureEnd": {
            const waiter = closureWaiters.get(m.request)
            if (waiter) Deferred.unsafeDone(waiter, Effect.succeed(m.found))
            return
          }
          case "GetHeight": {
            const digest = yield* blocks
              .atHeight(m.height)
              .pipe(Effect.orElseSucceed(() => undefined))
            const hit = digest ? yield* lookup(digest) : undefined
            if (hit) yield* reply(msg.from, { _tag: "Block", bytes: hit.bytes })
            return
          }
          case "GetObjects": {
            const ids = m.ids.slice(0, 4096)
            yield* serving
              .withPermits(1)(
                Effect.flatMap(
                  objects.getStoredMany(ids).pipe(Effect.orElseSucceed(() => [])),
                  (stored) => serveObjects(msg.from, stored),
                ),
              )
              .pipe(Effect.catchAllCause(Effect.logWarning), Effect.forkIn(scope))
            return
          }
          case "Objects": {
            const good = yield* repair.received(m.objects)
            if (good.length > 0) yield* objects.putBatch(good).pipe(Effect.orDie)
            return
          }
          case "Uploads":
            if (Option.isSome(uploads))
              yield* uploads.value.record(m.repo, m.ids).pipe(Effect.orDie)
            return
          case "Finalized":
            if (fromValidator)
              peerHeights.set(msg.from, Math.max(peerHeights.get(msg.from) ?? 0, m.height))
            yield* onVouch(msg.from, m.height, m.digest)
            return
          case "GetFinalized":
            if (isValidator && applied.height > 0)
              yield* reply(msg.from, {
                _tag: "Finalized",
                height: applied.height,
                digest: applied.digest,
              })
            return
        }
      })
    const loopScope = yield* Effect.scope
    yield* Queue.take(config.inbound).pipe(
      Effect.flatMap((msg) =>
        handle(msg, loopScope).pipe(
          Effect.catchAllCause((c) => Effect.logWarning("application message failed", c)),
        ),
      ),
      Effect.forever,
      Effect.forkScoped,
    )

    // ---- consensus application ----------------------------------------------------------
    const pendingKeys = (fromDigest: string) =>
      Effect.gen(function* () {
        // Keys in blocks between the last applied block and the proposal's parent.
        const keys = new Set<string>()
        let digest = fromDigest
        for (let i = 0; i < 1000 && digest !== GENESIS_DIGEST; i++) {
          const hit = yield* lookup(digest)
          if (!hit || hit.block.height <= applied.height) break
          for (const s of hit.block.txs) keys.add(s.tx.idempotencyKey)
          digest = hit.block.parent
        }
        return keys
      })

    const parentOf = (digest: string) =>
      digest === GENESIS_DIGEST
        ? Effect.succeed({ height: 0, timestamp: 0 })
        : Effect.map(awaitBlock(digest), (e) => ({
            height: e.block.height,
            timestamp: e.block.timestamp,
          }))

    const judge = (block: Block, parentDigest: string) =>
      Effect.gen(function* () {
        if (block.parent !== parentDigest) return false
        const parent = yield* parentOf(parentDigest)
        if (block.height !== parent.height + 1) return false
        const now = yield* Clock.currentTimeMillis
        if (block.timestamp <= parent.timestamp || block.timestamp > now + 60_000) return false
        const keys = new Set<string>()
        for (const s of block.txs) {
          if (keys.has(s.tx.idempotencyKey) || !validSigned(s)) return false
          keys.add(s.tx.idempotencyKey)
        }
        // Data availability: every object a ref update names is held before we vote.
        const needed = block.txs.flatMap((s) =>
          s.tx._tag === "UpdateRefs"
            ? s.tx.changes.filter((c) => c.new !== ZERO_ID).map((c) => c.new as ObjectId)
            : [],
        )
        if (needed.length > 0) yield* awaitObjects(needed)
        return true
      })

    const automaton = Automaton.of({
      propose: (context) =>
        Effect.gen(function* () {
          const parentDigest = digestHex(context.parent.digest)
          const parent = yield* parentOf(parentDigest).pipe(
            Effect.timeout(Duration.seconds(2)),
            Effect.option,
          )
          if (parent._tag === "None") return undefined // parent bytes unavailable: decline
          // An idle cluster makes one empty block per idle period rather than a stream of
          // them; a transaction arriving meanwhile is proposed at once.
          const idleUntil = (yield* Clock.currentTimeMillis) + config.idleBlockMs
          while (mempool.size === 0 && (yield* Clock.currentTimeMillis) < idleUntil)
            yield* Effect.sleep(Duration.millis(5))
          const skip = yield* pendingKeys(parentDigest)
          const txs = mempool
            .take(config.maxTxsPerBlock + skip.size)
            .filter((s) => !skip.has(s.tx.idempotencyKey))
          const now = yield* Clock.currentTimeMillis
          const block: Block = {
            parent: parentDigest,
            height: parent.value.height + 1,
            timestamp: Math.max(now, parent.value.timestamp + 1),
            txs: txs.slice(0, config.maxTxsPerBlock),
          }
          const bytes = encodeBlock(block)
          yield* accept(bytes)
          return hexToDigest(blockDigest(bytes))
        }),
      verify: (context, digest) =>
        Effect.gen(function* () {
          const { block } = yield* awaitBlock(digestHex(digest))
          const ok = yield* judge(block, digestHex(context.parent.digest))
          if (!ok) counters.proposals.inc({ reason: "invalid" })
          return ok
        }),
      certify: () => Effect.succeed(true),
    })

    const relay = Relay.of({
      broadcast: (digest) =>
        Effect.gen(function* () {
          const hit = yield* lookup(digestHex(digest))
          if (hit)
            yield* send(
              Channels.broadcast,
              otherValidators,
              encodeApp({ _tag: "Block", bytes: hit.bytes }),
            )
        }),
    })

    const reporter = Reporter.of({
      report: (activity: Activity) =>
        activity._tag === "Finalization"
          ? Effect.suspend(() =>
              enqueue(marshal.finalized(activity.proposal.round.view, activity.proposal.payload)),
            )
          : Effect.void,
    })

    const ledger = Ledger.of({
      height: Effect.sync(() => applied.height),
      finalizedHeight: Effect.sync(() =>
        trustedPeerHeight(
          [...peerHeights.values()],
          maxFaults(config.validators.length),
          applied.height,
        ),
      ),
      submit: (tx) =>
        Effect.gen(function* () {
          const stx = signTx(tx)
          const submitSpan = yield* Effect.currentSpan.pipe(Effect.option)
          if (submitSpan._tag === "Some" && !traced.has(tx.idempotencyKey)) {
            const consensus = yield* Effect.makeSpan("guts.consensus", {
              attributes: { "guts.tx.key": tx.idempotencyKey, "guts.tx.kind": tx._tag },
            })
            traced.set(tx.idempotencyKey, { consensus, submit: submitSpan.value })
          }
          let waiter = outcomeWaiters.get(tx.idempotencyKey)
          if (!waiter) {
            waiter = yield* Deferred.make<TxOutcome>()
            outcomeWaiters.set(tx.idempotencyKey, waiter)
          }
          if (isValidator) mempool.add(stx)
          // Again every second until it lands: a validator that was unreachable, or a full
          // node's first connection still opening, must not lose the write (mempools and
          // Apply deduplicate by idempotency key).
          const gossip = send(
            Channels.broadcast,
            otherValidators,
            encodeApp({ _tag: "Tx", json: canonicalJson(encodeSigned(stx)) }),
          )
          yield* gossip
          const outcome = yield* Deferred.await(waiter).pipe(
            Effect.race(Effect.forever(Effect.zipRight(Effect.sleep(Duration.seconds(1)), gossip))),
            Effect.timeout(Duration.millis(config.submitTimeoutMs)),
            Effect.option,
          )
          const trace = traced.get(tx.idempotencyKey)
          if (trace) {
            traced.delete(tx.idempotencyKey)
            if (trace.consensus.status._tag === "Started")
              trace.consensus.end(
                yield* Clock.currentTimeNanos,
                Exit.fail("not finalized before the submission timed out"),
              )
          }
          if (outcome._tag === "None") {
            outcomeWaiters.delete(tx.idempotencyKey)
            return yield* new LedgerUnavailable({
              reason: `not finalized within ${config.submitTimeoutMs / 1000} s; fewer than a quorum of validators may be reachable (check /health/ready and guts_p2p_peers_connected)`,
            })
          }
          return outcome.value
        }).pipe(
          Effect.withSpan("guts.submit", {
            attributes: { "guts.tx.kind": tx._tag, "guts.tx.key": tx.idempotencyKey },
          }),
        ),
    })

    const replicator = ObjectReplicator.of({
      replicate: (stored) =>
        Effect.forEach(
          chunkObjects(stored),
          (chunk) => send(Channels.sync, "all", encodeApp({ _tag: "Objects", objects: chunk })),
          { discard: true },
        ),
      announceUploads: (repo, ids) =>
        Effect.forEach(
          Array.from({ length: Math.ceil(ids.length / UPLOADS_PER_MESSAGE) }, (_, i) =>
            ids.slice(i * UPLOADS_PER_MESSAGE, (i + 1) * UPLOADS_PER_MESSAGE),
          ),
          (chunk) => send(Channels.sync, "all", encodeApp({ _tag: "Uploads", repo, ids: chunk })),
          { discard: true },
        ),
    })

    return { automaton, relay, reporter, ledger, replicator, scrub: repair.scrub }
  })

export type ChainApp = Effect.Effect.Success<ReturnType<typeof makeChainApp>>
