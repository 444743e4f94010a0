/**
 * Parsing what a git client asks of upload-pack, in protocol v0/v1 (want/shallow/deepen/
 * filter lines, haves, done) and v2 (`command=fetch` arguments), into one request shape.
 * Bad input is a typed error naming the offending line, never a throw.
 */
import { Data } from "effect"
import { isObjectId, type ObjectId } from "../git/ObjectId.ts"

export type ObjectFilter =
  | { readonly kind: "blob:none" }
  | { readonly kind: "blob:limit"; readonly limit: number }
  | { readonly kind: "tree"; readonly depth: number }

export interface UploadRequest {
  readonly wants: ReadonlyArray<ObjectId>
  readonly haves: ReadonlyArray<ObjectId>
  readonly done: boolean
  readonly capabilities: ReadonlySet<string>
  /** Commits the client already has as shallow boundaries. */
  readonly shallows: ReadonlyArray<ObjectId>
  readonly depth: number | undefined
  readonly deepenSince: number | undefined
  readonly deepenNot: ReadonlyArray<string>
  readonly deepenRelative: boolean
  readonly filter: ObjectFilter | undefined
  /** v2 only: `wait-for-done`. */
  readonly waitForDone: boolean
}

export class ProtocolError extends Data.TaggedError("ProtocolError")<{
  readonly message: string
}> {}

export const parseFilter = (spec: string): ObjectFilter | ProtocolError => {
  if (spec === "blob:none") return { kind: "blob:none" }
  const limit = /^blob:limit=(\d+)([kmg]?)$/.exec(spec)
  if (limit) {
    const unit = { "": 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[limit[2] as "" | "k" | "m" | "g"]
    return { kind: "blob:limit", limit: Number(limit[1]) * unit }
  }
  const tree = /^tree:(\d+)$/.exec(spec)
  if (tree) return { kind: "tree", depth: Number(tree[1]) }
  return new ProtocolError({
    message: `unsupported filter '${spec}' (supported: blob:none, blob:limit=N, tree:N)`,
  })
}

interface Builder {
  wants: ObjectId[]
  haves: ObjectId[]
  done: boolean
  capabilities: Set<string>
  shallows: ObjectId[]
  depth: number | undefined
  deepenSince: number | undefined
  deepenNot: string[]
  deepenRelative: boolean
  filter: ObjectFilter | undefined
  waitForDone: boolean
}

const empty = (): Builder => ({
  wants: [],
  haves: [],
  done: false,
  capabilities: new Set(),
  shallows: [],
  depth: undefined,
  deepenSince: undefined,
  deepenNot: [],
  deepenRelative: false,
  filter: undefined,
  waitForDone: false,
})

const idArg = (line: string, prefix: string): ObjectId | ProtocolError => {
  const id = line.slice(prefix.length).trim()
  return isObjectId(id)
    ? id
    : new ProtocolError({ message: `malformed object id in '${line.trim()}'` })
}

/** Arguments shared by v0 lines and v2 fetch arguments; returns false if not recognised. */
const common = (b: Builder, line: string): boolean | ProtocolError => {
  if (line.startsWith("shallow ")) {
    const id = idArg(line, "shallow ")
    if (id instanceof ProtocolError) return id
    b.shallows.push(id)
  } else if (line.startsWith("deepen ")) {
    const n = Number(line.slice(7).trim())
    if (!Number.isInteger(n) || n <= 0)
      return new ProtocolError({ message: `bad depth in '${line.trim()}'` })
    b.depth = n
  } else if (line.startsWith("deepen-since ")) {
    const t = Number(line.slice(13).trim())
    if (!Number.isInteger(t)) return new ProtocolError({ message: `bad time in '${line.trim()}'` })
    b.deepenSince = t
  } else if (line.startsWith("deepen-not ")) {
    b.deepenNot.push(line.slice(11).trim())
  } else if (line.trim() === "deepen-relative") {
    b.deepenRelative = true
  } else if (line.startsWith("filter ")) {
    const f = parseFilter(line.slice(7).trim())
    if (f instanceof ProtocolError) return f
    b.filter = f
  } else if (line.startsWith("have ")) {
    const id = idArg(line, "have ")
    if (id instanceof ProtocolError) return id
    b.haves.push(id)
  } else if (line.trim() === "done") {
    b.done = true
  } else {
    return false
  }
  return true
}

/**
 * v0/v1: `want <id>[ caps]` lines (capabilities on the first), shallow/deepen/filter, flush,
 * then haves and optionally `done`. `packets` are the payloads in order, with null for a
 * flush packet.
 */
export const parseV0Request = (
  packets: ReadonlyArray<string | null>,
): UploadRequest | ProtocolError => {
  const b = empty()
  let first = true
  for (const p of packets) {
    if (p === null) continue
    const line = p.endsWith("\n") ? p.slice(0, -1) : p
    if (line.startsWith("want ")) {
      const rest = line.slice(5)
      const id = rest.slice(0, 40)
      if (!isObjectId(id)) return new ProtocolError({ message: `malformed object id in '${line}'` })
      b.wants.push(id)
      if (first) {
        for (const cap of rest.slice(40).trim().split(" ")) if (cap) b.capabilities.add(cap)
        first = false
      }
      continue
    }
    const r = common(b, line)
    if (r instanceof ProtocolError) return r
    if (!r) return new ProtocolError({ message: `unexpected line '${line}'` })
  }
  return b
}

/** v2 `command=fetch` arguments (after the delimiter). */
export const parseV2Fetch = (args: ReadonlyArray<string>): UploadRequest | ProtocolError => {
  const b = empty()
  for (const raw of args) {
    const line = raw.endsWith("\n") ? raw.slice(0, -1) : raw
    if (line.startsWith("want ")) {
      const id = idArg(line, "want ")
      if (id instanceof ProtocolError) return id
      b.wants.push(id)
      continue
    }
    if (
      line === "thin-pack" ||
      line === "no-progress" ||
      line === "include-tag" ||
      line === "ofs-delta" ||
      line === "sideband-all"
    ) {
      b.capabilities.add(line)
      continue
    }
    if (line === "wait-for-done") {
      b.waitForDone = true
      continue
    }
    if (line.startsWith("want-ref ")) {
      return new ProtocolError({ message: "want-ref is not supported by this server" })
    }
    const r = common(b, line)
    if (r instanceof ProtocolError) return r
    if (!r) return new ProtocolError({ message: `unexpected fetch argument '${line}'` })
  }
  // v2 always multiplexes the packfile section and understands ofs-delta if asked.
  b.capabilities.add("side-band-64k")
  return b
}
