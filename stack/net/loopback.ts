/**
 * The stack's loopback: packets the host sends to itself (127.0.0.0/8, or one of its own
 * addresses) never reach the device; they come back in as received ones, as through Linux's `lo`
 * (RFC 1122 3.2.1.3: "addresses of this form MUST NOT appear outside a host"). So
 * `connect({ port })` (Deno's default hostname, 127.0.0.1) reaches a listener of the same stack,
 * and `stack.fetch` reaches its own `stack.serve`.
 *
 * A looped packet is copied (the sender reuses its buffer) and delivered after the sender's call
 * has returned (from a microtask, so TCP is never re-entered from its own output), a batch at a
 * time; after many batches in a row the next waits for a macrotask, so a bulk transfer over
 * loopback cannot starve timers and I/O. A TCP super-frame (offloads on) loops whole, with its
 * segment size, as Linux's loopback keeps GSO; its partial checksum is not completed: like
 * Linux's `lo`, the receiving side trusts it.
 *
 * @module
 */

import type { FrameOffload } from "../wire/virtio_net.ts";

/** What the loopback needs of the stack. */
export interface LoopbackHost {
  /** Delivers one looped IPv4 packet (`gsoSize` > 0: a TCP super-frame of that segment size). */
  deliver(buf: Uint8Array, ipLen: number, gsoSize: number): void;
  /** After a batch: TCP's batched output. */
  flush(): void;
  /** Counts a packet dropped because the queue is full. */
  dropped(): void;
}

/** Packets waiting to loop back at most (like a device queue). */
const QUEUE_LIMIT = 4096;
/** Batches delivered from microtasks before one waits for a macrotask. */
const MICROTASK_BATCHES = 64;

/** The loopback interface of one stack. */
export class Loopback {
  readonly #host: LoopbackHost;
  #queue: { bytes: Uint8Array; gsoSize: number }[] = [];
  #scheduled = false;
  #batches = 0;

  /** A loopback delivering to `host`. */
  constructor(host: LoopbackHost) {
    this.#host = host;
  }

  /**
   * Loops `buf[ipOff .. ipOff+ipLen)` back; `offload` is the packet's metadata (null: plain), of
   * which only a super-frame's segment size is kept (read, never changed). False when the queue
   * is full.
   */
  send(buf: Uint8Array, ipOff: number, ipLen: number, offload: FrameOffload | null): boolean {
    const gsoSize = offload !== null && offload.gsoType !== 0 ? offload.gsoSize : 0;
    if (this.#queue.length >= QUEUE_LIMIT) {
      this.#host.dropped();
      return false;
    }
    this.#queue.push({ bytes: buf.slice(ipOff, ipOff + ipLen), gsoSize });
    if (!this.#scheduled) {
      this.#scheduled = true;
      if (++this.#batches < MICROTASK_BATCHES) {
        queueMicrotask(() => this.#drain());
      } else {
        this.#batches = 0;
        setTimeout(() => this.#drain(), 0);
      }
    }
    return true;
  }

  /** Packets waiting. */
  get queued(): number {
    return this.#queue.length;
  }

  #drain(): void {
    this.#scheduled = false;
    const batch = this.#queue;
    this.#queue = [];
    for (const p of batch) this.#host.deliver(p.bytes, p.bytes.length, p.gsoSize);
    this.#host.flush();
  }
}
