/**
 * idle (shared/BENCHMARKS.md): resident memory of an idle node that holds 100
 * repositories. The node is started from the build as `npm start` runs it, 100
 * repositories are created and each gets a small history pushed with the real git client
 * (so every one has refs, objects and a clone list), then the node is left alone until
 * its background work is done, and its RSS is sampled for a few seconds. No reference
 * process: the target is absolute (≤ 150 MB). GUTS_BENCH_REPOS overrides the count.
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import {
  createGutsRepo,
  git,
  log,
  startGuts,
  waitForCloneLists,
  withToken,
  writeResult,
} from "./lib.ts"

const repos = Number(process.env.GUTS_BENCH_REPOS ?? 100)
const TARGET_MB = 150

const rssMb = (pid: number) => {
  const status = fs.readFileSync(`/proc/${pid}/status`, "utf8")
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024
}

const work = fs.mkdtempSync(path.join(os.tmpdir(), "guts-bench-idle-"))
// A small history: three commits of a few files, as a new project has.
const source = path.join(work, "source")
fs.mkdirSync(source)
git(source, ["init", "-q", "-b", "main"])
for (let c = 0; c < 3; c++) {
  fs.writeFileSync(path.join(source, "README.md"), `# project\n\nrevision ${c}\n`)
  fs.writeFileSync(path.join(source, `module${c}.ts`), `export const value${c} = ${c}\n`)
  git(source, ["add", "."])
  git(source, ["commit", "-q", "-m", `revision ${c}`])
}
const guts = await startGuts(path.join(work, "guts-data"))
try {
  const fresh = rssMb(guts.child.pid!)
  log(`fresh node: ${fresh.toFixed(0)} MB`)
  for (let i = 0; i < repos; i++) {
    const name = `project-${i}`
    await createGutsRepo(guts, name)
    git(source, ["push", "-q", withToken(`${guts.url}/admin/${name}.git`, guts.token), "main"])
    if ((i + 1) % 20 === 0) log(`${i + 1}/${repos} repositories created and pushed`)
  }
  await waitForCloneLists(guts)
  // Idle: let timers, the memory reducer and background work settle, then sample.
  log("waiting 15 s for the node to settle")
  await new Promise((r) => setTimeout(r, 15_000))
  const samples: number[] = []
  for (let i = 0; i < 10; i++) {
    samples.push(rssMb(guts.child.pid!))
    await new Promise((r) => setTimeout(r, 500))
  }
  samples.sort((a, b) => a - b)
  const median = samples[Math.floor(samples.length / 2)]!
  const peak = guts.peakRssMb()
  log(
    `idle RSS with ${repos} repositories: median ${median.toFixed(0)} MB (min ${samples[0]!.toFixed(0)}, max ${samples[samples.length - 1]!.toFixed(0)}); fresh ${fresh.toFixed(0)} MB; peak while creating ${peak.toFixed(0)} MB`,
  )
  const ratio = median / TARGET_MB
  writeResult("idle", { repos, freshMb: fresh, idleMb: median, samples, peakMb: peak, ratio })
  console.log(`idle: ratio=${ratio.toFixed(2)} (${median.toFixed(0)} MB; target ≤ ${TARGET_MB} MB)`)
} finally {
  await guts.stop()
  fs.rmSync(work, { recursive: true, force: true })
}
