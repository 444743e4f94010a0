/**
 * Anonymous rate limits behind a reverse proxy: X-Forwarded-For names the client only
 * when the connection comes from a trusted proxy (`trusted-proxies`); from anyone else the
 * header is ignored, so a client cannot escape its budget by writing a new address in it.
 */
import type * as http from "node:http"
import { afterAll, describe, expect, it } from "vitest"
import { clientAddress } from "../../src/layers/http/ClientAddress.ts"
import { type RunningNode, startNode } from "../support/TestNode.ts"

const request = (peer: string, forwardedFor?: string) =>
  ({
    socket: { remoteAddress: peer },
    headers: forwardedFor === undefined ? {} : { "x-forwarded-for": forwardedFor },
  }) as unknown as http.IncomingMessage

describe("client address", () => {
  it("believes X-Forwarded-For only from trusted proxies, read from the nearest hop", () => {
    const trusted = ["127.0.0.1", "10.0.0.0/8"]
    expect(clientAddress(request("127.0.0.1", "198.51.100.7"), trusted)).toBe("198.51.100.7")
    expect(clientAddress(request("::ffff:127.0.0.1", "198.51.100.7"), trusted)).toBe("198.51.100.7")
    // A client-written first entry does not win over the hop our proxies saw.
    expect(clientAddress(request("127.0.0.1", "6.6.6.6, 198.51.100.7, 10.1.2.3"), trusted)).toBe(
      "198.51.100.7",
    )
    // From an untrusted peer, or with no trusted proxies at all, the header is ignored.
    expect(clientAddress(request("192.0.2.9", "198.51.100.7"), trusted)).toBe("192.0.2.9")
    expect(clientAddress(request("127.0.0.1", "198.51.100.7"), undefined)).toBe("127.0.0.1")
    expect(clientAddress(request("127.0.0.1", "garbage"), trusted)).toBe("127.0.0.1")
  })
})

const nodes: RunningNode[] = []
afterAll(async () => {
  for (const n of nodes) await n.close()
})

const get = (node: RunningNode, forwardedFor: string) =>
  fetch(`${node.url}/api/users/admin`, { headers: { "x-forwarded-for": forwardedFor } })

describe("anonymous rate limit behind a proxy", () => {
  it("counts each forwarded client separately when the proxy is trusted", async () => {
    const node = await startNode({
      storage: "memory",
      config: { rateLimitAnonymous: 2, trustedProxies: ["127.0.0.1", "::1"] },
    })
    nodes.push(node)
    expect((await get(node, "198.51.100.1")).status).toBe(200)
    expect((await get(node, "198.51.100.1")).status).toBe(200)
    const third = await get(node, "198.51.100.1")
    expect(third.status).toBe(403)
    expect(((await third.json()) as { message: string }).message).toContain(
      "API rate limit exceeded for 198.51.100.1.",
    )
    expect((await get(node, "198.51.100.2")).status).toBe(200)
  })

  it("ignores X-Forwarded-For from an address that is not a trusted proxy", async () => {
    const node = await startNode({
      storage: "memory",
      config: { rateLimitAnonymous: 2, trustedProxies: ["10.0.0.0/8"] },
    })
    nodes.push(node)
    expect((await get(node, "198.51.100.1")).status).toBe(200)
    expect((await get(node, "198.51.100.2")).status).toBe(200)
    const third = await get(node, "198.51.100.3")
    expect(third.status).toBe(403)
    expect(((await third.json()) as { message: string }).message).toMatch(
      /API rate limit exceeded for (127\.0\.0\.1|::1)\./,
    )
  })
})
