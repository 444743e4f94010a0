/**
 * Releases and assets, files written through the contents API, and refs created or moved
 * through the git refs API — GitHub's REST paths and shapes. Asset uploads go to
 * `/api/uploads/...` (GitHub Enterprise's upload path), as each release's `upload_url` says.
 */
import { Effect } from "effect"
import type { AssetRow, ReleaseRow } from "../../services/CollabTables.ts"
import type { RepoRow } from "../../services/Metadata.ts"
import { NodeConfig } from "../../services/NodeConfig.ts"
import { Releases } from "../../services/Releases.ts"
import {
  base,
  type Body,
  field,
  intParam,
  jsonObject,
  noContent,
  principalOf,
  type R,
  requirePrincipal,
  route,
  send,
} from "./ApiKit.ts"
import { readBody } from "./Body.ts"
import { unprocessable } from "./HttpErrors.ts"
import type { HttpContext, Route } from "./HttpServer.ts"
import { userJson } from "./Presenters.ts"

const P = "/repos/:owner/:repo"
const own = (ctx: HttpContext) => [ctx.params.owner!, ctx.params.repo!] as const
const iso = (ms: number | null) =>
  ms === null ? null : new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z")
const person = (b: string, id: number, login: string) => userJson(b, { id, login, site_admin: 0 })

const assetJson = (b: string, repo: RepoRow, release: ReleaseRow, a: AssetRow) => ({
  url: `${b}/api/repos/${repo.owner_login}/${repo.name}/releases/assets/${a.id}`,
  browser_download_url: `${b}/${repo.owner_login}/${repo.name}/releases/download/${encodeURIComponent(release.tag_name)}/${encodeURIComponent(a.name)}`,
  id: a.id,
  node_id: Buffer.from(`ReleaseAsset:${a.id}`).toString("base64"),
  name: a.name,
  label: a.label,
  state: "uploaded",
  content_type: a.content_type,
  size: a.size,
  // GitHub's digest is a SHA-256 of the bytes; assets are stored as git blobs (SHA-1).
  digest: null,
  download_count: 0,
  created_at: iso(a.created_at),
  updated_at: iso(a.updated_at),
  uploader: person(b, a.uploader_id, a.uploader_login),
})

const releaseJson = (b: string, repo: RepoRow, r: ReleaseRow, assets: ReadonlyArray<AssetRow>) => {
  const url = `${b}/api/repos/${repo.owner_login}/${repo.name}/releases/${r.id}`
  return {
    url,
    html_url: `${b}/${repo.owner_login}/${repo.name}/releases/tag/${encodeURIComponent(r.tag_name)}`,
    assets_url: `${url}/assets`,
    upload_url: `${b}/api/uploads/repos/${repo.owner_login}/${repo.name}/releases/${r.id}/assets{?name,label}`,
    tarball_url: `${b}/api/repos/${repo.owner_login}/${repo.name}/tarball/${encodeURIComponent(r.tag_name)}`,
    zipball_url: `${b}/api/repos/${repo.owner_login}/${repo.name}/zipball/${encodeURIComponent(r.tag_name)}`,
    id: r.id,
    node_id: Buffer.from(`Release:${r.id}`).toString("base64"),
    tag_name: r.tag_name,
    target_commitish: r.target_commitish,
    name: r.name,
    body: r.body,
    draft: r.draft === 1,
    prerelease: r.prerelease === 1,
    created_at: iso(r.created_at),
    published_at: iso(r.published_at),
    author: person(b, r.author_id, r.author_login),
    assets: assets.map((a) => assetJson(b, repo, r, a)),
  }
}

const releaseFields = (b: Body) =>
  Effect.gen(function* () {
    return {
      tagName: yield* field<string>(b, "Release", "tag_name", "string"),
      targetCommitish: yield* field<string>(b, "Release", "target_commitish", "string"),
      name: yield* field<string>(b, "Release", "name", "string"),
      body: yield* field<string>(b, "Release", "body", "string"),
      draft: yield* field<boolean>(b, "Release", "draft", "boolean"),
      prerelease: yield* field<boolean>(b, "Release", "prerelease", "boolean"),
    }
  })

const sendBytes = (ctx: HttpContext, bytes: Buffer, contentType: string, filename: string) =>
  Effect.sync(() => {
    ctx.res.writeHead(200, {
      "content-type": contentType,
      "content-length": bytes.length,
      "content-disposition": `attachment; filename="${filename.replace(/"/g, "")}"`,
    })
    ctx.res.end(bytes)
  })

