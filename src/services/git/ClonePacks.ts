/**
 * Cached clone packs: the whole pack a full clone of a repository receives, written once
 * to a file after a push so that the next clones stream it instead of reading every
 * object's record again (the role pack reuse plays for git's own server: it sends the
 * bytes of an existing pack).
 *
 * A pack is named by its clone list's key (CloneLists.ts), that is by the set of wanted
 * tips: its objects are exactly those the tips reach, so it stays true for as long as
 * anyone may ask for those tips, and a repository whose tips moved simply asks for
 * another key. Upload-pack checks the wants against the repository's refs before a cached
 * pack is used, as it does before a clone list is used.
 *
 * Files live in one directory: `<key>.pack`, written as `<key>.pack.tmp-…`, flushed to
 * disk and renamed into place, so a crash leaves either no pack or a whole one. A pack is
 * checked when opened (the header names as many objects as the clone list, the file holds
 * at least a header and a trailer); a bad one is deleted and the clone takes the ordinary
 * path. A clone holds its file open, so a pack deleted meanwhile (its list replaced) is
 * still read whole.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { Data, Effect } from "effect"

export class ClonePackError extends Data.TaggedError("ClonePackError")<{
  readonly message: string
  readonly cause?: unknown
}> {}

/** A cached pack opened for reading. `close` when done. */
export interface OpenClonePack {
  /** Bytes in the file: header, entries, trailer. */
  readonly size: number
  /** Reads `length` bytes at `position` into the start of `into`; resolves to the count. */
  readonly read: (
    into: Buffer,
    position: number,
    length: number,
  ) => Effect.Effect<number, ClonePackError>
  readonly close: Effect.Effect<void>
}

/** A pack being written: `append` in order, then `commit` (or `abort`). */
export interface ClonePackWriter {
  readonly append: (chunks: ReadonlyArray<Uint8Array>) => Effect.Effect<void, ClonePackError>
  readonly commit: Effect.Effect<void, ClonePackError>
  readonly abort: Effect.Effect<void>
}

export interface ClonePackStore {
  readonly dir: string
  /** The pack for `key`, if one is stored and its header names `count` objects. */
  readonly open: (key: string, count: number) => Effect.Effect<OpenClonePack | undefined>
  readonly has: (key: string) => Effect.Effect<boolean>
  readonly create: (key: string) => Effect.Effect<ClonePackWriter, ClonePackError>
  readonly remove: (key: string) => Effect.Effect<void>
  /**
   * Deletes unfinished writes (a crash mid-write) and every pack `keep` says no to (its
   * list is gone); returns how many files went.
   */
  readonly sweep: (keep: (key: string) => Effect.Effect<boolean>) => Effect.Effect<number>
}

const KEY = /^[0-9a-f]{40}$/
const SUFFIX = ".pack"

const fail = (message: string) => (cause: unknown) => new ClonePackError({ message, cause })

const unlinkQuietly = (file: string) =>
  Effect.promise(() => fs.promises.unlink(file).catch(() => undefined))

/** A store in `dir` (created if missing). */
export const makeClonePackStore = (dir: string): ClonePackStore => {
  const fileOf = (key: string) => {
    if (!KEY.test(key)) throw new Error(`not a clone list key: ${key}`)
    return path.join(dir, `${key}${SUFFIX}`)
  }
  let seq = 0

  const open = (key: string, count: number) =>
    Effect.gen(function* () {
      const file = fileOf(key)
      const handle = yield* Effect.promise(() => fs.promises.open(file, "r").catch(() => undefined))
      if (!handle) return undefined
      const checked = yield* Effect.promise(async () => {
        const { size } = await handle.stat()
        if (size < 32) return undefined
        const head = Buffer.alloc(12)
        const { bytesRead } = await handle.read(head, 0, 12, 0)
        const ok =
          bytesRead === 12 &&
          head.toString("latin1", 0, 4) === "PACK" &&
          head.readUInt32BE(4) === 2 &&
          head.readUInt32BE(8) === count
        return ok ? size : undefined
      }).pipe(Effect.catchAllDefect(() => Effect.succeed(undefined)))
      if (checked === undefined) {
        yield* Effect.promise(() => handle.close().catch(() => undefined))
        yield* Effect.logWarning("a cached clone pack did not match its clone list; deleted").pipe(
          Effect.annotateLogs({ file }),
        )
        yield* unlinkQuietly(file)
        return undefined
      }
      const opened: OpenClonePack = {
        size: checked,
        read: (into, position, length) =>
          Effect.tryPromise({
            try: () => handle.read(into, 0, length, position).then((r) => r.bytesRead),
            catch: fail(`reading the cached clone pack ${file} failed`),
          }),
        close: Effect.promise(() => handle.close().catch(() => undefined)),
      }
      return opened
    })

  const create = (key: string) =>
    Effect.gen(function* () {
      const file = fileOf(key)
      yield* Effect.tryPromise({
        try: () => fs.promises.mkdir(dir, { recursive: true }),
        catch: fail(`cannot create the clone pack directory ${dir}`),
      })
      const tmp = `${file}.tmp-${process.pid}-${seq++}`
      const handle = yield* Effect.tryPromise({
        try: () => fs.promises.open(tmp, "wx", 0o600),
        catch: fail(`cannot create ${tmp}: check the data directory's permissions and space`),
      })
      let closed = false
      const close = Effect.promise(async () => {
        if (closed) return
        closed = true
        await handle.close().catch(() => undefined)
      })
      const writer: ClonePackWriter = {
        append: (chunks) =>
          Effect.tryPromise({
            try: async () => {
              if (chunks.length > 0) await handle.writev(chunks as Uint8Array[])
            },
            catch: fail(`writing ${tmp} failed: check the disk's free space`),
          }),
        commit: Effect.tryPromise({
          try: async () => {
            await handle.sync()
            await handle.close()
            closed = true
            await fs.promises.rename(tmp, file)
          },
          catch: fail(`finishing ${file} failed`),
        }).pipe(Effect.tapError(() => Effect.zipRight(close, unlinkQuietly(tmp)))),
        abort: Effect.zipRight(close, unlinkQuietly(tmp)),
      }
      return writer
    })

  const sweep = (keep: (key: string) => Effect.Effect<boolean>) =>
    Effect.gen(function* () {
      const names = yield* Effect.promise(() =>
        fs.promises.readdir(dir).catch(() => [] as string[]),
      )
      let removed = 0
      for (const name of names) {
        const key = name.endsWith(SUFFIX) ? name.slice(0, -SUFFIX.length) : undefined
        const stale =
          name.includes(`${SUFFIX}.tmp-`) ||
          (key !== undefined && KEY.test(key) && !(yield* keep(key)))
        if (!stale) continue
        yield* unlinkQuietly(path.join(dir, name))
        removed++
      }
      return removed
    })

  return {
    dir,
    open,
    has: (key) =>
      Effect.promise(() =>
        fs.promises.access(fileOf(key)).then(
          () => true,
          () => false,
        ),
      ),
    create,
    remove: (key) => unlinkQuietly(fileOf(key)),
    sweep,
  }
}
