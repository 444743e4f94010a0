/**
 * A small REST client for tests: JSON in, status + JSON + headers out, with a token.
 */
export interface ApiAnswer {
  readonly status: number
  readonly body: any
  readonly headers: Headers
}

export type Api = (method: string, path: string, body?: unknown) => Promise<ApiAnswer>

export const apiClient =
  (baseUrl: string, token?: string | null, extraHeaders: Record<string, string> = {}): Api =>
  async (method, path, body) => {
    const headers: Record<string, string> = {
      accept: "application/vnd.github+json",
      ...extraHeaders,
    }
    if (token) headers.authorization = `Bearer ${token}`
    if (body !== undefined) headers["content-type"] = "application/json"
    const res = await fetch(`${baseUrl}/api${path}`, {
      method,
      headers,
      redirect: "manual",
      ...(body !== undefined
        ? { body: typeof body === "string" ? body : JSON.stringify(body) }
        : {}),
    })
    const text = await res.text()
    let parsed: unknown = text
    try {
      parsed = text ? JSON.parse(text) : undefined
    } catch {}
    return { status: res.status, body: parsed, headers: res.headers }
  }

/** Creates a user (as the administrator) and a token for it with `scopes`. */
export const makeUser = async (
  admin: Api,
  login: string,
  scopes: ReadonlyArray<string> = ["repo", "read:org"],
): Promise<{ login: string; token: string }> => {
  const u = await admin("POST", "/admin/users", { login, email: `${login}@example.test` })
  if (u.status !== 201) throw new Error(`creating ${login}: ${u.status} ${JSON.stringify(u.body)}`)
  const t = await admin("POST", `/admin/users/${login}/tokens`, { scopes, note: "test" })
  if (t.status !== 201) throw new Error(`token for ${login}: ${t.status} ${JSON.stringify(t.body)}`)
  return { login, token: t.body.token }
}
