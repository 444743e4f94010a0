import { describe, expect, it } from "vitest"
import { Prng } from "../../src/layers/sim/Prng.ts"
import { Scheduler } from "../../src/layers/sim/Scheduler.ts"
import { SimDisk } from "../../src/layers/sim/SimDisk.ts"
import { type SimChannel, SimNetwork } from "../../src/layers/sim/SimNetwork.ts"
import { EventKind, Transcript } from "../../src/layers/sim/Transcript.ts"

const draws = (p: Prng, k: number) => Array.from({ length: k }, () => p.nextU32())

describe("Prng", () => {
  it("yields the same sequence for the same seed and different ones for different seeds", () => {
    expect(draws(new Prng(42), 20)).toEqual(draws(new Prng(42), 20))
    expect(draws(new Prng(42), 20)).not.toEqual(draws(new Prng(43), 20))
    expect(draws(new Prng(0n), 5)).not.toEqual([0, 0, 0, 0, 0])
  })

  it("derives streams that depend only on the seed and the label", () => {
    const a = Prng.derive(7, "network")
    const b = Prng.derive(7, "network")
    a.nextU32() // using one stream must not move another
    const c = Prng.derive(7, "keys")
    expect(draws(b, 5)).not.toEqual(draws(c, 5))
    expect(draws(Prng.derive(7, "network"), 6).slice(1)).toEqual(draws(a, 5))
  })

  it("keeps floats in [0, 1), ints in range, and the normal distribution near its mean and sd", () => {
    const p = new Prng(1)
    let sum = 0
    let sq = 0
    const N = 20_000
    for (let i = 0; i < N; i++) {
      const f = p.float()
      expect(f >= 0 && f < 1).toBe(true)
      const k = p.int(7)
      expect(Number.isInteger(k) && k >= 0 && k < 7).toBe(true)
      const x = p.normal(10, 5)
      sum += x
      sq += x * x
    }
    const mean = sum / N
    const sd = Math.sqrt(sq / N - mean * mean)
    expect(Math.abs(mean - 10)).toBeLessThan(0.2)
    expect(Math.abs(sd - 5)).toBeLessThan(0.2)
    expect(p.latency(-100, 0)).toBe(0)
  })

  it("draws normal deviates with the normal's tails (ziggurat layers, wedges and tail)", () => {
    const p = new Prng(3)
    const N = 200_000
    let beyond2 = 0
    let beyond3 = 0
    let beyondR = 0
    let positive = 0
    for (let i = 0; i < N; i++) {
      const x = p.standardNormal()
      const a = Math.abs(x)
      if (a > 2) beyond2++
      if (a > 3) beyond3++
      if (a > 3.4426) beyondR++
      if (x > 0) positive++
    }
    // P(|x| > 2) = 0.0455, P(|x| > 3) = 0.0027, P(|x| > R) = 0.00058 for N(0, 1).
    expect(Math.abs(beyond2 / N - 0.0455)).toBeLessThan(0.003)
    expect(Math.abs(beyond3 / N - 0.0027)).toBeLessThan(0.0008)
    expect(beyondR).toBeGreaterThan(50)
    expect(Math.abs(positive / N - 0.5)).toBeLessThan(0.01)
  })

  it("shuffles into a permutation, deterministically", () => {
    const a = new Prng(9).shuffle([1, 2, 3, 4, 5, 6, 7, 8])
    expect([...a].sort()).toEqual([1, 2, 3, 4, 5, 6, 7, 8])
    expect(new Prng(9).shuffle([1, 2, 3, 4, 5, 6, 7, 8])).toEqual(a)
    expect(new Prng(9).bytes(7)).toEqual(new Prng(9).bytes(7))
  })
})

