/**
 * Git deltas (gitformat-pack, "Deltified representation"): source size and target size
 * as little-endian base-128 varints, then instructions — copy (high bit set: offset and
 * size bytes selected by the low bits) or insert (1-127 literal bytes). Applying checks
 * every bound; a bad delta is a DeltaError, never an out-of-range read.
 */
import { Data } from "effect"

export class DeltaError extends Data.TaggedError("DeltaError")<{ readonly message: string }> {}

const readSize = (delta: Uint8Array, pos: number): [number, number] | undefined => {
  let value = 0
  let shift = 0
  for (;;) {
    if (pos >= delta.length || shift > 49) return undefined
    const b = delta[pos++]!
    value += (b & 0x7f) * 2 ** shift
    shift += 7
    if ((b & 0x80) === 0) return [value, pos]
  }
}

/** The target size a delta declares (for pack entry sizes), or undefined if malformed. */
export const deltaTargetSize = (delta: Uint8Array): number | undefined => {
  const src = readSize(delta, 0)
  if (!src) return undefined
  return readSize(delta, src[1])?.[0]
}

export const applyDelta = (base: Uint8Array, delta: Uint8Array): Buffer | DeltaError => {
  const src = readSize(delta, 0)
  if (!src) return new DeltaError({ message: "truncated delta header" })
  if (src[0] !== base.length)
    return new DeltaError({
      message: `delta expects a base of ${src[0]} bytes, base has ${base.length}`,
    })
  const dst = readSize(delta, src[1])
  if (!dst) return new DeltaError({ message: "truncated delta header" })
  const [targetSize, start] = dst
  if (targetSize > 2 ** 32)
    return new DeltaError({ message: `delta target size ${targetSize} is too large` })
  const out = Buffer.allocUnsafe(targetSize)
  let o = 0
  let pos = start
  while (pos < delta.length) {
    const op = delta[pos++]!
    if (op & 0x80) {
      let offset = 0
      let size = 0
      for (let i = 0; i < 4; i++) {
        if (op & (1 << i)) {
          if (pos >= delta.length) return new DeltaError({ message: "truncated copy instruction" })
          offset += delta[pos++]! * 2 ** (8 * i)
        }
      }
      for (let i = 0; i < 3; i++) {
        if (op & (0x10 << i)) {
          if (pos >= delta.length) return new DeltaError({ message: "truncated copy instruction" })
          size += delta[pos++]! << (8 * i)
        }
      }
      if (size === 0) size = 0x10000
      if (offset + size > base.length)
        return new DeltaError({
          message: `copy of ${size} bytes at ${offset} is outside the ${base.length}-byte base`,
        })
      if (o + size > targetSize)
        return new DeltaError({ message: "delta writes past its declared target size" })
      out.set(base.subarray(offset, offset + size), o)
      o += size
    } else if (op !== 0) {
      if (pos + op > delta.length)
        return new DeltaError({ message: "truncated insert instruction" })
      if (o + op > targetSize)
        return new DeltaError({ message: "delta writes past its declared target size" })
      out.set(delta.subarray(pos, pos + op), o)
      o += op
      pos += op
    } else {
      return new DeltaError({ message: "reserved delta instruction 0" })
    }
  }
  if (o !== targetSize)
    return new DeltaError({ message: `delta produced ${o} bytes, declared ${targetSize}` })
  return out
}
