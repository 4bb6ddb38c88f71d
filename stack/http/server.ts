/**
 * An HTTP/1.1 server shaped like `Deno.serve`, over any `Deno.Listener` (the userspace stack's,
 * or Deno's own): a handler takes a web-standard `Request` and returns a `Response`.
 * Connections persist (RFC 9112 9.3) and may pipeline; request bodies stream in as the handler
 * reads them (Content-Length or chunked, with "100 Continue" sent when the handler first reads a
 * body the client holds back, RFC 9110 10.1.1); response bodies stream out at the pace of the
 * connection (response.ts). Malformed requests get a 4xx and a closed connection
 * (head.ts, body.ts); a head that does not arrive in time gets 408; a handler that throws
 * goes to `onError` (default: 500). `shutdown()` or the `signal` stops accepting, lets requests
 * in progress finish and resolves `finished` when every connection has ended.
 *
 * @module
 */

import { type ConnSettings, serveHttpConn } from "./connection.ts";

/** Options of {@link serveListener} (and, with the listening ones, of `stack.serve`). */
export interface ServeInit<A extends Deno.Addr = Deno.NetAddr> {
  /** Stops the server as {@link HttpServer.shutdown} does, when aborted. */
  signal?: AbortSignal;
  /** Answers a request whose handler threw (default: log it, answer 500). */
  onError?: (error: unknown) => Response | Promise<Response>;
  /** Called once listening (default: logs "Listening on http://host:port/", as Deno.serve). */
  onListen?: (localAddr: A) => void;
  /** A persistent connection idle this long between requests is closed (default 30 s). */
  idleTimeoutMs?: number;
  /** A request head must arrive within this time of its first byte, else 408 (default 10 s). */
  headersTimeoutMs?: number;
  /** Largest request head in bytes, else 431 (default 16 KiB). */
  maxHeadBytes?: number;
}

/** Options of `stack.serve`, as `Deno.ServeTcpOptions`: where to listen, and {@link ServeInit}. */
export interface ServeOptions extends ServeInit<Deno.NetAddr> {
  /** Port to listen on (default 8000, as Deno.serve; 0 picks an ephemeral port). */
  port?: number;
  /** Address to listen on (default "0.0.0.0": every address of the host). */
  hostname?: string;
  /** Accept-queue length. */
  tcpBacklog?: number;
  /** Always "tcp" if given. */
  transport?: "tcp";
}

/** {@link ServeOptions} with the handler in them (`stack.serve({ port, handler })`). */
export interface ServeOptionsWithHandler extends ServeOptions {
  /** The request handler. */
  handler: ServeHandler<Deno.NetAddr>;
}

/** Deno.serve's default port. */
export const DEFAULT_SERVE_PORT = 8000;

/** What a handler learns besides the request, as `Deno.ServeHandlerInfo`. */
export interface ServeHandlerInfo<A extends Deno.Addr = Deno.NetAddr> {
  /** The client's address. */
  remoteAddr: A;
  /** Settles when the response has been written (rejects if it could not be). */
  completed: Promise<void>;
}

/** A request handler, as `Deno.ServeHandler`. */
export type ServeHandler<A extends Deno.Addr = Deno.NetAddr> = (
  request: Request,
  info: ServeHandlerInfo<A>,
) => Response | Promise<Response>;

/** Default idle time of a persistent connection. */
export const DEFAULT_IDLE_TIMEOUT_MS = 30_000;
/** Default time for a request head to arrive. */
export const DEFAULT_HEADERS_TIMEOUT_MS = 10_000;
/** Default largest request head. */
export const DEFAULT_MAX_HEAD_BYTES = 16 * 1024;

/** Set by {@link HttpServer}'s static block: the only way to make one. */
let newServer: <A extends Deno.Addr>(
  addr: A,
  finished: Promise<void>,
  stop: () => Promise<void>,
  ref: (on: boolean) => void,
) => HttpServer<A>;

/** A running server, as `Deno.HttpServer`. */
export class HttpServer<A extends Deno.Addr = Deno.NetAddr> implements Deno.HttpServer<A> {
  /** The address listened on. */
  readonly addr: A;
  /** Resolves when the server has shut down and every connection has ended. */
  readonly finished: Promise<void>;
  readonly #stop: () => Promise<void>;
  readonly #ref: (on: boolean) => void;

