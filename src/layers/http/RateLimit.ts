/**
 * API rate limits, GitHub's way: a budget of requests per hour per token (authenticated)
 * or per client address (anonymous), in fixed windows that start at a key's first request;
 * the answer says the limit, what remains, and when the window resets (epoch seconds).
 *
 * Node-local on purpose: a client is limited by the node it talks to; limits are not
 * replicated state. Keys idle for a whole window are forgotten, so memory stays bounded by
 * the number of recent clients.
 */
import { Context, Effect, Layer } from "effect"
import { NodeConfig } from "../../services/NodeConfig.ts"

export interface Verdict {
  readonly allowed: boolean
  /** 0 when unlimited (no headers are sent then). */
  readonly limit: number
  readonly remaining: number
  readonly used: number
  /** Epoch seconds at which the window ends. */
  readonly reset: number
}

const WINDOW_MS = 60 * 60 * 1000

export interface RateLimiterShape {
  readonly take: (key: string, authenticated: boolean) => Verdict
}

export class RateLimiter extends Context.Tag("guts/RateLimiter")<RateLimiter, RateLimiterShape>() {}

export const makeRateLimiter = (
  limits: { authenticated: number; anonymous: number },
  now: () => number = Date.now,
): RateLimiterShape => {
  const windows = new Map<string, { start: number; used: number }>()
  let lastSweep = now()
  return {
    take: (key, authenticated) => {
      const limit = authenticated ? limits.authenticated : limits.anonymous
      if (limit <= 0) return { allowed: true, limit: 0, remaining: 0, used: 0, reset: 0 }
      const t = now()
      if (t - lastSweep > WINDOW_MS) {
        for (const [k, w] of windows) if (t - w.start >= WINDOW_MS) windows.delete(k)
        lastSweep = t
      }
      let w = windows.get(key)
      if (!w || t - w.start >= WINDOW_MS) {
        w = { start: t, used: 0 }
        windows.set(key, w)
      }
      const allowed = w.used < limit
      if (allowed) w.used += 1
      return {
        allowed,
        limit,
        remaining: Math.max(0, limit - w.used),
        used: w.used,
        reset: Math.ceil((w.start + WINDOW_MS) / 1000),
      }
    },
  }
}

export const RateLimiterLive = Layer.effect(
  RateLimiter,
  Effect.map(NodeConfig, (config) =>
    makeRateLimiter({
      authenticated: config.rateLimitAuthenticated ?? 5000,
      anonymous: config.rateLimitAnonymous ?? 60,
    }),
  ),
)
