/**
 * The OpenAPI document of the REST API, generated from the route tables themselves (so it
 * lists exactly what the node answers), served at `/api/openapi.json`, with a browsable
 * page at `/api/docs`. Paths use OpenAPI's `{param}` form; each operation names the GitHub
 * operation it mirrors by method and path.
 */
import { Effect } from "effect"
import { GUTS_VERSION } from "../../domain/Version.ts"
import type { HttpContext, Route } from "./HttpServer.ts"
import { sendJson } from "./HttpServer.ts"

const toOpenApiPath = (path: string) =>
  path.replace(/:([A-Za-z_]+)/g, "{$1}").replace(/\*([A-Za-z_]+)/g, "{$1}")

export const openApiDocument = (routes: ReadonlyArray<Route<unknown>>) => {
  const paths: Record<string, Record<string, unknown>> = {}
  for (const r of routes) {
    const p = toOpenApiPath(r.path)
    const params = [...p.matchAll(/\{([^}]+)\}/g)].map((m) => ({
      name: m[1],
      in: "path",
      required: true,
      schema: { type: "string" },
    }))
    for (const method of typeof r.method === "string" ? [r.method] : r.method) {
      paths[p] ??= {}
      paths[p]![method.toLowerCase()] = {
        operationId: `${method.toLowerCase()} ${p}`,
        summary: r.name,
        parameters: params,
        responses: { default: { description: "GitHub's response shape for this operation" } },
      }
    }
  }
  return {
    openapi: "3.0.3",
    info: {
      title: "Guts REST API",
      version: GUTS_VERSION,
      description:
        "GitHub's REST paths and JSON shapes, served under /api and /api/v3. Authenticate with `Authorization: Bearer <token>`.",
    },
    servers: [{ url: "/api" }],
    components: {
      securitySchemes: { token: { type: "http", scheme: "bearer" } },
    },
    security: [{ token: [] }, {}],
    paths,
  }
}

const escapeHtml = (s: string) =>
  s.replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]!)

export const openApiRoutes = (apiRoutes: ReadonlyArray<Route<unknown>>): Array<Route<never>> => {
  const own = apiRoutes
    .filter((r) => r.path.startsWith("/api/") && !r.path.startsWith("/api/v3/"))
    .map((r) => ({ ...r, path: r.path.slice(4) }))
  const doc = JSON.stringify(openApiDocument(own))
  return [
    {
      name: "GET /api/openapi.json",
      method: "GET",
      path: "/api/openapi.json",
      handler: (ctx: HttpContext) => sendJson(ctx.res, 200, doc),
    },
    {
      name: "GET /api/docs",
      method: "GET",
      path: "/api/docs",
      handler: (ctx: HttpContext) =>
        Effect.sync(() => {
          const rows = own
            .map(
              (r) =>
                `<tr><td>${escapeHtml(String(r.method))}</td><td><code>${escapeHtml(toOpenApiPath(r.path))}</code></td></tr>`,
            )
            .join("\n")
          const html = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Guts REST API</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head><body><main>
<h1>Guts REST API</h1><p>GitHub's paths and shapes under <code>/api</code> (and <code>/api/v3</code>).
The machine-readable description is <a href="/api/openapi.json">/api/openapi.json</a>.</p>
<table><thead><tr><th scope="col">Method</th><th scope="col">Path</th></tr></thead><tbody>
${rows}
</tbody></table></main></body></html>`
          ctx.res.writeHead(200, {
            "content-type": "text/html; charset=utf-8",
            "content-length": Buffer.byteLength(html),
          })
          ctx.res.end(html)
        }),
    },
  ]
}
