/**
 * A cookie-keeping client for the web interface (plain fetch, no browser): signs in with a
 * token through the real sign-in form, reads pages, and posts forms with the page's CSRF
 * token.
 */
export interface WebClient {
  readonly get: (path: string) => Promise<{ status: number; text: string; headers: Headers }>
  readonly post: (
    path: string,
    fields: Record<string, string>,
    opts?: { csrf?: boolean },
  ) => Promise<{ status: number; text: string; location: string | null }>
  readonly csrf: () => Promise<string>
  readonly cookies: Map<string, string>
}

export const webClient = (base: string): WebClient => {
  const cookies = new Map<string, string>()
  const cookieHeader = () => [...cookies].map(([k, v]) => `${k}=${v}`).join("; ")
  const keep = (res: Response) => {
    for (const c of res.headers.getSetCookie()) {
      const [pair] = c.split(";")
      const eq = pair!.indexOf("=")
      const k = pair!.slice(0, eq)
      const v = pair!.slice(eq + 1)
      if (/Max-Age=0/i.test(c) || v === "") cookies.delete(k)
      else cookies.set(k, v)
    }
  }
  const get = async (path: string) => {
    const res = await fetch(`${base}${path}`, {
      headers: { cookie: cookieHeader() },
      redirect: "manual",
    })
    keep(res)
    return { status: res.status, text: await res.text(), headers: res.headers }
  }
  const csrf = async () => {
    const page = await get("/-/account")
    const m = /name="_csrf" value="([0-9a-f]+)"/.exec(page.text)
    if (!m) throw new Error(`no CSRF token on the account page (${page.status})`)
    return m[1]!
  }
  const post = async (
    path: string,
    fields: Record<string, string>,
    opts: { csrf?: boolean } = {},
  ) => {
    const body = new URLSearchParams(fields)
    if (opts.csrf !== false && !("_csrf" in fields) && cookies.has("guts_session"))
      body.set("_csrf", await csrf())
    const res = await fetch(`${base}${path}`, {
      method: "POST",
      headers: { cookie: cookieHeader(), "content-type": "application/x-www-form-urlencoded" },
      body: body.toString(),
      redirect: "manual",
    })
    keep(res)
    return { status: res.status, text: await res.text(), location: res.headers.get("location") }
  }
  return { get, post, csrf, cookies }
}

/** Signs in through the sign-in form with a token (double-submit cookie included). */
export const signInWithToken = async (client: WebClient, token: string) => {
  const form = await client.get("/-/signin")
  const nonce = /name="_signin" value="([0-9a-f]+)"/.exec(form.text)?.[1]
  if (!nonce) throw new Error("no sign-in nonce")
  const res = await client.post("/-/signin", { _signin: nonce, token }, { csrf: false })
  if (res.status !== 303 || !client.cookies.has("guts_session"))
    throw new Error(`sign-in failed: ${res.status} ${res.text.slice(0, 300)}`)
}
