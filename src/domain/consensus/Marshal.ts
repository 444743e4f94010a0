/**
 * Finalized-block delivery (spec §6 "marshal"), pure.
 *
 * The application tells the marshal about blocks it holds (digest, parent digest,
 * height) and about finalizations (view, payload digest). On a finalization the marshal
 * walks parent links back from the finalized block to the last delivered block and
 * returns the blocks in between in strict height order. If a link is missing it names the
 * digest to fetch and resumes once that block is added.
 *
 * Guarantees: blocks are delivered in strictly increasing height order, each height once
 * per marshal instance and only on the finalized chain, so blocks of nullified views and
 * notarized blocks nobody extended are never delivered. Across restarts delivery resumes
 * after the height the consumer reports as applied: at least once, so the consumer must be
 * idempotent by height. A finalized chain that does not connect to what was already
 * delivered (a fork below finality) is a safety violation and throws.
 */
import { DigestMap } from "./DigestMap.ts"
import { type Digest, digestEquals, type View } from "./Types.ts"

export interface BlockRef {
  readonly digest: Digest
  readonly parent: Digest
  readonly height: bigint
}

export interface MarshalStep {
  /** Blocks to apply now, in increasing height order. */
  readonly deliver: ReadonlyArray<BlockRef>
  /** A block that is needed to continue (fetch it, then call `block`). */
  readonly missing: Digest | undefined
}

export class ForkBelowFinality extends Error {
  constructor(readonly height: bigint) {
    super(`finalized chain does not extend the delivered block at height ${height}`)
  }
}

const NOTHING: MarshalStep = { deliver: [], missing: undefined }

export class Marshal {
  private readonly blocks = new DigestMap<BlockRef>()
  private last: { digest: Digest; height: bigint }
  private target: { view: View; digest: Digest } | undefined = undefined

  /** `last` = the block the consumer already applied (genesis at height 0 initially). */
  constructor(last: { readonly digest: Digest; readonly height: bigint }) {
    this.last = { digest: last.digest, height: last.height }
  }

  get delivered(): { readonly digest: Digest; readonly height: bigint } {
    return this.last
  }

  /** Blocks held but not yet delivered. */
  get held(): number {
    return this.blocks.size
  }

  /** A block became available (proposed, relayed or fetched). */
  block(ref: BlockRef): MarshalStep {
    if (ref.height <= this.last.height) return NOTHING
    this.blocks.set(ref.digest, ref)
    return this.advance()
  }

  /** A finalization was reported for `digest` at `view`. */
  finalized(view: View, digest: Digest): MarshalStep {
    if (this.target === undefined || view > this.target.view) this.target = { view, digest }
    return this.advance()
  }

  private advance(): MarshalStep {
    const target = this.target
    if (target === undefined || digestEquals(target.digest, this.last.digest)) return NOTHING
    const chain: BlockRef[] = []
    let cursor = target.digest
    for (;;) {
      if (digestEquals(cursor, this.last.digest)) break
      const ref = this.blocks.get(cursor)
      if (ref === undefined) {
        // A finalized block at or below the delivered height that is not the delivered
        // block itself cannot be on our chain.
        return { deliver: [], missing: cursor }
      }
      if (ref.height <= this.last.height) throw new ForkBelowFinality(this.last.height)
      if (ref.height === this.last.height + 1n && !digestEquals(ref.parent, this.last.digest))
        throw new ForkBelowFinality(this.last.height)
      const prev = chain[chain.length - 1]
      if (prev !== undefined && prev.height !== ref.height + 1n)
        throw new Error(`block at height ${prev.height} names a parent at height ${ref.height}`)
      chain.push(ref)
      cursor = ref.parent
    }
    const first = chain[chain.length - 1]
    if (first !== undefined && first.height !== this.last.height + 1n)
      throw new Error(
        `block at height ${first.height} follows delivered height ${this.last.height}`,
      )
    chain.reverse()
    for (const ref of chain) this.blocks.delete(ref.digest)
    const tip = chain[chain.length - 1]
    if (tip !== undefined) this.last = { digest: tip.digest, height: tip.height }
    // Blocks at or below the delivered height can never be delivered any more.
    if (this.blocks.size > 0) {
      const height = this.last.height
      this.blocks.deleteWhere((ref) => ref.height <= height)
    }
    return { deliver: chain, missing: undefined }
  }
}
