/**
 * A raw HTTP/1.1 client for the server tests: requests are known bytes written to a stack
 * connection, and responses are parsed here independently of the server's code (status line,
 * fields, Content-Length / chunked / close-delimited body).
 *
 * @module
 */

import { startPair } from "../tcp/_pair.ts";
import type { Stack } from "../../../stack/net/stack.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

/** A parsed response. */
export interface RawResponse {
  status: number;
  reason: string;
  /** Lower-cased names; repeated fields joined with ", ". */
  headers: Map<string, string>;
  body: Uint8Array;
  /** The body as text. */
  text: string;
}

/** A connection with a receive buffer, from which responses are parsed. */
export class RawConn {
  buf = new Uint8Array(0);
  eof = false;
  constructor(readonly conn: Deno.Conn) {}

  static async open(stack: Stack, port: number): Promise<RawConn> {
    return new RawConn(await stack.connect({ hostname: "10.0.0.1", port }));
  }

  async send(text: string | Uint8Array): Promise<void> {
    const b = typeof text === "string" ? enc.encode(text) : text;
    let off = 0;
    while (off < b.length) off += await this.conn.write(b.subarray(off));
  }

  /** Reads more; false at EOF. */
  async more(): Promise<boolean> {
    if (this.eof) return false;
    const chunk = new Uint8Array(65536);
    let n: number | null;
    try {
      n = await this.conn.read(chunk);
    } catch {
      n = null;
    }
    if (n === null) {
      this.eof = true;
      return false;
    }
    const next = new Uint8Array(this.buf.length + n);
    next.set(this.buf);
    next.set(chunk.subarray(0, n), this.buf.length);
    this.buf = next;
    return true;
  }

  #indexOf(seq: number[], from = 0): number {
    outer: for (let i = from; i + seq.length <= this.buf.length; i++) {
      for (let j = 0; j < seq.length; j++) if (this.buf[i + j] !== seq[j]) continue outer;
      return i;
    }
    return -1;
  }

  /** Takes `n` bytes (reading as needed). */
  async #take(n: number): Promise<Uint8Array> {
    while (this.buf.length < n) if (!(await this.more())) throw new Error("EOF in body");
    const out = this.buf.slice(0, n);
    this.buf = this.buf.slice(n);
    return out;
  }

  async #line(): Promise<string> {
    let i: number;
    while ((i = this.#indexOf([13, 10])) < 0) {
      if (!(await this.more())) throw new Error("EOF in line");
    }
    const line = dec.decode(this.buf.subarray(0, i));
    this.buf = this.buf.slice(i + 2);
    return line;
  }

  /** Reads one response (after any 1xx ones, which are returned only if `interim`). */
  async response(opts: { head?: boolean; interim?: boolean } = {}): Promise<RawResponse> {
    const status = await this.#line();
    const m = /^HTTP\/1\.[01] (\d{3}) ?(.*)$/.exec(status);
    if (m === null) throw new Error(`bad status line ${JSON.stringify(status)}`);
    const headers = new Map<string, string>();
    for (let l = await this.#line(); l !== ""; l = await this.#line()) {
      const c = l.indexOf(":");
      const k = l.slice(0, c).toLowerCase();
      const v = l.slice(c + 1).trim();
      headers.set(k, headers.has(k) ? `${headers.get(k)}, ${v}` : v);
    }
    const code = Number(m[1]);
    if (code < 200 && !opts.interim) return this.response(opts);
    let body: Uint8Array = new Uint8Array(0);
    if (opts.head || code < 200 || code === 204 || code === 304) {
      // no body
    } else if (headers.get("transfer-encoding") === "chunked") {
      const parts: Uint8Array[] = [];
      while (true) {
        const size = parseInt(await this.#line(), 16);
        if (size === 0) {
          while ((await this.#line()) !== "");
          break;
        }
        parts.push(await this.#take(size));
        if ((await this.#line()) !== "") throw new Error("chunk without CRLF");
      }
      body = concat(parts);
    } else if (headers.has("content-length")) {
      body = await this.#take(Number(headers.get("content-length")));
    } else {
      while (await this.more());
      body = this.buf;
      this.buf = new Uint8Array(0);
    }
    return { status: code, reason: m[2], headers, body, text: dec.decode(body) };
  }

  /** True when the server closed (EOF) with nothing more sent. */
  async closed(): Promise<boolean> {
    while (await this.more());
    return this.buf.length === 0;
  }

  close(): void {
    try {
      this.conn.close();
    } catch { /* closed */ }
  }
}

/** Concatenates byte arrays. */
export function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** Two stacks (server 10.0.0.1, client 10.0.0.2) for a test; closed after `fn`. */
export async function withPair(fn: (server: Stack, client: Stack) => Promise<void>): Promise<void> {
  const p = startPair();
  try {
    await fn(p.a, p.b);
  } finally {
    await p.close();
  }
}
