/**
 * `guts keygen`: writes a loadable key, prints the identities peers configure, and keeps
 * an existing key unless forced.
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { Effect, Logger } from "effect"
import { afterAll, describe, expect, it } from "vitest"
import { KeyFileExists, libp2pPeerIdOf, loadNodeKey } from "../../src/layers/p2p/NodeKey.ts"
import { runKeygen } from "../../src/programs/keygen.ts"

const dirs: string[] = []
const tmp = () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "guts-keygen-"))
  dirs.push(dir)
  return dir
}
afterAll(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true })
})

/** Runs keygen, capturing what it prints. */
const keygen = async (args: Parameters<typeof runKeygen>[0]) => {
  const printed: string[] = []
  const original = console.log
  console.log = (...parts: unknown[]) => printed.push(parts.join(" "))
  try {
    const exit = await Effect.runPromiseExit(runKeygen(args).pipe(Effect.provide(Logger.pretty)))
    return { exit, printed: printed.join("\n") }
  } finally {
    console.log = original
  }
}

describe("guts keygen", () => {
  it("writes a key file that loads, and prints its public key and libp2p peer id", async () => {
    const out = path.join(tmp(), "validator.key")
    const { exit, printed } = await keygen({ out })
    expect(exit._tag).toBe("Success")
    const key = await Effect.runPromise(loadNodeKey(out))
    expect(fs.statSync(out).mode & 0o777).toBe(0o600)
    expect(printed).toContain(key.publicKeyHex)
    expect(printed).toContain(libp2pPeerIdOf(key).toString())
    if (exit._tag === "Success") {
      expect(exit.value).toEqual({
        path: out,
        publicKey: key.publicKeyHex,
        libp2pPeerId: libp2pPeerIdOf(key).toString(),
      })
    }
  })

  it("refuses to overwrite an existing key file without --force, and replaces it with it", async () => {
    const out = path.join(tmp(), "validator.key")
    await keygen({ out })
    const original = fs.readFileSync(out, "utf8")
    const refused = await keygen({ out })
    expect(refused.exit._tag).toBe("Failure")
    expect(JSON.stringify(refused.exit)).toContain("KeyFileExists")
    expect(refused.printed).toBe("")
    expect(fs.readFileSync(out, "utf8")).toBe(original)
    const error = await Effect.runPromise(Effect.flip(runKeygen({ out, force: false })))
    expect(error).toBeInstanceOf(KeyFileExists)

    const forced = await keygen({ out, force: true })
    expect(forced.exit._tag).toBe("Success")
    expect(fs.readFileSync(out, "utf8")).not.toBe(original)
    const key = await Effect.runPromise(loadNodeKey(out))
    expect(forced.printed).toContain(key.publicKeyHex)
  })
})
