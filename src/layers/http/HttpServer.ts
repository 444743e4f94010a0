/**
 * HttpServer: a node:http server whose requests run as Effect fibers.
 *
 * Why not @effect/platform's HttpApi here: the request path is measured against a bare
 * node:http server (shared/BENCHMARKS.md, api-read ≥ 0.5×), and git needs raw streaming
 * in both directions. So routing is a small table and each request is one fiber:
 * - a client that disconnects before the answer is complete interrupts its fiber (git
 *   pack generation stops, nothing leaks);
 * - failures are mapped to HTTP answers in one place (HttpErrors.ts);
 * - closing the layer's scope stops accepting, lets in-flight requests finish for the
 *   grace period, then interrupts the rest.
 */
import * as http from "node:http"
import type { AddressInfo } from "node:net"
import { Cause, Context, Effect, Exit, Fiber, FiberSet, Layer, Runtime } from "effect"
import { NodeConfig } from "../../services/NodeConfig.ts"
import { Metrics } from "../Metrics.ts"
import { errorBody, HttpError, toHttpError } from "./HttpErrors.ts"

export interface HttpContext {
  readonly req: http.IncomingMessage
  readonly res: http.ServerResponse
  readonly url: URL
  readonly params: Readonly<Record<string, string>>
  readonly requestId: string
}

export type Handler<R = never> = (ctx: HttpContext) => Effect.Effect<void, unknown, R>

export interface Route<R = never> {
  readonly name: string
  readonly method: string | ReadonlyArray<string>
  /** `/api/repos/:owner/:repo`; a trailing `*rest` captures the remainder (with slashes). */
  readonly path: string
  readonly handler: Handler<R>
}

interface CompiledRoute<R> {
  readonly route: Route<R>
  readonly methods: ReadonlySet<string>
  readonly regex: RegExp
  readonly keys: ReadonlyArray<string>
}

const compile = <R>(route: Route<R>): CompiledRoute<R> => {
  const keys: string[] = []
  const source = route.path
    .split("/")
    .map((segment) => {
      if (segment.startsWith(":")) {
        keys.push(segment.slice(1))
        return "([^/]+)"
      }
      if (segment.startsWith("*")) {
        keys.push(segment.slice(1))
        return "(.*)"
      }
      return segment.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")
    })
    .join("/")
  const methods = new Set(typeof route.method === "string" ? [route.method] : route.method)
  return { route, methods, regex: new RegExp(`^${source}$`), keys }
}

export interface Router<R> {
  readonly match: (
    method: string,
    pathname: string,
  ) => { route: Route<R>; params: Record<string, string> } | "method-not-allowed" | undefined
}

export const makeRouter = <R>(routes: ReadonlyArray<Route<R>>): Router<R> => {
  const compiled = routes.map(compile)
  return {
    match: (method, pathname) => {
      let pathMatched = false
      for (const c of compiled) {
        const m = c.regex.exec(pathname)
        if (!m) continue
        pathMatched = true
        if (!c.methods.has(method) && !(method === "HEAD" && c.methods.has("GET"))) continue
        const params: Record<string, string> = {}
        c.keys.forEach((k, i) => {
          params[k] = decodeURIComponent(m[i + 1] ?? "")
        })
        return { route: c.route, params }
      }
      return pathMatched ? "method-not-allowed" : undefined
    },
  }
}

/** The base URL clients use for this node: configured, or from the request's Host header. */
export const baseUrl = (ctx: HttpContext, configured: string | undefined) =>
  configured?.replace(/\/+$/, "") ?? `http://${ctx.req.headers.host ?? "localhost"}`

/** Sends a JSON answer (the common case for the REST API). */
export const sendJson = (
  res: http.ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
) =>
  Effect.sync(() => {
    const text = typeof body === "string" ? body : JSON.stringify(body)
    res.writeHead(status, {
      "content-type": "application/json; charset=utf-8",
      "content-length": Buffer.byteLength(text),
      ...headers,
    })
    res.end(text)
  })

const sendError = (res: http.ServerResponse, err: HttpError) => {
  if (res.headersSent) {
    res.destroy()
    return
  }
  const text = errorBody(err)
  res.writeHead(err.status, {
    "content-type": "application/json; charset=utf-8",
    "content-length": Buffer.byteLength(text),
    ...(err.headers ?? {}),
  })
  res.end(text)
}

let requestCounter = 0
const nextRequestId = () => `${process.pid.toString(36)}-${(++requestCounter).toString(36)}`

export interface HttpServerShape {
  readonly port: number
  readonly url: string
}

export class HttpServer extends Context.Tag("guts/HttpServer")<HttpServer, HttpServerShape>() {}

/**
 * Serves `routes` on the configured HTTP port (port 0 picks a free one; the bound port is
 * in the HttpServer service).
 */
/** Takes over a connection that asked to upgrade (WebSocket), as an Effect. */
export type UpgradeHandler<R> = (
  req: http.IncomingMessage,
  socket: import("node:stream").Duplex,
  head: Buffer,
) => Effect.Effect<void, never, R>

