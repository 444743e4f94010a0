/**
 * Passwords: scrypt hashes in one self-describing string, `scrypt$N$r$p$salt$hash` (salt
 * and hash in base64url). The request side hashes with a fresh random salt and submits
 * only the finished string in a `SetPassword` transaction, so applying it is deterministic
 * and the password itself never enters a block. Checking compares in constant time.
 */
import { randomBytes, scrypt, timingSafeEqual } from "node:crypto"
import { Effect } from "effect"

const N = 16_384
const R = 8
const P = 1
const KEY_BYTES = 32

/** Passwords shorter than this are refused (NIST SP 800-63B's minimum for chosen secrets). */
export const MIN_PASSWORD_LENGTH = 8
/** Longer inputs are refused rather than hashed (bounded work per request). */
export const MAX_PASSWORD_LENGTH = 1024

export const passwordProblem = (password: string): string | undefined => {
  if (password.length < MIN_PASSWORD_LENGTH)
    return `the password must be at least ${MIN_PASSWORD_LENGTH} characters long`
  if (password.length > MAX_PASSWORD_LENGTH)
    return `the password must be at most ${MAX_PASSWORD_LENGTH} characters long`
  return undefined
}

const derive = (password: string, salt: Buffer, n: number, r: number, p: number) =>
  Effect.async<Buffer, Error>((resume) => {
    scrypt(
      password.normalize("NFKC"),
      salt,
      KEY_BYTES,
      { N: n, r, p, maxmem: 256 * n * r },
      (err, key) => resume(err ? Effect.fail(err) : Effect.succeed(key)),
    )
  })

/** A new hash of `password` with a random salt. */
export const hashPassword = (password: string) =>
  Effect.map(
    Effect.suspend(() => {
      const salt = randomBytes(16)
      return Effect.map(derive(password, salt, N, R, P), (key) => ({ salt, key }))
    }),
    ({ salt, key }) =>
      `scrypt$${N}$${R}$${P}$${salt.toString("base64url")}$${key.toString("base64url")}`,
  ).pipe(Effect.orDie)

/** Is `stored` a well-formed hash string (what Apply accepts)? */
export const isPasswordHash = (stored: string) =>
  /^scrypt\$\d{1,7}\$\d{1,3}\$\d{1,3}\$[A-Za-z0-9_-]{16,64}\$[A-Za-z0-9_-]{32,128}$/.test(stored)

/** Does `password` match `stored`? False for malformed hashes. */
export const verifyPassword = (password: string, stored: string) =>
  Effect.gen(function* () {
    if (!isPasswordHash(stored) || password.length > MAX_PASSWORD_LENGTH) return false
    const [, n, r, p, salt, hash] = stored.split("$")
    const expected = Buffer.from(hash!, "base64url")
    const got = yield* derive(
      password,
      Buffer.from(salt!, "base64url"),
      Number(n),
      Number(r),
      Number(p),
    )
    return got.length === expected.length && timingSafeEqual(got, expected)
  }).pipe(Effect.orElseSucceed(() => false))
