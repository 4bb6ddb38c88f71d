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
 * Run as a script, it checks that forwarding allocates nothing: it forwards 300,000 packets per
 * method and prints the time window (ms since start, as V8's GC trace counts) of each run;
 * no "Scavenge" line of the trace may fall inside a window (V8 buffers its trace, so compare
 * the times, not the order of the lines):
 *
 *   scripts/deno run -A --v8-flags=--trace-gc scripts/bench/lb_forward_bench.ts
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

const BATCH = 1000;
const FLOWS = 10_000;
const LB = 0x0a000001;
const VIP = 0x0a000064;
const CLIENT_BASE = 0x0b000000;
const REALS = [0x0a00000b, 0x0a00000c, 0x0a00000d];
const MAC = (n: number) => new Uint8Array([2, 0, 0, 0, 0, n]);

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

for (const ipLen of [40, 1480]) {
  const group = `${ipLen}-byte IP packets`;
  const copy = setup("dr", ipLen);
  let n = 0;
  Deno.bench(`copy only, ${ipLen} B (x${BATCH})`, { group, baseline: true }, () => {
    for (let i = 0; i < BATCH; i++) {
      const o = n * copy.stride;
      copyPacket(copy.templates, o, rx, 0, 2 + copy.len);
      sink += rx[20];
      if (++n === FLOWS) n = 0;
    }
  });
  bench(`dr forward, ${ipLen} B`, setup("dr", ipLen), group);
  bench(`nat forward (client -> real), ${ipLen} B`, setup("nat", ipLen), group);
  bench(`nat reply (real -> client), ${ipLen} B`, setup("nat", ipLen, true), group);
  bench(`tun forward, ${ipLen} B`, setup("tun", ipLen), group);
}

/** Forwards 300,000 packets per method between markers (see the module doc). */
function gcCheck(): void {
  for (const method of ["dr", "nat", "tun"] as const) {
    const s = setup(method, 40);
    const run = (n: number) => {
      for (let i = 0; i < n; i++) {
        const o = (i % FLOWS) * s.stride;
        copyPacket(s.templates, o, rx, 0, 2 + s.len);
        s.stack.input(rx, 2, s.len);
      }
    };
    run(100_000); // optimized code, caches warm
    const start = performance.now();
    run(300_000);
    const end = performance.now();
    console.error(
      `-- ${method}: 300000 packets forwarded from ${start.toFixed(0)} ms to ${end.toFixed(0)} ms`,
    );
  }
}

if (import.meta.main) gcCheck();

globalThis.addEventListener("unload", () => {
  if (sink === -1) console.log(sink);
});
