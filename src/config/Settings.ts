/**
 * Settings: the one description of every setting a node takes — its name, flag,
 * environment variable, type, default and meaning — as an effect Schema. Parsing
 * (ResolveConfig.ts), the command line (CliOptions.ts) and docs/configuration.md
 * (ConfigDoc.ts) are all derived from it, so they cannot disagree.
 *
 * Naming is mechanical: the field `httpPort` is the setting `http-port`, the flag
 * `--http-port`, the environment variable `GUTS_HTTP_PORT` and the key `http-port` in a
 * configuration file.
 */
import { isIP } from "node:net"
import { ParseResult, Schema } from "effect"

/** Annotation on a value schema: what a valid value looks like, for error messages. */
const ExpectedId = Symbol.for("guts/config/Expected")
/** Annotation on a value schema: the placeholder `--help` shows (`--http-port PORT`). */
const MetavarId = Symbol.for("guts/config/Metavar")
/** Annotation on a field of `Settings`: the setting's metadata. */
const SettingId = Symbol.for("guts/config/Setting")

export type SettingGroup =
  | "node"
  | "http"
  | "cluster"
  | "limits"
  | "health"
  | "logging"
  | "tracing"
  | "ci"

export interface SettingMeta {
  readonly group: SettingGroup
  readonly description: string
  /** The default (a decoded value); undefined when the setting is unset by default. */
  readonly default: unknown
  /** How the docs state the default when it is not a plain value. */
  readonly defaultText?: string
  /** A path: in a configuration file, relative to the file's directory. */
  readonly path?: boolean
  /** Not accepted inside a configuration file (the file's own location). */
  readonly notInFile?: boolean
  /**
   * The flag is one @effect/cli already defines for every command (`--log-level`); the
   * resolver reads it from the raw arguments instead of declaring it again.
   */
  readonly builtinFlag?: boolean
}

/**
 * A value schema accepts text (flags, environment) and, for numbers, file numbers. Only
 * decoding is used, so the encoded side (different for each setting) is left open.
 */
// biome-ignore lint/suspicious/noExplicitAny: the encoded type differs per setting and is never used
type Value<A> = Schema.Schema<A, any>

const expecting = <A>(schema: Value<A>, expected: string, metavar: string): Value<A> =>
  schema.annotations({ [ExpectedId]: expected, [MetavarId]: metavar })

/** What a valid value of this schema looks like ("an integer 0–65535"). */
export const expectedOf = (schema: Schema.Schema.Any): string =>
  (schema.ast.annotations[ExpectedId] as string | undefined) ?? "a valid value"

const metavarOf = (schema: Schema.Schema.Any): string =>
  (schema.ast.annotations[MetavarId] as string | undefined) ?? "VALUE"

const integerInput = Schema.transformOrFail(
  Schema.Union(Schema.String, Schema.Number),
  Schema.Number,
  {
    strict: true,
    decode: (raw, _, ast) => {
      if (typeof raw === "number")
        return Number.isSafeInteger(raw)
          ? ParseResult.succeed(raw)
          : ParseResult.fail(new ParseResult.Type(ast, raw))
      const text = raw.trim()
      return /^[+-]?\d{1,16}$/.test(text)
        ? ParseResult.succeed(Number(text))
        : ParseResult.fail(new ParseResult.Type(ast, raw))
    },
    encode: (n) => ParseResult.succeed(n),
  },
)

/** An integer between `min` and `max` (inclusive), from text or a file number. */
export const integer = (min: number, max?: number, unit?: string, metavar = "N"): Value<number> =>
  expecting(
    integerInput.pipe(Schema.filter((n) => n >= min && (max === undefined || n <= max))),
    `an integer ${max === undefined ? `≥ ${min}` : `${min}–${max}`}${unit ? ` (${unit})` : ""}`,
    metavar,
  )

export const port: Value<number> = integer(0, 65535, undefined, "PORT")

/** Non-empty text (surrounding spaces removed). */
export const text = (what: string, metavar: string): Value<string> =>
  expecting(
    Schema.transform(Schema.String, Schema.String, {
      strict: true,
      decode: (s) => s.trim(),
      encode: (s) => s,
    }).pipe(Schema.filter((s) => s.length > 0)),
    what,
    metavar,
  )

export const oneOf = <const L extends ReadonlyArray<string>>(...values: L): Value<L[number]> =>
  expecting(
    Schema.Literal(...values) as unknown as Value<L[number]>,
    `one of ${values.join(", ")}`,
    values.join("|"),
  )

export const httpUrl: Value<string> = expecting(
  text("a URL", "URL").pipe(
    Schema.filter((s) => {
      try {
        const url = new URL(s)
        return url.protocol === "http:" || url.protocol === "https:"
      } catch {
        return false
      }
    }),
  ),
  "an http:// or https:// URL",
  "URL",
)

const minPeers: Value<number | "quorum"> = expecting(
  Schema.Union(Schema.Literal("quorum"), integer(0)),
  "quorum or an integer ≥ 0",
  "N|quorum",
)

