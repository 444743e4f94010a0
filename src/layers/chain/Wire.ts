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
  /** sync: ask for a block and up to `max` of its ancestors */
  | { readonly _tag: "GetChain"; readonly digest: string; readonly max: number }
  /** sync: several blocks (newest first) */
  | { readonly _tag: "Blocks"; readonly blocks: ReadonlyArray<Uint8Array> }
  /** sync: every object reachable from `tips` but not from `haves` */
  | {
      readonly _tag: "GetClosure"
      readonly request: number
      readonly tips: ReadonlyArray<ObjectId>
      readonly haves: ReadonlyArray<ObjectId>
    }
  /** sync: the objects of a GetClosure have all been sent (same channel, so they came first) */
  | { readonly _tag: "ClosureEnd"; readonly request: number; readonly found: boolean }
  /**
   * sync, validator to full node: "I applied the finalized block `digest` at `height`" (a
   * full node follows a block once more than f validators vouch for it)
   */
  | { readonly _tag: "Finalized"; readonly height: number; readonly digest: string }
  /** sync, full node to validator: ask for a Finalized naming its last applied block */
  | { readonly _tag: "GetFinalized" }
  /**
   * sync, after the `Objects` they name: objects written to a repository (its RepoUploads
   * key) by the git data API or a push, not reachable from its refs
   */
  | { readonly _tag: "Uploads"; readonly repo: string; readonly ids: ReadonlyArray<ObjectId> }

const TAG = {
  Block: 1,
  Tx: 2,
  GetBlock: 3,
  GetHeight: 4,
  Objects: 5,
  GetObjects: 6,
  GetChain: 7,
  Blocks: 8,
  GetClosure: 9,
  ClosureEnd: 10,
  Finalized: 11,
  GetFinalized: 12,
  Uploads: 13,
} as const

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
    case "GetChain": {
      const b = Buffer.alloc(1 + 32 + 4)
      b[0] = TAG.GetChain
      b.write(m.digest, 1, "hex")
      b.writeUInt32BE(m.max, 33)
      return b
    }
    case "GetClosure": {
      const head = Buffer.alloc(1 + 4 + 4)
      head[0] = TAG.GetClosure
      head.writeUInt32BE(m.request, 1)
      head.writeUInt32BE(m.tips.length, 5)
      return Buffer.concat([head, ...[...m.tips, ...m.haves].map((id) => Buffer.from(id, "hex"))])
    }
    case "ClosureEnd": {
      const b = Buffer.alloc(6)
      b[0] = TAG.ClosureEnd
      b.writeUInt32BE(m.request, 1)
      b[5] = m.found ? 1 : 0
      return b
    }
    case "Finalized": {
      const b = Buffer.alloc(1 + 8 + 32)
      b[0] = TAG.Finalized
      b.writeBigUInt64BE(BigInt(m.height), 1)
      b.write(m.digest, 9, "hex")
      return b
    }
    case "GetFinalized":
      return Buffer.from([TAG.GetFinalized])
    case "Uploads": {
      const repo = Buffer.from(m.repo, "utf8")
      return Buffer.concat([
        Buffer.from([TAG.Uploads, repo.length]),
        repo,
        ...m.ids.map((id) => Buffer.from(id, "hex")),
      ])
    }
    case "Blocks": {
      const parts: Buffer[] = [Buffer.from([TAG.Blocks])]
      for (const block of m.blocks) {
        const len = Buffer.alloc(4)
        len.writeUInt32BE(block.length)
        parts.push(len, Buffer.from(block))
      }
      return Buffer.concat(parts)
    }
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
    case TAG.GetChain:
      return body.length === 36
        ? { _tag: "GetChain", digest: body.toString("hex", 0, 32), max: body.readUInt32BE(32) }
        : undefined
    case TAG.GetClosure: {
      if (body.length < 8 || (body.length - 8) % 20 !== 0) return undefined
      const request = body.readUInt32BE(0)
      const tipCount = body.readUInt32BE(4)
      const ids: ObjectId[] = []
      for (let i = 8; i < body.length; i += 20)
        ids.push(body.toString("hex", i, i + 20) as ObjectId)
      if (tipCount > ids.length) return undefined
      return {
        _tag: "GetClosure",
        request,
        tips: ids.slice(0, tipCount),
        haves: ids.slice(tipCount),
      }
    }
    case TAG.ClosureEnd:
      return body.length === 5
        ? { _tag: "ClosureEnd", request: body.readUInt32BE(0), found: body[4] === 1 }
        : undefined
    case TAG.Blocks: {
      const blocks: Uint8Array[] = []
      let pos = 0
      while (pos < body.length) {
        if (pos + 4 > body.length) return undefined
        const len = body.readUInt32BE(pos)
        if (pos + 4 + len > body.length) return undefined
        blocks.push(body.subarray(pos + 4, pos + 4 + len))
        pos += 4 + len
      }
      return { _tag: "Blocks", blocks }
    }
    case TAG.Finalized: {
      if (body.length !== 40) return undefined
      const height = body.readBigUInt64BE(0)
      return height > BigInt(Number.MAX_SAFE_INTEGER)
        ? undefined
        : { _tag: "Finalized", height: Number(height), digest: body.toString("hex", 8, 40) }
    }
    case TAG.GetFinalized:
      return body.length === 0 ? { _tag: "GetFinalized" } : undefined
    case TAG.Uploads: {
      if (body.length < 1) return undefined
      const end = 1 + body[0]!
      if (body[0] === 0 || end > body.length || (body.length - end) % 20 !== 0) return undefined
      const ids: ObjectId[] = []
      for (let i = end; i < body.length; i += 20)
        ids.push(body.toString("hex", i, i + 20) as ObjectId)
      return { _tag: "Uploads", repo: body.toString("utf8", 1, end), ids }
    }
    default:
      return undefined
  }
}
