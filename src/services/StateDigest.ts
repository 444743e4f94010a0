/**
 * StateDigest: one hash over all replicated state this node holds — the metadata tables
 * and every repository's refs and HEAD — with the height it was taken at. Two nodes that
 * applied the same blocks report the same digest (tests and operators compare them).
 */
import { createHash } from "node:crypto"
import { Effect } from "effect"
import { Ledger } from "./Ledger.ts"
import { Metadata } from "./Metadata.ts"
import { RefStore } from "./RefStore.ts"

export const stateDigest = Effect.gen(function* () {
  const meta = yield* Metadata
  const refs = yield* RefStore
  const ledger = yield* Ledger
  const height = yield* ledger.height
  const hash = createHash("sha256")
  hash.update(`metadata ${yield* meta.stateDigest}\n`)
  for (const repo of yield* meta.allRepos) {
    const key = `${repo.owner_login}/${repo.name}`
    hash.update(`repo ${key} HEAD ${(yield* refs.getHead(key)) ?? ""}\n`)
    for (const r of yield* refs.list(key)) hash.update(`${r.id} ${r.name}\n`)
  }
  return { height, digest: hash.digest("hex") }
})
