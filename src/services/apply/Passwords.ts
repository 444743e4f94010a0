/**
 * Applying `SetPassword`: a user (or an administrator) sets the password the web interface
 * signs in with. The transaction carries the finished scrypt hash (salted at request time),
 * so every validator stores the same string.
 */
import { Effect } from "effect"
import { isPasswordHash } from "../../domain/Password.ts"
import type { SetPassword } from "../../domain/Transaction.ts"
import type { Block } from "../../domain/Transaction.ts"
import type { MetadataShape, UserRow } from "../Metadata.ts"
import type { makeKit } from "./Kit.ts"

export const makePasswordHandlers = (meta: MetadataShape, kit: ReturnType<typeof makeKit>) => {
  const setPassword = (tx: SetPassword, block: Block, actor: UserRow) =>
    Effect.gen(function* () {
      const user = yield* kit.needUser(tx.user)
      yield* kit.selfOrAdmin(user, actor, "set this password")
      if (!isPasswordHash(tx.hash))
        return yield* kit.reject("malformed password hash (expected scrypt$N$r$p$salt$hash)", {
          code: "invalid",
          field: "password",
        })
      yield* meta.setPassword(user.id, tx.hash, block.timestamp)
      return kit.done({ id: user.id }, { action: "user.password", data: { user: user.login } })
    })
  return { setPassword }
}