const person2 = (b: Body, name: string) =>
  Effect.gen(function* () {
    const v = b[name]
    if (v === undefined || v === null) return undefined
    const o = v as Record<string, unknown>
    if (typeof o !== "object" || typeof o.name !== "string" || typeof o.email !== "string")
      return yield* unprocessable(`Invalid request. ${name} needs name and email.`, [
        { resource: "Content", field: name, code: "invalid" },
      ])
    return { name: o.name, email: o.email }
  })

const contentAnswer = (
  b: string,
  repo: RepoRow,
  path: string,
  branch: string,
  r: { commit: string; blob: string | null; tree: string; parent: string | null },
  size: number,
) => ({
  content:
    r.blob === null
      ? null
      : {
          name: path.split("/").pop(),
          path,
          sha: r.blob,
          size,
          type: "file",
          url: `${b}/api/repos/${repo.owner_login}/${repo.name}/contents/${path}?ref=${branch}`,
          git_url: `${b}/api/repos/${repo.owner_login}/${repo.name}/git/blobs/${r.blob}`,
          download_url: `${b}/${repo.owner_login}/${repo.name}/raw/${branch}/${path}`,
        },
  commit: {
    sha: r.commit,
    url: `${b}/api/repos/${repo.owner_login}/${repo.name}/git/commits/${r.commit}`,
    tree: { sha: r.tree },
    parents: r.parent ? [{ sha: r.parent }] : [],
  },
})

