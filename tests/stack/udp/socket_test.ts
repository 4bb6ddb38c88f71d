import fc from "fast-check";
import { assert, assertEquals, assertRejects, assertThrows } from "../../assert.ts";
import { createMemoryPair } from "../../../stack/link/memory.ts";
import { Counters } from "../../../stack/net/counters.ts";
import { Stack } from "../../../stack/net/stack.ts";
import { UdpDemux } from "../../../stack/udp/demux.ts";
import { listenDatagram, type UdpAddr, type UdpSocketHost } from "../../../stack/udp/socket.ts";
import { serveUdpEcho } from "../../../stack/services/echo.ts";
import { ip, ipv4, mac, pattern, udp } from "../net/_frames.ts";

const A = ip("10.9.1.1");
const B = ip("10.9.1.2");
/** A second address of the fake host (a VIP). */
const C = ip("10.9.1.3");
const enc = new TextEncoder();
const dec = new TextDecoder();

async function withPair(fn: (a: Stack, b: Stack) => Promise<void>): Promise<void> {
  const [da, db] = createMemoryPair({
    macA: mac("02:00:00:00:19:01"),
    macB: mac("02:00:00:00:19:02"),
  });
  const a = new Stack({ device: da, address: A, prefix: 24 });
  const b = new Stack({ device: db, address: B, prefix: 24 });
  const runs = [a.start(), b.start()];
  try {
    await fn(a, b);
  } finally {
    a.close();
    b.close();
    await Promise.all(runs);
  }
}

/** A socket host that only feeds datagrams in (no stack): the demux and a fake output. */
function fakeHost() {
  const counters = new Counters();
  const icmp: number[] = [];
  const host: UdpSocketHost = {
    counters,
    udp: undefined as unknown as UdpDemux, // set just below: the demux needs the host first
    address: B,
    ttl: 64,
    routes: { nextHop: (dst) => dst },
    hasAddress: (x) => x === B || x === C,
    isBroadcast: () => false,
    nextIpId: () => 1,
    sendIpv4: () => true,
    sendIcmpError(type) {
      icmp.push(type);
      return true;
    },
  };
  const demux = new UdpDemux(host);
  (host as { udp: UdpDemux }).udp = demux;
  const deliver = (data: Uint8Array, sport = 1234, dport = 53, dst = B) => {
    const p = ipv4({ src: A, dst, protocol: 17 }, udp(A, dst, sport, dport, data));
    demux.input(p, 0, p.length);
  };
  return { host, demux, counters, icmp, deliver };
}

Deno.test("UdpSocket: two stacks exchange datagrams; addresses are Deno.NetAddr-shaped", async () => {
  await withPair(async (a, b) => {
    const sa = a.listenDatagram({ port: 5000, transport: "udp" });
    const sb = b.listenDatagram({ port: 6000, hostname: "10.9.1.2", transport: "udp" });
    assertEquals(sa.addr, { transport: "udp", hostname: "0.0.0.0", port: 5000 });
    assertEquals(sb.addr, { transport: "udp", hostname: "10.9.1.2", port: 6000 });
    assertEquals(await sb.send(enc.encode("hello"), { hostname: "10.9.1.1", port: 5000 }), 5);
    const [data, from] = await sa.receive();
    assertEquals(dec.decode(data), "hello");
    assertEquals(from, { transport: "udp", hostname: "10.9.1.2", port: 6000 });
    // Reply to the sender's address as received (what every UDP server does).
    await sa.send(enc.encode("world"), from);
    const [d2, f2] = await sb.receive();
    assertEquals([dec.decode(d2), f2.hostname, f2.port], ["world", "10.9.1.1", 5000]);
    sa.close();
    sb.close();
  });
});

