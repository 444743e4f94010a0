/**
 * ObjectReplicator: hands newly stored git objects to the other nodes before any ref
 * update naming them is submitted (data availability). A single node has nobody to tell.
 */
import { Context, Effect, Layer } from "effect"
import type { ObjectId } from "../domain/git/ObjectId.ts"
import type { StoredObject } from "./ObjectStore.ts"

export interface ObjectReplicatorShape {
  readonly replicate: (objects: ReadonlyArray<StoredObject>) => Effect.Effect<void>
  /**
   * Tells the other nodes which objects were written to a repository (RepoUploads key),
   * after `replicate` has sent them. Absent on a single node.
   */
  readonly announceUploads?: (repo: string, ids: ReadonlyArray<ObjectId>) => Effect.Effect<void>
}

export class ObjectReplicator extends Context.Tag("guts/ObjectReplicator")<
  ObjectReplicator,
  ObjectReplicatorShape
>() {
  static readonly None = Layer.succeed(ObjectReplicator, { replicate: () => Effect.void })
}
