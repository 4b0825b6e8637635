// A test host for MCP Apps views, run in Chromium by views.test.ts (bundled there with esbuild):
// the extension's own AppBridge, talking to the view in a sandboxed iframe over postMessage,
// as Claude, ChatGPT or VS Code do. The iframe gets the Content-Security-Policy a host builds
// from the resource's declared domains.
import { AppBridge, PostMessageTransport } from "@modelcontextprotocol/ext-apps/app-bridge";

const THEMES = {
  light: {
    "--color-background-primary": "#ffffff",
    "--color-text-primary": "#1f2328",
    "--color-text-info": "#0969da",
    "--color-text-danger": "#cf222e",
  },
  dark: {
    "--color-background-primary": "#0d1117",
    "--color-text-primary": "#e6edf3",
    "--color-text-info": "#4493f8",
    "--color-text-danger": "#f85149",
  },
};

/** The policy a host sets from `_meta.ui.csp`: nothing beyond the declared domains. */
function policyOf(csp = {}) {
  const resources = (csp.resourceDomains ?? []).join(" ");
  const connect = (csp.connectDomains ?? []).join(" ") || "'none'";
  const frames = (csp.frameDomains ?? []).join(" ") || "'none'";
  return [
    "default-src 'none'",
    `script-src 'unsafe-inline' ${resources}`,
    `style-src 'unsafe-inline' ${resources}`,
    `img-src data: ${resources}`,
    `font-src ${resources || "'none'"}`,
    `connect-src ${connect}`,
    `frame-src ${frames}`,
    "base-uri 'none'",
  ].join("; ");
}

window.showView = async ({ html, csp, input, result, theme }) => {
  document.body.replaceChildren();
  const iframe = document.createElement("iframe");
  iframe.setAttribute("sandbox", "allow-scripts");
  iframe.title = "view";
  iframe.style.cssText = "width: 880px; height: 640px; border: 0; display: block";
  document.body.style.background = theme === "dark" ? "#0d1117" : "#ffffff";
  document.body.append(iframe);
  const bridge = new AppBridge(
    null,
    { name: "view-test-host", version: "1.0.0" },
    { openLinks: {}, logging: {} },
    { hostContext: { theme, displayMode: "inline", styles: { variables: THEMES[theme] } } },
  );
  const initialized = new Promise((resolve) => {
    bridge.oninitialized = resolve;
  });
  await bridge.connect(new PostMessageTransport(iframe.contentWindow, iframe.contentWindow));
  const policy = `<meta http-equiv="Content-Security-Policy" content="${policyOf(csp)}">`;
  iframe.srcdoc = html.replace("<head>", `<head>${policy}`);
  await initialized;
  await bridge.sendToolInput({ arguments: input });
  await bridge.sendToolResult(result);
};
