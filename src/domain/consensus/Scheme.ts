/**
 * Signing schemes for votes (spec §2). Every signature covers
 * `varint(len(ns')) ‖ ns' ‖ message` where ns' is the namespace with its suffix
 * ("_NOTARIZE", "_NULLIFY", "_FINALIZE"), so a signature for one vote kind, namespace or
 * (through the encoded round inside the message) epoch never verifies as another.
 *
 * - Ed25519Scheme: real signatures through node:crypto (deterministic, RFC 8032).
 * - SimScheme: a fast keyed (non-cryptographic) hash for large simulations. INSECURE: the
 *   "public key" is the signer's secret. It still rejects wrong signers, flipped bits and other
 *   namespaces, which is all the protocol logic can observe.
 *
 * Both derive keys deterministically from a 32-byte seed, so seeded runs reproduce.
 */
import {
  createHash,
  createPrivateKey,
  createPublicKey,
  type KeyObject,
  sign as cryptoSign,
  verify as cryptoVerify,
} from "node:crypto"
import { writeVarint } from "./Varint.ts"

export type PublicKey = Uint8Array

/** A participant's signing key. */
export interface Signer {
  readonly publicKey: PublicKey
  /** Signs `message` under the suffixed namespace `ns`. */
  sign(ns: Uint8Array, message: Uint8Array): Uint8Array
}

export interface VerifyItem {
  readonly publicKey: PublicKey
  readonly ns: Uint8Array
  readonly message: Uint8Array
  readonly signature: Uint8Array
}

export interface Scheme {
  readonly name: "ed25519" | "sim"
  readonly publicKeyLength: number
  readonly signatureLength: number
  /** Deterministic key from a 32-byte seed. */
  signerFromSeed(seed: Uint8Array): Signer
  verify(publicKey: PublicKey, ns: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean
  /** True iff every item verifies (may be cheaper than verifying one by one). */
  verifyBatch(items: ReadonlyArray<VerifyItem>): boolean
}

export const NOTARIZE_SUFFIX = "_NOTARIZE"
export const NULLIFY_SUFFIX = "_NULLIFY"
export const FINALIZE_SUFFIX = "_FINALIZE"

/** namespace ‖ suffix. */
export const suffixed = (namespace: Uint8Array, suffix: string): Uint8Array => {
  const s = Buffer.from(suffix, "utf8")
  const out = new Uint8Array(namespace.length + s.length)
  out.set(namespace)
  out.set(s, namespace.length)
  return out
}

// The framing prefix `varint(len(ns')) ‖ ns'` depends only on ns', which engines reuse;
// caching by identity saves an allocation and a copy per signature.
const prefixes = new WeakMap<Uint8Array, Uint8Array>()

const framePrefix = (ns: Uint8Array): Uint8Array => {
  let p = prefixes.get(ns)
  if (p === undefined) {
    const tmp = new Uint8Array(10 + ns.length)
    const off = writeVarint(tmp, 0, BigInt(ns.length))
    tmp.set(ns, off)
    p = tmp.slice(0, off + ns.length)
    prefixes.set(ns, p)
  }
  return p
}

/** The exact bytes a signature covers: `varint(len(ns)) ‖ ns ‖ message`. */
export const signedBytes = (ns: Uint8Array, message: Uint8Array): Uint8Array => {
  const p = framePrefix(ns)
  const out = Buffer.allocUnsafe(p.length + message.length)
  out.set(p)
  out.set(message, p.length)
  return out
}

// ---------------------------------------------------------------------------------------
// Ed25519 (node:crypto)

const PKCS8_ED25519_PREFIX = Buffer.from("302e020100300506032b657004220420", "hex")
const SPKI_ED25519_PREFIX = Buffer.from("302a300506032b6570032100", "hex")

const privateKeyFromSeed = (seed: Uint8Array): KeyObject =>
  createPrivateKey({
    key: Buffer.concat([PKCS8_ED25519_PREFIX, seed]),
    format: "der",
    type: "pkcs8",
  })

/** Raw 32-byte Ed25519 public key of a seed. */
export const ed25519PublicKey = (seed: Uint8Array): Uint8Array => {
  const der = createPublicKey(privateKeyFromSeed(seed)).export({ format: "der", type: "spki" })
  return new Uint8Array(der.subarray(der.length - 32))
}

const checkSeed = (seed: Uint8Array): void => {
  if (seed.length !== 32) throw new Error(`key seed must be 32 bytes, got ${seed.length}`)
}

class Ed25519Signer implements Signer {
  private readonly key: KeyObject
  readonly publicKey: PublicKey
  constructor(seed: Uint8Array) {
    checkSeed(seed)
    this.key = privateKeyFromSeed(seed)
    const der = createPublicKey(this.key).export({ format: "der", type: "spki" })
    this.publicKey = new Uint8Array(der.subarray(der.length - 32))
  }
  sign(ns: Uint8Array, message: Uint8Array): Uint8Array {
    return new Uint8Array(cryptoSign(null, signedBytes(ns, message), this.key))
  }
}

export class Ed25519Scheme implements Scheme {
  readonly name = "ed25519" as const
  readonly publicKeyLength = 32
  readonly signatureLength = 64
  // Parsing a DER public key costs more than a verification; keep one KeyObject per key.
  private readonly keys = new Map<string, KeyObject | null>()

