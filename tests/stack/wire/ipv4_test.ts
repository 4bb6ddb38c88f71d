import fc from "fast-check";
import {
  copyFragmentOptions,
  IP_PROTO_TCP,
  IP_PROTO_UDP,
  type Ipv4Header,
  Ipv4View,
  newIpv4Header,
  writeIpv4Header,
} from "../../../stack/wire/ipv4.ts";
import { assert, assertEquals, hex, probeView, toHex } from "./_util.ts";

// scapy 2.5.0, the IPv4 part of bytes(IP(src="10.0.0.1", dst="10.0.0.2", id=0x1234, flags="DF",
// ttl=64)/TCP(sport=40000, dport=80, seq=0x01020304, flags="S", window=64240, options=[...]))
const SYN_IP = hex(
  "4500003c12344000400614860a0000010a0000029c4000500102030400000000a002faf0683d0000020405b404" +
    "02080a000030390000000001030307",
);
// scapy 2.5.0: bytes(IP(src="1.2.3.4", dst="5.6.7.8", id=0xabcd, ttl=32,
// options=[IPOption_RR(routers=["0.0.0.0"]), IPOption_LSRR(routers=["9.9.9.9"]),
// IPOption_Security()])/UDP(sport=1, dport=2)).hex()
const OPTIONS_IP = hex(
  "4c000038abcd0000201140b001020304050607080707040000000083070409090909820b00000000000078787800" +
    "0000000100020008e9c3",
);
// scapy 2.5.0: bytes(IP(src="10.0.0.1", dst="10.0.0.2", id=0x55, flags="MF", frag=185,
// proto=17)/Raw(b"z"*16)).hex()
const FRAGMENT_IP = hex("45000024005520b9401145b90a0000010a0000027a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a");

function readAll(v: Ipv4View): unknown[] {
  return [
    v.version,
    v.ihl,
    v.headerLen,
    v.tos,
    v.totalLength,
    v.id,
    v.dontFragment,
    v.moreFragments,
    v.fragmentOffset,
    v.isFragment,
    v.ttl,
    v.protocol,
    v.headerChecksum,
    v.src,
    v.dst,
    v.optionsOffset - v.off,
    v.optionsLen,
    v.payloadOffset - v.off,
    v.payloadLen,
    v.verifyChecksum(),
  ];
}

function headerOf(v: Ipv4View): Ipv4Header {
  return {
    src: v.src,
    dst: v.dst,
    protocol: v.protocol,
    ttl: v.ttl,
    id: v.id,
    tos: v.tos,
    dontFragment: v.dontFragment,
    moreFragments: v.moreFragments,
    fragmentOffset: v.fragmentOffset,
    payloadLen: v.payloadLen,
  };
}

Deno.test("parses a scapy TCP/IPv4 header and builds it back byte for byte", () => {
  const v = new Ipv4View().wrap(SYN_IP, 0, SYN_IP.length);
  assertEquals(v.check(), null);
  assertEquals(readAll(v), [
    4,
    5,
    20,
    0,
    60,
    0x1234,
    true,
    false,
    0,
    false,
    64,
    IP_PROTO_TCP,
    0x1486,
    0x0a000001,
    0x0a000002,
    20,
    0,
    20,
    40,
    true,
  ]);
  const out = new Uint8Array(20);
  assertEquals(writeIpv4Header(out, 0, headerOf(v)), 20);
  assertEquals(toHex(out), toHex(SYN_IP, 0, 20));
});

Deno.test("parses a header with options and builds it back; the copied options carry over", () => {
  const v = new Ipv4View().wrap(OPTIONS_IP, 0, OPTIONS_IP.length);
  assertEquals(v.check(), null);
  assertEquals(v.ihl, 12);
  assertEquals(v.headerLen, 48);
  assertEquals(v.payloadLen, 8);
  assertEquals(v.protocol, IP_PROTO_UDP);
  // The options as scapy listed them (25 bytes); the builder pads with EOL to 28.
  const options = OPTIONS_IP.slice(20, 45);
  const out = new Uint8Array(60);
  assertEquals(writeIpv4Header(out, 0, headerOf(v), options), 48);
  assertEquals(toHex(out, 0, 48), toHex(OPTIONS_IP, 0, 48));
  // RFC 791: LSRR (0x83) and Security (0x82) have the copy flag; Record Route (0x07) has not.
  const dst = new Uint8Array(40).fill(0xee);
  const n = copyFragmentOptions(v, dst, 0);
  assertEquals(n, 20);
  assertEquals(toHex(dst, 0, n), "83070409090909" + "820b000000000000787878" + "0000");
});