  /** Made by {@link serveListener} and `stack.serve`. */
  private constructor(
    addr: A,
    finished: Promise<void>,
    stop: () => Promise<void>,
    ref: (on: boolean) => void,
  ) {
    this.addr = addr;
    this.finished = finished;
    this.#stop = stop;
    this.#ref = ref;
  }

  static {
    newServer = (addr, finished, stop, ref) => new HttpServer(addr, finished, stop, ref);
  }

  /**
   * Stops accepting, closes idle connections, lets requests in progress finish (their
   * connections then close) and resolves when all is done.
   */
  shutdown(): Promise<void> {
    return this.#stop();
  }

  /** The server keeps the program alive (the default). */
  ref(): void {
    this.#ref(true);
  }

  /** The server no longer keeps the program alive. */
  unref(): void {
    this.#ref(false);
  }

  /** Shuts down (for `await using`). */
  [Symbol.asyncDispose](): Promise<void> {
    return this.#stop();
  }
}

/** The default `onError`: log, answer 500. */
function defaultOnError(error: unknown): Response {
  console.error("serve: the handler failed:", error);
  return new Response("Internal Server Error", { status: 500 });
}

/**
 * Serves HTTP/1.1 on every connection `listener` accepts, as `Deno.serve` does on its own
 * listener: each request goes to `handler`.
 *
 * @example A handler on a listener of the userspace stack (or of `Deno.listen`)
 * ```ts ignore
 * const server = serveListener(stack.listen({ port: 80 }), (req) => new Response("hi\n"));
 * await server.finished;
 * ```
 */
export function serveListener<A extends Deno.NetAddr>(
  listener: Deno.Listener<Deno.Conn, A>,
  handler: ServeHandler<A>,
  options: ServeInit<A> = {},
): HttpServer<A> {
  const conns = new Map<Deno.Conn, { idle: boolean }>();
  const tasks = new Set<Promise<void>>();
  let stopping = false;
  let refed = true;
  let resolveFinished!: () => void;
  const finished = new Promise<void>((resolve) => resolveFinished = resolve);

  const closeQuietly = (c: Deno.Conn) => {
    try {
      c.close();
    } catch { /* already closed */ }
  };

  const settings = (conn: Deno.Conn, state: { idle: boolean }): ConnSettings => ({
    idleTimeoutMs: options.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS,
    headersTimeoutMs: options.headersTimeoutMs ?? DEFAULT_HEADERS_TIMEOUT_MS,
    maxHeadBytes: options.maxHeadBytes ?? DEFAULT_MAX_HEAD_BYTES,
    onError: options.onError ?? defaultOnError,
    stopping: () => stopping,
    idle: (waiting) => {
      state.idle = waiting;
      // A shutdown that began while this connection was busy closes it once it is idle.
      if (waiting && stopping) closeQuietly(conn);
    },
  });

  const stop = async () => {
    if (!stopping) {
      stopping = true;
      try {
        listener.close();
      } catch { /* already closed */ }
      for (const [c, s] of conns) if (s.idle) closeQuietly(c);
    }
    await Promise.all([...tasks]);
    resolveFinished();
  };

  const acceptLoop = async () => {
    try {
      for await (const conn of listener) {
        if (stopping) {
          closeQuietly(conn);
          continue;
        }
        const state = { idle: false };
        conns.set(conn, state);
        if (!refed) conn.unref();
        const remoteAddr = conn.remoteAddr as A;
        const task = serveHttpConn(
          conn,
          (req, completed) => handler(req, { remoteAddr, completed }),
          settings(conn, state),
        )
          .catch((e) => console.error("serve: connection failed:", e))
          .finally(() => {
            conns.delete(conn);
            tasks.delete(task);
            closeQuietly(conn);
          });
        tasks.add(task);
      }
    } catch (e) {
      if (!stopping) console.error("serve: accepting failed:", e);
    }
    await stop();
  };

  options.signal?.addEventListener("abort", () => void stop(), { once: true });
  if (options.signal?.aborted) void stop();
  const addr = listener.addr;
  (options.onListen ?? ((a: A) => console.log(`Listening on http://${a.hostname}:${a.port}/`)))(
    addr,
  );
  void acceptLoop();
  return newServer(addr, finished, stop, (on) => {
    refed = on;
    if (on) listener.ref();
    else listener.unref();
    for (const c of conns.keys()) on ? c.ref() : c.unref();
  });
}
