/**
 * Repositories made by the real git, for tests that prove our codecs against it.
 *
 * Everything runs git in an isolated environment (test/support/Git.ts's gitEnv: no user
 * or system config, fixed identities and dates), synchronously: fixtures are built once per
 * test file, and synchronous calls keep the helpers simple to compose.
 *
 * `randomHistory` writes a seeded history through `git fast-import` (hundreds of commits in
 * one process): many revisions of similar text files (so `git pack-objects` finds real,
 * deep delta chains), nested directories, deletions, side branches merged back, annotated
 * tags and, on request, incompressible binary files to make packs big.
 */
import { spawnSync } from "node:child_process"
import { createHash } from "node:crypto"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { gitEnv } from "../support/Git.ts"

const created: string[] = []

/** Removes every directory tempDir made (call from afterAll). */
export const removeTempDirs = (): void => {
  for (const dir of created.splice(0)) fs.rmSync(dir, { recursive: true, force: true })
}

/** A fresh temporary directory under os.tmpdir() (see removeTempDirs). */
export const tempDir = (prefix: string): string => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `guts-git-${prefix}-`))
  created.push(dir)
  return dir
}

const run = (
  cwd: string,
  args: ReadonlyArray<string>,
  input?: Uint8Array | string,
  env: Record<string, string> = {},
) => {
  const r = spawnSync("git", args as string[], {
    cwd,
    env: gitEnv(env),
    input,
    maxBuffer: 1 << 30,
  })
  if (r.error) throw r.error
  return r
}

const check = (args: ReadonlyArray<string>, r: ReturnType<typeof run>): Buffer => {
  if (r.status !== 0)
    throw new Error(`git ${args.join(" ")} failed (${r.status}):\n${r.stderr.toString()}`)
  return r.stdout
}

/** Runs git, returns stdout as text; a non-zero exit throws with git's stderr. */
export const git = (cwd: string, ...args: string[]): string =>
  check(args, run(cwd, args)).toString("utf8")

/** Runs git, returns stdout as bytes (object contents, packs). */
export const gitBytes = (cwd: string, ...args: string[]): Buffer => check(args, run(cwd, args))

/** Runs git with `input` on stdin, returns stdout as bytes. */
export const gitInput = (cwd: string, input: Uint8Array | string, ...args: string[]): Buffer =>
  check(args, run(cwd, args, input))

/** Runs git without failing: exit code, stdout and stderr (for "git rejects this" tests). */
export const gitTry = (
  cwd: string,
  input: Uint8Array | string | undefined,
  ...args: string[]
): { code: number; stdout: Buffer; stderr: string } => {
  const r = run(cwd, args, input)
  return { code: r.status ?? 1, stdout: r.stdout, stderr: r.stderr.toString() }
}

/** Runs git with extra environment variables (dates, encodings). */
export const gitEnvRun = (cwd: string, env: Record<string, string>, ...args: string[]): string =>
  check(args, run(cwd, args, undefined, env)).toString("utf8")

/** An empty repository with `main` as its initial branch (bare if asked). */
export const makeRepo = (dir: string, options: { bare?: boolean } = {}): string => {
  fs.mkdirSync(dir, { recursive: true })
  git(dir, "init", "-q", ...(options.bare ? ["--bare"] : []), "-b", "main")
  return dir
}

/** Type and content of an object, as git stores it. */
export const catFile = (repo: string, id: string): { type: string; content: Buffer } => {
  const type = git(repo, "cat-file", "-t", id).trim()
  return { type, content: gitBytes(repo, "cat-file", type, id) }
}

/** Every object in the repository's object database, with its type. */
export const allObjects = (repo: string): Array<{ id: string; type: string; size: number }> =>
  git(
    repo,
    "cat-file",
    "--batch-all-objects",
    "--batch-check=%(objectname) %(objecttype) %(objectsize)",
  )
    .trim()
    .split("\n")
    .filter(Boolean)
    .map((line) => {
      const [id, type, size] = line.split(" ")
      return { id: id!, type: type!, size: Number(size) }
    })

