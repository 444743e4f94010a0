/**
 * ConfigDoc: docs/configuration.md, rendered from Settings.ts. The committed file is
 * compared with this text by a test (test/ops/config-doc.test.ts), and rewritten by
 * `npx tsx scripts/gen-config-docs.ts`, so the reference cannot drift from the code.
 */
import { defaultText, type SettingGroup, type SettingInfo, settingList } from "./Settings.ts"

const groupTitles: Record<SettingGroup, string> = {
  node: "Node and storage",
  http: "Listeners",
  limits: "Limits and sign-up",
  cluster: "Cluster",
  health: "Health",
  logging: "Logging",
  tracing: "Tracing",
  ci: "CI",
}

const cell = (text: string) => text.replace(/\|/g, "\\|")
const code = (text: string) => `\`${text}\``

const row = (s: SettingInfo) => [
  code(s.name),
  code(s.flag),
  code(s.env),
  cell(s.expected),
  cell(s.default === undefined ? defaultText(s) : code(defaultText(s))),
  cell(s.description),
]

/** A markdown table with padded columns (as the formatter writes it, so it stays put). */
const table = (header: ReadonlyArray<string>, rows: ReadonlyArray<ReadonlyArray<string>>) => {
  const widths = header.map((h, i) => Math.max(3, h.length, ...rows.map((r) => r[i]!.length)))
  const line = (cells: ReadonlyArray<string>) =>
    `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(" | ")} |`
  return [line(header), line(widths.map((w) => "-".repeat(w))), ...rows.map(line)]
}

const exampleLine = (s: SettingInfo) => {
  if (s.notInFile) return undefined
  return s.default === undefined
    ? `# ${s.name}:   (unset: ${defaultText(s)})`
    : `# ${s.name}: ${String(s.default)}`
}

export const renderConfigurationDoc = (): string => {
  const groups = [...new Set(settingList.map((s) => s.group))]
  const lines: string[] = [
    "# Configuration reference",
    "",
    "<!-- Generated from src/config/Settings.ts by `npx tsx scripts/gen-config-docs.ts`; do not edit by hand. -->",
    "",
    "Every setting of `guts node` can come from three places. When a setting is given in",
    "more than one, the later one here wins:",
    "",
    "1. a configuration file in YAML (JSON also works), named with `--config FILE` or",
    "   `GUTS_CONFIG`; its keys are the setting names below (`http-port: 8080`);",
    "2. an environment variable `GUTS_*` (an empty variable counts as unset);",
    "3. a flag (`--http-port 8080`).",
    "",
    "Settings nobody gives keep their default. Relative paths in the configuration file are",
    "relative to the file's directory; relative paths in flags and variables are relative to",
    "the working directory.",
    "",
    "Every value is checked before the node opens anything. Each invalid value is reported",
    "with where it came from and what it must be, for example",
    "",
    "```",
    "GUTS_HTTP_PORT=abc: http-port must be an integer 0–65535",
    '/etc/guts/guts.yaml:4: unknown setting "http_port"; did you mean http-port? (docs/configuration.md lists them all)',
    "```",
    "",
    "and the node exits with status 2. `guts node --check-config` (with the same file,",
    "variables and flags) prints every setting with its value and where it came from, then",
    "exits without starting the node.",
    "",
  ]
  for (const group of groups) {
    lines.push(
      `## ${groupTitles[group]}`,
      "",
      ...table(
        ["setting", "flag", "environment", "value", "default", "meaning"],
        settingList.filter((s) => s.group === group).map(row),
      ),
      "",
    )
  }
  lines.push(
    "## A configuration file with every default",
    "",
    "```yaml",
    ...settingList.flatMap((s) => {
      const line = exampleLine(s)
      return line === undefined ? [] : [line]
    }),
    "```",
    "",
  )
  return lines.join("\n")
}
