/** Small helpers shared by the benchmarks: timing, medians, and the printed table. */

export async function timeIt(fn: () => Promise<unknown>): Promise<number> {
  const started = performance.now();
  await fn();
  return performance.now() - started;
}

export async function samples(runs: number, fn: () => Promise<unknown>): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < runs; i++) out.push(await timeIt(fn));
  return out;
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

export interface Row {
  benchmark: string;
  result: string;
  goal: string;
  met: boolean | undefined;
}

export function printTable(rows: readonly Row[]): void {
  const header = ["benchmark", "result", "goal", "met"];
  const cells = rows.map((r) => [
    r.benchmark,
    r.result,
    r.goal,
    r.met === undefined ? "-" : r.met ? "yes" : "NO",
  ]);
  const widths = header.map((h, i) =>
    Math.max(h.length, ...cells.map((c) => (c[i] as string).length)),
  );
  const line = (values: string[]) =>
    `| ${values.map((v, i) => v.padEnd(widths[i] as number)).join(" | ")} |`;
  console.log(line(header));
  console.log(`|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`);
  for (const row of cells) console.log(line(row));
}

export const ms = (value: number) => `${value.toFixed(value < 10 ? 2 : 0)} ms`;
