/**
 * The stack's loopback (stack/net/loopback.ts): TCP to 127.0.0.1 and to the host's own address
 * on a device with offloads, where data leaves TCP in super-frames that loop back whole; nothing
 * reaches the device; pings to its own address and to 127/8, answered by the host itself.
 */
import { assert, assertEquals, assertRejects } from "../../assert.ts";
import { parseIpv4 } from "../../../stack/wire/address.ts";
import { createMemoryPair } from "../../../stack/link/memory.ts";
import { Stack } from "../../../stack/net/stack.ts";
import { pattern, readAll } from "../tcp/_pair.ts";

Deno.test("loopback: TCP with offloads loops super-frames whole; ping to self; nothing on the wire", async () => {
  const [da, db] = createMemoryPair({ offload: true, queueLength: 4096 });
  const stack = new Stack({ device: da, address: 0x0a000001, prefix: 24 });
  const peer = new Stack({ device: db, address: 0x0a000002, prefix: 24 });
  const runs = [stack.start(), peer.start()];
  try {
    await new Promise((r) => setTimeout(r, 20)); // the start's gratuitous ARP leaves first
    const framesBefore = da.stats.txFrames;
    const l = stack.listen({ port: 9 });
    const served = (async () => {
      const c = await l.accept();
      await c.readable.pipeTo(c.writable);
    })();
    const c = await stack.connect({ hostname: "10.0.0.1", port: 9 });
    const data = pattern(3_000_000, 3);
    const [, back] = await Promise.all([
      (async () => {
        let off = 0;
        while (off < data.length) off += await c.write(data.subarray(off));
        await c.closeWrite();
      })(),
      readAll(c),
    ]);
    assertEquals(back, data);
    c.close();
    await served;
    const looped = stack.counters.get("loopback.rx_packets");
    const segments = stack.counters.get("tcp.rx_segments");
    assert(looped > 0 && segments > looped, `${segments} segments in ${looped} looped packets`);
    const reply = await stack.ping(0x0a000001, { timeoutMs: 1000 });
    assert(reply !== null, "a ping to its own address is answered by the host itself");
    assertEquals(reply.from, 0x0a000001);
    // As `ping 127.0.0.1` (and 127.1.2.3: all of 127/8 is the host's) on Linux: from 127.x.
    for (const dst of ["127.0.0.1", "127.1.2.3"]) {
      const lo = await stack.ping(dst, { timeoutMs: 1000, size: 100 });
      assert(lo !== null, `a ping to ${dst} is answered`);
      assertEquals([lo.from, lo.bytes], [parseIpv4(dst), 108]);
    }
    assert((await assertRejects(() => stack.ping("127.0.0"))) instanceof TypeError);
    assertEquals(da.stats.txFrames, framesBefore, "nothing went out on the device");
  } finally {
    stack.close();
    peer.close();
    await Promise.all(runs);
  }
});
