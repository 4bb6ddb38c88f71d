/**
 * IPv6 (RFC 8200), its addresses (RFC 4291, RFC 5952) and ICMPv6/ND (RFC 4443, RFC 4861) against
 * bytes built by scapy 2.5.0 (the packets are in the comments).
 */
import fc from "fast-check";
import { assert, assertEquals } from "../../assert.ts";
import {
  formatIpv6,
  isIpv6LinkLocal,
  isIpv6Multicast,
  multicastMac,
  parseIpv6,
  solicitedNode,
} from "../../../stack/wire/address6.ts";
import {
  fillIcmpv6Checksum,
  icmpv6Checksum,
  NA_OVERRIDE,
  NA_SOLICITED,
  ND_NEIGHBOR_ADVERT,
  ND_NEIGHBOR_SOLICIT,
  NeighborMessage,
  parseNeighborMessage,
  writeNeighborMessage,
} from "../../../stack/wire/icmpv6.ts";
import {
  IPV6_DEST_OPTS,
  IPV6_HOP_BY_HOP,
  IPV6_NH_ICMPV6,
  IPV6_NH_UDP,
  IPV6_ROUTING,
  Ipv6Chain,
  Ipv6View,
  MAX_EXTENSION_HEADERS,
  walkExtensionHeaders,
  writeIpv6Header,
} from "../../../stack/wire/ipv6.ts";

const hex = (s: string) => Uint8Array.from(s.match(/../g)!.map((b) => parseInt(b, 16)));

// IPv6(src="2001:db8::1", dst="2001:db8::2", hlim=64, tc=0x12, fl=0xabcde) /
// IPv6ExtHdrHopByHop(options=[PadN(optdata=b"\0"*4)]) / IPv6ExtHdrDestOpt(same) /
// IPv6ExtHdrFragment(offset=0, m=1, id=0x12345678) / UDP(sport=1000, dport=2000) / b"hello"
const UDP_FRAG = hex(
  "612abcde0025004020010db800000000000000000000000120010db8000000000000000000000002" +
    "3c000104000000002c00010400000000110000011234567803e807d0000d54d568656c6c6f",
);
// IPv6(src="fe80::1", dst="ff02::1:ff00:2", hlim=255) / ICMPv6ND_NS(tgt="fe80::200:ff:fe00:2")
// / ICMPv6NDOptSrcLLAddr(lladdr="02:00:00:00:00:01")
const NS = hex(
  "6000000000203afffe800000000000000000000000000001ff0200000000000000000001ff000002" +
    "8700799700000000fe80000000000000020000fffe0000020101020000000001",
);
// IPv6(src="2001:db8::2", dst="2001:db8::1") / ICMPv6EchoRequest(id=0x1234, seq=7, data=b"abcd")
const ECHO = hex(
  "60000000000c3a4020010db800000000000000000000000220010db8000000000000000000000001" +
    "80004d421234000761626364",
);

Deno.test("the fixed header: fields, and the same bytes written back", () => {
  const v = new Ipv6View().wrap(UDP_FRAG, 0, UDP_FRAG.length);
  assertEquals(v.check(), null);
  assertEquals([v.trafficClass, v.flowLabel, v.payloadLength, v.nextHeader, v.hopLimit], [
    0x12,
    0xabcde,
    37,
    IPV6_HOP_BY_HOP,
    64,
  ]);
  assertEquals(formatIpv6(UDP_FRAG, v.srcOff), "2001:db8::1");
  assertEquals(formatIpv6(UDP_FRAG, v.dstOff), "2001:db8::2");
  const out = new Uint8Array(40);
  writeIpv6Header(out, 0, {
    trafficClass: 0x12,
    flowLabel: 0xabcde,
    payloadLength: 37,
    nextHeader: IPV6_HOP_BY_HOP,
    hopLimit: 64,
    src: parseIpv6("2001:db8::1")!,
    dst: parseIpv6("2001:db8::2")!,
  });
  assertEquals(out, UDP_FRAG.subarray(0, 40));
});

Deno.test("malformed fixed headers are named", () => {
  const v = new Ipv6View();
  assertEquals(v.wrap(UDP_FRAG, 0, 39).check(), "ipv6_truncated");
  const v4 = UDP_FRAG.slice();
  v4[0] = 0x45;
  assertEquals(v.wrap(v4, 0, v4.length).check(), "ipv6_bad_version");
  assertEquals(v.wrap(UDP_FRAG, 0, UDP_FRAG.length - 1).check(), "ipv6_bad_payload_length");
});

