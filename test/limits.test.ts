import { describe, expect, it } from "vitest";
import { Limiter } from "../src/upstream/limiter.js";
import { RetryBudget } from "../src/upstream/retry.js";
import { ManualClock } from "./manual-clock.js";

describe("the upstream limiter", () => {
  it("lets `limit` through per lane, queues the rest in order, and drops a cancelled waiter", async () => {
    const limiter = new Limiter(() => Date.now(), 2);
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

describe("the upstream limiter's cap for all lanes together", () => {
  const tick = () => new Promise((resolve) => setImmediate(resolve));

  it("holds every lane to the total, and gives freed slots to the lanes in turn", async () => {
    const limiter = new Limiter(() => Date.now(), 16, 3);
    const order: string[] = [];
    // One busy caller takes the whole total and queues five more.
    const held = await Promise.all([1, 2, 3].map(() => limiter.acquire("busy")));
    const waiting = (lane: string, n: number) =>
      limiter.acquire(lane).then((release) => {
        order.push(`${lane}${n}`);
        return release;
      });
    const busy = [4, 5, 6, 7, 8].map((n) => waiting("busy", n));
    const quiet = waiting("quiet", 1);
    const other = waiting("other", 1);
    await tick();
    expect(order).toEqual([]);
    expect(limiter.active("busy") + limiter.active("quiet") + limiter.active("other")).toBe(3);
    // As the busy caller's requests end, the quiet callers are served before its own queue.
    for (const release of held) release();
    await tick();
    expect(order).toEqual(["busy4", "quiet1", "other1"]);
    for (const release of await Promise.all([quiet, other, busy[0] as Promise<() => void>])) {
      release();
    }
    for (const next of busy.slice(1)) (await next)();
    expect(order).toEqual(["busy4", "quiet1", "other1", "busy5", "busy6", "busy7", "busy8"]);
    expect(limiter.active("busy")).toBe(0);
  });

  it("takes a waiter whose call was cancelled out of the line at once", async () => {
    const limiter = new Limiter(() => Date.now(), 16, 1);
    const first = await limiter.acquire("a");
    const cancel = new AbortController();
    const cancelled = limiter.acquire("b", cancel.signal);
    const next = limiter.acquire("c");
    cancel.abort();
    await expect(cancelled).rejects.toThrow();
    first();
    (await next)();
    expect(limiter.active("b")).toBe(0);
    expect(limiter.active("c")).toBe(0);
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
