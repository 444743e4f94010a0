/**
 * What a push with bad input gets: a clear error in the protocol, no ref changed, nothing
 * unverified stored — and the node keeps serving everyone else meanwhile.
 */
import * as path from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { authUrl, commitAll, git, initRepo, write } from "../support/Git.ts"
import {
  buildPack,
  commitWithFile,
  FLUSH,
  parsePktLines,
  pkt,
  receivePackRequest,
  ZERO,
} from "../support/RawGit.ts"
import { createRepo, type RunningNode, startNode, tempDir } from "../support/TestNode.ts"

let node: RunningNode
let work: string
let tip: string

beforeAll(async () => {
  node = await startNode({ storage: "rocksdb" })
  work = tempDir("bad-input")
  await createRepo(node, "target")
  const src = path.join(work, "src")
  await initRepo(src)
  for (let i = 0; i < 30; i++) {
    write(src, `f${i % 5}.txt`, `content ${i}\n`.repeat(200))
    await commitAll(src, `c${i}`, i)
  }
  await git(src, ["push", authUrl(`${node.url}/admin/target.git`, node.token), "main"])
  tip = (await git(src, ["rev-parse", "HEAD"])).trim()
})

afterAll(async () => {
  await node?.close()
})

const push = async (body: Buffer, repo = "target") => {
  const res = await fetch(`${node.url}/admin/${repo}.git/git-receive-pack`, {
    method: "POST",
    headers: {
      authorization: `Bearer ${node.token}`,
      "content-type": "application/x-git-receive-pack-request",
    },
    body,
  })
  return { status: res.status, lines: parsePktLines(Buffer.from(await res.arrayBuffer())) }
}

const mainRef = async () => {
  const res = await fetch(`${node.url}/admin/target.git/info/refs?service=git-upload-pack`)
  const text = await res.text()
  return /([0-9a-f]{40}) refs\/heads\/main/.exec(text)?.[1]
}

/** A clone running while the bad request is being handled must still succeed. */
const withConcurrentClone = async <A>(f: () => Promise<A>) => {
  const dir = path.join(work, `clone-${Math.random().toString(36).slice(2)}`)
  const [result] = await Promise.all([
    f(),
    git(work, ["clone", "-q", `${node.url}/admin/target.git`, dir]),
  ])
  expect((await git(dir, ["rev-parse", "HEAD"])).trim()).toBe(tip)
  return result
}

const good = commitWithFile("hello.txt", "hello\n", undefined)
const goodPack = () =>
  buildPack([
    { kind: "blob", content: good.blob },
    { kind: "tree", content: good.tree },
    { kind: "commit", content: good.commit },
  ])