/** Comma-separated IP addresses or CIDR ranges (`10.0.0.0/8`, `::1`). */
const proxyList: Value<string> = expecting(
  text("addresses", "ADDR[,ADDR...]").pipe(
    Schema.filter((s) => s.split(",").every((part) => proxyEntryValid(part.trim()))),
  ),
  "comma-separated IP addresses or CIDR ranges (e.g. 127.0.0.1,10.0.0.0/8)",
  "ADDR[,ADDR...]",
)

/** An IP address, or an address and a prefix length within its family's bits. */
export const proxyEntryValid = (entry: string): boolean => {
  const [address, bits, extra] = entry.split("/")
  if (extra !== undefined || address === undefined) return false
  const family = isIP(address)
  if (family === 0) return false
  if (bits === undefined) return true
  if (!/^\d{1,3}$/.test(bits)) return false
  return Number(bits) <= (family === 4 ? 32 : 128)
}

/** A field of `Settings` with a default. */
const setting = <A>(value: Value<A>, meta: SettingMeta): Value<A> =>
  value.annotations({ [SettingId]: { ...meta, value }, description: meta.description })

/** A field of `Settings` that is unset (undefined) by default. */
const optionalSetting = <A>(value: Value<A>, meta: Omit<SettingMeta, "default">) =>
  Schema.UndefinedOr(value).annotations({
    [SettingId]: { ...meta, default: undefined, value },
    description: meta.description,
  })

export const Settings = Schema.Struct({
  config: optionalSetting(text("a file path", "FILE"), {
    group: "node",
    description:
      "YAML (or JSON) file to read settings from; flags and GUTS_* environment variables override what it says",
    defaultText: "none",
    notInFile: true,
  }),
  dataDir: setting(text("a directory path", "DIR"), {
    group: "node",
    description: "where the object store, refs, metadata database and consensus state live",
    default: "./data",
    path: true,
  }),
  storage: setting(oneOf("rocksdb", "memory"), {
    group: "node",
    description: "rocksdb keeps data under data-dir; memory forgets everything on exit (tests)",
    default: "rocksdb",
  }),
  host: setting(text("an address", "ADDRESS"), {
    group: "http",
    description: "address the HTTP, metrics and P2P listeners bind to",
    default: "0.0.0.0",
  }),
  httpPort: setting(port, {
    group: "http",
    description: "port of the REST API, git smart HTTP and health endpoints (0: any free port)",
    default: 8080,
  }),
  metricsPort: setting(port, {
    group: "http",
    description: "port of the Prometheus /metrics endpoint (0: any free port)",
    default: 9090,
  }),
  publicUrl: optionalSetting(httpUrl, {
    group: "http",
    description:
      "URL clients reach this node at (behind a proxy: the proxy's URL), used in API answers",
    defaultText: "from each request's Host header",
  }),
  maxPushBytes: setting(integer(1, undefined, "bytes"), {
    group: "limits",
    description: "largest git request body accepted (a pushed pack)",
    default: 2 * 1024 * 1024 * 1024,
    defaultText: "2147483648 (2 GiB)",
  }),
  clonePackMinObjects: setting(integer(0, undefined, "objects"), {
    group: "limits",
    description:
      "a repository whose full clone holds at least this many objects gets a cached clone pack under data-dir/clone-packs after a push (about its packed size on disk); clones stream it",
    default: 1000,
  }),
  clonePackPaceMs: setting(integer(0, undefined, "milliseconds"), {
    group: "limits",
    description:
      "shortest pause between two cached clone packs of one repository (at least ten times as long as writing the last one took); clones in between are served the ordinary way",
    default: 30_000,
  }),
  shutdownGraceMs: setting(integer(0, undefined, "milliseconds"), {
    group: "limits",
    description: "how long shutdown waits for in-flight requests before interrupting them",
    default: 10_000,
  }),
  rateLimitAuthenticated: setting(integer(0, undefined, "requests per hour"), {
    group: "limits",
    description: "API requests per hour per token (0: unlimited)",
    default: 5000,
  }),
  rateLimitAnonymous: setting(integer(0, undefined, "requests per hour"), {
    group: "limits",
    description: "API requests per hour per client address without a token (0: unlimited)",
    default: 60,
  }),
  registration: setting(oneOf("admin", "open"), {
    group: "limits",
    description:
      "admin: only administrators create users; open: anyone may sign up with POST /api/users",
    default: "admin",
  }),
  cluster: optionalSetting(text("a file path", "FILE"), {
    group: "cluster",
    description:
      'cluster file naming the validators ({"validators": [{"publicKey", "address"}]}); unset: a single validator',
    defaultText: "none (single validator)",
    path: true,
  }),
  key: optionalSetting(text("a file path", "FILE"), {
    group: "cluster",
    description: "the node's Ed25519 key file, made by `guts keygen`",
    defaultText: "<data-dir>/node.key",
    path: true,
  }),
  p2pPort: setting(port, {
    group: "cluster",
    description: "port for peer-to-peer (libp2p) connections between validators",
    default: 9000,
  }),
  submitTimeoutMs: setting(integer(1, undefined, "milliseconds"), {
    group: "cluster",
    description:
      "how long a write waits for finality before failing with 503 / `writes are unavailable`",
    default: 30_000,
  }),
  readyMinPeers: setting(minPeers, {
    group: "health",
    description:
      "in a cluster, /health/ready needs this many connected peers; quorum: enough to form a quorum with this node (n - f - 1)",
    default: "quorum",
  }),
  readyMaxLag: setting(integer(0, undefined, "blocks"), {
    group: "health",
    description:
      "in a cluster, /health/ready fails while this node is more than this many blocks behind the highest finalized height it has seen",
    default: 10,
  }),
  logFormat: setting(oneOf("logfmt", "json"), {
    group: "logging",
    description:
      "logfmt lines, or JSON lines (one object per line, with requestId inside requests)",
    default: "logfmt",
  }),
  logLevel: setting(oneOf("all", "trace", "debug", "info", "warning", "error", "fatal", "none"), {
    group: "logging",
    description: "lowest level logged",
    default: "info",
    builtinFlag: true,
  }),
  trustedProxies: optionalSetting(proxyList, {
    group: "http",
    description:
      "addresses (or CIDR ranges) of reverse proxies in front of the node, comma-separated: only from these is X-Forwarded-For believed (for anonymous rate limits and logs)",
    defaultText: "none (X-Forwarded-For is ignored)",
  }),
  tracing: setting(oneOf("off", "otlp"), {
    group: "tracing",
    description:
      "otlp: export OpenTelemetry traces (HTTP requests, pushes, submissions, consensus, apply) to otlp-endpoint",
    default: "off",
  }),
  otlpEndpoint: setting(httpUrl, {
    group: "tracing",
    description: "where traces are sent, OTLP over HTTP (JSON)",
    default: "http://127.0.0.1:4318/v1/traces",
  }),
  serviceName: setting(text("a name", "NAME"), {
    group: "tracing",
    description: "the service.name resource attribute of exported spans",
    default: "guts",
  }),
  webhookTimeoutMs: setting(integer(1, undefined, "milliseconds"), {
    group: "cluster",
    description:
      "how long one webhook delivery attempt waits for the receiver (3 attempts per node, with backoff)",
    default: 10_000,
  }),
  webhookTakeoverMs: setting(integer(1, undefined, "milliseconds"), {
    group: "cluster",
    description:
      "in a cluster, how long after an event's finality the next validator takes over a webhook delivery with no recorded success; must exceed the retry window (3 × webhook-timeout-ms + 800) by 1000 or more",
    default: 60_000,
  }),
  ciSecretsKeyFile: optionalSetting(text("a file path", "FILE"), {
    group: "ci",
    description:
      "file holding the key CI secrets are encrypted under (any text; the same on every validator); unset: GUTS_CI_SECRETS_KEY, and without either, secrets cannot be set",
    defaultText: "none",
    path: true,
  }),
  ciLeaseMs: setting(integer(2_000, 600_000, "milliseconds"), {
    group: "ci",
    description:
      "how long a runner holds a job without a heartbeat before the job is requeued for another runner",
    default: 60_000,
  }),
})

