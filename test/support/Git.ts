/**
 * Running the real `git` client in tests: an isolated environment (no user or system
 * config, fixed identities and dates so histories are reproducible) and helpers to build
 * repositories worth pushing.
 */
import { execFile, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"

export const gitEnv = (extra: Record<string, string> = {}): NodeJS.ProcessEnv => ({
  PATH: process.env.PATH,
  HOME: process.env.HOME,
  GIT_CONFIG_GLOBAL: "/dev/null",
  GIT_CONFIG_NOSYSTEM: "1",
  GIT_TERMINAL_PROMPT: "0",
  GIT_AUTHOR_NAME: "Ada Lovelace",
  GIT_AUTHOR_EMAIL: "ada@example.com",
  GIT_COMMITTER_NAME: "Ada Lovelace",
  GIT_COMMITTER_EMAIL: "ada@example.com",
  GIT_AUTHOR_DATE: "2026-01-01T00:00:00Z",
  GIT_COMMITTER_DATE: "2026-01-01T00:00:00Z",
  ...extra,
})

export interface GitResult {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
}

/** Runs git; never throws on a non-zero exit (tests assert on `code` and `stderr`). */
export const runGit = (
  cwd: string,
  args: ReadonlyArray<string>,
  env: Record<string, string> = {},
) =>
  new Promise<GitResult>((resolve, reject) => {
    execFile(
      "git",
      args as string[],
      { cwd, env: gitEnv(env), maxBuffer: 256 * 1024 * 1024, encoding: "utf8" },
      (err, stdout, stderr) => {
        if (err && typeof (err as NodeJS.ErrnoException).code === "string") return reject(err)
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr })
      },
    )
  })

/** Runs git and fails the test with git's own message if it does not succeed. */
export const git = async (
  cwd: string,
  args: ReadonlyArray<string>,
  env: Record<string, string> = {},
): Promise<string> => {
  const r = await runGit(cwd, args, env)
  if (r.code !== 0)
    throw new Error(`git ${args.join(" ")} failed (${r.code}):\n${r.stderr}${r.stdout}`)
  return r.stdout
}

/** Feeds bytes into git's stdin (for plumbing such as index-pack --stdin). */
export const gitWithInput = (cwd: string, args: ReadonlyArray<string>, input: Buffer) =>
  new Promise<GitResult>((resolve) => {
    const child = spawn("git", args as string[], { cwd, env: gitEnv() })
    let stdout = ""
    let stderr = ""
    child.stdout.on("data", (d) => (stdout += d))
    child.stderr.on("data", (d) => (stderr += d))
    child.on("close", (code) => resolve({ code: code ?? 1, stdout, stderr }))
    child.stdin.end(input)
  })

/** `http://user:token@host/...`: the token as Basic password, as git sends it. */
export const authUrl = (url: string, token: string) => {
  const u = new URL(url)
  u.username = "x-token"
  u.password = token
  return u.toString()
}

export const write = (dir: string, file: string, content: string | Buffer) => {
  const p = path.join(dir, file)
  fs.mkdirSync(path.dirname(p), { recursive: true })
  fs.writeFileSync(p, content)
}

/** A fresh repository with `main` as its initial branch. */
export const initRepo = async (dir: string) => {
  fs.mkdirSync(dir, { recursive: true })
  await git(dir, ["init", "-q", "-b", "main"])
  return dir
}

/** Commits the working tree with a message and a distinct date (so ids differ per commit). */
export const commitAll = async (dir: string, message: string, n = 0) => {
  await git(dir, ["add", "-A"])
  const date = `2026-01-01T00:${String(Math.floor(n / 60) % 60).padStart(2, "0")}:${String(n % 60).padStart(2, "0")}Z`
  await git(dir, ["commit", "-q", "--allow-empty", "-m", message], {
    GIT_AUTHOR_DATE: date,
    GIT_COMMITTER_DATE: date,
  })
  return (await git(dir, ["rev-parse", "HEAD"])).trim()
}

/** All refs with their ids, as `git rev-parse --all` style lines sorted (for comparison). */
export const refsOf = async (dir: string) =>
  (await git(dir, ["for-each-ref", "--format=%(objectname) %(refname)"]))
    .trim()
    .split("\n")
    .filter(Boolean)
    .sort()
