/**
 * The best finalized height a node can trust from what validators tell it: the (f+1)-th
 * highest height reported (at least one honest validator has finalized it, so a faulty one
 * cannot make a node look behind by claiming a huge height), and never below the node's
 * own applied height. With f or fewer reports, only the node's own height is known.
 */
export const trustedPeerHeight = (
  reports: ReadonlyArray<number>,
  faults: number,
  own: number,
): number => {
  if (reports.length <= faults) return own
  const sorted = [...reports].sort((a, b) => b - a)
  return Math.max(own, sorted[faults]!)
}
