/**
 * In-memory devices: two ends of a virtual cable for unit tests (a stack on each end, or a stack
 * and a test that plays the peer), without root or a kernel.
 *
 * A sent frame is copied into the peer's bounded receive ring and delivered asynchronously by the
 * peer's run() loop, in a burst followed by onIdle, like the TAP. So a handler that answers a
 * frame is never re-entered, and the sender may reuse its buffer at once.
 *
 * With `offload: true` a device carries offload metadata per frame like a TAP with
 * `IFF_VNET_HDR` (offload.ts): the metadata a frame is sent with arrives in the peer's
 * `rxOffload` with it, and super-frames of up to 65535 + 18 bytes pass when `gsoType` is set, so
 * tests can feed a stack or a balancer the frames the kernel would.
 *
 * @module
 */

import { type Device, type DeviceStats, type FrameHandler, newDeviceStats } from "./device.ts";
import { DeviceError, reportHandlerError } from "./errors.ts";
import { copyBytes } from "./_copy.ts";
import {
  copyOffload,
  type FrameOffload,
  hasOffload,
  loadOffload,
  MAX_GSO_FRAME,
  newFrameOffload,
  OFFLOAD_WORDS,
  storeOffload,
} from "./offload.ts";

/** Ethernet header (14) plus one 802.1Q tag (4): how much a frame may exceed the MTU. */
const LINK_OVERHEAD = 18;
const ETH_HEADER = 14;
/** Frames sit at this offset in their ring slot so the IP header is 4-byte aligned, as on TAP. */
const RX_OFFSET = 2;
/** Default receive ring length, in frames (a TAP's default txqueuelen is 1000). */
const DEFAULT_QUEUE = 256;
/** Default ring length of an offload device, whose slots hold 64 KB super-frames. */
const DEFAULT_OFFLOAD_QUEUE = 64;
/** Offload fields kept per ring slot (the six of FrameOffload). */
const META = OFFLOAD_WORDS;
/**
 * Bursts delivered through microtasks before the loop yields a macrotask, so an endless
 * ping-pong between two devices cannot starve timers and I/O.
 */
const MICROTASK_BURSTS = 64;

/** Options of one {@link MemoryDevice}. */
export interface MemoryDeviceOptions {
  /** Label (default "mem0"). */
  name?: string;
  /** MTU (default 1500). */
  mtu?: number;
  /** The device's MAC (default: random locally administered). */
  mac?: Uint8Array;
  /** Receive ring length in frames (default 256); frames beyond it are dropped. */
  queueLength?: number;
  /** Keep a copy of every frame sent in `sent` (default false). */
  capture?: boolean;
  /**
   * Carry offload metadata per frame (`rxOffload`/`txOffloads`, as a TAP with offloads; default
   * false). The receive ring then holds super-frames (default 64 slots of 64 KB).
   */
  offload?: boolean;
}

/** Options of {@link createMemoryPair}. */
export interface MemoryPairOptions {
  /** MTU of both ends (default 1500). */
  mtu?: number;
  /** MAC of the first device (default random). */
  macA?: Uint8Array;
  /** MAC of the second device (default random). */
  macB?: Uint8Array;
  /** Label of the first device (default "memA"). */
  nameA?: string;
  /** Label of the second device (default "memB"). */
  nameB?: string;
  /** Receive ring length of each end, in frames (default 256). */
  queueLength?: number;
  /** Keep copies of sent frames in each device's `sent` (default false). */
  capture?: boolean;
  /** Both ends carry offload metadata (see {@link MemoryDeviceOptions.offload}). */
  offload?: boolean;
}

/** An observer of sent frames: the bytes are only valid during the call. */
export type SendObserver = (buf: Uint8Array, off: number, len: number) => void;

function randomLocalMac(): Uint8Array {
  const mac = crypto.getRandomValues(new Uint8Array(6));
  mac[0] = (mac[0] & 0xfc) | 0x02; // unicast, locally administered (IEEE 802)
  return mac;
}

/** One end of an in-memory cable (or a lone device, when it has no peer). */
export class MemoryDevice implements Device {
  /** The device's label. */
  readonly name: string;
  /** The device's MAC. */
  readonly mac: Uint8Array;
  /** The MTU; frames longer than mtu + 18 are dropped. */
  readonly mtu: number;
  /** Counters. */
  readonly stats: DeviceStats = newDeviceStats();
  /** Copies of the frames this device sent, when created with `capture: true`. */
  readonly sent: Uint8Array[] = [];
  /** With `capture` and `offload`: the metadata each frame in `sent` was sent with (copies). */
  readonly sentOffload: FrameOffload[] = [];
  /** Metadata of the frame being handed to run()'s handler (offload devices only). */
  readonly rxOffload?: FrameOffload;
  /** True with `offload`: send() takes each frame's metadata and carries it to the peer. */
  readonly txOffloads: boolean;
  /** Called for every frame this device sent (after it was accepted), e.g. by a test. */
  onSend: SendObserver | null = null;
  /** Exceptions thrown by the run() handlers so far. */
  handlerErrors = 0;

