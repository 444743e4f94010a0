/**
 * Bootstrap: on the first start of a node (no users yet) create the administrator and an
 * API token for it, written to `<data-dir>/admin-token` with mode 0600, and say where it is.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { randomUUID } from "node:crypto"
import { Effect, Layer } from "effect"
import { CreateToken, CreateUser, SYSTEM_USER } from "../domain/Transaction.ts"
import { hashToken, newToken } from "../services/Auth.ts"
import { Ledger } from "../services/Ledger.ts"
import { Metadata } from "../services/Metadata.ts"
import { NodeConfig } from "../services/NodeConfig.ts"

export const ADMIN_LOGIN = "admin"

export const adminTokenPath = (dataDir: string) => path.join(dataDir, "admin-token")

export const BootstrapLive = Layer.effectDiscard(
  Effect.gen(function* () {
    const config = yield* NodeConfig
    const meta = yield* Metadata
    const ledger = yield* Ledger
    const tokenFile = adminTokenPath(config.dataDir)
    if ((yield* meta.countUsers.pipe(Effect.orDie)) > 0) {
      yield* Effect.logInfo(`administrator token: ${tokenFile}`)
      return
    }
    const token = newToken()
    const user = yield* ledger.submit(
      CreateUser.make({
        submitter: SYSTEM_USER,
        idempotencyKey: randomUUID(),
        login: ADMIN_LOGIN,
        siteAdmin: true,
      }),
    )
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
    if (user._tag !== "Applied" || tok._tag !== "Applied")
      return yield* Effect.dieMessage(
        `bootstrap failed: ${user._tag === "Rejected" ? user.reason : ""} ${tok._tag === "Rejected" ? tok.reason : ""}`,
      )
    yield* Effect.sync(() => {
      fs.mkdirSync(config.dataDir, { recursive: true })
      fs.writeFileSync(tokenFile, `${token}\n`, { mode: 0o600 })
      fs.chmodSync(tokenFile, 0o600)
    })
    yield* Effect.logInfo(
      `created administrator "${ADMIN_LOGIN}"; its API token is in ${tokenFile} (mode 0600)`,
    )
  }),
)
