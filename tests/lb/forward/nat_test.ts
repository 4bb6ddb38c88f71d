/**
 * NAT as Katran-style fixtures (input frame -> verdict and the exact frames sent, built from
 * scratch with full checksums), and a property test of the RFC 1624 rewrites against full
 * recomputation.
 */
import fc from "fast-check";
import { assert, assertEquals } from "../../assert.ts";
import { checksum } from "../../stack/net/_frames.ts";
import { rewriteDestination, rewriteSource } from "../../../lb/forward/rewrite.ts";
import {
  ACK,
  diff,
  FIN,
  frame,
  ipv4,
  pattern,
  r16,
  SYN,
  tcp,
  tcpPacket,
  udp,
} from "../_packets.ts";
import {
  CLIENT,
  CLIENT_MAC,
  GW_MAC,
  LB_MAC,
  REAL1,
  REAL2,
  REAL_MACS,
  REMOTE_CLIENT,
  rig,
  VIP,
} from "../_rig.ts";

const R1_MAC = REAL_MACS.get(REAL1)!;

function natRig() {
  return rig({
    services: [
      { method: "nat", reals: [{ address: REAL1, port: 8080 }, { address: REAL2, port: 8080 }] },
      { protocol: "udp", port: 53, method: "nat", reals: [{ address: REAL2 }] },
    ],
  });
}

Deno.test("nat turns the stack's forwarding on (it must see the real servers' replies)", () => {
  const r = natRig();
  assert(r.stack.forwarding);
  assert(!rig({ services: [{ method: "dr", reals: [{ address: REAL1 }] }] }).stack.forwarding);
});

Deno.test("nat fixtures: destination rewritten on the way in, source on the way back", () => {
  const r = natRig();
  const c = { src: REMOTE_CLIENT, dst: VIP, sport: 5555, dport: 80 };
  const s = { src: REAL1, dst: REMOTE_CLIENT, sport: 8080, dport: 5555 };
  const steps: [string, Uint8Array, string, Uint8Array[]][] = [
    [
      "client SYN (via the gateway): to 10.0.0.11:8080, TTL and IP id kept",
      frame(LB_MAC, GW_MAC, tcpPacket({ ...c, flags: SYN, seq: 7 }, { ttl: 60, id: 0x4242 })),
      "consumed",
      [
        frame(
          R1_MAC,
          LB_MAC,
          tcpPacket({ ...c, dst: REAL1, dport: 8080, flags: SYN, seq: 7 }, { ttl: 60, id: 0x4242 }),
        ),
      ],
    ],
    [
      "server SYN-ACK (forwarded, not ours): source becomes VIP:80, TTL - 1, to the gateway",
      frame(LB_MAC, R1_MAC, tcpPacket({ ...s, flags: SYN | ACK, seq: 900, ack: 8 })),
      "consumed",
      [
        frame(
          GW_MAC,
          LB_MAC,
          tcpPacket({ ...s, src: VIP, sport: 80, flags: SYN | ACK, seq: 900, ack: 8 }, { ttl: 63 }),
        ),
      ],
    ],
    [
      "client data with an odd payload length",
      frame(
        LB_MAC,
        GW_MAC,
        tcpPacket({ ...c, flags: ACK, seq: 8, ack: 901, data: pattern(333, 5) }, { df: true }),
      ),
      "consumed",
      [
        frame(
          R1_MAC,
          LB_MAC,
          tcpPacket({
            ...c,
            dst: REAL1,
            dport: 8080,
            flags: ACK,
            seq: 8,
            ack: 901,
            data: pattern(333, 5),
          }, {
            df: true,
          }),
        ),
      ],
    ],
    [
      "a reply from a port with no flow is not ours: passed, and the stack drops it",
      frame(LB_MAC, R1_MAC, tcpPacket({ ...s, sport: 9999, flags: ACK })),
      "pass",
      [],
    ],
    [
      "server FIN",
      frame(LB_MAC, R1_MAC, tcpPacket({ ...s, flags: FIN | ACK, seq: 901, ack: 341 })),
      "consumed",
      [
        frame(
          GW_MAC,
          LB_MAC,
          tcpPacket({ ...s, src: VIP, sport: 80, flags: FIN | ACK, seq: 901, ack: 341 }, {
            ttl: 63,
          }),
        ),
      ],
    ],
  ];
  for (const [name, input, verdict, output] of steps) {
    assertEquals(r.send(input), verdict, name);
    const out = r.sent();
    assertEquals(out.length, output.length, name);
    for (let i = 0; i < out.length; i++) assertEquals(diff(out[i], output[i]), "equal", name);
  }
  assertEquals(r.stack.counters.get("drop.not_for_us"), 1);
  const svc = r.balancer.services.list()[0];
  assertEquals([svc.packetsIn, svc.packetsOut], [2, 2]);
  assertEquals([svc.reals[0].packetsOut, svc.reals[0].bytesOut], [2, 40 + 40]);
  // The flow saw SYN, SYN-ACK, ACK, FIN from the server: IPVS's OUTPUT table says FIN_WAIT.
  const entries = r.balancer.connections().entries;
  assertEquals(entries.map((e) => [e.state, e.real, e.virtual]), [
    ["FIN_WAIT", "10.0.0.11:8080", "10.0.0.100:80"],
  ]);
});

