/**
 * Git object ids (SHA-1, 40 lowercase hex digits) and object types.
 *
 * Ids travel as branded strings: cheap to compare, to use as map keys and to print;
 * converted to 20 raw bytes only at the edges (pack entries, indexes, storage keys).
 */
import type { Brand } from "effect"

export type ObjectId = string & Brand.Brand<"ObjectId">

const HEX40 = /^[0-9a-f]{40}$/

export const isObjectId = (s: string): s is ObjectId => HEX40.test(s)

/** Validates and brands; throws only on programmer error (use isObjectId for input). */
export const ObjectId = (s: string): ObjectId => {
  if (!HEX40.test(s)) throw new Error(`not an object id: ${JSON.stringify(s)}`)
  return s as ObjectId
}

export const ZERO_ID = "0000000000000000000000000000000000000000" as ObjectId

export const objectIdFromBytes = (b: Uint8Array, offset = 0): ObjectId =>
  Buffer.from(b.buffer, b.byteOffset + offset, 20).toString("hex") as ObjectId

export const objectIdToBytes = (id: ObjectId): Buffer => Buffer.from(id, "hex")

export type ObjectType = "commit" | "tree" | "blob" | "tag"

/** Pack type codes (gitformat-pack): 1 commit, 2 tree, 3 blob, 4 tag. */
export const OBJECT_TYPE_CODE: Record<ObjectType, number> = { commit: 1, tree: 2, blob: 3, tag: 4 }
export const OBJECT_TYPE_BY_CODE: Record<number, ObjectType | undefined> = {
  1: "commit",
  2: "tree",
  3: "blob",
  4: "tag",
}
