/**
 * `stack.fetch`'s connection pool (stack/http/pool.ts, client.ts) between two stacks on an
 * in-memory cable: connections counted on the server side (the client's port of each request,
 * or the connections a raw server accepted).
 */
import { assert, assertEquals, assertRejects } from "../../assert.ts";
import { withPair } from "./_raw.ts";
import type { Stack } from "../../../stack/net/stack.ts";

const quiet = { onListen: () => {} };
const enc = new TextEncoder();

/** stack.serve on port 80 answering "ok", noting the client port (= connection) of each request. */
function countingServer(server: Stack, extra: { idleTimeoutMs?: number } = {}) {
  const ports: number[] = [];
  const headers: Headers[] = [];
  server.serve({ port: 80, ...quiet, ...extra }, (req, info) => {
    ports.push(info.remoteAddr.port);
    headers.push(req.headers);
    const path = new URL(req.url).pathname;
    if (path === "/big") return new Response(new Uint8Array(200_000));
    if (path === "/close") return new Response("ok", { headers: { connection: "close" } });
    return new Response("ok");
  });
  return { ports, headers, connections: () => new Set(ports).size };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

Deno.test("pool: sequential fetches to one origin reuse one connection", async () => {
  await withPair(async (server, client) => {
    const s = countingServer(server);
    for (let i = 0; i < 3; i++) {
      assertEquals(await (await client.fetch("http://10.0.0.1/")).text(), "ok");
    }
    // HEAD and a body-less 204-like answer end at the head: reused as well.
    await client.fetch("http://10.0.0.1/", { method: "HEAD" });
    assertEquals(
      await (await client.fetch("http://10.0.0.1/big")).arrayBuffer().then((b) => b.byteLength),
      200_000,
    );
    assertEquals(await (await client.fetch("http://10.0.0.1/")).text(), "ok");
    assertEquals([s.ports.length, s.connections()], [6, 1]);
    assertEquals(s.headers[0].get("connection"), null, "HTTP/1.1 persistence by default");
  });
});

Deno.test("pool: a connection the server closed while idle is dropped; the next fetch works", async () => {
  await withPair(async (server, client) => {
    const s = countingServer(server, { idleTimeoutMs: 50 });
    const c = client.createHttpClient();
    assertEquals(await (await client.fetch("http://10.0.0.1/", { client: c })).text(), "ok");
    assertEquals(c.idleConnections, 1);
    await sleep(200); // the server has closed it
    assertEquals(c.idleConnections, 0, "the pool saw the server's FIN");
    assertEquals(await (await client.fetch("http://10.0.0.1/", { client: c })).text(), "ok");
    assertEquals(s.connections(), 2);
    c.close();
  });
});

/**
 * A raw server on `port` that answers requests (with `fields`) and closes the connection,
 * unanswered, at its second request when `closeAtSecond`: a server that drops a kept connection
 * just as the client sends on it. Counts the connections accepted.
 */
function closingServer(
  server: Stack,
  port = 81,
  fields = "",
  closeAtSecond = true,
): { accepted: () => number } {
  let accepted = 0;
  const l = server.listen({ port });
  (async () => {
    for await (const c of l) {
      accepted++;
      (async () => {
        const buf = new Uint8Array(65536);
        for (let n = 0;; n++) {
          let got = "";
          while (!got.includes("\r\n\r\n")) {
            const k = await c.read(buf);
            if (k === null) return c.close();
            got += new TextDecoder().decode(buf.subarray(0, k));
          }
          if (n === 1 && closeAtSecond) return c.close();
          await c.write(enc.encode(`HTTP/1.1 200 OK\r\n${fields}Content-Length: 2\r\n\r\nok`));
        }
      })().catch(() => {});
    }
  })().catch(() => {});
  return { accepted: () => accepted };
}

Deno.test("pool: a kept connection closed unanswered: an idempotent request goes again once", async () => {
  await withPair(async (server, client) => {
    const s = closingServer(server);
    assertEquals(await (await client.fetch("http://10.0.0.1:81/")).text(), "ok");
    // Sent on the kept connection, closed without an answer, sent again on a new one.
    assertEquals(await (await client.fetch("http://10.0.0.1:81/again")).text(), "ok");
    assertEquals(s.accepted(), 2);
    // PUT with a string body is idempotent and can be sent again too.
    const put = await client.fetch("http://10.0.0.1:81/", { method: "PUT", body: "x" });
    assertEquals([await put.text(), s.accepted()], ["ok", 3]);
    // POST is not idempotent (RFC 9110 9.2.2): the failure is the caller's to handle.
    const e = await assertRejects(() =>
      client.fetch("http://10.0.0.1:81/", { method: "POST", body: "x" })
    );
    assert(e instanceof TypeError, String(e));
    assertEquals(s.accepted(), 3, "not sent again");
  });
});

Deno.test("pool: a body not read to its end is not reused; Connection: close is honoured", async () => {
  await withPair(async (server, client) => {
    const s = countingServer(server);
    const big = await client.fetch("http://10.0.0.1/big");
    const reader = big.body!.getReader();
    await reader.read();
    await reader.cancel(); // not consumed: the connection closes
    const unread = await client.fetch("http://10.0.0.1/big"); // body never read: held
    assertEquals(await (await client.fetch("http://10.0.0.1/")).text(), "ok");
    assertEquals(s.connections(), 3, "each fetch after an unfinished body opened its own");
    await unread.body!.cancel();
    // The caller's Connection: close goes out and the connection is not kept.
    await (await client.fetch("http://10.0.0.1/", { headers: { connection: "close" } })).text();
    assertEquals(s.headers.at(-1)!.get("connection"), "close");
    // The server's Connection: close likewise (it took the connection kept from "/").
    await (await client.fetch("http://10.0.0.1/close")).text();
    assertEquals(await (await client.fetch("http://10.0.0.1/")).text(), "ok");
    assertEquals(s.connections(), 5, JSON.stringify(s.ports));
    // A server's Keep-Alive timeout too short to use (1 s, less undici's 1 s margin): not kept.
    const hint = closingServer(server, 82, "Keep-Alive: timeout=1\r\n", false);
    for (let i = 0; i < 2; i++) await (await client.fetch("http://10.0.0.1:82/")).text();
    assertEquals(hint.accepted(), 2);
    const longer = closingServer(server, 83, "Keep-Alive: timeout=5\r\n", false);
    for (let i = 0; i < 2; i++) await (await client.fetch("http://10.0.0.1:83/")).text();
    assertEquals(longer.accepted(), 1, "a usable Keep-Alive timeout: kept");
  });
});

Deno.test("pool: bounded per origin and in time; close() empties it; 0 disables it", async () => {
  await withPair(async (server, client) => {
    const s = countingServer(server);
    const c2 = client.createHttpClient({ poolMaxIdlePerHost: 2, poolIdleTimeout: 300 });
    const all = await Promise.all(
      [0, 1, 2, 3].map(() => client.fetch("http://10.0.0.1/", { client: c2 })),
    );
    for (const r of all) assertEquals(await r.text(), "ok");
    assertEquals([s.connections(), c2.idleConnections], [4, 2], "two of four kept");
    await sleep(500);
    assertEquals(c2.idleConnections, 0, "dropped after the idle timeout");
    await (await client.fetch("http://10.0.0.1/", { client: c2 })).text();
    assertEquals(c2.idleConnections, 1);
    c2.close();
    assertEquals(c2.idleConnections, 0);
    // Closed: requests still work, unpooled.
    await (await client.fetch("http://10.0.0.1/", { client: c2 })).text();
    assertEquals(c2.idleConnections, 0);
    // One idle per origin: each new one replaces the last, and the pool stays findable.
    const one = client.createHttpClient({ poolMaxIdlePerHost: 1 });
    const pair = await Promise.all(
      [0, 1].map(() => client.fetch("http://10.0.0.1/", { client: one })),
    );
    for (const r of pair) await r.text();
    assertEquals(one.idleConnections, 1);
    const before = s.connections();
    await (await client.fetch("http://10.0.0.1/", { client: one })).text();
    assertEquals([s.connections(), one.idleConnections], [before, 1], "the kept one reused");
    one.close();
    const none = client.createHttpClient({ poolMaxIdlePerHost: 0 });
    await (await client.fetch("http://10.0.0.1/", { client: none })).text();
    assertEquals(s.headers.at(-1)!.get("connection"), "close", "without a pool: one-shot");
    assertEquals(none.idleConnections, 0);
  });
});
