import fc from "fast-check";
import { BROADCAST_MAC, parseMac } from "../../../stack/wire/address.ts";
import {
  ETH_TYPE_ARP,
  ETH_TYPE_IPV4,
  EthernetView,
  writeEthernetHeader,
  writeEthernetVlanHeader,
} from "../../../stack/wire/ethernet.ts";
import { assert, assertEquals, hex, probeView, toHex } from "./_util.ts";

// scapy 2.5.0: bytes(Ether(dst="02:00:00:00:00:02", src="02:00:00:00:00:01")/IP(src="10.0.0.1",
// dst="10.0.0.2", id=0x1234, flags="DF", ttl=64)/TCP(sport=40000, dport=80, seq=0x01020304,
// flags="S", window=64240, options=[("MSS",1460),("SAckOK",b""),("Timestamp",(12345,0)),
// ("NOP",None),("WScale",7)])).hex()
const SYN_FRAME = hex(
  "02000000000202000000000108004500003c12344000400614860a0000010a0000029c4000500102030400000000" +
    "a002faf0683d0000020405b40402080a000030390000000001030307",
);
// scapy 2.5.0: bytes(Ether(dst="ff:ff:ff:ff:ff:ff", src="aa:bb:cc:dd:ee:ff")/Dot1Q(prio=5,
// vlan=100)/IP(src="10.1.2.3", dst="10.1.2.255", ttl=1)/UDP(sport=5353, dport=53)/Raw(b"abc"))
const VLAN_FRAME = hex(
  "ffffffffffffaabbccddeeff8100a06408004500001f000100000111a0ca0a0102030a0102ff14e90035000b0d54" +
    "616263",
);

/** Every accessor, offsets made relative to the view. */
function readAll(v: EthernetView): unknown[] {
  return [
    v.tagged,
    v.etherType,
    v.vlanId,
    v.vlanPriority,
    v.headerLen,
    v.payloadOffset - v.off,
    v.payloadLen,
    v.dstOffset - v.off,
    v.srcOffset - v.off,
    v.isBroadcast(),
    v.isMulticast(),
    v.dstEquals(BROADCAST_MAC),
  ];
}

Deno.test("parses an untagged frame from scapy and builds its header back", () => {
  const v = new EthernetView().wrap(SYN_FRAME, 0, SYN_FRAME.length);
  assertEquals(v.check(), null);
  assertEquals(v.etherType, ETH_TYPE_IPV4);
  assertEquals(v.vlanId, -1);
  assertEquals(v.headerLen, 14);
  assertEquals(v.payloadOffset, 14);
  assertEquals(v.payloadLen, 60);
  assertEquals(toHex(SYN_FRAME, v.dstOffset, 6), "020000000002");
  assertEquals(toHex(SYN_FRAME, v.srcOffset, 6), "020000000001");
  assert(!v.isBroadcast() && !v.isMulticast());
  assert(v.dstEquals(parseMac("02:00:00:00:00:02")!));
  assert(!v.dstEquals(parseMac("02:00:00:00:00:01")!));
  const out = new Uint8Array(14);
  assertEquals(
    writeEthernetHeader(
      out,
      0,
      parseMac("02:00:00:00:00:02")!,
      parseMac("02:00:00:00:00:01")!,
      0x800,
    ),
    14,
  );
  assertEquals(toHex(out), toHex(SYN_FRAME, 0, 14));
});

Deno.test("parses an 802.1Q tagged frame from scapy and builds its header back", () => {
  const v = new EthernetView().wrap(VLAN_FRAME, 0, VLAN_FRAME.length);
  assertEquals(v.check(), null);
  assert(v.tagged);
  assertEquals(v.etherType, ETH_TYPE_IPV4);
  assertEquals(v.vlanId, 100);
  assertEquals(v.vlanPriority, 5);
  assertEquals(v.headerLen, 18);
  assertEquals(v.payloadOffset, 18);
  assertEquals(v.payloadLen, VLAN_FRAME.length - 18);
  assert(v.isBroadcast() && v.isMulticast());
  const out = new Uint8Array(20);
  const n = writeEthernetVlanHeader(
    out,
    2,
    BROADCAST_MAC,
    parseMac("aa:bb:cc:dd:ee:ff")!,
    100,
    0x800,
    5,
  );
  assertEquals(n, 18);
  assertEquals(toHex(out, 2, 18), toHex(VLAN_FRAME, 0, 18));
});

Deno.test("check() rejects short frames and short VLAN headers", () => {
  const v = new EthernetView();
  assertEquals(v.wrap(SYN_FRAME, 0, 13).check(), "eth_truncated");
  assertEquals(v.wrap(SYN_FRAME, 0, 14).check(), null);
  assertEquals(v.wrap(VLAN_FRAME, 0, 17).check(), "eth_vlan_truncated");
  assertEquals(v.wrap(VLAN_FRAME, 0, 18).check(), null);
  assertEquals(v.wrap(new Uint8Array(0), 0, 0).check(), "eth_truncated");
});

Deno.test("setters write in place: MACs and the (inner) EtherType", () => {
  const f = VLAN_FRAME.slice();
  const v = new EthernetView().wrap(f, 0, f.length);
  const mac = hex("00112233445566778899");
  v.setDst(mac, 2);
  v.setSrc(mac, 0);
  v.etherType = ETH_TYPE_ARP;
  assertEquals(toHex(f, 0, 18), "22334455667700112233445581" + "00a0640806");
  assertEquals(v.etherType, ETH_TYPE_ARP);
  assertEquals(v.vlanId, 100);
});

Deno.test("property: build -> parse round trip, tagged and untagged", () => {
  fc.assert(
    fc.property(
      fc.uint8Array({ minLength: 6, maxLength: 6 }),
      fc.uint8Array({ minLength: 6, maxLength: 6 }),
      fc.integer({ min: 0x0600, max: 0xffff }).filter((t) => t !== 0x8100),
      fc.option(fc.record({ id: fc.nat(4095), prio: fc.nat(7) })),
      (dst, src, type, vlan) => {
        const buf = new Uint8Array(64);
        const hl = vlan === null
          ? writeEthernetHeader(buf, 3, dst, src, type)
          : writeEthernetVlanHeader(buf, 3, dst, src, vlan.id, type, vlan.prio);
        const v = new EthernetView().wrap(buf, 3, 60);
        assertEquals(v.check(), null);
        assertEquals(v.headerLen, hl);
        assertEquals(v.etherType, type);
        assertEquals(v.vlanId, vlan === null ? -1 : vlan.id);
        assertEquals(v.vlanPriority, vlan === null ? -1 : vlan.prio);
        assertEquals(buf.slice(v.dstOffset, v.dstOffset + 6), dst);
        assertEquals(buf.slice(v.srcOffset, v.srcOffset + 6), src);
        assertEquals(v.payloadOffset, 3 + hl);
      },
    ),
  );
});

Deno.test("property: random and truncated bytes never throw or read outside the view", () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 40, size: "max" }), fc.boolean(), (bytes, tag) => {
      if (tag && bytes.length >= 14) {
        bytes[12] = 0x81;
        bytes[13] = 0x00;
      }
      probeView(() => new EthernetView(), readAll, bytes);
    }),
    { numRuns: 1000 },
  );
  for (let n = 0; n <= SYN_FRAME.length; n++) {
    probeView(() => new EthernetView(), readAll, SYN_FRAME.slice(0, n));
    probeView(() => new EthernetView(), readAll, VLAN_FRAME.slice(0, n));
  }
});
