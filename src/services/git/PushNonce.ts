/**
 * Nonces for signed pushes (`push-cert=<nonce>` in the receive-pack advertisement). A
 * nonce is `<seconds>-<mac>`: the time it was issued and an HMAC over the repository and
 * that time with this node's secret, so the node can check a certificate's nonce without
 * remembering what it handed out. Valid for ten minutes, and only for the node that issued
 * it (behind a load balancer, keep a git client's requests on one node).
 */
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto"

const VALID_SECONDS = 600

export const makePushNonces = (secret: Uint8Array = randomBytes(32)) => {
  const mac = (repo: string, seconds: number) =>
    createHmac("sha256", secret)
      .update(`${repo.toLowerCase()}\n${seconds}`)
      .digest("hex")
      .slice(0, 32)
  return {
    issue: (repo: string, nowMs: number) => {
      const seconds = Math.floor(nowMs / 1000)
      return `${seconds}-${mac(repo, seconds)}`
    },
    /** Undefined when valid, else why not. */
    problem: (repo: string, nonce: string, nowMs: number): string | undefined => {
      const m = /^(\d{1,12})-([0-9a-f]{32})$/.exec(nonce)
      if (!m) return "the certificate's nonce was not issued by this node"
      const seconds = Number(m[1])
      const expected = Buffer.from(mac(repo, seconds), "hex")
      if (!timingSafeEqual(expected, Buffer.from(m[2]!, "hex")))
        return "the certificate's nonce was not issued by this node for this repository"
      const age = Math.floor(nowMs / 1000) - seconds
      if (age < -60 || age > VALID_SECONDS) return "the certificate's nonce has expired; push again"
      return undefined
    },
  }
}

export type PushNonces = ReturnType<typeof makePushNonces>
