/**
 * `npm run bench`: every benchmark in scripts/bench, one after another, each printing its
 * side-by-side figures and a final `name: ratio=… (target …)` line.
 */
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"

const dir = import.meta.dirname
const skip = new Set(["all.ts", "lib.ts", "load.ts"])
const scripts = fs
  .readdirSync(dir)
  .filter((f) => f.endsWith(".ts") && !skip.has(f))
  .sort()
let failed = 0
for (const script of scripts) {
  process.stderr.write(`\n== ${script}\n`)
  const r = spawnSync(process.execPath, ["--import", "tsx", path.join(dir, script)], {
    stdio: "inherit",
  })
  if (r.status !== 0) failed++
}
process.exit(failed === 0 ? 0 : 1)
