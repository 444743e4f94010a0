/**
 * RepoUploads: which objects were written *to* a repository without (yet) being reachable
 * from its refs — objects made by the git data API (`POST .../git/blobs|trees|commits|
 * tags`) and objects of a pushed pack that no updated ref reaches (the push's ref update
 * failed, or the pack carried extra objects).
 *
 * The object store is shared by every repository; this record is half of the rule that
 * scopes it (see RepoObjects): an object is visible in a repository when it is reachable
 * from the repository's refs or recorded here for it.
 *
 * Not replicated state: the record is written by the validator that took the request, and
 * handed to the other validators after the objects themselves (ObjectReplicator
 * `announceUploads`), so a write naming the object through another validator a moment
 * later finds it. It only ever widens what a repository may *name*, never what a block
 * does, so validators that disagree about it still apply every block alike.
 *
 * Keys are a repository's id with its creation time (stable across renames; SQLite may
 * hand a deleted repository's id to the next one, whose creation time differs), never
 * `owner/name`.
 * Layers: RepoUploadsMemory (below), RepoUploadsRocks (RocksDB `meta`, survives restarts).
 */
import { Context, Effect, Layer } from "effect"
import type { ObjectId } from "../domain/git/ObjectId.ts"
import type { RepoRow } from "./Metadata.ts"
import type { StorageError } from "./ObjectStore.ts"

/** What identifies a repository here. */
export type UploadsRepo = Pick<RepoRow, "id" | "created_at">

/** The record's key for a repository: `{id}.{created_at}`. */
export const uploadsKey = (repo: UploadsRepo) => `${repo.id}.${repo.created_at}`

export interface RepoUploadsShape {
  /** Records `ids` as written to the repository (idempotent). */
  readonly record: (repo: string, ids: ReadonlyArray<ObjectId>) => Effect.Effect<void, StorageError>
  /** For each of `ids`, whether it was recorded for the repository (one round trip). */
  readonly recorded: (
    repo: string,
    ids: ReadonlyArray<ObjectId>,
  ) => Effect.Effect<ReadonlyArray<boolean>, StorageError>
}

export class RepoUploads extends Context.Tag("guts/RepoUploads")<RepoUploads, RepoUploadsShape>() {}

/** In process memory: tests and `--storage memory` (nothing survives a restart there anyway). */
export const RepoUploadsMemory = Layer.sync(RepoUploads, () => {
  const byRepo = new Map<string, Set<ObjectId>>()
  return RepoUploads.of({
    record: (repo, ids) =>
      Effect.sync(() => {
        let set = byRepo.get(repo)
        if (!set) byRepo.set(repo, (set = new Set()))
        for (const id of ids) set.add(id)
      }),
    recorded: (repo, ids) =>
      Effect.sync(() => {
        const set = byRepo.get(repo)
        return ids.map((id) => set?.has(id) ?? false)
      }),
  })
})
