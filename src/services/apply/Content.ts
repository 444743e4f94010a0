/**
 * Apply handlers for the contents API (a file created, changed or deleted by a commit the
 * node writes) and for releases and their assets.
 *
 * A contents commit is built inside apply, like a merge: every validator writes the same
 * blob, trees and commit (author and committer from the transaction, time from the block),
 * then moves the branch through the same path a push takes (`updateRefs`), so branch
 * protection and pull requests following the branch apply to it too.
 */
import { Effect } from "effect"
import {
  ObjectParseError,
  parseCommit,
  serializeCommit,
  type Signature,
} from "../../domain/git/GitObject.ts"
import { isObjectId, type ObjectId, ZERO_ID } from "../../domain/git/ObjectId.ts"
import { refNameProblem } from "../../domain/git/RefName.ts"
import { editTree, PathProblem, pathSegments } from "../../domain/git/TreeEdit.ts"
import * as T from "../../domain/Transaction.ts"
import type { Block } from "../../domain/Transaction.ts"
import { type MetadataShape, type UserRow, repoKey } from "../Metadata.ts"
import type { ObjectStoreShape } from "../ObjectStore.ts"
import type { RefStoreShape } from "../RefStore.ts"
import type { Handled, HandlerError, Kit } from "./Kit.ts"
import { storeLoader } from "./Pulls.ts"

const MAX_FILE = 50 * 1024 * 1024

