/**
 * A Hono app runs unchanged on the userspace stack: `stack.serve({ port: 80 }, app.fetch)`.
 * Routing, params, JSON in and out, headers, a streamed body, and Hono's own 404.
 */
import { assertEquals } from "../../assert.ts";
import { Hono } from "hono";
import { stream } from "hono/streaming";
import { RawConn, withPair } from "./_raw.ts";

Deno.test("serve: a Hono app, unchanged", async () => {
  const app = new Hono();
  app.get("/", (c) => c.text("hello from the userspace stack"));
  app.get("/users/:id", (c) => c.json({ id: c.req.param("id"), q: c.req.query("q") }));
  app.post("/echo", async (c) => {
    const body = await c.req.json();
    c.header("X-Seen", String(Object.keys(body).length));
    return c.json({ got: body }, 201);
  });
  app.get("/stream", (c) =>
    stream(c, async (s) => {
      for (let i = 0; i < 3; i++) await s.write(`part${i};`);
    }));
  await withPair(async (server, client) => {
    server.serve({ port: 80, onListen: () => {} }, app.fetch);
    const c = await RawConn.open(client, 80);
    await c.send("GET / HTTP/1.1\r\nHost: lb\r\n\r\n");
    const r = await c.response();
    assertEquals([r.status, r.text], [200, "hello from the userspace stack"]);
    assertEquals(r.headers.get("content-type"), "text/plain;charset=UTF-8");
    await c.send("GET /users/42?q=x HTTP/1.1\r\nHost: lb\r\n\r\n");
    assertEquals(JSON.parse((await c.response()).text), { id: "42", q: "x" });
    const json = JSON.stringify({ a: 1, b: [2, 3] });
    await c.send(
      `POST /echo HTTP/1.1\r\nHost: lb\r\nContent-Type: application/json\r\n` +
        `Content-Length: ${json.length}\r\n\r\n${json}`,
    );
    const posted = await c.response();
    assertEquals([posted.status, posted.headers.get("x-seen")], [201, "2"]);
    assertEquals(JSON.parse(posted.text), { got: { a: 1, b: [2, 3] } });
    await c.send("GET /stream HTTP/1.1\r\nHost: lb\r\n\r\n");
    const streamed = await c.response();
    assertEquals(streamed.text, "part0;part1;part2;");
    await c.send("GET /nothing HTTP/1.1\r\nHost: lb\r\n\r\n");
    assertEquals((await c.response()).status, 404);
    c.close();
  });
});