describe("Scheduler", () => {
  it("runs events in time order and equal times in insertion order", () => {
    const s = new Scheduler()
    const log: string[] = []
    s.at(5, () => log.push("b5"))
    s.at(1, () => log.push("a1"))
    s.at(5, () => log.push("c5"))
    s.at(3, () => {
      log.push("d3")
      s.at(5, () => log.push("e5"))
      s.after(0, () => log.push("f3"))
    })
    const r = s.run()
    expect(log).toEqual(["a1", "d3", "f3", "b5", "c5", "e5"])
    expect(r.reason).toBe("idle")
    expect(s.now).toBe(5)
  })

  it("never moves the clock backwards: an event in the past runs now", () => {
    const s = new Scheduler()
    const times: number[] = []
    s.at(10, () => s.at(2, () => times.push(s.now)))
    s.run()
    expect(times).toEqual([10])
  })

  it("re-arms a timer to a later or earlier time in place; it fires once, in (time, insertion) order", () => {
    const s = new Scheduler()
    const log: string[] = []
    const timer = (name: string) => ({
      cancelled: false,
      slot: -1,
      run: () => log.push(`${name}@${s.now}`),
    })
    const a = timer("a")
    const b = timer("b")
    s.rearm(5, a)
    s.rearm(3, b)
    s.at(4, () => log.push(`x@${s.now}`))
    s.rearm(9, a) // later
    s.rearm(4, b) // earlier than a, same time as x but armed after it
    s.at(9, () => log.push(`y@${s.now}`))
    s.rearm(2, b) // earlier again
    expect(s.pending).toBe(4)
    s.run()
    expect(log).toEqual(["b@2", "x@4", "a@9", "y@9"])
  })

  it("disarms and cancels timers, and lets a fired timer re-arm itself", () => {
    const s = new Scheduler()
    let fired = 0
    const ticker = {
      cancelled: false,
      slot: -1,
      run: () => {
        fired++
        if (fired < 3) s.rearm(s.now + 10, ticker)
      },
    }
    const dead = { cancelled: false, slot: -1, run: () => fired++ }
    const gone = { cancelled: false, slot: -1, run: () => fired++ }
    s.rearm(1, ticker)
    s.rearm(2, dead)
    s.rearm(3, gone)
    s.disarm(dead)
    s.cancel(gone)
    s.disarm(dead) // disarming twice is harmless
    expect(s.run().reason).toBe("idle")
    expect(fired).toBe(3)
    expect(s.now).toBe(21)
  })

  it("stops at a time bound, a predicate or halt, and skips cancelled events", () => {
    const s = new Scheduler()
    let count = 0
    for (let t = 1; t <= 10; t++) s.at(t, () => count++)
    const dead = s.at(4.5, () => {
      count += 100
    })
    s.cancel(dead)
    expect(s.run({ until: 3.5 })).toMatchObject({ reason: "time", now: 3.5 })
    expect(count).toBe(3)
    expect(s.run({ stop: () => count >= 6 }).reason).toBe("predicate")
    expect(count).toBe(6)
    s.at(s.now, () => s.halt())
    expect(s.run().reason).toBe("halted")
    s.run()
    expect(count).toBe(10)
  })
})

const makeNet = (seed = 1) => {
  const scheduler = new Scheduler()
  const transcript = new Transcript()
  const net = new SimNetwork(scheduler, new Prng(seed), transcript, {
    latencyMs: 10,
    jitterMs: 8,
    successRate: 1,
  })
  const inbox: { to: number; from: number; channel: SimChannel; text: string; at: number }[] = []
  const endpoints = [0, 1, 2].map((i) =>
    net.attach(i, (from, channel, bytes) =>
      inbox.push({
        to: i,
        from,
        channel,
        text: new TextDecoder().decode(bytes),
        at: scheduler.now,
      }),
    ),
  )
  return { scheduler, net, inbox, endpoints, transcript }
}

const text = (s: string) => new TextEncoder().encode(s)

