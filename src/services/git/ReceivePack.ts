/**
 * receive-pack (push) over stateless HTTP.
 *
 * Order of work, so that a bad push changes nothing:
 *   commands → pack streamed in, parsed, every delta resolved (thin bases from the store)
 *   and every id re-hashed → connectivity of each new tip → objects stored (immutable,
 *   content-addressed, before anything refers to them) → ref updates submitted to the
 *   Ledger as one transaction (compare-and-swap checked when it is applied) → one
 *   report-status line per ref.
 */
import { randomUUID } from "node:crypto"
import type { Readable } from "node:stream"
import { Clock, Effect } from "effect"
import type { ObjectId } from "../../domain/git/ObjectId.ts"
import { FLUSH_PKT, pktLine } from "../../domain/git/PktLine.ts"
import { refNameProblem } from "../../domain/git/RefName.ts"
import {
  isDelete,
  parseReceiveCommands,
  type RefCommand,
} from "../../domain/protocol/ReceiveRequest.ts"
import { ProtocolError } from "../../domain/protocol/UploadRequest.ts"
import { PushCertError, parsePushCert, verifyPushCert } from "../../domain/protocol/PushCert.ts"
import { type RefResult, type UserId, UpdateRefs } from "../../domain/Transaction.ts"
import type { Metrics } from "../../layers/Metrics.ts"
import type { Principal } from "../Auth.ts"
import type { ObjectReplicatorShape } from "../ObjectReplicator.ts"
import type { ResponseSink } from "../GitService.ts"
import type { LedgerShape } from "../Ledger.ts"
import type { RepoRow } from "../Metadata.ts"
import type { ObjectStoreShape, StoredObject } from "../ObjectStore.ts"
import type { RefStoreShape } from "../RefStore.ts"
import type { RepoObjectsShape } from "../RepoObjects.ts"
import { parseCommitInfo, parseTagTarget, parseTreeEntries } from "./ObjectWalk.ts"
import { makeBodyReader, readPktSection } from "./BodyReader.ts"
import { ingestPack, wholeObject } from "./PackIngest.ts"
import { makeWire } from "./Wire.ts"
import type { PushNonces } from "./PushNonce.ts"

interface Deps {
  readonly objects: ObjectStoreShape
  readonly refs: RefStoreShape
  readonly ledger: LedgerShape
  readonly metrics: Metrics["Type"]
  readonly replicator: ObjectReplicatorShape
  readonly nonces: PushNonces
  /** Which objects the repository may name (RepoObjects). */
  readonly scope: Pick<RepoObjectsShape, "invisible" | "recordUploaded">
}

/** The ids an object refers to (what must exist for it to be connected). */
const referencesOf = (o: { type: string; content: Uint8Array }): ObjectId[] => {
  if (o.type === "commit") {
    const info = parseCommitInfo(o.content)
    return info ? [info.tree, ...info.parents] : []
  }
  if (o.type === "tree") {
    return (parseTreeEntries(o.content) ?? []).filter((e) => !e.isGitlink).map((e) => e.id)
  }
  if (o.type === "tag") {
    const t = parseTagTarget(o.content)
    return t ? [t.id] : []
  }
  return []
}

