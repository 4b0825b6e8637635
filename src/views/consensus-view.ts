import { el, whole } from "./dom.js";

interface Answer {
  model: string;
  answer?: string;
  error?: string;
  usage?: { prompt_tokens: number; output_tokens: number; total_ms: number };
}

/** consensus's structured result, as far as the view shows it. */
export interface ConsensusResult {
  answers: Answer[];
  synthesis?: string;
  synthesizer: string;
  warnings?: string[];
}

export function isConsensusResult(value: unknown): value is ConsensusResult {
  return (
    typeof value === "object" && value !== null && Array.isArray((value as ConsensusResult).answers)
  );
}

/** The synthesis on top, then each model's answer side by side, a failed one marked. */
export function renderConsensus(result: ConsensusResult): HTMLElement {
  const failed = result.answers.filter((answer) => answer.error !== undefined).length;
  const synthesis = el(
    "section",
    { class: "synthesis", "aria-labelledby": "synthesis" },
    el("h2", { id: "synthesis" }, `Synthesis by ${result.synthesizer}`),
    result.synthesis !== undefined
      ? el("div", { class: "text" }, result.synthesis)
      : el("p", { class: "failed" }, "No synthesis: the model that compares the answers failed."),
    ...(result.warnings ?? []).map((warning) => el("p", { class: "warning" }, warning)),
  );
  const cards = result.answers.map((answer, i) => card(answer, i));
  return el(
    "main",
    { class: "consensus" },
    synthesis,
    el(
      "section",
      { "aria-labelledby": "answers" },
      el(
        "h2",
        { id: "answers" },
        `${result.answers.length} answers${failed > 0 ? `, ${failed} failed` : ""}`,
      ),
      el("div", { class: "answers" }, ...cards),
    ),
  );
}

function card(answer: Answer, i: number): HTMLElement {
  const id = `answer-${i}`;
  const failed = answer.error !== undefined;
  return el(
    "article",
    { class: failed ? "answer failed" : "answer", "aria-labelledby": id, tabindex: "0" },
    el("h3", { id }, answer.model, failed ? el("span", { class: "badge" }, "failed") : undefined),
    failed
      ? el("p", { class: "error" }, answer.error as string)
      : el("div", { class: "text" }, answer.answer ?? ""),
    answer.usage
      ? el(
          "p",
          { class: "meta" },
          `${whole(answer.usage.prompt_tokens)} in, ${whole(answer.usage.output_tokens)} out, ${(answer.usage.total_ms / 1000).toFixed(1)} s`,
        )
      : undefined,
  );
}
