/**
 * The control client: sends one request to a running instance and returns its result. Used by
 * the inspecting commands (`lb.ts arp`, `route`, `stats`, ...); needs only `--allow-ffi`.
 *
 * @module
 */

import { DeviceError } from "../../stack/sys/errors.ts";
import {
  describeErrno,
  Errno,
  libc,
  MSG_NOSIGNAL,
  POLLIN,
  POLLOUT,
  setPollFd,
} from "../../stack/sys/libc.ts";
import {
  type ControlRequest,
  encodeRequest,
  LineReader,
  MAX_LINE_BYTES,
  parseResponse,
} from "./protocol.ts";
import { connectUnix, unixAddress, unixStreamSocket } from "./unix_socket.ts";

/** The instance answered `{"ok": false, "error": ...}`: `message` is its error. */
export class ControlError extends Error {
  /** An error reported by the instance. */
  constructor(message: string) {
    super(message);
    this.name = "ControlError";
  }
}

/** Pause between connect attempts while the listener's queue is full (EAGAIN). */
const CONNECT_RETRY_MS = 10;

function noInstance(path: string): Error {
  return new Error(
    `no running instance at ${path} (start one with \`lb.ts stack ...\` or pass --control PATH)`,
  );
}

/**
 * Sends `req` to the instance listening on `path` and resolves with its `result`. Rejects with
 * a clear Error when nothing listens there, with a {@link ControlError} when the instance answers
 * with an error, and when no answer arrives within `timeoutMs`.
 */
export async function controlRequest(
  path: string,
  req: ControlRequest,
  timeoutMs = 5000,
): Promise<unknown> {
  const { symbols: sym, errno } = libc();
  const address = unixAddress(path);
  const deadline = performance.now() + timeoutMs;
  const pollFd = new Uint8Array(8);
  const fd = unixStreamSocket();
  const timedOut = () => new Error(`no answer from the instance at ${path} within ${timeoutMs} ms`);
  /** Waits until `fd` is ready for `events`; false when the deadline passed. */
  const wait = async (events: number): Promise<boolean> => {
    const left = Math.ceil(deadline - performance.now());
    if (left <= 0) return false;
    setPollFd(pollFd, 0, fd, events);
    await sym.pollAsync(pollFd, 1, Math.min(left, 1000));
    return true;
  };
  try {
    for (;;) {
      const e = connectUnix(fd, address);
      if (e === 0) break;
      if (e === Errno.ENOENT || e === Errno.ECONNREFUSED) throw noInstance(path);
      if (e === Errno.EACCES || e === Errno.EPERM) {
        throw new DeviceError(`cannot connect to ${path}: ${describeErrno(e)}`, {
          hint: "run as the instance's user (e.g. root) or pass --control PATH",
          errno: e,
        });
      }
      if (e !== Errno.EAGAIN && e !== Errno.EINTR) {
        throw new DeviceError(`cannot connect to ${path}: ${describeErrno(e)}`, { errno: e });
      }
      // EAGAIN: the listener's accept queue is full; it is alive, so try again shortly.
      if (performance.now() + CONNECT_RETRY_MS > deadline) throw timedOut();
      await new Promise((resolve) => setTimeout(resolve, CONNECT_RETRY_MS));
    }

    const out = new TextEncoder().encode(encodeRequest(req));
    let sent = 0;
    while (sent < out.length) {
      const n = sym.send(
        fd,
        sent === 0 ? out : out.subarray(sent),
        out.length - sent,
        MSG_NOSIGNAL,
      );
      if (n >= 0) {
        sent += n;
        continue;
      }
      const e = errno[0];
      if (e === Errno.EINTR) continue;
      if (e !== Errno.EAGAIN) {
        throw new Error(`the instance at ${path} closed the connection: ${describeErrno(e)}`);
      }
      if (!await wait(POLLOUT)) throw timedOut();
    }

    const lines = new LineReader(MAX_LINE_BYTES * 16); // answers may be large (a big conn table)
    const buf = new Uint8Array(64 * 1024);
    for (;;) {
      const line = lines.next();
      if (line !== null) {
        const resp = parseResponse(line);
        if (typeof resp === "string") {
          throw new Error(`bad answer from the instance at ${path}: ${resp}`);
        }
        if (!resp.ok) throw new ControlError(resp.error);
        return resp.result;
      }
      const n = sym.read(fd, buf, buf.length);
      if (n > 0) {
        if (!lines.push(buf, n)) throw new Error(`answer from ${path} is too large`);
        continue;
      }
      if (n === 0) {
        throw new Error(`the instance at ${path} closed the connection without answering`);
      }
      const e = errno[0];
      if (e === Errno.EINTR) continue;
      if (e !== Errno.EAGAIN) {
        throw new Error(`reading from the instance at ${path} failed: ${describeErrno(e)}`);
      }
      if (!await wait(POLLIN)) throw timedOut();
    }
  } finally {
    sym.close(fd);
  }
}