Deno.test("nat fixtures: UDP, with a checksum and without one (RFC 768: 0 stays 0)", () => {
  const r = natRig();
  const withSum = ipv4(
    { src: CLIENT, dst: VIP, protocol: 17 },
    udp(CLIENT, VIP, 4000, 53, pattern(21)),
  );
  assertEquals(r.send(frame(LB_MAC, CLIENT_MAC, withSum)), "consumed");
  const want = ipv4(
    { src: CLIENT, dst: REAL2, protocol: 17 },
    udp(CLIENT, REAL2, 4000, 53, pattern(21)),
  );
  assertEquals(diff(r.sent()[0], frame(REAL_MACS.get(REAL2)!, LB_MAC, want)), "equal");

  const noSum = ipv4(
    { src: CLIENT, dst: VIP, protocol: 17 },
    udp(CLIENT, VIP, 4001, 53, pattern(10), true),
  );
  assertEquals(r.send(frame(LB_MAC, CLIENT_MAC, noSum)), "consumed");
  const out = r.sent()[0];
  assertEquals(r16(out, 14 + 20 + 6), 0);
  const wantNoSum = ipv4(
    { src: CLIENT, dst: REAL2, protocol: 17 },
    udp(CLIENT, REAL2, 4001, 53, pattern(10), true),
  );
  assertEquals(diff(out, frame(REAL_MACS.get(REAL2)!, LB_MAC, wantNoSum)), "equal");

  // The reply: from REAL2:53 to the client, source back to VIP:53.
  const reply = ipv4(
    { src: REAL2, dst: CLIENT, protocol: 17 },
    udp(REAL2, CLIENT, 53, 4000, pattern(9)),
  );
  assertEquals(r.send(frame(LB_MAC, REAL_MACS.get(REAL2)!, reply)), "consumed");
  const back = ipv4(
    { src: VIP, dst: CLIENT, protocol: 17, ttl: 63 },
    udp(VIP, CLIENT, 53, 4000, pattern(9)),
  );
  assertEquals(diff(r.sent()[0], frame(CLIENT_MAC, LB_MAC, back)), "equal");
});

Deno.test("nat: an updated UDP checksum of 0 is sent as 0xffff (RFC 768)", () => {
  // Payload whose last word makes the rewritten datagram's checksum come out as 0.
  const data = pattern(20, 3);
  data[18] = 0;
  data[19] = 0;
  const target = udp(CLIENT, REAL2, 4002, 53, data, true);
  const pseudo = new Uint8Array(12 + target.length);
  new DataView(pseudo.buffer).setUint32(0, CLIENT);
  new DataView(pseudo.buffer).setUint32(4, REAL2);
  pseudo[9] = 17;
  new DataView(pseudo.buffer).setUint16(10, target.length);
  pseudo.set(target, 12);
  const c = checksum(pseudo);
  data[18] = c >>> 8;
  data[19] = c & 0xff;
  const r = natRig();
  const q = ipv4({ src: CLIENT, dst: VIP, protocol: 17 }, udp(CLIENT, VIP, 4002, 53, data));
  assertEquals(r.send(frame(LB_MAC, CLIENT_MAC, q)), "consumed");
  const out = r.sent()[0];
  assertEquals(r16(out, 14 + 20 + 6), 0xffff);
  const want = ipv4({ src: CLIENT, dst: REAL2, protocol: 17 }, udp(CLIENT, REAL2, 4002, 53, data));
  assertEquals(r16(want, 20 + 6), 0xffff);
  assertEquals(diff(out, frame(REAL_MACS.get(REAL2)!, LB_MAC, want)), "equal");
});

Deno.test("property: RFC 1624 rewrites equal full recomputation for TCP and UDP", () => {
  const u32 = fc.integer({ min: 1, max: 0xfffffffe });
  const port = fc.integer({ min: 1, max: 65535 });
  fc.assert(
    fc.property(
      fc.boolean(),
      fc.boolean(),
      u32,
      u32,
      port,
      port,
      u32,
      port,
      fc.uint8Array({ maxLength: 64 }),
      (isTcp, dstSide, src, dst, sport, dport, addr, newPort, data) => {
        const l4 = isTcp
          ? tcp({ src, dst, sport, dport, flags: ACK, data })
          : udp(src, dst, sport, dport, data);
        const pkt = ipv4({ src, dst, protocol: isTcp ? 6 : 17 }, l4);
        const proto = isTcp ? 6 : 17;
        const nsrc = dstSide ? src : addr;
        const ndst = dstSide ? addr : dst;
        const nsport = dstSide ? sport : newPort;
        const ndport = dstSide ? newPort : dport;
        if (dstSide) rewriteDestination(pkt, 0, 20, proto, addr, newPort);
        else rewriteSource(pkt, 0, 20, proto, addr, newPort);
        const nl4 = isTcp
          ? tcp({ src: nsrc, dst: ndst, sport: nsport, dport: ndport, flags: ACK, data })
          : udp(nsrc, ndst, nsport, ndport, data);
        const want = ipv4({ src: nsrc, dst: ndst, protocol: proto }, nl4);
        return diff(pkt, want) === "equal";
      },
    ),
    { numRuns: 2000 },
  );
});
