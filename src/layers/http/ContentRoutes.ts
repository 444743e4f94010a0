/**
 * Read-only repository content under GitHub's REST paths and shapes: branches, tags,
 * commits (list, get, compare), the git data API (blobs, trees, commits, tags, refs),
 * contents and README, languages, and `tarball`/`zipball` archives streamed as they
 * are produced.
 *
 * Media types as GitHub answers them: `application/vnd.github.raw` gives a file's bytes,
 * `.object` a directory as an object with `entries`, `.diff`/`.patch` a commit or comparison
 * as git text, `.sha` a commit's id.
 *
 * `contentRoutes` take paths relative to the API prefix (the route table mounts them under
 * `/api` and `/api/v3`); `rawRoutes` serve the `download_url`s (`/{owner}/{repo}/raw/...`).
 * Routes with a trailing ref (`/commits/*ref`, `/branches/*branch`) must be registered after
 * the longer fixed paths they could swallow (`/commits/:ref/status`, `/branches/:b/protection`).
 */
import { createHash } from "node:crypto"
import * as zlib from "node:zlib"
import type { Writable } from "node:stream"
import { Effect, Stream } from "effect"
import type { ProtectionRule } from "../../domain/BranchProtection.ts"
import {
  type Commit,
  type Header,
  type Signature,
  type Tag,
  textString,
} from "../../domain/git/GitObject.ts"
import type { ObjectId } from "../../domain/git/ObjectId.ts"
import { type FileDiff, gitDiff } from "../../domain/git/UnifiedDiff.ts"
import type { RepoRow } from "../../services/Metadata.ts"
import {
  type ArchiveFormat,
  type ContentNode,
  type DirItem,
  type RefInfo,
  RepoContent,
} from "../../services/RepoContent.ts"
import { base, linkHeader, pageParams, principalOf, type R, send } from "./ApiKit.ts"
import { notFound, unprocessable } from "./HttpErrors.ts"
import type { HttpContext, Route } from "./HttpServer.ts"

type Env = R | RepoContent

const route = (
  method: string,
  path: string,
  handler: (ctx: HttpContext) => Effect.Effect<void, unknown, Env>,
): Route<Env> => ({ name: `${method} ${path}`, method, path, handler })

const P = "/repos/:owner/:repo"
const own = (ctx: HttpContext) => [ctx.params.owner!, ctx.params.repo!] as const
const query = (ctx: HttpContext, name: string) => ctx.url.searchParams.get(name) ?? undefined

/** Path segments escaped for a URL, slashes kept. */
const escapePath = (path: string) => path.split("/").map(encodeURIComponent).join("/")

const nodeId = (kind: string, id: string) => Buffer.from(`${kind}:${id}`).toString("base64")

const isoSeconds = (s: number) => new Date(s * 1000).toISOString().replace(/\.\d{3}Z$/, "Z")

const sig = (s: Signature) => ({
  name: textString(s.name),
  email: textString(s.email),
  date: isoSeconds(s.timestamp),
})

/** Base64 in lines of 60 characters, as GitHub's contents API writes it. */
const base64Lines = (bytes: Uint8Array) => {
  const b64 = Buffer.from(bytes).toString("base64")
  let out = ""
  for (let i = 0; i < b64.length; i += 60) out += `${b64.slice(i, i + 60)}\n`
  return out
}

/** Which GitHub media type the client asked for (`application/vnd.github[.v3].<kind>`). */
const wants = (ctx: HttpContext, kind: "raw" | "object" | "diff" | "patch" | "sha") => {
  const accept = ctx.req.headers.accept ?? ""
  return new RegExp(`application/vnd\\.github(\\.v3)?\\.${kind}\\b`).test(accept)
}

const sendBytes = (
  ctx: HttpContext,
  bytes: Uint8Array,
  contentType: string,
  extra: Record<string, string> = {},
) =>
  Effect.sync(() => {
    ctx.res.writeHead(200, {
      "content-type": contentType,
      "content-length": bytes.length,
      ...extra,
    })
    ctx.res.end(bytes)
  })

