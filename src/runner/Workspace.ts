/**
 * A job's directories on the runner, the checkout of its commit, and its artifacts.
 *
 * Layout, under `<work-dir>/jobs/<job-id>/` (created empty for each job, removed when the
 * job ends, whatever its result):
 *
 * | directory   | variable                                  | what it holds                                   |
 * | ----------- | ----------------------------------------- | ----------------------------------------------- |
 * | `workspace` | `GITHUB_WORKSPACE`, `GUTS_WORKSPACE`      | the checkout; steps start here                  |
 * | `artifacts` | `GUTS_ARTIFACTS`                          | `<name>` (dir or file) is uploaded as artifact  |
 * | `needs`     | `GUTS_NEEDS_ARTIFACTS`, `GUTS_DOWNLOADS`  | `<name>`: artifacts of the jobs it `needs`      |
 * | `temp`      | `RUNNER_TEMP`, `TMPDIR`                   | step scripts and scratch files                  |
 * | `home`      | `HOME`                                    | an empty home, so no user config leaks in       |
 *
 * The checkout uses the real `git` binary: `git init`, then `git fetch --depth 1` of the
 * job's commit from the node. The job token travels as an HTTP Basic password in an
 * `http.extraHeader` set through `GIT_CONFIG_*` environment variables: it is never on a
 * command line (visible in `ps`), never written to `.git/config`, and never given to steps.
 */
import { execFile } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { ARTIFACT_NAME } from "../domain/ci/RunnerProtocol.ts"

export interface JobDirs {
  readonly root: string
  readonly workspace: string
  readonly artifacts: string
  readonly needs: string
  readonly temp: string
  readonly home: string
}

/** Artifact names: what is safe as a directory name and in a URL. */
export { ARTIFACT_NAME }

const jobDirName = (jobId: string) => {
  const name = jobId.replace(/[^A-Za-z0-9._-]/g, "_")
  if (name === "" || name === "." || name === "..") throw new Error(`unusable job id ${jobId}`)
  return name
}

/** Creates a fresh, empty set of directories for a job (removing any left by a crash). */
export const createJobDirs = (workDir: string, jobId: string): JobDirs => {
  const root = path.join(path.resolve(workDir), "jobs", jobDirName(jobId))
  fs.rmSync(root, { recursive: true, force: true })
  const dirs: JobDirs = {
    root,
    workspace: path.join(root, "workspace"),
    artifacts: path.join(root, "artifacts"),
    needs: path.join(root, "needs"),
    temp: path.join(root, "temp"),
    home: path.join(root, "home"),
  }
  for (const dir of [dirs.workspace, dirs.artifacts, dirs.needs, dirs.temp, dirs.home])
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 })
  return dirs
}

/** Removes a job's directories; files a step made read-only do not stop it. */
export const removeJobDirs = (dirs: JobDirs): void => {
  const makeWritable = (dir: string) => {
    let entries: fs.Dirent[]
    try {
      fs.chmodSync(dir, 0o700)
      entries = fs.readdirSync(dir, { withFileTypes: true })
    } catch {
      return
    }
    for (const e of entries) if (e.isDirectory()) makeWritable(path.join(dir, e.name))
  }
  try {
    fs.rmSync(dirs.root, { recursive: true, force: true })
  } catch {
    makeWritable(dirs.root)
    fs.rmSync(dirs.root, { recursive: true, force: true })
  }
}

/**
 * The absolute directory a step starts in: the workspace, or `working-directory`
 * relative to it. A path that leaves the workspace is refused (an Error saying so).
 */
export const resolveWorkingDirectory = (dirs: JobDirs, workingDirectory?: string): string => {
  if (workingDirectory === undefined || workingDirectory === "") return dirs.workspace
  const resolved = path.resolve(dirs.workspace, workingDirectory)
  const rel = path.relative(dirs.workspace, resolved)
  if (rel.startsWith("..") || path.isAbsolute(rel))
    throw new Error(
      `working-directory ${workingDirectory} is outside the workspace; use a path inside the checkout`,
    )
  return resolved
}

export class CheckoutFailed extends Error {
  override readonly name = "CheckoutFailed"
}

