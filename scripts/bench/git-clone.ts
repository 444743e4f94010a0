/**
 * git-clone (shared/BENCHMARKS.md): full clone of the generated repository from Guts and
 * from `git http-backend` in the same run, interleaved, plus `git clone --no-local
 * file://` as the local limit; and the node's peak RSS.
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
// A fresh process on the same data: its peak RSS is the clones', not the setup push's.
const guts = await startGuts(dataDir)
try {
  const gutsUrl = withToken(`${guts.url}/admin/bench.git`, guts.token)
  const backendUrl = `${backend.url}/bench.git`
  let n = 0
  const clone = async (url: string) => {
    const dir = path.join(work, `c${n++}`)
    const ms = await timeGit(work, ["clone", "-q", "--bare", url, dir])
    fs.rmSync(dir, { recursive: true, force: true })
    return ms
  }
  const cold = { guts: await clone(gutsUrl), backend: await clone(backendUrl) }
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
  console.log(`clone lists: ${lists.reused} reused, ${lists.walked} walked`)
  const ratio = g.median / b.median
  console.log(
    `cold clone: guts ${cold.guts.toFixed(0)} ms, http-backend ${cold.backend.toFixed(0)} ms`,
  )
  console.log(`guts          ${fmt(g)}`)
  console.log(`http-backend  ${fmt(b)}`)
  console.log(`file:// local ${fmt(l)}`)
  console.log(`guts peak RSS ${rss.toFixed(0)} MB (target ≤ 300 MB)`)
  writeResult("git-clone", {
    spec,
    packedBytes: packedSize(bare),
    cold,
    guts: g,
    backend: b,
    local: l,
    peakRssMb: rss,
    ratio,
  })
  console.log(`git-clone: ratio=${ratio.toFixed(2)} (target ≤ 1.3)`)
} finally {
  await guts.stop()
  await backend.close()
  fs.rmSync(work, { recursive: true, force: true })
}
