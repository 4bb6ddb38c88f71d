/**
 * Writing an HTTP/1.1 response from a web-standard `Response` (RFC 9112 4 and 6): the status
 * line, the fields, and a body framed by Content-Length when it is known (given by the
 * handler, or a body that turns out to be one piece), chunked transfer coding when it is not
 * (RFC 9112 7.1), or the end of the connection for an HTTP/1.0 client. The body is pulled from
 * the `Response` only as fast as the connection takes it (each write waits for the TCP send
 * buffer), so a streamed body never piles up in memory.
 *
 * @module
 */

import { STATUS_TEXT } from "./errors.ts";
import { hasToken, type RequestHead } from "./head.ts";

/** What the writer needs of a connection (`Deno.Conn` has it). */
export interface ByteSink {
  /** Writes from `p`; the count written (at least one byte). */
  write(p: Uint8Array): Promise<number>;
}

/** Fields the server sets itself: the handler's are dropped (hop-by-hop, RFC 9110 7.6.1). */
const HOP_BY_HOP = new Set([
  "connection",
  "keep-alive",
  "transfer-encoding",
  "proxy-connection",
  "upgrade",
  "te",
  "trailer",
  "content-length",
]);
/** Bodies up to this size are copied into one write with their chunk framing. */
const COALESCE_BYTES = 16 * 1024;
const encoder = new TextEncoder();
const CRLF = encoder.encode("\r\n");
const LAST_CHUNK = encoder.encode("0\r\n\r\n");

/** Canonical spellings of field names seen so far ("content-type" -> "Content-Type"). */
const canonical = new Map<string, string>();

/**
 * A field name as HTTP/1.1 peers commonly write it (each word capitalized). Names are
 * case-insensitive (RFC 9110 5.1) and the Headers API lower-cases them; some clients and scripts
 * still look for "Content-Length" literally.
 */
export function fieldName(name: string): string {
  let c = canonical.get(name);
  if (c === undefined) {
    c = name.replace(/(^|-)([a-z])/g, (_, dash: string, ch: string) => dash + ch.toUpperCase());
    if (canonical.size < 1000) canonical.set(name, c);
  }
  return c;
}

/** Writes all of `p`. */
export async function writeAll(conn: ByteSink, p: Uint8Array): Promise<void> {
  let off = 0;
  while (off < p.length) off += await conn.write(off === 0 ? p : p.subarray(off));
}