export interface CheckoutOptions {
  /** The repository's clone URL on the node, without credentials. */
  readonly repoUrl: string
  readonly sha: string
  /** The job token, sent as the HTTP Basic password. */
  readonly token: string
  /** Progress lines for the job log (they never contain the token). */
  readonly onLine?: (text: string) => void
  readonly signal?: AbortSignal
  readonly timeoutMs?: number
}

/** The environment git runs with: no user or system config, no prompts, the token in a header. */
export const gitEnv = (dirs: JobDirs, token?: string): Record<string, string> => ({
  PATH: process.env.PATH ?? "/usr/local/bin:/usr/bin:/bin",
  HOME: dirs.home,
  GIT_CONFIG_NOSYSTEM: "1",
  GIT_TERMINAL_PROMPT: "0",
  GIT_ASKPASS: "true",
  LANG: "C",
  ...(token !== undefined
    ? {
        GIT_CONFIG_COUNT: "1",
        GIT_CONFIG_KEY_0: "http.extraHeader",
        GIT_CONFIG_VALUE_0: `Authorization: Basic ${Buffer.from(`guts-runner:${token}`).toString("base64")}`,
      }
    : {}),
})

const git = (
  args: string[],
  cwd: string,
  env: Record<string, string>,
  opts: { signal?: AbortSignal; timeoutMs?: number; secret?: string },
) =>
  new Promise<string>((resolve, reject) => {
    execFile(
      "git",
      args,
      {
        cwd,
        env,
        signal: opts.signal,
        timeout: opts.timeoutMs ?? 600_000,
        maxBuffer: 16 * 1024 * 1024,
      },
      (err, stdout, stderr) => {
        if (!err) return resolve(stdout)
        const said = `${stderr}`.trim().split("\n").slice(-3).join(" / ")
        const clean = opts.secret ? said.replaceAll(opts.secret, "***") : said
        reject(
          new CheckoutFailed(
            `git ${args[0]} failed${clean ? `: ${clean}` : ` (${(err as Error).message})`}`,
          ),
        )
      },
    )
  })

/** Checks out exactly `sha` into the (empty) workspace, as a detached HEAD. */
export const checkout = async (dirs: JobDirs, opts: CheckoutOptions): Promise<void> => {
  if (!/^[0-9a-f]{40}$/.test(opts.sha))
    throw new CheckoutFailed(`the job's commit ${opts.sha} is not a 40-hex object id`)
  const plain = gitEnv(dirs)
  const authed = gitEnv(dirs, opts.token)
  const o = { signal: opts.signal, timeoutMs: opts.timeoutMs, secret: opts.token }
  const ws = dirs.workspace
  opts.onLine?.(`Checking out ${opts.sha} from ${opts.repoUrl}`)
  await git(["init", "-q", "."], ws, plain, o)
  await git(["remote", "add", "origin", opts.repoUrl], ws, plain, o)
  await git(
    ["fetch", "--no-tags", "--no-recurse-submodules", "--depth", "1", "origin", opts.sha],
    ws,
    authed,
    o,
  )
  await git(
    ["-c", "advice.detachedHead=false", "checkout", "-q", "--detach", opts.sha],
    ws,
    plain,
    o,
  )
  const head = (await git(["rev-parse", "HEAD"], ws, plain, o)).trim()
  if (head !== opts.sha)
    throw new CheckoutFailed(`checked out ${head}, but the job asked for ${opts.sha}`)
  opts.onLine?.(`HEAD is now at ${opts.sha}`)
}

export interface ArtifactFile {
  /** Path inside the artifact, with `/` separators. */
  readonly path: string
  readonly absolute: string
  readonly size: number
}

export interface CollectedArtifact {
  readonly name: string
  /** A directory is uploaded as a tar of its contents, a file as its bytes. */
  readonly kind: "directory" | "file"
  /** The directory or the file. */
  readonly absolute: string
  readonly files: ReadonlyArray<ArtifactFile>
  readonly size: number
}

export interface CollectedArtifacts {
  readonly artifacts: ReadonlyArray<CollectedArtifact>
  /** What was left out and why, for the job log. */
  readonly warnings: ReadonlyArray<string>
}

/**
 * What a job left under `$GUTS_ARTIFACTS`: each directory `<name>` is one artifact of its
 * regular files (recursively), each regular file `<name>` an artifact of that one file.
 * Bad names, symbolic links, special files and empty directories are skipped with a warning.
 */
