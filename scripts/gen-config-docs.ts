/**
 * Writes docs/configuration.md from the settings schema (src/config/Settings.ts).
 *
 *   npx tsx scripts/gen-config-docs.ts           rewrite the file
 *   npx tsx scripts/gen-config-docs.ts --check   exit 1 if the file is out of date
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { renderConfigurationDoc } from "../src/config/ConfigDoc.ts"

const target = path.resolve(import.meta.dirname, "../docs/configuration.md")
const text = renderConfigurationDoc()
if (process.argv.includes("--check")) {
  const current = fs.existsSync(target) ? fs.readFileSync(target, "utf8") : ""
  if (current !== text) {
    console.error(`${target} is out of date: run npx tsx scripts/gen-config-docs.ts`)
    process.exit(1)
  }
  console.log(`${target} is up to date`)
} else {
  fs.mkdirSync(path.dirname(target), { recursive: true })
  fs.writeFileSync(target, text)
  console.log(`wrote ${target}`)
}
