/**
 * The relay between the instance's userspace stack (the outside: the router sees the instance's
 * `--ip`) and the inner stack on the TAP into BIRD's namespace, which holds the *router's* address
 * so that to BIRD the router is simply on its link (lb/bgp/bird_config.ts).
 *
 * - BGP (RFC 4271, TCP 179), both directions: BIRD's connection to the router's address on the
 *   inner stack is carried on as the instance's own connection from `--ip` to the router, and the
 *   router's connection to `--ip`:179 as one from the router's address to BIRD. Bytes are copied
 *   as they come; a close or reset on one side closes the other, so BGP sees what a direct
 *   session would. Connections from anyone but the configured peer are refused.
 * - BFD control (RFC 5880, UDP 3784; RFC 5881 single hop). The decision about TTL 255: both legs
 *   stay single hop. Each leg's socket sends with TTL 255 and drops anything received with less
 *   (RFC 5881 5, the GTSM of RFC 5082, as IP_MINTTL): BIRD's packets reach the inner stack with
 *   255 (one link), and the router's reach the instance with 255 only if they were not routed.
 *   The relay copies the BFD payload unchanged, so the discriminators and timers are BIRD's and
 *   the router's own; each datagram keeps its source port (RFC 5881 4: 49152-65535, one per
 *   session). No BFD echo (UDP 3785): BIRD does not implement the echo function.
 *
 * @module
 */
import { formatIpv4 } from "../../stack/wire/address.ts";
import type { Stack } from "../../stack/net/stack.ts";
import type { TcpConn } from "../../stack/tcp/conn.ts";
import type { TcpListener } from "../../stack/tcp/listener.ts";
import type { UdpSocket } from "../../stack/udp/socket.ts";

/** BGP's port (RFC 4271 8.2.1). */
export const BGP_PORT = 179;
/** Single-hop BFD control port (RFC 5881 4). */
export const BFD_PORT = 3784;
/** GTSM: single-hop packets are sent and must arrive with this TTL (RFC 5082, RFC 5881 5). */
const GTSM_TTL = 255;

/** Counters the relay keeps (for `/metrics` and tests). */
export interface RelayStats {
  bgpConnections: number;
  bgpRefused: number;
  bfdOut: number;
  bfdIn: number;
}

/** Copies `from` into `to` until EOF (then half-closes `to`); throws on a failure. */
async function pump(from: TcpConn, to: TcpConn): Promise<void> {
  const buf = new Uint8Array(16 * 1024);
  for (;;) {
    const n = await from.read(buf);
    if (n === null) {
      await to.closeWrite();
      return;
    }
    let off = 0;
    while (off < n) off += await to.write(buf.subarray(off, n));
  }
}

/** Closes a connection that may be closed already. */
function closeQuietly(c: TcpConn): void {
  try {
    c.close();
  } catch {
    // already closed
  }
}

/** Both directions until both have ended; any error closes both. */
async function splice(a: TcpConn, b: TcpConn): Promise<void> {
  try {
    await Promise.all([pump(a, b), pump(b, a)]);
  } catch {
    // a reset or close on one side: the other side sees it as a close
  } finally {
    closeQuietly(a);
    closeQuietly(b);
  }
}

/** The relay of one instance; `close()` ends it. */
export class BgpRelay {
  readonly stats: RelayStats = { bgpConnections: 0, bgpRefused: 0, bfdOut: 0, bfdIn: 0 };
  readonly #outer: Stack;
  readonly #inner: Stack;
  readonly #peer: string;
  readonly #self: string;
  readonly #listeners: TcpListener[] = [];
  readonly #sockets: UdpSocket[] = [];
  readonly #conns = new Set<TcpConn>();
  /** Sending sockets by source port, per side (bound lazily, one per BFD session). */
  readonly #outerPorts = new Map<number, UdpSocket>();
  readonly #innerPorts = new Map<number, UdpSocket>();
  #closed = false;