export const collectArtifacts = (dirs: JobDirs): CollectedArtifacts => {
  const warnings: string[] = []
  const artifacts: CollectedArtifact[] = []
  const byName = (a: fs.Dirent, b: fs.Dirent) => (a.name < b.name ? -1 : 1)
  for (const entry of fs.readdirSync(dirs.artifacts, { withFileTypes: true }).sort(byName)) {
    const abs = path.join(dirs.artifacts, entry.name)
    if (!ARTIFACT_NAME.test(entry.name)) {
      warnings.push(
        `artifact name ${JSON.stringify(entry.name)} is not allowed: use letters, digits, '.', '_' and '-' (at most 100)`,
      )
      continue
    }
    if (entry.isFile()) {
      const size = fs.statSync(abs).size
      artifacts.push({
        name: entry.name,
        kind: "file",
        absolute: abs,
        files: [{ path: entry.name, absolute: abs, size }],
        size,
      })
      continue
    }
    if (!entry.isDirectory()) {
      warnings.push(`$GUTS_ARTIFACTS/${entry.name} is not a regular file or directory: skipped`)
      continue
    }
    const files: ArtifactFile[] = []
    const walk = (dir: string, prefix: string) => {
      for (const e of fs.readdirSync(dir, { withFileTypes: true }).sort(byName)) {
        const child = path.join(dir, e.name)
        const rel = prefix === "" ? e.name : `${prefix}/${e.name}`
        if (e.isSymbolicLink())
          warnings.push(`artifact ${entry.name}: skipped symbolic link ${rel}`)
        else if (e.isDirectory()) walk(child, rel)
        else if (e.isFile())
          files.push({ path: rel, absolute: child, size: fs.statSync(child).size })
        else warnings.push(`artifact ${entry.name}: skipped ${rel}, which is not a regular file`)
      }
    }
    walk(abs, "")
    if (files.length === 0) {
      warnings.push(`artifact ${entry.name} is empty and was not uploaded`)
      continue
    }
    artifacts.push({
      name: entry.name,
      kind: "directory",
      absolute: abs,
      files,
      size: files.reduce((n, f) => n + f.size, 0),
    })
  }
  return { artifacts, warnings }
}

const run = (cmd: string, args: string[], cwd: string) =>
  new Promise<void>((resolve, reject) => {
    execFile(cmd, args, { cwd, maxBuffer: 4 * 1024 * 1024 }, (err, _out, stderr) =>
      err ? reject(new Error(`${cmd} failed: ${`${stderr}`.trim() || err.message}`)) : resolve(),
    )
  })

/**
 * Packs a directory artifact as the protocol's `application/x-tar` (`tar -c -C dir .`) of
 * exactly the files `collectArtifacts` listed (no symbolic links, no special files).
 */
export const packArtifact = async (dirs: JobDirs, artifact: CollectedArtifact): Promise<string> => {
  if (artifact.kind === "file") return artifact.absolute
  const list = path.join(dirs.temp, `artifact-${artifact.name}.list`)
  const out = path.join(dirs.temp, `artifact-${artifact.name}.tar`)
  fs.writeFileSync(list, `${artifact.files.map((f) => `./${f.path}`).join("\0")}\0`)
  await run(
    "tar",
    ["-c", "-f", out, "--null", "--no-recursion", "--owner=0", "--group=0", "-T", list],
    artifact.absolute,
  )
  return out
}

/**
 * Puts a downloaded artifact where steps find it, `$GUTS_NEEDS_ARTIFACTS/<name>`: a tar is
 * unpacked into that directory (GNU tar drops `..` and absolute member names; owners are
 * not restored), anything else is saved as the file `<name>`.
 */
export const placeNeededArtifact = async (
  dirs: JobDirs,
  name: string,
  contentType: string,
  downloaded: string,
): Promise<string> => {
  if (!ARTIFACT_NAME.test(name))
    throw new Error(`artifact name ${JSON.stringify(name)} is not allowed`)
  const dest = path.join(dirs.needs, name)
  if (contentType.split(";")[0].trim() === "application/x-tar") {
    fs.mkdirSync(dest, { recursive: true })
    await run("tar", ["-x", "-f", downloaded, "--no-same-owner", "--no-same-permissions"], dest)
  } else fs.renameSync(downloaded, dest)
  return dest
}
