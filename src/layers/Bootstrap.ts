/**
 * Bootstrap: on the first start of a node (no users yet) create the administrator and an
 * API token for it, written to `<data-dir>/admin-token` with mode 0600, and say where it is.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { randomUUID } from "node:crypto"
import { Effect, Layer, Schedule } from "effect"
import { CreateToken, CreateUser, SYSTEM_USER } from "../domain/Transaction.ts"
import { hashToken, newToken } from "../services/Auth.ts"
import { Ledger } from "../services/Ledger.ts"
import { NodeConfig } from "../services/NodeConfig.ts"

export const ADMIN_LOGIN = "admin"

export const adminTokenPath = (dataDir: string) => path.join(dataDir, "admin-token")

const createAdminToken = (tokenFile: string, dataDir: string) =>
  Effect.gen(function* () {
    const ledger = yield* Ledger
    const token = newToken()
    const user = yield* ledger.submit(
      CreateUser.make({
        submitter: SYSTEM_USER,
        idempotencyKey: randomUUID(),
        login: ADMIN_LOGIN,
        siteAdmin: true,
      }),
    )
    // In a cluster another node may have created the administrator first: fine.
    if (user._tag === "Rejected" && !user.reason.includes("taken"))
      return yield* Effect.dieMessage(`bootstrap failed: ${user.reason}`)
    const tok = yield* ledger.submit(
      CreateToken.make({
        submitter: SYSTEM_USER,
        idempotencyKey: randomUUID(),
        user: ADMIN_LOGIN,
        tokenHash: hashToken(token),
        scopes: ["repo", "admin:org", "workflow", "site_admin"],
        note: "bootstrap administrator token",
      }),
    )
    if (tok._tag === "Rejected") return yield* Effect.dieMessage(`bootstrap failed: ${tok.reason}`)
    yield* Effect.sync(() => {
      fs.mkdirSync(dataDir, { recursive: true })
      fs.writeFileSync(tokenFile, `${token}\n`, { mode: 0o600 })
      fs.chmodSync(tokenFile, 0o600)
    })
    yield* Effect.logInfo(
      `created an API token for administrator "${ADMIN_LOGIN}" in ${tokenFile} (mode 0600)`,
    )
  })

/**
 * Single validator: done before the node serves. In a cluster the token needs a quorum, so
 * it is created in the background, retried until the cluster is up.
 */
export const BootstrapLive = Layer.scopedDiscard(
  Effect.gen(function* () {
    const config = yield* NodeConfig
    const tokenFile = adminTokenPath(config.dataDir)
    if (fs.existsSync(tokenFile)) {
      yield* Effect.logInfo(`administrator token: ${tokenFile}`)
      return
    }
    const run = createAdminToken(tokenFile, config.dataDir)
    if (config.cluster === undefined) return yield* run
    yield* run.pipe(
      Effect.tapErrorCause((c) =>
        Effect.logWarning("administrator token not created yet; retrying", c),
      ),
      Effect.retry(Schedule.spaced("2 seconds")),
      Effect.forkScoped,
    )
  }),
)
