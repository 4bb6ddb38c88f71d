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
  const server = startMetricsServer({ hostname: "127.0.0.1", port: 0 }, {
    metrics: () => {
      calls++;
      return `lbts_x ${calls}\n`;
    },
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

Deno.test("startMetricsServer: / and /status.json on the same address, read-only", async () => {
  const queries: string[] = [];
  const server = startMetricsServer({ hostname: "127.0.0.1", port: 0 }, {
    metrics: () => "",
    page: () => "<!doctype html><p>page</p>",
    status: (q) => {
      queries.push(q.toString());
      return { page: q.get("page") };
    },
  });
  try {
    const base = `http://127.0.0.1:${server.addr.port}`;
    const page = await fetch(`${base}/`);
    assertEquals(page.headers.get("content-type"), "text/html; charset=utf-8");
    assertEquals(page.headers.get("cache-control"), "no-store");
    assertEquals(await page.text(), "<!doctype html><p>page</p>");
    const st = await fetch(`${base}/status.json?page=3`);
    assertEquals(st.headers.get("content-type"), "application/json");
    assertEquals(await st.json(), { page: "3" });
    assertEquals(queries, ["page=3"]);
    for (const method of ["POST", "PUT", "DELETE"]) {
      const r = await fetch(`${base}/status.json`, { method });
      assertEquals(r.status, 405, method);
      await r.body?.cancel();
    }
    assertEquals(queries.length, 1);
  } finally {
    await server.shutdown();
  }
});

Deno.test("startMetricsServer: without a page, / is 404", async () => {
  const server = startMetricsServer({ hostname: "127.0.0.1", port: 0 }, { metrics: () => "" });
  try {
    const r = await fetch(`http://127.0.0.1:${server.addr.port}/`);
    assertEquals(r.status, 404);
    await r.body?.cancel();
  } finally {
    await server.shutdown();
  }
});
