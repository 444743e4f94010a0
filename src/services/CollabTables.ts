/**
 * The collaboration part of replicated metadata: issues (and pull requests, which are
 * issues with a `pulls` row, sharing one number sequence per repository), comments, labels,
 * milestones, reactions, timeline events. Part of the Metadata service; written only inside
 * Apply, like every replicated table.
 */
import type { SqlError } from "@effect/sql/SqlError"
import type { Effect } from "effect"

export interface IssueRow {
  readonly id: number
  readonly repo_id: number
  readonly number: number
  readonly title: string
  readonly body: string | null
  readonly state: "open" | "closed"
  readonly state_reason: string | null
  readonly locked: number
  readonly lock_reason: string | null
  readonly user_id: number
  readonly user_login: string
  readonly milestone_id: number | null
  readonly comments: number
  readonly is_pull: number
  readonly created_at: number
  readonly updated_at: number
  readonly closed_at: number | null
  readonly closed_by_id: number | null
  readonly closed_by_login: string | null
}

export interface CommentRow {
  readonly id: number
  readonly issue_id: number
  readonly repo_id: number
  readonly user_id: number
  readonly user_login: string
  readonly body: string
  readonly created_at: number
  readonly updated_at: number
}

export interface LabelRow {
  readonly id: number
  readonly repo_id: number
  readonly name: string
  readonly color: string
  readonly description: string | null
}

export interface MilestoneRow {
  readonly id: number
  readonly repo_id: number
  readonly number: number
  readonly title: string
  readonly description: string | null
  readonly state: "open" | "closed"
  readonly due_on: number | null
  readonly creator_id: number
  readonly creator_login: string
  readonly created_at: number
  readonly updated_at: number
  readonly closed_at: number | null
}

export interface ReactionRow {
  readonly id: number
  readonly subject: "issue" | "comment"
  readonly subject_id: number
  readonly user_id: number
  readonly user_login: string
  readonly content: string
  readonly created_at: number
}

export interface EventRow {
  readonly id: number
  readonly issue_id: number
  readonly actor_id: number
  readonly actor_login: string
  readonly event: string
  readonly data: string
  readonly created_at: number
}

export interface PullRow {
  readonly issue_id: number
  readonly repo_id: number
  readonly number: number
  readonly head_repo_id: number
  readonly head_ref: string
  readonly head_sha: string
  readonly base_ref: string
  /** The base branch's commit when the pull request was opened or last merged. */
  readonly base_sha: string
  readonly draft: number
  readonly merged: number
  readonly merged_at: number | null
  readonly merged_by_id: number | null
  readonly merged_by_login: string | null
  readonly merge_commit_sha: string | null
}

export interface ReviewRow {
  readonly id: number
  readonly issue_id: number
  readonly user_id: number
  readonly user_login: string
  readonly state: "PENDING" | "COMMENTED" | "APPROVED" | "CHANGES_REQUESTED" | "DISMISSED"
  readonly body: string | null
  readonly commit_id: string
  readonly submitted_at: number | null
}

export interface ReviewCommentRow {
  readonly id: number
  readonly issue_id: number
  readonly review_id: number | null
  readonly user_id: number
  readonly user_login: string
  readonly path: string
  readonly line: number
  readonly side: "LEFT" | "RIGHT"
  readonly commit_id: string
  readonly body: string
  readonly in_reply_to: number | null
  readonly created_at: number
  readonly updated_at: number
}

export interface ReleaseRow {
  readonly id: number
  readonly repo_id: number
  readonly tag_name: string
  readonly target_commitish: string
  readonly name: string | null
  readonly body: string | null
  readonly draft: number
  readonly prerelease: number
  readonly author_id: number
  readonly author_login: string
  readonly created_at: number
  readonly published_at: number | null
}

export interface AssetRow {
  readonly id: number
  readonly release_id: number
  readonly name: string
  readonly label: string | null
  readonly content_type: string
  readonly size: number
  readonly blob: string
  readonly uploader_id: number
  readonly uploader_login: string
  readonly created_at: number
  readonly updated_at: number
}

export interface HookRow {
  readonly id: number
  readonly repo_id: number | null
  readonly org_id: number | null
  readonly url: string
  readonly content_type: "json" | "form"
  readonly secret: string | null
  readonly events: string
  readonly active: number
  readonly created_at: number
  readonly updated_at: number
}

