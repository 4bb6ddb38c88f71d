/**
 * The Stack driven frame by frame: frames injected with `stack.input`, frames sent captured by a
 * fake device, time from a FakeClock. Expected bytes come from tests/stack/net/_frames.ts, which
 * builds them without stack/wire.
 */
import assert from "node:assert/strict";
import { FakeClock } from "../../../stack/clock.ts";
import { Stack, type StackOptions } from "../../../stack/net/stack.ts";
import {
  arp,
  CaptureDevice,
  checksum,
  concat,
  eth,
  icmpEcho,
  ip,
  ipv4,
  mac,
  pattern,
  r16,
  r32,
  udp,
} from "./_frames.ts";

const US = ip("10.0.0.1");
const PEER = ip("10.0.0.2");
const OTHER = ip("10.0.0.3");
const VIP = ip("10.0.0.100");
const GW = ip("10.0.0.254");
const US_MAC = mac("02:00:00:00:00:01");
const PEER_MAC = mac("02:00:00:00:00:02");
const OTHER_MAC = mac("02:00:00:00:00:03");
const BCAST_MAC = mac("ff:ff:ff:ff:ff:ff");
const ZERO_MAC = new Uint8Array(6);

function setup(extra: Partial<StackOptions> = {}, mtu = 1500) {
  const clock = new FakeClock(1_000);
  const dev = new CaptureDevice(US_MAC, mtu);
  const stack = new Stack({ device: dev, address: US, prefix: 24, gateway: GW, clock, ...extra });
  return { clock, dev, stack };
}

/** Injects an IPv4 packet from PEER's MAC to ours. */
function inject(stack: Stack, packet: Uint8Array, dstMac = US_MAC): void {
  const f = concat(eth(dstMac, PEER_MAC, 0x0800), packet);
  stack.input(f, 0, f.length);
}

function echoRequest(dst = US, id = 0x1234, seq = 1, data = pattern(56), src = PEER): Uint8Array {
  return ipv4({ src, dst, protocol: 1, id: 77 }, icmpEcho(8, id, seq, data));
}

/** Asserts `frame` is an echo reply from `from` to PEER for `request`'s id, seq and data. */
function assertEchoReply(
  frame: Uint8Array,
  from: number,
  id: number,
  seq: number,
  data: Uint8Array,
) {
  assert.deepEqual(frame.subarray(0, 6), PEER_MAC);
  assert.deepEqual(frame.subarray(6, 12), US_MAC);
  assert.equal(r16(frame, 12), 0x0800);
  const ipb = frame.subarray(14);
  assert.equal(ipb[0], 0x45);
  assert.equal(r16(ipb, 2), 20 + 8 + data.length);
  assert.equal(ipb[8], 64, "default TTL");
  assert.equal(ipb[9], 1);
  assert.equal(checksum(ipb, 0, 20), 0, "IP header checksum");
  assert.equal(r32(ipb, 12), from);
  assert.equal(r32(ipb, 16), PEER);
  const icmp = ipb.subarray(20, r16(ipb, 2));
  assert.equal(icmp[0], 0, "echo reply");
  assert.equal(icmp[1], 0);
  assert.equal(checksum(icmp), 0, "ICMP checksum");
  assert.equal(r16(icmp, 4), id);
  assert.equal(r16(icmp, 6), seq);
  assert.deepEqual(icmp.subarray(8), data);
}

Deno.test("ARP: requests for every owned address are answered, others are not", () => {
  const { dev, stack } = setup();
  stack.addAddress(VIP);
  for (const target of [US, VIP, OTHER]) {
    const f = concat(eth(BCAST_MAC, PEER_MAC, 0x0806), arp(1, PEER_MAC, PEER, ZERO_MAC, target));
    stack.input(f, 0, f.length);
  }
  const sent = dev.take();
  assert.equal(sent.length, 2);
  assert.deepEqual(
    sent[0],
    concat(eth(PEER_MAC, US_MAC, 0x0806), arp(2, US_MAC, US, PEER_MAC, PEER)),
  );
  assert.deepEqual(
    sent[1],
    concat(eth(PEER_MAC, US_MAC, 0x0806), arp(2, US_MAC, VIP, PEER_MAC, PEER)),
  );
  assert.equal(stack.counters.get("arp.rx_requests"), 3);
  assert.equal(stack.counters.get("arp.tx_replies"), 2);
});