/** All objects' contents in one git process (`cat-file --batch`). */
export const readAllObjects = (
  repo: string,
  ids: ReadonlyArray<string>,
): Map<string, { type: string; content: Buffer }> => {
  const out = gitInput(repo, `${ids.join("\n")}\n`, "cat-file", "--batch")
  const result = new Map<string, { type: string; content: Buffer }>()
  let pos = 0
  while (pos < out.length) {
    const nl = out.indexOf(10, pos)
    const [id, type, size] = out.toString("latin1", pos, nl).split(" ")
    const start = nl + 1
    const end = start + Number(size)
    result.set(id!, { type: type!, content: out.subarray(start, end) })
    pos = end + 1
  }
  return result
}

/** `git pack-objects --stdout` over the given ids (or `--revs` input), with extra flags. */
export const packObjects = (repo: string, input: string, ...flags: string[]): Buffer =>
  gitInput(
    repo,
    input.endsWith("\n") ? input : `${input}\n`,
    "pack-objects",
    "--stdout",
    "-q",
    ...flags,
  )

/** A small deterministic PRNG (mulberry32), so a seed reproduces a history. */
export const prng = (seed: number) => {
  let a = seed >>> 0
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
  return {
    next,
    int: (n: number) => Math.floor(next() * n),
    pick: <T>(xs: ReadonlyArray<T>): T => xs[Math.floor(next() * xs.length)]!,
  }
}

export interface HistoryOptions {
  /** Commits on the main line (side-branch commits come on top). Default 60. */
  readonly commits?: number
  readonly seed?: number
  /** Text files in the tree. Default 12. */
  readonly files?: number
  /** Lines per text file at the start. Default 120. */
  readonly lines?: number
  /** Every how many commits a side branch is made and merged back (0: never). Default 15. */
  readonly mergeEvery?: number
  /** Every how many commits an annotated tag is made (0: never). Default 20. */
  readonly tagEvery?: number
  /** Incompressible binary files of this many bytes, rewritten now and then. Default 0. */
  readonly binaryBytes?: number
  /** How many binary files. Default 0. */
  readonly binaryFiles?: number
  readonly branch?: string
}

export interface History {
  /** Main-line commit ids, oldest first. */
  readonly mainline: ReadonlyArray<string>
  readonly head: string
  readonly tags: ReadonlyArray<string>
}

const WORDS = ["alpha", "beta", "gamma", "delta", "kappa", "lambda", "sigma", "omega", "zeta"]

/**
 * Writes a seeded history into `repo` (made with makeRepo) through `git fast-import`,
 * then checks out the branch. Deterministic for a given seed and options.
 */
