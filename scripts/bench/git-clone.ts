/**
 * git-clone (shared/BENCHMARKS.md): full clone of the generated repository from Guts and
 * from `git http-backend` in the same run, interleaved, plus `git clone --no-local
 * file://` as the local limit; and the node's peak RSS.
 * Cold clones (the first clone of a freshly started node) are measured in
 * GUTS_BENCH_COLD_RUNS fresh processes (default 3), warm ones in the last of them.
 * GUTS_BENCH_QUICK=1 uses a small repository; GUTS_BENCH_RUNS sets the runs (default 5).
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import {
  createGutsRepo,
  FULL_SPEC,
  fmt,
  generateRepo,
  git,
  log,
  metricValue,
  packedSize,
  QUICK_SPEC,
  startGuts,
  startHttpBackend,
  stats,
  timeGit,
  waitForCloneLists,
  withToken,
  writeResult,
} from "./lib.ts"

const spec = process.env.GUTS_BENCH_QUICK ? QUICK_SPEC : FULL_SPEC
const runs = Number(process.env.GUTS_BENCH_RUNS ?? 5)

const bare = await generateRepo(spec)
const work = fs.mkdtempSync(path.join(os.tmpdir(), "guts-bench-clone-"))
const projectRoot = path.join(work, "backend")
fs.mkdirSync(projectRoot)
fs.symlinkSync(bare, path.join(projectRoot, "bench.git"))
log(`repository: ${(packedSize(bare) / 1e6).toFixed(1)} MB packed`)

const backend = await startHttpBackend(projectRoot)
const dataDir = path.join(work, "guts-data")
const setup = await startGuts(dataDir)
await createGutsRepo(setup, "bench")
log("pushing the repository into Guts (setup, not timed)...")
git(bare, ["push", "-q", withToken(`${setup.url}/admin/bench.git`, setup.token), "main"])
// The node computes the repository's clone list in the background after a push (as git
// writes reachability bitmaps when it repacks; the reference repository has them).
const t0 = Date.now()
const indexed = await waitForCloneLists(setup)
log(
  indexed
    ? `clone list written ${Date.now() - t0} ms after the push`
    : "the clone list was not written within 120 s: the cold clone will walk the history",
)
await setup.stop()
const backendUrl = `${backend.url}/bench.git`
let n = 0
const clone = async (url: string) => {
  const dir = path.join(work, `c${n++}`)
  const ms = await timeGit(work, ["clone", "-q", "--bare", url, dir])
  fs.rmSync(dir, { recursive: true, force: true })
  return ms
}
// Cold: the first clone of a freshly started node, each time a new process on the same
// data, side by side with a clone from http-backend (which starts a process per request).
const coldRuns = Number(process.env.GUTS_BENCH_COLD_RUNS ?? 3)
const coldTimes = { guts: [] as number[], backend: [] as number[] }
for (let i = 0; i < coldRuns - 1; i++) {
  const fresh = await startGuts(dataDir)
  try {
    coldTimes.guts.push(await clone(withToken(`${fresh.url}/admin/bench.git`, fresh.token)))
  } finally {
    await fresh.stop()
  }
  coldTimes.backend.push(await clone(backendUrl))
  log(
    `cold ${i + 1}/${coldRuns}: guts ${coldTimes.guts[i]!.toFixed(0)} ms, http-backend ${coldTimes.backend[i]!.toFixed(0)} ms`,
  )
}
// The last fresh process also takes the warm runs: its peak RSS is the clones', not the
// setup push's.
const guts = await startGuts(dataDir)
try {
  const gutsUrl = withToken(`${guts.url}/admin/bench.git`, guts.token)
  coldTimes.guts.push(await clone(gutsUrl))
  coldTimes.backend.push(await clone(backendUrl))
  log(
    `cold ${coldRuns}/${coldRuns}: guts ${coldTimes.guts.at(-1)!.toFixed(0)} ms, http-backend ${coldTimes.backend.at(-1)!.toFixed(0)} ms`,
  )
  const cold = { guts: stats(coldTimes.guts), backend: stats(coldTimes.backend) }
  const coldRatio = cold.guts.median / cold.backend.median
  const times = { guts: [] as number[], backend: [] as number[], local: [] as number[] }
  for (let i = 0; i < runs; i++) {
    times.backend.push(await clone(backendUrl))
    times.guts.push(await clone(gutsUrl))
    times.local.push(await clone(`file://${bare}`))
    log(
      `run ${i + 1}/${runs}: guts ${times.guts[i]!.toFixed(0)} ms, http-backend ${times.backend[i]!.toFixed(0)} ms`,
    )
  }
  const g = stats(times.guts)
  const b = stats(times.backend)
  const l = stats(times.local)
  const rss = guts.peakRssMb()
  const lists = {
    reused: await metricValue(guts, "guts_git_clone_lists_total", 'outcome="reused"'),
    walked: await metricValue(guts, "guts_git_clone_lists_total", 'outcome="walked"'),
  }
  const packsServed = await metricValue(guts, "guts_git_clone_packs_total", 'outcome="served"')
  console.log(
    `clone lists: ${lists.reused} reused, ${lists.walked} walked; cached packs served: ${packsServed} (of ${runs + 1} clones in the last process)`,
  )
  const ratio = g.median / b.median
  console.log(`cold guts     ${fmt(cold.guts)}`)
  console.log(`cold backend  ${fmt(cold.backend)}`)
  console.log(`cold ratio    ${coldRatio.toFixed(2)} (median of ${coldRuns} fresh processes)`)
  console.log(`guts          ${fmt(g)}`)
  console.log(`http-backend  ${fmt(b)}`)
  console.log(`file:// local ${fmt(l)}`)
  console.log(`guts peak RSS ${rss.toFixed(0)} MB (target ≤ 300 MB)`)
  writeResult("git-clone", {
    spec,
    packedBytes: packedSize(bare),
    cold,
    coldRatio,
    packsServed,
    guts: g,
    backend: b,
    local: l,
    peakRssMb: rss,
    ratio,
  })
  console.log(
    `git-clone: ratio=${ratio.toFixed(2)} cold=${coldRatio.toFixed(2)} (target ≤ 1.3 for both)`,
  )
} finally {
  await guts.stop()
  await backend.close()
  fs.rmSync(work, { recursive: true, force: true })
}
