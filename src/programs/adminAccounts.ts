/**
 * `guts admin create-user` and `guts admin create-token`: account administration over a
 * running node's REST API, with a site administrator's token (`--token` or GUTS_TOKEN; a new
 * node writes one to DATA_DIR/admin-token).
 *
 * - `create-user --login L [--email E] [--name N] [--site-admin] [--password-stdin]`:
 *   `POST /api/admin/users`. The password, if any, is read from standard input (never a
 *   flag: it would show in `ps` and shell history).
 * - `create-token --user L --scopes repo,workflow [--note T] [--expires-days D]`:
 *   `POST /api/admin/users/L/tokens`. Prints the token alone on standard output (the node
 *   keeps only its hash: it is shown this once) and what it is on standard error.
 *
 * Exit status 0 on success, 1 with the reason and what to do on standard error.
 */
import { Command, Options } from "@effect/cli"
import { Console, Effect, Option } from "effect"
import { SCOPES, unknownScopes } from "../domain/Permissions.ts"

const failWith = (message: string) =>
  Effect.zipRight(
    Console.error(message),
    Effect.sync(() => {
      process.exitCode = 1
    }),
  )

const url = Options.text("url").pipe(
  Options.withDescription("the node's HTTP address, e.g. http://127.0.0.1:8080"),
  Options.withDefault("http://127.0.0.1:8080"),
)
const token = Options.text("token").pipe(
  Options.withDescription(
    "a site administrator's API token (default: $GUTS_TOKEN; a new node writes one to DATA_DIR/admin-token)",
  ),
  Options.optional,
)

interface ErrorBody {
  readonly message?: string
  readonly errors?: ReadonlyArray<{ field?: string; code?: string; message?: string }>
}

interface Answer {
  readonly status: number
  readonly body: Record<string, unknown> & ErrorBody
}

/** One JSON request to the node; a network failure is an error naming the address. */
const call = (command: string, base: string, tok: string, path: string, body: unknown) =>
  Effect.tryPromise({
    try: async (): Promise<Answer> => {
      const res = await fetch(`${base.replace(/\/+$/, "")}/api${path}`, {
        method: "POST",
        headers: {
          authorization: `token ${tok}`,
          "content-type": "application/json",
          accept: "application/json",
        },
        body: JSON.stringify(body),
      })
      const text = await res.text()
      let parsed: Record<string, unknown> = {}
      try {
        parsed = JSON.parse(text) as Record<string, unknown>
      } catch {
        parsed = { message: text.slice(0, 200) }
      }
      return { status: res.status, body: parsed }
    },
    catch: (e) =>
      `guts admin ${command}: cannot reach the node at ${base}: ${(e as Error).cause ? String((e as Error & { cause: unknown }).cause) : (e as Error).message} (is it running? give its address with --url)`,
  })

/** What the node's refusal means for the operator, and what to do about it. */
const explain = (command: string, a: Answer, specific: (a: Answer) => string | undefined) => {
  const reason = a.body.message ?? "no reason given"
  const detail = specific(a)
  if (detail) return `guts admin ${command}: ${detail}`
  switch (a.status) {
    case 401:
      return `guts admin ${command}: the node does not accept this token (401 ${reason}): give a valid site administrator token with --token or GUTS_TOKEN (a new node writes one to DATA_DIR/admin-token)`
    case 403:
      return `guts admin ${command}: the token is not allowed to do this (403 ${reason}): use a site administrator's token that has the site_admin scope`
    default: {
      const fields = (a.body.errors ?? [])
        .map((e) =>
          [e.field, e.code, e.message !== reason ? e.message : undefined].filter(Boolean).join(" "),
        )
        .filter((s) => s.length > 0)
      return `guts admin ${command}: the node answered ${a.status}: ${reason}${fields.length ? ` (${fields.join("; ")})` : ""}`
    }
  }
}

const tokenOf = (command: string, given: Option.Option<string>) => {
  const tok = Option.getOrUndefined(given) ?? process.env.GUTS_TOKEN
  return tok
    ? Effect.succeed(tok)
    : Effect.fail(
        `guts admin ${command}: give a site administrator token with --token or GUTS_TOKEN (a new node writes one to DATA_DIR/admin-token)`,
      )
}

/** Standard input, whole, without its final line break. */
const readStdin = Effect.tryPromise({
  try: async () => {
    if (process.stdin.isTTY) process.stderr.write("password (then Enter and Ctrl-D): ")
    const chunks: Buffer[] = []
    for await (const chunk of process.stdin) chunks.push(chunk as Buffer)
    return Buffer.concat(chunks)
      .toString("utf8")
      .replace(/\r?\n$/, "")
  },
  catch: (e) => `cannot read the password from standard input: ${(e as Error).message}`,
})

