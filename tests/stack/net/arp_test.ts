import assert from "node:assert/strict";
import { FakeClock } from "../../../stack/clock.ts";
import { ARP_QUEUE_HEADROOM, ArpCache, type ArpTransport } from "../../../stack/net/arp.ts";
import { Counters } from "../../../stack/net/counters.ts";
import { parseIpv4, parseMac } from "../../../stack/wire/address.ts";

const ip = (s: string): number => parseIpv4(s)!;
const MAC_A = parseMac("02:00:00:00:00:0a")!;
const MAC_B = parseMac("02:00:00:00:00:0b")!;

/** Records what the cache asked for. */
class Recorder implements ArpTransport {
  requests: { ip: number; unicast: string | null }[] = [];
  sent: { bytes: number[]; mac: string }[] = [];
  sendArpRequest(targetIp: number, dstMac: Uint8Array | null): void {
    this.requests.push({ ip: targetIp, unicast: dstMac === null ? null : [...dstMac].join(",") });
  }
  sendQueued(buf: Uint8Array, ipOff: number, ipLen: number, mac: Uint8Array): void {
    assert.ok(ipOff >= ARP_QUEUE_HEADROOM);
    this.sent.push({ bytes: [...buf.subarray(ipOff, ipOff + ipLen)], mac: [...mac].join(",") });
  }
}

function setup(options = {}) {
  const clock = new FakeClock(1000);
  const counters = new Counters();
  const t = new Recorder();
  const cache = new ArpCache(t, clock, counters, options);
  return { clock, counters, t, cache };
}

const packet = (n: number): Uint8Array => new Uint8Array([9, 9, n, n + 1, n + 2]);

Deno.test("ArpCache: unknown address queues packets, one request, flush on reply", () => {
  const { t, cache, counters } = setup();
  const dst = ip("10.0.0.2");
  // The packet sits at offset 2 of a larger buffer: only [2, 5) is queued.
  assert.equal(cache.resolve(dst, packet(1), 2, 3), "queued");
  assert.equal(cache.resolve(dst, packet(4), 2, 3), "queued");
  assert.deepEqual(t.requests, [{ ip: dst, unicast: null }]);
  assert.equal(cache.entries()[0].state, "incomplete");
  assert.equal(cache.entries()[0].queued, 2);
  assert.equal(cache.lookup(dst), null);

  cache.update(dst, MAC_B, 0, true, true);
  assert.deepEqual(t.sent.map((s) => s.bytes), [[1, 2, 3], [4, 5, 6]]);
  assert.equal(t.sent[0].mac, [...MAC_B].join(","));
  assert.equal(cache.queuedPackets, 0);
  assert.equal(cache.entries()[0].state, "reachable");
  assert.deepEqual(cache.lookup(dst), MAC_B);
  assert.equal(counters.get("arp.dequeued"), 2);
});

Deno.test("ArpCache: retries every second, fails after 3 requests, queued packets counted", () => {
  const { t, cache, counters, clock } = setup();
  const dst = ip("10.0.0.3");
  cache.resolve(dst, packet(1), 0, 5);
  cache.resolve(dst, packet(2), 0, 5);
  cache.sweep();
  assert.equal(t.requests.length, 1);
  clock.advance(999);
  cache.sweep();
  assert.equal(t.requests.length, 1);
  clock.advance(1);
  cache.sweep();
  assert.equal(t.requests.length, 2);
  clock.advance(1000);
  cache.sweep();
  assert.equal(t.requests.length, 3);
  assert.equal(cache.size, 1);
  clock.advance(1000);
  cache.sweep();
  assert.equal(t.requests.length, 3, "no fourth request");
  assert.equal(cache.size, 0);
  assert.equal(counters.get("drop.arp_unresolved"), 2);
  assert.equal(counters.get("arp.failed"), 1);
  assert.equal(cache.queuedPackets, 0);
});

Deno.test("ArpCache: per-entry and global queue bounds; the newest packet is kept", () => {
  const { cache, counters } = setup({ queuePerEntry: 2, queueTotal: 3 });
  const a = ip("10.0.0.4");
  const b = ip("10.0.0.5");
  assert.equal(cache.resolve(a, packet(1), 0, 5), "queued");
  assert.equal(cache.resolve(a, packet(2), 0, 5), "queued");
  // RFC 1122 2.3.2.2: the entry's queue is full, so its oldest packet goes, the newest stays.
  assert.equal(cache.resolve(a, packet(3), 0, 5), "queued");
  assert.equal(counters.get("drop.arp_queue_full"), 1);
  assert.equal(cache.resolve(b, packet(4), 0, 5), "queued");
  // The global bound (3 packets) refuses outright.
  assert.equal(cache.resolve(b, packet(5), 0, 5), "dropped");
  assert.equal(counters.get("drop.arp_queue_full"), 2);
  assert.equal(cache.queuedPackets, 3);
});

