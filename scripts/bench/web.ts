/**
 * web (issue 10): server-side render time of the web interface's repository home (file
 * list + rendered README) and of a 2,000-line file page (line numbers, anchors,
 * highlighting) on a bench repository, against a node started from the build (rocksdb, its
 * own process). Side by side, the reference: the REST API's GET of the same content
 * (`/api/repos/{o}/{r}/contents` and `/contents/{path}`), which reads the same objects but
 * renders JSON. Requests are sent one at a time on a keep-alive connection, so each time is
 * one render plus a loopback round trip. Rounds alternate between page and reference.
 *
 * Prints a table and `web: home p50=<ms> file p50=<ms> (target ≤ 50 ms p50)`, and writes
 * bench-results/web.json. GUTS_BENCH_REQUESTS (default 300): measured requests per route.
 */
import * as fs from "node:fs"
import * as http from "node:http"
import * as os from "node:os"
import * as path from "node:path"
import { build, git, startBenchNode, writeResult } from "./lib.ts"

const REQUESTS = Math.max(20, Number(process.env.GUTS_BENCH_REQUESTS ?? 300))
const ROUNDS = 5
const TARGET_P50_MS = 50

/** The bench repository: a README, 60 small files in three directories, a 2,000-line file. */
const makeRepo = (dir: string) => {
  git(dir, ["init", "-q", "-b", "main"])
  const readme = [
    "# Bench repository",
    "",
    "A repository for measuring the web interface. It has **bold**, _emphasis_, `code`,",
    "[links](https://example.com) and a table:",
    "",
    "| name | value |",
    "| ---- | ----- |",
    ...Array.from({ length: 20 }, (_, i) => `| row ${i} | ${i * i} |`),
    "",
    "```ts",
    ...Array.from({ length: 30 }, (_, i) => `export const f${i} = (x: number) => x * ${i}`),
    "```",
    "",
    ...Array.from({ length: 40 }, (_, i) => `- item ${i} with some words to wrap around the line`),
  ].join("\n")
  fs.writeFileSync(path.join(dir, "README.md"), `${readme}\n`)
  for (const sub of ["lib", "docs", "test"]) {
    fs.mkdirSync(path.join(dir, sub))
    for (let i = 0; i < 20; i++)
      fs.writeFileSync(path.join(dir, sub, `file${i}.ts`), `export const n${i} = ${i}\n`)
  }
  fs.mkdirSync(path.join(dir, "src"))
  const big = Array.from({ length: 2000 }, (_, i) =>
    i % 10 === 0
      ? `// section ${i / 10}: a comment with "a string" and <angle brackets> & ampersands`
      : `export function fn${i}(a: number, b: string): string { return \`\${a}-\${b}-${i}\` }`,
  )
  fs.writeFileSync(path.join(dir, "src", "big.ts"), `${big.join("\n")}\n`)
  git(dir, ["add", "."])
  git(dir, ["commit", "-q", "-m", "bench content"])
}

/** One GET on a keep-alive agent; the time until the whole body arrived, in ms. */
const timeGet = (agent: http.Agent, url: string) =>
  new Promise<number>((resolve, reject) => {
    const started = process.hrtime.bigint()
    http
      .get(url, { agent }, (res) => {
        if (res.statusCode !== 200) reject(new Error(`${url}: ${res.statusCode}`))
        res.on("data", () => {})
        res.on("end", () => resolve(Number(process.hrtime.bigint() - started) / 1e6))
      })
      .on("error", reject)
  })

const quantile = (sorted: ReadonlyArray<number>, q: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN

const main = async () => {
  build()
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "guts-bench-web-"))
  const work = fs.mkdtempSync(path.join(os.tmpdir(), "guts-bench-web-repo-"))
  const node = await startBenchNode(dataDir)
  try {
    const api = (method: string, p: string, body?: unknown) =>
      fetch(`${node.url}/api${p}`, {
        method,
        headers: { authorization: `Bearer ${node.token}`, "content-type": "application/json" },
        body: body === undefined ? undefined : JSON.stringify(body),
      })
    const made = await api("POST", "/user/repos", { name: "bench-web" })
    if (made.status !== 201)
      throw new Error(`create repository: ${made.status} ${await made.text()}`)
    const owner = ((await made.json()) as { owner: { login: string } }).owner.login
    makeRepo(work)
    git(work, [
      "push",
      "-q",
      `http://x:${node.token}@127.0.0.1:${node.port}/${owner}/bench-web.git`,
      "main",
    ])
    const routes = [
      {
        name: "repository home",
        page: `${node.url}/${owner}/bench-web`,
        reference: `${node.url}/api/repos/${owner}/bench-web/contents`,
      },
      {
        name: "2,000-line file",
        page: `${node.url}/${owner}/bench-web/blob/main/src/big.ts`,
        reference: `${node.url}/api/repos/${owner}/bench-web/contents/src/big.ts`,
      },
    ]
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 })
    const results = []
    for (const r of routes) {
      for (let i = 0; i < 20; i++) {
        await timeGet(agent, r.page)
        await timeGet(agent, r.reference)
      }
      const page: number[] = []
      const reference: number[] = []
      const perRound = Math.ceil(REQUESTS / ROUNDS)
      for (let round = 0; round < ROUNDS; round++) {
        for (let i = 0; i < perRound; i++) page.push(await timeGet(agent, r.page))
        for (let i = 0; i < perRound; i++) reference.push(await timeGet(agent, r.reference))
      }
      page.sort((a, b) => a - b)
      reference.sort((a, b) => a - b)
      results.push({
        route: r.name,
        page: { p50: quantile(page, 0.5), p99: quantile(page, 0.99) },
        reference: { p50: quantile(reference, 0.5), p99: quantile(reference, 0.99) },
      })
    }
    agent.destroy()
    const f = (n: number) => n.toFixed(2).padStart(8)
    console.log(
      `${"route".padEnd(18)}${"web p50".padStart(10)}${"web p99".padStart(10)}${"API p50".padStart(10)}${"API p99".padStart(10)}${"ratio".padStart(8)}`,
    )
    for (const r of results)
      console.log(
        `${r.route.padEnd(18)}${f(r.page.p50)}ms${f(r.page.p99)}ms${f(r.reference.p50)}ms${f(r.reference.p99)}ms${(r.page.p50 / r.reference.p50).toFixed(2).padStart(8)}`,
      )
    const [home, file] = results
    const ok = results.every((r) => r.page.p50 <= TARGET_P50_MS)
    console.log(
      `web: home p50=${home!.page.p50.toFixed(1)}ms file p50=${file!.page.p50.toFixed(1)}ms (target ≤ ${TARGET_P50_MS} ms p50) ${ok ? "met" : "MISSED"}; ratio to the REST API's GET of the same content: home ${(home!.page.p50 / home!.reference.p50).toFixed(2)}, file ${(file!.page.p50 / file!.reference.p50).toFixed(2)}`,
    )
    writeResult("web", { requests: REQUESTS, targetP50Ms: TARGET_P50_MS, met: ok, results })
  } finally {
    await node.stop()
    fs.rmSync(work, { recursive: true, force: true })
    fs.rmSync(dataDir, { recursive: true, force: true })
  }
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
