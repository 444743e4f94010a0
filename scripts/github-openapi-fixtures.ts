/**
 * Cuts the response schemas of the endpoints Guts implements out of GitHub's OpenAPI
 * description, into test/fixtures/github-openapi/responses.json (see the README there).
 *
 *   npx tsx scripts/github-openapi-fixtures.ts path/to/api.github.com.json
 *
 * Kept: for each operation, the JSON schema of each 2xx response, and every component
 * schema those reach through `$ref`. Dropped: prose (`description`, `title`, `summary`),
 * examples and `x-*` extensions, which a shape check does not read.
 */
import * as fs from "node:fs"
import * as path from "node:path"

/** `METHOD path` as GitHub writes it. */
export const OPERATIONS = [
  "GET /repos/{owner}/{repo}",
  "PATCH /repos/{owner}/{repo}",
  "GET /user",
  "GET /users/{username}",
  "GET /user/repos",
  "GET /orgs/{org}",
  "GET /orgs/{org}/repos",
  "GET /repos/{owner}/{repo}/branches",
  "GET /repos/{owner}/{repo}/branches/{branch}",
  "GET /repos/{owner}/{repo}/tags",
  "GET /repos/{owner}/{repo}/commits",
  "GET /repos/{owner}/{repo}/commits/{ref}",
  "GET /repos/{owner}/{repo}/compare/{basehead}",
  "GET /repos/{owner}/{repo}/contents/{path}",
  "PUT /repos/{owner}/{repo}/contents/{path}",
  "DELETE /repos/{owner}/{repo}/contents/{path}",
  "GET /repos/{owner}/{repo}/readme",
  "GET /repos/{owner}/{repo}/git/ref/{ref}",
  "GET /repos/{owner}/{repo}/git/matching-refs/{ref}",
  "POST /repos/{owner}/{repo}/git/refs",
  "PATCH /repos/{owner}/{repo}/git/refs/{ref}",
  "GET /repos/{owner}/{repo}/git/trees/{tree_sha}",
  "POST /repos/{owner}/{repo}/git/trees",
  "GET /repos/{owner}/{repo}/git/blobs/{file_sha}",
  "POST /repos/{owner}/{repo}/git/blobs",
  "GET /repos/{owner}/{repo}/git/commits/{commit_sha}",
  "POST /repos/{owner}/{repo}/git/commits",
  "GET /repos/{owner}/{repo}/git/tags/{tag_sha}",
  "POST /repos/{owner}/{repo}/git/tags",
  "GET /repos/{owner}/{repo}/issues",
  "POST /repos/{owner}/{repo}/issues",
  "GET /repos/{owner}/{repo}/issues/{issue_number}",
  "PATCH /repos/{owner}/{repo}/issues/{issue_number}",
  "GET /repos/{owner}/{repo}/issues/{issue_number}/comments",
  "POST /repos/{owner}/{repo}/issues/{issue_number}/comments",
  "GET /repos/{owner}/{repo}/labels",
  "POST /repos/{owner}/{repo}/labels",
  "GET /repos/{owner}/{repo}/milestones",
  "POST /repos/{owner}/{repo}/milestones",
  "GET /repos/{owner}/{repo}/pulls",
  "POST /repos/{owner}/{repo}/pulls",
  "GET /repos/{owner}/{repo}/pulls/{pull_number}",
  "GET /repos/{owner}/{repo}/pulls/{pull_number}/reviews",
  "POST /repos/{owner}/{repo}/pulls/{pull_number}/reviews",
  "PUT /repos/{owner}/{repo}/pulls/{pull_number}/merge",
  "GET /repos/{owner}/{repo}/releases",
  "POST /repos/{owner}/{repo}/releases",
  "GET /repos/{owner}/{repo}/releases/{release_id}",
  "GET /repos/{owner}/{repo}/releases/latest",
  "GET /repos/{owner}/{repo}/releases/{release_id}/assets",
  "POST /repos/{owner}/{repo}/releases/{release_id}/assets",
  "GET /repos/{owner}/{repo}/releases/assets/{asset_id}",
  "POST /repos/{owner}/{repo}/statuses/{sha}",
  "GET /repos/{owner}/{repo}/commits/{ref}/statuses",
  "GET /repos/{owner}/{repo}/commits/{ref}/status",
  "GET /repos/{owner}/{repo}/hooks",
  "POST /repos/{owner}/{repo}/hooks",
  "GET /repos/{owner}/{repo}/hooks/{hook_id}",
  "PATCH /repos/{owner}/{repo}/hooks/{hook_id}",
  "GET /repos/{owner}/{repo}/hooks/{hook_id}/deliveries",
  "GET /repos/{owner}/{repo}/hooks/{hook_id}/deliveries/{delivery_id}",
  "GET /orgs/{org}/hooks",
  "POST /orgs/{org}/hooks",
  "GET /orgs/{org}/hooks/{hook_id}",
  "POST /repos/{owner}/{repo}/check-runs",
  "GET /repos/{owner}/{repo}/check-runs/{check_run_id}",
  "PATCH /repos/{owner}/{repo}/check-runs/{check_run_id}",
  "GET /repos/{owner}/{repo}/commits/{ref}/check-runs",
  "GET /repos/{owner}/{repo}/commits/{ref}/check-suites",
  "GET /repos/{owner}/{repo}/topics",
  "PUT /repos/{owner}/{repo}/topics",
  "GET /repos/{owner}/{repo}/languages",
] as const

