/**
 * GitHub-shaped JSON for our rows. URLs are built from the node's public URL so that
 * clients following `url`/`html_url` land back on this node.
 */
import type { Level } from "../../domain/Permissions.ts"
import { permissionsObject } from "../../domain/Permissions.ts"
import type {
  CommentRow,
  EventRow,
  IssueRow,
  LabelRow,
  MilestoneRow,
  ReactionRow,
} from "../../services/CollabTables.ts"
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

/** The link fields GitHub puts on every account (a "simple user"). */
const accountLinks = (base: string, login: string) => {
  const api = `${base}/api/users/${login}`
  return {
    avatar_url: `${base}/avatars/${login}`,
    gravatar_id: "",
    url: api,
    html_url: `${base}/${login}`,
    followers_url: `${api}/followers`,
    following_url: `${api}/following{/other_user}`,
    gists_url: `${api}/gists{/gist_id}`,
    starred_url: `${api}/starred{/owner}{/repo}`,
    subscriptions_url: `${api}/subscriptions`,
    organizations_url: `${api}/orgs`,
    repos_url: `${api}/repos`,
    events_url: `${api}/events{/privacy}`,
    received_events_url: `${api}/received_events`,
  }
}

export const userJson = (base: string, user: Pick<UserRow, "id" | "login" | "site_admin">) => ({
  login: user.login,
  id: user.id,
  node_id: nodeId("User", user.id),
  ...accountLinks(base, user.login),
  type: "User",
  site_admin: user.site_admin === 1,
})

/**
 * The URL templates GitHub puts on every repository, and the counters of features Guts
 * does not have (stars, watchers, wikis, pages, licences), which are honestly zero or off.
 */
const repoLinks = (base: string, full: string) => {
  const api = `${base}/api/repos/${full}`
  return {
    forks_url: `${api}/forks`,
    keys_url: `${api}/keys{/key_id}`,
    collaborators_url: `${api}/collaborators{/collaborator}`,
    teams_url: `${api}/teams`,
    hooks_url: `${api}/hooks`,
    issue_events_url: `${api}/issues/events{/number}`,
    events_url: `${api}/events`,
    assignees_url: `${api}/assignees{/user}`,
    branches_url: `${api}/branches{/branch}`,
    tags_url: `${api}/tags`,
    blobs_url: `${api}/git/blobs{/sha}`,
    git_tags_url: `${api}/git/tags{/sha}`,
    git_refs_url: `${api}/git/refs{/sha}`,
    trees_url: `${api}/git/trees{/sha}`,
    statuses_url: `${api}/statuses/{sha}`,
    languages_url: `${api}/languages`,
    stargazers_url: `${api}/stargazers`,
    contributors_url: `${api}/contributors`,
    subscribers_url: `${api}/subscribers`,
    subscription_url: `${api}/subscription`,
    commits_url: `${api}/commits{/sha}`,
    git_commits_url: `${api}/git/commits{/sha}`,
    comments_url: `${api}/comments{/number}`,
    issue_comment_url: `${api}/issues/comments{/number}`,
    contents_url: `${api}/contents/{+path}`,
    compare_url: `${api}/compare/{base}...{head}`,
    merges_url: `${api}/merges`,
    archive_url: `${api}/{archive_format}{/ref}`,
    downloads_url: `${api}/downloads`,
    issues_url: `${api}/issues{/number}`,
    pulls_url: `${api}/pulls{/number}`,
    milestones_url: `${api}/milestones{/number}`,
    notifications_url: `${api}/notifications{?since,all,participating}`,
    labels_url: `${api}/labels{/name}`,
    releases_url: `${api}/releases{/id}`,
    deployments_url: `${api}/deployments`,
    ssh_url: `${base}/${full}.git`,
    svn_url: `${base}/${full}`,
    mirror_url: null,
    homepage: null,
    language: null,
    license: null,
    size: 0,
    forks: 0,
    forks_count: 0,
    stargazers_count: 0,
    watchers: 0,
    watchers_count: 0,
    subscribers_count: 0,
    network_count: 0,
    has_issues: true,
    has_projects: false,
    has_wiki: false,
    has_pages: false,
    has_downloads: true,
    has_discussions: false,
  }
}

/** What a repository's JSON shows that is not in its row. */
export interface RepoExtras {
  readonly openIssues: number
  readonly topics: ReadonlyArray<string>
}

