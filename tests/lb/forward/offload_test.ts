/**
 * The balancer forwarding frames that came with offload metadata (a TAP with `--offload`,
 * stack/link/offload.ts), on a Stack over an in-memory device with offloads. Expected bytes and
 * checksums are built from scratch (tests/lb/_packets.ts):
 * - NAT: the partial (pseudo-header) checksum is rewritten for the new address only; completing
 *   it gives exactly the full checksum of the rewritten segment computed from scratch; the
 *   metadata goes to the device with the frame;
 * - DR: a super-frame with DF goes out whole to the real server's MAC, metadata carried, no ICMP;
 * - TUN: a super-frame is cut into gso_size segments, each exactly the segment built from
 *   scratch (sequence numbers, IP ids, PSH/FIN on the last, CWR on the first, full checksums),
 *   tunnelled; a partial checksum is completed before encapsulation.
 */
import { assert, assertEquals } from "../../assert.ts";
import { FakeClock } from "../../../stack/clock.ts";
import { createMemoryDevice } from "../../../stack/link/memory.ts";
import {
  type FrameOffload,
  newFrameOffload,
  VNET_F_NEEDS_CSUM,
  VNET_GSO_TCPV4,
} from "../../../stack/link/offload.ts";
import { Stack } from "../../../stack/net/stack.ts";
import { Balancer } from "../../../lb/balancer.ts";
import { type ForwardMethod, VirtualService } from "../../../lb/service.ts";
import { partialAdjust32 } from "../../../lb/forward/rewrite.ts";
import { checksum } from "../../stack/net/_frames.ts";
import {
  ACK,
  diff,
  FIN,
  frame,
  ipHeaderOk,
  pattern,
  PSH,
  r16,
  r32,
  SYN,
  tcpPacket,
  udp,
} from "../_packets.ts";
import { ipv4 } from "../_packets.ts";
import {
  CLIENT,
  CLIENT_MAC,
  GW,
  GW_MAC,
  LB,
  LB_MAC,
  REAL1,
  REAL_MACS,
  REMOTE_CLIENT,
  REMOTE_REAL,
  VIP,
} from "../_rig.ts";

const R1_MAC = REAL_MACS.get(REAL1)!;
const CWR = 0x80;

/** The balancer on a stack over a capturing in-memory device with offloads. */
function offloadRig(
  services: { method: ForwardMethod; reals: { address: number; port?: number }[]; udp?: boolean }[],
) {
  const device = createMemoryDevice({ mac: LB_MAC, capture: true, offload: true });
  const stack = new Stack({
    device,
    address: LB,
    prefix: 24,
    gateway: GW,
    clock: new FakeClock(1),
  });
  stack.arp.addStatic(GW, GW_MAC);
  stack.arp.addStatic(CLIENT, CLIENT_MAC);
  for (const [a, m] of REAL_MACS) stack.arp.addStatic(a, m);
  const balancer = new Balancer(stack, { seed: 7 });
  for (const s of services) {
    const svc = new VirtualService({
      protocol: s.udp ? "udp" : "tcp",
      vip: VIP,
      port: s.udp ? 53 : 80,
      scheduler: "rr",
      method: s.method,
    });
    for (const r of s.reals) svc.addReal(r);
    balancer.addService(svc);
  }
  balancer.attach();
  const rx = device.rxOffload!;
  return {
    stack,
    device,
    /** Injects `f` with metadata `meta` (plain when omitted), aligned as the TAP hands it over. */
    send(f: Uint8Array, meta: Partial<FrameOffload> = {}) {
      Object.assign(rx, newFrameOffload(), meta);
      const buf = new Uint8Array(f.length + 18);
      buf.set(f, 18);
      stack.input(buf, 18, f.length);
      // The forwarded frame took the received metadata along; nobody changed it on the way.
      assertEquals(rx, { ...newFrameOffload(), ...meta }, "rxOffload untouched by forwarding");
      Object.assign(rx, newFrameOffload());
    },
    /** The frames sent since the last call, each with the metadata it was sent with. */
    sent(): { f: Uint8Array; meta: FrameOffload }[] {
      const meta = device.takeSentOffload();
      return device.takeSent().map((f, i) => ({ f, meta: meta[i] }));
    },
  };
}

