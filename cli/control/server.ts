/**
 * The control server: a running instance answers JSON-line requests on a Unix stream socket
 * (ARCHITECTURE.md "Control channel"), made with libc FFI so the instance needs only
 * `--allow-ffi`.
 *
 * One loop serves every client without blocking the packet loop: it awaits one `nonblocking:
 * true` poll() over the listening socket, an eventfd (to wake it for close() and for pending
 * output) and the clients, then does nonblocking accept/read/write. Each client's requests are
 * answered in order, one at a time; a request line is bounded (1 MiB) and an idle client is
 * dropped after a timeout.
 *
 * @module
 */

import { DeviceError } from "../../stack/sys/errors.ts";
import {
  describeErrno,
  EFD_CLOEXEC,
  EFD_NONBLOCK,
  Errno,
  libc,
  type LibcSymbols,
  MSG_NOSIGNAL,
  POLLERR,
  POLLHUP,
  POLLIN,
  POLLNVAL,
  POLLOUT,
  pollRevents,
  setPollFd,
  SOCK_CLOEXEC,
  SOCK_NONBLOCK,
} from "../../stack/sys/libc.ts";
import {
  type ControlRequest,
  type ControlResponse,
  encodeResponse,
  LineReader,
  MAX_LINE_BYTES,
  parseRequest,
} from "./protocol.ts";
import {
  connectUnix,
  type PathIdentity,
  pathIdentity,
  unixAddress,
  unixStreamSocket,
} from "./unix_socket.ts";

/** Answers one request; the value returned (or resolved) is sent as `result`. */
export type ControlHandler = (req: ControlRequest) => unknown | Promise<unknown>;

/** Options of {@link ControlServer.listen}. */
export interface ControlServerOptions {
  /** Most clients connected at once (default 32); more are accepted and closed at once. */
  maxClients?: number;
  /** A client that sends nothing for this long while no request is pending is dropped. */
  idleTimeoutMs?: number;
  /** Largest request line in bytes (default 1 MiB). */
  maxRequestBytes?: number;
}

const DEFAULT_MAX_CLIENTS = 32;
const DEFAULT_IDLE_TIMEOUT_MS = 30_000;
const POLL_TIMEOUT_MS = 200;
const LISTEN_BACKLOG = 64;
const READ_CHUNK = 64 * 1024;

interface Client {
  fd: number;
  lines: LineReader;
  /** Encoded responses not yet written, and how much of the first was written. */
  out: Uint8Array[];
  outOff: number;
  /** A request is being handled. */
  busy: boolean;
  /** The peer closed its side, or the connection is to be closed once output is flushed. */
  ending: boolean;
  closed: boolean;
  lastActive: number;
}

const encoder = new TextEncoder();

/** A listening control socket; see the module doc. */
export class ControlServer {
  /** The socket path. */
  readonly path: string;
  /** Resolves when the server has stopped and released its socket. */
  readonly done: Promise<void>;

  readonly #handler: ControlHandler;
  readonly #sym: LibcSymbols;
  readonly #errno: Int32Array;
  readonly #listenFd: number;
  readonly #wakeFd: number;
  readonly #identity: PathIdentity | null;
  readonly #maxClients: number;
  readonly #idleTimeoutMs: number;
  readonly #maxRequestBytes: number;
  readonly #clients = new Set<Client>();
  readonly #pollFds: Uint8Array;
  readonly #scratch = new Uint8Array(READ_CHUNK);
  readonly #wakeBuf = new Uint8Array(8);
  #closed = false;

  private constructor(
    path: string,
    handler: ControlHandler,
    listenFd: number,
    wakeFd: number,
    options: ControlServerOptions,
  ) {
    const { symbols, errno } = libc();
    this.path = path;
    this.#handler = handler;
    this.#sym = symbols;
    this.#errno = errno;
    this.#listenFd = listenFd;
    this.#wakeFd = wakeFd;
    this.#identity = pathIdentity(path);
    this.#maxClients = options.maxClients ?? DEFAULT_MAX_CLIENTS;
    this.#idleTimeoutMs = options.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS;
    this.#maxRequestBytes = options.maxRequestBytes ?? MAX_LINE_BYTES;
    this.#pollFds = new Uint8Array((2 + this.#maxClients) * 8);
    this.done = this.#loop();
  }