export interface IssueFilter {
  readonly repoId: number
  readonly state: "open" | "closed" | "all"
  readonly labels?: ReadonlyArray<string> | undefined
  /** A login, "none" (unassigned) or "*" (any). */
  readonly assignee?: string | undefined
  readonly creator?: string | undefined
  readonly milestone?: number | "none" | "*" | undefined
  readonly since?: number | undefined
  readonly pulls?: boolean | undefined
  /** Only issues numbered at most this (a stable snapshot for paging while others are added). */
  readonly maxNumber?: number | undefined
  readonly sort: "created" | "updated" | "comments"
  readonly direction: "asc" | "desc"
  readonly limit: number
  readonly offset: number
}

export interface CollabTables {
  readonly issueByNumber: (
    repoId: number,
    number: number,
  ) => Effect.Effect<IssueRow | undefined, SqlError>
  readonly issueById: (id: number) => Effect.Effect<IssueRow | undefined, SqlError>
  readonly issues: (
    f: IssueFilter,
  ) => Effect.Effect<{ rows: ReadonlyArray<IssueRow>; total: number }, SqlError>
  readonly maxIssueNumber: (repoId: number) => Effect.Effect<number, SqlError>
  readonly assigneesOf: (
    issueId: number,
  ) => Effect.Effect<ReadonlyArray<{ user_id: number; login: string }>, SqlError>
  readonly labelsOf: (issueId: number) => Effect.Effect<ReadonlyArray<LabelRow>, SqlError>
  /** Labels, assignees and issue reactions of many issues in three queries (for list pages). */
  readonly issueExtras: (issueIds: ReadonlyArray<number>) => Effect.Effect<
    {
      readonly labels: ReadonlyArray<LabelRow & { issue_id: number }>
      readonly assignees: ReadonlyArray<{ issue_id: number; user_id: number; login: string }>
      readonly reactions: ReadonlyArray<ReactionRow>
    },
    SqlError
  >
  readonly comments: (
    issueId: number,
    since: number | undefined,
  ) => Effect.Effect<ReadonlyArray<CommentRow>, SqlError>
  readonly commentById: (id: number) => Effect.Effect<CommentRow | undefined, SqlError>
  readonly repoComments: (repoId: number) => Effect.Effect<ReadonlyArray<CommentRow>, SqlError>
  readonly labels: (repoId: number) => Effect.Effect<ReadonlyArray<LabelRow>, SqlError>
  readonly labelByName: (
    repoId: number,
    name: string,
  ) => Effect.Effect<LabelRow | undefined, SqlError>
  readonly milestones: (
    repoId: number,
    state: "open" | "closed" | "all",
  ) => Effect.Effect<
    ReadonlyArray<MilestoneRow & { open_issues: number; closed_issues: number }>,
    SqlError
  >
  readonly milestoneByNumber: (
    repoId: number,
    number: number,
  ) => Effect.Effect<
    (MilestoneRow & { open_issues: number; closed_issues: number }) | undefined,
    SqlError
  >
  readonly milestoneById: (
    id: number,
  ) => Effect.Effect<
    (MilestoneRow & { open_issues: number; closed_issues: number }) | undefined,
    SqlError
  >
  readonly reactionsOf: (
    subject: "issue" | "comment",
    id: number,
  ) => Effect.Effect<ReadonlyArray<ReactionRow>, SqlError>
  readonly events: (issueId: number) => Effect.Effect<ReadonlyArray<EventRow>, SqlError>

  readonly insertIssue: (row: Omit<IssueRow, "id" | "comments">) => Effect.Effect<number, SqlError>
  readonly updateIssue: (
    id: number,
    fields: Partial<Omit<IssueRow, "id" | "repo_id" | "number" | "user_id" | "user_login">>,
  ) => Effect.Effect<void, SqlError>
  readonly setAssignees: (
    issueId: number,
    users: ReadonlyArray<{ id: number; login: string }>,
  ) => Effect.Effect<void, SqlError>
  readonly setIssueLabels: (
    issueId: number,
    labelIds: ReadonlyArray<number>,
  ) => Effect.Effect<void, SqlError>
  readonly insertComment: (row: Omit<CommentRow, "id">) => Effect.Effect<number, SqlError>
  readonly updateComment: (id: number, body: string, at: number) => Effect.Effect<void, SqlError>
  readonly deleteComment: (id: number) => Effect.Effect<void, SqlError>
  readonly insertLabel: (row: Omit<LabelRow, "id">) => Effect.Effect<number, SqlError>
  readonly updateLabel: (
    id: number,
    fields: { name?: string; color?: string; description?: string | null },
  ) => Effect.Effect<void, SqlError>
  readonly deleteLabel: (id: number) => Effect.Effect<void, SqlError>
  readonly insertMilestone: (row: Omit<MilestoneRow, "id">) => Effect.Effect<number, SqlError>
  readonly updateMilestone: (
    id: number,
    fields: Partial<
      Pick<MilestoneRow, "title" | "description" | "state" | "due_on" | "updated_at" | "closed_at">
    >,
  ) => Effect.Effect<void, SqlError>
  readonly deleteMilestone: (id: number) => Effect.Effect<void, SqlError>
  readonly insertReaction: (row: Omit<ReactionRow, "id">) => Effect.Effect<number, SqlError>
  readonly deleteReaction: (id: number) => Effect.Effect<void, SqlError>
  readonly insertEvent: (row: Omit<EventRow, "id">) => Effect.Effect<void, SqlError>

