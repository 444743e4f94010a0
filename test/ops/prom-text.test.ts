/**
 * The Prometheus text-format parser the metrics tests rely on: it must read what
 * prom-client writes, and reject what is not the format instead of guessing.
 */
import { Either } from "effect"
import * as prom from "prom-client"
import { describe, expect, it } from "vitest"
import { parsePromText } from "./PromText.ts"

const parse = (text: string) => {
  const r = parsePromText(text)
  if (Either.isLeft(r)) throw new Error(r.left.message)
  return r.right
}

const failure = (text: string) => {
  const r = parsePromText(text)
  if (Either.isRight(r)) throw new Error("expected a parse error")
  return r.left
}

describe("the Prometheus text parser", () => {
  it("reads families, types, help, labels and values", () => {
    const families = parse(
      [
        "# HELP up Whether the target answers",
        "# TYPE up gauge",
        "up 1",
        "# a comment",
        "# TYPE hits_total counter",
        'hits_total{path="/a",code="200"} 3 1700000000000',
        'hits_total{path="/b\\"q\\\\\\n",code="500"} 1.5e3',
        "",
      ].join("\n"),
    )
    expect(families.get("up")).toEqual({
      name: "up",
      type: "gauge",
      help: "Whether the target answers",
      samples: [{ name: "up", labels: {}, value: 1 }],
    })
    expect(families.get("hits_total")!.samples.map((s) => [s.labels, s.value])).toEqual([
      [{ path: "/a", code: "200" }, 3],
      [{ path: '/b"q\\\n', code: "500" }, 1500],
    ])
  })

  it("groups a histogram's buckets, sum and count under the histogram", () => {
    const families = parse(
      [
        "# TYPE d histogram",
        'd_bucket{le="0.1"} 1',
        'd_bucket{le="+Inf"} 2',
        "d_sum 0.3",
        "d_count 2",
      ].join("\n"),
    )
    expect([...families.keys()]).toEqual(["d"])
    const d = families.get("d")!
    expect(d.samples.map((s) => s.name)).toEqual(["d_bucket", "d_bucket", "d_sum", "d_count"])
    expect(d.samples[1]).toEqual({ name: "d_bucket", labels: { le: "+Inf" }, value: 2 })
  })

  it("reads NaN and infinities in any case, as Prometheus does", () => {
    const families = parse("a NaN\nb Nan\nc +Inf\nd -inf\ne 1e-3")
    expect(families.get("a")!.samples[0]!.value).toBeNaN()
    expect(families.get("b")!.samples[0]!.value).toBeNaN()
    expect(families.get("c")!.samples[0]!.value).toBe(Number.POSITIVE_INFINITY)
    expect(families.get("d")!.samples[0]!.value).toBe(Number.NEGATIVE_INFINITY)
    expect(families.get("e")!.samples[0]!.value).toBe(0.001)
  })

  it("reads everything prom-client writes", async () => {
    const registry = new prom.Registry()
    prom.collectDefaultMetrics({ register: registry })
    const h = new prom.Histogram({
      name: "t_seconds",
      help: "with \\ and\nnewline",
      labelNames: ["route"] as const,
      registers: [registry],
    })
    h.observe({ route: 'GET /a "quoted"' }, 0.2)
    const families = parse(await registry.metrics())
    expect(families.get("t_seconds")!.type).toBe("histogram")
    expect(families.get("t_seconds")!.help).toBe("with \\ and\nnewline")
    expect(families.get("t_seconds")!.samples[0]!.labels).toEqual({
      route: 'GET /a "quoted"',
      le: "0.005",
    })
    expect(families.get("process_cpu_user_seconds_total")!.type).toBe("counter")
  })

  it("names the line of malformed input", () => {
    expect(failure("up 1\nup{a=1} 2\n")).toMatchObject({ line: 2 })
    expect(failure('up{a="x} 1').reason).toContain("unterminated")
    expect(failure("up one").reason).toContain("bad value")
    expect(failure("# TYPE up thing").reason).toContain("unknown type")
    expect(failure('up{a="1",a="2"} 1').reason).toContain("twice")
    expect(failure("up 1\n# TYPE up gauge").reason).toContain("after its samples")
    expect(failure("{} 1").reason).toContain("metric name")
  })
})
