// Runs the whole vitest suite, then prints the totals as one plain line
// (`N passed, N failed`) read from vitest's JSON report, so that a run which
// executed nothing cannot pass unnoticed.
import { spawnSync } from "node:child_process"
import { existsSync, mkdirSync, readFileSync, rmSync } from "node:fs"

const report = "test-results/vitest.json"
mkdirSync("test-results", { recursive: true })
rmSync(report, { force: true })
const args = process.argv.slice(2)
// Browser tests drive Debian's Chromium (a test tool's own browser download cannot reach
// the network here). Install it once if the machine lacks it; a failure is reported, and
// the browser tests then fail saying what is missing.
const chromium = process.env.GUTS_CHROMIUM ?? "/usr/bin/chromium"
if (!existsSync(chromium)) {
  console.log(`test: ${chromium} is missing; installing Debian's chromium (apt-get)`)
  const sudo = process.getuid?.() === 0 ? [] : ["sudo"]
  const apt = (...a) =>
    spawnSync(sudo[0] ?? a[0], sudo.length ? a : a.slice(1), { stdio: "inherit" })
  apt("apt-get", "update", "-qq")
  const installed = apt("apt-get", "install", "-y", "-qq", "chromium")
  if (installed.status !== 0)
    console.error("test: could not install chromium; browser tests will fail")
}
// Tests start real node processes from the compiled program (as `npm start` runs it).
const build = spawnSync("npx", ["tsc", "-p", "tsconfig.build.json"], { stdio: "inherit" })
if (build.status !== 0) {
  console.error("test: the build failed; fix the type errors above")
  console.log("0 passed, 1 failed, 0 skipped")
  process.exit(1)
}
const run = spawnSync(
  "npx",
  [
    "vitest",
    "run",
    "--reporter=default",
    "--reporter=json",
    `--outputFile.json=${report}`,
    ...args,
  ],
  { stdio: "inherit" },
)
let passed = 0
let failed = 0
let skipped = 0
try {
  const json = JSON.parse(readFileSync(report, "utf8"))
  passed = json.numPassedTests ?? 0
  failed = (json.numFailedTests ?? 0) + (json.numRuntimeErrorTestSuites ?? 0)
  skipped = (json.numPendingTests ?? 0) + (json.numTodoTests ?? 0)
} catch {
  console.error("test: vitest wrote no JSON report; counting the run as failed")
  failed = Math.max(failed, 1)
}
console.log(`${passed} passed, ${failed} failed, ${skipped} skipped`)
const code = run.status ?? 1
process.exit(code !== 0 ? code : failed > 0 || passed === 0 ? 1 : 0)
