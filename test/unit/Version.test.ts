import { describe, expect, it } from "vitest"
import { AGENT, GUTS_VERSION } from "../../src/domain/Version.ts"

describe("Version", () => {
  it("advertises the package version as the git agent", () => {
    expect(AGENT).toBe(`guts/${GUTS_VERSION}`)
    expect(GUTS_VERSION).toMatch(/^\d+\.\d+\.\d+$/)
  })
})
