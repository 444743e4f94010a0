/**
 * The consensus write-ahead journal on disk (spec §3 "Journal"): append-only segment files
 * under `<dataDir>/consensus/journal`, each record framed as
 *
 *   u32 LE body length ‖ u32 LE crc32(body) ‖ body,   body = varint(view) ‖ entry
 *
 * A new segment file (named by sequence number) starts when a record's view reaches
 * `segmentViews` past the first view of the active segment; records of older views may
 * still land in the active segment (unchained finalization), so each segment's highest
 * view is tracked and pruning deletes whole segments whose views are all below the floor.
 *
 * Guarantees:
 * - `sync` writes every buffered record and fsyncs the segment (and the directory when a
 *   segment was created) before returning: the shell calls it before any send of a step.
 *   The Effect version waits for the data fsync on libuv's thread pool, not on the event
 *   loop; a caller must not append while it runs (the driver's single fiber does not);
 * - opening replays every record in append order; a torn or corrupt record at the tail of
 *   the last segment (a crash mid-write) is truncated away, while damage anywhere else is
 *   reported as JournalError rather than silently skipped;
 * - records are never rewritten; pruning only deletes whole segments.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { crc32 } from "node:zlib"
import { Data, Effect, type Scope } from "effect"
import { readVarint, varintLength, writeVarint } from "../../domain/consensus/Varint.ts"

export class JournalError extends Data.TaggedError("JournalError")<{
  readonly path: string
  readonly reason: string
}> {
  override get message() {
    return `consensus journal ${this.path}: ${this.reason}`
  }
}

export interface JournalOptions {
  /** Directory of the segments (created if missing). */
  readonly dir: string
  /** Views per segment (default 256). */
  readonly segmentViews?: bigint
}

export interface Replayed {
  /** Every intact record's entry, in append order. */
  readonly entries: ReadonlyArray<Uint8Array>
  /** Bytes cut from a torn tail, if any. */
  readonly truncatedBytes: number
}

interface Segment {
  readonly seq: number
  readonly file: string
  /** First view written to it (decides rotation); undefined while empty. */
  firstView: bigint | undefined
  /** Highest view written to it (decides pruning). */
  maxView: bigint
  size: number
}

const HEADER = 8
const SEGMENT_RE = /^(\d{10})\.wal$/
const MAX_RECORD = 64 * 1024 * 1024

const segmentName = (seq: number) => `${String(seq).padStart(10, "0")}.wal`

export class Journal {
  private readonly segments: Segment[] = []
  private fd: number | undefined = undefined
  private pending: Buffer[] = []
  private pendingBytes = 0
  private dirDirty = false
  private closed = false

  private constructor(
    readonly dir: string,
    private readonly segmentViews: bigint,
  ) {}

  /** Opens (creating if needed) and replays the journal; closes it with the scope. */
  static open(
    options: JournalOptions,
  ): Effect.Effect<{ journal: Journal; replayed: Replayed }, JournalError, Scope.Scope> {
    return Effect.acquireRelease(
      Effect.try({
        try: () => {
          const journal = new Journal(options.dir, options.segmentViews ?? 256n)
          const replayed = journal.load()
          return { journal, replayed }
        },
        catch: (e) =>
          e instanceof JournalError
            ? e
            : new JournalError({ path: options.dir, reason: String(e) }),
      }),
      ({ journal }) => Effect.sync(() => journal.closeSync()),
    )
  }

  /** Opens without a scope (tests); call `closeSync` when done. */
  static openSync(options: JournalOptions): { journal: Journal; replayed: Replayed } {
    const journal = new Journal(options.dir, options.segmentViews ?? 256n)
    return { journal, replayed: journal.load() }
  }

  private fail(file: string, reason: string): never {
    throw new JournalError({ path: file, reason })
  }

  private load(): Replayed {
    fs.mkdirSync(this.dir, { recursive: true })
    const files = fs
      .readdirSync(this.dir)
      .flatMap((name) => {
        const m = SEGMENT_RE.exec(name)
        return m === null ? [] : [{ seq: Number(m[1]), file: path.join(this.dir, name) }]
      })
      .sort((a, b) => a.seq - b.seq)
    const entries: Uint8Array[] = []
    let truncatedBytes = 0
    for (let k = 0; k < files.length; k++) {
      const { seq, file } = files[k]
      const last = k === files.length - 1
      const data = fs.readFileSync(file)
      let pos = 0
      let firstView: bigint | undefined
      let maxView = 0n
      while (pos < data.length) {
        const problem = this.recordProblem(data, pos)
        if (problem !== undefined) {
          if (!last) this.fail(file, `${problem} at byte ${pos} of a sealed segment`)
          truncatedBytes = data.length - pos
          fs.truncateSync(file, pos)
          break
        }
        const len = data.readUInt32LE(pos)
        const body = data.subarray(pos + HEADER, pos + HEADER + len)
        const cursor = { pos: 0 }
        const view = readVarint(body, cursor)
        if (typeof view === "string") this.fail(file, `bad view varint at byte ${pos}`)
        entries.push(new Uint8Array(body.subarray(cursor.pos)))
        if (firstView === undefined) firstView = view
        if (view > maxView) maxView = view
        pos += HEADER + len
      }
      this.segments.push({ seq, file, firstView, maxView, size: pos })
    }
    if (truncatedBytes > 0) {
      // Make the truncation itself durable before anything new is appended after it.
      const fd = fs.openSync(this.segments[this.segments.length - 1].file, "r+")
      fs.fsyncSync(fd)
      fs.closeSync(fd)
    }
    return { entries, truncatedBytes }
  }

