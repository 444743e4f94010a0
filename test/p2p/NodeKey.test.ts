/**
 * Node keys: file format and permissions, the identities derived from a key, signatures.
 */
import * as crypto from "node:crypto"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { publicKeyFromRaw } from "@libp2p/crypto/keys"
import { peerIdFromPublicKey, peerIdFromString } from "@libp2p/peer-id"
import { Effect } from "effect"
import { afterAll, describe, expect, it } from "vitest"
import {
  generateNodeKey,
  hexOfLibp2pPeerId,
  KeyFileAccess,
  KeyFileExists,
  KeyFileInsecure,
  KeyFileInvalid,
  libp2pPeerIdOf,
  libp2pPeerIdOfHex,
  loadNodeKey,
  nodeKeyFromSeed,
  sign,
  verify,
  writeNodeKey,
} from "../../src/layers/p2p/NodeKey.ts"

const dirs: string[] = []
const tmp = () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "guts-nodekey-"))
  dirs.push(dir)
  return dir
}
afterAll(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true })
})

// RFC 8032, section 7.1, TEST 1 (empty message).
const RFC8032 = {
  seed: "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
  publicKey: "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
  signature:
    "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
}

describe("NodeKey files", () => {
  it("a written key loads back as the same key, and the file has mode 0600", async () => {
    const file = path.join(tmp(), "node.key")
    const key = generateNodeKey()
    await Effect.runPromise(writeNodeKey(file, key))
    expect(fs.statSync(file).mode & 0o777).toBe(0o600)
    expect(fs.readFileSync(file, "utf8")).toMatch(/^-----BEGIN PRIVATE KEY-----\n/)
    const loaded = await Effect.runPromise(loadNodeKey(file))
    expect(loaded.publicKeyHex).toBe(key.publicKeyHex)
    expect(Buffer.from(loaded.seed).equals(Buffer.from(key.seed))).toBe(true)
    expect(libp2pPeerIdOf(loaded).toString()).toBe(libp2pPeerIdOf(key).toString())
    // openssl-compatible: node parses the file as a plain PKCS#8 Ed25519 key
    const parsed = crypto.createPrivateKey(fs.readFileSync(file))
    expect(parsed.asymmetricKeyType).toBe("ed25519")
  })

  for (const mode of [0o640, 0o644, 0o604, 0o660, 0o620]) {
    it(`refuses to load a key file with mode 0${mode.toString(8)}, naming the chmod fix`, async () => {
      const file = path.join(tmp(), "node.key")
      await Effect.runPromise(writeNodeKey(file, generateNodeKey()))
      fs.chmodSync(file, mode)
      const error = await Effect.runPromise(Effect.flip(loadNodeKey(file)))
      expect(error).toBeInstanceOf(KeyFileInsecure)
      expect(error.message).toContain(`chmod 600 ${file}`)
      expect((error as KeyFileInsecure).mode & 0o777).toBe(mode)
    })
  }

  it("loads a key file once its mode is fixed to 0600 (or 0400)", async () => {
    const file = path.join(tmp(), "node.key")
    const key = generateNodeKey()
    await Effect.runPromise(writeNodeKey(file, key))
    fs.chmodSync(file, 0o644)
    fs.chmodSync(file, 0o400)
    expect((await Effect.runPromise(loadNodeKey(file))).publicKeyHex).toBe(key.publicKeyHex)
  })

  it("never overwrites an existing file unless forced; forced, it replaces the key with mode 0600", async () => {
    const file = path.join(tmp(), "node.key")
    const first = generateNodeKey()
    await Effect.runPromise(writeNodeKey(file, first))
    const before = fs.readFileSync(file, "utf8")
    const error = await Effect.runPromise(Effect.flip(writeNodeKey(file, generateNodeKey())))
    expect(error).toBeInstanceOf(KeyFileExists)
    expect(error.message).toContain("--force")
    expect(fs.readFileSync(file, "utf8")).toBe(before)

    fs.chmodSync(file, 0o644)
    const second = generateNodeKey()
    await Effect.runPromise(writeNodeKey(file, second, { force: true }))
    expect(fs.statSync(file).mode & 0o777).toBe(0o600)
    expect((await Effect.runPromise(loadNodeKey(file))).publicKeyHex).toBe(second.publicKeyHex)
    expect(fs.readdirSync(path.dirname(file))).toEqual(["node.key"])
  })

  it("reports a missing file, a non-key file and a non-Ed25519 key with typed errors", async () => {
    const dir = tmp()
    const missing = await Effect.runPromise(Effect.flip(loadNodeKey(path.join(dir, "nope"))))
    expect(missing).toBeInstanceOf(KeyFileAccess)
    expect(missing.message).toContain("ENOENT")

    const garbage = path.join(dir, "garbage.key")
    fs.writeFileSync(garbage, "hello\n", { mode: 0o600 })
    expect(await Effect.runPromise(Effect.flip(loadNodeKey(garbage)))).toBeInstanceOf(
      KeyFileInvalid,
    )

    const ec = path.join(dir, "ec.key")
    const { privateKey } = crypto.generateKeyPairSync("ec", { namedCurve: "P-256" })
    fs.writeFileSync(ec, privateKey.export({ format: "pem", type: "pkcs8" }), { mode: 0o600 })
    const wrongType = await Effect.runPromise(Effect.flip(loadNodeKey(ec)))
    expect(wrongType).toBeInstanceOf(KeyFileInvalid)
    expect(wrongType.message).toContain("ec")

    const unwritable = await Effect.runPromise(
      Effect.flip(writeNodeKey(path.join(dir, "no-such-dir", "k"), generateNodeKey())),
    )
    expect(unwritable).toBeInstanceOf(KeyFileAccess)
  })
})

