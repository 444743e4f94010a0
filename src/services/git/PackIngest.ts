/**
 * PackIngest: a pushed pack, from the request body to verified objects.
 * Streams the body into the PackParser (bounded by the push size limit), fetches the
 * bases a thin pack leaves out from the store, and resolves and re-hashes everything.
 */
import * as zlib from "node:zlib"
import { Effect } from "effect"
import { applyDelta, DeltaError } from "../../domain/git/Delta.ts"
import type { ObjectId, ObjectType } from "../../domain/git/ObjectId.ts"
import {
  type DeflatedSpool,
  type ExternalBase,
  PackError,
  PackParser,
  refBasesNotInPack,
  resolvePack,
} from "../../domain/git/PackReader.ts"
import type { StoredObject } from "../ObjectStore.ts"
import type { BodyReader } from "./BodyReader.ts"
import { SpoolError } from "./PackSpool.ts"

export interface IngestOptions {
  readonly maxBytes: number
  /** A base object from the repository's store, for thin packs. */
  /** Base objects from the repository's store, for thin packs (one call for all). */
  readonly lookup: (
    ids: ReadonlyArray<ObjectId>,
  ) => Effect.Effect<ReadonlyArray<ExternalBase | undefined>>
  readonly onProgress?: ((text: string) => Effect.Effect<void>) | undefined
  readonly keepContent?: (type: ObjectType) => boolean
  /** Receives each kept content as it is resolved (then `contents` stays empty). */
  readonly onContent?: (id: ObjectId, type: ObjectType, content: Uint8Array) => void
  /** Where entries' deflated bytes are kept (PackSpool); in memory without one. */
  readonly spool?: DeflatedSpool | undefined
}

/** A spool that failed (disk full, I/O error) fails the push with what to do. */
const spoolFailure = (e: unknown) =>
  new PackError({
    reason: "invalid",
    message: `the node could not keep the pack in its spool (${e instanceof Error ? e.message : String(e)}); check the node's disk space and try again`,
  })

/**
 * Runs a parser or resolver step that may read or write the spool: a SpoolError becomes
 * a PackError; anything else (a bug) is not disguised as one.
 */
const guarded = <A>(f: () => A): A | PackError => {
  try {
    return f()
  } catch (e) {
    if (e instanceof SpoolError) return spoolFailure(e)
    throw e
  }
}

export interface Ingested {
  readonly objects: ReadonlyArray<StoredObject>
  readonly contents: ReadonlyMap<ObjectId, { type: ObjectType; content: Uint8Array }>
  readonly bytes: number
  readonly thinBases: number
}

export const ingestPack = (reader: BodyReader, options: IngestOptions) =>
  Effect.gen(function* () {
    // With a spool, inflated deltas are retained up to 16 MB (the rest are inflated again
    // from the spool when applied): the pack itself no longer sits in memory, so this is
    // most of what a push holds.
    const parser = new PackParser(
      options.spool ? { spool: options.spool, retainDeltaBytes: 16 * 1024 * 1024 } : {},
    )
    let reported = 0
    for (;;) {
      const chunk = yield* reader.next.pipe(
        Effect.catchAll((e) =>
          Effect.succeed(new PackError({ message: `reading the pack failed: ${e.message}` })),
        ),
      )
      if (chunk instanceof PackError) return chunk
      if (chunk === undefined) break
      const err = guarded(() => parser.push(chunk))
      if (err) return err
      if (parser.bytes > options.maxBytes)
        return new PackError({
          message: `pack exceeds the push size limit of ${options.maxBytes} bytes`,
        })
      if (options.onProgress && parser.entries.length - reported >= 5000) {
        reported = parser.entries.length
        yield* options.onProgress(`Receiving objects: ${reported}/${parser.expected}\r`)
      }
    }
    const err = guarded(() => parser.end())
    if (err) return err
    const external = new Map<ObjectId, ExternalBase>()
    // Thin-pack bases are read together: their delta chains in the store are resolved a
    // level at a time, not one object (and one storage round trip) after another.
    const wanted = refBasesNotInPack(parser.entries)
    const bases = wanted.length > 0 ? yield* options.lookup(wanted) : []
    wanted.forEach((id, i) => {
      const base = bases[i]
      if (base) external.set(id, base)
    })
    // Resolution is CPU work; yield first so other requests are not starved.
    yield* Effect.yieldNow()
    const resolved = guarded(() =>
      resolvePack(parser.entries, {
        external,
        ...(options.keepContent ? { keepContent: options.keepContent } : {}),
        ...(options.onContent ? { onContent: options.onContent } : {}),
      }),
    )
    if (resolved instanceof PackError) return resolved
    if (options.onProgress)
      yield* options.onProgress(`Resolving deltas: ${resolved.objects.length} objects, done.\n`)
    return {
      objects: resolved.objects,
      contents: resolved.contents,
      bytes: parser.bytes,
      thinBases: resolved.externalBases.length,
    } satisfies Ingested
  })

/**
 * The object `o` as a whole (deflated) representation, resolving its delta chain through
 * the other received objects. Used when a delta's base will not be kept.
 */
export const wholeObject = (o: StoredObject, received: ReadonlyArray<StoredObject>) =>
  Effect.sync(() => {
    const byId = new Map(received.map((x) => [x.id, x]))
    const chain: StoredObject[] = []
    let cur: StoredObject | undefined = o
    while (cur && cur.repr.kind === "delta") {
      chain.push(cur)
      cur = byId.get(cur.repr.base)
    }
    if (!cur) return o // base outside the pack: it is in the store, the delta can stay
    let content: Buffer = zlib.inflateSync(cur.repr.deflated)
    for (let i = chain.length - 1; i >= 0; i--) {
      const out = applyDelta(content, zlib.inflateSync(chain[i]!.repr.deflated))
      if (out instanceof DeltaError) return o
      content = out
    }
    return {
      id: o.id,
      type: o.type,
      size: content.length,
      repr: { kind: "whole", deflated: zlib.deflateSync(content) },
    } satisfies StoredObject
  })
