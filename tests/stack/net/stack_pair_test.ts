/**
 * Two Stacks on the two ends of an in-memory cable, each running its own receive loop: ARP
 * resolution, ping with small and fragmented payloads, timeouts.
 */
import assert from "node:assert/strict";
import { createMemoryPair } from "../../../stack/link/memory.ts";
import { Stack } from "../../../stack/net/stack.ts";
import { ip, mac } from "./_frames.ts";

const A = ip("10.9.0.1");
const B = ip("10.9.0.2");

async function withPair(
  fn: (a: Stack, b: Stack) => Promise<void>,
  mtu = 1500,
): Promise<void> {
  const [da, db] = createMemoryPair({
    mtu,
    macA: mac("02:00:00:00:09:01"),
    macB: mac("02:00:00:00:09:02"),
  });
  const a = new Stack({ device: da, address: A, prefix: 24, tickMs: 20 });
  const b = new Stack({ device: db, address: B, prefix: 24, tickMs: 20 });
  const runs = [a.start(), b.start()];
  try {
    await fn(a, b);
  } finally {
    a.close();
    b.close();
    await Promise.all(runs);
  }
}

Deno.test("pair: ping resolves ARP on both sides and gets the reply", async () => {
  await withPair(async (a, b) => {
    const r = await a.ping(B, { seq: 1, timeoutMs: 2000 });
    assert.ok(r !== null, "reply");
    assert.equal(r.from, B);
    assert.equal(r.bytes, 64);
    assert.equal(r.seq, 1);
    assert.equal(r.ttl, 64);
    assert.ok(r.rttMs >= 0);
    assert.deepEqual(a.arp.entries().map((e) => [e.ip, e.state]), [[B, "reachable"]]);
    assert.deepEqual(b.arp.entries().map((e) => e.ip), [A]);
    assert.equal(b.counters.get("icmp.echo_replies_sent"), 1);
    // Both announced themselves at start.
    assert.equal(a.counters.get("arp.tx_announcements"), 1);
    assert.equal(b.counters.get("arp.tx_announcements"), 1);
  });
});

Deno.test("pair: 4000-byte ping goes out in fragments and comes back reassembled", async () => {
  await withPair(async (a, b) => {
    for (let seq = 1; seq <= 3; seq++) {
      const r = await a.ping(B, { size: 4000, seq, timeoutMs: 2000 });
      assert.ok(r !== null, `reply ${seq}`);
      assert.equal(r.bytes, 4008);
      assert.equal(r.seq, seq);
    }
    assert.equal(a.counters.get("ipv4.tx_fragments"), 9, "3 pings of 3 fragments");
    assert.equal(b.counters.get("ipv4.reassembled"), 3);
    assert.equal(a.counters.get("ipv4.reassembled"), 3);
    assert.equal(a.counters.sum("drop."), 0);
    assert.equal(b.counters.sum("drop."), 0);
  });
});

Deno.test("pair: the largest ping (65507 bytes, 45 fragments each way)", async () => {
  await withPair(async (a, b) => {
    const r = await a.ping(B, { size: 65507, timeoutMs: 5000 });
    assert.ok(r !== null);
    assert.equal(r.bytes, 65515);
    assert.equal(a.counters.get("ipv4.tx_fragments"), 45);
    assert.equal(b.counters.get("ipv4.tx_fragments"), 45);
  });
});

Deno.test("pair: DF and too big rejects; unknown host times out with null", async () => {
  await withPair(async (a) => {
    await assert.rejects(
      a.ping(B, { size: 4000, dontFragment: true }),
      /message too long, mtu=1500/,
    );
    assert.equal(a.counters.get("drop.tx_frag_needed"), 1);
    const r = await a.ping(ip("10.9.0.77"), { timeoutMs: 150 });
    assert.equal(r, null);
    assert.equal(a.counters.get("arp.tx_requests"), 1);
  });
});

Deno.test("pair: close resolves outstanding pings with null", async () => {
  const [da, db] = createMemoryPair();
  const a = new Stack({ device: da, address: A, prefix: 24 });
  db.close(); // nobody answers
  const run = a.start();
  const p = a.ping(B, { timeoutMs: 10_000 });
  a.close();
  assert.equal(await p, null);
  await run;
});
