/**
 * TCP over IPv6 between two stacks on an in-memory cable: connections by IPv6 literal with
 * Deno-shaped addresses, a dual-stack listener on "::" taking both families, bulk data both ways
 * (plain and through segmentation offload, gso type TCPV6), RST for a closed port, SYN cookies
 * over IPv6 tuples, the MSS of an IPv6 path (MTU - 60), Packet Too Big lowering it, and netstat's
 * tcp6 rows.
 */
import { assert, assertEquals, assertRejects, assertThrows } from "../../assert.ts";
import { createMemoryPair, type MemoryDevice } from "../../../stack/link/memory.ts";
import { Stack, type StackOptions } from "../../../stack/net/stack.ts";
import { parseIpv6 } from "../../../stack/wire/address6.ts";
import { formatNetstat } from "../../../cli/format/netstat.ts";
import { A, B, pattern, readAll, writeAll } from "./_pair.ts";

const A6 = "2001:db8:6::1";
const B6 = "2001:db8:6::2";

async function withPair6(
  fn: (a: Stack, b: Stack, devA: MemoryDevice) => Promise<void>,
  extra: Partial<StackOptions> = {},
  offload = false,
): Promise<void> {
  const [devA, devB] = createMemoryPair({ queueLength: 4096, offload });
  const a = new Stack({
    device: devA,
    address: A,
    prefix: 24,
    ipv6: [`${A6}/64`],
    dad: false,
    ...extra,
  });
  const b = new Stack({
    device: devB,
    address: B,
    prefix: 24,
    ipv6: [`${B6}/64`],
    dad: false,
    ...extra,
  });
  const runs = [a.start(), b.start()];
  try {
    await fn(a, b, devA);
  } finally {
    a.close();
    b.close();
    await Promise.all(runs);
  }
}

/** Sends `data` from a to b over `hostname` and back; checks both directions arrive exactly. */
async function roundTrip(a: Stack, b: Stack, hostname: string, data: Uint8Array) {
  const l = b.listen({ port: 80, hostname: "::" });
  const served = (async () => {
    const c = await l.accept();
    const got = await readAll(c);
    await writeAll(c, got);
    await c.closeWrite();
    const addrs = [c.localAddr, c.remoteAddr];
    c.close();
    return addrs;
  })();
  const c = await a.connect({ hostname, port: 80 });
  const back = (async () => await readAll(c))();
  await writeAll(c, data);
  await c.closeWrite();
  const got = await back;
  assertEquals(got.length, data.length);
  assertEquals(got, data);
  const [local, remote] = await served;
  c.close();
  l.close();
  return { client: [c.localAddr, c.remoteAddr], server: [local, remote] };
}

Deno.test("TCP/IPv6: 1 MB each way by IPv6 literal; Deno-shaped addresses on both ends", async () => {
  await withPair6(async (a, b) => {
    const { client, server } = await roundTrip(a, b, B6, pattern(1 << 20, 3));
    assertEquals(client[0].hostname, A6);
    assertEquals(client[1], { transport: "tcp", hostname: B6, port: 80 });
    assertEquals(server[0], { transport: "tcp", hostname: B6, port: 80 });
    assertEquals(server[1].hostname, A6);
    // A bracketed literal works too (as in a URL).
    await roundTrip(a, b, `[${B6}]`, pattern(1000, 4));
    // The MSS over IPv6 is the MTU less 60 (RFC 8200 8.3), less the timestamps.
    assertEquals(a.counters.get("drop.tcp_bad_checksum"), 0);
    assertEquals(b.counters.get("drop.tcp_bad_checksum"), 0);
  });
});

