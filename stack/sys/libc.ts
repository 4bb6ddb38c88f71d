/**
 * The libc functions the link layer (the TAP) and the control channel (its Unix socket) call
 * through Deno FFI: one module below both, opened once and lazily, so that code which never touches a TAP or a socket needs no `--allow-ffi`.
 *
 * Calling conventions (measured on a 2-vCPU Linux VM with Deno 2.9; scripts/bench/tap_rx.sh and
 * docs/BENCHMARKS.md have the receive-loop figures):
 * - callers destructure `libc().symbols` into locals so V8's fast FFI calls apply (~14 ns);
 * - lengths are `u32` and results `i32`: a JS number passed as `usize` costs ~130 ns more per call,
 *   and every length here fits in 32 bits (the `ssize_t` results of read/write are < 2^31);
 * - `errno` is read from an `Int32Array` mapped once over `__errno_location()` (10 ns a read).
 *   errno is thread-local: it is valid only after a synchronous call, never after a
 *   `nonblocking: true` one (those run on another thread).
 *
 * @module
 */

import { DeviceError } from "./errors.ts";

const SYMBOLS = {
  open: { parameters: ["buffer", "i32", "i32"], result: "i32" },
  close: { parameters: ["i32"], result: "i32" },
  read: { parameters: ["i32", "buffer", "u32"], result: "i32" },
  write: { parameters: ["i32", "buffer", "u32"], result: "i32" },
  /**
   * read/write with the address as a pointer: per frame on the TAP, where a "buffer" argument
   * costs an extra ~25 ns per call (the TAP caches the pointers; stack/link/tap.ts #ptrAt).
   */
  readPtr: { name: "read", parameters: ["i32", "pointer", "u32"], result: "i32" },
  writePtr: { name: "write", parameters: ["i32", "pointer", "u32"], result: "i32" },
  // The request is an `unsigned long`; ioctl is never on a per-frame path, so a u64 is fine.
  ioctl: { parameters: ["i32", "u64", "buffer"], result: "i32" },
  poll: { parameters: ["buffer", "u32", "i32"], result: "i32" },
  /** poll() on a worker thread: returns a Promise, for waiting without blocking the event loop. */
  pollAsync: {
    name: "poll",
    parameters: ["buffer", "u32", "i32"],
    result: "i32",
    nonblocking: true,
  },
  socket: { parameters: ["i32", "i32", "i32"], result: "i32" },
  bind: { parameters: ["i32", "buffer", "u32"], result: "i32" },
  listen: { parameters: ["i32", "i32"], result: "i32" },
  accept4: { parameters: ["i32", "buffer", "buffer", "i32"], result: "i32" },
  connect: { parameters: ["i32", "buffer", "u32"], result: "i32" },
  /** send(2) with flags: MSG_NOSIGNAL keeps a closed peer from raising SIGPIPE. */
  send: { parameters: ["i32", "buffer", "u32", "i32"], result: "i32" },
  unlink: { parameters: ["buffer"], result: "i32" },
  fcntl: { parameters: ["i32", "i32", "i32"], result: "i32" },
  getpid: { parameters: [], result: "i32" },
  eventfd: { parameters: ["u32", "i32"], result: "i32" },
  statx: { parameters: ["i32", "buffer", "i32", "u32", "buffer"], result: "i32" },
  __errno_location: { parameters: [], result: "pointer" },
  strerror: { parameters: ["i32"], result: "pointer" },
} as const satisfies Deno.ForeignLibraryInterface;

/** The typed symbol table of the libc bindings. */
export type LibcSymbols = Deno.StaticForeignLibraryInterface<typeof SYMBOLS>;

/** The opened library: its symbols and the calling thread's errno cell. */
export interface Libc {
  /** Destructure into locals before a hot loop (`const { read } = libc().symbols`). */
  readonly symbols: LibcSymbols;
  /** `errno[0]` is the calling thread's errno, valid right after a failed synchronous call. */
  readonly errno: Int32Array;
}

let opened: Libc | null = null;

/**
 * Opens libc on first use and returns the shared bindings. Throws a {@link DeviceError} telling
 * the user to pass `--allow-ffi` when FFI is not permitted.
 */
export function libc(): Libc {
  if (opened !== null) return opened;
  let lib: Deno.DynamicLibrary<typeof SYMBOLS>;
  try {
    lib = Deno.dlopen("libc.so.6", SYMBOLS);
  } catch (e) {
    if (e instanceof Deno.errors.NotCapable || e instanceof Deno.errors.PermissionDenied) {
      throw new DeviceError("FFI is not permitted", {
        hint: "run with --allow-ffi (e.g. `deno run --allow-ffi lb.ts ...`)",
        cause: e,
      });
    }
    throw new DeviceError(`cannot load libc.so.6 through FFI: ${String(e)}`, {
      hint: "lb.ts needs Linux with glibc (libc.so.6)",
      cause: e,
    });
  }
  const cell = lib.symbols.__errno_location();
  if (cell === null) throw new DeviceError("__errno_location() returned NULL");
  const errno = new Int32Array(Deno.UnsafePointerView.getArrayBuffer(cell, 4));
  opened = { symbols: lib.symbols, errno };
  return opened;
}

