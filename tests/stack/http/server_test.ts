/**
 * `stack.serve` between two stacks on an in-memory cable, with known request bytes and an
 * independent response parser (_raw.ts): keep-alive and pipelining, chunked bodies both ways,
 * streaming with backpressure, 100-continue, handler errors, shutdown, HTTP/1.0, and the
 * malformed and smuggling-shaped requests that must get a 4xx and a closed connection.
 */
import { assert, assertEquals, assertMatch } from "../../assert.ts";
import { pattern } from "../tcp/_pair.ts";
import { concat, RawConn, withPair } from "./_raw.ts";
import type { Stack } from "../../../stack/net/stack.ts";
import type { ServeHandler, ServeInit } from "../../../stack/http/server.ts";

const quiet = { onListen: () => {} };

/** Starts `handler` on port 80 of `server`. */
function serve(server: Stack, handler: ServeHandler, extra: ServeInit = {}) {
  return server.serve({ port: 80, ...quiet, ...extra }, handler);
}

Deno.test("serve: keep-alive, pipelining, Content-Length for a one-piece body", async () => {
  await withPair(async (server, client) => {
    let n = 0;
    serve(server, (req) => new Response(`#${++n} ${req.method} ${new URL(req.url).pathname}`));
    const c = await RawConn.open(client, 80);
    await c.send("GET /a HTTP/1.1\r\nHost: x\r\n\r\n");
    const r1 = await c.response();
    assertEquals([r1.status, r1.text, r1.headers.get("content-length")], [200, "#1 GET /a", "9"]);
    assert(r1.headers.has("date"));
    // Two requests in one write: answered in order on the same connection.
    await c.send("GET /b HTTP/1.1\r\nHost: x\r\n\r\nHEAD /c HTTP/1.1\r\nHost: x\r\n\r\n");
    assertEquals((await c.response()).text, "#2 GET /b");
    const head = await c.response({ head: true });
    assertEquals([head.status, head.body.length], [200, 0]);
    await c.send("GET /d HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    const last = await c.response();
    assertEquals([last.text, last.headers.get("connection")], ["#4 GET /d", "close"]);
    assert(await c.closed(), "the server closed after Connection: close");
    c.close();
  });
});

Deno.test("serve: a chunked request body streams to the handler; a streamed answer is chunked", async () => {
  await withPair(async (server, client) => {
    serve(server, (req) => new Response(req.body)); // echo, streaming
    const c = await RawConn.open(client, 80);
    const data = pattern(300_000, 3);
    const parts: Uint8Array[] = [new TextEncoder().encode(
      "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n",
    )];
    for (let off = 0; off < data.length; off += 70_000) {
      const piece = data.subarray(off, off + 70_000);
      parts.push(
        new TextEncoder().encode(`${piece.length.toString(16)};ext=1\r\n`),
        piece,
        new TextEncoder().encode("\r\n"),
      );
    }
    parts.push(new TextEncoder().encode("0\r\nX-Trailer: 1\r\n\r\n"));
    const sending = c.send(concat(parts));
    const r = await c.response();
    await sending;
    assertEquals(r.status, 200);
    assertEquals(r.headers.get("transfer-encoding"), "chunked");
    assertEquals(r.body, data);
    // The connection is still usable.
    await c.send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello");
    assertEquals((await c.response()).text, "hello");
    c.close();
  });
});

Deno.test("serve: a streamed response is pulled only as fast as the client reads (backpressure)", async () => {
  await withPair(async (server, client) => {
    let produced = 0;
    const piece = new Uint8Array(64 * 1024).fill(7);
    serve(server, () =>
      new Response(
        new ReadableStream({
          pull(c) {
            produced += piece.length;
            if (produced > 64 * 1024 * 1024) c.close();
            else c.enqueue(piece);
          },
        }, { highWaterMark: 0 }),
      ));
    const c = await RawConn.open(client, 80);
    await c.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    await c.more();
    // The client reads nothing more: the server's writes wait on the TCP window.
    await new Promise((r) => setTimeout(r, 300));
    const held = produced;
    await new Promise((r) => setTimeout(r, 300));
    assertEquals(produced, held, "production stopped while the client did not read");
    assert(held < 16 * 1024 * 1024, `produced ${held} bytes ahead of a stalled client`);
    c.close();
  });
});

Deno.test("serve: 100-continue is sent when the handler reads the body, not before", async () => {
  await withPair(async (server, client) => {
    serve(server, async (req) => {
      if (new URL(req.url).pathname === "/read") return new Response(await req.text());
      return new Response("not read", { status: 403 });
    });
    const c = await RawConn.open(client, 80);
    await c.send(
      "POST /read HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n",
    );
    const interim = await c.response({ interim: true });
    assertEquals(interim.status, 100);
    await c.send("abc");
    assertEquals((await c.response()).text, "abc");
    // Refused without reading: no 100, and the connection closes (the body was never sent).
    await c.send(
      "POST /no HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n",
    );
    const r = await c.response({ interim: true });
    assertEquals([r.status, r.headers.get("connection")], [403, "close"]);
    c.close();
  });
});

Deno.test("serve: a throwing handler gets onError's answer (default 500); the server goes on", async () => {
  await withPair(async (server, client) => {
    const errors: unknown[] = [];
    serve(server, (req) => {
      if (req.url.endsWith("/boom")) throw new Error("boom");
      if (req.url.endsWith("/neterr")) return Response.error();
      return new Response("fine");
    }, {
      onError: (e) => {
        errors.push(e);
        return new Response("sorry", { status: 503 });
      },
    });
    const c = await RawConn.open(client, 80);
    await c.send("GET /boom HTTP/1.1\r\nHost: x\r\n\r\nGET /ok HTTP/1.1\r\nHost: x\r\n\r\n");
    const r = await c.response();
    assertEquals([r.status, r.text], [503, "sorry"]);
    assertEquals((await c.response()).text, "fine");
    await c.send("GET /neterr HTTP/1.1\r\nHost: x\r\n\r\n");
    assertEquals((await c.response()).status, 503, "Response.error() is a failure too");
    assertEquals(errors.length, 2);
    c.close();
  });
});

Deno.test("serve: HTTP/1.0 gets a close-delimited streamed body, keep-alive only when asked", async () => {
  await withPair(async (server, client) => {
    serve(server, (req) =>
      req.url.endsWith("/stream")
        ? new Response(
          new ReadableStream({
            async start(c) {
              c.enqueue(new TextEncoder().encode("a"));
              await new Promise((r) => setTimeout(r, 10));
              c.enqueue(new TextEncoder().encode("b"));
              c.close();
            },
          }),
        )
        : new Response("one"));
    const c = await RawConn.open(client, 80);
    await c.send("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    const r = await c.response();
    assertEquals([r.text, r.headers.get("connection")], ["one", "keep-alive"]);
    await c.send("GET /stream HTTP/1.0\r\n\r\n");
    const s = await c.response();
    assertEquals([s.text, s.headers.has("transfer-encoding")], ["ab", false]);
    assert(c.eof);
    c.close();
  });
});

Deno.test("serve: an aborted signal stops accepting, lets the request in progress finish (its signal not aborted), resolves finished", async () => {
  await withPair(async (server, client) => {
    const ac = new AbortController();
    let release!: () => void;
    const gate = new Promise<void>((r) => release = r);
    const listened: Deno.NetAddr[] = [];
    const signals: AbortSignal[] = [];
    const srv = server.serve({
      port: 0,
      signal: ac.signal,
      onListen: (a) => listened.push(a),
    }, async (req) => {
      signals.push(req.signal);
      await gate;
      return new Response("done");
    });
    assertEquals(listened, [srv.addr]);
    assert(srv.addr.port >= 49152, "port 0: an ephemeral port");
    const c = await RawConn.open(client, srv.addr.port);
    await c.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    await new Promise((r) => setTimeout(r, 50));
    ac.abort();
    let finished = false;
    srv.finished.then(() => finished = true);
    await new Promise((r) => setTimeout(r, 50));
    assertEquals(finished, false, "a request in progress holds the shutdown");
    // As Deno.serve: a graceful shutdown lets the request finish; its signal does not abort.
    assertEquals(signals.map((s) => s.aborted), [false]);
    release();
    const r = await c.response();
    assertEquals([r.text, r.headers.get("connection")], ["done", "close"]);
    await srv.finished;
    let refused = false;
    await client.connect({ hostname: "10.0.0.1", port: srv.addr.port }).catch((e) =>
      refused = e instanceof Deno.errors.ConnectionRefused
    );
    assert(refused, "nothing listens after shutdown");
    c.close();
  });
});

/** A request that must be refused: the status, and the connection closed after it. */
const refused: [string, string | Uint8Array, number][] = [
  [
    "Content-Length with Transfer-Encoding",
    "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    400,
  ],
  [
    "two Content-Length fields",
    "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc",
    400,
  ],
  ["a Content-Length list", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3, 3\r\n\r\nabc", 400],
  ["a signed Content-Length", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: +3\r\n\r\nabc", 400],
  ["a bare LF ending a field", "GET / HTTP/1.1\r\nHost: x\nX: y\r\n\r\n", 400],
  ["a bare LF ending the request line", "GET / HTTP/1.1\nHost: x\r\n\r\n", 400],
  ["a bare CR in a field", "GET / HTTP/1.1\r\nHost: x\rX: y\r\n\r\n", 400],
  ["whitespace before the colon", "GET / HTTP/1.1\r\nHost: x\r\nContent-Length : 0\r\n\r\n", 400],
  ["obsolete line folding", "GET / HTTP/1.1\r\nHost: x\r\nX: a\r\n b\r\n\r\n", 400],
  ["a NUL in a value", "GET / HTTP/1.1\r\nHost: x\r\nX: a\u0000b\r\n\r\n", 400],
  ["no Host in HTTP/1.1", "GET / HTTP/1.1\r\n\r\n", 400],
  ["two Host fields", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400],
  [
    "a transfer coding other than chunked",
    "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
    501,
  ],
  [
    "chunked not last",
    "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
    400,
  ],
  [
    "a malformed chunk size",
    "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5x\r\nhello\r\n0\r\n\r\n",
    400,
  ],
  [
    "a chunk longer than its size",
    "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nhello\r\n0\r\n\r\n",
    400,
  ],
  ["HTTP/2.0 on the HTTP/1 port", "GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505],
  ["a space in the target", "GET /a b HTTP/1.1\r\nHost: x\r\n\r\n", 400],
  ["an oversized head", `GET / HTTP/1.1\r\nHost: x\r\nX: ${"a".repeat(20_000)}\r\n\r\n`, 431],
  ["too many fields", `GET / HTTP/1.1\r\nHost: x\r\n${"X: y\r\n".repeat(150)}\r\n`, 431],
  [
    "an unknown expectation",
    "POST / HTTP/1.1\r\nHost: x\r\nExpect: magic\r\nContent-Length: 0\r\n\r\n",
    417,
  ],
];

Deno.test("serve: malformed and smuggling-shaped requests get a 4xx and a closed connection", async () => {
  await withPair(async (server, client) => {
    let handled = 0;
    serve(server, async (req) => {
      handled++;
      return new Response(await req.text());
    });
    for (const [what, bytes, status] of refused) {
      const c = await RawConn.open(client, 80);
      await c.send(bytes);
      const r = await c.response();
      assertEquals(r.status, status, what);
      assertEquals(r.headers.get("connection"), "close", what);
      assertMatch(r.text, new RegExp(`^${status} `), what);
      assert(await c.closed(), `${what}: closed after the answer`);
      c.close();
    }
    // Only the malformed chunk cases reached the handler (their heads are fine).
    assertEquals(handled, 2);
  });
});

Deno.test("serve: a head that trickles in too slowly gets 408; an idle connection is closed", async () => {
  await withPair(async (server, client) => {
    serve(server, () => new Response("x"), { headersTimeoutMs: 200, idleTimeoutMs: 300 });
    const slow = await RawConn.open(client, 80);
    await slow.send("GET / HTTP/1.1\r\n");
    const started = performance.now();
    const r = await slow.response();
    assertEquals(r.status, 408);
    assert(performance.now() - started < 2000);
    slow.close();
    const idle = await RawConn.open(client, 80);
    await idle.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    assertEquals((await idle.response()).text, "x");
    assert(await idle.closed(), "closed after the idle timeout, without an answer");
    idle.close();
  });
});
