/**
 * A network impairment wrapper around any {@link Device}: seeded random loss, duplication,
 * reordering and delay (with jitter), applied to received and/or sent frames. This machine's
 * kernel has no `netem`, so the stack tests its recovery under loss with this instead (and the
 * CLI exposes it as `--impair loss=2%,reorder=5%,dup=1%,delay=5ms`).
 *
 * Semantics, per direction and per frame, in this order:
 * - loss: the frame vanishes (a sent frame still reports success: loss on a wire is silent);
 * - duplicate: a second copy follows the frame;
 * - reorder: the frame is held back and goes out right after the next frame of its direction
 *   (adjacent swap), or after {@link REORDER_HOLD_MS} if no other frame comes;
 * - delay: the frame (and its copy) leave `delayMs ± jitterMs` later (uniform jitter, as netem's
 *   default distribution; jitter can itself reorder frames, as with netem).
 *
 * Delayed and held frames are copied into a preallocated pool of `limit` frame slots; a frame
 * that finds the pool full is dropped and counted (netem's `limit`). One timer, re-armed for the
 * earliest due frame, releases them; there is no timer, closure or allocation per frame.
 *
 * Offload metadata (offload.ts) travels with each frame: over an inner device with offloads,
 * slots hold super-frames and keep each frame's metadata beside it. A sent frame's metadata (the
 * `offload` argument of `send()`) goes to the inner device's `send()` with that frame whenever
 * it leaves, late or twice; a received frame's is copied into the wrapper's own `rxOffload`
 * (when received frames are impaired) just before the frame reaches the handler.
 *
 * @module
 */

import { type Clock, systemClock } from "../clock.ts";
import { DeviceDecorator } from "./decorator.ts";
import type { Device, FrameHandler } from "./device.ts";
import { copyBytes } from "./_copy.ts";
import { reportHandlerError } from "./errors.ts";
import {
  clearOffload,
  copyOffload,
  type FrameOffload,
  hasOffload,
  loadOffload,
  MAX_GSO_FRAME,
  newFrameOffload,
  OFFLOAD_WORDS,
  storeOffload,
} from "./offload.ts";

/** How long a frame picked for reordering waits for a successor before it leaves anyway. */
export const REORDER_HOLD_MS = 10;
/** Default pool size in frames (netem's default `limit` is 1000 packets). */
export const DEFAULT_IMPAIR_LIMIT = 1000;

/** Ethernet header plus one VLAN tag: how much a frame may exceed the MTU. */
const LINK_OVERHEAD = 18;
/** Frames sit at this offset in their slot so the IP header is 4-byte aligned (as on the TAP). */
const SLOT_OFFSET = 2;
const IN = 0;
const OUT = 1;
/** Offload fields kept per slot (the six of FrameOffload). */
const META = OFFLOAD_WORDS;

/** What to impair and how much. Probabilities are fractions in [0, 1]. */
export interface ImpairSpec {
  /** Probability that a frame is lost. */
  loss: number;
  /** Probability that a frame is held back behind the next one. */
  reorder: number;
  /** Probability that a frame is duplicated. */
  duplicate: number;
  /** Added one-way delay in milliseconds. */
  delayMs: number;
  /** Uniform jitter around the delay, in milliseconds (default 0). */
  jitterMs?: number;
  /** PRNG seed: the same seed gives the same decisions for the same frame sequence. */
  seed: number;
  /** Which frames are impaired: received ("in"), sent ("out") or both (default "both"). */
  direction?: "both" | "in" | "out";
  /** Frames the delay/reorder pool holds at most (default {@link DEFAULT_IMPAIR_LIMIT}). */
  limit?: number;
}

/** What the impairment did, per direction ("rx": received frames, "tx": sent frames). */
export interface ImpairStats {
  /** Received frames lost. */
  rxLost: number;
  /** Sent frames lost. */
  txLost: number;
  /** Received frames duplicated. */
  rxDuplicated: number;
  /** Sent frames duplicated. */
  txDuplicated: number;
  /** Received frames reordered. */
  rxReordered: number;
  /** Sent frames reordered. */
  txReordered: number;
  /** Received frames delayed. */
  rxDelayed: number;
  /** Sent frames delayed. */
  txDelayed: number;
  /** Received frames dropped because the pool was full. */
  rxOverflow: number;
  /** Sent frames dropped because the pool was full. */
  txOverflow: number;
}

