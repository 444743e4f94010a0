/**
 * Structured logs: with `log-format: json` every line is one JSON object, and every line
 * logged while serving a request — by the handler, by a fiber it forks, and the server's
 * own report of a failure — carries that request's id, the one the client got in
 * `x-request-id`.
 */
import { Context, Effect, Exit, Layer, Scope } from "effect"
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest"
import { withLogging } from "../../src/config/Logging.ts"
import { HttpServer, httpServerLayer, sendJson } from "../../src/layers/http/HttpServer.ts"
import { Metrics } from "../../src/layers/Metrics.ts"
import { nodeConfigLayer } from "../../src/services/NodeConfig.ts"

interface JsonLine {
  message: unknown
  logLevel: string
  annotations: Record<string, unknown>
}

let printed: string[] = []
beforeEach(() => {
  printed = []
  vi.spyOn(console, "log").mockImplementation((...args: unknown[]) => {
    printed.push(args.map(String).join(" "))
  })
})
afterEach(() => {
  vi.restoreAllMocks()
})

const startServer = async (format: "json" | "logfmt") => {
  const scope = Effect.runSync(Scope.make())
  const layer = httpServerLayer([
    {
      name: "GET /boom",
      method: "GET",
      path: "/boom",
      handler: () =>
        Effect.gen(function* () {
          yield* Effect.logInfo("about to fail")
          yield* Effect.fork(Effect.logWarning("from a forked fiber")).pipe(
            Effect.flatMap((f) => f.await),
          )
          return yield* Effect.dieMessage("disk on fire")
        }),
    },
    {
      name: "GET /fine",
      method: "GET",
      path: "/fine",
      handler: (ctx) => sendJson(ctx.res, 200, { ok: true }),
    },
  ]).pipe(
    Layer.provide(Metrics.Live),
    Layer.provide(nodeConfigLayer({ host: "127.0.0.1", httpPort: 0 })),
  )
  const context = await Effect.runPromise(
    Layer.buildWithScope(layer, scope).pipe(withLogging(format, "info")),
  )
  return {
    url: Context.get(context, HttpServer).url,
    close: () => Effect.runPromise(Scope.close(scope, Exit.void)),
  }
}

/** Lines printed so far, once `count` of them have appeared (logging is asynchronous). */
const waitForLines = async (count: number) => {
  for (let i = 0; i < 100 && printed.length < count; i++)
    await new Promise((r) => setTimeout(r, 20))
  return printed
}

describe("JSON logs", () => {
  it("carry the request id on every line logged for a failing request", async () => {
    const server = await startServer("json")
    try {
      const res = await fetch(`${server.url}/boom`)
      expect(res.status).toBe(500)
      const requestId = res.headers.get("x-request-id")
      expect(requestId).toBeTruthy()
      expect(((await res.json()) as { message: string }).message).toContain(requestId)
      const lines = (await waitForLines(3)).map((l) => JSON.parse(l) as JsonLine)
      expect(lines.map((l) => [l.logLevel, l.message])).toEqual([
        ["INFO", "about to fail"],
        ["WARN", "from a forked fiber"],
        ["ERROR", "request failed"],
      ])
      for (const line of lines)
        expect(line.annotations).toMatchObject({ requestId, route: "GET /boom" })
    } finally {
      await server.close()
    }
  })

  it("give each request its own id", async () => {
    const server = await startServer("json")
    try {
      const a = await fetch(`${server.url}/boom`)
      const b = await fetch(`${server.url}/boom`)
      const ids = [a.headers.get("x-request-id"), b.headers.get("x-request-id")]
      expect(new Set(ids).size).toBe(2)
      const lines = (await waitForLines(6)).map((l) => JSON.parse(l) as JsonLine)
      expect(new Set(lines.map((l) => l.annotations.requestId))).toEqual(new Set(ids))
    } finally {
      await server.close()
    }
  })

  it("are logfmt lines, once each, with the logfmt format", async () => {
    const server = await startServer("logfmt")
    try {
      const res = await fetch(`${server.url}/boom`)
      const requestId = res.headers.get("x-request-id")!
      const lines = await waitForLines(3)
      expect(lines).toHaveLength(3)
      expect(lines[0]).toMatch(/level=INFO .*message="about to fail"/)
      for (const line of lines) expect(line).toContain(`requestId=${requestId}`)
    } finally {
      await server.close()
    }
  })
})
