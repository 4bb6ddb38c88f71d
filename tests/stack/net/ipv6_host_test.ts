/**
 * The stack's IPv6 host side against frames built by scapy 2.5.0: Neighbor Solicitations answered
 * with advertisements, the neighbor cache learned from them, echo requests answered (directly
 * when the requester is known, after resolving it otherwise), malformed packets counted.
 */
import { assert, assertEquals } from "../../assert.ts";
import { FakeClock } from "../../../stack/clock.ts";
import { MemoryDevice } from "../../../stack/link/memory.ts";
import { Stack } from "../../../stack/net/stack.ts";
import { formatIpv6, parseIpv6 } from "../../../stack/wire/address6.ts";
import {
  ICMPV6_ECHO_REPLY,
  icmpv6Checksum,
  ND_NEIGHBOR_ADVERT,
  ND_NEIGHBOR_SOLICIT,
  NeighborMessage,
  parseNeighborMessage,
} from "../../../stack/wire/icmpv6.ts";

const hex = (s: string) => Uint8Array.from(s.match(/../g)!.map((b) => parseInt(b, 16)));

// Ether(src="02:00:00:00:00:09", dst="33:33:ff:00:00:02") / IPv6(src="2001:db8::1",
// dst="ff02::1:ff00:2", hlim=255) / ICMPv6ND_NS(tgt="2001:db8::2") / SrcLLAddr(peer)
const NS = hex(
  "3333ff00000202000000000986dd6000000000203aff20010db8000000000000000000000001ff0200000000" +
    "000000000001ff00000287001c1f0000000020010db80000000000000000000000020101020000000009",
);
// Ether(dst=stack) / IPv6(src="2001:db8::1", dst="2001:db8::2") / EchoRequest(0x4242, 1, "ping6")
const ECHO = hex(
  "02000000000102000000000986dd60000000000d3a4020010db800000000000000000000000120010db80000" +
    "000000000000000000028000cd2e4242000170696e6736",
);
// From an unknown neighbor: IPv6(src="2001:db8::7") / EchoRequest(0x4243, 2, "who")
const ECHO_UNKNOWN = hex(
  "02000000000102000000000a86dd60000000000b3a4020010db800000000000000000000000720010db80000" +
    "000000000000000000028000fb904243000277686f",
);
// Its solicited advertisement: NA(tgt="2001:db8::7", S=1, O=1) / DstLLAddr("02:00:00:00:00:0a")
const NA = hex(
  "02000000000102000000000a86dd6000000000203aff20010db800000000000000000000000720010db80000" +
    "0000000000000000000288008a5e6000000020010db8000000000000000000000007020102000000000a",
);

function host() {
  const dev = new MemoryDevice({ name: "v6", mac: Uint8Array.of(2, 0, 0, 0, 0, 1) });
  const clock = new FakeClock(0);
  const stack = new Stack({
    device: dev,
    address: 0x0a000002,
    prefix: 24,
    clock,
    ipv6: ["2001:db8::2/64"],
  });
  const sent: Uint8Array[] = [];
  dev.onSend = (buf, off, len) => sent.push(buf.slice(off, off + len));
  const feed = (f: Uint8Array) => stack.input(f.slice(), 0, f.length);
  return { stack, sent, feed, clock };
}

/** The ICMPv6 message of a frame we sent, checked: [type, message offset, frame]. */
function icmp(f: Uint8Array): [number, number] {
  assertEquals((f[12] << 8) | f[13], 0x86dd);
  assertEquals(f[14 + 6], 58);
  const len = (f[18] << 8) | f[19];
  assertEquals(icmpv6Checksum(f, 22, 38, 54, len), 0, "our checksum is right");
  return [f[54], 54];
}