  /**
   * Binds and listens on `path` and starts serving. If the path is a socket a running instance
   * answers on, fails with a {@link DeviceError} ("in use"); if it is a stale socket left by a
   * dead instance, removes it and takes its place. Never removes anything that is not a socket.
   */
  static listen(
    path: string,
    handler: ControlHandler,
    options: ControlServerOptions = {},
  ): ControlServer {
    const { symbols: sym, errno } = libc();
    const address = unixAddress(path);
    const fd = unixStreamSocket();
    let wakeFd = -1;
    try {
      for (let attempt = 0;; attempt++) {
        if (sym.bind(fd, address.addr, address.len) === 0) break;
        const e = errno[0];
        if (e !== Errno.EADDRINUSE || attempt > 0) throw bindError(path, e);
        ControlServer.#removeStale(path);
      }
      if (sym.listen(fd, LISTEN_BACKLOG) !== 0) {
        const e = errno[0];
        throw new DeviceError(`cannot listen on ${path}: ${describeErrno(e)}`, { errno: e });
      }
      wakeFd = sym.eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
      if (wakeFd < 0) {
        const e = errno[0];
        throw new DeviceError(`eventfd failed: ${describeErrno(e)}`, { errno: e });
      }
    } catch (e) {
      sym.close(fd);
      if (wakeFd >= 0) sym.close(wakeFd);
      throw e;
    }
    return new ControlServer(path, handler, fd, wakeFd, options);
  }

