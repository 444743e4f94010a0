/**
 * Apply handlers for issues, comments, labels, milestones and reactions. GitHub's rules:
 * anyone who can read a repository may open issues and comment (on a locked issue only
 * those with write); authors may edit their own issues and comments; triage and above
 * manage state, labels, assignees, milestones and locks (for others those fields are
 * silently ignored on creation, as GitHub does); write manages labels and milestones.
 * Numbers come from one sequence per repository shared with pull requests; times from
 * the block. Every change to an issue leaves timeline events.
 */
import { Effect } from "effect"
import { atLeast } from "../../domain/Permissions.ts"
import type * as T from "../../domain/Transaction.ts"
import type { Block } from "../../domain/Transaction.ts"
import type { Access } from "../Access.ts"
import type { IssueRow, LabelRow } from "../CollabTables.ts"
import type { MetadataShape, RepoRow, UserRow } from "../Metadata.ts"
import type { Kit } from "./Kit.ts"

export const MAX_BODY = 65_536
export const MAX_TITLE = 1_024
const COLOR = /^[0-9a-fA-F]{6}$/

export const makeCollaborationHandlers = (
  meta: MetadataShape,
  access: Access["Type"],
  kit: Kit,
) => {
  const { reject, done, needLevel } = kit

  const invalid = (field: string, reason: string) => reject(reason, { code: "invalid", field })

  const needIssue = (repo: RepoRow, number: number) =>
    Effect.flatMap(meta.issueByNumber(repo.id, number), (i) =>
      i ? Effect.succeed(i) : reject(`issue ${number} does not exist`, { code: "not_found" }),
    )

  const event = (issue: IssueRow, actor: UserRow, block: Block, name: string, data: object = {}) =>
    meta.insertEvent({
      issue_id: issue.id,
      actor_id: actor.id,
      actor_login: actor.login,
      event: name,
      data: JSON.stringify(data),
      created_at: block.timestamp,
    })

  const checkText = (title: string | undefined, body: string | null | undefined) => {
    if (title !== undefined && title.trim() === "") return invalid("title", "title cannot be blank")
    if (title !== undefined && title.length > MAX_TITLE)
      return invalid("title", `title is longer than ${MAX_TITLE} characters`)
    if (body !== undefined && body !== null && body.length > MAX_BODY)
      return invalid("body", `body is longer than ${MAX_BODY} characters`)
    return Effect.void
  }

  /** Users by login who may be assigned (they can read the repository). */
  const assignable = (repo: RepoRow, logins: ReadonlyArray<string>) =>
    Effect.forEach(logins, (login) =>
      Effect.gen(function* () {
        const u = yield* meta.userByLogin(login)
        if (!u || u.type !== "User") return yield* invalid("assignees", `${login} is not a user`)
        if (!atLeast(yield* access.levelOf(repo, u), "read"))
          return yield* invalid("assignees", `${login} cannot be assigned to this repository`)
        return { id: u.id, login: u.login }
      }),
    )

  /** Labels by name; missing ones are created (GitHub does this for issue writes). */
  const labelsNamed = (repo: RepoRow, names: ReadonlyArray<string>) =>
    Effect.forEach(names, (name) =>
      Effect.gen(function* () {
        const existing = yield* meta.labelByName(repo.id, name)
        if (existing) return existing
        if (name.trim() === "" || name.length > 50)
          return yield* invalid("labels", `label name '${name}' must be 1-50 characters`)
        const id = yield* meta.insertLabel({
          repo_id: repo.id,
          name,
          color: "ededed",
          description: null,
        })
        return { id, repo_id: repo.id, name, color: "ededed", description: null } as LabelRow
      }),
    )

  const milestoneId = (repo: RepoRow, number: number | null | undefined) =>
    Effect.gen(function* () {
      if (number === null || number === undefined) return null
      const m = yield* meta.milestoneByNumber(repo.id, number)
      if (!m) return yield* invalid("milestone", `milestone ${number} does not exist`)
      return m.id
    })

  const createIssue = (tx: T.CreateIssue, block: Block, actor: UserRow) =>
    Effect.gen(function* () {
      const repo = yield* needLevel(tx.owner, tx.repo, actor, "read")
      yield* checkText(tx.title, tx.body)
      const triage = atLeast(yield* access.levelOf(repo, actor), "triage")
      const number = (yield* meta.maxIssueNumber(repo.id)) + 1
      const assignees = triage && tx.assignees ? yield* assignable(repo, tx.assignees) : []
      const labels = triage && tx.labels ? yield* labelsNamed(repo, tx.labels) : []
      const milestone = triage ? yield* milestoneId(repo, tx.milestone) : null
      const id = yield* meta.insertIssue({
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
        milestone_id: milestone,
        is_pull: 0,
        created_at: block.timestamp,
        updated_at: block.timestamp,
        closed_at: null,
        closed_by_id: null,
        closed_by_login: null,
      })
      const issue = (yield* meta.issueById(id))!
      yield* meta.setAssignees(id, assignees)
      yield* meta.setIssueLabels(
        id,
        labels.map((l) => l.id),
      )
      for (const a of assignees)
        yield* event(issue, actor, block, "assigned", { assignee: a.login })
      for (const l of labels) yield* event(issue, actor, block, "labeled", { label: l.name })
      if (milestone !== null)
        yield* event(issue, actor, block, "milestoned", { milestone: tx.milestone })
      return done({ number, id })
    })

  const updateIssue = (tx: T.UpdateIssue, block: Block, actor: UserRow) =>
    Effect.gen(function* () {
      const repo = yield* needLevel(tx.owner, tx.repo, actor, "read")
      const issue = yield* needIssue(repo, tx.number)
      const triage = atLeast(yield* access.levelOf(repo, actor), "triage")
      const author = issue.user_id === actor.id
      const managing =
        tx.assignees !== undefined ||
        tx.addAssignees !== undefined ||
        tx.removeAssignees !== undefined ||
        tx.labels !== undefined ||
        tx.addLabels !== undefined ||
        tx.removeLabels !== undefined ||
        tx.milestone !== undefined
      if (managing && !triage)
        return yield* reject("labels, assignees and milestones need triage access", {
          code: "forbidden",
        })
      const editing = tx.title !== undefined || tx.body !== undefined || tx.state !== undefined
      if (editing && !author && !triage)
        return yield* reject("only the author or collaborators with triage can edit this issue", {
          code: "forbidden",
        })
      yield* checkText(tx.title, tx.body)
      const at = block.timestamp
      const fields: Record<string, unknown> = { updated_at: at }
      if (tx.title !== undefined && tx.title !== issue.title) {
        fields.title = tx.title
        yield* event(issue, actor, block, "renamed", {
          rename: { from: issue.title, to: tx.title },
        })
      }
      if (tx.body !== undefined) fields.body = tx.body
      if (tx.state !== undefined && tx.state !== issue.state) {
        fields.state = tx.state
        if (tx.state === "closed") {
          fields.state_reason = tx.stateReason ?? "completed"
          fields.closed_at = at
          fields.closed_by_id = actor.id
          fields.closed_by_login = actor.login
          yield* event(issue, actor, block, "closed", { state_reason: fields.state_reason })
        } else {
          fields.state_reason = "reopened"
          fields.closed_at = null
          fields.closed_by_id = null
          fields.closed_by_login = null
          yield* event(issue, actor, block, "reopened", {})
        }
      } else if (
        tx.stateReason !== undefined &&
        issue.state === "closed" &&
        tx.stateReason !== "reopened"
      )
        fields.state_reason = tx.stateReason
      if (tx.milestone !== undefined) {
        const id = yield* milestoneId(repo, tx.milestone)
        if (id !== issue.milestone_id) {
          fields.milestone_id = id
          if (issue.milestone_id !== null) yield* event(issue, actor, block, "demilestoned", {})
          if (id !== null)
            yield* event(issue, actor, block, "milestoned", { milestone: tx.milestone })
        }
      }
      if (tx.assignees !== undefined || tx.addAssignees || tx.removeAssignees) {
        const before = yield* meta.assigneesOf(issue.id)
        let next =
          tx.assignees !== undefined
            ? yield* assignable(repo, tx.assignees)
            : [...before.map((b) => ({ id: b.user_id, login: b.login }))]
        if (tx.addAssignees) next = [...next, ...(yield* assignable(repo, tx.addAssignees))]
        if (tx.removeAssignees) {
          const gone = new Set(tx.removeAssignees.map((l) => l.toLowerCase()))
          next = next.filter((u) => !gone.has(u.login.toLowerCase()))
        }
        const unique = [...new Map(next.map((u) => [u.id, u])).values()]
        if (unique.length > 10) return yield* invalid("assignees", "at most 10 assignees")
        const was = new Set(before.map((b) => b.user_id))
        const now = new Set(unique.map((u) => u.id))
        for (const u of unique)
          if (!was.has(u.id)) yield* event(issue, actor, block, "assigned", { assignee: u.login })
        for (const b of before)
          if (!now.has(b.user_id))
            yield* event(issue, actor, block, "unassigned", { assignee: b.login })
        yield* meta.setAssignees(issue.id, unique)
      }
      if (tx.labels !== undefined || tx.addLabels || tx.removeLabels) {
        const before = yield* meta.labelsOf(issue.id)
        let next: LabelRow[] =
          tx.labels !== undefined ? yield* labelsNamed(repo, tx.labels) : [...before]
        if (tx.addLabels) next = [...next, ...(yield* labelsNamed(repo, tx.addLabels))]
        if (tx.removeLabels) {
          const gone = new Set(tx.removeLabels.map((l) => l.toLowerCase()))
          next = next.filter((l) => !gone.has(l.name.toLowerCase()))
        }
        const was = new Set(before.map((l) => l.id))
        const now = new Set(next.map((l) => l.id))
        for (const l of next)
          if (!was.has(l.id)) {
            was.add(l.id)
            yield* event(issue, actor, block, "labeled", { label: l.name })
          }
        for (const l of before)
          if (!now.has(l.id)) yield* event(issue, actor, block, "unlabeled", { label: l.name })
        yield* meta.setIssueLabels(
          issue.id,
          next.map((l) => l.id),
        )
      }
      yield* meta.updateIssue(issue.id, fields)
      return done({ number: issue.number })
    })

  const lockIssue = (tx: T.LockIssue, block: Block, actor: UserRow) =>
    Effect.gen(function* () {
      const repo = yield* needLevel(tx.owner, tx.repo, actor, "triage")
      const issue = yield* needIssue(repo, tx.number)
      const reasons = ["off-topic", "too heated", "resolved", "spam"]
      if (tx.locked && tx.reason && !reasons.includes(tx.reason))
        return yield* invalid("lock_reason", `lock_reason must be one of ${reasons.join(", ")}`)
      yield* meta.updateIssue(issue.id, {
        locked: tx.locked ? 1 : 0,
        lock_reason: tx.locked ? (tx.reason ?? null) : null,
        updated_at: block.timestamp,
      })
      yield* event(issue, actor, block, tx.locked ? "locked" : "unlocked", {
        lock_reason: tx.reason ?? null,
      })
      return done({ number: issue.number })
    })

  const createComment = (tx: T.CreateComment, block: Block, actor: UserRow) =>
    Effect.gen(function* () {
      const repo = yield* needLevel(tx.owner, tx.repo, actor, "read")
      const issue = yield* needIssue(repo, tx.number)
      if (tx.body.trim() === "") return yield* invalid("body", "body cannot be blank")
      if (tx.body.length > MAX_BODY)
        return yield* invalid("body", `body is longer than ${MAX_BODY} characters`)
      if (issue.locked === 1 && !atLeast(yield* access.levelOf(repo, actor), "write"))
        return yield* reject("Unable to create comment because issue is locked.", {
          code: "forbidden",
        })
      const id = yield* meta.insertComment({
        issue_id: issue.id,
        repo_id: repo.id,
        user_id: actor.id,
        user_login: actor.login,
        body: tx.body,
        created_at: block.timestamp,
        updated_at: block.timestamp,
      })
      return done({ id })
    })

  const updateComment = (tx: T.UpdateComment, block: Block, actor: UserRow) =>
    Effect.gen(function* () {
      const repo = yield* needLevel(tx.owner, tx.repo, actor, "read")
      const comment = yield* meta.commentById(tx.commentId)
      if (!comment || comment.repo_id !== repo.id)
        return yield* reject(`comment ${tx.commentId} does not exist`, { code: "not_found" })
      if (comment.user_id !== actor.id && !atLeast(yield* access.levelOf(repo, actor), "write"))
        return yield* reject("only the author or collaborators with write can change a comment", {
          code: "forbidden",
        })
      if (tx.delete) {
        yield* meta.deleteComment(comment.id)
        return done({ id: comment.id })
      }
      const body = tx.body ?? ""
      if (body.trim() === "") return yield* invalid("body", "body cannot be blank")
      if (body.length > MAX_BODY)
        return yield* invalid("body", `body is longer than ${MAX_BODY} characters`)
      yield* meta.updateComment(comment.id, body, block.timestamp)
      return done({ id: comment.id })
    })

  const setLabel = (tx: T.SetLabel, _block: Block, actor: UserRow) =>
    Effect.gen(function* () {
      const repo = yield* needLevel(tx.owner, tx.repo, actor, "write")
      if (tx.color !== undefined && !COLOR.test(tx.color))
        return yield* invalid("color", "color must be 6 hexadecimal digits, like f29513")
      const newName = tx.newName
      if (newName !== undefined && (newName.trim() === "" || newName.length > 50))
        return yield* invalid("name", "a label name is 1-50 characters")
      if (tx.name === undefined) {
        if (newName === undefined) return yield* invalid("name", "name is required")
        if (yield* meta.labelByName(repo.id, newName))
          return yield* reject(`label ${newName} already exists`, {
            code: "already_exists",
            field: "name",
          })
        const id = yield* meta.insertLabel({
          repo_id: repo.id,
          name: newName,
          color: (tx.color ?? "ededed").toLowerCase(),
          description: tx.description ?? null,
        })
        return done({ id, name: newName })
      }
      const label = yield* meta.labelByName(repo.id, tx.name)
      if (!label) return yield* reject(`label ${tx.name} does not exist`, { code: "not_found" })
      if (tx.delete) {
        yield* meta.deleteLabel(label.id)
        return done({ id: label.id })
      }
      if (newName !== undefined && newName.toLowerCase() !== label.name.toLowerCase())
        if (yield* meta.labelByName(repo.id, newName))
          return yield* reject(`label ${newName} already exists`, {
            code: "already_exists",
            field: "name",
          })
      yield* meta.updateLabel(label.id, {
        ...(newName !== undefined ? { name: newName } : {}),
        ...(tx.color !== undefined ? { color: tx.color.toLowerCase() } : {}),
        ...(tx.description !== undefined ? { description: tx.description } : {}),
      })
      return done({ id: label.id, name: newName ?? label.name })
    })

  const setMilestone = (tx: T.SetMilestone, block: Block, actor: UserRow) =>
    Effect.gen(function* () {
      const repo = yield* needLevel(tx.owner, tx.repo, actor, "write")
      if (tx.title !== undefined && (tx.title.trim() === "" || tx.title.length > 255))
        return yield* invalid("title", "a milestone title is 1-255 characters")
      if (tx.number === undefined) {
        if (tx.title === undefined) return yield* invalid("title", "title is required")
        const existing = yield* meta.milestones(repo.id, "all")
        if (existing.some((m) => m.title === tx.title))
          return yield* reject(`milestone ${tx.title} already exists`, {
            code: "already_exists",
            field: "title",
          })
        const number = existing.reduce((n, m) => Math.max(n, m.number), 0) + 1
        const state = tx.state ?? "open"
        yield* meta.insertMilestone({
          repo_id: repo.id,
          number,
          title: tx.title,
          description: tx.description ?? null,
          state,
          due_on: tx.dueOn ?? null,
          creator_id: actor.id,
          creator_login: actor.login,
          created_at: block.timestamp,
          updated_at: block.timestamp,
          closed_at: state === "closed" ? block.timestamp : null,
        })
        return done({ number })
      }
      const m = yield* meta.milestoneByNumber(repo.id, tx.number)
      if (!m) return yield* reject(`milestone ${tx.number} does not exist`, { code: "not_found" })
      if (tx.delete) {
        yield* meta.deleteMilestone(m.id)
        return done({ number: m.number })
      }
      yield* meta.updateMilestone(m.id, {
        ...(tx.title !== undefined ? { title: tx.title } : {}),
        ...(tx.description !== undefined ? { description: tx.description } : {}),
        ...(tx.dueOn !== undefined ? { due_on: tx.dueOn } : {}),
        ...(tx.state !== undefined && tx.state !== m.state
          ? { state: tx.state, closed_at: tx.state === "closed" ? block.timestamp : null }
          : {}),
        updated_at: block.timestamp,
      })
      return done({ number: m.number })
    })

  const setReaction = (tx: T.SetReaction, block: Block, actor: UserRow) =>
    Effect.gen(function* () {
      const repo = yield* needLevel(tx.owner, tx.repo, actor, "read")
      let subjectId: number
      if (tx.subject === "issue") subjectId = (yield* needIssue(repo, tx.id)).id
      else {
        const c = yield* meta.commentById(tx.id)
        if (!c || c.repo_id !== repo.id)
          return yield* reject(`comment ${tx.id} does not exist`, { code: "not_found" })
        subjectId = c.id
      }
      if (tx.removeId !== undefined) {
        const mine = (yield* meta.reactionsOf(tx.subject, subjectId)).find(
          (r) => r.id === tx.removeId,
        )
        if (!mine)
          return yield* reject(`reaction ${tx.removeId} does not exist`, { code: "not_found" })
        if (mine.user_id !== actor.id && actor.site_admin !== 1)
          return yield* reject("you can only remove your own reactions", { code: "forbidden" })
        yield* meta.deleteReaction(mine.id)
        return done({ id: mine.id })
      }
      const existing = (yield* meta.reactionsOf(tx.subject, subjectId)).find(
        (r) => r.user_id === actor.id && r.content === tx.content,
      )
      if (existing) return done({ id: existing.id, created: false })
      const id = yield* meta.insertReaction({
        subject: tx.subject,
        subject_id: subjectId,
        user_id: actor.id,
        user_login: actor.login,
        content: tx.content,
        created_at: block.timestamp,
      })
      return done({ id, created: true })
    })

  return {
    createIssue,
    updateIssue,
    lockIssue,
    createComment,
    updateComment,
    setLabel,
    setMilestone,
    setReaction,
  }
}