export const randomHistory = (repo: string, options: HistoryOptions = {}): History => {
  const rnd = prng(options.seed ?? 1)
  const commits = options.commits ?? 60
  const fileCount = options.files ?? 12
  const lineCount = options.lines ?? 120
  const mergeEvery = options.mergeEvery ?? 15
  const tagEvery = options.tagEvery ?? 20
  const binaryFiles = options.binaryFiles ?? 0
  const binaryBytes = options.binaryBytes ?? 0
  const branch = options.branch ?? "main"
  const ref = `refs/heads/${branch}`

  const parts: Buffer[] = []
  const emit = (s: string | Buffer) => parts.push(typeof s === "string" ? Buffer.from(s) : s)
  const data = (content: Buffer) => {
    emit(`data ${content.length}\n`)
    emit(content)
    emit("\n")
  }

  const files = new Map<string, string[]>()
  const dirs = ["", "src/", "src/lib/", "docs/", "test/unit/"]
  for (let f = 0; f < fileCount; f++) {
    const lines = Array.from(
      { length: lineCount },
      (_, i) => `${rnd.pick(WORDS)} ${f} ${i} ${rnd.pick(WORDS)} ${"=".repeat(rnd.int(30))}\n`,
    )
    files.set(`${dirs[f % dirs.length]}file${f}.txt`, lines)
  }
  const binaries = new Map<string, Buffer>()
  const randomBytes = (n: number) => {
    const b = Buffer.allocUnsafe(n)
    for (let i = 0; i < n; i += 4) b.writeUInt32LE((rnd.next() * 4294967296) >>> 0, i & ~3)
    return b.subarray(0, n)
  }
  for (let b = 0; b < binaryFiles; b++)
    binaries.set(`assets/blob${b}.bin`, randomBytes(binaryBytes))

  let mark = 0
  let time = 1_700_000_000
  const marks: number[] = []
  const tags: string[] = []

  const changelog: string[] = ["# Changes\n"]
  const editFiles = (changes: Array<[string, Buffer | undefined]>, count: number) => {
    // One file grows in every commit: its versions make delta chains as deep as the history.
    changelog.push(`- change ${mark}: ${rnd.pick(WORDS)} ${rnd.pick(WORDS)}\n`)
    changes.push(["CHANGELOG.md", Buffer.from(changelog.join(""))])
    const names = [...files.keys()]
    for (let k = 0; k < count; k++) {
      const name = rnd.pick(names)
      const lines = files.get(name)!
      const op = rnd.int(10)
      if (op < 6) lines[rnd.int(lines.length)] = `changed ${mark} ${rnd.pick(WORDS)}\n`
      else if (op < 8) lines.splice(rnd.int(lines.length), 0, `inserted ${mark}\n`)
      else if (lines.length > 10) lines.splice(rnd.int(lines.length), 1)
      changes.push([name, Buffer.from(lines.join(""))])
    }
    if (rnd.int(8) === 0) {
      // A file comes and goes now and then, so trees lose entries too.
      const name = `tmp/scratch${rnd.int(3)}.txt`
      if (files.has(name)) {
        files.delete(name)
        changes.push([name, undefined])
      } else {
        files.set(name, [`scratch ${mark}\n`])
        changes.push([name, Buffer.from(`scratch ${mark}\n`)])
      }
    }
    if (binaries.size > 0 && rnd.int(4) === 0) {
      // Rewrite a slice of one binary, keeping the rest: similar binaries make deltas.
      const name = rnd.pick([...binaries.keys()])
      const next = Buffer.from(binaries.get(name)!)
      const at = rnd.int(Math.max(1, next.length - 512))
      randomBytes(512).copy(next, at)
      binaries.set(name, next)
      changes.push([name, next])
    }
  }

  const commit = (
    refName: string,
    message: string,
    from: number | undefined,
    merge: number | undefined,
    changes: Array<[string, Buffer | undefined]>,
  ) => {
    mark += 1
    time += 60 + rnd.int(600)
    emit(`commit ${refName}\nmark :${mark}\n`)
    emit(`author Ada Lovelace <ada@example.com> ${time} +0100\n`)
    emit(`committer Grace Hopper <grace@example.com> ${time} -0500\n`)
    data(Buffer.from(`${message}\n\nBody of ${message}.\n`))
    if (from !== undefined) emit(`from :${from}\n`)
    if (merge !== undefined) emit(`merge :${merge}\n`)
    for (const [name, content] of changes) {
      if (content === undefined) emit(`D ${name}\n`)
      else {
        emit(`M 100644 inline ${name}\n`)
        data(content)
      }
    }
    emit("\n")
    return mark
  }

  // Root commit: every file.
  const initial: Array<[string, Buffer | undefined]> = []
  for (const [name, lines] of files) initial.push([name, Buffer.from(lines.join(""))])
  for (const [name, content] of binaries) initial.push([name, content])
  initial.push(["run.sh", Buffer.from("#!/bin/sh\necho hi\n")])
  initial.push(["CHANGELOG.md", Buffer.from(changelog.join(""))])
  let head = commit(ref, "initial commit", undefined, undefined, initial)
  // An executable file and a symlink, so trees carry every common mode.
  emit(`commit ${ref}\nmark :${++mark}\n`)
  emit(`author Ada Lovelace <ada@example.com> ${++time} +0000\n`)
  emit(`committer Ada Lovelace <ada@example.com> ${time} +0000\n`)
  data(Buffer.from("modes\n"))
  emit(`from :${head}\nM 100755 inline run.sh\n`)
  data(Buffer.from("#!/bin/sh\necho hello\n"))
  emit("M 120000 inline link\n")
  data(Buffer.from("run.sh"))
  emit("\n")
  head = mark
  marks.push(head)

  for (let c = 2; c < commits; c++) {
    const changes: Array<[string, Buffer | undefined]> = []
    editFiles(changes, 1 + rnd.int(3))
    head = commit(ref, `commit ${c}`, head, undefined, changes)
    marks.push(head)
    if (mergeEvery > 0 && c % mergeEvery === 0 && marks.length > 4) {
      // A side branch from a few commits back, two commits, merged into main.
      const side = `refs/heads/side${c}`
      const forkAt = marks[marks.length - 1 - (1 + rnd.int(3))]!
      let sideHead = forkAt
      for (let s = 0; s < 2; s++) {
        const sideChanges: Array<[string, Buffer | undefined]> = []
        const name = `side/branch${c}-${s}.txt`
        sideChanges.push([name, Buffer.from(`side ${c} ${s}\n`.repeat(20))])
        sideHead = commit(side, `side ${c}.${s}`, sideHead, undefined, sideChanges)
      }
      const mergeChanges: Array<[string, Buffer | undefined]> = []
      for (let s = 0; s < 2; s++) {
        const name = `side/branch${c}-${s}.txt`
        mergeChanges.push([name, Buffer.from(`side ${c} ${s}\n`.repeat(20))])
      }
      head = commit(ref, `merge side ${c}`, head, sideHead, mergeChanges)
      marks.push(head)
    }
    if (tagEvery > 0 && c % tagEvery === 0) {
      const name = `v${c / tagEvery}.0`
      emit(`tag ${name}\nfrom :${head}\n`)
      emit(`tagger Ada Lovelace <ada@example.com> ${time} +0000\n`)
      data(Buffer.from(`release ${name}\n`))
      tags.push(name)
    }
  }

  emit("done\n")
  gitInput(repo, Buffer.concat(parts), "fast-import", "--quiet", "--done")
  const bare = git(repo, "rev-parse", "--is-bare-repository").trim() === "true"
  if (!bare) git(repo, "checkout", "-q", "-f", branch)
  const ids = git(repo, "rev-list", "--first-parent", "--reverse", ref).trim().split("\n")
  return { mainline: ids, head: ids[ids.length - 1]!, tags }
}

