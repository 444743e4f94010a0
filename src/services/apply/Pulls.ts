/**
 * Apply handlers for pull requests, reviews and forks.
 *
 * Merges happen here, inside apply: every validator reads the same objects, merges with
 * the same code, stamps the commit with the actor and the block's time, and so writes the
 * same merge commit (same id) — no node computes it alone. Conflicts are detected, reported
 * by path, and never committed. Branch protection of the base branch is enforced on the
 * merge: required approvals (the latest review of each user with write access, on the
 * current head when stale reviews are dismissed), required status checks on the head,
 * restrictions, linear history (no merge commits) and signatures.
 */
import { Effect } from "effect"
import type { ProtectionRule } from "../../domain/BranchProtection.ts"
import { CODEOWNERS_PATHS, ownersOf, parseCodeOwners } from "../../domain/CodeOwners.ts"
import {
  type Commit,
  commitLinks,
  ObjectParseError,
  parseCommit,
  parseTree,
  serializeCommit,
  type Signature,
  textString,
} from "../../domain/git/GitObject.ts"
import { isObjectId, type ObjectId, ZERO_ID } from "../../domain/git/ObjectId.ts"
import { refNameProblem } from "../../domain/git/RefName.ts"
import { mergeBases } from "../../domain/git/MergeBase.ts"
import { mergeTrees, type NewObject } from "../../domain/git/TreeMerge.ts"
import { diffCommits } from "../../domain/git/UnifiedDiff.ts"
import { repoNameProblem } from "../../domain/Names.ts"
import { atLeast } from "../../domain/Permissions.ts"
import { passingChecks } from "../../domain/Statuses.ts"
import type * as T from "../../domain/Transaction.ts"
import type { Block } from "../../domain/Transaction.ts"
import type { Access } from "../Access.ts"
import type { IssueRow, PullRow } from "../CollabTables.ts"
import { type MetadataShape, type RepoRow, type UserRow, repoKey } from "../Metadata.ts"
import type { ObjectStoreShape } from "../ObjectStore.ts"
import type { RefStoreShape } from "../RefStore.ts"
import type { Kit } from "./Kit.ts"
import { MAX_BODY, MAX_TITLE } from "./Collaboration.ts"

/** Object loading over the store, in the shape the merge library wants. */
export const storeLoader = (objects: ObjectStoreShape) => (id: ObjectId) =>
  objects
    .getMany([id])
    .pipe(Effect.map(([o]) => (o ? { type: o.type, content: o.content } : undefined)))

/**
 * Commits reachable from `head` and not from `base`, oldest first (parents before children).
 *
 * Both ends are painted newest first by committer time (git's merge-base strategy), and the
 * walk stops once every queued commit is reachable from `base` and more than CLOCK_SLOP
 * older than every commit found in the range, so it reads about the size of the range, not
 * the whole history (a push of ten commits to a 3,000-commit branch read all 3,000, one at
 * a time, in apply). Like git without generation numbers, a committer clock that ran more
 * than CLOCK_SLOP behind its parents' can leave a base commit in the list. Deterministic:
 * ties are broken by id, so every validator takes the same steps.
 */
/** Seconds a committer clock may run behind its parents' without misleading commitsBetween. */
export const CLOCK_SLOP = 3600

export const commitsBetween = (objects: ObjectStoreShape, base: ObjectId, head: ObjectId) =>
  Effect.gen(function* () {
    const HEAD = 1
    const BASE = 2
    const parentsOf = new Map<ObjectId, ObjectId[]>()
    const time = new Map<ObjectId, number>()
    const flags = new Map<ObjectId, number>()
    const load = (id: ObjectId) =>
      Effect.gen(function* () {
        if (parentsOf.has(id)) return
        const [o] = yield* objects.getMany([id])
        const links = o && o.type === "commit" ? commitLinks(o.content) : undefined
        if (!links || links instanceof ObjectParseError) {
          parentsOf.set(id, [])
          time.set(id, Number.NEGATIVE_INFINITY)
          return
        }
        parentsOf.set(id, links.parents)
        time.set(id, links.time)
      })
    // Queued commits, newest last (popped first); ties by id.
    const queue: ObjectId[] = []
    const later = (a: ObjectId, b: ObjectId) =>
      time.get(a)! - time.get(b)! || (a < b ? -1 : a > b ? 1 : 0)
    const enqueue = (id: ObjectId) => {
      let lo = 0
      let hi = queue.length
      while (lo < hi) {
        const mid = (lo + hi) >> 1
        if (later(queue[mid]!, id) < 0) lo = mid + 1
        else hi = mid
      }
      queue.splice(lo, 0, id)
    }
    const paint = (id: ObjectId, flag: number) =>
      Effect.gen(function* () {
        const had = flags.get(id) ?? 0
        if ((had | flag) === had) return
        flags.set(id, had | flag)
        yield* load(id)
        if (!queue.includes(id)) enqueue(id)
      })
    yield* paint(head, HEAD)
    yield* paint(base, BASE)
    let oldestInRange = Number.POSITIVE_INFINITY
    let examined = 0
    const range = new Set<ObjectId>()
    while (queue.length > 0 && examined++ < 1_000_000) {
      const pureHead = queue.some((id) => flags.get(id) === HEAD)
      const newest = queue[queue.length - 1]!
      // Base-only commits newer than something in the range may still reach it.
      if (!pureHead && time.get(newest)! < oldestInRange - CLOCK_SLOP) break
      const id = queue.pop()!
      const f = flags.get(id)!
      if (f === HEAD) {
        if (range.size >= 100_000) break
        range.add(id)
        oldestInRange = Math.min(oldestInRange, time.get(id)!)
      } else range.delete(id)
      for (const p of parentsOf.get(id)!) yield* paint(p, f)
    }
    // A commit painted from base after it entered the range is not in it.
    for (const id of range) if (flags.get(id) !== HEAD) range.delete(id)
    // Order parents before children (a topological order, deterministic).
    const order: ObjectId[] = []
    const placed = new Set<ObjectId>()
    const visit = (id: ObjectId) => {
      const stack: Array<[ObjectId, boolean]> = [[id, false]]
      while (stack.length > 0) {
        const [c, done] = stack.pop()!
        if (done) {
          if (!placed.has(c)) {
            placed.add(c)
            order.push(c)
          }
          continue
        }
        if (placed.has(c) || !range.has(c)) continue
        stack.push([c, true])
        for (const p of [...(parentsOf.get(c) ?? [])].reverse())
          if (range.has(p)) stack.push([p, false])
      }
    }
    visit(head)
    return order
  })

