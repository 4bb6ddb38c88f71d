/**
 * `request.signal` of `stack.serve` (stack/http/client_watch.ts), as Deno.serve has it: aborted
 * when the client goes away while its request is in progress (its FIN, a reset), with a streamed
 * answer cancelled and the connection closed; never aborted once the answer was written.
 */
import { assert, assertEquals } from "../../assert.ts";
import { RawConn, withPair } from "./_raw.ts";

const quiet = { onListen: () => {} };

/** Resolves with the signal's reason once it aborts, or "not aborted" after `ms`. */
function abortedWithin(signal: AbortSignal, ms: number): Promise<unknown> {
  if (signal.aborted) return Promise.resolve(signal.reason);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve("not aborted"), ms);
    signal.addEventListener("abort", () => {
      clearTimeout(timer);
      resolve(signal.reason);
    }, { once: true });
  });
}

Deno.test("serve: a handler awaiting request.signal sees it abort when the client closes", async () => {
  await withPair(async (server, client) => {
    const seen: { signal: AbortSignal; completed: Promise<void> }[] = [];
    let lateCancelled = false;
    server.serve({ port: 80, ...quiet }, async (req, info) => {
      seen.push({ signal: req.signal, completed: info.completed });
      // A long poll: waits for its client, then answers anyway (the answer must be dropped).
      await new Promise((r) => req.signal.addEventListener("abort", r, { once: true }));
      return new Response(new ReadableStream({ cancel: () => void (lateCancelled = true) }));
    });
    const c = await RawConn.open(client, 80);
    await c.send("GET /poll HTTP/1.1\r\nHost: x\r\n\r\n");
    while (seen.length === 0) await new Promise((r) => setTimeout(r, 5));
    assertEquals(seen[0].signal.aborted, false, "not aborted while the client waits");
    c.close(); // our FIN: nothing unread
    const reason = await abortedWithin(seen[0].signal, 2000);
    assert(reason instanceof DOMException, `aborted with ${reason}`);
    assertEquals(reason.name, "AbortError");
    const completed = await seen[0].completed.then(() => "resolved", () => "rejected");
    assertEquals(completed, "rejected", "info.completed rejects: no answer was written");
    await new Promise((r) => setTimeout(r, 10));
    assert(lateCancelled, "the answer that came after was dropped, its body cancelled");
    // The server's side of the connection is gone too (closed, not left in CLOSE_WAIT).
    const deadline = Date.now() + 2000;
    while (
      server.tcpSnapshot().some((s) => s.local === "10.0.0.1:80" && s.state === "CLOSE_WAIT")
    ) {
      assert(Date.now() < deadline, "the server closed its side");
      await new Promise((r) => setTimeout(r, 10));
    }
  });
});

Deno.test("serve: a streamed answer is cancelled when the client resets mid-stream", async () => {
  await withPair(async (server, client) => {
    let cancelled: unknown = null;
    let signal: AbortSignal | null = null;
    let pieces = 0;
    let wake = () => {};
    server.serve({ port: 80, ...quiet }, (req) => {
      signal = req.signal;
      return new Response(
        new ReadableStream<Uint8Array>({
          async pull(c) {
            // Five pieces, then an event source with nothing to say: no write would fail.
            if (pieces < 5) await new Promise((r) => setTimeout(r, 5));
            else await new Promise<void>((r) => wake = r);
            c.enqueue(new Uint8Array(4000).fill(++pieces & 0xff));
          },
          cancel(reason) {
            cancelled = reason;
            wake();
          },
        }, { highWaterMark: 0 }),
      );
    });
    const c = await RawConn.open(client, 80);
    await c.send("GET /events HTTP/1.1\r\nHost: x\r\n\r\n");
    await c.more();
    // Let more arrive unread: closing then resets (RFC 2525 2.17) instead of a FIN.
    while (pieces < 5) await new Promise((r) => setTimeout(r, 5));
    await new Promise((r) => setTimeout(r, 20));
    const before = client.counters.get("tcp.rst_unread_on_close");
    c.close();
    assertEquals(client.counters.get("tcp.rst_unread_on_close"), before + 1, "a reset was sent");
    const deadline = Date.now() + 2000;
    while (cancelled === null) {
      assert(Date.now() < deadline, "the body's cancel ran");
      await new Promise((r) => setTimeout(r, 5));
    }
    assert(signal !== null && (signal as AbortSignal).aborted, "request.signal aborted too");
    const after = pieces;
    await new Promise((r) => setTimeout(r, 50));
    assertEquals(pieces, after, "nothing more was pulled from the stream");
  });
});

Deno.test("serve: a completed request's signal does not abort; a half-close gets no answer", async () => {
  await withPair(async (server, client) => {
    const signals: AbortSignal[] = [];
    let answered = 0;
    server.serve({ port: 80, ...quiet }, async (req) => {
      signals.push(req.signal);
      if (new URL(req.url).pathname === "/slow") await new Promise((r) => setTimeout(r, 100));
      answered++;
      return new Response("ok");
    });
    const c = await RawConn.open(client, 80);
    // Two pipelined requests: the second waits in the buffer while the first is answered.
    await c.send("GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n");
    assertEquals((await c.response()).text, "ok");
    assertEquals((await c.response()).text, "ok");
    c.close();
    await new Promise((r) => setTimeout(r, 100));
    assertEquals(signals.map((s) => s.aborted), [false, false], "answered: never aborted");
    // As Deno.serve: a FIN while the request is in progress means the client went away.
    const h = await RawConn.open(client, 80);
    await h.send("GET /slow HTTP/1.1\r\nHost: x\r\n\r\n");
    await h.conn.closeWrite();
    assertEquals(await h.closed(), true, "closed with nothing written");
    assert(signals[2].aborted);
    h.close();
  });
});
