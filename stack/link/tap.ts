/**
 * A Linux TAP device driven through libc FFI: the stack's link to the kernel.
 *
 * The receive loop follows measurements of the ways Deno can read a TAP (docs/BENCHMARKS.md,
 * "TAP receive loop"): synchronous FFI `read()` on an `O_NONBLOCK` fd into one preallocated buffer, drained
 * until EAGAIN (1.5-1.7 M frames/s, ~80% of C), and a `nonblocking: true` FFI `poll()` awaited only
 * when the queue is empty. A nonblocking FFI call per frame would be ten times slower.
 *
 * With `offload: true` the TAP is opened with `IFF_VNET_HDR` and TUNSETOFFLOAD(CSUM|TSO4|TSO6):
 * every read and write carries the 10-byte `virtio_net_hdr` (offload.ts), the kernel hands over
 * TCP super-frames of up to 64 KB with partial checksums, and takes super-frames it segments
 * itself (measured ~20 Gbit/s against ~4-5 with 1514-byte frames; docs/BENCHMARKS.md).
 *
 * @module
 */

import { type Device, type DeviceStats, type FrameHandler, newDeviceStats } from "./device.ts";
import { DeviceError, reportHandlerError } from "./errors.ts";
import {
  type FrameOffload,
  hasOffload,
  MAX_GSO_FRAME,
  newFrameOffload,
  readVnetHeader,
  TUN_F_CSUM,
  TUN_F_TSO4,
  TUN_F_TSO6,
  VNET_HDR_LEN,
  writeVnetHeader,
} from "./offload.ts";
import {
  AF_INET,
  cString,
  describeErrno,
  EFD_CLOEXEC,
  EFD_NONBLOCK,
  Errno,
  libc,
  type LibcSymbols,
  O_CLOEXEC,
  O_NONBLOCK,
  O_RDWR,
  POLLIN,
  setPollFd,
  SOCK_CLOEXEC,
  SOCK_DGRAM,
} from "../sys/libc.ts";

// <linux/if_tun.h>
const TUNSETIFF = 0x400454can;
const IFF_TAP = 0x0002;
const IFF_NO_PI = 0x1000;
const IFF_VNET_HDR = 0x4000;
/** `_IOW('T', 208, unsigned int)`: the offload flags, passed as the value itself. */
const TUNSETOFFLOAD = 0x400454d0n;
// <linux/sockios.h>
const SIOCGIFFLAGS = 0x8913n;
const SIOCSIFFLAGS = 0x8914n;
const SIOCGIFMTU = 0x8921n;
const SIOCSIFMTU = 0x8922n;
const SIOCGIFINDEX = 0x8933n;
// <net/if.h>
const IFF_UP = 0x1;
/** IFNAMSIZ is 16 including the terminating NUL. */
const IFNAMSIZ = 16;
/** `struct ifreq` is 40 bytes on 64-bit Linux: name[16], then a 24-byte union. */
const IFREQ_SIZE = 40;

/**
 * Frames are read at this offset so that the IPv4 header (after the 14-byte Ethernet header)
 * starts 4-byte aligned, which lets checksum code read 32-bit words.
 */
const RX_OFFSET = 2;
/**
 * With a vnet header, reads start here: the 10-byte header at 8..18, the frame at 18, so the IP
 * header is 4-byte aligned as without it.
 */
const RX_VNET_AT = 8;
const RX_VNET_FRAME = RX_VNET_AT + VNET_HDR_LEN;
/** Ethernet header (14) plus one 802.1Q tag (4): a frame may exceed the MTU by this much. */
const LINK_OVERHEAD = 18;
const ETH_HEADER = 14;
/**
 * Large enough for any frame the kernel can hand over at the largest MTU (65535), or any
 * super-frame (a 65535-byte datagram) behind a vnet header.
 */
const RX_BUFFER_BYTES = RX_VNET_FRAME + 0xffff + LINK_OVERHEAD;
/**
 * The transmit staging buffer of the vnet path, for frames without 10 bytes of headroom: the
 * header, then the frame at an offset congruent to the source's modulo 4 (12..15), so the copy
 * runs in 32-bit words (a whole number of words long, for the word view).
 */
