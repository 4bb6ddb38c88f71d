/**
 * The control handler behind `lb.ts ping` (cli/commands/ping.ts) on an in-memory stack: what the
 * CLI sends for `lb.ts ping 127.0.0.1` is answered by the host itself, as `ping 127.0.0.1` on
 * Linux; a malformed request is refused.
 */
import { assert, assertEquals, assertRejects } from "../../assert.ts";
import { pingHandler } from "../../../cli/commands/ping.ts";
import { createMemoryPair } from "../../../stack/link/memory.ts";
import { Stack } from "../../../stack/net/stack.ts";

Deno.test("lb.ts ping's handler: 127.0.0.1 and the host's own address answered locally", async () => {
  const [da, db] = createMemoryPair();
  db.close();
  const stack = new Stack({ device: da, address: 0x0a000001, prefix: 24 });
  const run = stack.start();
  try {
    await new Promise((r) => setTimeout(r, 20)); // the start's gratuitous ARP leaves first
    const sentBefore = da.stats.txFrames;
    const handler = pingHandler(stack);
    const echo = { cmd: "ping", size: 56, ttl: 64, id: 7, timeoutMs: 1000, dontFragment: false };
    for (const [seq, host] of [[1, 0x7f000001], [2, 0x0a000001]]) {
      const reply = await handler({ ...echo, host, seq });
      assert(reply !== null, `echo ${seq} answered`);
      assertEquals([reply.from, reply.bytes, reply.seq], [host, 64, seq]);
    }
    const bad = await assertRejects(() => handler({ ...echo, host: 0, seq: 3 }));
    assert(/bad request/.test(bad.message));
    assertEquals(da.stats.txFrames, sentBefore, "nothing went out on the device");
  } finally {
    stack.close();
    await run;
  }
});
