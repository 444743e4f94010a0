/**
 * ChainApp: the node as a consensus application, and the replicated Ledger.
 *
 * - Ledger.submit signs the transaction with the node key, puts it in the mempool,
 *   gossips it to the validators, and completes when the block holding it is finalized
 *   and applied here (or fails with a clear "writes unavailable" after a timeout, e.g.
 *   when fewer than a quorum of validators are reachable).
 * - Automaton.propose builds a block {parent, height, timestamp, txs} on the parent the
 *   engine chose; verify checks a proposal (digest, parent link, height, timestamps,
 *   signatures of validators, and data availability: the objects its ref updates name are
 *   held here, fetched from peers if missing) and stays pending while bytes are missing;
 *   certify is true.
 * - The Reporter feeds finalizations to the Marshal, which delivers blocks in height
 *   order to Apply, at least once (Apply is idempotent by height and by transaction key).
 * - Blocks and git objects move on the broadcast and sync channels (Wire.ts).
 */
import { Clock, Deferred, Duration, Effect, Either, Queue, Schema } from "effect"
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
import { Marshal } from "../../domain/consensus/Marshal.ts"
import { type Digest, digestHex } from "../../domain/consensus/Types.ts"
import { type ObjectId, ZERO_ID } from "../../domain/git/ObjectId.ts"
import { Mempool } from "../../domain/Mempool.ts"
import type { Transaction, TxOutcome } from "../../domain/Transaction.ts"
import { Apply } from "../../services/Apply.ts"
import { BlockStore } from "../../services/BlockStore.ts"
import { Ledger, LedgerUnavailable } from "../../services/Ledger.ts"
import { ObjectReplicator } from "../../services/ObjectReplicator.ts"
import { ObjectStore, type StoredObject } from "../../services/ObjectStore.ts"
import { RefStore } from "../../services/RefStore.ts"
import { makeWalker } from "../../services/git/ObjectWalk.ts"
import { Channels, type Inbound, Network, type PeerId } from "../../services/Network.ts"
import { Automaton, Relay, Reporter } from "../consensus/Application.ts"
import { Metrics } from "../Metrics.ts"
import { type NodeKey, sign, verify } from "../p2p/NodeKey.ts"
import { chunkObjects, verifyReceived } from "./ObjectSync.ts"
import { decodeApp, encodeApp } from "./Wire.ts"

export interface ChainConfig {
  readonly key: NodeKey
  /** Hex public keys of the validators, in consensus order. */
  readonly validators: ReadonlyArray<PeerId>
  readonly maxTxsPerBlock: number
  readonly submitTimeoutMs: number
  /** How long a leader with nothing to propose waits for a transaction (< leader timeout). */
  readonly idleBlockMs: number
  /** Messages for the application (broadcast and sync channels), demultiplexed. */
  readonly inbound: Queue.Dequeue<Inbound>
}

const hexToDigest = (hex: string): Digest => new Uint8Array(Buffer.from(hex, "hex"))
const decodeSigned = Schema.decodeUnknownEither(SignedTransaction)
const encodeSigned = Schema.encodeSync(SignedTransaction)

