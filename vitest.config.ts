import { defineConfig } from "vitest/config";

// Generous bounds: tests assert behaviour, never speed.
const shared = { testTimeout: 30_000, hookTimeout: 30_000 };

export default defineConfig({
  test: {
    // Once for the whole run: it fails the run if any request to a local fake carried a key.
    globalSetup: ["test/global-setup.ts"],
    projects: [
      { test: { ...shared, name: "unit", include: ["test/*.test.ts"] } },
      {
        // The built bin over stdio and HTTP, the packed tarball, load: each spawns processes.
        test: {
          ...shared,
          name: "e2e",
          include: ["test/e2e/*.test.ts"],
          // They run the built bin: a dist/ older than src/ is refused, saying so.
          globalSetup: ["test/e2e/fresh-dist.ts"],
        },
      },
    ],
  },
});
