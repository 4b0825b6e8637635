import { describe, expect, it } from "vitest";
import { Limiter } from "../src/upstream/limiter.js";
import { RetryBudget } from "../src/upstream/retry.js";
import { ManualClock } from "./manual-clock.js";

describe("the upstream limiter", () => {
  it("lets `limit` through per lane, queues the rest in order, and drops a cancelled waiter", async () => {
    const limiter = new Limiter(2);
    const a = await limiter.acquire("x");
    const b = await limiter.acquire("x");
    const other = await limiter.acquire("y");
    const order: string[] = [];
    const c = limiter.acquire("x").then((release) => {
      order.push("c");
      return release;
    });
    const cancel = new AbortController();
    const d = limiter.acquire("x", cancel.signal);
    const e = limiter.acquire("x").then((release) => {
      order.push("e");
      return release;
    });
    cancel.abort();
    await expect(d).rejects.toThrow();
    a();
    (await c)();
    b();
    (await e)();
    other();
    expect(order).toEqual(["c", "e"]);
    expect(limiter.active("x")).toBe(0);
  });
});

describe("the retry budget", () => {
  it("allows a few retries however quiet it is, then a fraction of recent requests", () => {
    const clock = new ManualClock();
    const budget = new RetryBudget(0.2, clock);
    const granted = () => {
      let n = 0;
      while (budget.tryRetry()) n++;
      return n;
    };
    expect(granted()).toBe(5);
    for (let i = 0; i < 100; i++) budget.recordRequest();
    expect(granted()).toBe(15);
    clock.advance(11_000);
    expect(granted()).toBe(5);
  });
});