/** The folded pseudo-header sum, not complemented: the kernel's partial checksum. */
function partialSum(src: number, dst: number, proto: number, len: number): number {
  let s = (src >>> 16) + (src & 0xffff) + (dst >>> 16) + (dst & 0xffff) + proto + len;
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return s;
}

/** The packet `p` (IPv4 without options) with its L4 checksum in the kernel's partial form. */
function partial(p: Uint8Array, field: number): Uint8Array {
  const v = partialSum(r32(p, 12), r32(p, 16), p[9], p.length - 20);
  p[20 + field] = v >>> 8;
  p[20 + field + 1] = v & 0xff;
  return p;
}

/**
 * Completes the partial L4 checksum of the IPv4 packet at `f[14..)` as the kernel would: the sum
 * from the L4 header to the end, the partial sum in the field standing for the pseudo-header,
 * complemented. The frame is not changed.
 */
function completed(f: Uint8Array): number {
  const c = checksum(f.slice(34));
  return c === 0 ? 0xffff : c;
}

/** The full L4 checksum of the IPv4 packet at `f[14..)` computed from scratch (field zeroed). */
function scratch(f: Uint8Array, field: number): number {
  const l4 = f.slice(34);
  l4[field] = 0;
  l4[field + 1] = 0;
  const pseudo = new Uint8Array(12 + l4.length);
  pseudo.set(f.subarray(26, 34), 0);
  pseudo[9] = f[23];
  pseudo[10] = l4.length >>> 8;
  pseudo[11] = l4.length & 0xff;
  pseudo.set(l4, 12);
  return checksum(pseudo);
}

const GSO_META = {
  flags: VNET_F_NEEDS_CSUM,
  gsoType: VNET_GSO_TCPV4,
  gsoSize: 1448,
  hdrLen: 54,
  csumStart: 34,
  csumOffset: 16,
};

Deno.test("partialAdjust32: the partial sum for the new address, as the kernel computes it", () => {
  for (
    const [src, a, b, len] of [[0x0a000032, 0x0a000064, 0x0a00000b, 20020], [
      0xc0a80709,
      0xffffffff,
      0x00000001,
      8,
    ], [0x01020304, 0x0a000064, 0x0a000064, 1000]]
  ) {
    assertEquals(partialAdjust32(partialSum(src, a, 6, len), a, b), partialSum(src, b, 6, len));
  }
});

Deno.test("offload nat: super-frames both ways; completed checksums equal the scratch ones", () => {
  const r = offloadRig([{ method: "nat", reals: [{ address: REAL1, port: 8080 }] }]);
  const c = { src: REMOTE_CLIENT, dst: VIP, sport: 5555, dport: 80 };
  r.send(frame(LB_MAC, GW_MAC, tcpPacket({ ...c, flags: SYN, seq: 7 })));
  assertEquals(r.sent().length, 1, "the SYN, plain");

  // Client -> VIP: a 20000-byte upload super-frame with DF, partial checksum.
  const data = pattern(20000, 5);
  const up = partial(
    tcpPacket({ ...c, flags: ACK | PSH, seq: 8, ack: 99, data }, { df: true, id: 0x100 }),
    16,
  );
  r.send(frame(LB_MAC, GW_MAC, up), GSO_META);
  let out = r.sent();
  assertEquals(out.length, 1, "one frame, not fragmented, no ICMP");
  let { f, meta } = out[0];
  assertEquals(meta, GSO_META, "the metadata goes with it");
  assertEquals(f.length, 14 + up.length);
  assertEquals(Array.from(f.subarray(0, 6)), Array.from(R1_MAC));
  assertEquals(r32(f, 14 + 16), REAL1);
  assertEquals(r16(f, 34 + 2), 8080);
  assert(ipHeaderOk(f, 14));
  assertEquals(r16(f, 34 + 16), partialSum(REMOTE_CLIENT, REAL1, 6, up.length - 20));
  assertEquals(completed(f), scratch(f, 16));
  assertEquals(f.subarray(54), data, "payload untouched");

  // Real server -> client: a 30000-byte download super-frame back through the balancer.
  const back = pattern(30000, 9);
  const down = partial(
    tcpPacket(
      { src: REAL1, dst: REMOTE_CLIENT, sport: 8080, dport: 5555, flags: ACK, seq: 99, data: back },
      { df: true, ttl: 64, id: 0x2000 },
    ),
    16,
  );
  r.send(frame(LB_MAC, R1_MAC, down), GSO_META);
  out = r.sent();
  assertEquals(out.length, 1);
  ({ f, meta } = out[0]);
  assertEquals(meta, GSO_META);
  assertEquals(Array.from(f.subarray(0, 6)), Array.from(GW_MAC));
  assertEquals([r32(f, 14 + 12), r16(f, 34)], [VIP, 80]);
  assertEquals(f[14 + 8], 63, "TTL - 1");
  assert(ipHeaderOk(f, 14));
  assertEquals(completed(f), scratch(f, 16));
  assertEquals(r.stack.counters.get("link.rx_gso"), 2);
  assertEquals(r.stack.counters.get("link.tx_gso"), 2);
  // The next reply, plain, leaves plain: the metadata went with its own frame only.
  const ack = tcpPacket(
    {
      src: REAL1,
      dst: REMOTE_CLIENT,
      sport: 8080,
      dport: 5555,
      flags: ACK,
      seq: 30099,
      ack: 20008,
    },
    { df: true, ttl: 64, id: 0x2001 },
  );
  r.send(frame(LB_MAC, R1_MAC, ack));
  out = r.sent();
  assertEquals(out.length, 1);
  assertEquals(out[0].meta, newFrameOffload(), "nothing left for the next frame");
});