function newImpairStats(): ImpairStats {
  return {
    rxLost: 0,
    txLost: 0,
    rxDuplicated: 0,
    txDuplicated: 0,
    rxReordered: 0,
    txReordered: 0,
    rxDelayed: 0,
    txDelayed: 0,
    rxOverflow: 0,
    txOverflow: 0,
  };
}

/**
 * Why `spec` cannot be used, or null. Probabilities must be in [0, 1], times finite and >= 0,
 * the seed an integer, the limit a positive integer.
 */
export function checkImpairSpec(spec: ImpairSpec): string | null {
  for (
    const [name, p] of [["loss", spec.loss], ["reorder", spec.reorder], [
      "dup",
      spec.duplicate,
    ]] as const
  ) {
    if (!(p >= 0 && p <= 1)) return `${name} must be between 0% and 100%, got ${p}`;
  }
  if (!(spec.delayMs >= 0 && Number.isFinite(spec.delayMs))) {
    return `delay must be a time >= 0, got ${spec.delayMs}`;
  }
  const jitter = spec.jitterMs ?? 0;
  if (!(jitter >= 0 && Number.isFinite(jitter))) return `jitter must be a time >= 0, got ${jitter}`;
  if (!Number.isInteger(spec.seed)) return `seed must be an integer, got ${spec.seed}`;
  const limit = spec.limit ?? DEFAULT_IMPAIR_LIMIT;
  if (!Number.isInteger(limit) || limit < 1 || limit > 1_000_000) {
    return `limit must be a whole number of frames in 1..1000000, got ${limit}`;
  }
  const dir = spec.direction ?? "both";
  if (dir !== "both" && dir !== "in" && dir !== "out") {
    return `dir must be in, out or both, got ${String(dir)}`;
  }
  return null;
}

/** Parses "2%" or "0.02" into a fraction; null if malformed. */
function parseFraction(text: string): number | null {
  const pct = text.endsWith("%");
  const num = pct ? text.slice(0, -1) : text;
  if (!/^[0-9]+(\.[0-9]+)?$/.test(num)) return null;
  return pct ? Number(num) / 100 : Number(num);
}

/** Parses "5ms", "0.5s", "250us" or a bare number of milliseconds; null if malformed. */
function parseDuration(text: string): number | null {
  const m = /^([0-9]+(?:\.[0-9]+)?)(us|ms|s)?$/.exec(text);
  if (m === null) return null;
  const n = Number(m[1]);
  return m[2] === "s" ? n * 1000 : m[2] === "us" ? n / 1000 : n;
}

/**
 * Parses an impairment spec such as `"loss=2%,reorder=5%,dup=1%,delay=5ms"` into an
 * {@link ImpairSpec}, or returns a reason string naming the bad part. Keys: `loss`, `reorder`,
 * `dup` (or `duplicate`), `delay`, `jitter`, `seed` (default 1), `dir` (`in`, `out`, `both`),
 * `limit` (frames). Probabilities are percentages ("2%") or fractions ("0.02"); times take
 * `us`, `ms` (the default unit) or `s`. Omitted keys are 0.
 */
export function parseImpairSpec(text: string): ImpairSpec | string {
  const spec: ImpairSpec = { loss: 0, reorder: 0, duplicate: 0, delayMs: 0, seed: 1 };
  if (text.trim() === "") return "empty impairment spec (e.g. loss=2%,reorder=5%,dup=1%,delay=5ms)";
  const seen = new Set<string>();
  for (const part of text.split(",")) {
    const eq = part.indexOf("=");
    if (eq <= 0) return `"${part}" is not KEY=VALUE (e.g. loss=2%)`;
    const key = part.slice(0, eq).trim();
    const value = part.slice(eq + 1).trim();
    const canonical = key === "duplicate" ? "dup" : key;
    if (seen.has(canonical)) return `"${key}" is given twice`;
    seen.add(canonical);
    switch (canonical) {
      case "loss":
      case "reorder":
      case "dup": {
        const f = parseFraction(value);
        if (f === null || f > 1) {
          return `${key}: "${value}" is not a probability (a percentage 0%..100%, or 0..1)`;
        }
        if (canonical === "loss") spec.loss = f;
        else if (canonical === "reorder") spec.reorder = f;
        else spec.duplicate = f;
        break;
      }
      case "delay":
      case "jitter": {
        const ms = parseDuration(value);
        if (ms === null) return `${key}: "${value}" is not a time (e.g. 5ms, 0.2s, 500us)`;
        if (canonical === "delay") spec.delayMs = ms;
        else spec.jitterMs = ms;
        break;
      }
      case "seed": {
        if (!/^[0-9]+$/.test(value) || Number(value) > 0xffffffff) {
          return `seed: "${value}" is not a whole number in 0..4294967295`;
        }
        spec.seed = Number(value);
        break;
      }
      case "limit": {
        if (!/^[0-9]+$/.test(value)) return `limit: "${value}" is not a whole number of frames`;
        spec.limit = Number(value);
        break;
      }
      case "dir": {
        if (value !== "in" && value !== "out" && value !== "both") {
          return `dir: "${value}" is not in, out or both`;
        }
        spec.direction = value;
        break;
      }
      default:
        return `unknown key "${key}" (known: loss, reorder, dup, delay, jitter, seed, dir, limit)`;
    }
  }
  return checkImpairSpec(spec) ?? spec;
}

