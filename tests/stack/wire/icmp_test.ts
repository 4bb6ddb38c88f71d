import fc from "fast-check";
import {
  ICMP_CODE_FRAG_NEEDED,
  ICMP_CODE_PORT_UNREACHABLE,
  ICMP_DEST_UNREACHABLE,
  ICMP_ECHO_REPLY,
  ICMP_ECHO_REQUEST,
  IcmpView,
  writeIcmpEcho,
  writeIcmpError,
} from "../../../stack/wire/icmp.ts";
import { IP_PROTO_ICMP, Ipv4View } from "../../../stack/wire/ipv4.ts";
import { checksumAdjust16 } from "../../../stack/wire/checksum.ts";
import { assert, assertEquals, hex, probeView, toHex } from "./_util.ts";

// scapy 2.5.0: bytes(IP(src="10.0.0.1", dst="10.0.0.2", id=1, ttl=64)/ICMP(type=8, id=0x4242,
// seq=7)/Raw(bytes(range(56)))).hex()
const ECHO_IP = hex(
  "4500005400010000400166a60a0000010a0000020800bea342420007000102030405060708090a0b0c0d0e0f1011" +
    "12131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f3031323334353637",
);
// scapy 2.5.0: inner = bytes(IP(src="10.0.0.2", dst="10.9.9.9", id=99, flags="DF", ttl=63)/
// UDP(sport=1234, dport=4321)/Raw(b"x"*1400)); bytes(IP(src="10.0.0.254", dst="10.0.0.2", id=5)/
// ICMP(type=3, code=4, nexthopmtu=1400)/Raw(inner[:28])).hex()
const FRAG_NEEDED_IP = hex(
  "4500003800050000400165c10a0000fe0a000002030483920000057845000594006340003f1118e30a0000020a09" +
    "090904d210e1058058be",
);

function readAll(v: IcmpView): unknown[] {
  return [
    v.type,
    v.code,
    v.checksum,
    v.restOfHeader,
    v.identifier,
    v.sequence,
    v.nextHopMtu,
    v.payloadOffset - v.off,
    v.payloadLen,
  ];
}

Deno.test("parses a scapy echo request and builds it back byte for byte", () => {
  const ip = new Ipv4View().wrap(ECHO_IP, 0, ECHO_IP.length);
  assertEquals(ip.check(), null);
  assertEquals(ip.protocol, IP_PROTO_ICMP);
  const v = new IcmpView().wrap(ECHO_IP, ip.payloadOffset, ip.payloadLen);
  assertEquals(v.check(), null);
  assertEquals(v.type, ICMP_ECHO_REQUEST);
  assertEquals(v.code, 0);
  assertEquals(v.checksum, 0xbea3);
  assertEquals(v.identifier, 0x4242);
  assertEquals(v.sequence, 7);
  assertEquals(v.payloadOffset, 28);
  assertEquals(v.payloadLen, 56);
  const out = new Uint8Array(64);
  const payload = new Uint8Array(60);
  for (let i = 0; i < 56; i++) payload[i + 4] = i;
  assertEquals(writeIcmpEcho(out, 0, ICMP_ECHO_REQUEST, 0x4242, 7, payload, 4, 56), 64);
  assertEquals(toHex(out), toHex(ECHO_IP, 20));
});

Deno.test("an echo request becomes its reply in place (payload already there)", () => {
  const b = ECHO_IP.slice(20);
  writeIcmpEcho(b, 0, ICMP_ECHO_REPLY, 0x4242, 7, b, 8, 56);
  const v = new IcmpView().wrap(b, 0, b.length);
  assertEquals(v.check(), null);
  assertEquals(v.type, ICMP_ECHO_REPLY);
  assertEquals(toHex(b, 8), toHex(ECHO_IP, 28));
  // The same by an incremental update of the type/code word, as a responder may do.
  const c = ECHO_IP.slice(20);
  const w = new IcmpView().wrap(c, 0, c.length);
  w.type = ICMP_ECHO_REPLY;
  w.checksum = checksumAdjust16(w.checksum, ICMP_ECHO_REQUEST << 8, ICMP_ECHO_REPLY << 8);
  assertEquals(toHex(c), toHex(b));
});

