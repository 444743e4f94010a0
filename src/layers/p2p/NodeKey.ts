/**
 * NodeKey: a node's Ed25519 identity. The same key names the node on the network (its
 * `PeerId` is the hex of the 32-byte public key; its libp2p peer id is derived from it) and
 * will sign the node's transactions.
 *
 * Guarantees:
 * - key files are PKCS#8 PEM ("-----BEGIN PRIVATE KEY-----", readable by openssl), written
 *   with mode 0600 and never over an existing file unless asked to;
 * - a key file that group or others may access is refused with the `chmod 600` fix, as ssh
 *   does for its keys, because a leaked validator key lets anyone vote in its name;
 * - loading a file yields exactly the key that was written (same public key, same peer id).
 */
import * as crypto from "node:crypto"
import * as fs from "node:fs"
import * as path from "node:path"
import type { Ed25519PrivateKey } from "@libp2p/interface"
import { privateKeyFromRaw, publicKeyFromRaw } from "@libp2p/crypto/keys"
import { peerIdFromPrivateKey, peerIdFromPublicKey } from "@libp2p/peer-id"
import type { Ed25519PeerId } from "@libp2p/interface"
import { Data, Effect } from "effect"
import type { PeerId } from "../../services/Network.ts"

export interface NodeKey {
  /** Hex of the 32-byte Ed25519 public key: the node's `PeerId` on the Network. */
  readonly publicKeyHex: PeerId
  readonly publicKey: Uint8Array
  readonly privateKeyObject: crypto.KeyObject
  readonly publicKeyObject: crypto.KeyObject
  /** The 32-byte Ed25519 seed; needed to hand the same key to libp2p. */
  readonly seed: Uint8Array
}

export class KeyFileInsecure extends Data.TaggedError("KeyFileInsecure")<{
  readonly path: string
  readonly mode: number
}> {
  override get message() {
    const mode = (this.mode & 0o777).toString(8).padStart(4, "0")
    return `key file ${this.path} is accessible by group or others (mode ${mode}); run: chmod 600 ${this.path}`
  }
}

export class KeyFileInvalid extends Data.TaggedError("KeyFileInvalid")<{
  readonly path: string
  readonly reason: string
}> {
  override get message() {
    return `key file ${this.path} is not an Ed25519 private key: ${this.reason}`
  }
}

export class KeyFileExists extends Data.TaggedError("KeyFileExists")<{
  readonly path: string
}> {
  override get message() {
    return `key file ${this.path} already exists; refusing to overwrite it (use --force to replace the key)`
  }
}

export class KeyFileAccess extends Data.TaggedError("KeyFileAccess")<{
  readonly path: string
  readonly operation: "read" | "write"
  readonly reason: string
}> {
  override get message() {
    return `cannot ${this.operation} key file ${this.path}: ${this.reason}`
  }
}

export type KeyFileError = KeyFileInsecure | KeyFileInvalid | KeyFileExists | KeyFileAccess

// PKCS#8 wrapping of a raw Ed25519 seed (RFC 8410): the fixed prefix precedes the 32 bytes.
const PKCS8_ED25519_PREFIX = Buffer.from("302e020100300506032b657004220420", "hex")

const fromPrivateKeyObject = (privateKeyObject: crypto.KeyObject): NodeKey => {
  const jwk = privateKeyObject.export({ format: "jwk" })
  const seed = new Uint8Array(Buffer.from(jwk.d ?? "", "base64url"))
  const publicKey = new Uint8Array(Buffer.from(jwk.x ?? "", "base64url"))
  return {
    publicKeyHex: Buffer.from(publicKey).toString("hex"),
    publicKey,
    privateKeyObject,
    publicKeyObject: crypto.createPublicKey(privateKeyObject),
    seed,
  }
}

/** A fresh random node key. */
export const generateNodeKey = (): NodeKey =>
  fromPrivateKeyObject(crypto.generateKeyPairSync("ed25519").privateKey)

/** The node key with this 32-byte seed (deterministic: tests and devnets). */
export const nodeKeyFromSeed = (seed: Uint8Array): NodeKey => {
  if (seed.length !== 32) throw new RangeError(`an Ed25519 seed is 32 bytes, got ${seed.length}`)
  return fromPrivateKeyObject(
    crypto.createPrivateKey({
      key: Buffer.concat([PKCS8_ED25519_PREFIX, seed]),
      format: "der",
      type: "pkcs8",
    }),
  )
}

/** PKCS#8 PEM of the private key: the key file's content. */
export const encodeNodeKey = (key: NodeKey): string =>
  key.privateKeyObject.export({ format: "pem", type: "pkcs8" }).toString()

/** Parses a key file's content; `source` names it in errors. */
export const decodeNodeKey = (
  pem: string,
  source: string,
): Effect.Effect<NodeKey, KeyFileInvalid> =>
  Effect.try({
    try: () => crypto.createPrivateKey({ key: pem, format: "pem" }),
    catch: (err) =>
      new KeyFileInvalid({
        path: source,
        reason: `not a PEM private key (${err instanceof Error ? err.message : String(err)})`,
      }),
  }).pipe(
    Effect.filterOrFail(
      (k) => k.asymmetricKeyType === "ed25519",
      (k) => new KeyFileInvalid({ path: source, reason: `it is a ${k.asymmetricKeyType} key` }),
    ),
    Effect.map(fromPrivateKeyObject),
  )

const errnoReason = (err: unknown) =>
  err instanceof Error ? ((err as NodeJS.ErrnoException).code ?? err.message) : String(err)