// ---------------------------------------------------------------------------- raw packs

/** An entry header as a pack writes it: type, then the size varint. */
export const rawEntryHeader = (type: number, size: number): Buffer => {
  const bytes: number[] = []
  let b = (type << 4) | (size & 0x0f)
  let rest = Math.floor(size / 16)
  while (rest > 0) {
    bytes.push(b | 0x80)
    b = rest & 0x7f
    rest = Math.floor(rest / 128)
  }
  bytes.push(b)
  return Buffer.from(bytes)
}

/**
 * A pack from hand-made entry bytes, with a correct trailer unless `trailer` is given;
 * `count` overrides the header's object count (for count-mismatch tests).
 */
export const rawPack = (
  entries: ReadonlyArray<Buffer>,
  options: { count?: number; version?: number; trailer?: Buffer } = {},
): Buffer => {
  const head = Buffer.alloc(12)
  head.write("PACK", 0, "latin1")
  head.writeUInt32BE(options.version ?? 2, 4)
  head.writeUInt32BE(options.count ?? entries.length, 8)
  const body = Buffer.concat([head, ...entries])
  const trailer = options.trailer ?? createHash("sha1").update(body).digest()
  return Buffer.concat([body, trailer])
}

/** Replaces a pack's trailer with the right checksum (after editing its bytes). */
export const fixTrailer = (pack: Buffer): Buffer => {
  const out = Buffer.from(pack)
  createHash("sha1")
    .update(out.subarray(0, out.length - 20))
    .digest()
    .copy(out, out.length - 20)
  return out
}
