/**
 * Messages of the node application on the broadcast and sync channels: a one-byte tag,
 * then the payload. Decoding never throws; unknown or malformed input is `undefined`
 * (the sender is then treated as misbehaving).
 */
import type { StoredObject } from "../../services/ObjectStore.ts"
import { decodeStored, encodeStored } from "../ObjectStoreRocks.ts"
import type { ObjectId } from "../../domain/git/ObjectId.ts"
import { isObjectId } from "../../domain/git/ObjectId.ts"

export type AppMessage =
  /** broadcast: a proposed block's bytes */
  | { readonly _tag: "Block"; readonly bytes: Uint8Array }
  /** broadcast: a signed transaction (canonical JSON) */
  | { readonly _tag: "Tx"; readonly json: string }
  /** sync: ask for a block by hex digest */
  | { readonly _tag: "GetBlock"; readonly digest: string }
  /** sync: ask for the finalized block at a height */
  | { readonly _tag: "GetHeight"; readonly height: number }
  /** sync: git objects, as stored (whole or delta over a base listed earlier or held) */
  | { readonly _tag: "Objects"; readonly objects: ReadonlyArray<StoredObject> }
  /** sync: ask for objects by id */
  | { readonly _tag: "GetObjects"; readonly ids: ReadonlyArray<ObjectId> }

const TAG = { Block: 1, Tx: 2, GetBlock: 3, GetHeight: 4, Objects: 5, GetObjects: 6 } as const

export const encodeApp = (m: AppMessage): Buffer => {
  switch (m._tag) {
    case "Block":
      return Buffer.concat([Buffer.from([TAG.Block]), m.bytes])
    case "Tx":
      return Buffer.concat([Buffer.from([TAG.Tx]), Buffer.from(m.json, "utf8")])
    case "GetBlock":
      return Buffer.concat([Buffer.from([TAG.GetBlock]), Buffer.from(m.digest, "hex")])
    case "GetHeight": {
      const b = Buffer.alloc(9)
      b[0] = TAG.GetHeight
      b.writeBigUInt64BE(BigInt(m.height), 1)
      return b
    }
    case "Objects": {
      const parts: Buffer[] = [Buffer.from([TAG.Objects])]
      for (const o of m.objects) {
        const rec = encodeStored(o)
        const head = Buffer.alloc(24)
        head.write(o.id, 0, "hex")
        head.writeUInt32BE(rec.length, 20)
        parts.push(head, rec)
      }
      return Buffer.concat(parts)
    }
    case "GetObjects":
      return Buffer.concat([
        Buffer.from([TAG.GetObjects]),
        ...m.ids.map((id) => Buffer.from(id, "hex")),
      ])
  }
}

export const decodeApp = (bytes: Uint8Array): AppMessage | undefined => {
  if (bytes.length === 0) return undefined
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const body = b.subarray(1)
  switch (b[0]) {
    case TAG.Block:
      return { _tag: "Block", bytes: body }
    case TAG.Tx:
      return { _tag: "Tx", json: body.toString("utf8") }
    case TAG.GetBlock:
      return body.length === 32 ? { _tag: "GetBlock", digest: body.toString("hex") } : undefined
    case TAG.GetHeight:
      return body.length === 8
        ? { _tag: "GetHeight", height: Number(body.readBigUInt64BE(0)) }
        : undefined
    case TAG.Objects: {
      const objects: StoredObject[] = []
      let pos = 0
      while (pos < body.length) {
        if (pos + 24 > body.length) return undefined
        const id = body.toString("hex", pos, pos + 20)
        const len = body.readUInt32BE(pos + 20)
        if (!isObjectId(id) || pos + 24 + len > body.length) return undefined
        const o = decodeStored(id, body.subarray(pos + 24, pos + 24 + len))
        if (typeof o === "string") return undefined
        objects.push(o)
        pos += 24 + len
      }
      return { _tag: "Objects", objects }
    }
    case TAG.GetObjects: {
      if (body.length % 20 !== 0) return undefined
      const ids: ObjectId[] = []
      for (let i = 0; i < body.length; i += 20)
        ids.push(body.toString("hex", i, i + 20) as ObjectId)
      return { _tag: "GetObjects", ids }
    }
    default:
      return undefined
  }
}
