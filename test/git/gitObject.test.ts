/**
 * Git object encodings against the real git: ids agree with `git hash-object`, and every
 * commit, tree and tag git writes — including gpg signatures, merged tags, legacy
 * encodings and odd file names — parses and re-serializes byte for byte.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import {
  type Commit,
  commitLinks,
  entryKind,
  hashObject,
  ObjectParseError,
  parseCommit,
  parseTag,
  parseTree,
  serializeCommit,
  serializeTag,
  serializeTree,
  sortTreeEntries,
  type Tag,
  type TreeEntry,
  tagTarget,
  textString,
  treeProblem,
} from "../../src/domain/git/GitObject.ts"
import type { ObjectId } from "../../src/domain/git/ObjectId.ts"
import {
  allObjects,
  catFile,
  git,
  gitEnvRun,
  gitInput,
  makeRepo,
  randomHistory,
  readAllObjects,
  removeTempDirs,
  tempDir,
} from "./gitFixture.ts"

afterAll(removeTempDirs)

let repo: string
let special: { signed: string; mergetag: string; latin1: string; taggerless: string }

const GPGSIG = [
  "-----BEGIN PGP SIGNATURE-----",
  "",
  "iQEzBAABCAAdFiEEexampleexampleexampleexampleexampleAAoJEExampleSig",
  "=abcd",
  "-----END PGP SIGNATURE-----",
].join("\n")

beforeAll(() => {
  repo = makeRepo(path.join(tempDir("objects"), "repo"))
  const h = randomHistory(repo, { commits: 40, seed: 5 })
  const tree = git(repo, "rev-parse", "HEAD^{tree}").trim()
  // A signed commit as git stores one (the signature header folded over several lines).
  const signedText = `tree ${tree}\nparent ${h.head}\nauthor A U Thor <a@example.com> 1700000000 +0000\ncommitter C O Mitter <c@example.com> 1700000001 -0700\ngpgsig ${GPGSIG.split("\n").join("\n ")}\n\nsigned commit\n`
  const signed = gitInput(repo, signedText, "hash-object", "-t", "commit", "-w", "--stdin")
    .toString()
    .trim()
  // A merge of an annotated tag: git records the tag in a `mergetag` header.
  git(repo, "checkout", "-q", "-b", "topic", `${h.head}~3`)
  fs.writeFileSync(path.join(repo, "topic.txt"), "topic\n")
  git(repo, "add", "topic.txt")
  git(repo, "commit", "-q", "-m", "topic work")
  // git records a merged tag only when it is signed: a tag with a signature block will do
  // (merging does not verify it).
  const topic = git(repo, "rev-parse", "HEAD").trim()
  const signedTag = `object ${topic}\ntype commit\ntag topic-tag\ntagger T Agger <t@example.com> 1700000500 +0200\n\na tag to merge\n\nwith a body\n${GPGSIG}\n`
  const tagId = gitInput(repo, signedTag, "hash-object", "-t", "tag", "-w", "--stdin")
    .toString()
    .trim()
  git(repo, "update-ref", "refs/tags/topic-tag", tagId)
  git(repo, "checkout", "-q", "main")
  git(repo, "merge", "-q", "--no-ff", "--no-edit", "topic-tag")
  const mergetag = git(repo, "rev-parse", "HEAD").trim()
  // A commit message in ISO-8859-1, with an `encoding` header.
  const msgFile = path.join(repo, "..", "latin1.txt")
  fs.writeFileSync(msgFile, Buffer.from([0x63, 0x61, 0x66, 0xe9, 0x20, 0xe0, 0x0a])) // "café à"
  fs.writeFileSync(path.join(repo, "more.txt"), "more\n")
  git(repo, "add", "more.txt")
  gitEnvRun(repo, {}, "-c", "i18n.commitEncoding=ISO-8859-1", "commit", "-q", "-F", msgFile)
  const latin1 = git(repo, "rev-parse", "HEAD").trim()
  // An old-style tag without a tagger line.
  const taggerless = gitInput(
    repo,
    `object ${h.head}\ntype commit\ntag ancient\n\nno tagger here\n`,
    "hash-object",
    "-t",
    "tag",
    "-w",
    "--literally",
    "--stdin",
  )
    .toString()
    .trim()
  special = { signed, mergetag, latin1, taggerless }
})

describe("object ids", () => {
  it("hashObject agrees with git hash-object for every object type", () => {
    for (const o of allObjects(repo).slice(0, 60)) {
      const { content } = catFile(repo, o.id)
      expect(hashObject(o.type as "blob", content)).toBe(o.id)
    }
    const blob = Buffer.from("hello\0binary\xff", "latin1")
    const id = gitInput(repo, blob, "hash-object", "--stdin").toString().trim()
    expect(hashObject("blob", blob)).toBe(id)
    expect(hashObject("blob", Buffer.alloc(0))).toBe("e69de29bb2d1d6434b8b29ae775ad8c2e48c5391")
  })

  it("hashObject agrees with git on both sides of its one-call limit, for views, in any order", () => {
    // Below 256 KB an object is hashed from a reused buffer, above with a streaming hash:
    // sizes around the limit, a large one between small ones (the buffer grows, then is
    // reused for less), and a view into a larger buffer.
    const sizes = [1, 4095, 4096, 4097, 262_143, 262_144, 262_145, 700_000, 3, 100_000]
    const backing = Buffer.alloc(800_010)
    for (let i = 0; i < backing.length; i++) backing[i] = (i * 31 + 7) & 0xff
    for (const size of sizes) {
      const content = backing.subarray(10, 10 + size)
      const id = gitInput(repo, content, "hash-object", "--stdin").toString().trim()
      expect(hashObject("blob", content), `size ${size}`).toBe(id)
    }
  })

  it("commits and tags we serialize from scratch are valid to git and hash to its ids", () => {
    const tree = git(repo, "rev-parse", "HEAD^{tree}").trim() as ObjectId
    const parent = git(repo, "rev-parse", "HEAD").trim() as ObjectId
    const commit: Commit = {
      tree,
      parents: [parent],
      author: {
        name: "Zoë Example",
        email: "zoe@example.com",
        timestamp: 1700000000,
        timezone: "+0530",
      },
      committer: {
        name: "Bot",
        email: "bot@example.com",
        timestamp: 1700000100,
        timezone: "-0800",
      },
      headers: [],
      message: "Ünïcode subject\n\nbody\n",
    }
    const bytes = serializeCommit(commit)
    // Without --literally git checks the format (fsck) before hashing.
    const id = gitInput(repo, bytes, "hash-object", "-t", "commit", "--stdin").toString().trim()
    expect(hashObject("commit", bytes)).toBe(id)
    const tag: Tag = {
      object: parent,
      type: "commit",
      tag: "v9",
      tagger: commit.author,
      headers: [],
      message: "release\n",
    }
    const tagBytes = serializeTag(tag)
    expect(hashObject("tag", tagBytes)).toBe(
      gitInput(repo, tagBytes, "hash-object", "-t", "tag", "--stdin").toString().trim(),
    )
  })
})

describe("round trips of what git wrote", () => {
  it("every commit, tree and tag of a generated history re-serializes byte-identically", () => {
    const objs = allObjects(repo).filter((o) => o.type !== "blob")
    const contents = readAllObjects(
      repo,
      objs.map((o) => o.id),
    )
    let counted = 0
    for (const o of objs) {
      const content = contents.get(o.id)!.content
      let again: Buffer
      if (o.type === "commit") {
        const c = parseCommit(content)
        if (c instanceof ObjectParseError) throw c
        again = serializeCommit(c)
      } else if (o.type === "tree") {
        const t = parseTree(content)
        if (t instanceof ObjectParseError) throw t
        expect(treeProblem(t)).toBeUndefined()
        again = serializeTree(t)
      } else {
        const t = parseTag(content)
        if (t instanceof ObjectParseError) throw t
        again = serializeTag(t)
      }
      expect(again.equals(content)).toBe(true)
      counted++
    }
    expect(counted).toBeGreaterThan(100)
  })

  it("a signed commit keeps its folded gpgsig header", () => {
    const raw = catFile(repo, special.signed).content
    const c = parseCommit(raw) as Commit
    expect(c.headers).toEqual([{ name: "gpgsig", value: GPGSIG }])
    expect(c.committer).toEqual({
      name: "C O Mitter",
      email: "c@example.com",
      timestamp: 1700000001,
      timezone: "-0700",
    })
    expect(serializeCommit(c).equals(raw)).toBe(true)
  })

  it("a merge of an annotated tag keeps its mergetag header (a whole tag, folded)", () => {
    const raw = catFile(repo, special.mergetag).content
    const c = parseCommit(raw) as Commit
    expect(c.parents.length).toBe(2)
    const mergetag = c.headers.find((h) => h.name === "mergetag")!
    const embedded = parseTag(Buffer.from(`${textString(mergetag.value)}\n`)) // the header drops its last newline
    if (embedded instanceof ObjectParseError) throw embedded
    expect(embedded.tag).toBe("topic-tag")
    expect(textString(embedded.message)).toBe(`a tag to merge\n\nwith a body\n${GPGSIG}\n`)
    expect(serializeCommit(c).equals(raw)).toBe(true)
  })

  it("a commit in ISO-8859-1 keeps its message bytes (not valid UTF-8) exactly", () => {
    const raw = catFile(repo, special.latin1).content
    const c = parseCommit(raw) as Commit
    expect(c.headers).toEqual([{ name: "encoding", value: "ISO-8859-1" }])
    expect(c.message).toBeInstanceOf(Uint8Array)
    expect(Buffer.from(c.message as Uint8Array).toString("latin1")).toBe("café à\n")
    expect(serializeCommit(c).equals(raw)).toBe(true)
  })

  it("a tag without a tagger parses with tagger undefined and round-trips", () => {
    const raw = catFile(repo, special.taggerless).content
    const t = parseTag(raw) as Tag
    expect(t.tagger).toBeUndefined()
    expect(t.tag).toBe("ancient")
    expect(serializeTag(t).equals(raw)).toBe(true)
    expect(tagTarget(raw)).toEqual({ object: t.object, type: "commit" })
  })

  it("commitLinks reads tree, parents and committer time like the full parser", () => {
    const raw = catFile(repo, special.mergetag).content
    const c = parseCommit(raw) as Commit
    expect(commitLinks(raw)).toEqual({
      tree: c.tree,
      parents: c.parents,
      time: c.committer.timestamp,
    })
  })
})

describe("trees", () => {
  const blobId = () =>
    gitInput(repo, "x\n", "hash-object", "-w", "--stdin").toString().trim() as ObjectId
  const treeId = () => git(repo, "rev-parse", "HEAD^{tree}").trim() as ObjectId

  it("sorts entries as git does (a directory sorts as if its name ended in '/') and matches git mktree", () => {
    const blob = blobId()
    const tree = treeId()
    const entries: TreeEntry[] = [
      { mode: "40000", name: "foo", id: tree },
      { mode: "100644", name: "foo.c", id: blob },
      { mode: "100644", name: "foo0", id: blob },
      { mode: "100755", name: "bar", id: blob },
      { mode: "120000", name: "link", id: blob },
      { mode: "100644", name: "Zeta", id: blob },
      { mode: "100644", name: "été", id: blob },
      { mode: "160000", name: "sub", id: git(repo, "rev-parse", "HEAD").trim() as ObjectId },
    ]
    const sorted = sortTreeEntries(entries)
    expect(sorted.map((e) => e.name)).toEqual([
      "Zeta",
      "bar",
      "foo.c",
      "foo",
      "foo0",
      "link",
      "sub",
      "été",
    ])
    expect(treeProblem(sorted)).toBeUndefined()
    expect(treeProblem(entries)).toMatch(/not sorted/)
    const input = entries
      .map((e) => {
        const type =
          entryKind(e.mode) === "tree"
            ? "tree"
            : entryKind(e.mode) === "gitlink"
              ? "commit"
              : "blob"
        return `${e.mode.padStart(6, "0")} ${type} ${e.id}\t${e.name}`
      })
      .join("\n")
    const id = gitInput(repo, `${input}\n`, "mktree", "--missing").toString().trim()
    const bytes = serializeTree(sorted)
    expect(hashObject("tree", bytes)).toBe(id)
    expect(parseTree(bytes)).toEqual(sorted)
  })

  it("keeps file names that are not UTF-8 as bytes", () => {
    const name = Buffer.from([0x6e, 0xe4, 0x6d, 0x65]) // "näme" in latin1
    const bytes = Buffer.concat([
      Buffer.from("100644 "),
      name,
      Buffer.from([0]),
      Buffer.from(blobId(), "hex"),
    ])
    const entries = parseTree(bytes) as TreeEntry[]
    expect(Buffer.from(entries[0]!.name as Uint8Array).equals(name)).toBe(true)
    expect(serializeTree(entries).equals(bytes)).toBe(true)
  })

  it("treeProblem names duplicates and forbidden names", () => {
    const blob = blobId()
    expect(
      treeProblem([
        { mode: "100644", name: "a", id: blob },
        { mode: "100644", name: "a", id: blob },
      ]),
    ).toMatch(/duplicate/)
    expect(treeProblem([{ mode: "100644", name: ".git", id: blob }])).toMatch(/not allowed/)
    expect(treeProblem([{ mode: "100644", name: "a/b", id: blob }])).toMatch(/contains '\/'/)
  })
})

describe("malformed objects are ObjectParseErrors, never exceptions", () => {
  const id = "a".repeat(40)
  const sig = "A <a@x> 1 +0000"
  const cases: Array<[string, "commit" | "tree" | "tag", string | Buffer]> = [
    ["empty commit", "commit", ""],
    ["commit without tree", "commit", `parent ${id}\nauthor ${sig}\ncommitter ${sig}\n\nm`],
    ["commit with a short tree id", "commit", `tree abc\nauthor ${sig}\ncommitter ${sig}\n\nm`],
    ["commit without committer", "commit", `tree ${id}\nauthor ${sig}\n\nm`],
    [
      "commit with a bad date",
      "commit",
      `tree ${id}\nauthor A <a@x> yesterday +0000\ncommitter ${sig}\n\nm`,
    ],
    ["commit without blank line", "commit", `tree ${id}\nauthor ${sig}\ncommitter ${sig}\n`],
    [
      "commit with a header out of place",
      "commit",
      `tree ${id}\nauthor ${sig}\ncommitter ${sig}\nparent ${id}\n\nm`,
    ],
    ["commit with a stray continuation", "commit", ` tree ${id}\n\nm`],
    ["tree entry without a name terminator", "tree", Buffer.from("100644 file")],
    [
      "tree entry cut inside its id",
      "tree",
      Buffer.concat([Buffer.from("100644 f\0"), Buffer.alloc(7)]),
    ],
    [
      "tree entry with a bad mode",
      "tree",
      Buffer.concat([Buffer.from("10x644 f\0"), Buffer.alloc(20)]),
    ],
    [
      "tree entry with an empty name",
      "tree",
      Buffer.concat([Buffer.from("100644 \0"), Buffer.alloc(20)]),
    ],
    ["tag without object", "tag", `type commit\ntag x\n\nm`],
    ["tag with an unknown type", "tag", `object ${id}\ntype sock\ntag x\n\nm`],
    ["tag with a bad tagger", "tag", `object ${id}\ntype commit\ntag x\ntagger nobody\n\nm`],
  ]
  for (const [label, kind, input] of cases)
    it(label, () => {
      const bytes = Buffer.from(input)
      const r =
        kind === "commit"
          ? parseCommit(bytes)
          : kind === "tree"
            ? parseTree(bytes)
            : parseTag(bytes)
      expect(r).toBeInstanceOf(ObjectParseError)
      expect((r as ObjectParseError).kind).toBe(kind)
    })
})
