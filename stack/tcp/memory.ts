/**
 * The TCP layer's memory budget: every connection's send and receive buffers together (Linux's
 * `tcp_mem`). Buffers start small and double toward their configured maximum as data comes; the
 * budget decides whether they may:
 *
 * - below the pressure mark (60% of the limit) they grow freely; the rest is headroom for the
 *   windows already offered (a new connection's first window, 64 KB, is stored even when its ring
 *   has to grow for it) and for the rings that were growing when the mark was reached;
 * - under pressure no buffer grows any more: a receive buffer offers only the room it already
 *   has (the advertised window shrinks toward it as data is read; RFC 9293 3.8.6.2.2: the right
 *   edge itself never moves back), a send buffer takes no more than its current ring, so writers
 *   wait (Linux's tcp_under_memory_pressure clamps windows the same way);
 * - at the limit, new connections are refused (a SYN is dropped, counted), and data beyond what
 *   was already offered would not be stored.
 *
 * So a peer that opens many connections and never reads holds the process to about the limit,
 * and the connections that exist go on. The counts are plain numbers: charged when a buffer is
 * allocated or grows, released when the connection ends.
 *
 * @module
 */

/** Default budget for all TCP buffers together: 512 MiB. */
export const DEFAULT_TCP_MEMORY = 512 * 1024 * 1024;

/** The shared byte count of the TCP buffers. */
export class TcpMemory {
  /** The most bytes all buffers may hold together. */
  readonly limit: number;
  /** From here on buffers stop growing (60% of the limit). */
  readonly pressureAt: number;
  /** Bytes the buffers hold now. */
  used = 0;
  /** Largest `used` seen. */
  peak = 0;
  /** Times a buffer was kept from growing by pressure. */
  growthDenied = 0;

  /** A budget of `limit` bytes. */
  constructor(limit: number = DEFAULT_TCP_MEMORY) {
    if (!Number.isFinite(limit) || limit < 1 << 20) {
      throw new RangeError(`tcp memory limit ${limit} is below 1 MiB`);
    }
    this.limit = limit;
    this.pressureAt = Math.floor(limit * 0.6);
  }

  /** True while buffers may not grow. */
  get pressure(): boolean {
    return this.used >= this.pressureAt;
  }

  /** True when no new connection may be made. */
  get full(): boolean {
    return this.used >= this.limit;
  }

  /** `n` more bytes are held (n may be negative: released). */
  charge(n: number): void {
    this.used += n;
    if (this.used > this.peak) this.peak = this.used;
  }

  /** May a buffer grow by `n` bytes now? Counts a refusal. */
  mayGrow(n: number): boolean {
    if (this.used + n <= this.pressureAt) return true;
    this.growthDenied++;
    return false;
  }
}

/**
 * One buffer's share of a {@link TcpMemory}: what it charged, given back once when the
 * connection ends. Without a budget (a buffer made outside a layer) it counts nothing.
 */
export class BudgetShare {
  /** The budget, if any. */
  readonly memory: TcpMemory | null;
  #charged = 0;

  /** A share of `memory` (none when undefined). */
  constructor(memory: TcpMemory | undefined) {
    this.memory = memory ?? null;
  }

  /** True while the budget says no buffer may grow. */
  get pressure(): boolean {
    return this.memory !== null && this.memory.pressure;
  }

  /** May the buffer grow by `n` bytes? (Always, without a budget.) */
  mayGrow(n: number): boolean {
    return this.memory === null || this.memory.mayGrow(n);
  }

  /** The buffer now holds `n` more bytes (negative: fewer). */
  charge(n: number): void {
    if (this.memory === null) return;
    this.memory.charge(n);
    this.#charged += n;
  }

  /** Gives everything charged back (the connection ended); idempotent. */
  release(): void {
    if (this.memory !== null) this.memory.charge(-this.#charged);
    this.#charged = 0;
  }
}
