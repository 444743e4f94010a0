/**
 * `guts admin verify --data-dir DIR`: an offline check of a data directory (the node must
 * be stopped: RocksDB's lock refuses a second opener).
 *
 * 1. Every stored object is re-read and re-hashed (the object store's scrub): an object
 *    whose bytes do not decode, inflate or hash to its id is reported with its id and,
 *    when its content can still be read, the id it actually hashes to.
 * 2. Every ref of every repository must point at a stored object of the right type
 *    (branches and pull refs at commits, tags at commits or tag objects), and everything
 *    reachable from them must be present with the type that names it: commits' trees and
 *    parents, trees' entries (submodule links excepted), tags' targets.
 * 3. The state digest is recomputed; when the directory was restored from a backup and has
 *    not applied anything since, it must equal the digest the backup recorded.
 *
 * Each problem is one line naming the object or ref, what was expected and what was found.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import * as zlib from "node:zlib"
import { Effect, Layer } from "effect"
import {
  commitLinks,
  entryKind,
  hashObject,
  ObjectParseError,
  parseTree,
  tagTarget,
} from "../../domain/git/GitObject.ts"
import type { ObjectId, ObjectType } from "../../domain/git/ObjectId.ts"
import { Ledger, LedgerUnavailable } from "../../services/Ledger.ts"
import { Metadata } from "../../services/Metadata.ts"
import { ObjectStore } from "../../services/ObjectStore.ts"
import { RefStore } from "../../services/RefStore.ts"
import { stateDigest } from "../../services/StateDigest.ts"
import { metadataLayer } from "../MetadataSqlite.ts"
import { storageLayer } from "../Storage.ts"
import { type BackupManifest, RESTORED_MANIFEST } from "./BackupFormat.ts"

export interface VerifyReport {
  readonly dataDir: string
  readonly objectsChecked: number
  readonly objectsReachable: number
  readonly refsChecked: number
  readonly height: number
  readonly digest: string
  /** The digest recorded by the backup this directory was restored from, if comparable. */
  readonly recorded: { readonly height: number; readonly digest: string } | undefined
  readonly problems: ReadonlyArray<string>
}

/** What a corrupt record's content hashes to, when it can still be inflated. */
const actualIdOf = (id: ObjectId) =>
  Effect.gen(function* () {
    const objects = yield* ObjectStore
    const stored = yield* objects.getStored(id).pipe(Effect.option)
    if (stored._tag === "None" || stored.value.repr.kind !== "whole") return undefined
    try {
      const content = zlib.inflateSync(stored.value.repr.deflated)
      return hashObject(stored.value.type, content)
    } catch {
      return undefined
    }
  })

