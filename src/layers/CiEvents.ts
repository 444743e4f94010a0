/**
 * `workflow_run` events (GitHub's webhook and live-event shape) for the run changes a block
 * made: requested when a run (or a rerun) is created, in_progress when its first job is
 * claimed, completed when its last job finished. Apply records them per block height in
 * replicated state, so every node builds the same events for the same block.
 */
import { Effect } from "effect"
import type { MetadataShape } from "../services/Metadata.ts"
import { runJson, workflowJson } from "./http/CiPresenters.ts"
import { accountJson, repoJson } from "./http/Presenters.ts"
import type { HookEvent } from "./WebhookDispatcher.ts"

export const workflowRunEvents = (meta: MetadataShape, base: string, height: number) =>
  Effect.gen(function* () {
    const out: Array<HookEvent & { readonly id: number }> = []
    for (const e of yield* meta.ciRunEventsAt(height)) {
      const run = yield* meta.ciRun(e.run_id)
      const repo = run ? yield* meta.repoById(run.repo_id) : undefined
      if (!run || !repo) continue
      const workflow = yield* meta.ciWorkflow(run.workflow_id)
      const actor = yield* meta.userById(run.actor_id)
      out.push({
        id: e.id,
        event: "workflow_run",
        action: e.action,
        repo,
        payload: {
          action: e.action,
          workflow_run: {
            ...runJson(base, repo, run),
            status: e.action === "requested" ? "queued" : run.status,
          },
          workflow: workflow ? workflowJson(base, repo, workflow) : null,
          repository: repoJson(base, repo),
          ...(actor ? { sender: accountJson(base, actor) } : {}),
        },
      })
    }
    return out
  })
