/**
 * The balancer's forwarding path in memory, one core: a frame of an established flow goes
 * through `Stack.input` (Ethernet demux, IPv4 validation with the header checksum, the hook,
 * the connection-table lookup and TCP state tracking, the rewrite, the counters) and out to a
 * device that only counts. No TAP: this is the userspace cost per packet, the ceiling a TAP
 * loop (docs/BENCHMARKS.md "TAP receive loop") then divides.
 *
 * Each iteration forwards BATCH packets, cycling over FLOWS established flows; each packet is
 * first copied from a template into the receive buffer (as the device's read would put it
 * there, and because NAT rewrites it in place). "copy only" measures that copy alone.
 *
 *   scripts/deno bench -A scripts/bench/lb_forward_bench.ts
 *
 * The same for IPv6 (a VIP and real servers in 2001:db8::/64, clients in 2001:db8:1::/48 behind
 * the IPv6 gateway, neighbors known and REACHABLE): "v6" rows, in groups of their own with their
 * own copy baseline. The IPv6 packets are 60 bytes (IPv6 + TCP headers) and 1460 bytes (so that
 * the IPv6-in-IPv6 packet of TUN is 1500, as the 1480-byte IPv4 packet's IP-in-IP one is).
 * `LB_FWD_FAMILY=4` or `=6` (environment) sets up and runs only one family (default: both);
 * `LB_FWD_REALS=1` gives each service one real server instead of three.
 *
 * Run as a script, it checks that forwarding allocates nothing: it forwards 300,000 packets per
 * method and family and prints the time window (ms since start, as V8's GC trace counts) of each
 * run; no "Scavenge" line of the trace may fall inside a window (V8 buffers its trace, so compare
 * the times, not the order of the lines):
 *
 *   scripts/deno run -A --v8-flags=--trace-gc scripts/bench/lb_forward_bench.ts
 *
 * With `--sample` it then forwards 60,000 more packets per method and family under V8's sampling
 * heap profiler and prints the bytes allocated per packet under stack/ and lb/, and where.
 *
 * @module
 */

import { FakeClock } from "../../stack/clock.ts";
import { type Device, type DeviceStats, newDeviceStats } from "../../stack/link/device.ts";
import { Stack } from "../../stack/net/stack.ts";
import { Balancer } from "../../lb/balancer.ts";
import { copyPacket } from "../../lb/forward/copy.ts";
import { type ForwardMethod, VirtualService } from "../../lb/service.ts";
import { writeEthernetHeader } from "../../stack/wire/ethernet.ts";
import { IP_PROTO_TCP, newIpv4Header, writeIpv4Header } from "../../stack/wire/ipv4.ts";
import { newTcpHeader, TcpView, writeTcpHeader } from "../../stack/wire/tcp.ts";
import { IPV6_NH_TCP, writeIpv6Header } from "../../stack/wire/ipv6.ts";
import { parseIpv6 } from "../../stack/wire/address6.ts";
import { parseAddress } from "../../lb/address.ts";
import { sampledAllocation } from "./_alloc.ts";

const BATCH = 1000;
const FLOWS = 10_000;
const LB = 0x0a000001;
const VIP = 0x0a000064;
const CLIENT_BASE = 0x0b000000;
/** `LB_FWD_REALS=1`: one real server (the next hop never changes), else three. */
const NREALS = Number(Deno.env.get("LB_FWD_REALS") ?? "3");
const REALS = [0x0a00000b, 0x0a00000c, 0x0a00000d].slice(0, NREALS);
const MAC = (n: number) => new Uint8Array([2, 0, 0, 0, 0, n]);
const FAMILY = Deno.env.get("LB_FWD_FAMILY") ?? "both";
const V4 = FAMILY !== "6";
const V6 = FAMILY !== "4";

