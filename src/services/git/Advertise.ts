/**
 * Ref advertisements: what `info/refs` answers and what v2 `ls-refs` lists.
 * HEAD comes first with `symref=HEAD:<target>`; annotated tags are followed by their
 * peeled value (`refs/tags/v1^{}`); an empty repository advertises `capabilities^{}`.
 */
import { Effect } from "effect"
import { type ObjectId, ZERO_ID } from "../../domain/git/ObjectId.ts"
import { FLUSH_PKT, pktLine } from "../../domain/git/PktLine.ts"
import {
  RECEIVE_PACK_CAPABILITIES,
  UPLOAD_PACK_CAPABILITIES,
  V2_CAPABILITIES,
  wantsV2,
} from "../../domain/protocol/Capabilities.ts"
import type { ObjectStoreShape } from "../ObjectStore.ts"
import type { RefStoreShape } from "../RefStore.ts"
import { parseTagTarget } from "./ObjectWalk.ts"

export interface AdvertisedRef {
  readonly name: string
  readonly id: ObjectId
  /** For annotated tags: the object the tag finally points at. */
  readonly peeled?: ObjectId | undefined
}

export interface RepoRefs {
  readonly refs: ReadonlyArray<AdvertisedRef>
  /** HEAD's target ref name, if set. */
  readonly headTarget: string | undefined
  /** HEAD's value, if its target exists. */
  readonly head: ObjectId | undefined
}

export const makeAdvertiser = (deps: { objects: ObjectStoreShape; refs: RefStoreShape }) => {
  const peelTag = (id: ObjectId) =>
    Effect.gen(function* () {
      let current = id
      let isTag = false
      for (let i = 0; i < 64; i++) {
        const o = yield* deps.objects.get(current).pipe(Effect.option)
        if (o._tag === "None" || o.value.type !== "tag") break
        const target = parseTagTarget(o.value.content)
        if (!target) break
        isTag = true
        current = target.id
      }
      return isTag ? current : undefined
    })

  const load = (repo: string) =>
    Effect.gen(function* () {
      const list = yield* deps.refs.list(repo)
      const headTarget = yield* deps.refs.getHead(repo)
      const refs: AdvertisedRef[] = []
      for (const r of list) {
        const peeled = r.name.startsWith("refs/tags/") ? yield* peelTag(r.id) : undefined
        refs.push({ name: r.name, id: r.id, peeled })
      }
      const head = headTarget ? list.find((r) => r.name === headTarget)?.id : undefined
      return { refs, headTarget, head } satisfies RepoRefs
    })

  const advertiseV0 = (
    repo: string,
    service: "git-upload-pack" | "git-receive-pack",
    extraCaps: ReadonlyArray<string> = [],
  ) =>
    Effect.gen(function* () {
      const { refs, headTarget, head } = yield* load(repo)
      const upload = service === "git-upload-pack"
      const caps = [
        ...(upload ? UPLOAD_PACK_CAPABILITIES : RECEIVE_PACK_CAPABILITIES),
        ...extraCaps,
      ]
      if (upload && head && headTarget) caps.push(`symref=HEAD:${headTarget}`)
      const lines: Buffer[] = [pktLine(`# service=${service}\n`), FLUSH_PKT]
      const entries: Array<[ObjectId, string]> = []
      if (upload && head) entries.push([head, "HEAD"])
      for (const r of refs) {
        entries.push([r.id, r.name])
        if (upload && r.peeled) entries.push([r.peeled, `${r.name}^{}`])
      }
      if (entries.length === 0) entries.push([ZERO_ID, "capabilities^{}"])
      entries.forEach(([id, name], i) => {
        lines.push(pktLine(i === 0 ? `${id} ${name}\0${caps.join(" ")}\n` : `${id} ${name}\n`))
      })
      lines.push(FLUSH_PKT)
      return Buffer.concat(lines)
    })

  const advertise = (
    repo: string,
    service: "git-upload-pack" | "git-receive-pack",
    protocol: string,
    extraCaps: ReadonlyArray<string> = [],
  ) =>
    service === "git-upload-pack" && wantsV2(protocol)
      ? Effect.succeed(Buffer.concat([...V2_CAPABILITIES.map((c) => pktLine(`${c}\n`)), FLUSH_PKT]))
      : advertiseV0(repo, service, extraCaps)

  return { load, advertise }
}

export type Advertiser = ReturnType<typeof makeAdvertiser>
