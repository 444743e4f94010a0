import { createPublicKey, verify as cryptoVerify } from "node:crypto"
import { describe, expect, it } from "vitest"
import {
  Ed25519Scheme,
  ed25519PublicKey,
  type Scheme,
  SimScheme,
  signedBytes,
  suffixed,
} from "../../src/domain/consensus/Scheme.ts"
import { Signing } from "../../src/domain/consensus/Signing.ts"
import type { Proposal } from "../../src/domain/consensus/Types.ts"
import { NAMESPACE, seedOf } from "./Harness.ts"

const ns = suffixed(NAMESPACE, "_NOTARIZE")
const message = new TextEncoder().encode("a proposal")

const flip = (b: Uint8Array, bit: number): Uint8Array => {
  const out = Uint8Array.from(b)
  out[bit >> 3] ^= 1 << (bit & 7)
  return out
}

describe.each([
  ["ed25519", new Ed25519Scheme() as Scheme],
  ["sim", new SimScheme() as Scheme],
])("%s scheme", (_name, scheme) => {
  const alice = scheme.signerFromSeed(seedOf(1))
  const bob = scheme.signerFromSeed(seedOf(2))

  it("derives the same key from the same seed and signs deterministically", () => {
    const again = scheme.signerFromSeed(seedOf(1))
    expect(again.publicKey).toEqual(alice.publicKey)
    expect(again.sign(ns, message)).toEqual(alice.sign(ns, message))
    expect(alice.sign(ns, message).length).toBe(scheme.signatureLength)
  })

  it("verifies a signature with the signer's key only", () => {
    const sig = alice.sign(ns, message)
    expect(scheme.verify(alice.publicKey, ns, message, sig)).toBe(true)
    expect(scheme.verify(bob.publicKey, ns, message, sig)).toBe(false)
  })

  it("rejects a flipped bit anywhere in the signature or the message", () => {
    const sig = alice.sign(ns, message)
    for (let bit = 0; bit < sig.length * 8; bit += 7)
      expect(scheme.verify(alice.publicKey, ns, message, flip(sig, bit))).toBe(false)
    for (let bit = 0; bit < message.length * 8; bit += 3)
      expect(scheme.verify(alice.publicKey, ns, flip(message, bit), sig)).toBe(false)
  })

  it("separates namespaces and vote kinds", () => {
    const sig = alice.sign(ns, message)
    expect(scheme.verify(alice.publicKey, suffixed(NAMESPACE, "_FINALIZE"), message, sig)).toBe(
      false,
    )
    expect(
      scheme.verify(
        alice.publicKey,
        suffixed(new TextEncoder().encode("other"), "_NOTARIZE"),
        message,
        sig,
      ),
    ).toBe(false)
  })

  it("rejects votes for another epoch, signer or view through the signed subject", () => {
    const participants = [alice.publicKey, bob.publicKey]
    const signing = new Signing(scheme, NAMESPACE, participants)
    const p: Proposal = {
      round: { epoch: 333n, view: 9n },
      parent: 8n,
      payload: new Uint8Array(32).fill(1),
    }
    const vote = signing.notarize(alice, 0, p)
    expect(signing.verifyVote(vote)).toBe(true)
    const otherEpoch = { ...vote, proposal: { ...p, round: { epoch: 334n, view: 9n } } }
    expect(signing.verifyVote(otherEpoch)).toBe(false)
    const otherView = { ...vote, proposal: { ...p, round: { epoch: 333n, view: 10n } } }
    expect(signing.verifyVote(otherView)).toBe(false)
    const impersonated = { ...vote, attestation: { ...vote.attestation, signer: 1 } }
    expect(signing.verifyVote(impersonated)).toBe(false)
    const outOfRange = { ...vote, attestation: { ...vote.attestation, signer: 7 } }
    expect(signing.verifyVote(outOfRange)).toBe(false)
  })

  it("batch-verifies only when every item is valid", () => {
    const good = { publicKey: alice.publicKey, ns, message, signature: alice.sign(ns, message) }
    const other = { publicKey: bob.publicKey, ns, message, signature: bob.sign(ns, message) }
    expect(scheme.verifyBatch([good, other])).toBe(true)
    expect(scheme.verifyBatch([good, { ...other, signature: flip(other.signature, 5) }])).toBe(
      false,
    )
  })
})

describe("Ed25519 interoperability", () => {
  const SPKI = Buffer.from("302a300506032b6570032100", "hex")
  const scheme = new Ed25519Scheme()
  const signer = scheme.signerFromSeed(seedOf(3))

  it("signs varint(len(ns')) ‖ ns' ‖ message, verifiable by node:crypto directly", () => {
    const sig = signer.sign(ns, message)
    const framed = Uint8Array.from([ns.length, ...ns, ...message])
    expect([...signedBytes(ns, message)]).toEqual([...framed])
    const key = createPublicKey({
      key: Buffer.concat([SPKI, signer.publicKey]),
      format: "der",
      type: "spki",
    })
    expect(cryptoVerify(null, framed, key, sig)).toBe(true)
    expect(cryptoVerify(null, framed, key, flip(sig, 100))).toBe(false)
    expect(cryptoVerify(null, message, key, sig)).toBe(false)
  })

  it("derives the RFC 8032 public key of the seed", () => {
    // RFC 8032 §7.1, test 1.
    const seed = Buffer.from(
      "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
      "hex",
    )
    expect(Buffer.from(ed25519PublicKey(seed)).toString("hex")).toBe(
      "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
    )
    expect(Buffer.from(scheme.signerFromSeed(seed).publicKey).toString("hex")).toBe(
      "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
    )
  })

  it("rejects malformed public keys without throwing", () => {
    const sig = signer.sign(ns, message)
    expect(scheme.verify(new Uint8Array(31), ns, message, sig)).toBe(false)
    expect(scheme.verify(signer.publicKey, ns, message, sig.subarray(0, 63))).toBe(false)
  })
})
