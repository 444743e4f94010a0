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
 * An event object that is scheduled again and again (a timer): `rearm` moves its single
 * entry to a new due time, `disarm` removes it. Timers live in a small heap of their own
 * that is updated in place, so re-arming allocates nothing and leaves no stale entries
 * behind in the main queue (a busy node re-arms its timers several times per view).
 */
export interface RearmableEvent extends ScheduledEvent {
  /** Position in the scheduler's timer heap; -1 = not armed. Owned by the scheduler. */
  slot: number
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

// The main heap is four typed arrays: the keys (time, sequence), the event argument and
// the slot of the event object in `events`. Sifting then compares and moves contiguous
// numbers only: no loads from events scattered in memory and no write barriers (storing
// young objects into a long-lived array costs one each time). Both heaps order by (time, sequence) with one sequence counter, so taking the
// smaller of their two tops runs everything in exactly the global (time, sequence) order.
const INITIAL_CAPACITY = 1024

export class Scheduler {
  private times = new Float64Array(INITIAL_CAPACITY)
  private seqs = new Float64Array(INITIAL_CAPACITY)
  private args = new Int32Array(INITIAL_CAPACITY)
  private slots = new Int32Array(INITIAL_CAPACITY)
  private size = 0
  /**
   * Event objects of the main heap's entries, by slot, with the number of entries using
   * each slot (an object enqueued several times in a row, as a broadcast is, takes one
   * slot); free slots are listed in `free`.
   */
  private readonly events = objectArray<ScheduledEvent>()
  private readonly refs: number[] = []
  private readonly free: number[] = []
  private lastEvent: ScheduledEvent | undefined = undefined
  private lastSlot = -1
  /** The timer heap: armed rearmable events, each knowing its slot (see RearmableEvent). */
  private readonly timers: RearmableEvent[] = []
  // Keys in typed arrays: a fresh scheduler's plain arrays would start as integer arrays
  // and turn into double arrays mid-run, throwing away code optimized for the latter.
  private timerTimes = new Float64Array(64)
  private timerSeqs = new Float64Array(64)
  private seq = 0
  private halted = false
  private clock = 0
  /** Events run since creation. */
  executed = 0

  get now(): number {
    return this.clock
  }

