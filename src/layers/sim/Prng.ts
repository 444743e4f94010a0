/**
 * The simulator's only source of randomness: xoshiro128** seeded from a 64-bit seed
 * through splitmix64.
 *
 * Guarantees: the same seed yields the same sequence on every platform (pure 32-bit integer
 * arithmetic, no Math.random, no clock); `derive(seed, label)` gives streams that depend
 * only on the seed and the label, not on how much another stream was used, so adding a
 * draw in one component never reshuffles another.
 */
import { createHash } from "node:crypto"

const MASK64 = (1n << 64n) - 1n

/** splitmix64: spreads any 64-bit seed (even 0) over a well-mixed state. */
const splitmix64 = (state: { x: bigint }): bigint => {
  state.x = (state.x + 0x9e3779b97f4a7c15n) & MASK64
  let z = state.x
  z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & MASK64
  z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & MASK64
  return z ^ (z >> 31n)
}

const rotl = (x: number, k: number): number => (x << k) | (x >>> (32 - k))

// Ziggurat tables for the standard normal (Marsaglia & Tsang 2000, 128 layers). A draw
// takes one 32-bit word: the low 7 bits pick the layer, the high 25 bits are a signed
// value scaled by the layer's width (separate bits, so layer and value are independent).
// About 99 % of draws are accepted at once; the rest fall in a wedge or the tail and use
// the exact rejection tests. Every network latency is a normal draw, so this is hot.
const ZIG_R = 3.442619855899
const ZIG_AREA = 9.91256303526217e-3
const ZIG_SCALE = 2 ** 24
const zigK = new Float64Array(128)
const zigW = new Float64Array(128)
const zigF = new Float64Array(128)
{
  let d = ZIG_R
  let t = d
  const q = ZIG_AREA / Math.exp(-0.5 * d * d)
  zigK[0] = Math.floor((d / q) * ZIG_SCALE)
  zigK[1] = 0
  zigW[0] = q / ZIG_SCALE
  zigW[127] = d / ZIG_SCALE
  zigF[0] = 1
  zigF[127] = Math.exp(-0.5 * d * d)
  for (let i = 126; i >= 1; i--) {
    d = Math.sqrt(-2 * Math.log(ZIG_AREA / d + Math.exp(-0.5 * d * d)))
    zigK[i + 1] = Math.floor((d / t) * ZIG_SCALE)
    t = d
    zigF[i] = Math.exp(-0.5 * d * d)
    zigW[i] = d / ZIG_SCALE
  }
}

export class Prng {
  private s0: number
  private s1: number
  private s2: number
  private s3: number

  constructor(seed: bigint | number) {
    const st = { x: BigInt.asUintN(64, BigInt(seed)) }
    const a = splitmix64(st)
    const b = splitmix64(st)
    this.s0 = Number(a & 0xffffffffn) | 0
    this.s1 = Number(a >> 32n) | 0
    this.s2 = Number(b & 0xffffffffn) | 0
    this.s3 = Number(b >> 32n) | 0
    // xoshiro's all-zero state is a fixed point; splitmix cannot produce it for both words
    // in practice, but guard anyway so the generator can never get stuck.
    if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) this.s0 = 1
  }

  /** An independent stream for `label`, a function of the seed and label only. */
  static derive(seed: bigint | number, label: string): Prng {
    const h = createHash("sha256")
      .update(`${BigInt(seed)}/${label}`)
      .digest()
    return new Prng(h.readBigUInt64LE(0))
  }

  /** A child stream seeded from this one (consumes two draws). */
  fork(): Prng {
    const hi = BigInt(this.nextU32())
    const lo = BigInt(this.nextU32())
    return new Prng((hi << 32n) | lo)
  }

  /** Uniform 32-bit unsigned integer. */
  nextU32(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5), 7), 9)
    const t = this.s1 << 9
    this.s2 ^= this.s0
    this.s3 ^= this.s1
    this.s1 ^= this.s2
    this.s0 ^= this.s3
    this.s2 ^= t
    this.s3 = rotl(this.s3, 11)
    return result >>> 0
  }

  /** Uniform in [0, 1) with 53 bits of precision. */
  float(): number {
    const hi = this.nextU32() >>> 5
    const lo = this.nextU32() >>> 6
    return (hi * 67108864 + lo) / 9007199254740992
  }

  /** Uniform integer in [0, n) without modulo bias; n must be in 1..2^32. */
  int(n: number): number {
    if (!Number.isInteger(n) || n < 1 || n > 0x100000000) throw new RangeError(`int(${n})`)
    const limit = 0x100000000 - (0x100000000 % n)
    for (;;) {
      const x = this.nextU32()
      if (x < limit) return x % n
    }
  }

  /** Uniform in [lo, hi). */
  uniform(lo: number, hi: number): number {
    return lo + (hi - lo) * this.float()
  }

  /** True with probability p. */
  bool(p: number): boolean {
    if (p >= 1) return true
    if (p <= 0) return false
    return this.float() < p
  }

  /** Normal(mean, sd) (ziggurat, see the tables above). */
  normal(mean: number, sd: number): number {
    return mean + sd * this.standardNormal()
  }

  /** Normal(0, 1). */
  standardNormal(): number {
    // The accepted-at-once case, kept small enough to be inlined where latencies are
    // drawn (a call would box the result).
    const u = this.nextU32()
    const i = u & 127
    const j = (u | 0) >> 7
    if (Math.abs(j) < zigK[i]) return j * zigW[i]
    return this.rejected(i, j)
  }

  /** The rest of a ziggurat draw whose first word fell outside its layer's core. */
  private rejected(layer: number, value: number): number {
    let i = layer
    let j = value
    for (;;) {
      const x = j * zigW[i]
      if (i === 0) {
        // The tail beyond R (Marsaglia's exponential rejection).
        let t: number
        let y: number
        do {
          t = -Math.log(this.openFloat()) / ZIG_R
          y = -Math.log(this.openFloat())
        } while (y + y < t * t)
        return j > 0 ? ZIG_R + t : -ZIG_R - t
      }
      // The wedge between this layer and the one below: accept under the density.
      if (zigF[i] + this.float() * (zigF[i - 1] - zigF[i]) < Math.exp(-0.5 * x * x)) return x
      const u = this.nextU32()
      i = u & 127
      j = (u | 0) >> 7
      if (Math.abs(j) < zigK[i]) return j * zigW[i]
    }
  }

  /** Uniform in (0, 1). */
  private openFloat(): number {
    let u = this.float()
    while (u === 0) u = this.float()
    return u
  }

  /** Normal(mean, sd) clamped at zero: a latency. */
  latency(mean: number, sd: number): number {
    if (sd === 0) return Math.max(mean, 0)
    const x = this.normal(mean, sd)
    return Math.max(x, 0)
  }

  /** Fisher–Yates, in place; returns the array. */
  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.int(i + 1)
      const tmp = items[i]
      items[i] = items[j]
      items[j] = tmp
    }
    return items
  }

  pick<T>(items: ReadonlyArray<T>): T {
    if (items.length === 0) throw new RangeError("pick from an empty list")
    return items[this.int(items.length)]
  }

  bytes(n: number): Uint8Array {
    const out = new Uint8Array(n)
    for (let i = 0; i < n; i += 4) {
      const w = this.nextU32()
      out[i] = w
      if (i + 1 < n) out[i + 1] = w >>> 8
      if (i + 2 < n) out[i + 2] = w >>> 16
      if (i + 3 < n) out[i + 3] = w >>> 24
    }
    return out
  }
}
