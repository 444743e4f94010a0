/**
 * upload-pack over stateless HTTP: protocol v0/v1 and v2 (ls-refs, fetch).
 * See shared/specs/git-http.md and git's gitprotocol-v2 / gitprotocol-pack.
 */
import { Effect } from "effect"
import type { ObjectId } from "../../domain/git/ObjectId.ts"
import { itemFromStored, PackWriteError, PackWriter } from "../../domain/git/PackWriter.ts"
import { parsePacketsText, type TextPacket } from "../../domain/git/PktLine.ts"
import { wantsV2 } from "../../domain/protocol/Capabilities.ts"
import {
  parseV0Request,
  parseV2Fetch,
  ProtocolError,
  type UploadRequest,
} from "../../domain/protocol/UploadRequest.ts"
import type { Metrics } from "../../layers/Metrics.ts"
import type { ResponseSink } from "../GitService.ts"
import type { ObjectStoreShape, StoredObject } from "../ObjectStore.ts"
import type { RefStoreShape } from "../RefStore.ts"
import type { Advertiser } from "./Advertise.ts"
import { ObjectStore } from "../ObjectStore.ts"
import { rangeFacts } from "./Ancestry.ts"
import type { ClonePackStore } from "./ClonePacks.ts"
import {
  type CloneList,
  cloneListKey,
  extendCloneList,
  makeCloneLists,
  storedCloneList,
} from "./CloneLists.ts"
import { makeWalker, type WalkResult } from "./ObjectWalk.ts"
import { makeFramer, makeWire, sidebandOf, type Wire } from "./Wire.ts"

interface Deps {
  readonly objects: ObjectStoreShape
  readonly refs: RefStoreShape
  readonly metrics: Metrics["Type"]
  readonly advertiser: Advertiser
  /** Where cached clone packs live; none: every clone writes its pack. */
  readonly packs?: ClonePackStore | undefined
  /** Clone lists shorter than this get no cached pack (their clones are quick anyway). */
  readonly packMinObjects?: number | undefined
  /** Asks for `buildPack` to run for a repository (a large full clone found no pack). */
  readonly packMissing?: ((repo: string, identity: string) => Effect.Effect<void>) | undefined
}

/** Pack output is batched into chunks of about this size before writing. */
const CHUNK = 256 * 1024
/**
 * A cached pack is written in the background, where time matters less than the node's
 * peak memory: fewer records at a time, and written out in smaller pieces (measured on the
 * push benchmark: peak RSS 307–316 MB with 128 records and 1 MB, 289–295 MB with these).
 */
const BUILD_WINDOW = 32
const BUILD_FLUSH = 128 * 1024

