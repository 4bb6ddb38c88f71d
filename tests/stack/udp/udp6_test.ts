/**
 * UDP over IPv6 on one stack fed frames built byte by byte (tests/stack/net/_frames.ts): sockets
 * bound to "::" and to an address, checksums (mandatory over IPv6), port unreachable and the
 * ICMPv6 error rate limit, fragment reassembly (in any order, RFC 5722 overlaps, atomic fragments,
 * the timeout's Time Exceeded), fragmentation on send and the path MTU a Packet Too Big teaches.
 * Then two stacks on an in-memory cable exchange datagrams, small and fragmented.
 */
import { assert, assertEquals, assertRejects, assertThrows } from "../../assert.ts";
import { FakeClock } from "../../../stack/clock.ts";
import { createMemoryPair, MemoryDevice } from "../../../stack/link/memory.ts";
import { Stack } from "../../../stack/net/stack.ts";
import { formatIpv6, parseIpv6 } from "../../../stack/wire/address6.ts";
import {
  checksum6,
  concat,
  eth,
  frag6,
  ip,
  ipv4,
  ipv6,
  mac,
  pattern,
  r16,
  r32,
  udp,
  udp6,
} from "../net/_frames.ts";

const OURS = parseIpv6("2001:db8::2")!;
const PEER = parseIpv6("2001:db8::1")!;
const OUR_MAC = mac("02:00:00:00:00:01");
const PEER_MAC = mac("02:00:00:00:00:09");
const enc = new TextEncoder();
const dec = new TextDecoder();

function host() {
  const dev = new MemoryDevice({ name: "v6", mac: OUR_MAC });
  const clock = new FakeClock(0);
  const stack = new Stack({
    device: dev,
    address: ip("10.0.0.2"),
    prefix: 24,
    clock,
    ipv6: ["2001:db8::2/64"],
  });
  const sent: Uint8Array[] = [];
  dev.onSend = (buf, off, len) => sent.push(buf.slice(off, off + len));
  const feed = (f: Uint8Array) => stack.input(f.slice(), 0, f.length);
  const feed6 = (nh: number, payload: Uint8Array, src = PEER, dst = OURS) =>
    feed(concat(eth(OUR_MAC, PEER_MAC, 0x86dd), ipv6({ src, dst, nh }, payload)));
  // The peer is a known neighbor (its echo request taught the cache), so replies leave at once.
  stack.ipv6!.neighbors.learn(PEER, 0, PEER_MAC);
  return { stack, sent, feed, feed6, clock };
}

/** The fields of an IPv6 frame we sent. */
function parse6(f: Uint8Array) {
  assertEquals(r16(f, 12), 0x86dd);
  assertEquals(f[14] >> 4, 6);
  return {
    payloadLen: r16(f, 18),
    nh: f[20],
    hlim: f[21],
    src: formatIpv6(f, 22),
    dst: formatIpv6(f, 38),
    payload: f.subarray(54, 54 + r16(f, 18)),
  };
}

Deno.test("UDP/IPv6: a socket on :: receives from an IPv6 peer and answers with a right checksum", async () => {
  const { stack, sent, feed6 } = host();
  const sock = stack.listenDatagram({ port: 5000, hostname: "::", transport: "udp" });
  assertEquals(sock.addr, { transport: "udp", hostname: "::", port: 5000 });
  feed6(17, udp6(PEER, OURS, 4000, 5000, enc.encode("hello v6")));
  const [data, from] = await sock.receive();
  assertEquals(dec.decode(data), "hello v6");
  assertEquals(from, { transport: "udp", hostname: "2001:db8::1", port: 4000 });
  assertEquals(await sock.send(enc.encode("back"), from), 4);
  assertEquals(sent.length, 1);
  const p = parse6(sent[0]);
  assertEquals([p.nh, p.hlim, p.src, p.dst], [17, 64, "2001:db8::2", "2001:db8::1"]);
  assertEquals(sent[0].subarray(0, 6), PEER_MAC);
  assertEquals([r16(p.payload, 0), r16(p.payload, 2), r16(p.payload, 4)], [5000, 4000, 12]);
  assertEquals(checksum6(OURS, PEER, 17, p.payload), 0, "checksum verifies");
  assertEquals(dec.decode(p.payload.subarray(8)), "back");
  sock.close();
});