Deno.test("ArpCache: a full table evicts the least recently used idle entry", () => {
  const { cache, counters, clock } = setup({ maxEntries: 2 });
  cache.resolve(ip("10.0.0.1"), packet(1), 0, 5); // incomplete, with a queued packet: kept
  clock.advance(10);
  cache.update(ip("10.0.0.2"), MAC_A, 0, false, true);
  clock.advance(10);
  // Full: 10.0.0.2 (idle) is evicted to make room; 10.0.0.1 holds a packet and stays.
  assert.equal(cache.resolve(ip("10.0.0.3"), packet(1), 0, 5), "queued");
  assert.equal(cache.size, 2);
  assert.equal(counters.get("arp.evicted"), 1);
  const ips = cache.entries().map((e) => e.ip).sort();
  assert.deepEqual(ips, [ip("10.0.0.1"), ip("10.0.0.3")]);
  // Every entry now holds a packet: nothing can be evicted, so a new one is refused.
  assert.equal(cache.resolve(ip("10.0.0.4"), packet(1), 0, 5), "dropped");
  assert.equal(counters.get("drop.arp_table_full"), 1);
  cache.update(ip("10.0.0.5"), MAC_A, 0, false, true);
  assert.equal(counters.get("arp.table_full"), 1);
  assert.equal(cache.size, 2);
});

Deno.test("ArpCache: RFC 826 merge: create only when targeted, update from anyone", () => {
  const { cache } = setup();
  const peer = ip("10.0.0.9");
  cache.update(peer, MAC_A, 0, false, false);
  assert.equal(cache.size, 0, "not targeted at us: nothing learned");
  cache.update(peer, MAC_A, 0, false, true);
  assert.equal(cache.entries()[0].state, "stale", "a request proves existence only");
  assert.deepEqual(cache.entries()[0].mac, MAC_A);
  cache.update(peer, MAC_B, 0, false, false); // e.g. a gratuitous ARP not aimed at us
  assert.deepEqual(cache.entries()[0].mac, MAC_B, "existing entry updated");
  cache.update(peer, MAC_B, 0, true, false);
  assert.equal(cache.entries()[0].state, "reachable");
  cache.update(0, MAC_A, 0, false, true);
  assert.equal(cache.size, 1, "sender 0.0.0.0 (RFC 5227 probe) teaches nothing");
});

Deno.test("ArpCache: reachable -> stale -> revalidated by a unicast probe on use", () => {
  const { cache, clock, t } = setup({ reachableMs: 30_000 });
  const peer = ip("10.0.0.9");
  cache.update(peer, MAC_A, 0, true, true);
  clock.advance(29_999);
  cache.sweep();
  assert.equal(cache.entries()[0].state, "reachable");
  assert.equal(cache.entries()[0].ageMs, 29_999);
  clock.advance(1);
  cache.sweep();
  assert.equal(cache.entries()[0].state, "stale");
  assert.equal(t.requests.length, 0);
  assert.deepEqual(cache.lookup(peer), MAC_A, "stale is still used");
  assert.deepEqual(t.requests, [{ ip: peer, unicast: [...MAC_A].join(",") }]);
  cache.lookup(peer);
  assert.equal(t.requests.length, 1, "one probe at a time");
  cache.update(peer, MAC_A, 0, true, false);
  assert.equal(cache.entries()[0].state, "reachable");
});

Deno.test("ArpCache: unanswered revalidation forgets the entry", () => {
  const { cache, clock, t, counters } = setup({ reachableMs: 10 });
  const peer = ip("10.0.0.9");
  cache.update(peer, MAC_A, 0, true, true);
  clock.advance(10);
  cache.sweep();
  cache.lookup(peer);
  for (let i = 0; i < 3; i++) {
    clock.advance(1000);
    cache.sweep();
  }
  assert.equal(t.requests.length, 3);
  assert.equal(cache.size, 0);
  assert.equal(counters.get("arp.revalidation_failed"), 1);
});

Deno.test("ArpCache: stale entries unused for gcMs are removed", () => {
  const { cache, clock } = setup({ reachableMs: 30_000, gcMs: 60_000 });
  const peer = ip("10.0.0.9");
  cache.update(peer, MAC_A, 0, false, true); // stale, never used
  clock.advance(59_999);
  cache.sweep();
  assert.equal(cache.size, 1);
  clock.advance(1);
  cache.sweep();
  assert.equal(cache.size, 0);
});

Deno.test("ArpCache: static entries never expire nor change", () => {
  const { cache, clock } = setup({ reachableMs: 10, gcMs: 10 });
  const peer = ip("10.0.0.7");
  cache.addStatic(peer, MAC_A);
  cache.update(peer, MAC_B, 0, true, true);
  clock.advance(1_000_000);
  cache.sweep();
  const e = cache.entries()[0];
  assert.equal(e.state, "reachable");
  assert.ok(e.permanent);
  assert.deepEqual(e.mac, MAC_A);
  assert.ok(cache.remove(peer));
  assert.equal(cache.size, 0);
});

Deno.test("ArpCache.solicit: one request for an unknown address, none for a known or pending one", () => {
  const { t, cache, counters } = setup();
  const dst = ip("10.0.0.7");
  cache.solicit(dst);
  assert.deepEqual(t.requests, [{ ip: dst, unicast: null }]);
  assert.equal(cache.entries()[0].state, "incomplete");
  assert.equal(cache.entries()[0].queued, 0);
  cache.solicit(dst); // already being resolved
  assert.equal(t.requests.length, 1);
  cache.update(dst, MAC_A, 0, true, true);
  cache.solicit(dst); // known
  assert.equal(t.requests.length, 1);
  assert.equal(counters.get("arp.tx_requests"), 1);
  assert.deepEqual(cache.lookup(dst), MAC_A);
});
