/**
 * ConfigFile: reads a node's configuration file — YAML (JSON is YAML too) — into flat
 * `setting-name → value` entries. Only a top-level mapping of scalars is accepted, since
 * every setting is a single value; anything else is a ConfigFileInvalid naming the file,
 * the line when known, and what to write instead. Never throws.
 */
import { Data, Either } from "effect"
import * as YAML from "yaml"

export class ConfigFileInvalid extends Data.TaggedError("ConfigFileInvalid")<{
  readonly file: string
  readonly line: number | undefined
  readonly reason: string
}> {
  override get message() {
    return `${this.file}${this.line === undefined ? "" : `:${this.line}`}: ${this.reason}`
  }
}

export type FileValue = string | number | boolean

/** Entries in file order, with the line each was written on. */
export type FileEntries = ReadonlyArray<{
  readonly name: string
  readonly value: FileValue
  readonly line: number | undefined
}>

const lineOf = (lineStarts: ReadonlyArray<number>, offset: number | undefined) => {
  if (offset === undefined) return undefined
  let line = 0
  while (line + 1 < lineStarts.length && lineStarts[line + 1]! <= offset) line++
  return line + 1
}

export const parseConfigFile = (
  file: string,
  text: string,
): Either.Either<FileEntries, ConfigFileInvalid> => {
  const lineStarts = [0]
  for (let i = 0; i < text.length; i++) if (text[i] === "\n") lineStarts.push(i + 1)
  const fail = (offset: number | undefined, reason: string) =>
    Either.left(new ConfigFileInvalid({ file, line: lineOf(lineStarts, offset), reason }))

  let doc: YAML.Document.Parsed
  try {
    doc = YAML.parseDocument(text, { uniqueKeys: true, prettyErrors: false })
  } catch (err) {
    return fail(undefined, `not valid YAML: ${(err as Error).message}`)
  }
  const first = doc.errors[0]
  if (first) return fail(first.pos[0], `not valid YAML: ${first.message.split("\n")[0]}`)
  if (doc.contents === null) return Either.right([])
  if (!YAML.isMap(doc.contents))
    return fail(
      doc.contents.range?.[0],
      "expected a mapping of settings (`http-port: 8080`, one per line)",
    )
  const entries: Array<FileEntries[number]> = []
  for (const pair of doc.contents.items) {
    const keyNode = pair.key
    const offset = YAML.isNode(keyNode) ? keyNode.range?.[0] : undefined
    const name = YAML.isScalar(keyNode) ? keyNode.value : undefined
    if (typeof name !== "string")
      return fail(offset, "setting names must be plain text (`http-port: 8080`)")
    const valueNode = pair.value
    if (!YAML.isScalar(valueNode))
      return fail(
        offset,
        `${name}: expected a single value (text or a number), not a ${valueNode === null ? "missing value" : "list or mapping"}`,
      )
    const value = valueNode.value
    if (typeof value !== "string" && typeof value !== "number" && typeof value !== "boolean")
      return fail(
        offset,
        `${name}: expected a value (text or a number); remove the line to unset it`,
      )
    entries.push({ name, value, line: lineOf(lineStarts, offset) })
  }
  return Either.right(entries)
}
