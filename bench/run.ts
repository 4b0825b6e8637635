import { arch, cpus, totalmem } from "node:os";
import { benchCancel } from "./cancel.js";
import { benchHttpLoad } from "./http-load.js";
import { benchStartup } from "./launch.js";
import { printTable, type Row } from "./measure.js";
import { benchPerCall } from "./per-call.js";
import { benchResearch } from "./research.js";
import { benchSearchAndSummarize } from "./search-and-summarize.js";

const rows: Row[] = [
  ...(await benchStartup()),
  ...(await benchHttpLoad()),
  ...(await benchPerCall()),
  ...(await benchCancel()),
  ...(await benchSearchAndSummarize()),
  ...(await benchResearch()),
];

console.log(
  `\nollama-cloud-mcp benchmarks: Node ${process.version}, ${cpus()[0]?.model ?? "cpu"} x${cpus().length} (${arch()}), ${Math.round(totalmem() / 2 ** 30)} GiB\n`,
);
printTable(rows);
