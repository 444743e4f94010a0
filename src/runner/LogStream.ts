/**
 * A job's log on its way to the node: lines (already masked) are batched into chunks
 * numbered from 0 without gaps and sent one at a time, in order.
 *
 * - A batch goes out when `flushMs` passed since its first line, when it reaches
 *   `maxChunkChars`, or when the step it belongs to changes (a chunk has one step).
 * - A transient failure resends the same chunk with the same `seq` (the client retries);
 *   the node ignores a `seq` it already has, so nothing is duplicated.
 * - If the node says it expects an earlier `seq` (it lost chunks), the stream resends from
 *   there: chunks are kept until the node has acknowledged them.
 * - Each line is `<ISO-8601 timestamp> <text>\n`, GitHub's log format.
 */
import type { LogChunk } from "../domain/ci/RunnerProtocol.ts"
import type { LogLine } from "./Executor.ts"

export interface LogSink {
  send(chunk: LogChunk): Promise<{ readonly expected: number }>
}

export interface LogStreamOptions {
  readonly flushMs?: number
  /** Below the protocol's 1 MiB: a UTF-16 unit is at most 3 bytes of UTF-8. */
  readonly maxChunkChars?: number
  /** Called once when sending fails for good (lease lost, node gone); later lines are dropped. */
  readonly onFailure?: (err: unknown) => void
}

export const formatLine = (line: LogLine) => `${new Date(line.time).toISOString()} ${line.text}\n`

export class LogStream {
  private nextSeq = 0
  private acked = 0
  private readonly unacked: LogChunk[] = []
  private batch = ""
  private batchStep: number | undefined
  private timer: ReturnType<typeof setTimeout> | undefined
  private sending: Promise<void> = Promise.resolve()
  private failed: unknown
  private readonly flushMs: number
  private readonly maxChunkChars: number

  constructor(
    private readonly sink: LogSink,
    private readonly opts: LogStreamOptions = {},
  ) {
    this.flushMs = opts.flushMs ?? 250
    this.maxChunkChars = opts.maxChunkChars ?? 256 * 1024
  }

  /** Appends a line to the log of `step` (undefined: set-up and tear-down). */
  write(line: LogLine, step?: number) {
    if (this.failed !== undefined) return
    if (this.batch !== "" && step !== this.batchStep) this.cut()
    const text = formatLine(line)
    if (this.batch.length + text.length > this.maxChunkChars && this.batch !== "") this.cut()
    if (this.batch === "") {
      this.batchStep = step
      this.timer = setTimeout(() => this.cut(), this.flushMs)
    }
    this.batch += text
    if (this.batch.length >= this.maxChunkChars) this.cut()
  }

  /** Sends everything written so far; resolves with the next `seq` (for `complete`). */
  async close(): Promise<number> {
    this.cut()
    await this.sending
    if (this.failed !== undefined) throw this.failed
    return this.nextSeq
  }

  /** The next sequence number, i.e. how many chunks were made. */
  get chunks() {
    return this.nextSeq
  }

  private cut() {
    if (this.timer) clearTimeout(this.timer)
    this.timer = undefined
    if (this.batch === "") return
    const chunk: LogChunk =
      this.batchStep === undefined
        ? { seq: this.nextSeq, text: this.batch }
        : { seq: this.nextSeq, step: this.batchStep, text: this.batch }
    this.nextSeq += 1
    this.batch = ""
    this.unacked.push(chunk)
    this.sending = this.sending.then(() => this.drain())
  }

  private async drain() {
    let stalls = 0
    while (this.failed === undefined && this.unacked.length > 0) {
      const chunk = this.unacked[0]
      try {
        const { expected } = await this.sink.send(chunk)
        if (expected > chunk.seq) {
          // Everything before `expected` is stored.
          while (this.unacked.length > 0 && this.unacked[0].seq < expected) this.unacked.shift()
          this.acked = Math.max(this.acked, expected)
          // The node has more than this stream made (a log begun elsewhere): continue after it.
          if (expected > this.nextSeq) this.nextSeq = expected
          stalls = 0
        } else if (expected < this.acked) {
          throw new Error(
            `the node asks for log chunk ${expected}, which it had already acknowledged`,
          )
        } else if (++stalls > 5) {
          throw new Error(
            `the node does not accept log chunk ${chunk.seq} (it expects ${expected})`,
          )
        } else await new Promise((r) => setTimeout(r, 200 * stalls))
      } catch (err) {
        this.failed = err
        this.unacked.length = 0
        this.opts.onFailure?.(err)
      }
    }
  }
}
