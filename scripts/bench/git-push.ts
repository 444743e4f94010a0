/**
 * git-push (shared/BENCHMARKS.md): push of the whole repository to an empty repository,
 * and of 10 commits to an existing one, to Guts and to `git http-backend` receive-pack,
 * interleaved. GUTS_BENCH_QUICK=1: small repository; GUTS_BENCH_RUNS (default 5).
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import {
  createGutsRepo,
  deleteGutsRepo,
  FULL_SPEC,
  fmt,
  generateRepo,
  git,
  log,
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
const work = fs.mkdtempSync(path.join(os.tmpdir(), "guts-bench-push-"))
const projectRoot = path.join(work, "backend")
fs.mkdirSync(projectRoot)
const backend = await startHttpBackend(projectRoot)
const guts = await startGuts(path.join(work, "guts-data"))
let n = 0
const newBackendRepo = () => {
  const name = `r${n++}.git`
  const dir = path.join(projectRoot, name)
  git(projectRoot, ["init", "-q", "--bare", dir])
  git(dir, ["config", "http.receivepack", "true"])
  return `${backend.url}/${name}`
}
const gutsRepos: string[] = []
const newGutsRepo = async () => {
  const name = `r${n++}`
  await createGutsRepo(guts, name)
  gutsRepos.push(name)
  return withToken(`${guts.url}/admin/${name}.git`, guts.token)
}
try {
  const full = { guts: [] as number[], backend: [] as number[] }
  const listMs: number[] = []
  const smallListMs: number[] = []
  const fullListMs: number[] = []
  const small = { guts: [] as number[], backend: [] as number[] }
  for (let i = -1; i < runs; i++) {
    const b = newBackendRepo()
    const g = await newGutsRepo()
    // Each Guts push leaves background work (the repository's clone list, the role git's
    // bitmaps play, and its cached clone pack): it is waited for, and timed, so it never
    // runs into a measurement. The repositories of a run are deleted after it, so no pack
    // paused by clone-pack-pace-ms is written during a later run.
    const gutsPush = async (args: string[]) => {
      const ms = await timeGit(bare, args)
      const t0 = Date.now()
      if (!(await waitForCloneLists(guts))) log("clone list not written within 120 s")
      listMs.push(Date.now() - t0)
      return ms
    }
    const tb = await timeGit(bare, ["push", "-q", b, "main"])
    const tg = await gutsPush(["push", "-q", g, "main"])
    const fullList = listMs[listMs.length - 1]!
    // Small push: the repository at main~10, then the last 10 commits.
    const b2 = newBackendRepo()
    const g2 = await newGutsRepo()
    await timeGit(bare, ["push", "-q", b2, "main~10:refs/heads/main"])
    await gutsPush(["push", "-q", g2, "main~10:refs/heads/main"])
    const sb = await timeGit(bare, ["push", "-q", b2, "main"])
    const sg = await gutsPush(["push", "-q", g2, "main"])
    for (const name of gutsRepos.splice(0)) await deleteGutsRepo(guts, name)
    if (i >= 0) {
      fullListMs.push(fullList)
      smallListMs.push(listMs[listMs.length - 1]!)
    }
    if (i < 0) continue // warm-up
    full.backend.push(tb)
    full.guts.push(tg)
    small.backend.push(sb)
    small.guts.push(sg)
    log(
      `run ${i + 1}/${runs}: full guts ${tg.toFixed(0)} / backend ${tb.toFixed(0)} ms; 10 commits guts ${sg.toFixed(0)} / backend ${sb.toFixed(0)} ms`,
    )
  }
  const result = {
    full: { guts: stats(full.guts), backend: stats(full.backend) },
    small: { guts: stats(small.guts), backend: stats(small.backend) },
  }
  const ratioFull = result.full.guts.median / result.full.backend.median
  const ratioSmall = result.small.guts.median / result.small.backend.median
  console.log(
    `full push     guts ${fmt(result.full.guts)}; http-backend ${fmt(result.full.backend)}`,
  )
  console.log(
    `10-commit push guts ${fmt(result.small.guts)}; http-backend ${fmt(result.small.backend)}`,
  )
  console.log(
    `background work after a push (clone list and cached clone pack, from 1 s after it ends): full ${fmt(stats(fullListMs))}; after the 10-commit push ${fmt(stats(smallListMs))}`,
  )
  console.log(`guts peak RSS ${guts.peakRssMb().toFixed(0)} MB`)
  writeResult("git-push", { spec, ...result, ratioFull, ratioSmall, peakRssMb: guts.peakRssMb() })
  console.log(`git-push (10 commits): ratio=${ratioSmall.toFixed(2)} (target ≤ 1.5)`)
  console.log(`git-push: ratio=${ratioFull.toFixed(2)} (target ≤ 1.5)`)
} finally {
  await guts.stop()
  await backend.close()
  fs.rmSync(work, { recursive: true, force: true })
}
