/**
 * Transactions: every change to replicated state, as data.
 *
 * A transaction names who asked for it (`submitter`, a user id; 0 is the node itself for
 * bootstrap), carries an idempotency key so a retried request is applied at most once,
 * and is applied by `apply` in a block, which supplies the height and the timestamp:
 * nothing in a transaction depends on the clock or counters of the node that took it.
 */
import { Schema } from "effect"

export const UserId = Schema.Int.pipe(Schema.nonNegative(), Schema.brand("UserId"))
export type UserId = typeof UserId.Type

export const SYSTEM_USER = 0 as UserId

const Envelope = {
  submitter: UserId,
  idempotencyKey: Schema.String,
}

export class CreateUser extends Schema.TaggedClass<CreateUser>()("CreateUser", {
  ...Envelope,
  login: Schema.String,
  name: Schema.optional(Schema.String),
  email: Schema.optional(Schema.String),
  siteAdmin: Schema.Boolean,
}) {}

export class CreateToken extends Schema.TaggedClass<CreateToken>()("CreateToken", {
  ...Envelope,
  user: Schema.String,
  /** sha256 of the token, hex: the token itself never enters replicated state. */
  tokenHash: Schema.String,
  scopes: Schema.Array(Schema.String),
  note: Schema.String,
  expiresAt: Schema.optional(Schema.Number),
  /** Fine-grained restriction: the token works only on these repositories (`owner/name`). */
  repositories: Schema.optional(Schema.Array(Schema.String)),
}) {}

export class RevokeToken extends Schema.TaggedClass<RevokeToken>()("RevokeToken", {
  ...Envelope,
  user: Schema.String,
  tokenId: Schema.Int,
}) {}

export class UpdateUser extends Schema.TaggedClass<UpdateUser>()("UpdateUser", {
  ...Envelope,
  user: Schema.String,
  name: Schema.optional(Schema.NullOr(Schema.String)),
  email: Schema.optional(Schema.NullOr(Schema.String)),
  bio: Schema.optional(Schema.NullOr(Schema.String)),
}) {}

export class AddSshKey extends Schema.TaggedClass<AddSshKey>()("AddSshKey", {
  ...Envelope,
  user: Schema.String,
  title: Schema.String,
  /** OpenSSH public key line: `ssh-ed25519 AAAA... comment`. */
  key: Schema.String,
}) {}

export class RemoveSshKey extends Schema.TaggedClass<RemoveSshKey>()("RemoveSshKey", {
  ...Envelope,
  user: Schema.String,
  keyId: Schema.Int,
}) {}

const OrgRole = Schema.Literal("admin", "member")
const TeamRole = Schema.Literal("member", "maintainer")
const Level = Schema.Literal("read", "triage", "write", "maintain", "admin")

export class CreateOrganization extends Schema.TaggedClass<CreateOrganization>()(
  "CreateOrganization",
  {
    ...Envelope,
    login: Schema.String,
    name: Schema.optional(Schema.String),
    /** The first owner. */
    admin: Schema.String,
  },
) {}

export class SetOrgMembership extends Schema.TaggedClass<SetOrgMembership>()("SetOrgMembership", {
  ...Envelope,
  org: Schema.String,
  user: Schema.String,
  /** null removes the member (and their team memberships in the organisation). */
  role: Schema.NullOr(OrgRole),
}) {}

export class CreateTeam extends Schema.TaggedClass<CreateTeam>()("CreateTeam", {
  ...Envelope,
  org: Schema.String,
  name: Schema.String,
  description: Schema.optional(Schema.String),
  privacy: Schema.Literal("secret", "closed"),
  parent: Schema.optional(Schema.String),
  /** The level granted on repositories added without one (GitHub's legacy `permission`). */
  permission: Level,
}) {}

export class DeleteTeam extends Schema.TaggedClass<DeleteTeam>()("DeleteTeam", {
  ...Envelope,
  org: Schema.String,
  team: Schema.String,
}) {}

export class SetTeamMembership extends Schema.TaggedClass<SetTeamMembership>()(
  "SetTeamMembership",
  {
    ...Envelope,
    org: Schema.String,
    team: Schema.String,
    user: Schema.String,
    role: Schema.NullOr(TeamRole),
  },
) {}

