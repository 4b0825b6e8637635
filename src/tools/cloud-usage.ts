import * as z from "zod";
import { money, SETTINGS_URL, when } from "../upstream/account.js";
import { usageSchema } from "../upstream/endpoint.js";
import { UpstreamError } from "../upstream/errors.js";
import type { AccountBalance, CloudUsage } from "../upstream/upstream.js";
import { defineTool, ToolFailure } from "./define-tool.js";
import { strictArguments } from "./fields.js";

const BARS = "▁▂▃▄▅▆▇█";

const windowSchema = z.object({ remaining_percent: z.number(), resets_at: z.string() });

const outputSchema = z.object({
  balance: z.object({
    included: z
      .object({
        balance_usd: z.number().optional().describe("Included credits left this period."),
        allowance_usd: z.number().optional().describe("Included credits of the whole period."),
        period: z
          .object({ from: z.string(), until: z.string() })
          .optional()
          .describe("The period (UTC); the included credits renew at its end."),
        session: windowSchema.optional().describe("A legacy plan's session limit."),
        weekly: windowSchema.optional().describe("A legacy plan's weekly limit."),
      })
      .describe("The plan's own credits: in USD, or for a legacy plan, session and weekly limits."),
    purchased: z.object({ balance_usd: z.number() }).describe("Purchased credits, unexpired."),
  }),
  usage: usageSchema,
});

export const cloudUsage = defineTool({
  name: "cloud_usage",
  view: true,
  settings: [],
  summary: "credits left on Ollama's cloud, when they renew, and what was spent, day by day.",
  title: "Ollama cloud credits and usage",
  description:
    "Show the Ollama cloud account's credits and spending: the included credits left and when they renew, purchased credits, and usage over the last 24 hours, 7 days or 30 days (requests, cost in USD, input, cached and output tokens) by hour or day. Use it when the user asks what is left or what they spent, or before a large job. scope \"team\" shows the whole team's usage, for team admins.",
  inputSchema: strictArguments(
    {
      range: z
        .enum(["24h", "7d", "30d"], { error: 'range must be "24h", "7d" or "30d"' })
        .default("7d")
        .describe('The usage window: "24h" (by hour), "7d" or "30d" (by day). Default "7d".'),
      scope: z
        .enum(["self", "team"], { error: 'scope must be "self" or "team"' })
        .default("self")
        .describe('"self" (default): your own usage; "team": the whole team\'s, for team admins.'),
    },
    "cloud_usage",
  ),
  outputSchema,
  annotations: {
    readOnlyHint: true,
    destructiveHint: false,
    idempotentHint: true,
    openWorldHint: true,
  },
  async handle({ range, scope }, { client, call }) {
    let found: { balance: AccountBalance; usage: CloudUsage };
    try {
      found = await client.cloudUsage(range, scope, call);
    } catch (error) {
      if (scope === "team" && error instanceof UpstreamError && error.status === 403) {
        throw new ToolFailure(
          `Ollama's cloud would not show the team's usage (403${error.serviceMessage ? `: ${error.serviceMessage}` : ""}): only a team admin can see it. scope "self" shows your own.`,
        );
      }
      throw error;
    }
    return { structured: found, text: render(found.balance, found.usage) };
  },
});

function render(balance: AccountBalance, usage: CloudUsage): string {
  return [creditsLine(balance), spentLine(usage), ...chart(usage)].join("\n");
}

function creditsLine({ included, purchased }: AccountBalance): string {
  const bought = `${money(purchased.balance_usd)} purchased`;
  if ("balance_usd" in included) {
    return `Credits: ${money(included.balance_usd)} of ${money(included.allowance_usd)} included left (they renew ${when(included.period.until)}), and ${bought}.`;
  }
  const { session, weekly } = included;
  return `Plan limits: ${session.remaining_percent}% of this session left (resets ${when(session.resets_at)}), ${weekly.remaining_percent}% of this week (resets ${when(weekly.resets_at)}); ${bought}.`;
}

function spentLine({ range, scope, totals }: CloudUsage): string {
  const span = { "24h": "24 hours", "7d": "7 days", "30d": "30 days" }[range] ?? range;
  const who = scope === "team" ? "The team" : "You";
  const requests = `${count(totals.request_count)} request${totals.request_count === 1 ? "" : "s"}`;
  if (totals.usage_usd === undefined) {
    return `${who} made ${requests} in the last ${span} (a legacy plan reports no cost or tokens). Details: ${SETTINGS_URL}`;
  }
  const tokens = [
    `${count(totals.input_tokens ?? 0)} input tokens (${count(totals.cached_input_tokens ?? 0)} cached)`,
    `${count(totals.output_tokens ?? 0)} output`,
  ].join(", ");
  return `${who} spent $${totals.usage_usd.toFixed(4)} in the last ${span}: ${requests}, ${tokens}.`;
}

/** The buckets as one line of bars (cost, or requests where there is no cost), dated below. */
function chart({ buckets, granularity, totals }: CloudUsage): string[] {
  if (buckets.length === 0) return [];
  const value = (b: CloudUsage["buckets"][number]) =>
    totals.usage_usd === undefined ? b.request_count : (b.usage_usd ?? 0);
  const top = Math.max(...buckets.map(value));
  const bars = buckets
    .map((b) => {
      const v = value(b);
      // An empty bucket is the lowest bar; any use shows at least the next one up.
      return BARS[v === 0 || top === 0 ? 0 : 1 + Math.min(6, Math.floor((v / top) * 6.999))];
    })
    .join("");
  const label = (iso: string) =>
    granularity === "hour" ? when(iso).slice(5, 16) : when(iso).slice(0, 10);
  const first = label((buckets[0] as { from: string }).from);
  const last = `${label((buckets.at(-1) as { from: string }).from)} UTC`;
  const gap = Math.max(1, bars.length - first.length - last.length);
  return [bars, `${first}${" ".repeat(gap)}${last}`];
}

function count(n: number): string {
  return n.toLocaleString("en-US");
}