describe("SimNetwork", () => {
  it("never lets a message overtake an earlier one on the same directed link, despite jitter", () => {
    const { scheduler, net, inbox } = makeNet()
    for (let i = 0; i < 200; i++) {
      net.send(0, "vote", [1], text(`m${i}`))
      scheduler.run({ until: scheduler.now + 0.5 })
    }
    scheduler.run()
    const got = inbox.filter((m) => m.to === 1).map((m) => m.text)
    expect(got).toEqual(Array.from({ length: 200 }, (_, i) => `m${i}`))
  })

  it("delivers a broadcast to every other identity with the sender's identity as `from`", () => {
    const { scheduler, net, inbox } = makeNet()
    net.send(2, "certificate", "all", text("c"))
    scheduler.run()
    expect(inbox.map((m) => [m.to, m.from, m.channel]).sort()).toEqual([
      [0, 2, "certificate"],
      [1, 2, "certificate"],
    ])
    expect(net.counters.sent).toBe(2)
    expect(net.counters.delivered).toBe(2)
  })

  it("loses about 1 − successRate of messages, by the seed", () => {
    const lossy = (seed: number) => {
      const { scheduler, net } = makeNet(seed)
      net.setAllLinks({ latencyMs: 5, jitterMs: 0, successRate: 0.5 })
      for (let i = 0; i < 2000; i++) net.send(0, "vote", [1], text("x"))
      scheduler.run()
      return net.counters
    }
    const a = lossy(3)
    expect(a.droppedBy.lost).toBeGreaterThan(850)
    expect(a.droppedBy.lost).toBeLessThan(1150)
    expect(a.delivered + a.dropped).toBe(2000)
    expect(lossy(3).droppedBy.lost).toBe(a.droppedBy.lost)
  })

  it("cuts links across a partition until healed, and removed links until set again", () => {
    const { scheduler, net, inbox } = makeNet()
    net.partition([[0], [1, 2]])
    net.send(0, "vote", "all", text("split"))
    net.send(1, "vote", [2], text("inside"))
    scheduler.run()
    expect(inbox.map((m) => m.text)).toEqual(["inside"])
    net.heal()
    net.removeLink(0, 2)
    net.send(0, "vote", "all", text("healed"))
    scheduler.run()
    expect(inbox.filter((m) => m.text === "healed").map((m) => m.to)).toEqual([1])
    expect(net.counters.droppedBy.partitioned).toBe(2)
    expect(net.counters.droppedBy.unlinked).toBe(1)
    net.setLink(0, 2, { latencyMs: 1, jitterMs: 0, successRate: 1 })
    net.send(0, "vote", [2], text("relinked"))
    scheduler.run()
    expect(inbox.at(-1)?.text).toBe("relinked")
  })

  it("drops messages from blocked peers and to offline endpoints, on arrival", () => {
    const { scheduler, net, inbox, endpoints } = makeNet()
    net.send(0, "vote", [1], text("in flight"))
    net.block(endpoints[1], 0)
    net.setReceiver(endpoints[2], undefined)
    net.send(0, "vote", [2], text("offline"))
    net.send(2, "vote", [1], text("fine"))
    scheduler.run()
    expect(inbox.map((m) => m.text)).toEqual(["fine"])
    expect(net.counters.droppedBy.blocked).toBe(1)
    expect(net.counters.droppedBy.offline).toBe(1)
    net.clearBlocks(endpoints[1])
    net.send(0, "vote", [1], text("again"))
    scheduler.run()
    expect(inbox.at(-1)?.text).toBe("again")
  })

  it("routes through a filter that sees each endpoint pair (as twins use)", () => {
    const { scheduler, net, inbox } = makeNet()
    net.filter = (_from, to) => to !== 1
    net.send(0, "broadcast", "all", text("b"))
    scheduler.run()
    expect(inbox.map((m) => m.to)).toEqual([2])
    expect(net.counters.droppedBy.filtered).toBe(1)
  })
})

