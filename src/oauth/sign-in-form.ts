import type { IncomingMessage, ServerResponse } from "node:http";
import { keyOwner } from "../caller.js";
import type { Clock } from "../clock.js";
import type { OpsLogger } from "../observability.js";
import { StoreUnavailableError } from "../store/store.js";
import { AuthError, RateLimitedError, UpstreamError } from "../upstream/errors.js";
import { GrantRefusedError, type Grants } from "./grants.js";
import { OAuthFailure, readOAuthBody } from "./http.js";
import { type SignInPage, sendSignInPage } from "./sign-in-page.js";
import type { FailureSlowdown } from "./slowdown.js";

/** What an Ollama API key can look like, at most: anything else is not sent to ollama.com. */
const KEY_FORM = /^[\x21-\x7e]{1,512}$/;

export interface SignInFormDeps {
  grants: Grants;
  slowdown: FailureSlowdown;
  page: SignInPage;
  /** The origin the page is served from: a form sent from anywhere else is refused. */
  publicOrigin: string;
  log: OpsLogger;
  checkKey: CheckKey;
  /** Who sent the form, as the slowdown counts it (an address, or an IPv6 /56). */
  addressOf(req: IncomingMessage): string;
  bodyTimeoutMs: number;
  clock: Clock;
  /** This authorization server's issuer, sent back with the code (RFC 9207). */
  issuer: string;
}

/**
 * One request to ollama.com with a user's key, in the lane (the share of the upstream
 * concurrency) of that key's caller; throws an AuthError if the key is refused.
 */
export type CheckKey = (
  apiKey: string,
  options: { signal: AbortSignal; lane: string },
) => Promise<void>;

/**
 * POST /signin, the sign-in page's form: its nonce, used once, says which authorization it
 * answers; the key is checked with ollama.com; on success the browser goes back to the client
 * with a code. Every other outcome shows the form again (with a new nonce) and says why.
 */
export function signInForm(deps: SignInFormDeps) {
  const { grants, page, log } = deps;

  const refuse = (res: ServerResponse, status: number, message: string) =>
    sendSignInPage(res, status, page, { message });

  async function answer(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const origin = req.headers.origin;
    if (origin !== undefined && origin !== deps.publicOrigin) {
      return refuse(res, 403, "This form can only be sent from its own sign-in page.");
    }
    const body = await readOAuthBody(req, "form", deps.bodyTimeoutMs, deps.clock);
    const signIn = typeof body.nonce === "string" ? await grants.takeSignIn(body.nonce) : undefined;
    if (!signIn) {
      return refuse(
        res,
        400,
        "This sign-in page has expired or was already sent. Go back to your app and connect again.",
      );
    }
    const showAgain = async (status: number, message: string) => {
      const nonce = await grants.startSignIn(signIn);
      sendSignInPage(res, status, page, { request: signIn, nonce, message });
    };

    const key = typeof body.key === "string" ? body.key.trim() : "";
    if (!key) return showAgain(400, "Paste your Ollama API key.");
    if (!KEY_FORM.test(key)) {
      return showAgain(
        400,
        "That is not an Ollama API key: paste the key as ollama.com/settings/keys shows it.",
      );
    }

    const refused = await checkWithOllama(deps, req, res, key, signIn.clientId);
    if (refused)
      return refused.status === 0 ? undefined : showAgain(refused.status, refused.message);
    const code = await grants.issueCode(signIn, key);
    log.log("info", "oauth: signed in", { client: signIn.clientId, caller: keyOwner(key) });
    const back = new URL(signIn.redirectUri);
    back.searchParams.set("code", code);
    if (signIn.state !== undefined) back.searchParams.set("state", signIn.state);
    back.searchParams.set("iss", deps.issuer);
    res.writeHead(303, { location: back.href, "cache-control": "no-store" });
    res.end();
  }

  return async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    try {
      await answer(req, res);
    } catch (error) {
      if (error instanceof OAuthFailure) return refuse(res, error.status, error.message);
      if (error instanceof GrantRefusedError) return refuse(res, 400, error.message);
      if (!(error instanceof StoreUnavailableError)) throw error;
      log.log("warning", "oauth: sign-in failed: the store cannot be reached");
      refuse(res, 503, "Signing in is not possible right now. Try again in a moment.");
    }
  };
}

/**
 * The key checked with ollama.com, counted against the sender's address first (so that a burst
 * cannot outrun the slowdown): undefined when it is accepted; else the page's status and why
 * (status 0: the browser left, nothing to show).
 */
async function checkWithOllama(
  deps: SignInFormDeps,
  req: IncomingMessage,
  res: ServerResponse,
  key: string,
  clientId: string,
): Promise<{ status: number; message: string } | undefined> {
  const { slowdown, log } = deps;
  const address = deps.addressOf(req);
  const attempt = await slowdown.attempt(address);
  if ("waitMs" in attempt) {
    const seconds = Math.ceil(attempt.waitMs / 1000);
    res.setHeader("retry-after", String(seconds));
    return {
      status: 429,
      message: `Too many keys were refused from your network. Try again in ${seconds} seconds.`,
    };
  }
  const aborted = new AbortController();
  res.on("close", () => aborted.abort());
  try {
    await deps.checkKey(key, { signal: aborted.signal, lane: keyOwner(key) });
    await slowdown.takeBack(address, attempt.handle);
    return undefined;
  } catch (error) {
    // Only a key ollama.com refused stays counted.
    if (!(error instanceof AuthError)) await slowdown.takeBack(address, attempt.handle);
    if (aborted.signal.aborted) return { status: 0, message: "" };
    if (error instanceof AuthError) {
      log.log("info", "oauth: ollama.com refused a key on the sign-in form", { client: clientId });
      return {
        status: 401,
        message:
          "ollama.com did not accept this key. Check that you copied all of it, or create a new one.",
      };
    }
    log.log("warning", "oauth: a key could not be checked with ollama.com", {
      error: error instanceof UpstreamError ? error.name : "error",
    });
    return {
      status: 503,
      message:
        error instanceof RateLimitedError
          ? "ollama.com asked for a pause. Try again in a minute."
          : "The key could not be checked with ollama.com just now. Try again in a moment.",
    };
  }
}
