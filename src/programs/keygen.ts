/**
 * `guts keygen --out <file> [--force]`: creates a node key (Ed25519, PKCS#8 PEM, mode 0600)
 * and prints what the other validators need to configure this node as a peer: the public
 * key (the node's PeerId) and its libp2p peer id. An existing file is never overwritten
 * unless --force is given.
 */
import { Command, Options } from "@effect/cli"
import { Console, Effect } from "effect"
import type { KeyFileAccess, KeyFileExists } from "../layers/p2p/NodeKey.ts"

export interface KeygenArgs {
  /** Where to write the key file. */
  readonly out: string
  /** Replace an existing key file. */
  readonly force?: boolean
}

export interface KeygenResult {
  readonly path: string
  readonly publicKey: string
  readonly libp2pPeerId: string
}

export const runKeygen = (
  args: KeygenArgs,
): Effect.Effect<KeygenResult, KeyFileExists | KeyFileAccess> =>
  Effect.gen(function* () {
    // Loaded here, not at the top: `guts` itself must not load libp2p for every command.
    const { generateNodeKey, libp2pPeerIdOf, writeNodeKey } = yield* Effect.promise(
      () => import("../layers/p2p/NodeKey.ts"),
    )
    const key = generateNodeKey()
    yield* writeNodeKey(args.out, key, { force: args.force ?? false })
    const result: KeygenResult = {
      path: args.out,
      publicKey: key.publicKeyHex,
      libp2pPeerId: libp2pPeerIdOf(key).toString(),
    }
    yield* Console.log(`public key:    ${result.publicKey}`)
    yield* Console.log(`libp2p peer id: ${result.libp2pPeerId}`)
    yield* Console.log(`key written to ${result.path} (mode 0600)`)
    return result
  })

const out = Options.text("out").pipe(
  Options.withDescription("file to write the private key to (PKCS#8 PEM, mode 0600)"),
)
const force = Options.boolean("force").pipe(
  Options.withDescription("overwrite the file if it exists (the old key is lost)"),
)

/** The `keygen` subcommand, ready to add to the `guts` command. */
export const keygenCommand = Command.make("keygen", { out, force }, runKeygen).pipe(
  Command.withDescription("generate a node key (Ed25519) for p2p identity and signing"),
)
