/**
 * ResolveConfig: the settings a node starts with, from three sources in increasing order
 * of precedence — the configuration file (`--config` / `GUTS_CONFIG`), `GUTS_*`
 * environment variables, flags — over the defaults of Settings.ts.
 *
 * Guarantees:
 * - every value is validated at start; each invalid one is reported (all of them, not
 *   just the first) naming the setting, where the value came from (file and line,
 *   environment variable, flag) and what a valid value looks like;
 * - an unknown key in the file is an error (a typo must not silently leave a default);
 *   unknown `GUTS_*` variables are ignored (tests and tools use their own);
 * - an empty environment variable counts as unset;
 * - a relative path in a file is relative to the file's directory, elsewhere to the
 *   working directory;
 * - the configuration file is read through `readFile`; a cluster file, when set, is
 *   checked at start too (readClusterFile), so a bad one fails before anything opens.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { Data, Either, Schema } from "effect"
import { readClusterFile } from "../layers/chain/ClusterFile.ts"
import { timingProblem } from "../domain/HookFailover.ts"
import type { NodeConfigShape } from "../services/NodeConfig.ts"
import { type FileValue, parseConfigFile } from "./ConfigFile.ts"
import {
  type ResolvedSettings,
  type SettingInfo,
  type SettingKey,
  settingByKey,
  settingList,
} from "./Settings.ts"

/** Where a setting's value came from. */
export type SettingSource =
  | { readonly _tag: "default" }
  | { readonly _tag: "file"; readonly file: string; readonly line: number | undefined }
  | { readonly _tag: "env"; readonly variable: string }
  | { readonly _tag: "flag"; readonly flag: string }

export const describeSource = (source: SettingSource): string => {
  switch (source._tag) {
    case "default":
      return "default"
    case "file":
      return `file ${source.file}${source.line === undefined ? "" : `:${source.line}`}`
    case "env":
      return `env ${source.variable}`
    case "flag":
      return `flag ${source.flag}`
  }
}

export interface ConfigProblem {
  /** The setting's name (`http-port`), or the file key that is not a setting. */
  readonly setting: string
  readonly source: SettingSource
  /** One line: where, what, and the fix. */
  readonly message: string
}

export class ConfigInvalid extends Data.TaggedError("ConfigInvalid")<{
  readonly problems: ReadonlyArray<ConfigProblem>
}> {
  override get message() {
    return `invalid configuration:\n${this.problems.map((p) => `  ${p.message}`).join("\n")}`
  }
}

export interface ConfigInputs {
  /** Flag values by setting key, as typed (undefined: not given). */
  readonly flags: Partial<Record<SettingKey, string | undefined>>
  readonly env: Readonly<Record<string, string | undefined>>
  /** Reads a file as UTF-8 (throws when it cannot). */
  readonly readFile: (file: string) => string
}

export interface ResolvedConfig {
  readonly settings: ResolvedSettings
  readonly sources: Readonly<Record<SettingKey, SettingSource>>
}

const quote = (value: unknown) =>
  typeof value === "string" && (value === "" || /\s/.test(value))
    ? JSON.stringify(value)
    : String(value)

/** How the offending value is shown, as the operator wrote it. */
const written = (s: SettingInfo, source: SettingSource, raw: unknown) => {
  switch (source._tag) {
    case "env":
      return `${source.variable}=${quote(raw)}`
    case "flag":
      return `${source.flag} ${quote(raw)}`
    case "file":
      return `${describeSource(source).slice("file ".length)}: ${s.name}: ${quote(raw)}`
    case "default":
      return `${s.name} (default) ${quote(raw)}`
  }
}

const closest = (name: string): string | undefined => {
  let best: { name: string; distance: number } | undefined
  for (const s of settingList) {
    const d = editDistance(name.toLowerCase().replace(/_/g, "-"), s.name)
    if (best === undefined || d < best.distance) best = { name: s.name, distance: d }
  }
  return best && best.distance <= Math.max(2, Math.floor(name.length / 3)) ? best.name : undefined
}