Deno.test("UDP/IPv6: a dual-stack socket names an IPv4 sender IPv4-mapped; v4 and v6 sockets share a port", async () => {
  const { stack, feed } = host();
  const dual = stack.listenDatagram({ port: 53, hostname: "::", transport: "udp" });
  const src = ip("10.0.0.9");
  const dst = ip("10.0.0.2");
  feed(concat(
    eth(OUR_MAC, PEER_MAC, 0x0800),
    ipv4({ src, dst, protocol: 17 }, udp(src, dst, 1111, 53, enc.encode("v4"))),
  ));
  const [, from] = await dual.receive();
  assertEquals(from.hostname, "::ffff:10.0.0.9");
  dual.close();
  // After it closed, an IPv4-only and an IPv6-only socket take the same port side by side.
  const v4 = stack.listenDatagram({ port: 53, transport: "udp" });
  const v6 = stack.listenDatagram({ port: 53, hostname: "2001:db8::2", transport: "udp" });
  assertEquals(v6.addr.hostname, "2001:db8::2");
  assert(
    (await assertRejects(
      () => v4.send(new Uint8Array(1), { hostname: "2001:db8::1", port: 9 }),
    )) instanceof RangeError,
  );
  assert(
    (await assertRejects(
      () => v6.send(new Uint8Array(1), { hostname: "10.0.0.9", port: 9 }),
    )) instanceof RangeError,
  );
  assertThrows(
    () => stack.listenDatagram({ port: 53, hostname: "2001:db8::99", transport: "udp" }),
    Deno.errors.AddrNotAvailable,
  );
  v4.close();
  v6.close();
});

Deno.test("UDP/IPv6: zero and wrong checksums are dropped and counted", () => {
  const { stack, feed6 } = host();
  const sock = stack.listenDatagram({ port: 5000, hostname: "::", transport: "udp" });
  feed6(17, udp6(PEER, OURS, 4000, 5000, enc.encode("x"), true));
  const bad = udp6(PEER, OURS, 4000, 5000, enc.encode("y"));
  bad[6] ^= 0xff;
  feed6(17, bad);
  assertEquals(sock.queued, 0);
  assertEquals(stack.counters.get("drop.udp6_zero_checksum"), 1);
  assertEquals(stack.counters.get("drop.udp_bad_checksum"), 1);
  sock.close();
});

Deno.test("UDP/IPv6: a closed port answers Destination Unreachable (port), rate limited", () => {
  const { stack, sent, feed6 } = host();
  const dgram = udp6(PEER, OURS, 4000, 9, pattern(20));
  feed6(17, dgram);
  assertEquals(sent.length, 1);
  const p = parse6(sent[0]);
  assertEquals([p.nh, p.dst, p.payload[0], p.payload[1]], [58, "2001:db8::1", 1, 4]);
  assertEquals(checksum6(OURS, PEER, 58, p.payload), 0);
  // The quote is the whole invoking packet (it fits in 1280 bytes), IPv6 header first.
  assertEquals(p.payload.length, 8 + 40 + dgram.length);
  assertEquals(formatIpv6(p.payload, 8 + 8), "2001:db8::1");
  assertEquals(p.payload.subarray(48), dgram);
  // A burst: the bucket (50) empties and the rest are counted, not sent (the clock stands still).
  for (let i = 0; i < 99; i++) feed6(17, dgram);
  assertEquals(stack.counters.get("icmpv6.tx_error_1"), 50);
  assertEquals(stack.counters.get("icmpv6.error_rate_limited"), 50);
  // Never about a packet sent to a multicast group (RFC 4443 2.4 (e.3)).
  const before = sent.length;
  const group = parseIpv6("ff02::1")!;
  feed6(17, udp6(PEER, group, 4000, 9, pattern(4)), PEER, group);
  assertEquals(sent.length, before);
});

