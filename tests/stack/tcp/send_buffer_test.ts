/** The send buffer: writes up to the maximum, copies into the transmit area across the wrap. */
import { assertEquals } from "../../assert.ts";
import { SendBuffer } from "../../../stack/tcp/send_buffer.ts";

Deno.test("writes fill to the maximum, grow the ring, and copy out across the wrap", () => {
  const b = new SendBuffer(64, 1000, 100);
  const data = new Uint8Array(1500).map((_, i) => i & 0xff);
  assertEquals(b.write(data, 0, 80), 80);
  assertEquals(b.cap, 100);
  b.consume(60);
  assertEquals(b.write(data, 80, 70), 70, "wraps inside the 100-byte ring");
  assertEquals(b.cap, 100);
  b.copyOut(0, 90, 0);
  assertEquals(b.mem.subarray(0, 64), data.subarray(60, 124));
  assertEquals(b.write(data, 150, 2000), 910, "up to the maximum, growing the ring");
  assertEquals(b.len, 1000);
  assertEquals(b.free, 0);
  b.copyOut(950, 50, 0);
  assertEquals(b.mem.subarray(0, 50), data.subarray(1010, 1060));
  b.consume(1000);
  assertEquals(b.len, 0);
});
