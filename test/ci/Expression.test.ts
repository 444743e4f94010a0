// biome-ignore-all lint/suspicious/noTemplateCurlyInString: expressions are written ${{ }}
import { describe, expect, it } from "vitest"
import {
  ExpressionError,
  evaluate,
  evaluateIf,
  findEmbedded,
  interpolate,
  parseExpression,
} from "../../src/domain/ci/Expression.ts"
import type { ExprContext } from "../../src/domain/ci/Workflow.ts"

const ctx = (over: Partial<ExprContext> = {}): ExprContext => ({
  github: {
    ref: "refs/heads/main",
    event_name: "push",
    event: {
      labels: [{ name: "bug" }, { name: "CI" }, { other: 1 }],
      pull_request: { number: 7, draft: false },
    },
  },
  env: { MODE: "fast", EMPTY: "" },
  matrix: { node: 18, os: "linux" },
  needs: { build: { result: "success", outputs: { version: "1.2.3" } } },
  inputs: { level: "info" },
  secrets: { TOKEN: "s3cr3t" },
  jobStatus: "success",
  ...over,
})

const ev = (e: string, c = ctx()) => evaluate(e, c)

describe("literals", () => {
  it.each([
    ["null", null],
    ["true", true],
    ["false", false],
    ["42", 42],
    ["-9.5", -9.5],
    ["0xff", 255],
    ["1e3", 1000],
    ["2.5E-1", 0.25],
    [".5", 0.5],
    ["'it''s'", "it's"],
    ["''", ""],
  ])("%s", (src, value) => expect(ev(src)).toEqual(value))
})

describe("context access", () => {
  it.each([
    ["github.ref", "refs/heads/main"],
    ["github['ref']", "refs/heads/main"],
    ["GITHUB.Event_Name", "push"],
    ["matrix.node", 18],
    ["needs.build.outputs.version", "1.2.3"],
    ["needs.build.result", "success"],
    ["env.MODE", "fast"],
    ["secrets.TOKEN", "s3cr3t"],
    ["inputs.level", "info"],
    ["github.nothing.deeper", null],
    ["github.event.labels[1].name", "CI"],
    ["github.event.labels.*.name", ["bug", "CI"]],
    ["github.event.labels[*].name", ["bug", "CI"]],
    ["github.event.pull_request.*", [7, false]],
    ["needs.*.result", ["success"]],
    ["github.event.labels[9]", null],
    ["steps.build.outputs.x", null],
  ])("%s", (src, value) => expect(ev(src)).toEqual(value))
})

describe("operators and GitHub's coercion", () => {
  it.each([
    ["'ABC' == 'abc'", true],
    ["'abc' != 'ABD'", true],
    ["1 == '1'", true],
    ["1 == '1.0'", true],
    ["'' == 0", true],
    ["null == 0", true],
    ["null == ''", true],
    ["null == false", true],
    ["true == 1", true],
    ["true == 'true'", false],
    ["'0x10' == 16", true],
    ["'abc' == 0", false],
    ["fromJSON('[1]') == fromJSON('[1]')", false],
    ["github.event == github.event", true],
    ["github.event == 'Object'", false],
    ["1 < 2", true],
    ["'a' < 'B'", true],
    ["'10' > 9", true],
    ["'x' < 1", false],
    ["'x' >= 1", false],
    ["2 <= 2", true],
    ["!0", true],
    ["!''", true],
    ["!'false'", false],
    ["!github.event", false],
    ["!!null", false],
    // && and || return an operand, not a boolean
    ["'a' && 'b'", "b"],
    ["'' && 'b'", ""],
    ["null || 'fallback'", "fallback"],
    ["0 || null", null],
    ["matrix.node || 'x'", 18],
    // precedence: ! > comparison > equality > && > ||
    ["true || false && false", true],
    ["(true || false) && false", false],
    ["1 < 2 == true", true],
    ["!true == false", true],
    ["false && true || true", true],
  ])("%s → %j", (src, value) => expect(ev(src)).toEqual(value))
})

describe("functions", () => {
  it.each([
    ["contains('Hello World', 'world')", true],
    ["contains(github.event.labels.*.name, 'BUG')", true],
    ["contains(github.event.labels.*.name, 'feature')", false],
    ["contains(fromJSON('[1, 2]'), '2')", true],
    ["contains(123, 23)", true],
    ["startsWith(github.ref, 'REFS/heads/')", true],
    ["endsWith(github.ref, '/MAIN')", true],
    ["startsWith('abc', '')", true],
    ["format('{0} and {1}', 'a', 2)", "a and 2"],
    ["format('{{0}} is {0}', true)", "{0} is true"],
    ["format('{1}{0}{1}', 'x', '-')", "-x-"],
    ["join(github.event.labels.*.name, ', ')", "bug, CI"],
    ["join(fromJSON('[1, true, null]'))", "1,true,"],
    ["join('single')", "single"],
    ["toJSON(matrix)", '{\n  "node": 18,\n  "os": "linux"\n}'],
    ["toJSON('x')", '"x"'],
    ["toJSON(null)", "null"],
    ["fromJSON('{\"a\": [1]}').a[0]", 1],
    ["fromJSON('true')", true],
    ["FORMAT('{0}', 1)", "1"],
  ])("%s", (src, value) => expect(ev(src)).toEqual(value))

  it.each([
    ["success()", "success", true],
    ["success()", "failure", false],
    ["failure()", "failure", true],
    ["failure()", "success", false],
    ["cancelled()", "cancelled", true],
    ["cancelled()", "success", false],
    ["always()", "cancelled", true],
  ] as const)("%s when the job status is %s", (src, status, value) =>
    expect(ev(src, ctx({ jobStatus: status }))).toBe(value),
  )
})