Deno.test("UdpSocket: a 60000-byte datagram crosses as fragments; receive(p) truncates", async () => {
  await withPair(async (a, b) => {
    const sa = a.listenDatagram({ port: 5001, transport: "udp" });
    const sb = b.listenDatagram({ port: 0, transport: "udp" });
    assert(sb.addr.port >= 49152, `ephemeral port ${sb.addr.port}`);
    const big = pattern(60000, 3);
    await sb.send(big, { hostname: "10.9.1.1", port: 5001 });
    const [got] = await sa.receive();
    assertEquals(got, big);
    assert(b.counters.get("ipv4.tx_fragments") >= 41);
    await sb.send(enc.encode("0123456789"), { hostname: "10.9.1.1", port: 5001 });
    const small = new Uint8Array(4);
    const [part] = await sa.receive(small);
    assertEquals(dec.decode(part), "0123");
    assert(part.buffer === small.buffer, "the caller's buffer is used");
    sa.close();
    sb.close();
  });
});

Deno.test("UdpSocket: a closed port answers ICMP port unreachable", async () => {
  await withPair(async (a, b) => {
    const sb = b.listenDatagram({ port: 6001, transport: "udp" });
    await sb.send(enc.encode("anyone?"), { hostname: "10.9.1.1", port: 4444 });
    const deadline = Date.now() + 2000;
    while (b.counters.get("icmp.rx_errors") === 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 5));
    }
    assertEquals(a.counters.get("drop.udp_no_port"), 1);
    assertEquals(a.counters.get("icmp.tx_dest_unreachable"), 1);
    assertEquals(b.counters.get("icmp.rx_errors"), 1);
    // Closing a socket closes its port.
    const sa = a.listenDatagram({ port: 4444, transport: "udp" });
    sa.close();
    await sb.send(enc.encode("again"), { hostname: "10.9.1.1", port: 4444 });
    while (a.counters.get("drop.udp_no_port") < 2 && Date.now() < deadline + 2000) {
      await new Promise((r) => setTimeout(r, 5));
    }
    assertEquals(a.counters.get("drop.udp_no_port"), 2);
    sb.close();
  });
});

Deno.test("UdpSocket: RFC 862 echo over UDP on the userspace stack", async () => {
  await withPair(async (a, b) => {
    const service = serveUdpEcho(a.listenDatagram({ port: 7, transport: "udp" }));
    const client = b.listenDatagram({ port: 0, transport: "udp" });
    for (const text of ["one", "two", "three"]) {
      await client.send(enc.encode(text), { hostname: "10.9.1.1", port: 7 });
      const [data, from] = await client.receive();
      assertEquals([dec.decode(data), from.port], [text, 7]);
    }
    assertEquals(service.served, 3);
    service.close();
    await service.done;
    client.close();
  });
});

Deno.test("UdpSocket: ttl sets the TTL sent; minTtl drops what arrives lower (IP_MINTTL)", async () => {
  await withPair(async (a, b) => {
    const rx = b.listenDatagram({ port: 3784, transport: "udp", minTtl: 255 });
    const low = a.listenDatagram({ port: 49200, transport: "udp" });
    const high = a.listenDatagram({ port: 49201, transport: "udp", ttl: 255 });
    await low.send(enc.encode("64"), { hostname: "10.9.1.2", port: 3784 });
    await high.send(enc.encode("255"), { hostname: "10.9.1.2", port: 3784 });
    const [data, from] = await rx.receive();
    assertEquals([dec.decode(data), from.port], ["255", 49201]);
    assertEquals(b.counters.snapshot()["drop.udp_min_ttl"], 1);
    assertThrows(() => a.listenDatagram({ port: 1, transport: "udp", ttl: 256 }), RangeError);
    assertThrows(() => a.listenDatagram({ port: 1, transport: "udp", minTtl: -1 }), RangeError);
    for (const s of [rx, low, high]) s.close();
  });
});

