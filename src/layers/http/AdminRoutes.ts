/**
 * Node administration over HTTP, for site administrators (a token with the `site_admin`
 * scope): `POST /api/admin/backup {"target": "/abs/dir"}` writes a consistent backup of
 * this node into a new directory on its machine and answers with the manifest
 * (src/layers/backup/Backup.ts); with `{"format": "tar"}` instead of a target, it streams
 * the backup as a tar archive (taken into a temporary directory, removed afterwards).
 * `guts admin backup` is its client.
 */
import * as fs from "node:fs"
import type * as http from "node:http"
import * as os from "node:os"
import * as path from "node:path"
import { Effect } from "effect"
import { MANIFEST_FILE } from "../backup/BackupFormat.ts"
import { writeTar } from "../backup/Tar.ts"
import { Auth } from "../../services/Auth.ts"
import type { Apply } from "../../services/Apply.ts"
import type { BlockStore } from "../../services/BlockStore.ts"
import type { Ledger } from "../../services/Ledger.ts"
import type { Metadata } from "../../services/Metadata.ts"
import type { NodeConfig } from "../../services/NodeConfig.ts"
import type { RefStore } from "../../services/RefStore.ts"
import { type BackupFailed, takeBackup } from "../backup/Backup.ts"
import type { StorageSnapshot } from "../backup/StorageSnapshot.ts"
import { readJson } from "./Body.ts"
import { forbidden, HttpError, unauthorized, unprocessable } from "./HttpErrors.ts"
import { type Route, sendJson } from "./HttpServer.ts"

type R = Auth | Apply | StorageSnapshot | Metadata | Ledger | BlockStore | NodeConfig | RefStore

const requireSiteAdmin = (authorization: string | undefined) =>
  Effect.gen(function* () {
    const auth = yield* Auth
    const creds = yield* auth.authenticate(authorization)
    if (creds._tag === "BadCredentials") return yield* unauthorized("Bad credentials")
    if (creds._tag === "Anonymous") return yield* unauthorized("Requires authentication")
    const p = creds.principal
    if (p.user.site_admin !== 1 || !p.scopes.includes("site_admin"))
      return yield* forbidden(
        "backups need a site administrator's token with the site_admin scope (the bootstrap token in <data-dir>/admin-token has it)",
      )
    return p
  })

/** Takes a backup into a temporary directory, streams it as a tar archive, removes it. */
const streamTar = (res: http.ServerResponse) =>
  Effect.acquireUseRelease(
    Effect.promise(() => fs.promises.mkdtemp(path.join(os.tmpdir(), "guts-backup-"))),
    (dir) =>
      Effect.gen(function* () {
        const done = yield* takeBackup(dir).pipe(
          Effect.catchTag("BackupFailed", (e: BackupFailed) =>
            Effect.fail(new HttpError({ status: 422, message: e.message })),
          ),
        )
        res.writeHead(200, {
          "content-type": "application/x-tar",
          "content-disposition": `attachment; filename="guts-backup-${done.manifest.height}.tar"`,
        })
        // The manifest last: an archive cut short has none, and restore refuses it.
        const names = [...done.manifest.files.map((f) => f.name), MANIFEST_FILE]
        yield* Effect.promise(() => writeTar(dir, names, res))
        res.end()
      }),
    (dir) => Effect.promise(() => fs.promises.rm(dir, { recursive: true, force: true })),
  )

export const adminRoutes: Array<Route<R>> = ["/api", "/api/v3"].map((prefix) => ({
  name: "POST /api/admin/backup",
  method: "POST",
  path: `${prefix}/admin/backup`,
  handler: (ctx) =>
    Effect.gen(function* () {
      yield* requireSiteAdmin(ctx.req.headers.authorization)
      const body = (yield* readJson(ctx.req)) as { target?: unknown; format?: unknown } | null
      if (body?.format === "tar" && body.target === undefined) return yield* streamTar(ctx.res)
      const target = body?.target
      if (typeof target !== "string" || target === "")
        return yield* unprocessable(
          'Invalid request. "target" (an absolute directory path on the node\'s machine) or "format": "tar" (stream the backup) is required.',
          [{ resource: "Backup", field: "target", code: "missing_field" }],
        )
      const done = yield* takeBackup(target).pipe(
        Effect.catchTag("BackupFailed", (e: BackupFailed) =>
          Effect.fail(new HttpError({ status: 422, message: e.message })),
        ),
      )
      yield* sendJson(ctx.res, 201, {
        target: done.target,
        paused_ms: done.pausedMs,
        manifest: done.manifest,
      })
    }),
}))
