/**
 * The cluster file: validators (with addresses) in consensus order, and optional full
 * nodes (an address only if validators should dial them); anything else is refused with
 * the expected shape in the message.
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { describe, expect, it } from "vitest"
import { ClusterConfigInvalid, readClusterFile } from "../../src/layers/chain/ClusterFile.ts"

const key = (c: string) => c.repeat(64)
const write = (content: unknown) => {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "guts-cluster-file-")), "c.json")
  fs.writeFileSync(file, typeof content === "string" ? content : JSON.stringify(content))
  return file
}
const validator = (c: string, port: number) => ({
  publicKey: key(c),
  address: `/ip4/127.0.0.1/tcp/${port}`,
})

describe("readClusterFile", () => {
  it("reads validators in order, and full nodes with or without an address", () => {
    const file = write({
      validators: [validator("a", 9000), validator("b", 9001)],
      fullNodes: [
        { publicKey: key("c"), address: "/ip4/127.0.0.1/tcp/9100" },
        { publicKey: key("d") },
      ],
    })
    const cluster = readClusterFile(file)
    expect(cluster.validators.map((v) => v.publicKey)).toEqual([key("a"), key("b")])
    expect(cluster.fullNodes).toEqual([
      { publicKey: key("c"), address: "/ip4/127.0.0.1/tcp/9100" },
      { publicKey: key("d") },
    ])
  })

  it("treats a file without fullNodes as validators only", () => {
    expect(readClusterFile(write({ validators: [validator("a", 9000)] })).fullNodes).toEqual([])
  })

  const invalid: ReadonlyArray<[string, unknown]> = [
    ["no validators", { validators: [] }],
    ["a validator without an address", { validators: [{ publicKey: key("a") }] }],
    [
      "a key that is not 64 hex digits",
      { validators: [{ publicKey: "ab", address: "/ip4/1.2.3.4/tcp/1" }] },
    ],
    ["fullNodes that is not a list", { validators: [validator("a", 1)], fullNodes: {} }],
    [
      "a key listed twice",
      { validators: [validator("a", 1)], fullNodes: [{ publicKey: key("a") }] },
    ],
    ["text that is not JSON", "{validators"],
  ]
  for (const [what, content] of invalid)
    it(`refuses ${what}`, () => {
      expect(() => readClusterFile(write(content))).toThrow(ClusterConfigInvalid)
    })
})
