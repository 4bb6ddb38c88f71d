/**
 * The stack side of a listening socket: the SYN backlog (half-open connections in
 * SYN_RECEIVED) and the accept backlog (connections that completed the handshake and wait for
 * `accept()`), as Linux keeps both on a listening socket. When the SYN backlog is full the layer
 * answers with SYN cookies (RFC 4987) instead of queueing. The application holds the
 * {@link TcpListener} wrapped around it (listener.ts), which shows none of this.
 *
 * @module
 */

import { badResource } from "./errors.ts";
import { type ConnLayer, newTcpConn, tcbOf, type TcpAddr, type TcpConn } from "./conn.ts";
import type { Tcb, TcbListener } from "./tcb.ts";

/** What a listener asks of the TCP layer. */
export interface ListenerLayer extends ConnLayer {
  /** Removes the listener from the port table. */
  unlisten(l: ListenQueue): void;
  /** Resets a connection the listener gives up (queued or half-open at close). */
  resetConn(t: Tcb): void;
}

interface AcceptWaiter {
  resolve: (c: TcpConn) => void;
  reject: (e: Error) => void;
}

/** A listening socket's queues, in the layer's port table. */
export class ListenQueue implements TcbListener {
  /** The address listened on (hostname "0.0.0.0" for every address). */
  readonly addr: TcpAddr;
  /** The bound IPv4 address, 0 for any (and for an IPv6 or dual-stack listener). */
  readonly localAddress: number;
  /** The bound IPv6 address, or null (an IPv4 or a dual-stack listener). */
  readonly local6: Uint8Array | null;
  /** Bound to "::": hears both families (Linux's IPV6_V6ONLY off). */
  readonly dual: boolean;
  /** The bound port. */
  readonly port: number;
  /** Accept-queue length limit. */
  readonly backlog: number;
  /** Half-open connection limit before SYN cookies. */
  readonly synBacklog: number;
  /** When this listener last answered with a SYN cookie (ms; -Infinity if never). */
  lastCookieAt: number = -Infinity;
  /** Called when the number of waiting `accept()` calls changes (the listener's loop hold). */
  onWaiters: (() => void) | null = null;
  readonly #layer: ListenerLayer;
  readonly #halfOpen = new Set<Tcb>();
  #queue: TcpConn[] = [];
  #waiters: AcceptWaiter[] = [];
  #closed = false;

  /** A listener's queues; the layer creates them in `stack.listen`. */
  constructor(
    layer: ListenerLayer,
    addr: TcpAddr,
    localAddress: number,
    backlog: number,
    synBacklog: number,
    local6: Uint8Array | null = null,
    dual = false,
  ) {
    this.local6 = local6;
    this.dual = dual;
    this.#layer = layer;
    this.addr = addr;
    this.localAddress = localAddress;
    this.port = addr.port;
    this.backlog = backlog;
    this.synBacklog = synBacklog;
  }

  /** Half-open connections now. */
  get synRecvCount(): number {
    return this.#halfOpen.size;
  }

  /** Connections waiting for accept(). */
  get queued(): number {
    return this.#queue.length;
  }

  /** `accept()` calls waiting for a connection. */
  get waiting(): number {
    return this.#waiters.length;
  }

  /** True once closed. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Waits for the next connection that completed its handshake. */
  accept(): Promise<TcpConn> {
    if (this.#closed) return Promise.reject(badResource("accept on a closed TcpListener"));
    const c = this.#queue.shift();
    if (c !== undefined) return Promise.resolve(c);
    return new Promise((resolve, reject) => {
      this.#waiters.push({ resolve, reject });
      this.onWaiters?.();
    });
  }

  /**
   * Stops listening: queued and half-open connections are reset, pending `accept()` calls
   * reject with `BadResource`. A second call throws `BadResource`.
   */
  close(): void {
    if (this.#closed) throw badResource("TcpListener is already closed");
    this.#closed = true;
    this.#layer.unlisten(this);
    for (const c of this.#queue.splice(0)) this.#layer.resetConn(tcbOf(c));
    for (const t of [...this.#halfOpen]) this.#layer.resetConn(t);
    this.#halfOpen.clear();
    const e = badResource("the TcpListener was closed");
    for (const w of this.#waiters.splice(0)) w.reject(e);
    this.onWaiters?.();
  }

  // --- TcbListener: called by the stack ---

  /** A new half-open connection of this listener. */
  synRecvAdd(t: Tcb): void {
    this.#halfOpen.add(t);
  }

  /** A half-open connection completed or died. */
  synRecvDone(t: Tcb): void {
    this.#halfOpen.delete(t);
  }

  /** The accept queue is full. */
  acceptFull(): boolean {
    return this.#queue.length >= this.backlog;
  }

  /** A connection completed its handshake. */
  enqueue(t: Tcb): void {
    const c = newTcpConn(this.#layer, t);
    const w = this.#waiters.shift();
    if (w !== undefined) {
      w.resolve(c);
      this.onWaiters?.();
    } else {
      this.#queue.push(c);
    }
  }
}