/** Formats a spec back into the `parseImpairSpec` syntax (for logs and ready lines). */
export function formatImpairSpec(spec: ImpairSpec): string {
  const pct = (p: number) => `${Number((p * 100).toFixed(4))}%`;
  const parts = [
    `loss=${pct(spec.loss)}`,
    `reorder=${pct(spec.reorder)}`,
    `dup=${pct(spec.duplicate)}`,
    `delay=${spec.delayMs}ms`,
  ];
  if ((spec.jitterMs ?? 0) > 0) parts.push(`jitter=${spec.jitterMs}ms`);
  if ((spec.direction ?? "both") !== "both") parts.push(`dir=${spec.direction}`);
  if (spec.limit !== undefined) parts.push(`limit=${spec.limit}`);
  parts.push(`seed=${spec.seed}`);
  return parts.join(",");
}

/** Options of {@link ImpairedDevice} beyond the spec. */
export interface ImpairOptions {
  /** Time source for due times (default the system clock). Release is driven by a real timer. */
  clock?: Clock;
}

/**
 * A device whose traffic suffers the impairments of an {@link ImpairSpec}. It owns the inner
 * device (closing it closes the inner one) and reports the inner device's name, MAC, MTU and
 * counters; what the impairment did is in {@link ImpairedDevice.impairStats}.
 */
export class ImpairedDevice extends DeviceDecorator {
  /** What the impairment did so far. */
  readonly impairStats: ImpairStats = newImpairStats();
  /** The spec in force (validated). */
  readonly spec: Readonly<ImpairSpec>;

  readonly #clock: Clock;
  readonly #loss: number;
  readonly #reorder: number;
  readonly #dup: number;
  readonly #delay: number;
  readonly #jitter: number;
  readonly #impairIn: boolean;
  readonly #impairOut: boolean;
  /** One PRNG state per direction (mulberry32), so each direction's decisions are reproducible. */
  readonly #rng = new Uint32Array(2);

  // The pool: `capacity` slots of `slotSize` bytes; a free list; per-slot length and direction.
  readonly #slotSize: number;
  readonly #pool: Uint8Array;
  readonly #lens: Int32Array;
  readonly #dirs: Uint8Array;
  /** Offload metadata per slot (META numbers each), or null when the inner device has none. */
  readonly #meta: Uint16Array | null;
  /**
   * The metadata of the frame being handed to `onFrame`: the wrapper's own object when received
   * frames are impaired (else the inner device's); undefined without offloads.
   */
  readonly #rxo: FrameOffload | undefined;
  /** The inner device's receive metadata with offloads, else null (what a received frame has). */
  readonly #innerRx: FrameOffload | null;
  /** A sent frame's metadata loaded from its pool slot when it leaves (with offloads). */
  readonly #slotTx: FrameOffload = newFrameOffload();
  readonly #free: Int32Array;
  #freeTop: number;

  // A binary min-heap of slots ordered by (due time, arrival order): the delayed frames.
  readonly #heap: Int32Array;
  readonly #due: Float64Array;
  readonly #order: Float64Array;
  #heapSize = 0;
  #arrivals = 0;

  // The frame held back for reordering in each direction (-1: none) and when it must leave.
  readonly #held = new Int32Array([-1, -1]);
  readonly #heldUntil = new Float64Array(2);

