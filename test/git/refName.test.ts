/**
 * Ref names are judged exactly as `git check-ref-format` judges them: on a list of the
 * rules' edge cases and on generated names built from the characters that matter.
 */
import fc from "fast-check"
import { afterAll, describe, expect, it } from "vitest"
import {
  isValidRefName,
  refNameProblem,
  updatableRefNameProblem,
} from "../../src/domain/git/RefName.ts"
import { gitTry, removeTempDirs, tempDir } from "./gitFixture.ts"

afterAll(removeTempDirs)

const runs = Math.min(Number(process.env.GUTS_FUZZ_RUNS ?? 150), 2000)
const cwd = tempDir("refname")

const gitAccepts = (name: string, oneLevel = false) =>
  gitTry(cwd, undefined, "check-ref-format", ...(oneLevel ? ["--allow-onelevel"] : []), name)
    .code === 0

const CASES = [
  "refs/heads/main",
  "refs/heads/feature/x",
  "refs/tags/v1.0",
  "refs/heads/café",
  "refs/heads/a-b_c+d=e,f!g#h%i'j\"k",
  "refs/heads/bad..name",
  "refs/heads/.hidden",
  "refs/heads/x.lock",
  "refs/heads/x.lock/y",
  "refs/heads/sp ace",
  "refs/heads/tab\tname",
  "refs/heads/del\x7f",
  "refs/heads/ends.",
  "refs/heads/a@{b",
  "refs/heads/a@b",
  "refs/heads/@",
  "refs/heads//double",
  "refs/heads/trailing/",
  "/refs/heads/leading",
  "refs/heads/colon:x",
  "refs/heads/star*",
  "refs/heads/tilde~1",
  "refs/heads/caret^",
  "refs/heads/q?",
  "refs/heads/bracket[",
  "refs/heads/back\\slash",
  "refs/heads/.",
  "refs/heads/..",
  "refs/heads/a./b",
  "refs/heads/-dash",
  "@",
  "HEAD",
  "main",
  "",
]

describe("ref names", () => {
  it("agree with git check-ref-format on each rule's edge cases", () => {
    for (const name of CASES) {
      const ours = refNameProblem(name) === undefined
      expect({ name, valid: ours }).toEqual({
        name,
        valid: name === "HEAD" ? true : gitAccepts(name),
      })
      expect({ name, oneLevel: isValidRefName(name, { allowOneLevel: true }) }).toEqual({
        name,
        oneLevel: gitAccepts(name, true),
      })
    }
  })

  it("agree with git check-ref-format on generated names", () => {
    const piece = fc.constantFrom(
      "a",
      "b",
      "/",
      ".",
      "..",
      "lock",
      ".lock",
      "@",
      "{",
      "@{",
      " ",
      "~",
      "^",
      ":",
      "?",
      "*",
      "[",
      "\\",
      "-",
      "é",
      "\x01",
      "\x7f",
    )
    fc.assert(
      fc.property(fc.array(piece, { minLength: 1, maxLength: 8 }), (pieces) => {
        const name = `refs/${pieces.join("")}`
        expect({ name, valid: isValidRefName(name) }).toEqual({ name, valid: gitAccepts(name) })
      }),
      { numRuns: runs },
    )
  })

  it("explain what is wrong, and only names under refs/ can be updated", () => {
    expect(refNameProblem("refs/heads/a..b")).toMatch(/'\.\.'/)
    expect(refNameProblem("refs/heads/x.lock")).toMatch(/\.lock/)
    expect(refNameProblem("refs/heads/a b")).toMatch(/space/)
    expect(refNameProblem("refs/heads/a\x01")).toMatch(/control character 0x01/)
    expect(updatableRefNameProblem("refs/heads/main")).toBeUndefined()
    expect(updatableRefNameProblem("HEAD")).toMatch(/refs\//)
    expect(updatableRefNameProblem("heads/main")).toMatch(/refs\//)
    expect(updatableRefNameProblem("refs/heads/bad..name")).toMatch(/'\.\.'/)
  })
})
