/**
 * The Deno.Conn-shaped API between two stacks on an in-memory cable: read/write, web streams
 * with backpressure, closeWrite (half-close), close, async-iterable listeners, errors as
 * Deno's classes, many concurrent connections.
 */
import { assert, assertEquals, assertRejects, assertThrows } from "../../assert.ts";
import { pattern, readAll, startPair, until, writeAll } from "./_pair.ts";

Deno.test("echo through readable.pipeTo(writable); data intact both ways", async () => {
  const p = startPair();
  try {
    const l = p.a.listen({ port: 7 });
    (async () => {
      for await (const c of l) c.readable.pipeTo(c.writable).catch(() => {});
    })();
    const c = await p.b.connect({ hostname: "10.0.0.1", port: 7 });
    const data = pattern(300_000, 7);
    const [, got] = await Promise.all([
      (async () => {
        await writeAll(c, data);
        await c.closeWrite();
      })(),
      readAll(c),
    ]);
    assertEquals(got.length, data.length);
    assertEquals(got, data);
    c.close();
    l.close();
  } finally {
    await p.close();
  }
});

Deno.test("half-close: the side that sent FIN still receives until the peer's FIN", async () => {
  const p = startPair();
  try {
    const l = p.a.listen({ port: 9 });
    const server = (async () => {
      const c = await l.accept();
      const req = await readAll(c); // until the client's FIN
      await writeAll(c, new TextEncoder().encode(`got ${req.length}`));
      c.close();
    })();
    const c = await p.b.connect({ hostname: "10.0.0.1", port: 9 });
    await writeAll(c, pattern(50_000));
    await c.closeWrite();
    const e = await assertRejects(() => c.write(new Uint8Array(1)));
    assert(e instanceof Deno.errors.BrokenPipe, String(e));
    assertEquals(new TextDecoder().decode(await readAll(c)), "got 50000");
    await server;
    c.close();
    // The active closer ends in TIME_WAIT, the other side has nothing left.
    await until(() => p.b.tcpSnapshot().some((r) => r.state === "TIME_WAIT"), 2000, "TIME_WAIT");
    await until(
      () => p.a.tcpSnapshot().filter((r) => r.state !== "LISTEN").length === 0,
      2000,
      "a clear",
    );
    l.close();
  } finally {
    await p.close();
  }
});

Deno.test("backpressure: an unread receive buffer closes the window; the writer waits", async () => {
  const p = startPair({ receiveBuffer: 64 * 1024, sendBuffer: 64 * 1024 });
  try {
    const l = p.a.listen({ port: 5 });
    const c = await p.b.connect({ hostname: "10.0.0.1", port: 5 });
    const s = await l.accept();
    let written = 0;
    const data = pattern(1_000_000, 3);
    const writer = (async () => {
      while (written < data.length) written += await c.write(data.subarray(written));
      await c.closeWrite();
    })();
    // Nobody reads: the receiver's 64 KiB and the sender's 64 KiB fill, then writes stop.
    await until(() => written >= 100_000, 5000, "buffers to fill");
    // The last few bytes of the receiver's window go after sender SWS avoidance's override
    // timeout (RFC 1122 4.2.3.4; 200 ms here); then the window is zero.
    await new Promise((r) => setTimeout(r, 500));
    const stalled = written;
    assert(stalled <= 64 * 1024 * 2 + 1024, `writes stop at the buffers: ${stalled}`);
    await new Promise((r) => setTimeout(r, 300));
    assertEquals(written, stalled, "still waiting");
    const row = p.a.tcpSnapshot().find((r) => r.state === "ESTABLISHED")!;
    assert(row.recvQ >= 60 * 1024, `receiver holds its window: ${row.recvQ}`);
    // The reader starts: everything flows, in order (the window reopens, RFC 9293 3.8.6.2.2).
    const got = await readAll(s);
    await writer;
    assertEquals(got, data);
    c.close();
    s.close();
  } finally {
    await p.close();
  }
});

