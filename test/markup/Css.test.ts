import { describe, expect, it } from "vitest"
import { HIGHLIGHT_CSS, MARKDOWN_CSS } from "../../src/domain/markup/Css.ts"
import { HIGHLIGHT_CLASSES } from "../../src/domain/markup/Highlight.ts"

/** Relative luminance and contrast ratio, as WCAG defines them. */
const luminance = (hex: string) => {
  const [r, g, b] = [1, 3, 5].map((i) => {
    const c = Number.parseInt(hex.slice(i, i + 2), 16) / 255
    return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4
  })
  return 0.2126 * r! + 0.7152 * g! + 0.0722 * b!
}
const contrast = (a: string, b: string) => {
  const [x, y] = [luminance(a), luminance(b)].sort((p, q) => q - p)
  return (x! + 0.05) / (y! + 0.05)
}

describe("stylesheets", () => {
  it("colour every highlight class in the light and the dark scheme", () => {
    const [light, dark] = HIGHLIGHT_CSS.split("@media (prefers-color-scheme: dark)")
    for (const c of HIGHLIGHT_CLASSES) {
      expect(light).toContain(`.hl-${c}{`)
      expect(dark).toContain(`.hl-${c}{`)
    }
  })

  it("keep text readable: contrast at least 4.5:1 on the code background", () => {
    const [light, dark] = HIGHLIGHT_CSS.split("@media (prefers-color-scheme: dark)")
    const check = (css: string, codeBackground: string) => {
      for (const m of css.matchAll(
        /\.hl-[a-z]+\{color:(#[0-9a-f]{6})(?:;[^}]*?background:(#[0-9a-f]{6}))?/g,
      )) {
        expect(contrast(m[1]!, m[2] ?? codeBackground)).toBeGreaterThanOrEqual(4.5)
      }
    }
    check(light!, "#f6f8fa")
    check(dark!, "#161b22")
  })

  it("balance their braces", () => {
    for (const css of [HIGHLIGHT_CSS, MARKDOWN_CSS]) {
      expect(css.split("{").length).toBe(css.split("}").length)
    }
  })
})
