/**
 * `guts admin`: backups and offline checks.
 *
 * - `guts admin backup --url URL --token TOKEN --out DIR`: asks a running node to write a
 *   consistent backup (every store at one applied height) into DIR on the node's machine
 *   (a relative DIR is made absolute here, so run it on that machine or pass an absolute
 *   path). The token is a site administrator's (`--token`, or GUTS_TOKEN).
 *   With `--out FILE.tar` the node streams the backup instead and it is written here.
 * - `guts admin restore --from DIR|FILE.tar --data-dir NEW`: checks the backup's checksums and
 *   restores it into NEW, which must be empty or absent.
 * - `guts admin verify --data-dir DIR`: re-hashes every object, checks every ref and what
 *   it reaches, recomputes the state digest (src/layers/backup/Verify.ts). The node must be
 *   stopped. Exits 1 and lists each problem when there are any.
 *
 * - `guts admin create-user`, `guts admin create-token`: accounts over the REST API
 *   (adminAccounts.ts).
 *
 * Every command exits 0 on success and 1 on failure, with the reason on stderr.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { Readable } from "node:stream"
import { pipeline } from "node:stream/promises"
import { Command, Options } from "@effect/cli"
import { Console, Effect, Option } from "effect"
import { accountCommands } from "./adminAccounts.ts"

const failWith = (message: string) =>
  Effect.zipRight(
    Console.error(message),
    Effect.sync(() => {
      process.exitCode = 1
    }),
  )

const url = Options.text("url").pipe(
  Options.withDescription("the node's HTTP address, e.g. http://127.0.0.1:8080"),
  Options.withDefault("http://127.0.0.1:8080"),
)
const token = Options.text("token").pipe(
  Options.withDescription("a site administrator's API token (default: $GUTS_TOKEN)"),
  Options.optional,
)
const out = Options.text("out").pipe(
  Options.withDescription(
    "a new (or empty) directory on the node's machine for the backup, or a new FILE.tar here (streamed from the node)",
  ),
)

interface BackupAnswer {
  readonly message?: string
  readonly target?: string
  readonly paused_ms?: number
  readonly manifest?: { height: number; digest: string; records: Record<string, number> }
}

/** Streams the backup from the node (it may run elsewhere) into a tar file here. */
const backupToTar = (url: string, token: string, file: string) =>
  Effect.gen(function* () {
    if (fs.existsSync(file))
      return yield* failWith(`guts admin backup: ${file} exists; choose a new file name`)
    const result = yield* Effect.tryPromise(async () => {
      const res = await fetch(`${url.replace(/\/+$/, "")}/api/admin/backup`, {
        method: "POST",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        body: JSON.stringify({ format: "tar" }),
      })
      if (res.status !== 200) {
        const body = (await res.json().catch(() => ({}))) as BackupAnswer
        return `the node answered ${res.status}: ${body.message ?? "no reason given"}`
      }
      // A file that exists is never overwritten; a partial one (ours) is removed.
      const fd = fs.openSync(file, "wx", 0o600)
      try {
        await pipeline(Readable.fromWeb(res.body as never), fs.createWriteStream("", { fd }))
      } catch (e) {
        fs.rmSync(file, { force: true })
        throw e
      }
      return undefined
    }).pipe(Effect.either)
    if (result._tag === "Left")
      return yield* failWith(
        `guts admin backup: ${(result.left.error as Error)?.message ?? result.left}`,
      )
    if (result.right !== undefined) return yield* failWith(`guts admin backup: ${result.right}`)
    yield* Console.log(`backup written to ${file} (${fs.statSync(file).size} bytes)`)
  })

