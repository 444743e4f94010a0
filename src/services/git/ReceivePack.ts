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
import { deflatedLengthOf, type ObjectStoreShape, type StoredObject } from "../ObjectStore.ts"
import type { RefStoreShape } from "../RefStore.ts"
import type { RepoObjectsShape } from "../RepoObjects.ts"
import { RawIdSet } from "../../domain/git/RawIdSet.ts"
import { forEachTreeEntry, parseCommitInfo, parseTagTarget } from "./ObjectWalk.ts"
import { makeBodyReader, readPktSection } from "./BodyReader.ts"
import { ingestPack, wholeObject } from "./PackIngest.ts"
import { scopedSpool } from "./PackSpool.ts"
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
  /** Where a push's pack is spooled while it is checked and stored (PackSpool). */
  readonly spoolDir: string
}

/**
 * The objects an object refers to (what must exist for it to be connected), as numbers in
 * `ids`: a large push names about a million tree entries, nearly all of them repeats, and
 * numbering them where they lie in the tree makes no string per entry.
 */
const referencesOf = (
  ids: RawIdSet,
  o: { type: string; content: Uint8Array },
): Int32Array | undefined => {
  if (o.type === "commit") {
    const info = parseCommitInfo(o.content)
    return info ? Int32Array.from([info.tree, ...info.parents], (id) => ids.indexOf(id)) : undefined
  }
  if (o.type === "tree") {
    const out: number[] = []
    const content = o.content
    forEachTreeEntry(content, (mode, at) => {
      if ((mode & 0o170000) !== 0o160000) out.push(ids.indexOfRaw(content, at))
    })
    return Int32Array.from(out)
  }
  if (o.type === "tag") {
    const t = parseTagTarget(o.content)
    return t ? Int32Array.of(ids.indexOf(t.id)) : undefined
  }
  return undefined
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
      // Every id the push names, numbered (RawIdSet); what each received commit, tree and
      // tag refers to; and which numbers came in the pack. Referred ids that are not in the
      // pack are checked against the store in one round trip (a push of a few commits to a
      // big tree names thousands).
      const ids = new RawIdSet(1 << 12)
      const references: Array<Int32Array | undefined> = []
      let inPack = new Uint8Array(0)
      const external = new Set<ObjectId>()
      if (needsPack) {
        // The pack's bytes wait in a file until stored (closed when the push ends).
        const spool = yield* scopedSpool(deps.spoolDir)
        const ingested = yield* ingestPack(reader, {
          maxBytes: options.maxBytes,
          spool,
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
          onContent: (id, type, content) => {
            references[ids.indexOf(id)] = referencesOf(ids, { type, content })
          },
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
        const numbers = received.map((o) => ids.indexOf(o.id))
        inPack = new Uint8Array(ids.size)
        for (const n of numbers) inPack[n] = 1
        for (let n = 0; n < inPack.length; n++) if (!inPack[n]) external.add(ids.idAt(n))
      }
      const numberOf = (id: ObjectId) => ids.indexOf(id)
      const isInPack = (n: number) => n < inPack.length && inPack[n] === 1

      // 2. Checks before anything is stored: ref names, connectivity of each new tip.
      const results = new Map<string, RefResult>()
      for (const c of commands) if (!isDelete(c) && !isInPack(numberOf(c.new))) external.add(c.new)
      const reached = new Uint8Array(ids.size)
      // Objects of other repositories count as missing: only what is visible here
      // (RepoObjects). An object the store lacks is visible nowhere, so this one check
      // answers both (and a push on top of a known history needs no read of its objects).
      const absent = new Set(yield* deps.scope.invisible(repo, [...external]))
      /** The first missing object below `tip`, or undefined when it is connected. */
      const missingBelow = (tip: ObjectId) => {
        const stack = [numberOf(tip)]
        const seen = new Uint8Array(ids.size)
        const local: number[] = []
        while (stack.length > 0) {
          const n = stack.pop()!
          if (seen[n] || reached[n]) continue
          seen[n] = 1
          if (!isInPack(n)) {
            const id = ids.idAt(n)
            if (absent.has(id)) return id
            continue // stored objects are connected by construction
          }
          local.push(n)
          const refs = references[n]
          if (refs) for (const r of refs) stack.push(r)
        }
        for (const n of local) reached[n] = 1
        return undefined
      }
      const wasReached = (id: ObjectId) => reached[numberOf(id)] === 1
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
      const keep = results.size === 0 ? received : received.filter((o) => wasReached(o.id))
      if (keep.length > 0) {
        const kept = new Set(keep.map((o) => o.id))
        const batch: StoredObject[] = []
        for (const o of keep) {
          // A base that came in this pack but is not kept would leave the delta dangling.
          const dangling =
            o.repr.kind === "delta" && !kept.has(o.repr.base) && isInPack(numberOf(o.repr.base))
          batch.push(dangling ? yield* wholeObject(o, received) : o)
        }
        // Written in slices so one huge push does not become one huge write batch in
        // memory; objects are immutable and content-addressed, so a partial write
        // (a crash midway) leaves nothing inconsistent — no ref points at them yet.
        let slice: StoredObject[] = []
        let sliceBytes = 0
        for (const o of batch) {
          slice.push(o)
          sliceBytes += deflatedLengthOf(o.repr)
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
        keep.filter((o) => !landed || !wasReached(o.id)).map((o) => o.id),
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
    }).pipe(Effect.scoped)

  return { serve }
}
