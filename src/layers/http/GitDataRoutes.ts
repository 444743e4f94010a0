/**
 * The git data API's writes — `POST .../git/blobs`, `.../git/trees`, `.../git/commits`,
 * `.../git/tags` — with GitHub's paths, bodies and answers (201). The answers for trees,
 * commits and tags are the same presenters the reads use (ContentRoutes.ts). Refs that
 * name the new objects are made with `.../git/refs` (ReleaseRoutes.ts).
 */
import { Effect } from "effect"
import { GitData } from "../../services/GitData.ts"
import { base, field, jsonObject, type R, requirePrincipal, route, send } from "./ApiKit.ts"
import { gitCommitJson, gitTreeJson, tagJson } from "./ContentRoutes.ts"
import type { Route } from "./HttpServer.ts"

const P = "/repos/:owner/:repo"

export const gitDataRoutes: Array<Route<R>> = [
  route("POST", `${P}/git/blobs`, (ctx) =>
    Effect.gen(function* () {
      const p = yield* requirePrincipal(ctx)
      const git = yield* GitData
      const b = yield* jsonObject(ctx, "Blob")
      const content = yield* field<string>(b, "Blob", "content", "string", true)
      const encoding = yield* field<string>(b, "Blob", "encoding", "string")
      const got = yield* git.createBlob(ctx.params.owner!, ctx.params.repo!, p, content!, encoding)
      const bb = yield* base(ctx)
      yield* send(ctx, 201, {
        url: `${bb}/api/repos/${got.repo.owner_login}/${got.repo.name}/git/blobs/${got.id}`,
        sha: got.id,
      })
    }),
  ),
  route("POST", `${P}/git/trees`, (ctx) =>
    Effect.gen(function* () {
      const p = yield* requirePrincipal(ctx)
      const git = yield* GitData
      const b = yield* jsonObject(ctx, "Tree")
      const tree = yield* field<unknown[]>(b, "Tree", "tree", "array", true)
      const baseTree = yield* field<string>(b, "Tree", "base_tree", "string")
      const got = yield* git.createTree(ctx.params.owner!, ctx.params.repo!, p, baseTree, tree!)
      yield* send(ctx, 201, gitTreeJson(yield* base(ctx), got.repo, got.id, got.tree, false))
    }),
  ),
  route("POST", `${P}/git/commits`, (ctx) =>
    Effect.gen(function* () {
      const p = yield* requirePrincipal(ctx)
      const git = yield* GitData
      const b = yield* jsonObject(ctx, "Commit")
      const message = yield* field<string>(b, "Commit", "message", "string", true)
      const tree = yield* field<string>(b, "Commit", "tree", "string", true)
      const parents = (yield* field<unknown[]>(b, "Commit", "parents", "array")) ?? []
      const got = yield* git.createCommit(ctx.params.owner!, ctx.params.repo!, p, {
        message: message!,
        tree: tree!,
        parents,
        author: b.author,
        committer: b.committer,
      })
      yield* send(ctx, 201, gitCommitJson(yield* base(ctx), got.repo, got.id, got.commit, got.raw))
    }),
  ),
  route("POST", `${P}/git/tags`, (ctx) =>
    Effect.gen(function* () {
      const p = yield* requirePrincipal(ctx)
      const git = yield* GitData
      const b = yield* jsonObject(ctx, "Tag")
      const tag = yield* field<string>(b, "Tag", "tag", "string", true)
      const message = yield* field<string>(b, "Tag", "message", "string", true)
      const object = yield* field<string>(b, "Tag", "object", "string", true)
      const type = yield* field<string>(b, "Tag", "type", "string", true)
      const got = yield* git.createTag(ctx.params.owner!, ctx.params.repo!, p, {
        tag: tag!,
        message: message!,
        object: object!,
        type: type!,
        tagger: b.tagger,
      })
      yield* send(ctx, 201, tagJson(yield* base(ctx), got.repo, got.id, got.tag))
    }),
  ),
]
