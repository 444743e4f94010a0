import { describe, expect, it } from "vitest"
import { SCENARIOS, scenarioNamed } from "../../src/layers/sim/Scenarios.ts"
import { GROUPS } from "./Catalogue.ts"

const lossy = scenarioNamed("slow_and_lossy_links")!

describe("determinism of the simulator", () => {
  it("replays slow_and_lossy_links byte for byte: two runs of each seed 0–4 give the same transcript", () => {
    for (let seed = 0; seed <= 4; seed++) {
      const a = lossy.run(seed)
      const b = lossy.run(seed)
      expect(a.ok, a.violations.join("\n")).toBe(true)
      expect(b.transcript, `seed ${seed}`).toBe(a.transcript)
      expect(b.events).toBe(a.events)
      expect(b.simMs).toBe(a.simMs)
    }
  })

  it("gives different seeds different transcripts", () => {
    const transcripts = new Set([0, 1, 2, 3, 4].map((seed) => lossy.run(seed).transcript))
    expect(transcripts.size).toBe(5)
  })

  it("gives different signature schemes different transcripts for the same seed", () => {
    const sim = lossy.run(3, { scheme: "sim" })
    const ed = lossy.run(3, { scheme: "ed25519" })
    expect(ed.ok, ed.violations.join("\n")).toBe(true)
    expect(ed.transcript).not.toBe(sim.transcript)
  })

  it("records the same transcript whether or not a readable trace is printed", () => {
    const lines: string[] = []
    const traced = scenarioNamed("conflicter")!.run(2, { trace: (l) => lines.push(l) })
    const quiet = scenarioNamed("conflicter")!.run(2)
    expect(lines.length).toBeGreaterThan(1000)
    expect(traced.transcript).toBe(quiet.transcript)
  })

  it("has a test file for every scenario of the catalogue", () => {
    const tested = new Set<string>([
      ...GROUPS.honest,
      ...GROUPS.faults,
      ...GROUPS.splits,
      ...GROUPS.byzantine,
    ])
    expect([...tested].sort()).toEqual(SCENARIOS.map((s) => s.name).sort())
  })
})
