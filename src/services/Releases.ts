/**
 * Releases and repository writes that are not pushes: releases with their assets, files
 * committed through the contents API, and refs created or moved through the git refs API.
 *
 * Asset bytes are stored as git blobs — content-addressed, deduplicated, and replicated to
 * the other validators before the transaction that names them, exactly like the objects of
 * a push — so an asset is never listed on a node that cannot serve it.
 */
import { awaitArrival } from "./ObjectArrival.ts"
import { randomUUID } from "node:crypto"
import { Context, Effect, Layer } from "effect"
import { commitLinks, ObjectParseError } from "../domain/git/GitObject.ts"
import { isObjectId, type ObjectId } from "../domain/git/ObjectId.ts"
import { refNameProblem } from "../domain/git/RefName.ts"
import {
  CommitFile,
  SetRelease,
  SetReleaseAsset,
  type Transaction,
  UpdateRefs,
  type UserId,
} from "../domain/Transaction.ts"
import type { Principal } from "./Auth.ts"
import { Forbidden, Invalid, NotFound } from "./Errors.ts"
import { Ledger } from "./Ledger.ts"
import { submitTx } from "./Submit.ts"
import { Metadata, type RepoRow, repoKey } from "./Metadata.ts"
import { ObjectReplicator } from "./ObjectReplicator.ts"
import { NodeConfig } from "./NodeConfig.ts"
import { ObjectStore } from "./ObjectStore.ts"
import { RepoObjects } from "./RepoObjects.ts"
import { RefStore } from "./RefStore.ts"
import { Repositories } from "./Repositories.ts"

