/**
 * `fetch` over any TCP connector (the userspace stack's `connect`): a web-standard `Request` in,
 * a `Response` out, spoken as HTTP/1.1 (RFC 9112). Connections persist: one whose response was
 * read to its end goes back to the client's pool (pool.ts) for the next request to the same
 * origin; one whose body was not read to the end, that either side said "Connection: close" on,
 * or whose response ran to the close, is closed. A request that finds its pooled connection
 * closed by the server before any answer came is sent again once on a new connection when its
 * method is idempotent and its body can be sent again (RFC 9112 9.3.1, as undici and browsers
 * do). The request body streams out as it is
 * produced (Content-Length when it is complete in one piece or given, else chunked) while the
 * response is read, so a server that answers before it has read everything (an echo) cannot
 * deadlock the exchange; the response body streams in as the caller reads it (the TCP window
 * holds the server back meanwhile). Redirects are followed as the Fetch standard says (at most
 * 20; 303, and 301/302 after POST, become GET; Authorization is dropped across origins);
 * `signal` aborts the connect, the exchange or the body.
 *
 * Only `http:` URLs with an IPv4 literal (or "localhost") work: the stack has no resolver and
 * no TLS.
 *
 * @module
 */

import { BodyReader } from "./body.ts";
import { HttpError } from "./errors.ts";
import { hasToken } from "./head.ts";
import { ConnectionPool, type HttpConnection, newConnection, type PoolOptions } from "./pool.ts";
import { fieldName, writeAll } from "./response.ts";
import { readResponseHead, type ResponseHead } from "./response_head.ts";

/** Opens a TCP connection to `hostname:port` (cancelled by `signal`). */
export type Connector = (
  hostname: string,
  port: number,
  signal: AbortSignal,
) => Promise<Deno.Conn>;

/** Redirects followed before giving up (the Fetch standard's limit). */
const MAX_REDIRECTS = 20;
/** Request fields the client writes itself (framing and persistence, RFC 9112). */
const OWN_FIELDS = new Set([
  "host",
  "connection",
  "keep-alive",
  "content-length",
  "transfer-encoding",
  "te",
  "trailer",
  "upgrade",
]);
const REDIRECTS = new Set([301, 302, 303, 307, 308]);
/** RFC 9110 9.2.2: methods whose request may be sent again without a further effect. */
const IDEMPOTENT = new Set(["GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"]);
/** Failures of a reused connection that the server closed before answering: retryable. */
const stale = new WeakSet<Error>();
const encoder = new TextEncoder();

const heads = new WeakMap<Response, ResponseHead>();

/** The status line and fields a response came with, as received (for `lb.ts fetch`). */
export function responseHeadOf(res: Response): string | undefined {
  return heads.get(res)?.raw;
}