const TX_STAGE_BYTES = (16 + MAX_GSO_FRAME + 3) & ~3;
/** Below this many bytes the staging copy is a byte loop. */
const WORD_COPY_MIN = 64;
/**
 * Frames handled before the loop yields to the event loop even if more are queued, so timers
 * and the control socket still run under a flood. onIdle runs at that point too (a flush point):
 * a burst shorter than this means the queue was drained.
 */
export const TAP_BURST_LIMIT = 1024;
const BURST_LIMIT = TAP_BURST_LIMIT;
/**
 * How often an unreferenced loop (`unref()`) looks for frames: Deno cannot unreference a pending
 * FFI call, so the loop waits on an unreferenced timer instead of poll().
 */
export const UNREF_POLL_MS = 2;

/** Resolves after `ms` on a timer that does not keep the program alive. */
function unrefSleep(ms: number): Promise<void> {
  return new Promise((resolve) => Deno.unrefTimer(setTimeout(resolve, ms)));
}

/** Backstop for noticing close() if the eventfd wake-up were lost. */
const POLL_TIMEOUT_MS = 200;

const MIN_MTU = 68; // RFC 791: every internet module must forward a 68-byte datagram.
const MAX_MTU = 0xffff;

/** Options of {@link TapDevice.open}. */
export interface TapOptions {
  /** Interface name, at most 15 bytes (may contain `%d` for a kernel-chosen number). */
  name: string;
  /** MTU to set on the interface; when absent the interface's current MTU is kept (1500 new). */
  mtu?: number;
  /** The stack's own MAC; random locally administered when absent. */
  mac?: Uint8Array;
  /**
   * Default false: only attach to an existing TAP (e.g. `ip tuntap add dev tap0 mode tap`), and
   * fail with a hint if there is none, so a typo in the name does not quietly make a new,
   * unconfigured interface. True: attach if it exists, else create it (non-persistent).
   */
  create?: boolean;
  /**
   * `IFF_VNET_HDR` and TUNSETOFFLOAD(CSUM|TSO4|TSO6): frames carry offload metadata
   * (`rxOffload`, `send()`'s `offload`), TCP super-frames cross whole (see offload.ts), several
   * times the throughput of 1514-byte frames. Default: on where the kernel accepts it, else
   * without (`offloadFlags` tells which). True: required (an error if refused). False: off.
   */
  offload?: boolean;
}

/**
 * The TUNSETIFF flags. An Ethernet TAP without the 4-byte packet-information prefix; with
 * `vnet`, every read and write is prefixed with the 10-byte virtio_net_hdr (IFF_VNET_HDR), which
 * TUNSETOFFLOAD needs to be useful.
 */
function tapFlags(vnet: boolean): number {
  return IFF_TAP | IFF_NO_PI | (vnet ? IFF_VNET_HDR : 0);
}

/** ioctl(2) with an integer third argument (TUNSETOFFLOAD takes the flags as the value). */
const IOCTL_VALUE = {
  ioctl: { parameters: ["i32", "u64", "u64"], result: "i32" },
} as const satisfies Deno.ForeignLibraryInterface;
let ioctlValueLib: Deno.DynamicLibrary<typeof IOCTL_VALUE> | null = null;

/**
 * TUNSETOFFLOAD(flags) on `fd`; 0 or -1 (errno set). libc.ts binds ioctl with a buffer
 * argument, so this one binding of the integer form is opened on first use (at open, never per
 * frame; libc() has already proven FFI is allowed).
 */
function setOffload(fd: number, flags: number): number {
  ioctlValueLib ??= Deno.dlopen("libc.so.6", IOCTL_VALUE);
  return ioctlValueLib.symbols.ioctl(fd, TUNSETOFFLOAD, BigInt(flags));
}

/**
 * Offload flag sets tried in order: everything the device handles, then checksums only (a
 * kernel that refuses TSO still saves the checksum work), then none.
 */
const OFFLOAD_CHOICES = [TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6, TUN_F_CSUM, 0];

