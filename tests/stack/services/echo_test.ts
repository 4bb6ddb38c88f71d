import { assertEquals } from "../../assert.ts";
import { handleEcho, serveEcho } from "../../../stack/services/echo.ts";
import { connectTo, dec, enc, localListener, readAll, writeAllTo } from "./_util.ts";

Deno.test("echo: bytes come back, and the client's FIN is answered with ours (nc -N)", async () => {
  const service = serveEcho(localListener());
  try {
    const conn = await connectTo(service);
    await writeAllTo(conn, enc.encode("hello, echo\n"));
    await conn.closeWrite();
    // readAll only ends when the server closes its side: proves the half-close is answered.
    assertEquals(dec.decode(await readAll(conn)), "hello, echo\n");
    conn.close();
  } finally {
    service.close();
    await service.done;
  }
});

Deno.test("echo: 4 MiB of random data round-trips exactly while being written", async () => {
  const service = serveEcho(localListener());
  try {
    const conn = await connectTo(service);
    const data = new Uint8Array(4 << 20);
    for (let off = 0; off < data.length; off += 65536) {
      crypto.getRandomValues(data.subarray(off, off + 65536));
    }
    // Write and read concurrently: the server echoes as it reads, so a writer that waited for
    // its whole write before reading would deadlock once both socket buffers were full.
    const writing = (async () => {
      await writeAllTo(conn, data);
      await conn.closeWrite();
    })();
    const got = await readAll(conn, data.length + 1);
    await writing;
    conn.close();
    assertEquals(got.length, data.length);
    assertEquals(got, data);
  } finally {
    service.close();
    await service.done;
  }
});

Deno.test("echo: many concurrent connections each get their own bytes back", async () => {
  const service = serveEcho(localListener());
  try {
    const clients = Array.from({ length: 50 }, async (_, i) => {
      const conn = await connectTo(service);
      await writeAllTo(conn, enc.encode(`client ${i}\n`.repeat(i + 1)));
      await conn.closeWrite();
      const text = dec.decode(await readAll(conn));
      conn.close();
      return text === `client ${i}\n`.repeat(i + 1);
    });
    assertEquals((await Promise.all(clients)).every((ok) => ok), true);
    assertEquals(service.served, 50);
    assertEquals(service.errors, 0);
  } finally {
    service.close();
    await service.done;
  }
});

Deno.test("echo: handleEcho works on any Conn-shaped object (a scripted fake)", async () => {
  const input = [enc.encode("ab"), enc.encode("cde")];
  const written: string[] = [];
  let halfClosed = false;
  const fake = {
    read(p: Uint8Array) {
      const next = input.shift();
      if (next === undefined) return Promise.resolve(null);
      p.set(next);
      return Promise.resolve(next.length);
    },
    // Short writes: one byte at a time, so writeAll's loop is exercised.
    write(p: Uint8Array) {
      written.push(dec.decode(p.subarray(0, 1)));
      return Promise.resolve(1);
    },
    close() {},
    closeWrite() {
      halfClosed = true;
      return Promise.resolve();
    },
    localAddr: { transport: "tcp" },
    remoteAddr: { transport: "tcp" },
  };
  await handleEcho(fake);
  assertEquals(written.join(""), "abcde");
  assertEquals(halfClosed, true);
});

Deno.test("echo: close() ends the service and its live connections", async () => {
  const service = serveEcho(localListener());
  const conn = await connectTo(service);
  await writeAllTo(conn, enc.encode("x"));
  const one = new Uint8Array(1);
  assertEquals(await conn.read(one), 1);
  assertEquals(service.active, 1);
  service.close();
  await service.done;
  assertEquals(service.active, 0);
  // The server closed the connection: the client sees end of stream (or a reset).
  const r = await conn.read(one).catch(() => null);
  assertEquals(r, null);
  conn.close();
});
