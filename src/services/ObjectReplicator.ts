/**
 * ObjectReplicator: hands newly stored git objects to the other nodes before any ref
 * update naming them is submitted (data availability). A single node has nobody to tell.
 */
import { Context, Effect, Layer } from "effect"
import type { StoredObject } from "./ObjectStore.ts"

export interface ObjectReplicatorShape {
  readonly replicate: (objects: ReadonlyArray<StoredObject>) => Effect.Effect<void>
}

export class ObjectReplicator extends Context.Tag("guts/ObjectReplicator")<
  ObjectReplicator,
  ObjectReplicatorShape
>() {
  static readonly None = Layer.succeed(ObjectReplicator, { replicate: () => Effect.void })
}