  #peer: MemoryDevice | null = null;
  readonly #capture: boolean;
  readonly #maxFrame: number;
  readonly #slotSize: number;
  readonly #capacity: number;
  /** The receive ring: `capacity` slots of `slotSize` bytes, one frame each at RX_OFFSET. */
  readonly #ring: Uint8Array;
  readonly #lens: Uint32Array;
  /** Offload metadata per slot (META numbers each), or null without offload. */
  readonly #meta: Uint16Array | null;
  #head = 0;
  #count = 0;
  #closed = false;
  #running = false;
  #wake: (() => void) | null = null;

  /** A lone device; use {@link createMemoryPair} for a connected pair. */
  constructor(options: MemoryDeviceOptions = {}) {
    const mtu = options.mtu ?? 1500;
    if (!Number.isInteger(mtu) || mtu < 68 || mtu > 0xffff) {
      throw new DeviceError(`MTU ${mtu} is out of range`, { hint: "use an integer 68..65535" });
    }
    const offload = options.offload === true;
    const capacity = options.queueLength ?? (offload ? DEFAULT_OFFLOAD_QUEUE : DEFAULT_QUEUE);
    if (!Number.isInteger(capacity) || capacity < 1) {
      throw new DeviceError(`queueLength ${capacity} must be a positive integer`);
    }
    if (options.mac !== undefined && options.mac.length !== 6) {
      throw new DeviceError(`a MAC address has 6 bytes, got ${options.mac.length}`);
    }
    this.name = options.name ?? "mem0";
    this.mtu = mtu;
    this.mac = options.mac === undefined ? randomLocalMac() : new Uint8Array(options.mac);
    this.#capture = options.capture ?? false;
    this.#maxFrame = mtu + LINK_OVERHEAD;
    // Slots rounded up to 8 bytes so every slot keeps the RX_OFFSET alignment.
    const slotFrame = offload && MAX_GSO_FRAME > this.#maxFrame ? MAX_GSO_FRAME : this.#maxFrame;
    this.#slotSize = (RX_OFFSET + slotFrame + 7) & ~7;
    this.#capacity = capacity;
    this.#ring = new Uint8Array(this.#slotSize * capacity);
    this.#lens = new Uint32Array(capacity);
    this.#meta = offload ? new Uint16Array(capacity * META) : null;
    this.txOffloads = offload;
    if (offload) this.rxOffload = newFrameOffload();
  }

  /** The device at the other end of the cable, or null. */
  get peer(): MemoryDevice | null {
    return this.#peer;
  }

  /** Frames waiting in the receive ring. */
  get queued(): number {
    return this.#count;
  }

  /** True once close() was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Connects two devices back to back (used by createMemoryPair). */
  static connect(a: MemoryDevice, b: MemoryDevice): void {
    a.#peer = b;
    b.#peer = a;
  }

  /**
   * Delivers `bytes[off .. off+len)` to this device's run() handler as if it had been received
   * (copied; asynchronous), with `offload` as its metadata on an offload device (a super-frame
   * needs `gsoType` set). False (and `rxDropped` counted) when closed, full or malformed-size.
   */
  inject(
    bytes: Uint8Array,
    off = 0,
    len: number = bytes.length - off,
    offload: FrameOffload | null = null,
  ): boolean {
    if (!this.#enqueue(bytes, off, len, offload)) {
      this.stats.rxDropped++;
      return false;
    }
    return true;
  }

