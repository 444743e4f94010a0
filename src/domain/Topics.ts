/**
 * Repository topics, GitHub's rules: at most 20 per repository, each at most 50
 * characters of lowercase letters, digits and hyphens, starting with a letter or digit.
 */

export const MAX_TOPICS = 20

const TOPIC = /^[a-z0-9][a-z0-9-]{0,49}$/

/** Why a list of topics is refused, or undefined when it is fine. */
export const topicsProblem = (names: ReadonlyArray<string>): string | undefined => {
  if (names.length > MAX_TOPICS) return `a repository has at most ${MAX_TOPICS} topics`
  const bad = names.filter((n) => !TOPIC.test(n))
  if (bad.length > 0)
    return `topics must start with a lowercase letter or number, consist of 50 characters or less, and can include hyphens: ${bad.map((b) => JSON.stringify(b)).join(", ")}`
  return undefined
}

/** Topics as stored: trimmed, lowercased, without duplicates, in the order given. */
export const normalizeTopics = (names: ReadonlyArray<string>): string[] => [
  ...new Set(names.map((n) => n.trim().toLowerCase()).filter((n) => n !== "")),
]