// IPv6: the balancer 2001:db8::1/64, gateway ::fe, VIP ::100, real servers ::11-::13 (on the
// link), clients 2001:db8:1::/48 (behind the gateway, as the Internet's would be).
const VIP6_TEXT = "2001:db8::100";
const REALS6_TEXT = ["2001:db8::11", "2001:db8::12", "2001:db8::13"].slice(0, NREALS);
const GW6 = parseIpv6("2001:db8::fe")!;
const VIP6 = parseIpv6(VIP6_TEXT)!;
const CLIENT6_PREFIX = parseIpv6("2001:db8:1::")!;

/** A device that counts what it is given and receives nothing. */
class NullDevice implements Device {
  readonly name = "null0";
  readonly mac = MAC(1);
  readonly mtu = 1500;
  readonly stats: DeviceStats = newDeviceStats();
  run(): Promise<void> {
    return new Promise(() => {});
  }
  send(_buf: Uint8Array, _off: number, len: number): boolean {
    this.stats.txFrames++;
    this.stats.txBytes += len;
    return true;
  }
  close(): void {}
}

/** Writes a client -> VIP:80 frame (IP packet of `ipLen` bytes) at buf[2]; returns its length. */
function writeFrame(
  buf: Uint8Array,
  src: number,
  sport: number,
  dst: number,
  dport: number,
  flags: number,
  ipLen: number,
): number {
  writeEthernetHeader(buf, 2, MAC(1), MAC(0x32), 0x0800);
  const h = newIpv4Header();
  h.src = src;
  h.dst = dst;
  h.protocol = IP_PROTO_TCP;
  h.payloadLen = ipLen - 20;
  writeIpv4Header(buf, 16, h);
  const t = newTcpHeader();
  t.srcPort = sport;
  t.dstPort = dport;
  t.flags = flags;
  t.seq = 1000;
  t.ack = 2000;
  t.window = 65535;
  writeTcpHeader(buf, 36, t);
  new TcpView().wrap(buf, 36, ipLen - 20).fillChecksum(src, dst);
  return 14 + ipLen;
}

/** Client number `i`'s IPv6 address: 2001:db8:1::/48 with `i` in the last 32 bits. */
function client6(i: number): Uint8Array {
  const a = CLIENT6_PREFIX.slice();
  a[12] = i >>> 24;
  a[13] = (i >>> 16) & 0xff;
  a[14] = (i >>> 8) & 0xff;
  a[15] = i & 0xff;
  return a;
}

/** {@link writeFrame} for IPv6: an IPv6 packet of `ipLen` bytes (40 + 20 + data) at buf[2]. */
function writeFrame6(
  buf: Uint8Array,
  src: Uint8Array,
  sport: number,
  dst: Uint8Array,
  dport: number,
  flags: number,
  ipLen: number,
): number {
  writeEthernetHeader(buf, 2, MAC(1), MAC(0xfe), 0x86dd);
  writeIpv6Header(buf, 16, {
    trafficClass: 0,
    flowLabel: 0,
    payloadLength: ipLen - 40,
    nextHeader: IPV6_NH_TCP,
    hopLimit: 64,
    src,
    dst,
  });
  const t = newTcpHeader();
  t.srcPort = sport;
  t.dstPort = dport;
  t.flags = flags;
  t.seq = 1000;
  t.ack = 2000;
  t.window = 65535;
  writeTcpHeader(buf, 56, t);
  new TcpView().wrap(buf, 56, ipLen - 40).fillChecksum6(buf, 24, 40);
  return 14 + ipLen;
}

interface Setup {
  stack: Stack;
  /** Templates: FLOWS frames at stride `stride`, each at offset 2 of its slot. */
  templates: Uint8Array;
  stride: number;
  len: number;
}