  /**
   * Copies the frame into the peer's receive ring. False (and `txDropped` counted) when this
   * device or the peer is closed, the peer's ring is full, the range is outside `buf`, or the
   * frame is shorter than 14 bytes or longer than mtu + 18 (65535 + 18 for a super-frame of an
   * offload device). Without a peer, a valid frame is counted as sent and goes nowhere (an
   * unplugged cable) except to `sent`/`onSend`. On an offload device `offload` goes with the frame
   * (read, never changed); a device without offloads drops a frame whose metadata asks for work.
   */
  send(buf: Uint8Array, off: number, len: number, offload: FrameOffload | null = null): boolean {
    const peer = this.#peer;
    const tx = this.txOffloads ? offload : null;
    const max = tx !== null && tx.gsoType !== 0 ? MAX_GSO_FRAME : this.#maxFrame;
    if (
      this.#closed || (tx === null && offload !== null && hasOffload(offload)) ||
      len < ETH_HEADER || len > max || off < 0 || off + len > buf.length ||
      (peer !== null && !peer.#enqueue(buf, off, len, tx))
    ) {
      this.stats.txDropped++;
      return false;
    }
    this.stats.txFrames++;
    this.stats.txBytes += len;
    if (this.#capture) {
      this.sent.push(buf.slice(off, off + len));
      if (this.txOffloads) {
        const copy = newFrameOffload();
        if (tx !== null) copyOffload(tx, copy);
        this.sentOffload.push(copy);
      }
    }
    if (this.onSend !== null) this.onSend(buf, off, len);
    return true;
  }

  /** Removes and returns the captured sent frames. */
  takeSent(): Uint8Array[] {
    return this.sent.splice(0, this.sent.length);
  }

  /** Removes and returns the metadata of the captured sent frames (offload devices). */
  takeSentOffload(): FrameOffload[] {
    return this.sentOffload.splice(0, this.sentOffload.length);
  }

  #enqueue(buf: Uint8Array, off: number, len: number, o: FrameOffload | null): boolean {
    const meta = this.#meta;
    // A super-frame reaches only a device that takes them (as a TAP without TSO never gets one).
    const max = meta !== null && o !== null && o.gsoType !== 0 ? MAX_GSO_FRAME : this.#maxFrame;
    if (
      this.#closed || this.#count === this.#capacity || len < ETH_HEADER ||
      len > max || off < 0 || off + len > buf.length
    ) {
      return false;
    }
    let slot = this.#head + this.#count;
    if (slot >= this.#capacity) slot -= this.#capacity;
    copyBytes(buf, off, this.#ring, slot * this.#slotSize + RX_OFFSET, len);
    this.#lens[slot] = len;
    if (meta !== null) {
      const m = slot * META;
      if (o === null) {
        meta.fill(0, m, m + META);
      } else {
        storeOffload(meta, m, o);
      }
    }
    this.#count++;
    const wake = this.#wake;
    if (wake !== null) {
      this.#wake = null;
      wake();
    }
    return true;
  }

  /**
   * Delivers queued frames until close(): each wake-up drains the ring (frames queued by the
   * handlers themselves included), then calls onIdle. Frames are passed as `(ring, slot + 2,
   * length)` and are valid only during the call.
   */
  async run(onFrame: FrameHandler, onIdle?: () => void): Promise<void> {
    if (this.#running) throw new Error(`${this.name}: run() is already active`);
    this.#running = true;
    const ring = this.#ring;
    const lens = this.#lens;
    const meta = this.#meta;
    const rxOffload = this.rxOffload;
    const stats = this.stats;
    let bursts = 0;
    try {
      while (!this.#closed) {
        if (this.#count === 0) {
          await new Promise<void>((resolve) => {
            this.#wake = resolve;
          });
          continue;
        }
        while (this.#count > 0 && !this.#closed) {
          const slot = this.#head;
          const len = lens[slot];
          stats.rxFrames++;
          stats.rxBytes += len;
          if (meta !== null && rxOffload !== undefined) {
            loadOffload(meta, slot * META, rxOffload);
          }
          try {
            onFrame(ring, slot * this.#slotSize + RX_OFFSET, len);
          } catch (err) {
            reportHandlerError(this.name, err, ++this.handlerErrors);
          }
          // The slot is released only after the handler returned: until then it is the frame.
          this.#head = slot + 1 === this.#capacity ? 0 : slot + 1;
          this.#count--;
        }
        if (onIdle !== undefined) {
          try {
            onIdle();
          } catch (err) {
            reportHandlerError(this.name, err, ++this.handlerErrors);
          }
        }
        if (++bursts % MICROTASK_BURSTS === 0) {
          await new Promise<void>((resolve) => setTimeout(resolve, 0));
        }
      }
    } finally {
      this.#running = false;
      this.#wake = null;
    }
  }

  /** Stops run() (it resolves), discards queued frames; later sends to it are dropped. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#count = 0;
    const wake = this.#wake;
    this.#wake = null;
    if (wake !== null) wake();
  }
}

/**
 * Two devices joined by a virtual cable: what one sends, the other's run() receives.
 * Returns `[a, b]`.
 */
export function createMemoryPair(options: MemoryPairOptions = {}): [MemoryDevice, MemoryDevice] {
  const common = {
    mtu: options.mtu,
    queueLength: options.queueLength,
    capture: options.capture,
    offload: options.offload,
  };
  const a = new MemoryDevice({ ...common, name: options.nameA ?? "memA", mac: options.macA });
  const b = new MemoryDevice({ ...common, name: options.nameB ?? "memB", mac: options.macB });
  MemoryDevice.connect(a, b);
  return [a, b];
}

/** A lone device with no peer, e.g. to capture what a stack sends (`capture: true`). */
export function createMemoryDevice(options: MemoryDeviceOptions = {}): MemoryDevice {
  return new MemoryDevice(options);
}
