/**
 * Type-level checks: the stack's sockets are assignable wherever Deno's own types are expected,
 * and its option objects take Deno's. `deno check` (and `deno test`, which type-checks) fails
 * here on a regression; the run-time test only proves the file is loaded.
 *
 * @module
 */

import { assert } from "./assert.ts";
import { type Stack } from "../mod.ts";

/** Compiles only while the stack's objects fit Deno's types. */
function assignments(stack: Stack): void {
  const listener: Deno.TcpListener = stack.listen({ port: 0 });
  const plain: Deno.Listener = stack.listen({ port: 0, hostname: "0.0.0.0", tcpBacklog: 16 });
  const iterated: AsyncIterableIterator<Deno.TcpConn> = listener[Symbol.asyncIterator]();
  const connecting: Promise<Deno.TcpConn> = stack.connect({ port: 80 });
  const generic: Promise<Deno.Conn> = stack.connect({
    hostname: "10.0.0.1",
    port: 80,
    transport: "tcp",
    signal: AbortSignal.timeout(1000),
  });
  const datagram: Deno.DatagramConn = stack.listenDatagram({ port: 0, transport: "udp" });
  // Deno's own option objects are accepted as they are.
  const listenOptions: Deno.TcpListenOptions = { port: 0, hostname: "0.0.0.0", tcpBacklog: 8 };
  const connectOptions: Deno.ConnectOptions = { port: 80, hostname: "10.0.0.1" };
  stack.listen(listenOptions);
  void stack.connect(connectOptions);
  void [listener, plain, iterated, connecting, generic, datagram];
}

/** `stack.serve` is `Deno.serve`-shaped: Deno's handlers, options and server type fit. */
function serving(stack: Stack, handler: Deno.ServeHandler<Deno.NetAddr>): void {
  const a: Deno.HttpServer<Deno.NetAddr> = stack.serve(handler);
  const options: Deno.ServeTcpOptions = { port: 0, hostname: "0.0.0.0", onListen: () => {} };
  const b: Deno.HttpServer<Deno.NetAddr> = stack.serve(options, handler);
  const c: Deno.HttpServer = stack.serve({ port: 0, handler, signal: AbortSignal.abort() });
  void [a, b, c];
}

/** `stack.fetch` fits where the global `fetch` does. */
function fetching(stack: Stack): typeof fetch {
  return (input, init) => stack.fetch(input, init);
}

/** The streams of a connection have Deno's exact element types. */
async function streams(conn: Deno.TcpConn): Promise<void> {
  const readable: ReadableStream<Uint8Array<ArrayBuffer>> = conn.readable;
  const writable: WritableStream<Uint8Array<ArrayBufferLike>> = conn.writable;
  await readable.pipeTo(writable);
}

Deno.test("deno types: the assignment functions exist (the checks are at compile time)", () => {
  assert([assignments, streams, serving, fetching].every((f) => typeof f === "function"));
});
