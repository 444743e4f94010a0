import * as fs from "node:fs"
import { createGutsRepo, FULL_SPEC, generateRepo, startGuts, timeGit, withToken } from "./lib.ts"
const bare = await generateRepo(FULL_SPEC)
const dir = "/tmp/push-probe"
fs.rmSync(dir, { recursive: true, force: true })
const guts = await startGuts(dir)
for (let i = 0; i < Number(process.env.N ?? 2); i++) {
  await createGutsRepo(guts, `x${i}`)
  const ms = await timeGit(bare, ["push", "-q", withToken(`${guts.url}/admin/x${i}.git`, guts.token), "main"])
  console.log("push ms", ms.toFixed(0), "rss", guts.peakRssMb().toFixed(0))
  await new Promise((r) => setTimeout(r, 1500))
}
await guts.stop()
