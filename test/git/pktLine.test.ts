/**
 * pkt-line and side-band: what we encode is valid framing, what we decode survives any
 * chunking, malformed framing is a specific PktLineError, and a real `git upload-pack`
 * conversation (advertisement, then a side-band-64k pack) decodes through our reader.
 */
import * as path from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { PackError, readPack } from "../../src/domain/git/PackReader.ts"
import {
  DELIM_PKT,
  encodePktLine,
  FLUSH_PKT,
  MAX_PKT_PAYLOAD,
  type Packet,
  PktLineDecoder,
  PktLineError,
  parsePackets,
  parsePacketsText,
  parseSideBand,
  pktLine,
  RESPONSE_END_PKT,
  SIDEBAND_64K_PAYLOAD,
  sideBand,
  sideBandPackets,
} from "../../src/domain/git/PktLine.ts"
import { git, gitInput, makeRepo, randomHistory, removeTempDirs, tempDir } from "./gitFixture.ts"

afterAll(removeTempDirs)

const describePacket = (p: Packet) => (p.kind === "data" ? p.data.toString("latin1") : p.kind)

describe("encoding", () => {
  it("prefixes the payload with its total length in four hex digits; special packets are fixed", () => {
    expect(pktLine("hello\n").toString()).toBe("000ahello\n")
    expect(pktLine(Buffer.alloc(0)).toString()).toBe("0004")
    expect([FLUSH_PKT, DELIM_PKT, RESPONSE_END_PKT].map(String)).toEqual(["0000", "0001", "0002"])
    const max = encodePktLine(Buffer.alloc(MAX_PKT_PAYLOAD, 0x61))
    expect((max as Buffer).subarray(0, 4).toString()).toBe("fff0")
  })

  it("refuses a payload that does not fit in 65520 bytes with a typed error", () => {
    const r = encodePktLine(Buffer.alloc(MAX_PKT_PAYLOAD + 1))
    expect(r).toBeInstanceOf(PktLineError)
    expect((r as PktLineError).reason).toBe("oversize")
    expect(() => pktLine(Buffer.alloc(MAX_PKT_PAYLOAD + 1))).toThrow(PktLineError)
  })
})

describe("decoding", () => {
  it("decodes the same packets whatever the chunk boundaries", () => {
    const stream = Buffer.concat([
      pktLine("one\n"),
      DELIM_PKT,
      pktLine("two"),
      RESPONSE_END_PKT,
      pktLine(""),
      FLUSH_PKT,
    ])
    const expected = ["one\n", "delim", "two", "end", "", "flush"]
    for (let a = 0; a <= stream.length; a++)
      for (let b = a; b <= stream.length; b += 3) {
        const d = new PktLineDecoder()
        const got: string[] = []
        for (const part of [stream.subarray(0, a), stream.subarray(a, b), stream.subarray(b)]) {
          d.push(part)
          for (let p = d.next(); p !== undefined; p = d.next()) {
            if (p instanceof PktLineError) throw p
            got.push(describePacket(p))
          }
        }
        expect(got).toEqual(expected)
      }
  })

  it("leaves the bytes after the packets (a pack following commands) in rest()", () => {
    const d = new PktLineDecoder()
    d.push(Buffer.concat([pktLine("cmd"), FLUSH_PKT, Buffer.from("PACK...")]))
    expect(describePacket(d.next() as Packet)).toBe("cmd")
    expect(describePacket(d.next() as Packet)).toBe("flush")
    expect(d.rest().toString()).toBe("PACK...")
  })

  it("names each kind of malformed framing", () => {
    const reason = (s: string) => (parsePackets(Buffer.from(s)) as PktLineError).reason
    expect(reason("zz12")).toBe("bad-length")
    expect(reason("0003")).toBe("invalid-length")
    expect(reason("fff1")).toBe("oversize")
    expect(reason("ffff")).toBe("oversize")
    expect(reason("0009abc")).toBe("truncated")
    expect(reason("000")).toBe("truncated")
    // The decoder stays failed once it has failed.
    const d = new PktLineDecoder()
    d.push(Buffer.from("0003"))
    const e = d.next()
    d.push(pktLine("ok"))
    expect(d.next()).toBe(e)
  })

  it("parsePacketsText gives data payloads as text", () => {
    expect(parsePacketsText(Buffer.concat([pktLine("want abc\n"), FLUSH_PKT]))).toEqual([
      { kind: "data", text: "want abc\n" },
      { kind: "flush" },
    ])
  })
})