/** `a` then `b` in one array (one write: a second small write would wait on Nagle's rule). */
function join(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

/** An HTTP-date (RFC 9110 5.6.7), cached for the second it names. */
let dateSecond = -1;
let dateText = "";
export function httpDate(): string {
  const s = Math.floor(Date.now() / 1000);
  if (s !== dateSecond) {
    dateSecond = s;
    dateText = new Date(s * 1000).toUTCString();
  }
  return dateText;
}

/** `data` framed as one chunk of chunked transfer coding. */
function chunk(data: Uint8Array): Uint8Array {
  const size = encoder.encode(data.length.toString(16) + "\r\n");
  const out = new Uint8Array(size.length + data.length + 2);
  out.set(size);
  out.set(data, size.length);
  out.set(CRLF, size.length + data.length);
  return out;
}

/** A body piece as bytes (a Response body yields Uint8Array; anything else is the handler's bug). */
function bytes(v: unknown): Uint8Array {
  if (v instanceof Uint8Array) return v;
  throw new TypeError("a response body chunk is not a Uint8Array");
}

/** How a response ended: whether the connection may carry another request. */
export interface Written {
  /** False when the connection must close (asked for, or the body was close-delimited). */
  keepAlive: boolean;
  /** Body bytes written. */
  bodyBytes: number;
}

/**
 * Writes `res` as the answer to `req`. Rejects when the connection fails, or when the body does
 * not match a Content-Length the handler gave (the connection must then close: the client
 * cannot tell where the message ends), or with `signal`'s reason when it aborts (the client went
 * away): the body is then cancelled, its stream's cancel runs.
 */
export async function writeResponse(
  conn: ByteSink,
  res: Response,
  req: RequestHead,
  forceClose: boolean,
  signal?: AbortSignal,
): Promise<Written> {
  if (signal?.aborted) {
    await res.body?.cancel(signal.reason).catch(() => {});
    throw signal.reason;
  }
  const status = res.status;
  const noBody = req.method === "HEAD" || status < 200 || status === 204 || status === 304;
  let close = forceClose || !req.keepAlive;
  let length: number | null = null;
  let hasDate = false;
  let lines = `HTTP/1.1 ${status} ${res.statusText || STATUS_TEXT[status] || "Unknown"}\r\n`;
  for (const [name, value] of res.headers) {
    if (name === "set-cookie") continue; // joined by the iterator; written one per line below
    if (name === "connection" && hasToken(value, "close")) close = true;
    if (name === "content-length") {
      if (!/^[0-9]{1,15}$/.test(value)) throw new TypeError(`bad Content-Length ${value}`);
      length = Number(value);
    }
    if (HOP_BY_HOP.has(name)) continue;
    if (name === "date") hasDate = true;
    lines += `${fieldName(name)}: ${value}\r\n`;
  }
  for (const c of res.headers.getSetCookie()) lines += `Set-Cookie: ${c}\r\n`;
  if (!hasDate) lines += `Date: ${httpDate()}\r\n`;
  const connection = () =>
    close ? "Connection: close\r\n" : req.minor === 0 ? "Connection: keep-alive\r\n" : "";

  if (noBody || res.body === null) {
    // RFC 9110 8.6: a HEAD (or 304) answer may state the length a GET would have had; 204 and
    // 1xx must not; an empty body is Content-Length 0.
    const cl = noBody
      ? (length !== null && status !== 204 && status >= 200 ? `Content-Length: ${length}\r\n` : "")
      : "Content-Length: 0\r\n";
    await res.body?.cancel().catch(() => {});
    await writeAll(conn, encoder.encode(lines + cl + connection() + "\r\n"));
    return { keepAlive: !close, bodyBytes: 0 };
  }

  const reader = res.body.getReader();
  // An abort cancels the body at once, even while its stream is waiting for data to produce;
  // the read in progress then ends, and `read` turns that into the abort's reason.
  const onAbort = () => void reader.cancel(signal!.reason).catch(() => {});
  signal?.addEventListener("abort", onAbort, { once: true });
  const read = async () => {
    const r = await reader.read();
    if (signal?.aborted) throw signal.reason;
    return r;
  };
  try {
    if (length !== null) {
      const head = encoder.encode(lines + `Content-Length: ${length}\r\n` + connection() + "\r\n");
      let sent = 0;
      let pending: Uint8Array | null = head;
      while (true) {
        const { done, value } = await read();
        if (done) break;
        const piece = bytes(value);
        if (sent + piece.length > length) throw new RangeError("body longer than Content-Length");
        sent += piece.length;
        if (pending !== null) {
          await writeAll(conn, join(pending, piece));
          pending = null;
        } else {
          await writeAll(conn, piece);
        }
      }
      if (pending !== null) await writeAll(conn, pending);
      if (sent !== length) throw new RangeError("body shorter than Content-Length");
      return { keepAlive: !close, bodyBytes: sent };
    }

    const first = await read();
    if (first.done) {
      await writeAll(conn, encoder.encode(lines + "Content-Length: 0\r\n" + connection() + "\r\n"));
      return { keepAlive: !close, bodyBytes: 0 };
    }
    const firstBytes = bytes(first.value);
    // A body that is already complete after one piece (a string, an array) gets a Content-Length;
    // a stream still producing is not waited for: its pieces go out as they come.
    // The bare read: the race must see a body that is already complete within this turn.
    const next = reader.read();
    const NOT_YET = Symbol();
    const peek = await Promise.race([next, Promise.resolve(NOT_YET)]);
    if (signal?.aborted) throw signal.reason;
    if (peek !== NOT_YET && peek.done) {
      const head = encoder.encode(
        lines + `Content-Length: ${firstBytes.length}\r\n` + connection() + "\r\n",
      );
      await writeAll(conn, join(head, firstBytes));
      return { keepAlive: !close, bodyBytes: firstBytes.length };
    }
    // An HTTP/1.0 client knows no chunked coding: the end of the connection ends the body.
    const chunked = req.minor >= 1;
    if (!chunked) close = true;
    const head = encoder.encode(
      lines + (chunked ? "Transfer-Encoding: chunked\r\n" : "") + connection() + "\r\n",
    );
    const frame = async (piece: Uint8Array, prefix: Uint8Array | null) => {
      if (!chunked) {
        await writeAll(conn, prefix === null ? piece : join(prefix, piece));
      } else if (piece.length <= COALESCE_BYTES) {
        const c = chunk(piece);
        await writeAll(conn, prefix === null ? c : join(prefix, c));
      } else {
        const size = encoder.encode(piece.length.toString(16) + "\r\n");
        await writeAll(conn, prefix === null ? size : join(prefix, size));
        await writeAll(conn, piece);
        await writeAll(conn, CRLF);
      }
    };
    let total = firstBytes.length;
    if (firstBytes.length > 0) await frame(firstBytes, head);
    else await writeAll(conn, head);
    let r = await next;
    if (signal?.aborted) throw signal.reason;
    while (!r.done) {
      const piece = bytes(r.value);
      // An empty chunk would be the last-chunk marker: skip it.
      if (piece.length > 0) {
        total += piece.length;
        await frame(piece, null);
      }
      r = await read();
    }
    if (chunked) await writeAll(conn, LAST_CHUNK);
    return { keepAlive: !close, bodyBytes: total };
  } catch (e) {
    await reader.cancel(e).catch(() => {});
    throw e;
  } finally {
    signal?.removeEventListener("abort", onAbort);
    reader.releaseLock();
  }
}