/** A random unicast, locally administered MAC (IEEE 802: bit 1 of byte 0 set, bit 0 clear). */
function randomLocalMac(): Uint8Array {
  const mac = crypto.getRandomValues(new Uint8Array(6));
  mac[0] = (mac[0] & 0xfc) | 0x02;
  return mac;
}

/** Why `name` is not a valid Linux interface name (net/core/dev.c dev_valid_name), or null. */
export function checkInterfaceName(name: string): string | null {
  const bytes = new TextEncoder().encode(name).length;
  if (bytes === 0) return "interface name is empty";
  if (bytes >= IFNAMSIZ) {
    return `interface name "${name}" is too long (${bytes} bytes; at most ${IFNAMSIZ - 1})`;
  }
  if (name === "." || name === "..") return `interface name "${name}" is not allowed`;
  if (/[/:\s]/.test(name)) {
    return `interface name "${name}" contains '/', ':' or whitespace`;
  }
  return null;
}

function ifreqFor(name: string): Uint8Array {
  const req = new Uint8Array(IFREQ_SIZE);
  req.set(new TextEncoder().encode(name));
  return req;
}

function ifreqName(req: Uint8Array): string {
  let end = 0;
  while (end < IFNAMSIZ && req[end] !== 0) end++;
  return new TextDecoder().decode(req.subarray(0, end));
}

function readI32(req: Uint8Array, off: number): number {
  return req[off] | (req[off + 1] << 8) | (req[off + 2] << 16) | (req[off + 3] << 24);
}

function writeI32(req: Uint8Array, off: number, v: number): void {
  req[off] = v & 0xff;
  req[off + 1] = (v >>> 8) & 0xff;
  req[off + 2] = (v >>> 16) & 0xff;
  req[off + 3] = (v >>> 24) & 0xff;
}

/** Opens /dev/net/tun, translating the usual failures into actionable errors. */
function openTun(sym: LibcSymbols, errno: Int32Array): number {
  const fd = sym.open(cString("/dev/net/tun"), O_RDWR | O_NONBLOCK | O_CLOEXEC, 0);
  if (fd >= 0) return fd;
  const e = errno[0];
  if (e === Errno.ENOENT || e === Errno.ENODEV || e === Errno.ENXIO) {
    throw new DeviceError(`cannot open /dev/net/tun: ${describeErrno(e)}`, {
      hint: "load the tun module: modprobe tun",
      errno: e,
    });
  }
  if (e === Errno.EACCES || e === Errno.EPERM) {
    throw new DeviceError(`cannot open /dev/net/tun: ${describeErrno(e)}`, {
      hint: "needs CAP_NET_ADMIN: run as root or grant cap_net_admin",
      errno: e,
    });
  }
  throw new DeviceError(`cannot open /dev/net/tun: ${describeErrno(e)}`, { errno: e });
}

/** The error for a failed TUNSETIFF on `name`. */
function tunSetIffError(name: string, e: number): DeviceError {
  const what = `cannot attach TAP ${name}: ${describeErrno(e)}`;
  if (e === Errno.EPERM || e === Errno.EACCES) {
    return new DeviceError(what, {
      hint: "needs CAP_NET_ADMIN: run as root or grant cap_net_admin " +
        "(a persistent TAP may also belong to another user or group)",
      errno: e,
    });
  }
  if (e === Errno.EBUSY) {
    return new DeviceError(what, {
      hint: `TAP ${name} is already attached to another process (a single-queue TAP has one ` +
        "reader): stop that process or pick another name",
      errno: e,
    });
  }
  if (e === Errno.EINVAL) {
    return new DeviceError(what, {
      hint: `a device named ${name} exists but is not a TAP with matching flags ` +
        `(tap, no packet info, single queue): delete it (ip link del ${name}) or pick another name`,
      errno: e,
    });
  }
  return new DeviceError(what, { errno: e });
}

/**
 * A TAP interface as a {@link Device}. `mac` is the stack's own address, not the kernel's: the
 * kernel side of a TAP is a different host on the same Ethernet segment.
 */