Deno.test("parses a scapy fragmentation-needed error and builds it back", () => {
  const ip = new Ipv4View().wrap(FRAG_NEEDED_IP, 0, FRAG_NEEDED_IP.length);
  assertEquals(ip.check(), null);
  const v = new IcmpView().wrap(FRAG_NEEDED_IP, ip.payloadOffset, ip.payloadLen);
  assertEquals(v.check(), null);
  assertEquals([v.type, v.code, v.nextHopMtu], [
    ICMP_DEST_UNREACHABLE,
    ICMP_CODE_FRAG_NEEDED,
    1400,
  ]);
  const quoted = new Ipv4View().wrap(FRAG_NEEDED_IP, v.payloadOffset, v.payloadLen);
  assertEquals(quoted.dst, 0x0a090909);
  assertEquals(quoted.headerLen, 20);
  const out = new Uint8Array(36);
  const n = writeIcmpError(
    out,
    0,
    ICMP_DEST_UNREACHABLE,
    ICMP_CODE_FRAG_NEEDED,
    1400,
    FRAG_NEEDED_IP,
    v.payloadOffset,
    28,
  );
  assertEquals(n, 36);
  assertEquals(toHex(out), toHex(FRAG_NEEDED_IP, 20));
});

Deno.test("check() rejects truncated messages and bad checksums", () => {
  const v = new IcmpView();
  assertEquals(v.wrap(ECHO_IP, 20, 7).check(), "icmp_truncated");
  assertEquals(v.wrap(ECHO_IP, 20, 63).check(), "icmp_bad_checksum");
  const b = ECHO_IP.slice(20);
  b[30] ^= 1;
  assertEquals(v.wrap(b, 0, b.length).check(), "icmp_bad_checksum");
  v.fillChecksum();
  assertEquals(v.check(), null);
});

Deno.test("property: echo and error builders round-trip through the view", () => {
  fc.assert(
    fc.property(
      fc.nat(0xffff),
      fc.nat(0xffff),
      fc.uint8Array({ maxLength: 200, size: "max" }),
      fc.nat(0xffffffff),
      (id, seq, data, rest) => {
        const buf = new Uint8Array(220);
        const n = writeIcmpEcho(buf, 1, ICMP_ECHO_REQUEST, id, seq, data, 0, data.length);
        const v = new IcmpView().wrap(buf, 1, n);
        assertEquals(v.check(), null);
        assertEquals([v.type, v.identifier, v.sequence, v.payloadLen], [8, id, seq, data.length]);
        assertEquals(buf.slice(v.payloadOffset, v.payloadOffset + data.length), data);
        const m = writeIcmpError(buf, 3, 3, ICMP_CODE_PORT_UNREACHABLE, rest, data, 0, data.length);
        v.wrap(buf, 3, m);
        assertEquals(v.check(), null);
        assertEquals([v.code, v.restOfHeader, v.nextHopMtu], [3, rest, rest & 0xffff]);
        assertEquals(buf.slice(v.payloadOffset, v.payloadOffset + data.length), data);
      },
    ),
  );
});

Deno.test("property: random and truncated bytes never throw or read outside the view", () => {
  let valid = 0;
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 40, size: "max" }), fc.boolean(), (bytes, repair) => {
      if (repair && bytes.length >= 8) new IcmpView().wrap(bytes, 0, bytes.length).fillChecksum();
      if (probeView(() => new IcmpView(), readAll, bytes) === null) valid++;
    }),
    { numRuns: 1000 },
  );
  assert(valid > 100, `only ${valid} inputs reached the accessors`);
});