Deno.test("offload nat: a partial UDP checksum (no GSO) is rewritten as a partial sum", () => {
  const r = offloadRig([{ method: "nat", reals: [{ address: REAL1, port: 5353 }], udp: true }]);
  const q = partial(
    ipv4({ src: CLIENT, dst: VIP, protocol: 17 }, udp(CLIENT, VIP, 4000, 53, pattern(33))),
    6,
  );
  const meta = { flags: VNET_F_NEEDS_CSUM, csumStart: 34, csumOffset: 6 };
  r.send(frame(LB_MAC, CLIENT_MAC, q), meta);
  const out = r.sent();
  assertEquals(out.length, 1);
  assertEquals(out[0].meta, { ...newFrameOffload(), ...meta });
  const f = out[0].f;
  assertEquals(r16(f, 34 + 2), 5353);
  assertEquals(r16(f, 34 + 6), partialSum(CLIENT, REAL1, 17, q.length - 20));
  assertEquals(completed(f), scratch(f, 6));
  // The same datagram plain (complete checksum) still gets the ordinary RFC 1624 update.
  const plain = ipv4(
    { src: CLIENT, dst: VIP, protocol: 17 },
    udp(CLIENT, VIP, 4000, 53, pattern(33)),
  );
  r.send(frame(LB_MAC, CLIENT_MAC, plain));
  const p = r.sent()[0];
  assertEquals(p.meta, newFrameOffload());
  assertEquals(r16(p.f, 34 + 6), scratch(p.f, 6));
});

Deno.test("offload dr: a super-frame with DF goes whole to the real server's MAC", () => {
  const r = offloadRig([{ method: "dr", reals: [{ address: REAL1 }] }]);
  const c = { src: REMOTE_CLIENT, dst: VIP, sport: 6000, dport: 80 };
  r.send(frame(LB_MAC, GW_MAC, tcpPacket({ ...c, flags: SYN, seq: 1 })));
  r.sent();
  const up = partial(
    tcpPacket({ ...c, flags: ACK, seq: 2, ack: 5, data: pattern(40000) }, { df: true }),
    16,
  );
  r.send(frame(LB_MAC, GW_MAC, up), GSO_META);
  const out = r.sent();
  assertEquals(out.length, 1, "no fragments, no ICMP fragmentation needed");
  assertEquals(out[0].meta, GSO_META);
  assertEquals(diff(out[0].f, frame(R1_MAC, LB_MAC, up)), "equal", "only the Ethernet header");
  assertEquals(r.stack.counters.get("drop.tx_frag_needed"), 0);
  assertEquals(r.stack.counters.get("link.tx_gso"), 1);
});

