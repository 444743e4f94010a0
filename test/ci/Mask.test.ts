import { describe, expect, it } from "vitest"
import { MASK, makeMasker, maskPatterns, maskSecrets } from "../../src/domain/ci/Mask.ts"

/** mulberry32: a tiny seeded generator, so every failure is reproducible from its seed. */
const rng = (seed: number) => () => {
  seed = (seed + 0x6d2b79f5) | 0
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296
}

describe("maskSecrets", () => {
  it.each([
    ["one occurrence", "token=hunter2 ok", ["hunter2"], "token=*** ok"],
    ["every occurrence", "ab-ab-ab", ["ab"], "***-***-***"],
    ["no secrets", "plain", [], "plain"],
    ["empty and one-character secrets are ignored", "a b c", ["", "a", "b"], "a b c"],
    ["overlapping secrets become one mask", "xxabcdyy", ["abc", "cd"], "xx***yy"],
    ["touching occurrences become one mask", "pwpw!", ["pw"], "***!"],
    ["a secret inside a longer one", "say longsecret", ["secret", "longsecret"], "say ***"],
    [
      "each line of a multi-line secret",
      "k=line-one\nline-two;",
      ["line-one\nline-two\nx"],
      "k=***\n***;",
    ],
    ["a CRLF multi-line secret", "AAA BBB", ["AAA\r\nBBB"], "*** ***"],
    ["a secret at both ends", "s3cr3t middle s3cr3t", ["s3cr3t"], "*** middle ***"],
  ])("masks %s", (_, text, secrets, expected) => {
    expect(maskSecrets(text, secrets)).toBe(expected)
  })

  it("orders patterns longest first and drops duplicates", () => {
    expect(maskPatterns(["ab", "abc\nab", "z"])).toEqual(["abc", "ab"])
  })
})

describe("makeMasker", () => {
  const secrets = ["hunter2", "aaaa", "abab", "correct horse\nbattery staple", "xy"]
  const patterns = maskPatterns(secrets)
  const alphabet = [
    "a",
    "b",
    "x",
    "y",
    " ",
    "\n",
    "hunter",
    "2",
    "correct horse",
    "battery staple",
    "abab",
  ]

  const streamed = (text: string, cuts: number[]) => {
    const m = makeMasker(secrets)
    let out = ""
    let at = 0
    for (const c of cuts) {
      out += m.push(text.slice(at, c))
      at = c
    }
    return out + m.push(text.slice(at)) + m.flush()
  }

  it("equals maskSecrets and never lets a secret through, for 400 random texts and chunkings", () => {
    for (let seed = 1; seed <= 400; seed++) {
      const next = rng(seed)
      let text = ""
      const pieces = 5 + Math.floor(next() * 40)
      for (let i = 0; i < pieces; i++) text += alphabet[Math.floor(next() * alphabet.length)]
      const cuts: number[] = []
      for (let i = 0; i < text.length; i++) if (next() < 0.3) cuts.push(i)
      const out = streamed(text, cuts)
      expect(out, `seed ${seed}: ${JSON.stringify(text)} cut at ${cuts}`).toBe(
        maskSecrets(text, secrets),
      )
      for (const p of patterns) expect(out.includes(p), `seed ${seed} leaked ${p}`).toBe(false)
    }
  })

  it("handles one character at a time and one chunk for everything", () => {
    const text = "pw: hunter2hunter2 and aaaaa, then abababx and xy\ncorrect horse\nbattery staple!"
    const expected = maskSecrets(text, secrets)
    expect(expected).toBe(`pw: *** and ***, then ***x and ***\n***\n***!`)
    expect(
      streamed(
        text,
        Array.from({ length: text.length }, (_, i) => i),
      ),
    ).toBe(expected)
    expect(streamed(text, [])).toBe(expected)
  })

  it("holds back only a possible beginning of a secret", () => {
    const m = makeMasker(["hunter2"])
    expect(m.push("log line hun")).toBe("log line ")
    expect(m.push("gry")).toBe("hungry")
    expect(m.push(" hunter")).toBe(" ")
    expect(m.push("2 done")).toBe(`${MASK} done`)
    expect(m.push(" hu")).toBe(" ")
    expect(m.flush()).toBe("hu")
  })

  it("passes text straight through when there is nothing to mask", () => {
    const m = makeMasker(["", "x"])
    expect(m.push("abc")).toBe("abc")
    expect(m.flush()).toBe("")
  })
})
