/**
 * A discrete-event scheduler on a virtual clock (milliseconds, fractional allowed).
 *
 * Guarantees: events run in (time, insertion sequence) order, so events due at the same
 * time run in the order they were scheduled and a run is a pure function of what was
 * scheduled; the clock never goes backwards (an event scheduled in the past runs "now",
 * after everything already due now); nothing here reads a real clock.
 */

/** An event; `time` and `seq` are assigned by the scheduler when it is enqueued. */
export interface ScheduledEvent {
  time: number
  seq: number
  cancelled: boolean
  run(): void
}

export type StopReason = "time" | "predicate" | "idle" | "halted" | "events"

export interface RunOptions {
  /** Stop before running any event due after this time (the clock is then set to it). */
  readonly until?: number
  /** Checked after every event; true stops the run. */
  readonly stop?: () => boolean
  /** Safety bound on the number of events of this run. */
  readonly maxEvents?: number
}

export interface RunResult {
  readonly reason: StopReason
  readonly events: number
  readonly now: number
}

const before = (a: ScheduledEvent, b: ScheduledEvent): boolean =>
  a.time < b.time || (a.time === b.time && a.seq < b.seq)

export class Scheduler {
  private heap: ScheduledEvent[] = []
  private seq = 0
  private halted = false
  private clock = 0
  /** Events run since creation. */
  executed = 0

  get now(): number {
    return this.clock
  }

  get pending(): number {
    return this.heap.length
  }

  /** Schedules `run` at absolute `time` (clamped to now). */
  at(time: number, run: () => void): ScheduledEvent {
    return this.enqueue(time, { time: 0, seq: 0, cancelled: false, run })
  }

  /** Schedules a ready-made event object at `time` (saves a closure on hot paths). */
  enqueue<E extends ScheduledEvent>(time: number, ev: E): E {
    ev.time = Math.max(time, this.clock)
    ev.seq = this.seq++
    this.push(ev)
    return ev
  }

  after(delayMs: number, run: () => void): ScheduledEvent {
    return this.at(this.clock + Math.max(delayMs, 0), run)
  }

  /** Cancelled events stay in the heap and are skipped when due. */
  cancel(ev: ScheduledEvent): void {
    ev.cancelled = true
  }

  /** Makes the current `run` return after the event in progress. */
  halt(): void {
    this.halted = true
  }

  /** Runs the next live event; false when none is left. */
  step(): boolean {
    for (;;) {
      const ev = this.pop()
      if (ev === undefined) return false
      if (ev.cancelled) continue
      this.clock = ev.time
      this.executed++
      ev.run()
      return true
    }
  }

  run(options: RunOptions = {}): RunResult {
    const until = options.until ?? Number.POSITIVE_INFINITY
    const stop = options.stop
    const maxEvents = options.maxEvents ?? Number.POSITIVE_INFINITY
    this.halted = false
    let events = 0
    for (;;) {
      if (stop?.()) return { reason: "predicate", events, now: this.clock }
      if (events >= maxEvents) return { reason: "events", events, now: this.clock }
      const top = this.heap[0]
      if (top === undefined) return { reason: "idle", events, now: this.clock }
      if (top.cancelled) {
        this.pop()
        continue
      }
      if (top.time > until) {
        if (until > this.clock) this.clock = until
        return { reason: "time", events, now: this.clock }
      }
      this.pop()
      this.clock = top.time
      this.executed++
      events++
      top.run()
      if (this.halted) {
        this.halted = false
        return { reason: "halted", events, now: this.clock }
      }
    }
  }

  private push(ev: ScheduledEvent): void {
    const h = this.heap
    let i = h.length
    h.push(ev)
    while (i > 0) {
      const parent = (i - 1) >> 1
      const p = h[parent]
      if (!before(ev, p)) break
      h[i] = p
      i = parent
    }
    h[i] = ev
  }

  private pop(): ScheduledEvent | undefined {
    const h = this.heap
    const top = h[0]
    if (top === undefined) return undefined
    const last = h.pop() as ScheduledEvent
    const n = h.length
    if (n === 0) return top
    let i = 0
    for (;;) {
      const l = 2 * i + 1
      if (l >= n) break
      const r = l + 1
      let c = l
      if (r < n && before(h[r], h[l])) c = r
      if (!before(h[c], last)) break
      h[i] = h[c]
      i = c
    }
    h[i] = last
    return top
  }
}
