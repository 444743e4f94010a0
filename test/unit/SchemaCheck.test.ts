/**
 * The schema checker used against GitHub's response schemas: it accepts what a schema
 * allows and names every departure (wrong type, missing required field, null where not
 * nullable, value outside an enum, bad date-time or URI, failed allOf/anyOf/oneOf).
 */
import { describe, expect, it } from "vitest"
import { problems, type SchemaDocument } from "../support/SchemaCheck.ts"

const doc: SchemaDocument = {
  components: {
    schemas: {
      user: {
        type: "object",
        properties: {
          login: { type: "string" },
          id: { type: "integer" },
          url: { type: "string", format: "uri" },
        },
        required: ["login", "id"],
      },
      "nullable-user": {
        type: "object",
        nullable: true,
        properties: { login: { type: "string" } },
        required: ["login"],
      },
      issue: {
        type: "object",
        properties: {
          state: { type: "string", enum: ["open", "closed"] },
          user: { $ref: "#/components/schemas/nullable-user" },
          closed_at: { type: "string", format: "date-time", nullable: true },
          labels: {
            type: "array",
            items: {
              oneOf: [
                { type: "string" },
                { type: "object", properties: { name: { type: "string" } }, required: ["name"] },
              ],
            },
          },
          body: { type: ["string", "null"] },
          counts: { type: "object", additionalProperties: { type: "integer" } },
        },
        required: ["state", "user"],
      },
    },
  },
}
const issue = { $ref: "#/components/schemas/issue" }

describe("the schema checker", () => {
  it("accepts a value that satisfies the schema", () => {
    expect(
      problems(doc, issue, {
        state: "open",
        user: { login: "a" },
        closed_at: "2024-01-02T03:04:05Z",
        labels: ["bug", { name: "x" }],
        body: null,
        counts: { ts: 3 },
        extra: "allowed",
      }),
    ).toEqual([])
    expect(problems(doc, issue, { state: "closed", user: null })).toEqual([])
  })

  it("names each departure with its path", () => {
    expect(
      problems(doc, issue, {
        state: "merged",
        closed_at: "yesterday",
        labels: [3],
        body: 4,
        counts: { ts: "3" },
      }),
    ).toEqual([
      "$: missing required property user",
      '$.state: "merged" is not one of ["open","closed"]',
      '$.closed_at: "yesterday" is not an ISO 8601 date-time',
      "$.labels[0]: matches none of oneOf; closest: $.labels[0]: expected string, got number 3",
      "$.body: expected string or null, got number 4",
      '$.counts.ts: expected integer, got string "3"',
    ])
  })

  it("refuses null where the schema is not nullable, and a relative URI", () => {
    const user = { $ref: "#/components/schemas/user" }
    expect(problems(doc, user, null)).toEqual(["$: expected object, got null null"])
    expect(problems(doc, user, { login: "a", id: 1.5, url: "/users/a" })).toEqual([
      "$.id: expected integer, got number 1.5",
      '$.url: "/users/a" is not an absolute URI',
    ])
  })

  it("requires every allOf branch, some anyOf branch and exactly one oneOf branch", () => {
    const both = { allOf: [{ required: ["a"] }, { required: ["b"] }] }
    expect(problems(doc, both, { a: 1 })).toEqual(["$: missing required property b"])
    const either = { anyOf: [{ type: "string" }, { type: "integer" }] }
    expect(problems(doc, either, 1)).toEqual([])
    expect(problems(doc, either, true)).toHaveLength(1)
    const exactlyOne = { oneOf: [{ type: "number" }, { type: "integer" }] }
    expect(problems(doc, exactlyOne, 2)).toEqual(["$: matches 2 branches of oneOf, not one"])
  })
})
