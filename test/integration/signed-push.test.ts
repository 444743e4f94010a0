/**
 * Signed pushes: a user registers an SSH Ed25519 key made by `ssh-keygen`, pushes with
 * `git push --signed` (gpg.format=ssh), and the push certificate — carried in the
 * transaction and verified in apply — is accepted; a branch rule can require it. A
 * certificate that was altered after signing, signed by someone else's key, or naming
 * other refs than the push is refused, and nothing changes.
 */
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { Effect } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type ObjectId, ZERO_ID } from "../../src/domain/git/ObjectId.ts"
import { UpdateRefs, type UserId } from "../../src/domain/Transaction.ts"
import { Ledger } from "../../src/services/Ledger.ts"
import { Metadata } from "../../src/services/Metadata.ts"
import { type Api, apiClient, makeUser } from "../support/Api.ts"
import { authUrl, commitAll, git, initRepo, runGit, write } from "../support/Git.ts"
import { buildPack, commitWithFile, FLUSH, parsePktLines, pkt } from "../support/RawGit.ts"
import { type RunningNode, startNode, tempDir } from "../support/TestNode.ts"

let node: RunningNode
let alice: { login: string; token: string }
let mallory: { login: string; token: string }
let aliceApi: Api
let dir: string
let work: string
let aliceKey: string
let malloryKey: string

const keygen = (file: string, comment: string) => {
  execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", file])
  return file
}

/** `ssh-keygen -Y sign -n git`, as git does for gpg.format=ssh. */
const sshSign = (key: string, payload: string) =>
  execFileSync("ssh-keygen", ["-Y", "sign", "-n", "git", "-f", key], { input: payload }).toString()

const signedPushEnv = (key: string) => ({
  GIT_CONFIG_COUNT: "2",
  GIT_CONFIG_KEY_0: "gpg.format",
  GIT_CONFIG_VALUE_0: "ssh",
  GIT_CONFIG_KEY_1: "user.signingKey",
  GIT_CONFIG_VALUE_1: key,
})

beforeAll(async () => {
  node = await startNode({ storage: "memory" })
  const admin = apiClient(node.url, node.token)
  const scopes = ["repo", "write:public_key", "admin:public_key"]
  alice = await makeUser(admin, "alice", scopes)
  mallory = await makeUser(admin, "mallory", scopes)
  aliceApi = apiClient(node.url, alice.token)
  dir = tempDir("signed")
  aliceKey = keygen(path.join(dir, "alice_ed25519"), "alice@example.test")
  malloryKey = keygen(path.join(dir, "mallory_ed25519"), "mallory@example.test")
  const added = await aliceApi("POST", "/user/keys", {
    title: "laptop",
    key: fs.readFileSync(`${aliceKey}.pub`, "utf8"),
  })
  expect(added.status, JSON.stringify(added.body)).toBe(201)
  const added2 = await apiClient(node.url, mallory.token)("POST", "/user/keys", {
    title: "mallory",
    key: fs.readFileSync(`${malloryKey}.pub`, "utf8"),
  })
  expect(added2.status).toBe(201)
  expect((await aliceApi("POST", "/user/repos", { name: "signed" })).status).toBe(201)
  work = await initRepo(path.join(dir, "work"))
  write(work, "a.txt", "one\n")
  await commitAll(work, "one", 1)
}, 60_000)

afterAll(async () => {
  await node?.close()
})

const remote = () => authUrl(`${node.url}/alice/signed.git`, alice.token)

