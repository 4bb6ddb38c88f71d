/** `stack.onTick`: listeners run at every tick, after the stack's own sweeps, until removed. */
import { assertEquals } from "../../assert.ts";
import { FakeClock } from "../../../stack/clock.ts";
import { Stack } from "../../../stack/net/stack.ts";
import { CaptureDevice, ip, mac } from "./_frames.ts";

Deno.test("onTick listeners run at each tick until removed", () => {
  const stack = new Stack({
    device: new CaptureDevice(mac("02:00:00:00:00:01")),
    address: ip("10.0.0.1"),
    prefix: 24,
    clock: new FakeClock(0),
  });
  const calls: string[] = [];
  const offA = stack.onTick(() => calls.push("a"));
  stack.onTick(() => calls.push("b"));
  stack.tick();
  offA();
  stack.tick();
  assertEquals(calls, ["a", "b", "b"]);
});
