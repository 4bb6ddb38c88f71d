/**
 * A Linux TAP device driven through libc FFI: the stack's link to the kernel.
 *
 * The receive loop follows the measurements in REFERENCES.md ("The TAP from Deno on this
 * machine"): synchronous FFI `read()` on an `O_NONBLOCK` fd into one preallocated buffer, drained
 * until EAGAIN (1.5-1.7 M frames/s, ~80% of C), and a `nonblocking: true` FFI `poll()` awaited only
 * when the queue is empty. A nonblocking FFI call per frame would be ten times slower.
 *
 * @module
 */

import { type Device, type DeviceStats, type FrameHandler, newDeviceStats } from "./device.ts";
import { DeviceError, reportHandlerError } from "./errors.ts";
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
} from "./libc.ts";

// <linux/if_tun.h>
const TUNSETIFF = 0x400454can;
const IFF_TAP = 0x0002;
const IFF_NO_PI = 0x1000;
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
/** Ethernet header (14) plus one 802.1Q tag (4): a frame may exceed the MTU by this much. */
const LINK_OVERHEAD = 18;
const ETH_HEADER = 14;
/** Large enough for any frame the kernel can hand over at the largest MTU (65535). */
const RX_BUFFER_BYTES = RX_OFFSET + 0xffff + LINK_OVERHEAD;
/**
 * Frames handled before the loop yields to the event loop even if more are queued, so timers
 * and the control socket still run under a flood. onIdle runs at that point too (a flush point):
 * a burst shorter than this means the queue was drained.
 */
export const TAP_BURST_LIMIT = 1024;
const BURST_LIMIT = TAP_BURST_LIMIT;
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
   * Default true: attach to a TAP of that name if it exists (non-persistent, or persistent with
   * matching flags), else create it. False: only attach; fail if no such device exists.
   */
  create?: boolean;
}

/**
 * The TUNSETIFF flags. A plain Ethernet TAP without the 4-byte packet-information prefix.
 * Seam for later: IFF_VNET_HDR (0x4000) prefixes every read and write with the 10-byte
 * virtio_net_hdr and enables TUNSETOFFLOAD (REFERENCES.md); the device would then set
 * `#vnetHeader` and skip/emit that header around each frame.
 */