const backup = Command.make("backup", { url, token, out }, (opts) =>
  Effect.gen(function* () {
    const tok = Option.getOrUndefined(opts.token) ?? process.env.GUTS_TOKEN
    if (!tok)
      return yield* failWith(
        "guts admin backup: give a site administrator token with --token or GUTS_TOKEN",
      )
    const target = path.resolve(opts.out)
    if (target.endsWith(".tar")) return yield* backupToTar(opts.url, tok, target)
    const answer = yield* Effect.tryPromise(async () => {
      const res = await fetch(`${opts.url.replace(/\/+$/, "")}/api/admin/backup`, {
        method: "POST",
        headers: { authorization: `Bearer ${tok}`, "content-type": "application/json" },
        body: JSON.stringify({ target }),
      })
      return {
        status: res.status,
        body: (await res.json().catch(() => ({}))) as BackupAnswer,
      }
    }).pipe(Effect.either)
    if (answer._tag === "Left")
      return yield* failWith(
        `guts admin backup: cannot reach ${opts.url}: ${(answer.left.error as Error)?.message ?? answer.left}`,
      )
    const { status, body } = answer.right
    if (status !== 201)
      return yield* failWith(
        `guts admin backup: the node answered ${status}: ${body.message ?? "no reason given"}`,
      )
    const m = body.manifest!
    yield* Console.log(
      `backup written to ${body.target}: height ${m.height}, state ${m.digest}, ` +
        `${m.records.objects} objects, ${m.records.refs} ref records (apply paused ${body.paused_ms} ms)`,
    )
  }),
).pipe(
  Command.withDescription(
    "write a consistent backup of a running node into a directory on its machine",
  ),
)

const from = Options.text("from").pipe(
  Options.withDescription("the backup directory, or a FILE.tar written by `admin backup`"),
)
const dataDir = Options.text("data-dir").pipe(Options.withDescription("the data directory"))

const restore = Command.make("restore", { from, dataDir }, (opts) =>
  Effect.gen(function* () {
    const { restoreBackup } = yield* Effect.promise(() => import("../layers/backup/Restore.ts"))
    const done = yield* restoreBackup(path.resolve(opts.from), path.resolve(opts.dataDir)).pipe(
      Effect.either,
    )
    if (done._tag === "Left") return yield* failWith(`guts admin restore: ${done.left.message}`)
    const { manifest, counts, nodeKey } = done.right
    yield* Console.log(
      `restored height ${manifest.height} (state ${manifest.digest}) into ${opts.dataDir}: ` +
        `${counts.objects} objects, ${counts.refs} ref records, ${counts.meta} chain records` +
        (nodeKey ? `; the node key is in ${path.join(opts.dataDir, "node.key")}` : ""),
    )
    yield* Console.log(
      `start a node with --data-dir ${opts.dataDir}; in a cluster it then catches up from its peers`,
    )
  }),
).pipe(Command.withDescription("restore a backup into a new data directory (offline)"))

const json = Options.boolean("json").pipe(Options.withDescription("print the report as JSON"))

const verify = Command.make("verify", { dataDir, json }, (opts) =>
  Effect.gen(function* () {
    const { verifyDataDir } = yield* Effect.promise(() => import("../layers/backup/Verify.ts"))
    const done = yield* verifyDataDir(path.resolve(opts.dataDir)).pipe(Effect.either)
    if (done._tag === "Left") return yield* failWith(`guts admin verify: ${done.left.message}`)
    const r = done.right
    if (opts.json) yield* Console.log(JSON.stringify(r))
    else {
      yield* Console.log(
        `${r.dataDir}: height ${r.height}, state ${r.digest}` +
          (r.recorded ? ` (the backup recorded ${r.recorded.digest})` : ""),
      )
      yield* Console.log(
        `${r.objectsChecked} objects re-hashed, ${r.refsChecked} refs and ${r.objectsReachable} reachable objects checked`,
      )
      for (const p of r.problems) yield* Console.log(`PROBLEM ${p}`)
      yield* Console.log(r.problems.length === 0 ? "ok" : `${r.problems.length} problem(s)`)
    }
    if (r.problems.length > 0)
      yield* Effect.sync(() => {
        process.exitCode = 1
      })
  }),
).pipe(
  Command.withDescription(
    "check a stopped node's data directory: objects, refs, reachability and state digest",
  ),
)

export const adminCommand = Command.make("admin").pipe(
  Command.withDescription(
    "backups, restores and offline checks of a node's data; users and tokens",
  ),
  Command.withSubcommands([backup, restore, verify, ...accountCommands]),
)
