/**
 * Active opens (RFC 9293 3.10.1 OPEN, active): checks of the destination (an IPv4 or IPv6
 * literal with a route, not a broadcast or multicast address; over IPv6 the source is the
 * host's address on the destination's prefix), the local port (given, with Linux's
 * tcp_tw_reuse for a TIME_WAIT tuple with timestamps; or ephemeral, RFC 6056), an RFC 6528
 * ISS, the SYN with our options, and an optional deadline for the handshake.
 *
 * @module
 */

import { formatIpv4, isMulticastIpv4 } from "../wire/address.ts";
import { formatIpv6, isIpv6Multicast, isIpv6Unspecified } from "../wire/address6.ts";
import { type ConnectOptions, DEFAULT_CONNECT_HOSTNAME, openParams } from "./api_options.ts";
import { newTcpConn, type TcpConn, whenEstablished } from "./conn.ts";
import { addrInUse, networkUnreachable } from "./errors.ts";
import type { TcpHost, TcpLayer } from "./layer.ts";
import { offerOptions, setMss } from "./options.ts";
import { output } from "./output.ts";
import { SYN_SENT, TIME_WAIT } from "./state.ts";
import { setState } from "./transitions.ts";

/** 127.0.0.1: the source of connections to 127/8. */
const LOOPBACK_ADDRESS = 0x7f000001;

/** Opens a connection as `stack.connect` describes; resolves once ESTABLISHED. */
export function activeOpen(
  layer: TcpLayer,
  host: TcpHost,
  options: ConnectOptions,
): Promise<TcpConn> {
  const signal = options.signal;
  if (signal?.aborted) return Promise.reject(signal.reason);
  let raddr: number;
  let rport: number;
  let remote6: Uint8Array | null;
  try {
    ({ addr: raddr, port: rport, addr6: remote6 } = openParams(
      options.hostname ?? DEFAULT_CONNECT_HOSTNAME,
      options.port,
      "connect",
    ));
  } catch (e) {
    return Promise.reject(e);
  }
  if (remote6 !== null) return activeOpen6(layer, host, options, remote6, rport);
  const remote = `${formatIpv4(raddr)}:${rport}`;
  if (raddr === 0 || host.isBroadcast(raddr) || isMulticastIpv4(raddr)) {
    return Promise.reject(networkUnreachable(`cannot connect to ${remote}`));
  }
  // 127/8 and the host's own addresses are reached through the stack's loopback
  // (stack/net/loopback.ts), from 127.0.0.1 or from the address itself, as Linux picks them.
  const loopback = (raddr >>> 24) === 127;
  const own = host.hasAddress(raddr);
  if (!loopback && !own && host.routes.nextHop(raddr) === null) {
    return Promise.reject(networkUnreachable(`no route to ${remote}`));
  }
  const laddr = loopback ? LOOPBACK_ADDRESS : own ? raddr : host.address;
  return open(layer, options, laddr, raddr, rport, remote, null, null);
}

/**
 * The IPv6 half of {@link activeOpen}: the destination must be unicast and routable over the
 * host's IPv6; ::1 and the host's own addresses are reached through the stack's loopback, from
 * the address itself.
 */
function activeOpen6(
  layer: TcpLayer,
  host: TcpHost,
  options: ConnectOptions,
  remote6: Uint8Array,
  rport: number,
): Promise<TcpConn> {
  const remote = `[${formatIpv6(remote6)}]:${rport}`;
  const v6 = host.ipv6;
  if (v6 == null) return Promise.reject(networkUnreachable(`no IPv6 address to reach ${remote}`));
  if (isIpv6Multicast(remote6) || isIpv6Unspecified(remote6)) {
    return Promise.reject(networkUnreachable(`cannot connect to ${remote}`));
  }
  if (!v6.routable(remote6)) return Promise.reject(networkUnreachable(`no route to ${remote}`));
  const local6 = v6.sourceFor(remote6).slice();
  const laddr = layer.addrKey6(local6, 0);
  const raddr = layer.addrKey6(remote6, 0);
  return open(layer, options, laddr, raddr, rport, remote, local6, remote6);
}

/** The open itself, once the addresses are chosen (IPv6: keys, with the addresses beside). */
function open(
  layer: TcpLayer,
  options: ConnectOptions,
  laddr: number,
  raddr: number,
  rport: number,
  remote: string,
  local6: Uint8Array | null,
  remote6: Uint8Array | null,
): Promise<TcpConn> {
  const signal = options.signal;
  const now = layer.clock.now();
  let lport = options.localPort ?? 0;
  if (lport !== 0) {
    if (!Number.isInteger(lport) || lport < 1 || lport > 65535) {
      return Promise.reject(new RangeError(`localPort ${lport} is not in 1..65535`));
    }
    const old = layer.lookup(laddr, lport, raddr, rport, local6, remote6);
    if (old !== null) {
      // Linux's tcp_tw_reuse: a TIME_WAIT tuple with timestamps, older than a second, is safe
      // to reuse (PAWS tells the old segments apart, RFC 7323 5.8).
      if (old.state === TIME_WAIT && old.opts.tsOk && now - old.stateSince >= 1000) {
        layer.counters.count("tcp.time_wait_reused");
        layer.release(old);
      } else {
        return Promise.reject(addrInUse(`local port ${lport} -> ${remote}`));
      }
    }
  } else {
    lport = layer.pickPort(laddr, raddr, rport, local6, remote6);
    if (lport < 0) return Promise.reject(addrInUse(`no free local port toward ${remote}`));
  }
  const t = layer.newTcb(laddr, lport, raddr, rport, now, local6, remote6);
  offerOptions(layer, t);
  setMss(layer, t, 536);
  t.snd.iss = layer.isn.isn(laddr, lport, raddr, rport, now);
  layer.initSend(t);
  setState(t, SYN_SENT, now);
  layer.insert(t);
  const conn = newTcpConn(layer, t);
  const established = whenEstablished(conn);
  if (options.timeoutMs !== undefined) {
    t.timers.lingerAt = now + options.timeoutMs;
    layer.armTimer(t, t.timers.lingerAt);
  }
  layer.counters.count("tcp.active_opens");
  output(layer, t);
  if (signal === undefined) return established;
  // As Deno.connect: the signal cancels the handshake (the connection, once made, is the
  // caller's); the promise then rejects with the signal's reason.
  const onAbort = () => conn.close();
  signal.addEventListener("abort", onAbort, { once: true });
  return established.then(
    (c) => {
      signal.removeEventListener("abort", onAbort);
      return c;
    },
    (e) => {
      signal.removeEventListener("abort", onAbort);
      throw signal.aborted ? signal.reason : e;
    },
  );
}
