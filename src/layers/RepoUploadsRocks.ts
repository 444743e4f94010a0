/**
 * RepoUploads on RocksDB, column family `meta`: one empty-valued key per (repository,
 * object), `upl:` + the byte length of the repository's key (`uploadsKey`), the key, then the 20 raw
 * id bytes. A lookup is
 * one multi-get; nothing is ever scanned.
 */
import { Effect, Layer } from "effect"
import type { ObjectId } from "../domain/git/ObjectId.ts"
import { RepoUploads } from "../services/RepoUploads.ts"
import { Rocks } from "./Rocks.ts"

const PREFIX = Buffer.from("upl:")
const EMPTY = Buffer.alloc(0)

const keyOf = (repo: string, id: ObjectId) => {
  const name = Buffer.from(repo, "utf8")
  const k = Buffer.alloc(PREFIX.length + 1 + name.length + 20)
  PREFIX.copy(k, 0)
  k[PREFIX.length] = name.length
  name.copy(k, PREFIX.length + 1)
  k.write(id, PREFIX.length + 1 + name.length, "hex")
  return k
}

export const RepoUploadsRocks = Layer.effect(
  RepoUploads,
  Effect.map(Rocks, (rocks) =>
    RepoUploads.of({
      record: (repo, ids) =>
        ids.length === 0
          ? Effect.void
          : rocks.write(
              "meta",
              ids.map((id) => ({ key: keyOf(repo, id), value: EMPTY })),
            ),
      recorded: (repo, ids) =>
        ids.length === 0
          ? Effect.succeed([])
          : Effect.map(
              rocks.getMany(
                "meta",
                ids.map((id) => keyOf(repo, id)),
              ),
              (values) => values.map((v) => v !== undefined),
            ),
    }),
  ),
)