type Json = null | boolean | number | string | Json[] | { [k: string]: Json }

const DROP = new Set(["description", "title", "summary", "example", "examples"])

const strip = (v: Json): Json => {
  if (Array.isArray(v)) return v.map(strip)
  if (v === null || typeof v !== "object") return v
  const out: Record<string, Json> = {}
  for (const [k, x] of Object.entries(v)) {
    if (k.startsWith("x-") || DROP.has(k)) continue
    // `properties` maps names to schemas: a property may well be called "description".
    out[k] = k === "properties" ? mapValues(x as Record<string, Json>, strip) : strip(x)
  }
  return out
}

const mapValues = (o: Record<string, Json>, f: (v: Json) => Json) =>
  Object.fromEntries(Object.entries(o).map(([k, v]) => [k, f(v)]))

const refsIn = (v: Json, into: Set<string>) => {
  if (Array.isArray(v)) for (const x of v) refsIn(x, into)
  else if (v !== null && typeof v === "object")
    for (const [k, x] of Object.entries(v))
      if (k === "$ref" && typeof x === "string") into.add(x)
      else refsIn(x, into)
}

const main = () => {
  const source = process.argv[2]
  if (!source) {
    console.error("usage: npx tsx scripts/github-openapi-fixtures.ts path/to/api.github.com.json")
    process.exit(2)
  }
  const doc = JSON.parse(fs.readFileSync(source, "utf8"))
  const operations: Record<string, Record<string, Json>> = {}
  const pending = new Set<string>()
  for (const op of OPERATIONS) {
    const [method, p] = op.split(" ") as [string, string]
    const def = doc.paths[p]?.[method.toLowerCase()]
    if (!def) throw new Error(`${op} is not in ${source}`)
    const responses: Record<string, Json> = {}
    for (const [status, r] of Object.entries(def.responses as Record<string, any>)) {
      if (!status.startsWith("2")) continue
      const resolved = r.$ref ? doc.components.responses[r.$ref.split("/").pop()] : r
      const schema = resolved?.content?.["application/json"]?.schema
      if (!schema) continue
      responses[status] = strip(schema)
      refsIn(schema, pending)
    }
    operations[op] = responses
  }
  const schemas: Record<string, Json> = {}
  while (pending.size > 0) {
    const ref = pending.values().next().value!
    pending.delete(ref)
    const name = ref.replace("#/components/schemas/", "")
    if (schemas[name] !== undefined) continue
    const schema = doc.components.schemas[name]
    if (schema === undefined) throw new Error(`${ref} is not in ${source}`)
    schemas[name] = strip(schema)
    refsIn(schema, pending)
  }
  const sorted = Object.fromEntries(Object.entries(schemas).sort(([a], [b]) => a.localeCompare(b)))
  const target = path.resolve(import.meta.dirname, "../test/fixtures/github-openapi")
  fs.mkdirSync(target, { recursive: true })
  fs.writeFileSync(
    path.join(target, "responses.json"),
    `${JSON.stringify({ operations, components: { schemas: sorted } }, null, 1)}\n`,
  )
  console.log(
    `wrote ${Object.keys(operations).length} operations, ${Object.keys(sorted).length} schemas`,
  )
}

main()
