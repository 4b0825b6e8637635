import {
  App,
  applyDocumentTheme,
  applyHostFonts,
  applyHostStyleVariables,
  type McpUiHostContext,
} from "@modelcontextprotocol/ext-apps";
import { isConsensusResult, renderConsensus } from "./consensus-view.js";
import { el } from "./dom.js";
import { isUsageResult, renderUsage } from "./usage-view.js";

/**
 * The view of cloud_usage and of consensus (one page serves both): it shows what the tool's
 * result holds, and nothing it would have to fetch.
 */
const root = document.getElementById("root") as HTMLElement;
const app = new App({ name: "ollama-cloud-mcp", version: "1" });

function show(content: HTMLElement): void {
  root.replaceChildren(content);
}

function applyHost(context: McpUiHostContext | undefined): void {
  if (context?.theme) applyDocumentTheme(context.theme);
  if (context?.styles?.variables) applyHostStyleVariables(context.styles.variables);
  if (context?.styles?.css?.fonts) applyHostFonts(context.styles.css.fonts);
}

app.ontoolinput = () => show(el("p", { class: "status", role: "status" }, "Working…"));
app.ontoolcancelled = () => show(el("p", { class: "status", role: "status" }, "Cancelled."));
app.onhostcontextchanged = (context) => applyHost(context);
app.ontoolresult = (result) => {
  const structured = result.structuredContent as Record<string, unknown> | undefined;
  if (result.isError || !structured) {
    const text = result.content?.find((part) => part.type === "text");
    show(
      el(
        "p",
        { class: "failed", role: "alert" },
        text?.type === "text" ? text.text : "The call failed.",
      ),
    );
  } else if (structured.status === "running") {
    show(
      el(
        "p",
        { class: "status", role: "status" },
        `Still working: the answer will come back through get_result (job ${String(structured.job_id)}).`,
      ),
    );
  } else if (isUsageResult(structured)) {
    show(renderUsage(structured));
  } else if (isConsensusResult(structured)) {
    show(renderConsensus(structured));
  }
};

await app.connect();
applyHost(app.getHostContext());
