/**
 * Two real processes: this test's process and a peer spawned with `node --import tsx`,
 * talking over TCP on 127.0.0.1 through libp2p. The peer echoes what it receives.
 */
import { type ChildProcess, spawn } from "node:child_process"
import * as path from "node:path"
import { Effect } from "effect"
import { afterEach, describe, expect, it } from "vitest"
import { generateNodeKey, nodeKeyFromSeed } from "../../src/layers/p2p/NodeKey.ts"
import { type Channel, Channels } from "../../src/services/Network.ts"
import { address, eventually, member, read, startNetwork, take, text } from "./support.ts"

const fixture = path.join(import.meta.dirname, "fixtures", "peer.ts")
const children: ChildProcess[] = []
afterEach(() => {
  for (const child of children.splice(0)) child.kill("SIGKILL")
})

/** Spawns the echo peer; resolves once it prints "ready". */
const spawnPeer = (config: object) =>
  new Promise<{ child: ChildProcess; self: string; exited: Promise<number | null> }>(
    (resolve, reject) => {
      const child = spawn(process.execPath, ["--import", "tsx", fixture, JSON.stringify(config)], {
        cwd: process.cwd(),
        stdio: ["pipe", "pipe", "pipe"],
      })
      children.push(child)
      const exited = new Promise<number | null>((done) => child.once("exit", (code) => done(code)))
      let out = ""
      let err = ""
      child.stderr?.on("data", (d) => {
        err += d
      })
      child.stdout?.on("data", (d) => {
        out += d
        const match = /ready ([0-9a-f]{64})\n/.exec(out)
        if (match) resolve({ child, self: match[1], exited })
      })
      child.once("exit", (code) => reject(new Error(`peer exited (${code}) before ready: ${err}`)))
    },
  )

describe("libp2p across processes", () => {
  it("a peer in another process connects, and echoes messages back on every channel", () =>
    Effect.runPromise(
      Effect.scoped(
        Effect.gen(function* () {
          const local = yield* Effect.promise(() => member())
          const seed = generateNodeKey().seed
          const remote = yield* Effect.promise(() => member(nodeKeyFromSeed(seed)))
          const peer = yield* Effect.promise(() =>
            spawnPeer({
              seed: Buffer.from(seed).toString("hex"),
              port: remote.port,
              peers: [{ publicKey: local.key.publicKeyHex, address: address(local.port) }],
            }),
          )
          expect(peer.self).toBe(remote.key.publicKeyHex)
          const network = yield* startNetwork(local, [remote])
          yield* eventually(
            "the other process is connected",
            Effect.map(network.connected, (l) => l.includes(remote.key.publicKeyHex)),
          )
          const channels = Object.values(Channels) as ReadonlyArray<Channel>
          for (let i = 0; i < 20; i++) {
            for (const channel of channels) {
              yield* network.send(channel, [remote.key.publicKeyHex], text(`${channel}:${i}`))
            }
          }
          const got = yield* take(network, 20 * channels.length)
          for (const m of got) expect(m.from).toBe(remote.key.publicKeyHex)
          for (const channel of channels) {
            expect(got.filter((m) => m.channel === channel).map(read)).toEqual(
              Array.from({ length: 20 }, (_, i) => `echo:${channel}:${i}`),
            )
          }
          // Closing its stdin stops the peer cleanly, and we see it leave.
          peer.child.stdin?.end()
          expect(yield* Effect.promise(() => peer.exited)).toBe(0)
          yield* eventually(
            "the other process is gone",
            Effect.map(network.connected, (l) => l.length === 0),
          )
        }),
      ),
    ))
})
