import { API_KEYS_URL } from "../hosts.js";
import type {
  AccountBalance,
  CallOptions,
  CloudUsage,
  UsageRange,
  UsageScope,
} from "./endpoint.js";
import {
  AccountRateLimitError,
  MissingApiKeyError,
  RateLimitedError,
  UpstreamError,
  UpstreamNetworkError,
  UpstreamTimeoutError,
  UsageLimitError,
} from "./errors.js";
import { isAbortError } from "./signals.js";
import { TtlCache } from "./ttl-cache.js";
import type { Ways } from "./ways.js";

/** The endpoints allow 10 requests a minute: an answer is kept for one. */
const ACCOUNT_TTL_MS = 60_000;
export const SETTINGS_URL = "https://ollama.com/settings";

/** The account's credits and usage need the key: a local Ollama does not report them. */
export class AccountNeedsKeyError extends UpstreamError {
  override name = "AccountNeedsKeyError";
  constructor() {
    super(
      `Your credits and usage come from ollama.com with an API key, and this server has none: it reaches the cloud through your local Ollama, which serves cloud models and web search but not your account's balance or usage. Create a key at ${API_KEYS_URL} and set OLLAMA_API_KEY (the rest of the calls can still go through your Ollama), or see them at ${SETTINGS_URL}.`,
    );
  }
}

export interface Account {
  /** The balance and the usage over a range, each kept a minute per caller. */
  usage(
    range: UsageRange,
    scope: UsageScope,
    options: CallOptions,
  ): Promise<{ balance: AccountBalance; usage: CloudUsage }>;
  /** A refusal for lack of credits, with what is left and what to do. */
  explainSpend(error: UsageLimitError, options: CallOptions): Promise<UsageLimitError>;
  /**
   * Whether ollama.com accepts `apiKey` (a sign-in): one request made with it, never cached, in
   * the lane the caller names. Throws an AuthError when it is refused.
   */
  checkKey(apiKey: string, options: CallOptions): Promise<void>;
}

export function createAccount(
  config: {
    apiKey: string | undefined;
    mode: string;
    cloudVia: string;
    localModel: string | undefined;
  },
  ways: Ways,
  now: () => number,
): Account {
  const balances = new TtlCache<string, AccountBalance>(ACCOUNT_TTL_MS, 256, now);
  const usages = new TtlCache<string, CloudUsage>(ACCOUNT_TTL_MS, 256, now);
  /** Only ollama.com, with a key (the server's or the caller's), can say. */
  const canAsk = (options: CallOptions) => Boolean(options.apiKey ?? config.apiKey);
  const balance = (options: CallOptions) =>
    balances.getOrLoad(options.lane ?? "", () => ways.direct.balance(options));

  return {
    async checkKey(apiKey, options) {
      await ways.direct.balance({ ...options, apiKey });
    },

    async usage(range, scope, options) {
      if (!canAsk(options)) {
        // Without a local Ollama to reach the cloud through, this is no different from any
        // other call without a key.
        const throughOllama = config.mode !== "cloud" || config.cloudVia === "local";
        throw throughOllama ? new AccountNeedsKeyError() : new MissingApiKeyError();
      }
      const [held, used] = await Promise.all([
        balance(options),
        usages.getOrLoad(`${options.lane ?? ""}\u0000${range}\u0000${scope}`, () =>
          ways.direct.usage(range, scope, options),
        ),
      ]);
      return { balance: held, usage: used };
    },

    async explainSpend(error, options) {
      const refusal = {
        status: error.status ?? 429,
        hourly: HOURLY.test(error.serviceMessage ?? ""),
      };
      let account: string;
      if (!canAsk(options)) {
        account = `What is left of your credits cannot be read through your local Ollama; see ${SETTINGS_URL}.`;
      } else {
        try {
          account = whatIsLeft(await balance(options), config, refusal);
        } catch (failure) {
          if (isAbortError(failure)) throw failure;
          account = `What is left of your credits could not be read just now${whyUnread(failure)}; see ${SETTINGS_URL}.`;
        }
      }
      if (refusal.hourly) {
        const lifts =
          error.retryAfterSeconds === undefined
            ? "within the hour"
            : `in ${error.retryAfterSeconds}s`;
        account = `This limit is hourly: it lifts ${lifts}, not when your credits renew. ${account}`;
      }
      return new UsageLimitError(refusal.status, error.serviceMessage, error.retryAfterSeconds, {
        cause: error,
        service: error.service,
        account,
      });
    },
  };
}

/** The cloud's own words for a limit of the hour ("your hourly usage limit"). */
const HOURLY = /\bhour(ly)?\b/i;

/**
 * What is left, when it comes back, and what to do meanwhile, in words. The renewal date is the
 * monthly credits': an hourly limit does not end then, and a balance that still shows credits
 * beside a 402 is reported as what it is, a reading that may lag the refusal.
 */
export function whatIsLeft(
  balance: AccountBalance,
  config: { mode: string; localModel: string | undefined },
  refusal: { status: number; hourly: boolean },
): string {
  const purchased = money(balance.purchased.balance_usd);
  const localModel = config.localModel
    ? `model "${config.localModel}:local"`
    : "a model of your Ollama, with a :local suffix";
  const local = config.mode === "hybrid" ? `, or run it on a local model (${localModel})` : "";
  const { included } = balance;
  if ("balance_usd" in included) {
    const renewed = when(included.period.until);
    const left = `${money(included.balance_usd)} of your ${money(included.allowance_usd)} included credits, which renew on ${renewed}, and ${purchased} purchased`;
    if (refusal.hourly) {
      const meanwhile =
        config.mode === "hybrid" ? ` Meanwhile, run it on a local model (${localModel}).` : "";
      return `Your monthly credits: ${left}.${meanwhile}`;
    }
    if (refusal.status === 402 && included.balance_usd + balance.purchased.balance_usd > 0) {
      return `The balance read just now still shows ${left}: it can lag behind what was spent, and the cloud's refusal is what counts. Check it, or add credits, at ${SETTINGS_URL}${local}.`;
    }
    return `Left: ${left}. Wait until ${renewed}, add credits at ${SETTINGS_URL}${local}.`;
  }
  const { session, weekly } = included;
  const next =
    session.remaining_percent === 0 && weekly.remaining_percent > 0
      ? when(session.resets_at)
      : when(weekly.remaining_percent === 0 ? weekly.resets_at : session.resets_at);
  const left = `${session.remaining_percent}% of this session's usage (resets ${when(session.resets_at)}), ${weekly.remaining_percent}% of this week's (resets ${when(weekly.resets_at)}), and ${purchased} purchased`;
  if (refusal.hourly) return `Left: ${left}.`;
  return `Left: ${left}. Wait until ${next}, add credits at ${SETTINGS_URL}${local}.`;
}

export function money(usd: number): string {
  return `$${usd.toFixed(2)}`;
}

/** A UTC time as people read it: "2026-12-15 09:30 UTC" (or the text as given, if not a time). */
export function when(iso: string): string {
  const time = Date.parse(iso);
  if (Number.isNaN(time)) return iso;
  return `${new Date(time).toISOString().slice(0, 16).replace("T", " ")} UTC`;
}

/** Why the balance could not be read, in words for people (never an error's class name). */
function whyUnread(failure: unknown): string {
  if (failure instanceof AccountRateLimitError || failure instanceof RateLimitedError) {
    return " (the balance can be asked for 10 times a minute)";
  }
  if (failure instanceof UpstreamTimeoutError) return " (ollama.com did not answer in time)";
  if (failure instanceof UpstreamNetworkError) return " (ollama.com could not be reached)";
  return "";
}
