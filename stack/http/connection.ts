/**
 * One HTTP/1.1 connection of the server (server.ts): requests read one after the other
 * (pipelined ones wait in the read buffer), each handed to the handler as a web-standard
 * `Request` whose body streams from the connection as it is read, each answered before the next
 * is read (RFC 9112 9.3). A client idle between requests is dropped after the idle timeout; one
 * whose head trickles in gets 408; a malformed request gets its 4xx (errors.ts); every refusal
 * and every "Connection: close" ends with a lingering close (RFC 9112 9.6): our FIN, then what
 * the client still sends is read and dropped for a while, so its unread bytes cannot turn our
 * close into a reset that destroys the answer (RFC 9293 3.6.1).
 *
 * While a handler runs (and its answer streams out) the connection is read on: a client that
 * goes away (its FIN, a reset, or a write to it failing) aborts the request's `signal`, cancels
 * a streamed answer (its `ReadableStream`'s cancel runs) and closes the connection, as Deno.serve
 * (hyper) does; an answer the handler gives afterwards is dropped. Bytes that arrive instead
 * (a pipelined request) wait in the read buffer for their turn. A completed request's signal is
 * never aborted (Deno's behaviour without the legacy abort). The built-in service answers a
 * half-closed client instead (`answerHalfClosed`: `printf ... | nc -N`).
 *
 * @module
 */

import { BodyReader } from "./body.ts";
import { ClientWatch } from "./client_watch.ts";
import { HttpError, STATUS_TEXT } from "./errors.ts";
import { readRequestHead, type RequestHead } from "./head.ts";
import { HttpReader } from "./reader.ts";
import { httpDate, writeAll, writeResponse } from "./response.ts";

/** What the server needs of a connection (a `Deno.Conn`, or the services' `ServiceConn`). */
export interface HttpConn {
  /** Reads into `p`; the count, or null at end of stream. */
  read(p: Uint8Array): Promise<number | null>;
  /** Writes from `p`; the count written. */
  write(p: Uint8Array): Promise<number>;
  /** Closes both directions. */
  close(): void;
  /** Sends our FIN; reading goes on. */
  closeWrite(): Promise<void>;
  /** Our end (for the URL of a request without Host). */
  readonly localAddr: Deno.Addr | { hostname?: string; port?: number };
  /** Nagle off, where the connection has it. */
  setNoDelay?(noDelay?: boolean): void;
}

/** A request handler, with what it learns besides the request. */
export type ConnHandler = (
  request: Request,
  completed: Promise<void>,
) => Response | Promise<Response>;

/** The server's settings for a connection. */
export interface ConnSettings {
  /** Idle time between requests before the connection is dropped. */
  idleTimeoutMs: number;
  /** Time for a request head to arrive once its first byte has. */
  headersTimeoutMs: number;
  /** Largest request head. */
  maxHeadBytes: number;
  /**
   * Accept a bare LF as a line end (RFC 9112 2.2 allows it; the built-in service does, for
   * `echo -e 'GET / HTTP/1.0\n' >&8` clients). Off by default: strict CRLF.
   */
  lenientLineEnds?: boolean;
  /** Answers a request whose handler threw. */
  onError: (error: unknown) => Response | Promise<Response>;
  /** True once the server is shutting down: the connection ends after the current exchange. */
  stopping(): boolean;
  /** Told when the connection waits idle for a request (true) and when that ends (false). */
  idle?(waiting: boolean): void;
  /**
   * Take the client's FIN after a request as a half-close and still answer (RFC 9293 3.6; `nc
   * -N`), not as the client going away. Off by default (Deno.serve's behaviour); a reset or a
   * failed write ends the exchange either way.
   */
  answerHalfClosed?: boolean;
}

/** Most header fields in a request. */
const MAX_FIELDS = 100;
/** Unread request body the server reads and drops to keep a connection; more closes it. */
const DRAIN_BYTES = 256 * 1024;
/** How long, and how much, a closing connection reads what the client still sends. */
const LINGER_MS = 2000;
const LINGER_BYTES = 1 << 20;

const encoder = new TextEncoder();
const CONTINUE = encoder.encode("HTTP/1.1 100 Continue\r\n\r\n");
const TIMEOUT = Symbol("timeout");
const GONE = Symbol("gone");