Deno.test("IPv6: a Neighbor Solicitation for our address gets a solicited advertisement", () => {
  const { stack, sent, feed } = host();
  feed(NS);
  assertEquals(sent.length, 1);
  const f = sent[0];
  const [type, off] = icmp(f);
  assertEquals(type, ND_NEIGHBOR_ADVERT);
  assertEquals(f.subarray(0, 6), Uint8Array.of(2, 0, 0, 0, 0, 9), "unicast back to the solicitor");
  assertEquals(f[21], 255, "hop limit 255 (RFC 4861 7.1.2)");
  const m = new NeighborMessage();
  assertEquals(parseNeighborMessage(f, off, f.length - off, m), null);
  assertEquals(formatIpv6(f, m.targetOff), "2001:db8::2");
  assertEquals(m.flags >>> 0, 0x60000000, "solicited and override");
  assertEquals(f.subarray(m.llOff, m.llOff + 6), Uint8Array.of(2, 0, 0, 0, 0, 1));
  // The solicitor is now a neighbor: STALE (RFC 4861 7.2.3), and DELAY once the advertisement
  // was sent to it (7.3.3: a packet sent through a STALE entry).
  assertEquals(stack.ipv6!.neighborRows(), [{
    address: "2001:db8::1",
    mac: "02:00:00:00:00:09",
    state: "DELAY",
    router: false,
  }]);
});

Deno.test("IPv6: an echo request from a known neighbor is answered at once", () => {
  const { sent, feed, stack } = host();
  feed(NS);
  sent.length = 0;
  feed(ECHO);
  assertEquals(sent.length, 1);
  const f = sent[0];
  const [type, off] = icmp(f);
  assertEquals(type, ICMPV6_ECHO_REPLY);
  assertEquals(formatIpv6(f, 22), "2001:db8::2");
  assertEquals(formatIpv6(f, 38), "2001:db8::1");
  assertEquals(f.subarray(off + 4), hex("4242000170696e6736"), "identifier, sequence, data");
  assertEquals(stack.ipv6!.neighborRows()[0].state, "DELAY");
});

Deno.test("IPv6: an echo from an unknown neighbor waits for its resolution, then goes", () => {
  const { sent, feed, stack } = host();
  feed(ECHO_UNKNOWN);
  assertEquals(sent.length, 1);
  const [type] = icmp(sent[0]);
  assertEquals(type, ND_NEIGHBOR_SOLICIT);
  assertEquals(sent[0].subarray(0, 6), Uint8Array.of(0x33, 0x33, 0xff, 0, 0, 7));
  assertEquals(formatIpv6(sent[0], 38), "ff02::1:ff00:7", "to the solicited-node group");
  feed(NA);
  assertEquals(sent.length, 2);
  const [t2] = icmp(sent[1]);
  assertEquals(t2, ICMPV6_ECHO_REPLY);
  assertEquals(sent[1].subarray(0, 6), Uint8Array.of(2, 0, 0, 0, 0, 10));
  assertEquals(stack.ipv6!.neighborRows()[0].state, "REACHABLE");
});

Deno.test("IPv6: malformed and foreign packets are counted, never answered", () => {
  const { sent, feed, stack } = host();
  const badSum = ECHO.slice();
  badSum[badSum.length - 1] ^= 1;
  feed(badSum);
  const shortLen = ECHO.slice();
  shortLen[19] = 0xff; // payload length past the frame
  feed(shortLen);
  const lowHop = NS.slice();
  lowHop[21] = 64; // an NS that crossed a router (RFC 4861 7.1.1)
  feed(lowHop);
  const other = ECHO.slice();
  other[53] ^= 0x55; // someone else's address
  feed(other);
  assertEquals(sent.length, 0);
  const c = stack.counters.snapshot();
  assertEquals(c["drop.icmpv6_bad_checksum"], 1);
  assertEquals(c["drop.ipv6_bad_payload_length"], 1);
  assertEquals(c["drop.nd_bad_hop_limit"], 1);
  assertEquals(c["drop.ipv6_not_for_us"], 1);
  assert(!stack.ipv6!.owns(parseIpv6("fe80::1")!) && stack.ipv6!.owns(parseIpv6("2001:db8::2")!));
});

Deno.test("IPv6: the link-local address comes from the MAC (modified EUI-64)", () => {
  const { stack } = host();
  const texts = stack.ipv6!.addresses.map((a) => formatIpv6(a.address));
  // The configured address, the link-local one, and ::1 (held as Linux holds it on lo).
  assertEquals(texts, ["2001:db8::2", "fe80::ff:fe00:1", "::1"]);
});

