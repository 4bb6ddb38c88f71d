/**
 * `TcpConn`: one connection as the application sees it, shaped like `Deno.TcpConn` so code
 * written for Deno sockets runs unchanged: `read`/`write` (partial writes allowed, as Deno's),
 * `close`/`closeWrite`, `readable`/`writable` web streams whose backpressure is the TCP window
 * (an unread receive buffer closes the window; a full send buffer holds `write` back),
 * `localAddr`/`remoteAddr`, `setNoDelay`, `setKeepAlive`, `ref`/`unref`, `[Symbol.dispose]`.
 * Errors are Deno's own classes (`Deno.errors.ConnectionReset`, ...).
 *
 * @module
 */

import { formatIpv6 } from "../wire/address6.ts";
import { formatIpv4 } from "../wire/address.ts";
import { badResource, brokenPipe, connectionAborted, interrupted } from "./errors.ts";
import { CLOSE_WAIT, CLOSED, ESTABLISHED } from "./state.ts";
import type { Tcb, TcbUser } from "./tcb.ts";
import type { LoopRef } from "../net/loop_ref.ts";

/** A TCP endpoint address, as `Deno.NetAddr`. */
export interface TcpAddr {
  /** Always "tcp". */
  transport: "tcp";
  /** Dotted-quad IPv4 address. */
  hostname: string;
  /** Port. */
  port: number;
}

/** What a connection asks of the TCP layer. */
export interface ConnLayer {
  /** The application read from the receive buffer: maybe send a window update. */
  afterRead(t: Tcb): void;
  /** The application wrote to the send buffer: send what may be sent. */
  afterWrite(t: Tcb): void;
  /** Queue our FIN after the buffered data (shutdown(SHUT_WR)). */
  shutdownWrite(t: Tcb): void;
  /** The application closed the connection (FIN, or RST if unread data is discarded). */
  closeByUser(t: Tcb): void;
  /** Nagle on or off; off sends what waits at once. */
  setNoDelay(t: Tcb, noDelay: boolean): void;
  /** Keepalive on or off. */
  setKeepAlive(t: Tcb, keepAlive: boolean): void;
  /** The stack's frame-loop reference, taken while a referenced socket waits (if any). */
  readonly loop?: LoopRef;
}

interface ReadWaiter {
  buf: Uint8Array;
  resolve: (n: number | null) => void;
  reject: (e: Error) => void;
}

interface WriteWaiter {
  data: Uint8Array;
  resolve: (n: number) => void;
  reject: (e: Error) => void;
}

/** Makes a `TcpAddr`. */
export function tcpAddr(addr: number, port: number): TcpAddr {
  return { transport: "tcp", hostname: formatIpv4(addr), port };
}

/** The stack-internal ways into a connection (set by the class's static block). */
let internals: {
  create(layer: ConnLayer, t: Tcb): TcpConn;
  tcb(c: TcpConn): Tcb;
  established(c: TcpConn): Promise<TcpConn>;
};

/** Wraps the control block `t` in a connection (the TCP layer's use; not in mod.ts). */
export function newTcpConn(layer: ConnLayer, t: Tcb): TcpConn {
  return internals.create(layer, t);
}

/** The control block under a connection (the TCP layer's and white-box tests' use). */
export function tcbOf(c: TcpConn): Tcb {
  return internals.tcb(c);
}

/** A promise that settles when the active open of `c` completes or fails. */
export function whenEstablished(c: TcpConn): Promise<TcpConn> {
  return internals.established(c);
}

/**
 * One TCP connection on the userspace stack: a `Deno.TcpConn` (`stack.connect`, or a listener's
 * `accept()`).
 *
 * @example Echo what the peer sends until it closes its side
 * ```ts ignore
 * const conn = await stack.connect({ hostname: "10.0.0.1", port: 7 });
 * await conn.write(new TextEncoder().encode("hello"));
 * const buf = new Uint8Array(5);
 * await conn.read(buf);
 * conn.close();
 * ```
 */
export class TcpConn implements Deno.TcpConn {
  /** Our end. */
  readonly localAddr: TcpAddr;
  /** The peer's end. */
  readonly remoteAddr: TcpAddr;
  readonly #layer: ConnLayer;
  readonly #t: Tcb;
  #closed = false;
  #reads: ReadWaiter[] = [];
  #writes: WriteWaiter[] = [];
  #connect: { resolve: (c: TcpConn) => void; reject: (e: Error) => void } | null = null;
  #readable: ReadableStream<Uint8Array<ArrayBuffer>> | undefined;
  #writable: WritableStream<Uint8Array> | undefined;
  /** Whether pending operations keep the stack's loop referenced (`ref()`/`unref()`). */
  #refed = true;
  /** The hold this connection has on the loop while it is referenced and waits. */
  #hold: (() => void) | null = null;