Deno.test("TCP/IPv6: a listener on :: takes both families; one on an IPv6 address only IPv6", async () => {
  await withPair6(async (a, b) => {
    const dual = b.listen({ port: 81, hostname: "::" });
    assertEquals(dual.addr.hostname, "::");
    const c6 = await a.connect({ hostname: B6, port: 81 });
    const c4 = await a.connect({ hostname: "10.0.0.2", port: 81 });
    const s1 = await dual.accept();
    const s2 = await dual.accept();
    assertEquals(
      new Set([s1.remoteAddr.hostname, s2.remoteAddr.hostname]),
      new Set([A6, "10.0.0.1"]),
    );
    for (const c of [c6, c4, s1, s2]) c.close();
    dual.close();
    // IPv6-only: an IPv4 SYN to the port is refused (RST), an IPv6 one accepted.
    const only6 = b.listen({ port: 82, hostname: B6 });
    assert(
      (await assertRejects(() => a.connect({ hostname: "10.0.0.2", port: 82 }))) instanceof
        Deno.errors.ConnectionRefused,
    );
    const ok = await a.connect({ hostname: B6, port: 82 });
    (await only6.accept()).close();
    ok.close();
    // Clashes as on Linux: "::" takes the port for both families.
    const v4 = b.listen({ port: 83 });
    assertThrows(() => b.listen({ port: 83, hostname: "::" }), Deno.errors.AddrInUse);
    const v6 = b.listen({ port: 83, hostname: B6 });
    v4.close();
    v6.close();
    only6.close();
    assertThrows(
      () => b.listen({ port: 84, hostname: "2001:db8:6::99" }),
      Deno.errors.AddrNotAvailable,
    );
  });
});

Deno.test("TCP/IPv6: closed port answers RST (ConnectionRefused); no route is NetworkUnreachable", async () => {
  await withPair6(async (a, b) => {
    assert(
      (await assertRejects(() => a.connect({ hostname: B6, port: 9 }))) instanceof
        Deno.errors.ConnectionRefused,
    );
    assert(b.counters.get("tcp.rx_no_socket") >= 1);
    assert(
      (await assertRejects(() => a.connect({ hostname: "2001:db9::1", port: 9 }))) instanceof
        Deno.errors.NetworkUnreachable,
    );
  });
});

Deno.test("TCP/IPv6: SYN cookies over IPv6 tuples complete the handshake", async () => {
  await withPair6(async (a, b) => {
    const l = b.listen({ port: 85, hostname: "::" });
    // Four SYNs in one burst: past the one half-open slot, cookies answer.
    const conns = await Promise.all(
      [0, 1, 2, 3].map(() => a.connect({ hostname: B6, port: 85 })),
    );
    assert(b.counters.get("tcp.syncookies_sent") >= 1, "cookies were used");
    assert(b.counters.get("tcp.syncookies_ok") >= 1, "and checked");
    for (let i = 0; i < 4; i++) {
      const s = await l.accept();
      assertEquals(s.remoteAddr.hostname, A6);
      s.close();
    }
    for (const c of conns) c.close();
    l.close();
  }, { tcp: { synBacklog: 1 } });
});

Deno.test("TCP/IPv6: 4 MB through segmentation offload (gso TCPV6 super-frames)", async () => {
  await withPair6(
    async (a, b) => {
      await roundTrip(a, b, B6, pattern(4_000_000, 9));
      assert(a.counters.get("tcp.tso_frames") > 10, "super-frames sent");
      assertEquals(b.counters.get("drop.tcp_bad_checksum"), 0);
    },
    {},
    true,
  );
});

