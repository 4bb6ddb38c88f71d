import fc from "fast-check";
import { parseMac, ZERO_MAC } from "../../../stack/wire/address.ts";
import {
  ARP_LEN,
  ARP_OP_REPLY,
  ARP_OP_REQUEST,
  ArpView,
  writeArp,
} from "../../../stack/wire/arp.ts";
import { EthernetView } from "../../../stack/wire/ethernet.ts";
import { assertEquals, hex, probeView, toHex } from "./_util.ts";

// scapy 2.5.0: bytes(Ether(dst="ff:ff:ff:ff:ff:ff", src="02:00:00:00:00:01")/ARP(op=1,
// hwsrc="02:00:00:00:00:01", psrc="10.0.0.1", hwdst="00:00:00:00:00:00", pdst="10.0.0.2")).hex()
const REQUEST_FRAME = hex(
  "ffffffffffff020000000001080600010800060400010200000000010a0000010000000000000a000002",
);
// scapy 2.5.0: bytes(ARP(op=2, hwsrc="02:00:00:00:00:02", psrc="10.0.0.2",
// hwdst="02:00:00:00:00:01", pdst="10.0.0.1")).hex()
const REPLY = hex("00010800060400020200000000020a0000020200000000010a000001");

const MAC1 = parseMac("02:00:00:00:00:01")!;
const MAC2 = parseMac("02:00:00:00:00:02")!;

function readAll(v: ArpView): unknown[] {
  return [
    v.op,
    v.senderIp,
    v.targetIp,
    toHex(v.buf, v.senderMacOffset, 6),
    toHex(v.buf, v.targetMacOffset, 6),
  ];
}

Deno.test("parses a scapy ARP request inside its frame", () => {
  const eth = new EthernetView().wrap(REQUEST_FRAME, 0, REQUEST_FRAME.length);
  assertEquals(eth.check(), null);
  assertEquals(eth.etherType, 0x0806);
  const v = new ArpView().wrap(REQUEST_FRAME, eth.payloadOffset, eth.payloadLen);
  assertEquals(v.check(), null);
  assertEquals(v.op, ARP_OP_REQUEST);
  assertEquals(v.senderIp, 0x0a000001);
  assertEquals(v.targetIp, 0x0a000002);
  assertEquals(v.senderMacOffset, 22);
  assertEquals(toHex(REQUEST_FRAME, v.senderMacOffset, 6), "020000000001");
  assertEquals(toHex(REQUEST_FRAME, v.targetMacOffset, 6), "000000000000");
});

Deno.test("writeArp builds the scapy request and reply byte for byte", () => {
  const out = new Uint8Array(ARP_LEN);
  assertEquals(writeArp(out, 0, ARP_OP_REQUEST, MAC1, 0x0a000001, ZERO_MAC, 0x0a000002), 28);
  assertEquals(toHex(out), toHex(REQUEST_FRAME, 14));
  writeArp(out, 0, ARP_OP_REPLY, MAC2, 0x0a000002, MAC1, 0x0a000001);
  assertEquals(toHex(out), toHex(REPLY));
  const v = new ArpView().wrap(REPLY, 0, 28);
  assertEquals(v.check(), null);
  assertEquals(v.op, ARP_OP_REPLY);
});

Deno.test("check() rejects truncated and non Ethernet/IPv4 packets", () => {
  const v = new ArpView();
  assertEquals(v.wrap(REPLY, 0, 27).check(), "arp_truncated");
  for (const [i, bad] of [[1, 6], [3, 0xdd], [4, 8], [5, 16]]) {
    const b = REPLY.slice();
    b[i] = bad;
    assertEquals(v.wrap(b, 0, 28).check(), "arp_unsupported", `byte ${i}`);
  }
});

Deno.test("setters turn a request into a reply in place", () => {
  const b = REQUEST_FRAME.slice(14);
  const v = new ArpView().wrap(b, 0, 28);
  v.op = ARP_OP_REPLY;
  v.targetIp = v.senderIp;
  v.senderIp = 0x0a000002;
  b.copyWithin(v.targetMacOffset, v.senderMacOffset, v.senderMacOffset + 6);
  b.set(MAC2, v.senderMacOffset);
  assertEquals(toHex(b), toHex(REPLY));
});

Deno.test("property: build -> parse round trip and random bytes are safe", () => {
  fc.assert(
    fc.property(
      fc.nat(0xffff),
      fc.uint8Array({ minLength: 6, maxLength: 6 }),
      fc.nat(0xffffffff),
      fc.uint8Array({ minLength: 6, maxLength: 6 }),
      fc.nat(0xffffffff),
      (op, sm, si, tm, ti) => {
        const b = new Uint8Array(40);
        writeArp(b, 5, op, sm, si, tm, ti);
        const v = new ArpView().wrap(b, 5, 35);
        assertEquals(v.check(), null);
        assertEquals(readAll(v), [op, si, ti, toHex(sm), toHex(tm)]);
      },
    ),
  );
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 40, size: "max" }), fc.boolean(), (bytes, fix) => {
      if (fix && bytes.length >= 6) bytes.set([0, 1, 8, 0, 6, 4]);
      probeView(() => new ArpView(), readAll, bytes);
    }),
    { numRuns: 1000 },
  );
});
