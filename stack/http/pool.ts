/**
 * The idle HTTP/1.1 connections of `stack.fetch`, kept per origin (host:port) for the next
 * request there, as undici and Deno's fetch keep theirs (RFC 9112 9.3: connections persist by
 * default). Bounded: at most `poolMaxIdlePerHost` idle connections an origin (default 16) and
 * {@link MAX_IDLE_TOTAL} in all (the oldest goes first), each for `poolIdleTimeout` (default 4 s,
 * undici's keepAliveTimeout: below the 5 s after which Node's and many other servers drop an
 * idle connection) or less when the server says so (`Keep-Alive: timeout=N`, less 1 s, as undici
 * takes it). An idle connection is read on: the server closing it (or sending anything
 * unasked) takes it out of the pool at once. The most recently used connection is reused first.
 *
 * @module
 */

import { HttpReader } from "./reader.ts";

/** Options of a client's pool, named as `Deno.CreateHttpClientOptions` names them. */
export interface PoolOptions {
  /** Idle connections kept per origin (host:port); 0 turns pooling off. Default 16. */
  poolMaxIdlePerHost?: number;
  /** How long an idle connection is kept, in milliseconds. Default 4000. */
  poolIdleTimeout?: number;
}

/** Default idle connections per origin. */
export const DEFAULT_POOL_MAX_IDLE_PER_HOST = 16;
/** Default idle time of a pooled connection (undici's keepAliveTimeout). */
export const DEFAULT_POOL_IDLE_TIMEOUT_MS = 4000;
/** Idle connections kept over all origins. */
export const MAX_IDLE_TOTAL = 256;
/** Taken off a server's `Keep-Alive: timeout` so that we never send into its close (undici). */
const KEEP_ALIVE_MARGIN_MS = 1000;

/** A client connection and its read buffer (the buffer outlives one exchange). */
export interface HttpConnection {
  readonly conn: Deno.Conn;
  readonly reader: HttpReader;
  /** "host:port" it was opened to. */
  readonly origin: string;
}

interface Idle {
  c: HttpConnection;
  timer: ReturnType<typeof setTimeout> | undefined;
  /** Order of entering the pool (the oldest is dropped first when the pool is full). */
  since: number;
}

function closeQuietly(c: HttpConnection): void {
  try {
    c.conn.close();
  } catch { /* already closed */ }
}

/** The idle connections of one client. */
export class ConnectionPool {
  readonly maxIdlePerHost: number;
  readonly idleTimeoutMs: number;
  /** Per origin, oldest first. */
  readonly #idle = new Map<string, Idle[]>();
  #count = 0;
  #puts = 0;
  #closed = false;

  /** A pool with `options`' bounds (RangeError for a bound that is not a whole number >= 0). */
  constructor(options: PoolOptions = {}) {
    const max = options.poolMaxIdlePerHost ?? DEFAULT_POOL_MAX_IDLE_PER_HOST;
    const timeout = options.poolIdleTimeout ?? DEFAULT_POOL_IDLE_TIMEOUT_MS;
    if (!Number.isInteger(max) || max < 0) {
      throw new RangeError(`poolMaxIdlePerHost ${max} is not a whole number >= 0`);
    }
    if (!Number.isFinite(timeout) || timeout < 0) {
      throw new RangeError(`poolIdleTimeout ${timeout} is not a number of milliseconds >= 0`);
    }
    this.maxIdlePerHost = max;
    this.idleTimeoutMs = timeout;
  }

  /** False when nothing would be kept (pooling off, or the pool closed). */
  get enabled(): boolean {
    return this.maxIdlePerHost > 0 && this.idleTimeoutMs > 0 && !this.#closed;
  }

  /** Idle connections in the pool. */
  get size(): number {
    return this.#count;
  }

  /** The most recently idle connection to `origin`, out of the pool; null if none. */
  take(origin: string): HttpConnection | null {
    const list = this.#idle.get(origin);
    if (list === undefined) return null;
    let e: Idle | undefined;
    while ((e = list.at(-1)) !== undefined) {
      // Its idle read has ended (the close, or bytes unasked such as a 408) and the pool has
      // not been told yet: not usable.
      if (!e.c.reader.filling) {
        this.#drop(e);
        continue;
      }
      list.pop();
      if (list.length === 0) this.#idle.delete(origin);
      this.#count--;
      clearTimeout(e.timer);
      return e.c;
    }
    return null;
  }

  /**
   * Keeps `c`, whose last response ended cleanly, for the next request to its origin, for
   * `hintMs` at most when the server gave one; closes it when it cannot be kept.
   */
  put(c: HttpConnection, hintMs: number | null = null): void {
    const r = c.reader;
    const ms = hintMs === null
      ? this.idleTimeoutMs
      : Math.min(this.idleTimeoutMs, hintMs - KEEP_ALIVE_MARGIN_MS);
    if (!this.enabled || ms <= 0 || r.eof || r.buffered > 0 || r.filling) {
      closeQuietly(c);
      return;
    }
    // Room first (a drop may empty and remove the origin's list), then the list to join.
    const full = this.#idle.get(c.origin);
    if (full !== undefined && full.length >= this.maxIdlePerHost) this.#drop(full[0]);
    else if (this.#count >= MAX_IDLE_TOTAL) this.#dropOldest();
    let list = this.#idle.get(c.origin);
    if (list === undefined) this.#idle.set(c.origin, list = []);
    const e: Idle = { c, timer: undefined, since: this.#puts++ };
    const id = setTimeout(() => this.#drop(e), ms);
    // An idle pool does not keep the program alive (the stack decides that).
    Deno.unrefTimer(id);
    e.timer = id;
    list.push(e);
    this.#count++;
    // Read on while idle: the server's close (EOF, reset) or unasked bytes end the connection.
    // A request that takes it joins this read (HttpReader.fill) for its response.
    r.fill().then(
      () => this.#drop(e),
      () => this.#drop(e),
    );
  }

  /** Closes every idle connection; from now on none is kept. */
  close(): void {
    this.#closed = true;
    for (const list of [...this.#idle.values()]) for (const e of [...list]) this.#drop(e);
  }

  /** Takes `e` out (if still idle) and closes its connection. */
  #drop(e: Idle): void {
    const list = this.#idle.get(e.c.origin);
    const i = list === undefined ? -1 : list.indexOf(e);
    if (i < 0) return; // taken by a request meanwhile: that request reads what came
    list!.splice(i, 1);
    if (list!.length === 0) this.#idle.delete(e.c.origin);
    this.#count--;
    clearTimeout(e.timer);
    closeQuietly(e.c);
  }

  /** Drops the connection that has been idle longest over all origins. */
  #dropOldest(): void {
    let oldest: Idle | null = null;
    for (const list of this.#idle.values()) {
      if (oldest === null || list[0].since < oldest.since) oldest = list[0];
    }
    if (oldest !== null) this.#drop(oldest);
  }
}

/** A fresh connection's record. */
export function newConnection(conn: Deno.Conn, origin: string): HttpConnection {
  const reader = new HttpReader(conn);
  reader.lenient = true; // RFC 9112 2.2: a recipient MAY take a bare LF as a line end
  return { conn, reader, origin };
}
