/**
 * A stack connection as a `node:net` socket: a `Duplex` over any `Deno.Conn` (the userspace
 * stack's `TcpConn`, or Deno's own) with what `node:http`, Express, `@hono/node-server` and
 * undici use of a socket: `remoteAddress`/`remotePort`/`remoteFamily`, `localAddress`/
 * `localPort`, `address()`, `setTimeout` (an idle timer, `'timeout'` event), `setNoDelay`,
 * `setKeepAlive`, `ref`/`unref`, `bytesRead`/`bytesWritten`, `destroySoon`, and half-close:
 * `end()` sends our FIN (`closeWrite`) and reading goes on when `allowHalfOpen` is set (as
 * `net.Socket`'s option of that name).
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { Duplex } from "node:stream";

/** Options of {@link StackSocket}. */
export interface StackSocketOptions {
  /**
   * Keep the writable side open when the peer ends its side (default false, as `net.Socket`:
   * the socket then ends its side too).
   */
  allowHalfOpen?: boolean;
}

/** What the adapter needs of a connection: a `Deno.Conn`, with TCP's settings if it has them. */
export type SocketConn = Deno.Conn & Partial<Pick<Deno.TcpConn, "setNoDelay" | "setKeepAlive">>;

/** Bytes read per `read()` of the connection. */
const READ_BYTES = 64 * 1024;

/** A `node:net`-compatible socket over a stack connection. */
export class StackSocket extends Duplex {
  /** The peer's address. */
  readonly remoteAddress: string | undefined;
  /** The peer's port. */
  readonly remotePort: number | undefined;
  /** "IPv4" (the stack speaks IPv4 only). */
  readonly remoteFamily: string = "IPv4";
  /** Our address. */
  readonly localAddress: string | undefined;
  /** Our port. */
  readonly localPort: number | undefined;
  /** "IPv4". */
  readonly localFamily: string = "IPv4";
  /** Always false: the connection is made before the socket exists. */
  readonly connecting = false;
  /** Always false (see {@link connecting}). */
  readonly pending = false;
  /** Bytes received so far. */
  bytesRead = 0;
  readonly #conn: SocketConn;
  #written = 0;
  #reading = false;
  #timeoutMs = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;

  /** Wraps `conn`; the socket owns it from now on (destroying the socket closes it). */
  constructor(conn: SocketConn, options: StackSocketOptions = {}) {
    super({ allowHalfOpen: options.allowHalfOpen ?? false });
    this.#conn = conn;
    const remote = conn.remoteAddr as Partial<Deno.NetAddr>;
    const local = conn.localAddr as Partial<Deno.NetAddr>;
    this.remoteAddress = remote.hostname;
    this.remotePort = remote.port;
    this.localAddress = local.hostname;
    this.localPort = local.port;
  }

  /** Bytes sent so far. */
  get bytesWritten(): number {
    return this.#written;
  }

  /** "open", "readOnly" (we ended our side), "writeOnly" (the peer ended its), or "closed". */
  get readyState(): "open" | "readOnly" | "writeOnly" | "closed" {
    if (this.destroyed) return "closed";
    const r = this.readable;
    const w = this.writable;
    return r && w ? "open" : r ? "readOnly" : w ? "writeOnly" : "closed";
  }

  /** Our end, as `net.Socket.address()`. */
  address(): { address: string; family: string; port: number } {
    return { address: this.localAddress ?? "", family: "IPv4", port: this.localPort ?? 0 };
  }

  /**
   * Emits `'timeout'` after `ms` without data either way (0 turns it off), as
   * `net.Socket.setTimeout`; the socket stays open (the listener decides).
   */
  setTimeout(ms: number, callback?: () => void): this {
    this.#timeoutMs = ms;
    if (callback !== undefined) {
      if (ms === 0) this.removeListener("timeout", callback);
      else this.once("timeout", callback);
    }
    this.#touch();
    return this;
  }

  /** Nagle's algorithm off (true, the default) or on. */
  setNoDelay(noDelay = true): this {
    this.#conn.setNoDelay?.(noDelay);
    return this;
  }

  /** TCP keepalive on or off (the stack's keepalive timers decide the delay). */
  setKeepAlive(enable = false, _initialDelay?: number): this {
    this.#conn.setKeepAlive?.(enable);
    return this;
  }

  /** The socket keeps the program alive again. */
  ref(): this {
    this.#conn.ref();
    return this;
  }

  /** The socket no longer keeps the program alive. */
  unref(): this {
    this.#conn.unref();
    return this;
  }

  /** Ends our side, then destroys the socket once what was written has gone out. */
  destroySoon(): void {
    if (this.writable) this.end();
    if (this.writableFinished) this.destroy();
    else this.once("finish", () => this.destroy());
  }

  /** Destroys the socket (the connection is closed; the stack resets it if data is unread). */
  resetAndDestroy(): this {
    return this.destroy();
  }

  /** Reads from the connection while the stream wants data (push() returning true). */
  override _read(_size: number): void {
    if (this.#reading) return;
    this.#reading = true;
    (async () => {
      const buf = new Uint8Array(READ_BYTES);
      while (true) {
        let n: number | null;
        try {
          n = await this.#conn.read(buf);
        } catch (e) {
          this.#reading = false;
          if (!this.destroyed) this.destroy(e as Error);
          return;
        }
        if (n === null) {
          this.#reading = false;
          this.push(null);
          return;
        }
        this.bytesRead += n;
        this.#touch();
        if (!this.push(Buffer.from(buf.subarray(0, n)))) {
          this.#reading = false;
          return;
        }
      }
    })();
  }

  /** Writes a chunk completely (the stack's send buffer is the backpressure). */
  override _write(
    chunk: Buffer | string,
    encoding: BufferEncoding,
    callback: (error?: Error | null) => void,
  ): void {
    const bytes = typeof chunk === "string" ? Buffer.from(chunk, encoding) : chunk;
    (async () => {
      let off = 0;
      while (off < bytes.length) off += await this.#conn.write(bytes.subarray(off));
      this.#written += bytes.length;
      this.#touch();
    })().then(() => callback(), (e) => callback(e as Error));
  }

  /** `end()`: our FIN after what was written (half-close); reading goes on. */
  override _final(callback: (error?: Error | null) => void): void {
    this.#conn.closeWrite().then(() => callback(), (e) => {
      // The peer already reset or closed: nothing left to end.
      if (e instanceof Deno.errors.BadResource || e instanceof Deno.errors.BrokenPipe) callback();
      else callback(e as Error);
    });
  }

  /** Closes the connection. */
  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    clearTimeout(this.#timer);
    this.#timeoutMs = 0;
    try {
      this.#conn.close();
    } catch { /* already closed */ }
    callback(error);
  }

  /** Restarts the idle timer (activity, or a new timeout). */
  #touch(): void {
    clearTimeout(this.#timer);
    if (this.#timeoutMs > 0 && !this.destroyed) {
      this.#timer = setTimeout(() => this.emit("timeout"), this.#timeoutMs);
    }
  }
}
