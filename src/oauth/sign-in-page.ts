import { createHash } from "node:crypto";
import type { ServerResponse } from "node:http";
import { API_KEYS_URL } from "../hosts.js";

/** What every sign-in page of this server shows. */
export interface SignInPage {
  /** The URL the form is sent to. */
  action: string;
  /** This server's host, as the user reached it. */
  serverHost: string;
  /** How long a sign-in is kept without use, for people ("30 days"). */
  keptFor: string;
}

/** What one showing of it says. */
export interface SignInState {
  /** The authorization being answered; without one, the page shows its message only. */
  request?: {
    /** What the client calls itself (its own claim, from its registration). */
    clientName?: string | undefined;
    /** Where the user goes back to: shown, and allowed as the form's redirect. */
    redirectUri: string;
  };
  /** The form's one-time nonce. */
  nonce?: string | undefined;
  message?: string | undefined;
}

const CSS = `
:root { color-scheme: light dark; --bg: #f6f6f4; --card: #fff; --text: #1a1a1a; --muted: #5f5f5b;
  --line: #dedcd6; --accent: #111; --accent-text: #fff; --error-bg: #fdecea; --error: #8a1c12;
  --focus: #2f6fde; }
@media (prefers-color-scheme: dark) {
  :root { --bg: #121212; --card: #1d1d1c; --text: #ededea; --muted: #a3a29c; --line: #34332f;
    --accent: #f2f2ef; --accent-text: #111; --error-bg: #3a1714; --error: #ffb4a8; --focus: #7aa7ff; }
}
* { box-sizing: border-box; }
body { margin: 0; min-height: 100vh; display: flex; align-items: center; justify-content: center;
  background: var(--bg); color: var(--text); padding: 24px;
  font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
main { width: 100%; max-width: 420px; background: var(--card); border: 1px solid var(--line);
  border-radius: 14px; padding: 32px; box-shadow: 0 1px 2px rgba(0,0,0,.04), 0 8px 24px rgba(0,0,0,.06); }
.brand { display: flex; align-items: center; gap: 10px; font-weight: 600; margin-bottom: 24px; }
.brand svg { width: 28px; height: 28px; }
.brand rect { fill: var(--text); }
.brand path { fill: none; stroke: var(--card); stroke-width: 2; stroke-linejoin: round; }
h1 { font-size: 22px; line-height: 1.25; margin: 0 0 8px; }
p { margin: 0 0 16px; }
.muted { color: var(--muted); font-size: 14px; }
.error { background: var(--error-bg); color: var(--error); border-radius: 8px; padding: 10px 12px; }
label { display: block; font-weight: 600; margin-bottom: 6px; }
input[type=password] { width: 100%; padding: 10px 12px; font: inherit; color: var(--text);
  background: transparent; border: 1px solid var(--line); border-radius: 8px; }
input[type=password]:focus { outline: 2px solid var(--focus); outline-offset: 1px; border-color: transparent; }
.hint { margin: 6px 0 20px; }
a { color: inherit; }
button { width: 100%; padding: 11px 16px; font: inherit; font-weight: 600; cursor: pointer;
  color: var(--accent-text); background: var(--accent); border: 0; border-radius: 8px; }
button:focus-visible { outline: 2px solid var(--focus); outline-offset: 2px; }
.return { margin: 16px 0 0; text-align: center; }
section { border-top: 1px solid var(--line); margin-top: 24px; padding-top: 16px; }
h2 { font-size: 14px; margin: 0 0 6px; }
section p { margin: 0; }
`;

const STYLE_HASH = createHash("sha256").update(CSS).digest("base64");

const LOGO = `<svg viewBox="0 0 32 32" aria-hidden="true"><rect width="32" height="32" rx="8"/><path d="M10.5 21.5h11a4 4 0 0 0 .6-7.95A5.5 5.5 0 0 0 11.6 12.3a4.6 4.6 0 0 0-1.1 9.2z"/></svg>`;

/**
 * Sends the sign-in page: no scripts, no outside assets, its one stylesheet allowed by hash,
 * never framed, and its form allowed to go only here and on to the client's redirect.
 */
export function sendSignInPage(
  res: ServerResponse,
  status: number,
  page: SignInPage,
  state: SignInState,
): void {
  const returnTo = state.request ? new URL(state.request.redirectUri) : undefined;
  const csp = [
    "default-src 'none'",
    `style-src 'sha256-${STYLE_HASH}'`,
    returnTo ? `form-action 'self' ${returnTo.origin}` : "form-action 'none'",
    "frame-ancestors 'none'",
    "base-uri 'none'",
  ].join("; ");
  res.writeHead(status, {
    "content-type": "text/html; charset=utf-8",
    "content-security-policy": csp,
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "cache-control": "no-store",
    // A refusal closes the connection, as every refusal here does: a client that drips holds nothing.
    ...(status >= 400 && { connection: "close" }),
  });
  res.end(signInHtml(page, state, returnTo?.host));
}

function signInHtml(page: SignInPage, state: SignInState, returnHost: string | undefined): string {
  const name = state.request?.clientName;
  const client = name ? `<strong>${escapeHtml(clip(name))}</strong>` : "An app";
  const message = state.message
    ? `<p class="error" role="alert">${escapeHtml(state.message)}</p>`
    : "";
  const form =
    state.nonce && returnHost
      ? `<form method="post" action="${escapeHtml(page.action)}" autocomplete="off">
<input type="hidden" name="nonce" value="${escapeHtml(state.nonce)}">
<label for="key">Ollama API key</label>
<input id="key" name="key" type="password" required autofocus maxlength="512" spellcheck="false" autocapitalize="off" autocomplete="off">
<p class="hint muted">Create one at <a href="${API_KEYS_URL}" target="_blank" rel="noopener noreferrer">ollama.com/settings/keys</a>.</p>
<button type="submit">Sign in</button>
</form>
<p class="return muted">You will go back to <strong>${escapeHtml(returnHost)}</strong>.</p>`
      : "";
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<title>Sign in · Ollama Cloud MCP</title>
<style>${CSS}</style>
</head>
<body>
<main>
<div class="brand">${LOGO}<span>Ollama Cloud MCP</span></div>
<h1>Sign in with your Ollama API key</h1>
<p class="muted">${client} wants to use Ollama's cloud models and web search through <strong>${escapeHtml(page.serverHost)}</strong>, on your Ollama account.</p>
${message}
${form}
<section>
<h2>What is kept</h2>
<p class="muted">The key is checked once with ollama.com, then kept encrypted on this server, only to make your calls, until it has gone unused for ${escapeHtml(page.keptFor)}. To sign out, remove this server from your app; to stop all use of the key at once, delete it at ollama.com/settings/keys.</p>
</section>
</main>
</body>
</html>
`;
}

function clip(text: string): string {
  return text.length > 80 ? `${text.slice(0, 79)}…` : text;
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