  #onFrame: FrameHandler | null = null;
  #onIdle: (() => void) | undefined = undefined;
  readonly #rxHandler: FrameHandler;
  readonly #onTimer: () => void;
  #timer: ReturnType<typeof setTimeout> | null = null;
  #timerAt = Infinity;
  #closed = false;
  #handlerErrors = 0;
  /** Set when the timer delivered received frames: onIdle follows, as after a device burst. */
  #needIdle = false;

  /** Wraps `inner`; throws a RangeError when `spec` is invalid (see {@link checkImpairSpec}). */
  constructor(inner: Device, spec: ImpairSpec, options: ImpairOptions = {}) {
    const bad = checkImpairSpec(spec);
    if (bad !== null) throw new RangeError(`impairment: ${bad}`);
    super(inner);
    this.spec = { ...spec };
    this.#clock = options.clock ?? systemClock;
    this.#loss = spec.loss;
    this.#reorder = spec.reorder;
    this.#dup = spec.duplicate;
    this.#delay = spec.delayMs;
    this.#jitter = spec.jitterMs ?? 0;
    const dir = spec.direction ?? "both";
    this.#impairIn = dir !== "out";
    this.#impairOut = dir !== "in";
    this.#rng[IN] = spec.seed >>> 0;
    // A different stream for the other direction, derived from the same seed (golden ratio).
    this.#rng[OUT] = (spec.seed ^ 0x9e3779b9) >>> 0;

    const capacity = spec.limit ?? DEFAULT_IMPAIR_LIMIT;
    const offload = inner.rxOffload !== undefined && inner.txOffloads === true;
    // With offloads a slot holds a super-frame (the pool's pages are touched only when used).
    const slotFrame = offload ? MAX_GSO_FRAME : inner.mtu + LINK_OVERHEAD;
    this.#slotSize = (SLOT_OFFSET + slotFrame + 7) & ~7;
    this.#pool = new Uint8Array(this.#slotSize * capacity);
    this.#lens = new Int32Array(capacity);
    this.#dirs = new Uint8Array(capacity);
    this.#meta = offload ? new Uint16Array(capacity * META) : null;
    this.#rxo = offload && this.#impairIn ? newFrameOffload() : inner.rxOffload;
    this.#innerRx = offload ? inner.rxOffload ?? null : null;
    this.#free = new Int32Array(capacity);
    for (let i = 0; i < capacity; i++) this.#free[i] = capacity - 1 - i;
    this.#freeTop = capacity;
    this.#heap = new Int32Array(capacity);
    this.#due = new Float64Array(capacity);
    this.#order = new Float64Array(capacity);
    this.#rxHandler = (buf, off, len) => this.#process(IN, buf, off, len, this.#innerRx);
    this.#onTimer = () => this.#release();
  }

  /** Metadata of the frame being handed to `onFrame` (inner device with offloads only). */
  override get rxOffload(): FrameOffload | undefined {
    return this.#rxo;
  }

  /** Frames waiting in the pool (delayed or held for reordering). */
  get queued(): number {
    return this.#lens.length - this.#freeTop;
  }

