/**
 * PackSpool: where a push keeps the deflated bytes of its pack's entries while it is
 * checked and stored — a temporary file, so that a node's memory holds per entry only
 * where its bytes are, never the whole pack (the page cache serves the reads back).
 *
 * The file is unlinked as soon as it is open: it has no name while the push runs, and a
 * crash or kill leaves nothing behind. Appends are staged in 1 MiB and written in one
 * call; a read of bytes still staged writes the stage first. Every read returns a fresh
 * buffer. After `close`, a read throws (it never touches a descriptor that may have been
 * reused).
 */
import { randomUUID } from "node:crypto"
import * as fs from "node:fs"
import * as path from "node:path"
import { Effect } from "effect"
import type { DeflatedSpool } from "../../domain/git/PackReader.ts"

const STAGE_BYTES = 1024 * 1024

/** A spool's read or write failed (an I/O error, a full disk, a use after close). */
export class SpoolError extends Error {}

/** Runs a file operation of the spool, its failure as a SpoolError. */
const io = <A>(what: string, f: () => A): A => {
  try {
    return f()
  } catch (e) {
    throw new SpoolError(`${what}: ${e instanceof Error ? e.message : String(e)}`)
  }
}

const writeFully = (fd: number, bytes: Uint8Array, position: number) =>
  io("pack spool write", () => {
    for (let done = 0; done < bytes.length; ) {
      done += fs.writeSync(fd, bytes, done, bytes.length - done, position + done)
    }
  })

export class FileSpool implements DeflatedSpool {
  private readonly stage = Buffer.allocUnsafe(STAGE_BYTES)
  private staged = 0
  /** Bytes already in the file. */
  private written = 0
  private closed = false

  constructor(private readonly fd: number) {}

  /** Bytes appended so far. */
  get size(): number {
    return this.written + this.staged
  }

  append(bytes: Uint8Array): number {
    this.open()
    const at = this.size
    if (this.staged + bytes.length > STAGE_BYTES) this.writeStage()
    if (bytes.length >= STAGE_BYTES) {
      writeFully(this.fd, bytes, this.written)
      this.written += bytes.length
    } else {
      this.stage.set(bytes, this.staged)
      this.staged += bytes.length
    }
    return at
  }

  read(at: number, length: number): Buffer {
    const out = Buffer.allocUnsafe(length)
    this.readInto(at, length, out, 0)
    return out
  }

  readInto(at: number, length: number, target: Uint8Array, offset: number): void {
    this.open()
    if (at < 0 || at + length > this.size)
      throw new SpoolError(`pack spool: ${length} bytes at ${at} are past its end (${this.size})`)
    if (offset < 0 || offset + length > target.length)
      throw new RangeError(
        `pack spool: ${length} bytes do not fit at ${offset} in ${target.length}`,
      )
    if (at + length > this.written) this.writeStage()
    for (let done = 0; done < length; ) {
      const n = io("pack spool read", () =>
        fs.readSync(this.fd, target, offset + done, length - done, at + done),
      )
      if (n === 0)
        throw new SpoolError(`pack spool: the file ended at ${at + done} (expected ${at + length})`)
      done += n
    }
  }

  close(): void {
    if (this.closed) return
    this.closed = true
    fs.closeSync(this.fd)
  }

  private open() {
    if (this.closed)
      throw new SpoolError("pack spool: read or write after the push that owned it ended")
  }

  private writeStage() {
    if (this.staged === 0) return
    writeFully(this.fd, this.stage.subarray(0, this.staged), this.written)
    this.written += this.staged
    this.staged = 0
  }
}

/**
 * A spool in `dir` for the life of the enclosing scope; undefined (the pack then stays in
 * memory, as without a spool) when the file cannot be made, with a warning saying why.
 */
export const scopedSpool = (dir: string) =>
  Effect.acquireRelease(
    Effect.try(() => {
      fs.mkdirSync(dir, { recursive: true })
      const file = path.join(dir, `push-${randomUUID()}.spool`)
      const fd = fs.openSync(file, "w+", 0o600)
      try {
        fs.unlinkSync(file)
      } catch (e) {
        fs.closeSync(fd)
        throw e
      }
      return new FileSpool(fd)
    }).pipe(
      Effect.catchAll((e) =>
        Effect.as(
          Effect.logWarning(
            `cannot make a pack spool in ${dir} (${String(e.error)}); this push is held in memory — check that the directory is writable and has space`,
          ),
          undefined,
        ),
      ),
    ),
    (spool) => Effect.sync(() => spool?.close()),
  )
