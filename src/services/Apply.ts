/**
 * Apply: the only writer of replicated state. `applyBlock` runs each transaction of a block
 * in order against the stores and returns one outcome per transaction.
 *
 * Deterministic: ids, numbers and timestamps come from the block and from state, never from
 * this node's clock. Authorization is checked here again (the check a faulty node that
 * submitted the transaction cannot skip). Idempotent by height: a block at or below the
 * applied height is not applied twice.
 */
import type { SqlError } from "@effect/sql/SqlError"
import { Context, Effect, Layer, PubSub } from "effect"
import { isFieldProblem, parseProtection, pushProblem } from "../domain/BranchProtection.ts"
import { isObjectId, type ObjectId, ZERO_ID } from "../domain/git/ObjectId.ts"
import { refNameProblem } from "../domain/git/RefName.ts"
import { loginProblem, repoNameProblem } from "../domain/Names.ts"
import { atLeast, unknownScopes } from "../domain/Permissions.ts"
import {
  certCoversChanges,
  PushCertError,
  parsePushCert,
  verifyPushCert,
} from "../domain/protocol/PushCert.ts"
import { parsePublicKey, SshFormatError } from "../domain/SshSig.ts"
import { passingContexts } from "../domain/Statuses.ts"
import type * as T from "../domain/Transaction.ts"
import type { Block, RefResult, Transaction, TxOutcome } from "../domain/Transaction.ts"
import { Metrics } from "../layers/Metrics.ts"
import { Access } from "./Access.ts"
import { makeCollaborationHandlers } from "./apply/Collaboration.ts"
import { makeContentHandlers } from "./apply/Content.ts"
import { makeCiHandlers } from "./apply/Ci.ts"
import { makeHookHandlers } from "./apply/Hooks.ts"
import { type Handled, makeKit, Reject } from "./apply/Kit.ts"
import { makePullHandlers } from "./apply/Pulls.ts"
import { rangeFacts } from "./git/Ancestry.ts"
import { Metadata, type UserRow } from "./Metadata.ts"
import { type ObjectCorrupt, ObjectStore, type StorageError } from "./ObjectStore.ts"
import { makeBlockRefs } from "./BlockRefs.ts"
import { RefConflict, RefStore, type RefStoreShape, type RefUpdate } from "./RefStore.ts"

const slugOf = (name: string) =>
  name
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-+|-+$/g, "")