export class SetTeamRepository extends Schema.TaggedClass<SetTeamRepository>()(
  "SetTeamRepository",
  {
    ...Envelope,
    org: Schema.String,
    team: Schema.String,
    owner: Schema.String,
    repo: Schema.String,
    permission: Schema.NullOr(Level),
  },
) {}

export class SetCollaborator extends Schema.TaggedClass<SetCollaborator>()("SetCollaborator", {
  ...Envelope,
  owner: Schema.String,
  repo: Schema.String,
  user: Schema.String,
  permission: Schema.NullOr(Level),
}) {}

export class CreateRepository extends Schema.TaggedClass<CreateRepository>()("CreateRepository", {
  ...Envelope,
  owner: Schema.String,
  name: Schema.String,
  description: Schema.optional(Schema.String),
  private: Schema.Boolean,
  /** Overrides `private` when set: public, private or internal. */
  visibility: Schema.optional(Schema.Literal("public", "private", "internal")),
  defaultBranch: Schema.String,
}) {}

export class UpdateRepository extends Schema.TaggedClass<UpdateRepository>()("UpdateRepository", {
  ...Envelope,
  owner: Schema.String,
  repo: Schema.String,
  /** A rename; the old name keeps redirecting. */
  name: Schema.optional(Schema.String),
  description: Schema.optional(Schema.NullOr(Schema.String)),
  visibility: Schema.optional(Schema.Literal("public", "private", "internal")),
  defaultBranch: Schema.optional(Schema.String),
}) {}

export class TransferRepository extends Schema.TaggedClass<TransferRepository>()(
  "TransferRepository",
  {
    ...Envelope,
    owner: Schema.String,
    repo: Schema.String,
    newOwner: Schema.String,
    newName: Schema.optional(Schema.String),
  },
) {}

export class DeleteRepository extends Schema.TaggedClass<DeleteRepository>()("DeleteRepository", {
  ...Envelope,
  owner: Schema.String,
  repo: Schema.String,
}) {}

export class SetBranchProtection extends Schema.TaggedClass<SetBranchProtection>()(
  "SetBranchProtection",
  {
    ...Envelope,
    owner: Schema.String,
    repo: Schema.String,
    branch: Schema.String,
    /** GitHub's request body as JSON (validated again in apply); null removes protection. */
    rule: Schema.NullOr(Schema.String),
  },
) {}

export const RefChange = Schema.Struct({
  name: Schema.String,
  /** 40 hex; all zeros: the ref must not exist. */
  old: Schema.String,
  /** 40 hex; all zeros: delete. */
  new: Schema.String,
})
export type RefChange = typeof RefChange.Type

export class UpdateRefs extends Schema.TaggedClass<UpdateRefs>()("UpdateRefs", {
  ...Envelope,
  owner: Schema.String,
  repo: Schema.String,
  changes: Schema.Array(RefChange),
  /** All changes or none (git's `atomic` capability). */
  atomic: Schema.Boolean,
  /**
   * The signed push certificate (`git push --signed`), verbatim. Every validator checks
   * its signature against the submitter's registered keys and that it names exactly these
   * changes, so no node can forge a signed push.
   */
  pushCert: Schema.optional(Schema.String),
}) {}

export class CreateStatus extends Schema.TaggedClass<CreateStatus>()("CreateStatus", {
  ...Envelope,
  owner: Schema.String,
  repo: Schema.String,
  sha: Schema.String,
  state: Schema.Literal("error", "failure", "pending", "success"),
  context: Schema.String,
  description: Schema.optional(Schema.NullOr(Schema.String)),
  targetUrl: Schema.optional(Schema.NullOr(Schema.String)),
}) {}

// --- collaboration ---

const RepoRef = { owner: Schema.String, repo: Schema.String }

export class CreateIssue extends Schema.TaggedClass<CreateIssue>()("CreateIssue", {
  ...Envelope,
  ...RepoRef,
  title: Schema.String,
  body: Schema.optional(Schema.NullOr(Schema.String)),
  assignees: Schema.optional(Schema.Array(Schema.String)),
  labels: Schema.optional(Schema.Array(Schema.String)),
  milestone: Schema.optional(Schema.NullOr(Schema.Int)),
}) {}

