/**
 * Logging: the node's logger from the `log-format` and `log-level` settings. JSON lines
 * (Loki-friendly: one object per line) carry the log annotations as fields, so every line
 * logged while serving a request has its `requestId` (HttpServer annotates the request's
 * fiber, and fibers it forks inherit the annotation).
 *
 * `withLogging` swaps the output logger rather than adding one, so applying it inside an
 * effect that already has a logger (the CLI's start-up logger) never prints lines twice.
 */
import { Effect, FiberRef, HashSet, Logger, LogLevel } from "effect"
import type { ResolvedSettings } from "./Settings.ts"

export type LogFormat = ResolvedSettings["logFormat"]

/** The output loggers, one object each so they can be swapped. */
export const loggers: Record<LogFormat, Logger.Logger<unknown, void>> = {
  logfmt: Logger.withConsoleLog(Logger.logfmtLogger),
  json: Logger.withConsoleLog(Logger.jsonLogger),
}

const levels: Record<ResolvedSettings["logLevel"], LogLevel.LogLevel> = {
  all: LogLevel.All,
  trace: LogLevel.Trace,
  debug: LogLevel.Debug,
  info: LogLevel.Info,
  warning: LogLevel.Warning,
  error: LogLevel.Error,
  fatal: LogLevel.Fatal,
  none: LogLevel.None,
}

export const logLevelOf = (level: ResolvedSettings["logLevel"]): LogLevel.LogLevel => levels[level]

/** Runs `effect` logging in `format` at `level` and above. */
export const withLogging =
  (format: LogFormat, level: ResolvedSettings["logLevel"]) =>
  <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
    effect.pipe(
      Effect.locallyWith(FiberRef.currentLoggers, (current) =>
        current.pipe(
          HashSet.remove(Logger.defaultLogger),
          HashSet.remove(loggers.logfmt),
          HashSet.remove(loggers.json),
          HashSet.add(loggers[format]),
        ),
      ),
      Logger.withMinimumLogLevel(logLevelOf(level)),
    )