  static {
    internals = {
      create: (layer, t) => new TcpConn(layer, t),
      tcb: (c) => c.#t,
      established: (c) =>
        new Promise((resolve, reject) => {
          c.#connect = { resolve, reject };
          c.#updateHold();
        }),
    };
  }

  /** Wraps the control block `t`; applications get conns from `stack.connect`/`accept()`. */
  private constructor(layer: ConnLayer, t: Tcb) {
    this.#layer = layer;
    this.#t = t;
    this.localAddr = t.local6 === null
      ? tcpAddr(t.localAddr, t.localPort)
      : { transport: "tcp", hostname: formatIpv6(t.local6), port: t.localPort };
    this.remoteAddr = t.remote6 === null
      ? tcpAddr(t.remoteAddr, t.remotePort)
      : { transport: "tcp", hostname: formatIpv6(t.remote6), port: t.remotePort };
    t.user = {
      onReadable: () => this.#onReadable(),
      onWritable: () => this.#onWritable(),
      onEstablished: () => this.#onEstablished(),
      onClosed: () => this.#onClosed(),
    } satisfies TcbUser;
  }

  /**
   * Reads up to `p.length` bytes: resolves with the count, or null at end of stream (the
   * peer's FIN, after all data). Waits while nothing is buffered.
   */
  read(p: Uint8Array): Promise<number | null> {
    if (this.#closed) return Promise.reject(badResource("read on a closed TcpConn"));
    if (this.#reads.length === 0) {
      const r = this.#tryRead(p);
      if (r !== undefined) return r instanceof Error ? Promise.reject(r) : Promise.resolve(r);
    }
    return new Promise((resolve, reject) => {
      this.#reads.push({ buf: p, resolve, reject });
      this.#updateHold();
    });
  }

  /**
   * Writes up to `p.length` bytes into the send buffer; resolves with how many were taken (at
   * least one; waits while the buffer is full), like `Deno.Conn.write`.
   */
  write(p: Uint8Array): Promise<number> {
    if (this.#closed) return Promise.reject(badResource("write on a closed TcpConn"));
    if (this.#writes.length === 0) {
      const r = this.#tryWrite(p);
      if (r !== undefined) return r instanceof Error ? Promise.reject(r) : Promise.resolve(r);
    }
    return new Promise((resolve, reject) => {
      this.#writes.push({ data: p, resolve, reject });
      this.#updateHold();
    });
  }

  /** Shuts down the sending side: a FIN follows the buffered data; reading goes on. */
  closeWrite(): Promise<void> {
    if (this.#closed) return Promise.reject(badResource("closeWrite on a closed TcpConn"));
    const t = this.#t;
    if (t.state === CLOSED) {
      return Promise.reject(t.error ?? brokenPipe("closeWrite on a closed connection"));
    }
    this.#layer.shutdownWrite(t);
    return Promise.resolve();
  }

  /**
   * Closes the connection: a FIN after the buffered data (or a RST when received data is left
   * unread, RFC 2525 2.17); pending reads and writes reject with `Interrupted`. A second call
   * throws `BadResource`, as with Deno's resources.
   */
  close(): void {
    if (this.#closed) throw badResource("TcpConn is already closed");
    this.#closed = true;
    this.#layer.closeByUser(this.#t);
    const e = interrupted("the TcpConn was closed");
    for (const r of this.#reads.splice(0)) r.reject(e);
    for (const w of this.#writes.splice(0)) w.reject(e);
    if (this.#connect !== null) {
      this.#connect.reject(e);
      this.#connect = null;
    }
    this.#updateHold();
  }

  /** Closes unless already closed (for `using`). */
  [Symbol.dispose](): void {
    if (!this.#closed) this.close();
  }

  /** Nagle's algorithm off (true, the default argument) or on (RFC 9293 3.7.4). */
  setNoDelay(noDelay = true): void {
    if (!this.#closed) this.#layer.setNoDelay(this.#t, noDelay);
  }

  /** Keepalive probes on (true, the default argument) or off (RFC 1122 4.2.3.6). */
  setKeepAlive(keepAlive = true): void {
    if (!this.#closed) this.#layer.setKeepAlive(this.#t, keepAlive);
  }

  /**
   * Makes pending reads, writes and the handshake keep the program alive again (the default),
   * as `Deno.Conn.ref`: while one waits, the stack's frame loop stays referenced even if the
   * stack itself was `unref()`ed.
   */
  ref(): void {
    this.#refed = true;
    this.#updateHold();
  }

  /**
   * Lets the program finish while this connection waits, as `Deno.Conn.unref` (it still works
   * while something else keeps the program, and the stack, running).
   */
  unref(): void {
    this.#refed = false;
    this.#updateHold();
  }

  /** Takes or gives back the loop hold: held while referenced and an operation waits. */
  #updateHold(): void {
    const want = this.#refed && !this.#closed &&
      (this.#reads.length > 0 || this.#writes.length > 0 || this.#connect !== null);
    if (want && this.#hold === null) this.#hold = this.#layer.loop?.hold() ?? null;
    else if (!want && this.#hold !== null) {
      this.#hold();
      this.#hold = null;
    }
  }

  /** The received bytes as a byte stream; reading it pulls from the receive buffer. */
  get readable(): ReadableStream<Uint8Array<ArrayBuffer>> {
    if (this.#readable === undefined) {
      this.#readable = new ReadableStream({
        type: "bytes",
        autoAllocateChunkSize: 64 * 1024,
        pull: async (controller) => {
          const req = controller.byobRequest!;
          const view = req.view as Uint8Array;
          try {
            const n = await this.read(view);
            if (n === null) {
              controller.close();
              req.respond(0);
            } else {
              req.respond(n);
            }
          } catch (e) {
            controller.error(e);
          }
        },
        cancel: () => {
          if (!this.#closed) this.close();
        },
      });
    }
    return this.#readable;
  }

  /** A byte sink; each chunk is written whole before the next is taken (backpressure). */
  get writable(): WritableStream<Uint8Array> {
    if (this.#writable === undefined) {
      this.#writable = new WritableStream<Uint8Array>({
        write: async (chunk) => {
          let off = 0;
          while (off < chunk.length) off += await this.write(chunk.subarray(off));
        },
        close: () => this.#closed ? undefined : this.closeWrite(),
        abort: () => {
          if (!this.#closed) this.close();
        },
      });
    }
    return this.#writable;
  }

  // --- TcbUser: called by the stack ---

  /** Data or EOF arrived. */
  #onReadable(): void {
    while (this.#reads.length > 0) {
      const w = this.#reads[0];
      const r = this.#tryRead(w.buf);
      if (r === undefined) return;
      this.#reads.shift();
      if (r instanceof Error) w.reject(r);
      else w.resolve(r);
    }
    this.#updateHold();
  }

  /** Send-buffer space was freed. */
  #onWritable(): void {
    while (this.#writes.length > 0) {
      const w = this.#writes[0];
      const r = this.#tryWrite(w.data);
      if (r === undefined) return;
      this.#writes.shift();
      if (r instanceof Error) w.reject(r);
      else w.resolve(r);
    }
    this.#updateHold();
  }

  /** The handshake completed. */
  #onEstablished(): void {
    if (this.#connect !== null) {
      this.#connect.resolve(this);
      this.#connect = null;
      this.#updateHold();
    }
  }

  /** The connection reached CLOSED. */
  #onClosed(): void {
    if (this.#connect !== null) {
      this.#connect.reject(this.#t.error ?? connectionAborted("connection closed"));
      this.#connect = null;
    }
    this.#onReadable();
    this.#onWritable();
  }

  /** A count, null (EOF), an Error, or undefined (must wait). */
  #tryRead(p: Uint8Array): number | null | Error | undefined {
    if (p.length === 0) return 0;
    const t = this.#t;
    const rcv = t.rcvBuf;
    if (rcv !== null && rcv.len > 0) {
      const n = rcv.read(p, 0, p.length);
      this.#layer.afterRead(t);
      return n;
    }
    if (t.rcv.fin) return null;
    if (t.state === CLOSED) return t.error ?? null;
    return undefined;
  }

  /** A count, an Error, or undefined (must wait). */
  #tryWrite(p: Uint8Array): number | Error | undefined {
    const t = this.#t;
    if (t.state === CLOSED) return t.error ?? brokenPipe("the connection is closed");
    if (t.snd.finQueued) return brokenPipe("the sending side was shut down");
    if (t.state !== ESTABLISHED && t.state !== CLOSE_WAIT) return brokenPipe("not connected");
    if (p.length === 0) return 0;
    const n = t.sndBuf!.write(p, 0, p.length);
    if (n === 0) return undefined;
    this.#layer.afterWrite(t);
    return n;
  }
}