export const releaseRoutes: Array<Route<R | Releases | NodeConfig>> = [
  // --- contents (writes; reads are RepoContent's) ---
  route("PUT", `${P}/contents/*path`, (ctx) =>
    Effect.gen(function* () {
      const p = yield* requirePrincipal(ctx)
      const releases = yield* Releases
      const b = yield* jsonObject(ctx, "Content")
      const message = yield* field<string>(b, "Content", "message", "string", true)
      const content = yield* field<string>(b, "Content", "content", "string", true)
      const branch = yield* field<string>(b, "Content", "branch", "string")
      const sha = yield* field<string>(b, "Content", "sha", "string")
      const r = yield* releases.commitFile(...own(ctx), p, {
        path: ctx.params.path!,
        message: message!,
        content: content!,
        branch,
        sha,
        author: yield* person2(b, "author"),
        committer: yield* person2(b, "committer"),
      })
      yield* send(
        ctx,
        sha === undefined ? 201 : 200,
        contentAnswer(
          yield* base(ctx),
          r.repo,
          ctx.params.path!,
          branch ?? r.repo.default_branch,
          r,
          Buffer.from(content!, "base64").length,
        ),
      )
    }),
  ),
  route("DELETE", `${P}/contents/*path`, (ctx) =>
    Effect.gen(function* () {
      const p = yield* requirePrincipal(ctx)
      const releases = yield* Releases
      const b = yield* jsonObject(ctx, "Content")
      const message = yield* field<string>(b, "Content", "message", "string", true)
      const sha = yield* field<string>(b, "Content", "sha", "string", true)
      const branch = yield* field<string>(b, "Content", "branch", "string")
      const r = yield* releases.commitFile(...own(ctx), p, {
        path: ctx.params.path!,
        message: message!,
        sha,
        branch,
        author: yield* person2(b, "author"),
        committer: yield* person2(b, "committer"),
      })
      yield* send(
        ctx,
        200,
        contentAnswer(
          yield* base(ctx),
          r.repo,
          ctx.params.path!,
          branch ?? r.repo.default_branch,
          r,
          0,
        ),
      )
    }),
  ),

  // --- refs (writes) ---
  route("POST", `${P}/git/refs`, (ctx) =>
    Effect.gen(function* () {
      const p = yield* requirePrincipal(ctx)
      const releases = yield* Releases
      const b = yield* jsonObject(ctx, "Reference")
      const ref = yield* field<string>(b, "Reference", "ref", "string", true)
      const sha = yield* field<string>(b, "Reference", "sha", "string", true)
      const r = yield* releases.setRef(...own(ctx), p, ref!, sha!, { create: true, force: false })
      const bb = yield* base(ctx)
      yield* send(ctx, 201, {
        ref: r.ref,
        node_id: Buffer.from(`Ref:${r.ref}`).toString("base64"),
        url: `${bb}/api/repos/${r.repo.owner_login}/${r.repo.name}/git/${r.ref}`,
        object: {
          type: "commit",
          sha: r.sha,
          url: `${bb}/api/repos/${r.repo.owner_login}/${r.repo.name}/git/commits/${r.sha}`,
        },
      })
    }),
  ),
  route("PATCH", `${P}/git/refs/*ref`, (ctx) =>
    Effect.gen(function* () {
      const p = yield* requirePrincipal(ctx)
      const releases = yield* Releases
      const b = yield* jsonObject(ctx, "Reference")
      const sha = yield* field<string>(b, "Reference", "sha", "string", true)
      const force = (yield* field<boolean>(b, "Reference", "force", "boolean")) ?? false
      const r = yield* releases.setRef(...own(ctx), p, ctx.params.ref!, sha!, {
        create: false,
        force,
      })
      const bb = yield* base(ctx)
      yield* send(ctx, 200, {
        ref: r.ref,
        node_id: Buffer.from(`Ref:${r.ref}`).toString("base64"),
        url: `${bb}/api/repos/${r.repo.owner_login}/${r.repo.name}/git/${r.ref}`,
        object: {
          type: "commit",
          sha: r.sha,
          url: `${bb}/api/repos/${r.repo.owner_login}/${r.repo.name}/git/commits/${r.sha}`,
        },
      })
    }),
  ),

  // --- releases ---
  route("GET", `${P}/releases`, (ctx) =>
    Effect.gen(function* () {
      const releases = yield* Releases
      const got = yield* releases.releases(...own(ctx), yield* principalOf(ctx))
      const b = yield* base(ctx)
      const out = []
      for (const r of got.rows) out.push(releaseJson(b, got.repo, r, []))
      yield* send(ctx, 200, out)
    }),
  ),
  route("POST", `${P}/releases`, (ctx) =>
    Effect.gen(function* () {
      const p = yield* requirePrincipal(ctx)
      const releases = yield* Releases
      const f = yield* releaseFields(yield* jsonObject(ctx, "Release"))
      if (f.tagName === undefined)
        return yield* unprocessable('Invalid request. "tag_name" wasn\'t supplied.', [
          { resource: "Release", field: "tag_name", code: "missing_field" },
        ])
      const got = (yield* releases.setRelease(...own(ctx), p, f))!
      yield* send(ctx, 201, releaseJson(yield* base(ctx), got.repo, got.release, got.assets))
    }),
  ),
  route("GET", `${P}/releases/latest`, (ctx) =>
    Effect.gen(function* () {
      const releases = yield* Releases
      const got = yield* releases.releaseByTag(...own(ctx), undefined, yield* principalOf(ctx))
      yield* send(ctx, 200, releaseJson(yield* base(ctx), got.repo, got.release, got.assets))
    }),
  ),
  route("GET", `${P}/releases/tags/:tag`, (ctx) =>
    Effect.gen(function* () {
      const releases = yield* Releases
      const got = yield* releases.releaseByTag(
        ...own(ctx),
        ctx.params.tag!,
        yield* principalOf(ctx),
      )
      yield* send(ctx, 200, releaseJson(yield* base(ctx), got.repo, got.release, got.assets))
    }),
  ),
  route("GET", `${P}/releases/:id`, (ctx) =>
    Effect.gen(function* () {
      const releases = yield* Releases
      const got = yield* releases.release(
        ...own(ctx),
        yield* intParam(ctx, "id"),
        yield* principalOf(ctx),
      )
      yield* send(ctx, 200, releaseJson(yield* base(ctx), got.repo, got.release, got.assets))
    }),
  ),
  route("PATCH", `${P}/releases/:id`, (ctx) =>
    Effect.gen(function* () {
      const p = yield* requirePrincipal(ctx)
      const releases = yield* Releases
      const f = yield* releaseFields(yield* jsonObject(ctx, "Release"))
      const got = (yield* releases.setRelease(...own(ctx), p, {
        id: yield* intParam(ctx, "id"),
        ...f,
      }))!
      yield* send(ctx, 200, releaseJson(yield* base(ctx), got.repo, got.release, got.assets))
    }),
  ),
  route("DELETE", `${P}/releases/:id`, (ctx) =>
    Effect.gen(function* () {
      const p = yield* requirePrincipal(ctx)
      const releases = yield* Releases
      yield* releases.setRelease(...own(ctx), p, { id: yield* intParam(ctx, "id"), delete: true })
      yield* noContent(ctx)
    }),
  ),
  route("GET", `${P}/releases/:id/assets`, (ctx) =>
    Effect.gen(function* () {
      const releases = yield* Releases
      const got = yield* releases.release(
        ...own(ctx),
        yield* intParam(ctx, "id"),
        yield* principalOf(ctx),
      )
      const b = yield* base(ctx)
      yield* send(
        ctx,
        200,
        got.assets.map((a) => assetJson(b, got.repo, got.release, a)),
      )
    }),
  ),
  route("POST", `/uploads${P}/releases/:id/assets`, (ctx) =>
    Effect.gen(function* () {
      const p = yield* requirePrincipal(ctx)
      const releases = yield* Releases
      const config = yield* NodeConfig
      const name = ctx.url.searchParams.get("name")
      if (!name)
        return yield* unprocessable("Invalid request. The name query parameter is required.", [
          { resource: "ReleaseAsset", field: "name", code: "missing_field" },
        ])
      const bytes = yield* readBody(ctx.req, config.maxPushBytes)
      const got = yield* releases.uploadAsset(...own(ctx), p, yield* intParam(ctx, "id"), {
        name,
        label: ctx.url.searchParams.get("label") ?? undefined,
        contentType: ctx.req.headers["content-type"] ?? "application/octet-stream",
        bytes,
      })
      const rel = yield* releases.release(...own(ctx), yield* intParam(ctx, "id"), p)
      yield* send(ctx, 201, assetJson(yield* base(ctx), got.repo, rel.release, got.asset))
    }),
  ),
  route("GET", `${P}/releases/assets/:id`, (ctx) =>
    Effect.gen(function* () {
      const releases = yield* Releases
      const got = yield* releases.asset(
        ...own(ctx),
        yield* intParam(ctx, "id"),
        yield* principalOf(ctx),
      )
      if ((ctx.req.headers.accept ?? "").includes("application/octet-stream"))
        return yield* sendBytes(
          ctx,
          yield* releases.assetBytes(got.asset.blob),
          got.asset.content_type,
          got.asset.name,
        )
      yield* send(ctx, 200, assetJson(yield* base(ctx), got.repo, got.release, got.asset))
    }),
  ),
  route("PATCH", `${P}/releases/assets/:id`, (ctx) =>
    Effect.gen(function* () {
      const p = yield* requirePrincipal(ctx)
      const releases = yield* Releases
      const found = yield* releases.asset(...own(ctx), yield* intParam(ctx, "id"), p)
      const b = yield* jsonObject(ctx, "ReleaseAsset")
      const got = yield* releases.setAsset(...own(ctx), p, found.release.id, found.asset.id, {
        name: yield* field<string>(b, "ReleaseAsset", "name", "string"),
        label: yield* field<string>(b, "ReleaseAsset", "label", "string"),
      })
      yield* send(ctx, 200, assetJson(yield* base(ctx), got.repo, found.release, got.asset!))
    }),
  ),
  route("DELETE", `${P}/releases/assets/:id`, (ctx) =>
    Effect.gen(function* () {
      const p = yield* requirePrincipal(ctx)
      const releases = yield* Releases
      const found = yield* releases.asset(...own(ctx), yield* intParam(ctx, "id"), p)
      yield* releases.setAsset(...own(ctx), p, found.release.id, found.asset.id, { delete: true })
      yield* noContent(ctx)
    }),
  ),
]

/** `/{owner}/{repo}/releases/download/{tag}/{name}`: the browser download of an asset. */
export const releaseDownloadRoutes: Array<Route<R | Releases | NodeConfig>> = [
  route("GET", "/:owner/:repo/releases/download/:tag/:name", (ctx) =>
    Effect.gen(function* () {
      const releases = yield* Releases
      const got = yield* releases.releaseByTag(
        ...own(ctx),
        ctx.params.tag!,
        yield* principalOf(ctx),
      )
      const asset = got.assets.find((a) => a.name === ctx.params.name)
      if (!asset)
        return yield* send(ctx, 404, {
          message: "Not Found",
          documentation_url: "https://docs.github.com/rest",
        })
      yield* sendBytes(ctx, yield* releases.assetBytes(asset.blob), asset.content_type, asset.name)
    }),
  ),
]
