/**
 * RefStore: the refs of every repository, with compare-and-swap updates and symbolic HEAD.
 *
 * Guarantees (checked by test/conformance/RefStore.conformance.ts for every layer):
 * - `update` applies a list of ref changes atomically: every `expected` old value must
 *   match (ZERO_ID = must not exist; undefined = don't care), else nothing changes and
 *   the mismatching refs are reported.
 * - A successful update is durable when the effect completes.
 * - Ref names are stored as given; validation of names is the caller's (domain) job.
 * - Repositories are keyed by an opaque string (`owner/name` today, a repository id later).
 *
 * Layers: RefStoreMemory, RefStoreRocks.
 */
import { Context, Data, type Effect } from "effect"
import type { ObjectId } from "../domain/git/ObjectId.ts"
import type { StorageError } from "./ObjectStore.ts"

export interface RefUpdate {
  readonly name: string
  /** undefined: no check; ZERO_ID: the ref must not exist; otherwise its current value. */
  readonly expected?: ObjectId | undefined
  /** ZERO_ID deletes the ref. */
  readonly next: ObjectId
}

export class RefConflict extends Data.TaggedError("RefConflict")<{
  readonly repo: string
  /** Each ref whose current value was not the expected one. */
  readonly conflicts: ReadonlyArray<{
    name: string
    expected: ObjectId | undefined
    actual: ObjectId | undefined
  }>
}> {
  override get message() {
    return `refs changed underneath this update: ${this.conflicts.map((c) => c.name).join(", ")}`
  }
}

export interface RefStoreShape {
  /** All refs of a repository, sorted by name. */
  readonly list: (
    repo: string,
  ) => Effect.Effect<ReadonlyArray<{ name: string; id: ObjectId }>, StorageError>
  readonly get: (repo: string, name: string) => Effect.Effect<ObjectId | undefined, StorageError>
  readonly update: (
    repo: string,
    updates: ReadonlyArray<RefUpdate>,
  ) => Effect.Effect<void, RefConflict | StorageError>
  /** The target of HEAD (e.g. `refs/heads/main`), or undefined if never set. */
  readonly getHead: (repo: string) => Effect.Effect<string | undefined, StorageError>
  readonly setHead: (repo: string, target: string) => Effect.Effect<void, StorageError>
  /** Removes every ref and HEAD of a repository. */
  readonly dropRepo: (repo: string) => Effect.Effect<void, StorageError>
}

export class RefStore extends Context.Tag("guts/RefStore")<RefStore, RefStoreShape>() {}
