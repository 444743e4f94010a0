/** The version the node reports (git `agent=`, `/health`, `--version`). */
export const GUTS_VERSION = "0.1.0"
export const AGENT = `guts/${GUTS_VERSION}`