export const makeContentHandlers = (deps: {
  meta: MetadataShape
  kit: Kit
  objects: ObjectStoreShape
  refs: () => RefStoreShape
  updateRefs: (
    tx: T.UpdateRefs,
    block: Block,
    actor: UserRow,
  ) => Effect.Effect<Handled, HandlerError>
}) => {
  const { meta, kit, objects } = deps
  const { reject, done, needLevel } = kit
  const load = storeLoader(objects)
  const invalid = (field: string, reason: string) => reject(reason, { code: "invalid", field })

  const commitFile = (tx: T.CommitFile, block: Block, actor: UserRow) =>
    Effect.gen(function* () {
      const repo = yield* needLevel(tx.owner, tx.repo, actor, "write")
      const segments = pathSegments(tx.path)
      if (segments instanceof PathProblem) return yield* invalid("path", segments.message)
      if (tx.message.trim() === "") return yield* invalid("message", "message cannot be blank")
      const branch = tx.branch ?? repo.default_branch
      if (refNameProblem(`refs/heads/${branch}`))
        return yield* invalid("branch", `invalid branch ${branch}`)
      const ref = `refs/heads/${branch}`
      const parent = yield* deps.refs().get(repoKey(repo), ref)
      if (!parent && tx.branch !== undefined && tx.branch !== repo.default_branch)
        return yield* reject(`Branch ${branch} not found`, { code: "not_found" })
      let rootTree: ObjectId | undefined
      if (parent) {
        const [o] = yield* objects.getMany([parent])
        const c = o ? parseCommit(o.content) : undefined
        if (!c || c instanceof ObjectParseError)
          return yield* reject(`commit ${parent} is unreadable`)
        rootTree = c.tree
      }
      let blob: { mode: string; id: ObjectId } | undefined
      if (tx.content !== undefined) {
        if (!/^[A-Za-z0-9+/\r\n]*={0,2}\s*$/.test(tx.content))
          return yield* invalid("content", "content is not valid Base64")
        const bytes = Buffer.from(tx.content, "base64")
        if (bytes.length > MAX_FILE)
          return yield* invalid("content", "files are limited to 50 MB here")
        blob = { mode: "100644", id: yield* objects.put("blob", bytes) }
      }
      const edited = yield* editTree(load, rootTree, segments, blob).pipe(
        Effect.catchIf(
          (e): e is PathProblem => e instanceof PathProblem,
          (e) => invalid("path", e.message),
        ),
      )
      const previous = edited.previous
      if (previous && blob) {
        if (tx.sha === undefined)
          return yield* invalid("sha", `"sha" wasn't supplied: ${tx.path} already exists`)
        if (tx.sha !== previous.id)
          return yield* reject(`${tx.path} does not match ${tx.sha}`, { code: "conflict" })
        if (previous.mode === "100755") blob = { ...blob, mode: "100755" }
      }
      if (!previous && !blob)
        return yield* reject(`${tx.path} does not exist`, { code: "not_found" })
      if (previous && !blob && tx.sha !== previous.id)
        return yield* tx.sha === undefined
          ? invalid("sha", `"sha" wasn't supplied`)
          : reject(`${tx.path} does not match ${tx.sha}`, { code: "conflict" })
      // The mode may have changed (executable kept): edit again with the final entry.
      const final =
        blob && previous?.mode === "100755"
          ? yield* editTree(load, rootTree, segments, blob).pipe(
              Effect.catchIf(
                (e): e is PathProblem => e instanceof PathProblem,
                (e) => invalid("path", e.message),
              ),
            )
          : edited
      for (const o of final.objects) yield* objects.put(o.type, o.content)
      const when = Math.floor(block.timestamp / 1000)
      const person = (p: { name: string; email: string } | undefined): Signature => ({
        name: p?.name ?? actor.name ?? actor.login,
        email: p?.email ?? actor.email ?? `${actor.login}@users.noreply.guts`,
        timestamp: when,
        timezone: "+0000",
      })
      const commit = yield* objects.put(
        "commit",
        serializeCommit({
          tree: final.tree,
          parents: parent ? [parent] : [],
          author: person(tx.author ?? tx.committer),
          committer: person(tx.committer ?? tx.author),
          headers: [],
          message: tx.message.endsWith("\n") ? tx.message : `${tx.message}\n`,
        }),
      )
      const pushed = yield* deps.updateRefs(
        T.UpdateRefs.make({
          submitter: tx.submitter,
          idempotencyKey: `${tx.idempotencyKey}/ref`,
          owner: repo.owner_login,
          repo: repo.name,
          atomic: true,
          changes: [{ name: ref, old: parent ?? ZERO_ID, new: commit }],
        }),
        block,
        actor,
      )
      const result = (pushed.detail as { refs: Array<{ ok: boolean; reason?: string }> }).refs[0]
      if (!result?.ok)
        return yield* reject(result?.reason ?? "the branch could not be updated", {
          code: "conflict",
        })
      return done({ commit, blob: blob?.id ?? null, tree: final.tree, parent: parent ?? null })
    })

  const setRelease = (tx: T.SetRelease, block: Block, actor: UserRow) =>
    Effect.gen(function* () {
      const repo = yield* needLevel(tx.owner, tx.repo, actor, "write")
      const existing = tx.id === undefined ? undefined : yield* meta.releaseById(tx.id)
      if (tx.id !== undefined && (!existing || existing.repo_id !== repo.id))
        return yield* reject(`release ${tx.id} does not exist`, { code: "not_found" })
      if (existing && tx.delete) {
        yield* meta.deleteRelease(existing.id)
        return done({ id: existing.id })
      }
      const tag = tx.tagName ?? existing?.tag_name
      if (!tag) return yield* invalid("tag_name", "tag_name is required")
      if (refNameProblem(`refs/tags/${tag}`))
        return yield* invalid("tag_name", `invalid tag ${tag}`)
      const others = yield* meta.releases(repo.id)
      if (others.some((r) => r.tag_name === tag && r.id !== existing?.id))
        return yield* reject(`a release for ${tag} already exists`, {
          code: "already_exists",
          field: "tag_name",
        })
      const target = tx.targetCommitish ?? existing?.target_commitish ?? repo.default_branch
      const draft = tx.draft ?? existing?.draft === 1
      // Publishing a release whose tag does not exist creates the tag at the target.
      if (!draft) {
        const tagRef = `refs/tags/${tag}`
        const refs = deps.refs()
        if (!(yield* refs.get(repoKey(repo), tagRef))) {
          const at = isObjectId(target)
            ? (target as ObjectId)
            : yield* refs.get(repoKey(repo), `refs/heads/${target}`)
          if (!at || !(yield* objects.has(at)))
            return yield* invalid("target_commitish", `${target} names no commit`)
          yield* refs
            .update(repoKey(repo), [{ name: tagRef, expected: ZERO_ID, next: at }])
            .pipe(Effect.catchTag("RefConflict", () => Effect.void))
        }
      }
      const fields = {
        tag_name: tag,
        target_commitish: target,
        name: tx.name !== undefined ? tx.name : (existing?.name ?? null),
        body: tx.body !== undefined ? tx.body : (existing?.body ?? null),
        draft: draft ? 1 : 0,
        prerelease: (tx.prerelease ?? existing?.prerelease === 1) ? 1 : 0,
        published_at: draft ? null : (existing?.published_at ?? block.timestamp),
      }
      if (existing) {
        yield* meta.updateRelease(existing.id, fields)
        return done({ id: existing.id })
      }
      const id = yield* meta.insertRelease({
        repo_id: repo.id,
        ...fields,
        author_id: actor.id,
        author_login: actor.login,
        created_at: block.timestamp,
      })
      return done({ id })
    })

  const setReleaseAsset = (tx: T.SetReleaseAsset, block: Block, actor: UserRow) =>
    Effect.gen(function* () {
      const repo = yield* needLevel(tx.owner, tx.repo, actor, "write")
      const release = yield* meta.releaseById(tx.releaseId)
      if (!release || release.repo_id !== repo.id)
        return yield* reject(`release ${tx.releaseId} does not exist`, { code: "not_found" })
      const assets = yield* meta.assets(release.id)
      if (tx.id !== undefined) {
        const asset = assets.find((a) => a.id === tx.id)
        if (!asset) return yield* reject(`asset ${tx.id} does not exist`, { code: "not_found" })
        if (tx.delete) {
          yield* meta.deleteAsset(asset.id)
          return done({ id: asset.id })
        }
        if (tx.name && assets.some((a) => a.name === tx.name && a.id !== asset.id))
          return yield* reject(`an asset named ${tx.name} already exists`, {
            code: "already_exists",
            field: "name",
          })
        yield* meta.updateAsset(asset.id, {
          ...(tx.name ? { name: tx.name } : {}),
          ...(tx.label !== undefined ? { label: tx.label } : {}),
          updated_at: block.timestamp,
        })
        return done({ id: asset.id })
      }
      if (!tx.name || tx.name.includes("/"))
        return yield* invalid("name", "an asset needs a file name")
      if (assets.some((a) => a.name === tx.name))
        return yield* reject(`an asset named ${tx.name} already exists`, {
          code: "already_exists",
          field: "name",
        })
      if (!tx.blob || !isObjectId(tx.blob) || !(yield* objects.has(tx.blob as ObjectId)))
        return yield* invalid("data", "the asset's bytes did not reach this node")
      const id = yield* meta.insertAsset({
        release_id: release.id,
        name: tx.name,
        label: tx.label ?? null,
        content_type: tx.contentType ?? "application/octet-stream",
        size: tx.size ?? 0,
        blob: tx.blob,
        uploader_id: actor.id,
        uploader_login: actor.login,
        created_at: block.timestamp,
        updated_at: block.timestamp,
      })
      return done({ id })
    })

  return { commitFile, setRelease, setReleaseAsset }
}