  /** Called when bind() found `path` taken: removes it only if it is a dead instance's socket. */
  static #removeStale(path: string): void {
    const id = pathIdentity(path);
    if (id === null) return; // vanished meanwhile: just bind again
    if (!id.isSocket) {
      throw new DeviceError(`control socket path ${path} exists and is not a socket`, {
        hint: "remove it or pass --control PATH",
        errno: Errno.EADDRINUSE,
      });
    }
    const probe = unixStreamSocket();
    let e: number;
    try {
      e = connectUnix(probe, unixAddress(path));
    } finally {
      libc().symbols.close(probe);
    }
    if (e === 0 || e === Errno.EAGAIN || e === Errno.EINPROGRESS) {
      throw new DeviceError(`control socket ${path} is in use by a running instance`, {
        hint: "pass --control PATH",
        errno: Errno.EADDRINUSE,
      });
    }
    if (e !== Errno.ECONNREFUSED && e !== Errno.ENOENT) throw bindError(path, e);
    // ECONNREFUSED: nobody listens; the socket file was left behind by a dead instance.
    libc().symbols.unlink(new TextEncoder().encode(path + "\0"));
  }

  /** Number of connected clients. */
  get clients(): number {
    return this.#clients.size;
  }

  /** Stops serving: closes every client and the socket, removes the socket file. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#wake();
  }

  #wake(): void {
    this.#wakeBuf[0] = 1;
    this.#sym.write(this.#wakeFd, this.#wakeBuf, 8);
  }

  async #loop(): Promise<void> {
    const sym = this.#sym;
    const fds = this.#pollFds;
    const order: Client[] = [];
    try {
      while (!this.#closed) {
        order.length = 0;
        setPollFd(fds, 0, this.#listenFd, POLLIN);
        setPollFd(fds, 1, this.#wakeFd, POLLIN);
        for (const c of this.#clients) {
          order.push(c);
          // After the client's EOF its socket stays readable (and may report POLLHUP): leave it
          // out of poll (fd -1 is ignored) until there is output to write, or the loop spins.
          const events = (c.ending ? 0 : POLLIN) | (c.out.length > 0 ? POLLOUT : 0);
          setPollFd(fds, 1 + order.length, events === 0 ? -1 : c.fd, events);
        }
        await sym.pollAsync(fds, 2 + order.length, POLL_TIMEOUT_MS);
        if (this.#closed) break;
        if (pollRevents(fds, 1) !== 0) sym.read(this.#wakeFd, this.#wakeBuf, 8);
        if (pollRevents(fds, 0) & POLLIN) this.#accept();
        for (let i = 0; i < order.length; i++) {
          const c = order[i];
          if (c.closed) continue;
          const ev = pollRevents(fds, 2 + i);
          if (ev & (POLLIN | POLLHUP | POLLERR | POLLNVAL)) this.#read(c);
          // POLLHUP/POLLERR with output pending: the write fails (EPIPE) and drops the client.
          if (!c.closed && ev & (POLLOUT | POLLHUP | POLLERR)) this.#flush(c);
        }
        this.#expire();
      }
    } finally {
      for (const c of this.#clients) this.#drop(c);
      sym.close(this.#listenFd);
      sym.close(this.#wakeFd);
      // Remove the socket file only if it is still ours (not replaced by another instance).
      const now = pathIdentity(this.path);
      if (
        now !== null && this.#identity !== null && now.ino === this.#identity.ino &&
        now.dev === this.#identity.dev
      ) {
        sym.unlink(encoder.encode(this.path + "\0"));
      }
    }
  }

  #accept(): void {
    const sym = this.#sym;
    for (;;) {
      const fd = sym.accept4(this.#listenFd, null, null, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) {
        const e = this.#errno[0];
        if (e === Errno.EINTR || e === Errno.ECONNRESET) continue;
        return; // EAGAIN: none left; EMFILE and the like: try again at the next wake-up
      }
      if (this.#clients.size >= this.#maxClients) {
        sym.close(fd);
        continue;
      }
      this.#clients.add({
        fd,
        lines: new LineReader(this.#maxRequestBytes),
        out: [],
        outOff: 0,
        busy: false,
        ending: false,
        closed: false,
        lastActive: performance.now(),
      });
    }
  }

  #read(c: Client): void {
    const sym = this.#sym;
    const buf = this.#scratch;
    for (;;) {
      const n = sym.read(c.fd, buf, buf.length);
      if (n > 0) {
        c.lastActive = performance.now();
        if (!c.lines.push(buf, n)) {
          this.#respond(c, {
            ok: false,
            error: `request longer than ${this.#maxRequestBytes} bytes`,
          });
          c.ending = true;
          this.#finishIfDone(c);
          return;
        }
        continue;
      }
      if (n === 0) {
        c.ending = true; // the client half-closed: answer what it sent, then close
        break;
      }
      const e = this.#errno[0];
      if (e === Errno.EINTR) continue;
      if (e !== Errno.EAGAIN) {
        this.#drop(c);
        return;
      }
      break;
    }
    this.#pump(c);
  }

  /** Starts handling the next complete request line if none is in progress. */
  #pump(c: Client): void {
    while (!c.busy && !c.closed) {
      const line = c.lines.next();
      if (line === null) break;
      if (line.trim() === "") continue;
      const req = parseRequest(line);
      if (typeof req === "string") {
        this.#respond(c, { ok: false, error: req });
        continue;
      }
      c.busy = true;
      this.#handle(c, req);
    }
    this.#finishIfDone(c);
  }

  async #handle(c: Client, req: ControlRequest): Promise<void> {
    let resp: ControlResponse;
    try {
      resp = { ok: true, result: await this.#handler(req) };
    } catch (e) {
      resp = { ok: false, error: e instanceof Error ? e.message : String(e) };
    }
    c.busy = false;
    if (c.closed) return;
    c.lastActive = performance.now();
    this.#respond(c, resp);
    this.#pump(c);
  }

  #respond(c: Client, resp: ControlResponse): void {
    if (c.closed) return;
    c.out.push(encoder.encode(encodeResponse(resp)));
    this.#flush(c);
    // Output left over: the loop must poll for POLLOUT, which its current poll() does not.
    if (!c.closed && c.out.length > 0 && !this.#closed) this.#wake();
  }

  #flush(c: Client): void {
    const sym = this.#sym;
    while (c.out.length > 0) {
      const chunk = c.out[0];
      const rest = chunk.length - c.outOff;
      const view = c.outOff === 0 ? chunk : chunk.subarray(c.outOff);
      const n = sym.send(c.fd, view, rest, MSG_NOSIGNAL);
      if (n < 0) {
        const e = this.#errno[0];
        if (e === Errno.EINTR) continue;
        if (e !== Errno.EAGAIN) this.#drop(c); // EPIPE/ECONNRESET: the client left
        return;
      }
      if (n === rest) {
        c.out.shift();
        c.outOff = 0;
      } else {
        c.outOff += n;
      }
    }
    this.#finishIfDone(c);
  }

  #finishIfDone(c: Client): void {
    // After EOF: close once every complete request was answered and written.
    if (c.ending && !c.busy && c.out.length === 0 && !c.lines.hasLine && !c.closed) this.#drop(c);
  }

  #expire(): void {
    const now = performance.now();
    for (const c of this.#clients) {
      if (!c.busy && now - c.lastActive > this.#idleTimeoutMs) this.#drop(c);
    }
  }

  #drop(c: Client): void {
    if (c.closed) return;
    c.closed = true;
    c.out.length = 0;
    this.#sym.close(c.fd);
    this.#clients.delete(c);
  }
}

function bindError(path: string, e: number): DeviceError {
  const what = `cannot create the control socket ${path}: ${describeErrno(e)}`;
  if (e === Errno.EADDRINUSE) {
    return new DeviceError(`control socket ${path} is in use by a running instance`, {
      hint: "pass --control PATH",
      errno: e,
    });
  }
  if (e === Errno.EACCES || e === Errno.EPERM) {
    return new DeviceError(what, {
      hint: "run as root or pass --control PATH in a writable directory",
      errno: e,
    });
  }
  if (e === Errno.ENOENT || e === Errno.ENOTDIR) {
    return new DeviceError(what, {
      hint: "the directory does not exist: create it or pass --control PATH",
      errno: e,
    });
  }
  return new DeviceError(what, { errno: e });
}