const checkObjects = Effect.gen(function* () {
  const objects = yield* ObjectStore
  const refs = yield* RefStore
  const meta = yield* Metadata
  const problems: string[] = []

  const scrub = yield* objects.scrub
  const corrupt = new Set<string>()
  for (const c of scrub.corrupt) {
    corrupt.add(c.id)
    const actual = yield* actualIdOf(c.id)
    problems.push(
      `object ${c.id}: ${c.reason}` +
        (actual !== undefined && actual !== c.id
          ? ` (expected id ${c.id}, content hashes to ${actual})`
          : ""),
    )
  }

  // Reachability from every ref: present, sound, of the type that names it.
  const seen = new Set<string>()
  let refsChecked = 0
  const walk = (start: ObjectId, want: ObjectType | "commit-or-tag", from: string) =>
    Effect.gen(function* () {
      const stack: Array<{ id: ObjectId; want: ObjectType | "commit-or-tag"; from: string }> = [
        { id: start, want, from },
      ]
      while (stack.length > 0) {
        const { id, want, from } = stack.pop()!
        if (seen.has(id)) continue
        seen.add(id)
        const got = yield* objects.get(id).pipe(Effect.either)
        if (got._tag === "Left") {
          const e = got.left
          if (e._tag === "ObjectNotFound")
            problems.push(`object ${id} is missing (expected a ${want}, named by ${from})`)
          else if (!corrupt.has(id)) {
            corrupt.add(id)
            problems.push(`object ${id} (named by ${from}): ${e.message}`)
          }
          continue
        }
        const o = got.right
        const typeOk =
          want === "commit-or-tag" ? o.type === "commit" || o.type === "tag" : o.type === want
        if (!typeOk) {
          problems.push(`object ${id} is a ${o.type}, expected a ${want} (named by ${from})`)
          continue
        }
        if (o.type === "commit") {
          const links = commitLinks(o.content)
          if (links instanceof ObjectParseError) {
            problems.push(`commit ${id} does not parse: ${links.message}`)
            continue
          }
          stack.push({ id: links.tree, want: "tree", from: `the tree of commit ${id}` })
          for (const p of links.parents)
            stack.push({ id: p, want: "commit", from: `a parent of commit ${id}` })
        } else if (o.type === "tree") {
          const entries = parseTree(o.content)
          if (!Array.isArray(entries)) {
            problems.push(`tree ${id} does not parse: ${entries.message}`)
            continue
          }
          for (const e of entries) {
            const kind = entryKind(e.mode)
            if (kind === "gitlink") continue
            stack.push({
              id: e.id,
              want: kind === "tree" ? "tree" : "blob",
              from: `an entry of tree ${id}`,
            })
          }
        } else if (o.type === "tag") {
          const target = tagTarget(o.content)
          if (target instanceof ObjectParseError) {
            problems.push(`tag ${id} does not parse: ${target.message}`)
            continue
          }
          stack.push({ id: target.object, want: target.type, from: `tag ${id}` })
        }
      }
    })

  for (const repo of yield* meta.allRepos) {
    const key = `${repo.owner_login}/${repo.name}`
    for (const r of yield* refs.list(key)) {
      refsChecked++
      const want = r.name.startsWith("refs/tags/") ? "commit-or-tag" : "commit"
      yield* walk(r.id, want, `ref ${r.name} of ${key}`)
    }
  }
  return { problems, objectsChecked: scrub.checked, objectsReachable: seen.size, refsChecked }
})

export const verifyDataDir = (dataDir: string) =>
  Effect.gen(function* () {
    for (const part of ["db", path.join("metadata", "guts.db")])
      if (!fs.existsSync(path.join(dataDir, part)))
        return yield* Effect.fail(
          new Error(`${dataDir} is not a Guts data directory: ${part} is missing`),
        )
    const layers = Layer.merge(storageLayer({ kind: "rocksdb", dataDir }), metadataLayer(dataDir))
    return yield* Effect.gen(function* () {
      const checked = yield* checkObjects
      const meta = yield* Metadata
      const height = yield* meta.appliedHeight
      const { digest } = yield* stateDigest.pipe(
        Effect.provideService(Ledger, {
          height: Effect.succeed(height),
          submit: () => Effect.fail(new LedgerUnavailable({ reason: "verifying offline" })),
        }),
      )
      const problems = [...checked.problems]
      let recorded: VerifyReport["recorded"]
      const manifestFile = path.join(dataDir, RESTORED_MANIFEST)
      if (fs.existsSync(manifestFile)) {
        const m = JSON.parse(fs.readFileSync(manifestFile, "utf8")) as BackupManifest
        if (m.height === height) {
          recorded = { height: m.height, digest: m.digest }
          if (m.digest !== digest)
            problems.push(
              `state digest at height ${height} is ${digest}, the backup recorded ${m.digest}`,
            )
        }
      }
      return {
        dataDir,
        objectsChecked: checked.objectsChecked,
        objectsReachable: checked.objectsReachable,
        refsChecked: checked.refsChecked,
        height,
        digest,
        recorded,
        problems,
      } satisfies VerifyReport
    }).pipe(Effect.provide(layers))
  })
