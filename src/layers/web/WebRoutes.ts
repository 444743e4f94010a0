/**
 * The web interface's routes, served at `/` on the node's HTTP port after every other
 * route (git, `/api`, `/health`, raw downloads keep priority), plus its static files.
 */
import { Effect } from "effect"
import { HIGHLIGHT_CSS, MARKDOWN_CSS } from "../../domain/markup/Css.ts"
import type { Route } from "../http/HttpServer.ts"
import { CI_CSS, CI_LOG_JS, CLUSTER_JS, LINES_JS, STYLE_CSS } from "./Assets.ts"
import { authRoutes } from "./AuthPages.ts"
import { ciRoutes } from "./CiPages.ts"
import { clusterRoutes } from "./ClusterPage.ts"
import { collabRoutes } from "./CollabPages.ts"
import { repoRoutes } from "./RepoPages.ts"
import { settingsRoutes } from "./SettingsPages.ts"

const STATIC: Record<string, { type: string; body: string }> = {
  "style.css": {
    type: "text/css; charset=utf-8",
    body: `${STYLE_CSS}\n${HIGHLIGHT_CSS}\n${MARKDOWN_CSS}\n${CI_CSS}`,
  },
  "lines.js": { type: "text/javascript; charset=utf-8", body: LINES_JS },
  "cluster.js": { type: "text/javascript; charset=utf-8", body: CLUSTER_JS },
  "ci-log.js": { type: "text/javascript; charset=utf-8", body: CI_LOG_JS },
}

const staticRoute: Route<never> = {
  name: "WEB GET /-/static/:file",
  method: "GET",
  path: "/-/static/:file",
  handler: (ctx) =>
    Effect.sync(() => {
      const file = STATIC[ctx.params.file ?? ""]
      if (!file) {
        ctx.res.writeHead(404, { "content-type": "text/plain" })
        ctx.res.end("no such file")
        return
      }
      ctx.res.writeHead(200, {
        "content-type": file.type,
        "content-length": Buffer.byteLength(file.body),
        "cache-control": "public, max-age=300",
        "x-content-type-options": "nosniff",
      })
      ctx.res.end(ctx.req.method === "HEAD" ? undefined : file.body)
    }),
}

/** Order matters: fixed `/-/...` paths before `/:owner/...` patterns. */
export const webRoutes = () => [
  staticRoute,
  ...authRoutes,
  ...clusterRoutes,
  ...settingsRoutes,
  ...collabRoutes,
  ...repoRoutes,
  ...ciRoutes,
]
