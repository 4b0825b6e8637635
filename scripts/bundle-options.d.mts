import type { BuildOptions, Plugin } from "esbuild";

export const common: BuildOptions;
export const leaveOutUnusedSdkImports: Plugin;
export const quickRejectInSdkGuards: Plugin;
