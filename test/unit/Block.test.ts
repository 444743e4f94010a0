import { Either } from "effect"
import { describe, expect, it } from "vitest"
import {
  blockDigest,
  canonicalJson,
  decodeBlock,
  encodeBlock,
  GENESIS_DIGEST,
  type SignedTransaction,
  transactionSigningBytes,
} from "../../src/domain/Block.ts"
import { Mempool } from "../../src/domain/Mempool.ts"
import { CreateRepository, type UserId, UpdateRefs } from "../../src/domain/Transaction.ts"

const tx = (key: string) =>
  UpdateRefs.make({
    submitter: 1 as UserId,
    idempotencyKey: key,
    owner: "alice",
    repo: "r",
    atomic: false,
    changes: [{ name: "refs/heads/main", old: "0".repeat(40), new: "a".repeat(40) }],
  })
const signed = (key: string): SignedTransaction => ({
  tx: tx(key),
  signer: "b".repeat(64),
  signature: "c".repeat(128),
})

describe("blocks", () => {
  it("encode canonically: the same block gives the same bytes and digest, whatever the key order", () => {
    expect(canonicalJson({ b: 1, a: [{ d: 2, c: 3 }] })).toBe('{"a":[{"c":3,"d":2}],"b":1}')
    const block = {
      parent: GENESIS_DIGEST,
      height: 1,
      timestamp: 1700000000000,
      txs: [signed("k1")],
    }
    const reordered = {
      txs: block.txs,
      timestamp: block.timestamp,
      height: 1,
      parent: GENESIS_DIGEST,
    }
    expect(encodeBlock(block).equals(encodeBlock(reordered))).toBe(true)
    expect(blockDigest(encodeBlock(block))).toMatch(/^[0-9a-f]{64}$/)
  })

  it("decode what they encode, and refuse malformed or non-canonical bytes", () => {
    const block = {
      parent: GENESIS_DIGEST,
      height: 2,
      timestamp: 5,
      txs: [signed("k1"), signed("k2")],
    }
    const bytes = encodeBlock(block)
    const back = decodeBlock(bytes)
    expect(Either.isRight(back) && back.right.txs.length).toBe(2)
    expect(Either.isLeft(decodeBlock(Buffer.from("{not json")))).toBe(true)
    expect(Either.isLeft(decodeBlock(Buffer.from('{"height":0}')))).toBe(true)
    const spaced = Buffer.from(JSON.stringify(JSON.parse(bytes.toString()), null, 1))
    const r = decodeBlock(spaced)
    expect(Either.isLeft(r) && r.left.message).toMatch(/canonical/)
  })

  it("sign transactions under a domain tag, so other signed messages cannot be replayed as one", () => {
    const bytes = transactionSigningBytes(
      CreateRepository.make({
        submitter: 1 as UserId,
        idempotencyKey: "x",
        owner: "a",
        name: "b",
        private: false,
        defaultBranch: "main",
      }),
    )
    expect(bytes.subarray(0, 17).toString()).toBe("guts_TRANSACTION\0")
  })
})

describe("mempool", () => {
  it("deduplicates by idempotency key, is bounded, and forgets what was committed", () => {
    const pool = new Mempool(2)
    expect(pool.add(signed("a"))).toBe("added")
    expect(pool.add(signed("a"))).toBe("duplicate")
    expect(pool.add(signed("b"))).toBe("added")
    expect(pool.add(signed("c"))).toBe("full")
    expect(pool.take(10).map((s) => s.tx.idempotencyKey)).toEqual(["a", "b"])
    pool.committed(["a"])
    expect(pool.size).toBe(1)
    expect(pool.add(signed("a"))).toBe("duplicate") // already in a block
    expect(pool.add(signed("c"))).toBe("added")
  })
})