const editDistance = (a: string, b: string) => {
  let prev = Array.from({ length: b.length + 1 }, (_, i) => i)
  for (let i = 1; i <= a.length; i++) {
    const cur = [i]
    for (let j = 1; j <= b.length; j++)
      cur[j] = Math.min(
        prev[j]! + 1,
        cur[j - 1]! + 1,
        prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1),
      )
    prev = cur
  }
  return prev[b.length]!
}

export const resolveConfig = (
  inputs: ConfigInputs,
): Either.Either<ResolvedConfig, ConfigInvalid> => {
  const problems: ConfigProblem[] = []
  const envValue = (s: SettingInfo) => {
    const v = inputs.env[s.env]
    return v === undefined || v === "" ? undefined : v
  }

  // 1. The file, if one is named.
  const configSetting = settingByKey("config")
  const configFlag = inputs.flags.config
  const configEnv = envValue(configSetting)
  const configFile = configFlag ?? configEnv
  const configSource: SettingSource =
    configFlag !== undefined
      ? { _tag: "flag", flag: configSetting.flag }
      : configEnv !== undefined
        ? { _tag: "env", variable: configSetting.env }
        : { _tag: "default" }
  const fileValues = new Map<string, { value: FileValue; line: number | undefined }>()
  if (configFile !== undefined) {
    let text: string | undefined
    try {
      text = inputs.readFile(configFile)
    } catch (err) {
      problems.push({
        setting: configSetting.name,
        source: configSource,
        message: `${written(configSetting, configSource, configFile)}: cannot read the configuration file (${(err as Error).message}); point ${configSetting.name} at a readable YAML file`,
      })
    }
    if (text !== undefined) {
      const parsed = parseConfigFile(configFile, text)
      if (Either.isLeft(parsed))
        problems.push({
          setting: configSetting.name,
          source: configSource,
          message: parsed.left.message,
        })
      else
        for (const entry of parsed.right) {
          const known = settingList.find((s) => s.name === entry.name)
          const source: SettingSource = { _tag: "file", file: configFile, line: entry.line }
          if (known === undefined || known.notInFile) {
            const hint = known ? undefined : closest(entry.name)
            problems.push({
              setting: entry.name,
              source,
              message: `${describeSource(source).slice("file ".length)}: ${
                known
                  ? `${entry.name} cannot be set inside a configuration file; use ${known.flag} or ${known.env}`
                  : `unknown setting "${entry.name}"${hint ? `; did you mean ${hint}?` : ""} (docs/configuration.md lists them all)`
              }`,
            })
            continue
          }
          fileValues.set(known.name, { value: entry.value, line: entry.line })
        }
    }
  }

  // 2. Each setting from the strongest source that has it.
  const settings: Record<string, unknown> = {}
  const sources: Record<string, SettingSource> = {}
  for (const s of settingList) {
    const flag = inputs.flags[s.key]
    const env = envValue(s)
    const file = fileValues.get(s.name)
    let raw: unknown
    let source: SettingSource
    if (flag !== undefined) {
      raw = flag
      source = { _tag: "flag", flag: s.flag }
    } else if (env !== undefined) {
      raw = env
      source = { _tag: "env", variable: s.env }
    } else if (file !== undefined && configFile !== undefined) {
      raw = file.value
      source = { _tag: "file", file: configFile, line: file.line }
    } else {
      settings[s.key] = s.default
      sources[s.key] = { _tag: "default" }
      continue
    }
    const decoded = Schema.decodeUnknownEither(s.value)(raw)
    if (Either.isLeft(decoded)) {
      problems.push({
        setting: s.name,
        source,
        message: `${written(s, source, raw)}: ${s.name} must be ${s.expected}`,
      })
      continue
    }
    let value = decoded.right
    if (s.path && source._tag === "file" && typeof value === "string" && configFile !== undefined)
      value = path.resolve(path.dirname(configFile), value)
    settings[s.key] = value
    sources[s.key] = source
  }

  // 3. Settings that are only valid together.
  const resolved = settings as ResolvedSettings
  const sourceOf = (key: SettingKey) => sources[key] ?? { _tag: "default" as const }
  if (
    problems.length === 0 &&
    resolved.httpPort !== 0 &&
    resolved.httpPort === resolved.metricsPort
  )
    problems.push({
      setting: "metrics-port",
      source: sourceOf("metricsPort"),
      message: `http-port and metrics-port are both ${resolved.httpPort} (${describeSource(sourceOf("httpPort"))}, ${describeSource(sourceOf("metricsPort"))}): metrics-port must be another port`,
    })
  if (resolved.cluster !== undefined && problems.every((p) => p.setting !== "cluster")) {
    try {
      readClusterFile(resolved.cluster)
    } catch (err) {
      const s = settingByKey("cluster")
      problems.push({
        setting: s.name,
        source: sourceOf("cluster"),
        message: `${written(s, sourceOf("cluster"), resolved.cluster)}: ${(err as Error).message}`,
      })
    }
  }

  if (resolved.ciSecretsKeyFile !== undefined) {
    const s = settingByKey("ciSecretsKeyFile")
    const source = sourceOf("ciSecretsKeyFile")
    let problem: string | undefined
    try {
      if (fs.readFileSync(resolved.ciSecretsKeyFile, "utf8").trim() === "")
        problem = `${s.name} names an empty file: write the key (the same on every validator) into it`
    } catch (err) {
      problem = `${s.name} names a file that cannot be read (${(err as Error).message})`
    }
    if (problem)
      problems.push({
        setting: s.name,
        source,
        message: `${written(s, source, resolved.ciSecretsKeyFile)}: ${problem}`,
      })
  }

  if (problems.length === 0) {
    const problem = timingProblem({
      attempts: 3,
      attemptTimeoutMs: resolved.webhookTimeoutMs,
      takeoverMs: resolved.webhookTakeoverMs,
    })
    if (problem)
      problems.push({
        setting: "webhook-takeover-ms",
        source: sourceOf("webhookTakeoverMs"),
        message: problem,
      })
  }

  if (problems.length > 0) return Either.left(new ConfigInvalid({ problems }))
  return Either.right({
    settings: resolved,
    sources: sources as Record<SettingKey, SettingSource>,
  })
}

