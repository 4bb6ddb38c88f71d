/**
 * ICMP errors about balanced flows, as Katran-style fixtures: an error frame in, the exact frame
 * the balancer sends out, built from scratch with full checksums. DR relays the error unchanged
 * to the flow's real server, NAT translates the outer and the quoted addresses and ports (both
 * ways), TUN encapsulates; source quench is ignored, errors about unknown flows are dropped and
 * counted (mh uses its Maglev choice), and what is not the balancer's passes to the stack.
 */
import { assertEquals } from "../../assert.ts";
import {
  ACK,
  diff,
  frame,
  icmpError,
  ipv4,
  pattern,
  r32,
  SYN,
  tcpPacket,
  udp,
} from "../_packets.ts";
import { icmpEcho } from "../../stack/net/_frames.ts";
import {
  CLIENT,
  CLIENT_MAC,
  GW,
  GW_MAC,
  LB,
  LB_MAC,
  REAL1,
  REAL2,
  REAL3,
  REAL_MACS,
  REMOTE_CLIENT,
  REMOTE_REAL,
  rig,
  type RigOptions,
  VIP,
} from "../_rig.ts";

const R1_MAC = REAL_MACS.get(REAL1)!;
const FRAG_NEEDED: readonly [number, number, number] = [3, 4, 1400];

/** The first `n` bytes of a packet, as an ICMP error quotes it. */
const quote = (p: Uint8Array, n: number) => p.slice(0, Math.min(n, p.length));

/** The error a router at GW sends to `to` about `packet` (quoting 28 + `extra` bytes). */
function routerError(to: number, packet: Uint8Array, extra = 40, kind = FRAG_NEEDED) {
  return ipv4(
    { src: GW, dst: to, protocol: 1, ttl: 61, id: 0x5151 },
    icmpError(kind[0], kind[1], kind[2], quote(packet, 28 + extra)),
  );
}

function oneService(method: "dr" | "nat" | "tun", extra: Partial<RigOptions> = {}) {
  return rig({
    ...extra,
    services: [{
      method,
      scheduler: "rr",
      reals: method === "tun"
        ? [{ address: REMOTE_REAL }]
        : [{ address: REAL1, port: method === "nat" ? 8080 : 0 }],
    }],
  });
}

/** The client's SYN, through the gateway: makes the flow REMOTE_CLIENT:40000 -> VIP:80. */
function openFlow(r: ReturnType<typeof rig>) {
  const syn = tcpPacket({ src: REMOTE_CLIENT, dst: VIP, sport: 40000, dport: 80, flags: SYN });
  assertEquals(r.send(frame(LB_MAC, GW_MAC, syn)), "consumed");
  r.sent();
}

/** Sends a router's frag-needed about `fromVip` to the VIP; the one frame the balancer sent. */
function relayed(r: ReturnType<typeof rig>): { err: Uint8Array; out: Uint8Array } {
  const err = routerError(VIP, fromVip);
  assertEquals(r.send(frame(LB_MAC, GW_MAC, err)), "consumed");
  const out = r.sent();
  assertEquals(out.length, 1);
  return { err, out: out[0] };
}

/** A full-size segment the real server sent from the VIP to the client (what a router quotes). */
const fromVip = tcpPacket(
  { src: VIP, dst: REMOTE_CLIENT, sport: 80, dport: 40000, flags: ACK, data: pattern(1460) },
  { df: true, ttl: 63 },
);

Deno.test("icmp dr: frag-needed about a flow goes to its real server unchanged", () => {
  const r = oneService("dr");
  openFlow(r);
  const { err, out } = relayed(r);
  assertEquals(diff(out, frame(R1_MAC, LB_MAC, err)), "equal");
  assertEquals(r.stack.counters.get("lb.icmp_to_real"), 1);
});

Deno.test("icmp nat: to the real server with outer and quoted address and port translated", () => {
  const r = oneService("nat");
  openFlow(r);
  // The real server's segment as it left it, and as the balancer sent it on (source VIP:80).
  const own = { src: REAL1, dst: REMOTE_CLIENT, sport: 8080, dport: 40000, flags: ACK };
  const asSent = tcpPacket({ ...own, data: pattern(1460) }, { df: true, ttl: 63 });
  const { out } = relayed(r);
  const want = ipv4(
    { src: GW, dst: REAL1, protocol: 1, ttl: 61, id: 0x5151 },
    icmpError(...FRAG_NEEDED, quote(asSent, 68)),
  );
  assertEquals(diff(out, frame(R1_MAC, LB_MAC, want)), "equal");
  // A quote of only the IP header and 8 bytes (no TCP checksum in it) is translated too.
  const short = routerError(VIP, fromVip, 0);
  r.send(frame(LB_MAC, GW_MAC, short));
  const want8 = ipv4(
    { src: GW, dst: REAL1, protocol: 1, ttl: 61, id: 0x5151 },
    icmpError(...FRAG_NEEDED, quote(asSent, 28)),
  );
  assertEquals(diff(r.sent()[0], frame(R1_MAC, LB_MAC, want8)), "equal");
});