export const httpServerLayer = <R>(
  routes: ReadonlyArray<Route<R>>,
  upgrades: Readonly<Record<string, UpgradeHandler<R>>> = {},
) =>
  Layer.scoped(
    HttpServer,
    Effect.gen(function* () {
      const config = yield* NodeConfig
      const metrics = yield* Metrics
      const runtime = yield* Effect.runtime<R>()
      const router = makeRouter(routes)
      const fibers = yield* FiberSet.make<void, never>()
      const runFork = Runtime.runFork(runtime)

      const handle = (req: http.IncomingMessage, res: http.ServerResponse) => {
        const started = process.hrtime.bigint()
        const requestId = nextRequestId()
        res.setHeader("x-request-id", requestId)
        let url: URL
        try {
          url = new URL(req.url ?? "/", "http://localhost")
        } catch {
          sendError(res, new HttpError({ status: 400, message: "malformed request URL" }))
          return
        }
        const matched = router.match(req.method ?? "GET", url.pathname)
        let routeName = "unmatched"
        const finish = () => {
          const seconds = Number(process.hrtime.bigint() - started) / 1e9
          metrics.httpRequestDuration.observe(
            { route: routeName, method: req.method ?? "GET", status: String(res.statusCode) },
            seconds,
          )
        }
        res.once("finish", finish)
        if (matched === undefined) {
          sendError(res, new HttpError({ status: 404, message: "Not Found" }))
          return
        }
        if (matched === "method-not-allowed") {
          sendError(
            res,
            new HttpError({ status: 405, message: `${req.method} is not allowed here` }),
          )
          return
        }
        routeName = matched.route.name
        const ctx: HttpContext = { req, res, url, params: matched.params, requestId }
        const program = matched.route.handler(ctx).pipe(
          Effect.catchAllCause((cause) =>
            Effect.sync(() => {
              if (Cause.isInterruptedOnly(cause)) return
              const failure = Cause.failureOption(cause)
              if (failure._tag === "Some") {
                const known = toHttpError(failure.value)
                if (known) {
                  sendError(res, known)
                  return
                }
              }
              // Unexpected: log with the request id, answer 500 without internals.
              runFork(
                Effect.logError("request failed", cause).pipe(
                  Effect.annotateLogs({ requestId, route: routeName }),
                ),
              )
              sendError(
                res,
                new HttpError({
                  status: 500,
                  message: `internal error; look up request ${requestId} in the node's log`,
                }),
              )
            }),
          ),
          Effect.annotateLogs({ requestId, route: routeName }),
          // One trace per request (src/layers/Tracing.ts).
          Effect.zipLeft(
            Effect.suspend(() =>
              Effect.annotateCurrentSpan("http.response.status_code", res.statusCode),
            ),
          ),
          Effect.withSpan(`http ${routeName}`, {
            kind: "server",
            attributes: {
              "http.request.method": req.method,
              "http.route": routeName,
              "guts.request_id": requestId,
            },
          }),
        )
        const fiber = runFork(program)
        FiberSet.unsafeAdd(fibers, fiber)
        // A client that goes away before the answer is complete interrupts the work.
        res.once("close", () => {
          if (!res.writableFinished) runFork(Fiber.interrupt(fiber))
        })
      }

      const server = http.createServer({ keepAliveTimeout: 5_000 }, handle)
      server.on("upgrade", (req, socket, head) => {
        const pathname = new URL(req.url ?? "/", "http://localhost").pathname
        const handler = upgrades[pathname]
        if (!handler) {
          socket.end("HTTP/1.1 404 Not Found\r\nConnection: close\r\n\r\n")
          return
        }
        const fiber = runFork(handler(req, socket, head))
        FiberSet.unsafeAdd(fibers, fiber)
        socket.once("close", () => runFork(Fiber.interrupt(fiber)))
      })
      server.requestTimeout = 0 // git pushes of large packs can take long
      server.headersTimeout = 60_000

      yield* Effect.async<void, Error>((resume) => {
        server.once("error", (err) => resume(Effect.fail(err)))
        server.listen(config.httpPort, config.host, () => resume(Effect.void))
      }).pipe(
        Effect.mapError(
          (err) =>
            new Error(
              `cannot listen for HTTP on ${config.host}:${config.httpPort}: ${err.message} (choose another port with --http-port)`,
            ),
        ),
      )
      const port = (server.address() as AddressInfo).port

      yield* Effect.addFinalizer(() =>
        Effect.gen(function* () {
          // Stop accepting; idle keep-alive connections close now, busy ones after their answer.
          yield* Effect.sync(() => {
            server.close()
            server.closeIdleConnections()
          })
          const inFlight = yield* FiberSet.size(fibers)
          if (inFlight > 0) {
            yield* Effect.logInfo(`waiting for ${inFlight} in-flight request(s) to finish`)
            const drained = yield* FiberSet.awaitEmpty(fibers).pipe(
              Effect.timeout(config.shutdownGraceMs),
              Effect.exit,
            )
            if (Exit.isFailure(drained)) yield* FiberSet.clear(fibers)
          }
          yield* Effect.sync(() => server.closeAllConnections())
        }),
      )

      const host = config.host === "0.0.0.0" ? "127.0.0.1" : config.host
      return { port, url: `http://${host}:${port}` }
    }),
  )
