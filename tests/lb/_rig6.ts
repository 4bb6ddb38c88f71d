/**
 * The balancer with IPv6 on a real Stack over a capturing in-memory device (the IPv6 twin of
 * _rig.ts), and IPv6 packet builders written byte by byte with full checksums, independently of
 * stack/wire and of the incremental updates under test. Addresses:
 *
 *   LB 2001:db8::1/64 (02:..:01), gateway 2001:db8::fe (02:..:fe), VIP 2001:db8::100
 *   real servers 2001:db8::11, ::12, ::13 (02:..:0b, 0c, 0d); client 2001:db8::50 (02:..:32)
 *
 * @module
 */

import { FakeClock } from "../../stack/clock.ts";
import { createMemoryDevice, type MemoryDevice } from "../../stack/link/memory.ts";
import { Stack } from "../../stack/net/stack.ts";
import { parseIpv6 } from "../../stack/wire/address6.ts";
import { Balancer } from "../../lb/balancer.ts";
import { parseAddress } from "../../lb/address.ts";
import { type ForwardMethod, VirtualService } from "../../lb/service.ts";
import type { SchedulerName } from "../../lb/scheduler/scheduler.ts";
import { checksum6, concat, eth, ipv6 } from "../stack/net/_frames.ts";
import { macN } from "./_packets.ts";

/** An IPv6 address's 16 bytes. */
export const a6 = (text: string): Uint8Array => parseIpv6(text)!;

/** The balancer's IPv6 address. */
export const LB6 = a6("2001:db8::1");
/** The balancer's MAC. */
export const LB_MAC = macN(0x01);
/** The gateway. */
export const GW6 = a6("2001:db8::fe");
/** Its MAC. */
export const GW_MAC = macN(0xfe);
/** The VIP. */
export const VIP6 = a6("2001:db8::100");
/** Real servers. */
export const REALS6 = [a6("2001:db8::11"), a6("2001:db8::12"), a6("2001:db8::13")];
/** Their MACs. */
export const REAL_MACS6 = [macN(0x0b), macN(0x0c), macN(0x0d)];
/** The client (on the link). */
export const CLIENT6 = a6("2001:db8::50");
/** Its MAC. */
export const CLIENT_MAC = macN(0x32);

/** A balancer under test. */
export interface Rig6 {
  clock: FakeClock;
  device: MemoryDevice;
  stack: Stack;
  balancer: Balancer;
  /** Injects an Ethernet frame. */
  send(frame: Uint8Array): void;
  /** Removes and returns the frames sent so far. */
  sent(): Uint8Array[];
}

/** One service of {@link rig6}. */
export interface Service6Spec {
  protocol?: "tcp" | "udp";
  port?: number;
  scheduler?: SchedulerName;
  method: ForwardMethod;
  /** Real servers by index into REALS6, with a port. */
  reals: { index: number; port?: number }[];
}

/** Builds the fixture balancer with `services` on the VIP (neighbors known in advance). */
export function rig6(services: Service6Spec[], mtu = 1500): Rig6 {
  const clock = new FakeClock(1_000);
  const device = createMemoryDevice({ mac: LB_MAC, capture: true, mtu });
  const stack = new Stack({
    device,
    address: 0x0a000001,
    prefix: 24,
    clock,
    ipv6: ["2001:db8::1/64"],
    gateway6: "2001:db8::fe",
    dad: false,
  });
  const n = stack.ipv6!.neighbors;
  n.learn(GW6, 0, GW_MAC);
  n.learn(CLIENT6, 0, CLIENT_MAC);
  REALS6.forEach((r, i) => n.learn(r, 0, REAL_MACS6[i]));
  const balancer = new Balancer(stack, { seed: 7 });
  for (const s of services) {
    const svc = new VirtualService({
      protocol: s.protocol ?? "tcp",
      vip: parseAddress("2001:db8::100")!,
      port: s.port ?? 80,
      scheduler: s.scheduler ?? "rr",
      method: s.method,
    });
    for (const r of s.reals) {
      svc.addReal({ address: parseAddress(formatReal(r.index))!, port: r.port ?? 0 });
    }
    balancer.addService(svc);
  }
  balancer.attach();
  return {
    clock,
    device,
    stack,
    balancer,
    send(frame) {
      const buf = new Uint8Array(frame.length + 2);
      buf.set(frame, 2);
      stack.input(buf, 2, frame.length);
    },
    sent: () => device.takeSent(),
  };
}

const formatReal = (i: number) => `2001:db8::${11 + i}`;

function u16(b: Uint8Array, off: number, v: number): void {
  b[off] = (v >>> 8) & 0xff;
  b[off + 1] = v & 0xff;
}

/** A TCP segment over IPv6 with its checksum (RFC 8200 8.1 pseudo-header). */
export function tcp6(
  src: Uint8Array,
  dst: Uint8Array,
  sport: number,
  dport: number,
  flags: number,
  seq = 1000,
  data = new Uint8Array(0),
): Uint8Array {
  const b = new Uint8Array(20 + data.length);
  u16(b, 0, sport);
  u16(b, 2, dport);
  b[4] = seq >>> 24;
  b[5] = (seq >>> 16) & 0xff;
  b[6] = (seq >>> 8) & 0xff;
  b[7] = seq & 0xff;
  b[12] = 5 << 4;
  b[13] = flags;
  u16(b, 14, 64240);
  b.set(data, 20);
  u16(b, 16, checksum6(src, dst, 6, b));
  return b;
}

/** A TCP/IPv6 packet. */
export function tcp6Packet(
  src: Uint8Array,
  dst: Uint8Array,
  sport: number,
  dport: number,
  flags: number,
  hlim = 64,
  data = new Uint8Array(0),
): Uint8Array {
  return ipv6({ src, dst, nh: 6, hlim }, tcp6(src, dst, sport, dport, flags, 1000, data));
}

/** An Ethernet frame carrying an IPv6 packet. */
export function frame6(dstMac: Uint8Array, srcMac: Uint8Array, packet: Uint8Array): Uint8Array {
  return concat(eth(dstMac, srcMac, 0x86dd), packet);
}

/** An ICMPv6 error (type, code, 32-bit parameter) quoting `quoted`, with its checksum. */
export function icmp6Error(
  src: Uint8Array,
  dst: Uint8Array,
  type: number,
  code: number,
  param: number,
  quoted: Uint8Array,
): Uint8Array {
  const b = new Uint8Array(8 + quoted.length);
  b[0] = type;
  b[1] = code;
  u16(b, 4, param >>> 16);
  u16(b, 6, param & 0xffff);
  b.set(quoted, 8);
  u16(b, 2, checksum6(src, dst, 58, b));
  return ipv6({ src, dst, nh: 58, hlim: 64 }, b);
}