Deno.test("TCP/IPv6: Packet Too Big lowers the MSS; netstat shows tcp6 rows", async () => {
  await withPair6(async (a, b, devA) => {
    const l = b.listen({ port: 86, hostname: "::" });
    const c = await a.connect({ hostname: B6, port: 86 });
    const s = await l.accept();
    const row = () => a.tcpSnapshot().find((r) => r.remote === `${B6}:86`)!;
    // 1500 - 40 (IPv6) - 20 (TCP) - 12 (timestamps).
    assertEquals(row().mss, 1428);
    // Data in flight, then a router's Packet Too Big quoting it (mtu 1280).
    const sent: Uint8Array[] = [];
    const prev = devA.onSend;
    devA.onSend = (buf, off, len) => {
      sent.push(buf.slice(off, off + len));
      prev?.(buf, off, len);
    };
    await c.write(pattern(4000, 2));
    const seg = sent.find((f) => f.length > 1000)!;
    const quote = seg.subarray(14, 14 + 1232);
    const msg = new Uint8Array(8 + quote.length);
    msg[0] = 2;
    new DataView(msg.buffer).setUint32(4, 1280);
    msg.set(quote, 8);
    const router = parseIpv6("2001:db8:6::fe")!;
    const ours = parseIpv6(A6)!;
    const frame = new Uint8Array(14 + 40 + msg.length);
    frame.set(seg.subarray(6, 12), 0); // to a's MAC (the segment's source)
    frame.set(seg.subarray(0, 6), 6);
    frame[12] = 0x86;
    frame[13] = 0xdd;
    frame[14] = 0x60;
    new DataView(frame.buffer).setUint16(18, msg.length);
    frame[20] = 58;
    frame[21] = 64;
    frame.set(router, 22);
    frame.set(ours, 38);
    // The ICMPv6 checksum over the pseudo-header (RFC 4443 2.3).
    const pseudo = new Uint8Array(40 + msg.length);
    pseudo.set(router, 0);
    pseudo.set(ours, 16);
    new DataView(pseudo.buffer).setUint32(32, msg.length);
    pseudo[39] = 58;
    pseudo.set(msg, 40);
    let sum = 0;
    for (let i = 0; i < pseudo.length; i += 2) sum += (pseudo[i] << 8) | (pseudo[i + 1] ?? 0);
    while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
    msg[2] = (~sum >> 8) & 0xff;
    msg[3] = ~sum & 0xff;
    frame.set(msg, 54);
    a.input(frame, 0, frame.length);
    assertEquals(a.ipv6!.pmtu.get(B6), 1280);
    assertEquals(row().mss, 1280 - 60 - 12);
    assertEquals(a.counters.get("tcp.pmtu_reduced"), 1);
    // Everything still arrives.
    const got = new Uint8Array(4000);
    let n = 0;
    while (n < 4000) n += (await s.read(got.subarray(n)))!;
    assertEquals(got, pattern(4000, 2));
    const table = formatNetstat(a.tcpSnapshot());
    assert(
      /^tcp6 +\d+ +\d+ 2001:db8:6::1:\d+ +2001:db8:6::2:86 +ESTABLISHED$/m.test(table),
      table,
    );
    assert(/^tcp6 +\d+ +\d+ :::86 +:::\* +LISTEN$/m.test(formatNetstat(b.tcpSnapshot())));
    c.close();
    s.close();
    l.close();
  });
});

Deno.test("TCP and UDP over IPv6 to ::1 and to the host's own address go through the loopback", async () => {
  await withPair6(async (a) => {
    for (const host of ["::1", A6]) {
      const l = a.listen({ port: 90, hostname: host === "::1" ? "::1" : "::" });
      const accepted = l.accept();
      const c = await a.connect({ hostname: host, port: 90 });
      const s = await accepted;
      assertEquals(c.remoteAddr.hostname, host);
      assertEquals(s.remoteAddr.hostname, host, "from the address itself");
      await writeAll(c, pattern(100_000, 5));
      await c.closeWrite();
      assertEquals(await readAll(s), pattern(100_000, 5));
      c.close();
      s.close();
      l.close();
    }
    const u = a.listenDatagram({ port: 53, hostname: "::1", transport: "udp" });
    const v = a.listenDatagram({ port: 0, hostname: "::", transport: "udp" });
    await v.send(new TextEncoder().encode("lo"), { hostname: "::1", port: 53 });
    const [data, from] = await u.receive();
    assertEquals([new TextDecoder().decode(data), from.hostname], ["lo", "::1"]);
    u.close();
    v.close();
    assert(a.counters.get("loopback.rx_packets") > 0);
  });
});