export const makeChainApp = (config: ChainConfig) =>
  Effect.gen(function* () {
    const net = yield* Network
    const blocks = yield* BlockStore
    const refStore = yield* RefStore
    const objects = yield* ObjectStore
    const apply = yield* Apply
    const metrics = yield* Metrics
    const validators = new Set(config.validators)
    const isValidator = validators.has(config.key.publicKeyHex)
    const mempool = new Mempool(20_000)

    const known = new Map<string, { bytes: Uint8Array; block: Block }>()
    const blockWaiters = new Map<string, Deferred.Deferred<void>>()
    const outcomeWaiters = new Map<string, Deferred.Deferred<TxOutcome>>()
    const start = (yield* blocks.position) ?? { height: 0, digest: GENESIS_DIGEST }
    const marshal = new Marshal({ digest: hexToDigest(start.digest), height: BigInt(start.height) })
    let appliedHeight = start.height
    const applyLock = yield* Effect.makeSemaphore(1)

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
        known.set(digest, entry)
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
        yield* Effect.logDebug(`asking peers for block ${digest.slice(0, 12)} and its ancestors`)
        yield* send(Channels.sync, "all", encodeApp({ _tag: "GetChain", digest, max: 256 }))
      })

    // A block being applied must not make a ref point at an object this node lacks (a
    // node that was down missed the pushes): fetch the missing history from a peer first.
    const closureWaiters = new Map<number, Deferred.Deferred<void>>()
    let nextRequest = 1
    const ensureClosure = (block: Block) =>
      Effect.gen(function* () {
        for (const s of block.txs) {
          if (s.tx._tag !== "UpdateRefs") continue
          const tips = s.tx.changes.filter((c) => c.new !== ZERO_ID).map((c) => c.new as ObjectId)
          for (;;) {
            const missing = yield* objects.missing(tips).pipe(Effect.orDie)
            if (missing.length === 0) break
            const key = `${s.tx.owner}/${s.tx.repo}`
            const haves = (yield* refStore.list(key).pipe(Effect.orElseSucceed(() => []))).map(
              (r) => r.id,
            )
            const request = nextRequest++
            const waiter = yield* Deferred.make<void>()
            closureWaiters.set(request, waiter)
            yield* Effect.logInfo(
              `fetching ${missing.length} missing tip(s) of ${key} and their history from peers`,
            )
            yield* send(
              Channels.sync,
              "all",
              encodeApp({ _tag: "GetClosure", request, tips: missing, haves }),
            )
            yield* Deferred.await(waiter).pipe(Effect.timeout(Duration.seconds(10)), Effect.ignore)
            closureWaiters.delete(request)
          }
        }
      })

    type Step = { deliver: ReadonlyArray<{ digest: Digest }>; missing: Digest | undefined }
    const deliver = (first: Step) =>
      applyLock.withPermits(1)(
        Effect.gen(function* () {
          let step: Step | undefined = first
          while (step) {
            for (const ref of step.deliver) {
              const digest = digestHex(ref.digest)
              const entry = yield* lookup(digest)
              if (!entry)
                return yield* Effect.dieMessage(
                  `marshal delivered block ${digest} that is not held`,
                )
              const { block } = entry
              yield* ensureClosure(block)
              const result = yield* apply
                .applyBlock({
                  height: block.height,
                  timestamp: block.timestamp,
                  txs: block.txs.map((s) => s.tx),
                })
                .pipe(Effect.orDie)
              yield* blocks.setPosition({ height: block.height, digest }).pipe(Effect.orDie)
              appliedHeight = block.height
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
            }
            const missing: Digest | undefined = step.missing
            step = undefined
            if (missing) {
              // Held locally (e.g. from before a restart)? Then no need to ask anyone.
              const local = yield* lookup(digestHex(missing))
              if (local)
                step = marshal.block({
                  digest: missing,
                  parent: hexToDigest(local.block.parent),
                  height: BigInt(local.block.height),
                })
              else yield* requestChain(digestHex(missing))
            }
          }
        }),
      )

    /** Records a block's bytes (from our proposal, a relay or a fetch). */
    const accept = (bytes: Uint8Array) =>
      Effect.gen(function* () {
        const decoded = decodeBlock(bytes)
        if (Either.isLeft(decoded)) return false
        const digest = blockDigest(bytes)
        if (!known.has(digest)) {
          known.set(digest, { bytes, block: decoded.right })
          yield* blocks.put(digest, bytes).pipe(Effect.orDie)
        }
        const waiter = blockWaiters.get(digest)
        if (waiter) {
          blockWaiters.delete(digest)
          Deferred.unsafeDone(waiter, Effect.void)
        }
        const step = marshal.block({
          digest: hexToDigest(digest),
          parent: hexToDigest(decoded.right.parent),
          height: BigInt(decoded.right.height),
        })
        yield* Effect.logDebug(
          `block ${digest.slice(0, 12)} at height ${decoded.right.height}: deliver ${step.deliver.length}, missing ${step.missing ? digestHex(step.missing).slice(0, 12) : "-"}`,
        )
        // Delivery may wait (for missing objects): never on the message loop itself.
        if (step.deliver.length > 0 || step.missing) yield* Effect.forkDaemon(deliver(step))
        return true
      })

    /** Waits until the block's bytes are held, asking peers every second. */
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
          yield* send(Channels.sync, "all", encodeApp({ _tag: "GetBlock", digest }))
          yield* Deferred.await(waiter).pipe(Effect.timeout(Duration.seconds(1)), Effect.ignore)
        }
      })

    /** Waits until every object is held, asking peers for the missing ones. */
    const awaitObjects = (ids: ReadonlyArray<import("../../domain/git/ObjectId.ts").ObjectId>) =>
      Effect.gen(function* () {
        for (let attempt = 0; ; attempt++) {
          const missing = yield* objects.missing(ids).pipe(Effect.orDie)
          if (missing.length === 0) return
          if (attempt % 5 === 0)
            yield* send(Channels.sync, "all", encodeApp({ _tag: "GetObjects", ids: missing }))
          yield* Effect.sleep(Duration.millis(200))
        }
      })

    const signTx = (tx: Transaction) => {
      const signature = Buffer.from(sign(config.key, transactionSigningBytes(tx))).toString("hex")
      return { tx, signer: config.key.publicKeyHex, signature } as SignedTransaction
    }

    const validSigned = (stx: SignedTransaction) =>
      validators.has(stx.signer) &&
      verify(stx.signer, transactionSigningBytes(stx.tx), Buffer.from(stx.signature, "hex"))

    // ---- inbound application messages ------------------------------------------------
    const handle = (msg: Inbound) =>
      Effect.gen(function* () {
        const m = decodeApp(msg.bytes)
        if (!m) return yield* net.block(msg.from, "malformed application message")
        switch (m._tag) {
          case "Block":
            if (!(yield* accept(m.bytes))) yield* net.block(msg.from, "malformed block")
            return
          case "Tx": {
            let parsed: unknown
            try {
              parsed = JSON.parse(m.json)
            } catch {
              return yield* net.block(msg.from, "malformed transaction")
            }
            const stx = decodeSigned(parsed)
            if (Either.isLeft(stx) || !validSigned(stx.right))
              return yield* net.block(msg.from, "transaction with a bad signature or signer")
            if (isValidator) mempool.add(stx.right)
            return
          }
          case "GetBlock": {
            const hit = yield* lookup(m.digest)
            if (hit)
              yield* send(Channels.sync, [msg.from], encodeApp({ _tag: "Block", bytes: hit.bytes }))
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
            if (out.length > 0)
              yield* send(Channels.sync, [msg.from], encodeApp({ _tag: "Blocks", blocks: out }))
            return
          }
          case "Blocks": {
            // Oldest first, so the marshal can deliver the whole run at once.
            for (let i = m.blocks.length - 1; i >= 0; i--)
              if (!(yield* accept(m.blocks[i]!)))
                return yield* net.block(msg.from, "malformed block")
            return
          }
          case "GetClosure": {
            // Everything reachable from the tips that the asker does not hold.
            const held = yield* objects.missing(m.tips).pipe(Effect.orElseSucceed(() => m.tips))
            const tips = m.tips.filter((t) => !held.includes(t))
            if (tips.length > 0) {
              const haveMissing = new Set(
                yield* objects.missing(m.haves).pipe(Effect.orElseSucceed(() => m.haves)),
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
                  haves: m.haves.filter((h) => !haveMissing.has(h)),
                  clientShallows: [],
                })
                .pipe(Effect.orElseSucceed(() => undefined))
              if (walk) {
                for (let at = 0; at < walk.objects.length; at += 512) {
                  const stored = yield* objects
                    .getStoredMany(walk.objects.slice(at, at + 512).map((o) => o.id))
                    .pipe(Effect.orElseSucceed(() => []))
                  const have: StoredObject[] = []
                  for (const o of stored) if (o) have.push(o)
                  for (const chunk of chunkObjects(have))
                    yield* send(
                      Channels.sync,
                      [msg.from],
                      encodeApp({ _tag: "Objects", objects: chunk }),
                    )
                }
              }
            }
            yield* send(
              Channels.sync,
              [msg.from],
              encodeApp({
                _tag: "ClosureEnd",
                request: m.request,
                found: tips.length === m.tips.length,
              }),
            )
            return
          }
          case "ClosureEnd": {
            const waiter = closureWaiters.get(m.request)
            if (waiter && m.found) Deferred.unsafeDone(waiter, Effect.void)
            return
          }
          case "GetHeight": {
            const digest = yield* blocks
              .atHeight(m.height)
              .pipe(Effect.orElseSucceed(() => undefined))
            const hit = digest ? yield* lookup(digest) : undefined
            if (hit)
              yield* send(Channels.sync, [msg.from], encodeApp({ _tag: "Block", bytes: hit.bytes }))
            return
          }
          case "GetObjects": {
            const stored = yield* objects.getStoredMany(m.ids).pipe(Effect.orElseSucceed(() => []))
            const have: StoredObject[] = []
            for (const o of stored) if (o) have.push(o)
            for (const chunk of chunkObjects(have))
              yield* send(Channels.sync, [msg.from], encodeApp({ _tag: "Objects", objects: chunk }))
            return
          }
          case "Objects": {
            const good = yield* verifyReceived(m.objects, objects)
            if (good.length > 0) yield* objects.putBatch(good).pipe(Effect.orDie)
            return
          }
        }
      })
    yield* Queue.take(config.inbound).pipe(
      Effect.flatMap((msg) =>
        handle(msg).pipe(
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
          if (!hit || hit.block.height <= appliedHeight) break
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
          const parentDigest = digestHex(context.parent.digest)
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
              ? s.tx.changes
                  .filter((c) => c.new !== ZERO_ID)
                  .map((c) => c.new as import("../../domain/git/ObjectId.ts").ObjectId)
              : [],
          )
          if (needed.length > 0) yield* awaitObjects(needed)
          return true
        }),
      certify: () => Effect.succeed(true),
    })

    const relay = Relay.of({
      broadcast: (digest) =>
        Effect.gen(function* () {
          const hit = yield* lookup(digestHex(digest))
          if (hit)
            yield* send(Channels.broadcast, "all", encodeApp({ _tag: "Block", bytes: hit.bytes }))
        }),
    })

    const reporter = Reporter.of({
      report: (activity: Activity) =>
        activity._tag === "Finalization"
          ? Effect.logDebug(`finalized view ${activity.proposal.round.view}`).pipe(
              Effect.zipRight(
                deliver(marshal.finalized(activity.proposal.round.view, activity.proposal.payload)),
              ),
              Effect.forkDaemon,
              Effect.asVoid,
            )
          : Effect.void,
    })

    const ledger = Ledger.of({
      height: Effect.sync(() => appliedHeight),
      submit: (tx) =>
        Effect.gen(function* () {
          const stx = signTx(tx)
          let waiter = outcomeWaiters.get(tx.idempotencyKey)
          if (!waiter) {
            waiter = yield* Deferred.make<TxOutcome>()
            outcomeWaiters.set(tx.idempotencyKey, waiter)
          }
          if (isValidator) mempool.add(stx)
          yield* send(
            Channels.broadcast,
            config.validators.filter((v) => v !== config.key.publicKeyHex),
            encodeApp({ _tag: "Tx", json: canonicalJson(encodeSigned(stx)) }),
          )
          const outcome = yield* Deferred.await(waiter).pipe(
            Effect.timeout(Duration.millis(config.submitTimeoutMs)),
            Effect.option,
          )
          if (outcome._tag === "None")
            return yield* new LedgerUnavailable({
              reason: `not finalized within ${config.submitTimeoutMs / 1000} s; fewer than a quorum of validators may be reachable (check /health/ready and guts_p2p_peers_connected)`,
            })
          return outcome.value
        }),
    })

    const replicator = ObjectReplicator.of({
      replicate: (stored) =>
        Effect.forEach(
          chunkObjects(stored),
          (chunk) => send(Channels.sync, "all", encodeApp({ _tag: "Objects", objects: chunk })),
          {
            discard: true,
          },
        ),
    })

    return { automaton, relay, reporter, ledger, replicator }
  })

export type ChainApp = Effect.Effect.Success<ReturnType<typeof makeChainApp>>
