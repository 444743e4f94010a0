/**
 * Seeds of the simulation tests: GUTS_SIM_SEEDS is a count K (seeds 1..K), a range
 * "A-B" or a list "3,7,11". Default: seeds 1 and 2, which keeps test/sim well under the
 * CI budget; campaigns over many seeds belong to `npm run sim -- --seeds K`.
 */
export const simSeeds = (): number[] => {
  const raw = (process.env.GUTS_SIM_SEEDS ?? "1-2").trim()
  if (/^\d+$/.test(raw)) return Array.from({ length: Number(raw) }, (_, i) => i + 1)
  const range = /^(\d+)-(\d+)$/.exec(raw)
  if (range !== null) {
    const [a, b] = [Number(range[1]), Number(range[2])]
    return Array.from({ length: Math.max(0, b - a + 1) }, (_, i) => a + i)
  }
  if (/^\d+(,\d+)*$/.test(raw)) return raw.split(",").map(Number)
  throw new Error(`GUTS_SIM_SEEDS must be a count, a range A-B or a list a,b,c; got ${raw}`)
}

/** Scenario sizes for tests: GUTS_SIM_SIZE=full runs the spec's sizes. */
export const simSize = (): "ci" | "full" => (process.env.GUTS_SIM_SIZE === "full" ? "full" : "ci")

/** Signature scheme of the catalogue tests: GUTS_SIM_SCHEME=ed25519 runs real signatures. */
export const simScheme = (): "sim" | "ed25519" =>
  process.env.GUTS_SIM_SCHEME === "ed25519" ? "ed25519" : "sim"