Deno.test("the extension-header chain: hop-by-hop, destination options, fragment, then UDP", () => {
  const c = new Ipv6Chain();
  assertEquals(walkExtensionHeaders(UDP_FRAG, 0, UDP_FRAG.length, c), null);
  assertEquals([c.protocol, c.upperOff, c.count], [IPV6_NH_UDP, 64, 3]);
  assertEquals([c.fragment, c.fragmentOffset, c.moreFragments, c.fragmentId], [
    true,
    0,
    true,
    0x12345678,
  ]);
  assertEquals(c.fragmentHeaderOff, 56);
});

/** A packet of `hdrs` (next-header value, then the header bytes), then 8 bytes of UDP. */
function chain(first: number, hdrs: Uint8Array[]): Uint8Array {
  const body = hdrs.reduce((n, h) => n + h.length, 0) + 8;
  const p = new Uint8Array(40 + body);
  p[0] = 0x60;
  p[4] = body >> 8;
  p[5] = body & 0xff;
  p[6] = first;
  let off = 40;
  for (const h of hdrs) {
    p.set(h, off);
    off += h.length;
  }
  return p;
}
/** An 8-byte options header with next header `nh` and one option `type` (length 4). */
const opts = (nh: number, type: number) => Uint8Array.of(nh, 0, type, 4, 0, 0, 0, 0);

Deno.test("extension headers that are refused: order, options, routing, length, truncation", () => {
  const c = new Ipv6Chain();
  const walk = (p: Uint8Array) => walkExtensionHeaders(p, 0, p.length, c);
  // RFC 8200 4.3: hop-by-hop only right after the IPv6 header.
  assertEquals(
    walk(chain(IPV6_DEST_OPTS, [opts(IPV6_HOP_BY_HOP, 1), opts(IPV6_NH_UDP, 1)])),
    "ipv6_hop_by_hop_not_first",
  );
  // RFC 8200 4.2: an unknown option's top two bits: 00 skip, 01 discard, 10 discard and tell.
  assertEquals(walk(chain(IPV6_DEST_OPTS, [opts(IPV6_NH_UDP, 0x3e)])), null);
  assertEquals(walk(chain(IPV6_DEST_OPTS, [opts(IPV6_NH_UDP, 0x7e)])), "ipv6_option_unknown");
  assertEquals([c.tellSender, c.errorPointer], [false, 42]);
  assertEquals(walk(chain(IPV6_DEST_OPTS, [opts(IPV6_NH_UDP, 0xbe)])), "ipv6_option_unknown");
  assert(c.tellSender && !c.tellOnlyUnicast);
  assertEquals(walk(chain(IPV6_DEST_OPTS, [opts(IPV6_NH_UDP, 0xfe)])), "ipv6_option_unknown");
  assert(c.tellSender && c.tellOnlyUnicast);
  // A routing header with segments left: nothing here routes.
  assertEquals(
    walk(chain(IPV6_ROUTING, [Uint8Array.of(IPV6_NH_UDP, 0, 0, 1, 0, 0, 0, 0)])),
    "ipv6_routing_unsupported",
  );
  // RFC 8504 5.3: a chain longer than the limit.
  const many = new Array(MAX_EXTENSION_HEADERS + 1).fill(0).map((_, i, a) =>
    opts(i === a.length - 1 ? IPV6_NH_UDP : IPV6_DEST_OPTS, 1)
  );
  assertEquals(walk(chain(IPV6_DEST_OPTS, many)), "ipv6_ext_chain_too_long");
  // A header length running past the packet.
  const long = opts(IPV6_NH_UDP, 1);
  long[1] = 4;
  assertEquals(walk(chain(IPV6_DEST_OPTS, [long])), "ipv6_ext_truncated");
});

Deno.test("ICMPv6: checksums over the pseudo-header; the echo request checks", () => {
  const v = new Ipv6View().wrap(ECHO, 0, ECHO.length);
  assertEquals(icmpv6Checksum(ECHO, v.srcOff, v.dstOff, 40, 12), 0);
  const bad = ECHO.slice();
  bad[bad.length - 1] ^= 1;
  assert(icmpv6Checksum(bad, v.srcOff, v.dstOff, 40, 12) !== 0);
});

Deno.test("Neighbor Solicitation: parsed, and written back byte for byte", () => {
  const v = new Ipv6View().wrap(NS, 0, NS.length);
  const c = new Ipv6Chain();
  assertEquals(walkExtensionHeaders(NS, 0, NS.length, c), null);
  assertEquals([c.protocol, c.upperOff], [IPV6_NH_ICMPV6, 40]);
  assertEquals(icmpv6Checksum(NS, v.srcOff, v.dstOff, 40, 32), 0);
  const m = new NeighborMessage();
  assertEquals(parseNeighborMessage(NS, 40, 32, m), null);
  assertEquals(m.type, ND_NEIGHBOR_SOLICIT);
  assertEquals(formatIpv6(NS, m.targetOff), "fe80::200:ff:fe00:2");
  assertEquals(NS.subarray(m.llOff, m.llOff + 6), Uint8Array.of(2, 0, 0, 0, 0, 1));
  const out = NS.slice();
  out.fill(0, 40);
  const n = writeNeighborMessage(
    out,
    40,
    false,
    0,
    parseIpv6("fe80::200:ff:fe00:2")!,
    Uint8Array.of(2, 0, 0, 0, 0, 1),
  );
  assertEquals(n, 32);
  fillIcmpv6Checksum(out, v.srcOff, v.dstOff, 40, n);
  assertEquals(out, NS);
});

