/**
 * GitService: the git smart protocol over the stores (shared/specs/git-http.md).
 *
 * - advertise: ref advertisements (v0/v1) and the v2 capability advertisement;
 * - uploadPack: negotiation (multi_ack_detailed, no-done; v2 fetch/ls-refs), shallow and
 *   filters, and a streamed pack that reuses stored deltas;
 * - receivePack: commands, a streamed pack parsed and verified (thin bases resolved from
 *   the store, every id re-hashed, connectivity checked), objects stored, then the ref
 *   updates submitted to the Ledger — the only way refs change — and a report-status
 *   answer per ref.
 *
 * Transport framing (HTTP, status codes) is the caller's; protocol errors are answered in
 * the protocol (ERR lines, side-band 3, `ng` / `unpack` statuses), so the client prints
 * them and the node keeps serving others.
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import type { Readable } from "node:stream"
import { Clock, Context, Duration, Effect, Layer, Option, PubSub, Queue } from "effect"
import { Apply } from "./Apply.ts"
import type { Principal } from "./Auth.ts"
import { Ledger } from "./Ledger.ts"
import { NodeConfig } from "./NodeConfig.ts"
import { type RepoRow, repoKey } from "./Metadata.ts"
import { ObjectReplicator } from "./ObjectReplicator.ts"
import { ObjectStore } from "./ObjectStore.ts"
import { RefStore } from "./RefStore.ts"
import { uploadsKey } from "./RepoUploads.ts"
import { RepoObjects } from "./RepoObjects.ts"
import { Metrics } from "../layers/Metrics.ts"
import { makeUploadPack } from "./git/UploadPack.ts"
import { makeClonePackStore } from "./git/ClonePacks.ts"
import { storedCloneList } from "./git/CloneLists.ts"
import { makeReceivePack } from "./git/ReceivePack.ts"
import { makeAdvertiser } from "./git/Advertise.ts"
import { makePushNonces } from "./git/PushNonce.ts"

/** Where protocol output goes; `write` waits while the client is slow (backpressure). */
export interface ResponseSink {
  readonly write: (chunk: Uint8Array) => Effect.Effect<void>
}

export { repoKey }

/** How long after a push its clone list is computed (pushes in a burst share one run). */
const WARM_DELAY = Duration.seconds(1)

