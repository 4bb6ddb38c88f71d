/**
 * UDP over the stack's loopback: datagrams to 127.0.0.1 and to the host's own address reach its
 * own sockets (with the source Linux would pick), never the device.
 */
import { assertEquals } from "../../assert.ts";
import { createMemoryPair } from "../../../stack/link/memory.ts";
import { Stack } from "../../../stack/net/stack.ts";

Deno.test("udp loopback: 127.0.0.1 and the own address reach the host's own sockets", async () => {
  const [da, db] = createMemoryPair();
  const stack = new Stack({ device: da, address: 0x0a000001, prefix: 24 });
  const peer = new Stack({ device: db, address: 0x0a000002, prefix: 24 });
  const runs = [stack.start(), peer.start()];
  try {
    await new Promise((r) => setTimeout(r, 20));
    const framesBefore = da.stats.txFrames;
    const server = stack.listenDatagram({ port: 5000, transport: "udp" });
    const local = stack.listenDatagram({ port: 5001, hostname: "127.0.0.1", transport: "udp" });
    const client = stack.listenDatagram({ port: 0, transport: "udp" });
    const enc = new TextEncoder();
    await client.send(enc.encode("to loopback"), { hostname: "127.0.0.1", port: 5000 });
    const [d1, from1] = await server.receive();
    assertEquals([new TextDecoder().decode(d1), from1.hostname], ["to loopback", "127.0.0.1"]);
    await client.send(enc.encode("to self"), { hostname: "10.0.0.1", port: 5000 });
    const [d2, from2] = await server.receive();
    assertEquals([new TextDecoder().decode(d2), from2.hostname], ["to self", "10.0.0.1"]);
    await client.send(enc.encode("bound"), { transport: "udp", hostname: "127.0.0.1", port: 5001 });
    assertEquals(new TextDecoder().decode((await local.receive())[0]), "bound");
    assertEquals(da.stats.txFrames, framesBefore, "nothing went out on the device");
    for (const s of [server, local, client]) s.close();
  } finally {
    stack.close();
    peer.close();
    await Promise.all(runs);
  }
});
