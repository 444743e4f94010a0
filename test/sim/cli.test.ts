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

  it("accounts view changes by leader: an offline node's views are nullified, none finalized, and each cost the others a timeout", async () => {
    const c = capture()
    expect(await runSimCli(["--scenario", "one_offline", "--seed", "1", "--size", "ci"])).toBe(0)
    const text = c.out()
    const offline = Number(/offline=(\d+)/.exec(text)?.[1])
    expect(text).toContain("view changes by leader")
    const row = (leader: number) => {
      const m = new RegExp(`^\\s+${leader}\\s+(\\d+)\\s+(\\d+)\\s+(\\d+)\\s+(\\d+)$`, "m").exec(
        text,
      )
      if (m === null) throw new Error(`no row for leader ${leader}`)
      const [finalized, notarized, nullified, timeouts] = m.slice(1).map(Number)
      return { finalized, notarized, nullified, timeouts }
    }
    const dead = row(offline)
    expect(dead.finalized).toBe(0)
    expect(dead.nullified).toBeGreaterThan(0)
    // Every live validator timed out on each of the offline leader's views.
    expect(dead.timeouts).toBe(4 * dead.nullified)
    for (const leader of [0, 1, 2, 3, 4].filter((i) => i !== offline)) {
      expect(row(leader).finalized).toBeGreaterThan(0)
      expect(row(leader).nullified).toBe(0)
    }
  })

  it("shows nullified views by leader in the campaign summary", async () => {
    const c = capture()
    expect(await runSimCli(["--seeds", "2", "--scenario", "one_offline", "--size", "ci"])).toBe(0)
    const text = c.out()
    expect(text).toMatch(/mean views\/s\s+nullified \(by leader\)\s+timeouts/)
    const m = /one_offline\s+2\s+2\s+0\s+-\s+\d+\s+(\d+) \((\d+):(\d+)[^)]*\)\s+(\d+)/.exec(text)
    expect(m).not.toBeNull()
    const [total, , top, timeouts] = (m ?? []).slice(1).map(Number)
    expect(top).toBeGreaterThan(0)
    expect(total).toBeGreaterThanOrEqual(top)
    expect(timeouts).toBeGreaterThanOrEqual(total)
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
    expect(c.out().trim().split("\n").length).toBe(30)
    expect(c.out()).toMatch(/certified_split_heals_in_group_led_view\s+n=4/)
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
        leaders: [],
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
