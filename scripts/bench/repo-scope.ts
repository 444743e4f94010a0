/**
 * repo-scope: what scoping objects to repositories (src/services/RepoObjects.ts) costs on
 * the benchmark repository, side by side with a reference on the same node.
 *
 * - tip snapshot: the first read by id of a blob in the tip's tree in a fresh repository
 *   (a depth-1 walk of the tip: what a push's reference check does), against a read of the
 *   same blob by path (contents API, no walk);
 * - whole history: the first read by id of a blob only an old commit has (the repository's
 *   closure walked once and kept), against `git clone --bare --no-checkout` of the
 *   repository (which transfers the same closure and more; since clone lists
 *   (CloneLists.ts), a clone reads the list written after the push instead of walking);
 * - cached: the same reads again.
 * GUTS_BENCH_QUICK=1: small repository; GUTS_BENCH_RUNS (default 3; each in a new repository).
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
  stats,
  timeGit,
  withToken,
  writeResult,
} from "./lib.ts"

const spec = process.env.GUTS_BENCH_QUICK ? QUICK_SPEC : FULL_SPEC
const runs = Number(process.env.GUTS_BENCH_RUNS ?? 3)

const bare = await generateRepo(spec)
const work = fs.mkdtempSync(path.join(os.tmpdir(), "guts-bench-scope-"))
const guts = await startGuts(path.join(work, "guts-data"))

const text = (args: string[]) => git(bare, args).toString().trim()
// A blob of the tip's tree, and one only an old commit holds.
const [mode, , tipBlob, tipPath] = text(["ls-tree", "-r", "main"]).split("\n")[0]!.split(/\s+/)
if (!mode) throw new Error("empty tree")
const tipIds = new Set(text(["ls-tree", "-r", "--object-only", "main"]).split("\n"))
const oldBlob = text(["rev-list", "--objects", "main~2000"])
  .split("\n")
  .map((l) => l.split(" ")[0]!)
  .find((id) => !tipIds.has(id) && text(["cat-file", "-t", id]) === "blob")
if (!oldBlob) throw new Error("no old blob found")

const timed = async (url: string) => {
  const t0 = performance.now()
  const res = await fetch(url, { headers: { authorization: `Bearer ${guts.token}` } })
  await res.arrayBuffer()
  if (res.status !== 200) throw new Error(`${url}: ${res.status}`)
  return performance.now() - t0
}

try {
  const r = {
    snapshot: [] as number[],
    byPath: [] as number[],
    history: [] as number[],
    clone: [] as number[],
    cached: [] as number[],
  }
  for (let i = -1; i < runs; i++) {
    const name = `s${i + 1}`
    await createGutsRepo(guts, name)
    const remote = withToken(`${guts.url}/admin/${name}.git`, guts.token)
    await timeGit(bare, ["push", "-q", remote, "main"])
    const api = `${guts.url}/api/repos/admin/${name}`
    const byPath = await timed(`${api}/contents/${tipPath}`)
    const snapshot = await timed(`${api}/git/blobs/${tipBlob}`)
    const history = await timed(`${api}/git/blobs/${oldBlob}`)
    const cached = await timed(`${api}/git/blobs/${oldBlob}`)
    const dir = path.join(work, `clone-${name}`)
    const clone = await timeGit(work, ["clone", "-q", "--bare", remote, dir])
    fs.rmSync(dir, { recursive: true, force: true })
    if (i < 0) continue // warm-up
    r.snapshot.push(snapshot)
    r.byPath.push(byPath)
    r.history.push(history)
    r.clone.push(clone)
    r.cached.push(cached)
    log(
      `run ${i + 1}/${runs}: tip snapshot ${snapshot.toFixed(0)} / by path ${byPath.toFixed(0)} ms; history ${history.toFixed(0)} / clone ${clone.toFixed(0)} ms; cached ${cached.toFixed(0)} ms`,
    )
  }
  const s = Object.fromEntries(Object.entries(r).map(([k, v]) => [k, stats(v)])) as Record<
    keyof typeof r,
    ReturnType<typeof stats>
  >
  console.log(`read by id, tip snapshot  ${fmt(s.snapshot)}; by path ${fmt(s.byPath)}`)
  console.log(`read by id, whole history ${fmt(s.history)}; git clone --bare ${fmt(s.clone)}`)
  console.log(`read by id, cached        ${fmt(s.cached)}`)
  console.log(`guts peak RSS ${guts.peakRssMb().toFixed(0)} MB`)
  const ratioSnapshot = s.snapshot.median / s.byPath.median
  const ratioHistory = s.history.median / s.clone.median
  writeResult("repo-scope", {
    spec,
    ...s,
    ratioSnapshot,
    ratioHistory,
    peakRssMb: guts.peakRssMb(),
  })
  console.log(`repo-scope (tip snapshot vs read by path): ratio=${ratioSnapshot.toFixed(2)}`)
  console.log(`repo-scope (history walk vs clone): ratio=${ratioHistory.toFixed(2)} (target ≤ 1)`)
} finally {
  await guts.stop()
  fs.rmSync(work, { recursive: true, force: true })
}
