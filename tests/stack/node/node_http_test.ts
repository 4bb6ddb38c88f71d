/**
 * Node compatibility on the in-memory cable: the `node:net`-style socket over a stack
 * connection (addresses, half-close, idle timeout), a `node:http` server with keep-alive on a
 * stack listener, Express and `@hono/node-server` apps on it, and undici's `Client` with a
 * `connect` that dials through the stack.
 */
import { createServer } from "node:http";
// @ts-types="@types/express"
import express from "express";
import { Hono } from "hono";
import { createAdaptorServer, type HttpBindings } from "@hono/node-server";
import { Client } from "undici";
import { assert, assertEquals } from "../../assert.ts";
import { RawConn, withPair } from "../http/_raw.ts";
import { StackSocket } from "../../../stack/node/net_socket.ts";
import { serveNodeHttp } from "../../../stack/node/http_server.ts";

Deno.test("node socket: addresses, data both ways, half-close, idle timeout", async () => {
  await withPair(async (server, client) => {
    const l = server.listen({ port: 7 });
    const served = (async () => {
      const c = await l.accept();
      const s = new StackSocket(c, { allowHalfOpen: true });
      assertEquals([s.localAddress, s.localPort, s.remoteAddress, s.remoteFamily], [
        "10.0.0.1",
        7,
        "10.0.0.2",
        "IPv4",
      ]);
      assertEquals(s.address(), { address: "10.0.0.1", family: "IPv4", port: 7 });
      s.setNoDelay(true).setKeepAlive(true);
      const got: Buffer[] = [];
      // The peer's FIN ends our readable side; our writable side stays open (half-close).
      await new Promise<void>((resolve) => {
        s.on("data", (d: Buffer) => got.push(d));
        s.on("end", () => resolve());
      });
      assertEquals(s.readyState, "writeOnly");
      s.end(`got ${Buffer.concat(got).length} bytes`);
      await new Promise((r) => s.once("close", r));
      assertEquals(s.bytesRead, 100_000);
    })();
    const conn = await client.connect({ hostname: "10.0.0.1", port: 7 });
    const cs = new StackSocket(conn, { allowHalfOpen: true });
    let timedOut = false;
    cs.setTimeout(100, () => timedOut = true);
    await new Promise((r) => setTimeout(r, 250));
    assert(timedOut, "'timeout' after 100 ms without traffic");
    cs.setTimeout(0);
    cs.write(Buffer.alloc(100_000, 1));
    cs.end(); // our FIN after the data; the answer still arrives
    const answer: Buffer[] = [];
    cs.on("data", (d: Buffer) => answer.push(d));
    await new Promise((r) => cs.once("end", r));
    assertEquals(Buffer.concat(answer).toString(), "got 100000 bytes");
    assertEquals(cs.bytesWritten, 100_000);
    await served;
    cs.destroy();
  });
});

Deno.test("node:http on a stack listener keeps connections alive", async () => {
  await withPair(async (server, client) => {
    let n = 0;
    const http = createServer((req, res) =>
      res.end(`#${++n} ${req.url} from ${req.socket.remoteAddress}`)
    );
    const running = serveNodeHttp(server.listen({ port: 80 }), http);
    const c = await RawConn.open(client, 80);
    await c.send("GET /a HTTP/1.1\r\nHost: x\r\n\r\n");
    assertEquals((await c.response()).text, "#1 /a from 10.0.0.2");
    await c.send("GET /b HTTP/1.1\r\nHost: x\r\n\r\n");
    const second = await c.response();
    assertEquals([second.text, second.headers.get("connection")], [
      "#2 /b from 10.0.0.2",
      "keep-alive",
    ]);
    c.close();
    running.close();
    await running.finished;
  });
});

Deno.test("Express and @hono/node-server apps on the stack, called with stack.fetch", async () => {
  await withPair(async (server, client) => {
    const app = express();
    app.use(express.json());
    app.get("/", (_req, res) => {
      res.send("hello from express");
    });
    app.post("/sum", (req, res) => {
      res.json({ sum: (req.body.values as number[]).reduce((a, b) => a + b, 0) });
    });
    const onExpress = serveNodeHttp(server.listen({ port: 80 }), createServer(app));
    const hono = new Hono<{ Bindings: HttpBindings }>();
    hono.get("/", (c) => c.text(`hello from hono on ${c.env.incoming.socket.remoteAddress}`));
    const onHono = serveNodeHttp(
      server.listen({ port: 81 }),
      createAdaptorServer({ fetch: hono.fetch }) as ReturnType<typeof createServer>,
    );
    assertEquals(await (await client.fetch("http://10.0.0.1/")).text(), "hello from express");
    const sum = await client.fetch("http://10.0.0.1/sum", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ values: [1, 2, 39] }),
    });
    assertEquals(await sum.json(), { sum: 42 });
    assertEquals(
      await (await client.fetch("http://10.0.0.1:81/")).text(),
      "hello from hono on 10.0.0.2",
    );
    onExpress.close();
    onHono.close();
  });
});

Deno.test("undici Client with a connect through the stack", async () => {
  await withPair(async (server, client) => {
    server.serve(
      { port: 80, onListen: () => {} },
      async (req) =>
        new Response(`${req.method} ${new URL(req.url).pathname} ${(await req.text()).length}`),
    );
    const undici = new Client("http://10.0.0.1", {
      connect: (opts, callback) => {
        client.connect({ hostname: opts.hostname, port: Number(opts.port) || 80 }).then(
          (conn) => callback(null, new StackSocket(conn) as never),
          (e) => callback(e, null),
        );
      },
    });
    try {
      for (let i = 0; i < 3; i++) {
        const r = await undici.request({
          path: `/r${i}`,
          method: "POST",
          body: "x".repeat(i * 1000),
        });
        assertEquals([r.statusCode, await r.body.text()], [200, `POST /r${i} ${i * 1000}`]);
      }
    } finally {
      await undici.close();
    }
  });
});
