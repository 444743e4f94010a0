/**
 * Blocks and signed transactions: what validators order and apply.
 *
 * The encoding is canonical (Schema-encoded values as JSON with keys sorted, UTF-8), so
 * every node computes the same bytes and the same digest (sha256) for the same block.
 * Decoding untrusted bytes yields a typed error, never a throw.
 */
import { createHash } from "node:crypto"
import { Data, Either, Schema } from "effect"
import { Transaction } from "./Transaction.ts"

export const SignedTransaction = Schema.Struct({
  tx: Transaction,
  /** Hex Ed25519 public key of the node that took the request. */
  signer: Schema.String.pipe(Schema.pattern(/^[0-9a-f]{64}$/)),
  /** Hex Ed25519 signature over `transactionSigningBytes(tx)`. */
  signature: Schema.String.pipe(Schema.pattern(/^[0-9a-f]{128}$/)),
})
export type SignedTransaction = typeof SignedTransaction.Type

export const BlockSchema = Schema.Struct({
  /** Hex sha256 digest of the parent block (64 zeros for the genesis parent). */
  parent: Schema.String.pipe(Schema.pattern(/^[0-9a-f]{64}$/)),
  height: Schema.Int.pipe(Schema.positive()),
  /** Milliseconds since the epoch, chosen by the proposer, never below the parent's + 1. */
  timestamp: Schema.Int.pipe(Schema.nonNegative()),
  txs: Schema.Array(SignedTransaction),
})
export type Block = typeof BlockSchema.Type

export const GENESIS_DIGEST = "0".repeat(64)

export class BlockDecodeError extends Data.TaggedError("BlockDecodeError")<{
  readonly message: string
}> {}

/** JSON with object keys sorted at every level: one byte string per value. */
export const canonicalJson = (value: unknown): string => {
  if (value === null || typeof value !== "object") return JSON.stringify(value)
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(",")}}`
}

const encodeTx = Schema.encodeSync(Transaction)
const encodeBlockValue = Schema.encodeSync(BlockSchema)
const decodeBlockValue = Schema.decodeUnknownEither(BlockSchema)

const TX_DOMAIN = Buffer.from("guts_TRANSACTION\0")

/** What a node signs for a transaction: a domain tag, then the canonical encoding. */
export const transactionSigningBytes = (tx: Transaction): Buffer =>
  Buffer.concat([TX_DOMAIN, Buffer.from(canonicalJson(encodeTx(tx)), "utf8")])

export const encodeBlock = (block: Block): Buffer =>
  Buffer.from(canonicalJson(encodeBlockValue(block)), "utf8")

export const blockDigest = (bytes: Uint8Array): string =>
  createHash("sha256").update(bytes).digest("hex")

export const decodeBlock = (bytes: Uint8Array): Either.Either<Block, BlockDecodeError> => {
  let json: unknown
  try {
    json = JSON.parse(Buffer.from(bytes).toString("utf8"))
  } catch (e) {
    return Either.left(
      new BlockDecodeError({ message: `block is not JSON: ${(e as Error).message}` }),
    )
  }
  const decoded = decodeBlockValue(json)
  if (Either.isLeft(decoded))
    return Either.left(
      new BlockDecodeError({ message: `malformed block: ${decoded.left.message}` }),
    )
  // Canonical form only: a block that re-encodes differently would have two digests.
  if (!encodeBlock(decoded.right).equals(Buffer.from(bytes)))
    return Either.left(new BlockDecodeError({ message: "block is not in canonical encoding" }))
  return Either.right(decoded.right)
}
