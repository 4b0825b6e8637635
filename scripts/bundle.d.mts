import type { Metafile } from "esbuild";

export function bundleServer(entry: string, dir: string): Promise<Metafile>;
export function bundleRedis(dir: string): Promise<Metafile>;