describe("SSH keys", () => {
  it("lists a registered key with the fingerprint ssh-keygen prints", async () => {
    const list = await aliceApi("GET", "/user/keys")
    expect(list.status).toBe(200)
    expect(list.body).toHaveLength(1)
    expect(list.body[0].title).toBe("laptop")
    const pub = fs.readFileSync(`${aliceKey}.pub`, "utf8").split(" ").slice(0, 2).join(" ")
    expect(list.body[0].key).toBe(pub)
    const fingerprint = execFileSync("ssh-keygen", ["-l", "-f", `${aliceKey}.pub`])
      .toString()
      .split(" ")[1]
    const row = await node.run!(Effect.flatMap(Metadata, (m) => m.sshKeyById(list.body[0].id)))
    expect(row?.fingerprint).toBe(fingerprint)
    const publicList = await apiClient(node.url)("GET", "/users/alice/keys")
    expect(publicList.body.map((k: { key: string }) => k.key)).toEqual([pub])
  })

  it("refuses a malformed key, an RSA key and a key already in use with 422", async () => {
    const bad = await aliceApi("POST", "/user/keys", { title: "x", key: "ssh-ed25519 AAAA!!" })
    expect(bad.status).toBe(422)
    const rsa = await aliceApi("POST", "/user/keys", { title: "x", key: "ssh-rsa AAAAB3NzaC1yc2E" })
    expect(rsa.status).toBe(422)
    expect(rsa.body.message).toMatch(/only ssh-ed25519/)
    const again = await aliceApi("POST", "/user/keys", {
      title: "again",
      key: fs.readFileSync(`${aliceKey}.pub`, "utf8"),
    })
    expect(again.status).toBe(422)
    expect(again.body.errors[0].code).toBe("already_exists")
  })
})

describe("git push --signed", () => {
  it("is accepted with the user's registered key, on a branch that requires signatures", async () => {
    await git(work, ["push", "-q", remote(), "main"])
    const rule = await aliceApi("PUT", "/repos/alice/signed/branches/main/protection", {
      required_status_checks: null,
      enforce_admins: true,
      required_pull_request_reviews: null,
      restrictions: null,
      required_signatures: true,
    })
    expect(rule.status).toBe(200)
    write(work, "a.txt", "two\n")
    const two = await commitAll(work, "two", 2)
    const unsigned = await runGit(work, ["push", remote(), "main"])
    expect(unsigned.code).not.toBe(0)
    expect(unsigned.stderr).toMatch(/pushes must be signed/)
    const signed = await runGit(
      work,
      ["push", "--signed", remote(), "main"],
      signedPushEnv(aliceKey),
    )
    expect(signed.code, signed.stderr).toBe(0)
    const ls = await git(work, ["ls-remote", remote(), "refs/heads/main"])
    expect(ls.split("\t")[0]).toBe(two)
  })

  it("is refused when signed with a key that is not the pusher's", async () => {
    write(work, "a.txt", "three\n")
    await commitAll(work, "three", 3)
    const r = await runGit(work, ["push", "--signed", remote(), "main"], signedPushEnv(malloryKey))
    expect(r.code).not.toBe(0)
    expect(r.stderr).toMatch(/push certificate rejected: .*not a key of alice/)
  })
})

/** A raw signed push: the certificate built and signed here, so it can be tampered with. */
const rawSignedPush = async (edit: (cert: string) => string, key = aliceKey) => {
  const adv = await (
    await fetch(`${node.url}/alice/signed.git/info/refs?service=git-receive-pack`, {
      headers: { authorization: `Bearer ${alice.token}` },
    })
  ).text()
  const nonce = /push-cert=([^ \n\0]+)/.exec(adv)?.[1]
  expect(nonce).toBeDefined()
  const objs = commitWithFile("raw.txt", `raw ${Math.random()}\n`)
  const ref = `refs/heads/raw-${Math.random().toString(36).slice(2, 8)}`
  const payload = [
    "certificate version 0.1",
    "pusher alice <alice@example.test> 1767225600 +0000",
    `pushee ${node.url}/alice/signed.git`,
    `nonce ${nonce}`,
    "",
    `${ZERO_ID} ${objs.commitId} ${ref}`,
    "",
  ].join("\n")
  const cert = edit(payload + sshSign(key, payload))
  const lines = cert.split(/(?<=\n)/)
  const body = Buffer.concat([
    pkt("push-cert\0report-status"),
    ...lines.map((l) => pkt(l)),
    pkt("push-cert-end\n"),
    FLUSH,
    buildPack([
      { kind: "blob", content: objs.blob },
      { kind: "tree", content: objs.tree },
      { kind: "commit", content: objs.commit },
    ]),
  ])
  const res = await fetch(`${node.url}/alice/signed.git/git-receive-pack`, {
    method: "POST",
    headers: {
      authorization: `Bearer ${alice.token}`,
      "content-type": "application/x-git-receive-pack-request",
    },
    body,
  })
  const out = parsePktLines(Buffer.from(await res.arrayBuffer()))
  const refs = await git(work, ["ls-remote", remote()])
  return { out, ref, created: refs.includes(ref) }
}