  /** Entries waiting: one-shot entries (cancelled ones included until due) and armed timers. */
  get pending(): number {
    return this.size + this.timers.length
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

  /**
   * (Re)schedules a rearmable event at `time` (clamped to now). It is ordered as if it had
   * just been scheduled: after everything already due at that time.
   */
  rearm(time: number, ev: RearmableEvent): void {
    const t = Math.max(time, this.clock)
    const seq = this.seq++
    const slot = ev.slot
    if (slot >= 0) {
      // The new key is later than the old one unless the time moved earlier.
      const earlier = t < this.timerTimes[slot]
      this.timerTimes[slot] = t
      this.timerSeqs[slot] = seq
      if (earlier) this.timerUp(slot)
      else this.timerDown(slot)
      return
    }
    const i = this.timers.length
    if (i === this.timerTimes.length) {
      const times = new Float64Array(2 * i)
      times.set(this.timerTimes)
      this.timerTimes = times
      const seqs = new Float64Array(2 * i)
      seqs.set(this.timerSeqs)
      this.timerSeqs = seqs
    }
    this.timers.push(ev)
    this.timerTimes[i] = t
    this.timerSeqs[i] = seq
    ev.slot = i
    this.timerUp(i)
  }

  /** Removes a rearmable event's pending entry (it will not run unless re-armed). */
  disarm(ev: RearmableEvent): void {
    const slot = ev.slot
    if (slot < 0) return
    ev.slot = -1
    const last = this.timers.length - 1
    const moved = this.timers.pop() as RearmableEvent
    const time = this.timerTimes[last]
    const seq = this.timerSeqs[last]
    if (slot === last) return
    this.timers[slot] = moved
    this.timerTimes[slot] = time
    this.timerSeqs[slot] = seq
    moved.slot = slot
    this.timerUp(slot)
    this.timerDown(moved.slot)
  }

  after(delayMs: number, run: () => void): ScheduledEvent {
    return this.at(this.clock + Math.max(delayMs, 0), run)
  }

  /** Cancelled events stay in the main heap and are skipped when due; timers are disarmed. */
  cancel(ev: ScheduledEvent): void {
    ev.cancelled = true
    const slot = (ev as Partial<RearmableEvent>).slot
    if (slot !== undefined && slot >= 0) this.disarm(ev as RearmableEvent)
  }

  /** Makes the current `run` return after the event in progress. */
  halt(): void {
    this.halted = true
  }

  /** Runs the next live event; false when none is left. */
  step(): boolean {
    for (;;) {
      const next = this.next()
      if (next === NONE) return false
      if (next === STALE) continue
      this.fire(next)
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
      const next = this.next()
      if (next === NONE) return { reason: "idle", events, now: this.clock }
      if (next === STALE) continue
      if (this.nextTime > until) {
        if (until > this.clock) this.clock = until
        return { reason: "time", events, now: this.clock }
      }
      events++
      this.fire(next)
      if (this.halted) {
        this.halted = false
        return { reason: "halted", events, now: this.clock }
      }
    }
  }

  // ---- choosing the next event ---------------------------------------------------------

  /** Due time of what `next` found. */
  private nextTime = 0

  /**
   * Which heap holds the earliest entry: MAIN or TIMER (its due time in `nextTime`), NONE
   * when both are empty, or STALE after dropping a cancelled main entry (call again).
   * Nothing is removed otherwise: `fire` takes the entry.
   */
  private next(): number {
    const hasMain = this.size > 0
    const hasTimer = this.timers.length > 0
    if (!hasMain && !hasTimer) return NONE
    if (hasMain) {
      if ((this.events[this.slots[0]] as ScheduledEvent).cancelled) {
        this.pop()
        return STALE
      }
      if (hasTimer) {
        const mt = this.times[0]
        const tt = this.timerTimes[0]
        if (tt < mt || (tt === mt && this.timerSeqs[0] < this.seqs[0])) {
          this.nextTime = tt
          return TIMER
        }
      }
      this.nextTime = this.times[0]
      return MAIN
    }
    this.nextTime = this.timerTimes[0]
    return TIMER
  }

  private fire(which: number): void {
    this.clock = this.nextTime
    this.executed++
    if (which === MAIN) {
      const arg = this.args[0]
      this.pop().run(arg)
    } else {
      // A timer fires once per arming: it leaves the heap before running (it may re-arm).
      const ev = this.timers[0]
      this.disarm(ev)
      ev.run(0)
    }
  }

  // ---- the main heap -------------------------------------------------------------------

  private push(ev: ScheduledEvent, time: number, seq: number, arg: number): void {
    if (this.size === this.times.length) this.grow()
    let slot = this.lastSlot
    if (ev === this.lastEvent && this.events[slot] === ev) this.refs[slot]++
    else {
      slot = this.free.length > 0 ? (this.free.pop() as number) : this.events.length
      this.events[slot] = ev
      this.refs[slot] = 1
      this.lastEvent = ev
      this.lastSlot = slot
    }
    const times = this.times
    const seqs = this.seqs
    const args = this.args
    const slots = this.slots
    let i = this.size++
    while (i > 0) {
      const parent = (i - 1) >> 1
      const pt = times[parent]
      if (pt < time || (pt === time && seqs[parent] < seq)) break
      times[i] = pt
      seqs[i] = seqs[parent]
      args[i] = args[parent]
      slots[i] = slots[parent]
      i = parent
    }
    times[i] = time
    seqs[i] = seq
    args[i] = arg
    slots[i] = slot
  }

  /** Removes and returns the first event; the heap must not be empty. */
  private pop(): ScheduledEvent {
    const times = this.times
    const seqs = this.seqs
    const args = this.args
    const slots = this.slots
    const topSlot = slots[0]
    const top = this.events[topSlot] as ScheduledEvent
    if (--this.refs[topSlot] === 0) {
      this.events[topSlot] = undefined
      this.free.push(topSlot)
    }
    const n = --this.size
    if (n === 0) return top
    const lt = times[n]
    const ls = seqs[n]
    const la = args[n]
    const lslot = slots[n]
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
      slots[i] = slots[c]
      i = c
    }
    times[i] = lt
    seqs[i] = ls
    args[i] = la
    slots[i] = lslot
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
    const slots = new Int32Array(cap)
    slots.set(this.slots)
    this.times = times
    this.seqs = seqs
    this.args = args
    this.slots = slots
  }

  // ---- the timer heap ------------------------------------------------------------------

  private timerBefore(a: number, b: number): boolean {
    const ta = this.timerTimes[a]
    const tb = this.timerTimes[b]
    return ta < tb || (ta === tb && this.timerSeqs[a] < this.timerSeqs[b])
  }

  private timerSwap(a: number, b: number): void {
    const timers = this.timers
    const ea = timers[a]
    const eb = timers[b]
    timers[a] = eb
    timers[b] = ea
    eb.slot = a
    ea.slot = b
    const times = this.timerTimes
    const t = times[a]
    times[a] = times[b]
    times[b] = t
    const seqs = this.timerSeqs
    const s = seqs[a]
    seqs[a] = seqs[b]
    seqs[b] = s
  }

  private timerUp(i: number): void {
    while (i > 0) {
      const parent = (i - 1) >> 1
      if (!this.timerBefore(i, parent)) return
      this.timerSwap(i, parent)
      i = parent
    }
  }

  private timerDown(i: number): void {
    const n = this.timers.length
    for (;;) {
      const l = 2 * i + 1
      if (l >= n) return
      const r = l + 1
      const c = r < n && this.timerBefore(r, l) ? r : l
      if (!this.timerBefore(c, i)) return
      this.timerSwap(i, c)
      i = c
    }
  }
}

/**
 * An empty array that already holds objects as far as the engine is concerned. A `[]`
 * starts as an array of small integers and changes kind on its first object; code
 * optimized on a previous scheduler's arrays would be thrown away for that.
 */
const objectArray = <T>(): (T | undefined)[] => {
  const a: (T | undefined)[] = [undefined]
  a.pop()
  return a
}

const NONE = 0
const STALE = 1
const MAIN = 2
const TIMER = 3
