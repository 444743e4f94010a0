/**
 * GitHub-shaped JSON for our rows. URLs are built from the node's public URL so that
 * clients following `url`/`html_url` land back on this node.
 */
import type { RepoRow, UserRow } from "../../services/Metadata.ts"

const iso = (ms: number | null) =>
  ms === null ? null : new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z")

const nodeId = (kind: string, id: number) => Buffer.from(`${kind}:${id}`).toString("base64")

export const userJson = (base: string, user: Pick<UserRow, "id" | "login" | "site_admin">) => ({
  login: user.login,
  id: user.id,
  node_id: nodeId("User", user.id),
  avatar_url: "",
  url: `${base}/api/users/${user.login}`,
  html_url: `${base}/${user.login}`,
  repos_url: `${base}/api/users/${user.login}/repos`,
  type: "User",
  site_admin: user.site_admin === 1,
})

export const repoJson = (base: string, repo: RepoRow) => {
  const full = `${repo.owner_login}/${repo.name}`
  return {
    id: repo.id,
    node_id: nodeId("Repository", repo.id),
    name: repo.name,
    full_name: full,
    private: repo.private === 1,
    visibility: repo.private === 1 ? "private" : "public",
    owner: userJson(base, { id: repo.owner_id, login: repo.owner_login, site_admin: 0 }),
    html_url: `${base}/${full}`,
    description: repo.description,
    fork: false,
    url: `${base}/api/repos/${full}`,
    clone_url: `${base}/${full}.git`,
    git_url: `${base}/git/${full}`,
    created_at: iso(repo.created_at),
    updated_at: iso(repo.updated_at),
    pushed_at: iso(repo.pushed_at),
    default_branch: repo.default_branch,
    archived: false,
    disabled: false,
  }
}