Deno.test("readable/writable streams: byte stream reads, writable close sends FIN", async () => {
  const p = startPair();
  try {
    const l = p.a.listen({ port: 80 });
    const c = await p.b.connect({ hostname: "10.0.0.1", port: 80 });
    const s = await l.accept();
    const w = c.writable.getWriter();
    await w.write(new TextEncoder().encode("hello "));
    await w.write(new TextEncoder().encode("world"));
    await w.close();
    const text = await new Response(s.readable).text();
    assertEquals(text, "hello world");
    // BYOB reads work on the byte stream.
    const reader = c.readable.getReader({ mode: "byob" });
    const sw = s.writable.getWriter();
    await sw.write(new Uint8Array([1, 2, 3]));
    const { value } = await reader.read(new Uint8Array(10));
    assertEquals([...value!], [1, 2, 3]);
    await sw.close();
    const end = await reader.read(new Uint8Array(10));
    assertEquals(end.done, true);
  } finally {
    await p.close();
  }
});

Deno.test("errors: refused, reset, closed resources, as Deno's classes", async () => {
  const p = startPair();
  try {
    const refused = await assertRejects(() => p.b.connect({ hostname: "10.0.0.1", port: 4444 }));
    assert(refused instanceof Deno.errors.ConnectionRefused, String(refused));
    const l = p.a.listen({ port: 80 });
    const c = await p.b.connect({ hostname: "10.0.0.1", port: 80 });
    const s = await l.accept();
    // Unread data at close: RST; the peer's read fails with ConnectionReset.
    await writeAll(c, new Uint8Array(10));
    await until(() => (s.tcb.rcvBuf?.len ?? 0) === 10, 2000, "data to arrive");
    const pending = c.read(new Uint8Array(1));
    s.close();
    const reset = await assertRejects(() => pending);
    assert(reset instanceof Deno.errors.ConnectionReset, String(reset));
    assertThrows(() => s.close(), Deno.errors.BadResource);
    const bad = await assertRejects(() => s.read(new Uint8Array(1)));
    assert(bad instanceof Deno.errors.BadResource, String(bad));
    // A pending accept rejects when the listener closes; iteration just ends.
    const accepting = l.accept();
    l.close();
    const closed = await assertRejects(() => accepting);
    assert(closed instanceof Deno.errors.BadResource, String(closed));
    s[Symbol.dispose](); // already closed: no throw
  } finally {
    await p.close();
  }
});

Deno.test("listener iteration ends on close; 300 concurrent echo connections complete", async () => {
  const p = startPair();
  try {
    const l = p.a.listen({ port: 7 });
    let accepted = 0;
    const loop = (async () => {
      for await (const c of l) {
        accepted++;
        c.readable.pipeTo(c.writable).catch(() => {});
      }
    })();
    const one = async (i: number) => {
      const c = await p.b.connect({ hostname: "10.0.0.1", port: 7 });
      const msg = pattern(1000 + i, i + 1);
      await writeAll(c, msg);
      await c.closeWrite();
      const got = await readAll(c);
      c.close();
      assertEquals(got, msg);
    };
    await Promise.all(Array.from({ length: 300 }, (_, i) => one(i)));
    assertEquals(accepted, 300);
    assertEquals(p.b.tcpSnapshot().filter((r) => r.state === "TIME_WAIT").length, 300);
    l.close();
    await loop;
  } finally {
    await p.close();
  }
});

Deno.test("stack.close() resets connections; their users see errors, not hangs", async () => {
  const p = startPair();
  try {
    const l = p.a.listen({ port: 7 });
    const c = await p.b.connect({ hostname: "10.0.0.1", port: 7 });
    await l.accept();
    const reading = c.read(new Uint8Array(4));
    p.b.close();
    const e = await assertRejects(() => reading);
    assert(e instanceof Deno.errors.ConnectionAborted, String(e));
    assertEquals(p.b.tcpSnapshot().length, 0);
  } finally {
    await p.close();
  }
});