Deno.test("ARP: learning follows RFC 826 merge", () => {
  const { stack } = setup();
  // A request for someone else: not learned.
  let f = concat(eth(BCAST_MAC, OTHER_MAC, 0x0806), arp(1, OTHER_MAC, OTHER, ZERO_MAC, PEER));
  stack.input(f, 0, f.length);
  assert.equal(stack.arp.size, 0);
  // A request for us: learned (stale: it proves existence, not reachability).
  f = concat(eth(BCAST_MAC, PEER_MAC, 0x0806), arp(1, PEER_MAC, PEER, ZERO_MAC, US));
  stack.input(f, 0, f.length);
  assert.deepEqual(stack.arp.entries().map((e) => [e.ip, e.state]), [[PEER, "stale"]]);
  // A gratuitous ARP from PEER with a new MAC updates the existing entry.
  f = concat(eth(BCAST_MAC, OTHER_MAC, 0x0806), arp(1, OTHER_MAC, PEER, ZERO_MAC, PEER));
  stack.input(f, 0, f.length);
  assert.deepEqual(stack.arp.entries()[0].mac, OTHER_MAC);
  // Someone claiming our own address teaches nothing and is counted.
  f = concat(eth(BCAST_MAC, OTHER_MAC, 0x0806), arp(2, OTHER_MAC, US, ZERO_MAC, US));
  stack.input(f, 0, f.length);
  assert.equal(stack.arp.size, 1);
  assert.equal(stack.counters.get("arp.conflict"), 1);
});

Deno.test("ARP: gratuitous announcements at start and on addAddress", async () => {
  const { dev, stack } = setup();
  stack.addAddress(VIP);
  const running = stack.start();
  const sent = dev.take();
  assert.deepEqual(sent, [
    concat(eth(BCAST_MAC, US_MAC, 0x0806), arp(1, US_MAC, US, ZERO_MAC, US)),
    concat(eth(BCAST_MAC, US_MAC, 0x0806), arp(1, US_MAC, VIP, ZERO_MAC, VIP)),
  ]);
  const vip2 = ip("10.0.0.101");
  stack.addAddress(vip2);
  assert.deepEqual(dev.take(), [
    concat(eth(BCAST_MAC, US_MAC, 0x0806), arp(1, US_MAC, vip2, ZERO_MAC, vip2)),
  ]);
  stack.close();
  stack.close(); // idempotent
  await running;
  assert.ok(dev.closed);
});

Deno.test("ARP: unresolved next hop: request, queue, flush on reply", () => {
  const { dev, stack } = setup();
  const packet = concat(new Uint8Array(14), echoRequest(PEER, 1, 1, pattern(8), US));
  assert.ok(stack.sendIpv4(packet, 14, packet.length - 14));
  assert.deepEqual(dev.take(), [
    concat(eth(BCAST_MAC, US_MAC, 0x0806), arp(1, US_MAC, US, ZERO_MAC, PEER)),
  ]);
  const reply = concat(eth(US_MAC, PEER_MAC, 0x0806), arp(2, PEER_MAC, PEER, US_MAC, US));
  stack.input(reply, 0, reply.length);
  const sent = dev.take();
  assert.equal(sent.length, 1);
  assert.deepEqual(sent[0], concat(eth(PEER_MAC, US_MAC, 0x0800), packet.subarray(14)));
  assert.equal(stack.arp.entries()[0].state, "reachable");
});

Deno.test("ARP: retries every second, then fails and counts the queued packets", () => {
  const { dev, stack, clock } = setup();
  const packet = concat(new Uint8Array(14), echoRequest(PEER, 1, 1, pattern(8), US));
  stack.sendIpv4(packet, 14, packet.length - 14);
  stack.sendIpv4(packet, 14, packet.length - 14);
  for (let i = 0; i < 5; i++) {
    clock.advance(1000);
    stack.tick();
  }
  const requests = dev.take();
  assert.equal(requests.length, 3);
  for (const r of requests) assert.equal(r16(r, 12), 0x0806);
  assert.equal(stack.counters.get("drop.arp_unresolved"), 2);
  assert.equal(stack.arp.size, 0);
});