Deno.test("UDP/IPv6: fragments in any order reassemble into one datagram", async () => {
  const { stack, feed6 } = host();
  const sock = stack.listenDatagram({ port: 5000, hostname: "::", transport: "udp" });
  const data = pattern(3000, 3);
  const whole = udp6(PEER, OURS, 4000, 5000, data);
  const pieces = [[0, 1232], [1232, 1232], [2464, whole.length - 2464]];
  for (const [at, n] of [pieces[2], pieces[0], pieces[1]]) {
    const more = at + n < whole.length;
    feed6(44, frag6(17, at, more, 0xabcd, whole.subarray(at, at + n)));
  }
  const [got, from] = await sock.receive();
  assertEquals(got, data);
  assertEquals(from.port, 4000);
  assertEquals(stack.counters.get("ipv6.reassembled"), 1);
  assertEquals(stack.counters.get("ipv6.frag_held"), 2);
  sock.close();
});

Deno.test("UDP/IPv6: an overlapping fragment discards the datagram (RFC 5722); an atomic fragment is whole", async () => {
  const { stack, feed6 } = host();
  const sock = stack.listenDatagram({ port: 5000, hostname: "::", transport: "udp" });
  const whole = udp6(PEER, OURS, 4000, 5000, pattern(2000));
  feed6(44, frag6(17, 0, true, 7, whole.subarray(0, 1232)));
  feed6(44, frag6(17, 1224, false, 7, whole.subarray(1224))); // starts inside the first
  feed6(44, frag6(17, 1232, false, 7, whole.subarray(1232))); // the right one, too late
  assertEquals(sock.queued, 0);
  assertEquals(stack.counters.get("drop.frag6_overlap"), 2);
  // Offset 0 and no more fragments: processed at once (RFC 6946).
  feed6(44, frag6(17, 0, false, 8, udp6(PEER, OURS, 4000, 5000, enc.encode("atomic"))));
  const [got] = await sock.receive();
  assertEquals(dec.decode(got), "atomic");
  assertEquals(stack.counters.get("ipv6.atomic_fragments"), 1);
  sock.close();
});

Deno.test("UDP/IPv6: bad fragment lengths and reassembly timeouts are reported to the sender", () => {
  const { stack, sent, feed6, clock } = host();
  // Not a multiple of 8 with more to come: Parameter Problem code 0 at the payload length.
  feed6(44, frag6(17, 0, true, 9, pattern(100)));
  const p = parse6(sent.at(-1)!);
  assertEquals([p.payload[0], p.payload[1], r32(p.payload, 4)], [4, 0, 4]);
  // A first fragment whose rest never comes: after 60 s, Time Exceeded code 1.
  feed6(44, frag6(17, 0, true, 10, pattern(104)));
  // (Neighbor Discovery probes the peer meanwhile: only the ICMPv6 errors are looked at.)
  const timeExceeded = () => sent.map(parse6).filter((f) => f.nh === 58 && f.payload[0] === 3);
  clock.advance(59_000);
  stack.ipv6!.tick();
  assertEquals(timeExceeded().length, 0);
  clock.advance(1_000);
  stack.ipv6!.tick();
  const te = timeExceeded();
  assertEquals(te.length, 1);
  assertEquals(te[0].payload[1], 1, "code 1: reassembly time exceeded");
  assertEquals(formatIpv6(te[0].payload, 8 + 24), "2001:db8::2", "quotes the first fragment");
  assertEquals(stack.counters.get("drop.frag6_timeout"), 1);
});