Deno.test("parses a scapy fragment (MF, offset 185*8) and builds it back", () => {
  const v = new Ipv4View().wrap(FRAGMENT_IP, 0, FRAGMENT_IP.length);
  assertEquals(v.check(), null);
  assert(v.moreFragments && !v.dontFragment && v.isFragment);
  assertEquals(v.fragmentOffset, 1480);
  const out = new Uint8Array(20);
  writeIpv4Header(out, 0, headerOf(v));
  assertEquals(toHex(out), toHex(FRAGMENT_IP, 0, 20));
  const last = FRAGMENT_IP.slice();
  const w = new Ipv4View().wrap(last, 0, last.length);
  w.moreFragments = false;
  assert(w.isFragment, "a non-zero offset alone makes a fragment");
  w.fragmentOffset = 0;
  assert(!w.isFragment);
});

Deno.test("check() reports the first failing rule, in the documented order", () => {
  const v = new Ipv4View();
  const mk = (edit: (b: Uint8Array) => void): Uint8Array => {
    const b = SYN_IP.slice();
    edit(b);
    return b;
  };
  assertEquals(v.wrap(SYN_IP, 0, 19).check(), "ipv4_truncated");
  assertEquals(v.wrap(mk((b) => b[0] = 0x65), 0, 60).check(), "ipv4_bad_version");
  assertEquals(v.wrap(mk((b) => b[0] = 0x44), 0, 60).check(), "ipv4_bad_ihl");
  assertEquals(v.wrap(mk((b) => b[0] = 0x4f), 0, 59).check(), "ipv4_bad_ihl");
  // Bad version wins over bad IHL and a short buffer over everything.
  assertEquals(v.wrap(mk((b) => b[0] = 0x64), 0, 60).check(), "ipv4_bad_version");
  assertEquals(v.wrap(SYN_IP, 0, 59).check(), "ipv4_bad_total_length");
  assertEquals(v.wrap(mk((b) => b[3] = 19), 0, 60).check(), "ipv4_bad_total_length");
  assertEquals(v.wrap(mk((b) => b[8] = 63), 0, 60).check(), "ipv4_bad_checksum");
  // Link-layer padding after totalLength is fine.
  const padded = new Uint8Array(80);
  padded.set(SYN_IP);
  assertEquals(v.wrap(padded, 0, 80).check(), null);
  assertEquals(v.payloadLen, 40);
});

Deno.test("setters, fillChecksum and the incremental helpers agree", () => {
  const b = SYN_IP.slice();
  const v = new Ipv4View().wrap(b, 0, b.length);
  v.rewriteDst(0xc0a80a0b);
  assertEquals(v.dst, 0xc0a80a0b);
  assert(v.verifyChecksum());
  v.rewriteSrc(0x01020304);
  assert(v.verifyChecksum());
  assertEquals(v.decrementTtl(), 63);
  assert(v.verifyChecksum());
  const incremental = v.headerChecksum;
  v.fillChecksum();
  assertEquals(v.headerChecksum, incremental);
  v.tos = 0xb8;
  v.id = 0xbeef;
  v.dontFragment = false;
  v.moreFragments = true;
  v.fragmentOffset = 64;
  v.ttl = 1;
  v.protocol = 17;
  v.totalLength = 40;
  assert(!v.verifyChecksum());
  v.fillChecksum();
  assertEquals(v.check(), null);
  assertEquals(
    [v.tos, v.id, v.dontFragment, v.moreFragments, v.fragmentOffset, v.ttl, v.protocol],
    [0xb8, 0xbeef, false, true, 64, 1, 17],
  );
  assertEquals(v.payloadLen, 20);
});