function setup(method: ForwardMethod, ipLen: number, reply = false): Setup {
  const stack = new Stack({
    device: new NullDevice(),
    address: LB,
    prefix: 24,
    clock: new FakeClock(0),
  });
  REALS.forEach((r, i) => stack.arp.addStatic(r, MAC(0x0b + i)));
  for (let i = 0; i < FLOWS; i++) stack.arp.addStatic((CLIENT_BASE + i) >>> 0, MAC(0x32));
  const balancer = new Balancer(stack, { maxConns: FLOWS * 2, seed: 1 });
  const svc = new VirtualService({ protocol: "tcp", vip: VIP, port: 80, scheduler: "rr", method });
  for (const r of REALS) svc.addReal({ address: r, port: method === "nat" ? 8080 : 0 });
  balancer.addService(svc);
  balancer.attach();
  // Clients on the link (so NAT replies route without a gateway): 11.0.x.y/8 is not, so give
  // the stack a connected route for them.
  stack.routes.add({ destination: CLIENT_BASE, prefix: 8, gateway: 0, iface: "null0" });
  const stride = (2 + 14 + ipLen + 3) & ~3; // slots 4-byte aligned, like the device's buffer
  const templates = new Uint8Array(stride * FLOWS);
  const scratch = new Uint8Array(stride);
  let len = 0;
  for (let i = 0; i < FLOWS; i++) {
    const client = (CLIENT_BASE + i) >>> 0;
    const port = 1024 + (i & 0x3fff);
    // Establish: SYN and ACK from the client (and, for NAT, the server's SYN-ACK).
    for (const flags of [0x02, 0x10]) {
      const l = writeFrame(scratch, client, port, VIP, 80, flags, 40);
      stack.input(scratch, 2, l);
    }
    const slot = balancer.conns.lookupIn(IP_PROTO_TCP, client, port, VIP, 80);
    const real = balancer.conns.realIp(slot);
    const sub = templates.subarray(i * stride, (i + 1) * stride);
    len = reply
      ? writeFrame(sub, real, 8080, client, port, 0x10, ipLen)
      : writeFrame(sub, client, port, VIP, 80, 0x10, ipLen);
  }
  return { stack, templates, stride, len };
}

/** {@link setup} with an IPv6 VIP and IPv6 real servers. */
function setup6(method: ForwardMethod, ipLen: number, reply = false): Setup {
  const stack = new Stack({
    device: new NullDevice(),
    address: LB,
    prefix: 24,
    clock: new FakeClock(0),
    ipv6: ["2001:db8::1/64"],
    gateway6: "2001:db8::fe",
    dad: false,
  });
  // Neighbors known and confirmed (REACHABLE, as after Neighbor Discovery; the fake clock never
  // reaches their 30 s timeout).
  const nb = stack.ipv6!.neighbors;
  const neighbor = (a: Uint8Array, mac: Uint8Array) => {
    nb.learn(a, 0, mac);
    nb.confirm(a);
  };
  neighbor(GW6, MAC(0xfe));
  REALS6_TEXT.forEach((r, i) => neighbor(parseIpv6(r)!, MAC(0x0b + i)));
  const balancer = new Balancer(stack, { maxConns: FLOWS * 2, seed: 1 });
  const svc = new VirtualService({
    protocol: "tcp",
    vip: parseAddress(VIP6_TEXT)!,
    port: 80,
    scheduler: "rr",
    method,
  });
  for (const r of REALS6_TEXT) {
    svc.addReal({ address: parseAddress(r)!, port: method === "nat" ? 8080 : 0 });
  }
  balancer.addService(svc);
  balancer.attach();
  const stride = (2 + 14 + ipLen + 3) & ~3;
  const templates = new Uint8Array(stride * FLOWS);
  const scratch = new Uint8Array(stride);
  let len = 0;
  for (let i = 0; i < FLOWS; i++) {
    const client = client6(i);
    const port = 1024 + (i & 0x3fff);
    for (const flags of [0x02, 0x10]) {
      const l = writeFrame6(scratch, client, port, VIP6, 80, flags, 60);
      stack.input(scratch, 2, l);
    }
    writeFrame6(scratch, client, port, VIP6, 80, 0x10, 60); // NAT rewrote it in place
    const slot = balancer.conns.lookupIn6(IP_PROTO_TCP, scratch, 24, 40, port, 80);
    if (slot < 0) throw new Error(`IPv6 flow ${i} not established`);
    const real = balancer.conns.real(slot).address6 as Uint8Array;
    const sub = templates.subarray(i * stride, (i + 1) * stride);
    len = reply
      ? writeFrame6(sub, real, 8080, client, port, 0x10, ipLen)
      : writeFrame6(sub, client, port, VIP6, 80, 0x10, ipLen);
  }
  return { stack, templates, stride, len };
}