const make = Effect.gen(function* () {
  const meta = yield* Metadata
  const store = yield* RefStore
  /** Every block once applied and committed, with its outcomes (node-local, not state). */
  const appliedBlocks = yield* PubSub.unbounded<{
    readonly block: Block
    readonly outcomes: ReadonlyArray<TxOutcome>
  }>()
  /** The refs the current block's transactions see (its BlockRefs while a block applies). */
  let refs: RefStoreShape = store
  const metrics = yield* Metrics
  const access = yield* Access
  const objects = yield* ObjectStore

  const {
    reject,
    done,
    needUser,
    needOrg,
    needRepo,
    needOrgAdmin,
    needLevel,
    orgOfRepo,
    selfOrAdmin,
  } = makeKit(meta, access)
  const collab = makeCollaborationHandlers(meta, access, makeKit(meta, access))
  const pulls = makePullHandlers({
    meta,
    access,
    kit: makeKit(meta, access),
    objects,
    refs: () => refs,
  })

  // --- accounts ---

  const createUser = (tx: T.CreateUser, block: Block, actor: UserRow) =>
    Effect.gen(function* () {
      if (actor.site_admin !== 1) return yield* reject("only an administrator can create users")
      const problem = loginProblem(tx.login)
      if (problem) return yield* reject(problem)
      if (yield* meta.userByLogin(tx.login))
        return yield* reject(`login ${tx.login} is taken`, { code: "already_exists" })
      const id = yield* meta.insertUser({
        login: tx.login,
        name: tx.name ?? null,
        email: tx.email ?? null,
        site_admin: tx.siteAdmin ? 1 : 0,
        created_at: block.timestamp,
        type: "User",
        bio: null,
        updated_at: block.timestamp,
      })
      return done({ id }, { action: "user.create", data: { user: tx.login } })
    })

  const updateUser = (tx: T.UpdateUser, block: Block, actor: UserRow) =>
    Effect.gen(function* () {
      const user = yield* needUser(tx.user)
      yield* selfOrAdmin(user, actor, "change this profile")
      yield* meta.updateUser(
        user.id,
        {
          ...(tx.name !== undefined ? { name: tx.name } : {}),
          ...(tx.email !== undefined ? { email: tx.email } : {}),
          ...(tx.bio !== undefined ? { bio: tx.bio } : {}),
        },
        block.timestamp,
      )
      return done({ id: user.id })
    })

  const createToken = (tx: T.CreateToken, block: Block, actor: UserRow) =>
    Effect.gen(function* () {
      const user = yield* needUser(tx.user)
      yield* selfOrAdmin(user, actor, "create tokens for this user")
      if (!/^[0-9a-f]{64}$/.test(tx.tokenHash)) return yield* reject("malformed token hash")
      const unknown = unknownScopes(tx.scopes)
      if (unknown.length > 0) return yield* reject(`unknown scopes: ${unknown.join(", ")}`)
      if (tx.scopes.includes("site_admin") && user.site_admin !== 1)
        return yield* reject("only administrators can hold the site_admin scope")
      if (tx.expiresAt !== undefined && tx.expiresAt <= block.timestamp)
        return yield* reject("the expiry date is in the past")
      if (yield* meta.tokenByHash(tx.tokenHash)) return yield* reject("token already exists")
      const id = yield* meta.nextTokenId
      yield* meta.insertToken({
        id,
        hash: tx.tokenHash,
        user_id: user.id,
        scopes: tx.scopes.join(","),
        note: tx.note,
        created_at: block.timestamp,
        expires_at: tx.expiresAt ?? null,
        revoked: 0,
        repositories: tx.repositories ? JSON.stringify(tx.repositories) : null,
      })
      return done(
        { userId: user.id, tokenId: id },
        { action: "token.create", data: { user: user.login, id, scopes: tx.scopes } },
      )
    })

  const revokeToken = (tx: T.RevokeToken, _block: Block, actor: UserRow) =>
    Effect.gen(function* () {
      const user = yield* needUser(tx.user)
      yield* selfOrAdmin(user, actor, "revoke this token")
      const token = yield* meta.tokenById(tx.tokenId)
      if (!token || token.user_id !== user.id) return yield* reject(`no token ${tx.tokenId}`)
      yield* meta.revokeToken(token.id)
      return done(
        { id: token.id },
        { action: "token.revoke", data: { user: user.login, id: token.id } },
      )
    })

  const addSshKey = (tx: T.AddSshKey, block: Block, actor: UserRow) =>
    Effect.gen(function* () {
      const user = yield* needUser(tx.user)
      yield* selfOrAdmin(user, actor, "add keys for this user")
      const key = parsePublicKey(tx.key)
      if (key instanceof SshFormatError) return yield* reject(`key is invalid: ${key.message}`)
      if (yield* meta.sshKeyByFingerprint(key.fingerprint))
        return yield* reject("key is already in use", { code: "already_exists" })
      const title = tx.title.trim() || key.fingerprint
      const id = yield* meta.insertSshKey({
        user_id: user.id,
        title,
        key: key.canonical,
        fingerprint: key.fingerprint,
        created_at: block.timestamp,
      })
      return done(
        { id },
        { action: "public_key.create", data: { user: user.login, fingerprint: key.fingerprint } },
      )
    })

  const removeSshKey = (tx: T.RemoveSshKey, _block: Block, actor: UserRow) =>
    Effect.gen(function* () {
      const user = yield* needUser(tx.user)
      yield* selfOrAdmin(user, actor, "remove keys of this user")
      const key = yield* meta.sshKeyById(tx.keyId)
      if (!key || key.user_id !== user.id) return yield* reject(`no key ${tx.keyId}`)
      yield* meta.deleteSshKey(key.id)
      return done(
        { id: key.id },
        { action: "public_key.delete", data: { user: user.login, fingerprint: key.fingerprint } },
      )
    })

  // --- organisations and teams ---

  const createOrganization = (tx: T.CreateOrganization, block: Block, actor: UserRow) =>
    Effect.gen(function* () {
      const problem = loginProblem(tx.login)
      if (problem) return yield* reject(problem)
      if (yield* meta.userByLogin(tx.login))
        return yield* reject(`login ${tx.login} is taken`, { code: "already_exists" })
      const admin = yield* needUser(tx.admin)
      if (admin.id !== actor.id && actor.site_admin !== 1)
        return yield* reject("only an administrator can create an organization for someone else")
      const id = yield* meta.insertUser({
        login: tx.login,
        name: tx.name ?? null,
        email: null,
        site_admin: 0,
        created_at: block.timestamp,
        type: "Organization",
        bio: null,
        updated_at: block.timestamp,
      })
      yield* meta.setOrgRole(id, admin.id, "admin")
      const org = (yield* meta.userById(id))!
      return done({ id }, { action: "org.create", org, data: { admin: admin.login } })
    })

  const setOrgMembership = (tx: T.SetOrgMembership, _block: Block, actor: UserRow) =>
    Effect.gen(function* () {
      const org = yield* needOrg(tx.org)
      const user = yield* needUser(tx.user)
      const leaving = tx.role === null && user.id === actor.id
      if (!leaving) yield* needOrgAdmin(org, actor)
      const current = yield* meta.orgRole(org.id, user.id)
      if (current === "admin" && tx.role !== "admin") {
        const admins = (yield* meta.orgMembers(org.id)).filter((m) => m.role === "admin")
        if (admins.length <= 1)
          return yield* reject(`${user.login} is the last owner of ${org.login}`)
      }
      yield* meta.setOrgRole(org.id, user.id, tx.role)
      const action =
        tx.role === null ? "org.remove_member" : current ? "org.update_member" : "org.add_member"
      return done({ role: tx.role }, { action, org, data: { user: user.login, role: tx.role } })
    })

  const createTeam = (tx: T.CreateTeam, block: Block, actor: UserRow) =>
    Effect.gen(function* () {
      const org = yield* needOrg(tx.org)
      yield* needOrgAdmin(org, actor)
      const slug = slugOf(tx.name)
      if (slug === "" || tx.name.length > 255)
        return yield* reject("a team name needs at least one letter or digit")
      if (yield* meta.teamBySlug(org.id, slug))
        return yield* reject(`team ${slug} already exists`, { code: "already_exists" })
      let parentId: number | null = null
      if (tx.parent !== undefined) {
        const parent = yield* meta.teamBySlug(org.id, tx.parent)
        if (!parent) return yield* reject(`no team ${tx.parent} in ${org.login}`)
        if (tx.privacy === "secret")
          return yield* reject("a secret team cannot have a parent team (make it closed)")
        if (parent.privacy === "secret")
          return yield* reject("a secret team cannot have child teams")
        parentId = parent.id
      }
      const id = yield* meta.insertTeam({
        org_id: org.id,
        slug,
        name: tx.name,
        description: tx.description ?? null,
        privacy: tx.privacy,
        parent_id: parentId,
        permission: tx.permission,
        created_at: block.timestamp,
      })
      // As on GitHub, whoever creates a team maintains it (unless it is the node itself).
      if (actor.id !== 0) {
        if (!(yield* meta.orgRole(org.id, actor.id)))
          yield* meta.setOrgRole(org.id, actor.id, "member")
        yield* meta.setTeamRole(id, actor.id, "maintainer")
      }
      return done({ id, slug }, { action: "team.create", org, data: { team: slug } })
    })

  const needTeam = (org: UserRow, slug: string) =>
    Effect.flatMap(meta.teamBySlug(org.id, slug), (t) =>
      t ? Effect.succeed(t) : reject(`no team ${slug} in ${org.login}`),
    )

  const deleteTeam = (tx: T.DeleteTeam, _block: Block, actor: UserRow) =>
    Effect.gen(function* () {
      const org = yield* needOrg(tx.org)
      const team = yield* needTeam(org, tx.team)
      if (!(yield* access.canManageTeam(org, team, actor)))
        return yield* reject("only owners and team maintainers can delete a team", {
          code: "forbidden",
        })
      yield* meta.deleteTeam(team.id)
      return done({ id: team.id }, { action: "team.destroy", org, data: { team: team.slug } })
    })

  const setTeamMembership = (tx: T.SetTeamMembership, _block: Block, actor: UserRow) =>
    Effect.gen(function* () {
      const org = yield* needOrg(tx.org)
      const team = yield* needTeam(org, tx.team)
      const user = yield* needUser(tx.user)
      const leaving = tx.role === null && user.id === actor.id
      if (!leaving && !(yield* access.canManageTeam(org, team, actor)))
        return yield* reject("only owners and team maintainers can change team members", {
          code: "forbidden",
        })
      // No invitations here: adding someone to a team makes them a member of the organisation.
      if (tx.role !== null && !(yield* meta.orgRole(org.id, user.id)))
        yield* meta.setOrgRole(org.id, user.id, "member")
      yield* meta.setTeamRole(team.id, user.id, tx.role)
      return done(
        { role: tx.role },
        {
          action: tx.role === null ? "team.remove_member" : "team.add_member",
          org,
          data: { team: team.slug, user: user.login, role: tx.role },
        },
      )
    })

  const setTeamRepository = (tx: T.SetTeamRepository, _block: Block, actor: UserRow) =>
    Effect.gen(function* () {
      const org = yield* needOrg(tx.org)
      const team = yield* needTeam(org, tx.team)
      const repo = yield* needLevel(tx.owner, tx.repo, actor, "admin")
      if (repo.owner_id !== org.id)
        return yield* reject(`${repo.owner_login}/${repo.name} does not belong to ${org.login}`)
      yield* meta.setTeamRepo(team.id, repo.id, tx.permission)
      return done(
        { permission: tx.permission },
        {
          action: tx.permission === null ? "team.remove_repository" : "team.add_repository",
          org,
          repo,
          data: { team: team.slug, permission: tx.permission },
        },
      )
    })

  const setCollaborator = (tx: T.SetCollaborator, _block: Block, actor: UserRow) =>
    Effect.gen(function* () {
      const user = yield* needUser(tx.user)
      const leaving = tx.permission === null && user.id === actor.id
      const repo = leaving
        ? yield* needRepo(tx.owner, tx.repo)
        : yield* needLevel(tx.owner, tx.repo, actor, "admin")
      if (user.id === repo.owner_id) return yield* reject("the owner is always a collaborator")
      const before = yield* meta.collaboratorLevel(repo.id, user.id)
      yield* meta.setCollaborator(repo.id, user.id, tx.permission)
      return done(
        { created: before === undefined && tx.permission !== null },
        {
          action: tx.permission === null ? "repo.remove_member" : "repo.add_member",
          org: yield* orgOfRepo(repo),
          repo,
          data: { user: user.login, permission: tx.permission },
        },
      )
    })

  // --- repositories ---

  const createRepository = (tx: T.CreateRepository, block: Block, actor: UserRow) =>
    Effect.gen(function* () {
      const owner = yield* meta.userByLogin(tx.owner)
      if (!owner) return yield* reject(`no user ${tx.owner}`)
      if (owner.type === "Organization") {
        if (!(yield* access.orgRoleOf(owner, actor)))
          return yield* reject(`you must be a member of ${owner.login} to create repositories`, {
            code: "forbidden",
          })
      } else if (owner.id !== actor.id && actor.site_admin !== 1)
        return yield* reject(`you cannot create repositories for ${tx.owner}`, {
          code: "forbidden",
        })
      const problem = repoNameProblem(tx.name)
      if (problem) return yield* reject(problem)
      if (refNameProblem(`refs/heads/${tx.defaultBranch}`))
        return yield* reject(`invalid default branch name ${tx.defaultBranch}`)
      const visibility = tx.visibility ?? (tx.private ? "private" : "public")
      if (visibility === "internal" && owner.type !== "Organization")
        return yield* reject("only organization repositories can be internal")
      if (yield* meta.repo(owner.login, tx.name))
        return yield* reject("name already exists on this account", { code: "already_exists" })
      const id = yield* meta.insertRepo({
        owner_id: owner.id,
        owner_login: owner.login,
        name: tx.name,
        description: tx.description ?? null,
        private: visibility === "public" ? 0 : 1,
        visibility,
        default_branch: tx.defaultBranch,
        created_at: block.timestamp,
        updated_at: block.timestamp,
        pushed_at: null,
      })
      yield* refs.setHead(`${owner.login}/${tx.name}`, `refs/heads/${tx.defaultBranch}`)
      const repo = yield* meta.repoById(id)
      return done(
        { id },
        {
          action: "repo.create",
          org: owner.type === "Organization" ? owner : undefined,
          repo,
          data: { visibility },
        },
      )
    })

  /** Moves a repository's refs and HEAD to a new `owner/name` key. */
  const moveRefs = (from: string, to: string) =>
    Effect.gen(function* () {
      const head = yield* refs.getHead(from)
      const all = yield* refs.list(from)
      if (all.length > 0)
        yield* refs
          .update(
            to,
            all.map((r) => ({ name: r.name, expected: ZERO_ID, next: r.id })),
          )
          .pipe(
            Effect.catchTag("RefConflict", () =>
              reject(`refs already exist under ${to}; the move was not done`),
            ),
          )
      if (head !== undefined) yield* refs.setHead(to, head)
      yield* refs.dropRepo(from)
    })

  const updateRepository = (tx: T.UpdateRepository, block: Block, actor: UserRow) =>
    Effect.gen(function* () {
      const repo = yield* needLevel(tx.owner, tx.repo, actor, "admin")
      const owner = (yield* meta.userById(repo.owner_id))!
      if (tx.visibility === "internal" && owner.type !== "Organization")
        return yield* reject("only organization repositories can be internal")
      if (tx.defaultBranch !== undefined && refNameProblem(`refs/heads/${tx.defaultBranch}`))
        return yield* reject(`invalid default branch name ${tx.defaultBranch}`)
      const renamed = tx.name !== undefined && tx.name !== repo.name
      if (renamed) {
        const problem = repoNameProblem(tx.name!)
        if (problem) return yield* reject(problem)
        const clash = yield* meta.repo(repo.owner_login, tx.name!)
        if (clash && clash.id !== repo.id)
          return yield* reject("name already exists on this account", { code: "already_exists" })
      }
      yield* meta.updateRepo(
        repo.id,
        {
          ...(renamed ? { name: tx.name! } : {}),
          ...(tx.description !== undefined ? { description: tx.description } : {}),
          ...(tx.visibility !== undefined ? { visibility: tx.visibility } : {}),
          ...(tx.defaultBranch !== undefined ? { default_branch: tx.defaultBranch } : {}),
        },
        block.timestamp,
      )
      const key = `${repo.owner_login}/${repo.name}`
      if (renamed) {
        yield* moveRefs(key, `${repo.owner_login}/${tx.name}`)
        yield* meta.addRedirect(repo.owner_login, repo.name, repo.id)
      }
      if (tx.defaultBranch !== undefined)
        yield* refs.setHead(
          `${repo.owner_login}/${renamed ? tx.name : repo.name}`,
          `refs/heads/${tx.defaultBranch}`,
        )
      const org = owner.type === "Organization" ? owner : undefined
      const action = renamed
        ? "repo.rename"
        : tx.visibility !== undefined && tx.visibility !== repo.visibility
          ? "repo.access"
          : "repo.update"
      return done(
        { id: repo.id },
        {
          action,
          org,
          repo,
          data: {
            ...(renamed ? { old_name: repo.name, new_name: tx.name } : {}),
            ...(tx.visibility !== undefined ? { visibility: tx.visibility } : {}),
          },
        },
      )
    })

  const transferRepository = (tx: T.TransferRepository, block: Block, actor: UserRow) =>
    Effect.gen(function* () {
      const repo = yield* needLevel(tx.owner, tx.repo, actor, "admin")
      const target = yield* meta.userByLogin(tx.newOwner)
      if (!target) return yield* reject(`no user or organization ${tx.newOwner}`)
      if (target.type === "Organization") {
        if (!(yield* access.orgRoleOf(target, actor)))
          return yield* reject(`you must be a member of ${target.login} to transfer to it`, {
            code: "forbidden",
          })
      } else if (target.id !== actor.id && actor.site_admin !== 1)
        return yield* reject(`only ${target.login} or an administrator can accept this transfer`, {
          code: "forbidden",
        })
      const name = tx.newName ?? repo.name
      const problem = repoNameProblem(name)
      if (problem) return yield* reject(problem)
      if (yield* meta.repo(target.login, name))
        return yield* reject(`${target.login} already has a repository named ${name}`, {
          code: "already_exists",
        })
      if (repo.visibility === "internal" && target.type !== "Organization")
        return yield* reject("an internal repository can only move to an organization")
      const from = yield* orgOfRepo(repo)
      yield* meta.updateRepo(
        repo.id,
        { owner_id: target.id, owner_login: target.login, name },
        block.timestamp,
      )
      // Team grants belong to the old organisation.
      for (const grant of yield* meta.teamRepoLevels(repo.id))
        yield* meta.setTeamRepo(grant.team_id, repo.id, null)
      yield* moveRefs(`${repo.owner_login}/${repo.name}`, `${target.login}/${name}`)
      yield* meta.addRedirect(repo.owner_login, repo.name, repo.id)
      return done(
        { id: repo.id, owner: target.login, name },
        {
          action: "repo.transfer",
          org: from ?? (target.type === "Organization" ? target : undefined),
          repo,
          data: { from: `${repo.owner_login}/${repo.name}`, to: `${target.login}/${name}` },
        },
      )
    })

  const deleteRepository = (tx: T.DeleteRepository, _block: Block, actor: UserRow) =>
    Effect.gen(function* () {
      const repo = yield* needLevel(tx.owner, tx.repo, actor, "admin")
      const org = yield* orgOfRepo(repo)
      yield* meta.deleteRepo(repo.id)
      yield* refs.dropRepo(`${repo.owner_login}/${repo.name}`)
      return done({ id: repo.id }, { action: "repo.destroy", org, repo })
    })

  const setBranchProtection = (tx: T.SetBranchProtection, _block: Block, actor: UserRow) =>
    Effect.gen(function* () {
      const repo = yield* needLevel(tx.owner, tx.repo, actor, "admin")
      if (refNameProblem(`refs/heads/${tx.branch}`))
        return yield* reject(`invalid branch name ${tx.branch}`)
      let stored: string | null = null
      if (tx.rule !== null) {
        let body: unknown
        try {
          body = JSON.parse(tx.rule)
        } catch {
          return yield* reject("the protection rule is not JSON")
        }
        const rule = parseProtection(body)
        if (isFieldProblem(rule)) return yield* reject(`${rule.field}: ${rule.message}`)
        stored = JSON.stringify(rule)
      }
      const existed = (yield* meta.protection(repo.id, tx.branch)) !== undefined
      yield* meta.setProtection(repo.id, tx.branch, stored)
      return done(
        { branch: tx.branch },
        {
          action:
            stored === null
              ? "protected_branch.destroy"
              : existed
                ? "protected_branch.update"
                : "protected_branch.create",
          org: yield* orgOfRepo(repo),
          repo,
          data: { branch: tx.branch },
        },
      )
    })

  // --- commit statuses ---

  const createStatus = (tx: T.CreateStatus, block: Block, actor: UserRow) =>
    Effect.gen(function* () {
      const repo = yield* needLevel(tx.owner, tx.repo, actor, "write")
      if (!isObjectId(tx.sha)) return yield* reject(`${tx.sha} is not a commit id`)
      const commit = yield* objects.get(tx.sha as ObjectId).pipe(Effect.option)
      if (commit._tag === "None" || commit.value.type !== "commit")
        return yield* reject(`no commit found for SHA: ${tx.sha}`, { code: "unprocessable" })
      const context = tx.context.trim() || "default"
      if (context.length > 255) return yield* reject("context is longer than 255 characters")
      const id = yield* meta.insertStatus({
        repo_id: repo.id,
        sha: tx.sha,
        state: tx.state,
        context,
        description: tx.description ?? null,
        target_url: tx.targetUrl ?? null,
        creator_id: actor.id,
        creator_login: actor.login,
        created_at: block.timestamp,
      })
      return done({ id })
    })

  // --- pushes ---

  /** The push certificate verified against the submitter's keys, or why not. */
  const checkPushCert = (tx: T.UpdateRefs, actor: UserRow) =>
    Effect.gen(function* () {
      if (tx.pushCert === undefined) return false
      const cert = parsePushCert(tx.pushCert)
      if (cert instanceof PushCertError)
        return yield* reject(`push certificate rejected: ${cert.message}`)
      const verified = verifyPushCert(cert)
      if (verified instanceof PushCertError)
        return yield* reject(`push certificate rejected: ${verified.message}`)
      const key = yield* meta.sshKeyByFingerprint(verified.fingerprint)
      if (!key || key.user_id !== actor.id)
        return yield* reject(
          `push certificate rejected: it is signed by ${verified.fingerprint}, which is not a key of ${actor.login} (add it with POST /api/user/keys)`,
        )
      if (!certCoversChanges(cert, tx.changes))
        return yield* reject("push certificate rejected: it does not name the pushed refs")
      return true
    })

  const updateRefs = (tx: T.UpdateRefs, block: Block, actor: UserRow) =>
    Effect.gen(function* () {
      const repo = yield* needLevel(tx.owner, tx.repo, actor, "write")
      const level = yield* access.levelOf(repo, actor)
      const signed = yield* checkPushCert(tx, actor)
      const org = yield* orgOfRepo(repo)
      const key = `${repo.owner_login}/${repo.name}`
      const results: RefResult[] = []
      const valid: RefUpdate[] = []
      for (const change of tx.changes) {
        const problem = refNameProblem(change.name)
        if (problem) {
          results.push({ name: change.name, ok: false, reason: problem })
          continue
        }
        if (!isObjectId(change.old) || !isObjectId(change.new)) {
          results.push({ name: change.name, ok: false, reason: "malformed object id" })
          continue
        }
        const branch = change.name.startsWith("refs/heads/") ? change.name.slice(11) : undefined
        const ruleText = branch === undefined ? undefined : yield* meta.protection(repo.id, branch)
        if (branch !== undefined && ruleText !== undefined) {
          const rule = JSON.parse(ruleText)
          const kind =
            change.new === ZERO_ID ? "delete" : change.old === ZERO_ID ? "create" : "update"
          const range =
            kind === "update"
              ? yield* rangeFacts(change.old as ObjectId, change.new as ObjectId).pipe(
                  Effect.provideService(ObjectStore, objects),
                )
              : { fastForward: true, addsMergeCommit: false }
          const inRestrictions =
            rule.restrictions === null
              ? true
              : rule.restrictions.users.some(
                  (u: string) => u.toLowerCase() === actor.login.toLowerCase(),
                ) ||
                (org !== undefined &&
                  (yield* access.inTeams(org.id, actor, rule.restrictions.teams)))
          const refused = pushProblem(branch, rule, {
            kind,
            fastForward: range.fastForward,
            addsMergeCommit: range.addsMergeCommit,
            isAdmin: atLeast(level, "admin"),
            inRestrictions,
            signed,
            passingContexts:
              kind === "delete"
                ? new Set<string>()
                : passingContexts(yield* meta.statusesOf(repo.id, change.new)),
            viaPullRequest: false,
          })
          if (refused) {
            results.push({ name: change.name, ok: false, reason: refused })
            continue
          }
        }
        valid.push({
          name: change.name,
          expected: change.old as ObjectId,
          next: change.new as ObjectId,
        })
      }
      const conflictReason = (c: RefConflict, name: string) => {
        const hit = c.conflicts.find((x) => x.name === name)
        if (!hit) return "atomic push failed"
        return hit.actual === undefined
          ? "stale info (the ref no longer exists)"
          : hit.expected === ZERO_ID
            ? "already exists"
            : "fetch first"
      }
      if (tx.atomic) {
        if (results.length > 0) {
          for (const u of valid)
            results.push({ name: u.name, ok: false, reason: "atomic push failed" })
        } else {
          const r = yield* Effect.either(refs.update(key, valid))
          for (const u of valid) {
            if (r._tag === "Right") results.push({ name: u.name, ok: true })
            else if (r.left instanceof RefConflict)
              results.push({ name: u.name, ok: false, reason: conflictReason(r.left, u.name) })
            else return yield* Effect.fail(r.left)
          }
        }
      } else {
        for (const u of valid) {
          const r = yield* Effect.either(refs.update(key, [u]))
          if (r._tag === "Right") results.push({ name: u.name, ok: true })
          else if (r.left instanceof RefConflict)
            results.push({ name: u.name, ok: false, reason: conflictReason(r.left, u.name) })
          else return yield* Effect.fail(r.left)
        }
      }
      if (results.some((r) => r.ok)) yield* meta.touchRepoPushed(repo.id, block.timestamp)
      // Pull requests whose head branch moved follow it.
      for (const r of results)
        if (r.ok) {
          const change = tx.changes.find((c) => c.name === r.name)!
          yield* pulls.followPush(repo, change.name, change.new, actor, block, change.old)
          // Workflow runs the push starts; a CI problem never refuses a push.
          yield* meta
            .atomically(ci.onPush(repo, change, actor, block))
            .pipe(
              Effect.catchAllCause((c) =>
                Effect.logError("CI: runs for a push were not created", c),
              ),
            )
        }
      // Keep the order the client sent.
      const order = new Map(tx.changes.map((c, i) => [c.name, i]))
      results.sort((a, b) => (order.get(a.name) ?? 0) - (order.get(b.name) ?? 0))
      return done({ refs: results, signed })
    })

  const hooks = makeHookHandlers(meta, makeKit(meta, access))
  const content = makeContentHandlers({
    meta,
    kit: makeKit(meta, access),
    objects,
    refs: () => refs,
    updateRefs,
  })

  const ci = makeCiHandlers({ meta, kit: makeKit(meta, access), objects, refs: () => refs })

  const handle = (
    tx: Transaction,
    block: Block,
    actor: UserRow,
  ): Effect.Effect<Handled, Reject | SqlError | StorageError | ObjectCorrupt> => {
    switch (tx._tag) {
      case "CreateUser":
        return createUser(tx, block, actor)
      case "UpdateUser":
        return updateUser(tx, block, actor)
      case "CreateToken":
        return createToken(tx, block, actor)
      case "RevokeToken":
        return revokeToken(tx, block, actor)
      case "AddSshKey":
        return addSshKey(tx, block, actor)
      case "RemoveSshKey":
        return removeSshKey(tx, block, actor)
      case "CreateOrganization":
        return createOrganization(tx, block, actor)
      case "SetOrgMembership":
        return setOrgMembership(tx, block, actor)
      case "CreateTeam":
        return createTeam(tx, block, actor)
      case "DeleteTeam":
        return deleteTeam(tx, block, actor)
      case "SetTeamMembership":
        return setTeamMembership(tx, block, actor)
      case "SetTeamRepository":
        return setTeamRepository(tx, block, actor)
      case "SetCollaborator":
        return setCollaborator(tx, block, actor)
      case "CreateRepository":
        return createRepository(tx, block, actor)
      case "UpdateRepository":
        return updateRepository(tx, block, actor)
      case "TransferRepository":
        return transferRepository(tx, block, actor)
      case "DeleteRepository":
        return deleteRepository(tx, block, actor)
      case "SetBranchProtection":
        return setBranchProtection(tx, block, actor)
      case "CreateStatus":
        return createStatus(tx, block, actor)
      case "CreateIssue":
        return collab.createIssue(tx, block, actor)
      case "UpdateIssue":
        return collab.updateIssue(tx, block, actor)
      case "LockIssue":
        return collab.lockIssue(tx, block, actor)
      case "CreateComment":
        return collab.createComment(tx, block, actor)
      case "UpdateComment":
        return collab.updateComment(tx, block, actor)
      case "SetLabel":
        return collab.setLabel(tx, block, actor)
      case "SetMilestone":
        return collab.setMilestone(tx, block, actor)
      case "SetReaction":
        return collab.setReaction(tx, block, actor)
      case "CreatePull":
        return pulls.createPull(tx, block, actor).pipe(
          Effect.tap((h) =>
            Effect.gen(function* () {
              const repo = yield* meta.repo(tx.owner, tx.repo)
              const number = (h.detail as { number: number }).number
              if (repo)
                yield* meta
                  .atomically(ci.onPull(repo, number, "opened", actor, block))
                  .pipe(
                    Effect.catchAllCause((c) =>
                      Effect.logError("CI: runs for a pull request were not created", c),
                    ),
                  )
            }),
          ),
        )
      case "UpdatePull":
        return pulls.updatePull(tx, block, actor)
      case "MergePull":
        return pulls.mergePull(tx, block, actor).pipe(
          Effect.tap(() =>
            Effect.gen(function* () {
              const repo = yield* meta.repo(tx.owner, tx.repo)
              if (repo)
                yield* meta
                  .atomically(ci.onMerged(repo, tx.number, actor, block))
                  .pipe(
                    Effect.catchAllCause((c) =>
                      Effect.logError("CI: runs for a merge were not created", c),
                    ),
                  )
            }),
          ),
        )
      case "CreateReview":
        return pulls.createReview(tx, block, actor)
      case "SubmitReview":
        return pulls.submitReview(tx, block, actor)
      case "CreateReviewComment":
        return pulls.createReviewComment(tx, block, actor)
      case "RequestReviewers":
        return pulls.requestReviewers(tx, block, actor)
      case "CreateFork":
        return pulls.createFork(tx, block, actor)
      case "CommitFile":
        return content.commitFile(tx, block, actor)
      case "SetRelease":
        return content.setRelease(tx, block, actor)
      case "SetReleaseAsset":
        return content.setReleaseAsset(tx, block, actor)
      case "SetHook":
        return hooks.setHook(tx, block, actor)
      case "UpdateRefs":
        return updateRefs(tx, block, actor)
      case "CreateRunnerToken":
        return ci.createRunnerToken(tx, block, actor)
      case "RegisterRunner":
        return ci.registerRunner(tx, block, actor)
      case "RemoveRunner":
        return ci.removeRunner(tx, block, actor)
      case "DispatchWorkflow":
        return ci.dispatchWorkflow(tx, block, actor)
      case "CancelRun":
        return ci.cancelRun(tx, block, actor)
      case "RerunRun":
        return ci.rerunRun(tx, block, actor)
      case "ClaimJob":
        return ci.claimJob(tx, block, actor)
      case "RenewJobLease":
        return ci.renewJobLease(tx, block, actor)
      case "ReportStep":
        return ci.reportStep(tx, block, actor)
      case "AddArtifact":
        return ci.addArtifact(tx, block, actor)
      case "CompleteJob":
        return ci.completeJob(tx, block, actor)
      case "SetSecret":
        return ci.setSecret(tx, block, actor)
    }
  }

  const applyTx = (tx: Transaction, block: Block) =>
    Effect.gen(function* () {
      const actor = yield* access.actor(tx.submitter)
      if (!actor || actor.type !== "User") return yield* reject(`unknown submitter ${tx.submitter}`)
      const { detail, audit } = yield* handle(tx, block, actor)
      if (audit)
        yield* meta.insertAudit({
          created_at: block.timestamp,
          height: block.height,
          actor_id: actor.id,
          actor_login: actor.login,
          action: audit.action,
          org_id: audit.org?.id ?? null,
          repo_id: audit.repo?.id ?? null,
          repo: audit.repo ? `${audit.repo.owner_login}/${audit.repo.name}` : null,
          data: JSON.stringify(audit.data ?? {}),
        })
      return detail
    })

  const applyBlock = (block: Block) =>
    Effect.gen(function* () {
      const applied = yield* meta.appliedHeight
      if (block.height <= applied) return { alreadyApplied: true, outcomes: [] as TxOutcome[] }
      if (block.height !== applied + 1)
        return yield* Effect.dieMessage(
          `apply: block ${block.height} does not follow applied height ${applied}`,
        )
      // A crash after the ref store committed this block but before the metadata did
      // leaves the refs one block ahead: put them back, then apply the block again.
      if ((yield* store.blockHeight) === block.height) {
        yield* Effect.logWarning(
          `apply: refs of block ${block.height} were committed without its metadata (a crash); undoing them and applying the block again`,
        )
        yield* store.undoBlock(block.height)
      }
      const blockRefs = makeBlockRefs(store)
      refs = blockRefs
      const applyOne = (tx: Transaction) =>
        applyTx(tx, block).pipe(
          // A rejected transaction leaves nothing behind, in SQL or in refs.
          blockRefs.atomically,
          meta.atomically,
          Effect.map((detail): TxOutcome => ({ _tag: "Applied", height: block.height, detail })),
          Effect.catchIf(
            (e): e is Reject => e instanceof Reject,
            (e) =>
              Effect.succeed<TxOutcome>({
                _tag: "Rejected",
                height: block.height,
                reason: e.reason,
                detail: e.detail,
              }),
          ),
          Effect.tap((o) =>
            Effect.sync(() =>
              metrics.transactionsApplied.inc({ kind: tx._tag, outcome: o._tag.toLowerCase() }),
            ),
          ),
          Effect.tap((o) => meta.recordTx(tx.idempotencyKey, block.height, JSON.stringify(o))),
        )
      const outcomes = yield* meta
        .applyAtHeight(
          block.height,
          Effect.zipLeft(
            Effect.zipRight(
              // Leases that ended and schedules that fired by this block's time, before its txs.
              meta
                .atomically(ci.onBlock(block))
                .pipe(
                  Effect.catchAllCause((c) => Effect.logError("CI: block housekeeping failed", c)),
                ),
              Effect.forEach(block.txs, (tx) =>
                Effect.flatMap(meta.txOutcome(tx.idempotencyKey), (seen) =>
                  seen !== undefined
                    ? // Applied before (a retry, or a transaction two proposers both included).
                      Effect.succeed(JSON.parse(seen) as TxOutcome)
                    : applyOne(tx),
                ),
              ),
            ),
            // Refs reach the disk before the metadata commits (see above for a crash between).
            blockRefs.flush(block.height),
          ),
        )
        .pipe(Effect.ensuring(Effect.sync(() => (refs = store))))
      metrics.blockHeight.set(block.height)
      // After the commit: what happened, for those who react to it (webhooks, live feeds).
      yield* PubSub.publish(appliedBlocks, { block, outcomes })
      return { alreadyApplied: false, outcomes }
    })

  return { applyBlock, appliedHeight: meta.appliedHeight, appliedBlocks }
})

export class Apply extends Context.Tag("guts/Apply")<Apply, Effect.Effect.Success<typeof make>>() {
  static readonly Live = Layer.effect(Apply, make).pipe(Layer.provide(Access.Live))
}
