import fc from "fast-check";
import {
  innerPacketOffset,
  IPIP_OVERHEAD,
  writeIpipHeader,
  writeIpipHeaderFor,
} from "../../../stack/wire/ipip.ts";
import {
  IP_PROTO_IPIP,
  IP_PROTO_TCP,
  Ipv4View,
  newIpv4Header,
  writeIpv4Header,
} from "../../../stack/wire/ipv4.ts";
import { assertEquals, hex, toHex } from "./_util.ts";

// scapy 2.5.0: bytes(IP(src="172.16.0.1", dst="172.16.0.2", proto=4, id=77, ttl=64, flags="DF",
// tos=0x10)/IP(src="10.0.0.1", dst="10.0.0.100", id=1, flags="DF", tos=0x10, ttl=64)/
// TCP(sport=1000, dport=80, flags="S", seq=1, window=1000)).hex()
const IPIP = hex(
  "4510003c004d40004004e23dac100001ac10000245100028000140004006265b0a0000010a00006403e80050000000" +
    "0100000000500203e8935d0000",
);

Deno.test("parses a scapy IP-in-IP packet and builds the outer header back", () => {
  const outer = new Ipv4View().wrap(IPIP, 0, IPIP.length);
  assertEquals(outer.check(), null);
  assertEquals(outer.protocol, IP_PROTO_IPIP);
  const at = innerPacketOffset(outer);
  assertEquals(at, 20);
  const inner = new Ipv4View().wrap(IPIP, at, outer.payloadLen);
  assertEquals(inner.check(), null);
  assertEquals([inner.dst, inner.protocol, inner.totalLength], [0x0a000064, IP_PROTO_TCP, 40]);

  const out = new Uint8Array(20);
  assertEquals(writeIpipHeaderFor(out, 0, 0xac100001, 0xac100002, inner, 64, 77), IPIP_OVERHEAD);
  assertEquals(toHex(out), toHex(IPIP, 0, 20));
  out.fill(0);
  writeIpipHeader(out, 0, 0xac100001, 0xac100002, 40, 64, 77, true, 0x10);
  assertEquals(toHex(out), toHex(IPIP, 0, 20));
  assertEquals(innerPacketOffset(inner), -1);
});

Deno.test("property: encapsulation keeps the inner packet and copies DF and TOS (RFC 2003 3.1)", () => {
  fc.assert(
    fc.property(
      fc.boolean(),
      fc.nat(255),
      fc.nat(100),
      fc.nat(0xffffffff),
      fc.nat(0xffffffff),
      (df, tos, payloadLen, src, dst) => {
        const h = newIpv4Header();
        h.dontFragment = df;
        h.tos = tos;
        h.protocol = IP_PROTO_TCP;
        h.payloadLen = payloadLen;
        const buf = new Uint8Array(40 + payloadLen);
        const innerLen = writeIpv4Header(buf, 20, h) + payloadLen;
        const inner = new Ipv4View().wrap(buf, 20, innerLen);
        writeIpipHeaderFor(buf, 0, src, dst, inner, 30, 9);
        const outer = new Ipv4View().wrap(buf, 0, buf.length);
        assertEquals(outer.check(), null);
        assertEquals(
          [outer.src, outer.dst, outer.dontFragment, outer.tos, outer.ttl, outer.payloadLen],
          [src, dst, df, tos, 30, innerLen],
        );
        assertEquals(inner.check(), null);
      },
    ),
  );
});