  /**
   * Runs the inner receive loop; received frames reach `onFrame` impaired. Frames released later
   * by the timer are followed by one `onIdle` call, as a burst from the device would be.
   */
  run(onFrame: FrameHandler, onIdle?: () => void): Promise<void> {
    this.#onFrame = onFrame;
    this.#onIdle = onIdle;
    return this.inner.run(this.#impairIn ? this.#rxHandler : onFrame, onIdle);
  }

  /**
   * Sends a frame through the impairment: true when it was handed on, lost on the "wire"
   * (silently, as a real link loses frames) or queued; false when the inner device refused it or
   * the pool was full. `offload` goes with the frame (and its copy), read and never changed.
   */
  send(buf: Uint8Array, off: number, len: number, offload: FrameOffload | null = null): boolean {
    // Metadata an inner device without offloads cannot take: it refuses the frame itself.
    const refused = this.#meta === null && offload !== null && hasOffload(offload);
    if (!this.#impairOut || this.#closed || refused) {
      return this.inner.send(buf, off, len, offload);
    }
    return this.#process(OUT, buf, off, len, offload);
  }

  /** Discards queued frames, stops the timer and closes the inner device. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    this.#heapSize = 0;
    this.#held[IN] = -1;
    this.#held[OUT] = -1;
    this.inner.close();
  }

  /** The next number in [0, 1) of direction `dir`'s stream (mulberry32). */
  #random(dir: number): number {
    const s = (this.#rng[dir] + 0x6d2b79f5) >>> 0;
    this.#rng[dir] = s;
    let t = Math.imul(s ^ (s >>> 15), s | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /**
   * One frame in direction `dir` with its metadata `o` (null: plain, or no offloads): decide its
   * fate and pass it on, queue it or drop it.
   */
  #process(
    dir: number,
    buf: Uint8Array,
    off: number,
    len: number,
    o: FrameOffload | null,
  ): boolean {
    const st = this.impairStats;
    if (this.#loss > 0 && this.#random(dir) < this.#loss) {
      if (dir === IN) st.rxLost++;
      else st.txLost++;
      return true;
    }
    const dup = this.#dup > 0 && this.#random(dir) < this.#dup;
    if (dup) {
      if (dir === IN) st.rxDuplicated++;
      else st.txDuplicated++;
    }
    const now = this.#clock.now();
    if (this.#reorder > 0 && this.#held[dir] < 0 && this.#random(dir) < this.#reorder) {
      // Hold this frame back until the next one of its direction has gone; its duplicate, if
      // any, goes ahead normally.
      const slot = this.#store(dir, buf, off, len, o);
      if (slot < 0) return false;
      if (dir === IN) st.rxReordered++;
      else st.txReordered++;
      this.#held[dir] = slot;
      this.#heldUntil[dir] = now + this.#delay + REORDER_HOLD_MS;
      this.#arm(this.#heldUntil[dir]);
      if (dup) this.#forward(dir, buf, off, len, o, now);
      return true;
    }
    const ok = this.#forward(dir, buf, off, len, o, now);
    if (dup) this.#forward(dir, buf, off, len, o, now);
    if (this.#held[dir] >= 0) this.#releaseHeldAfter(dir, now);
    return ok;
  }

  /** Passes a frame on now, or stores it until its delay has passed. False when it was dropped. */
  #forward(
    dir: number,
    buf: Uint8Array,
    off: number,
    len: number,
    o: FrameOffload | null,
    now: number,
  ): boolean {
    let delay = this.#delay;
    if (this.#jitter > 0) delay += this.#jitter * (2 * this.#random(dir) - 1);
    if (delay <= 0) return this.#emit(dir, buf, off, len, o, false);
    const slot = this.#store(dir, buf, off, len, o);
    if (slot < 0) return false;
    if (dir === IN) this.impairStats.rxDelayed++;
    else this.impairStats.txDelayed++;
    this.#push(slot, now + delay);
    return true;
  }

  /**
   * Releases the frame held back in `dir` right behind the frame just forwarded: at once when
   * there is no delay, else at the delay's due time, ordered after it.
   */
  #releaseHeldAfter(dir: number, now: number): void {
    const slot = this.#held[dir];
    this.#held[dir] = -1;
    if (this.#delay <= 0 && this.#jitter <= 0) {
      this.#emitSlot(slot, false);
      return;
    }
    if (dir === IN) this.impairStats.rxDelayed++;
    else this.impairStats.txDelayed++;
    this.#push(slot, now + this.#delay + this.#jitter);
  }

  /**
   * Hands a frame to the stack (received) or to the inner device (sent) with its metadata `o`
   * (null: plain): a received frame's goes into `rxOffload` for the handler.
   */
  #emit(
    dir: number,
    buf: Uint8Array,
    off: number,
    len: number,
    o: FrameOffload | null,
    fromTimer: boolean,
  ): boolean {
    if (dir === OUT) return this.inner.send(buf, off, len, o);
    const onFrame = this.#onFrame;
    if (onFrame === null || this.#closed) return false;
    if (this.#meta !== null) {
      const rxo = this.#rxo as FrameOffload;
      if (o === null) clearOffload(rxo);
      else if (o !== rxo) copyOffload(o, rxo);
    }
    try {
      onFrame(buf, off, len);
    } catch (err) {
      reportHandlerError(this.name, err, ++this.#handlerErrors);
    }
    if (fromTimer) this.#needIdle = true;
    return true;
  }

  /**
   * Emits the frame in pool slot `slot` with the metadata stored beside it, and frees the slot.
   * A received frame's metadata loads straight into `rxOffload`, a sent one's into a scratch
   * object the inner device only reads.
   */
  #emitSlot(slot: number, fromTimer: boolean): void {
    const dir = this.#dirs[slot];
    const meta = this.#meta;
    let o: FrameOffload | null = null;
    if (meta !== null) {
      o = dir === IN ? this.#rxo as FrameOffload : this.#slotTx;
      loadOffload(meta, slot * META, o);
    }
    this.#emit(
      dir,
      this.#pool,
      slot * this.#slotSize + SLOT_OFFSET,
      this.#lens[slot],
      o,
      fromTimer,
    );
    this.#freeSlot(slot);
  }

  /**
   * Copies a frame and its metadata `o` into a free slot; -1 (counted as overflow) when full or
   * oversized.
   */
  #store(dir: number, buf: Uint8Array, off: number, len: number, o: FrameOffload | null): number {
    if (this.#freeTop === 0 || len > this.#slotSize - SLOT_OFFSET) {
      if (dir === IN) this.impairStats.rxOverflow++;
      else this.impairStats.txOverflow++;
      return -1;
    }
    const slot = this.#free[--this.#freeTop];
    copyBytes(buf, off, this.#pool, slot * this.#slotSize + SLOT_OFFSET, len);
    this.#lens[slot] = len;
    this.#dirs[slot] = dir;
    const meta = this.#meta;
    if (meta !== null) {
      if (o === null) meta.fill(0, slot * META, slot * META + META);
      else storeOffload(meta, slot * META, o);
    }
    return slot;
  }

  #freeSlot(slot: number): void {
    this.#free[this.#freeTop++] = slot;
  }