Deno.test("ARP: the queue bounds drop and count (the oldest per entry, new ones globally)", () => {
  const { stack } = setup({ arp: { queuePerEntry: 2, queueTotal: 2 } });
  const packet = concat(new Uint8Array(14), echoRequest(PEER, 1, 1, pattern(8), US));
  assert.ok(stack.sendIpv4(packet, 14, packet.length - 14));
  assert.ok(stack.sendIpv4(packet, 14, packet.length - 14));
  assert.ok(!stack.sendIpv4(packet, 14, packet.length - 14));
  assert.equal(stack.counters.get("drop.arp_queue_full"), 1);
});

Deno.test("routes: connected and default routes; off-link via the gateway; self loops back", async () => {
  const { dev, stack } = setup();
  assert.deepEqual(
    stack.routes.entries().map((r) => [r.destination, r.prefix, r.gateway, r.flags]),
    [[ip("10.0.0.0"), 24, 0, "U"], [0, 0, GW, "UG"]],
  );
  const packet = concat(new Uint8Array(14), echoRequest(ip("8.8.8.8"), 1, 1, pattern(8), US));
  stack.sendIpv4(packet, 14, packet.length - 14);
  const sent = dev.take();
  assert.equal(r32(sent[0], 14 + 24), GW, "ARP asks for the gateway");
  // To itself: never on the device; the loopback delivers the echo request, then its reply.
  const self = concat(new Uint8Array(14), echoRequest(US, 1, 1, pattern(8), US));
  assert.ok(stack.sendIpv4(self, 14, self.length - 14));
  await new Promise((r) => setTimeout(r, 0));
  assert.equal(dev.take().length, 0);
  assert.equal(stack.counters.get("loopback.rx_packets"), 2);
  const noGw = setup({ gateway: undefined });
  assert.ok(!noGw.stack.sendIpv4(packet, 14, packet.length - 14));
  assert.equal(noGw.stack.counters.get("drop.tx_no_route"), 1);
});

Deno.test("ICMP: echo request answered for the address and a VIP, bytes checked", () => {
  const { dev, stack } = setup();
  stack.arp.addStatic(PEER, PEER_MAC);
  stack.addAddress(VIP);
  const data = pattern(56, 3);
  inject(stack, echoRequest(US, 0x1234, 7, data));
  inject(stack, echoRequest(VIP, 0x1234, 8, data));
  const sent = dev.take();
  assert.equal(sent.length, 2);
  assertEchoReply(sent[0], US, 0x1234, 7, data);
  assertEchoReply(sent[1], VIP, 0x1234, 8, data);
  assert.equal(stack.counters.get("icmp.echo_replies_sent"), 2);
  // Not ours, broadcast: no reply.
  inject(stack, echoRequest(OTHER));
  inject(stack, echoRequest(ip("10.0.0.255")), BCAST_MAC);
  assert.equal(dev.take().length, 0);
  assert.equal(stack.counters.get("drop.not_for_us"), 1);
  assert.equal(stack.counters.get("icmp.echo_broadcast_ignored"), 1);
});