Deno.test("icmp nat: a real server's port unreachable reaches the client as the VIP's", () => {
  const r = rig({
    services: [{
      protocol: "udp",
      port: 53,
      method: "nat",
      reals: [{ address: REAL2, port: 5353 }],
    }],
  });
  const q = udp(REMOTE_CLIENT, VIP, 7000, 53, pattern(30));
  r.send(frame(LB_MAC, GW_MAC, ipv4({ src: REMOTE_CLIENT, dst: VIP, protocol: 17 }, q)));
  const toReal = r.sent();
  assertEquals(r32(toReal[0], 14 + 16), REAL2);
  // REAL2 has nothing on 5353: it answers with port unreachable quoting what it got.
  const got = toReal[0].slice(14);
  const err = ipv4(
    { src: REAL2, dst: REMOTE_CLIENT, protocol: 1, ttl: 64, id: 9 },
    icmpError(3, 3, 0, got),
  );
  assertEquals(r.send(frame(LB_MAC, REAL_MACS.get(REAL2)!, err)), "consumed");
  const out = r.sent();
  assertEquals(out.length, 1);
  const original = ipv4({ src: REMOTE_CLIENT, dst: VIP, protocol: 17 }, q);
  const want = ipv4(
    { src: VIP, dst: REMOTE_CLIENT, protocol: 1, ttl: 63, id: 9 },
    icmpError(3, 3, 0, original),
  );
  assertEquals(diff(out[0], frame(GW_MAC, LB_MAC, want)), "equal");
  assertEquals(r.stack.counters.get("lb.icmp_to_client"), 1);
});

Deno.test("icmp tun: the error travels to the real server inside IP-in-IP", () => {
  const r = oneService("tun");
  openFlow(r);
  const { err, out } = relayed(r);
  assertEquals([out[14 + 9], r32(out, 14 + 12), r32(out, 14 + 16)], [4, LB, REMOTE_REAL]);
  assertEquals(diff(out.slice(34), err), "equal");
});

Deno.test("icmp: unknown flows are dropped and counted; mh uses its Maglev choice", () => {
  const r = oneService("dr");
  assertEquals(r.send(frame(LB_MAC, GW_MAC, routerError(VIP, fromVip))), "consumed");
  assertEquals(r.sent().length, 0);
  assertEquals(r.stack.counters.get("lb.drop_icmp_no_flow"), 1);

  const mh = () =>
    rig({
      services: [{
        method: "dr",
        scheduler: "mh",
        reals: [{ address: REAL1 }, { address: REAL2 }, { address: REAL3 }],
      }],
    });
  const a = mh();
  const b = mh();
  for (let port = 41000; port < 41020; port++) {
    const seg = tcpPacket({ src: VIP, dst: REMOTE_CLIENT, sport: 80, dport: port, flags: ACK });
    a.send(frame(LB_MAC, GW_MAC, routerError(VIP, seg)));
    // The same client port's SYN on a twin balancer: the Maglev choice.
    b.send(frame(
      LB_MAC,
      GW_MAC,
      tcpPacket({ src: REMOTE_CLIENT, dst: VIP, sport: port, dport: 80, flags: SYN }),
    ));
    assertEquals([...a.sent()[0].subarray(0, 6)], [...b.sent()[0].subarray(0, 6)]);
  }
  assertEquals(a.balancer.conns.size, 0, "no entry made for an error");
});

Deno.test("icmp: source quench is ignored, a bad checksum dropped, the rest left to the stack", () => {
  const r = oneService("dr");
  openFlow(r);
  assertEquals(r.send(frame(LB_MAC, GW_MAC, routerError(VIP, fromVip, 40, [4, 0, 0]))), "consumed");
  assertEquals(r.sent().length, 0);
  assertEquals(r.stack.counters.get("lb.icmp_ignored"), 1);
  const bad = routerError(VIP, fromVip);
  bad[20 + 8 + 30] ^= 0x01; // one quoted bit flipped: the ICMP checksum no longer verifies
  assertEquals(r.send(frame(LB_MAC, GW_MAC, bad)), "consumed");
  assertEquals(r.stack.counters.get("lb.drop_icmp_bad_checksum"), 1);
  assertEquals(r.sent().length, 0);
  // A ping to the VIP is the stack's: it answers.
  const ping = ipv4({ src: CLIENT, dst: VIP, protocol: 1 }, icmpEcho(8, 7, 1, pattern(16)));
  assertEquals(r.send(frame(LB_MAC, CLIENT_MAC, ping)), "pass");
  const reply = r.sent();
  assertEquals(reply.length, 1);
  assertEquals([reply[0][34], r32(reply[0], 26)], [0, VIP]);
  // An error about the VIP on a port without a service (the stack's own RST, say) passes too.
  const other = tcpPacket({ src: VIP, dst: REMOTE_CLIENT, sport: 22, dport: 40000, flags: ACK });
  assertEquals(r.send(frame(LB_MAC, GW_MAC, routerError(VIP, other))), "pass");
  assertEquals(r.stack.counters.get("lb.drop_icmp_no_flow") ?? 0, 0);
});