export class TapDevice implements Device {
  /** The interface name (as the kernel reports it after attaching). */
  readonly name: string;
  /** The stack's MAC (source of every frame it sends). */
  readonly mac: Uint8Array;
  /** The interface MTU. */
  readonly mtu: number;
  /** Counters. */
  readonly stats: DeviceStats = newDeviceStats();
  /** Exceptions thrown by the run() handlers so far (reported, then only counted). */
  handlerErrors = 0;
  /** Metadata of the frame being handed to onFrame (offload on only; see device.ts). */
  readonly rxOffload?: FrameOffload;
  /** True with offload on: send() writes each frame's metadata in its virtio-net header. */
  readonly txOffloads: boolean;
  /** The TUNSETOFFLOAD flags in force (TUN_F_*; 0 without offload or when the kernel refused). */
  readonly offloadFlags: number;

  #fd: number;
  #wakeFd: number;
  #closed = false;
  #running = false;
  /** Whether the receive loop keeps the program alive (`ref()`/`unref()`). */
  #refed = true;
  readonly #maxFrame: number;
  /** True with IFF_VNET_HDR: every read and write carries the 10-byte header. */
  readonly #vnet: boolean;
  readonly #sym: LibcSymbols;
  readonly #errno: Int32Array;
  /** The receive buffer; frames start at RX_OFFSET (RX_VNET_FRAME behind a vnet header). */
  readonly #rx = new Uint8Array(RX_BUFFER_BYTES);
  /** `#rx` from where read() fills it (RX_OFFSET, or RX_VNET_AT), made once. */
  readonly #rxView: Uint8Array;
  /** The address of `#rxView`'s first byte, for the pointer form of read() (see #ptrAt). */
  readonly #rxPtr: Deno.PointerValue;
  /** The vnet path's staging buffer and its word view (allocated only with offload). */
  readonly #stage: Uint8Array | null;
  readonly #stageWords: Uint32Array | null;
  /** 32-bit views of the last source buffers staged from (no view is made per frame). */
  readonly #srcBuffers: (ArrayBufferLike | null)[] = [null, null, null, null];
  readonly #srcWords: (Uint32Array | null)[] = [null, null, null, null];
  #srcNext = 0;
  /** The header of a frame sent without metadata (all zero: plain), never changed. */
  readonly #plain: FrameOffload = newFrameOffload();
  /** The 10 bytes of the caller's buffer under an in-place header, restored after write(). */
  readonly #saved = new Uint8Array(VNET_HDR_LEN);
  /** Two `struct pollfd`: the TAP (POLLIN) and the close() wake-up eventfd (POLLIN). */
  readonly #pollFds = new Uint8Array(16);
  /** 8 bytes for the eventfd counter. */
  readonly #wakeBuf = new Uint8Array(8);
  // A small cache of the addresses of `buf[off]` for send(), so sending from a fixed buffer at a
  // fixed offset (the stack's output buffers, the receive buffer when forwarding) allocates
  // nothing after the first frame. Four entries, replaced round-robin; an entry holds its buffer,
  // so the memory it points into stays alive.
  readonly #txBufs: (Uint8Array | null)[] = [null, null, null, null];
  readonly #txOffs: number[] = [0, 0, 0, 0];
  readonly #txPtrs: Deno.PointerValue[] = [null, null, null, null];
  #txNext = 0;

