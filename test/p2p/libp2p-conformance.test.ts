/**
 * The Network conformance suite against the libp2p layer: real TCP connections on
 * 127.0.0.1, Noise and yamux, between networks in this process.
 */
import { Effect } from "effect"
import { generateNodeKey } from "../../src/layers/p2p/NodeKey.ts"
import type { NetworkShape } from "../../src/services/Network.ts"
import { networkConformance } from "../conformance/Network.conformance.ts"
import { type Member, member, startNetwork } from "./support.ts"

// Which member each running network is, so a stranger can be pointed at them.
const members = new WeakMap<NetworkShape, Member>()

networkConformance("libp2p", {
  make: (n) =>
    Effect.gen(function* () {
      const group = yield* Effect.promise(() =>
        Promise.all(Array.from({ length: n }, () => member())),
      )
      return yield* Effect.forEach(group, (self) =>
        startNetwork(self, group).pipe(
          Effect.tap((network) => Effect.sync(() => members.set(network, self))),
        ),
      )
    }),
  stranger: (nets) =>
    Effect.gen(function* () {
      const self = yield* Effect.promise(() => member(generateNodeKey()))
      const known = nets.map((n) => members.get(n) as Member)
      return yield* startNetwork(self, known)
    }),
})