/** `a` then `b` in one array. */
function join(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

/** A body the client can send again after a 307/308 (a stream it cannot). */
function replayable(body: BodyInit | null | undefined): boolean {
  return body === undefined || body === null || typeof body === "string" ||
    body instanceof ArrayBuffer || ArrayBuffer.isView(body) || body instanceof Blob ||
    body instanceof URLSearchParams || body instanceof FormData;
}

/** `RequestInit` with the client to fetch with, as Deno's `fetch(input, { client })`. */
export interface StackRequestInit extends Omit<RequestInit, "client"> {
  /**
   * The client whose pool to use (`stack.createHttpClient`); default the stack's own. A
   * `Deno.HttpClient` (typed here so that `stack.fetch` fits where `fetch` does) dials through
   * the kernel and is refused with a TypeError.
   */
  client?: HttpClient | Deno.HttpClient;
}

/**
 * An HTTP client with its own connection pool, as `Deno.HttpClient` (made by
 * `stack.createHttpClient(options)`, or over any connector). `close()` closes its idle
 * connections; a client with `poolMaxIdlePerHost: 0` keeps none (every request its own
 * connection, "Connection: close").
 *
 * @example Requests that reuse one connection, then the pool closed
 * ```ts ignore
 * using client = stack.createHttpClient({ poolIdleTimeout: 10_000 });
 * for (const path of ["/a", "/b"]) {
 *   const res = await stack.fetch(`http://10.0.0.1${path}`, { client });
 *   await res.text(); // read to the end: the connection goes back to the pool
 * }
 * ```
 */
export class HttpClient {
  readonly #connect: Connector;
  readonly #pool: ConnectionPool;

  /** A client dialing with `connect`, pooling as `options` say (pool.ts has the defaults). */
  constructor(connect: Connector, options: PoolOptions = {}) {
    this.#connect = connect;
    this.#pool = new ConnectionPool(options);
  }

  /** `fetch(input, init)` with this client's pool. */
  fetch(input: string | URL | Request, init: RequestInit = {}): Promise<Response> {
    return fetchOver(this.#connect, input, init, this.#pool);
  }

  /** Idle connections waiting in the pool. */
  get idleConnections(): number {
    return this.#pool.size;
  }

  /** Closes the idle connections and keeps no more (requests still work, unpooled). */
  close(): void {
    this.#pool.close();
  }

  /** Closes (for `using`). */
  [Symbol.dispose](): void {
    this.close();
  }
}

/**
 * `fetch(input, init)` over connections from `connect`, kept in `pool` between requests (by
 * default none are kept). Rejects with a TypeError for network and protocol failures (as
 * `fetch` does), with the signal's reason when aborted.
 */
export async function fetchOver(
  connect: Connector,
  input: string | URL | Request,
  init: RequestInit = {},
  pool: ConnectionPool = new ConnectionPool({ poolMaxIdlePerHost: 0 }),
): Promise<Response> {
  let request = new Request(input, init);
  const signal = request.signal;
  const canReplay = replayable(init.body) && !(input instanceof Request && input.body !== null);
  // What the request carries, to send it again (a retry, a 307/308).
  let body: BodyInit | null = init.body ?? null;
  for (let hops = 0;; hops++) {
    signal.throwIfAborted();
    const hasBody = request.body !== null;
    let res: Response;
    try {
      res = await exchange(connect, pool, request, signal, false);
    } catch (e) {
      // RFC 9112 9.3.1: a request that met a kept connection closed by the server before any
      // answer may go again, once and on a new connection, when repeating it is harmless.
      // (Not a FormData body: its new encoding would not match the boundary in the headers.)
      const again = stale.has(e as Error) && IDEMPOTENT.has(request.method) &&
        (!hasBody || canReplay && !(body instanceof FormData));
      if (!again) throw e;
      request = new Request(request.url, {
        method: request.method,
        headers: request.headers,
        body,
        signal,
        redirect: request.redirect,
      });
      res = await exchange(connect, pool, request, signal, true);
    }
    const location = res.headers.get("location");
    if (!REDIRECTS.has(res.status) || location === null || request.redirect === "manual") {
      Object.defineProperty(res, "url", { value: request.url });
      Object.defineProperty(res, "redirected", { value: hops > 0 });
      return res;
    }
    await res.body?.cancel().catch(() => {});
    if (request.redirect === "error") {
      throw new TypeError(`stack.fetch: ${request.url} redirects (redirect: "error")`);
    }
    if (hops + 1 > MAX_REDIRECTS) throw new TypeError("stack.fetch: too many redirects");
    const next = new URL(location, request.url);
    let method = request.method;
    const headers = new Headers(request.headers);
    if (
      res.status === 303 && method !== "GET" && method !== "HEAD" ||
      (res.status === 301 || res.status === 302) && method === "POST"
    ) {
      method = "GET";
      body = null;
      for (const h of ["content-type", "content-length", "content-encoding", "content-language"]) {
        headers.delete(h);
      }
    } else if (request.body !== null && !canReplay) {
      throw new TypeError("stack.fetch: cannot send a streamed body again after a redirect");
    }
    if (next.origin !== new URL(request.url).origin) {
      headers.delete("authorization");
      headers.delete("proxy-authorization");
    }
    request = new Request(next, {
      method,
      headers,
      body,
      signal,
      redirect: request.redirect,
    });
  }
}

/** A server's `Keep-Alive: timeout=N` (seconds; not standard, RFC 2068 19.7.1.1) in ms. */
function keepAliveHint(fields: [string, string][]): number | null {
  for (const [name, value] of fields) {
    if (name.toLowerCase() !== "keep-alive") continue;
    const m = /(?:^|[,;\s])timeout\s*=\s*([0-9]{1,9})/i.exec(value);
    if (m !== null) return Number(m[1]) * 1000;
  }
  return null;
}

/**
 * One request and its response head, on a pooled connection to the origin or a new one
 * (`fresh`: always a new one); the body streams afterwards.
 */
async function exchange(
  connect: Connector,
  pool: ConnectionPool,
  request: Request,
  signal: AbortSignal,
  fresh: boolean,
): Promise<Response> {
  const url = new URL(request.url);
  if (url.protocol !== "http:") {
    throw new TypeError(
      `stack.fetch: ${url.protocol} URLs are not supported (plain http:// only: no TLS)`,
    );
  }
  const port = url.port === "" ? 80 : Number(url.port);
  const origin = `${url.hostname}:${port}`;
  // The caller's "Connection: close", or no pool: the connection ends with this response.
  const keep = pool.enabled && !hasToken(request.headers.get("connection") ?? "", "close");
  let c: HttpConnection | null = fresh || !keep ? null : pool.take(origin);
  const reused = c !== null;
  if (c === null) {
    try {
      c = newConnection(await connect(url.hostname, port, signal), origin);
    } catch (e) {
      if (signal.aborted) throw signal.reason;
      throw new TypeError(`stack.fetch: cannot connect to ${url.host}: ${(e as Error).message}`, {
        cause: e,
      });
    }
  }
  const held = c;
  const { conn, reader: r } = held;
  let done = false;
  const destroy = () => {
    if (done) return;
    done = true;
    signal.removeEventListener("abort", destroy);
    try {
      conn.close();
    } catch { /* closed */ }
  };
  signal.addEventListener("abort", destroy);
  (conn as Partial<Deno.TcpConn>).setNoDelay?.(true);
  // The request goes out while the response is read (a server may answer before reading all).
  const sending = sendRequest(conn, request, url, !keep);
  sending.catch(() => {});
  let head: ResponseHead | null;
  try {
    do {
      head = await readResponseHead(r, request.method);
    } while (head !== null && head.status < 200); // 1xx interim answers (RFC 9110 15.2)
    if (head === null) {
      await sending; // a failed send explains an empty answer best
      throw new HttpError(502, "the server closed the connection without a response");
    }
  } catch (e) {
    destroy();
    if (signal.aborted) throw signal.reason;
    const message = e instanceof Error ? e.message : String(e);
    const error = new TypeError(`stack.fetch: ${url.host}: ${message}`, { cause: e });
    // Not one byte of an answer on a kept connection: the server had closed it (fetchOver).
    if (reused && r.end === 0) stale.add(error);
    throw error;
  }
  const h = head;
  const framing = h.body;
  const reusable = keep && h.keepAlive && h.status !== 101;
  /** The response has ended: the connection goes back to the pool if it may, else closes. */
  const ended = () => {
    // Bytes after the response are none that we asked for: such a connection is not trusted.
    if (done || !reusable || r.buffered > 0) return destroy();
    // Only once the request went out whole (an early answer may come before its end).
    sending.then(() => {
      if (done) return;
      done = true;
      signal.removeEventListener("abort", destroy);
      pool.put(held, keepAliveHint(h.fields));
    }, destroy);
  };
  let body: ReadableStream<Uint8Array> | null = null;
  if (framing.kind === "none") {
    ended();
  } else {
    const reader = framing.kind === "close" ? null : new BodyReader(r, framing);
    body = new ReadableStream<Uint8Array>({
      pull: async (ctl) => {
        try {
          const piece = reader === null ? await r.chunk(64 * 1024) : await reader.next();
          if (piece === null) {
            ctl.close();
            ended();
          } else {
            ctl.enqueue(piece.slice());
          }
        } catch (e) {
          destroy();
          ctl.error(
            signal.aborted ? signal.reason : new TypeError(
              `stack.fetch: the body from ${url.host} failed: ${(e as Error).message}`,
              { cause: e },
            ),
          );
        }
      },
      // A body not read to its end: the connection cannot carry another request.
      cancel: destroy,
    }, { highWaterMark: 0 });
  }
  const headers = new Headers();
  for (const [name, value] of h.fields) headers.append(name, value);
  const noBodyStatus = h.status === 204 || h.status === 205 || h.status === 304;
  const res = new Response(noBodyStatus ? null : body, {
    status: h.status,
    statusText: h.reason,
    headers,
  });
  if (noBodyStatus) await body?.cancel();
  heads.set(res, h);
  return res;
}

/**
 * Writes the request head and streams its body (Content-Length when known, else chunked);
 * `close`: the request says "Connection: close".
 */
async function sendRequest(
  conn: Deno.Conn,
  request: Request,
  url: URL,
  close: boolean,
): Promise<void> {
  let head = `${request.method} ${url.pathname}${url.search} HTTP/1.1\r\nHost: ${url.host}\r\n`;
  let hasAgent = false;
  let hasAccept = false;
  for (const [name, value] of request.headers) {
    if (OWN_FIELDS.has(name)) continue;
    if (name === "user-agent") hasAgent = true;
    if (name === "accept") hasAccept = true;
    head += `${fieldName(name)}: ${value}\r\n`;
  }
  if (!hasAgent) head += "User-Agent: lb.ts\r\n";
  if (!hasAccept) head += "Accept: */*\r\n";
  // HTTP/1.1 connections persist unless a side says otherwise (RFC 9112 9.3).
  if (close) head += "Connection: close\r\n";
  const given = request.headers.get("content-length");
  const method = request.method;
  if (request.body === null) {
    // RFC 9110 8.6: a request that usually has content says it has none.
    const zero = method === "POST" || method === "PUT" || method === "PATCH";
    await writeAll(conn, encoder.encode(head + (zero ? "Content-Length: 0\r\n" : "") + "\r\n"));
    return;
  }
  const reader = request.body.getReader();
  try {
    if (given !== null && /^[0-9]{1,15}$/.test(given)) {
      let pending: Uint8Array | null = encoder.encode(head + `Content-Length: ${given}\r\n\r\n`);
      let sent = 0;
      for (let r = await reader.read(); !r.done; r = await reader.read()) {
        sent += r.value.length;
        await writeAll(conn, pending === null ? r.value : join(pending, r.value));
        pending = null;
      }
      if (pending !== null) await writeAll(conn, pending);
      if (sent !== Number(given)) throw new TypeError("the body does not match Content-Length");
      return;
    }
    const first = await reader.read();
    if (first.done) {
      await writeAll(conn, encoder.encode(head + "Content-Length: 0\r\n\r\n"));
      return;
    }
    const next = reader.read();
    const NOT_YET = Symbol();
    const peek = await Promise.race([next, Promise.resolve(NOT_YET)]);
    if (peek !== NOT_YET && peek.done) {
      const h = encoder.encode(head + `Content-Length: ${first.value.length}\r\n\r\n`);
      await writeAll(conn, join(h, first.value));
      return;
    }
    // RFC 9112 7.1: chunks as they come, then the last chunk.
    const frame = (p: Uint8Array) =>
      join(join(encoder.encode(p.length.toString(16) + "\r\n"), p), encoder.encode("\r\n"));
    await writeAll(
      conn,
      join(encoder.encode(head + "Transfer-Encoding: chunked\r\n\r\n"), frame(first.value)),
    );
    for (let r = await next; !r.done; r = await reader.read()) {
      if (r.value.length > 0) await writeAll(conn, frame(r.value));
    }
    await writeAll(conn, encoder.encode("0\r\n\r\n"));
  } finally {
    reader.releaseLock();
  }
}