/** Resolves with `p`'s value, or with TIMEOUT after `ms` (`p` is then left to settle alone). */
function withTimeout<T>(p: Promise<T>, ms: number): Promise<T | typeof TIMEOUT> {
  p.catch(() => {});
  let timer: ReturnType<typeof setTimeout> | undefined;
  const t = new Promise<typeof TIMEOUT>((resolve) => {
    timer = setTimeout(() => resolve(TIMEOUT), ms);
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

function closeQuietly(c: { close(): void }): void {
  try {
    c.close();
  } catch { /* already closed */ }
}

/**
 * Lingering close (RFC 9112 9.6): our FIN, then read what the client still sends, for a while.
 * Through the connection's reader, which may have a read in flight already.
 */
async function linger(conn: HttpConn, r: HttpReader): Promise<void> {
  try {
    await conn.closeWrite();
  } catch {
    return;
  }
  const timer = setTimeout(() => closeQuietly(conn), LINGER_MS);
  try {
    for (let total = 0; total < LINGER_BYTES;) {
      total += r.buffered;
      r.start = r.end;
      if (!(await r.fill())) return;
    }
  } catch {
    /* reset, or closed by the timer */
  } finally {
    clearTimeout(timer);
  }
}

/** Answers a refused request with its status and a line saying why, then closes. */
async function refuse(conn: HttpConn, r: HttpReader, e: HttpError): Promise<void> {
  const reason = STATUS_TEXT[e.status] ?? "Error";
  const body = encoder.encode(`${e.status} ${reason}: ${e.message}\n`);
  const head = encoder.encode(
    `HTTP/1.1 ${e.status} ${reason}\r\nContent-Type: text/plain; charset=utf-8\r\n` +
      `Content-Length: ${body.length}\r\nConnection: close\r\nDate: ${httpDate()}\r\n\r\n`,
  );
  const out = new Uint8Array(head.length + body.length);
  out.set(head);
  out.set(body, head.length);
  try {
    await writeAll(conn, out);
  } catch {
    return;
  }
  await linger(conn, r);
}

/** Serves requests on `conn` until either side ends it; the caller closes it afterwards. */
export async function serveHttpConn(
  conn: HttpConn,
  handler: ConnHandler,
  settings: ConnSettings,
): Promise<void> {
  conn.setNoDelay?.(true);
  const limits = { maxHeadBytes: settings.maxHeadBytes, maxFields: MAX_FIELDS };
  const r = new HttpReader(conn, Math.max(64 * 1024, limits.maxHeadBytes + 1024));
  r.lenient = settings.lenientLineEnds === true;
  while (!settings.stopping()) {
    // Idle until the next request's first byte; then its head must come within the timeout.
    if (r.buffered === 0) {
      settings.idle?.(true);
      let more: boolean | typeof TIMEOUT;
      try {
        more = await withTimeout(r.fill(), settings.idleTimeoutMs);
      } catch {
        return; // reset, or closed by a shutdown
      } finally {
        settings.idle?.(false);
      }
      if (more !== true) return; // end of stream, or idle too long
    }
    let head: RequestHead | null | typeof TIMEOUT;
    try {
      head = await withTimeout(readRequestHead(r, limits), settings.headersTimeoutMs);
    } catch (e) {
      if (e instanceof HttpError) await refuse(conn, r, e);
      return;
    }
    if (head === TIMEOUT) {
      await refuse(conn, r, new HttpError(408, "the request head did not arrive in time"));
      return;
    }
    if (head === null) return;
    if (head.method === "CONNECT") {
      await refuse(conn, r, new HttpError(501, "CONNECT is not supported"));
      return;
    }
    if (!(await exchange(conn, r, head, handler, settings))) {
      await linger(conn, r);
      return;
    }
  }
}

/** One request and its response; true when the connection may carry another. */
async function exchange(
  conn: HttpConn,
  r: HttpReader,
  head: RequestHead,
  handler: ConnHandler,
  settings: ConnSettings,
): Promise<boolean> {
  let url: string;
  const headers = new Headers();
  try {
    const local = conn.localAddr as { hostname?: string; port?: number };
    const host = head.host !== "" ? head.host : `${local.hostname}:${local.port}`;
    url = /^https?:\/\//i.test(head.target)
      ? new URL(head.target).href
      : new URL(head.target === "*" ? "/" : head.target, `http://${host}`).href;
    for (const [name, value] of head.fields) headers.append(name, value);
  } catch {
    await refuse(conn, r, new HttpError(400, "malformed request target or Host"));
    return false;
  }
  const body = new BodyReader(r, head.body);
  const aborter = new AbortController();
  const watch = new ClientWatch(r, () => closeQuietly(conn), settings.answerHalfClosed === true);
  try {
    return await answer(conn, r, head, handler, settings, url, headers, body, aborter, watch);
  } finally {
    watch.end();
  }
}

/** The handler's answer to one parsed request, written; true when the connection may go on. */
async function answer(
  conn: HttpConn,
  r: HttpReader,
  head: RequestHead,
  handler: ConnHandler,
  settings: ConnSettings,
  url: string,
  headers: Headers,
  body: BodyReader,
  aborter: AbortController,
  watch: ClientWatch,
): Promise<boolean> {
  let continued = !head.expectContinue;
  let bodyError: unknown = null;
  let pulling: Promise<void> | null = null;
  const gone = new Promise<typeof GONE>((resolve) => {
    watch.signal.addEventListener("abort", () => {
      aborter.abort(watch.signal.reason);
      resolve(GONE);
    }, { once: true });
  });
  // GET and HEAD requests carry no body in the Request API: one sent anyway is read and dropped.
  const withBody = head.body.kind !== "none" && head.method !== "GET" && head.method !== "HEAD";
  const stream = withBody
    ? new ReadableStream<Uint8Array>({
      pull: (controller) => {
        pulling = (async () => {
          try {
            if (!continued) {
              // RFC 9110 10.1.1: the client holds the body back until told to send it.
              continued = true;
              await writeAll(conn, CONTINUE);
            }
            const piece = await body.next();
            if (piece === null) controller.close();
            else controller.enqueue(piece.slice());
            // All of it read: what comes next is the client's close, or a pipelined request.
            if (body.done) watch.start();
          } catch (e) {
            bodyError = e;
            controller.error(e);
            aborter.abort(e);
          }
        })();
        return pulling;
      },
    }, { highWaterMark: 0 })
    : null;
  const request = new Request(url, {
    method: head.method,
    headers,
    body: stream,
    signal: aborter.signal,
    // A streamed request body (the Fetch standard's `duplex` member).
    duplex: "half",
  } as RequestInit);

  let resolveCompleted!: () => void;
  let rejectCompleted!: (e: unknown) => void;
  const completed = new Promise<void>((res, rej) => {
    resolveCompleted = res;
    rejectCompleted = rej;
  });
  completed.catch(() => {});
  if (body.done) watch.start();
  let response: Response;
  try {
    const given = handler(request, completed);
    const first = await Promise.race([given, gone]);
    if (first === GONE) {
      // Abandoned: an answer that still comes is dropped (its body cancelled), as Deno does.
      Promise.resolve(given).then((res) => res.body?.cancel(watch.signal.reason)).catch(() => {});
      rejectCompleted(watch.signal.reason);
      return false;
    }
    response = first;
    if (!(response instanceof Response)) throw new TypeError("the handler returned no Response");
    // A network error (`Response.error()`, status 0) has nothing to send: it is a failure.
    if (response.type === "error") throw new TypeError("the handler returned Response.error()");
  } catch (e) {
    response = bodyError instanceof HttpError ? Response.error() : await answerError(settings, e);
  }
  // A malformed request body is the client's error, whatever the handler made of it.
  if (bodyError instanceof HttpError) {
    await response.body?.cancel().catch(() => {});
    await refuse(conn, r, bodyError);
    rejectCompleted(bodyError);
    return false;
  }
  // A client that sent "Expect: 100-continue" and got a final answer without it may never send
  // the body (RFC 9110 10.1.1): the connection cannot be reused then.
  const skipBody = !continued && !body.done;
  let written;
  try {
    written = await writeResponse(
      conn,
      response,
      head,
      settings.stopping() || skipBody,
      watch.signal,
    );
  } catch (e) {
    // A failed write means the client is gone too (or the body broke its own framing): the
    // signal aborts (through `gone`'s listener) and the connection closes.
    watch.leave();
    rejectCompleted(e);
    return false;
  }
  watch.end();
  resolveCompleted();
  if (!written.keepAlive) return false;
  // The rest of an unread request body is read and dropped (a bounded amount) to reach the next
  // request; a piece still being pulled is finished first.
  if (pulling !== null) await (pulling as Promise<void>).catch(() => {});
  if (bodyError !== null) return false;
  try {
    return await body.skip(DRAIN_BYTES);
  } catch {
    return false;
  }
}

/** `onError`'s answer; if it throws too, a plain 500. */
async function answerError(settings: ConnSettings, e: unknown): Promise<Response> {
  try {
    const r = await settings.onError(e);
    if (r instanceof Response) return r;
  } catch (e2) {
    console.error("serve: onError failed:", e2);
  }
  return new Response("Internal Server Error", { status: 500 });
}
