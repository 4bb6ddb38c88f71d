/** TCP tunables: defaults, validation, the window scale for a buffer size. */
import { assertEquals, assertThrows } from "../../assert.ts";
import { resolveTcpConfig, windowScaleFor } from "../../../stack/tcp/config.ts";

Deno.test("defaults follow Linux; bad values are RangeErrors", () => {
  const c = resolveTcpConfig();
  assertEquals(c.congestion, "cubic");
  assertEquals(c.minRtoMs, 200);
  assertEquals(c.timeWaitMs, 60_000);
  assertEquals(c.keepalive, { idleMs: 7_200_000, intervalMs: 75_000, count: 9 });
  assertEquals(c.ephemeralPorts, [32768, 60999]);
  assertEquals(resolveTcpConfig({ keepalive: { count: 3 } }).keepalive.count, 3);
  assertThrows(() => resolveTcpConfig({ minRtoMs: 0 }), RangeError);
  assertThrows(() => resolveTcpConfig({ ephemeralPorts: [60000, 50000] }), RangeError);
  // @ts-expect-error: not an algorithm
  assertThrows(() => resolveTcpConfig({ congestion: "vegas" }), RangeError);
  assertEquals(resolveTcpConfig({ congestion: "bbr" }).congestion, "bbr");
  assertEquals(c.recovery, "rack");
  assertEquals(c.tlp, true);
  assertEquals(c.hystart, true);
  // @ts-expect-error: not a recovery algorithm
  assertThrows(() => resolveTcpConfig({ recovery: "fack" }), RangeError);
  assertThrows(() => resolveTcpConfig({ receiveBuffer: 100 }), RangeError);
});

Deno.test("RFC 7323 2.3: the smallest shift that covers the buffer, at most 14", () => {
  assertEquals(windowScaleFor(65535), 0);
  assertEquals(windowScaleFor(65536), 1);
  assertEquals(windowScaleFor(1 << 20), 5);
  assertEquals(windowScaleFor(2 ** 31), 14);
});
