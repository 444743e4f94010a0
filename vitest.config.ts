import { defineConfig } from "vitest/config"

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: "forks",
    poolOptions: {
      forks: {
        // Two cores: integration tests spawn git and node processes of their own.
        maxForks: 2,
        minForks: 1,
        // The two forks run file after file, keeping the modules they have loaded, instead of
        // a fresh process per file loading Effect and the node again (that loading was about
        // half the CPU time of the unit and in-process integration files). So a test file
        // must leave the process as it found it: restore what it sets in process.env, stop
        // the nodes, servers and processes it starts.
        isolate: false,
      },
    },
  },
})
