/**
 * libp2p 3 on Node 20: the polyfill supplies Promise.withResolvers, which libp2p's streams
 * and yamux call while data flows.
 */
import { spawnSync } from "node:child_process"
import "../../src/layers/p2p/Polyfills.ts"
import { Effect } from "effect"
import { describe, expect, it } from "vitest"
import { Channels } from "../../src/services/Network.ts"
import { connectedTo, member, read, startNetwork, take, text } from "./support.ts"

describe("Polyfills", () => {
  it("provides a working Promise.withResolvers", async () => {
    const ok = Promise.withResolvers<number>()
    ok.resolve(42)
    expect(await ok.promise).toBe(42)
    const ko = Promise.withResolvers<number>()
    ko.reject(new Error("no"))
    await expect(ko.promise).rejects.toThrow("no")
  })

  it("installs itself only where the runtime lacks it, in a fresh node process", () => {
    const script =
      "const native = typeof Promise.withResolvers === 'function';" +
      "await import('./src/layers/p2p/Polyfills.ts');" +
      "console.log(JSON.stringify({ native, after: typeof Promise.withResolvers }))"
    const result = spawnSync(
      process.execPath,
      ["--import", "tsx", "--input-type=module", "-e", script],
      { cwd: process.cwd(), encoding: "utf8" },
    )
    expect(result.status).toBe(0)
    const report = JSON.parse(result.stdout.trim())
    expect(report.after).toBe("function")
    // Node 20 has no native version; on newer Node the native one is left in place.
    expect(report.native).toBe(Number(process.versions.node.split(".")[0]) >= 22)
  })

  it("lets libp2p start, carry data with back pressure, and stop on this Node", () =>
    Effect.runPromise(
      Effect.scoped(
        Effect.gen(function* () {
          const ma = yield* Effect.promise(() => member())
          const mb = yield* Effect.promise(() => member())
          const a = yield* startNetwork(ma, [mb])
          const b = yield* startNetwork(mb, [ma])
          yield* connectedTo(a, b)
          // 4 MiB outruns yamux's initial window, so the sender waits on onDrain.
          yield* a.send(Channels.sync, "all", new Uint8Array(4 * 1024 * 1024))
          yield* a.send(Channels.sync, "all", text("after the big one"))
          const got = yield* take(b, 2)
          expect(got[0].bytes.length).toBe(4 * 1024 * 1024)
          expect(read(got[1])).toBe("after the big one")
        }),
      ),
    ))
})