describe("side-band", () => {
  it("splits data at 65515 bytes per packet (side-band-64k) and reassembles it", () => {
    const data = Buffer.alloc(SIDEBAND_64K_PAYLOAD * 2 + 10)
    for (let i = 0; i < data.length; i++) data[i] = i % 251
    const framed = sideBand(1, data)
    const packets = parsePackets(framed) as Packet[]
    expect(packets.map((p) => (p.kind === "data" ? p.data.length : -1))).toEqual([65516, 65516, 11])
    const parts = packets.map((p) => parseSideBand((p as { data: Buffer }).data))
    expect(parts.every((p) => !(p instanceof PktLineError) && p.band === 1)).toBe(true)
    expect(Buffer.concat(parts.map((p) => (p as { data: Buffer }).data)).equals(data)).toBe(true)
    expect(Buffer.concat(sideBandPackets(1, data)).equals(framed)).toBe(true)
  })

  it("frames progress and errors on bands 2 and 3, and the old 1000-byte side-band", () => {
    expect(sideBand(2, Buffer.from("Counting objects\r")).toString("latin1")).toBe(
      "0016\x02Counting objects\r",
    )
    expect(sideBand(3, Buffer.from("fatal")).toString("latin1")).toBe("000a\x03fatal")
    const small = parsePackets(sideBand(1, Buffer.alloc(2000), 995)) as Packet[]
    expect(small.map((p) => (p as { data: Buffer }).data.length)).toEqual([996, 996, 11])
    expect(sideBand(1, Buffer.alloc(0)).length).toBe(0)
    expect((parseSideBand(Buffer.from([9, 1])) as PktLineError).reason).toBe("bad-band")
    expect((parseSideBand(Buffer.alloc(0)) as PktLineError).reason).toBe("bad-band")
  })
})

describe("a conversation with git upload-pack", () => {
  let repo: string
  beforeAll(() => {
    repo = makeRepo(path.join(tempDir("pkt"), "repo"))
    randomHistory(repo, { commits: 20, seed: 9 })
  })

  it("decodes git's ref advertisement and its side-band-64k pack response", () => {
    const advert = parsePackets(
      gitInput(repo, "", "upload-pack", "--stateless-rpc", "--advertise-refs", "."),
    )
    if (advert instanceof PktLineError) throw advert
    const head = git(repo, "rev-parse", "HEAD").trim()
    const first = advert[0]!
    expect(first.kind).toBe("data")
    expect((first as { data: Buffer }).data.toString("latin1")).toMatch(
      new RegExp(`^${head} HEAD\\0.*side-band-64k`),
    )
    expect(advert[advert.length - 1]!.kind).toBe("flush")

    const request = Buffer.concat([
      pktLine(`want ${head} side-band-64k ofs-delta\n`),
      FLUSH_PKT,
      pktLine("done\n"),
    ])
    const response = gitInput(repo, request, "upload-pack", "--stateless-rpc", ".")
    // Feed the response in awkward chunks, as a socket would deliver it.
    const d = new PktLineDecoder()
    const lines: string[] = []
    const pack: Buffer[] = []
    for (let at = 0; at < response.length; at += 777) {
      d.push(response.subarray(at, at + 777))
      for (let p = d.next(); p !== undefined; p = d.next()) {
        if (p instanceof PktLineError) throw p
        if (p.kind !== "data") lines.push(p.kind)
        else if (lines.length === 0) lines.push(p.data.toString())
        else {
          const band = parseSideBand(p.data)
          if (band instanceof PktLineError) throw band
          if (band.band === 1) pack.push(band.data)
        }
      }
    }
    expect(lines).toEqual(["NAK\n", "flush"])
    const r = readPack(Buffer.concat(pack))
    if (r instanceof PackError) throw r
    const expected = git(repo, "rev-list", "--objects", "--no-object-names", head)
      .trim()
      .split("\n")
    expect(r.objects.map((o) => o.id).sort()).toEqual(expected.sort())
  })
})
