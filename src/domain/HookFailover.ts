/**
 * Who sends a webhook delivery in a cluster, and when.
 *
 * Every delivery has a deterministic order of validators: rank 0 (the owner) is
 * `hash(guid) mod n`, ranks 1.. are the next validators in cluster order. Time is cut into
 * slots from the finality of the event's block (its timestamp `T`): rank k owns the slot
 * `[T + k·W, T + (k+1)·W)`, where W is the takeover window. A node starts a delivery only
 * inside its own slot, and only early enough that all its attempts (the retry window R)
 * and the recording of the outcome end before the slot does: of the slack W − R, the first
 * two thirds are for starting (a backup first waits until its state holds a block at least
 * as new as its slot's start, which can take a block interval or a leader timeout), the
 * last third for the outcome to be finalized. A backup starts only when its replicated
 * state, as of the slot's start, records no success. So in normal operation two nodes never handle one delivery
 * at the same time, and a dead owner's deliveries still go out, with the same id.
 *
 * Pure: no clocks here; callers pass times in.
 */

export interface FailoverTiming {
  /** Attempts per node (the first try and its retries). */
  readonly attempts: number
  /** How long one attempt may take (the HTTP timeout). */
  readonly attemptTimeoutMs: number
  /** The takeover window W; must exceed the retry window. */
  readonly takeoverMs: number
}

/** Backoff before retry i (1-based): 200 ms, then ×3. */
export const retryDelayMs = (retry: number) => 200 * 3 ** (retry - 1)

/** The longest a node spends on one delivery: every attempt timing out, plus the backoffs. */
export const retryWindowMs = (t: Pick<FailoverTiming, "attempts" | "attemptTimeoutMs">) => {
  let total = t.attempts * t.attemptTimeoutMs
  for (let i = 1; i < t.attempts; i++) total += retryDelayMs(i)
  return total
}

/** Why a timing cannot keep deliveries from overlapping, or undefined when it can. */
export const timingProblem = (t: FailoverTiming): string | undefined => {
  const r = retryWindowMs(t)
  return t.takeoverMs - r < 1000
    ? `the webhook takeover window (${t.takeoverMs} ms) must exceed the retry window (${t.attempts} attempts of up to ${t.attemptTimeoutMs} ms with backoff: ${r} ms) by at least 1000 ms, to leave time to start and to record the outcome`
    : undefined
}

/** The owner of a delivery among n validators (rank 0). */
export const ownerOf = (guid: string, n: number) => Number.parseInt(guid.slice(0, 8), 16) % n

/** The validator at each rank for a delivery: the owner, then the backups in order. */
export const ranking = (guid: string, n: number): ReadonlyArray<number> => {
  const owner = ownerOf(guid, n)
  return Array.from({ length: n }, (_, k) => (owner + k) % n)
}

/** The rank of validator `me` for a delivery. */
export const rankOf = (guid: string, n: number, me: number) => (me - ownerOf(guid, n) + n) % n

/** When rank k's slot starts, for an event finalized at `finalizedAt`. */
export const slotStart = (t: FailoverTiming, finalizedAt: number, rank: number) =>
  finalizedAt + rank * t.takeoverMs

/**
 * The latest time rank k may start sending and still finish (attempts and recording)
 * within its slot. The last rank has no successor to collide with: it may always start.
 */
export const latestStart = (t: FailoverTiming, finalizedAt: number, rank: number, n: number) =>
  rank === n - 1
    ? Number.POSITIVE_INFINITY
    : slotStart(t, finalizedAt, rank) + Math.floor(((t.takeoverMs - retryWindowMs(t)) * 2) / 3)
