/**
 * A discrete-event scheduler on a virtual clock (milliseconds, fractional allowed).
 *
 * Guarantees: events run in (time, insertion sequence) order, so events due at the same
 * time run in the order they were scheduled and a run is a pure function of what was
 * scheduled; the clock never goes backwards (an event scheduled in the past runs "now",
 * after everything already due now); nothing here reads a real clock.
 */

/**
 * An event. `run` receives the argument it was enqueued with (0 for `at`/`after`), which
 * lets one object stand for several events (a message broadcast to several endpoints).
 */
export interface ScheduledEvent {
  cancelled: boolean
  run(arg: number): void
}

/**
 * An event object that is scheduled again and again (a timer): `rearm` gives it a new due
 * time and makes every earlier entry of it stale; stale entries are skipped like cancelled
 * events, so re-arming allocates nothing.
 */
export interface RearmableEvent extends ScheduledEvent {
  /** Sequence number of the live entry; -1 = none (disarmed). Owned by the scheduler. */
  live: number
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

// The heap keeps its keys (time, sequence) in typed arrays beside the events, so sifting
// compares contiguous numbers instead of loading fields of events scattered in memory.
const INITIAL_CAPACITY = 1024

export class Scheduler {
  private items: (ScheduledEvent | undefined)[] = []
  private times = new Float64Array(INITIAL_CAPACITY)
  private seqs = new Float64Array(INITIAL_CAPACITY)
  private args = new Int32Array(INITIAL_CAPACITY)
  private size = 0
  private seq = 0
  private halted = false
  private clock = 0
  /** Events run since creation. */
  executed = 0

  get now(): number {
    return this.clock
  }

  get pending(): number {
    return this.size
  }

  /** Schedules `run` at absolute `time` (clamped to now). */
  at(time: number, run: () => void): ScheduledEvent {
    return this.enqueue(time, { cancelled: false, run })
  }

  /**
   * Schedules a ready-made event object at `time`, to run with `arg` (an int32); saves a
   * closure on hot paths. The same object may be enqueued several times.
   */
  enqueue<E extends ScheduledEvent>(time: number, ev: E, arg = 0): E {
    this.push(ev, Math.max(time, this.clock), this.seq++, arg)
    return ev
  }

  /** (Re)schedules a rearmable event at `time` (clamped to now); earlier entries go stale. */
  rearm(time: number, ev: RearmableEvent): void {
    const seq = this.seq++
    ev.live = seq
    this.push(ev, Math.max(time, this.clock), seq, 0)
  }

  /** Makes a rearmable event's pending entry stale (it will not run). */
  disarm(ev: RearmableEvent): void {
    ev.live = -1
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
    while (this.size > 0) {
      const time = this.times[0]
      const arg = this.args[0]
      const stale = this.isStale(this.items[0] as ScheduledEvent, this.seqs[0])
      const ev = this.pop()
      if (stale) continue
      this.clock = time
      this.executed++
      ev.run(arg)
      return true
    }
    return false
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
      if (this.size === 0) return { reason: "idle", events, now: this.clock }
      const top = this.items[0] as ScheduledEvent
      if (this.isStale(top, this.seqs[0])) {
        this.pop()
        continue
      }
      const time = this.times[0]
      if (time > until) {
        if (until > this.clock) this.clock = until
        return { reason: "time", events, now: this.clock }
      }
      const arg = this.args[0]
      this.pop()
      this.clock = time
      this.executed++
      events++
      top.run(arg)
      if (this.halted) {
        this.halted = false
        return { reason: "halted", events, now: this.clock }
      }
    }
  }

  /** A cancelled event, or an entry of a rearmable event that was re-armed or disarmed since. */
  private isStale(ev: ScheduledEvent, seq: number): boolean {
    if (ev.cancelled) return true
    const live = (ev as Partial<RearmableEvent>).live
    return live !== undefined && live !== seq
  }

  private push(ev: ScheduledEvent, time: number, seq: number, arg: number): void {
    if (this.size === this.times.length) this.grow()
    const times = this.times
    const seqs = this.seqs
    const args = this.args
    const items = this.items
    let i = this.size++
    while (i > 0) {
      const parent = (i - 1) >> 1
      const pt = times[parent]
      if (pt < time || (pt === time && seqs[parent] < seq)) break
      times[i] = pt
      seqs[i] = seqs[parent]
      args[i] = args[parent]
      items[i] = items[parent]
      i = parent
    }
    times[i] = time
    seqs[i] = seq
    args[i] = arg
    items[i] = ev
  }

  /** Removes and returns the first event; the heap must not be empty. */
  private pop(): ScheduledEvent {
    const times = this.times
    const seqs = this.seqs
    const args = this.args
    const items = this.items
    const top = items[0] as ScheduledEvent
    const n = --this.size
    const last = items[n] as ScheduledEvent
    items[n] = undefined
    if (n === 0) return top
    const lt = times[n]
    const ls = seqs[n]
    const la = args[n]
    let i = 0
    for (;;) {
      const l = 2 * i + 1
      if (l >= n) break
      let c = l
      let ct = times[l]
      const r = l + 1
      if (r < n) {
        const rt = times[r]
        if (rt < ct || (rt === ct && seqs[r] < seqs[l])) {
          c = r
          ct = rt
        }
      }
      if (lt < ct || (lt === ct && ls < seqs[c])) break
      times[i] = ct
      seqs[i] = seqs[c]
      args[i] = args[c]
      items[i] = items[c]
      i = c
    }
    times[i] = lt
    seqs[i] = ls
    args[i] = la
    items[i] = last
    return top
  }

  private grow(): void {
    const cap = this.times.length * 2
    const times = new Float64Array(cap)
    times.set(this.times)
    const seqs = new Float64Array(cap)
    seqs.set(this.seqs)
    const args = new Int32Array(cap)
    args.set(this.args)
    this.times = times
    this.seqs = seqs
    this.args = args
  }
}
