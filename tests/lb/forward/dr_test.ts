/**
 * Direct routing as Katran-style fixtures: an input frame, the verdict, and the exact frames the
 * balancer sends (built from scratch): only the Ethernet header changes, to the real server's MAC.
 */
import { assertEquals } from "../../assert.ts";
import { ACK, diff, frame, PSH, SYN, tcpPacket, udp } from "../_packets.ts";
import { ipv4, pattern } from "../_packets.ts";
import {
  CLIENT,
  CLIENT_MAC,
  LB_MAC,
  REAL1,
  REAL2,
  REAL_MACS,
  REMOTE_CLIENT,
  rig,
  VIP,
} from "../_rig.ts";
import { GW_MAC } from "../_rig.ts";

interface Fixture {
  name: string;
  input: Uint8Array;
  verdict: string;
  output: Uint8Array[];
}

Deno.test("dr fixtures: rewrite only the Ethernet header, TTL and checksums untouched", () => {
  const r = rig({ services: [{ method: "dr", reals: [{ address: REAL1 }, { address: REAL2 }] }] });
  const syn = tcpPacket({ src: CLIENT, dst: VIP, sport: 40000, dport: 80, flags: SYN });
  const ack = tcpPacket({
    src: CLIENT,
    dst: VIP,
    sport: 40000,
    dport: 80,
    flags: ACK | PSH,
    seq: 1001,
    ack: 5001,
    data: pattern(300),
  });
  const syn2 = tcpPacket({ src: REMOTE_CLIENT, dst: VIP, sport: 5555, dport: 80, flags: SYN }, {
    ttl: 61,
    df: true,
  });
  const fixtures: Fixture[] = [
    {
      name: "first SYN is scheduled (rr: first real server) and sent to its MAC",
      input: frame(LB_MAC, CLIENT_MAC, syn),
      verdict: "consumed",
      output: [frame(REAL_MACS.get(REAL1)!, LB_MAC, syn)],
    },
    {
      name: "later packets of the flow follow it, payload untouched",
      input: frame(LB_MAC, CLIENT_MAC, ack),
      verdict: "consumed",
      output: [frame(REAL_MACS.get(REAL1)!, LB_MAC, ack)],
    },
    {
      name: "a routed client's SYN (arrives from the gateway): next server, TTL 61 and DF kept",
      input: frame(LB_MAC, GW_MAC, syn2),
      verdict: "consumed",
      output: [frame(REAL_MACS.get(REAL2)!, LB_MAC, syn2)],
    },
  ];
  for (const f of fixtures) {
    assertEquals(r.send(f.input), f.verdict, f.name);
    const out = r.sent();
    assertEquals(out.length, f.output.length, f.name);
    for (let i = 0; i < out.length; i++) {
      assertEquals(diff(out[i], f.output[i]), "equal", f.name);
    }
  }
  const svc = r.balancer.services.list()[0];
  assertEquals([svc.conns, svc.packetsIn, svc.bytesIn], [2, 3, syn.length * 2 + ack.length]);
  assertEquals([svc.reals[0].packetsIn, svc.reals[1].packetsIn], [2, 1]);
  assertEquals([svc.packetsOut, svc.bytesOut], [0, 0]);
});

Deno.test("dr fixtures: UDP service, and ports without a service pass to local delivery", () => {
  const r = rig({
    services: [{ protocol: "udp", port: 53, method: "dr", reals: [{ address: REAL2 }] }],
  });
  const q = ipv4({ src: CLIENT, dst: VIP, protocol: 17 }, udp(CLIENT, VIP, 3333, 53, pattern(40)));
  assertEquals(r.send(frame(LB_MAC, CLIENT_MAC, q)), "consumed");
  assertEquals(diff(r.sent()[0], frame(REAL_MACS.get(REAL2)!, LB_MAC, q)), "equal");
  // Port 54 has no service: local delivery answers ICMP port unreachable from the VIP.
  const other = ipv4(
    { src: CLIENT, dst: VIP, protocol: 17 },
    udp(CLIENT, VIP, 3333, 54, pattern(8)),
  );
  assertEquals(r.send(frame(LB_MAC, CLIENT_MAC, other)), "pass");
  const icmp = r.sent();
  assertEquals(icmp.length, 1);
  assertEquals([icmp[0][14 + 9], icmp[0][34], icmp[0][35]], [1, 3, 3]); // ICMP, unreachable, port
});