export const makeUploadPack = (deps: Deps) => {
  const { objects, metrics, advertiser, packs } = deps
  const packMinObjects = deps.packMinObjects ?? 1000
  // A pack goes with its list: when no repository points at a list any more, neither
  // is its pack needed.
  const lists = makeCloneLists(objects, packs ? { onRemoved: packs.remove } : {})

  const source = {
    read: (id: ObjectId) => objects.get(id),
    readMany: (ids: ReadonlyArray<ObjectId>) => objects.getMany(ids),
    sizesOf: (ids: ReadonlyArray<ObjectId>) =>
      Effect.map(objects.getStoredMany(ids), (xs) => xs.map((x) => x?.size)),
  }

  /** Checks every want is an advertised tip or reachable from one. */
  const checkWants = (
    walker: ReturnType<typeof makeWalker>,
    tips: ReadonlyArray<ObjectId>,
    wants: ReadonlyArray<ObjectId>,
  ) =>
    Effect.gen(function* () {
      const tipSet = new Set(tips)
      for (const want of wants) {
        if (tipSet.has(want)) continue
        if (!(yield* objects.has(want)) || !(yield* walker.reachable(tips, want)))
          return new ProtocolError({ message: `upload-pack: not our ref ${want}` })
      }
      return undefined
    })

  const commonHaves = (haves: ReadonlyArray<ObjectId>) =>
    Effect.gen(function* () {
      if (haves.length === 0) return [] as ObjectId[]
      const missing = new Set(yield* objects.missing(haves))
      return haves.filter((h) => !missing.has(h))
    })

  /**
   * Writes a pack of `list` to `sink`, reusing stored representations: a delta goes as is
   * when its base is in the pack (or, with `thin`, known to the client), else whole.
   * `afterEntry` runs after each entry (to send or write out what is ready).
   */
  const writePack = <E>(
    list: CloneList,
    sending: ReadonlySet<ObjectId>,
    clientHas: { readonly has: (id: ObjectId) => boolean } | undefined,
    ofsDelta: boolean,
    sink: (bytes: Buffer) => void,
    afterEntry: () => Effect.Effect<void, E>,
    windowSize = 128,
  ) =>
    Effect.gen(function* () {
      // Deltas may name a base written later in this pack or held by the client; which of
      // those holds is decided here, object by object.
      const pack = new PackWriter({ count: list.length, ofsDelta, thin: true })
      const check = (err: PackWriteError | undefined) =>
        err ? Effect.dieMessage(`pack writing failed: ${err.message}`) : Effect.void
      yield* check(pack.headerTo(sink))
      // Stored records read ahead at a time: larger windows held tens of MB of records.
      const WINDOW = windowSize
      let window: ReadonlyArray<StoredObject | undefined> = []
      for (let i = 0; i < list.length; i++) {
        const o = list[i]!
        if (i % WINDOW === 0)
          window = yield* objects.getStoredMany(list.slice(i, i + WINDOW).map((x) => x.id))
        const stored = window[i % WINDOW] ?? (yield* objects.getStored(o.id))
        const repr = stored.repr
        const reusable =
          repr.kind === "whole" ||
          pack.offsetOf(repr.base) !== undefined ||
          sending.has(repr.base) ||
          (clientHas?.has(repr.base) ?? false)
        if (reusable) yield* check(pack.writeTo(itemFromStored(stored), sink))
        else {
          // The delta's base will not be there: send the object whole.
          const full = yield* objects.get(o.id)
          yield* check(
            pack.writeTo(
              { kind: "content", id: o.id, type: full.type, content: full.content },
              sink,
            ),
          )
        }
        yield* afterEntry()
      }
      const trailer = pack.trailer()
      if (trailer instanceof PackWriteError) return yield* check(trailer)
      sink(trailer)
    })

  /**
   * Streams the cached pack for `key` through `framer` if there is a good one; false when
   * there is none (nothing was sent then).
   */
  const sendCached = <E>(
    key: string,
    count: number,
    framer: ReturnType<typeof makeFramer>,
    send: (end: boolean) => Effect.Effect<void, E>,
  ) =>
    Effect.gen(function* () {
      if (!packs) return false
      const file = yield* packs.open(key, count)
      if (!file) return false
      yield* Effect.gen(function* () {
        const buffer = Buffer.allocUnsafe(CHUNK)
        for (let at = 0; at < file.size; ) {
          // Bytes already went out: a failure now can only end the response.
          const n = yield* file
            .read(buffer, at, Math.min(CHUNK, file.size - at))
            .pipe(Effect.orDieWith((e) => new Error(e.message)))
          if (n <= 0)
            return yield* Effect.dieMessage(`the cached clone pack for ${key} ended early`)
          framer.push(buffer.subarray(0, n))
          at += n
          yield* send(false)
        }
        yield* send(true)
      }).pipe(Effect.ensuring(file.close))
      return true
    })

  /**
   * Streams the pack for a finished negotiation. `cloneKey` is set for a plain full clone:
   * its cached pack is sent when there is one.
   */
  const sendPack = (
    wire: Wire,
    req: UploadRequest,
    walk: WalkResult,
    tagRefs: ReadonlyArray<{ id: ObjectId; peeled?: ObjectId | undefined }>,
    cloneKey: string | undefined,
    repo: string,
    identity: string,
  ) =>
    Effect.gen(function* () {
      const list = [...walk.objects]
      const sending = new Set(list.map((o) => o.id))
      if (req.capabilities.has("include-tag")) {
        for (const t of tagRefs) {
          if (t.peeled && sending.has(t.peeled) && !sending.has(t.id) && !walk.known.has(t.id)) {
            sending.add(t.id)
            list.push({ id: t.id, type: "tag" })
          }
        }
      }
      const quiet = req.capabilities.has("no-progress")
      if (!quiet) yield* wire.progress(`Enumerating objects: ${list.length}, done.\n`)
      const ofs = req.capabilities.has("ofs-delta")
      const thin = req.capabilities.has("thin-pack")
      const framer = makeFramer(wire.sideband)
      const send = (end: boolean) => Effect.forEach(framer.take(end), wire.raw, { discard: true })
      // A cached pack holds the list as computed for these wants, with ofs-deltas: usable
      // when include-tag added nothing and the client reads ofs-deltas.
      const cached =
        cloneKey !== undefined &&
        ofs &&
        list.length === walk.objects.length &&
        (yield* sendCached(cloneKey, list.length, framer, send))
      if (cached) metrics.gitClonePacks.inc({ outcome: "served" })
      else {
        // A large full clone without its pack (a restored node, packs deleted, a list
        // written by a clone): have the pack written in the background for the next ones.
        if (cloneKey !== undefined && packs && list.length >= packMinObjects && deps.packMissing)
          yield* deps.packMissing(repo, identity)
        yield* writePack(list, sending, thin ? walk.known : undefined, ofs, framer.push, () =>
          framer.readyBytes() >= CHUNK ? send(false) : Effect.void,
        )
        yield* send(true)
      }
      metrics.gitBytesServed.inc(framer.total())
      if (!quiet) yield* wire.progress(`Total ${list.length} (reused ${list.length})\n`)
    })

  /**
   * Writes the cached pack of `repo`'s clone list when the list is stored, long enough to
   * be worth a file, and has no pack yet (run in the background after `warm`).
   */
  const buildPack = (repo: string) =>
    Effect.gen(function* () {
      if (!packs) return false
      const wants = yield* cloneWants(repo)
      if (wants.length === 0) return false
      const key = cloneListKey(wants)
      // Most runs find the pack already there (a clone asked, or nothing moved): no need
      // to decode the list for them.
      if (yield* packs.has(key)) return false
      const list = yield* lists.get(wants)
      if (!list || list.length < packMinObjects) return false
      const writer = yield* packs.create(key)
      let pending: Buffer[] = []
      let bytes = 0
      const writeOut = (always: boolean) =>
        Effect.suspend(() => {
          if (!always && bytes < BUILD_FLUSH) return Effect.void
          const out = pending
          pending = []
          bytes = 0
          return writer.append(out)
        })
      yield* writePack(
        list,
        new Set(list.map((o) => o.id)),
        undefined,
        true,
        (b) => {
          pending.push(b)
          bytes += b.length
        },
        () => writeOut(false),
        BUILD_WINDOW,
      ).pipe(
        Effect.zipRight(writeOut(true)),
        Effect.zipRight(writer.commit),
        Effect.onError(() => writer.abort),
      )
      // A clone that walked may have moved the repository to another list meanwhile; a
      // pack whose list is gone would only take space.
      if ((yield* storedCloneList(objects, key)) === undefined) {
        yield* packs.remove(key)
        return false
      }
      metrics.gitClonePacks.inc({ outcome: "built" })
      return true
    })

  const walkFor = (
    walker: ReturnType<typeof makeWalker>,
    req: UploadRequest,
    common: ReadonlyArray<ObjectId>,
    repo: string,
    identity: string,
  ) =>
    Effect.gen(function* () {
      const notTips: ObjectId[] = []
      if (req.deepenNot.length > 0) {
        const { refs } = yield* advertiser.load(repo)
        for (const name of req.deepenNot) {
          const r = refs.find(
            (x) =>
              x.name === name || x.name === `refs/heads/${name}` || x.name === `refs/tags/${name}`,
          )
          if (r) notTips.push(r.peeled ?? r.id)
        }
      }
      // A full clone's object list depends only on the wanted ids (content-addressed
      // history never changes), so it is computed once and kept (CloneLists.ts).
      const plainClone = isPlainClone(req, common)
      if (plainClone) {
        const hit = yield* lists.get(req.wants)
        if (hit) {
          metrics.gitCloneLists.inc({ outcome: "reused" })
          return listResult(hit)
        }
      }
      const result = yield* walker.walk({
        wants: req.wants,
        haves: common,
        clientShallows: req.shallows,
        depth: req.depth,
        deepenSince: req.deepenSince,
        deepenNotTips: notTips,
        filter: req.filter,
      })
      if (plainClone) {
        // Kept on disk only when it is what a clone of the repository asks for: a client
        // choosing other want sets must not fill the disk with lists.
        const canonical = yield* cloneWants(repo)
        const same = sameSet(canonical, req.wants)
        yield* lists.put(req.wants, result.objects, same ? identity : undefined)
        metrics.gitCloneLists.inc({ outcome: "walked" })
      }
      return result
    })

  /** What `git clone` asks for: the tips of every branch and tag. */
  const cloneWants = (repo: string) =>
    Effect.map(advertiser.load(repo), ({ refs }) => [
      ...new Set(
        refs
          .filter((r) => r.name.startsWith("refs/heads/") || r.name.startsWith("refs/tags/"))
          .map((r) => r.id),
      ),
    ])

  /**
   * Computes and keeps the object list a clone of `repo` will ask for, unless it is
   * already known (run in the background after a push).
   */
  const warm = (repo: string, identity: string) =>
    Effect.gen(function* () {
      const wants = yield* cloneWants(repo)
      if (wants.length === 0 || (yield* lists.adopt(wants, identity))) return false
      const before = yield* lists.previous(identity)
      if (before && (yield* onlyGrew(before.wants, wants))) {
        // The usual push adds commits on top: walk only what it added.
        const added = yield* makeWalker(source).walk({
          wants,
          haves: before.wants,
          clientShallows: [],
        })
        yield* lists.put(wants, extendCloneList(added.objects, before.list), identity)
        metrics.gitCloneLists.inc({ outcome: "extended" })
        return true
      }
      const result = yield* makeWalker(source).walk({ wants, haves: [], clientShallows: [] })
      yield* lists.put(wants, result.objects, identity)
      metrics.gitCloneLists.inc({ outcome: "warmed" })
      return true
    })

  /**
   * Whether every old tip that is gone is a commit the new tips descend from: then the old
   * list plus what the push added is exactly what the new tips reach. A deleted branch or
   * tag, or a forced update, means objects may have become unreachable: walk afresh so a
   * clone never gets them.
   */
  const onlyGrew = (before: ReadonlyArray<ObjectId>, after: ReadonlyArray<ObjectId>) =>
    Effect.gen(function* () {
      const now = new Set(after)
      const gone = before.filter((id) => !now.has(id))
      const fresh = after.filter((id) => !before.includes(id))
      for (const old of gone) {
        if ((yield* objects.getStored(old)).type !== "commit") return false
        let kept = false
        for (const tip of fresh) {
          if ((yield* objects.getStored(tip)).type !== "commit") continue
          if ((yield* rangeFacts(old, tip)).fastForward) {
            kept = true
            break
          }
        }
        if (!kept) return false
      }
      return true
    }).pipe(Effect.provideService(ObjectStore, objects))

  const isDeepen = (req: UploadRequest) =>
    req.depth !== undefined || req.deepenSince !== undefined || req.deepenNot.length > 0

  /** A full clone: no common objects, nothing shallow, no filter. */
  const isPlainClone = (req: UploadRequest, common: ReadonlyArray<ObjectId>) =>
    common.length === 0 && req.shallows.length === 0 && !isDeepen(req) && req.filter === undefined

  const serveV0 = (
    repo: string,
    identity: string,
    packets: ReadonlyArray<TextPacket>,
    sink: ResponseSink,
  ) =>
    Effect.gen(function* () {
      const req = parseV0Request(packets.map((p) => (p.kind === "data" ? p.text : null)))
      if (req instanceof ProtocolError) {
        yield* makeWire(sink, "none").fatal(req.message)
        return
      }
      if (req.wants.length === 0) return
      const wire = makeWire(sink, sidebandOf(req.capabilities))
      const plain = makeWire(sink, "none")
      const { refs, head } = yield* advertiser.load(repo)
      const tips = [...refs.map((r) => r.id), ...(head ? [head] : [])]
      const walker = makeWalker(source)
      const bad = yield* checkWants(walker, tips, req.wants)
      if (bad) {
        yield* plain.line(`ERR ${bad.message}\n`)
        return
      }
      const common = yield* commonHaves(req.haves)
      let walk: WalkResult | undefined
      if (isDeepen(req)) {
        walk = yield* walkFor(walker, req, common, repo, identity)
        for (const id of walk.shallow) yield* plain.line(`shallow ${id}\n`)
        for (const id of walk.unshallow) yield* plain.line(`unshallow ${id}\n`)
        yield* plain.flush()
      }
      // A request that ends right after the want section (a stateless shallow clone's
      // first round) gets only the shallow list: git's upload-pack stops at that EOF.
      const firstFlush = packets.findIndex((p) => p.kind === "flush")
      if (firstFlush < 0 || firstFlush === packets.length - 1) return
      const detailed = req.capabilities.has("multi_ack_detailed")
      const multi = detailed || req.capabilities.has("multi_ack")
      const last = common[common.length - 1]
      if (!req.done) {
        const ready = yield* walker.allWantsReachCommon(req.wants, new Set(common))
        if (multi)
          for (const id of common)
            yield* plain.line(`ACK ${id} ${detailed ? "common" : "continue"}\n`)
        if (ready && detailed && last) yield* plain.line(`ACK ${last} ready\n`)
        yield* plain.line("NAK\n")
        if (!(ready && last && req.capabilities.has("no-done"))) return
        yield* plain.line(`ACK ${last}\n`)
      } else {
        if (multi) for (const id of common) yield* plain.line(`ACK ${id} common\n`)
        yield* plain.line(last ? `ACK ${last}\n` : "NAK\n")
      }
      walk ??= yield* walkFor(walker, req, common, repo, identity)
      yield* sendPack(
        wire,
        req,
        walk,
        refs.filter((r) => r.peeled),
        isPlainClone(req, common) ? cloneListKey(req.wants) : undefined,
        repo,
        identity,
      )
      if (sidebandOf(req.capabilities) !== "none") yield* plain.flush()
    })

  const lsRefs = (repo: string, args: ReadonlyArray<string>, sink: ResponseSink) =>
    Effect.gen(function* () {
      const wire = makeWire(sink, "none")
      const peel = args.includes("peel")
      const symrefs = args.includes("symrefs")
      const unborn = args.includes("unborn")
      const prefixes = args.filter((a) => a.startsWith("ref-prefix ")).map((a) => a.slice(11))
      const matches = (name: string) =>
        prefixes.length === 0 || prefixes.some((p) => name.startsWith(p))
      const { refs, head, headTarget } = yield* advertiser.load(repo)
      if (matches("HEAD")) {
        if (head)
          yield* wire.line(
            `${head} HEAD${symrefs && headTarget ? ` symref-target:${headTarget}` : ""}\n`,
          )
        else if (unborn && headTarget)
          yield* wire.line(`unborn HEAD${symrefs ? ` symref-target:${headTarget}` : ""}\n`)
      }
      for (const r of refs) {
        if (!matches(r.name)) continue
        yield* wire.line(`${r.id} ${r.name}${peel && r.peeled ? ` peeled:${r.peeled}` : ""}\n`)
      }
      yield* wire.flush()
    })

  const fetchV2 = (
    repo: string,
    identity: string,
    args: ReadonlyArray<string>,
    sink: ResponseSink,
  ) =>
    Effect.gen(function* () {
      const plain = makeWire(sink, "none")
      const req = parseV2Fetch(args)
      if (req instanceof ProtocolError) {
        yield* plain.line(`ERR ${req.message}\n`)
        return
      }
      const { refs, head } = yield* advertiser.load(repo)
      const tips = [...refs.map((r) => r.id), ...(head ? [head] : [])]
      const walker = makeWalker(source)
      const bad = yield* checkWants(walker, tips, req.wants)
      if (bad) {
        yield* plain.line(`ERR ${bad.message}\n`)
        return
      }
      const common = yield* commonHaves(req.haves)
      if (!req.done) {
        yield* plain.line("acknowledgments\n")
        if (common.length === 0) yield* plain.line("NAK\n")
        for (const id of common) yield* plain.line(`ACK ${id}\n`)
        const ready =
          !req.waitForDone && (yield* walker.allWantsReachCommon(req.wants, new Set(common)))
        if (!ready) {
          yield* plain.flush()
          return
        }
        yield* plain.line("ready\n")
        yield* plain.raw(Buffer.from("0001"))
      }
      const walk = yield* walkFor(walker, req, common, repo, identity)
      if (isDeepen(req)) {
        yield* plain.line("shallow-info\n")
        for (const id of walk.shallow) yield* plain.line(`shallow ${id}\n`)
        for (const id of walk.unshallow) yield* plain.line(`unshallow ${id}\n`)
        yield* plain.raw(Buffer.from("0001"))
      }
      yield* plain.line("packfile\n")
      yield* sendPack(
        makeWire(sink, "side-band-64k"),
        req,
        walk,
        refs.filter((r) => r.peeled),
        isPlainClone(req, common) ? cloneListKey(req.wants) : undefined,
        repo,
        identity,
      )
      yield* plain.flush()
    })

  const serveV2 = (
    repo: string,
    identity: string,
    packets: ReadonlyArray<TextPacket>,
    sink: ResponseSink,
  ) =>
    Effect.gen(function* () {
      let command: string | undefined
      const args: string[] = []
      let inArgs = false
      for (const p of packets) {
        if (p.kind === "delim") {
          inArgs = true
          continue
        }
        if (p.kind !== "data") continue
        const text = p.text.endsWith("\n") ? p.text.slice(0, -1) : p.text
        if (!inArgs) {
          if (text.startsWith("command=")) command = text.slice(8)
        } else args.push(text)
      }
      if (command === "ls-refs") return yield* lsRefs(repo, args, sink)
      if (command === "fetch") return yield* fetchV2(repo, identity, args, sink)
      yield* makeWire(sink, "none").line(`ERR unknown command '${command ?? ""}'\n`)
    })

  /**
   * `repo` names the refs (`owner/name`); `identity` the repository itself (RepoUploads'
   * key, which a repository created again under the same name does not share): its
   * stored clone list is kept under it.
   */
  const serve = (
    repo: string,
    protocol: string,
    body: Buffer,
    sink: ResponseSink,
    identity: string = repo,
  ) =>
    Effect.gen(function* () {
      const packets = parsePacketsText(body)
      if (packets instanceof Error) {
        yield* makeWire(sink, "none").line(`ERR ${packets.message}\n`)
        metrics.gitOperations.inc({ service: "upload-pack", outcome: "bad-request" })
        return
      }
      yield* wantsV2(protocol)
        ? serveV2(repo, identity, packets, sink)
        : serveV0(repo, identity, packets, sink)
      metrics.gitOperations.inc({ service: "upload-pack", outcome: "ok" })
    })

  return {
    serve,
    warm,
    buildPack,
    /** Drops a deleted repository's clone list and cached pack (unless shared). */
    forgetRepository: lists.forgetRepository,
  }
}

const NOTHING_KNOWN = { has: () => false }

const listResult = (objects: CloneList): WalkResult => ({
  objects,
  known: NOTHING_KNOWN,
  shallow: [],
  unshallow: [],
})

const sameSet = (a: ReadonlyArray<ObjectId>, b: ReadonlyArray<ObjectId>) => {
  const x = new Set(a)
  const y = new Set(b)
  return x.size === y.size && [...x].every((id) => y.has(id))
}
