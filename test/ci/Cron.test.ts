import { describe, expect, it } from "vitest"
import { CronError, cronMatches, nextAfter, parseCron } from "../../src/domain/ci/Cron.ts"

const at = (iso: string) => new Date(`${iso}Z`)

describe("parseCron", () => {
  it.each([
    ["* * * * *", { minutes: 60, hours: 24, daysOfMonth: 31, months: 12, daysOfWeek: 7 }],
    [
      "*/15 0-6/2 1,15 JAN-mar sun",
      { minutes: 4, hours: 4, daysOfMonth: 2, months: 3, daysOfWeek: 1 },
    ],
    ["5/20 * * * 1-5", { minutes: 3, hours: 24, daysOfMonth: 31, months: 12, daysOfWeek: 5 }],
    ["0 0 * * 7", { minutes: 1, hours: 1, daysOfMonth: 31, months: 12, daysOfWeek: 1 }],
    ["0 0 * * 5-7", { minutes: 1, hours: 1, daysOfMonth: 31, months: 12, daysOfWeek: 3 }],
  ])("%s", (src, sizes) => {
    const c = parseCron(src)
    expect({
      minutes: c.minutes.size,
      hours: c.hours.size,
      daysOfMonth: c.daysOfMonth.size,
      months: c.months.size,
      daysOfWeek: c.daysOfWeek.size,
    }).toEqual(sizes)
  })

  it("reads steps, ranges and names exactly", () => {
    const c = parseCron("5/20 0-6/2 1,15 JAN-mar sun,SAT")
    expect([...c.minutes]).toEqual([5, 25, 45])
    expect([...c.hours]).toEqual([0, 2, 4, 6])
    expect([...c.months]).toEqual([1, 2, 3])
    expect([...c.daysOfWeek].sort()).toEqual([0, 6])
  })

  it.each([
    ["", "expected 5 fields"],
    ["* * * *", "expected 5 fields (minute hour day-of-month month day-of-week), found 4"],
    ["* * * * * *", "found 6"],
    ["60 * * * *", "minute field: 60 is out of range (allowed 0-59)"],
    ["* 24 * * *", "hour field: 24 is out of range"],
    ["* * 0 * *", "day-of-month field: 0 is out of range (allowed 1-31)"],
    ["* * * 13 *", "month field: 13 is out of range (allowed 1-12 or JAN-DEC)"],
    ["* * * * 8", "day-of-week field: 8 is out of range (allowed 0-7 or SUN-SAT)"],
    ["* * * FOO *", "month field: 'FOO' is not a number or name"],
    ["*/0 * * * *", "step '0' in '*/0' must be a positive whole number"],
    ["5-1 * * * *", "range '5-1' goes backwards"],
    ["1,,2 * * * *", "empty list item"],
    ["1-2-3 * * * *", "'1-2-3' is not a range"],
    ["*/2/3 * * * *", "more than one '/'"],
  ])("refuses %j", (src, problem) => {
    expect(() => parseCron(src)).toThrow(CronError)
    expect(() => parseCron(src)).toThrow(problem)
  })
})

describe("cronMatches (UTC)", () => {
  it.each([
    ["*/15 * * * *", "2026-03-04T10:30:59", true],
    ["*/15 * * * *", "2026-03-04T10:31:00", false],
    ["0 3 * * *", "2026-03-04T03:00:00", true],
    ["0 3 * * *", "2026-03-04T04:00:00", false],
    ["0 0 * * MON", "2026-03-02T00:00:00", true],
    ["0 0 * * MON", "2026-03-03T00:00:00", false],
    ["0 0 * * 7", "2026-03-01T00:00:00", true],
    // both day fields restricted: either matches
    ["0 0 13 * FRI", "2026-03-13T00:00:00", true],
    ["0 0 13 * FRI", "2026-03-06T00:00:00", true],
    ["0 0 13 * FRI", "2026-03-07T00:00:00", false],
    // only day-of-month restricted
    ["0 0 13 * *", "2026-03-06T00:00:00", false],
    ["30 5 * 2 *", "2026-02-10T05:30:00", true],
    ["30 5 * 2 *", "2026-03-10T05:30:00", false],
  ])("%s at %s → %s", (cron, iso, expected) => {
    expect(cronMatches(cron, at(iso))).toBe(expected)
  })
})

describe("nextAfter", () => {
  it.each([
    ["*/15 * * * *", "2026-03-04T10:30:00", "2026-03-04T10:45:00"],
    ["*/15 * * * *", "2026-03-04T10:29:59.999", "2026-03-04T10:30:00"],
    ["0 3 * * *", "2026-03-04T03:00:00", "2026-03-05T03:00:00"],
    ["0 0 1 1 *", "2026-03-04T00:00:00", "2027-01-01T00:00:00"],
    ["0 12 29 2 *", "2026-03-01T00:00:00", "2028-02-29T12:00:00"],
    ["59 23 31 12 *", "2026-12-31T23:58:00", "2026-12-31T23:59:00"],
    ["0 9 * * 1-5", "2026-03-06T10:00:00", "2026-03-09T09:00:00"],
  ])("%s after %s is %s", (cron, from, expected) => {
    expect(nextAfter(cron, at(from))?.toISOString()).toBe(at(expected).toISOString())
  })

  it("is undefined for a date no month has", () => {
    expect(nextAfter("0 0 30 2 *", at("2026-01-01T00:00:00"))).toBeUndefined()
  })
})
