import assert from "node:assert/strict";
import { parseIpv4 } from "../../../stack/wire/address.ts";
import { RouteTable } from "../../../stack/net/route.ts";

const ip = (s: string): number => parseIpv4(s)!;

Deno.test("RouteTable: longest prefix wins, then lowest metric", () => {
  const t = new RouteTable();
  t.add({ destination: 0, prefix: 0, gateway: ip("10.0.0.1"), iface: "tap0" });
  t.add({ destination: ip("10.0.0.0"), prefix: 24, gateway: 0, iface: "tap0" });
  t.add({ destination: ip("10.0.0.128"), prefix: 25, gateway: ip("10.0.0.2"), metric: 10 });
  t.add({ destination: ip("10.0.0.128"), prefix: 25, gateway: ip("10.0.0.3"), metric: 5 });
  t.add({ destination: ip("10.0.0.77"), prefix: 32, gateway: 0 });

  assert.equal(t.lookup(ip("10.0.0.5"))!.prefix, 24);
  assert.equal(t.lookup(ip("10.0.0.200"))!.gateway, ip("10.0.0.3"));
  assert.equal(t.lookup(ip("10.0.0.77"))!.flags, "UH");
  assert.equal(t.lookup(ip("8.8.8.8"))!.flags, "UG");
  assert.equal(t.nextHop(ip("8.8.8.8")), ip("10.0.0.1"));
  assert.equal(t.nextHop(ip("10.0.0.9")), ip("10.0.0.9"));
  assert.equal(t.nextHop(ip("10.0.0.130")), ip("10.0.0.3"));
});

Deno.test("RouteTable: no default route means no next hop", () => {
  const t = new RouteTable();
  t.add({ destination: ip("192.168.1.0"), prefix: 24, gateway: 0 });
  assert.equal(t.lookup(ip("192.168.2.1")), null);
  assert.equal(t.nextHop(ip("192.168.2.1")), null);
  assert.equal(t.nextHop(ip("192.168.1.255")), ip("192.168.1.255"));
});

Deno.test("RouteTable: destination is masked, flags and use like route -n", () => {
  const t = new RouteTable();
  const r = t.add({ destination: ip("10.1.2.3"), prefix: 16, gateway: 0 });
  assert.equal(r.destination, ip("10.1.0.0"));
  assert.equal(r.mask, ip("255.255.0.0"));
  assert.equal(r.flags, "U");
  t.lookup(ip("10.1.9.9"));
  t.lookup(ip("10.1.9.10"));
  assert.equal(t.entries()[0].use, 2);
});

Deno.test("RouteTable: re-adding replaces, remove by destination and gateway", () => {
  const t = new RouteTable();
  t.add({ destination: 0, prefix: 0, gateway: ip("10.0.0.1") });
  t.add({ destination: 0, prefix: 0, gateway: ip("10.0.0.1") });
  t.add({ destination: 0, prefix: 0, gateway: ip("10.0.0.2"), metric: 1 });
  assert.equal(t.size, 2);
  assert.equal(t.remove(0, 0, ip("10.0.0.1")), 1);
  assert.equal(t.nextHop(ip("1.2.3.4")), ip("10.0.0.2"));
  assert.equal(t.remove(0, 0), 1);
  assert.equal(t.size, 0);
  assert.equal(t.remove(0, 0), 0);
});

Deno.test("RouteTable: bad prefix is refused", () => {
  const t = new RouteTable();
  assert.throws(() => t.add({ destination: 0, prefix: 33, gateway: 0 }), RangeError);
  assert.throws(() => t.add({ destination: 0, prefix: -1, gateway: 0 }), RangeError);
});