Deno.test("IPv4: each malformed frame is dropped by its reason and ping still works", () => {
  const { dev, stack } = setup();
  stack.arp.addStatic(PEER, PEER_MAC);
  const good = echoRequest();
  const cases: [string, Uint8Array, Uint8Array?][] = [];
  const mut = (f: (b: Uint8Array) => void, fixChecksum = true): Uint8Array => {
    const b = good.slice();
    f(b);
    if (fixChecksum) {
      b[10] = 0;
      b[11] = 0;
      const hl = (b[0] & 15) * 4;
      const c = checksum(b, 0, Math.min(hl, b.length));
      b[10] = c >> 8;
      b[11] = c & 0xff;
    }
    return b;
  };
  cases.push(["drop.ipv4_truncated", good.subarray(0, 19)]);
  cases.push(["drop.ipv4_bad_version", mut((b) => (b[0] = 0x65))]);
  cases.push(["drop.ipv4_bad_ihl", mut((b) => (b[0] = 0x44), false)]);
  cases.push(["drop.ipv4_bad_total_length", mut((b) => (b[2] = 0xff))]);
  cases.push(["drop.ipv4_bad_total_length", mut((b) => (b[3] = 10, b[2] = 0))]);
  cases.push(["drop.ipv4_bad_checksum", mut((b) => (b[10] ^= 1), false)]);
  cases.push(["drop.ipv4_bad_src", mut((b) => (b[12] = 224))]);
  cases.push([
    "drop.ipv4_bad_src",
    mut((b) => (b[12] =
      b[13] =
      b[14] =
      b[15] =
        255)
    ),
  ]);
  cases.push(["drop.icmp_bad_checksum", mut((b) => (b[30] ^= 1))]);
  cases.push(["drop.icmp_truncated", ipv4({ src: PEER, dst: US, protocol: 1 }, pattern(7))]);
  for (const [counter, packet] of cases) {
    const before = stack.counters.get(counter);
    inject(stack, packet);
    assert.equal(stack.counters.get(counter), before + 1, counter);
  }
  // Link layer.
  const frames: [string, Uint8Array][] = [
    ["drop.eth_truncated", new Uint8Array(13)],
    ["drop.not_our_mac", concat(eth(OTHER_MAC, PEER_MAC, 0x0800), good)],
    ["drop.eth_unknown_type", concat(eth(US_MAC, PEER_MAC, 0x86dd), good)],
    [
      "drop.eth_vlan_tagged",
      concat(eth(US_MAC, PEER_MAC, 0x8100), new Uint8Array([0, 1, 8, 0]), good),
    ],
    ["drop.arp_truncated", concat(eth(BCAST_MAC, PEER_MAC, 0x0806), new Uint8Array(27))],
    ["drop.arp_unsupported", concat(eth(BCAST_MAC, PEER_MAC, 0x0806), new Uint8Array(28))],
  ];
  for (const [counter, f] of frames) {
    stack.input(f, 0, f.length);
    assert.equal(stack.counters.get(counter), 1, counter);
  }
  assert.equal(dev.take().length, 0, "nothing answered");
  // Padding after the packet (Ethernet minimum frame) is fine.
  inject(stack, concat(good, new Uint8Array(10)));
  inject(stack, good);
  assert.equal(dev.take().length, 2);
  assert.equal(stack.counters.get("rx_frames"), cases.length + frames.length + 2);
});

Deno.test("ICMP: protocol unreachable, bytes checked", () => {
  const { dev, stack } = setup();
  stack.arp.addStatic(PEER, PEER_MAC);
  const bad = ipv4({ src: PEER, dst: US, protocol: 99, id: 5 }, pattern(40));
  inject(stack, bad);
  const [f] = dev.take();
  const ipb = f.subarray(14);
  assert.equal(r32(ipb, 12), US);
  assert.equal(r32(ipb, 16), PEER);
  assert.equal(ipb[9], 1);
  assert.equal(checksum(ipb, 0, 20), 0);
  assert.equal(r16(ipb, 2), 20 + 8 + bad.length);
  const icmp = ipb.subarray(20);
  assert.deepEqual([...icmp.subarray(0, 2)], [3, 2]);
  assert.equal(checksum(icmp), 0);
  assert.equal(r32(icmp, 4), 0);
  assert.deepEqual(icmp.subarray(8), bad, "the whole offending datagram is quoted");
  assert.equal(stack.counters.get("drop.ipv4_unknown_protocol"), 1);
  assert.equal(stack.counters.get("icmp.tx_dest_unreachable"), 1);
});

Deno.test("ICMP: errors are quoted up to 576 bytes in all", () => {
  const { dev, stack } = setup();
  stack.arp.addStatic(PEER, PEER_MAC);
  const bad = ipv4({ src: PEER, dst: US, protocol: 99 }, pattern(1400));
  inject(stack, bad);
  const [f] = dev.take();
  assert.equal(f.length - 14, 576);
  assert.deepEqual(f.subarray(14 + 28), bad.subarray(0, 548));
});