/** What the node layers read: NodeConfig, from resolved settings. */
export const toNodeConfig = (s: ResolvedSettings): NodeConfigShape => ({
  dataDir: s.dataDir,
  host: s.host,
  httpPort: s.httpPort,
  metricsPort: s.metricsPort,
  storage: s.storage,
  publicUrl: s.publicUrl,
  maxPushBytes: s.maxPushBytes,
  clonePackMinObjects: s.clonePackMinObjects,
  clonePackPaceMs: s.clonePackPaceMs,
  shutdownGraceMs: s.shutdownGraceMs,
  rateLimitAuthenticated: s.rateLimitAuthenticated,
  rateLimitAnonymous: s.rateLimitAnonymous,
  registration: s.registration,
  readyMinPeers: s.readyMinPeers,
  readyMaxLag: s.readyMaxLag,
  webhookTimeoutMs: s.webhookTimeoutMs,
  webhookTakeoverMs: s.webhookTakeoverMs,
  ciSecretsKey:
    s.ciSecretsKeyFile === undefined
      ? undefined
      : fs.readFileSync(s.ciSecretsKeyFile, "utf8").trim(),
  ciLeaseMs: s.ciLeaseMs,
  cluster:
    s.cluster === undefined
      ? undefined
      : {
          file: s.cluster,
          keyFile: s.key ?? path.join(s.dataDir, "node.key"),
          p2pHost: s.host,
          p2pPort: s.p2pPort,
          submitTimeoutMs: s.submitTimeoutMs,
        },
  trustedProxies: s.trustedProxies?.split(",").map((a) => a.trim()),
  tracing:
    s.tracing === "otlp" ? { endpoint: s.otlpEndpoint, serviceName: s.serviceName } : undefined,
})

/** `setting  value  source` lines, for `guts node --check-config`. */
export const describeResolved = (resolved: ResolvedConfig): string => {
  const rows = settingList.map((s) => {
    const value = resolved.settings[s.key]
    return [
      s.name,
      value === undefined ? "-" : String(value),
      describeSource(resolved.sources[s.key]),
    ]
  })
  const widths = [0, 1].map((i) => Math.max(...rows.map((r) => r[i]!.length)))
  return rows
    .map((r) => `${r[0]!.padEnd(widths[0]!)}  ${r[1]!.padEnd(widths[1]!)}  ${r[2]}`)
    .join("\n")
}