const make = Effect.gen(function* () {
  const meta = yield* Metadata
  const ledger = yield* Ledger
  const repos = yield* Repositories
  const objects = yield* ObjectStore
  const scope = yield* RepoObjects
  const config = yield* NodeConfig
  /**
   * Whether the store holds the object (or it arrives from another validator) and it is
   * visible in `repo` (RepoObjects): another repository's object counts as missing.
   */
  const arrivedIn = (repo: RepoRow, id: ObjectId) =>
    Effect.flatMap(
      awaitArrival((x: ObjectId) =>
        Effect.gen(function* () {
          if (!(yield* objects.has(x).pipe(Effect.orDie))) return undefined
          return (yield* scope.visible(repo, x)) ? true : undefined
        }),
      ).pipe(Effect.provideService(NodeConfig, config)),
      (look) => look(id),
    )
  const refs = yield* RefStore
  const replicator = yield* ObjectReplicator

  const submit = <D>(tx: Transaction, resource: string, field?: string) =>
    submitTx<D>(ledger, tx, resource, field)
  const envelope = (principal: Principal, repo: RepoRow) => ({
    submitter: principal.user.id as UserId,
    idempotencyKey: randomUUID(),
    owner: repo.owner_login,
    repo: repo.name,
  })
  const readable = (owner: string, name: string, principal: Principal | undefined) =>
    Effect.map(repos.access(owner, name, principal, "read"), (f) => f.repo)
  const writable = (owner: string, name: string, principal: Principal) =>
    Effect.map(repos.access(owner, name, principal, "write"), (f) => f.repo)

  const releaseOf = (repo: RepoRow, id: number) =>
    Effect.flatMap(meta.releaseById(id).pipe(Effect.orDie), (r) =>
      r && r.repo_id === repo.id
        ? Effect.succeed(r)
        : Effect.fail(new NotFound({ what: `release ${id}` })),
    )

  /** Drafts are visible to those who can write, as on GitHub. */
  const visible = (repo: RepoRow, principal: Principal | undefined) =>
    Effect.map(
      repos.levelOf(repo, principal),
      (l) => l === "write" || l === "maintain" || l === "admin",
    )

  return {
    commitFile: (
      owner: string,
      name: string,
      principal: Principal,
      fields: Omit<CommitFile, "_tag" | "submitter" | "idempotencyKey" | "owner" | "repo">,
    ) =>
      Effect.gen(function* () {
        const repo = yield* writable(owner, name, principal)
        const detail = yield* submit<{
          commit: string
          blob: string | null
          tree: string
          parent: string | null
        }>(CommitFile.make({ ...envelope(principal, repo), ...fields }), "Content", "path")
        return { repo, ...detail }
      }),

    /** Creates (`expected` absent) or moves a ref through the git refs API. */
    setRef: (
      owner: string,
      name: string,
      principal: Principal,
      ref: string,
      sha: string,
      opts: { create: boolean; force: boolean },
    ) =>
      Effect.gen(function* () {
        const repo = yield* writable(owner, name, principal)
        const full = ref.startsWith("refs/") ? ref : `refs/${ref}`
        if (refNameProblem(full) || !/^refs\/(heads|tags)\/./.test(full))
          return yield* new Invalid({
            reason: "Reference name is not valid",
            resource: "Reference",
            field: "ref",
            code: "invalid",
          })
        if (!isObjectId(sha) || !(yield* arrivedIn(repo, sha as ObjectId)))
          return yield* new Invalid({
            reason: "Object does not exist",
            resource: "Reference",
            field: "sha",
            code: "invalid",
          })
        const current = yield* refs.get(repoKey(repo), full).pipe(Effect.orDie)
        if (opts.create && current)
          return yield* new Invalid({
            reason: "Reference already exists",
            resource: "Reference",
            field: "ref",
            code: "already_exists",
          })
        if (!opts.create && !current) return yield* new NotFound({ what: `reference ${full}` })
        if (!opts.create && !opts.force && current) {
          // A fast-forward only, unless forced (GitHub's `force: false`).
          const ff = yield* isFastForward(current, sha as ObjectId)
          if (!ff)
            return yield* new Invalid({
              reason: "Update is not a fast forward",
              resource: "Reference",
              field: "sha",
              code: "invalid",
            })
        }
        const detail = yield* submit<{ refs: Array<{ ok: boolean; reason?: string }> }>(
          UpdateRefs.make({
            ...envelope(principal, repo),
            atomic: true,
            changes: [{ name: full, old: current ?? "0".repeat(40), new: sha }],
          }),
          "Reference",
          "ref",
        )
        const r = detail.refs[0]
        if (r && !r.ok) return yield* new Forbidden({ reason: r.reason ?? "refused" })
        return { repo, ref: full, sha }
      }),

    releases: (owner: string, name: string, principal: Principal | undefined) =>
      Effect.gen(function* () {
        const repo = yield* readable(owner, name, principal)
        const all = yield* meta.releases(repo.id).pipe(Effect.orDie)
        const drafts = yield* visible(repo, principal)
        return { repo, rows: all.filter((r) => drafts || r.draft === 0) }
      }),
    release: (owner: string, name: string, id: number, principal: Principal | undefined) =>
      Effect.gen(function* () {
        const repo = yield* readable(owner, name, principal)
        const r = yield* releaseOf(repo, id)
        if (r.draft === 1 && !(yield* visible(repo, principal)))
          return yield* new NotFound({ what: `release ${id}` })
        return { repo, release: r, assets: yield* meta.assets(r.id).pipe(Effect.orDie) }
      }),
    releaseByTag: (
      owner: string,
      name: string,
      tag: string | undefined,
      principal: Principal | undefined,
    ) =>
      Effect.gen(function* () {
        const repo = yield* readable(owner, name, principal)
        const all = yield* meta.releases(repo.id).pipe(Effect.orDie)
        const r =
          tag === undefined
            ? all.find((x) => x.draft === 0 && x.prerelease === 0)
            : all.find((x) => x.tag_name === tag && x.draft === 0)
        if (!r)
          return yield* new NotFound({
            what: tag === undefined ? "latest release" : `release ${tag}`,
          })
        return { repo, release: r, assets: yield* meta.assets(r.id).pipe(Effect.orDie) }
      }),
    setRelease: (
      owner: string,
      name: string,
      principal: Principal,
      fields: Omit<SetRelease, "_tag" | "submitter" | "idempotencyKey" | "owner" | "repo">,
    ) =>
      Effect.gen(function* () {
        const repo = yield* writable(owner, name, principal)
        // A target named by id must be visible here; apply checks only that it exists.
        const target = fields.targetCommitish
        if (target !== undefined && isObjectId(target) && !(yield* arrivedIn(repo, target)))
          return yield* new Invalid({
            reason: `${target} names no commit`,
            resource: "Release",
            field: "target_commitish",
            code: "invalid",
          })
        const { id } = yield* submit<{ id: number }>(
          SetRelease.make({ ...envelope(principal, repo), ...fields }),
          "Release",
          "tag_name",
        )
        if (fields.delete) return undefined
        const r = yield* releaseOf(repo, id)
        return { repo, release: r, assets: yield* meta.assets(r.id).pipe(Effect.orDie) }
      }),
    uploadAsset: (
      owner: string,
      name: string,
      principal: Principal,
      releaseId: number,
      file: { name: string; label?: string | undefined; contentType: string; bytes: Buffer },
    ) =>
      Effect.gen(function* () {
        const repo = yield* writable(owner, name, principal)
        yield* releaseOf(repo, releaseId)
        const blob = yield* objects.put("blob", file.bytes).pipe(Effect.orDie)
        const stored = yield* objects.getStored(blob).pipe(Effect.orDie)
        // The other validators hold the bytes before any of them applies the asset.
        yield* replicator.replicate([stored])
        const { id } = yield* submit<{ id: number }>(
          SetReleaseAsset.make({
            ...envelope(principal, repo),
            releaseId,
            name: file.name,
            label: file.label,
            contentType: file.contentType,
            blob,
            size: file.bytes.length,
          }),
          "ReleaseAsset",
          "name",
        )
        return { repo, asset: (yield* meta.assetById(id).pipe(Effect.orDie))! }
      }),
    asset: (owner: string, name: string, id: number, principal: Principal | undefined) =>
      Effect.gen(function* () {
        const repo = yield* readable(owner, name, principal)
        const asset = yield* meta.assetById(id).pipe(Effect.orDie)
        const release = asset
          ? yield* meta.releaseById(asset.release_id).pipe(Effect.orDie)
          : undefined
        if (!asset || !release || release.repo_id !== repo.id)
          return yield* new NotFound({ what: `asset ${id}` })
        return { repo, release, asset }
      }),
    assetBytes: (blob: string) =>
      Effect.map(objects.get(blob as ObjectId).pipe(Effect.orDie), (o) => Buffer.from(o.content)),
    setAsset: (
      owner: string,
      name: string,
      principal: Principal,
      releaseId: number,
      id: number,
      fields: { name?: string | undefined; label?: string | null | undefined; delete?: boolean },
    ) =>
      Effect.gen(function* () {
        const repo = yield* writable(owner, name, principal)
        yield* submit(
          SetReleaseAsset.make({ ...envelope(principal, repo), releaseId, id, ...fields }),
          "ReleaseAsset",
          "name",
        )
        return { repo, asset: yield* meta.assetById(id).pipe(Effect.orDie) }
      }),
  }

  function isFastForward(from: ObjectId, to: ObjectId) {
    return Effect.gen(function* () {
      const seen = new Set<string>()
      const stack: ObjectId[] = [to]
      while (stack.length > 0 && seen.size < 200_000) {
        const id = stack.pop()!
        if (id === from) return true
        if (seen.has(id)) continue
        seen.add(id)
        const o = yield* objects.get(id).pipe(Effect.option)
        if (o._tag === "None" || o.value.type !== "commit") continue
        const links = commitLinks(o.value.content)
        if (!(links instanceof ObjectParseError)) stack.push(...links.parents)
      }
      return false
    })
  }
})

export class Releases extends Context.Tag("guts/Releases")<
  Releases,
  Effect.Effect.Success<typeof make>
>() {
  static readonly Live = Layer.effect(Releases, make)
}