Deno.test("UDP: handler gets datagrams; bad checksum dropped; unbound port -> port unreachable", () => {
  const { dev, stack } = setup();
  stack.arp.addStatic(PEER, PEER_MAC);
  const got: [number, number, number[]][] = [];
  stack.udp.bind(53, (buf, ipOff, ipLen, v) => {
    assert.equal(ipLen, 20 + 8 + 5);
    assert.equal(r32(buf, ipOff + 12), PEER);
    got.push([v.srcPort, v.dstPort, [
      ...buf.subarray(v.payloadOffset, v.payloadOffset + v.payloadLen),
    ]]);
  });
  const data = new Uint8Array([1, 2, 3, 4, 5]);
  inject(stack, ipv4({ src: PEER, dst: US, protocol: 17 }, udp(PEER, US, 4000, 53, data)));
  inject(stack, ipv4({ src: PEER, dst: US, protocol: 17 }, udp(PEER, US, 4001, 53, data, true)));
  const corrupt = udp(PEER, US, 4002, 53, data);
  corrupt[9] ^= 0xff;
  inject(stack, ipv4({ src: PEER, dst: US, protocol: 17 }, corrupt));
  assert.deepEqual(got, [[4000, 53, [1, 2, 3, 4, 5]], [4001, 53, [1, 2, 3, 4, 5]]]);
  assert.equal(stack.counters.get("drop.udp_bad_checksum"), 1);
  assert.throws(() => stack.udp.bind(53, () => {}));
  assert.equal(dev.take().length, 0);

  assert.ok(stack.udp.unbind(53));
  const toClosed = ipv4({ src: PEER, dst: US, protocol: 17, id: 9 }, udp(PEER, US, 4000, 53, data));
  inject(stack, toClosed);
  const [f] = dev.take();
  const icmp = f.subarray(14 + 20);
  assert.deepEqual([...icmp.subarray(0, 2)], [3, 3]);
  assert.equal(checksum(icmp), 0);
  assert.deepEqual(icmp.subarray(8), toClosed);
  assert.equal(stack.counters.get("drop.udp_no_port"), 1);
});

Deno.test("ICMP: no errors about broadcasts, multicast, link broadcasts, fragments, ICMP errors", () => {
  const { dev, stack } = setup();
  stack.arp.addStatic(PEER, PEER_MAC);
  const payload = udp(PEER, ip("10.0.0.255"), 1, 9, pattern(4));
  inject(stack, ipv4({ src: PEER, dst: ip("10.0.0.255"), protocol: 17 }, payload));
  inject(stack, ipv4({ src: PEER, dst: 0xffffffff, protocol: 99 }, pattern(8)));
  inject(stack, ipv4({ src: PEER, dst: ip("224.0.0.9"), protocol: 99 }, pattern(8)));
  inject(stack, ipv4({ src: PEER, dst: US, protocol: 99 }, pattern(8)), BCAST_MAC);
  // Without an ICMP handler, protocol 1 gets protocol unreachable: but never for an ICMP error.
  stack.unregisterProtocol(1);
  inject(stack, ipv4({ src: PEER, dst: US, protocol: 1 }, icmpEcho(3, 0, 0, pattern(28))));
  assert.equal(dev.take().length, 0);
  // A fragment other than the first.
  const frag = ipv4({ src: PEER, dst: US, protocol: 17, offset: 8 }, pattern(8));
  assert.ok(!stack.sendIcmpError(3, 3, 0, frag, 0, frag.length));
  // A source that is not a single host.
  for (const src of [0, ip("127.0.0.1"), ip("10.0.0.255")]) {
    const p = ipv4({ src, dst: US, protocol: 17 }, pattern(8));
    assert.ok(!stack.sendIcmpError(3, 3, 0, p, 0, p.length));
  }
  assert.equal(dev.take().length, 0);
  assert.equal(stack.counters.get("icmp.error_suppressed"), 9);
  // The echo request under the same conditions is a query, so it does get an error.
  inject(stack, ipv4({ src: PEER, dst: US, protocol: 1 }, icmpEcho(8, 0, 0, pattern(8))));
  assert.equal(dev.take().length, 1);
});

Deno.test("ICMP: errors are rate limited by a token bucket", () => {
  const { dev, stack, clock } = setup({ icmp: { errorBurst: 2, errorsPerSec: 10 } });
  stack.arp.addStatic(PEER, PEER_MAC);
  const bad = ipv4({ src: PEER, dst: US, protocol: 99 }, pattern(8));
  for (let i = 0; i < 5; i++) inject(stack, bad);
  assert.equal(dev.take().length, 2);
  assert.equal(stack.counters.get("icmp.error_rate_limited"), 3);
  clock.advance(100);
  inject(stack, bad);
  inject(stack, bad);
  assert.equal(dev.take().length, 1);
  // Echo replies are not errors and are not limited.
  for (let i = 0; i < 5; i++) inject(stack, echoRequest());
  assert.equal(dev.take().length, 5);
});