  /** Why the record at `pos` is unusable (torn or corrupt), or undefined if it is intact. */
  private recordProblem(data: Buffer, pos: number): string | undefined {
    if (pos + HEADER > data.length) return "truncated record header"
    const len = data.readUInt32LE(pos)
    if (len === 0 || len > MAX_RECORD) return `implausible record length ${len}`
    if (pos + HEADER + len > data.length) return "truncated record body"
    const crc = data.readUInt32LE(pos + 4)
    if (crc32(data.subarray(pos + HEADER, pos + HEADER + len)) !== crc) return "checksum mismatch"
    return undefined
  }

  private active(view: bigint): Segment {
    const cur = this.segments[this.segments.length - 1]
    if (cur !== undefined) {
      if (cur.firstView === undefined) cur.firstView = view
      if (view < cur.firstView + this.segmentViews) return cur
    }
    this.flush()
    if (this.fd !== undefined) {
      fs.fsyncSync(this.fd)
      fs.closeSync(this.fd)
      this.fd = undefined
    }
    const seq = cur === undefined ? 1 : cur.seq + 1
    const seg: Segment = {
      seq,
      file: path.join(this.dir, segmentName(seq)),
      firstView: view,
      maxView: view,
      size: 0,
    }
    this.segments.push(seg)
    this.dirDirty = true
    return seg
  }

  /** Buffers one record; durable only after the next `sync`. */
  appendSync(view: bigint, entry: Uint8Array): void {
    if (this.closed) this.fail(this.dir, "append after close")
    const seg = this.active(view)
    const vlen = varintLength(view)
    const record = Buffer.allocUnsafe(HEADER + vlen + entry.length)
    writeVarint(record, HEADER, view)
    record.set(entry, HEADER + vlen)
    const body = record.subarray(HEADER)
    record.writeUInt32LE(body.length, 0)
    record.writeUInt32LE(crc32(body), 4)
    this.pending.push(record)
    this.pendingBytes += record.length
    if (view > seg.maxView) seg.maxView = view
  }

  private flush(): void {
    if (this.pending.length === 0) return
    const seg = this.segments[this.segments.length - 1]
    if (this.fd === undefined) this.fd = fs.openSync(seg.file, "a")
    const data =
      this.pending.length === 1 ? this.pending[0] : Buffer.concat(this.pending, this.pendingBytes)
    let off = 0
    while (off < data.length) off += fs.writeSync(this.fd, data, off, data.length - off)
    seg.size += data.length
    this.pending = []
    this.pendingBytes = 0
  }

  /** Writes and fsyncs everything appended so far. */
  syncSync(): void {
    if (this.closed) this.fail(this.dir, "sync after close")
    this.flush()
    if (this.fd !== undefined) fs.fsyncSync(this.fd)
    if (this.dirDirty) {
      const dfd = fs.openSync(this.dir, "r")
      try {
        fs.fsyncSync(dfd)
      } finally {
        fs.closeSync(dfd)
      }
      this.dirDirty = false
    }
  }

  /** Deletes sealed segments whose every record is for a view below `belowView`. */
  pruneSync(belowView: bigint): number {
    let removed = 0
    while (this.segments.length > 1 && this.segments[0].maxView < belowView) {
      const seg = this.segments.shift()!
      fs.rmSync(seg.file, { force: true })
      removed++
    }
    if (removed > 0) this.dirDirty = true
    return removed
  }

  /** Segment files written so far (for tests and metrics). */
  get segmentFiles(): ReadonlyArray<string> {
    return this.segments.filter((s) => s.size > 0).map((s) => s.file)
  }

  closeSync(): void {
    if (this.closed) return
    this.closed = true
    if (this.fd !== undefined) {
      fs.closeSync(this.fd)
      this.fd = undefined
    }
  }

  // Effect wrappers for the driver.

  append(view: bigint, entry: Uint8Array): Effect.Effect<void, JournalError> {
    return this.wrap(() => this.appendSync(view, entry))
  }

  sync(): Effect.Effect<void, JournalError> {
    return Effect.suspend(() => {
      if (this.closed)
        return Effect.fail(new JournalError({ path: this.dir, reason: "sync after close" }))
      const written = this.wrap(() => this.flush())
      const fd = this.fd
      const data = Effect.async<void, JournalError>((resume) => {
        if (fd === undefined) return resume(Effect.void)
        fs.fdatasync(fd, (err) =>
          resume(
            err
              ? Effect.fail(new JournalError({ path: this.dir, reason: `fsync: ${err.message}` }))
              : Effect.void,
          ),
        )
      })
      const dir = this.wrap(() => {
        if (!this.dirDirty) return
        const dfd = fs.openSync(this.dir, "r")
        try {
          fs.fsyncSync(dfd)
        } finally {
          fs.closeSync(dfd)
        }
        this.dirDirty = false
      })
      return written.pipe(Effect.zipRight(data), Effect.zipRight(dir))
    })
  }

  prune(belowView: bigint): Effect.Effect<number, JournalError> {
    return this.wrap(() => this.pruneSync(belowView))
  }

  private wrap<A>(f: () => A): Effect.Effect<A, JournalError> {
    return Effect.try({
      try: f,
      catch: (e) =>
        e instanceof JournalError ? e : new JournalError({ path: this.dir, reason: String(e) }),
    })
  }
}
