/**
 * Issues: the request side of issues, comments, labels, milestones and reactions. Reads
 * check that the caller can read the repository (404 otherwise); writes submit a
 * transaction and return what Apply made of it. The rules themselves (who may edit, close,
 * label, comment on a locked issue) live in Apply, which every validator runs.
 */
import { randomUUID } from "node:crypto"
import { Context, Effect, Layer } from "effect"
import {
  CreateComment,
  CreateIssue,
  LockIssue,
  type REACTIONS,
  SetLabel,
  SetMilestone,
  SetReaction,
  type Transaction,
  UpdateComment,
  UpdateIssue,
  type UserId,
} from "../domain/Transaction.ts"
import type { Principal } from "./Auth.ts"
import type { IssueFilter, IssueRow } from "./CollabTables.ts"
import { NotFound } from "./Errors.ts"
import { Ledger } from "./Ledger.ts"
import { submitTx } from "./Submit.ts"
import { Metadata, type RepoRow } from "./Metadata.ts"
import { Repositories } from "./Repositories.ts"

export type Reaction = (typeof REACTIONS)[number]

type Fields<T> = Omit<T, "_tag" | "submitter" | "idempotencyKey" | "owner" | "repo">

const make = Effect.gen(function* () {
  const meta = yield* Metadata
  const ledger = yield* Ledger
  const repos = yield* Repositories

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
  /** Writes need the repository's scope on the token even when the level comes later. */
  const writable = (owner: string, name: string, principal: Principal) =>
    Effect.map(repos.access(owner, name, principal, "read"), (f) => f.repo)

  const issue = (repo: RepoRow, number: number) =>
    Effect.flatMap(meta.issueByNumber(repo.id, number).pipe(Effect.orDie), (i) =>
      i ? Effect.succeed(i) : Effect.fail(new NotFound({ what: `issue ${number}` })),
    )

  /** Everything the API shows with an issue. */
  const details = (i: IssueRow) =>
    Effect.gen(function* () {
      const labels = yield* meta.labelsOf(i.id).pipe(Effect.orDie)
      const assignees = yield* meta.assigneesOf(i.id).pipe(Effect.orDie)
      const milestone =
        i.milestone_id === null
          ? undefined
          : yield* meta.milestoneById(i.milestone_id).pipe(Effect.orDie)
      const reactions = yield* meta.reactionsOf("issue", i.id).pipe(Effect.orDie)
      return { issue: i, labels, assignees, milestone, reactions }
    })

  return {
    readable,
    details,
    list: (
      owner: string,
      name: string,
      principal: Principal | undefined,
      filter: Omit<IssueFilter, "repoId">,
    ) =>
      Effect.gen(function* () {
        const repo = yield* readable(owner, name, principal)
        const maxNumber =
          filter.maxNumber ?? (yield* meta.maxIssueNumber(repo.id).pipe(Effect.orDie))
        const page = yield* meta
          .issues({ ...filter, repoId: repo.id, maxNumber })
          .pipe(Effect.orDie)
        // A page's labels, assignees and reactions in three queries, not three per issue.
        const extras = yield* meta.issueExtras(page.rows.map((i) => i.id)).pipe(Effect.orDie)
        type Milestone = Effect.Effect.Success<ReturnType<typeof meta.milestoneById>>
        const milestones = new Map<number, Milestone>()
        const rows = []
        for (const i of page.rows) {
          let milestone: Milestone
          if (i.milestone_id !== null) {
            if (!milestones.has(i.milestone_id))
              milestones.set(
                i.milestone_id,
                yield* meta.milestoneById(i.milestone_id).pipe(Effect.orDie),
              )
            milestone = milestones.get(i.milestone_id)
          }
          rows.push({
            issue: i,
            labels: extras.labels.filter((l) => l.issue_id === i.id),
            assignees: extras.assignees.filter((a) => a.issue_id === i.id),
            milestone,
            reactions: extras.reactions.filter((r) => r.subject_id === i.id),
          })
        }
        return { repo, rows, total: page.total, maxNumber }
      }),
    get: (owner: string, name: string, number: number, principal: Principal | undefined) =>
      Effect.gen(function* () {
        const repo = yield* readable(owner, name, principal)
        return { repo, ...(yield* details(yield* issue(repo, number))) }
      }),
    create: (owner: string, name: string, principal: Principal, fields: Fields<CreateIssue>) =>
      Effect.gen(function* () {
        const repo = yield* writable(owner, name, principal)
        const { number } = yield* submit<{ number: number }>(
          CreateIssue.make({ ...envelope(principal, repo), ...fields }),
          "Issue",
          "title",
        )
        return { repo, ...(yield* details(yield* issue(repo, number))) }
      }),
    update: (
      owner: string,
      name: string,
      number: number,
      principal: Principal,
      fields: Omit<Fields<UpdateIssue>, "number">,
    ) =>
      Effect.gen(function* () {
        const repo = yield* writable(owner, name, principal)
        yield* issue(repo, number)
        yield* submit(
          UpdateIssue.make({ ...envelope(principal, repo), number, ...fields }),
          "Issue",
        )
        return { repo, ...(yield* details(yield* issue(repo, number))) }
      }),
    lock: (
      owner: string,
      name: string,
      number: number,
      principal: Principal,
      locked: boolean,
      reason?: string | null,
    ) =>
      Effect.gen(function* () {
        const repo = yield* writable(owner, name, principal)
        yield* issue(repo, number)
        yield* submit(
          LockIssue.make({ ...envelope(principal, repo), number, locked, reason }),
          "Issue",
          "lock_reason",
        )
      }),
    comments: (
      owner: string,
      name: string,
      number: number,
      principal: Principal | undefined,
      since?: number,
    ) =>
      Effect.gen(function* () {
        const repo = yield* readable(owner, name, principal)
        const i = yield* issue(repo, number)
        return { repo, issue: i, rows: yield* meta.comments(i.id, since).pipe(Effect.orDie) }
      }),
    comment: (owner: string, name: string, id: number, principal: Principal | undefined) =>
      Effect.gen(function* () {
        const repo = yield* readable(owner, name, principal)
        const c = yield* meta.commentById(id).pipe(Effect.orDie)
        if (!c || c.repo_id !== repo.id) return yield* new NotFound({ what: `comment ${id}` })
        const i = (yield* meta.issueById(c.issue_id).pipe(Effect.orDie))!
        const reactions = yield* meta.reactionsOf("comment", c.id).pipe(Effect.orDie)
        return { repo, issue: i, comment: c, reactions }
      }),
    createComment: (
      owner: string,
      name: string,
      number: number,
      principal: Principal,
      body: string,
    ) =>
      Effect.gen(function* () {
        const repo = yield* writable(owner, name, principal)
        const i = yield* issue(repo, number)
        const { id } = yield* submit<{ id: number }>(
          CreateComment.make({ ...envelope(principal, repo), number, body }),
          "IssueComment",
          "body",
        )
        return { repo, issue: i, comment: (yield* meta.commentById(id).pipe(Effect.orDie))! }
      }),
    changeComment: (
      owner: string,
      name: string,
      id: number,
      principal: Principal,
      body: string | undefined,
    ) =>
      Effect.gen(function* () {
        const repo = yield* writable(owner, name, principal)
        yield* submit(
          UpdateComment.make({
            ...envelope(principal, repo),
            commentId: id,
            body,
            delete: body === undefined,
          }),
          "IssueComment",
          "body",
        )
        const c = yield* meta.commentById(id).pipe(Effect.orDie)
        return { repo, comment: c }
      }),
    labels: (owner: string, name: string, principal: Principal | undefined) =>
      Effect.gen(function* () {
        const repo = yield* readable(owner, name, principal)
        return { repo, rows: yield* meta.labels(repo.id).pipe(Effect.orDie) }
      }),
    label: (owner: string, name: string, label: string, principal: Principal | undefined) =>
      Effect.gen(function* () {
        const repo = yield* readable(owner, name, principal)
        const row = yield* meta.labelByName(repo.id, label).pipe(Effect.orDie)
        if (!row) return yield* new NotFound({ what: `label ${label}` })
        return { repo, label: row }
      }),
    setLabel: (owner: string, name: string, principal: Principal, fields: Fields<SetLabel>) =>
      Effect.gen(function* () {
        const repo = yield* writable(owner, name, principal)
        const done = yield* submit<{ name?: string }>(
          SetLabel.make({ ...envelope(principal, repo), ...fields }),
          "Label",
          "name",
        )
        if (fields.delete) return { repo, label: undefined }
        return { repo, label: yield* meta.labelByName(repo.id, done.name!).pipe(Effect.orDie) }
      }),
    milestones: (
      owner: string,
      name: string,
      principal: Principal | undefined,
      state: "open" | "closed" | "all",
    ) =>
      Effect.gen(function* () {
        const repo = yield* readable(owner, name, principal)
        return { repo, rows: yield* meta.milestones(repo.id, state).pipe(Effect.orDie) }
      }),
    milestone: (owner: string, name: string, number: number, principal: Principal | undefined) =>
      Effect.gen(function* () {
        const repo = yield* readable(owner, name, principal)
        const m = yield* meta.milestoneByNumber(repo.id, number).pipe(Effect.orDie)
        if (!m) return yield* new NotFound({ what: `milestone ${number}` })
        return { repo, milestone: m }
      }),
    setMilestone: (
      owner: string,
      name: string,
      principal: Principal,
      fields: Fields<SetMilestone>,
    ) =>
      Effect.gen(function* () {
        const repo = yield* writable(owner, name, principal)
        const done = yield* submit<{ number: number }>(
          SetMilestone.make({ ...envelope(principal, repo), ...fields }),
          "Milestone",
          "title",
        )
        if (fields.delete) return { repo, milestone: undefined }
        return {
          repo,
          milestone: yield* meta.milestoneByNumber(repo.id, done.number).pipe(Effect.orDie),
        }
      }),
    reactions: (
      owner: string,
      name: string,
      subject: "issue" | "comment",
      id: number,
      principal: Principal | undefined,
    ) =>
      Effect.gen(function* () {
        const repo = yield* readable(owner, name, principal)
        const subjectId =
          subject === "issue"
            ? (yield* issue(repo, id)).id
            : (yield* meta.commentById(id).pipe(Effect.orDie))?.id
        if (subjectId === undefined) return yield* new NotFound({ what: `comment ${id}` })
        return { repo, rows: yield* meta.reactionsOf(subject, subjectId).pipe(Effect.orDie) }
      }),
    react: (
      owner: string,
      name: string,
      principal: Principal,
      subject: "issue" | "comment",
      id: number,
      content: Reaction,
      removeId?: number,
    ) =>
      Effect.gen(function* () {
        const repo = yield* writable(owner, name, principal)
        const done = yield* submit<{ id: number; created?: boolean }>(
          SetReaction.make({ ...envelope(principal, repo), subject, id, content, removeId }),
          "Reaction",
          "content",
        )
        const subjectId =
          subject === "issue"
            ? (yield* issue(repo, id)).id
            : (yield* meta.commentById(id).pipe(Effect.orDie))?.id
        const row = subjectId
          ? (yield* meta.reactionsOf(subject, subjectId).pipe(Effect.orDie)).find(
              (r) => r.id === done.id,
            )
          : undefined
        return { repo, reaction: row, created: done.created ?? false }
      }),
    events: (owner: string, name: string, number: number, principal: Principal | undefined) =>
      Effect.gen(function* () {
        const repo = yield* readable(owner, name, principal)
        const i = yield* issue(repo, number)
        return {
          repo,
          issue: i,
          events: yield* meta.events(i.id).pipe(Effect.orDie),
          comments: yield* meta.comments(i.id, undefined).pipe(Effect.orDie),
        }
      }),
  }
})

export class Issues extends Context.Tag("guts/Issues")<
  Issues,
  Effect.Effect.Success<typeof make>
>() {
  static readonly Live = Layer.effect(Issues, make)
}
