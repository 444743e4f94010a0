/**
 * Configuration resolution as `guts node` runs it: a file, GUTS_* variables and flags, in
 * that order of precedence over the defaults, every invalid value reported with the
 * setting, where it came from and what it must be.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { Command } from "@effect/cli"
import { NodeContext } from "@effect/platform-node"
import { Effect, Either } from "effect"
import { describe, expect, it } from "vitest"
import {
  builtinFlagValues,
  flagValues,
  settingOptions,
  withoutBuiltinFlags,
} from "../../src/config/CliOptions.ts"
import {
  type ConfigInputs,
  type ConfigProblem,
  describeResolved,
  type ResolvedConfig,
  resolveConfig,
  toNodeConfig,
} from "../../src/config/ResolveConfig.ts"
import { type SettingKey, settingList } from "../../src/config/Settings.ts"
import { defaultNodeConfig } from "../../src/services/NodeConfig.ts"
import { tempDir } from "../support/TestNode.ts"

const noFile = (file: string): string => {
  throw new Error(`ENOENT: no such file ${file}`)
}

const resolve = (inputs: Partial<ConfigInputs> & { file?: string }): ResolvedConfig => {
  const result = run(inputs)
  if (Either.isLeft(result)) throw new Error(result.left.message)
  return result.right
}

const run = (inputs: Partial<ConfigInputs> & { file?: string }) =>
  resolveConfig({
    flags: inputs.flags ?? {},
    env: inputs.env ?? {},
    readFile:
      inputs.readFile ??
      ((f) => {
        if (inputs.file !== undefined && f === "/etc/guts/guts.yaml") return inputs.file
        return noFile(f)
      }),
  })

const problemsOf = (inputs: Partial<ConfigInputs> & { file?: string }) => {
  const result = run(inputs)
  if (Either.isRight(result)) throw new Error("expected the configuration to be rejected")
  return result.left.problems
}

const fileFlag = { config: "/etc/guts/guts.yaml" }

describe("configuration precedence", () => {
  it("takes defaults when nothing is given, and they are NodeConfig's defaults", () => {
    const r = resolve({})
    expect(r.settings.httpPort).toBe(8080)
    expect(r.settings.dataDir).toBe("./data")
    expect(r.settings.readyMinPeers).toBe("quorum")
    expect(Object.values(r.sources).every((s) => s._tag === "default")).toBe(true)
    expect(toNodeConfig(r.settings)).toEqual({ ...defaultNodeConfig, cluster: undefined })
  })

  it("takes a file value over the default, an env value over the file, a flag over env", () => {
    const file = "http-port: 1001\nmetrics-port: 2001\np2p-port: 3001\nregistration: open\n"
    const r = resolve({
      flags: { ...fileFlag, httpPort: "1003" },
      env: { GUTS_HTTP_PORT: "1002", GUTS_METRICS_PORT: "2002" },
      file,
    })
    expect(r.settings.httpPort).toBe(1003)
    expect(r.sources.httpPort).toEqual({ _tag: "flag", flag: "--http-port" })
    expect(r.settings.metricsPort).toBe(2002)
    expect(r.sources.metricsPort).toEqual({ _tag: "env", variable: "GUTS_METRICS_PORT" })
    expect(r.settings.p2pPort).toBe(3001)
    expect(r.sources.p2pPort).toEqual({ _tag: "file", file: "/etc/guts/guts.yaml", line: 3 })
    expect(r.settings.registration).toBe("open")
    expect(r.settings.storage).toBe("rocksdb")
  })

  it("applies the same order to every setting", () => {
    const samples: Record<SettingKey, [string, string, string]> = {
      config: ["", "", ""],
      dataDir: ["/f", "/e", "/l"],
      storage: ["memory", "rocksdb", "memory"],
      host: ["10.0.0.1", "10.0.0.2", "10.0.0.3"],
      httpPort: ["1", "2", "3"],
      metricsPort: ["11", "12", "13"],
      publicUrl: ["https://f.example", "https://e.example", "https://l.example"],
      maxPushBytes: ["100", "200", "300"],
      clonePackMinObjects: ["0", "10", "20"],
      clonePackPaceMs: ["0", "10", "20"],
      shutdownGraceMs: ["1", "2", "3"],
      rateLimitAuthenticated: ["1", "2", "0"],
      rateLimitAnonymous: ["1", "2", "0"],
      registration: ["open", "admin", "open"],
      cluster: ["", "", ""],
      key: ["/kf", "/ke", "/kl"],
      p2pPort: ["21", "22", "23"],
      submitTimeoutMs: ["1", "2", "3"],
      readyMinPeers: ["1", "quorum", "3"],
      readyMaxLag: ["1", "2", "3"],
      logFormat: ["json", "logfmt", "json"],
      logLevel: ["debug", "warning", "error"],
      trustedProxies: ["10.0.0.1", "10.0.0.0/8", "::1,127.0.0.1"],
      tracing: ["otlp", "off", "otlp"],
      otlpEndpoint: ["http://f:4318/v1/traces", "http://e:4318/v1/traces", "http://l/v1/traces"],
      serviceName: ["guts-f", "guts-e", "guts-l"],
      webhookTimeoutMs: ["1", "2", "3"],
      webhookTakeoverMs: ["5000", "6000", "7000"],
      ciSecretsKeyFile: ["", "", ""],
      ciLeaseMs: ["2000", "3000", "4000"],
    }
    // Settings naming files that are read at start are checked with real files elsewhere.
    const testable = settingList.filter(
      (s) => s.key !== "config" && s.key !== "cluster" && s.key !== "ciSecretsKeyFile",
    )
    const file = testable.map((s) => `${s.name}: "${samples[s.key][0]}"`).join("\n")
    const env = Object.fromEntries(testable.map((s) => [s.env, samples[s.key][1]]))
    const flags = Object.fromEntries(testable.map((s) => [s.key, samples[s.key][2]]))
    const decode = (raw: string) => (/^\d+$/.test(raw) ? Number(raw) : raw)
    const fromFile = resolve({ flags: fileFlag, file })
    const fromEnv = resolve({ flags: fileFlag, env, file })
    const fromFlags = resolve({ flags: { ...fileFlag, ...flags }, env, file })
    for (const s of testable) {
      expect([s.name, fromFile.settings[s.key]]).toEqual([s.name, decode(samples[s.key][0])])
      expect([s.name, fromEnv.settings[s.key]]).toEqual([s.name, decode(samples[s.key][1])])
      expect([s.name, fromFlags.settings[s.key]]).toEqual([s.name, decode(samples[s.key][2])])
    }
  })

  it("reads the file named by GUTS_CONFIG, and --config over GUTS_CONFIG", () => {
    const files: Record<string, string> = {
      "/a.yaml": "http-port: 1\n",
      "/b.yaml": "http-port: 2\n",
    }
    const readFile = (f: string) => files[f] ?? noFile(f)
    expect(resolve({ env: { GUTS_CONFIG: "/a.yaml" }, readFile }).settings.httpPort).toBe(1)
    expect(
      resolve({ flags: { config: "/b.yaml" }, env: { GUTS_CONFIG: "/a.yaml" }, readFile }).settings
        .httpPort,
    ).toBe(2)
  })

  it("treats an empty environment variable as unset", () => {
    const r = resolve({ env: { GUTS_HTTP_PORT: "", GUTS_PUBLIC_URL: "" } })
    expect(r.settings.httpPort).toBe(8080)
    expect(r.settings.publicUrl).toBeUndefined()
  })

  it("ignores GUTS_* variables that are not settings (tools and tests use their own)", () => {
    expect(resolve({ env: { GUTS_SIM_SEEDS: "3", GUTS_BENCH_QUICK: "1" } }).settings.httpPort).toBe(
      8080,
    )
  })

  it("resolves relative paths in a file against the file's directory, elsewhere not", () => {
    const r = resolve({
      flags: { config: "/etc/guts/guts.yaml" },
      file: "data-dir: data\nkey: keys/node.key\n",
    })
    expect(r.settings.dataDir).toBe("/etc/guts/data")
    expect(r.settings.key).toBe("/etc/guts/keys/node.key")
    expect(resolve({ env: { GUTS_DATA_DIR: "data" } }).settings.dataDir).toBe("data")
  })

  it("accepts YAML numbers, quoted text and JSON", () => {
    const json = '{"http-port": 81, "public-url": "https://git.example.com", "ready-min-peers": 2}'
    const r = resolve({ flags: fileFlag, file: json })
    expect(r.settings.httpPort).toBe(81)
    expect(r.settings.publicUrl).toBe("https://git.example.com")
    expect(r.settings.readyMinPeers).toBe(2)
    expect(resolve({ flags: fileFlag, file: "# nothing yet\n" }).settings.httpPort).toBe(8080)
  })

  it("builds the cluster section of NodeConfig with the key defaulting under data-dir", () => {
    const dir = tempDir("ops-cluster")
    const cluster = path.join(dir, "cluster.json")
    fs.writeFileSync(
      cluster,
      JSON.stringify({
        validators: [{ publicKey: "ab".repeat(32), address: "/ip4/127.0.0.1/tcp/1" }],
      }),
    )
    const r = resolve({
      env: { GUTS_CLUSTER: cluster, GUTS_SUBMIT_TIMEOUT_MS: "5000" },
      flags: { dataDir: "/var/lib/guts", p2pPort: "9100" },
    })
    expect(toNodeConfig(r.settings).cluster).toEqual({
      file: cluster,
      keyFile: "/var/lib/guts/node.key",
      p2pHost: "0.0.0.0",
      p2pPort: 9100,
      submitTimeoutMs: 5000,
    })
  })

  it("describes every setting with its value and source for --check-config", () => {
    const text = describeResolved(
      resolve({ flags: { ...fileFlag, httpPort: "81" }, file: "storage: memory\n" }),
    )
    expect(text).toMatch(/^http-port +81 +flag --http-port$/m)
    expect(text).toMatch(/^storage +memory +file \/etc\/guts\/guts\.yaml:1$/m)
    expect(text).toMatch(/^metrics-port +9090 +default$/m)
    expect(text.split("\n")).toHaveLength(settingList.length)
  })
})

/** A value each setting refuses, from each source. */
const invalid: Record<SettingKey, string> = {
  config: "",
  dataDir: " ",
  storage: "disk",
  host: " ",
  httpPort: "abc",
  metricsPort: "70000",
  publicUrl: "ftp://x",
  maxPushBytes: "0",
  clonePackMinObjects: "-1",
  clonePackPaceMs: "soon",
  shutdownGraceMs: "-1",
  rateLimitAuthenticated: "1.5",
  rateLimitAnonymous: "many",
  registration: "maybe",
  cluster: "/nonexistent/cluster.json",
  key: "",
  p2pPort: "-5",
  submitTimeoutMs: "0",
  readyMinPeers: "most",
  readyMaxLag: "ten",
  logFormat: "xml",
  logLevel: "loud",
  trustedProxies: "10.0.0.0/33",
  tracing: "jaeger",
  otlpEndpoint: "udp://collector:4317",
  serviceName: " ",
  webhookTimeoutMs: "0",
  webhookTakeoverMs: "soon",
  ciSecretsKeyFile: "/nonexistent/ci-secrets.key",
  ciLeaseMs: "1000",
}

