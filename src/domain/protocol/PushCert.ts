/**
 * Push certificates (`git push --signed`, git's pack-protocol `push-cert`): the signed
 * statement "pusher P asks pushee U, with nonce N, to make these ref changes". The
 * certificate replaces the command list of the push; its text up to the signature is what
 * the pusher signed.
 *
 * `parsePushCert` works on the verbatim text (what travels in the transaction), so every
 * validator re-derives the same commands and payload from the same bytes.
 */
import { isObjectId, type ObjectId } from "../git/ObjectId.ts"
import { verifySignature, parseSignature, SshFormatError } from "../SshSig.ts"
import type { RefCommand } from "./ReceiveRequest.ts"

export interface PushCert {
  readonly text: string
  /** The signed part: header, blank line and commands. */
  readonly payload: string
  readonly version: string
  readonly pusher: string
  readonly pushee: string
  readonly nonce: string
  readonly commands: ReadonlyArray<RefCommand>
  /** The armored signature block. */
  readonly signature: string
}

export class PushCertError {
  readonly _tag = "PushCertError"
  constructor(readonly message: string) {}
}

const SIGNATURE_STARTS = ["-----BEGIN SSH SIGNATURE-----", "-----BEGIN PGP SIGNATURE-----"]

export const parsePushCert = (text: string): PushCert | PushCertError => {
  const sigAt = Math.min(
    ...SIGNATURE_STARTS.map((s) => {
      const i = text.indexOf(s)
      return i < 0 ? Number.POSITIVE_INFINITY : i
    }),
  )
  if (!Number.isFinite(sigAt)) return new PushCertError("the push certificate is not signed")
  const payload = text.slice(0, sigAt)
  const signature = text.slice(sigAt)
  const blank = payload.indexOf("\n\n")
  if (blank < 0) return new PushCertError("the push certificate has no command section")
  const header = payload.slice(0, blank).split("\n")
  const fields = new Map<string, string>()
  for (const line of header) {
    const sp = line.indexOf(" ")
    const key = sp < 0 ? line : line.slice(0, sp)
    if (key === "push-option") continue
    fields.set(key, sp < 0 ? "" : line.slice(sp + 1))
  }
  const version = fields.get("certificate") ?? ""
  if (version !== "version 0.1")
    return new PushCertError(`unsupported push certificate '${version || "(none)"}'`)
  const pusher = fields.get("pusher")
  const pushee = fields.get("pushee") ?? ""
  const nonce = fields.get("nonce")
  if (pusher === undefined || nonce === undefined)
    return new PushCertError("the push certificate lacks its pusher or nonce")
  const commands: RefCommand[] = []
  for (const line of payload.slice(blank + 2).split("\n")) {
    if (line === "") continue
    const m = /^([0-9a-f]{40}) ([0-9a-f]{40}) (.+)$/.exec(line)
    if (!m || !isObjectId(m[1]!) || !isObjectId(m[2]!))
      return new PushCertError(`malformed command in push certificate '${line.slice(0, 200)}'`)
    commands.push({ old: m[1] as ObjectId, new: m[2] as ObjectId, ref: m[3]! })
  }
  if (commands.length === 0) return new PushCertError("the push certificate names no commands")
  return { text, payload, version, pusher, pushee, nonce, commands, signature }
}

/**
 * Verifies the certificate's SSH signature (namespace `git`, what git uses) and returns the
 * fingerprint of the key that made it; the caller checks that key belongs to the pusher.
 */
export const verifyPushCert = (cert: PushCert): { fingerprint: string } | PushCertError => {
  if (!cert.signature.startsWith("-----BEGIN SSH SIGNATURE-----"))
    return new PushCertError("only SSH-signed push certificates are accepted (gpg.format=ssh)")
  const sig = parseSignature(cert.signature)
  if (sig instanceof SshFormatError) return new PushCertError(sig.message)
  if (!verifySignature(sig, Buffer.from(cert.payload, "utf8"), "git"))
    return new PushCertError("the push certificate's signature does not verify")
  return { fingerprint: sig.key.fingerprint }
}

/** The certificate names exactly these ref changes (same refs, old and new ids). */
export const certCoversChanges = (
  cert: PushCert,
  changes: ReadonlyArray<{ readonly name: string; readonly old: string; readonly new: string }>,
) => {
  if (cert.commands.length !== changes.length) return false
  const byRef = new Map(cert.commands.map((c) => [c.ref, c]))
  return changes.every((c) => {
    const signed = byRef.get(c.name)
    return signed !== undefined && signed.old === c.old && signed.new === c.new
  })
}
