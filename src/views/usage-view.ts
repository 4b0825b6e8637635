import type { AccountBalance, CloudUsage } from "../upstream/endpoint.js";
import { dollars, el, utc, whole } from "./dom.js";

/** cloud_usage's structured result, as the tool returns it. */
export interface UsageResult {
  balance: AccountBalance;
  usage: CloudUsage;
}

export function isUsageResult(value: unknown): value is UsageResult {
  return typeof value === "object" && value !== null && "balance" in value && "usage" in value;
}

type Bucket = CloudUsage["buckets"][number];

/** The balance, and a bar per hour or day of the range: spend, or requests on a legacy plan. */
export function renderUsage(result: UsageResult): HTMLElement {
  return el("main", { class: "usage" }, balanceSection(result.balance), chartSection(result.usage));
}

function balanceSection({ included, purchased }: AccountBalance): HTMLElement {
  const rows: HTMLElement[] = [];
  if ("balance_usd" in included) {
    rows.push(
      meter(
        "Included credits",
        included.balance_usd,
        included.allowance_usd,
        `${dollars(included.balance_usd)} of ${dollars(included.allowance_usd)} left, renews ${utc(included.period.until, true)}`,
      ),
    );
  } else {
    for (const [label, window] of [
      ["Session", included.session],
      ["Week", included.weekly],
    ] as const) {
      rows.push(
        meter(
          label,
          window.remaining_percent,
          100,
          `${window.remaining_percent}% left, resets ${utc(window.resets_at, true)}`,
        ),
      );
    }
  }
  rows.push(
    el("p", { class: "purchased" }, `Purchased credits: ${dollars(purchased.balance_usd)}`),
  );
  return el(
    "section",
    { "aria-labelledby": "credits" },
    el("h2", { id: "credits" }, "Credits"),
    ...rows,
  );
}

function meter(label: string, value: number, max: number, text: string): HTMLElement {
  const share = max > 0 ? Math.max(0, Math.min(1, value / max)) : 0;
  const bar = el("div", {
    class: "meter",
    role: "meter",
    "aria-label": label,
    "aria-valuemin": "0",
    "aria-valuemax": String(max),
    "aria-valuenow": String(value),
    "aria-valuetext": text,
  });
  bar.append(el("div", { class: "meter-fill", style: `width: ${(share * 100).toFixed(1)}%` }));
  return el(
    "div",
    { class: "meter-row" },
    el("div", { class: "meter-label" }, label),
    bar,
    el("p", {}, text),
  );
}

function chartSection(usage: CloudUsage): HTMLElement {
  const byCost = usage.buckets.some((bucket) => bucket.usage_usd !== undefined);
  const value = (bucket: Bucket) => (byCost ? (bucket.usage_usd ?? 0) : bucket.request_count);
  const most = Math.max(0, ...usage.buckets.map(value));
  const hourly = usage.granularity === "hour";
  const tip = el(
    "p",
    { class: "tip", "aria-live": "polite" },
    "Hover over or focus a bar for its details.",
  );
  const bars = usage.buckets.map((bucket, i) => {
    const label = describeBucket(bucket, hourly);
    const bar = el(
      "div",
      { class: "bar", role: "listitem", tabindex: i === 0 ? "0" : "-1", "aria-label": label },
      el("div", {
        class: bucket.partial ? "bar-fill partial" : "bar-fill",
        style: `height: ${most > 0 ? ((value(bucket) / most) * 100).toFixed(1) : 0}%`,
      }),
    );
    const show = () => {
      tip.textContent = label;
    };
    bar.addEventListener("mouseenter", show);
    bar.addEventListener("focus", show);
    return bar;
  });
  const chart = el(
    "div",
    {
      class: "chart",
      role: "list",
      "aria-label": `${byCost ? "Spend" : "Requests"} per ${usage.granularity}`,
    },
    ...bars,
  );
  chart.addEventListener("keydown", (event) => moveFocus(event, bars));
  const { totals } = usage;
  const summary = `${byCost ? `${dollars(totals.usage_usd ?? 0)} spent, ` : ""}${whole(totals.request_count)} requests${totals.input_tokens !== undefined ? `, ${whole(totals.input_tokens)} input and ${whole(totals.output_tokens ?? 0)} output tokens` : ""}`;
  return el(
    "section",
    { "aria-labelledby": "usage" },
    el(
      "h2",
      { id: "usage" },
      `Usage, last ${usage.range}${usage.scope === "team" ? " (team)" : ""}`,
    ),
    el("p", {}, summary),
    chart,
    el(
      "div",
      { class: "axis" },
      el("span", {}, utc(usage.from, hourly)),
      el("span", {}, utc(usage.until, hourly)),
    ),
    tip,
  );
}

function describeBucket(bucket: Bucket, hourly: boolean): string {
  const parts = [
    utc(bucket.from, hourly),
    ...(bucket.usage_usd !== undefined ? [dollars(bucket.usage_usd)] : []),
    `${whole(bucket.request_count)} requests`,
    ...(bucket.input_tokens !== undefined
      ? [
          `${whole(bucket.input_tokens)} input tokens${bucket.cached_input_tokens ? ` (${whole(bucket.cached_input_tokens)} cached)` : ""}`,
          `${whole(bucket.output_tokens ?? 0)} output tokens`,
        ]
      : []),
    ...(bucket.partial ? ["so far"] : []),
  ];
  return parts.join(", ");
}

/** Arrow keys, Home and End move between the bars (one tab stop for the whole chart). */
function moveFocus(event: KeyboardEvent, bars: HTMLElement[]): void {
  const at = bars.indexOf(document.activeElement as HTMLElement);
  if (at < 0) return;
  const next =
    event.key === "ArrowRight" || event.key === "ArrowDown"
      ? Math.min(at + 1, bars.length - 1)
      : event.key === "ArrowLeft" || event.key === "ArrowUp"
        ? Math.max(at - 1, 0)
        : event.key === "Home"
          ? 0
          : event.key === "End"
            ? bars.length - 1
            : undefined;
  if (next === undefined) return;
  event.preventDefault();
  bars[at]?.setAttribute("tabindex", "-1");
  bars[next]?.setAttribute("tabindex", "0");
  bars[next]?.focus();
}