export class UpdateIssue extends Schema.TaggedClass<UpdateIssue>()("UpdateIssue", {
  ...Envelope,
  ...RepoRef,
  number: Schema.Int,
  title: Schema.optional(Schema.String),
  body: Schema.optional(Schema.NullOr(Schema.String)),
  state: Schema.optional(Schema.Literal("open", "closed")),
  stateReason: Schema.optional(
    Schema.NullOr(Schema.Literal("completed", "not_planned", "reopened")),
  ),
  /** Replaces the assignees (`assignees: []` clears them). */
  assignees: Schema.optional(Schema.Array(Schema.String)),
  addAssignees: Schema.optional(Schema.Array(Schema.String)),
  removeAssignees: Schema.optional(Schema.Array(Schema.String)),
  /** Replaces the labels. */
  labels: Schema.optional(Schema.Array(Schema.String)),
  addLabels: Schema.optional(Schema.Array(Schema.String)),
  removeLabels: Schema.optional(Schema.Array(Schema.String)),
  milestone: Schema.optional(Schema.NullOr(Schema.Int)),
}) {}

export class LockIssue extends Schema.TaggedClass<LockIssue>()("LockIssue", {
  ...Envelope,
  ...RepoRef,
  number: Schema.Int,
  locked: Schema.Boolean,
  reason: Schema.optional(Schema.NullOr(Schema.String)),
}) {}

export class CreateComment extends Schema.TaggedClass<CreateComment>()("CreateComment", {
  ...Envelope,
  ...RepoRef,
  number: Schema.Int,
  body: Schema.String,
}) {}

export class UpdateComment extends Schema.TaggedClass<UpdateComment>()("UpdateComment", {
  ...Envelope,
  ...RepoRef,
  commentId: Schema.Int,
  /** undefined with `delete`: the comment is removed. */
  body: Schema.optional(Schema.String),
  delete: Schema.optional(Schema.Boolean),
}) {}

export class SetLabel extends Schema.TaggedClass<SetLabel>()("SetLabel", {
  ...Envelope,
  ...RepoRef,
  /** The label's current name; absent to create one. */
  name: Schema.optional(Schema.String),
  newName: Schema.optional(Schema.String),
  color: Schema.optional(Schema.String),
  description: Schema.optional(Schema.NullOr(Schema.String)),
  delete: Schema.optional(Schema.Boolean),
}) {}

export class SetMilestone extends Schema.TaggedClass<SetMilestone>()("SetMilestone", {
  ...Envelope,
  ...RepoRef,
  /** Absent to create one. */
  number: Schema.optional(Schema.Int),
  title: Schema.optional(Schema.String),
  description: Schema.optional(Schema.NullOr(Schema.String)),
  state: Schema.optional(Schema.Literal("open", "closed")),
  dueOn: Schema.optional(Schema.NullOr(Schema.Number)),
  delete: Schema.optional(Schema.Boolean),
}) {}

export const REACTIONS = [
  "+1",
  "-1",
  "laugh",
  "confused",
  "heart",
  "hooray",
  "rocket",
  "eyes",
] as const

export class SetReaction extends Schema.TaggedClass<SetReaction>()("SetReaction", {
  ...Envelope,
  ...RepoRef,
  subject: Schema.Literal("issue", "comment"),
  /** The issue number, or the comment id. */
  id: Schema.Int,
  content: Schema.Literal(...REACTIONS),
  /** Set to remove the reaction with this id instead. */
  removeId: Schema.optional(Schema.Int),
}) {}

// --- pull requests ---

export class CreatePull extends Schema.TaggedClass<CreatePull>()("CreatePull", {
  ...Envelope,
  ...RepoRef,
  title: Schema.String,
  body: Schema.optional(Schema.NullOr(Schema.String)),
  /** `branch`, or `owner:branch` for a fork's branch. */
  head: Schema.String,
  base: Schema.String,
  draft: Schema.optional(Schema.Boolean),
}) {}

