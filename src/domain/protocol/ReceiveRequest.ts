/**
 * Parsing the command list of a push (receive-pack): `<old> <new> <ref>` lines, the
 * capabilities after a NUL on the first, and the optional push options.
 */
import { isObjectId, type ObjectId, ZERO_ID } from "../git/ObjectId.ts"
import { PushCertError, parsePushCert } from "./PushCert.ts"
import { ProtocolError } from "./UploadRequest.ts"

export interface RefCommand {
  readonly old: ObjectId
  readonly new: ObjectId
  readonly ref: string
}

export interface ReceiveCommands {
  readonly commands: ReadonlyArray<RefCommand>
  readonly capabilities: ReadonlySet<string>
  /** The verbatim push certificate of a signed push (`git push --signed`). */
  readonly pushCert?: string | undefined
}

export const isDelete = (c: RefCommand) => c.new === ZERO_ID

/**
 * A signed push sends `push-cert NUL caps`, the certificate line by line, and
 * `push-cert-end` instead of the command list; the commands are the certificate's.
 */
const parseSignedPush = (lines: ReadonlyArray<string>): ReceiveCommands | ProtocolError => {
  const capabilities = new Set<string>()
  const first = lines[0]!.replace(/\n$/, "")
  for (const cap of first.slice(first.indexOf("\0") + 1).split(" ")) if (cap) capabilities.add(cap)
  const end = lines.findIndex((l) => l === "push-cert-end\n" || l === "push-cert-end")
  if (end < 0) return new ProtocolError({ message: "push certificate without push-cert-end" })
  const text = lines.slice(1, end).join("")
  const cert = parsePushCert(text)
  if (cert instanceof PushCertError) return new ProtocolError({ message: cert.message })
  return { commands: cert.commands, capabilities, pushCert: text }
}

export const parseReceiveCommands = (
  lines: ReadonlyArray<string>,
): ReceiveCommands | ProtocolError => {
  if (lines[0]?.startsWith("push-cert\0")) return parseSignedPush(lines)
  const commands: RefCommand[] = []
  const capabilities = new Set<string>()
  for (const [i, raw] of lines.entries()) {
    let line = raw.endsWith("\n") ? raw.slice(0, -1) : raw
    if (i === 0) {
      const nul = line.indexOf("\0")
      if (nul >= 0) {
        for (const cap of line.slice(nul + 1).split(" ")) if (cap) capabilities.add(cap)
        line = line.slice(0, nul)
      }
    }
    if (line.startsWith("shallow ")) continue // shallow pushes are answered by connectivity
    const m = /^([0-9a-f]{40}) ([0-9a-f]{40}) (.+)$/.exec(line)
    if (!m || !isObjectId(m[1]!) || !isObjectId(m[2]!))
      return new ProtocolError({ message: `malformed push command '${line.slice(0, 200)}'` })
    commands.push({ old: m[1] as ObjectId, new: m[2] as ObjectId, ref: m[3]! })
  }
  if (commands.length === 0) return new ProtocolError({ message: "push without commands" })
  const seen = new Set<string>()
  for (const c of commands) {
    if (seen.has(c.ref))
      return new ProtocolError({ message: `ref ${c.ref} appears twice in one push` })
    seen.add(c.ref)
  }
  return { commands, capabilities }
}
