/**
 * The operator documents and deployment files agree with the code and with each other:
 * docs/configuration.md is what the settings schema generates; the example configuration
 * is valid; alerts and the dashboard use only documented metrics and link to runbooks
 * that exist; the service files run the node the way the CLI expects.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { Either } from "effect"
import { describe, expect, it } from "vitest"
import * as YAML from "yaml"
import { renderConfigurationDoc } from "../../src/config/ConfigDoc.ts"
import { resolveConfig } from "../../src/config/ResolveConfig.ts"

const root = path.resolve(import.meta.dirname, "../..")
const read = (file: string) => fs.readFileSync(path.join(root, file), "utf8")

/** Metric names in the table of docs/monitoring.md's "Metrics" section. */
const documentedMetrics = () => {
  const section = read("docs/monitoring.md")
    .split(/^## /m)
    .find((s) => s.startsWith("Metrics\n"))
  return new Set([...(section ?? "").matchAll(/^\| `(guts_[a-z0-9_]+)`/gm)].map((m) => m[1]!))
}

/** guts_* metric families an expression refers to (series suffixes removed). */
const metricsIn = (expr: string) =>
  [...expr.matchAll(/\bguts_[a-z0-9_]+/g)].map((m) => m[0].replace(/_(bucket|sum|count)$/, ""))

/** GitHub's anchors for the headings of a markdown file. */
const anchorsOf = (markdown: string) =>
  new Set(
    [...markdown.matchAll(/^#{1,6} (.+)$/gm)].map((m) =>
      m[1]!
        .toLowerCase()
        .replace(/[^a-z0-9 -]/g, "")
        .replace(/ /g, "-"),
    ),
  )

interface Rule {
  alert: string
  expr: string
  for?: string
  labels: { severity: string }
  annotations: { summary: string; description: string; runbook: string }
}

const alertRules = () =>
  (YAML.parse(read("deploy/prometheus/alerts.yml")) as { groups: Array<{ rules: Rule[] }> })
    .groups[0]!.rules

interface Panel {
  id: number
  type: string
  title: string
  gridPos: { x: number; y: number; w: number; h: number }
  targets?: Array<{ expr: string }>
}

const dashboard = () => JSON.parse(read("deploy/grafana/guts.json")) as { panels: Panel[] }

describe("docs/configuration.md", () => {
  it("is exactly what the settings schema generates (npx tsx scripts/gen-config-docs.ts)", () => {
    expect(read("docs/configuration.md")).toBe(renderConfigurationDoc())
  })
})

describe("deploy/guts.yaml", () => {
  it("is a valid configuration for a production node", () => {
    const resolved = resolveConfig({
      flags: { config: path.join(root, "deploy/guts.yaml") },
      env: {},
      readFile: (f) => fs.readFileSync(f, "utf8"),
    })
    if (Either.isLeft(resolved)) throw new Error(resolved.left.message)
    expect(resolved.right.settings).toMatchObject({
      dataDir: "/var/lib/guts",
      logFormat: "json",
      publicUrl: "https://git.example.com",
    })
  })
})

describe("deploy/prometheus/alerts.yml", () => {
  const rules = alertRules()
  const documented = documentedMetrics()
  const anchors = anchorsOf(read("docs/troubleshooting.md"))

  it("has a rule for each failure the brief names", () => {
    expect(rules.map((r) => r.alert)).toEqual(
      expect.arrayContaining([
        "GutsNodeDown",
        "GutsNoFinalityProgress",
        "GutsPeersBelowQuorum",
        "GutsStorageLow",
        "GutsHighHttp5xxRate",
        "GutsApplyLag",
      ]),
    )
  })

  it.each(rules.map((r) => [r.alert, r] as const))(
    "%s uses documented metrics, a severity, and a runbook that exists",
    (_, rule) => {
      for (const metric of metricsIn(rule.expr)) expect(documented).toContain(metric)
      expect(["warning", "critical"]).toContain(rule.labels.severity)
      expect(rule.annotations.summary.length).toBeGreaterThan(10)
      const [file, anchor] = rule.annotations.runbook.split("#")
      expect(file).toBe("docs/troubleshooting.md")
      expect(anchors).toContain(anchor)
    },
  )
})

describe("deploy/grafana/guts.json", () => {
  const panels = dashboard().panels
  const documented = documentedMetrics()

  it("queries only documented guts_* metrics, and most of them", () => {
    const used = new Set(panels.flatMap((p) => (p.targets ?? []).flatMap((t) => metricsIn(t.expr))))
    for (const metric of used) expect(documented).toContain(metric)
    expect(used.size).toBeGreaterThanOrEqual(documented.size - 2)
  })

  it("has unique panel ids and panels inside the 24-column grid, each with a query", () => {
    expect(new Set(panels.map((p) => p.id)).size).toBe(panels.length)
    for (const p of panels) {
      expect(p.gridPos.x + p.gridPos.w).toBeLessThanOrEqual(24)
      if (p.type !== "row") expect(p.targets?.length ?? 0).toBeGreaterThan(0)
    }
  })
})

describe("service files", () => {
  it("the Dockerfile builds with npm ci on node:20-slim and runs guts node", () => {
    const docker = read("Dockerfile")
    expect(docker).toMatch(/^FROM node:20-slim AS build$/m)
    expect(docker).toMatch(/^RUN npm ci$/m)
    expect(docker).toMatch(/npm run build/)
    expect(docker).toMatch(
      /^ENTRYPOINT \["node", "--max-semi-space-size=8", "--max-old-space-size=1536", "--enable-source-maps", "dist\/programs\/main\.js"\]$/m,
    )
    expect(docker).toMatch(/^CMD \["node"\]$/m)
  })

  it("npm start, the Dockerfile, the systemd unit and the benchmarks run a node with the same memory settings", () => {
    // docs/operators.md, "Memory": the settings the RSS figures are measured with.
    const start = JSON.parse(read("package.json")).scripts.start as string
    const docker = read("Dockerfile")
    const unit = read("deploy/guts.service")
    const bench = read("scripts/bench/lib.ts")
    const env = [
      "MALLOC_ARENA_MAX=2",
      "MALLOC_MMAP_THRESHOLD_=262144",
      "MALLOC_TRIM_THRESHOLD_=1048576",
    ]
    const flags = ["--max-semi-space-size=8", "--max-old-space-size=1536"]
    for (const e of env) {
      expect(start).toContain(e)
      expect(docker).toContain(e)
      expect(unit).toContain(`Environment=${e}`)
      const [k, v] = e.split("=")
      expect(bench).toContain(`${k}: "${v}"`)
    }
    for (const f of flags) {
      expect(start).toContain(`node ${flags.join(" ")}`)
      expect(docker).toContain(`"${f}"`)
      expect(unit).toMatch(new RegExp(`^ExecStart=/usr/bin/node ${flags.join(" ")} `, "m"))
      expect(bench).toContain(`"${f}"`)
    }
  })

  it("the systemd unit checks the configuration first and does not restart on exit status 2", () => {
    const unit = read("deploy/guts.service")
    expect(unit).toMatch(
      /^ExecStartPre=.*main\.js node --config \/etc\/guts\/guts\.yaml --check-config$/m,
    )
    expect(unit).toMatch(/^ExecStart=.*main\.js node --config \/etc\/guts\/guts\.yaml$/m)
    expect(unit).toMatch(/^RestartPreventExitStatus=2$/m)
  })

  it("the nginx example streams git and accepts pushes as large as the node does", () => {
    const nginx = read("deploy/nginx.conf")
    expect(nginx).toMatch(/client_max_body_size 2g;/)
    expect(nginx).toMatch(/proxy_request_buffering off;/)
    expect(nginx).toMatch(/proxy_buffering off;/)
    expect(nginx).toMatch(/ssl_certificate /)
  })
})
