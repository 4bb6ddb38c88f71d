/**
 * `fetch` over any TCP connector (the userspace stack's `connect`): a web-standard `Request` in,
 * a `Response` out, spoken as HTTP/1.1 (RFC 9112) on a connection of its own (the request says
 * "Connection: close": there is no connection pool). The request body streams out as it is
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
import { HttpReader } from "./reader.ts";
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

/**
 * `fetch(input, init)` over connections from `connect`. Rejects with a TypeError for network
 * and protocol failures (as `fetch` does), with the signal's reason when aborted.
 */
export async function fetchOver(
  connect: Connector,
  input: string | URL | Request,
  init: RequestInit = {},
): Promise<Response> {
  let request = new Request(input, init);
  const signal = request.signal;
  const canReplay = replayable(init.body) && !(input instanceof Request && input.body !== null);
  for (let hops = 0;; hops++) {
    signal.throwIfAborted();
    const res = await exchange(connect, request, signal);
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
    let body: BodyInit | null = init.body ?? null;
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

/** One request and its response head on a fresh connection; the body streams afterwards. */
async function exchange(
  connect: Connector,
  request: Request,
  signal: AbortSignal,
): Promise<Response> {
  const url = new URL(request.url);
  if (url.protocol !== "http:") {
    throw new TypeError(
      `stack.fetch: ${url.protocol} URLs are not supported (plain http:// only: no TLS)`,
    );
  }
  const port = url.port === "" ? 80 : Number(url.port);
  let conn: Deno.Conn;
  try {
    conn = await connect(url.hostname, port, signal);
  } catch (e) {
    if (signal.aborted) throw signal.reason;
    throw new TypeError(`stack.fetch: cannot connect to ${url.host}: ${(e as Error).message}`, {
      cause: e,
    });
  }
  let done = false;
  const finish = () => {
    if (done) return;
    done = true;
    signal.removeEventListener("abort", finish);
    try {
      conn.close();
    } catch { /* closed */ }
  };
  signal.addEventListener("abort", finish);
  (conn as Partial<Deno.TcpConn>).setNoDelay?.(true);
  // The request goes out while the response is read (a server may answer before reading all).
  const sending = sendRequest(conn, request, url);
  sending.catch(() => {});
  const r = new HttpReader(conn);
  r.lenient = true; // RFC 9112 2.2: a recipient MAY take a bare LF as a line end
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
    finish();
    if (signal.aborted) throw signal.reason;
    const message = e instanceof Error ? e.message : String(e);
    throw new TypeError(`stack.fetch: ${url.host}: ${message}`, { cause: e });
  }
  const h = head;
  const framing = h.body;
  let body: ReadableStream<Uint8Array> | null = null;
  if (framing.kind === "none") {
    // Nothing more to read; the request body may still be going out (an early answer).
    sending.finally(finish);
  } else {
    const reader = framing.kind === "close" ? null : new BodyReader(r, framing);
    body = new ReadableStream<Uint8Array>({
      pull: async (c) => {
        try {
          const piece = reader === null ? await r.chunk(64 * 1024) : await reader.next();
          if (piece === null) {
            c.close();
            finish();
          } else {
            c.enqueue(piece.slice());
          }
        } catch (e) {
          finish();
          c.error(
            signal.aborted ? signal.reason : new TypeError(
              `stack.fetch: the body from ${url.host} failed: ${(e as Error).message}`,
              { cause: e },
            ),
          );
        }
      },
      cancel: finish,
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

/** Writes the request head and streams its body (Content-Length when known, else chunked). */
async function sendRequest(conn: Deno.Conn, request: Request, url: URL): Promise<void> {
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
  head += "Connection: close\r\n";
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