export class UpdatePull extends Schema.TaggedClass<UpdatePull>()("UpdatePull", {
  ...Envelope,
  ...RepoRef,
  number: Schema.Int,
  base: Schema.optional(Schema.String),
  draft: Schema.optional(Schema.Boolean),
}) {}

export class MergePull extends Schema.TaggedClass<MergePull>()("MergePull", {
  ...Envelope,
  ...RepoRef,
  number: Schema.Int,
  method: Schema.Literal("merge", "squash", "rebase"),
  commitTitle: Schema.optional(Schema.String),
  commitMessage: Schema.optional(Schema.String),
  /** The head the caller saw; the merge is refused if the head moved. */
  sha: Schema.optional(Schema.String),
}) {}

export const ReviewDraftComment = Schema.Struct({
  path: Schema.String,
  line: Schema.Int,
  side: Schema.optional(Schema.Literal("LEFT", "RIGHT")),
  body: Schema.String,
})

export class CreateReview extends Schema.TaggedClass<CreateReview>()("CreateReview", {
  ...Envelope,
  ...RepoRef,
  number: Schema.Int,
  /** Absent: a pending review, visible to its author until submitted. */
  event: Schema.optional(Schema.Literal("APPROVE", "REQUEST_CHANGES", "COMMENT")),
  body: Schema.optional(Schema.NullOr(Schema.String)),
  commitId: Schema.optional(Schema.String),
  comments: Schema.optional(Schema.Array(ReviewDraftComment)),
}) {}

export class SubmitReview extends Schema.TaggedClass<SubmitReview>()("SubmitReview", {
  ...Envelope,
  ...RepoRef,
  number: Schema.Int,
  reviewId: Schema.Int,
  /** DISMISS dismisses a submitted approval or change request (with `body` as the message). */
  event: Schema.Literal("APPROVE", "REQUEST_CHANGES", "COMMENT", "DISMISS"),
  body: Schema.optional(Schema.NullOr(Schema.String)),
}) {}

export class CreateReviewComment extends Schema.TaggedClass<CreateReviewComment>()(
  "CreateReviewComment",
  {
    ...Envelope,
    ...RepoRef,
    number: Schema.Int,
    body: Schema.String,
    path: Schema.optional(Schema.String),
    line: Schema.optional(Schema.Int),
    side: Schema.optional(Schema.Literal("LEFT", "RIGHT")),
    commitId: Schema.optional(Schema.String),
    inReplyTo: Schema.optional(Schema.Int),
  },
) {}

export class RequestReviewers extends Schema.TaggedClass<RequestReviewers>()("RequestReviewers", {
  ...Envelope,
  ...RepoRef,
  number: Schema.Int,
  reviewers: Schema.Array(Schema.String),
  /** Team slugs of the repository's organisation. */
  teams: Schema.optional(Schema.Array(Schema.String)),
  remove: Schema.Boolean,
}) {}

export class CreateFork extends Schema.TaggedClass<CreateFork>()("CreateFork", {
  ...Envelope,
  ...RepoRef,
  /** The organisation to fork into; the submitter's account when absent. */
  organization: Schema.optional(Schema.String),
  name: Schema.optional(Schema.String),
}) {}

// --- contents and releases ---

const Person = Schema.Struct({ name: Schema.String, email: Schema.String })

export class CommitFile extends Schema.TaggedClass<CommitFile>()("CommitFile", {
  ...Envelope,
  ...RepoRef,
  branch: Schema.optional(Schema.String),
  path: Schema.String,
  message: Schema.String,
  /** Base64 content; absent to delete the file. */
  content: Schema.optional(Schema.String),
  /** The blob id the file has now (required to update or delete, like GitHub). */
  sha: Schema.optional(Schema.String),
  author: Schema.optional(Person),
  committer: Schema.optional(Person),
}) {}

export class SetRelease extends Schema.TaggedClass<SetRelease>()("SetRelease", {
  ...Envelope,
  ...RepoRef,
  /** Absent to create a release. */
  id: Schema.optional(Schema.Int),
  tagName: Schema.optional(Schema.String),
  targetCommitish: Schema.optional(Schema.String),
  name: Schema.optional(Schema.NullOr(Schema.String)),
  body: Schema.optional(Schema.NullOr(Schema.String)),
  draft: Schema.optional(Schema.Boolean),
  prerelease: Schema.optional(Schema.Boolean),
  delete: Schema.optional(Schema.Boolean),
}) {}