const onlyProblem = (problems: ReadonlyArray<ConfigProblem>) => {
  expect(problems).toHaveLength(1)
  return problems[0]!
}

describe("configuration errors", () => {
  const checked = settingList.filter((s) => s.key !== "config" && s.key !== "key")

  it.each(checked.map((s) => [s.name, s] as const))(
    "names %s, the environment variable and the fix when GUTS_* is invalid",
    (_, s) => {
      const p = onlyProblem(problemsOf({ env: { [s.env]: invalid[s.key] } }))
      expect(p.setting).toBe(s.name)
      expect(p.source).toEqual({ _tag: "env", variable: s.env })
      expect(p.message).toContain(`${s.env}=`)
      expect(p.message).toContain(s.name)
      if (s.key !== "cluster" && s.key !== "ciSecretsKeyFile")
        expect(p.message).toContain(`${s.name} must be ${s.expected}`)
    },
  )

  it.each(checked.map((s) => [s.name, s] as const))(
    "names %s, the flag and the fix when the flag is invalid",
    (_, s) => {
      const p = onlyProblem(problemsOf({ flags: { [s.key]: invalid[s.key] } }))
      expect(p.setting).toBe(s.name)
      expect(p.source).toEqual({ _tag: "flag", flag: s.flag })
      expect(p.message.startsWith(s.flag)).toBe(true)
      if (s.key !== "cluster" && s.key !== "ciSecretsKeyFile")
        expect(p.message).toContain(`${s.name} must be ${s.expected}`)
    },
  )

  it.each(checked.map((s) => [s.name, s] as const))(
    "names %s, the file and line and the fix when the file's value is invalid",
    (_, s) => {
      const file = `# settings\n${s.name}: "${invalid[s.key]}"\n`
      const p = onlyProblem(problemsOf({ flags: fileFlag, file }))
      expect(p.setting).toBe(s.name)
      expect(p.source).toEqual({ _tag: "file", file: "/etc/guts/guts.yaml", line: 2 })
      expect(p.message).toContain("/etc/guts/guts.yaml:2")
      if (s.key !== "cluster" && s.key !== "ciSecretsKeyFile")
        expect(p.message).toContain(`${s.name} must be ${s.expected}`)
    },
  )

  it("gives the exact message of the documentation's example", () => {
    const p = onlyProblem(problemsOf({ env: { GUTS_HTTP_PORT: "abc" } }))
    expect(p.message).toBe("GUTS_HTTP_PORT=abc: http-port must be an integer 0–65535")
  })

  it("reports every invalid value at once, not only the first", () => {
    const problems = problemsOf({
      flags: { ...fileFlag, storage: "disk" },
      env: { GUTS_HTTP_PORT: "x" },
      file: "registration: maybe\n",
    })
    expect(problems.map((p) => p.setting).sort()).toEqual(["http-port", "registration", "storage"])
  })

  it("rejects an unknown key in the file and suggests the setting meant", () => {
    const p = onlyProblem(problemsOf({ flags: fileFlag, file: "http_port: 80\n" }))
    expect(p.message).toBe(
      '/etc/guts/guts.yaml:1: unknown setting "http_port"; did you mean http-port? (docs/configuration.md lists them all)',
    )
  })

  it("refuses config inside a configuration file", () => {
    const p = onlyProblem(problemsOf({ flags: fileFlag, file: "config: other.yaml\n" }))
    expect(p.message).toContain("config cannot be set inside a configuration file")
  })

  it("names the file and line of a YAML syntax error", () => {
    const p = onlyProblem(problemsOf({ flags: fileFlag, file: "http-port: 80\n  bad: [\n" }))
    expect(p.setting).toBe("config")
    expect(p.message).toMatch(/^\/etc\/guts\/guts\.yaml:\d+: not valid YAML/)
  })

  it("refuses nested values, lists and duplicate keys in the file", () => {
    expect(
      onlyProblem(problemsOf({ flags: fileFlag, file: "http-port:\n  a: 1\n" })).message,
    ).toContain("http-port: expected a single value")
    expect(onlyProblem(problemsOf({ flags: fileFlag, file: "- a\n- b\n" })).message).toContain(
      "expected a mapping of settings",
    )
    expect(
      onlyProblem(problemsOf({ flags: fileFlag, file: "http-port: 1\nhttp-port: 2\n" })).message,
    ).toContain("not valid YAML")
  })

  it("names the config setting and its source when the file cannot be read", () => {
    const p = onlyProblem(problemsOf({ env: { GUTS_CONFIG: "/missing.yaml" } }))
    expect(p.setting).toBe("config")
    expect(p.message).toMatch(/^GUTS_CONFIG=\/missing\.yaml: cannot read the configuration file/)
  })

  it("refuses the same port for HTTP and metrics, naming both sources", () => {
    const p = onlyProblem(
      problemsOf({ flags: { httpPort: "9000" }, env: { GUTS_METRICS_PORT: "9000" } }),
    )
    expect(p.setting).toBe("metrics-port")
    expect(p.message).toContain("flag --http-port")
    expect(p.message).toContain("env GUTS_METRICS_PORT")
  })

  it("checks the cluster file's contents at start", () => {
    const dir = tempDir("ops-badcluster")
    const cluster = path.join(dir, "cluster.json")
    fs.writeFileSync(cluster, JSON.stringify({ validators: [{ publicKey: "nothex" }] }))
    const p = onlyProblem(problemsOf({ flags: { cluster } }))
    expect(p.setting).toBe("cluster")
    expect(p.message).toContain(`--cluster ${cluster}`)
    expect(p.message).toContain('expected {"validators"')
  })
})

