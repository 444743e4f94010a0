/**
 * A job's directories on the runner, the checkout of its commit, and its artifacts.
 *
 * Layout, under `<work-dir>/jobs/<job-id>/` (created empty for each job, removed when the
 * job ends, whatever its result):
 *
 * | directory   | variable                                  | what it holds                                   |
 * | ----------- | ----------------------------------------- | ----------------------------------------------- |
 * | `workspace` | `GITHUB_WORKSPACE`, `GUTS_WORKSPACE`      | the checkout; steps start here                  |
 * | `artifacts` | `GUTS_ARTIFACTS`                          | `<name>/…` is uploaded as artifact `<name>`     |
 * | `needs`     | `GUTS_NEEDS_ARTIFACTS`                    | `<name>/…`: artifacts of the jobs it `needs`    |
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

export interface JobDirs {
  readonly root: string
  readonly workspace: string
  readonly artifacts: string
  readonly needs: string
  readonly temp: string
  readonly home: string
}

/** Artifact names: what is safe as a directory name and in a URL. */
export const ARTIFACT_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/

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
  readonly files: ReadonlyArray<ArtifactFile>
  readonly size: number
}

export interface CollectedArtifacts {
  readonly artifacts: ReadonlyArray<CollectedArtifact>
  /** What was left out and why, for the job log. */
  readonly warnings: ReadonlyArray<string>
}

/**
 * What a job left under `$GUTS_ARTIFACTS`: each directory `<name>` is one artifact of
 * its regular files (recursively). Loose files, bad names, symbolic links, and empty
 * directories are skipped with a warning.
 */
export const collectArtifacts = (dirs: JobDirs): CollectedArtifacts => {
  const warnings: string[] = []
  const artifacts: CollectedArtifact[] = []
  for (const entry of fs
    .readdirSync(dirs.artifacts, { withFileTypes: true })
    .sort((a, b) => (a.name < b.name ? -1 : 1))) {
    if (!entry.isDirectory()) {
      warnings.push(
        `$GUTS_ARTIFACTS/${entry.name} is not a directory: put files under $GUTS_ARTIFACTS/<artifact-name>/ to upload them`,
      )
      continue
    }
    if (!ARTIFACT_NAME.test(entry.name)) {
      warnings.push(
        `artifact name ${JSON.stringify(entry.name)} is not allowed: use letters, digits, '.', '_' and '-' (at most 100)`,
      )
      continue
    }
    const files: ArtifactFile[] = []
    const walk = (dir: string, prefix: string) => {
      for (const e of fs
        .readdirSync(dir, { withFileTypes: true })
        .sort((a, b) => (a.name < b.name ? -1 : 1))) {
        const abs = path.join(dir, e.name)
        const rel = prefix === "" ? e.name : `${prefix}/${e.name}`
        if (e.isSymbolicLink())
          warnings.push(`artifact ${entry.name}: skipped symbolic link ${rel}`)
        else if (e.isDirectory()) walk(abs, rel)
        else if (e.isFile()) files.push({ path: rel, absolute: abs, size: fs.statSync(abs).size })
        else warnings.push(`artifact ${entry.name}: skipped ${rel}, which is not a regular file`)
      }
    }
    walk(path.join(dirs.artifacts, entry.name), "")
    if (files.length === 0) {
      warnings.push(`artifact ${entry.name} is empty and was not uploaded`)
      continue
    }
    artifacts.push({ name: entry.name, files, size: files.reduce((n, f) => n + f.size, 0) })
  }
  return { artifacts, warnings }
}

/** The directory a needed job's artifact is unpacked into (`$GUTS_NEEDS_ARTIFACTS/<name>`). */
export const neededArtifactDir = (dirs: JobDirs, name: string): string => {
  if (!ARTIFACT_NAME.test(name))
    throw new Error(`artifact name ${JSON.stringify(name)} is not allowed`)
  const dir = path.join(dirs.needs, name)
  fs.mkdirSync(dir, { recursive: true })
  return dir
}