export const makeReceivePack = (deps: Deps) => {
  const { objects, ledger, metrics } = deps

  const serve = (
    repo: RepoRow,
    principal: Principal,
    body: Readable,
    sink: ResponseSink,
    options: { maxBytes: number },
  ) =>
    Effect.gen(function* () {
      const plain = makeWire(sink, "none")
      const reader = makeBodyReader(body)
      const head = yield* readPktSection(reader).pipe(Effect.catchAll((e) => Effect.succeed(e)))
      if (head instanceof Error) {
        yield* plain.line(`ERR ${head.message}\n`)
        metrics.gitOperations.inc({ service: "receive-pack", outcome: "bad-request" })
        return
      }
      const parsed = parseReceiveCommands(head)
      if (parsed instanceof ProtocolError) {
        yield* plain.line(`ERR ${parsed.message}\n`)
        metrics.gitOperations.inc({ service: "receive-pack", outcome: "bad-request" })
        return
      }
      const caps = parsed.capabilities
      const commands = parsed.commands
      const pushCert = parsed.pushCert
      // A signed push is checked here for a quick answer (the nonce is this node's own
      // business); every validator verifies the signature again in apply.
      let certProblem: string | undefined
      if (pushCert !== undefined) {
        const cert = parsePushCert(pushCert)
        const verified = cert instanceof PushCertError ? cert : verifyPushCert(cert)
        if (verified instanceof PushCertError) certProblem = verified.message
        else if (!(cert instanceof PushCertError))
          certProblem = deps.nonces.problem(
            `${repo.owner_login}/${repo.name}`,
            cert.nonce,
            yield* Clock.currentTimeMillis,
          )
      }
      const wire = makeWire(sink, caps.has("side-band-64k") ? "side-band-64k" : "none")
      const quiet = caps.has("quiet")

      // Options follow the commands when the client uses push-options.
      if (caps.has("push-options")) {
        const opts = yield* readPktSection(reader).pipe(Effect.catchAll((e) => Effect.succeed(e)))
        if (opts instanceof Error) {
          yield* plain.line(`ERR ${opts.message}\n`)
          return
        }
      }

      const report = (unpack: string, results: ReadonlyArray<RefResult>) =>
        Effect.gen(function* () {
          const lines = [`unpack ${unpack}\n`]
          for (const r of results)
            lines.push(r.ok ? `ok ${r.name}\n` : `ng ${r.name} ${r.reason ?? "rejected"}\n`)
          if (caps.has("side-band-64k")) {
            const payload = Buffer.concat([...lines.map((l) => pktLine(l)), FLUSH_PKT])
            yield* wire.data(payload)
            yield* plain.flush()
          } else {
            for (const l of lines) yield* plain.line(l)
            yield* plain.flush()
          }
        })

      // 1. The pack (absent when every command is a deletion).
      const needsPack = commands.some((c) => !isDelete(c))
      let received: ReadonlyArray<StoredObject> = []
      let receivedIds = new Set<ObjectId>()
      // What each received commit, tree and tag refers to, and the referred ids that are
      // not in the pack (checked against the store in one round trip: a push of a few
      // commits to a big tree names thousands).
      const references = new Map<ObjectId, ObjectId[]>()
      const external = new Set<ObjectId>()
      // Ids are kept as one string each: every tree's entries parse into fresh strings,
      // and keeping those held about a million duplicates for a large history.
      const canon = new Map<ObjectId, ObjectId>()
      const canonical = (id: ObjectId) => {
        const seen = canon.get(id)
        if (seen !== undefined) return seen
        canon.set(id, id)
        return id
      }
      if (needsPack) {
        const ingested = yield* ingestPack(reader, {
          maxBytes: options.maxBytes,
          // Thin bases: only objects visible in this repository (RepoObjects).
          lookup: (ids) =>
            Effect.zip(
              objects.getMany(ids).pipe(Effect.catchAll(() => Effect.succeed([]))),
              Effect.map(deps.scope.invisible(repo, ids), (hidden) => new Set(hidden)),
            ).pipe(
              Effect.map(([os, hidden]) =>
                os.map((o) =>
                  o && !hidden.has(o.id) ? { type: o.type, content: o.content } : undefined,
                ),
              ),
            ),
          onProgress: quiet ? undefined : (text) => wire.progress(text),
          keepContent: (type) => type !== "blob",
          // References are taken as each object resolves; the contents are not kept.
          onContent: (id, type, content) =>
            references.set(canonical(id), referencesOf({ type, content }).map(canonical)),
        })
        if (ingested instanceof Error) {
          metrics.gitOperations.inc({ service: "receive-pack", outcome: "bad-pack" })
          yield* report(
            ingested.message.replace(/\n/g, " "),
            commands.map((c) => ({ name: c.ref, ok: false, reason: "unpacker error" })),
          )
          return
        }
        metrics.gitBytesReceived.inc(ingested.bytes)
        metrics.gitThinBases.inc(ingested.thinBases)
        received = ingested.objects
        receivedIds = new Set(received.map((o) => o.id))
        for (const id of canon.keys()) if (!receivedIds.has(id)) external.add(id)
        canon.clear()
      }

      // 2. Checks before anything is stored: ref names, connectivity of each new tip.
      const results = new Map<string, RefResult>()
      const reached = new Set<ObjectId>()
      for (const c of commands) if (!isDelete(c) && !receivedIds.has(c.new)) external.add(c.new)
      const absent = new Set(yield* objects.missing([...external]))
      // Objects of other repositories count as missing: only what is visible here (RepoObjects).
      for (const id of yield* deps.scope.invisible(
        repo,
        [...external].filter((id) => !absent.has(id)),
      ))
        absent.add(id)
      /** The first missing object below `tip`, or undefined when it is connected. */
      const missingBelow = (tip: ObjectId) => {
        const stack = [tip]
        const seen = new Set<ObjectId>()
        const local: ObjectId[] = []
        while (stack.length > 0) {
          const id = stack.pop()!
          if (seen.has(id) || reached.has(id)) continue
          seen.add(id)
          if (!receivedIds.has(id)) {
            if (absent.has(id)) return id
            continue // stored objects are connected by construction
          }
          local.push(id)
          const refs = references.get(id)
          if (refs) stack.push(...refs)
        }
        for (const id of local) reached.add(id)
        return undefined
      }
      for (const c of commands) {
        const problem = refNameProblem(c.ref)
        if (problem || !c.ref.startsWith("refs/")) {
          results.set(c.ref, {
            name: c.ref,
            ok: false,
            reason: `funny refname (${problem ?? "must start with refs/"})`,
          })
          continue
        }
        if (isDelete(c)) continue
        const lacking = missingBelow(c.new)
        if (lacking !== undefined)
          results.set(c.ref, {
            name: c.ref,
            ok: false,
            reason: `missing necessary objects (${lacking} is not in the pack or this repository)`,
          })
      }

      // 3. Store what is connected (every object of a clean push); a delta whose base is
      // not kept is stored whole, so the store never refers to an object it lacks.
      const keep = results.size === 0 ? received : received.filter((o) => reached.has(o.id))
      if (keep.length > 0) {
        const kept = new Set(keep.map((o) => o.id))
        const batch: StoredObject[] = []
        for (const o of keep) {
          // A base that came in this pack but is not kept would leave the delta dangling.
          const dangling =
            o.repr.kind === "delta" && !kept.has(o.repr.base) && receivedIds.has(o.repr.base)
          batch.push(dangling ? yield* wholeObject(o, received) : o)
        }
        // Written in slices so one huge push does not become one huge write batch in
        // memory; objects are immutable and content-addressed, so a partial write
        // (a crash midway) leaves nothing inconsistent — no ref points at them yet.
        let slice: StoredObject[] = []
        let sliceBytes = 0
        for (const o of batch) {
          slice.push(o)
          sliceBytes += o.repr.deflated.length
          if (sliceBytes >= 8 * 1024 * 1024) {
            yield* objects.putBatch(slice)
            slice = []
            sliceBytes = 0
          }
        }
        if (slice.length > 0) yield* objects.putBatch(slice)
        // Other nodes get the objects before any ref update names them.
        yield* deps.replicator.replicate(batch)
      }

      // 4. Ref updates, through the ledger.
      const atomic = caps.has("atomic")
      const pendingCommands: RefCommand[] = commands.filter((c) => !results.has(c.ref))
      if (certProblem !== undefined) {
        for (const c of pendingCommands)
          results.set(c.ref, {
            name: c.ref,
            ok: false,
            reason: `push certificate rejected: ${certProblem}`,
          })
      } else if (atomic && results.size > 0) {
        for (const c of pendingCommands)
          results.set(c.ref, { name: c.ref, ok: false, reason: "atomic push failed" })
      } else if (pendingCommands.length > 0) {
        const tx = UpdateRefs.make({
          submitter: principal.user.id as UserId,
          idempotencyKey: randomUUID(),
          owner: repo.owner_login,
          repo: repo.name,
          atomic,
          changes: pendingCommands.map((c) => ({ name: c.ref, old: c.old, new: c.new })),
          // A certificate covers the whole push; with some refs already refused it no
          // longer matches the submitted changes, and apply would say so.
          pushCert,
        })
        const outcome = yield* ledger.submit(tx).pipe(Effect.either)
        if (outcome._tag === "Left") {
          for (const c of pendingCommands)
            results.set(c.ref, { name: c.ref, ok: false, reason: outcome.left.message })
        } else if (outcome.right._tag === "Rejected") {
          for (const c of pendingCommands)
            results.set(c.ref, { name: c.ref, ok: false, reason: outcome.right.reason })
        } else {
          const detail = outcome.right.detail as { refs: RefResult[] }
          for (const r of detail.refs) results.set(r.name, r)
        }
      }
      // What the pack brought that no updated ref reaches stays nameable here (RepoObjects).
      const landed = commands.every((c) => results.get(c.ref)?.ok === true)
      yield* deps.scope.recordUploaded(
        repo,
        keep.filter((o) => !landed || !reached.has(o.id)).map((o) => o.id),
      )
      metrics.gitOperations.inc({
        service: "receive-pack",
        outcome: [...results.values()].every((r) => r.ok) ? "ok" : "rejected",
      })
      yield* report(
        "ok",
        commands.map(
          (c) => results.get(c.ref) ?? { name: c.ref, ok: false, reason: "not processed" },
        ),
      )
    })

  return { serve }
}