Deno.test("IPv6: an unrecognized next header answers Parameter Problem code 1 pointing at it", () => {
  const { sent, feed6, stack } = host();
  feed6(253, pattern(16));
  const p = parse6(sent.at(-1)!);
  assertEquals([p.payload[0], p.payload[1], r32(p.payload, 4)], [4, 1, 6]);
  assertEquals(stack.counters.get("drop.ipv6_protocol_unsupported"), 1);
});

/** Reads the fragments we sent back into [offset, more, id, data] rows. */
function fragments(frames: Uint8Array[]) {
  return frames.map((f) => {
    const p = parse6(f);
    assertEquals(p.nh, 44);
    return {
      size: 40 + p.payloadLen,
      offset: r16(p.payload, 2) & 0xfff8,
      more: (r16(p.payload, 2) & 1) === 1,
      id: r32(p.payload, 4),
      nh: p.payload[0],
      data: p.payload.subarray(8),
    };
  });
}

Deno.test("UDP/IPv6: a datagram over the MTU leaves in fragments; Packet Too Big lowers the path MTU", async () => {
  const { stack, sent, feed6 } = host();
  const sock = stack.listenDatagram({ port: 5000, hostname: "::", transport: "udp" });
  const data = pattern(3000, 5);
  const to = { hostname: "2001:db8::1", port: 4000 };
  await sock.send(data, to);
  let fr = fragments(sent.splice(0));
  assertEquals(fr.map((f) => [f.size, f.offset, f.more]), [
    [1496, 0, true],
    [1496, 1448, true],
    [160, 2896, false],
  ]);
  assertEquals(new Set(fr.map((f) => f.id)).size, 1, "one identification");
  const firstId = fr[0].id;
  assertEquals(fr[0].nh, 17);
  const reassembled = concat(...fr.map((f) => f.data));
  assertEquals(reassembled.length, 3008);
  assertEquals(checksum6(OURS, PEER, 17, reassembled), 0);
  assertEquals(reassembled.subarray(8), data);

  // A router on the way says 1280 (quoting the first fragment we sent).
  const ptb = (mtu: number, quotedSrc: Uint8Array) => {
    const quote = ipv6({ src: quotedSrc, dst: PEER, nh: 17 }, pattern(64));
    const m = new Uint8Array(8 + quote.length);
    m[0] = 2;
    new DataView(m.buffer).setUint32(4, mtu);
    m.set(quote, 8);
    const router = parseIpv6("2001:db8::fe")!;
    const c = checksum6(router, OURS, 58, m);
    m[2] = c >> 8;
    m[3] = c & 0xff;
    feed6(58, m, router);
  };
  ptb(1280, OURS);
  assertEquals(stack.ipv6!.pmtu.get("2001:db8::1"), 1280);
  await sock.send(data, to);
  fr = fragments(sent.splice(0));
  assertEquals(fr.map((f) => f.size), [1280, 1280, 592]);
  assertEquals(new Set(fr.map((f) => f.id)).size, 1);
  assert(fr[0].id !== firstId, "a new random identification per datagram (RFC 7739)");
  // A smaller value counts as 1280 (RFC 8201 4), and an error about a packet not ours is dropped.
  ptb(600, OURS);
  assertEquals(stack.ipv6!.pmtu.get("2001:db8::1"), 1280);
  ptb(1280, parseIpv6("2001:db8::77")!);
  assertEquals(stack.counters.get("drop.icmpv6_error_not_ours"), 1);
  assertEquals(stack.counters.get("udp.icmp_errors"), 2, "the two PTBs about our UDP");
  sock.close();
});

