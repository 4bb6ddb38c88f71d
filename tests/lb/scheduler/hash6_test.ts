/**
 * The hashing schedulers over IPv6: an IPv6 client is scheduled by the fold of all 128 bits of its
 * address (lb/address.ts fold128, seed 0), and an IPv6 real server takes its place in the Maglev
 * table by the same fold, so every instance builds the same table.
 */
import { assert, assertEquals } from "../../assert.ts";
import { parseIpv6 } from "../../../stack/wire/address6.ts";
import { fold128, parseAddress } from "../../../lb/address.ts";
import { createScheduler } from "../../../lb/scheduler/mod.ts";
import { RealServer } from "../../../lb/service.ts";
import { SYN } from "../_packets.ts";
import { CLIENT_MAC, frame6, LB_MAC, REAL_MACS6, rig6, tcp6Packet, VIP6 } from "../_rig6.ts";

const reals6 = () =>
  ["2001:db8::11", "2001:db8::12", "2001:db8::13"].map((a) =>
    new RealServer({ address: parseAddress(a)! })
  );

/** Client addresses that differ only in the network half (bits 16..63): same interface ID. */
function prefixClients(n: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let i = 0; i < n; i++) {
    const a = parseIpv6("2001:db8::abcd:1")!;
    a[4] = (i >>> 8) & 0xff;
    a[5] = i & 0xff;
    a[6] = (i * 7) & 0xff;
    out.push(a);
  }
  return out;
}

Deno.test("fold128: every one of the 128 bits changes the fold", () => {
  const base = parseIpv6("2001:db8::1")!;
  const seen = new Set([fold128(0, base, 0)]);
  for (let bit = 0; bit < 128; bit++) {
    const a = base.slice();
    a[bit >>> 3] ^= 0x80 >>> (bit & 7);
    seen.add(fold128(0, a, 0));
  }
  assertEquals(seen.size, 129);
});

for (const name of ["sh", "mh"] as const) {
  Deno.test(`${name}: IPv6 clients that differ only above the interface ID spread and stick`, () => {
    const s = createScheduler(name, name === "mh" ? { port: false } : {});
    const list = reals6();
    s.update(list);
    const count = new Map<RealServer, number>();
    for (const c of prefixClients(3000)) {
      const r = s.pick(fold128(0, c, 0), 1000)!;
      assertEquals(s.pick(fold128(0, c, 0), 2000), r, "the same client, the same server");
      count.set(r, (count.get(r) ?? 0) + 1);
    }
    for (const r of list) {
      const n = count.get(r) ?? 0;
      assert(n > 600 && n < 1400, `${name}: ${n} of 3000 on one of three servers`);
    }
  });
}

Deno.test("mh: the table of IPv6 real servers does not depend on the order they were added", () => {
  const a = createScheduler("mh");
  const b = createScheduler("mh");
  const la = reals6();
  const lb = reals6().reverse();
  a.update(la);
  b.update(lb);
  for (const r of la) assertEquals(r.key, fold128(0, r.address6!, 0));
  for (const c of prefixClients(500)) {
    const k = fold128(0, c, 0);
    assertEquals(a.pick(k, 99)!.address, b.pick(k, 99)!.address);
  }
});

Deno.test("sh through the balancer: one IPv6 client's connections all go to one server", () => {
  const r = rig6([{
    scheduler: "sh",
    method: "dr",
    reals: [{ index: 0 }, { index: 1 }, { index: 2 }],
  }]);
  const client = parseIpv6("2001:db8::77")!;
  const macs = new Set<string>();
  for (let port = 40000; port < 40020; port++) {
    r.send(frame6(LB_MAC, CLIENT_MAC, tcp6Packet(client, VIP6, port, 80, SYN)));
    macs.add(r.sent()[0].subarray(0, 6).join(":"));
  }
  assertEquals(macs.size, 1);
  assert(REAL_MACS6.some((m) => m.join(":") === [...macs][0]));
});
