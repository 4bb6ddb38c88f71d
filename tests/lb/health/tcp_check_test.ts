import { assertEquals, assertMatch } from "../../assert.ts";
import { type Connector, tcpCheck } from "../../../lb/health/tcp_check.ts";

/** The kernel's TCP on loopback as the connector: a real peer for the probe. */
const kernel: Connector = (o) => Deno.connect({ hostname: o.hostname, port: o.port });

Deno.test("tcpCheck: a listening port passes, a closed one fails with the reason", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  const accepted = (async () => {
    const c = await listener.accept();
    c.close();
  })();
  try {
    assertEquals(await tcpCheck(kernel, { hostname: "127.0.0.1", port, timeoutMs: 2000 }), null);
    await accepted;
  } finally {
    listener.close();
  }
  const r = await tcpCheck(kernel, { hostname: "127.0.0.1", port, timeoutMs: 2000 });
  assertMatch(String(r), /^tcp connect to 127\.0\.0\.1:\d+ failed: ConnectionRefused/);
});