describe("push certificates built by hand", () => {
  it("an untouched certificate is accepted (the builder is right)", async () => {
    const r = await rawSignedPush((c) => c)
    expect(r.out).toContain(`ok ${r.ref}\n`)
    expect(r.created).toBe(true)
  })

  it("a certificate altered after signing is refused and changes nothing", async () => {
    const r = await rawSignedPush((c) => c.replace("pusher alice", "pusher alicE"))
    expect(r.out.join("")).toMatch(
      /ng refs\/heads\/raw-\w+ push certificate rejected: .*does not verify/,
    )
    expect(r.created).toBe(false)
  })

  it("a certificate with a nonce this node did not issue is refused", async () => {
    const r = await rawSignedPush((c) =>
      c.replace(/nonce \S+/, "nonce 1767225600-00000000000000000000000000000000"),
    )
    expect(r.out.join("")).toMatch(/push certificate rejected/)
    expect(r.created).toBe(false)
  })
})

describe("apply verifies certificates itself (a faulty node cannot forge a signed push)", () => {
  const submit = (
    pushCert: string | undefined,
    changes: { name: string; old: string; new: string }[],
  ) =>
    node.run!(
      Effect.gen(function* () {
        const meta = yield* Metadata
        const ledger = yield* Ledger
        const user = (yield* meta.userByLogin("alice"))!
        return yield* ledger.submit(
          UpdateRefs.make({
            submitter: user.id as UserId,
            idempotencyKey: `forged-${Math.random()}`,
            owner: "alice",
            repo: "signed",
            atomic: true,
            changes,
            pushCert,
          }),
        )
      }),
    )

  it("rejects a certificate whose commands differ from the transaction's changes", async () => {
    const main = (await git(work, ["ls-remote", remote(), "refs/heads/main"])).split("\t")[0]!
    const payload = `certificate version 0.1\npusher alice <a@x> 1 +0000\npushee x\nnonce n\n\n${ZERO_ID} ${main} refs/heads/elsewhere\n`
    const cert = payload + sshSign(aliceKey, payload)
    const outcome = await submit(cert, [
      { name: "refs/heads/forged", old: ZERO_ID, new: main as ObjectId },
    ])
    expect(outcome).toMatchObject({ _tag: "Rejected" })
    expect((outcome as { reason: string }).reason).toMatch(/does not name the pushed refs/)
  })

  it("rejects a forged signature even when the request-time checks were skipped", async () => {
    const main = (await git(work, ["ls-remote", remote(), "refs/heads/main"])).split("\t")[0]!
    const payload = `certificate version 0.1\npusher alice <a@x> 1 +0000\npushee x\nnonce n\n\n${ZERO_ID} ${main} refs/heads/forged\n`
    const cert =
      payload.replace("forged", "forgeD") + sshSign(aliceKey, payload).replace(/^(.{40})./m, "$1A")
    const outcome = await submit(cert, [{ name: "refs/heads/forgeD", old: ZERO_ID, new: main }])
    expect(outcome).toMatchObject({ _tag: "Rejected" })
    expect((outcome as { reason: string }).reason).toMatch(/push certificate rejected/)
  })

  it("rejects an unsigned push to a branch that requires signatures", async () => {
    const main = (await git(work, ["ls-remote", remote(), "refs/heads/main"])).split("\t")[0]!
    const outcome = await submit(undefined, [{ name: "refs/heads/main", old: main, new: ZERO_ID }])
    expect(outcome).toMatchObject({ _tag: "Applied" })
    const detail = (outcome as { detail: { refs: { ok: boolean; reason?: string }[] } }).detail
    expect(detail.refs[0]).toMatchObject({ ok: false })
    expect(detail.refs[0]!.reason).toMatch(/cannot delete|must be signed/)
  })
})
