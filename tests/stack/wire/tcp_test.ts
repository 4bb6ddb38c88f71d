import fc from "fast-check";
import { IP_PROTO_TCP, Ipv4View } from "../../../stack/wire/ipv4.ts";
import {
  TCP_ACK,
  TCP_FIN,
  TCP_PSH,
  TCP_RST,
  TCP_SYN,
  type TcpHeader,
  TcpView,
  writeTcpHeader,
} from "../../../stack/wire/tcp.ts";
import { TcpOptions, writeTcpOptions } from "../../../stack/wire/tcp_options.ts";
import { checksumAdjust16, checksumAdjust32 } from "../../../stack/wire/checksum.ts";
import { assert, assertEquals, hex, probeView, toHex } from "./_util.ts";

// scapy 2.5.0: bytes(IP(src="10.0.0.1", dst="10.0.0.2", id=0x1234, flags="DF", ttl=64)/
// TCP(sport=40000, dport=80, seq=0x01020304, ack=0, flags="S", window=64240,
// options=[("MSS",1460),("SAckOK",b""),("Timestamp",(12345,0)),("NOP",None),("WScale",7)])).hex()
const SYN_IP = hex(
  "4500003c12344000400614860a0000010a0000029c4000500102030400000000a002faf0683d0000020405b404" +
    "02080a000030390000000001030307",
);
// scapy 2.5.0: bytes(IP(src="192.168.1.10", dst="192.168.1.20", id=7, ttl=63)/TCP(sport=443,
// dport=51000, seq=4294967000, ack=100, flags="PA", window=501, options=[("NOP",None),
// ("NOP",None),("Timestamp",(1,2)),("NOP",None),("NOP",None),("SAck",(1000,2000,3000,4000))])/
// Raw(b"hello world")).hex()
const DATA_IP = hex(
  "45000053000700003f06f82fc0a8010ac0a8011401bbc738fffffed800000064d01801f51a0d00000101080a0000" +
    "00010000000201010512000003e8000007d000000bb800000fa068656c6c6f20776f726c64",
);

function readAll(v: TcpView): unknown[] {
  return [
    v.srcPort,
    v.dstPort,
    v.seq,
    v.ack,
    v.dataOffset,
    v.headerLen,
    v.flags,
    v.has(TCP_SYN | TCP_ACK),
    v.window,
    v.checksum,
    v.urgent,
    v.optionsOffset - v.off,
    v.optionsLen,
    v.payloadOffset - v.off,
    v.payloadLen,
    v.verifyChecksum(1, 2),
  ];
}

function segmentOf(bytes: Uint8Array): { ip: Ipv4View; tcp: TcpView } {
  const ip = new Ipv4View().wrap(bytes, 0, bytes.length);
  assertEquals(ip.check(), null);
  assertEquals(ip.protocol, IP_PROTO_TCP);
  const tcp = new TcpView().wrap(bytes, ip.payloadOffset, ip.payloadLen);
  assertEquals(tcp.check(), null);
  return { ip, tcp };
}

function headerOf(v: TcpView): TcpHeader {
  return {
    srcPort: v.srcPort,
    dstPort: v.dstPort,
    seq: v.seq,
    ack: v.ack,
    flags: v.flags,
    window: v.window,
    urgent: v.urgent,
    optionsLen: v.optionsLen,
  };
}

Deno.test("parses a scapy SYN and rebuilds it byte for byte", () => {
  const { ip, tcp } = segmentOf(SYN_IP);
  assertEquals(headerOf(tcp), {
    srcPort: 40000,
    dstPort: 80,
    seq: 0x01020304,
    ack: 0,
    flags: TCP_SYN,
    window: 64240,
    urgent: 0,
    optionsLen: 20,
  });
  assertEquals([tcp.dataOffset, tcp.headerLen, tcp.payloadLen, tcp.checksum], [10, 40, 0, 0x683d]);
  assert(tcp.has(TCP_SYN) && !tcp.has(TCP_ACK) && !tcp.has(TCP_SYN | TCP_ACK));
  assert(tcp.verifyChecksum(ip.src, ip.dst));
  assertEquals(tcp.optionsOffset, 40);

  const out = new Uint8Array(40);
  assertEquals(writeTcpHeader(out, 0, headerOf(tcp)), 40);
  const opts = new TcpOptions();
  opts.mss = 1460;
  opts.sackPermitted = true;
  opts.hasTimestamp = true;
  opts.tsVal = 12345;
  opts.windowScale = 7;
  assertEquals(writeTcpOptions(out, 20, opts), 20);
  new TcpView().wrap(out, 0, 40).fillChecksum(ip.src, ip.dst);
  assertEquals(toHex(out), toHex(SYN_IP, 20));
});