const headerArb = fc.record({
  src: fc.nat(0xffffffff),
  dst: fc.nat(0xffffffff),
  protocol: fc.nat(255),
  ttl: fc.nat(255),
  id: fc.nat(0xffff),
  tos: fc.nat(255),
  dontFragment: fc.boolean(),
  moreFragments: fc.boolean(),
  fragmentOffset: fc.nat(0x1fff).map((x) => x * 8),
  payloadLen: fc.nat(200),
});

Deno.test("property: writeIpv4Header -> Ipv4View round trip, with options", () => {
  fc.assert(
    fc.property(
      headerArb,
      fc.uint8Array({ maxLength: 40, size: "max" }),
      fc.nat(3),
      (h, opts, off) => {
        const buf = new Uint8Array(off + 60 + h.payloadLen);
        const hl = writeIpv4Header(buf, off, h, opts);
        assertEquals(hl, 20 + ((opts.length + 3) & ~3));
        const v = new Ipv4View().wrap(buf, off, hl + h.payloadLen);
        assertEquals(v.check(), null);
        assertEquals(headerOf(v), { ...h });
        assertEquals(v.headerLen, hl);
        assertEquals(buf.slice(off + 20, off + 20 + opts.length), opts);
      },
    ),
    { numRuns: 500 },
  );
});

Deno.test("property: copyFragmentOptions keeps exactly the copied options, never overruns", () => {
  const optionArb = fc.oneof(
    fc.constant([1]),
    fc.tuple(fc.nat(255).filter((t) => t > 1), fc.uint8Array({ maxLength: 6, size: "max" })).map((
      [t, body],
    ) => [t, body.length + 2, ...body]),
  );
  fc.assert(
    fc.property(fc.array(optionArb, { maxLength: 8, size: "max" }), (list) => {
      const flat = list.flat().slice(0, 40);
      const h = newIpv4Header();
      const buf = new Uint8Array(60);
      writeIpv4Header(buf, 0, h, new Uint8Array(flat));
      const v = new Ipv4View().wrap(buf, 0, 60);
      assertEquals(v.check(), null);
      // Expected: walk the same list while it fits in the header, keep copy-flagged ones.
      const expected: number[] = [];
      let used = 0;
      for (const o of list) {
        if (used + o.length > flat.length) break;
        used += o.length;
        if ((o[0] & 0x80) !== 0 && o.length > 1) expected.push(...o);
      }
      const dst = new Uint8Array(48).fill(0xee);
      const n = copyFragmentOptions(v, dst, 4);
      assertEquals(n % 4, 0);
      assert(n <= 40);
      assertEquals(Array.from(dst.slice(4, 4 + expected.length)), expected);
      assert(dst.slice(4 + expected.length, 4 + n).every((x) => x === 0));
      assert(dst.slice(0, 4).every((x) => x === 0xee) && dst[4 + n] === 0xee);
    }),
    { numRuns: 500 },
  );
});

Deno.test("property: random and truncated bytes never throw or read outside the view", () => {
  let valid = 0;
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 80, size: "max" }), fc.boolean(), (bytes, repair) => {
      if (repair && bytes.length >= 20) {
        // Make a plausible header so the accessors behind a null check() get exercised.
        const ihl = 5 + (bytes[0] % 11);
        bytes[0] = 0x40 | ihl;
        const total = Math.min(bytes.length, ihl * 4 + (bytes[2] % 40));
        bytes[2] = total >> 8;
        bytes[3] = total & 0xff;
        if (ihl * 4 <= bytes.length) new Ipv4View().wrap(bytes, 0, bytes.length).fillChecksum();
      }
      if (probeView(() => new Ipv4View(), readAll, bytes) === null) valid++;
    }),
    { numRuns: 2000 },
  );
  assert(valid > 200, `only ${valid} inputs reached the accessors`);
  for (let n = 0; n <= OPTIONS_IP.length; n++) {
    probeView(() => new Ipv4View(), readAll, OPTIONS_IP.slice(0, n));
  }
});
