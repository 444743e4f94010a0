/**
 * CliOptions: the `guts node` flags, one per setting of Settings.ts, with `--help` text
 * naming the environment variable and the default. Flags are taken as text and validated
 * by ResolveConfig.ts with the same rules (and messages) as the file and the environment.
 *
 * `--log-level` is also @effect/cli's own option on every command, which it accepts only
 * right after the command name. So the raw arguments are read for it (`builtinFlagValues`)
 * and it is removed before @effect/cli parses them (`withoutBuiltinFlags`): it then works
 * anywhere on the line and takes part in precedence and validation like any other flag.
 */
import { Options } from "@effect/cli"
import { Option } from "effect"
import { defaultText, type SettingInfo, type SettingKey, settingList } from "./Settings.ts"

const helpOf = (s: SettingInfo) =>
  `${s.description}; ${s.expected} (env ${s.env}; default ${defaultText(s)})`

const declared = settingList.filter((s) => !s.builtinFlag)

/** One optional text option per setting, keyed by setting key. */
export const settingOptions = Options.all(
  Object.fromEntries(
    declared.map((s) => [
      s.key,
      Options.text(s.name).pipe(
        Options.withPseudoName(s.metavar),
        Options.withDescription(helpOf(s)),
        Options.optional,
      ),
    ]),
  ) as Record<SettingKey, Options.Options<Option.Option<string>>>,
)

/** Parsed option values as ResolveConfig's `flags`. */
export const flagValues = (
  parsed: Readonly<Record<string, Option.Option<string>>>,
): Partial<Record<SettingKey, string>> => {
  const out: Partial<Record<SettingKey, string>> = {}
  for (const [key, value] of Object.entries(parsed))
    if (Option.isSome(value)) out[key as SettingKey] = value.value
  return out
}

const builtin = settingList.filter((x) => x.builtinFlag)

/** Splits raw arguments into the built-in setting flags and everything else. */
const splitBuiltin = (argv: ReadonlyArray<string>) => {
  const values: Partial<Record<SettingKey, string>> = {}
  const rest: string[] = []
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!
    if (arg === "--") {
      rest.push(...argv.slice(i))
      break
    }
    const s = builtin.find((x) => arg === x.flag || arg.startsWith(`${x.flag}=`))
    if (s === undefined) rest.push(arg)
    else if (arg === s.flag) values[s.key] = argv[++i] ?? ""
    else values[s.key] = arg.slice(s.flag.length + 1)
  }
  return { values, rest }
}

/** Values of built-in flags (`--log-level X` or `--log-level=X`) in raw arguments. */
export const builtinFlagValues = (
  argv: ReadonlyArray<string>,
): Partial<Record<SettingKey, string>> => splitBuiltin(argv).values

/** The raw arguments without the built-in setting flags, for @effect/cli to parse. */
export const withoutBuiltinFlags = (argv: ReadonlyArray<string>): ReadonlyArray<string> =>
  splitBuiltin(argv).rest
