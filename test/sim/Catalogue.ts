/**
 * Shared body of the catalogue tests: one test per (scenario, seed) that runs the
 * scenario and requires a clean verdict. A scenario's verdict already covers the safety
 * invariants (Invariants.ts) and its own expected outcome, stated in `expect`; the test
 * prints every violation so a failure names the seed and the replay command.
 * Environment: GUTS_SIM_SEEDS (seeds), GUTS_SIM_SIZE=full (spec sizes),
 * GUTS_SIM_SCHEME=ed25519 (real signatures).
 */
import { describe, expect, it } from "vitest"
import { scenarioNamed } from "../../src/layers/sim/Scenarios.ts"
import { simScheme, simSeeds, simSize } from "./Seeds.ts"

/** The catalogue, split into files so vitest can run them in parallel. */
export const GROUPS = {
  honest: [
    "all_online",
    "one_offline",
    "slow_validator",
    "slow_and_lossy_links",
    "run_1k",
    "observer",
    "non_genesis_floor_joiner",
    "dishonest_leader_certification_rejected",
  ],
  faults: [
    "backfill",
    "all_recovery",
    "all_crash_after_nullify",
    "unclean_shutdown",
    "hailstorm",
    "partition",
    "split_views_no_lockup",
  ],
  splits: [
    "certified_split_heals_in_group_led_view",
    "certified_split_heals_when_lone_holder_leads_first",
    "certified_split_heals_with_displaced_certified_view",
    "survives_burst",
    "received_certificates_are_reported",
  ],
  byzantine: [
    "conflicter",
    "nuller",
    "nullify_only",
    "outdated",
    "impersonator",
    "reconfigurer",
    "equivocator",
    "corrupt_signatures",
    "twins",
    "twins_n10",
  ],
} as const

export const catalogue = (names: ReadonlyArray<string>) => {
  for (const name of names) {
    const scenario = scenarioNamed(name)
    if (scenario === undefined) throw new Error(`no scenario ${name}`)
    describe(`${name}: ${scenario.expect}`, () => {
      it.each(simSeeds())("holds every invariant and the expected outcome with seed %i", (seed) => {
        const r = scenario.run(seed, { size: simSize(), scheme: simScheme() })
        const replay = `npm run sim -- --seed ${seed} --scenario ${name} --size ${simSize()} --scheme ${simScheme()}`
        expect(r.violations, `replay: ${replay}`).toEqual([])
        expect(r.ok).toBe(true)
        expect(r.views).toBeGreaterThan(0n)
        expect(r.transcript).toMatch(/^[0-9a-f]{64}$/)
      })
    })
  }
}