const rx = new Uint8Array(2 + 14 + 1500 + 2);
let sink = 0;

function bench(name: string, s: Setup, group: string) {
  const { stack, templates, stride, len } = s;
  let next = 0;
  Deno.bench(`${name} (x${BATCH})`, { group }, () => {
    for (let i = 0; i < BATCH; i++) {
      const o = next * stride;
      copyPacket(templates, o, rx, 0, 2 + len);
      stack.input(rx, 2, len);
      if (++next === FLOWS) next = 0;
    }
  });
  sink += stack.counters.get("hook.consumed");
}

function benchGroup(v6: boolean, ipLen: number): void {
  const fam = v6 ? "v6 " : "";
  const group = `${v6 ? "IPv6 " : ""}${ipLen}-byte IP packets`;
  const make = v6 ? setup6 : setup;
  const copy = make("dr", ipLen);
  let n = 0;
  Deno.bench(`${fam}copy only, ${ipLen} B (x${BATCH})`, { group, baseline: true }, () => {
    for (let i = 0; i < BATCH; i++) {
      const o = n * copy.stride;
      copyPacket(copy.templates, o, rx, 0, 2 + copy.len);
      sink += rx[20];
      if (++n === FLOWS) n = 0;
    }
  });
  bench(`${fam}dr forward, ${ipLen} B`, make("dr", ipLen), group);
  bench(`${fam}nat forward (client -> real), ${ipLen} B`, make("nat", ipLen), group);
  bench(`${fam}nat reply (real -> client), ${ipLen} B`, make("nat", ipLen, true), group);
  bench(`${fam}tun forward, ${ipLen} B`, make("tun", ipLen), group);
}

if (!import.meta.main) {
  if (V4) { for (const ipLen of [40, 1480]) benchGroup(false, ipLen); }
  if (V6) { for (const ipLen of [60, 1460]) benchGroup(true, ipLen); }
}

/** Forwards 300,000 packets per method and family between markers (see the module doc). */
async function gcCheck(sample: boolean): Promise<void> {
  const cases: [string, Setup][] = [];
  for (const method of ["dr", "nat", "tun"] as const) {
    if (V4) cases.push([method, setup(method, 40)]);
    if (V6) cases.push([`v6 ${method}`, setup6(method, 60)]);
  }
  if (V4) cases.push(["nat reply", setup("nat", 40, true)]);
  if (V6) cases.push(["v6 nat reply", setup6("nat", 60, true)]);
  const runner = (s: Setup) => (n: number) => {
    for (let i = 0; i < n; i++) {
      const o = (i % FLOWS) * s.stride;
      copyPacket(s.templates, o, rx, 0, 2 + s.len);
      s.stack.input(rx, 2, s.len);
    }
  };
  for (const [name, s] of cases) {
    const run = runner(s);
    run(100_000); // optimized code, caches warm
    const start = performance.now();
    run(300_000);
    const end = performance.now();
    console.error(
      `-- ${name}: 300000 packets forwarded from ${start.toFixed(0)} ms to ${end.toFixed(0)} ms`,
    );
  }
  if (!sample) return;
  for (const [name, s] of cases) {
    const run = runner(s);
    const a = await sampledAllocation(
      () => run(1000),
      60,
      1000,
      (url) => url.includes("/stack/") || url.includes("/lb/"),
    );
    console.error(`-- ${name}: ${a.perUnit.toFixed(1)} bytes allocated per packet (sampled)`);
    for (const site of a.sites.slice(0, 8)) {
      console.error(`     ${site.perUnit.toFixed(1)} B  ${site.where}`);
    }
  }
}

if (import.meta.main) await gcCheck(Deno.args.includes("--sample"));

globalThis.addEventListener("unload", () => {
  if (sink === -1) console.log(sink);
});
