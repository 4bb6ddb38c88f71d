/** The neighbor cache's states and timers (RFC 4861 7.3, Appendix C) on a fake clock. */
import { assert, assertEquals } from "../../assert.ts";
import { FakeClock } from "../../../stack/clock.ts";
import { parseIpv6 } from "../../../stack/wire/address6.ts";
import {
  DELAY_FIRST_PROBE_TIME_MS,
  MAX_MULTICAST_SOLICIT,
  NeighborCache,
  REACHABLE_TIME_MS,
  RETRANS_TIMER_MS,
} from "../../../stack/net/ndp.ts";

const A = parseIpv6("2001:db8::2")!;
const MAC = Uint8Array.of(2, 0, 0, 0, 0, 2);
const MAC2 = Uint8Array.of(2, 0, 0, 0, 0, 3);

function cache() {
  const clock = new FakeClock(0);
  const log: string[] = [];
  const c = new NeighborCache(clock, {
    solicit: (_t, mac) => log.push(mac === null ? "NS multicast" : "NS unicast"),
    resolved: (_n, q) => log.push(`resolved ${q.length}`),
    failed: (_n, q) => log.push(`failed ${q.length}`),
  });
  const run = (ms: number) => {
    for (let t = 0; t < ms; t += 100) {
      clock.advance(100);
      c.tick();
    }
  };
  return { c, log, run, clock };
}

Deno.test("INCOMPLETE: a multicast solicitation, packets wait, a solicited NA makes REACHABLE", () => {
  const { c, log } = cache();
  assertEquals(c.resolve(A, Uint8Array.of(1)), null);
  assertEquals(c.resolve(A, Uint8Array.of(2)), null);
  assertEquals(c.get(A)!.state, "INCOMPLETE");
  assertEquals(log, ["NS multicast"]);
  c.advertised(A, 0, MAC, true, true, false);
  assertEquals(c.get(A)!.state, "REACHABLE");
  assertEquals(log, ["NS multicast", "resolved 2"]);
  assertEquals(c.resolve(A, Uint8Array.of(3)), MAC);
});

Deno.test("INCOMPLETE: three solicitations a second apart, then the waiting packets fail", () => {
  const { c, log, run } = cache();
  c.resolve(A, Uint8Array.of(1));
  run(MAX_MULTICAST_SOLICIT * RETRANS_TIMER_MS + 100);
  assertEquals(log, ["NS multicast", "NS multicast", "NS multicast", "failed 1"]);
  assertEquals(c.get(A), undefined);
});

Deno.test("REACHABLE -> STALE after ReachableTime; used while STALE: DELAY, then PROBE", () => {
  const { c, log, run } = cache();
  c.resolve(A, Uint8Array.of(1));
  c.advertised(A, 0, MAC, true, true, false);
  run(REACHABLE_TIME_MS + 100);
  assertEquals(c.get(A)!.state, "STALE");
  assertEquals(c.resolve(A, Uint8Array.of(2)), MAC, "STALE still sends");
  assertEquals(c.get(A)!.state, "DELAY");
  run(DELAY_FIRST_PROBE_TIME_MS + 100);
  assertEquals(c.get(A)!.state, "PROBE");
  assertEquals(log.at(-1), "NS unicast");
  // The probe is answered: REACHABLE again.
  c.advertised(A, 0, null, true, false, false);
  assertEquals(c.get(A)!.state, "REACHABLE");
});

Deno.test("PROBE unanswered: three unicast solicitations, then the entry goes", () => {
  const { c, log, run } = cache();
  c.learn(A, 0, MAC);
  c.resolve(A, Uint8Array.of(1));
  run(DELAY_FIRST_PROBE_TIME_MS + 4 * RETRANS_TIMER_MS);
  assertEquals(log.filter((l) => l === "NS unicast").length, 3);
  assertEquals(c.get(A), undefined);
});

Deno.test("an NS with a new link-layer address makes the entry STALE; an NA without O does not", () => {
  const { c } = cache();
  c.learn(A, 0, MAC);
  assertEquals(c.get(A)!.state, "STALE");
  c.confirm(A);
  assertEquals(c.get(A)!.state, "REACHABLE");
  // A different address without the override flag: REACHABLE becomes STALE, address kept.
  c.advertised(A, 0, MAC2, false, false, false);
  assertEquals(c.get(A)!.state, "STALE");
  assertEquals(c.get(A)!.mac, MAC);
  // With override it takes the new address.
  c.advertised(A, 0, MAC2, true, true, true);
  assertEquals([c.get(A)!.state, c.get(A)!.mac, c.get(A)!.router], ["REACHABLE", MAC2, true]);
  c.learn(A, 0, MAC);
  assertEquals([c.get(A)!.state, c.get(A)!.mac], ["STALE", MAC]);
});

Deno.test("bounded: a full cache gives a STALE entry away for a new one", () => {
  const clock = new FakeClock(0);
  const c = new NeighborCache(clock, { solicit() {}, resolved() {}, failed() {} }, 2);
  c.learn(parseIpv6("2001:db8::10")!, 0, MAC);
  c.resolve(parseIpv6("2001:db8::11")!, Uint8Array.of(1));
  c.resolve(parseIpv6("2001:db8::12")!, Uint8Array.of(1));
  assertEquals(c.entries().length, 2);
  assert(c.get(parseIpv6("2001:db8::10")!) === undefined, "the STALE one went");
});
