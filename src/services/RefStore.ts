/**
 * RefStore: the refs of every repository, with compare-and-swap updates and symbolic HEAD.
 *
 * Guarantees (checked by test/conformance/RefStore.conformance.ts for every layer):
 * - `update` applies a list of ref changes atomically: every `expected` old value must
 *   match (ZERO_ID = must not exist; undefined = don't care), else nothing changes and
 *   the mismatching refs are reported.
 * - A successful update is durable when the effect completes.
 * - Ref names are stored as given; validation of names is the caller's (domain) job.
 * - `list` sorts names bytewise on their UTF-8 encoding, as git does.
 * - Repositories are keyed by an opaque string (`owner/name` today, a repository id later).
 * - `commitBlock` writes all ref changes of one block together with the block's height and
 *   the values they replaced, in one atomic write; `undoBlock` puts those values back. Apply
 *   uses them so that a crash between the ref store and the metadata store committing a
 *   block is repaired by undoing the refs and applying the block again.
 *
 * Layers: RefStoreMemory, RefStoreRocks.
 */
import { Context, Data, type Effect } from "effect"
import { type ObjectId, ZERO_ID } from "../domain/git/ObjectId.ts"
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

/**
 * The compare-and-swap rule every layer applies: the refs of `updates` whose current value
 * (`current(name)`, undefined when absent) is not the expected one, as a RefConflict.
 */
export const refConflicts = (
  repo: string,
  current: (name: string) => ObjectId | undefined,
  updates: ReadonlyArray<Pick<RefUpdate, "name" | "expected">>,
): RefConflict | undefined => {
  const conflicts: Array<RefConflict["conflicts"][number]> = []
  for (const u of updates) {
    if (u.expected === undefined) continue
    const actual = current(u.name)
    const ok = u.expected === ZERO_ID ? actual === undefined : actual === u.expected
    if (!ok) conflicts.push({ name: u.name, expected: u.expected, actual })
  }
  return conflicts.length > 0 ? new RefConflict({ repo, conflicts }) : undefined
}

/** One key of a block's ref changes: a ref (`name`) or HEAD (`name` undefined). */
export interface BlockRefWrite {
  readonly repo: string
  readonly name?: string | undefined
  /** An object id for a ref, a target for HEAD; undefined deletes. */
  readonly value: string | undefined
}

export interface RefStoreShape {
  /** All refs of a repository, sorted by name (bytewise, UTF-8). */
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
  /** Writes one block's changes, its height and an undo record, atomically and durably. */
  readonly commitBlock: (
    height: number,
    writes: ReadonlyArray<BlockRefWrite>,
  ) => Effect.Effect<void, StorageError>
  /** The height of the last block committed here (0: none). */
  readonly blockHeight: Effect.Effect<number, StorageError>
  /** Restores what block `height` replaced and sets the height to `height - 1`. */
  readonly undoBlock: (height: number) => Effect.Effect<void, StorageError>
}

export class RefStore extends Context.Tag("guts/RefStore")<RefStore, RefStoreShape>() {}
