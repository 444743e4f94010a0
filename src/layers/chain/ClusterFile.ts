/**
 * The cluster file: which validators (in consensus order) and full nodes make a cluster.
 * Read at start by configuration checks, health and the web page, so it stands apart
 * from ClusterNode (which loads consensus and libp2p).
 */
import * as fs from "node:fs"
import type { PeerAddress } from "../p2p/Libp2pNetwork.ts"

export interface ClusterFile {
  readonly validators: ReadonlyArray<PeerAddress & { readonly address: string }>
  readonly fullNodes: ReadonlyArray<PeerAddress>
}

export class ClusterConfigInvalid extends Error {}

const isEntry = (v: unknown, addressRequired: boolean) => {
  const e = v as { publicKey?: unknown; address?: unknown } | null
  return (
    typeof e?.publicKey === "string" &&
    /^[0-9a-f]{64}$/.test(e.publicKey) &&
    (typeof e.address === "string" || (!addressRequired && e.address === undefined))
  )
}

export const readClusterFile = (file: string): ClusterFile => {
  let parsed: unknown
  try {
    parsed = JSON.parse(fs.readFileSync(file, "utf8"))
  } catch (e) {
    throw new ClusterConfigInvalid(`cannot read the cluster file ${file}: ${(e as Error).message}`)
  }
  const { validators, fullNodes = [] } = parsed as { validators?: unknown; fullNodes?: unknown }
  if (
    !Array.isArray(validators) ||
    validators.length === 0 ||
    !validators.every((v) => isEntry(v, true)) ||
    !Array.isArray(fullNodes) ||
    !fullNodes.every((v) => isEntry(v, false))
  )
    throw new ClusterConfigInvalid(
      `${file}: expected {"validators": [{"publicKey": "<64 hex>", "address": "/ip4/HOST/tcp/PORT"}, ...], "fullNodes": [{"publicKey": "<64 hex>", "address"?: "..."}, ...]}`,
    )
  const keys = [...validators, ...fullNodes].map((v: PeerAddress) => v.publicKey)
  const twice = keys.find((k, i) => keys.indexOf(k) !== i)
  if (twice !== undefined)
    throw new ClusterConfigInvalid(`${file}: the key ${twice} is listed twice`)
  return { validators, fullNodes }
}
