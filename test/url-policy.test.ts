import { describe, expect, it } from "vitest";
import { isPrivateHost, UrlPolicy, urlsIn } from "../src/tools/url-policy.js";

describe("the research URL policy", () => {
  it.each([
    "http://127.0.0.1/",
    "http://2130706433/",
    "http://0x7f.1/",
    "http://10.1.2.3/",
    "http://172.20.0.1/",
    "http://192.168.1.1/",
    "http://169.254.169.254/",
    "http://100.64.0.1/",
    "http://0.0.0.0/",
    "http://[::1]/",
    "http://[::]/",
    "http://[fd00::1]/",
    "http://[fe80::1]/",
    "http://[::ffff:10.0.0.1]/",
    "http://localhost:3000/",
    "http://app.localhost/",
    "http://printer.local/",
    "http://db.internal/",
    "http://metadata.google.internal/",
    "http://router/",
  ])("treats %s as private", (url) => {
    expect(isPrivateHost(new URL(url).hostname)).toBe(true);
  });

  it.each([
    "https://ollama.com/",
    "http://8.8.8.8/",
    "http://[2001:4860::8888]/",
    "https://172.32.0.1/",
  ])("treats %s as public", (url) => {
    expect(isPrivateHost(new URL(url).hostname)).toBe(false);
  });

  it("allows what it has seen, in any spelling of the same URL", () => {
    const policy = new UrlPolicy("Compare https://a.example/x/ and (https://b.example/y).");
    expect(policy.refusal("https://a.example/x")).toBeUndefined();
    expect(policy.refusal("https://A.EXAMPLE/x#top")).toBeUndefined();
    expect(policy.refusal("https://b.example/y")).toBeUndefined();
    expect(policy.refusal("https://b.example/y?id=1")).toMatch(/only URLs found/);
    policy.allow("https://c.example/page?id=1");
    expect(policy.refusal("https://c.example/page?id=1")).toBeUndefined();
    expect(urlsIn("see https://x.example/a, then http://y.example.")).toEqual([
      "https://x.example/a",
      "http://y.example",
    ]);
  });
});
