/**
 * `guts runner --url http://node:8080 --token gutsreg_… --labels linux,x64 --work-dir ./runner`:
 * a CI runner (docs/runner.md). It registers once (the runner token is saved in the work
 * directory, so later starts need no `--token`), then claims and runs jobs one at a time.
 * SIGINT or SIGTERM stops it cleanly: the current job's processes are stopped and the job
 * is completed as failed; a second signal exits at once.
 */
import { Command, Options } from "@effect/cli"
import { Console, Effect, Option } from "effect"
import { defaultLimits, type ResourceLimits } from "../runner/Executor.ts"

const units: Record<string, number> = { "": 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3, T: 1024 ** 4 }

const limitKeys: Record<string, { key: keyof ResourceLimits; bytes: boolean }> = {
  cpu: { key: "cpuSeconds", bytes: false },
  as: { key: "addressSpaceBytes", bytes: true },
  nofile: { key: "openFiles", bytes: false },
  nproc: { key: "processes", bytes: false },
  fsize: { key: "fileSizeBytes", bytes: true },
}

/**
 * `cpu=3600,as=4G,nofile=1024,nproc=512,fsize=1G` over the defaults; `name=unlimited`
 * removes a limit. Throws with a message naming the bad entry.
 */
export const parseLimits = (text: string, base: ResourceLimits = defaultLimits): ResourceLimits => {
  const out: Record<string, number | undefined> = { ...base }
  for (const entry of text
    .split(",")
    .map((e) => e.trim())
    .filter(Boolean)) {
    const m = /^([a-z]+)=(.+)$/.exec(entry)
    const spec = m ? limitKeys[m[1]] : undefined
    if (!m || !spec)
      throw new Error(
        `--limits: ${JSON.stringify(entry)} is not name=value with name one of ${Object.keys(limitKeys).join(", ")}`,
      )
    if (m[2] === "unlimited") {
      delete out[spec.key]
      continue
    }
    const v = /^(\d+)([KMGT]?)$/i.exec(m[2])
    if (!v || (!spec.bytes && v[2] !== ""))
      throw new Error(
        `--limits: ${m[1]}=${m[2]} must be a whole number${spec.bytes ? " with an optional K, M, G or T suffix" : ""}, or unlimited`,
      )
    out[spec.key] = Number(v[1]) * units[v[2].toUpperCase()]
  }
  return out as ResourceLimits
}

const url = Options.text("url").pipe(
  Options.withDescription("the node's HTTP address, e.g. http://127.0.0.1:8080"),
)
const token = Options.text("token").pipe(
  Options.withDescription(
    "a registration token (from POST /api/repos/{owner}/{repo}/actions/runners/registration-token); needed the first time only: the runner token is then saved in the work directory",
  ),
  Options.optional,
)
const labels = Options.text("labels").pipe(
  Options.withDescription(
    "comma-separated labels that runs-on is matched against (self-hosted is always one); default: the registered ones",
  ),
  Options.withDefault(""),
)
const workDir = Options.text("work-dir").pipe(
  Options.withDescription(
    "directory for the saved registration (runner.json, mode 0600) and the per-job workspaces",
  ),
  Options.withDefault("./guts-runner"),
)
const once = Options.boolean("once").pipe(
  Options.withDescription("take one job, run it, and exit (for tests and one-shot machines)"),
)
const name = Options.text("name").pipe(
  Options.withDescription("the runner's name in the API (default: the host name)"),
  Options.optional,
)
const limits = Options.text("limits").pipe(
  Options.withDescription(
    "per-step resource limits over the defaults (cpu=21600,nofile=4096): cpu=SECONDS, as=BYTES, nofile=N, nproc=N, fsize=BYTES; sizes take K/M/G/T; name=unlimited removes one",
  ),
  Options.withDefault(""),
)
const killGrace = Options.integer("kill-grace-seconds").pipe(
  Options.withDescription("seconds between SIGTERM and SIGKILL when a step is stopped"),
  Options.withDefault(5),
)

export const runnerCommand = Command.make(
  "runner",
  { url, token, labels, workDir, once, name, limits, killGrace },
  (opts) =>
    Effect.gen(function* () {
      let parsedLimits: ResourceLimits
      try {
        parsedLimits = parseLimits(opts.limits)
        const u = new URL(opts.url)
        if (u.protocol !== "http:" && u.protocol !== "https:") throw new Error("not http(s)")
      } catch (err) {
        yield* Console.error(
          `guts runner: ${(err as Error).message.startsWith("--limits") ? (err as Error).message : `--url ${opts.url} is not an http(s) URL`}`,
        )
        yield* Effect.sync(() => {
          process.exitCode = 2
        })
        return
      }
      const { runRunner } = yield* Effect.promise(() => import("../runner/Runner.ts"))
      const options = {
        url: opts.url,
        registrationToken: Option.getOrUndefined(opts.token),
        labels: opts.labels
          .split(",")
          .map((l) => l.trim())
          .filter(Boolean),
        workDir: opts.workDir,
        name: Option.getOrUndefined(opts.name),
        once: opts.once,
        limits: parsedLimits,
        killGraceMs: opts.killGrace * 1000,
        say: (m: string) => console.log(`${new Date().toISOString()} ${m}`),
      }
      // Interruption (SIGINT/SIGTERM through the runtime) aborts the loop, which then
      // stops the current job cleanly before this effect ends.
      const failed = yield* Effect.async<Error | undefined>((resume, interrupted) => {
        const done = runRunner(options, interrupted).then(
          () => undefined,
          (err: Error) => err,
        )
        done.then((e) => resume(Effect.succeed(e)))
        return Effect.promise(() => done)
      })
      if (failed) {
        yield* Console.error(`guts runner: ${failed.message}`)
        yield* Effect.sync(() => {
          process.exitCode = 1
        })
      }
    }),
).pipe(
  Command.withDescription(
    "run a CI runner: register with a node, claim jobs, run their steps in clean workspaces (docs/runner.md)",
  ),
)
