import { describe, expect, it } from "vitest";
import { addressGroup } from "../src/oauth/http.js";

describe("the address group a limit counts", () => {
  it("is an IPv4 address itself, mapped or not", () => {
    expect(addressGroup("203.0.113.7")).toBe("203.0.113.7");
    expect(addressGroup("::ffff:203.0.113.7")).toBe("203.0.113.7");
  });

  it("is the /56 of an IPv6 address, so one subscriber's addresses count as one", () => {
    const group = addressGroup("2001:db8:1234:5600::1");
    expect(addressGroup("2001:db8:1234:56ff:ffff:ffff:ffff:ffff")).toBe(group);
    expect(addressGroup("2001:db8:1234:5601:a::9")).toBe(group);
    expect(addressGroup("2001:db8:1234:5700::1")).not.toBe(group);
    expect(addressGroup("::1")).toBe(addressGroup("::2"));
  });
});