describe("NodeKey identities and signatures", () => {
  it("derives the RFC 8032 public key from its seed, and signs as RFC 8032 says", () => {
    const key = nodeKeyFromSeed(Buffer.from(RFC8032.seed, "hex"))
    expect(key.publicKeyHex).toBe(RFC8032.publicKey)
    expect(Buffer.from(sign(key, new Uint8Array(0))).toString("hex")).toBe(RFC8032.signature)
    expect(
      verify(RFC8032.publicKey, new Uint8Array(0), Buffer.from(RFC8032.signature, "hex")),
    ).toBe(true)
  })

  it("derives one libp2p peer id per key, the same from the private key and from the hex", () => {
    const key = nodeKeyFromSeed(Buffer.from(RFC8032.seed, "hex"))
    const fromPrivate = libp2pPeerIdOf(key).toString()
    const fromHex = libp2pPeerIdOfHex(key.publicKeyHex).toString()
    const fromLibp2p = peerIdFromPublicKey(
      publicKeyFromRaw(Buffer.from(RFC8032.publicKey, "hex")) as never,
    ).toString()
    expect(fromPrivate).toMatch(/^12D3KooW/)
    expect(fromHex).toBe(fromPrivate)
    expect(fromLibp2p).toBe(fromPrivate)
    // the same seed gives the same id again, and the id maps back to the hex key
    expect(libp2pPeerIdOf(nodeKeyFromSeed(key.seed)).toString()).toBe(fromPrivate)
    expect(hexOfLibp2pPeerId(peerIdFromString(fromPrivate))).toBe(key.publicKeyHex)
    expect(libp2pPeerIdOf(generateNodeKey()).toString()).not.toBe(fromPrivate)
  })

  it("verifies its own signatures and rejects a changed message, signature or signer", () => {
    const key = generateNodeKey()
    const other = generateNodeKey()
    const message = new TextEncoder().encode("transfer refs/heads/main")
    const signature = sign(key, message)
    expect(signature.length).toBe(64)
    expect(verify(key.publicKeyHex, message, signature)).toBe(true)
    expect(verify(key.publicKey, message, signature)).toBe(true)
    const changed = Uint8Array.from(message)
    changed[0] ^= 1
    expect(verify(key.publicKeyHex, changed, signature)).toBe(false)
    const forged = Uint8Array.from(signature)
    forged[10] ^= 1
    expect(verify(key.publicKeyHex, message, forged)).toBe(false)
    expect(verify(other.publicKeyHex, message, signature)).toBe(false)
  })

  it("treats malformed keys and signatures as invalid, without throwing", () => {
    const key = generateNodeKey()
    const message = new Uint8Array([1, 2, 3])
    const signature = sign(key, message)
    expect(verify("zz", message, signature)).toBe(false)
    expect(verify(new Uint8Array(31), message, signature)).toBe(false)
    expect(verify(key.publicKeyHex, message, signature.subarray(0, 63))).toBe(false)
    expect(verify(key.publicKeyHex, message, new Uint8Array(64))).toBe(false)
    expect(() => nodeKeyFromSeed(new Uint8Array(31))).toThrow(RangeError)
    expect(() => libp2pPeerIdOfHex("12")).toThrow(RangeError)
  })
})