describe("bad pushes", () => {
  it("a truncated pack: unpack error, no ref change", async () => {
    const pack = goodPack()
    const r = await withConcurrentClone(() =>
      push(
        receivePackRequest(
          [{ old: ZERO, new: good.commitId, ref: "refs/heads/truncated" }],
          pack.subarray(0, pack.length - 30),
        ),
      ),
    )
    expect(r.lines[0]).toMatch(/^unpack .*(truncated|end of|incomplete)/i)
    expect(r.lines[1]).toBe("ng refs/heads/truncated unpacker error\n")
    expect(await mainRef()).toBe(tip)
  })

  it("a wrong trailer checksum: unpack error", async () => {
    const pack = goodPack()
    pack[pack.length - 1] ^= 0xff
    const r = await push(
      receivePackRequest([{ old: ZERO, new: good.commitId, ref: "refs/heads/checksum" }], pack),
    )
    expect(r.lines[0]).toMatch(/^unpack .*checksum/i)
    expect(r.lines[1]).toMatch(/^ng refs\/heads\/checksum/)
  })

  it("a ref pointing at an object the pack does not contain: missing objects, refused", async () => {
    // The commit names a tree whose content was altered: the tree in the pack hashes to
    // another id, so the commit's tree is missing.
    const altered = Buffer.from(good.tree)
    altered[altered.length - 1] ^= 0x01
    const pack = buildPack([
      { kind: "blob", content: good.blob },
      { kind: "tree", content: altered },
      { kind: "commit", content: good.commit },
    ])
    const r = await push(
      receivePackRequest([{ old: ZERO, new: good.commitId, ref: "refs/heads/mismatch" }], pack),
    )
    expect(r.lines[0]).toBe("unpack ok\n")
    expect(r.lines[1]).toBe(
      `ng refs/heads/mismatch missing necessary objects (${good.treeId} is not in the pack or this repository)\n`,
    )
    const ls = await (
      await fetch(`${node.url}/admin/target.git/info/refs?service=git-upload-pack`)
    ).text()
    expect(ls).not.toContain("refs/heads/mismatch")
  })

  it("a delta whose base exists nowhere: unpack error naming the base", async () => {
    const missingBase = "1234567890123456789012345678901234567890"
    const delta = Buffer.from([5, 5, 0x05, ...Buffer.from("hello")])
    const pack = buildPack([{ kind: "ref-delta", base: missingBase, delta }])
    const r = await push(
      receivePackRequest([{ old: ZERO, new: good.commitId, ref: "refs/heads/nobase" }], pack),
    )
    expect(r.lines[0]).toMatch(/^unpack .*1234567890123456789012345678901234567890/)
    expect(r.lines[1]).toMatch(/^ng refs\/heads\/nobase/)
  })

  it("an oversized pkt-line: a protocol error, no ref change", async () => {
    const huge = Buffer.concat([Buffer.from("ffff"), Buffer.alloc(70000, 0x61)])
    const r = await withConcurrentClone(() => push(huge))
    expect(r.lines.join("")).toMatch(/ERR .*(pkt-line|packet|length)/i)
    expect(await mainRef()).toBe(tip)
  })

  it("an invalid ref name: ng with the reason, valid refs in the same push still apply", async () => {
    const r = await push(
      receivePackRequest(
        [
          { old: ZERO, new: good.commitId, ref: "refs/heads/bad..name" },
          { old: ZERO, new: good.commitId, ref: "refs/heads/fine" },
        ],
        goodPack(),
      ),
    )
    expect(r.lines[0]).toBe("unpack ok\n")
    expect(r.lines[1]).toMatch(/^ng refs\/heads\/bad\.\.name funny refname/)
    expect(r.lines[2]).toBe("ok refs/heads/fine\n")
  })

  it("a stale compare-and-swap value: ng fetch first, the ref keeps its value", async () => {
    const next = commitWithFile("x.txt", "x\n", tip)
    const pack = buildPack([
      { kind: "blob", content: next.blob },
      { kind: "tree", content: next.tree },
      { kind: "commit", content: next.commit },
    ])
    const stale = "0123456789abcdef0123456789abcdef01234567"
    const r = await push(
      receivePackRequest([{ old: stale, new: next.commitId, ref: "refs/heads/main" }], pack),
    )
    expect(r.lines[0]).toBe("unpack ok\n")
    expect(r.lines[1]).toBe("ng refs/heads/main fetch first\n")
    expect(await mainRef()).toBe(tip)
  })

  it("an atomic push with one bad ref changes no ref", async () => {
    const r = await push(
      receivePackRequest(
        [
          { old: ZERO, new: good.commitId, ref: "refs/heads/atomic-ok" },
          {
            old: "0123456789abcdef0123456789abcdef01234567",
            new: good.commitId,
            ref: "refs/heads/atomic-stale",
          },
        ],
        goodPack(),
        "report-status atomic",
      ),
    )
    expect(r.lines[0]).toBe("unpack ok\n")
    expect(r.lines.slice(1, 3).every((l) => l.startsWith("ng "))).toBe(true)
    const ls = await (
      await fetch(`${node.url}/admin/target.git/info/refs?service=git-upload-pack`)
    ).text()
    expect(ls).not.toContain("refs/heads/atomic-ok")
  })

  it("a push to a missing repository is a 404; anonymous pushes are asked for credentials", async () => {
    const missing = await push(
      receivePackRequest([{ old: ZERO, new: good.commitId, ref: "refs/heads/x" }], goodPack()),
      "nope",
    )
    expect(missing.status).toBe(404)
    const anon = await fetch(`${node.url}/admin/target.git/info/refs?service=git-receive-pack`)
    expect(anon.status).toBe(401)
    expect(anon.headers.get("www-authenticate")).toBe('Basic realm="Guts"')
    const r = await git(work, ["ls-remote", `${node.url}/admin/target.git`]).catch(
      (e: Error) => e.message,
    )
    expect(r).toContain(tip) // reads stay anonymous for a public repository
  })
})

describe("bad fetch requests", () => {
  it("a want the repository does not have is refused with ERR", async () => {
    const body = Buffer.concat([
      pkt(`want ${"ab".repeat(20)} side-band-64k\n`),
      FLUSH,
      pkt("done\n"),
    ])
    const res = await fetch(`${node.url}/admin/target.git/git-upload-pack`, {
      method: "POST",
      body,
    })
    const lines = parsePktLines(Buffer.from(await res.arrayBuffer()))
    expect(lines.join("")).toContain(`ERR upload-pack: not our ref ${"ab".repeat(20)}`)
  })
})
