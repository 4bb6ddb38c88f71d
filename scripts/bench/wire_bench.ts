/**
 * Benchmarks of stack/wire's per-packet work: parsing a frame's headers, building TCP/IPv4
 * headers, RFC 1071 over a full-size packet, and RFC 1624 incremental updates.
 * Run: `scripts/deno bench -A scripts/bench/wire_bench.ts`.
 *
 * @module
 */

import {
  checksumAdjust16,
  checksumAdjust32,
  ETH_TYPE_IPV4,
  EthernetView,
  internetChecksum,
  IP_PROTO_TCP,
  Ipv4View,
  newIpv4Header,
  newTcpHeader,
  parseTcpOptions,
  TCP_ACK,
  TcpOptions,
  tcpOptionsLength,
  TcpView,
  writeEthernetHeader,
  writeIpv4Header,
  writeTcpHeader,
  writeTcpOptions,
} from "../../stack/wire/mod.ts";

/** Hex to bytes (setup only). */
function hex(s: string): Uint8Array {
  const out = new Uint8Array(s.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(s.slice(2 * i, 2 * i + 2), 16);
  return out;
}

// A SYN frame with MSS, SACK_PERM, timestamps and window scale, generated with scapy 2.5.0 (see
// tests/stack/wire/ethernet_test.ts). Placed at offset 2 so that the IPv4 header is 4-byte aligned,
// as the device reads frames.
const SYN_FRAME = hex(
  "02000000000202000000000108004500003c12344000400614860a0000010a0000029c4000500102030400000000" +
    "a002faf0683d0000020405b40402080a000030390000000001030307",
);
const FRAME_OFF = 2;
const rx = new Uint8Array(2048);
rx.set(SYN_FRAME, FRAME_OFF);

const eth = new EthernetView();
const ip = new Ipv4View();
const tcp = new TcpView();
const opts = new TcpOptions();
const tx = new Uint8Array(2048);
const MAC_A = SYN_FRAME.slice(0, 6);
const MAC_B = SYN_FRAME.slice(6, 12);
const ipHeader = newIpv4Header();
const tcpHeader = newTcpHeader();
const payload = new Uint8Array(2048);
for (let i = 0; i < payload.length; i++) payload[i] = (i * 31) & 0xff;

/** Results go here so the JIT cannot drop the work. */
let sink = 0;

Deno.bench("parse Ethernet+IPv4+TCP headers (check + fields)", { group: "parse" }, () => {
  eth.wrap(rx, FRAME_OFF, SYN_FRAME.length);
  if (eth.check() !== null || eth.etherType !== ETH_TYPE_IPV4) throw new Error("eth");
  ip.wrap(rx, eth.payloadOffset, eth.payloadLen);
  if (ip.check() !== null || ip.protocol !== IP_PROTO_TCP) throw new Error("ip");
  tcp.wrap(rx, ip.payloadOffset, ip.payloadLen);
  if (tcp.check() !== null) throw new Error("tcp");
  sink += ip.src ^ ip.dst ^ tcp.srcPort ^ tcp.dstPort ^ tcp.seq ^ tcp.ack ^ tcp.flags ^ tcp.window;
});

Deno.bench("parse headers + TCP options + TCP checksum", { group: "parse" }, () => {
  eth.wrap(rx, FRAME_OFF, SYN_FRAME.length);
  ip.wrap(rx, eth.payloadOffset, eth.payloadLen);
  if (eth.check() !== null || ip.check() !== null) throw new Error("ip");
  tcp.wrap(rx, ip.payloadOffset, ip.payloadLen);
  if (tcp.check() !== null || !tcp.verifyChecksum(ip.src, ip.dst)) throw new Error("tcp");
  if (parseTcpOptions(rx, tcp.optionsOffset, tcp.optionsLen, opts) !== null) throw new Error("o");
  sink += opts.mss + opts.tsVal;
});

Deno.bench("build Ethernet+IPv4+TCP headers with timestamps, checksums (no data)", {
  group: "build",
}, () => {
  opts.reset();
  opts.hasTimestamp = true;
  opts.tsVal = sink >>> 0;
  opts.tsEcr = 12345;
  tcpHeader.srcPort = 80;
  tcpHeader.dstPort = 40000;
  tcpHeader.seq = 0x01020304;
  tcpHeader.ack = 0x05060708;
  tcpHeader.flags = TCP_ACK;
  tcpHeader.window = 502;
  tcpHeader.optionsLen = tcpOptionsLength(opts);
  ipHeader.src = 0x0a000002;
  ipHeader.dst = 0x0a000001;
  ipHeader.protocol = IP_PROTO_TCP;
  ipHeader.dontFragment = true;
  ipHeader.payloadLen = 20 + tcpHeader.optionsLen;
  let o = FRAME_OFF + writeEthernetHeader(tx, FRAME_OFF, MAC_B, MAC_A, ETH_TYPE_IPV4);
  o += writeIpv4Header(tx, o, ipHeader);
  const hl = writeTcpHeader(tx, o, tcpHeader);
  writeTcpOptions(tx, o + 20, opts);
  tcp.wrap(tx, o, hl);
  tcp.fillChecksum(ipHeader.src, ipHeader.dst);
  sink += tx[o + 16];
});

Deno.bench("internetChecksum over 1500 bytes, 4-byte aligned", { group: "checksum" }, () => {
  sink += internetChecksum(payload, 16, 1500);
});

Deno.bench("internetChecksum over 1500 bytes, odd offset", { group: "checksum" }, () => {
  sink += internetChecksum(payload, 17, 1500);
});

let flip = 0;
Deno.bench("internetChecksum over 1500 bytes, alternating rx/tx buffers", {
  group: "checksum",
}, () => {
  flip ^= 1;
  sink += internetChecksum(flip === 1 ? payload : tx, 16, 1500);
});

Deno.bench("internetChecksum over a 20-byte IPv4 header", { group: "checksum" }, () => {
  sink += internetChecksum(rx, FRAME_OFF + 14, 20);
});

Deno.bench("NAT rewrite: adjust IP and TCP checksums for new address and port", {
  group: "adjust",
}, () => {
  const old = 0x0a000002;
  const now = 0x0a000063 + (sink & 1);
  const ipCheck = checksumAdjust32(0x1486, old, now);
  const tcpCheck = checksumAdjust16(checksumAdjust32(0x683d, old, now), 80, 8080);
  sink += ipCheck ^ tcpCheck;
});

Deno.bench("checksumAdjust16 alone", { group: "adjust" }, () => {
  sink += checksumAdjust16(0x683d, 80, 8080 + (sink & 1));
});

globalThis.addEventListener("unload", () => {
  if (sink === -1) console.log(sink);
});
