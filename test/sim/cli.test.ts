import { afterEach, describe, expect, it, vi } from "vitest"
import type { Scenario } from "../../src/layers/sim/Scenarios.ts"
import { runSimCli } from "../../src/programs/sim.ts"

const capture = () => {
  const out: string[] = []
  const err: string[] = []
  vi.spyOn(process.stdout, "write").mockImplementation((chunk) => {
    out.push(String(chunk))
    return true
  })
  vi.spyOn(process.stderr, "write").mockImplementation((chunk) => {
    err.push(String(chunk))
    return true
  })
  return { out: () => out.join(""), err: () => err.join("") }
}

afterEach(() => {
  vi.restoreAllMocks()
})

describe("npm run sim", () => {
  it("replays one run, prints its transcript and exits 0, and the same seed prints the same transcript", async () => {
    const a = capture()
    expect(await runSimCli(["--scenario", "observer", "--seed", "3", "--size", "ci"])).toBe(0)
    const first = /transcript: ([0-9a-f]{64})/.exec(a.out())?.[1]
    vi.restoreAllMocks()
    const b = capture()
    expect(await runSimCli(["--", "--scenario=observer", "--seed=3", "--size=ci"])).toBe(0)
    expect(a.out()).toContain("result: PASS")
    expect(first).toBeDefined()
    expect(/transcript: ([0-9a-f]{64})/.exec(b.out())?.[1]).toBe(first)
  })

  it("prints a readable per-event trace with --trace", async () => {
    const c = capture()
    expect(
      await runSimCli(["--scenario", "nuller", "--seed", "1", "--size", "ci", "--trace"]),
    ).toBe(0)
    const text = c.out()
    expect(text).toMatch(/\d+\.\d{3} send #0 /)
    expect(text).toMatch(/deliver #\d+ -> /)
    expect(text).toMatch(/finalized view \d+/)
    expect(text).toMatch(/blocks \d: nullify and finalize/)
  })

  it("runs a campaign over seeds with a progress bar on stderr and a summary table", async () => {
    const c = capture()
    expect(await runSimCli(["--seeds", "2", "--scenario", "impersonator", "--size", "ci"])).toBe(0)
    const text = c.out()
    expect(
      text.match(/PASS impersonator seed=\d views=\d+ transcript: [0-9a-f]{64}/g),
    ).toHaveLength(2)
    expect(text).toMatch(/scenario\s+runs\s+passed\s+failed\s+first failing seed\s+mean views\/s/)
    expect(text).toMatch(/impersonator\s+2\s+2\s+0\s+-\s+\d+/)
    expect(c.err()).toContain("2/2")
  })

  it("rejects unknown scenarios and malformed arguments with exit code 2", async () => {
    const c = capture()
    expect(await runSimCli(["--scenario", "no_such_thing", "--seed", "1"])).toBe(2)
    expect(await runSimCli(["--seed", "x"])).toBe(2)
    expect(await runSimCli(["--bogus"])).toBe(2)
    expect(await runSimCli([])).toBe(2)
    expect(c.err()).toContain("unknown scenario no_such_thing")
  })

  it("lists the catalogue with each scenario's expected outcome", async () => {
    const c = capture()
    expect(await runSimCli(["--list"])).toBe(0)
    expect(c.out()).toMatch(/twins_n10\s+n=10/)
    expect(c.out().trim().split("\n").length).toBe(25)
  })
})

describe("npm run sim with failing runs", () => {
  const fake = (name: string, failOn: (seed: number) => "fail" | "throw" | "pass"): Scenario => ({
    name,
    expect: "fails on chosen seeds",
    run: (seed) => {
      const verdict = failOn(seed)
      if (verdict === "throw") throw new Error("engine invariant broken")
      return {
        scenario: name,
        seed,
        ok: verdict === "pass",
        violations:
          verdict === "pass" ? [] : [`[scenario=${name} seed=${seed}] view 3 finalized twice`],
        transcript: "ab".repeat(32),
        views: 3n,
        simMs: 10,
        wallMs: 1,
        events: 5,
        expect: "fails on chosen seeds",
        notes: {},
      }
    },
  })
  const catalogue = [
    fake("flaky", (s) => (s === 1 ? "fail" : "pass")),
    fake("broken", () => "throw"),
  ]

  it("prints the exact replay command of a failing run and exits non-zero", async () => {
    const c = capture()
    expect(await runSimCli(["--scenario", "flaky", "--seed", "1"], catalogue)).toBe(1)
    expect(c.out()).toContain("violation: [scenario=flaky seed=1] view 3 finalized twice")
    expect(c.out()).toContain("transcript: " + "ab".repeat(32))
    expect(c.out()).toContain("replay: npm run sim -- --seed 1 --scenario flaky")
  })

  it("reports the first failing seed per scenario in a campaign, counting a thrown run as failed", async () => {
    const c = capture()
    expect(await runSimCli(["--seeds", "3"], catalogue)).toBe(1)
    const text = c.out()
    expect(text).toMatch(/flaky\s+3\s+2\s+1\s+1\s/)
    expect(text).toMatch(/broken\s+3\s+0\s+3\s+0\s/)
    expect(text).toContain("replay: npm run sim -- --seed 1 --scenario flaky")
    expect(text).toContain("replay: npm run sim -- --seed 0 --scenario broken")
    expect(text).toContain("the run threw: Error: engine invariant broken")
  })
})