Deno.test("Neighbor Advertisement: flags and the target option; bad options refused", () => {
  const buf = new Uint8Array(32);
  const target = parseIpv6("2001:db8::2")!;
  writeNeighborMessage(
    buf,
    0,
    true,
    NA_SOLICITED | NA_OVERRIDE,
    target,
    Uint8Array.of(2, 0, 0, 0, 0, 2),
  );
  const m = new NeighborMessage();
  assertEquals(parseNeighborMessage(buf, 0, 32, m), null);
  assertEquals([m.type, m.flags], [ND_NEIGHBOR_ADVERT, (NA_SOLICITED | NA_OVERRIDE) >>> 0]);
  assertEquals(buf.subarray(m.llOff, m.llOff + 6), Uint8Array.of(2, 0, 0, 0, 0, 2));
  const zeroLen = buf.slice();
  zeroLen[25] = 0; // RFC 4861 4.6: an option of length 0 invalidates the message
  assertEquals(parseNeighborMessage(zeroLen, 0, 32, m), "nd_bad_option");
  assertEquals(parseNeighborMessage(buf, 0, 20, m), "nd_truncated");
});

Deno.test("addresses: RFC 4291 text forms in, RFC 5952 canonical text out", () => {
  const cases: [string, string][] = [
    ["2001:0db8:0000:0000:0000:ff00:0042:8329", "2001:db8::ff00:42:8329"],
    ["2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"], // the first of two equal runs
    ["2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"], // one zero group stays
    ["::", "::"],
    ["::1", "::1"],
    ["fe80::1", "fe80::1"],
    ["2001:DB8::A", "2001:db8::a"],
    ["::ffff:192.0.2.1", "::ffff:192.0.2.1"],
    ["1:2:3:4:5:6:7::", "1:2:3:4:5:6:7:0"],
  ];
  for (const [text, canonical] of cases) {
    const a = parseIpv6(text);
    assert(a !== null, text);
    assertEquals(formatIpv6(a), canonical, text);
  }
  for (
    const bad of ["1::2::3", "12345::", "1:2:3:4:5:6:7:8:9", ":::", "g::1", "1:2:3:4:5:6:7:8::", ""]
  ) {
    assertEquals(parseIpv6(bad), null, bad);
  }
  assert(isIpv6LinkLocal(parseIpv6("fe80::1")!) && !isIpv6LinkLocal(parseIpv6("fec0::1")!));
  assert(isIpv6Multicast(parseIpv6("ff02::1")!));
});

Deno.test("solicited-node multicast (RFC 4291 2.7.1) and its Ethernet address (RFC 2464 7)", () => {
  const a = parseIpv6("2001:db8::abcd:1234")!;
  // scapy: in6_getnsma(inet_pton(AF_INET6, "2001:db8::abcd:1234"))
  assertEquals(solicitedNode(a), hex("ff0200000000000000000001ffcd1234"));
  assertEquals(formatIpv6(solicitedNode(a)), "ff02::1:ffcd:1234");
  assertEquals(multicastMac(solicitedNode(a)), Uint8Array.of(0x33, 0x33, 0xff, 0xcd, 0x12, 0x34));
});

Deno.test("property: random bytes never throw; the upper layer starts inside the packet", () => {
  const v = new Ipv6View();
  const c = new Ipv6Chain();
  const m = new NeighborMessage();
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 0, maxLength: 200 }), fc.boolean(), (bytes, asNd) => {
      const p = bytes.slice();
      if (p.length >= 40) {
        p[0] = 0x60 | (p[0] & 0x0f); // reach past the version check
        const body = p.length - 40;
        p[4] = body >> 8;
        p[5] = body & 0xff;
      }
      // The packet inside a larger buffer, as a frame in a receive ring is.
      const frame = new Uint8Array(p.length + 16).fill(0xee);
      frame.set(p);
      const view = frame.subarray(0, p.length);
      if (v.wrap(view, 0, view.length).check() !== null) return;
      const r = walkExtensionHeaders(view, 0, view.length, c);
      if (r === null) assert(c.upperOff <= view.length, `${c.upperOff} > ${view.length}`);
      if (asNd) parseNeighborMessage(view, 40, view.length - 40, m);
    }),
    { numRuns: 2000 },
  );
});