describe("the node command's flags", () => {
  /** Parses argv with the real @effect/cli options, as `guts node` does. */
  const parseFlags = (argv: ReadonlyArray<string>) =>
    Effect.runPromise(
      Effect.gen(function* () {
        let seen: Partial<Record<SettingKey, string>> | undefined
        const node = Command.make("node", { settings: settingOptions }, ({ settings }) =>
          Effect.sync(() => {
            seen = { ...flagValues(settings), ...builtinFlagValues(argv) }
          }),
        )
        yield* Command.run(Command.make("guts").pipe(Command.withSubcommands([node])), {
          name: "guts",
          version: "test",
        })(["node", "guts", "node", ...withoutBuiltinFlags(argv)])
        return seen
      }).pipe(Effect.provide(NodeContext.layer)),
    )

  it("yields every setting's flag as written, for validation with the others", async () => {
    const argv = settingList.flatMap((s) => [s.flag, `v-${s.name}`])
    const seen = await parseFlags(argv)
    for (const s of settingList) expect([s.name, seen?.[s.key]]).toEqual([s.name, `v-${s.name}`])
  })

  it("accepts --log-level anywhere on the line, with a space or =", async () => {
    expect((await parseFlags(["--data-dir", "d", "--log-level", "debug"]))?.logLevel).toBe("debug")
    expect((await parseFlags(["--log-level=error", "--data-dir", "d"]))?.logLevel).toBe("error")
    expect((await parseFlags(["--data-dir", "d"]))?.dataDir).toBe("d")
  })

  it("leaves unset flags out", async () => {
    const seen = await parseFlags(["--http-port", "1"])
    expect(seen).toEqual({ httpPort: "1" })
  })
})
