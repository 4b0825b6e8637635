import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    globalSetup: ["test/global-setup.ts"],
    // Generous bounds: tests assert behaviour, never speed.
    testTimeout: 30_000,
    hookTimeout: 30_000,
    projects: [
      {
        extends: true,
        test: {
          name: "unit",
          include: ["test/*.test.ts"],
        },
      },
      {
        extends: true,
        test: {
          // The built bin over stdio and HTTP, the packed tarball, load: each spawns processes.
          name: "e2e",
          include: ["test/e2e/*.test.ts"],
        },
      },
    ],
  },
});