export const makePullHandlers = (deps: {
  meta: MetadataShape
  access: Access["Type"]
  kit: Kit
  objects: ObjectStoreShape
  refs: () => RefStoreShape
}) => {
  const { meta, access, kit, objects } = deps
  const { reject, done, needLevel } = kit
  const load = storeLoader(objects)
  const invalid = (field: string, reason: string) => reject(reason, { code: "invalid", field })

  const event = (issue: IssueRow, actor: UserRow, block: Block, name: string, data: object = {}) =>
    meta.insertEvent({
      issue_id: issue.id,
      actor_id: actor.id,
      actor_login: actor.login,
      event: name,
      data: JSON.stringify(data),
      created_at: block.timestamp,
    })

  const needPull = (repo: RepoRow, number: number) =>
    Effect.gen(function* () {
      const pull = yield* meta.pullByNumber(repo.id, number)
      const issue = pull ? yield* meta.issueById(pull.issue_id) : undefined
      if (!pull || !issue)
        return yield* reject(`pull request ${number} does not exist`, { code: "not_found" })
      return { pull, issue }
    })

  const branchTip = (repo: RepoRow, branch: string) =>
    deps.refs().get(repoKey(repo), `refs/heads/${branch}`)

  /** `branch` or `owner:branch` → the head repository (this one or a fork of it) and branch. */
  const resolveHead = (repo: RepoRow, head: string) =>
    Effect.gen(function* () {
      const colon = head.indexOf(":")
      if (colon < 0) return { headRepo: repo, branch: head }
      const owner = head.slice(0, colon)
      const branch = head.slice(colon + 1)
      if (owner.toLowerCase() === repo.owner_login.toLowerCase()) return { headRepo: repo, branch }
      const fork = yield* meta.repo(owner, repo.name)
      const forks = fork && fork.fork_of === repo.id ? fork : undefined
      if (!forks) {
        // A fork may have another name: any repository of `owner` forked from this one.
        const all = yield* meta.reposOf(owner)
        const other = all.find((r) => r.fork_of === repo.id)
        if (!other) return yield* invalid("head", `${owner} has no fork of ${repoKey(repo)}`)
        return { headRepo: other, branch }
      }
      return { headRepo: forks, branch }
    })

  const signature = (actor: UserRow, block: Block): Signature => ({
    name: actor.name ?? actor.login,
    email: actor.email ?? `${actor.login}@users.noreply.guts`,
    timestamp: Math.floor(block.timestamp / 1000),
    timezone: "+0000",
  })

  const store = (created: ReadonlyArray<NewObject>) =>
    Effect.forEach(created, (o) => objects.put(o.type, o.content), { discard: true })

  const writeCommit = (c: Commit) => objects.put("commit", serializeCommit(c))

  /** The test merge `refs/pull/N/merge`, when head and base merge cleanly. */
  const testMerge = (
    baseSha: ObjectId,
    headSha: ObjectId,
    pull: { number: number },
    block: Block,
  ) =>
    Effect.gen(function* () {
      const merged = yield* mergeCommitsOf(baseSha, headSha)
      if (!merged || !merged.clean) return undefined
      yield* store(merged.objects)
      return yield* writeCommit({
        tree: merged.tree,
        parents: [baseSha, headSha],
        author: {
          name: "Guts",
          email: "noreply@guts",
          timestamp: Math.floor(block.timestamp / 1000),
          timezone: "+0000",
        },
        committer: {
          name: "Guts",
          email: "noreply@guts",
          timestamp: Math.floor(block.timestamp / 1000),
          timezone: "+0000",
        },
        headers: [],
        message: `Merge ${headSha} into ${baseSha}\n\nTest merge of pull request #${pull.number}.\n`,
      })
    })

  /** Merges head into base (trees); undefined when they share no history. */
  const mergeCommitsOf = (baseSha: ObjectId, headSha: ObjectId) =>
    Effect.gen(function* () {
      const bases = yield* mergeBases(load, baseSha, headSha)
      if (bases.length === 0) return undefined
      const [b, o, t] = yield* Effect.all([
        readCommitOf(bases[0]!),
        readCommitOf(baseSha),
        readCommitOf(headSha),
      ])
      const merged = yield* mergeTrees(load, b.tree, o.tree, t.tree, {
        labels: { ours: "base", theirs: "head" },
      })
      return { ...merged, mergeBase: bases[0]! }
    }).pipe(
      Effect.catchTags({
        MissingObject: (e) =>
          reject(`object ${e.id} is missing; the head was not pushed completely`),
        WrongObjectType: (e) => reject(`object ${e.id} is not a ${e.expected}`),
        MalformedObject: (e) => reject(`object ${e.id} is malformed: ${e.reason}`),
      }),
    )

  const readCommitOf = (id: ObjectId) =>
    Effect.gen(function* () {
      const [o] = yield* objects.getMany([id])
      if (!o || o.type !== "commit") return yield* reject(`commit ${id} is missing`)
      const c = parseCommit(o.content)
      if (c instanceof ObjectParseError) return yield* reject(`commit ${id} is malformed`)
      return c
    })

  const setPullRefs = (
    repo: RepoRow,
    number: number,
    head: ObjectId,
    merge: ObjectId | undefined,
  ) =>
    Effect.gen(function* () {
      const refs = deps.refs()
      yield* refs.update(repoKey(repo), [{ name: `refs/pull/${number}/head`, next: head }])
      yield* refs
        .update(repoKey(repo), [{ name: `refs/pull/${number}/merge`, next: merge ?? ZERO_ID }])
        .pipe(Effect.catchTag("RefConflict", () => Effect.void))
    }).pipe(Effect.catchTag("RefConflict", () => Effect.void))

  const createPull = (tx: T.CreatePull, block: Block, actor: UserRow) =>
    Effect.gen(function* () {
      const repo = yield* needLevel(tx.owner, tx.repo, actor, "read")
      if (tx.title.trim() === "" || tx.title.length > MAX_TITLE)
        return yield* invalid("title", "title must be 1-1024 characters")
      if (tx.body && tx.body.length > MAX_BODY)
        return yield* invalid("body", `body is longer than ${MAX_BODY} characters`)
      const { headRepo, branch } = yield* resolveHead(repo, tx.head)
      if (refNameProblem(`refs/heads/${branch}`))
        return yield* invalid("head", `invalid branch ${branch}`)
      if (!atLeast(yield* access.levelOf(headRepo, actor), "read"))
        return yield* invalid("head", `${tx.head} does not exist`)
      const headSha = yield* branchTip(headRepo, branch)
      if (!headSha) return yield* invalid("head", `branch ${tx.head} does not exist`)
      const baseSha = yield* branchTip(repo, tx.base)
      if (!baseSha) return yield* invalid("base", `branch ${tx.base} does not exist`)
      if (headRepo.id === repo.id && branch === tx.base)
        return yield* invalid("head", "head and base are the same branch")
      for (const open of yield* meta.pullsWithHead(headRepo.id, branch)) {
        if (open.repo_id === repo.id && open.base_ref === tx.base)
          return yield* reject(
            `A pull request already exists for ${headRepo.owner_login}:${branch}.`,
            {
              code: "invalid",
              field: "head",
            },
          )
      }
      const ahead = yield* commitsBetween(objects, baseSha, headSha)
      if (ahead.length === 0)
        return yield* invalid("head", `No commits between ${tx.base} and ${tx.head}`)
      const number = (yield* meta.maxIssueNumber(repo.id)) + 1
      const issueId = yield* meta.insertIssue({
        repo_id: repo.id,
        number,
        title: tx.title,
        body: tx.body ?? null,
        state: "open",
        state_reason: null,
        locked: 0,
        lock_reason: null,
        user_id: actor.id,
        user_login: actor.login,
        milestone_id: null,
        is_pull: 1,
        created_at: block.timestamp,
        updated_at: block.timestamp,
        closed_at: null,
        closed_by_id: null,
        closed_by_login: null,
      })
      yield* meta.insertPull({
        issue_id: issueId,
        repo_id: repo.id,
        number,
        head_repo_id: headRepo.id,
        head_ref: branch,
        head_sha: headSha,
        base_ref: tx.base,
        base_sha: baseSha,
        draft: tx.draft ? 1 : 0,
        merged: 0,
        merged_at: null,
        merged_by_id: null,
        merged_by_login: null,
        merge_commit_sha: null,
      })
      yield* setPullRefs(
        repo,
        number,
        headSha,
        yield* testMerge(baseSha, headSha, { number }, block),
      )
      return done({ number })
    })

  const updatePull = (tx: T.UpdatePull, block: Block, actor: UserRow) =>
    Effect.gen(function* () {
      const repo = yield* needLevel(tx.owner, tx.repo, actor, "read")
      const { pull, issue } = yield* needPull(repo, tx.number)
      if (issue.user_id !== actor.id && !atLeast(yield* access.levelOf(repo, actor), "write"))
        return yield* reject(
          "only the author or collaborators with write can change this pull request",
          {
            code: "forbidden",
          },
        )
      if (pull.merged === 1) return yield* invalid("base", "the pull request is already merged")
      const fields: { -readonly [K in keyof PullRow]?: PullRow[K] } = {}
      if (tx.base !== undefined && tx.base !== pull.base_ref) {
        const baseSha = yield* branchTip(repo, tx.base)
        if (!baseSha) return yield* invalid("base", `branch ${tx.base} does not exist`)
        Object.assign(fields, { base_ref: tx.base, base_sha: baseSha })
        yield* event(issue, actor, block, "base_ref_changed", { from: pull.base_ref, to: tx.base })
      }
      if (tx.draft !== undefined && (tx.draft ? 1 : 0) !== pull.draft) {
        fields.draft = tx.draft ? 1 : 0
        yield* event(issue, actor, block, tx.draft ? "convert_to_draft" : "ready_for_review")
      }
      yield* meta.updatePull(pull.issue_id, fields)
      yield* meta.updateIssue(issue.id, { updated_at: block.timestamp })
      return done({ number: pull.number })
    })

  /** The approvals that count: each writer's latest review, not dismissed, not by the author. */
  const approvals = (
    pull: PullRow,
    issue: IssueRow,
    repo: RepoRow,
    rule: ProtectionRule | undefined,
  ) =>
    Effect.gen(function* () {
      const latest = new Map<number, { state: string; commit: string; login: string }>()
      for (const r of yield* meta.reviews(pull.issue_id)) {
        if (r.state === "PENDING" || r.state === "COMMENTED") continue
        latest.set(r.user_id, { state: r.state, commit: r.commit_id, login: r.user_login })
      }
      let approved = 0
      let changesRequested = false
      for (const [userId, r] of latest) {
        if (userId === issue.user_id) continue
        const user = yield* meta.userById(userId)
        if (!user || !atLeast(yield* access.levelOf(repo, user), "write")) continue
        if (rule?.requiredReviews?.dismissStaleReviews && r.commit !== pull.head_sha) continue
        if (r.state === "APPROVED") approved++
        if (r.state === "CHANGES_REQUESTED") changesRequested = true
      }
      return { approved, changesRequested }
    })

  /**
   * Changed paths whose code owners (CODEOWNERS of the base) have not approved: an owner is
   * a user who approved (latest review, on the current head when stale reviews are
   * dismissed), or an approving member of an owning team.
   */
  const codeOwnersWaiting = (
    repo: RepoRow,
    pull: PullRow,
    issue: IssueRow,
    baseSha: ObjectId,
    headSha: ObjectId,
  ) =>
    Effect.gen(function* () {
      const baseCommit = yield* readCommitOf(baseSha)
      let text: string | undefined
      for (const path of CODEOWNERS_PATHS) {
        const found = yield* fileAt(baseCommit.tree, path)
        if (found !== undefined) {
          text = found
          break
        }
      }
      if (text === undefined) return []
      const rules = parseCodeOwners(text)
      const bases = yield* mergeBases(load, baseSha, headSha).pipe(
        Effect.catchAll(() => Effect.succeed([] as ObjectId[])),
      )
      const files = yield* diffCommits(load, bases[0] ?? baseSha, headSha).pipe(
        Effect.catchAll(() => Effect.succeed([])),
      )
      const latest = new Map<number, string>()
      // A code owner's approval counts on the current head only.
      for (const r of yield* meta.reviews(pull.issue_id))
        if (r.state !== "PENDING" && r.state !== "COMMENTED")
          latest.set(r.user_id, r.commit_id === headSha ? r.state : "STALE")
      const approvers: UserRow[] = []
      for (const [id, state] of latest)
        if (state === "APPROVED" && id !== issue.user_id) {
          const u = yield* meta.userById(id)
          if (u) approvers.push(u)
        }
      const org = yield* kit.orgOfRepo(repo)
      const waiting: Array<{ path: string; owners: string[] }> = []
      for (const f of files) {
        const owners = ownersOf(rules, f.filename)
        if (owners.length === 0) continue
        let approved = false
        for (const a of approvers) {
          for (const o of owners) {
            if (o.toLowerCase() === a.login.toLowerCase()) approved = true
            else if (
              o.includes("/") &&
              org &&
              o.split("/")[0]!.toLowerCase() === org.login.toLowerCase()
            )
              if (yield* access.inTeams(org.id, a, [o.split("/")[1]!])) approved = true
          }
        }
        if (!approved) waiting.push({ path: f.filename, owners })
      }
      return waiting
    })

  /** A text file at `path` of a tree, or undefined. */
  const fileAt = (tree: ObjectId, path: string) =>
    Effect.gen(function* () {
      let current = tree
      const parts = path.split("/")
      for (const [i, part] of parts.entries()) {
        const [o] = yield* objects.getMany([current])
        if (!o || o.type !== "tree") return undefined
        const entries = parseTree(o.content)
        if (entries instanceof ObjectParseError) return undefined
        const e = entries.find((x) => textString(x.name) === part)
        if (!e) return undefined
        if (i === parts.length - 1) {
          const [blob] = yield* objects.getMany([e.id])
          return blob?.type === "blob" ? Buffer.from(blob.content).toString("utf8") : undefined
        }
        current = e.id
      }
      return undefined
    })

  const mergePull = (tx: T.MergePull, block: Block, actor: UserRow) =>
    Effect.gen(function* () {
      const repo = yield* needLevel(tx.owner, tx.repo, actor, "write")
      const { pull, issue } = yield* needPull(repo, tx.number)
      const notMergeable = (reason: string) => reject(reason, { code: "not_mergeable" })
      if (pull.merged === 1) return yield* notMergeable("Pull Request is already merged")
      if (issue.state !== "open") return yield* notMergeable("Pull Request is closed")
      if (pull.draft === 1) return yield* notMergeable("Pull Request is still a draft")
      const headRepo = (yield* meta.repoById(pull.head_repo_id)) ?? repo
      const headSha = (yield* branchTip(headRepo, pull.head_ref)) ?? (pull.head_sha as ObjectId)
      if (tx.sha !== undefined && tx.sha !== headSha)
        return yield* reject("Head branch was modified. Review and try the merge again.", {
          code: "conflict",
        })
      const baseSha = yield* branchTip(repo, pull.base_ref)
      if (!baseSha) return yield* notMergeable(`base branch ${pull.base_ref} no longer exists`)
      // Branch protection of the base branch.
      const ruleText = yield* meta.protection(repo.id, pull.base_ref)
      const rule = ruleText === undefined ? undefined : (JSON.parse(ruleText) as ProtectionRule)
      const admin = atLeast(yield* access.levelOf(repo, actor), "admin")
      const bypass = admin && !(rule?.enforceAdmins ?? false)
      if (rule && !bypass) {
        if (rule.requiredReviews) {
          const { approved, changesRequested } = yield* approvals(pull, issue, repo, rule)
          if (changesRequested)
            return yield* notMergeable("Changes were requested; the pull request cannot be merged")
          const need = rule.requiredReviews.requiredApprovingReviewCount
          if (approved < need)
            return yield* notMergeable(
              `At least ${need} approving review${need > 1 ? "s are" : " is"} required by reviewers with write access (${approved} so far)`,
            )
        }
        if (rule.requiredReviews?.requireCodeOwnerReviews) {
          const waiting = yield* codeOwnersWaiting(repo, pull, issue, baseSha, headSha)
          if (waiting.length > 0)
            return yield* notMergeable(
              `Waiting on code owner review from ${waiting.map((w) => `@${w.owners.join(" or @")} (${w.path})`).join(", ")}`,
            )
        }
        if (rule.requiredStatusChecks) {
          const passing = passingChecks(
            yield* meta.statusesOf(repo.id, headSha),
            yield* meta.checkRunsOf(repo.id, headSha),
          )
          const missing = rule.requiredStatusChecks.contexts.filter((c) => !passing.has(c))
          if (missing.length > 0)
            return yield* notMergeable(
              `Required status check${missing.length > 1 ? "s" : ""} ${missing.map((c) => `"${c}"`).join(", ")} expected`,
            )
        }
        if (rule.requiredSignatures)
          return yield* notMergeable(
            "The base branch requires signed pushes; merge locally and push signed",
          )
      }
      if (rule?.restrictions && !admin) {
        const org = yield* kit.orgOfRepo(repo)
        const allowed =
          rule.restrictions.users.some((u) => u.toLowerCase() === actor.login.toLowerCase()) ||
          (org !== undefined && (yield* access.inTeams(org.id, actor, rule.restrictions.teams)))
        if (!allowed) return yield* notMergeable("You are not allowed to push to the base branch")
      }
      if (rule?.requiredLinearHistory && tx.method === "merge")
        return yield* notMergeable("The base branch requires a linear history: squash or rebase")

      const merged = yield* mergeCommitsOf(baseSha, headSha)
      if (!merged) return yield* notMergeable("The branches share no history")
      if (!merged.clean)
        return yield* reject(
          `Merge conflict in ${merged.conflicts.map((c) => c.path).join(", ")}`,
          { code: "not_mergeable", conflicts: merged.conflicts.map((c) => c.path) },
        )
      const me = signature(actor, block)
      const title = tx.commitTitle ?? issue.title
      let result: ObjectId
      if (tx.method === "merge") {
        yield* store(merged.objects)
        result = yield* writeCommit({
          tree: merged.tree,
          parents: [baseSha, headSha],
          author: me,
          committer: me,
          headers: [],
          message: `${tx.commitTitle ?? `Merge pull request #${pull.number} from ${headRepo.owner_login}/${pull.head_ref}`}\n\n${tx.commitMessage ?? title}\n`,
        })
      } else if (tx.method === "squash") {
        yield* store(merged.objects)
        const range = yield* commitsBetween(objects, baseSha, headSha)
        const lines: string[] = []
        for (const id of range) {
          const c = yield* readCommitOf(id)
          if (c.parents.length < 2) lines.push(`* ${textString(c.message).trim()}`)
        }
        const headCommit = yield* readCommitOf(headSha)
        result = yield* writeCommit({
          tree: merged.tree,
          parents: [baseSha],
          author: headCommit.author,
          committer: me,
          headers: [],
          message: `${tx.commitTitle ?? `${title} (#${pull.number})`}\n\n${tx.commitMessage ?? lines.join("\n\n")}\n`,
        })
      } else {
        // Rebase: replay each commit of the head onto the base, keeping authors.
        const range = yield* commitsBetween(objects, baseSha, headSha)
        let tip = baseSha
        let tipTree = (yield* readCommitOf(baseSha)).tree
        for (const id of range) {
          const c = yield* readCommitOf(id)
          if (c.parents.length > 1)
            return yield* notMergeable(
              "The head branch contains merge commits; it cannot be rebased",
            )
          const parentTree = c.parents[0] ? (yield* readCommitOf(c.parents[0])).tree : undefined
          const step = yield* mergeTrees(load, parentTree, tipTree, c.tree).pipe(
            Effect.catchTags({
              MissingObject: (e) => reject(`object ${e.id} is missing`),
              WrongObjectType: (e) => reject(`object ${e.id} is not a ${e.expected}`),
              MalformedObject: (e) => reject(`object ${e.id} is malformed`),
            }),
          )
          if (!step.clean)
            return yield* reject(
              `Rebase conflict in ${step.conflicts.map((x) => x.path).join(", ")}`,
              { code: "not_mergeable", conflicts: step.conflicts.map((x) => x.path) },
            )
          yield* store(step.objects)
          tip = yield* writeCommit({
            tree: step.tree,
            parents: [tip],
            author: c.author,
            committer: me,
            headers: [],
            message: c.message,
          })
          tipTree = step.tree
        }
        result = tip
      }
      const moved = yield* Effect.either(
        deps
          .refs()
          .update(repoKey(repo), [
            { name: `refs/heads/${pull.base_ref}`, expected: baseSha, next: result },
          ]),
      )
      if (moved._tag === "Left") {
        if (moved.left._tag === "RefConflict")
          return yield* reject("Base branch was modified. Try the merge again.", {
            code: "conflict",
          })
        return yield* Effect.fail(moved.left)
      }
      yield* meta.updatePull(pull.issue_id, {
        merged: 1,
        merged_at: block.timestamp,
        merged_by_id: actor.id,
        merged_by_login: actor.login,
        merge_commit_sha: result,
        head_sha: headSha,
        base_sha: baseSha,
      })
      yield* meta.updateIssue(issue.id, {
        state: "closed",
        state_reason: "completed",
        closed_at: block.timestamp,
        closed_by_id: actor.id,
        closed_by_login: actor.login,
        updated_at: block.timestamp,
      })
      yield* meta.touchRepoPushed(repo.id, block.timestamp)
      yield* event(issue, actor, block, "merged", { commit_id: result })
      yield* event(issue, actor, block, "closed", { commit_id: result })
      return done({ sha: result, merged: true })
    })

  /**
   * Commits a push adds that mention `#N` leave a `referenced` event on issue N (at most
   * once per commit and issue). A new branch counts the commits not on the default branch.
   */
  const referenceIssues = (
    repo: RepoRow,
    old: string,
    next: string,
    actor: UserRow,
    block: Block,
  ) =>
    Effect.gen(function* () {
      if (next === ZERO_ID) return
      const base = old !== ZERO_ID ? (old as ObjectId) : yield* branchTip(repo, repo.default_branch)
      if (!base || base === next) return
      const added = yield* commitsBetween(objects, base, next as ObjectId)
      for (const id of added.slice(-250)) {
        const [o] = yield* objects.getMany([id])
        const c = o ? parseCommit(o.content) : undefined
        if (!c || c instanceof ObjectParseError) continue
        const numbers = new Set(
          [...textString(c.message).matchAll(/(?:^|[^\w/])#(\d{1,9})\b/g)].map((m) => Number(m[1])),
        )
        for (const n of numbers) {
          const issue = yield* meta.issueByNumber(repo.id, n)
          if (!issue) continue
          const seen = (yield* meta.events(issue.id)).some(
            (e) => e.event === "referenced" && JSON.parse(e.data).commit_id === id,
          )
          if (!seen) yield* event(issue, actor, block, "referenced", { commit_id: id })
        }
      }
    })

  /** After a push: pull requests whose head branch moved follow it; mentioned issues are referenced. */
  const followPush = (
    repo: RepoRow,
    ref: string,
    next: string,
    actor: UserRow,
    block: Block,
    old: string = ZERO_ID,
  ) =>
    Effect.gen(function* () {
      if (!ref.startsWith("refs/heads/")) return
      yield* referenceIssues(repo, old, next, actor, block)
      const branch = ref.slice(11)
      for (const pull of yield* meta.pullsWithHead(repo.id, branch, next === ZERO_ID)) {
        const issue = (yield* meta.issueById(pull.issue_id))!
        const base = (yield* meta.repoById(pull.repo_id))!
        if (next === ZERO_ID) {
          yield* event(issue, actor, block, "head_ref_deleted", { ref: branch })
          continue
        }
        if (issue.state !== "open") continue
        yield* meta.updatePull(pull.issue_id, { head_sha: next })
        yield* meta.updateIssue(issue.id, { updated_at: block.timestamp })
        yield* event(issue, actor, block, "committed", { commit_id: next })
        const baseSha = yield* branchTip(base, pull.base_ref)
        const merge = baseSha
          ? yield* testMerge(baseSha, next as ObjectId, pull, block).pipe(
              Effect.catchAll(() => Effect.succeed(undefined)),
            )
          : undefined
        yield* setPullRefs(base, pull.number, next as ObjectId, merge)
      }
    })

  const createReview = (tx: T.CreateReview, block: Block, actor: UserRow) =>
    Effect.gen(function* () {
      const repo = yield* needLevel(tx.owner, tx.repo, actor, "read")
      const { pull, issue } = yield* needPull(repo, tx.number)
      if (tx.event && tx.event !== "COMMENT" && issue.user_id === actor.id)
        return yield* invalid(
          "event",
          tx.event === "APPROVE"
            ? "Can not approve your own pull request"
            : "Can not request changes on your own pull request",
        )
      if (tx.event === "REQUEST_CHANGES" || tx.event === "COMMENT")
        if (!tx.body?.trim() && !(tx.comments && tx.comments.length > 0))
          return yield* invalid(
            "body",
            `a ${tx.event === "COMMENT" ? "comment" : "change request"} needs a body`,
          )
      if (tx.body && tx.body.length > MAX_BODY)
        return yield* invalid("body", `body is longer than ${MAX_BODY} characters`)
      const commit = tx.commitId ?? pull.head_sha
      if (!isObjectId(commit)) return yield* invalid("commit_id", "commit_id is not a commit id")
      const state =
        tx.event === "APPROVE"
          ? "APPROVED"
          : tx.event === "REQUEST_CHANGES"
            ? "CHANGES_REQUESTED"
            : tx.event === "COMMENT"
              ? "COMMENTED"
              : "PENDING"
      const id = yield* meta.insertReview({
        issue_id: pull.issue_id,
        user_id: actor.id,
        user_login: actor.login,
        state,
        body: tx.body ?? null,
        commit_id: commit,
        submitted_at: state === "PENDING" ? null : block.timestamp,
      })
      for (const c of tx.comments ?? [])
        yield* reviewComment(repo, pull, actor, block, {
          body: c.body,
          path: c.path,
          line: c.line,
          side: c.side ?? "RIGHT",
          commitId: commit,
          reviewId: id,
        })
      if (state !== "PENDING") {
        yield* event(issue, actor, block, "reviewed", { state: state.toLowerCase() })
        yield* meta.setReviewRequest(pull.issue_id, { id: actor.id, login: actor.login }, false)
      }
      return done({ id })
    })

  const submitReview = (tx: T.SubmitReview, block: Block, actor: UserRow) =>
    Effect.gen(function* () {
      const repo = yield* needLevel(tx.owner, tx.repo, actor, "read")
      const { pull, issue } = yield* needPull(repo, tx.number)
      const review = yield* meta.reviewById(tx.reviewId)
      if (!review || review.issue_id !== pull.issue_id)
        return yield* reject(`review ${tx.reviewId} does not exist`, { code: "not_found" })
      if (tx.event === "DISMISS") {
        if (!atLeast(yield* access.levelOf(repo, actor), "write"))
          return yield* reject("dismissing a review needs write access", { code: "forbidden" })
        if (review.state !== "APPROVED" && review.state !== "CHANGES_REQUESTED")
          return yield* invalid(
            "event",
            `a ${review.state.toLowerCase()} review cannot be dismissed`,
          )
        yield* meta.updateReview(review.id, { state: "DISMISSED" })
        yield* event(issue, actor, block, "review_dismissed", {
          review_id: review.id,
          message: tx.body ?? null,
        })
        return done({ id: review.id })
      }
      if (review.user_id !== actor.id)
        return yield* reject(`review ${tx.reviewId} does not exist`, { code: "not_found" })
      if (review.state !== "PENDING")
        return yield* invalid("event", "the review was already submitted")
      if (tx.event !== "COMMENT" && issue.user_id === actor.id)
        return yield* invalid("event", "Can not approve your own pull request")
      const state =
        tx.event === "APPROVE"
          ? "APPROVED"
          : tx.event === "REQUEST_CHANGES"
            ? "CHANGES_REQUESTED"
            : "COMMENTED"
      yield* meta.updateReview(review.id, {
        state,
        body: tx.body ?? review.body,
        submitted_at: block.timestamp,
      })
      yield* event(issue, actor, block, "reviewed", { state: state.toLowerCase() })
      return done({ id: review.id })
    })

  /** Checks that `path` and `line` are in the pull request's diff, then records the comment. */
  const reviewComment = (
    repo: RepoRow,
    pull: PullRow,
    actor: UserRow,
    block: Block,
    c: {
      body: string
      path: string
      line: number
      side: "LEFT" | "RIGHT"
      commitId: string
      reviewId: number | null
      inReplyTo?: number | undefined
    },
  ) =>
    Effect.gen(function* () {
      if (c.body.trim() === "") return yield* invalid("body", "body cannot be blank")
      if (c.body.length > MAX_BODY)
        return yield* invalid("body", `body is longer than ${MAX_BODY} characters`)
      const baseSha = (yield* branchTip(repo, pull.base_ref)) ?? (pull.base_sha as ObjectId)
      const bases = yield* mergeBases(load, baseSha, pull.head_sha as ObjectId).pipe(
        Effect.catchAll(() => Effect.succeed([] as ObjectId[])),
      )
      const files = bases[0]
        ? yield* diffCommits(load, bases[0], pull.head_sha as ObjectId).pipe(
            Effect.catchAll(() => Effect.succeed([])),
          )
        : []
      const file = files.find((f) => f.filename === c.path)
      if (!file) return yield* invalid("path", `${c.path} is not part of the diff`)
      if (!lineInDiff(file.patch ?? "", c.line, c.side))
        return yield* invalid(
          "line",
          `line ${c.line} (${c.side}) of ${c.path} is not part of the diff`,
        )
      return yield* meta.insertReviewComment({
        issue_id: pull.issue_id,
        review_id: c.reviewId,
        user_id: actor.id,
        user_login: actor.login,
        path: c.path,
        line: c.line,
        side: c.side,
        commit_id: c.commitId,
        body: c.body,
        in_reply_to: c.inReplyTo ?? null,
        created_at: block.timestamp,
        updated_at: block.timestamp,
      })
    })

  const createReviewComment = (tx: T.CreateReviewComment, block: Block, actor: UserRow) =>
    Effect.gen(function* () {
      const repo = yield* needLevel(tx.owner, tx.repo, actor, "read")
      const { pull } = yield* needPull(repo, tx.number)
      if (tx.inReplyTo !== undefined) {
        const parent = yield* meta.reviewCommentById(tx.inReplyTo)
        if (!parent || parent.issue_id !== pull.issue_id)
          return yield* reject(`review comment ${tx.inReplyTo} does not exist`, {
            code: "not_found",
          })
        const root = parent.in_reply_to ?? parent.id
        if (tx.body.trim() === "") return yield* invalid("body", "body cannot be blank")
        const id = yield* meta.insertReviewComment({
          ...parent,
          review_id: null,
          user_id: actor.id,
          user_login: actor.login,
          body: tx.body,
          in_reply_to: root,
          created_at: block.timestamp,
          updated_at: block.timestamp,
        })
        return done({ id })
      }
      if (tx.path === undefined || tx.line === undefined)
        return yield* invalid(tx.path === undefined ? "path" : "line", "path and line are required")
      const id = yield* reviewComment(repo, pull, actor, block, {
        body: tx.body,
        path: tx.path,
        line: tx.line,
        side: tx.side ?? "RIGHT",
        commitId: tx.commitId ?? pull.head_sha,
        reviewId: null,
      })
      return done({ id })
    })

  const requestReviewers = (tx: T.RequestReviewers, block: Block, actor: UserRow) =>
    Effect.gen(function* () {
      const repo = yield* needLevel(tx.owner, tx.repo, actor, "triage")
      const { pull, issue } = yield* needPull(repo, tx.number)
      for (const login of tx.reviewers) {
        const u = yield* meta.userByLogin(login)
        if (!u || u.type !== "User") return yield* invalid("reviewers", `${login} is not a user`)
        if (u.id === issue.user_id)
          return yield* invalid("reviewers", "Review cannot be requested from pull request author.")
        if (!atLeast(yield* access.levelOf(repo, u), "read"))
          return yield* invalid("reviewers", `${login} is not a collaborator`)
        yield* meta.setReviewRequest(pull.issue_id, { id: u.id, login: u.login }, !tx.remove)
        yield* event(
          issue,
          actor,
          block,
          tx.remove ? "review_request_removed" : "review_requested",
          {
            requested_reviewer: u.login,
          },
        )
      }
      if (tx.teams && tx.teams.length > 0) {
        const org = yield* kit.orgOfRepo(repo)
        if (!org)
          return yield* invalid("team_reviewers", "only organisation repositories have teams")
        for (const slug of tx.teams) {
          const team = yield* meta.teamBySlug(org.id, slug)
          if (!team) return yield* invalid("team_reviewers", `no team ${slug} in ${org.login}`)
          yield* meta.setTeamReviewRequest(
            pull.issue_id,
            { id: team.id, slug: team.slug },
            !tx.remove,
          )
          yield* event(
            issue,
            actor,
            block,
            tx.remove ? "review_request_removed" : "review_requested",
            {
              requested_team: team.slug,
            },
          )
        }
      }
      return done({ number: pull.number })
    })

  const createFork = (tx: T.CreateFork, block: Block, actor: UserRow) =>
    Effect.gen(function* () {
      const source = yield* needLevel(tx.owner, tx.repo, actor, "read")
      let owner: UserRow = actor
      if (tx.organization !== undefined) {
        const org = yield* kit.needOrg(tx.organization)
        if (!(yield* access.orgRoleOf(org, actor)))
          return yield* reject(`you must be a member of ${org.login} to fork into it`, {
            code: "forbidden",
          })
        owner = org
      }
      const name = tx.name ?? source.name
      const problem = repoNameProblem(name)
      if (problem) return yield* invalid("name", problem)
      const existing = yield* meta.repo(owner.login, name)
      if (existing) {
        if (existing.fork_of === source.id)
          return done({ id: existing.id, owner: owner.login, name })
        return yield* reject(`${owner.login} already has a repository named ${name}`, {
          code: "already_exists",
          field: "name",
        })
      }
      const id = yield* meta.insertRepo({
        owner_id: owner.id,
        owner_login: owner.login,
        name,
        description: source.description,
        private: source.private,
        visibility:
          source.visibility === "internal" && owner.type !== "Organization"
            ? "private"
            : source.visibility,
        default_branch: source.default_branch,
        created_at: block.timestamp,
        updated_at: block.timestamp,
        pushed_at: source.pushed_at,
        fork_of: source.id,
      })
      // Objects are shared (one content-addressed store); only refs are copied.
      const refs = deps.refs()
      const branches = (yield* refs.list(repoKey(source))).filter(
        (r) => r.name.startsWith("refs/heads/") || r.name.startsWith("refs/tags/"),
      )
      const target = `${owner.login}/${name}`
      if (branches.length > 0)
        yield* refs
          .update(
            target,
            branches.map((r) => ({ name: r.name, expected: ZERO_ID, next: r.id })),
          )
          .pipe(Effect.catchTag("RefConflict", () => reject(`refs already exist under ${target}`)))
      yield* refs.setHead(target, `refs/heads/${source.default_branch}`)
      return done(
        { id, owner: owner.login, name },
        {
          action: "repo.create",
          repo: (yield* meta.repoById(id))!,
          data: { fork_of: repoKey(source) },
        },
      )
    })

  return {
    createPull,
    updatePull,
    mergePull,
    createReview,
    submitReview,
    createReviewComment,
    requestReviewers,
    createFork,
    followPush,
  }
}

/** Whether `line` on `side` appears in a unified diff's hunks (as context or change). */
export const lineInDiff = (patch: string, line: number, side: "LEFT" | "RIGHT") => {
  let oldLine = 0
  let newLine = 0
  for (const text of patch.split("\n")) {
    const h = /^@@ -(\d+)(?:,\d+)? \+(\d+)(?:,\d+)? @@/.exec(text)
    if (h) {
      oldLine = Number(h[1])
      newLine = Number(h[2])
      continue
    }
    if (text.startsWith("\\")) continue
    if (text.startsWith("+")) {
      if (side === "RIGHT" && newLine === line) return true
      newLine++
    } else if (text.startsWith("-")) {
      if (side === "LEFT" && oldLine === line) return true
      oldLine++
    } else if (text.startsWith(" ")) {
      if ((side === "RIGHT" ? newLine : oldLine) === line) return true
      oldLine++
      newLine++
    }
  }
  return false
}