  private constructor(
    name: string,
    fd: number,
    wakeFd: number,
    mtu: number,
    mac: Uint8Array,
    sym: LibcSymbols,
    errno: Int32Array,
    vnet: boolean,
    offloadFlags: number,
  ) {
    this.name = name;
    this.#fd = fd;
    this.#wakeFd = wakeFd;
    this.mtu = mtu;
    this.mac = mac;
    this.#maxFrame = mtu + LINK_OVERHEAD;
    this.#vnet = vnet;
    this.offloadFlags = offloadFlags;
    this.txOffloads = vnet;
    this.#rxView = this.#rx.subarray(vnet ? RX_VNET_AT : RX_OFFSET);
    this.#rxPtr = Deno.UnsafePointer.of(this.#rxView);
    if (vnet) {
      this.rxOffload = newFrameOffload();
      this.#stage = new Uint8Array(TX_STAGE_BYTES);
      this.#stageWords = new Uint32Array(this.#stage.buffer);
    } else {
      this.#stage = null;
      this.#stageWords = null;
    }
    this.#sym = sym;
    this.#errno = errno;
    setPollFd(this.#pollFds, 0, fd, POLLIN);
    setPollFd(this.#pollFds, 1, wakeFd, POLLIN);
  }

  /**
   * Attaches to the TAP `options.name` (creates it with `create: true`), sets its MTU if given
   * and brings the link up, all through ioctls (no `ip` process). Needs `--allow-ffi` and CAP_NET_ADMIN; throws a
   * {@link DeviceError} with a hint otherwise.
   */
  static open(options: TapOptions): TapDevice {
    const bad = checkInterfaceName(options.name);
    if (bad !== null) {
      throw new DeviceError(bad, { hint: "pick a name of at most 15 characters, e.g. lb0" });
    }
    if (options.mtu !== undefined) {
      if (!Number.isInteger(options.mtu) || options.mtu < MIN_MTU || options.mtu > MAX_MTU) {
        throw new DeviceError(`MTU ${options.mtu} is out of range`, {
          hint: `use an integer from ${MIN_MTU} to ${MAX_MTU}`,
        });
      }
    }
    if (options.mac !== undefined && options.mac.length !== 6) {
      throw new DeviceError(`a MAC address has 6 bytes, got ${options.mac.length}`);
    }
    const { symbols: sym, errno } = libc();
    const sock = sym.socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (sock < 0) {
      const e = errno[0];
      throw new DeviceError(`cannot make a socket for interface ioctls: ${describeErrno(e)}`, {
        errno: e,
      });
    }
    let fd = -1;
    let wakeFd = -1;
    try {
      if (options.create !== true) {
        if (sym.ioctl(sock, SIOCGIFINDEX, ifreqFor(options.name)) < 0) {
          const e = errno[0];
          throw new DeviceError(`no network device named ${options.name}: ${describeErrno(e)}`, {
            hint:
              `create it (ip tuntap add dev ${options.name} mode tap) or open with create: true`,
            errno: e,
          });
        }
      }
      fd = openTun(sym, errno);
      const req = ifreqFor(options.name);
      let vnet = options.offload !== false;
      let flags = tapFlags(vnet);
      req[16] = flags & 0xff;
      req[17] = (flags >>> 8) & 0xff;
      if (sym.ioctl(fd, TUNSETIFF, req) < 0) {
        const e = errno[0];
        // Offloads by default only where the kernel takes them: an interface that refuses the
        // vnet header is attached without it.
        if (options.offload !== undefined || e !== Errno.EINVAL) {
          throw tunSetIffError(options.name, e);
        }
        vnet = false;
        flags = tapFlags(false);
        req.fill(0);
        req.set(ifreqFor(options.name));
        req[16] = flags & 0xff;
        req[17] = (flags >>> 8) & 0xff;
        if (sym.ioctl(fd, TUNSETIFF, req) < 0) throw tunSetIffError(options.name, errno[0]);
      }
      const name = ifreqName(req);
      // Offloads are a property of the (possibly persistent) interface, not of this fd: set them
      // explicitly either way, so a reader without the vnet header never gets super-frames a
      // previous offload user left enabled.
      let offloadFlags = 0;
      for (const choice of vnet ? OFFLOAD_CHOICES : [0]) {
        if (setOffload(fd, choice) === 0) {
          offloadFlags = choice;
          break;
        }
        if (choice === 0) {
          const e = errno[0];
          throw new DeviceError(`cannot set the offloads of ${name}: ${describeErrno(e)}`, {
            errno: e,
          });
        }
      }
      const mtu = TapDevice.#configureLink(sym, errno, sock, name, options.mtu);
      wakeFd = sym.eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
      if (wakeFd < 0) {
        const e = errno[0];
        throw new DeviceError(`eventfd failed: ${describeErrno(e)}`, { errno: e });
      }
      const mac = options.mac === undefined ? randomLocalMac() : new Uint8Array(options.mac);
      const dev = new TapDevice(name, fd, wakeFd, mtu, mac, sym, errno, vnet, offloadFlags);
      fd = -1; // owned by dev now
      wakeFd = -1;
      return dev;
    } finally {
      sym.close(sock);
      if (fd >= 0) sym.close(fd);
      if (wakeFd >= 0) sym.close(wakeFd);
    }
  }

  /** Sets the MTU (or reads it) and brings the link up; returns the MTU in force. */
  static #configureLink(
    sym: LibcSymbols,
    errno: Int32Array,
    sock: number,
    name: string,
    mtu: number | undefined,
  ): number {
    const req = ifreqFor(name);
    if (mtu !== undefined) {
      writeI32(req, 16, mtu);
      if (sym.ioctl(sock, SIOCSIFMTU, req) < 0) {
        const e = errno[0];
        throw new DeviceError(`cannot set MTU ${mtu} on ${name}: ${describeErrno(e)}`, {
          hint: e === Errno.EINVAL ? `the kernel refuses MTU ${mtu} for a TAP` : undefined,
          errno: e,
        });
      }
    }
    req.fill(0, 16);
    if (sym.ioctl(sock, SIOCGIFMTU, req) < 0) {
      const e = errno[0];
      throw new DeviceError(`cannot read the MTU of ${name}: ${describeErrno(e)}`, { errno: e });
    }
    const actual = readI32(req, 16);
    req.fill(0, 16);
    if (sym.ioctl(sock, SIOCGIFFLAGS, req) < 0) {
      const e = errno[0];
      throw new DeviceError(`cannot read the flags of ${name}: ${describeErrno(e)}`, { errno: e });
    }
    if ((req[16] & IFF_UP) === 0) {
      req[16] |= IFF_UP;
      if (sym.ioctl(sock, SIOCSIFFLAGS, req) < 0) {
        const e = errno[0];
        throw new DeviceError(`cannot bring ${name} up: ${describeErrno(e)}`, { errno: e });
      }
    }
    return actual;
  }

  /** The TAP file descriptor (-1 once closed), e.g. to hand to a Worker. */
  get fd(): number {
    return this.#fd;
  }

  /** True once close() was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Receives until close(): drains every queued frame (synchronous read() until EAGAIN, at most
   * BURST_LIMIT at a time), calls `onIdle`, then awaits a poll() on a worker thread. Frames are
   * passed as `(buffer, 2, length)` (`(buffer, 18, length)` behind a vnet header, whose fields
   * are then in `rxOffload`): the IP header after the Ethernet header is 4-byte aligned.
   */
  async run(onFrame: FrameHandler, onIdle?: () => void): Promise<void> {
    if (this.#running) throw new Error(`${this.name}: run() is already active`);
    this.#running = true;
    const read = this.#sym.readPtr;
    const pollAsync = this.#sym.pollAsync;
    const errno = this.#errno;
    const rx = this.#rx;
    const rxPtr = this.#rxPtr;
    const cap = this.#rxView.length;
    const stats = this.stats;
    // Behind a vnet header the frame starts 10 bytes later and is 10 bytes shorter than the read.
    const vnet = this.#vnet;
    const hdr = vnet ? VNET_HDR_LEN : 0;
    const frameAt = vnet ? RX_VNET_FRAME : RX_OFFSET;
    const rxOffload = this.rxOffload;
    try {
      while (!this.#closed) {
        let burst = 0;
        while (burst < BURST_LIMIT && !this.#closed) {
          const n = read(this.#fd, rxPtr, cap);
          if (n < 0) {
            const e = errno[0];
            if (e === Errno.EAGAIN) break;
            if (e === Errno.EINTR) continue;
            if (!this.#closed) {
              // EBADFD/EIO: the TAP was detached or destroyed under us; nothing more will come.
              console.error(`${this.name}: read failed: ${describeErrno(e)}; closing the device`);
              this.close();
            }
            break;
          }
          burst++;
          const len = n - hdr;
          if (len < ETH_HEADER) {
            stats.rxDropped++;
            continue;
          }
          if (vnet) readVnetHeader(rx, RX_VNET_AT, rxOffload as FrameOffload);
          stats.rxFrames++;
          stats.rxBytes += len;
          try {
            onFrame(rx, frameAt, len);
          } catch (err) {
            reportHandlerError(this.name, err, ++this.handlerErrors);
          }
        }
        if (onIdle !== undefined) {
          try {
            onIdle();
          } catch (err) {
            reportHandlerError(this.name, err, ++this.handlerErrors);
          }
        }
        if (this.#closed) break;
        // Waits for the next frame (or, after a full burst, just yields to the event loop: the
        // poll returns at once). errno is not readable after a nonblocking call (other thread),
        // and none is needed: EINTR or a timeout simply loops.
        if (this.#refed) await pollAsync(this.#pollFds, 2, POLL_TIMEOUT_MS);
        else await unrefSleep(UNREF_POLL_MS);
      }
    } finally {
      this.#running = false;
      if (this.#closed && this.#wakeFd >= 0) {
        this.#sym.close(this.#wakeFd);
        this.#wakeFd = -1;
      }
    }
  }

  /**
   * The receive loop keeps the program alive again (the default): it waits for frames in a
   * poll() on a worker thread, a pending operation Deno waits for.
   */
  ref(): void {
    this.#refed = true;
  }

  /**
   * The receive loop stops keeping the program alive: instead of an awaited poll() (an operation
   * Deno would wait for) it checks the queue every {@link UNREF_POLL_MS} ms on an unreferenced
   * timer. A poll already under way still holds the program for at most its 200 ms timeout.
   */
  unref(): void {
    this.#refed = false;
  }

  /**
   * Writes one frame with a synchronous write(). False (and `txDropped` counted) when the kernel
   * queue is full (EAGAIN/ENOBUFS), the device is closed, the range is outside `buf`, or the frame
   * is shorter than an Ethernet header or longer than mtu + 18 (65535 + 18 for a super-frame).
   * With offload, the frame goes behind the header made from `offload` (all zero when null);
   * without, a frame whose metadata asks for work (a partial checksum, a GSO type) is dropped.
   */
  send(buf: Uint8Array, off: number, len: number, offload: FrameOffload | null = null): boolean {
    if (this.#vnet) return this.#sendVnet(buf, off, len, offload ?? this.#plain);
    if (
      this.#closed || len < ETH_HEADER || len > this.#maxFrame || off < 0 ||
      off + len > buf.length || (offload !== null && hasOffload(offload))
    ) {
      this.stats.txDropped++;
      return false;
    }
    const n = this.#sym.writePtr(this.#fd, this.#ptrAt(buf, off), len);
    if (n !== len) {
      // EAGAIN/ENOBUFS: queue full; EIO: link down. All are a dropped frame, not an exception.
      this.stats.txDropped++;
      return false;
    }
    this.stats.txFrames++;
    this.stats.txBytes += len;
    return true;
  }

  /**
   * The vnet path of send(): the header goes into the 10 bytes before the frame when the caller
   * left that headroom (saved and restored around the write, so the caller's bytes are intact),
   * else header and frame are copied into the staging buffer. One write() either way. `tx` is
   * only read.
   */
  #sendVnet(buf: Uint8Array, off: number, len: number, tx: FrameOffload): boolean {
    const max = tx.gsoType !== 0 ? MAX_GSO_FRAME : this.#maxFrame;
    if (this.#closed || len < ETH_HEADER || len > max || off < 0 || off + len > buf.length) {
      this.stats.txDropped++;
      return false;
    }
    let n: number;
    if (off >= VNET_HDR_LEN) {
      const at = off - VNET_HDR_LEN;
      const saved = this.#saved;
      for (let i = 0; i < VNET_HDR_LEN; i++) saved[i] = buf[at + i];
      writeVnetHeader(buf, at, tx);
      n = this.#sym.writePtr(this.#fd, this.#ptrAt(buf, at), len + VNET_HDR_LEN);
      for (let i = 0; i < VNET_HDR_LEN; i++) buf[at + i] = saved[i];
    } else {
      const stage = this.#stage as Uint8Array;
      const at = this.#stageFrame(buf, off, len) - VNET_HDR_LEN;
      writeVnetHeader(stage, at, tx);
      n = this.#sym.writePtr(this.#fd, this.#ptrAt(stage, at), len + VNET_HDR_LEN);
    }
    if (n !== len + VNET_HDR_LEN) {
      this.stats.txDropped++;
      return false;
    }
    this.stats.txFrames++;
    this.stats.txBytes += len;
    return true;
  }

  /**
   * Copies `buf[off .. off+len)` into the staging buffer at an offset (12..15) congruent to the
   * source's address modulo 4, in 32-bit words for the aligned middle; returns that offset.
   */
  #stageFrame(buf: Uint8Array, off: number, len: number): number {
    const stage = this.#stage as Uint8Array;
    const s = buf.byteOffset + off;
    const at = 12 + (s & 3);
    const src = len >= WORD_COPY_MIN ? this.#wordsOf(buf) : null;
    if (src === null) {
      for (let i = 0; i < len; i++) stage[at + i] = buf[off + i];
      return at;
    }
    const lead = (4 - (s & 3)) & 3;
    for (let i = 0; i < lead; i++) stage[at + i] = buf[off + i];
    const dst = this.#stageWords as Uint32Array;
    const words = (len - lead) >>> 2;
    const si = (s + lead) >>> 2;
    const di = (at + lead) >>> 2;
    for (let i = 0; i < words; i++) dst[di + i] = src[si + i];
    for (let i = lead + (words << 2); i < len; i++) stage[at + i] = buf[off + i];
    return at;
  }

  /** A cached 32-bit view of `buf`'s memory (null for a resizable buffer: bytes only). */
  #wordsOf(buf: Uint8Array): Uint32Array | null {
    const b = buf.buffer;
    const bufs = this.#srcBuffers;
    for (let i = 0; i < 4; i++) if (bufs[i] === b) return this.#srcWords[i];
    const words = (b as ArrayBuffer).resizable === true
      ? null
      : new Uint32Array(b, 0, b.byteLength >>> 2);
    const i = this.#srcNext;
    this.#srcNext = (i + 1) & 3;
    bufs[i] = b;
    this.#srcWords[i] = words;
    return words;
  }

  /**
   * The address of `buf[off]` (a cached pointer object). write() takes a pointer rather than a
   * buffer: Deno's FFI turns a buffer argument into an address through V8's backing store, with
   * atomic reference-count updates (about 25 ns a call in the forwarding profile, against a
   * pointer argument that is just unwrapped). The caller has checked `off + len` against
   * `buf.length` (a detached buffer has length 0, so a stale entry is never written from).
   */
  #ptrAt(buf: Uint8Array, off: number): Deno.PointerValue {
    const bufs = this.#txBufs;
    for (let i = 0; i < 4; i++) {
      if (bufs[i] === buf && this.#txOffs[i] === off) return this.#txPtrs[i];
    }
    // From the ArrayBuffer: taking `.buffer` moves a small on-heap typed array's bytes off the V8
    // heap for good, so the address cannot change under a later garbage collection.
    const base = Deno.UnsafePointer.of(buf.buffer as ArrayBuffer) as Deno.PointerObject;
    const ptr = Deno.UnsafePointer.offset(base, buf.byteOffset + off);
    const i = this.#txNext;
    this.#txNext = (i + 1) & 3;
    bufs[i] = buf;
    this.#txOffs[i] = off;
    this.#txPtrs[i] = ptr;
    return ptr;
  }

  /**
   * Closes the TAP fd at once (a non-persistent TAP disappears) and wakes the receive loop
   * through the eventfd so run() resolves promptly. Idempotent.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    // Offloads outlive the fd on a persistent TAP: turn them off for whoever attaches next.
    if (this.offloadFlags !== 0) setOffload(this.#fd, 0);
    this.#sym.close(this.#fd);
    this.#fd = -1;
    this.#txBufs.fill(null);
    this.#txPtrs.fill(null);
    this.#srcBuffers.fill(null);
    this.#srcWords.fill(null);
    if (this.#running) {
      // The loop is (or will be) in poll(): signal the eventfd; the loop closes it on exit.
      this.#wakeBuf[0] = 1;
      this.#sym.write(this.#wakeFd, this.#wakeBuf, 8);
    } else if (this.#wakeFd >= 0) {
      this.#sym.close(this.#wakeFd);
      this.#wakeFd = -1;
    }
  }
}