/** Every setting, resolved. */
export type ResolvedSettings = Schema.Schema.Type<typeof Settings>
export type SettingKey = keyof ResolvedSettings & string

export interface SettingInfo extends SettingMeta {
  /** Field name in `Settings` (and mostly in NodeConfig): `httpPort`. */
  readonly key: SettingKey
  /** The setting's name, also its flag and file key: `http-port`. */
  readonly name: string
  readonly flag: string
  readonly env: string
  /** Decodes one raw value (text, or a number from a file). */
  readonly value: Value<unknown>
  /** What a valid value looks like. */
  readonly expected: string
  /** Placeholder for the value in `--help`. */
  readonly metavar: string
}

const kebab = (key: string) => key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)

/** The settings in their documented order. */
export const settingList: ReadonlyArray<SettingInfo> = Object.entries(Settings.fields).map(
  ([key, field]) => {
    const meta = field.ast.annotations[SettingId] as SettingMeta & { value: Value<unknown> }
    const name = kebab(key)
    return {
      ...meta,
      key: key as SettingKey,
      name,
      flag: `--${name}`,
      env: `GUTS_${name.replace(/-/g, "_").toUpperCase()}`,
      expected: expectedOf(meta.value),
      metavar: metavarOf(meta.value),
    }
  },
)

export const settingByKey = (key: SettingKey): SettingInfo =>
  settingList.find((s) => s.key === key)!

/** The text a default is documented with. */
export const defaultText = (s: SettingInfo): string =>
  s.defaultText ?? (s.default === undefined ? "none" : String(s.default))
