/**
 * What the node offers git clients (gitprotocol-capabilities, gitprotocol-v2).
 */
import { AGENT } from "../Version.ts"

export const UPLOAD_PACK_CAPABILITIES = [
  "multi_ack",
  "multi_ack_detailed",
  "no-done",
  "side-band",
  "side-band-64k",
  "thin-pack",
  "ofs-delta",
  "shallow",
  "deepen-since",
  "deepen-not",
  "deepen-relative",
  "no-progress",
  "include-tag",
  "allow-tip-sha1-in-want",
  "allow-reachable-sha1-in-want",
  "filter",
  `agent=${AGENT}`,
  "object-format=sha1",
]

export const RECEIVE_PACK_CAPABILITIES = [
  "report-status",
  "report-status-v2",
  "delete-refs",
  "side-band-64k",
  "quiet",
  "atomic",
  "ofs-delta",
  "push-options",
  `agent=${AGENT}`,
  "object-format=sha1",
]

/** Lines of the protocol v2 capability advertisement (each sent as one pkt-line). */
export const V2_CAPABILITIES = [
  "version 2",
  `agent=${AGENT}`,
  "ls-refs=unborn",
  "fetch=shallow filter wait-for-done",
  "server-option",
  "object-format=sha1",
]

/** True when the client asked for protocol v2 (`Git-Protocol: version=2`). */
export const wantsV2 = (gitProtocolHeader: string) =>
  gitProtocolHeader.split(":").some((p) => p.trim() === "version=2")