Deno.test("UDP/IPv6: two stacks on a cable exchange small and fragmented datagrams", async () => {
  const [da, db] = createMemoryPair({
    macA: mac("02:00:00:00:29:01"),
    macB: mac("02:00:00:00:29:02"),
  });
  const a = new Stack({
    device: da,
    address: ip("10.9.2.1"),
    prefix: 24,
    ipv6: ["2001:db8:2::1/64"],
    dad: false,
  });
  const b = new Stack({
    device: db,
    address: ip("10.9.2.2"),
    prefix: 24,
    ipv6: ["2001:db8:2::2/64"],
    dad: false,
  });
  const runs = [a.start(), b.start()];
  try {
    const sa = a.listenDatagram({ port: 0, hostname: "::", transport: "udp" });
    const sb = b.listenDatagram({ port: 7, hostname: "2001:db8:2::2", transport: "udp" });
    for (const size of [10, 1452, 1453, 9000, 65527]) {
      const data = pattern(size, size);
      await sa.send(data, { hostname: "2001:db8:2::2", port: 7 });
      const [got, from] = await sb.receive();
      assertEquals(got.length, size);
      assertEquals(got, data);
      assertEquals(from, { transport: "udp", hostname: "2001:db8:2::1", port: sa.addr.port });
      await sb.send(got, from);
      const [back] = await sa.receive();
      assertEquals(back, data);
    }
    assertEquals(b.counters.get("ipv6.reassembled"), 3, "9000 and 65527 bytes; 1453 + 48 > 1500");
    assert(
      (await assertRejects(
        () => sa.send(new Uint8Array(65528), { hostname: "2001:db8:2::2", port: 7 }),
      )) instanceof RangeError,
    );
    assert(
      (await assertRejects(
        () => sa.send(new Uint8Array(1), { hostname: "2001:db9::1", port: 7 }),
      )) instanceof Deno.errors.NetworkUnreachable,
    );
    sa.close();
    sb.close();
  } finally {
    a.close();
    b.close();
    await Promise.all(runs);
  }
});

Deno.test("IPv6 hook: sees packets for the host and its VIPs (and others' with forwarding); ND stays", () => {
  const { stack, sent, feed6, feed } = host();
  const v6 = stack.ipv6!;
  const vip = parseIpv6("2001:db8::100")!;
  v6.addAddress(vip, 128, { nd: false });
  const seen: string[] = [];
  v6.hook = (buf, _frameOff, ipOff, _len, protocol, upperOff) => {
    seen.push(`${formatIpv6(buf, ipOff + 24)} ${protocol} ${r16(buf, upperOff + 2)}`);
    return r16(buf, upperOff + 2) === 80 ? "consumed" : "pass";
  };
  feed6(17, udp6(PEER, vip, 4000, 80, pattern(8)), PEER, vip);
  feed6(17, udp6(PEER, OURS, 4000, 81, pattern(8)));
  const other = parseIpv6("2001:db8::55")!;
  feed6(17, udp6(PEER, other, 4000, 80, pattern(8)), PEER, other);
  assertEquals(seen, ["2001:db8::100 17 80", "2001:db8::2 17 81"], "not for us: not offered");
  assertEquals(stack.counters.get("hook6.consumed"), 1);
  assertEquals(stack.counters.get("icmpv6.tx_error_1"), 1, "the passed one: port unreachable");
  v6.forwarding = true;
  feed6(17, udp6(PEER, other, 4000, 80, pattern(8)), PEER, other);
  assertEquals(seen.at(-1), "2001:db8::55 17 80");
  // A VIP held without ND is not answered for (the balancer in front of it answers).
  const before = sent.length;
  const ns = new Uint8Array(32);
  ns[0] = 135;
  ns.set(vip, 8);
  ns.set(Uint8Array.of(1, 1, ...PEER_MAC), 24);
  const group = parseIpv6("ff02::1:ff00:100")!;
  const c = checksum6(PEER, group, 58, ns);
  ns[2] = c >> 8;
  ns[3] = c & 0xff;
  feed(
    concat(eth(OUR_MAC, PEER_MAC, 0x86dd), ipv6({ src: PEER, dst: group, nh: 58, hlim: 255 }, ns)),
  );
  assertEquals(sent.length, before);
  assertEquals(stack.counters.get("nd.ns_not_ours"), 1);
  assert(v6.removeAddress(vip) && !v6.owns(vip));
});
