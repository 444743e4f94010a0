/**
 * Submitting a transaction from a request: the ledger's outcome becomes either Apply's
 * detail or the refusal a caller understands (NotFound, Forbidden, Invalid, ...).
 */
import { Effect } from "effect"
import type { Transaction } from "../domain/Transaction.ts"
import { refusalOf } from "./Errors.ts"
import type { LedgerShape } from "./Ledger.ts"

export const submitTx = <D>(
  ledger: LedgerShape,
  tx: Transaction,
  resource: string,
  field?: string,
) =>
  Effect.flatMap(ledger.submit(tx), (outcome) =>
    outcome._tag === "Rejected"
      ? Effect.fail(refusalOf(outcome, resource, field))
      : Effect.succeed(outcome.detail as D),
  )