Deno.test("hook: sees valid packets with frame and IP offsets; consumed stops delivery", () => {
  const { dev, stack } = setup();
  stack.arp.addStatic(PEER, PEER_MAC);
  const seen: [number, number, number, number][] = [];
  let verdict: "pass" | "consumed" = "consumed";
  stack.hook = (buf, frameOff, ipOff, ipLen) => {
    seen.push([frameOff, ipOff, ipLen, r32(buf, ipOff + 16)]);
    return verdict;
  };
  const req = echoRequest();
  const f = concat(new Uint8Array(3), eth(US_MAC, PEER_MAC, 0x0800), req, new Uint8Array(6));
  stack.input(f, 3, f.length - 3);
  assert.deepEqual(seen, [[3, 17, req.length, US]]);
  assert.equal(dev.take().length, 0, "consumed: no echo reply");
  assert.equal(stack.counters.get("hook.consumed"), 1);
  verdict = "pass";
  stack.input(f, 3, f.length - 3);
  assert.equal(dev.take().length, 1, "pass: answered");
  inject(stack, echoRequest(OTHER));
  assert.equal(seen.length, 2, "not for us and no forwarding: the hook never sees it");
  inject(stack, concat(echoRequest().subarray(0, 10), new Uint8Array(20)));
  assert.equal(seen.length, 2, "malformed: never seen");
  stack.hook = null;
  assert.equal(stack.hook, null);
});

Deno.test("hook: with forwarding it sees packets for others; TTL 1 expires", () => {
  const { dev, stack } = setup({ forwarding: true });
  stack.arp.addStatic(PEER, PEER_MAC);
  inject(stack, echoRequest(OTHER));
  assert.equal(stack.counters.get("drop.not_for_us"), 1, "no hook: dropped");
  const seen: number[] = [];
  stack.hook = (buf, _f, ipOff) => {
    seen.push(r32(buf, ipOff + 16));
    return "pass";
  };
  inject(stack, echoRequest(OTHER));
  assert.deepEqual(seen, [OTHER]);
  assert.equal(stack.counters.get("drop.not_for_us"), 2, "passed but not ours: dropped");
  const ttl1 = ipv4({ src: PEER, dst: OTHER, protocol: 17, ttl: 1 }, pattern(8));
  inject(stack, ttl1);
  assert.equal(seen.length, 1);
  assert.equal(stack.counters.get("drop.ipv4_ttl_exceeded"), 1);
  const [f] = dev.take();
  assert.deepEqual([...f.subarray(34, 36)], [11, 0], "ICMP time exceeded in transit");
});

Deno.test("reassembly: out of order fragments of an echo request get one reply", () => {
  const { dev, stack } = setup();
  stack.arp.addStatic(PEER, PEER_MAC);
  const data = pattern(1000, 5);
  const icmp = icmpEcho(8, 9, 9, data); // 1008 bytes
  const frag = (off: number, len: number, mf: boolean) =>
    ipv4(
      { src: PEER, dst: US, protocol: 1, id: 4242, offset: off, mf },
      icmp.subarray(off, off + len),
    );
  inject(stack, frag(800, 208, false));
  inject(stack, frag(400, 400, true));
  inject(stack, frag(400, 400, true)); // duplicate
  assert.equal(dev.take().length, 0);
  inject(stack, frag(0, 400, true));
  const sent = dev.take();
  assert.equal(sent.length, 1);
  assertEchoReply(sent[0], US, 9, 9, data);
  assert.equal(stack.counters.get("ipv4.frag_duplicate"), 1);
  assert.equal(stack.counters.get("ipv4.reassembled"), 1);
});

Deno.test("reassembly: the hook sees a reassembled packet with frameOff -1 and headroom", () => {
  const { stack } = setup();
  const icmp = icmpEcho(8, 9, 9, pattern(100));
  const seen: [number, number, number][] = [];
  stack.hook = (_b, frameOff, ipOff, ipLen) => {
    seen.push([frameOff, ipOff, ipLen]);
    return "consumed";
  };
  inject(stack, ipv4({ src: PEER, dst: US, protocol: 1, id: 1, mf: true }, icmp.subarray(0, 56)));
  inject(stack, ipv4({ src: PEER, dst: US, protocol: 1, id: 1, offset: 56 }, icmp.subarray(56)));
  assert.equal(seen.length, 1);
  const [frameOff, ipOff, ipLen] = seen[0];
  assert.equal(frameOff, -1);
  assert.ok(ipOff >= 14);
  assert.equal(ipLen, 20 + 108);
});

