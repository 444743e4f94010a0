/**
 * Pulls: the request side of pull requests, reviews and forks. Reads compute what GitHub
 * computes on the fly — mergeability from a real three-way merge of the current base and
 * head (with the conflicting paths), commits, changed files, diff and patch text — without
 * writing anything; writes submit transactions that Apply checks and performs.
 */
import { randomUUID } from "node:crypto"
import { Context, Effect, Layer } from "effect"
import type { ProtectionRule } from "../domain/BranchProtection.ts"
import { ObjectParseError, parseCommit } from "../domain/git/GitObject.ts"
import { type ObjectId, ZERO_ID } from "../domain/git/ObjectId.ts"
import { mergeBases, readCommit } from "../domain/git/MergeBase.ts"
import { mergeTrees } from "../domain/git/TreeMerge.ts"
import { diffCommits, formatPatch, gitDiff } from "../domain/git/UnifiedDiff.ts"
import { atLeast } from "../domain/Permissions.ts"
import { passingChecks } from "../domain/Statuses.ts"
import {
  CreateFork,
  CreatePull,
  CreateReview,
  CreateReviewComment,
  MergePull,
  RequestReviewers,
  SubmitReview,
  type Transaction,
  UpdateIssue,
  UpdatePull,
  UpdateRefs,
  type UserId,
} from "../domain/Transaction.ts"
import { commitsBetween, storeLoader } from "./apply/Pulls.ts"
import type { Principal } from "./Auth.ts"
import type { PullRow } from "./CollabTables.ts"
import { Forbidden, Invalid, NotFound } from "./Errors.ts"
import { Issues } from "./Issues.ts"
import { Ledger } from "./Ledger.ts"
import { submitTx } from "./Submit.ts"
import { Metadata, type RepoRow, repoKey } from "./Metadata.ts"
import { ObjectStore } from "./ObjectStore.ts"
import { RefStore } from "./RefStore.ts"
import { Repositories } from "./Repositories.ts"

export interface Mergeability {
  readonly mergeable: boolean | null
  readonly state: "clean" | "dirty" | "blocked" | "draft" | "unknown" | "unstable"
  readonly conflicts: ReadonlyArray<string>
}