describe("SimDisk", () => {
  const e = (s: string) => text(s)

  it("keeps appends pending until sync and loses pending ones in a crash", () => {
    const d = new SimDisk()
    d.append(1n, e("a"))
    d.sync()
    d.append(2n, e("b"))
    expect(d.entries()).toEqual([e("a")])
    d.crash()
    expect(d.entries()).toEqual([e("a")])
    expect(d.counters.lost).toBe(1)
  })

  it("keeps a random prefix of the pending appends in a torn crash", () => {
    const kept = new Set<number>()
    for (let seed = 0; seed < 30; seed++) {
      const d = new SimDisk()
      for (let i = 0; i < 4; i++) d.append(BigInt(i), e(`x${i}`))
      d.crash("torn", new Prng(seed))
      const got = d.entries()
      expect(got).toEqual([0, 1, 2, 3].slice(0, got.length).map((i) => e(`x${i}`)))
      kept.add(got.length)
    }
    expect(kept.size).toBeGreaterThan(2)
  })

  it("prunes entries of views below the bound and keeps the order of the rest", () => {
    const d = new SimDisk()
    for (const v of [3n, 1n, 5n, 2n, 7n]) d.append(v, e(`v${v}`))
    d.sync()
    d.prune(3n)
    expect(d.entries()).toEqual([e("v3"), e("v5"), e("v7")])
    expect(d.counters.pruned).toBe(2)
  })

  it("prunes across gaps between views and past bounds far above the entries", () => {
    const d = new SimDisk()
    for (const v of [1n, 2n, 1000n, 3n, 1n << 60n]) d.append(v, e(`v${v}`))
    d.sync()
    d.prune(3n)
    expect(d.entries()).toEqual([e("v1000"), e("v3"), e(`v${1n << 60n}`)])
    d.prune(500n)
    expect(d.entries()).toEqual([e("v1000"), e(`v${1n << 60n}`)])
    d.prune(1001n)
    expect(d.entries()).toEqual([e(`v${1n << 60n}`)])
    d.prune((1n << 60n) + 1n)
    expect(d.entries()).toEqual([])
    expect(d.counters.pruned).toBe(5)
  })
})

describe("Transcript", () => {
  const record = (t: Transcript, fields: [number, string][]) => {
    for (const [time, s] of fields) t.begin(EventKind.Note, time).str(s)
    return t.hex()
  }

  it("hashes equal event sequences equally and any difference differently", () => {
    const a = record(new Transcript(), [
      [1, "x"],
      [2, "y"],
    ])
    expect(
      record(new Transcript(), [
        [1, "x"],
        [2, "y"],
      ]),
    ).toBe(a)
    expect(
      record(new Transcript(), [
        [1, "x"],
        [2.5, "y"],
      ]),
    ).not.toBe(a)
    expect(
      record(new Transcript(), [
        [2, "y"],
        [1, "x"],
      ]),
    ).not.toBe(a)
    // Length prefixes keep field boundaries unambiguous.
    expect(
      record(new Transcript(), [
        [1, "xy"],
        [2, ""],
      ]),
    ).not.toBe(
      record(new Transcript(), [
        [1, "x"],
        [2, "y"],
      ]),
    )
  })

  it("covers more than one internal chunk and can be read while still recording", () => {
    const t = new Transcript()
    const big = new Uint8Array(100_000).fill(7)
    t.begin(EventKind.Note, 0).bytes(big)
    for (let i = 0; i < 10_000; i++) t.begin(EventKind.Deliver, i).u32(i)
    const mid = t.hex()
    t.begin(EventKind.Note, 1).str("more")
    expect(t.hex()).not.toBe(mid)
    expect(t.events).toBe(10_002)
  })

  it("sends a readable line per event to the trace sink only when tracing", () => {
    const lines: string[] = []
    const { scheduler, net } = (() => {
      const scheduler = new Scheduler()
      const net = new SimNetwork(scheduler, new Prng(1), new Transcript((l) => lines.push(l)))
      net.attach(0, undefined)
      net.attach(1, () => {})
      return { scheduler, net }
    })()
    net.send(0, "vote", [1], text("hi"))
    scheduler.run()
    expect(lines.some((l) => l.includes("send #0"))).toBe(true)
    expect(lines.some((l) => l.includes("deliver #0 -> 1"))).toBe(true)
    expect(new Transcript().tracing).toBe(false)
  })
})
