/**
 * Unix stream sockets through libc FFI, for the control channel: `sockaddr_un`, a nonblocking
 * socket, connect, and the file identity of a socket path (so the server removes only its own
 * socket file). Everything here needs only `--allow-ffi`.
 *
 * @module
 */

import { DeviceError } from "../../stack/sys/errors.ts";
import {
  AF_UNIX,
  describeErrno,
  libc,
  SOCK_CLOEXEC,
  SOCK_NONBLOCK,
  SOCK_STREAM,
} from "../../stack/sys/libc.ts";

/** `sun_path` is 108 bytes including the terminating NUL (<sys/un.h>). */
const SUN_PATH_BYTES = 108;
const AT_FDCWD = -100;
const AT_SYMLINK_NOFOLLOW = 0x100;
const STATX_TYPE = 0x1;
const STATX_INO = 0x100;
const S_IFMT = 0o170000;
const S_IFSOCK = 0o140000;

/** A `struct sockaddr_un` and the length to pass to bind/connect. */
export interface UnixAddress {
  /** The structure's bytes. */
  addr: Uint8Array;
  /** `offsetof(sun_path) + strlen(path) + 1`. */
  len: number;
}

/** Builds the address for `path`; a {@link DeviceError} when it does not fit in `sun_path`. */
export function unixAddress(path: string): UnixAddress {
  const bytes = new TextEncoder().encode(path);
  if (bytes.length === 0 || bytes.length >= SUN_PATH_BYTES) {
    throw new DeviceError(
      `control socket path "${path}" must be 1 to ${SUN_PATH_BYTES - 1} bytes long`,
      { hint: "pass a shorter --control PATH" },
    );
  }
  const addr = new Uint8Array(2 + SUN_PATH_BYTES);
  addr[0] = AF_UNIX; // sa_family_t, little-endian u16
  addr.set(bytes, 2);
  return { addr, len: 2 + bytes.length + 1 };
}

/** A new nonblocking, close-on-exec Unix stream socket. */
export function unixStreamSocket(): number {
  const { symbols, errno } = libc();
  const fd = symbols.socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    const e = errno[0];
    throw new DeviceError(`cannot create a Unix socket: ${describeErrno(e)}`, { errno: e });
  }
  return fd;
}

/** connect() on `fd`: 0 when connected, else the errno (EAGAIN: the listener's queue is full). */
export function connectUnix(fd: number, address: UnixAddress): number {
  const { symbols, errno } = libc();
  return symbols.connect(fd, address.addr, address.len) === 0 ? 0 : errno[0];
}

/** What lies at a path: whether it is a socket, and its identity (device and inode). */
export interface PathIdentity {
  /** True for a socket file. */
  isSocket: boolean;
  /** Device number as "major:minor". */
  dev: string;
  /** Inode number, as a string (exact). */
  ino: string;
}

/** statx() of `path` without following a symlink; null when nothing is there (or unreadable). */
export function pathIdentity(path: string): PathIdentity | null {
  const { symbols } = libc();
  const p = new TextEncoder().encode(path + "\0");
  const st = new Uint8Array(256);
  if (symbols.statx(AT_FDCWD, p, AT_SYMLINK_NOFOLLOW, STATX_TYPE | STATX_INO, st) !== 0) {
    return null;
  }
  // struct statx (<linux/stat.h>, the same on every architecture): stx_mode u16 at 28,
  // stx_ino u64 at 32, stx_dev_major u32 at 136, stx_dev_minor u32 at 140.
  const view = new DataView(st.buffer);
  const mode = view.getUint16(28, true);
  return {
    isSocket: (mode & S_IFMT) === S_IFSOCK,
    ino: view.getBigUint64(32, true).toString(),
    dev: `${view.getUint32(136, true)}:${view.getUint32(140, true)}`,
  };
}
