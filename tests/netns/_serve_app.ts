/**
 * The handlers the HTTP namespace tests serve, the same on `stack.serve` and on `Deno.serve`:
 *
 * - "plain": `GET /` a short text, `GET /bytes/N` N bytes of the built-in service's pattern
 *   (streamed), `POST /echo` the request body streamed back, `POST /sha256` the hex SHA-256 of
 *   the body;
 * - "hono": a Hono app (`GET /` text, `GET /json/:id` JSON, `POST /echo` JSON echo);
 * - "express": an Express app (`GET /` text, `POST /sum` JSON), a `node:http` server.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { Hono } from "hono";
// @ts-types="@types/express"
import express from "express";
import { bytesBlock } from "../../stack/services/http.ts";

const BLOCK = bytesBlock();

/** `n` bytes of the pattern, pulled block by block. */
function bytesBody(n: number): ReadableStream<Uint8Array> {
  let left = n;
  return new ReadableStream({
    pull(c) {
      if (left === 0) return c.close();
      const piece = left >= BLOCK.length ? BLOCK : BLOCK.subarray(0, left);
      left -= piece.length;
      c.enqueue(piece);
    },
  }, { highWaterMark: 0 });
}

/** The plain handler. */
export async function plain(req: Request): Promise<Response> {
  const path = new URL(req.url).pathname;
  if (path === "/") return new Response("hello from serve\n");
  const m = /^\/bytes\/(\d+)$/.exec(path);
  if (m !== null) {
    return new Response(bytesBody(Number(m[1])), { headers: { "content-length": m[1] } });
  }
  if (path === "/echo" && req.method === "POST") return new Response(req.body);
  if (path === "/sha256" && req.method === "POST") {
    const h = createHash("sha256");
    if (req.body !== null) { for await (const piece of req.body) h.update(piece); }
    return new Response(h.digest("hex") + "\n");
  }
  return new Response("not found\n", { status: 404 });
}

/** The Hono app. */
export function honoApp(): Hono {
  const app = new Hono();
  app.get("/", (c) => c.text("hello from hono"));
  app.get("/json/:id", (c) => c.json({ id: c.req.param("id"), via: "hono" }));
  app.post("/echo", async (c) => c.json(await c.req.json()));
  return app;
}

/** The Express app. */
export function expressApp(): ReturnType<typeof express> {
  const app = express();
  app.use(express.json());
  app.get("/", (req, res) => {
    res.send(`hello from express to ${req.socket.remoteAddress}`);
  });
  app.post("/sum", (req, res) => {
    res.json({ sum: (req.body.values as number[]).reduce((a, b) => a + b, 0) });
  });
  return app;
}