  /**
   * `outer`: the instance's stack (address `self`); `inner`: the stack on the TAP into BIRD's
   * namespace, whose address is `peer` (the router's).
   */
  constructor(outer: Stack, inner: Stack, peer: number, self: number, bfd: boolean) {
    this.#outer = outer;
    this.#inner = inner;
    this.#peer = formatIpv4(peer);
    this.#self = formatIpv4(self);
    // BIRD -> router.
    this.#acceptLoop(
      inner.listen({ port: BGP_PORT, hostname: this.#peer }),
      () => outer.connect({ hostname: this.#peer, port: BGP_PORT, timeoutMs: 5000 }),
    );
    // Router -> BIRD.
    this.#acceptLoop(
      outer.listen({ port: BGP_PORT, hostname: this.#self }),
      () => inner.connect({ hostname: this.#self, port: BGP_PORT, timeoutMs: 5000 }),
      this.#peer,
    );
    if (bfd) {
      this.#bfdLoop(inner, this.#self, outer, this.#outerPorts, this.#self, "out");
      this.#bfdLoop(outer, this.#peer, inner, this.#innerPorts, this.#peer, "in");
    }
  }

  /** Accepts on `listener`; each connection is spliced to a new one from `open`. */
  #acceptLoop(listener: TcpListener, open: () => Promise<TcpConn>, onlyFrom?: string): void {
    this.#listeners.push(listener);
    (async () => {
      for await (const c of listener) {
        if (onlyFrom !== undefined && c.remoteAddr.hostname !== onlyFrom) {
          this.stats.bgpRefused++;
          closeQuietly(c);
          continue;
        }
        this.#conns.add(c);
        open().then((other) => {
          if (this.#closed) {
            closeQuietly(other);
            closeQuietly(c);
            return;
          }
          this.stats.bgpConnections++;
          this.#conns.add(other);
          splice(c, other).finally(() => {
            this.#conns.delete(c);
            this.#conns.delete(other);
          });
        }, () => {
          // The far side refused or did not answer: so does the relay.
          this.#conns.delete(c);
          closeQuietly(c);
        });
      }
    })().catch(() => {});
  }

  /**
   * BFD from `from` (received on its 3784 from `expectFrom`, TTL 255) to the other stack's 3784,
   * sent from the same source port on `to` (address `toSource`) with TTL 255.
   */
  #bfdLoop(
    from: Stack,
    expectFrom: string,
    to: Stack,
    ports: Map<number, UdpSocket>,
    toSource: string,
    dir: "in" | "out",
  ): void {
    const hostname = from === this.#outer ? this.#self : this.#peer;
    const dest = from === this.#outer ? this.#self : this.#peer;
    const rx = from.listenDatagram({
      transport: "udp",
      port: BFD_PORT,
      hostname,
      ttl: GTSM_TTL,
      minTtl: GTSM_TTL,
    });
    this.#sockets.push(rx);
    (async () => {
      for await (const [data, addr] of rx) {
        if (addr.hostname !== expectFrom) continue;
        let tx = ports.get(addr.port);
        if (tx === undefined) {
          try {
            tx = to.listenDatagram({
              transport: "udp",
              port: addr.port,
              hostname: toSource,
              ttl: GTSM_TTL,
              minTtl: GTSM_TTL,
            });
          } catch {
            continue; // the port is taken on that side: this session cannot be relayed
          }
          ports.set(addr.port, tx);
          this.#sockets.push(tx);
        }
        try {
          await tx.send(data, { hostname: dest, port: BFD_PORT });
          if (dir === "out") this.stats.bfdOut++;
          else this.stats.bfdIn++;
        } catch {
          // no route or closed: BFD's own timers deal with a lost packet
        }
      }
    })().catch(() => {});
  }

  /** Closes the listeners, the sockets and every relayed connection. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const l of this.#listeners) {
      try {
        l.close();
      } catch {
        // the stack closed it already
      }
    }
    for (const s of this.#sockets) s.close();
    for (const c of this.#conns) closeQuietly(c);
    this.#conns.clear();
  }
}
