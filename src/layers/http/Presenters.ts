/**
 * GitHub-shaped JSON for our rows. URLs are built from the node's public URL so that
 * clients following `url`/`html_url` land back on this node.
 */
import type { Level } from "../../domain/Permissions.ts"
import { permissionsObject } from "../../domain/Permissions.ts"
import type {
  AuditRow,
  RepoRow,
  SshKeyRow,
  TeamRow,
  TokenRow,
  UserRow,
} from "../../services/Metadata.ts"

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

export const repoJson = (base: string, repo: RepoRow, level?: Level, ownerIsOrg = false) => {
  const full = `${repo.owner_login}/${repo.name}`
  return {
    id: repo.id,
    node_id: nodeId("Repository", repo.id),
    name: repo.name,
    full_name: full,
    private: repo.visibility !== "public",
    visibility: repo.visibility,
    owner: accountJson(base, {
      id: repo.owner_id,
      login: repo.owner_login,
      site_admin: 0,
      type: ownerIsOrg ? "Organization" : "User",
    }),
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
    ...(level !== undefined ? { permissions: permissionsObject(level) } : {}),
  }
}

export const accountJson = (
  base: string,
  user: Pick<UserRow, "id" | "login" | "site_admin" | "type">,
) =>
  user.type === "Organization"
    ? {
        login: user.login,
        id: user.id,
        node_id: nodeId("Organization", user.id),
        avatar_url: "",
        url: `${base}/api/orgs/${user.login}`,
        html_url: `${base}/${user.login}`,
        repos_url: `${base}/api/orgs/${user.login}/repos`,
        type: "Organization",
        site_admin: false,
      }
    : userJson(base, user)

export const userFullJson = (base: string, user: UserRow) => ({
  ...accountJson(base, user),
  name: user.name,
  email: user.email,
  bio: user.bio,
  created_at: iso(user.created_at),
  updated_at: iso(user.updated_at || user.created_at),
})

export const orgJson = (base: string, org: UserRow) => ({
  login: org.login,
  id: org.id,
  node_id: nodeId("Organization", org.id),
  url: `${base}/api/orgs/${org.login}`,
  repos_url: `${base}/api/orgs/${org.login}/repos`,
  members_url: `${base}/api/orgs/${org.login}/members{/member}`,
  avatar_url: "",
  description: org.bio,
  name: org.name,
  html_url: `${base}/${org.login}`,
  type: "Organization",
  created_at: iso(org.created_at),
  updated_at: iso(org.updated_at || org.created_at),
})

export const teamJson = (base: string, org: UserRow, team: TeamRow, parent?: TeamRow) => ({
  id: team.id,
  node_id: nodeId("Team", team.id),
  url: `${base}/api/orgs/${org.login}/teams/${team.slug}`,
  html_url: `${base}/orgs/${org.login}/teams/${team.slug}`,
  name: team.name,
  slug: team.slug,
  description: team.description,
  privacy: team.privacy,
  permission:
    team.permission === "read" ? "pull" : team.permission === "write" ? "push" : team.permission,
  members_url: `${base}/api/orgs/${org.login}/teams/${team.slug}/members{/member}`,
  repositories_url: `${base}/api/orgs/${org.login}/teams/${team.slug}/repos`,
  parent: parent
    ? { id: parent.id, slug: parent.slug, name: parent.name, privacy: parent.privacy }
    : null,
  organization: orgJson(base, org),
  created_at: iso(team.created_at),
})

export const keyJson = (base: string, key: SshKeyRow, full = true) => ({
  id: key.id,
  key: key.key,
  ...(full
    ? {
        url: `${base}/api/user/keys/${key.id}`,
        title: key.title,
        created_at: iso(key.created_at),
        verified: true,
        read_only: false,
      }
    : {}),
})

export const tokenJson = (token: TokenRow) => ({
  id: token.id,
  note: token.note,
  scopes: token.scopes ? token.scopes.split(",") : [],
  created_at: iso(token.created_at),
  expires_at: iso(token.expires_at),
  repositories: token.repositories ? (JSON.parse(token.repositories) as string[]) : null,
})

export const auditJson = (row: AuditRow) => ({
  "@timestamp": row.created_at,
  _document_id: String(row.id),
  action: row.action,
  actor: row.actor_login,
  actor_id: row.actor_id,
  created_at: row.created_at,
  height: row.height,
  ...(row.repo ? { repo: row.repo } : {}),
  ...(JSON.parse(row.data) as Record<string, unknown>),
})
