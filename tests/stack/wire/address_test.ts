import fc from "fast-check";
import { assert, assertEquals } from "./_util.ts";
import {
  BROADCAST_MAC,
  formatIpv4,
  formatMac,
  isMulticastIpv4,
  isMulticastMac,
  macEquals,
  parseCidr,
  parseIpv4,
  parseMac,
  prefixMask,
  randomLocalMac,
  ZERO_MAC,
} from "../../../stack/wire/address.ts";

Deno.test("parseIpv4 reads dotted quads as u32", () => {
  assertEquals(parseIpv4("10.0.0.2"), 0x0a000002);
  assertEquals(parseIpv4("0.0.0.0"), 0);
  assertEquals(parseIpv4("255.255.255.255"), 0xffffffff);
  assertEquals(parseIpv4("192.168.1.200"), 0xc0a801c8);
});

Deno.test("parseIpv4 rejects everything but a strict dotted quad", () => {
  for (
    const bad of [
      "",
      "1.2.3",
      "1.2.3.4.5",
      "1.2.3.256",
      "1.2.3.4 ",
      " 1.2.3.4",
      "1.2.3.4.",
      ".1.2.3",
      "1..2.3",
      "01.2.3.4",
      "1.2.3.-4",
      "1.2.3.+4",
      "1.2.3.4/24",
      "a.b.c.d",
      "1.2.3.0x4",
      "1.2.3.1000",
      "１.2.3.4",
    ]
  ) {
    assertEquals(parseIpv4(bad), null, bad);
  }
});

Deno.test("property: formatIpv4 and parseIpv4 are inverse", () => {
  fc.assert(
    fc.property(fc.nat(0xffffffff), (a) => {
      assertEquals(parseIpv4(formatIpv4(a)), a);
    }),
    { numRuns: 1000 },
  );
  assertEquals(formatIpv4(0xc0a80001), "192.168.0.1");
  assertEquals(formatIpv4(-1), "255.255.255.255");
});

Deno.test("parseCidr keeps host bits; prefixMask gives the netmask", () => {
  assertEquals(parseCidr("10.0.0.2/24"), { addr: 0x0a000002, prefix: 24 });
  assertEquals(parseCidr("0.0.0.0/0"), { addr: 0, prefix: 0 });
  assertEquals(parseCidr("1.2.3.4/32"), { addr: 0x01020304, prefix: 32 });
  for (const bad of ["10.0.0.2", "10.0.0.2/33", "10.0.0.2/", "10.0.0.2/024", "10.0.0/8", "x/8"]) {
    assertEquals(parseCidr(bad), null, bad);
  }
  assertEquals(prefixMask(0), 0);
  assertEquals(prefixMask(1), 0x80000000);
  assertEquals(prefixMask(24), 0xffffff00);
  assertEquals(prefixMask(31), 0xfffffffe);
  assertEquals(prefixMask(32), 0xffffffff);
  for (let p = 0; p <= 32; p++) {
    const m = prefixMask(p);
    assert(m >= 0 && m <= 0xffffffff);
    // p leading ones, then zeros.
    assertEquals(m.toString(2).padStart(32, "0"), "1".repeat(p) + "0".repeat(32 - p));
  }
});

Deno.test("isMulticastIpv4 is 224.0.0.0/4", () => {
  assert(isMulticastIpv4(0xe0000001));
  assert(isMulticastIpv4(0xefffffff));
  assert(!isMulticastIpv4(0xdfffffff));
  assert(!isMulticastIpv4(0xf0000000));
});

Deno.test("parseMac and formatMac round-trip; bad text is null", () => {
  const mac = parseMac("AA:bb:0c:dd:ee:0F");
  assertEquals(mac, new Uint8Array([0xaa, 0xbb, 0x0c, 0xdd, 0xee, 0x0f]));
  assertEquals(formatMac(mac!), "aa:bb:0c:dd:ee:0f");
  const buf = new Uint8Array([9, 0, 1, 2, 3, 4, 5]);
  assertEquals(formatMac(buf, 1), "00:01:02:03:04:05");
  for (
    const bad of [
      "",
      "aa:bb:cc:dd:ee",
      "aa:bb:cc:dd:ee:ff:",
      "aa-bb-cc-dd-ee-ff",
      "a:bb:cc:dd:ee:fff",
      "gg:bb:cc:dd:ee:ff",
    ]
  ) {
    assertEquals(parseMac(bad), null, bad);
  }
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 6, maxLength: 6 }), (m) => {
      assertEquals(parseMac(formatMac(m)), m);
    }),
  );
});

Deno.test("macEquals compares six bytes at offsets", () => {
  const a = new Uint8Array([0, 1, 2, 3, 4, 5, 6, 7]);
  const b = new Uint8Array([1, 2, 3, 4, 5, 6]);
  assert(macEquals(a, 1, b, 0));
  assert(!macEquals(a, 0, b, 0));
  b[5] = 7;
  assert(!macEquals(a, 1, b, 0));
  assert(macEquals(BROADCAST_MAC, 0, new Uint8Array(6).fill(0xff), 0));
  assert(macEquals(ZERO_MAC, 0, new Uint8Array(6), 0));
});

Deno.test("randomLocalMac is locally administered unicast", () => {
  for (let i = 0; i < 200; i++) {
    const m = randomLocalMac();
    assertEquals(m.length, 6);
    assertEquals(m[0] & 0x03, 0x02);
    assert(!isMulticastMac(m));
  }
  assert(isMulticastMac(BROADCAST_MAC));
});