Deno.test("reassembly: overlapping fragments drop the datagram", () => {
  const { dev, stack } = setup();
  stack.arp.addStatic(PEER, PEER_MAC);
  const icmp = icmpEcho(8, 9, 9, pattern(200));
  const frag = (off: number, len: number, mf: boolean) =>
    ipv4(
      { src: PEER, dst: US, protocol: 1, id: 7, offset: off, mf },
      icmp.subarray(off, off + len),
    );
  inject(stack, frag(0, 104, true));
  inject(stack, frag(96, 16, true));
  inject(stack, frag(104, 104, false));
  assert.equal(dev.take().length, 0);
  assert.equal(stack.counters.get("drop.frag_overlap"), 2);
});

Deno.test("reassembly: timeout sends ICMP time exceeded code 1 when the first fragment came", () => {
  const { dev, stack, clock } = setup();
  stack.arp.addStatic(PEER, PEER_MAC);
  const icmp = icmpEcho(8, 9, 9, pattern(200));
  const first = ipv4({ src: PEER, dst: US, protocol: 1, id: 8, mf: true }, icmp.subarray(0, 96));
  inject(stack, first);
  const noFirst = ipv4({ src: PEER, dst: US, protocol: 1, id: 9, offset: 96 }, icmp.subarray(96));
  inject(stack, noFirst);
  clock.advance(29_999);
  stack.tick();
  assert.equal(dev.take().length, 0);
  clock.advance(1);
  stack.tick();
  const sent = dev.take();
  assert.equal(sent.length, 1, "only for the datagram whose first fragment arrived");
  const ipb = sent[0].subarray(14);
  assert.equal(r32(ipb, 16), PEER);
  const err = ipb.subarray(20);
  assert.deepEqual([...err.subarray(0, 2)], [11, 1]);
  assert.equal(checksum(err), 0);
  assert.deepEqual(err.subarray(8), first.subarray(0, 28), "header + 8 bytes of the first");
  assert.equal(stack.counters.get("drop.frag_timeout"), 2);
});

Deno.test("IPv4 out: larger than the MTU is fragmented; DF refuses and counts", () => {
  const { dev, stack } = setup({}, 576);
  stack.arp.addStatic(PEER, PEER_MAC);
  // Options: a copied one (type 0x82, security-like, len 4) and a NOP-padded not-copied one.
  const options = [0x82, 4, 0xaa, 0xbb, 0x07, 3, 4, 0];
  const payload = pattern(1500, 1);
  const packet = ipv4({ src: US, dst: PEER, protocol: 17, id: 99, options }, payload);
  const buf = concat(new Uint8Array(14), packet);
  assert.ok(stack.sendIpv4(buf, 14, packet.length));
  const frags = dev.take();
  assert.ok(frags.length >= 3);
  const rebuilt = new Uint8Array(payload.length);
  let expectOffset = 0;
  for (let i = 0; i < frags.length; i++) {
    const f = frags[i];
    assert.deepEqual(f.subarray(0, 6), PEER_MAC);
    const ipb = f.subarray(14);
    const hl = (ipb[0] & 15) * 4;
    const total = r16(ipb, 2);
    assert.ok(total <= 576, "fits the MTU");
    assert.equal(f.length, 14 + total);
    assert.equal(checksum(ipb, 0, hl), 0);
    assert.equal(r16(ipb, 4), 99, "same id");
    const flags = r16(ipb, 6);
    const offset = (flags & 0x1fff) * 8;
    assert.equal(offset, expectOffset);
    assert.equal((flags & 0x2000) !== 0, i < frags.length - 1, "MF on all but the last");
    if (i < frags.length - 1) assert.equal((total - hl) % 8, 0, "multiple of 8");
    if (i === 0) assert.deepEqual([...ipb.subarray(20, hl)], options, "first keeps all options");
    else assert.deepEqual([...ipb.subarray(20, hl)], [0x82, 4, 0xaa, 0xbb], "only copied ones");
    rebuilt.set(ipb.subarray(hl, total), offset);
    expectOffset += total - hl;
  }
  assert.equal(expectOffset, payload.length);
  assert.deepEqual(rebuilt, payload);

  // A fragment fragmented again: offsets continue from its own, and MF stays on the last piece.
  const part = ipv4(
    { src: US, dst: PEER, protocol: 17, id: 5, offset: 1480, mf: true },
    pattern(800),
  );
  assert.ok(stack.sendIpv4(concat(new Uint8Array(14), part), 14, part.length));
  const pieces = dev.take();
  assert.equal(pieces.length, 2);
  assert.deepEqual(pieces.map((f) => r16(f, 14 + 6)), [0x2000 | 185, 0x2000 | (185 + 69)]);

  const df = ipv4({ src: US, dst: PEER, protocol: 17, df: true }, pattern(600));
  const dfBuf = concat(new Uint8Array(14), df);
  assert.ok(!stack.sendIpv4(dfBuf, 14, df.length));
  assert.equal(dev.take().length, 0);
  assert.equal(stack.counters.get("drop.tx_frag_needed"), 1);
});