/** The inner datagram of a tunnelled frame, with the outer header checked. */
function inner(f: Uint8Array, dstMac: Uint8Array, real: number): Uint8Array {
  assertEquals(Array.from(f.subarray(0, 6)), Array.from(dstMac));
  assertEquals(f[14 + 9], 4, "IP-in-IP");
  assertEquals([r32(f, 14 + 12), r32(f, 14 + 16)], [LB, real]);
  assert(ipHeaderOk(f, 14));
  assertEquals(r16(f, 14 + 2), f.length - 14);
  return f.subarray(34);
}

Deno.test("offload tun: a super-frame is cut into gso_size segments, each exactly as from scratch", () => {
  const r = offloadRig([{ method: "tun", reals: [{ address: REMOTE_REAL }] }]);
  const c = { src: CLIENT, dst: VIP, sport: 7000, dport: 80 };
  r.send(frame(LB_MAC, CLIENT_MAC, tcpPacket({ ...c, flags: SYN, seq: 1 })));
  r.sent();
  const data = pattern(4000, 1);
  const seq = 0xfffff000; // wraps inside the super-frame
  const up = partial(
    tcpPacket(
      { ...c, flags: ACK | PSH | FIN | CWR, seq, ack: 77, window: 512, data },
      { df: true, id: 0xfffe, ttl: 50 },
    ),
    16,
  );
  r.send(frame(LB_MAC, CLIENT_MAC, up), { ...GSO_META, gsoSize: 1400 });
  const out = r.sent();
  assertEquals(out.length, 3, "1400 + 1400 + 1200");
  const sizes = [1400, 1400, 1200];
  const flags = [ACK | CWR, ACK, ACK | PSH | FIN];
  let from = 0;
  for (let i = 0; i < 3; i++) {
    assertEquals(out[i].meta, newFrameOffload(), "tunnelled segments are plain");
    const got = inner(out[i].f, GW_MAC, REMOTE_REAL);
    const expected = tcpPacket(
      {
        ...c,
        flags: flags[i],
        seq: (seq + from) >>> 0,
        ack: 77,
        window: 512,
        data: data.subarray(from, from + sizes[i]),
      },
      { df: true, id: (0xfffe + i) & 0xffff, ttl: 50 },
    );
    assertEquals(diff(got, expected), "equal", `segment ${i}`);
    from += sizes[i];
  }
  assertEquals(r.stack.counters.get("link.tx_gso"), 0);
});

Deno.test("offload tun: DF and a segment too big for the tunnel: ICMP fragmentation needed", () => {
  const r = offloadRig([{ method: "tun", reals: [{ address: REAL1 }] }]);
  const c = { src: CLIENT, dst: VIP, sport: 7001, dport: 80 };
  r.send(frame(LB_MAC, CLIENT_MAC, tcpPacket({ ...c, flags: SYN, seq: 1 })));
  r.sent();
  const up = partial(
    tcpPacket({ ...c, flags: ACK, seq: 2, data: pattern(3000) }, { df: true }),
    16,
  );
  r.send(frame(LB_MAC, CLIENT_MAC, up), GSO_META); // 1448 + 40 + 20 > 1500
  const out = r.sent();
  assertEquals(out.length, 1);
  const f = out[0].f;
  assertEquals([f[14 + 9], f[34], f[35]], [1, 3, 4], "ICMP destination unreachable, frag needed");
  assertEquals(r16(f, 34 + 6), 1480, "next-hop MTU: 1500 - 20");
  assertEquals(r.stack.counters.get("lb.tun_frag_needed"), 1);
});

Deno.test("offload tun: a partial checksum is completed before encapsulation", () => {
  const r = offloadRig([{ method: "tun", reals: [{ address: REAL1 }] }]);
  const c = { src: CLIENT, dst: VIP, sport: 7002, dport: 80 };
  r.send(frame(LB_MAC, CLIENT_MAC, tcpPacket({ ...c, flags: SYN, seq: 1 })));
  r.sent();
  const full = tcpPacket({ ...c, flags: ACK | PSH, seq: 2, data: pattern(301) }, { df: true });
  const p = partial(full.slice(), 16);
  r.send(frame(LB_MAC, CLIENT_MAC, p), { flags: VNET_F_NEEDS_CSUM, csumStart: 34, csumOffset: 16 });
  const out = r.sent();
  assertEquals(out.length, 1);
  assertEquals(out[0].meta, newFrameOffload());
  assertEquals(diff(inner(out[0].f, R1_MAC, REAL1), full), "equal");
});
