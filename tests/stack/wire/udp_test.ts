import fc from "fast-check";
import { pseudoHeaderSum, sumWords } from "../../../stack/wire/checksum.ts";
import { IP_PROTO_UDP, Ipv4View } from "../../../stack/wire/ipv4.ts";
import { UdpView, writeUdpHeader } from "../../../stack/wire/udp.ts";
import { assert, assertEquals, hex, probeView, toHex } from "./_util.ts";

// scapy 2.5.0: bytes(IP(src="10.0.0.1", dst="10.0.0.2", id=3)/UDP(sport=1111, dport=2222)/
// Raw(b"ping")).hex()
const UDP_IP = hex("4500002000030000401166c80a0000010a000002045708ae000cfffd70696e67");
// scapy 2.5.0: the IPv4 packet of bytes(Ether(...)/Dot1Q(prio=5, vlan=100)/IP(src="10.1.2.3",
// dst="10.1.2.255", ttl=1)/UDP(sport=5353, dport=53)/Raw(b"abc"))
const VLAN_UDP_IP = hex("4500001f000100000111a0ca0a0102030a0102ff14e90035000b0d54616263");

function readAll(v: UdpView): unknown[] {
  return [
    v.srcPort,
    v.dstPort,
    v.length,
    v.checksum,
    v.payloadOffset - v.off,
    v.payloadLen,
    v.verifyChecksum(0x0a000001, 0x0a000002),
  ];
}

Deno.test("parses scapy datagrams and verifies their checksums", () => {
  for (
    const [bytes, sport, dport, payload] of [[UDP_IP, 1111, 2222, "ping"], [
      VLAN_UDP_IP,
      5353,
      53,
      "abc",
    ]] as const
  ) {
    const ip = new Ipv4View().wrap(bytes, 0, bytes.length);
    assertEquals(ip.check(), null);
    assertEquals(ip.protocol, IP_PROTO_UDP);
    const v = new UdpView().wrap(bytes, ip.payloadOffset, ip.payloadLen);
    assertEquals(v.check(), null);
    assertEquals([v.srcPort, v.dstPort, v.length], [sport, dport, 8 + payload.length]);
    assertEquals(new TextDecoder().decode(bytes.slice(v.payloadOffset)), payload);
    assert(v.verifyChecksum(ip.src, ip.dst));
    assert(!v.verifyChecksum(ip.src, ip.dst ^ 1));
  }
});

Deno.test("writeUdpHeader + fillChecksum build the scapy datagram byte for byte", () => {
  const out = new Uint8Array(12);
  assertEquals(writeUdpHeader(out, 0, 1111, 2222, 4), 8);
  out.set(new TextEncoder().encode("ping"), 8);
  const v = new UdpView().wrap(out, 0, 12);
  v.fillChecksum(0x0a000001, 0x0a000002);
  assertEquals(toHex(out), toHex(UDP_IP, 20));
});

Deno.test("checksum 0 means none; a computed 0 is sent as 0xffff (RFC 768)", () => {
  const b = UDP_IP.slice(20);
  const v = new UdpView().wrap(b, 0, b.length);
  v.checksum = 0;
  assert(v.verifyChecksum(0x01010101, 0x02020202), "no checksum: accepted");
  // Choose the last two data bytes so that the sum over everything is 0xffff: checksum 0.
  b[10] = 0;
  b[11] = 0;
  const s = sumWords(b, 0, 12, pseudoHeaderSum(0x0a000001, 0x0a000002, IP_PROTO_UDP, 12));
  let f = s;
  while (f > 0xffff) f = (f & 0xffff) + Math.floor(f / 65536);
  const w = 0xffff - f;
  b[10] = w >> 8;
  b[11] = w & 0xff;
  v.fillChecksum(0x0a000001, 0x0a000002);
  assertEquals(v.checksum, 0xffff);
  assert(v.verifyChecksum(0x0a000001, 0x0a000002));
});

Deno.test("check() rejects short datagrams and bad length fields", () => {
  const b = UDP_IP.slice(20);
  const v = new UdpView();
  assertEquals(v.wrap(b, 0, 7).check(), "udp_truncated");
  assertEquals(v.wrap(b, 0, 11).check(), "udp_bad_length");
  b[5] = 7;
  assertEquals(v.wrap(b, 0, 12).check(), "udp_bad_length");
  b[5] = 8;
  assertEquals(v.wrap(b, 0, 12).check(), null);
  assertEquals(v.payloadLen, 0);
});

Deno.test("property: build -> parse round trip with a valid checksum", () => {
  fc.assert(
    fc.property(
      fc.nat(0xffff),
      fc.nat(0xffff),
      fc.uint8Array({ maxLength: 300, size: "max" }),
      fc.nat(0xffffffff),
      fc.nat(0xffffffff),
      (sp, dp, data, src, dst) => {
        const buf = new Uint8Array(data.length + 11);
        writeUdpHeader(buf, 3, sp, dp, data.length);
        buf.set(data, 11);
        const v = new UdpView().wrap(buf, 3, data.length + 8);
        v.fillChecksum(src, dst);
        assertEquals(v.check(), null);
        assertEquals([v.srcPort, v.dstPort, v.payloadLen], [sp, dp, data.length]);
        assert(v.checksum !== 0);
        assert(v.verifyChecksum(src, dst));
      },
    ),
  );
});

Deno.test("property: random and truncated bytes never throw or read outside the view", () => {
  let valid = 0;
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 40, size: "max" }), fc.boolean(), (bytes, fix) => {
      if (fix && bytes.length >= 8) {
        bytes[4] = 0;
        bytes[5] = 8 + (bytes[5] % (bytes.length - 7));
      }
      if (probeView(() => new UdpView(), readAll, bytes) === null) valid++;
    }),
    { numRuns: 1000 },
  );
  assert(valid > 100, `only ${valid} inputs reached the accessors`);
});
