/**
 * `stack.fetch` between two stacks on an in-memory cable: against `stack.serve` (itself tested
 * with raw bytes in server_test.ts) and against raw servers written here (close-delimited
 * bodies, garbage). Bodies both ways by SHA-256 or byte equality, redirects, signal, errors.
 */
import { createHash } from "node:crypto";
import { assert, assertEquals, assertMatch, assertRejects } from "../../assert.ts";
import { pattern } from "../tcp/_pair.ts";
import { withPair } from "./_raw.ts";
import type { Stack } from "../../../stack/net/stack.ts";

const quiet = { onListen: () => {} };
const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

/** Streams `data` in pieces of `size` bytes. */
function streamOf(data: Uint8Array, size = 50_000): ReadableStream<Uint8Array> {
  let off = 0;
  return new ReadableStream({
    pull(c) {
      if (off >= data.length) return c.close();
      c.enqueue(data.slice(off, off + size));
      off += size;
    },
  });
}

/** A raw one-shot server on `port`: reads the request head, writes `answer`, closes. */
function rawServer(server: Stack, port: number, answer: string | Uint8Array): void {
  const l = server.listen({ port });
  (async () => {
    for await (const c of l) {
      const buf = new Uint8Array(65536);
      let got = "";
      while (!got.includes("\r\n\r\n")) {
        const n = await c.read(buf);
        if (n === null) break;
        got += new TextDecoder().decode(buf.subarray(0, n));
      }
      const bytes = typeof answer === "string" ? new TextEncoder().encode(answer) : answer;
      let off = 0;
      while (off < bytes.length) off += await c.write(bytes.subarray(off));
      c.close();
    }
  })().catch(() => {});
}

Deno.test("fetch: GET, POST with a string body (Content-Length), headers both ways", async () => {
  await withPair(async (server, client) => {
    server.serve({ port: 80, ...quiet }, async (req) => {
      const body = await req.text();
      return Response.json({
        method: req.method,
        path: new URL(req.url).pathname + new URL(req.url).search,
        length: req.headers.get("content-length"),
        te: req.headers.get("transfer-encoding"),
        custom: req.headers.get("x-custom"),
        body,
      }, { headers: { "x-answer": "42" } });
    });
    const get = await client.fetch("http://10.0.0.1/a?b=1");
    assertEquals([get.status, get.ok, get.url, get.redirected], [
      200,
      true,
      "http://10.0.0.1/a?b=1",
      false,
    ]);
    assertEquals(get.headers.get("x-answer"), "42");
    assertEquals((await get.json()).path, "/a?b=1");
    const post = await client.fetch("http://10.0.0.1/p", {
      method: "POST",
      body: "hello",
      headers: { "x-custom": "yes" },
    });
    const seen = await post.json();
    assertEquals([seen.method, seen.body, seen.custom, seen.te], ["POST", "hello", "yes", null]);
    assertEquals(seen.length, "5");
  });
});

Deno.test("fetch: a streamed upload echoed back while it is still being sent (no deadlock)", async () => {
  await withPair(async (server, client) => {
    server.serve({ port: 80, ...quiet }, (req) => new Response(req.body));
    const data = pattern(2_000_000, 5);
    const res = await client.fetch("http://10.0.0.1/echo", {
      method: "POST",
      body: streamOf(data),
      duplex: "half",
    } as RequestInit);
    assertEquals(res.headers.get("transfer-encoding"), "chunked");
    const back = new Uint8Array(await res.arrayBuffer());
    assertEquals(back.length, data.length);
    assertEquals(sha(back), sha(data));
  });
});

