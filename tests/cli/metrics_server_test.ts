import { assertEquals } from "../assert.ts";
import { parseMetricsAddr, startMetricsServer } from "../../cli/metrics_server.ts";

Deno.test("parseMetricsAddr: IPv4:PORT, reasons for the rest", () => {
  assertEquals(parseMetricsAddr("127.0.0.1:9100"), { hostname: "127.0.0.1", port: 9100 });
  assertEquals(parseMetricsAddr("0.0.0.0:0"), { hostname: "0.0.0.0", port: 0 });
  for (const bad of ["9100", "localhost:9100", "127.0.0.1:", "127.0.0.1:65536", "1.2.3:80"]) {
    assertEquals(typeof parseMetricsAddr(bad), "string", bad);
  }
});

Deno.test("startMetricsServer: GET /metrics serves the text on the kernel network", async () => {
  let calls = 0;
  const server = startMetricsServer({ hostname: "127.0.0.1", port: 0 }, () => {
    calls++;
    return `lbts_x ${calls}\n`;
  });
  try {
    const base = `http://127.0.0.1:${server.addr.port}`;
    const r = await fetch(`${base}/metrics`);
    assertEquals(r.status, 200);
    assertEquals(r.headers.get("content-type"), "text/plain; version=0.0.4; charset=utf-8");
    assertEquals(await r.text(), "lbts_x 1\n");
    assertEquals(await (await fetch(`${base}/metrics`)).text(), "lbts_x 2\n");
    const nf = await fetch(`${base}/other`);
    assertEquals(nf.status, 404);
    await nf.body?.cancel();
    const post = await fetch(`${base}/metrics`, { method: "POST" });
    assertEquals(post.status, 405);
    await post.body?.cancel();
  } finally {
    await server.shutdown();
  }
});