describe("evaluateIf", () => {
  it.each([
    [undefined, "success", true],
    [undefined, "failure", false],
    ["github.ref == 'refs/heads/main'", "success", true],
    // without a status function the condition is success() && (condition)
    ["github.ref == 'refs/heads/main'", "failure", false],
    ["${{ github.ref == 'refs/heads/main' }}", "success", true],
    ["  ${{ github.ref == 'refs/heads/dev' }}  ", "success", false],
    ["always()", "failure", true],
    ["${{ always() }}", "cancelled", true],
    ["failure()", "failure", true],
    ["failure()", "success", false],
    ["failure() && matrix.os == 'linux'", "failure", true],
    ["!cancelled()", "failure", true],
    ["cancelled()", "cancelled", true],
    ["success() || failure()", "failure", true],
    ["'false'", "success", true],
    ["env.EMPTY", "success", false],
    ["matrix.node", "success", true],
  ] as const)("%s with status %s → %s", (cond, status, value) =>
    expect(evaluateIf(cond, ctx({ jobStatus: status }))).toBe(value),
  )

  it("refuses text mixed with ${{ }}, which would always be true", () => {
    expect(() => evaluateIf("${{ false }} && true", ctx())).toThrow(
      /mixes \$\{\{ \}\} with other text/,
    )
  })
})

describe("interpolate", () => {
  it.each([
    ["node ${{ matrix.node }} on ${{ matrix.os }}", "node 18 on linux"],
    ["no expressions", "no expressions"],
    ["${{ github.event.pull_request }}", '{\n  "number": 7,\n  "draft": false\n}'],
    ["[${{ null }}][${{ true }}]", "[][true]"],
    ["${{ format('{0}}}', 'x') }}!", "x}!"],
    ["${{'a'}}${{'b'}}", "ab"],
  ])("%s", (text, expected) => expect(interpolate(text, ctx())).toBe(expected))

  it("finds the closing }} outside quoted strings", () => {
    expect(findEmbedded("a ${{ '}}' }} b")).toEqual([{ start: 2, end: 13, expression: "'}}'" }])
  })
})

describe("errors carry the expression and the position", () => {
  it.each([
    ["", 0, "the expression is empty"],
    ["github.ref ==", 13, "the expression ends where a value is expected"],
    ["github.ref = 'x'", 11, "'=' is not an operator"],
    ["a & b", 2, "'&' is not an operator; use '&&'"],
    ["a && b", 0, "unknown name 'a'"],
    ["github.ref & 'b'", 11, "'&' is not an operator; use '&&'"],
    ['github.ref == "main"', 14, "single quotes"],
    ["'open", 0, "unterminated string"],
    ["contains('a')", 0, "contains() takes 2 arguments, given 1"],
    ["join()", 0, "join() takes 1 or 2 arguments, given 0"],
    ["success(1)", 0, "success() takes 0 arguments"],
    ["nope(1)", 0, "unknown function 'nope'"],
    ["(true", 5, "expected ')' to close '('"],
    ["github.ref github.sha", 11, "after a complete expression"],
    ["github.", 7, "expected a property name after '.'"],
    ["matrix[0", 8, "expected ']'"],
    ["12abc", 0, "is not a number"],
    ["github.ref #", 11, "unexpected character '#'"],
  ])("%j at %i", (src, position, problem) => {
    try {
      parseExpression(src)
      expect.unreachable()
    } catch (err) {
      expect(err).toBeInstanceOf(ExpressionError)
      const e = err as ExpressionError
      expect(e._tag).toBe("ExpressionError")
      expect(e.expression).toBe(src)
      expect(e.position).toBe(position)
      expect(e.problem).toContain(problem)
    }
  })

  it.each([
    ["fromJSON('{oops')", "fromJSON() was given text that is not JSON"],
    ["format('{0} {1}', 'a')", "placeholder {1} has no argument"],
    ["format('{x}')", "must start a placeholder"],
    ["format('a } b')", "lone '}'"],
  ])("%s fails when evaluated", (src, problem) => {
    expect(() => ev(src)).toThrow(ExpressionError)
    expect(() => ev(src)).toThrow(problem)
  })

  it("reports a ${{ that is never closed", () => {
    expect(() => interpolate("echo ${{ github.ref", ctx())).toThrow(/never closed/)
  })
})
