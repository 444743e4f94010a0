/**
 * Read-only repository content routes (work in progress).
 */
import type { RepoContent } from "../../services/RepoContent.ts"
import type { R } from "./ApiKit.ts"
import type { Route } from "./HttpServer.ts"

export const contentRoutes: Array<Route<R | RepoContent>> = []