function tapFlags(): number {
  return IFF_TAP | IFF_NO_PI;
}

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

  #fd: number;
  #wakeFd: number;
  #closed = false;
  #running = false;
  readonly #maxFrame: number;
  readonly #sym: LibcSymbols;
  readonly #errno: Int32Array;
  /** The receive buffer; frames start at RX_OFFSET. */
  readonly #rx = new Uint8Array(RX_BUFFER_BYTES);
  /** `#rx` from RX_OFFSET, made once: read() fills it. */
  readonly #rxView = this.#rx.subarray(RX_OFFSET);
  /** Two `struct pollfd`: the TAP (POLLIN) and the close() wake-up eventfd (POLLIN). */
  readonly #pollFds = new Uint8Array(16);
  /** 8 bytes for the eventfd counter. */
  readonly #wakeBuf = new Uint8Array(8);
  // A small cache of views `buf.subarray(off)` for send(), so sending from a fixed buffer at a
  // fixed offset (the stack's output buffers, the receive buffer when forwarding) allocates
  // nothing after the first frame. Four entries, replaced round-robin.
  readonly #txBufs: (Uint8Array | null)[] = [null, null, null, null];
  readonly #txOffs: number[] = [0, 0, 0, 0];
  readonly #txViews: (Uint8Array | null)[] = [null, null, null, null];
  #txNext = 0;

  private constructor(
    name: string,
    fd: number,
    wakeFd: number,
    mtu: number,
    mac: Uint8Array,
    sym: LibcSymbols,
    errno: Int32Array,
  ) {
    this.name = name;
    this.#fd = fd;
    this.#wakeFd = wakeFd;
    this.mtu = mtu;
    this.mac = mac;
    this.#maxFrame = mtu + LINK_OVERHEAD;
    this.#sym = sym;
    this.#errno = errno;
    setPollFd(this.#pollFds, 0, fd, POLLIN);
    setPollFd(this.#pollFds, 1, wakeFd, POLLIN);
  }

  /**
   * Opens (creates or attaches to) the TAP `options.name`, sets its MTU if given and brings the
   * link up, all through ioctls (no `ip` process). Needs `--allow-ffi` and CAP_NET_ADMIN; throws a
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
      if (options.create === false) {
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
      const flags = tapFlags();
      req[16] = flags & 0xff;
      req[17] = (flags >>> 8) & 0xff;
      if (sym.ioctl(fd, TUNSETIFF, req) < 0) throw tunSetIffError(options.name, errno[0]);
      const name = ifreqName(req);
      const mtu = TapDevice.#configureLink(sym, errno, sock, name, options.mtu);
      wakeFd = sym.eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
      if (wakeFd < 0) {
        const e = errno[0];
        throw new DeviceError(`eventfd failed: ${describeErrno(e)}`, { errno: e });
      }
      const mac = options.mac === undefined ? randomLocalMac() : new Uint8Array(options.mac);
      const dev = new TapDevice(name, fd, wakeFd, mtu, mac, sym, errno);
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
   * passed as `(buffer, 2, length)`: the IP header after the Ethernet header is 4-byte aligned.
   */
  async run(onFrame: FrameHandler, onIdle?: () => void): Promise<void> {
    if (this.#running) throw new Error(`${this.name}: run() is already active`);
    this.#running = true;
    const read = this.#sym.read;
    const pollAsync = this.#sym.pollAsync;
    const errno = this.#errno;
    const rx = this.#rx;
    const rxView = this.#rxView;
    const cap = rxView.length;
    const stats = this.stats;
    try {
      while (!this.#closed) {
        let burst = 0;
        while (burst < BURST_LIMIT && !this.#closed) {
          const n = read(this.#fd, rxView, cap);
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
          if (n < ETH_HEADER) {
            stats.rxDropped++;
            continue;
          }
          stats.rxFrames++;
          stats.rxBytes += n;
          try {
            onFrame(rx, RX_OFFSET, n);
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
        await pollAsync(this.#pollFds, 2, POLL_TIMEOUT_MS);
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
   * Writes one frame with a synchronous write(). False (and `txDropped` counted) when the kernel
   * queue is full (EAGAIN/ENOBUFS), the device is closed, the range is outside `buf`, or the frame
   * is shorter than an Ethernet header or longer than mtu + 18.
   */
  send(buf: Uint8Array, off: number, len: number): boolean {
    if (
      this.#closed || len < ETH_HEADER || len > this.#maxFrame || off < 0 ||
      off + len > buf.length
    ) {
      this.stats.txDropped++;
      return false;
    }
    const view = off === 0 ? buf : this.#viewAt(buf, off);
    const n = this.#sym.write(this.#fd, view, len);
    if (n !== len) {
      // EAGAIN/ENOBUFS: queue full; EIO: link down. All are a dropped frame, not an exception.
      this.stats.txDropped++;
      return false;
    }
    this.stats.txFrames++;
    this.stats.txBytes += len;
    return true;
  }

  #viewAt(buf: Uint8Array, off: number): Uint8Array {
    const bufs = this.#txBufs;
    for (let i = 0; i < 4; i++) {
      if (bufs[i] === buf && this.#txOffs[i] === off) return this.#txViews[i] as Uint8Array;
    }
    const view = buf.subarray(off);
    const i = this.#txNext;
    this.#txNext = (i + 1) & 3;
    bufs[i] = buf;
    this.#txOffs[i] = off;
    this.#txViews[i] = view;
    return view;
  }

  /**
   * Closes the TAP fd at once (a non-persistent TAP disappears) and wakes the receive loop
   * through the eventfd so run() resolves promptly. Idempotent.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#sym.close(this.#fd);
    this.#fd = -1;
    this.#txBufs.fill(null);
    this.#txViews.fill(null);
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