Deno.test("fetch: the body streams as read; a close-delimited HTTP/1.0 body ends at the close", async () => {
  await withPair(async (server, client) => {
    const data = pattern(300_000, 9);
    const head = "HTTP/1.0 200 OK\r\nContent-Type: application/octet-stream\r\n\r\n";
    const answer = new Uint8Array(head.length + data.length);
    answer.set(new TextEncoder().encode(head));
    answer.set(data, head.length);
    rawServer(server, 81, answer);
    const res = await client.fetch("http://10.0.0.1:81/");
    const got = new Uint8Array(await res.arrayBuffer());
    assertEquals(got, data);
    // A short Content-Length body is an error of the body, not a silent truncation.
    rawServer(server, 82, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc");
    const short = await client.fetch("http://10.0.0.1:82/");
    const e = await assertRejects(() => short.text());
    assert(e instanceof TypeError, String(e));
  });
});

Deno.test("fetch: redirects followed as the Fetch standard says; manual and error modes", async () => {
  await withPair(async (server, client) => {
    server.serve({ port: 80, ...quiet }, async (req) => {
      const u = new URL(req.url);
      const body = req.body === null ? "" : await req.text();
      if (u.pathname === "/302") return Response.redirect("http://10.0.0.1/seen", 302);
      if (u.pathname === "/303") {
        return new Response(null, { status: 303, headers: { location: "/seen" } });
      }
      if (u.pathname === "/307") {
        return new Response(null, { status: 307, headers: { location: "/seen" } });
      }
      if (u.pathname === "/away") {
        return new Response(null, {
          status: 308,
          headers: { location: "http://10.0.0.1:8080/seen" },
        });
      }
      if (u.pathname === "/loop") {
        return new Response(null, { status: 302, headers: { location: "/loop" } });
      }
      return Response.json({ method: req.method, body, auth: req.headers.get("authorization") });
    });
    server.serve(
      { port: 8080, ...quiet },
      (req) => Response.json({ method: req.method, auth: req.headers.get("authorization") }),
    );
    const r302 = await client.fetch("http://10.0.0.1/302", { method: "POST", body: "x" });
    assertEquals([r302.redirected, r302.url], [true, "http://10.0.0.1/seen"]);
    assertEquals(await r302.json(), { method: "GET", body: "", auth: null });
    const r303 = await client.fetch("http://10.0.0.1/303", { method: "PUT", body: "x" });
    assertEquals((await r303.json()).method, "GET");
    const r307 = await client.fetch("http://10.0.0.1/307", {
      method: "POST",
      body: "again",
      headers: { authorization: "Bearer t" },
    });
    assertEquals(await r307.json(), { method: "POST", body: "again", auth: "Bearer t" });
    // Across origins (another port) the credentials stay behind.
    const away = await client.fetch("http://10.0.0.1/away", {
      headers: { authorization: "Bearer t" },
    });
    assertEquals(await away.json(), { method: "GET", auth: null });
    const manual = await client.fetch("http://10.0.0.1/302", { redirect: "manual" });
    assertEquals([manual.status, manual.headers.get("location")], [302, "http://10.0.0.1/seen"]);
    await manual.body?.cancel();
    const e1 = await assertRejects(() =>
      client.fetch("http://10.0.0.1/302", { redirect: "error" })
    );
    assert(e1 instanceof TypeError);
    const e2 = await assertRejects(() => client.fetch("http://10.0.0.1/loop"));
    assertMatch(e2.message, /too many redirects/);
  });
});

Deno.test("fetch: signal aborts the wait for the answer and the body; errors are TypeErrors", async () => {
  await withPair(async (server, client) => {
    let release!: () => void;
    const gate = new Promise<void>((r) => release = r);
    server.serve({ port: 80, ...quiet }, async (req) => {
      if (req.url.endsWith("/slow")) {
        await gate;
        return new Response("late");
      }
      // A body that never ends.
      return new Response(
        new ReadableStream({
          pull(c) {
            c.enqueue(new Uint8Array(1000));
            return new Promise((r) => setTimeout(r, 20));
          },
        }),
      );
    });
    const ac = new AbortController();
    const pending = client.fetch("http://10.0.0.1/slow", { signal: ac.signal });
    setTimeout(() => ac.abort(), 50);
    const e = await assertRejects(() => pending);
    assertEquals(e.name, "AbortError");
    release();
    const ac2 = new AbortController();
    const endless = await client.fetch("http://10.0.0.1/endless", { signal: ac2.signal });
    const reader = endless.body!.getReader();
    assertEquals((await reader.read()).done, false);
    ac2.abort();
    const e2 = await assertRejects(async () => {
      while (!(await reader.read()).done);
    });
    assertEquals(e2.name, "AbortError");

    const refused = await assertRejects(() => client.fetch("http://10.0.0.1:9/"));
    assert(refused instanceof TypeError, String(refused));
    assert((refused as TypeError).cause instanceof Deno.errors.ConnectionRefused);
    const tls = await assertRejects(() => client.fetch("https://10.0.0.1/"));
    assertMatch(tls.message, /no TLS/);
    rawServer(server, 83, "SSH-2.0-OpenSSH_9.6\r\n");
    const garbage = await assertRejects(() => client.fetch("http://10.0.0.1:83/"));
    assert(garbage instanceof TypeError && /status line/.test(garbage.message), String(garbage));
  });
});

Deno.test("fetch: HEAD and 204 have no body; a 100 Continue before the answer is skipped", async () => {
  await withPair(async (server, client) => {
    server.serve(
      { port: 80, ...quiet },
      (req) =>
        req.url.endsWith("/none")
          ? new Response(null, { status: 204 })
          : new Response("twelve bytes", { headers: { "content-length": "12" } }),
    );
    const head = await client.fetch("http://10.0.0.1/", { method: "HEAD" });
    assertEquals([head.status, head.headers.get("content-length"), await head.text()], [
      200,
      "12",
      "",
    ]);
    const none = await client.fetch("http://10.0.0.1/none");
    assertEquals([none.status, none.body], [204, null]);
    rawServer(
      server,
      84,
      "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
    );
    assertEquals(await (await client.fetch("http://10.0.0.1:84/")).text(), "ok");
  });
});

Deno.test("fetch over the loopback: a stack's own stack.serve at 127.0.0.1, 2 MB both ways", async () => {
  await withPair(async (_server, client) => {
    client.serve({ port: 8000, ...quiet }, (req) => new Response(req.body));
    const data = pattern(2_000_000, 11);
    const framesBefore = client.device.stats.txFrames;
    const res = await client.fetch("http://127.0.0.1:8000/echo", {
      method: "POST",
      body: data as Uint8Array<ArrayBuffer>,
    });
    assertEquals(sha(new Uint8Array(await res.arrayBuffer())), sha(data));
    assertEquals(client.device.stats.txFrames, framesBefore, "nothing went out on the device");
  });
});
