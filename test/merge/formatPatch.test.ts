/**
 * `.patch` output against git: our format-patch text is `git format-patch --stdout`'s for a
 * series with odd paths, modes, binaries, symlinks, non-ASCII and RFC 822 special authors,
 * long subjects and a skipped merge; and `git am` of it recreates the very same commits.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { Effect } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { mapLoader } from "../../src/domain/git/MergeBase.ts"
import type { ObjectId } from "../../src/domain/git/ObjectId.ts"
import { formatPatch, rfc2822Date } from "../../src/domain/git/UnifiedDiff.ts"
import { removeTempDirs, tempDir } from "../git/gitFixture.ts"
import { commitAll, git, initRepo, write } from "../support/Git.ts"
import { objectsOf } from "./mergeFixture.ts"

afterAll(removeTempDirs)

/** Binary payloads depend on the zlib build; the rest must match byte for byte. */
const maskBinary = (patch: Buffer) =>
  patch.toString("latin1").replace(/(literal \d+\n)(?:[^\n]+\n)+\n/g, "$1<deflated>\n")

const commitAs = async (dir: string, message: string, n: number, env: Record<string, string>) => {
  await git(dir, ["add", "-A"])
  const date = `2026-01-02T00:00:${String(n).padStart(2, "0")}Z`
  await git(dir, ["commit", "-q", "-m", message], {
    GIT_AUTHOR_DATE: date,
    GIT_COMMITTER_DATE: date,
    ...env,
  })
  return (await git(dir, ["rev-parse", "HEAD"])).trim()
}

describe("format-patch against git", () => {
  let repo: string
  let base: string
  let linearTip: string
  let load: ReturnType<typeof mapLoader>

  beforeAll(async () => {
    repo = await initRepo(path.join(tempDir("format-patch"), "repo"))
    write(repo, "README", "read me\n")
    write(repo, "run.sh", "#!/bin/sh\necho hi\n")
    base = await commitAll(repo, "base", 1)

    const c = Array.from({ length: 40 }, (_, i) =>
      i % 8 === 0 ? `int f${i}(void)\n` : `  line ${i};\n`,
    ).join("")
    write(repo, "src/a.c", c)
    const bin = Buffer.alloc(2048)
    for (let i = 0; i < bin.length; i++) bin[i] = (i * 7919) % 251
    write(repo, "logo.bin", bin)
    write(repo, "docs/with space.md", "spaced\n")
    write(repo, "ünïcode.txt", "unicode name\n")
    await commitAll(
      repo,
      "Add sources\n\nA body paragraph.\n\nSigned-off-by: Ada <ada@example.com>",
      2,
    )

    write(repo, "src/a.c", c.replace("  line 3;\n", "  line three;\n").replace("  line 30;\n", ""))
    fs.chmodSync(path.join(repo, "run.sh"), 0o755)
    fs.rmSync(path.join(repo, "README"))
    await commitAll(
      repo,
      "A rather long subject line that certainly goes past the seventy-eight column limit of mail",
      3,
    )

    write(repo, "ünïcode.txt", "naïve café\n")
    await commitAs(repo, "Fix naïve = check?\n\nBody with ümlauts.", 4, {
      GIT_AUTHOR_NAME: "Jörg Ünïcode",
    })

    fs.symlinkSync("src/a.c", path.join(repo, "link"))
    write(repo, "empty", "")
    write(repo, "no-eol.txt", "last line without newline")
    linearTip = await commitAs(repo, "Link, empty file", 5, { GIT_AUTHOR_NAME: "Doe, John" })

    // A side branch merged back: format-patch sends the side commit, not the merge.
    await git(repo, ["checkout", "-q", "-b", "side", base])
    write(repo, "side.txt", "side\n")
    await commitAll(repo, "side work", 6)
    await git(repo, ["checkout", "-q", "main"])
    await git(repo, ["merge", "-q", "--no-ff", "-m", "merge side", "side"], {
      GIT_AUTHOR_DATE: "2026-01-02T00:00:07Z",
      GIT_COMMITTER_DATE: "2026-01-02T00:00:07Z",
    })
    load = mapLoader(objectsOf(repo))
  })

  const series = async (range: string) =>
    (await git(repo, ["rev-list", "--reverse", range])).trim().split("\n") as ObjectId[]

  it("writes the text git format-patch --stdout writes", async () => {
    const ours = Effect.runSync(
      formatPatch(load, await series(`${base}..HEAD`), { signature: "2.39.5" }),
    )
    const theirs = await git(repo, ["format-patch", "--stdout", `${base}..HEAD`])
    expect(maskBinary(ours)).toBe(maskBinary(Buffer.from(theirs, "utf8")))
    // Five commits besides the merge, which is left out.
    expect(ours.toString("latin1")).toMatch(/Subject: \[PATCH [1-5]\/5\] side work\n/)
    expect(ours.toString("latin1")).not.toContain("merge side")
    expect(ours.toString("latin1")).toContain("GIT binary patch")
  })

  it("is applied by git am into the very same commits", async () => {
    const patch = Effect.runSync(formatPatch(load, await series(`${base}..${linearTip}`)))
    const file = path.join(path.dirname(repo), "series.patch")
    fs.writeFileSync(file, patch)
    const clone = path.join(path.dirname(repo), "clone")
    await git(path.dirname(repo), ["clone", "-q", repo, clone])
    await git(clone, ["checkout", "-q", "--detach", base])
    await git(clone, ["am", "-q", "--committer-date-is-author-date", file])
    expect((await git(clone, ["rev-parse", "HEAD"])).trim()).toBe(linearTip)
  })

  it("dates mails in the author's own time zone", () => {
    expect(
      rfc2822Date({ name: "a", email: "b", timestamp: 1_767_225_600, timezone: "-0530" }),
    ).toBe("Wed, 31 Dec 2025 18:30:00 -0530")
  })
})