Deno.test("UdpSocket: bind errors are Deno's error classes", async () => {
  await withPair(async (a) => {
    const s = a.listenDatagram({ port: 5353, transport: "udp" });
    assertThrows(() => a.listenDatagram({ port: 5353, transport: "udp" }), Deno.errors.AddrInUse);
    assertThrows(
      () => a.listenDatagram({ port: 5354, hostname: "10.9.1.99", transport: "udp" }),
      Deno.errors.AddrNotAvailable,
    );
    assertThrows(() => a.listenDatagram({ port: 70000, transport: "udp" }), RangeError);
    assertThrows(
      () => a.listenDatagram({ port: 1, hostname: "nope", transport: "udp" }),
      RangeError,
    );
    await assertRejects(() => s.send(new Uint8Array(65508), { hostname: "10.9.1.2", port: 9 }));
    const e = await assertRejects(() =>
      s.send(new Uint8Array(1), { hostname: "192.168.7.7", port: 9 })
    );
    assert(e instanceof Deno.errors.NetworkUnreachable, String(e));
    s.close();
    const e2 = await assertRejects(() =>
      s.send(new Uint8Array(1), { hostname: "10.9.1.2", port: 9 })
    );
    assert(e2 instanceof Deno.errors.BadResource);
  });
});

Deno.test("UdpSocket: close() rejects a pending receive and ends the iterator", async () => {
  const { host, deliver } = fakeHost();
  const s = listenDatagram(host, { port: 53, transport: "udp" });
  const pending = s.receive();
  const seen: string[] = [];
  const s2 = listenDatagram(host, { port: 54, transport: "udp" });
  const iterating = (async () => {
    for await (const [d] of s2) seen.push(dec.decode(d));
  })();
  deliver(enc.encode("a"), 1, 54);
  deliver(enc.encode("b"), 1, 54);
  await new Promise((r) => setTimeout(r, 0));
  s.close();
  s2.close();
  const e = await assertRejects(() => pending);
  assert(e instanceof Deno.errors.BadResource);
  await iterating;
  assertEquals(seen, ["a", "b"]);
});

Deno.test("UdpSocket: a socket bound to one address does not take another's datagrams", () => {
  const { host, deliver, icmp, counters } = fakeHost();
  const s = listenDatagram(host, { port: 53, hostname: "10.9.1.3", transport: "udp" });
  deliver(enc.encode("to C"), 1234, 53, C);
  assertEquals(s.queued, 1);
  // To the host's other address the port is closed: port unreachable, not delivered.
  deliver(enc.encode("to B"), 1234, 53, B);
  assertEquals(s.queued, 1);
  assertEquals(icmp, [3]);
  assertEquals(counters.get("drop.udp_no_port"), 1);
  s.close();
});

Deno.test("UdpSocket: the receive buffer bounds what waits; FIFO order always holds", async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(
        fc.oneof(
          fc.record({ op: fc.constant("in" as const), size: fc.integer({ min: 0, max: 1500 }) }),
          fc.record({ op: fc.constant("take" as const), size: fc.constant(0) }),
        ),
        { maxLength: 200 },
      ),
      (ops) => {
        const { host, deliver, counters } = fakeHost();
        const s = listenDatagram(host, { port: 53, transport: "udp", receiveBuffer: 4096 });
        const expected: Uint8Array[] = [];
        const taken: Promise<[Uint8Array, UdpAddr]>[] = [];
        let seq = 0;
        let queuedBytes = 0;
        for (const o of ops) {
          if (o.op === "in") {
            const data = pattern(o.size, seq++);
            const drops = counters.get("drop.udp_rcvbuf_full");
            deliver(data);
            const dropped = counters.get("drop.udp_rcvbuf_full") > drops;
            // Room is guaranteed when nothing waits: a datagram up to the buffer size fits.
            if (queuedBytes === 0 && s.queued === 0) assert(!dropped);
            if (!dropped) {
              expected.push(data);
              queuedBytes += o.size;
            }
            assert(queuedBytes <= 4096);
          } else if (s.queued > 0) {
            taken.push(s.receive());
            queuedBytes -= expected[taken.length - 1].length;
          }
        }
        while (s.queued > 0) taken.push(s.receive());
        s.close();
        return Promise.all(taken).then((got) => {
          assertEquals(got.map(([d]) => d), expected);
        });
      },
    ),
    { numRuns: 200 },
  );
});
