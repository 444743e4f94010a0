/**
 * The client's address behind reverse proxies. `X-Forwarded-For` is believed only when the
 * connection comes from a configured trusted proxy (`trusted-proxies`); anyone else could
 * write any address into it and so escape the anonymous rate limit. The header is read
 * from the right (the hop nearest to us) leftwards, skipping trusted proxies: the first
 * address that is not one is the client. When every hop is trusted, the leftmost one is.
 */
import { BlockList, isIP } from "node:net"
import type * as http from "node:http"

const unmapped = (address: string) =>
  address.startsWith("::ffff:") && isIP(address.slice(7)) === 4 ? address.slice(7) : address

const family = (address: string) => (isIP(address) === 6 ? "ipv6" : "ipv4")

/** A matcher of the trusted proxies (addresses and CIDR ranges). */
export const trustedProxies = (entries: ReadonlyArray<string> | undefined) => {
  if (entries === undefined || entries.length === 0) return () => false
  const list = new BlockList()
  for (const entry of entries) {
    const [address, bits] = entry.split("/")
    if (!address || isIP(address) === 0) continue
    if (bits === undefined) list.addAddress(address, family(address))
    else list.addSubnet(address, Number(bits), family(address))
  }
  return (address: string) => {
    const a = unmapped(address)
    return isIP(a) !== 0 && list.check(a, family(a))
  }
}

const matchers = new WeakMap<ReadonlyArray<string>, (address: string) => boolean>()

/** The client address of a request, given the trusted proxies. */
export const clientAddress = (
  req: http.IncomingMessage,
  trusted: ReadonlyArray<string> | undefined,
): string => {
  const peer = unmapped(req.socket.remoteAddress ?? "?")
  if (trusted === undefined || trusted.length === 0) return peer
  let isTrusted = matchers.get(trusted)
  if (!isTrusted) {
    isTrusted = trustedProxies(trusted)
    matchers.set(trusted, isTrusted)
  }
  if (!isTrusted(peer)) return peer
  const header = req.headers["x-forwarded-for"]
  const hops = (Array.isArray(header) ? header.join(",") : (header ?? ""))
    .split(",")
    .map((h) => unmapped(h.trim()))
    .filter((h) => isIP(h) !== 0)
  for (let i = hops.length - 1; i >= 0; i--) if (!isTrusted(hops[i]!)) return hops[i]!
  return hops[0] ?? peer
}