export const repoJson = (
  base: string,
  repo: RepoRow,
  level?: Level,
  ownerIsOrg = false,
  extras: RepoExtras = { openIssues: 0, topics: [] },
) => {
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
    ...repoLinks(base, full),
    url: `${base}/api/repos/${full}`,
    clone_url: `${base}/${full}.git`,
    git_url: `${base}/git/${full}`,
    created_at: iso(repo.created_at),
    updated_at: iso(repo.updated_at),
    pushed_at: iso(repo.pushed_at),
    default_branch: repo.default_branch,
    open_issues: extras.openIssues,
    open_issues_count: extras.openIssues,
    topics: extras.topics,
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
        ...accountLinks(base, user.login),
        url: `${base}/api/orgs/${user.login}`,
        repos_url: `${base}/api/orgs/${user.login}/repos`,
        type: "Organization",
        site_admin: false,
      }
    : userJson(base, user)

/** Repository counts of an account, for its profile. */
export interface RepoCounts {
  readonly publicRepos: number
  readonly privateRepos: number
}

export const userFullJson = (
  base: string,
  user: UserRow,
  counts: RepoCounts = { publicRepos: 0, privateRepos: 0 },
  self = false,
) => ({
  ...accountJson(base, user),
  name: user.name,
  company: null,
  blog: null,
  location: null,
  email: user.email,
  hireable: null,
  bio: user.bio,
  public_repos: counts.publicRepos,
  public_gists: 0,
  followers: 0,
  following: 0,
  created_at: iso(user.created_at),
  updated_at: iso(user.updated_at || user.created_at),
  ...(self
    ? {
        private_gists: 0,
        total_private_repos: counts.privateRepos,
        owned_private_repos: counts.privateRepos,
        disk_usage: 0,
        collaborators: 0,
        two_factor_authentication: false,
      }
    : {}),
})

