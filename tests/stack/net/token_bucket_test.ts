import assert from "node:assert/strict";
import { FakeClock } from "../../../stack/clock.ts";
import { TokenBucket } from "../../../stack/net/token_bucket.ts";

Deno.test("TokenBucket allows a burst, then the refill rate", () => {
  const clock = new FakeClock();
  const b = new TokenBucket(clock, 10, 3); // 10 per second: one token per 100 ms
  assert.ok(b.take());
  assert.ok(b.take());
  assert.ok(b.take());
  assert.ok(!b.take());
  clock.advance(50);
  assert.ok(!b.take());
  clock.advance(50);
  assert.ok(b.take());
  assert.ok(!b.take());
  clock.advance(10_000); // refill caps at the burst
  let n = 0;
  for (let i = 0; i < 10; i++) if (b.take()) n++;
  assert.equal(n, 3);
});
