import { describe, expect, it } from "vitest"
import { parseLimits } from "../../src/programs/runner.ts"
import { defaultLimits, prlimitArgs } from "../../src/runner/Executor.ts"

describe("--limits", () => {
  it("applies names over the defaults, with size suffixes, and unlimited removes one", () => {
    expect(parseLimits("")).toEqual(defaultLimits)
    expect(parseLimits("cpu=60, as=4G,nproc=512,fsize=10M,nofile=unlimited")).toEqual({
      cpuSeconds: 60,
      addressSpaceBytes: 4 * 1024 ** 3,
      processes: 512,
      fileSizeBytes: 10 * 1024 ** 2,
    })
    expect(prlimitArgs(parseLimits("cpu=60,fsize=1K,nofile=unlimited"))).toEqual([
      "--cpu=60",
      "--fsize=1024",
    ])
  })

  it("a bad entry is refused with a message naming it and what is allowed", () => {
    expect(() => parseLimits("memory=1G")).toThrow(
      /"memory=1G" is not name=value with name one of cpu, as/,
    )
    expect(() => parseLimits("cpu=1G")).toThrow(/cpu=1G must be a whole number, or unlimited/)
    expect(() => parseLimits("as=-1")).toThrow(/with an optional K, M, G or T suffix/)
  })
})
