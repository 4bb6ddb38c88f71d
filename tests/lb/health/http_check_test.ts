import { assert, assertEquals, assertMatch } from "../../assert.ts";
import { httpCheck, httpRequest, parseStatusLine } from "../../../lb/health/http_check.ts";
import type { Connector } from "../../../lb/health/tcp_check.ts";

const enc = (s: string) => new TextEncoder().encode(s);

/** The kernel's TCP on loopback as the connector: a real peer for the probe. */
const kernel: Connector = (o) => Deno.connect({ hostname: o.hostname, port: o.port });

Deno.test("parseStatusLine: status code, incomplete, and garbage as a reason", () => {
  const ok = enc("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
  assertEquals(parseStatusLine(ok, ok.length), 200);
  const noPhrase = enc("HTTP/1.0 503\r\n");
  assertEquals(parseStatusLine(noPhrase, noPhrase.length), 503);
  assertEquals(parseStatusLine(ok, 10), "incomplete");
  const bad = enc("SSH-2.0-OpenSSH\r\n");
  assertMatch(String(parseStatusLine(bad, bad.length)), /^not an HTTP status line/);
  const shortCode = enc("HTTP/1.1 20 OK\r\n");
  assertEquals(typeof parseStatusLine(shortCode, shortCode.length), "string");
});

Deno.test("httpRequest: HTTP/1.0 GET with Host and Connection: close", () => {
  assertEquals(
    new TextDecoder().decode(httpRequest("10.0.0.2", 80, "/healthz")),
    "GET /healthz HTTP/1.0\r\nHost: 10.0.0.2:80\r\nUser-Agent: lb.ts-health\r\n" +
      "Connection: close\r\n\r\n",
  );
});

/** A raw TCP server on loopback answering each connection with `reply` (null: never answers). */
function server(reply: string | null) {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const requests: string[] = [];
  const open: Deno.Conn[] = [];
  const done = (async () => {
    for await (const conn of listener) {
      open.push(conn);
      const buf = new Uint8Array(2048);
      const n = await conn.read(buf);
      requests.push(new TextDecoder().decode(buf.subarray(0, n ?? 0)));
      if (reply === null) continue;
      await conn.write(enc(reply));
      conn.close();
    }
  })();
  return {
    port: (listener.addr as Deno.NetAddr).port,
    requests,
    async stop() {
      listener.close();
      for (const c of open) {
        try {
          c.close();
        } catch {
          // already closed
        }
      }
      await done.catch(() => {});
    },
  };
}

Deno.test("httpCheck: expected status passes, another status fails with the code", async () => {
  const s = server("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
  try {
    const t = { hostname: "127.0.0.1", port: s.port, timeoutMs: 2000 };
    assertEquals(await httpCheck(kernel, t, "/healthz", 200), null);
    assertMatch(String(s.requests[0]), /^GET \/healthz HTTP\/1\.0\r\n/);
    assertMatch(String(await httpCheck(kernel, t, "/", 204)), /answered 200, expected 204$/);
  } finally {
    await s.stop();
  }
});

Deno.test("httpCheck: a server that never answers times out", async () => {
  const s = server(null);
  try {
    const t0 = performance.now();
    const r = await httpCheck(
      kernel,
      { hostname: "127.0.0.1", port: s.port, timeoutMs: 200 },
      "/",
      200,
    );
    assertMatch(String(r), /timed out after 200 ms/);
    assert(performance.now() - t0 < 2000);
  } finally {
    await s.stop();
  }
});

Deno.test("httpCheck: a non-HTTP answer and a refused port are failures with reasons", async () => {
  const s = server("SSH-2.0-x\r\n");
  const port = s.port;
  try {
    const r = await httpCheck(kernel, { hostname: "127.0.0.1", port, timeoutMs: 2000 }, "/", 200);
    assertMatch(String(r), /not an HTTP status line/);
  } finally {
    await s.stop();
  }
  // The listener is closed: the kernel answers the SYN with RST.
  const r = await httpCheck(kernel, { hostname: "127.0.0.1", port, timeoutMs: 2000 }, "/", 200);
  assertMatch(String(r), /ConnectionRefused/);
});
