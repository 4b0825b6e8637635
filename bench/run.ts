import { arch, cpus, totalmem } from "node:os";
import { printTable, type Row } from "./measure.js";
import { benchSearchAndSummarize } from "./search-and-summarize.js";

const rows: Row[] = [];
rows.push(...(await benchSearchAndSummarize()));

console.log(
  `\nollama-cloud-mcp benchmarks: Node ${process.version}, ${cpus()[0]?.model ?? "cpu"} x${cpus().length} (${arch()}), ${Math.round(totalmem() / 2 ** 30)} GiB\n`,
);
printTable(rows);
