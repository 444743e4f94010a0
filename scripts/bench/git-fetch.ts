/**
 * git-fetch (shared/BENCHMARKS.md): incremental fetch of 10 new commits, from Guts and
 * from `git http-backend`, interleaved. Each run starts from a fresh client copy that is
 * 10 commits behind. GUTS_BENCH_QUICK=1: small repository; GUTS_BENCH_RUNS (default 5).
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
const work = fs.mkdtempSync(path.join(os.tmpdir(), "guts-bench-fetch-"))
const projectRoot = path.join(work, "backend")
fs.mkdirSync(projectRoot)
fs.symlinkSync(bare, path.join(projectRoot, "bench.git"))
const backend = await startHttpBackend(projectRoot)
const guts = await startGuts(path.join(work, "guts-data"))
try {
  await createGutsRepo(guts, "bench")
  const gutsUrl = withToken(`${guts.url}/admin/bench.git`, guts.token)
  const backendUrl = `${backend.url}/bench.git`
  git(bare, ["push", "-q", gutsUrl, "main"])
  // The node's background work after a push (clone list, cached clone pack) is not timed.
  if (!(await waitForCloneLists(guts))) log("clone list not written within 120 s")
  // A client 10 commits behind, for each server (copied fresh for every run).
  const behind = (url: string, name: string) => {
    const dir = path.join(work, name)
    git(work, ["clone", "-q", "--bare", `file://${bare}`, dir])
    git(dir, ["update-ref", "refs/heads/main", "main~10"])
    git(dir, ["reflog", "expire", "--expire=now", "--all"])
    git(dir, ["gc", "-q", "--prune=now"])
    git(dir, ["remote", "set-url", "origin", url])
    git(dir, ["update-ref", "refs/remotes/origin/main", "main"])
    return dir
  }
  const templates = {
    guts: behind(gutsUrl, "tpl-guts"),
    backend: behind(backendUrl, "tpl-backend"),
  }
  let n = 0
  const fetchOnce = async (template: string) => {
    const dir = path.join(work, `f${n++}`)
    fs.cpSync(template, dir, { recursive: true })
    const ms = await timeGit(dir, ["fetch", "-q", "origin", "main:refs/remotes/origin/main"])
    fs.rmSync(dir, { recursive: true, force: true })
    return ms
  }
  await fetchOnce(templates.guts)
  await fetchOnce(templates.backend)
  const times = { guts: [] as number[], backend: [] as number[] }
  for (let i = 0; i < runs; i++) {
    times.backend.push(await fetchOnce(templates.backend))
    times.guts.push(await fetchOnce(templates.guts))
    log(
      `run ${i + 1}/${runs}: guts ${times.guts[i]!.toFixed(0)} ms, http-backend ${times.backend[i]!.toFixed(0)} ms`,
    )
  }
  const g = stats(times.guts)
  const b = stats(times.backend)
  const ratio = g.median / b.median
  console.log(`guts          ${fmt(g)}`)
  console.log(`http-backend  ${fmt(b)}`)
  writeResult("git-fetch", { spec, guts: g, backend: b, ratio })
  console.log(`git-fetch: ratio=${ratio.toFixed(2)} (target ≤ 1.3)`)
} finally {
  await guts.stop()
  await backend.close()
  fs.rmSync(work, { recursive: true, force: true })
}
