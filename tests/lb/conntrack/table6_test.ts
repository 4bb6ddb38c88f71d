/**
 * The connection table with IPv6 flows beside IPv4 ones: lookups in both directions by the full
 * 128-bit addresses, no confusion between families or between addresses of the same fold, the
 * side array across growth, and the storage per flow.
 */
import { assert, assertEquals } from "../../assert.ts";
import { FakeClock } from "../../../stack/clock.ts";
import { parseIpv6 } from "../../../stack/wire/address6.ts";
import { ConnTable, PROTO_TCP, PROTO_UDP } from "../../../lb/conntrack/table.ts";
import { parseAddress } from "../../../lb/address.ts";
import { RealServer } from "../../../lb/service.ts";
import { Direction, TCP_ACK, TCP_SYN } from "../../../lb/conntrack/tcp_states.ts";

/** A packet-like buffer holding the addresses at offsets 8 (source) and 24 (destination). */
function pkt(src: string, dst: string): Uint8Array {
  const b = new Uint8Array(40);
  b.set(parseIpv6(src)!, 8);
  b.set(parseIpv6(dst)!, 24);
  return b;
}

const real6 = (text: string) => new RealServer({ address: parseAddress(text)!, method: "nat" });

Deno.test("conntrack: IPv6 flows are found by their full addresses, in and out", () => {
  const clock = new FakeClock(0);
  const t = new ConnTable({ capacity: 64, clock, seed: 1 });
  const r = real6("2001:db8::11");
  const r4 = new RealServer({ address: parseAddress("10.0.0.11")!, method: "nat" });
  const inb = pkt("2001:db8:1::50", "2001:db8::100");
  const s = t.insert6(PROTO_TCP, inb, 8, 24, 40000, 80, r, 8080, "nat");
  assert(s >= 0);
  const s4 = t.insert(PROTO_TCP, 0x0a000032, 40000, 0x0a000064, 80, r4, 8080, "nat");
  assertEquals(t.lookupIn6(PROTO_TCP, inb, 8, 24, 40000, 80), s);
  assertEquals(t.lookupIn(PROTO_TCP, 0x0a000032, 40000, 0x0a000064, 80), s4);
  assert(t.isIpv6(s) && !t.isIpv6(s4));
  // Any other bit, port or protocol misses.
  for (const [c, v] of [["2001:db8:1::51", "2001:db8::100"], ["2001:db8:1::50", "2001:db8::101"]]) {
    assertEquals(t.lookupIn6(PROTO_TCP, pkt(c, v), 8, 24, 40000, 80), -1, `${c} ${v}`);
  }
  assertEquals(
    t.lookupIn6(PROTO_TCP, pkt("2101:db8:1::50", "2001:db8::100"), 8, 24, 40000, 80),
    -1,
  );
  assertEquals(t.lookupIn6(PROTO_UDP, inb, 8, 24, 40000, 80), -1);
  assertEquals(t.lookupIn6(PROTO_TCP, inb, 8, 24, 40001, 80), -1);
  // The reply direction: real server [2001:db8::11]:8080 -> client.
  const out = pkt("2001:db8::11", "2001:db8:1::50");
  assertEquals(t.lookupOut6(PROTO_TCP, out, 8, 24, 8080, 40000), s);
  assertEquals(
    t.lookupOut6(PROTO_TCP, pkt("2001:db8::12", "2001:db8:1::50"), 8, 24, 8080, 40000),
    -1,
  );
  assertEquals(t.lookupOut6(PROTO_TCP, out, 8, 24, 8081, 40000), -1);
  // The entry's addresses for listings and the NAT reply.
  assertEquals(t.client6(s), parseIpv6("2001:db8:1::50"));
  const vip = new Uint8Array(16);
  t.copyVip6(s, vip, 0);
  assertEquals(vip, parseIpv6("2001:db8::100"));
  assertEquals(t.client6(s4), null);
  const listed = [...t.entries()].find((e) => e.client6 !== undefined)!;
  assertEquals([listed.clientPort, listed.vport, listed.realPort], [40000, 80, 8080]);
  // TCP states and the server's counts work as for IPv4.
  t.track(s, Direction.INPUT, TCP_SYN);
  t.track(s, Direction.OUTPUT, TCP_SYN | TCP_ACK);
  t.track(s, Direction.INPUT, TCP_ACK);
  assertEquals(t.stateName(s), "ESTABLISHED");
  assertEquals([r.activeConns, r.inactiveConns], [1, 0]);
  // Expiry and removal.
  clock.advance(t.timeout("ESTABLISHED") + 1);
  assertEquals(t.lookupIn6(PROTO_TCP, inb, 8, 24, 40000, 80), -1);
  assertEquals([r.activeConns, r.inactiveConns], [0, 0]);
});

Deno.test("conntrack: a second IPv6 insert with the same key replaces; growth keeps IPv6 flows", () => {
  const t = new ConnTable({ capacity: 16, clock: new FakeClock(0), seed: 9 });
  const r = real6("2001:db8::11");
  const slots: number[] = [];
  for (let i = 0; i < 16; i++) {
    slots.push(
      t.insert6(
        PROTO_UDP,
        pkt(`2001:db8:1::${i + 1}`, "2001:db8::100"),
        8,
        24,
        5000,
        53,
        r,
        53,
        "dr",
      ),
    );
  }
  assertEquals(t.size, 16);
  const again = t.insert6(
    PROTO_UDP,
    pkt("2001:db8:1::1", "2001:db8::100"),
    8,
    24,
    5000,
    53,
    r,
    53,
    "dr",
  );
  assertEquals(t.counters.replaced, 1);
  assertEquals(t.size, 16);
  t.setCapacity(1024);
  for (let i = 0; i < 16; i++) {
    const s = t.lookupIn6(PROTO_UDP, pkt(`2001:db8:1::${i + 1}`, "2001:db8::100"), 8, 24, 5000, 53);
    assertEquals(s, i === 0 ? again : slots[i], `flow ${i} after growing`);
  }
  assertEquals(t.removeByReal(r), 16);
  assertEquals(t.size, 0);
});

Deno.test("conntrack: bytes per flow, IPv4 only and with the IPv6 side array", () => {
  const t = new ConnTable({ capacity: 1 << 20, clock: new FakeClock(0), seed: 3 });
  const v4 = t.bytesPerFlow;
  // 32-byte row, two chain links, two bucket heads, two embryonic links: 56 bytes a slot, more
  // only by the buckets' rounding (2^20 buckets for 2^20 slots: exactly 56).
  assertEquals(v4, 56);
  t.insert6(
    PROTO_TCP,
    pkt("2001:db8:1::1", "2001:db8::100"),
    8,
    24,
    1,
    80,
    real6("2001:db8::11"),
    80,
    "dr",
  );
  // The first IPv6 flow adds the side array: 32 bytes a slot (client and VIP, 128 bits each).
  assertEquals(t.bytesPerFlow, 88);
});
