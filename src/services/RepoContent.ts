/**
 * RepoContent: read-only views of a repository's git data (work in progress).
 */
import { Context, Effect, Layer } from "effect"
import type { Principal } from "./Auth.ts"
import { Metadata } from "./Metadata.ts"
import { ObjectStore } from "./ObjectStore.ts"
import { RefStore } from "./RefStore.ts"
import { Repositories } from "./Repositories.ts"

const make = Effect.gen(function* () {
  const repos = yield* Repositories
  yield* ObjectStore
  yield* RefStore
  yield* Metadata
  return {
    readable: (owner: string, name: string, principal: Principal | undefined) =>
      Effect.map(repos.access(owner, name, principal, "read"), (f) => f.repo),
  }
})

export class RepoContent extends Context.Tag("guts/RepoContent")<
  RepoContent,
  Effect.Effect.Success<typeof make>
>() {
  static Live = Layer.effect(this, make)
}
