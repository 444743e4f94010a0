/**
 * The application seam of consensus (spec §5): what the driver asks of the node's
 * application, as Effect services. Consensus only ever sees digests; the application
 * builds, stores, moves and checks the block bytes.
 *
 * - Automaton.propose: build a block on the given parent and return its digest, or
 *   undefined to decline (the engine then nullifies the view at once).
 * - Automaton.verify: a stable verdict. Return false only for a permanently invalid
 *   proposal; keep the Effect pending while data is missing. A failure counts as false.
 * - Automaton.certify: deterministic across honest nodes (default: true). A failure is
 *   treated as "no answer": the engine asks again after a restart.
 * - Relay.broadcast: send the block bytes of our proposal to everyone.
 * - Reporter.report: every activity of the engine (votes, certificates, evidence).
 */
import { Context, Data, type Effect } from "effect"
import type { Activity } from "../../domain/consensus/Engine.ts"
import type { Context as ProposalContext, Digest, Round } from "../../domain/consensus/Types.ts"

export class ApplicationUnavailable extends Data.TaggedError("ApplicationUnavailable")<{
  readonly operation: "propose" | "verify" | "certify"
  readonly reason: string
}> {}

export interface AutomatonShape {
  readonly propose: (
    context: ProposalContext,
  ) => Effect.Effect<Digest | undefined, ApplicationUnavailable>
  readonly verify: (
    context: ProposalContext,
    digest: Digest,
  ) => Effect.Effect<boolean, ApplicationUnavailable>
  readonly certify: (round: Round, digest: Digest) => Effect.Effect<boolean, ApplicationUnavailable>
}

export class Automaton extends Context.Tag("guts/consensus/Automaton")<
  Automaton,
  AutomatonShape
>() {}

export interface RelayPlan {
  readonly _tag: "Propose"
  readonly round: Round
}

export interface RelayShape {
  readonly broadcast: (digest: Digest, plan: RelayPlan) => Effect.Effect<void>
}

export class Relay extends Context.Tag("guts/consensus/Relay")<Relay, RelayShape>() {}

export interface ReporterShape {
  readonly report: (activity: Activity) => Effect.Effect<void>
}

export class Reporter extends Context.Tag("guts/consensus/Reporter")<Reporter, ReporterShape>() {}