const make = Effect.gen(function* () {
  const objects = yield* ObjectStore
  const refs = yield* RefStore
  const ledger = yield* Ledger
  const metrics = yield* Metrics
  const replicator = yield* ObjectReplicator
  const scope = yield* RepoObjects
  const advertiser = makeAdvertiser({ objects, refs })
  // A push's pack is spooled under the data directory, and cached clone packs are kept
  // there (in the system's temporary directory for a node without one on disk, and in
  // tests: a directory of this process's own, removed when it stops).
  const config = yield* Effect.serviceOption(NodeConfig)
  const onDisk = Option.isSome(config) && config.value.storage === "rocksdb"
  const spoolDir = onDisk ? path.join(config.value.dataDir, "tmp") : os.tmpdir()
  const packDir = onDisk
    ? path.join(config.value.dataDir, "clone-packs")
    : yield* Effect.acquireRelease(
        Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "guts-clone-packs-"))),
        (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true })),
      )
  const packs = makeClonePackStore(packDir)
  // Set below, once the background queue exists.
  let packMissing: (name: string, identity: string) => Effect.Effect<void> = () => Effect.void
  const upload = makeUploadPack({
    objects,
    refs,
    metrics,
    advertiser,
    packs,
    packMinObjects: Option.isSome(config) ? config.value.clonePackMinObjects : undefined,
    packMissing: (name, identity) => packMissing(name, identity),
  })
  // Packs whose list is gone (its repository moved on while the node was down, or a
  // write cut short by a crash) are deleted in the background.
  yield* Effect.forkScoped(
    packs
      .sweep((key) =>
        Effect.map(storedCloneList(objects, key), (l) => l !== undefined).pipe(
          Effect.orElseSucceed(() => true),
        ),
      )
      .pipe(
        Effect.tap((n) =>
          n > 0
            ? Effect.logInfo("deleted stale cached clone packs").pipe(
                Effect.annotateLogs({ count: n }),
              )
            : Effect.void,
        ),
      ),
  )
  const nonces = makePushNonces()
  const receive = makeReceivePack({
    objects,
    refs,
    ledger,
    metrics,
    replicator,
    nonces,
    scope,
    spoolDir,
  })
  // After a push, the repository's clone list is computed in the background (one
  // repository at a time, a moment later), so the next clone need not walk the history.
  // Queued by identity (RepoUploads' key); each entry also names the refs (owner/name).
  const warming = yield* Queue.unbounded<string>()
  const queued = new Map<string, string>()
  let working = 0
  const gauge = () => metrics.gitCloneListsPending.set(queued.size + working)
  const enqueueKeys = (identity: string, name: string) =>
    Effect.suspend(() => {
      if (queued.has(identity) || deleted.has(identity)) return Effect.void
      queued.set(identity, name)
      gauge()
      return Queue.offer(warming, identity)
    })
  // Deleted repositories (by identity) get no more background work: a queued or paused
  // run for one would otherwise compute a list, under its dead identity, for whatever
  // repository has taken its name since.
  const identityOfId = new Map<number, string>()
  const deleted = new Set<string>()
  const enqueue = (repo: RepoRow) => {
    identityOfId.set(repo.id, uploadsKey(repo))
    return enqueueKeys(uploadsKey(repo), repoKey(repo))
  }
  packMissing = (name, identity) => Effect.asVoid(enqueueKeys(identity, name))
  // Writing a pack reads the whole repository, so a repository pushed to again and again
  // gets a new one at most every clone-pack-pace-ms (or ten times as long as its last one took):
  // packs then take at most about a tenth of a core. Clones in between are served the
  // ordinary way, and the pack is written when the pause ends.
  const lifetime = yield* Effect.scope
  const packPaceMs = (Option.isSome(config) ? config.value.clonePackPaceMs : undefined) ?? 30_000
  const nextPack = new Map<string, number>()
  const deferred = new Set<string>()
  const buildPaced = (repo: string, identity: string) =>
    Effect.gen(function* () {
      const start = yield* Clock.currentTimeMillis
      const next = nextPack.get(identity) ?? 0
      if (start < next) {
        if (!deferred.has(identity)) {
          deferred.add(identity)
          yield* Effect.sleep(Duration.millis(next - start)).pipe(
            Effect.zipRight(
              Effect.suspend(() => {
                deferred.delete(identity)
                return enqueueKeys(identity, repo)
              }),
            ),
            Effect.forkIn(lifetime),
          )
        }
        return false
      }
      const built = yield* upload.buildPack(repo)
      if (built) {
        const end = yield* Clock.currentTimeMillis
        nextPack.set(identity, end + Math.max(packPaceMs, 10 * (end - start)))
      }
      return built
    })
  yield* Effect.forkScoped(
    Effect.forever(
      Effect.gen(function* () {
        const first = yield* Queue.take(warming)
        yield* Effect.sleep(WARM_DELAY)
        // Pushes that queued other repositories meanwhile are served in this round too.
        for (const identity of [first, ...(yield* Queue.takeAll(warming))]) {
          const repo = queued.get(identity)
          // Taken off the queue before the work: a push arriving meanwhile queues it again.
          queued.delete(identity)
          if (repo === undefined || deleted.has(identity)) continue
          working = 1
          yield* upload.warm(repo, identity).pipe(
            Effect.tap((built) =>
              built
                ? Effect.logDebug("clone list written").pipe(Effect.annotateLogs({ repo }))
                : Effect.void,
            ),
            Effect.catchAllCause((cause) =>
              Effect.as(
                Effect.logWarning(
                  "computing the clone list failed; clones will walk instead",
                  cause,
                ).pipe(Effect.annotateLogs({ repo })),
                false,
              ),
            ),
            // Then the pack those clones receive, written once for all of them.
            Effect.zipRight(
              buildPaced(repo, identity).pipe(
                Effect.tap((built) =>
                  built
                    ? Effect.logDebug("cached clone pack written").pipe(
                        Effect.annotateLogs({ repo }),
                      )
                    : Effect.void,
                ),
                Effect.catchAllCause((cause) =>
                  Effect.zipRight(
                    Effect.sync(() => metrics.gitClonePacks.inc({ outcome: "failed" })),
                    Effect.logWarning(
                      "writing the cached clone pack failed; clones will write their packs instead",
                      cause,
                    ).pipe(Effect.annotateLogs({ repo })),
                  ),
                ),
              ),
            ),
            Effect.ensuring(
              Effect.sync(() => {
                working = 0
                gauge()
              }),
            ),
          )
        }
      }),
    ),
  )
  // A deleted repository's clone list and cached pack are of no use to anyone: dropped
  // once its deletion is applied (on every node, as each applies the block).
  const apply = yield* Effect.serviceOption(Apply)
  if (Option.isSome(apply)) {
    const blocks = yield* PubSub.subscribe(apply.value.appliedBlocks)
    yield* Effect.forkScoped(
      Effect.forever(
        Effect.flatMap(Queue.take(blocks), ({ block, outcomes }) =>
          Effect.forEach(
            block.txs,
            (tx, i) => {
              const outcome = outcomes[i]
              const id = (outcome?.detail as { id?: unknown } | undefined)?.id
              if (
                tx._tag !== "DeleteRepository" ||
                outcome?._tag !== "Applied" ||
                outcome.height !== block.height ||
                typeof id !== "number"
              )
                return Effect.void
              const known = identityOfId.get(id)
              if (known !== undefined) {
                deleted.add(known)
                identityOfId.delete(id)
              }
              return upload.forgetRepository(id).pipe(
                Effect.tap((identity) =>
                  Effect.sync(() => identity !== undefined && deleted.add(identity)),
                ),
                Effect.asVoid,
                Effect.catchAllCause((cause) =>
                  Effect.logWarning(
                    "dropping a deleted repository's clone list failed",
                    cause,
                  ).pipe(Effect.annotateLogs({ repoId: id })),
                ),
              )
            },
            { discard: true },
          ),
        ),
      ),
    )
  }
  return {
    advertise: (repo: RepoRow, service: "git-upload-pack" | "git-receive-pack", protocol: string) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) =>
        advertiser.advertise(
          repoKey(repo),
          service,
          protocol,
          // Offering push-cert lets clients sign pushes (`git push --signed`).
          service === "git-receive-pack" ? [`push-cert=${nonces.issue(repoKey(repo), now)}`] : [],
        ),
      ),
    uploadPack: (repo: RepoRow, protocol: string, body: Buffer, sink: ResponseSink) =>
      upload.serve(repoKey(repo), protocol, body, sink, uploadsKey(repo)),
    receivePack: (
      repo: RepoRow,
      principal: Principal,
      body: Readable,
      sink: ResponseSink,
      options: { maxBytes: number },
    ) => receive.serve(repo, principal, body, sink, options).pipe(Effect.ensuring(enqueue(repo))),
  }
})

export class GitService extends Context.Tag("guts/GitService")<
  GitService,
  Effect.Effect.Success<typeof make>
>() {
  static readonly Live = Layer.scoped(GitService, make)
}
