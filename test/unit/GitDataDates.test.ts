/**
 * The dates the git data API accepts for authors, committers and taggers: ISO 8601 with
 * `Z` or an offset, turned into git's seconds and `+hhmm`; anything else is refused.
 */
import { describe, expect, it } from "vitest"
import { parseIsoDate } from "../../src/services/GitData.ts"

describe("parseIsoDate", () => {
  it("reads UTC and offsets the way git writes them", () => {
    expect(parseIsoDate("2022-01-02T03:04:05Z")).toEqual({
      timestamp: 1641092645,
      timezone: "+0000",
    })
    expect(parseIsoDate("2023-05-06T07:08:09-05:30")).toEqual({
      timestamp: 1683376689,
      timezone: "-0530",
    })
    expect(parseIsoDate("2021-03-04T05:06:07.250+0200")).toEqual({
      timestamp: 1614827167,
      timezone: "+0200",
    })
  })

  it("refuses what is not a real instant after the epoch", () => {
    for (const bad of [
      "yesterday",
      "2021-03-04",
      "2021-03-04 05:06:07Z",
      "2021-02-30T00:00:00Z",
      "2021-03-04T24:00:00Z",
      "2021-03-04T05:06:07+25:00",
      "1969-12-31T23:59:59Z",
      "2021-03-04T05:06:07",
    ])
      expect(parseIsoDate(bad), bad).toBeUndefined()
  })
})
