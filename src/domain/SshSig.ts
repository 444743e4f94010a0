/**
 * SSH public keys and SSH signatures (OpenSSH's `PROTOCOL.sshsig`, what `ssh-keygen -Y sign`
 * and git with `gpg.format=ssh` produce). Ed25519 only: other key types are refused with a
 * reason, never half-verified.
 *
 * Wire format facts used here: SSH strings are a uint32 big-endian length and bytes; an
 * Ed25519 public key blob is string("ssh-ed25519") string(32 bytes); a signature blob is
 * string("ssh-ed25519") string(64 bytes). The signed data is "SSHSIG" string(namespace)
 * string(reserved) string(hash algorithm) string(hash of the message).
 */
import { createHash, createPublicKey, verify } from "node:crypto"

export interface SshPublicKey {
  readonly type: "ssh-ed25519"
  /** The 32-byte Ed25519 key. */
  readonly raw: Uint8Array
  /** `SHA256:` and the unpadded base64 of the blob's sha256, as `ssh-keygen -l` shows. */
  readonly fingerprint: string
  /** `ssh-ed25519 AAAA…` without the comment: the canonical form we store. */
  readonly canonical: string
}

export class SshFormatError {
  readonly _tag = "SshFormatError"
  constructor(readonly message: string) {}
}

const readString = (buf: Buffer, at: number): { value: Buffer; next: number } | undefined => {
  if (at + 4 > buf.length) return undefined
  const len = buf.readUInt32BE(at)
  if (at + 4 + len > buf.length) return undefined
  return { value: buf.subarray(at + 4, at + 4 + len), next: at + 4 + len }
}

const fingerprintOf = (blob: Buffer) =>
  `SHA256:${createHash("sha256").update(blob).digest("base64").replace(/=+$/, "")}`

const keyFromBlob = (blob: Buffer): SshPublicKey | SshFormatError => {
  const type = readString(blob, 0)
  if (!type) return new SshFormatError("truncated public key")
  const name = type.value.toString("latin1")
  if (name !== "ssh-ed25519")
    return new SshFormatError(`unsupported key type ${name} (only ssh-ed25519 is accepted)`)
  const key = readString(blob, type.next)
  if (!key || key.value.length !== 32 || key.next !== blob.length)
    return new SshFormatError("malformed ssh-ed25519 public key")
  return {
    type: "ssh-ed25519",
    raw: new Uint8Array(key.value),
    fingerprint: fingerprintOf(blob),
    canonical: `ssh-ed25519 ${blob.toString("base64")}`,
  }
}

/** Parses an OpenSSH public key line (`ssh-ed25519 AAAA… comment`). */
export const parsePublicKey = (line: string): SshPublicKey | SshFormatError => {
  const parts = line.trim().split(/\s+/)
  if (parts.length < 2) return new SshFormatError("a key is '<type> <base64> [comment]'")
  if (parts[0] !== "ssh-ed25519")
    return new SshFormatError(`unsupported key type ${parts[0]} (only ssh-ed25519 is accepted)`)
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(parts[1]!))
    return new SshFormatError("the key is not valid base64")
  const parsed = keyFromBlob(Buffer.from(parts[1]!, "base64"))
  if (parsed instanceof SshFormatError) return parsed
  return parsed
}

export interface SshSignature {
  readonly key: SshPublicKey
  readonly namespace: string
  readonly hashAlgorithm: "sha256" | "sha512"
  readonly signature: Uint8Array
}

/** Parses an armored `-----BEGIN SSH SIGNATURE-----` block. */
export const parseSignature = (armored: string): SshSignature | SshFormatError => {
  const m = /-----BEGIN SSH SIGNATURE-----([\s\S]*?)-----END SSH SIGNATURE-----/.exec(armored)
  if (!m) return new SshFormatError("no SSH signature block")
  const body = m[1]!.replace(/\s+/g, "")
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(body))
    return new SshFormatError("the signature is not valid base64")
  const blob = Buffer.from(body, "base64")
  if (blob.length < 10 || blob.subarray(0, 6).toString("latin1") !== "SSHSIG")
    return new SshFormatError("not an SSHSIG signature")
  if (blob.readUInt32BE(6) !== 1)
    return new SshFormatError(`unsupported SSHSIG version ${blob.readUInt32BE(6)}`)
  const pub = readString(blob, 10)
  const ns = pub && readString(blob, pub.next)
  const reserved = ns && readString(blob, ns.next)
  const hash = reserved && readString(blob, reserved.next)
  const sig = hash && readString(blob, hash.next)
  if (!pub || !ns || !reserved || !hash || !sig || sig.next !== blob.length)
    return new SshFormatError("truncated SSHSIG signature")
  const key = keyFromBlob(Buffer.from(pub.value))
  if (key instanceof SshFormatError) return key
  const algorithm = hash.value.toString("latin1")
  if (algorithm !== "sha256" && algorithm !== "sha512")
    return new SshFormatError(`unsupported signature hash ${algorithm}`)
  const sigType = readString(sig.value, 0)
  const sigBytes = sigType && readString(sig.value, sigType.next)
  if (
    !sigType ||
    !sigBytes ||
    sigType.value.toString("latin1") !== "ssh-ed25519" ||
    sigBytes.value.length !== 64
  )
    return new SshFormatError("malformed ssh-ed25519 signature")
  return {
    key,
    namespace: ns.value.toString("utf8"),
    hashAlgorithm: algorithm,
    signature: new Uint8Array(sigBytes.value),
  }
}

const sshString = (bytes: Uint8Array) => {
  const len = Buffer.alloc(4)
  len.writeUInt32BE(bytes.length)
  return Buffer.concat([len, bytes])
}

/** True when `sig` is a valid signature by `sig.key` of `message` in `namespace`. */
export const verifySignature = (
  sig: SshSignature,
  message: Uint8Array,
  namespace: string,
): boolean => {
  if (sig.namespace !== namespace) return false
  const digest = createHash(sig.hashAlgorithm).update(message).digest()
  const signed = Buffer.concat([
    Buffer.from("SSHSIG", "latin1"),
    sshString(Buffer.from(namespace, "utf8")),
    sshString(Buffer.alloc(0)),
    sshString(Buffer.from(sig.hashAlgorithm, "latin1")),
    sshString(digest),
  ])
  try {
    const key = createPublicKey({
      key: { kty: "OKP", crv: "Ed25519", x: Buffer.from(sig.key.raw).toString("base64url") },
      format: "jwk",
    })
    return verify(null, signed, key, sig.signature)
  } catch {
    return false
  }
}