/**
 * Writes the key file with mode 0600. Without `force` an existing file is never touched;
 * with it, the new key replaces the old one atomically (a crash leaves one or the other).
 */
export const writeNodeKey = (
  file: string,
  key: NodeKey,
  options: { readonly force?: boolean } = {},
): Effect.Effect<void, KeyFileExists | KeyFileAccess> =>
  Effect.try({
    try: () => {
      const pem = encodeNodeKey(key)
      if (!options.force) {
        fs.writeFileSync(file, pem, { mode: 0o600, flag: "wx" })
        return
      }
      const tmp = path.join(
        path.dirname(file),
        `.${path.basename(file)}.${process.pid}.${crypto.randomBytes(4).toString("hex")}.tmp`,
      )
      try {
        fs.writeFileSync(tmp, pem, { mode: 0o600, flag: "wx" })
        fs.renameSync(tmp, file)
      } catch (err) {
        fs.rmSync(tmp, { force: true })
        throw err
      }
    },
    catch: (err) =>
      (err as NodeJS.ErrnoException).code === "EEXIST"
        ? new KeyFileExists({ path: file })
        : new KeyFileAccess({ path: file, operation: "write", reason: errnoReason(err) }),
  })

/** Loads a key file, refusing one that group or others could read or change. */
export const loadNodeKey = (
  file: string,
): Effect.Effect<NodeKey, KeyFileInsecure | KeyFileInvalid | KeyFileAccess> =>
  Effect.gen(function* () {
    const { mode, pem } = yield* Effect.try({
      try: () => {
        // Check the mode of the file we actually read, not of a path that could be swapped.
        const fd = fs.openSync(file, "r")
        try {
          const stat = fs.fstatSync(fd)
          if (!stat.isFile()) throw new Error("not a regular file")
          return { mode: stat.mode, pem: fs.readFileSync(fd, "utf8") }
        } finally {
          fs.closeSync(fd)
        }
      },
      catch: (err) =>
        new KeyFileAccess({ path: file, operation: "read", reason: errnoReason(err) }),
    })
    if (process.platform !== "win32" && (mode & 0o077) !== 0) {
      return yield* new KeyFileInsecure({ path: file, mode })
    }
    return yield* decodeNodeKey(pem, file)
  })

/** The key as libp2p wants it (its raw form is seed ‖ public key). */
export const libp2pPrivateKey = (key: NodeKey): Ed25519PrivateKey =>
  privateKeyFromRaw(Buffer.concat([key.seed, key.publicKey])) as Ed25519PrivateKey

/** The libp2p peer id ("12D3KooW...") of this node key. */
export const libp2pPeerIdOf = (key: NodeKey): Ed25519PeerId =>
  peerIdFromPrivateKey(libp2pPrivateKey(key))

const HEX_KEY = /^[0-9a-f]{64}$/

/** Whether `hex` is a well-formed Network PeerId (lowercase hex of 32 bytes). */
export const isPeerIdHex = (hex: string): boolean => HEX_KEY.test(hex)

/** The libp2p peer id of a Network PeerId (hex public key). */
export const libp2pPeerIdOfHex = (hex: PeerId): Ed25519PeerId => {
  if (!isPeerIdHex(hex)) throw new RangeError(`not a hex Ed25519 public key: ${hex}`)
  return peerIdFromPublicKey(publicKeyFromRaw(Buffer.from(hex, "hex")) as never) as Ed25519PeerId
}

/** The Network PeerId (hex public key) of a libp2p Ed25519 peer id, if it is one. */
export const hexOfLibp2pPeerId = (peerId: {
  readonly type: string
  readonly publicKey?: { readonly raw: Uint8Array } | undefined
}): PeerId | undefined =>
  peerId.type === "Ed25519" && peerId.publicKey !== undefined
    ? Buffer.from(peerId.publicKey.raw).toString("hex")
    : undefined

/** Ed25519 signature (64 bytes) of `message` by the node key. */
export const sign = (key: NodeKey, message: Uint8Array): Uint8Array =>
  new Uint8Array(crypto.sign(null, message, key.privateKeyObject))

const publicKeyObjects = new Map<string, crypto.KeyObject>()

const publicKeyObjectOf = (publicKey: PeerId | Uint8Array): crypto.KeyObject | undefined => {
  const hex = typeof publicKey === "string" ? publicKey : Buffer.from(publicKey).toString("hex")
  if (!isPeerIdHex(hex)) return undefined
  let object = publicKeyObjects.get(hex)
  if (object === undefined) {
    object = crypto.createPublicKey({
      key: { kty: "OKP", crv: "Ed25519", x: Buffer.from(hex, "hex").toString("base64url") },
      format: "jwk",
    })
    // Validators are few; the cache only avoids re-parsing their keys on every vote.
    if (publicKeyObjects.size >= 4096) publicKeyObjects.clear()
    publicKeyObjects.set(hex, object)
  }
  return object
}

/**
 * Whether `signature` is a valid Ed25519 signature of `message` by `publicKey` (hex PeerId
 * or 32 raw bytes). Malformed keys or signatures are simply invalid, never an exception.
 */
export const verify = (
  publicKey: PeerId | Uint8Array,
  message: Uint8Array,
  signature: Uint8Array,
): boolean => {
  if (signature.length !== 64) return false
  const object = publicKeyObjectOf(publicKey)
  if (object === undefined) return false
  try {
    return crypto.verify(null, message, object, signature)
  } catch {
    return false
  }
}