export class SetReleaseAsset extends Schema.TaggedClass<SetReleaseAsset>()("SetReleaseAsset", {
  ...Envelope,
  ...RepoRef,
  releaseId: Schema.Int,
  /** Absent to add an asset. */
  id: Schema.optional(Schema.Int),
  name: Schema.optional(Schema.String),
  label: Schema.optional(Schema.NullOr(Schema.String)),
  contentType: Schema.optional(Schema.String),
  /** The git blob holding the bytes (replicated like any object before this transaction). */
  blob: Schema.optional(Schema.String),
  size: Schema.optional(Schema.Int),
  delete: Schema.optional(Schema.Boolean),
}) {}

// --- webhooks ---

export class SetHook extends Schema.TaggedClass<SetHook>()("SetHook", {
  ...Envelope,
  /** A repository hook (`owner/repo`) or an organisation hook (`org`). */
  owner: Schema.String,
  repo: Schema.optional(Schema.String),
  /** Absent to create one. */
  id: Schema.optional(Schema.Int),
  url: Schema.optional(Schema.String),
  contentType: Schema.optional(Schema.Literal("json", "form")),
  secret: Schema.optional(Schema.NullOr(Schema.String)),
  events: Schema.optional(Schema.Array(Schema.String)),
  active: Schema.optional(Schema.Boolean),
  delete: Schema.optional(Schema.Boolean),
}) {}

// --- CI (workflow runs, runners, secrets; see src/services/apply/Ci.ts) ---

/** A registration token for runners of a repository (`repo` set), an organisation, or the site. */
export class CreateRunnerToken extends Schema.TaggedClass<CreateRunnerToken>()(
  "CreateRunnerToken",
  {
    ...Envelope,
    /** The repository's owner or the organisation; "" for a site-wide token (administrators). */
    owner: Schema.String,
    repo: Schema.optional(Schema.String),
    tokenHash: Schema.String,
  },
) {}

/** A runner registers (submitted by the node that checked nothing but the body's shape). */
export class RegisterRunner extends Schema.TaggedClass<RegisterRunner>()("RegisterRunner", {
  ...Envelope,
  registrationTokenHash: Schema.String,
  runnerTokenHash: Schema.String,
  name: Schema.String,
  labels: Schema.Array(Schema.String),
  version: Schema.optional(Schema.String),
}) {}

export class RemoveRunner extends Schema.TaggedClass<RemoveRunner>()("RemoveRunner", {
  ...Envelope,
  /** As in CreateRunnerToken: the runner's scope. */
  owner: Schema.String,
  repo: Schema.optional(Schema.String),
  runnerId: Schema.Int,
}) {}

/** `workflow_dispatch`: a run of one workflow at a ref, with inputs. */
export class DispatchWorkflow extends Schema.TaggedClass<DispatchWorkflow>()("DispatchWorkflow", {
  ...Envelope,
  owner: Schema.String,
  repo: Schema.String,
  /** The workflow's file name or path (`ci.yml`, `.guts/workflows/ci.yml`) or its id. */
  workflow: Schema.String,
  ref: Schema.String,
  inputs: Schema.Record({ key: Schema.String, value: Schema.String }),
}) {}

export class CancelRun extends Schema.TaggedClass<CancelRun>()("CancelRun", {
  ...Envelope,
  owner: Schema.String,
  repo: Schema.String,
  runId: Schema.Int,
}) {}

export class RerunRun extends Schema.TaggedClass<RerunRun>()("RerunRun", {
  ...Envelope,
  owner: Schema.String,
  repo: Schema.String,
  runId: Schema.Int,
  /** Only the failed and cancelled jobs (and those that need them). */
  failedOnly: Schema.optional(Schema.Boolean),
}) {}

/** Runner-side transactions name the runner and the claim (`attempt`) they are about. */
const JobClaim = {
  runnerId: Schema.Int,
  jobId: Schema.Int,
  attempt: Schema.Int,
}