/**
 * Byte answers (raw files, archives) are determined by object ids: they carry an ETag derived
 * from those ids, and a client that already holds that version gets 304 without a body (JSON
 * answers get theirs from ApiKit's `send`).
 */
const versioned = <E, R>(
  ctx: HttpContext,
  parts: ReadonlyArray<string>,
  answer: (headers: Record<string, string>) => Effect.Effect<void, E, R>,
) => {
  const etag = `"${createHash("sha1").update(parts.join("\0")).digest("hex")}"`
  const held = (ctx.req.headers["if-none-match"] ?? "")
    .split(",")
    .map((t) => t.trim().replace(/^W\//, ""))
  const headers = { etag, vary: "Accept, Authorization" }
  if (held.includes(etag) || held.includes("*"))
    return Effect.sync(() => {
      ctx.res.writeHead(304, headers)
      ctx.res.end()
    })
  return answer(headers)
}

/** `Link` header for a page of `total` items at an explicit page size (ApiKit's caps at 100). */
const linkFor = (
  ctx: HttpContext,
  b: string,
  total: number,
  perPage: number,
  page: number,
): Record<string, string> => {
  const last = Math.max(1, Math.ceil(total / perPage))
  const at = (p: number) => {
    const u = new URL(ctx.url.pathname + ctx.url.search, b)
    u.searchParams.set("per_page", String(perPage))
    u.searchParams.set("page", String(p))
    return u.toString()
  }
  const links: string[] = []
  if (page < last) links.push(`<${at(page + 1)}>; rel="next"`, `<${at(last)}>; rel="last"`)
  if (page > 1) links.push(`<${at(1)}>; rel="first"`, `<${at(page - 1)}>; rel="prev"`)
  return links.length > 0 ? { link: links.join(", ") } : {}
}

// ---------------------------------------------------------------------------- presenting

const api = (b: string, repo: RepoRow) => `${b}/api/repos/${repo.owner_login}/${repo.name}`
const web = (b: string, repo: RepoRow) => `${b}/${repo.owner_login}/${repo.name}`

/** A signature header is present: GitHub cannot verify it here, but says it is there. */
const verification = (headers: ReadonlyArray<Header>, raw?: Uint8Array) => {
  const signed = headers.find((h) => h.name === "gpgsig" || h.name === "gpgsig-sha256")
  if (!signed)
    return {
      verified: false,
      reason: "unsigned",
      signature: null,
      payload: null,
      verified_at: null,
    }
  return {
    verified: false,
    reason: "unknown_signature_type",
    signature: textString(signed.value),
    payload: raw ? payloadOf(raw) : null,
    verified_at: null,
  }
}

/** The signed payload of a commit: the object without its signature header. */
const payloadOf = (raw: Uint8Array) => {
  const text = Buffer.from(raw).toString("utf8")
  return text.replace(/^gpgsig(-sha256)? [^\n]*\n( [^\n]*\n)*/m, "")
}

const fileJson = (b: string, repo: RepoRow, sha: string, f: FileDiff) => ({
  sha: f.newId ?? f.oldId ?? null,
  filename: f.filename,
  status: f.status,
  additions: f.additions,
  deletions: f.deletions,
  changes: f.changes,
  blob_url: `${web(b, repo)}/blob/${sha}/${escapePath(f.filename)}`,
  raw_url: `${web(b, repo)}/raw/${sha}/${escapePath(f.filename)}`,
  contents_url: `${api(b, repo)}/contents/${escapePath(f.filename)}?ref=${sha}`,
  ...(f.patch !== undefined ? { patch: f.patch } : {}),
})

const commitJson = (
  b: string,
  repo: RepoRow,
  id: ObjectId,
  commit: Commit,
  files?: ReadonlyArray<FileDiff>,
  allFiles?: ReadonlyArray<FileDiff>,
) => {
  const a = api(b, repo)
  const stats = allFiles
    ? {
        additions: allFiles.reduce((n, f) => n + f.additions, 0),
        deletions: allFiles.reduce((n, f) => n + f.deletions, 0),
      }
    : undefined
  return {
    url: `${a}/commits/${id}`,
    sha: id,
    node_id: nodeId("Commit", id),
    html_url: `${web(b, repo)}/commit/${id}`,
    comments_url: `${a}/commits/${id}/comments`,
    commit: {
      url: `${a}/git/commits/${id}`,
      author: sig(commit.author),
      committer: sig(commit.committer),
      message: textString(commit.message).replace(/\n$/, ""),
      tree: { url: `${a}/git/trees/${commit.tree}`, sha: commit.tree },
      comment_count: 0,
      verification: verification(commit.headers),
    },
    author: null,
    committer: null,
    parents: commit.parents.map((p) => ({
      url: `${a}/commits/${p}`,
      html_url: `${web(b, repo)}/commit/${p}`,
      sha: p,
    })),
    ...(stats ? { stats: { ...stats, total: stats.additions + stats.deletions } } : {}),
    ...(files ? { files: files.map((f) => fileJson(b, repo, id, f)) } : {}),
  }
}

const protectionJson = (ruleText: string | undefined) => {
  if (ruleText === undefined)
    return {
      enabled: false,
      required_status_checks: { enforcement_level: "off", contexts: [], checks: [] },
    }
  const rule = JSON.parse(ruleText) as ProtectionRule
  const contexts = rule.requiredStatusChecks?.contexts ?? []
  return {
    enabled: true,
    required_status_checks: {
      enforcement_level: rule.requiredStatusChecks
        ? rule.enforceAdmins
          ? "everyone"
          : "non_admins"
        : "off",
      contexts,
      checks: contexts.map((context) => ({ context, app_id: null })),
    },
  }
}

const refJson = (b: string, repo: RepoRow, r: RefInfo) => ({
  ref: r.name,
  node_id: nodeId("Ref", r.name),
  url: `${api(b, repo)}/git/${escapePath(r.name)}`,
  object: { sha: r.id, type: r.type, url: `${api(b, repo)}/git/${r.type}s/${r.id}` },
})

/** A tree as the git data API answers it (`GET` and `POST .../git/trees`). */
export const gitTreeJson = (
  b: string,
  repo: RepoRow,
  id: ObjectId,
  tree: ReadonlyArray<{
    path: string
    mode: string
    type: string
    sha: string
    size?: number | undefined
  }>,
  truncated: boolean,
) => {
  const a = api(b, repo)
  return {
    sha: id,
    url: `${a}/git/trees/${id}`,
    tree: tree.map((e) => ({
      path: e.path,
      mode: e.mode,
      type: e.type,
      sha: e.sha,
      ...(e.size !== undefined ? { size: e.size } : {}),
      ...(e.type !== "commit" ? { url: `${a}/git/${e.type}s/${e.sha}` } : {}),
    })),
    truncated,
  }
}

/** A commit as the git data API answers it (`GET` and `POST .../git/commits`). */
export const gitCommitJson = (
  b: string,
  repo: RepoRow,
  id: ObjectId,
  c: Commit,
  raw: Uint8Array,
) => {
  const a = api(b, repo)
  return {
    sha: id,
    node_id: nodeId("Commit", id),
    url: `${a}/git/commits/${id}`,
    html_url: `${web(b, repo)}/commit/${id}`,
    author: sig(c.author),
    committer: sig(c.committer),
    tree: { sha: c.tree, url: `${a}/git/trees/${c.tree}` },
    message: textString(c.message),
    parents: c.parents.map((p) => ({
      sha: p,
      url: `${a}/git/commits/${p}`,
      html_url: `${web(b, repo)}/commit/${p}`,
    })),
    verification: verification(c.headers, raw),
  }
}

/** An annotated tag as the git data API answers it (`GET` and `POST .../git/tags`). */
export const tagJson = (b: string, repo: RepoRow, id: ObjectId, tag: Tag) => ({
  node_id: nodeId("Tag", id),
  tag: textString(tag.tag),
  sha: id,
  url: `${api(b, repo)}/git/tags/${id}`,
  message: textString(tag.message),
  tagger: tag.tagger ? sig(tag.tagger) : { name: "", email: "", date: isoSeconds(0) },
  object: {
    sha: tag.object,
    type: tag.type,
    url: `${api(b, repo)}/git/${tag.type}s/${tag.object}`,
  },
  verification: /-----BEGIN (PGP|SSH) SIGNATURE-----/.test(textString(tag.message))
    ? {
        verified: false,
        reason: "unknown_signature_type",
        signature: null,
        payload: null,
        verified_at: null,
      }
    : { verified: false, reason: "unsigned", signature: null, payload: null, verified_at: null },
})

/** The URLs every content object carries. */
const contentLinks = (
  b: string,
  repo: RepoRow,
  ref: string,
  item: { path: string; sha: string; type: string },
) => {
  const self = `${api(b, repo)}/contents/${escapePath(item.path)}?ref=${encodeURIComponent(ref)}`
  const git =
    item.type === "dir" || item.type === "submodule"
      ? `${api(b, repo)}/git/trees/${item.sha}`
      : `${api(b, repo)}/git/blobs/${item.sha}`
  const html = `${web(b, repo)}/${item.type === "dir" ? "tree" : "blob"}/${escapePath(ref)}/${escapePath(item.path)}`
  const download =
    item.type === "file" || item.type === "symlink"
      ? `${web(b, repo)}/raw/${escapePath(ref)}/${escapePath(item.path)}`
      : null
  return {
    url: self,
    git_url: git,
    html_url: html,
    download_url: download,
    _links: { self, git, html },
  }
}

/** A directory entry; `legacy` gives submodules the type `file`, as GitHub's array answer does. */
const dirItemJson = (b: string, repo: RepoRow, ref: string, e: DirItem, legacy: boolean) => ({
  type: legacy && e.type === "submodule" ? "file" : e.type,
  size: e.size,
  name: e.name,
  path: e.path,
  sha: e.sha,
  ...contentLinks(b, repo, ref, e),
})

const contentJson = (b: string, repo: RepoRow, ref: string, node: ContentNode, object: boolean) => {
  switch (node.type) {
    case "file":
      return {
        type: "file",
        encoding: node.content === undefined ? "none" : "base64",
        size: node.size,
        name: node.name,
        path: node.path,
        content: node.content === undefined ? "" : base64Lines(node.content),
        sha: node.sha,
        ...contentLinks(b, repo, ref, node),
      }
    case "symlink":
      return {
        type: "symlink",
        target: node.target,
        size: node.size,
        name: node.name,
        path: node.path,
        sha: node.sha,
        ...contentLinks(b, repo, ref, node),
      }
    case "submodule":
      return {
        type: "submodule",
        submodule_git_url: node.url,
        size: 0,
        name: node.name,
        path: node.path,
        sha: node.sha,
        ...contentLinks(b, repo, ref, node),
      }
    case "dir": {
      const entries = node.entries.map((e) => dirItemJson(b, repo, ref, e, !object))
      if (!object) return entries
      return {
        type: "dir",
        size: 0,
        name: node.name,
        path: node.path,
        sha: node.sha,
        ...contentLinks(b, repo, ref, node),
        entries,
      }
    }
  }
}

/** Answers a content read: the bytes for `raw` files and symlinks, else GitHub's JSON. */
const answerContent = (ctx: HttpContext, got: { repo: RepoRow; ref: string; node: ContentNode }) =>
  Effect.gen(function* () {
    const b = yield* base(ctx)
    const { node } = got
    if (wants(ctx, "raw") && (node.type === "file" || node.type === "symlink") && node.content) {
      const bytes = node.content
      return yield* versioned(ctx, ["blob-raw", node.sha], (headers) =>
        sendBytes(ctx, bytes, "application/vnd.github.raw", headers),
      )
    }
    yield* send(ctx, 200, contentJson(b, got.repo, got.ref, node, wants(ctx, "object")))
  })

/** Seconds since the epoch from an ISO 8601 query parameter; a malformed one is a 422. */
const timeParam = (ctx: HttpContext, name: string) => {
  const v = query(ctx, name)
  if (v === undefined) return Effect.succeed(undefined)
  const ms = Date.parse(v)
  return Number.isNaN(ms)
    ? Effect.fail(
        unprocessable(`Invalid request. ${name} must be an ISO 8601 timestamp.`, [
          { resource: "Commit", field: name, code: "invalid" },
        ]),
      )
    : Effect.succeed(Math.floor(ms / 1000))
}

// ---------------------------------------------------------------------------- archives

/** Writes `chunk`, resuming when the destination has room again (backpressure). */
const writeChunk = (sink: Writable, chunk: Uint8Array) =>
  Effect.async<void>((resume) => {
    if (sink.write(chunk)) {
      resume(Effect.void)
      return
    }
    const onDrain = () => resume(Effect.void)
    sink.once("drain", onDrain)
    return Effect.sync(() => {
      sink.off("drain", onDrain)
    })
  })

const sendArchive = (ctx: HttpContext, format: ArchiveFormat) =>
  Effect.gen(function* () {
    const content = yield* RepoContent
    const ref = ctx.params.ref || undefined
    const got = yield* content.archive(...own(ctx), ref, format, yield* principalOf(ctx))
    const filename = `${got.prefix}.${format === "tar" ? "tar.gz" : "zip"}`
    yield* versioned(ctx, ["archive", format, got.prefix, got.sha], (headers) =>
      Effect.gen(function* () {
        ctx.res.writeHead(200, {
          "content-type": format === "tar" ? "application/x-gzip" : "application/zip",
          "content-disposition": `attachment; filename=${filename}`,
          ...headers,
        })
        const finished = Effect.async<void>((resume) => {
          if (ctx.res.writableFinished) return resume(Effect.void)
          ctx.res.once("finish", () => resume(Effect.void))
        })
        if (format === "zip") {
          yield* Stream.runForEach(got.body, (chunk) => writeChunk(ctx.res, chunk))
          ctx.res.end()
          return yield* finished
        }
        // Streamed through gzip; on failure or a client gone, the compressor is dropped.
        const gzip = zlib.createGzip()
        gzip.pipe(ctx.res)
        yield* Stream.runForEach(got.body, (chunk) => writeChunk(gzip, chunk)).pipe(
          Effect.onExit((exit) =>
            exit._tag === "Failure" ? Effect.sync(() => gzip.destroy()) : Effect.void,
          ),
        )
        gzip.end()
        yield* finished
      }),
    )
  })

// ---------------------------------------------------------------------------- routes

const contents = (ctx: HttpContext, path: string) =>
  Effect.gen(function* () {
    const content = yield* RepoContent
    const got = yield* content.contents(
      ...own(ctx),
      path,
      query(ctx, "ref"),
      wants(ctx, "raw"),
      yield* principalOf(ctx),
    )
    yield* answerContent(ctx, got)
  })

const readme = (ctx: HttpContext, dir: string) =>
  Effect.gen(function* () {
    const content = yield* RepoContent
    const got = yield* content.readme(
      ...own(ctx),
      dir,
      query(ctx, "ref"),
      wants(ctx, "raw"),
      yield* principalOf(ctx),
    )
    yield* answerContent(ctx, got)
  })

const refsAnswer = (ctx: HttpContext, filter: (name: string) => boolean) =>
  Effect.gen(function* () {
    const content = yield* RepoContent
    const got = yield* content.refs(...own(ctx), yield* principalOf(ctx))
    const b = yield* base(ctx)
    return { b, repo: got.repo, refs: got.refs.filter((r) => filter(r.name)) }
  })

const fullRef = (ref: string) => (ref.startsWith("refs/") ? ref : `refs/${ref}`)

export const contentRoutes: Array<Route<Env>> = [
  // --- branches and tags
  route("GET", `${P}/branches`, (ctx) =>
    Effect.gen(function* () {
      const content = yield* RepoContent
      const got = yield* content.branches(...own(ctx), yield* principalOf(ctx))
      const b = yield* base(ctx)
      const only = query(ctx, "protected")
      const list =
        only === undefined
          ? got.branches
          : got.branches.filter((x) => x.protected === (only === "true" || only === "1"))
      const { perPage, offset } = pageParams(ctx)
      yield* send(
        ctx,
        200,
        list.slice(offset, offset + perPage).map((x) => ({
          name: x.name,
          commit: { sha: x.sha, url: `${api(b, got.repo)}/commits/${x.sha}` },
          protected: x.protected,
          protection: protectionJson(x.rule),
          protection_url: `${api(b, got.repo)}/branches/${escapePath(x.name)}/protection`,
        })),
        linkHeader(ctx, b, list.length),
      )
    }),
  ),
  route("GET", `${P}/branches/*branch`, (ctx) =>
    Effect.gen(function* () {
      const content = yield* RepoContent
      const got = yield* content.branch(...own(ctx), ctx.params.branch!, yield* principalOf(ctx))
      const b = yield* base(ctx)
      const name = got.branch.name
      yield* send(ctx, 200, {
        name,
        commit: commitJson(b, got.repo, got.sha, got.commit),
        _links: {
          self: `${api(b, got.repo)}/branches/${escapePath(name)}`,
          html: `${web(b, got.repo)}/tree/${escapePath(name)}`,
        },
        protected: got.branch.protected,
        protection: protectionJson(got.branch.rule),
        protection_url: `${api(b, got.repo)}/branches/${escapePath(name)}/protection`,
      })
    }),
  ),
  route("GET", `${P}/tags`, (ctx) =>
    Effect.gen(function* () {
      const content = yield* RepoContent
      const got = yield* content.tags(...own(ctx), yield* principalOf(ctx))
      const b = yield* base(ctx)
      const { perPage, offset } = pageParams(ctx)
      yield* send(
        ctx,
        200,
        got.tags.slice(offset, offset + perPage).map((t) => ({
          name: t.name,
          zipball_url: `${api(b, got.repo)}/zipball/refs/tags/${escapePath(t.name)}`,
          tarball_url: `${api(b, got.repo)}/tarball/refs/tags/${escapePath(t.name)}`,
          commit: { sha: t.sha, url: `${api(b, got.repo)}/commits/${t.sha}` },
          node_id: nodeId("Ref", `refs/tags/${t.name}`),
        })),
        linkHeader(ctx, b, got.tags.length),
      )
    }),
  ),

  // --- commits
  route("GET", `${P}/commits`, (ctx) =>
    Effect.gen(function* () {
      const content = yield* RepoContent
      const got = yield* content.history(...own(ctx), yield* principalOf(ctx), {
        sha: query(ctx, "sha"),
        path: query(ctx, "path"),
        since: yield* timeParam(ctx, "since"),
        until: yield* timeParam(ctx, "until"),
        author: query(ctx, "author"),
        committer: query(ctx, "committer"),
      })
      const b = yield* base(ctx)
      const { perPage, offset } = pageParams(ctx)
      const page = yield* content.commits(got.ids.slice(offset, offset + perPage))
      yield* send(
        ctx,
        200,
        page.map((c) => commitJson(b, got.repo, c.id, c.commit)),
        linkHeader(ctx, b, got.ids.length),
      )
    }),
  ),
  route("GET", `${P}/commits/*ref`, (ctx) =>
    Effect.gen(function* () {
      const content = yield* RepoContent
      const got = yield* content.commit(...own(ctx), ctx.params.ref!, yield* principalOf(ctx))
      if (wants(ctx, "sha"))
        return yield* sendBytes(ctx, Buffer.from(got.id), "application/vnd.github.sha")
      if (wants(ctx, "diff"))
        return yield* sendBytes(
          ctx,
          gitDiff(got.files),
          "application/vnd.github.diff; charset=utf-8",
        )
      if (wants(ctx, "patch"))
        return yield* sendBytes(
          ctx,
          yield* content.patch([got.id]),
          "application/vnd.github.patch; charset=utf-8",
        )
      const b = yield* base(ctx)
      // GitHub pages a commit's files 300 at a time.
      const per = Number(query(ctx, "per_page") ?? 300)
      const perPage = Number.isInteger(per) && per > 0 ? Math.min(per, 300) : 300
      const pageNo = Math.max(1, Number(query(ctx, "page") ?? 1) | 0)
      const files = got.files.slice((pageNo - 1) * perPage, pageNo * perPage)
      yield* send(
        ctx,
        200,
        commitJson(b, got.repo, got.id, got.commit, files, got.files),
        linkFor(ctx, b, got.files.length, perPage, pageNo),
      )
    }),
  ),
  route("GET", `${P}/compare/*basehead`, (ctx) =>
    Effect.gen(function* () {
      const content = yield* RepoContent
      const basehead = ctx.params.basehead!
      const got = yield* content.compare(...own(ctx), basehead, yield* principalOf(ctx))
      if (wants(ctx, "diff"))
        return yield* sendBytes(
          ctx,
          gitDiff(got.files),
          "application/vnd.github.diff; charset=utf-8",
        )
      if (wants(ctx, "patch"))
        return yield* sendBytes(
          ctx,
          yield* content.patch(got.commits),
          "application/vnd.github.patch; charset=utf-8",
        )
      const b = yield* base(ctx)
      const paged = query(ctx, "page") !== undefined || query(ctx, "per_page") !== undefined
      const { perPage, offset } = pageParams(ctx)
      // Without paging GitHub lists the first 250 commits.
      const ids = paged ? got.commits.slice(offset, offset + perPage) : got.commits.slice(0, 250)
      const commits = yield* content.commits(ids)
      const o = got.repo.owner_login
      yield* send(
        ctx,
        200,
        {
          url: `${api(b, got.repo)}/compare/${basehead}`,
          html_url: `${web(b, got.repo)}/compare/${basehead}`,
          permalink_url: `${web(b, got.repo)}/compare/${o}:${got.base}...${o}:${got.head}`,
          diff_url: `${web(b, got.repo)}/compare/${basehead}.diff`,
          patch_url: `${web(b, got.repo)}/compare/${basehead}.patch`,
          base_commit: commitJson(b, got.repo, got.base, got.baseCommit),
          merge_base_commit: commitJson(b, got.repo, got.mergeBase, got.mergeBaseCommit),
          status: got.status,
          ahead_by: got.aheadBy,
          behind_by: got.behindBy,
          total_commits: got.commits.length,
          commits: commits.map((c) => commitJson(b, got.repo, c.id, c.commit)),
          files: got.files.map((f) => fileJson(b, got.repo, got.head, f)),
        },
        paged ? linkHeader(ctx, b, got.commits.length) : {},
      )
    }),
  ),

  // --- git data
  route("GET", `${P}/git/blobs/:sha`, (ctx) =>
    Effect.gen(function* () {
      const content = yield* RepoContent
      const got = yield* content.blob(...own(ctx), ctx.params.sha!, yield* principalOf(ctx))
      if (wants(ctx, "raw"))
        return yield* versioned(ctx, ["blob-raw", got.id], (headers) =>
          sendBytes(ctx, got.content, "application/vnd.github.raw", headers),
        )
      const b = yield* base(ctx)
      yield* send(ctx, 200, {
        sha: got.id,
        node_id: nodeId("Blob", got.id),
        size: got.content.length,
        url: `${api(b, got.repo)}/git/blobs/${got.id}`,
        content: base64Lines(got.content),
        encoding: "base64",
      })
    }),
  ),
  route("GET", `${P}/git/trees/*sha`, (ctx) =>
    Effect.gen(function* () {
      const content = yield* RepoContent
      // GitHub: any value of `recursive` (even 0 or false) asks for the whole tree.
      const recursive = ctx.url.searchParams.has("recursive")
      const got = yield* content.tree(
        ...own(ctx),
        ctx.params.sha!,
        recursive,
        yield* principalOf(ctx),
      )
      yield* send(
        ctx,
        200,
        gitTreeJson(yield* base(ctx), got.repo, got.id, got.tree, got.truncated),
      )
    }),
  ),
  route("GET", `${P}/git/commits/:sha`, (ctx) =>
    Effect.gen(function* () {
      const content = yield* RepoContent
      const got = yield* content.gitCommit(...own(ctx), ctx.params.sha!, yield* principalOf(ctx))
      yield* send(ctx, 200, gitCommitJson(yield* base(ctx), got.repo, got.id, got.commit, got.raw))
    }),
  ),
  route("GET", `${P}/git/tags/:sha`, (ctx) =>
    Effect.gen(function* () {
      const content = yield* RepoContent
      const got = yield* content.gitTag(...own(ctx), ctx.params.sha!, yield* principalOf(ctx))
      const b = yield* base(ctx)
      yield* send(ctx, 200, tagJson(b, got.repo, got.id, got.tag))
    }),
  ),
  route("GET", `${P}/git/ref/*ref`, (ctx) =>
    Effect.gen(function* () {
      const wanted = fullRef(ctx.params.ref!)
      const got = yield* refsAnswer(ctx, (name) => name === wanted)
      const r = got.refs[0]
      if (!r) return yield* notFound()
      yield* send(ctx, 200, refJson(got.b, got.repo, r))
    }),
  ),
  route("GET", `${P}/git/matching-refs/*ref`, (ctx) =>
    Effect.gen(function* () {
      const prefix = fullRef(ctx.params.ref ?? "")
      const got = yield* refsAnswer(ctx, (name) => name.startsWith(prefix))
      yield* send(
        ctx,
        200,
        got.refs.map((r) => refJson(got.b, got.repo, r)),
      )
    }),
  ),
  route("GET", `${P}/git/refs`, (ctx) =>
    Effect.gen(function* () {
      const got = yield* refsAnswer(ctx, () => true)
      const { perPage, offset } = pageParams(ctx)
      yield* send(
        ctx,
        200,
        got.refs.slice(offset, offset + perPage).map((r) => refJson(got.b, got.repo, r)),
        linkHeader(ctx, got.b, got.refs.length),
      )
    }),
  ),
  // GitHub's older form: one ref when the name is exact, the refs below it for a namespace.
  route("GET", `${P}/git/refs/*ref`, (ctx) =>
    Effect.gen(function* () {
      const wanted = fullRef(ctx.params.ref!.replace(/\/+$/, ""))
      const got = yield* refsAnswer(ctx, (name) => name === wanted || name.startsWith(`${wanted}/`))
      const exact = got.refs.find((r) => r.name === wanted)
      if (exact) return yield* send(ctx, 200, refJson(got.b, got.repo, exact))
      if (got.refs.length === 0) return yield* notFound()
      yield* send(
        ctx,
        200,
        got.refs.map((r) => refJson(got.b, got.repo, r)),
      )
    }),
  ),

  // --- contents
  route("GET", `${P}/contents`, (ctx) => contents(ctx, "")),
  route("GET", `${P}/contents/*path`, (ctx) => contents(ctx, ctx.params.path ?? "")),
  route("GET", `${P}/readme`, (ctx) => readme(ctx, "")),
  route("GET", `${P}/readme/*dir`, (ctx) => readme(ctx, ctx.params.dir ?? "")),

  // --- archives
  route("GET", `${P}/tarball`, (ctx) => sendArchive(ctx, "tar")),
  route("GET", `${P}/tarball/*ref`, (ctx) => sendArchive(ctx, "tar")),
  route("GET", `${P}/zipball`, (ctx) => sendArchive(ctx, "zip")),
  route("GET", `${P}/zipball/*ref`, (ctx) => sendArchive(ctx, "zip")),

  // --- statistics
  route("GET", `${P}/languages`, (ctx) =>
    Effect.gen(function* () {
      const content = yield* RepoContent
      const got = yield* content.languages(...own(ctx), yield* principalOf(ctx))
      yield* send(ctx, 200, Object.fromEntries(got.languages))
    }),
  ),
  // Topics: TopicRoutes.ts.
]

/** `download_url`s: `/{owner}/{repo}/raw/{ref}/{path}` answers the file's bytes. */
export const rawRoutes: Array<Route<Env>> = [
  route("GET", "/:owner/:repo/raw/*rest", (ctx) =>
    Effect.gen(function* () {
      const content = yield* RepoContent
      const got = yield* content.raw(...own(ctx), ctx.params.rest ?? "", yield* principalOf(ctx))
      const node = got.node
      const bytes =
        node.type === "file" || node.type === "symlink"
          ? (node.content ?? new Uint8Array(0))
          : new Uint8Array(0)
      yield* versioned(ctx, ["blob-raw", node.sha], (headers) =>
        sendBytes(ctx, bytes, "application/octet-stream", headers),
      )
    }),
  ),
]
