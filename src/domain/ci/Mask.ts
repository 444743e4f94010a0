/**
 * Secret masking for job logs. Every occurrence of a secret is replaced by `***`; a
 * multi-line secret is masked line by line (each of its lines is a secret of its own), and
 * values shorter than two characters are ignored (masking every `a` would destroy the log
 * and protect nothing). Where occurrences overlap or touch, the whole covered stretch
 * becomes a single `***`, so no part of any occurrence survives.
 *
 * The streaming masker gives exactly the output `maskSecrets` would give for the whole
 * text, however the text is cut into chunks: it holds back only the longest end of what it
 * has seen that could still grow into a secret, and nothing else.
 */

export const MASK = "***"

/** The strings to mask: each line of each secret, two characters or longer, longest first. */
export const maskPatterns = (secrets: Iterable<string>): string[] => {
  const set = new Set<string>()
  for (const s of secrets) for (const line of s.split(/\r?\n/)) if (line.length >= 2) set.add(line)
  return [...set].sort((a, b) => b.length - a.length || (a < b ? -1 : a > b ? 1 : 0))
}

/** Which characters of `text` lie inside an occurrence of a pattern. */
const coverage = (text: string, patterns: ReadonlyArray<string>): Uint8Array => {
  const covered = new Uint8Array(text.length)
  for (const p of patterns) {
    for (let at = text.indexOf(p); at >= 0; at = text.indexOf(p, at + 1))
      covered.fill(1, at, at + p.length)
  }
  return covered
}

/** `text` with every secret (see `maskPatterns`) replaced by `***`. */
export const maskSecrets = (text: string, secrets: Iterable<string>): string => {
  const patterns = maskPatterns(secrets)
  if (patterns.length === 0) return text
  const covered = coverage(text, patterns)
  let out = ""
  for (let i = 0; i < text.length; i++) {
    if (!covered[i]) out += text[i]
    else if (i === 0 || !covered[i - 1]) out += MASK
  }
  return out
}

export interface Masker {
  /** Masks the next piece of the stream; returns what is safe to show now. */
  push(chunk: string): string
  /** The end of the stream: masks and returns what was held back. */
  flush(): string
}

/**
 * A masker for a stream cut into arbitrary chunks. The concatenation of everything `push`
 * and `flush` return equals `maskSecrets` of the concatenated input.
 */
export const makeMasker = (secrets: Iterable<string>): Masker => {
  const patterns = maskPatterns(secrets)
  const longest = patterns[0]?.length ?? 0
  /** Already-emitted text kept for context: an occurrence may start in it (up to longest - 1 chars). */
  let context = ""
  /** Received but not yet emitted. */
  let held = ""
  /** Whether the last emitted character was masked, so a continuing stretch adds no second `***`. */
  let lastCovered = false

  /** The length of the longest end of `text` that is a proper beginning of some pattern. */
  const partialTail = (text: string): number => {
    for (let n = Math.min(longest - 1, text.length); n > 0; n--) {
      const tail = text.slice(text.length - n)
      if (patterns.some((p) => p.length > n && p.startsWith(tail))) return n
    }
    return 0
  }

  const emit = (final: boolean): string => {
    if (patterns.length === 0) {
      const out = held
      held = ""
      return out
    }
    const window = context + held
    const covered = coverage(window, patterns)
    const base = context.length
    let cut = final ? window.length : Math.max(base, window.length - partialTail(window))
    // A masked stretch running past the cut is masked whatever follows: emit all of it.
    while (cut < window.length && cut > base && covered[cut - 1] && covered[cut]) cut++
    let out = ""
    for (let i = base; i < cut; i++) {
      if (!covered[i]) out += window[i]
      else if (!(i === base ? lastCovered : covered[i - 1])) out += MASK
    }
    if (cut > base) lastCovered = covered[cut - 1] === 1
    held = window.slice(cut)
    context = window.slice(Math.max(0, cut - (longest - 1)), cut)
    return out
  }

  return {
    push: (chunk) => {
      held += chunk
      return emit(false)
    },
    flush: () => emit(true),
  }
}
