/**
 * A `node:http` server (Express, `@hono/node-server`, any `(req, res)` app) on a listener of the
 * userspace stack: each accepted connection is handed to the server as a `node:net`-style
 * socket (net_socket.ts), as Node's own listener would (`server.emit("connection", socket)`).
 *
 * Deno's `node:http` destroys a kept-alive socket after its response when the server is not
 * `listening` (it never called `listen()` itself); the server is shown as listening while the
 * stack's listener is open, so persistent connections work.
 *
 * @module
 */

import type { Server } from "node:http";
import { StackSocket } from "./net_socket.ts";

/** A `node:http` server running on a stack listener. */
export interface NodeHttpOnStack {
  /** The address listened on. */
  readonly addr: Deno.NetAddr;
  /** Stops accepting and destroys every connection. */
  close(): void;
  /** Resolves when the listener has stopped. */
  readonly finished: Promise<void>;
}

/**
 * Serves `server` (e.g. `http.createServer(expressApp)`) on `listener` (e.g.
 * `stack.listen({ port: 80 })`).
 *
 * @example Express on the userspace stack
 * ```ts ignore
 * import express from "express";
 * import { createServer } from "node:http";
 * const app = express();
 * app.get("/", (_req, res) => res.send("hello"));
 * serveNodeHttp(stack.listen({ port: 80 }), createServer(app));
 * ```
 */
export function serveNodeHttp(
  listener: Deno.Listener<Deno.Conn, Deno.NetAddr>,
  server: Server,
): NodeHttpOnStack {
  let open = true;
  const sockets = new Set<StackSocket>();
  Object.defineProperty(server, "listening", { configurable: true, get: () => open });
  Object.defineProperty(server, "address", {
    configurable: true,
    value: () => ({ address: listener.addr.hostname, family: "IPv4", port: listener.addr.port }),
  });
  const close = () => {
    if (!open) return;
    open = false;
    try {
      listener.close();
    } catch { /* closed */ }
    for (const s of sockets) s.destroy();
  };
  const finished = (async () => {
    try {
      for await (const conn of listener) {
        const socket = new StackSocket(conn, { allowHalfOpen: false });
        sockets.add(socket);
        socket.once("close", () => sockets.delete(socket));
        server.emit("connection", socket);
      }
    } catch (e) {
      if (open) console.error("serveNodeHttp: accepting failed:", e);
    }
    open = false;
  })();
  return { addr: listener.addr, close, finished };
}
