import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    globalSetup: ["test/global-setup.ts"],
    // Generous bounds: tests assert behaviour, never speed.
    testTimeout: 30_000,
    hookTimeout: 30_000,
  },
});
