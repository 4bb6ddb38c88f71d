/**
 * What the built-in services need from a connection and a listener: the shape of `Deno.Conn` and
 * `Deno.Listener`, so the same service code runs on the userspace stack (`stack.listen`) and on
 * the kernel's sockets (`Deno.listen`). Also the accept loop every TCP service shares.
 *
 * @module
 */

/** Any socket address: `Deno.NetAddr`, `Deno.UnixAddr`, or the stack's TCP/UDP address. */
export interface AnyAddr {
  /** "tcp", "udp", "unix", ... */
  readonly transport: string;
  /** The IP address, for IP transports. */
  readonly hostname?: string;
  /** The port, for IP transports. */
  readonly port?: number;
}

/** A byte-stream connection shaped like `Deno.Conn` (the part the services use). */
export interface ServiceConn {
  /** Reads into `p`; the count read, or null at end of stream. */
  read(p: Uint8Array): Promise<number | null>;
  /** Writes from `p`; the count written (may be less than `p.length`). */
  write(p: Uint8Array): Promise<number>;
  /** Closes both directions. */
  close(): void;
  /** Closes the sending direction (TCP FIN) and keeps reading possible. */
  closeWrite(): Promise<void>;
  /** Our end. */
  readonly localAddr: AnyAddr;
  /** The peer's end. */
  readonly remoteAddr: AnyAddr;
}

/** A stream listener shaped like `Deno.Listener`: an async iterable of connections. */
export interface ServiceListener<C extends ServiceConn = ServiceConn> extends AsyncIterable<C> {
  /** Stops accepting; the iteration ends. */
  close(): void;
  /** The address listened on. */
  readonly addr: AnyAddr;
}

/** A datagram socket shaped like `Deno.DatagramConn` (the part the UDP services use). */
export interface DatagramSocketLike<A extends AnyAddr = AnyAddr> {
  /** The next datagram and its sender. */
  receive(p?: Uint8Array): Promise<[Uint8Array, A]>;
  // The address type is inferred from receive() alone: send() only has to accept what came in.
  /** Sends one datagram to `addr`. */
  send(p: Uint8Array, addr: NoInfer<A>): Promise<number>;
  /** Unbinds. */
  close(): void;
  /** The bound address. */
  readonly addr: AnyAddr;
}

/** Serves one connection; resolves when done with it (the loop then closes it). */
export type ConnHandler<C extends ServiceConn = ServiceConn> = (conn: C) => Promise<void>;

/** A running service: its listening address, live connections, and how to stop it. */
export interface Service {
  /** e.g. "http", "echo". */
  readonly name: string;
  /** "tcp" or "udp". */
  readonly transport: "tcp" | "udp";
  /** The listening address. */
  readonly addr: AnyAddr;
  /** Connections being served now (0 for UDP). */
  readonly active: number;
  /** Connections accepted (TCP) or datagrams received (UDP) so far. */
  readonly served: number;
  /** Connections or datagrams that ended in an error other than the peer going away. */
  readonly errors: number;
  /** Stops accepting and closes live connections. Idempotent. */
  close(): void;
  /** Resolves once the accept loop and every connection have ended. */
  readonly done: Promise<void>;
}

/**
 * True for errors that only mean the peer went away or the service was closed meanwhile
 * (reset, broken pipe, closed resource): normal ends of a connection, not failures.
 */
export function isDisconnect(e: unknown): boolean {
  return e instanceof Deno.errors.ConnectionReset ||
    e instanceof Deno.errors.ConnectionAborted ||
    e instanceof Deno.errors.BrokenPipe ||
    e instanceof Deno.errors.BadResource ||
    e instanceof Deno.errors.Interrupted ||
    e instanceof Deno.errors.NotConnected ||
    e instanceof Deno.errors.TimedOut ||
    e instanceof Deno.errors.UnexpectedEof;
}

/** Writes all of `data` (looping over short writes). */
export async function writeAll(conn: ServiceConn, data: Uint8Array): Promise<void> {
  let off = 0;
  while (off < data.length) {
    off += await conn.write(off === 0 ? data : data.subarray(off));
  }
}

/** Closes `conn`, ignoring "already closed". */
export function closeQuietly(conn: { close(): void }): void {
  try {
    conn.close();
  } catch {
    // Already closed (Deno throws BadResource on a second close): nothing left to release.
  }
}

/**
 * Accepts connections from `listener` and runs `handler` on each concurrently, closing each
 * connection when its handler ends. Disconnects are normal; other errors are counted (and
 * passed to `onError` if given).
 */
export function serveConns<C extends ServiceConn>(
  name: string,
  listener: ServiceListener<C>,
  handler: ConnHandler<C>,
  onError?: (e: unknown) => void,
): Service {
  const live = new Set<C>();
  const running = new Set<Promise<void>>();
  let closed = false;
  let served = 0;
  let errors = 0;
  const fail = (e: unknown) => {
    if (closed || isDisconnect(e)) return;
    errors++;
    onError?.(e);
  };
  const one = async (conn: C) => {
    try {
      await handler(conn);
    } catch (e) {
      fail(e);
    } finally {
      live.delete(conn);
      closeQuietly(conn);
    }
  };
  const loop = async () => {
    try {
      for await (const conn of listener) {
        served++;
        if (closed) {
          closeQuietly(conn);
          break;
        }
        live.add(conn);
        const p = one(conn);
        running.add(p);
        p.finally(() => running.delete(p));
      }
    } catch (e) {
      fail(e);
    }
    while (running.size > 0) await Promise.allSettled([...running]);
  };
  const done = loop();
  return {
    name,
    transport: "tcp",
    addr: listener.addr,
    get active() {
      return live.size;
    },
    get served() {
      return served;
    },
    get errors() {
      return errors;
    },
    close() {
      if (closed) return;
      closed = true;
      closeQuietly(listener);
      for (const c of live) closeQuietly(c);
    },
    done,
  };
}

/**
 * Runs `handler` on every datagram of `socket` until it is closed. The handler gets a buffer
 * view that is reused for the next datagram.
 */
export function serveDatagrams<A extends AnyAddr>(
  name: string,
  socket: DatagramSocketLike<A>,
  handler: (data: Uint8Array, from: A, socket: DatagramSocketLike<A>) => Promise<void>,
  onError?: (e: unknown) => void,
): Service {
  let closed = false;
  let served = 0;
  let errors = 0;
  // One receive buffer for the socket's life: the largest UDP payload.
  const buf = new Uint8Array(65507);
  const loop = async () => {
    while (!closed) {
      let msg: [Uint8Array, A];
      try {
        msg = await socket.receive(buf);
      } catch (e) {
        if (closed || isDisconnect(e)) return;
        errors++;
        onError?.(e);
        return;
      }
      served++;
      try {
        await handler(msg[0], msg[1], socket);
      } catch (e) {
        if (closed) return;
        errors++;
        onError?.(e);
      }
    }
  };
  const done = loop();
  return {
    name,
    transport: "udp",
    addr: socket.addr,
    active: 0,
    get served() {
      return served;
    },
    get errors() {
      return errors;
    },
    close() {
      if (closed) return;
      closed = true;
      closeQuietly(socket);
    },
    done,
  };
}