Deno.test("IPv4 out: the Ethernet header is written into the caller's headroom", () => {
  const { dev, stack } = setup();
  stack.arp.addStatic(PEER, PEER_MAC);
  const packet = echoRequest(PEER, 1, 1, pattern(8), US);
  const buf = concat(new Uint8Array(20), packet);
  assert.ok(stack.sendIpv4Via(buf, 20, packet.length, PEER));
  assert.deepEqual(buf.subarray(6, 20), concat(eth(PEER_MAC, US_MAC, 0x0800)));
  assert.deepEqual(dev.take()[0], buf.subarray(6));
  assert.throws(() => stack.sendIpv4(packet, 0, packet.length), RangeError);
});

Deno.test("sendIpv4Via: explicit next hop keeps the destination (direct routing)", () => {
  const { dev, stack } = setup();
  stack.arp.addStatic(OTHER, OTHER_MAC);
  const packet = echoRequest(VIP, 1, 1, pattern(8), PEER);
  const buf = concat(new Uint8Array(14), packet);
  assert.ok(stack.sendIpv4Via(buf, 14, packet.length, OTHER));
  const [f] = dev.take();
  assert.deepEqual(f.subarray(0, 6), OTHER_MAC);
  assert.equal(r32(f, 14 + 16), VIP);
});

Deno.test("an exception in a protocol handler is counted, not thrown out of the loop", () => {
  const { stack } = setup();
  stack.registerProtocol(200, () => {
    throw new Error("boom (expected by the test)");
  });
  const f = concat(
    eth(US_MAC, PEER_MAC, 0x0800),
    ipv4({ src: PEER, dst: US, protocol: 200 }, pattern(4)),
  );
  const original = console.error;
  let logged = 0;
  console.error = () => logged++;
  try {
    stack.frameHandler(f, 0, f.length);
    stack.frameHandler(f, 0, f.length);
  } finally {
    console.error = original;
  }
  assert.equal(stack.counters.get("drop.internal_error"), 2);
  assert.equal(logged, 1, "logged once");
});

Deno.test("snapshot is plain JSON", () => {
  const { stack } = setup();
  stack.addAddress(VIP);
  stack.arp.addStatic(PEER, PEER_MAC);
  const snap = JSON.parse(JSON.stringify(stack.snapshot()));
  assert.deepEqual(snap.addresses, ["10.0.0.1", "10.0.0.100"]);
  assert.equal(snap.mac, "02:00:00:00:00:01");
  assert.equal(snap.cidr, "10.0.0.1/24");
  assert.equal(snap.mtu, 1500);
  assert.deepEqual(snap.arp[0].ip, "10.0.0.2");
  assert.deepEqual(snap.arp[0].mac, "02:00:00:00:00:02");
  assert.deepEqual(snap.routes[1], {
    destination: "0.0.0.0",
    gateway: "10.0.0.254",
    genmask: "0.0.0.0",
    flags: "UG",
    metric: 0,
    use: 0,
    iface: "cap0",
  });
  assert.equal(typeof snap.device.txFrames, "number");
  assert.ok(stack.removeAddress(VIP));
  assert.ok(!stack.hasAddress(VIP));
  assert.ok(!stack.removeAddress(US));
});
