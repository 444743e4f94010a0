/**
 * The log's numbering: chunks in order from 0, a retried chunk not duplicated, a node that
 * lost chunks gets them again, and batching by time, size and step.
 */
import { describe, expect, it } from "vitest"
import type { LogChunk } from "../../src/domain/ci/RunnerProtocol.ts"
import { LogStream } from "../../src/runner/LogStream.ts"
import { ProtocolError, RunnerClient } from "../../src/runner/RunnerClient.ts"

/** The node's side of POST …/logs as RunnerProtocol.ts specifies it. */
const nodeLog = () => {
  const stored: LogChunk[] = []
  return {
    stored,
    receive(chunk: LogChunk) {
      if (chunk.seq === stored.length) stored.push(chunk)
      return { expected: stored.length }
    },
  }
}

const line = (text: string) => ({ time: Date.UTC(2026, 0, 1), text })

describe("LogStream", () => {
  it("numbers chunks from 0, keeps lines of different steps apart, and timestamps each line", async () => {
    const node = nodeLog()
    const stream = new LogStream({ send: async (c) => node.receive(c) }, { flushMs: 10_000 })
    stream.write(line("set up"))
    stream.write(line("a"), 1)
    stream.write(line("b"), 1)
    stream.write(line("c"), 2)
    expect(await stream.close()).toBe(3)
    expect(node.stored).toEqual([
      { seq: 0, text: "2026-01-01T00:00:00.000Z set up\n" },
      { seq: 1, step: 1, text: "2026-01-01T00:00:00.000Z a\n2026-01-01T00:00:00.000Z b\n" },
      { seq: 2, step: 2, text: "2026-01-01T00:00:00.000Z c\n" },
    ])
  })

  it("sends a batch after flushMs without waiting for close (live logs)", async () => {
    const node = nodeLog()
    const stream = new LogStream({ send: async (c) => node.receive(c) }, { flushMs: 20 })
    stream.write(line("live"), 1)
    await new Promise((r) => setTimeout(r, 100))
    expect(node.stored.map((c) => c.seq)).toEqual([0])
    await stream.close()
  })

  it("cuts chunks at the size limit", async () => {
    const node = nodeLog()
    const stream = new LogStream(
      { send: async (c) => node.receive(c) },
      { flushMs: 10_000, maxChunkChars: 100 },
    )
    for (let i = 0; i < 10; i++) stream.write(line(`line ${i} ${"x".repeat(30)}`), 1)
    await stream.close()
    expect(node.stored.length).toBeGreaterThan(3)
    for (const c of node.stored) expect(c.text.length).toBeLessThanOrEqual(100)
    expect(
      node.stored
        .map((c) => c.text)
        .join("")
        .split("\n").length - 1,
    ).toBe(10)
  })

  it("a chunk that reached the node but whose answer was lost is resent and not duplicated", async () => {
    const node = nodeLog()
    let dropAnswer = true
    // The client's retry loop resends the identical request after a transient failure.
    const stream = new LogStream(
      {
        send: async (c) => {
          for (;;) {
            const answer = node.receive(c)
            if (dropAnswer) {
              dropAnswer = false
              continue
            }
            return answer
          }
        },
      },
      { flushMs: 10_000 },
    )
    stream.write(line("once"), 1)
    stream.write(line("twice?"), 2)
    await stream.close()
    expect(node.stored.map((c) => c.text.slice(25))).toEqual(["once\n", "twice?\n"])
  })

  it("a chunk the node did not store (it still expects that seq) is sent again", async () => {
    const node = nodeLog()
    let refuse = true
    const stream = new LogStream(
      {
        send: async (c) => {
          if (c.seq === 1 && refuse) {
            refuse = false
            return { expected: 1 }
          }
          return node.receive(c)
        },
      },
      { flushMs: 10_000 },
    )
    stream.write(line("zero"), 1)
    stream.write(line("one"), 2)
    await stream.close()
    expect(node.stored.map((c) => c.seq)).toEqual([0, 1])
  })

  it("a log the node refuses for good fails close() and reports once", async () => {
    const failures: unknown[] = []
    const stream = new LogStream(
      {
        send: async () => {
          throw new ProtocolError("413 too large", 413)
        },
      },
      { flushMs: 10_000, onFailure: (e) => failures.push(e) },
    )
    stream.write(line("x"), 1)
    stream.write(line("y"), 2)
    await expect(stream.close()).rejects.toThrow(/too large/)
    expect(failures).toHaveLength(1)
  })

  it("the client resends a log chunk after a transient 503 and stops on 409", async () => {
    const http = await import("node:http")
    let calls = 0
    const server = http.createServer((req, res) => {
      calls++
      req.resume()
      req.on("end", () => {
        if (calls === 1) {
          res.writeHead(503, { "content-type": "application/json" })
          res.end(JSON.stringify({ message: "catching up" }))
        } else if (req.url?.includes("/jobs/7/")) {
          res.writeHead(200, { "content-type": "application/json" })
          res.end(JSON.stringify({ expected: 1 }))
        } else {
          res.writeHead(409, { "content-type": "application/json" })
          res.end(JSON.stringify({ message: "job 8 is not held by this runner" }))
        }
      })
    })
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r))
    const port = (server.address() as { port: number }).port
    const client = new RunnerClient(`http://127.0.0.1:${port}`, {
      runnerToken: "t",
      retry: { initialDelayMs: 10, maxDelayMs: 20, giveUpAfterMs: 5_000 },
    })
    expect(await client.log(7, { seq: 0, text: "x\n" })).toEqual({ expected: 1 })
    expect(calls).toBe(2)
    await expect(client.log(8, { seq: 0, text: "x\n" })).rejects.toThrow(/not held/)
    server.close()
  })
})