  signerFromSeed(seed: Uint8Array): Signer {
    return new Ed25519Signer(seed)
  }

  private keyObject(publicKey: PublicKey): KeyObject | null {
    const id = Buffer.from(publicKey.buffer, publicKey.byteOffset, publicKey.length).toString(
      "latin1",
    )
    let k = this.keys.get(id)
    if (k === undefined) {
      try {
        k =
          publicKey.length === 32
            ? createPublicKey({
                key: Buffer.concat([SPKI_ED25519_PREFIX, publicKey]),
                format: "der",
                type: "spki",
              })
            : null
      } catch {
        k = null
      }
      this.keys.set(id, k)
    }
    return k
  }

  verify(
    publicKey: PublicKey,
    ns: Uint8Array,
    message: Uint8Array,
    signature: Uint8Array,
  ): boolean {
    if (signature.length !== 64) return false
    const key = this.keyObject(publicKey)
    if (key === null) return false
    try {
      return cryptoVerify(null, signedBytes(ns, message), key, signature)
    } catch {
      return false
    }
  }

  verifyBatch(items: ReadonlyArray<VerifyItem>): boolean {
    // node:crypto has no batch Ed25519 verification; one by one is still correct.
    for (const it of items)
      if (!this.verify(it.publicKey, it.ns, it.message, it.signature)) return false
    return true
  }
}

// ---------------------------------------------------------------------------------------
// Simulation scheme (INSECURE)
//
// The signature is a 256-bit keyed hash (four multiply–rotate lanes, each finalised
// twice) of `secret ‖ varint(len(ns)) ‖ ns ‖ message`. It is not cryptographic: anyone
// holding the "public key" (the secret) can sign. It is deterministic, changes with every
// input bit, and costs a few hundred nanoseconds where node:crypto costs microseconds.

const SIM_KEY_DOMAIN = Buffer.from("guts-sim-key", "utf8")
const LANE_SEEDS = [0x9e3779b1, 0x85ebca77, 0xc2b2ae3d, 0x27d4eb2f] as const

const absorb = (h: Uint32Array, b: Uint8Array): void => {
  let h0 = h[0]
  let h1 = h[1]
  let h2 = h[2]
  let h3 = h[3]
  const n = b.length
  let i = 0
  for (; i + 4 <= n; i += 4) {
    const w = b[i] | (b[i + 1] << 8) | (b[i + 2] << 16) | (b[i + 3] << 24)
    h0 = Math.imul(((h0 ^ w) << 13) | ((h0 ^ w) >>> 19), 0x9e3779b1) + 0x165667b1
    h1 = Math.imul(((h1 ^ w) << 17) | ((h1 ^ w) >>> 15), 0x85ebca77) + 0x27d4eb2f
    h2 = Math.imul(((h2 + w) << 11) | ((h2 + w) >>> 21), 0xc2b2ae3d) ^ 0x61c88647
    h3 = Math.imul(((h3 ^ w) << 19) | ((h3 ^ w) >>> 13), 0x27d4eb2f) + 0x9e3779b1
  }
  // Tail bytes, then the length, so that inputs differing only in trailing zeros differ.
  let t = 0x80
  for (let k = 0; i < n; i++, k += 8) t ^= b[i] << k
  h0 = Math.imul(h0 ^ t ^ n, 0xcc9e2d51)
  h1 = Math.imul(h1 ^ t ^ n, 0x1b873593)
  h2 = Math.imul(h2 ^ t ^ n, 0xe6546b64)
  h3 = Math.imul(h3 ^ t ^ n, 0x85ebca6b)
  h[0] = h0
  h[1] = h1
  h[2] = h2
  h[3] = h3
}

const fmix = (x: number): number => {
  x ^= x >>> 16
  x = Math.imul(x, 0x85ebca6b)
  x ^= x >>> 13
  x = Math.imul(x, 0xc2b2ae35)
  x ^= x >>> 16
  return x >>> 0
}

const lanes = new Uint32Array(4)
// Keyed states after absorbing each secret, by key object identity (participants reuse
// the same arrays).
const keyedStates = new WeakMap<Uint8Array, Uint32Array>()

const keyedState = (secret: Uint8Array): Uint32Array => {
  let st = keyedStates.get(secret)
  if (st === undefined) {
    st = Uint32Array.from(LANE_SEEDS)
    absorb(st, secret)
    keyedStates.set(secret, st)
  }
  return st
}

/** Writes the 32-byte simulated signature into `out` (or a fresh array). */
const simSignature = (
  secret: Uint8Array,
  ns: Uint8Array,
  message: Uint8Array,
  out = new Uint8Array(32),
): Uint8Array => {
  const st = keyedState(secret)
  lanes[0] = st[0]
  lanes[1] = st[1]
  lanes[2] = st[2]
  lanes[3] = st[3]
  absorb(lanes, framePrefix(ns))
  absorb(lanes, message)
  const a = lanes[0]
  const b = lanes[1]
  const c = lanes[2]
  const d = lanes[3]
  // Cross-mix the lanes so every output word depends on all of them.
  putWord(out, 0, fmix(a ^ Math.imul(b, 3)))
  putWord(out, 4, fmix(b ^ Math.imul(c, 5)))
  putWord(out, 8, fmix(c ^ Math.imul(d, 7)))
  putWord(out, 12, fmix(d ^ Math.imul(a, 11)))
  putWord(out, 16, fmix(a + c + 0x7f4a7c15))
  putWord(out, 20, fmix(b + d + 0x94d049bb))
  putWord(out, 24, fmix((a ^ d) + 0xbf58476d))
  putWord(out, 28, fmix((b ^ c) + 0x1ce4e5b9))
  return out
}

/** Little-endian word `w` at `at`. */
const putWord = (out: Uint8Array, at: number, w: number): void => {
  out[at] = w
  out[at + 1] = w >>> 8
  out[at + 2] = w >>> 16
  out[at + 3] = w >>> 24
}

class SimSigner implements Signer {
  constructor(readonly publicKey: PublicKey) {}
  sign(ns: Uint8Array, message: Uint8Array): Uint8Array {
    return simSignature(this.publicKey, ns, message)
  }
}

const scratch = new Uint8Array(32)

export class SimScheme implements Scheme {
  readonly name = "sim" as const
  readonly publicKeyLength = 32
  readonly signatureLength = 32

  signerFromSeed(seed: Uint8Array): Signer {
    checkSeed(seed)
    return new SimSigner(
      new Uint8Array(createHash("sha256").update(SIM_KEY_DOMAIN).update(seed).digest()),
    )
  }

  verify(
    publicKey: PublicKey,
    ns: Uint8Array,
    message: Uint8Array,
    signature: Uint8Array,
  ): boolean {
    if (signature.length !== 32 || publicKey.length !== 32) return false
    const expected = simSignature(publicKey, ns, message, scratch)
    let diff = 0
    for (let i = 0; i < 32; i++) diff |= expected[i] ^ signature[i]
    return diff === 0
  }

  verifyBatch(items: ReadonlyArray<VerifyItem>): boolean {
    for (const it of items)
      if (!this.verify(it.publicKey, it.ns, it.message, it.signature)) return false
    return true
  }
}