/** Linux errno values used by this code base (x86_64 and aarch64 share them). */
export const Errno = {
  EPERM: 1,
  ENOENT: 2,
  EINTR: 4,
  EIO: 5,
  ENXIO: 6,
  EBADF: 9,
  EAGAIN: 11,
  ENOMEM: 12,
  EACCES: 13,
  EFAULT: 14,
  EBUSY: 16,
  EEXIST: 17,
  ENODEV: 19,
  ENOTDIR: 20,
  EINVAL: 22,
  EPIPE: 32,
  ENAMETOOLONG: 36,
  ENOTSOCK: 88,
  EMSGSIZE: 90,
  EADDRINUSE: 98,
  ENETDOWN: 100,
  ENOBUFS: 105,
  ECONNRESET: 104,
  ECONNREFUSED: 111,
  EINPROGRESS: 115,
} as const;

const ERRNO_NAMES = new Map<number, string>(
  Object.entries(Errno).map(([name, code]) => [code, name]),
);

/** `"EACCES (Permission denied)"` for an errno value; for messages, not for hot paths. */
export function describeErrno(code: number): string {
  const name = ERRNO_NAMES.get(code) ?? `errno ${code}`;
  const ptr = opened?.symbols.strerror(code) ?? null;
  const text = ptr === null ? "" : Deno.UnsafePointerView.getCString(ptr);
  return text === "" ? name : `${name} (${text})`;
}

const encoder = new TextEncoder();

/** A NUL-terminated copy of `s` (UTF-8), for path and name parameters. */
export function cString(s: string): Uint8Array {
  const bytes = encoder.encode(s);
  const out = new Uint8Array(bytes.length + 1);
  out.set(bytes);
  return out;
}

/** open(2) flags. */
export const O_RDWR = 0x2;
/** open(2) flag: reads and writes return EAGAIN instead of blocking. */
export const O_NONBLOCK = 0o4000;
/** open(2) flag: the fd is not inherited by spawned processes. */
export const O_CLOEXEC = 0o2000000;

/** poll(2) event bits (`struct pollfd` is `{ int fd; short events; short revents; }`, 8 bytes). */
export const POLLIN = 0x1;
/** poll(2): writable. */
export const POLLOUT = 0x4;
/** poll(2): error condition (revents only). */
export const POLLERR = 0x8;
/** poll(2): hang-up (revents only). */
export const POLLHUP = 0x10;
/** poll(2): the fd is not open (revents only). */
export const POLLNVAL = 0x20;

/** socket(2) address families and types. */
export const AF_UNIX = 1;
/** socket(2): IPv4 family (a datagram socket of it is the handle for interface ioctls). */
export const AF_INET = 2;
/** socket(2): stream socket. */
export const SOCK_STREAM = 1;
/** socket(2): datagram socket. */
export const SOCK_DGRAM = 2;
/** socket(2)/accept4(2) type flag: nonblocking. */
export const SOCK_NONBLOCK = 0o4000;
/** socket(2)/accept4(2) type flag: close on exec. */
export const SOCK_CLOEXEC = 0o2000000;

/** send(2) flag: return EPIPE instead of raising SIGPIPE when the peer has gone. */
export const MSG_NOSIGNAL = 0x4000;

/** eventfd(2) flags. */
export const EFD_NONBLOCK = 0o4000;
/** eventfd(2): close on exec. */
export const EFD_CLOEXEC = 0o2000000;

/**
 * Fills one `struct pollfd` (8 bytes: i32 fd, i16 events, i16 revents, little-endian as on every
 * platform Deno FFI runs lb.ts) at index `i` of `buf`, clearing revents.
 */
export function setPollFd(buf: Uint8Array, i: number, fd: number, events: number): void {
  const o = i * 8;
  buf[o] = fd & 0xff;
  buf[o + 1] = (fd >>> 8) & 0xff;
  buf[o + 2] = (fd >>> 16) & 0xff;
  buf[o + 3] = (fd >>> 24) & 0xff;
  buf[o + 4] = events & 0xff;
  buf[o + 5] = (events >>> 8) & 0xff;
  buf[o + 6] = 0;
  buf[o + 7] = 0;
}

/** The `revents` of `struct pollfd` number `i` in `buf`. */
export function pollRevents(buf: Uint8Array, i: number): number {
  return buf[i * 8 + 6] | (buf[i * 8 + 7] << 8);
}
