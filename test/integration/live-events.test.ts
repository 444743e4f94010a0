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

  it("streams an organisation's readable repositories, including ones created later", async () => {
    const olga = await makeUser(apiClient(node.url, node.token), "olga", ["repo", "admin:org"])
    const O = apiClient(node.url, olga.token)
    expect((await O("POST", "/user/orgs", { login: "crew" })).status).toBe(201)
    expect((await O("POST", "/orgs/crew/repos", { name: "one" })).status).toBe(201)
    expect((await O("POST", "/orgs/crew/repos", { name: "hidden", private: true })).status).toBe(
      201,
    )
    const milo = await makeUser(apiClient(node.url, node.token), "milo", ["repo"])
    const c = await connect(`${node.url}/ws`, `Bearer ${milo.token}`)
    c.send({ type: "subscribe", organizations: ["crew", "nocrew"] })
    await c.until("subscribed", (ms) => ms.some((m) => m.type === "subscribed"))
    expect(c.messages.find((m) => m.type === "subscribed").organizations).toEqual(["crew"])
    expect(c.messages.find((m) => m.type === "error").message).toMatch(/nocrew not found/)
    await O("POST", "/repos/crew/hidden/issues", { title: "private to crew" })
    await O("POST", "/repos/crew/one/issues", { title: "in one" })
    expect((await O("POST", "/orgs/crew/repos", { name: "later" })).status).toBe(201)
    await O("POST", "/repos/crew/later/issues", { title: "in later" })
    await A("POST", "/repos/lena/live/issues", { title: "not the organisation's" })
    await c.until("two events", (ms) => events(ms).length >= 2)
    await O("POST", "/repos/crew/one/issues", { title: "last" })
    await c.until("three events", (ms) => events(ms).length >= 3)
    expect(events(c.messages).map((e) => `${e.repository}: ${e.payload.issue.title}`)).toEqual([
      "crew/one: in one",
      "crew/later: in later",
      "crew/one: last",
    ])
    c.close()
  })

  it("streams a user's notifications: issues they opened or are mentioned in, where they can read", async () => {
    const nora = await makeUser(apiClient(node.url, node.token), "nora", ["repo"])
    const N = apiClient(node.url, nora.token)
    const c = await connect(`${node.url}/ws`, `Bearer ${nora.token}`)
    c.send({ type: "subscribe", notifications: true })
    await c.until("subscribed", (ms) => ms.some((m) => m.type === "subscribed"))
    expect(c.messages.find((m) => m.type === "subscribed").notifications).toBe(true)
    await A("POST", "/repos/lena/live/issues", { title: "not about nora" })
    await A("POST", "/repos/lena/secret/issues", { title: "hey @nora (private)" })
    const own = await N("POST", "/repos/lena/live/issues", { title: "nora's own" })
    expect(own.status).toBe(201)
    const other = await A("POST", "/repos/lena/live/issues", { title: "quiet" })
    await A("POST", `/repos/lena/live/issues/${other.body.number}/comments`, {
      body: "what do you think, @Nora?",
    })
    await A("POST", "/repos/lena/live/issues", { title: "mail nora@example.test" })
    await c.until("two notifications", (ms) => events(ms).length >= 2)
    await A("POST", "/repos/lena/live/issues", { title: "last", body: "cc @nora" })
    await c.until("three notifications", (ms) => events(ms).length >= 3)
    expect(events(c.messages).map((e) => `${e.event}: ${e.payload.issue.title}`)).toEqual([
      "issues: nora's own",
      "issue_comment: quiet",
      "issues: last",
    ])
    c.close()
    const anon = await connect(`${node.url}/ws`)
    anon.send({ type: "subscribe", notifications: true })
    await anon.until("error", (ms) => ms.some((m) => m.type === "error"))
    expect(anon.messages.find((m) => m.type === "error").message).toMatch(/need a token/)
    anon.close()
  })
})
