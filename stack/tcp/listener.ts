/**
 * `TcpListener`: a passive open (RFC 9293 3.10.1 OPEN, passive), a `Deno.TcpListener`:
 * `accept()`, async iteration, `close()`, `addr`, `ref()`/`unref()`. Its queues (SYN and accept
 * backlogs) live in the stack (listen_queue.ts), out of the application's sight.
 *
 * @module
 */

import type { TcpAddr, TcpConn } from "./conn.ts";
import type { ListenQueue } from "./listen_queue.ts";
import type { LoopRef } from "../net/loop_ref.ts";

/** The stack-internal way from a listener to its queues (set by the class's static block). */
let create: (q: ListenQueue, loop: LoopRef | undefined) => TcpListener;
let queue: (l: TcpListener) => ListenQueue;

/** Wraps a listener's queues for the application (the TCP layer's use; not in mod.ts). */
export function newTcpListener(q: ListenQueue, loop?: LoopRef): TcpListener {
  return create(q, loop);
}

/** A listener's queues (the snapshot's and white-box tests' use). */
export function queueOf(l: TcpListener): ListenQueue {
  return queue(l);
}

/**
 * A listening TCP socket on the userspace stack (`stack.listen`), a `Deno.TcpListener`.
 *
 * @example Accept connections and answer each with a line
 * ```ts ignore
 * const listener = stack.listen({ port: 8080 });
 * for await (const conn of listener) {
 *   await conn.write(new TextEncoder().encode("hello\n"));
 *   conn.close();
 * }
 * ```
 */
export class TcpListener implements Deno.TcpListener {
  /** The address listened on (hostname "0.0.0.0" for every address). */
  readonly addr: TcpAddr;
  readonly #q: ListenQueue;
  readonly #loop: LoopRef | undefined;
  #refed = true;
  #hold: (() => void) | null = null;

  static {
    create = (q, loop) => new TcpListener(q, loop);
    queue = (l) => l.#q;
  }

  private constructor(q: ListenQueue, loop: LoopRef | undefined) {
    this.#q = q;
    this.#loop = loop;
    this.addr = q.addr;
    q.onWaiters = () => this.#updateHold();
  }

  /** Waits for the next connection that completed its handshake. */
  accept(): Promise<TcpConn> {
    return this.#q.accept();
  }

  /**
   * Stops listening: queued and half-open connections are reset, pending `accept()` calls
   * reject with `Deno.errors.BadResource`, iteration ends. A second call throws `BadResource`.
   */
  close(): void {
    this.#q.close();
  }

  /** Closes unless already closed (for `using`). */
  [Symbol.dispose](): void {
    if (!this.#q.closed) this.close();
  }

  /** A waiting `accept()` keeps the program alive again (the default), as Deno's `ref()`. */
  ref(): void {
    this.#refed = true;
    this.#updateHold();
  }

  /** A waiting `accept()` no longer keeps the program alive, as Deno's `unref()`. */
  unref(): void {
    this.#refed = false;
    this.#updateHold();
  }

  /** Yields accepted connections until the listener is closed. */
  async *[Symbol.asyncIterator](): AsyncIterableIterator<TcpConn> {
    while (!this.#q.closed) {
      let c: TcpConn;
      try {
        c = await this.accept();
      } catch (e) {
        if (this.#q.closed) return;
        throw e;
      }
      yield c;
    }
  }

  #updateHold(): void {
    const want = this.#refed && !this.#q.closed && this.#q.waiting > 0;
    if (want && this.#hold === null) this.#hold = this.#loop?.hold() ?? null;
    else if (!want && this.#hold !== null) {
      this.#hold();
      this.#hold = null;
    }
  }
}