export const orgJson = (base: string, org: UserRow, counts?: RepoCounts) => ({
  login: org.login,
  id: org.id,
  node_id: nodeId("Organization", org.id),
  url: `${base}/api/orgs/${org.login}`,
  repos_url: `${base}/api/orgs/${org.login}/repos`,
  events_url: `${base}/api/orgs/${org.login}/events`,
  hooks_url: `${base}/api/orgs/${org.login}/hooks`,
  issues_url: `${base}/api/orgs/${org.login}/issues`,
  members_url: `${base}/api/orgs/${org.login}/members{/member}`,
  public_members_url: `${base}/api/orgs/${org.login}/public_members{/member}`,
  avatar_url: `${base}/avatars/${org.login}`,
  description: org.bio,
  ...(org.name !== null ? { name: org.name } : {}),
  html_url: `${base}/${org.login}`,
  type: "Organization",
  ...(counts
    ? {
        has_organization_projects: false,
        has_repository_projects: false,
        public_repos: counts.publicRepos,
        public_gists: 0,
        followers: 0,
        following: 0,
        archived_at: null,
      }
    : {}),
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

// --- collaboration ---

type Reactionish = { readonly content: string }

export const reactionSummary = (url: string, rows: ReadonlyArray<Reactionish>) => {
  const count = (c: string) => rows.filter((r) => r.content === c).length
  return {
    url,
    total_count: rows.length,
    "+1": count("+1"),
    "-1": count("-1"),
    laugh: count("laugh"),
    hooray: count("hooray"),
    confused: count("confused"),
    heart: count("heart"),
    rocket: count("rocket"),
    eyes: count("eyes"),
  }
}

const person = (base: string, id: number, login: string) =>
  userJson(base, { id, login, site_admin: 0 })

export const labelJson = (base: string, repo: RepoRow, l: LabelRow) => ({
  id: l.id,
  node_id: nodeId("Label", l.id),
  url: `${base}/api/repos/${repo.owner_login}/${repo.name}/labels/${encodeURIComponent(l.name)}`,
  name: l.name,
  color: l.color,
  description: l.description,
  default: false,
})

export const milestoneJson = (
  base: string,
  repo: RepoRow,
  m: MilestoneRow & { open_issues: number; closed_issues: number },
) => ({
  url: `${base}/api/repos/${repo.owner_login}/${repo.name}/milestones/${m.number}`,
  html_url: `${base}/${repo.owner_login}/${repo.name}/milestone/${m.number}`,
  labels_url: `${base}/api/repos/${repo.owner_login}/${repo.name}/milestones/${m.number}/labels`,
  id: m.id,
  node_id: nodeId("Milestone", m.id),
  number: m.number,
  title: m.title,
  description: m.description,
  creator: person(base, m.creator_id, m.creator_login),
  open_issues: m.open_issues,
  closed_issues: m.closed_issues,
  state: m.state,
  created_at: iso(m.created_at),
  updated_at: iso(m.updated_at),
  due_on: iso(m.due_on),
  closed_at: iso(m.closed_at),
})

export interface IssueDetails {
  readonly issue: IssueRow
  readonly labels: ReadonlyArray<LabelRow>
  readonly assignees: ReadonlyArray<{ user_id: number; login: string }>
  readonly milestone?: (MilestoneRow & { open_issues: number; closed_issues: number }) | undefined
  readonly reactions: ReadonlyArray<Reactionish>
}

export const issueJson = (base: string, repo: RepoRow, d: IssueDetails) => {
  const i = d.issue
  const repoUrl = `${base}/api/repos/${repo.owner_login}/${repo.name}`
  const url = `${repoUrl}/issues/${i.number}`
  const assignees = d.assignees.map((a) => person(base, a.user_id, a.login))
  return {
    id: i.id,
    node_id: nodeId(i.is_pull ? "PullRequest" : "Issue", i.id),
    url,
    repository_url: repoUrl,
    labels_url: `${url}/labels{/name}`,
    comments_url: `${url}/comments`,
    events_url: `${url}/events`,
    html_url: `${base}/${repo.owner_login}/${repo.name}/${i.is_pull ? "pull" : "issues"}/${i.number}`,
    number: i.number,
    state: i.state,
    state_reason: i.state_reason,
    title: i.title,
    body: i.body,
    user: person(base, i.user_id, i.user_login),
    labels: d.labels.map((l) => labelJson(base, repo, l)),
    assignee: assignees[0] ?? null,
    assignees,
    milestone: d.milestone ? milestoneJson(base, repo, d.milestone) : null,
    locked: i.locked === 1,
    active_lock_reason: i.lock_reason,
    comments: i.comments,
    ...(i.is_pull
      ? {
          pull_request: {
            url: `${repoUrl}/pulls/${i.number}`,
            html_url: `${base}/${repo.owner_login}/${repo.name}/pull/${i.number}`,
            diff_url: `${base}/${repo.owner_login}/${repo.name}/pull/${i.number}.diff`,
            patch_url: `${base}/${repo.owner_login}/${repo.name}/pull/${i.number}.patch`,
          },
        }
      : {}),
    closed_at: iso(i.closed_at),
    created_at: iso(i.created_at),
    updated_at: iso(i.updated_at),
    closed_by: i.closed_by_id !== null ? person(base, i.closed_by_id, i.closed_by_login!) : null,
    author_association: "NONE",
    reactions: reactionSummary(`${url}/reactions`, d.reactions),
  }
}

export const commentJson = (
  base: string,
  repo: RepoRow,
  issueNumber: number,
  c: CommentRow,
  reactions: ReadonlyArray<Reactionish> = [],
) => {
  const repoUrl = `${base}/api/repos/${repo.owner_login}/${repo.name}`
  return {
    id: c.id,
    node_id: nodeId("IssueComment", c.id),
    url: `${repoUrl}/issues/comments/${c.id}`,
    html_url: `${base}/${repo.owner_login}/${repo.name}/issues/${issueNumber}#issuecomment-${c.id}`,
    issue_url: `${repoUrl}/issues/${issueNumber}`,
    body: c.body,
    user: person(base, c.user_id, c.user_login),
    created_at: iso(c.created_at),
    updated_at: iso(c.updated_at),
    author_association: "NONE",
    reactions: reactionSummary(`${repoUrl}/issues/comments/${c.id}/reactions`, reactions),
  }
}

export const reactionJson = (base: string, r: ReactionRow) => ({
  id: r.id,
  node_id: nodeId("Reaction", r.id),
  user: person(base, r.user_id, r.user_login),
  content: r.content,
  created_at: iso(r.created_at),
})

export const eventJson = (base: string, repo: RepoRow, issueNumber: number, e: EventRow) => {
  const data = JSON.parse(e.data) as Record<string, unknown>
  return {
    id: e.id,
    node_id: nodeId("Event", e.id),
    url: `${base}/api/repos/${repo.owner_login}/${repo.name}/issues/events/${e.id}`,
    actor: person(base, e.actor_id, e.actor_login),
    event: e.event,
    commit_id: (data.commit_id as string | undefined) ?? null,
    commit_url: null,
    created_at: iso(e.created_at),
    issue_number: issueNumber,
    ...(typeof data.label === "string" ? { label: { name: data.label } } : {}),
    ...(typeof data.assignee === "string" ? { assignee: { login: data.assignee } } : {}),
    ...(data.rename ? { rename: data.rename } : {}),
    ...(data.state_reason !== undefined ? { state_reason: data.state_reason } : {}),
    ...(data.lock_reason !== undefined ? { lock_reason: data.lock_reason } : {}),
    ...(data.milestone !== undefined ? { milestone: { number: data.milestone } } : {}),
  }
}