const make = Effect.gen(function* () {
  const meta = yield* Metadata
  const ledger = yield* Ledger
  const repos = yield* Repositories
  const issues = yield* Issues
  const objects = yield* ObjectStore
  const refs = yield* RefStore
  const load = storeLoader(objects)

  const submit = <D>(tx: Transaction, resource: string, field?: string) =>
    submitTx<D>(ledger, tx, resource, field)
  const envelope = (principal: Principal, repo: RepoRow) => ({
    submitter: principal.user.id as UserId,
    idempotencyKey: randomUUID(),
    owner: repo.owner_login,
    repo: repo.name,
  })
  const readable = (owner: string, name: string, principal: Principal | undefined) =>
    Effect.map(repos.access(owner, name, principal, "read"), (f) => f.repo)

  const pullOf = (repo: RepoRow, number: number) =>
    Effect.flatMap(meta.pullByNumber(repo.id, number).pipe(Effect.orDie), (p) =>
      p ? Effect.succeed(p) : Effect.fail(new NotFound({ what: `pull request ${number}` })),
    )

  const tip = (repo: RepoRow, branch: string) =>
    refs.get(repoKey(repo), `refs/heads/${branch}`).pipe(Effect.orDie)

  /** Current base and head commits (the recorded ones once merged or when a branch is gone). */
  const ends = (repo: RepoRow, pull: PullRow) =>
    Effect.gen(function* () {
      const headRepo = (yield* meta.repoById(pull.head_repo_id).pipe(Effect.orDie)) ?? repo
      if (pull.merged === 1)
        return { headRepo, base: pull.base_sha as ObjectId, head: pull.head_sha as ObjectId }
      const base = (yield* tip(repo, pull.base_ref)) ?? (pull.base_sha as ObjectId)
      return { headRepo, base, head: pull.head_sha as ObjectId }
    })

  const mergeBaseOf = (base: ObjectId, head: ObjectId) =>
    Effect.map(
      mergeBases(load, base, head).pipe(Effect.orElseSucceed(() => [] as ObjectId[])),
      (bases) => bases[0],
    )

  const mergeability = (repo: RepoRow, pull: PullRow, open: boolean) =>
    Effect.gen(function* (): Effect.fn.Return<Mergeability> {
      if (pull.merged === 1 || !open) return { mergeable: null, state: "unknown", conflicts: [] }
      const { base, head } = yield* ends(repo, pull)
      const mb = yield* mergeBaseOf(base, head)
      if (!mb) return { mergeable: false, state: "dirty", conflicts: [] }
      const trees = yield* Effect.all([
        readCommit(load, mb),
        readCommit(load, base),
        readCommit(load, head),
      ]).pipe(Effect.option)
      if (trees._tag === "None") return { mergeable: null, state: "unknown", conflicts: [] }
      const [b, o, t] = trees.value
      const merged = yield* mergeTrees(load, b.tree, o.tree, t.tree).pipe(Effect.option)
      if (merged._tag === "None") return { mergeable: null, state: "unknown", conflicts: [] }
      if (!merged.value.clean)
        return {
          mergeable: false,
          state: "dirty",
          conflicts: merged.value.conflicts.map((c) => c.path),
        }
      if (pull.draft === 1) return { mergeable: true, state: "draft", conflicts: [] }
      const ruleText = yield* meta.protection(repo.id, pull.base_ref).pipe(Effect.orDie)
      if (ruleText !== undefined) {
        const rule = JSON.parse(ruleText) as ProtectionRule
        if (rule.requiredStatusChecks) {
          const passing = passingChecks(
            yield* meta.statusesOf(repo.id, head).pipe(Effect.orDie),
            yield* meta.checkRunsOf(repo.id, head).pipe(Effect.orDie),
          )
          if (rule.requiredStatusChecks.contexts.some((c) => !passing.has(c)))
            return { mergeable: true, state: "blocked", conflicts: [] }
        }
        if (rule.requiredReviews) {
          const approvals = yield* countApprovals(repo, pull, rule)
          if (approvals < rule.requiredReviews.requiredApprovingReviewCount)
            return { mergeable: true, state: "blocked", conflicts: [] }
        }
      }
      return { mergeable: true, state: "clean", conflicts: [] }
    })

  const countApprovals = (repo: RepoRow, pull: PullRow, rule: ProtectionRule) =>
    Effect.gen(function* () {
      const issue = yield* meta.issueById(pull.issue_id).pipe(Effect.orDie)
      const latest = new Map<number, { state: string; commit: string }>()
      for (const r of yield* meta.reviews(pull.issue_id).pipe(Effect.orDie))
        if (r.state !== "PENDING" && r.state !== "COMMENTED")
          latest.set(r.user_id, { state: r.state, commit: r.commit_id })
      let n = 0
      for (const [userId, r] of latest) {
        if (userId === issue?.user_id || r.state !== "APPROVED") continue
        if (rule.requiredReviews?.dismissStaleReviews && r.commit !== pull.head_sha) continue
        const user = yield* meta.userById(userId).pipe(Effect.orDie)
        if (user && atLeast(yield* repos.levelOf(repo, { user, scopes: [], tokenId: 0 }), "write"))
          n++
      }
      return n
    })

  const range = (repo: RepoRow, pull: PullRow) =>
    Effect.gen(function* () {
      const { base, head } = yield* ends(repo, pull)
      const mb = (yield* mergeBaseOf(base, head)) ?? base
      const ids = yield* commitsBetween(objects, mb, head).pipe(Effect.orDie)
      const commits = []
      for (const id of ids) {
        const [o] = yield* objects.getMany([id]).pipe(Effect.orDie)
        const c = o ? parseCommit(o.content) : undefined
        if (c && !(c instanceof ObjectParseError)) commits.push({ id, commit: c })
      }
      return { mergeBase: mb, base, head, commits }
    })

  const files = (repo: RepoRow, pull: PullRow) =>
    Effect.gen(function* () {
      const { base, head } = yield* ends(repo, pull)
      const mb = (yield* mergeBaseOf(base, head)) ?? base
      return yield* diffCommits(load, mb, head).pipe(Effect.orDie)
    })

  const details = (repo: RepoRow, pull: PullRow) =>
    Effect.gen(function* () {
      const issue = yield* issues.details(
        (yield* meta.issueById(pull.issue_id).pipe(Effect.orDie))!,
      )
      const { headRepo, base, head } = yield* ends(repo, pull)
      const merge = yield* mergeability(repo, pull, issue.issue.state === "open")
      const changed = yield* files(repo, pull)
      const commitCount = (yield* range(repo, pull)).commits.length
      const requested = yield* meta.reviewRequests(pull.issue_id).pipe(Effect.orDie)
      const requestedTeams = yield* meta.teamReviewRequests(pull.issue_id).pipe(Effect.orDie)
      const reviewComments = (yield* meta.reviewComments(pull.issue_id).pipe(Effect.orDie)).length
      return {
        repo,
        pull,
        ...issue,
        headRepo,
        baseSha: base,
        headSha: head,
        merge,
        commits: commitCount,
        additions: changed.reduce((n, f) => n + f.additions, 0),
        deletions: changed.reduce((n, f) => n + f.deletions, 0),
        changedFiles: changed.length,
        requested,
        requestedTeams,
        reviewComments,
      }
    })

  return {
    readable,
    details,
    list: (
      owner: string,
      name: string,
      principal: Principal | undefined,
      f: {
        state: "open" | "closed" | "all"
        sort: "created" | "updated"
        direction: "asc" | "desc"
        limit: number
        offset: number
        head?: string | undefined
        base?: string | undefined
      },
    ) =>
      Effect.gen(function* () {
        const repo = yield* readable(owner, name, principal)
        const page = yield* meta
          .issues({
            repoId: repo.id,
            pulls: true,
            state: f.state,
            sort: f.sort,
            direction: f.direction,
            limit: 10_000,
            offset: 0,
          })
          .pipe(Effect.orDie)
        const out = []
        for (const i of page.rows) {
          const pull = (yield* meta.pullByNumber(repo.id, i.number).pipe(Effect.orDie))!
          if (f.base && pull.base_ref !== f.base) continue
          if (f.head) {
            const [o, b] = f.head.includes(":") ? f.head.split(":") : [undefined, f.head]
            const headRepo = yield* meta.repoById(pull.head_repo_id).pipe(Effect.orDie)
            if (
              pull.head_ref !== b ||
              (o && headRepo?.owner_login.toLowerCase() !== o.toLowerCase())
            )
              continue
          }
          out.push(pull)
        }
        const rows = yield* Effect.forEach(out.slice(f.offset, f.offset + f.limit), (p) =>
          details(repo, p),
        )
        return { repo, rows, total: out.length }
      }),
    get: (owner: string, name: string, number: number, principal: Principal | undefined) =>
      Effect.gen(function* () {
        const repo = yield* readable(owner, name, principal)
        return yield* details(repo, yield* pullOf(repo, number))
      }),
    create: (
      owner: string,
      name: string,
      principal: Principal,
      fields: {
        title: string
        body?: string | null | undefined
        head: string
        base: string
        draft?: boolean | undefined
      },
    ) =>
      Effect.gen(function* () {
        const repo = yield* readable(owner, name, principal)
        const { number } = yield* submit<{ number: number }>(
          CreatePull.make({ ...envelope(principal, repo), ...fields }),
          "PullRequest",
          "head",
        )
        return yield* details(repo, yield* pullOf(repo, number))
      }),
    update: (
      owner: string,
      name: string,
      number: number,
      principal: Principal,
      fields: {
        title?: string | undefined
        body?: string | null | undefined
        state?: "open" | "closed" | undefined
        base?: string | undefined
        draft?: boolean | undefined
      },
    ) =>
      Effect.gen(function* () {
        const repo = yield* readable(owner, name, principal)
        const pull = yield* pullOf(repo, number)
        if (fields.state === "open" && pull.merged === 1)
          return yield* new Invalid({
            reason: "a merged pull request cannot be reopened",
            resource: "PullRequest",
            field: "state",
            code: "invalid",
          })
        if (fields.title !== undefined || fields.body !== undefined || fields.state !== undefined)
          yield* submit(
            UpdateIssue.make({
              ...envelope(principal, repo),
              number,
              title: fields.title,
              body: fields.body,
              state: fields.state,
            }),
            "PullRequest",
          )
        if (fields.base !== undefined || fields.draft !== undefined)
          yield* submit(
            UpdatePull.make({
              ...envelope(principal, repo),
              number,
              base: fields.base,
              draft: fields.draft,
            }),
            "PullRequest",
            "base",
          )
        return yield* details(repo, yield* pullOf(repo, number))
      }),
    merge: (
      owner: string,
      name: string,
      number: number,
      principal: Principal,
      fields: {
        method: "merge" | "squash" | "rebase"
        commitTitle?: string | undefined
        commitMessage?: string | undefined
        sha?: string | undefined
      },
    ) =>
      Effect.gen(function* () {
        const { repo } = yield* repos.access(owner, name, principal, "write")
        yield* pullOf(repo, number)
        return yield* submit<{ sha: string }>(
          MergePull.make({ ...envelope(principal, repo), number, ...fields }),
          "PullRequest",
          "merge_method",
        )
      }),
    commits: (owner: string, name: string, number: number, principal: Principal | undefined) =>
      Effect.gen(function* () {
        const repo = yield* readable(owner, name, principal)
        return { repo, ...(yield* range(repo, yield* pullOf(repo, number))) }
      }),
    files: (owner: string, name: string, number: number, principal: Principal | undefined) =>
      Effect.gen(function* () {
        const repo = yield* readable(owner, name, principal)
        return { repo, files: yield* files(repo, yield* pullOf(repo, number)) }
      }),
    diffText: (owner: string, name: string, number: number, principal: Principal | undefined) =>
      Effect.gen(function* () {
        const repo = yield* readable(owner, name, principal)
        return gitDiff(yield* files(repo, yield* pullOf(repo, number)))
      }),
    patchText: (owner: string, name: string, number: number, principal: Principal | undefined) =>
      Effect.gen(function* () {
        const repo = yield* readable(owner, name, principal)
        const r = yield* range(repo, yield* pullOf(repo, number))
        return yield* formatPatch(
          load,
          r.commits.filter((c) => c.commit.parents.length < 2).map((c) => c.id),
        ).pipe(Effect.orDie)
      }),
    reviews: (owner: string, name: string, number: number, principal: Principal | undefined) =>
      Effect.gen(function* () {
        const repo = yield* readable(owner, name, principal)
        const pull = yield* pullOf(repo, number)
        const rows = (yield* meta.reviews(pull.issue_id).pipe(Effect.orDie)).filter(
          (r) => r.state !== "PENDING" || r.user_id === principal?.user.id,
        )
        return { repo, pull, rows }
      }),
    review: (
      owner: string,
      name: string,
      number: number,
      principal: Principal,
      fields: Omit<
        CreateReview,
        "_tag" | "submitter" | "idempotencyKey" | "owner" | "repo" | "number"
      >,
    ) =>
      Effect.gen(function* () {
        const repo = yield* readable(owner, name, principal)
        const pull = yield* pullOf(repo, number)
        const { id } = yield* submit<{ id: number }>(
          CreateReview.make({ ...envelope(principal, repo), number, ...fields }),
          "PullRequestReview",
          "event",
        )
        return { repo, pull, review: (yield* meta.reviewById(id).pipe(Effect.orDie))! }
      }),
    submitReview: (
      owner: string,
      name: string,
      number: number,
      reviewId: number,
      principal: Principal,
      event: "APPROVE" | "REQUEST_CHANGES" | "COMMENT" | "DISMISS",
      body?: string | null,
    ) =>
      Effect.gen(function* () {
        const repo = yield* readable(owner, name, principal)
        const pull = yield* pullOf(repo, number)
        yield* submit(
          SubmitReview.make({ ...envelope(principal, repo), number, reviewId, event, body }),
          "PullRequestReview",
          "event",
        )
        return { repo, pull, review: (yield* meta.reviewById(reviewId).pipe(Effect.orDie))! }
      }),
    reviewComments: (
      owner: string,
      name: string,
      number: number,
      principal: Principal | undefined,
    ) =>
      Effect.gen(function* () {
        const repo = yield* readable(owner, name, principal)
        const pull = yield* pullOf(repo, number)
        const pending = new Set(
          (yield* meta.reviews(pull.issue_id).pipe(Effect.orDie))
            .filter((r) => r.state === "PENDING" && r.user_id !== principal?.user.id)
            .map((r) => r.id),
        )
        const rows = (yield* meta.reviewComments(pull.issue_id).pipe(Effect.orDie)).filter(
          (c) => c.review_id === null || !pending.has(c.review_id),
        )
        return { repo, pull, rows }
      }),
    comment: (
      owner: string,
      name: string,
      number: number,
      principal: Principal,
      fields: Omit<
        CreateReviewComment,
        "_tag" | "submitter" | "idempotencyKey" | "owner" | "repo" | "number"
      >,
    ) =>
      Effect.gen(function* () {
        const repo = yield* readable(owner, name, principal)
        const pull = yield* pullOf(repo, number)
        const { id } = yield* submit<{ id: number }>(
          CreateReviewComment.make({ ...envelope(principal, repo), number, ...fields }),
          "PullRequestReviewComment",
          "line",
        )
        return { repo, pull, comment: (yield* meta.reviewCommentById(id).pipe(Effect.orDie))! }
      }),
    requestReviewers: (
      owner: string,
      name: string,
      number: number,
      principal: Principal,
      reviewers: ReadonlyArray<string>,
      remove: boolean,
      teams: ReadonlyArray<string> = [],
    ) =>
      Effect.gen(function* () {
        const repo = yield* readable(owner, name, principal)
        yield* submit(
          RequestReviewers.make({
            ...envelope(principal, repo),
            number,
            reviewers: [...reviewers],
            teams: [...teams],
            remove,
          }),
          "PullRequest",
          "reviewers",
        )
        return yield* details(repo, yield* pullOf(repo, number))
      }),
    fork: (
      owner: string,
      name: string,
      principal: Principal,
      fields: { organization?: string | undefined; name?: string | undefined },
    ) =>
      Effect.gen(function* () {
        const repo = yield* readable(owner, name, principal)
        const made = yield* submit<{ owner: string; name: string }>(
          CreateFork.make({ ...envelope(principal, repo), ...fields }),
          "Repository",
          "name",
        )
        return (yield* meta.repo(made.owner, made.name).pipe(Effect.orDie))!
      }),
    forks: (owner: string, name: string, principal: Principal | undefined) =>
      Effect.gen(function* () {
        const repo = yield* readable(owner, name, principal)
        const all = yield* meta.allRepos.pipe(Effect.orDie)
        return all.filter((r) => r.fork_of === repo.id)
      }),
    /** Deletes a branch or tag (the git data API), like a push that deletes it. */
    deleteRef: (owner: string, name: string, ref: string, principal: Principal) =>
      Effect.gen(function* () {
        const { repo } = yield* repos.access(owner, name, principal, "write")
        const full = ref.startsWith("refs/") ? ref : `refs/${ref}`
        const current = yield* refs.get(repoKey(repo), full).pipe(Effect.orDie)
        if (!current)
          return yield* new Invalid({
            reason: "Reference does not exist",
            resource: "Reference",
            field: "ref",
            code: "invalid",
          })
        const detail = yield* submit<{ refs: Array<{ ok: boolean; reason?: string }> }>(
          UpdateRefs.make({
            ...envelope(principal, repo),
            atomic: true,
            changes: [{ name: full, old: current, new: ZERO_ID }],
          }),
          "Reference",
          "ref",
        )
        const r = detail.refs[0]
        if (r && !r.ok) return yield* new Forbidden({ reason: r.reason ?? "refused" })
      }),
  }
})

export class Pulls extends Context.Tag("guts/Pulls")<Pulls, Effect.Effect.Success<typeof make>>() {
  static readonly Live = Layer.effect(Pulls, make)
}