export class ClaimJob extends Schema.TaggedClass<ClaimJob>()("ClaimJob", {
  ...Envelope,
  runnerId: Schema.Int,
  jobId: Schema.Int,
  /** The job's attempt the node saw queued (a claim of an older attempt is refused). */
  attempt: Schema.Int,
  /** sha256 of the job's git token. */
  gitTokenHash: Schema.String,
}) {}

export class RenewJobLease extends Schema.TaggedClass<RenewJobLease>()("RenewJobLease", {
  ...Envelope,
  ...JobClaim,
}) {}

export class ReportStep extends Schema.TaggedClass<ReportStep>()("ReportStep", {
  ...Envelope,
  ...JobClaim,
  number: Schema.Int,
  status: Schema.Literal("in_progress", "completed"),
  conclusion: Schema.optional(Schema.Literal("success", "failure", "cancelled", "skipped")),
}) {}

export class AddArtifact extends Schema.TaggedClass<AddArtifact>()("AddArtifact", {
  ...Envelope,
  ...JobClaim,
  name: Schema.String,
  contentType: Schema.String,
  /** The git blob holding the bytes (replicated before this transaction). */
  blob: Schema.String,
  digest: Schema.String,
  size: Schema.Int,
}) {}

export class CompleteJob extends Schema.TaggedClass<CompleteJob>()("CompleteJob", {
  ...Envelope,
  ...JobClaim,
  conclusion: Schema.Literal("success", "failure", "cancelled"),
  outputs: Schema.Record({ key: Schema.String, value: Schema.String }),
  /** The sealed log, a git blob replicated before this transaction. */
  logBlob: Schema.String,
  logSize: Schema.Int,
}) {}

/** A repository (`repo` set) or organisation secret, sealed at request time; absent `sealed` deletes. */
export class SetSecret extends Schema.TaggedClass<SetSecret>()("SetSecret", {
  ...Envelope,
  owner: Schema.String,
  repo: Schema.optional(Schema.String),
  name: Schema.String,
  sealed: Schema.optional(Schema.String),
}) {}

export const Transaction = Schema.Union(
  CreateUser,
  UpdateUser,
  CreateToken,
  RevokeToken,
  AddSshKey,
  RemoveSshKey,
  CreateOrganization,
  SetOrgMembership,
  CreateTeam,
  DeleteTeam,
  SetTeamMembership,
  SetTeamRepository,
  SetCollaborator,
  CreateRepository,
  UpdateRepository,
  TransferRepository,
  DeleteRepository,
  SetBranchProtection,
  CreateStatus,
  CreateIssue,
  UpdateIssue,
  LockIssue,
  CreateComment,
  UpdateComment,
  SetLabel,
  SetMilestone,
  SetReaction,
  CreatePull,
  UpdatePull,
  MergePull,
  CreateReview,
  SubmitReview,
  CreateReviewComment,
  RequestReviewers,
  CreateFork,
  CommitFile,
  SetRelease,
  SetReleaseAsset,
  SetHook,
  UpdateRefs,
  CreateRunnerToken,
  RegisterRunner,
  RemoveRunner,
  DispatchWorkflow,
  CancelRun,
  RerunRun,
  ClaimJob,
  RenewJobLease,
  ReportStep,
  AddArtifact,
  CompleteJob,
  SetSecret,
)
export type Transaction = typeof Transaction.Type

/** What applying one transaction did. `rejected` carries a reason a user can act on. */
export type TxOutcome =
  | { readonly _tag: "Applied"; readonly height: number; readonly detail?: unknown }
  | {
      readonly _tag: "Rejected"
      readonly height: number
      readonly reason: string
      readonly detail?: unknown
    }

/** Per-ref results of an UpdateRefs (for git's report-status). */
export interface RefResult {
  readonly name: string
  readonly ok: boolean
  readonly reason?: string
}

export interface Block {
  readonly height: number
  /** Milliseconds since the epoch, chosen by the block's proposer. */
  readonly timestamp: number
  readonly txs: ReadonlyArray<Transaction>
}