Deno.test("parses a scapy data segment (seq near wrap, SACK) and rebuilds it", () => {
  const { ip, tcp } = segmentOf(DATA_IP);
  assertEquals(tcp.seq, 4294967000);
  assertEquals(tcp.ack, 100);
  assertEquals(tcp.flags, TCP_PSH | TCP_ACK);
  assertEquals(tcp.headerLen, 52);
  assertEquals(tcp.payloadLen, 11);
  assertEquals(new TextDecoder().decode(DATA_IP.slice(tcp.payloadOffset)), "hello world");
  assert(tcp.verifyChecksum(ip.src, ip.dst));

  const out = new Uint8Array(tcp.len);
  writeTcpHeader(out, 0, headerOf(tcp));
  const opts = new TcpOptions();
  opts.hasTimestamp = true;
  opts.tsVal = 1;
  opts.tsEcr = 2;
  opts.sackCount = 2;
  opts.sackBlocks.set([1000, 2000, 3000, 4000]);
  assertEquals(writeTcpOptions(out, 20, opts), 32);
  out.set(new TextEncoder().encode("hello world"), 52);
  new TcpView().wrap(out, 0, out.length).fillChecksum(ip.src, ip.dst);
  assertEquals(toHex(out), toHex(DATA_IP, 20));
});

Deno.test("check() rejects short segments and bad data offsets", () => {
  const b = SYN_IP.slice(20);
  const v = new TcpView();
  assertEquals(v.wrap(b, 0, 19).check(), "tcp_truncated");
  assertEquals(v.wrap(b, 0, 39).check(), "tcp_bad_offset");
  b[12] = 0x40;
  assertEquals(v.wrap(b, 0, 40).check(), "tcp_bad_offset");
  b[12] = 0x50;
  assertEquals(v.wrap(b, 0, 20).check(), null);
  assertEquals(v.payloadLen, 0);
});

Deno.test("setters and incremental checksum updates match full recomputation (NAT rewrite)", () => {
  const { ip, tcp } = segmentOf(DATA_IP.slice());
  // A NAT balancer rewrites the destination address and port: the pseudo-header changes too.
  const newDst = 0x0a000063;
  let check = checksumAdjust32(tcp.checksum, ip.dst, newDst);
  check = checksumAdjust16(check, tcp.dstPort, 8080);
  ip.rewriteDst(newDst);
  tcp.dstPort = 8080;
  tcp.checksum = check;
  assert(tcp.verifyChecksum(ip.src, ip.dst));
  tcp.seq = 1;
  tcp.ack = 0xffffffff;
  tcp.flags = TCP_RST | TCP_FIN;
  tcp.window = 7;
  tcp.urgent = 9;
  assert(!tcp.verifyChecksum(ip.src, ip.dst));
  tcp.fillChecksum(ip.src, ip.dst);
  assert(tcp.verifyChecksum(ip.src, ip.dst));
  assertEquals([tcp.seq, tcp.ack, tcp.flags, tcp.window, tcp.urgent], [1, 0xffffffff, 5, 7, 9]);
});

Deno.test("property: build -> parse round trip with a valid checksum", () => {
  const headerArb = fc.record({
    srcPort: fc.nat(0xffff),
    dstPort: fc.nat(0xffff),
    seq: fc.nat(0xffffffff),
    ack: fc.nat(0xffffffff),
    flags: fc.nat(255),
    window: fc.nat(0xffff),
    urgent: fc.nat(0xffff),
    optionsLen: fc.nat(10).map((n) => n * 4),
  });
  fc.assert(
    fc.property(headerArb, fc.nat(100), fc.nat(0xffffffff), fc.nat(0xffffffff), (h, n, s, d) => {
      const len = 20 + h.optionsLen + n;
      const buf = new Uint8Array(len + 2);
      assertEquals(writeTcpHeader(buf, 2, h), 20 + h.optionsLen);
      const v = new TcpView().wrap(buf, 2, len);
      v.fillChecksum(s, d);
      assertEquals(v.check(), null);
      assertEquals(headerOf(v), { ...h });
      assertEquals(v.payloadLen, n);
      assert(v.verifyChecksum(s, d));
    }),
  );
});

Deno.test("property: random and truncated bytes never throw or read outside the view", () => {
  let valid = 0;
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 80, size: "max" }), (bytes) => {
      if (probeView(() => new TcpView(), readAll, bytes) === null) valid++;
    }),
    { numRuns: 2000 },
  );
  assert(valid > 100, `only ${valid} inputs reached the accessors`);
  for (let n = 0; n <= DATA_IP.length - 20; n++) {
    probeView(() => new TcpView(), readAll, DATA_IP.slice(20, 20 + n));
  }
});