  /** True when slot `a` leaves before slot `b`. */
  #before(a: number, b: number): boolean {
    const da = this.#due[a];
    const db = this.#due[b];
    return da < db || (da === db && this.#order[a] < this.#order[b]);
  }

  #push(slot: number, due: number): void {
    this.#due[slot] = due;
    this.#order[slot] = this.#arrivals++;
    const heap = this.#heap;
    let i = this.#heapSize++;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.#before(slot, heap[parent])) break;
      heap[i] = heap[parent];
      i = parent;
    }
    heap[i] = slot;
    this.#arm(due);
  }

  #pop(): number {
    const heap = this.#heap;
    const top = heap[0];
    const last = heap[--this.#heapSize];
    const n = this.#heapSize;
    let i = 0;
    while (true) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const c = r < n && this.#before(heap[r], heap[l]) ? r : l;
      if (!this.#before(heap[c], last)) break;
      heap[i] = heap[c];
      i = c;
    }
    if (n > 0) heap[i] = last;
    return top;
  }

  /** Makes sure the timer fires no later than `at`. */
  #arm(at: number): void {
    if (this.#closed || at >= this.#timerAt) return;
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timerAt = at;
    const wait = at - this.#clock.now();
    this.#timer = setTimeout(this.#onTimer, wait > 0 ? Math.ceil(wait) : 0);
  }

  /** The timer: releases every due frame in order, then re-arms for the next one. */
  #release(): void {
    this.#timer = null;
    this.#timerAt = Infinity;
    if (this.#closed) return;
    const now = this.#clock.now();
    for (let dir = IN; dir <= OUT; dir++) {
      const slot = this.#held[dir];
      if (slot >= 0 && this.#heldUntil[dir] <= now) {
        this.#held[dir] = -1;
        this.#emitSlot(slot, true);
      }
    }
    // Frames that become due while releasing (none can: new ones are due later) wait for the
    // next round; the bound keeps one round finite even so.
    let budget = this.#heapSize;
    while (this.#heapSize > 0 && budget-- > 0 && this.#due[this.#heap[0]] <= now) {
      this.#emitSlot(this.#pop(), true);
    }
    if (this.#needIdle) {
      this.#needIdle = false;
      const onIdle = this.#onIdle;
      if (onIdle !== undefined && !this.#closed) {
        try {
          onIdle();
        } catch (err) {
          reportHandlerError(this.name, err, ++this.#handlerErrors);
        }
      }
    }
    if (this.#closed) return;
    let next = this.#heapSize > 0 ? this.#due[this.#heap[0]] : Infinity;
    for (let dir = IN; dir <= OUT; dir++) {
      if (this.#held[dir] >= 0 && this.#heldUntil[dir] < next) next = this.#heldUntil[dir];
    }
    if (next !== Infinity) this.#arm(next);
  }
}
