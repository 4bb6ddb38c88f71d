/**
 * A connection attempt whose next hop never answered ARP: Linux fails it with EHOSTUNREACH
 * ("No route to host") once neighbour resolution gives up, about 3 s after the SYN (three
 * requests a second apart), rather than retrying the SYN for two minutes. The stack does the same:
 * the ARP cache hands back each packet that waited (stack/net/arp.ts), and a SYN among them
 * ends its handshake with `Deno.errors.NetworkUnreachable` ("No route to host"). Over IPv6 the
 * neighbor cache (stack/net/ndp.ts, RFC 4861 7.3.3: three solicitations) hands them back alike.
 *
 * @module
 */

import { readU16, readU32 } from "../wire/bytes.ts";
import { IP_PROTO_TCP } from "../wire/ipv4.ts";
import { hostUnreachable } from "./errors.ts";
import type { TcpLayer } from "./layer.ts";
import { SYN_SENT } from "./state.ts";
import { abort, peerName } from "./transitions.ts";

/** A queued IPv4 packet at `buf[ipOff ..)` was dropped because its next hop is unresolvable. */
export function neighbourUnreachable(layer: TcpLayer, buf: Uint8Array, ipOff: number): void {
  if (buf.length < ipOff + 20 || buf[ipOff + 9] !== IP_PROTO_TCP) return;
  const ihl = (buf[ipOff] & 0x0f) * 4;
  const l4 = ipOff + ihl;
  if (buf.length < l4 + 4) return;
  const src = readU32(buf, ipOff + 12);
  const dst = readU32(buf, ipOff + 16);
  const t = layer.lookup(src, readU16(buf, l4), dst, readU16(buf, l4 + 2));
  if (t === null || t.state !== SYN_SENT) return;
  layer.counters.count("tcp.connect_host_unreachable");
  abort(layer, t, hostUnreachable(peerName(t)), false);
}

/** A queued IPv6 packet at `buf[ipOff ..)` was dropped: its neighbor never answered. */
export function neighbourUnreachable6(layer: TcpLayer, buf: Uint8Array, ipOff: number): void {
  // Our own segments carry no extension headers: TCP right after the IPv6 header.
  if (buf.length < ipOff + 44 || buf[ipOff + 6] !== IP_PROTO_TCP) return;
  const t = layer.lookupSent6(buf, ipOff);
  if (t === null || t.state !== SYN_SENT) return;
  layer.counters.count("tcp.connect_host_unreachable");
  abort(layer, t, hostUnreachable(peerName(t)), false);
}