  // Pull requests.
  readonly pullByNumber: (
    repoId: number,
    number: number,
  ) => Effect.Effect<PullRow | undefined, SqlError>
  /** Pull requests (open ones unless `all`) whose head is `ref` of `headRepoId`. */
  readonly pullsWithHead: (
    headRepoId: number,
    ref: string,
    all?: boolean,
  ) => Effect.Effect<ReadonlyArray<PullRow>, SqlError>
  readonly insertPull: (row: PullRow) => Effect.Effect<void, SqlError>
  readonly updatePull: (
    issueId: number,
    fields: Partial<Omit<PullRow, "issue_id" | "repo_id" | "number">>,
  ) => Effect.Effect<void, SqlError>
  readonly reviews: (issueId: number) => Effect.Effect<ReadonlyArray<ReviewRow>, SqlError>
  readonly reviewById: (id: number) => Effect.Effect<ReviewRow | undefined, SqlError>
  readonly insertReview: (row: Omit<ReviewRow, "id">) => Effect.Effect<number, SqlError>
  readonly updateReview: (
    id: number,
    fields: Partial<Pick<ReviewRow, "state" | "body" | "submitted_at">>,
  ) => Effect.Effect<void, SqlError>
  readonly reviewComments: (
    issueId: number,
  ) => Effect.Effect<ReadonlyArray<ReviewCommentRow>, SqlError>
  readonly reviewCommentById: (id: number) => Effect.Effect<ReviewCommentRow | undefined, SqlError>
  readonly insertReviewComment: (
    row: Omit<ReviewCommentRow, "id">,
  ) => Effect.Effect<number, SqlError>
  readonly teamReviewRequests: (
    issueId: number,
  ) => Effect.Effect<ReadonlyArray<{ team_id: number; slug: string }>, SqlError>
  readonly setTeamReviewRequest: (
    issueId: number,
    team: { id: number; slug: string },
    requested: boolean,
  ) => Effect.Effect<void, SqlError>
  readonly reviewRequests: (
    issueId: number,
  ) => Effect.Effect<ReadonlyArray<{ user_id: number; login: string }>, SqlError>
  readonly hooksOf: (target: {
    readonly repoId?: number | undefined
    readonly orgId?: number | undefined
  }) => Effect.Effect<ReadonlyArray<HookRow>, SqlError>
  readonly hookById: (id: number) => Effect.Effect<HookRow | undefined, SqlError>
  readonly insertHook: (row: Omit<HookRow, "id">) => Effect.Effect<number, SqlError>
  readonly updateHook: (
    id: number,
    fields: Partial<Omit<HookRow, "id" | "repo_id" | "org_id" | "created_at">>,
  ) => Effect.Effect<void, SqlError>
  readonly deleteHook: (id: number) => Effect.Effect<void, SqlError>
  readonly releases: (repoId: number) => Effect.Effect<ReadonlyArray<ReleaseRow>, SqlError>
  readonly releaseById: (id: number) => Effect.Effect<ReleaseRow | undefined, SqlError>
  readonly insertRelease: (row: Omit<ReleaseRow, "id">) => Effect.Effect<number, SqlError>
  readonly updateRelease: (
    id: number,
    fields: Partial<Omit<ReleaseRow, "id" | "repo_id">>,
  ) => Effect.Effect<void, SqlError>
  readonly deleteRelease: (id: number) => Effect.Effect<void, SqlError>
  readonly assets: (releaseId: number) => Effect.Effect<ReadonlyArray<AssetRow>, SqlError>
  readonly assetById: (id: number) => Effect.Effect<AssetRow | undefined, SqlError>
  readonly insertAsset: (row: Omit<AssetRow, "id">) => Effect.Effect<number, SqlError>
  readonly updateAsset: (
    id: number,
    fields: Partial<Pick<AssetRow, "name" | "label" | "updated_at">>,
  ) => Effect.Effect<void, SqlError>
  readonly deleteAsset: (id: number) => Effect.Effect<void, SqlError>
  readonly setReviewRequest: (
    issueId: number,
    user: { id: number; login: string },
    requested: boolean,
  ) => Effect.Effect<void, SqlError>
}
