/**
 * Apply across a crash between its two stores. A block's ref changes reach RocksDB (with
 * the block's height and an undo record) just before its metadata commits in SQLite; a
 * crash in between leaves the refs one block ahead. Applying the block again must undo
 * those refs first, so the outcome — and the state — equal a run without the crash (before
 * the fix, the replayed push failed its own compare-and-swap with "already exists").
 *
 * Also: a transaction that is rejected halfway leaves nothing behind, in SQL or in refs.
 */
import { Effect, Layer } from "effect"
import { describe, expect, it } from "vitest"
import type { ObjectId } from "../../src/domain/git/ObjectId.ts"
import { ZERO_ID } from "../../src/domain/git/ObjectId.ts"
import {
  type Block,
  CreateRepository,
  CreateUser,
  SYSTEM_USER,
  TransferRepository,
  type TxOutcome,
  UpdateRefs,
  type UserId,
} from "../../src/domain/Transaction.ts"
import { metadataLayer } from "../../src/layers/MetadataSqlite.ts"
import { Metrics } from "../../src/layers/Metrics.ts"
import { storageLayer } from "../../src/layers/Storage.ts"
import { Apply } from "../../src/services/Apply.ts"
import { Metadata } from "../../src/services/Metadata.ts"
import { RefStore } from "../../src/services/RefStore.ts"
import { tempDir } from "../support/TestNode.ts"

const A = "a".repeat(40) as ObjectId
const B = "b".repeat(40) as ObjectId

class Crash extends Error {}

/** A node's apply stack on disk; `crashNextCommit` makes the next block's SQL commit fail. */
const stack = (dataDir: string) => {
  let crashNext = false
  const crashingMetadata = Layer.effect(
    Metadata,
    Effect.map(Metadata, (m) => ({
      ...m,
      applyAtHeight: <X, E, R>(height: number, body: Effect.Effect<X, E, R>) =>
        m.applyAtHeight(
          height,
          Effect.flatMap(body, (x) => {
            if (!crashNext) return Effect.succeed(x)
            crashNext = false
            return Effect.die(new Crash("the process died before SQLite committed"))
          }),
        ),
    })),
  ).pipe(Layer.provide(metadataLayer(dataDir)))
  const layer = Apply.Live.pipe(
    Layer.provideMerge(
      Layer.mergeAll(crashingMetadata, storageLayer({ kind: "rocksdb", dataDir }), Metrics.Live),
    ),
  )
  return { layer, crashNextCommit: () => (crashNext = true) }
}

const env = { submitter: SYSTEM_USER, idempotencyKey: "" }
const blocks: Block[] = [
  {
    height: 1,
    timestamp: 1000,
    txs: [CreateUser.make({ ...env, idempotencyKey: "u", login: "ada", siteAdmin: false })],
  },
  {
    height: 2,
    timestamp: 2000,
    txs: [
      CreateRepository.make({
        ...env,
        idempotencyKey: "r",
        owner: "ada",
        name: "app",
        private: false,
        defaultBranch: "main",
      }),
    ],
  },
  {
    height: 3,
    timestamp: 3000,
    txs: [
      UpdateRefs.make({
        submitter: 1 as UserId,
        idempotencyKey: "p1",
        owner: "ada",
        repo: "app",
        atomic: false,
        changes: [{ name: "refs/heads/main", old: ZERO_ID, new: A }],
      }),
      UpdateRefs.make({
        submitter: 1 as UserId,
        idempotencyKey: "p2",
        owner: "ada",
        repo: "app",
        atomic: false,
        changes: [{ name: "refs/heads/main", old: A, new: B }],
      }),
    ],
  },
]

const runAll = (dataDir: string, crashAt: number | undefined) => {
  const s = stack(dataDir)
  return Effect.runPromise(
    Effect.gen(function* () {
      const apply = yield* Apply
      const outcomes: TxOutcome[][] = []
      for (const block of blocks) {
        if (block.height === crashAt) {
          s.crashNextCommit()
          const crashed = yield* Effect.exit(apply.applyBlock(block))
          expect(crashed._tag).toBe("Failure")
          // What the crash left on disk: refs at this block, metadata one behind.
          expect(yield* (yield* RefStore).blockHeight).toBe(block.height)
          expect(yield* apply.appliedHeight).toBe(block.height - 1)
        }
        outcomes.push((yield* apply.applyBlock(block)).outcomes)
      }
      const refs = yield* RefStore
      const meta = yield* Metadata
      return { outcomes, refs: yield* refs.list("ada/app"), digest: yield* meta.stateDigest }
    }).pipe(Effect.provide(s.layer), Effect.scoped),
  )
}

describe("apply across a crash between the ref store and the metadata store", () => {
  it("undoes the block's refs and applies it again, to the same outcome and state", async () => {
    const clean = await runAll(tempDir("apply-clean"), undefined)
    expect(clean.refs).toEqual([{ name: "refs/heads/main", id: B }])
    expect(clean.outcomes[2]!.map((o) => o._tag)).toEqual(["Applied", "Applied"])
    const crashed = await runAll(tempDir("apply-crash"), 3)
    expect(crashed.outcomes).toEqual(clean.outcomes)
    expect(crashed.refs).toEqual(clean.refs)
    expect(crashed.digest).toBe(clean.digest)
  })
})

describe("a transaction rejected halfway", () => {
  it("leaves neither metadata nor refs changed", async () => {
    const dataDir = tempDir("apply-half")
    const s = stack(dataDir)
    const result = await Effect.runPromise(
      Effect.gen(function* () {
        const apply = yield* Apply
        const meta = yield* Metadata
        const refs = yield* RefStore
        for (const block of blocks) yield* apply.applyBlock(block)
        // Refs already sit under bob/app2 (no repository row names them), so moving ada/app
        // there fails at the last step, after the repository row has been rewritten.
        yield* apply.applyBlock({
          height: 4,
          timestamp: 4000,
          txs: [CreateUser.make({ ...env, idempotencyKey: "u2", login: "bob", siteAdmin: false })],
        })
        yield* refs.update("bob/app2", [{ name: "refs/heads/main", expected: ZERO_ID, next: A }])
        const before = yield* meta.allRepos
        const { outcomes } = yield* apply.applyBlock({
          height: 5,
          timestamp: 5000,
          txs: [
            TransferRepository.make({
              submitter: SYSTEM_USER,
              idempotencyKey: "t",
              owner: "ada",
              repo: "app",
              newOwner: "bob",
              newName: "app2",
            }),
          ],
        })
        return {
          outcome: outcomes[0]!,
          before,
          after: yield* meta.allRepos,
          refs: yield* refs.list("ada/app"),
          redirect: yield* meta.redirect("ada", "app"),
        }
      }).pipe(Effect.provide(s.layer), Effect.scoped),
    )
    expect(result.outcome).toMatchObject({ _tag: "Rejected" })
    expect((result.outcome as { reason: string }).reason).toMatch(
      /refs already exist under bob\/app2/,
    )
    expect(result.after).toEqual(result.before)
    expect(result.after.find((r) => r.name === "app")?.owner_login).toBe("ada")
    expect(result.refs).toEqual([{ name: "refs/heads/main", id: B }])
    expect(result.redirect).toBeUndefined()
  })
})
