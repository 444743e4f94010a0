/**
 * Live events over `/ws`: an authenticated WebSocket client subscribes to a repository and
 * receives its events as blocks are applied, in block order; it disconnects while 50 more
 * blocks are applied and, reconnecting with its cursor (the last height it saw), receives
 * every event it missed and then the live stream — no gaps, no repeats. It cannot subscribe
 * to a repository it cannot read.
 */
import * as http from "node:http"
import type { Duplex } from "node:stream"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { encodeFrame, frameReader, OP } from "../../src/layers/http/WebSocket.ts"
import { type Api, apiClient, makeUser } from "../support/Api.ts"
import { type RunningNode, startNode } from "../support/TestNode.ts"

let node: RunningNode
let A: Api
let token: string

interface Client {
  readonly messages: any[]
  readonly send: (m: unknown) => void
  readonly close: () => void
  readonly until: (what: string, check: (ms: any[]) => boolean) => Promise<void>
}

/** A WebSocket client on the test's side, with our own framing (clients mask). */
const connect = (url: string, auth?: string) =>
  new Promise<Client>((resolve, reject) => {
    const req = http.request(url, {
      headers: {
        connection: "Upgrade",
        upgrade: "websocket",
        "sec-websocket-version": "13",
        "sec-websocket-key": Buffer.from("0123456789abcdef").toString("base64"),
        ...(auth ? { authorization: auth } : {}),
      },
    })
    req.on("response", (res) => reject(new Error(`no upgrade: ${res.statusCode}`)))
    req.on("upgrade", (_res, socket: Duplex) => {
      const messages: any[] = []
      const read = frameReader()
      socket.on("data", (chunk: Buffer) => {
        const frames = read(chunk)
        if (frames === "too-large") return
        for (const f of frames)
          if (f.opcode === OP.text) messages.push(JSON.parse(f.payload.toString("utf8")))
      })
      resolve({
        messages,
        send: (m) => socket.write(encodeFrame(OP.text, Buffer.from(JSON.stringify(m)), true)),
        close: () => socket.end(encodeFrame(OP.close, Buffer.alloc(0), true)),
        until: async (what, check) => {
          const deadline = Date.now() + 10_000
          while (!check(messages)) {
            if (Date.now() > deadline)
              throw new Error(
                `timed out waiting for ${what}: ${JSON.stringify(messages.slice(-3))}`,
              )
            await new Promise((r) => setTimeout(r, 20))
          }
        },
      })
    })
    req.on("error", reject)
    req.end()
  })

beforeAll(async () => {
  node = await startNode({ storage: "memory" })
  const u = await makeUser(apiClient(node.url, node.token), "lena", ["repo"])
  token = u.token
  A = apiClient(node.url, token)
  expect((await A("POST", "/user/repos", { name: "live" })).status).toBe(201)
  expect((await A("POST", "/user/repos", { name: "other" })).status).toBe(201)
  expect((await A("POST", "/user/repos", { name: "secret", private: true })).status).toBe(201)
})
afterAll(async () => {
  await node?.close()
})

const events = (ms: any[]) => ms.filter((m) => m.type === "event")

describe("/ws live events", () => {
  it("streams a subscribed repository's events in block order, and resumes from a cursor without gaps", async () => {
    const ws = node.url.replace(/^http/, "ws")
    const first = await connect(`${node.url}/ws`, `Bearer ${token}`)
    first.send({ type: "subscribe", repositories: ["lena/live"] })
    await first.until("subscribed", (ms) => ms.some((m) => m.type === "subscribed"))
    await A("POST", "/repos/lena/live/issues", { title: "before the gap" })
    await A("POST", "/repos/lena/other/issues", { title: "not subscribed" })
    await first.until("first event", (ms) => events(ms).length >= 1)
    const seen = events(first.messages)
    expect(seen.map((e) => [e.event, e.action, e.payload.issue.title])).toEqual([
      ["issues", "opened", "before the gap"],
    ])
    const cursor = seen[0].height
    first.close()

    for (let i = 1; i <= 50; i++)
      await A("POST", "/repos/lena/live/issues", { title: `missed ${i}` })

    const again = await connect(`${ws.replace(/^ws/, "http")}/ws?access_token=${token}`)
    again.send({ type: "subscribe", repositories: ["lena/live"], since: cursor })
    await again.until("50 missed events", (ms) => events(ms).length >= 50)
    await A("POST", "/repos/lena/live/issues", { title: "live again" })
    await again.until("live event", (ms) => events(ms).length >= 51)
    const resumed = events(again.messages)
    expect(resumed.map((e) => e.payload.issue.title)).toEqual([
      ...Array.from({ length: 50 }, (_, i) => `missed ${i + 1}`),
      "live again",
    ])
    const heights = resumed.map((e) => e.height)
    expect(heights.every((h, i) => i === 0 || h > heights[i - 1]!)).toBe(true)
    expect(heights[0]).toBeGreaterThan(cursor)
    again.close()
  })

  it("refuses to subscribe to a repository the client cannot read, and refuses bad tokens", async () => {
    const anon = await connect(`${node.url}/ws`)
    anon.send({ type: "subscribe", repositories: ["lena/secret", "lena/live"] })
    await anon.until("answer", (ms) => ms.some((m) => m.type === "subscribed"))
    expect(anon.messages.find((m) => m.type === "error").message).toMatch(/lena\/secret not found/)
    expect(anon.messages.find((m) => m.type === "subscribed").repositories).toEqual(["lena/live"])
    anon.close()
    await expect(connect(`${node.url}/ws`, "Bearer guts_bad")).rejects.toThrow(/401/)
  })
})
