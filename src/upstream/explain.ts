import type { Account } from "./account.js";
import { type Catalog, hasModel, SUGGESTED_MODELS } from "./catalog.js";
import type { CallOptions } from "./endpoint.js";
import {
  CLOUD,
  ModelNotFoundError,
  RetiredModelError,
  type Service,
  ThinkingNotSupportedError,
  UpstreamHttpError,
  UsageLimitError,
} from "./errors.js";
import { RETIREMENTS, type Retirement } from "./retired-models.js";

/** A model a chat went to, and how to learn what else that server has. */
export interface ChatTarget {
  model: string;
  service: Service;
  available(): Promise<{ name: string }[]>;
}

/**
 * Turns the refusals a user must act on into errors that say what to do: a model the server does
 * not have (retired, with Ollama's replacement, or else the models it does have), think for a
 * model that does not think (with models that do), and a spent balance (with what is left).
 */
export interface Explainer {
  chat<T>(call: () => Promise<T>, target: ChatTarget, options: CallOptions): Promise<T>;
  /** A cloud call that spends credits: a refusal for lack of them says what is left. */
  spending<T>(call: () => Promise<T>, options: CallOptions): Promise<T>;
  /** The error for a model the listed models lack. */
  notAvailable(
    model: string,
    listed: readonly { name: string }[],
    service: Service,
    cause?: unknown,
  ): Error;
}

export function createExplainer(catalog: Catalog, account: Account): Explainer {
  const spending: Explainer["spending"] = async (call, options) => {
    try {
      return await call();
    } catch (error) {
      if (error instanceof UsageLimitError) throw await account.explainSpend(error, options);
      throw error;
    }
  };

  const notAvailable: Explainer["notAvailable"] = (model, listed, service, cause) => {
    const names = listed.map((m) => m.name);
    const retired = service === CLOUD ? retirementOf(model) : undefined;
    if (retired) {
      const replacement = finalReplacement(retired);
      return new RetiredModelError(
        model,
        { date: retired.date, replacement },
        {
          replacementListed: replacement !== undefined && hasModel(listed, replacement),
          others: names.slice(0, SUGGESTED_MODELS),
        },
        { cause, service },
      );
    }
    return new ModelNotFoundError(model, names.slice(0, SUGGESTED_MODELS), { cause, service });
  };

  return {
    spending,
    notAvailable,
    async chat(call, target, options) {
      try {
        return await spending(call, options);
      } catch (error) {
        if (!(error instanceof UpstreamHttpError)) throw error;
        if (error.status === 404) {
          // The list is a courtesy: without it, the 404 still says the model is not there.
          const listed = await target.available().catch(() => []);
          throw notAvailable(target.model, listed, target.service, error);
        }
        if (error.status === 400 && /does not support thinking/i.test(error.serviceMessage ?? "")) {
          const thinkers =
            target.service === CLOUD
              ? await catalog.modelsWith("thinking", options).catch(() => [])
              : [];
          throw new ThinkingNotSupportedError(target.model, thinkers, {
            cause: error,
            service: target.service,
            serviceMessage: error.serviceMessage,
          });
        }
        throw error;
      }
    },
  };
}

/** Ollama's retirement of this model, when it is on the published list. */
export function retirementOf(model: string): Retirement | undefined {
  return RETIREMENTS.find((r) => hasModel([{ name: r.model }], model));
}

/** The replacement to use now: a recommended model that was itself retired leads to its own. */
function finalReplacement(retirement: Retirement): string | undefined {
  let replacement = retirement.replacement;
  for (let hops = 0; replacement && hops < RETIREMENTS.length; hops++) {
    const next = retirementOf(replacement);
    if (!next) return replacement;
    replacement = next.replacement;
  }
  return replacement;
}
