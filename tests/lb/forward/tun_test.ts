/**
 * IP-in-IP tunnelling as fixtures: the client's datagram unchanged behind an outer header
 * (RFC 2003) to the real server; ICMP fragmentation needed (next-hop MTU = MTU - 20) when the
 * result would not fit and DF is set, as IPVS's ip_vs_tunnel_xmit; fragmentation without DF.
 */
import { assert, assertEquals } from "../../assert.ts";
import {
  diff,
  frame,
  ipHeaderOk,
  ipv4,
  pattern,
  r16,
  r32,
  SYN,
  tcpPacket,
  udp,
} from "../_packets.ts";
import { concat } from "../_packets.ts";
import {
  CLIENT,
  CLIENT_MAC,
  GW_MAC,
  LB,
  LB_MAC,
  REAL1,
  REAL_MACS,
  REMOTE_CLIENT,
  REMOTE_REAL,
  rig,
  VIP,
} from "../_rig.ts";

/** The expected tunnelled frame, taking the outer IP id from what was sent (it is random). */
function tunnelled(
  sent: Uint8Array,
  dstMac: Uint8Array,
  real: number,
  inner: Uint8Array,
  df: boolean,
) {
  const outer = ipv4(
    { src: LB, dst: real, protocol: 4, ttl: inner[8], id: r16(sent, 14 + 4), df },
    inner,
  );
  outer[1] = inner[1]; // TOS copied from the inner header (RFC 2003 3.1)
  outer[10] = 0;
  outer[11] = 0;
  const c = ((): number => {
    let s = 0;
    for (let i = 0; i < 20; i += 2) s += (outer[i] << 8) | outer[i + 1];
    while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
    return ~s & 0xffff;
  })();
  outer[10] = c >>> 8;
  outer[11] = c & 0xff;
  return frame(dstMac, LB_MAC, outer);
}

Deno.test("tun fixtures: outer header to the real server, inner datagram untouched", () => {
  const r = rig({
    services: [
      { method: "tun", reals: [{ address: REAL1 }, { address: REMOTE_REAL }] },
      { protocol: "udp", port: 7, method: "tun", reals: [{ address: REAL1 }] },
    ],
  });
  const syn = tcpPacket({ src: CLIENT, dst: VIP, sport: 1234, dport: 80, flags: SYN }, {
    ttl: 57,
    df: true,
  });
  syn[1] = 0x28; // a DSCP, copied to the outer header
  syn[10] = 0;
  syn[11] = 0;
  let s = 0;
  for (let i = 0; i < 20; i += 2) s += (syn[i] << 8) | syn[i + 1];
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  syn[10] = (~s >>> 8) & 0xff;
  syn[11] = ~s & 0xff;
  assertEquals(r.send(frame(LB_MAC, CLIENT_MAC, syn)), "consumed");
  let out = r.sent();
  assertEquals(out.length, 1);
  assertEquals(diff(out[0], tunnelled(out[0], REAL_MACS.get(REAL1)!, REAL1, syn, true)), "equal");

  // The second real server is off-link: the outer datagram is routed through the gateway.
  const syn2 = tcpPacket({ src: REMOTE_CLIENT, dst: VIP, sport: 999, dport: 80, flags: SYN });
  assertEquals(r.send(frame(LB_MAC, GW_MAC, syn2)), "consumed");
  out = r.sent();
  assertEquals(diff(out[0], tunnelled(out[0], GW_MAC, REMOTE_REAL, syn2, false)), "equal");
  assertEquals(r32(out[0], 14 + 16), REMOTE_REAL);

  const dgram = ipv4(
    { src: CLIENT, dst: VIP, protocol: 17 },
    udp(CLIENT, VIP, 5000, 7, pattern(64)),
  );
  assertEquals(r.send(frame(LB_MAC, CLIENT_MAC, dgram)), "consumed");
  out = r.sent();
  assertEquals(
    diff(out[0], tunnelled(out[0], REAL_MACS.get(REAL1)!, REAL1, dgram, false)),
    "equal",
  );
});

Deno.test("tun: DF set and too big for MTU - 20: ICMP fragmentation needed, mtu 1480", () => {
  const r = rig({
    services: [{ protocol: "udp", port: 7, method: "tun", reals: [{ address: REAL1 }] }],
  });
  // 1481 bytes of IP datagram: 1501 once tunnelled.
  const big = ipv4(
    { src: CLIENT, dst: VIP, protocol: 17, df: true },
    udp(CLIENT, VIP, 5001, 7, pattern(1481 - 28)),
  );
  assertEquals(big.length, 1481);
  assertEquals(r.send(frame(LB_MAC, CLIENT_MAC, big)), "consumed");
  const out = r.sent();
  assertEquals(out.length, 1, "only the ICMP error, nothing to the real server");
  const f = out[0];
  assertEquals(diff(f.subarray(0, 6), CLIENT_MAC), "equal");
  assert(ipHeaderOk(f, 14));
  assertEquals([f[14 + 9], r32(f, 14 + 12), r32(f, 14 + 16)], [1, VIP, CLIENT]);
  assertEquals([f[34], f[35], r16(f, 34 + 6)], [3, 4, 1480]); // type, code, next-hop MTU
  // The quoted datagram starts with the original IP header.
  assertEquals(diff(f.subarray(42, 62), big.subarray(0, 20)), "equal");
  assertEquals(r.stack.counters.get("lb.tun_frag_needed"), 1);
  assertEquals(r.balancer.services.list()[0].packetsIn, 0);

  // 1480 bytes fit exactly: tunnelled as one 1500-byte datagram.
  const fits = ipv4(
    { src: CLIENT, dst: VIP, protocol: 17, df: true },
    udp(CLIENT, VIP, 5002, 7, pattern(1480 - 28)),
  );
  assertEquals(r.send(frame(LB_MAC, CLIENT_MAC, fits)), "consumed");
  const one = r.sent();
  assertEquals(one.length, 1);
  assertEquals(r16(one[0], 14 + 2), 1500);
});

Deno.test("tun: without DF the outer datagram is fragmented (RFC 2003 5.1)", () => {
  const r = rig({
    services: [{ protocol: "udp", port: 7, method: "tun", reals: [{ address: REAL1 }] }],
  });
  const big = ipv4(
    { src: CLIENT, dst: VIP, protocol: 17 },
    udp(CLIENT, VIP, 5003, 7, pattern(1600)),
  );
  assertEquals(r.send(frame(LB_MAC, CLIENT_MAC, big)), "consumed");
  const out = r.sent();
  assertEquals(out.length, 2);
  // Reassemble the outer payload and compare with the inner datagram.
  const parts = out.map((f) => {
    assert(ipHeaderOk(f, 14));
    assertEquals([f[14 + 9], r32(f, 14 + 16)], [4, REAL1]);
    return {
      off: (r16(f, 14 + 6) & 0x1fff) * 8,
      mf: (f[14 + 6] & 0x20) !== 0,
      data: f.subarray(34),
    };
  });
  assertEquals([parts[0].off, parts[0].mf, parts[1].mf], [0, true, false]);
  assertEquals(parts[1].off, parts[0].data.length);
  assertEquals(diff(concat(parts[0].data, parts[1].data), big), "equal");
});