const createUser = Command.make(
  "create-user",
  {
    url,
    token,
    login: Options.text("login").pipe(
      Options.withDescription("the new user's login (letters, digits and single hyphens)"),
    ),
    email: Options.text("email").pipe(
      Options.withDescription("the user's email address"),
      Options.optional,
    ),
    name: Options.text("name").pipe(
      Options.withDescription("the user's display name"),
      Options.optional,
    ),
    siteAdmin: Options.boolean("site-admin").pipe(
      Options.withDescription("make the user a site administrator (every right on the node)"),
    ),
    passwordStdin: Options.boolean("password-stdin").pipe(
      Options.withDescription(
        'read a password for web sign-in from standard input (e.g. `printf %s "$PW" | guts admin create-user ...`); without it the user has no password and signs in with tokens',
      ),
    ),
  },
  (opts) =>
    Effect.gen(function* () {
      const tok = yield* tokenOf("create-user", opts.token)
      const password = opts.passwordStdin ? yield* readStdin : undefined
      if (password !== undefined && password.length === 0)
        return yield* Effect.fail(
          "guts admin create-user: --password-stdin was given but standard input is empty; pipe the password in",
        )
      const body = {
        login: opts.login,
        ...Option.match(opts.email, { onNone: () => ({}), onSome: (email) => ({ email }) }),
        ...Option.match(opts.name, { onNone: () => ({}), onSome: (name) => ({ name }) }),
        ...(opts.siteAdmin ? { site_admin: true } : {}),
        ...(password !== undefined ? { password } : {}),
      }
      const a = yield* call("create-user", opts.url, tok, "/admin/users", body)
      if (a.status !== 201)
        return yield* Effect.fail(
          explain("create-user", a, (a) => {
            const err = a.body.errors?.[0]
            if (a.status === 422 && err?.code === "already_exists")
              return `login ${opts.login} is taken (422): choose another --login, or give the existing user a token with guts admin create-token --user ${opts.login}`
            if (a.status === 422 && err?.field === "login")
              return `--login ${JSON.stringify(opts.login)} is not a valid login (422 ${a.body.message}): use letters, digits and single hyphens`
            if (a.status === 422 && err?.field === "password")
              return `the password is refused (422 ${a.body.message}): pipe in a longer one`
            return undefined
          }),
        )
      const u = a.body as { id?: number; login?: string; site_admin?: boolean }
      yield* Console.log(
        `created user ${u.login} (id ${u.id}${u.site_admin ? ", site administrator" : ""}${password !== undefined ? ", with a password" : ""})`,
      )
      yield* Console.log(
        `give it an API token with: guts admin create-token --user ${u.login} --scopes repo`,
      )
    }).pipe(Effect.catchAll(failWith)),
).pipe(Command.withDescription("create a user account on a running node"))

const createToken = Command.make(
  "create-token",
  {
    url,
    token,
    user: Options.text("user").pipe(
      Options.withDescription("the login of the user the token is for"),
    ),
    scopes: Options.text("scopes").pipe(
      Options.withDescription(
        `comma-separated scopes the token grants, e.g. repo,workflow; known: ${SCOPES.join(", ")}`,
      ),
    ),
    note: Options.text("note").pipe(
      Options.withDescription("what the token is for, shown in the user's token list"),
      Options.withDefault(""),
    ),
    expiresDays: Options.integer("expires-days").pipe(
      Options.withDescription("days until the token stops working (default: it never expires)"),
      Options.optional,
    ),
  },
  (opts) =>
    Effect.gen(function* () {
      const tok = yield* tokenOf("create-token", opts.token)
      const scopes = opts.scopes
        .split(",")
        .map((s) => s.trim())
        .filter((s) => s.length > 0)
      if (scopes.length === 0)
        return yield* Effect.fail(
          `guts admin create-token: --scopes is empty; name at least one of ${SCOPES.join(", ")}`,
        )
      const unknown = unknownScopes(scopes)
      if (unknown.length > 0)
        return yield* Effect.fail(
          `guts admin create-token: unknown scope(s) ${unknown.join(", ")} in --scopes; known: ${SCOPES.join(", ")}`,
        )
      const days = Option.getOrUndefined(opts.expiresDays)
      if (days !== undefined && days < 1)
        return yield* Effect.fail(
          `guts admin create-token: --expires-days ${days} must be 1 or more (leave it out for a token that does not expire)`,
        )
      const body = {
        scopes,
        note: opts.note,
        ...(days !== undefined
          ? { expires_at: new Date(Date.now() + days * 86_400_000).toISOString() }
          : {}),
      }
      const a = yield* call(
        "create-token",
        opts.url,
        tok,
        `/admin/users/${encodeURIComponent(opts.user)}/tokens`,
        body,
      )
      if (a.status !== 201)
        return yield* Effect.fail(
          explain("create-token", a, (a) =>
            a.status === 404
              ? `user ${opts.user} does not exist (404): check --user, or create it with guts admin create-user --login ${opts.user}`
              : undefined,
          ),
        )
      const t = a.body as { id?: number; token?: string; expires_at?: string | null }
      yield* Console.error(
        `token ${t.id} for ${opts.user} with scopes ${scopes.join(",")}` +
          (t.expires_at ? `, expires ${t.expires_at}` : ", no expiry") +
          "; it is shown only this once: store it now",
      )
      yield* Console.log(t.token ?? "")
    }).pipe(Effect.catchAll(failWith)),
).pipe(
  Command.withDescription(
    "mint an API token for a user on a running node and print it (shown only once)",
  ),
)

export const accountCommands = [createUser, createToken] as const