Deno.test("DAD (RFC 4862 5.4): tentative addresses are probed from :: and answered only after", () => {
  const { stack, sent, feed, clock } = host();
  stack.ipv6!.start();
  // One probe per address (the configured one and the link-local one), from the unspecified
  // address to the solicited-node group, without a source link-layer option.
  assertEquals(sent.length, 2);
  const f = sent[0];
  const [type, off] = icmp(f);
  assertEquals(type, ND_NEIGHBOR_SOLICIT);
  assertEquals(formatIpv6(f, 22), "::");
  assertEquals(formatIpv6(f, 38), "ff02::1:ff00:2");
  const m = new NeighborMessage();
  assertEquals(parseNeighborMessage(f, off, f.length - off, m), null);
  assertEquals([formatIpv6(f, m.targetOff), m.llOff], ["2001:db8::2", -1]);
  sent.length = 0;
  feed(NS);
  assertEquals(sent.length, 0, "a tentative address is not answered for");
  clock.advance(1000);
  stack.tick();
  assertEquals(stack.counters.get("nd.dad_passed"), 2);
  // Each address in use is announced once (RFC 4861 7.2.6): an unsolicited NA to all nodes,
  // Override set, Solicited not.
  assertEquals(sent.length, 2);
  for (const a of sent) {
    const [t2, o2] = icmp(a);
    assertEquals([t2, formatIpv6(a, 38), a[o2 + 4]], [ND_NEIGHBOR_ADVERT, "ff02::1", 0x20]);
  }
  sent.length = 0;
  feed(NS);
  assertEquals(sent.length, 1, "preferred now: answered");
});

Deno.test("DAD: an advertisement for a tentative address makes it a duplicate, never used", () => {
  const { stack, sent, feed, clock } = host();
  stack.ipv6!.start();
  sent.length = 0;
  // Another node answers the probe for 2001:db8::2: an NA to all nodes (the probe came from ::),
  // override set, not solicited (RFC 4861 7.2.4).
  const na = NA.slice();
  na.set(Uint8Array.of(0x33, 0x33, 0, 0, 0, 1), 0);
  na.set(parseIpv6("ff02::1")!, 38);
  na[58] = 0x20;
  na.set(parseIpv6("2001:db8::2")!, 62); // the target field
  const v = 14;
  na.fill(0, 56, 58); // checksum recomputed below
  const sum = icmpv6Checksum(na, v + 8, v + 24, 54, 32);
  na[56] = sum >> 8;
  na[57] = sum & 0xff;
  feed(na);
  assertEquals(stack.counters.get("nd.dad_duplicate"), 1);
  clock.advance(2000);
  stack.tick();
  // Only the link-local address passed DAD: its announcement is all that went out.
  assertEquals(sent.length, 1);
  const m = new NeighborMessage();
  const [, o1] = icmp(sent[0]);
  assertEquals(parseNeighborMessage(sent[0], o1, sent[0].length - o1, m), null);
  assertEquals(formatIpv6(sent[0], m.targetOff), "fe80::ff:fe00:1");
  sent.length = 0;
  feed(NS);
  assertEquals(sent.length, 0, "a duplicate address is never answered for");
  assert(!stack.ipv6!.owns(parseIpv6("2001:db8::2")!));
});

Deno.test("IPv6 ping: an echo request to a neighbor, matched to its reply", async () => {
  const { stack, sent, feed, clock } = host();
  feed(NS); // 2001:db8::1 is a neighbor now
  sent.length = 0;
  const pending = stack.ipv6!.ping(parseIpv6("2001:db8::1")!, { id: 7, seq: 3, size: 4 });
  assertEquals(sent.length, 1);
  const req = sent[0];
  const [type, off] = icmp(req);
  assertEquals(type, 128);
  assertEquals(req.subarray(off + 4, off + 8), Uint8Array.of(0, 7, 0, 3));
  // The peer's reply: the same message as type 129, from it to us.
  const rep = req.slice();
  rep.set(req.subarray(6, 12), 0);
  rep.set(req.subarray(0, 6), 6);
  rep.set(req.subarray(38, 54), 22);
  rep.set(req.subarray(22, 38), 38);
  rep[off] = 129;
  rep[off + 2] = 0;
  rep[off + 3] = 0;
  const sum = icmpv6Checksum(rep, 22, 38, off, rep.length - off);
  rep[off + 2] = sum >> 8;
  rep[off + 3] = sum & 0xff;
  clock.advance(5);
  feed(rep);
  const r = await pending;
  assertEquals(r, { from: "2001:db8::1", bytes: 12, ttl: 64, seq: 3, rttMs: 5 });
});
