/**
 * IPv6-in-IPv6 (RFC 2473) as fixtures on the forwarder alone (a fake host records what it would
 * send): a TCP/IPv6 super-frame from a TAP with offloads is cut into segments, each complete
 * (payload length, sequence number, flags, a full TCP checksum) behind its outer header; the
 * Packet Too Big rule is judged per segment; metadata that does not fit is refused.
 */
import { assertEquals } from "../../assert.ts";
import { checksum6, ipv6, r16 } from "../../stack/net/_frames.ts";
import { ACK, FIN, PSH } from "../_packets.ts";
import { CLIENT6, LB6, REALS6, tcp6, VIP6 } from "../_rig6.ts";
import {
  type FrameOffload,
  VNET_F_NEEDS_CSUM,
  VNET_GSO_TCPV4,
  VNET_GSO_TCPV6,
} from "../../../stack/wire/virtio_net.ts";
import { Tunnel6Forwarder, type Tunnel6Host } from "../../../lb/forward/tun6.ts";
import { TUN_BAD_OFFLOAD, TUN_FRAG_NEEDED, TUN_SENT } from "../../../lb/forward/tun.ts";

function host() {
  const sent: Uint8Array[] = [];
  const errors: number[][] = [];
  const h: Tunnel6Host = {
    sendPacket: (buf, ipOff, len) => {
      sent.push(buf.slice(ipOff, ipOff + len));
      return true;
    },
    sendError: (type, code, param) => {
      errors.push([type, code, param]);
      return true;
    },
    sourceFor: () => LB6,
  };
  return { h, sent, errors };
}

/** A super-frame: `n` bytes of payload behind one TCP header, with FIN|PSH|ACK. */
function superFrame(n: number): Uint8Array {
  const data = new Uint8Array(n);
  for (let i = 0; i < n; i++) data[i] = (i * 7) & 0xff;
  return ipv6(
    { src: CLIENT6, dst: VIP6, nh: 6, hlim: 61 },
    tcp6(CLIENT6, VIP6, 40000, 80, FIN | PSH | ACK, 5000, data),
  );
}

const gso = (type: number, size: number): FrameOffload => ({
  flags: VNET_F_NEEDS_CSUM,
  gsoType: type,
  hdrLen: 14 + 60,
  gsoSize: size,
  csumStart: 14 + 40,
  csumOffset: 16,
});

Deno.test("tun6: a TCP/IPv6 super-frame is cut into complete segments, each tunnelled", () => {
  const { h, sent } = host();
  const t = new Tunnel6Forwarder(h, 1500);
  const p = superFrame(3000);
  const buf = new Uint8Array(14 + p.length);
  buf.set(p, 14);
  assertEquals(t.forward(buf, 14, p.length, REALS6[0], gso(VNET_GSO_TCPV6, 1220)), TUN_SENT);
  assertEquals(sent.map((s) => s.length), [40 + 60 + 1220, 40 + 60 + 1220, 40 + 60 + 560]);
  let seq = 5000;
  sent.forEach((s, i) => {
    // Outer: version 6, next header 41, hop limit from the inner, from us to the real server.
    assertEquals([s[0] >> 4, s[6], s[7]], [6, 41, 61]);
    assertEquals(r16(s, 4), s.length - 40);
    assertEquals([...s.subarray(8, 24)], [...LB6]);
    assertEquals([...s.subarray(24, 40)], [...REALS6[0]]);
    const inner = s.subarray(40);
    assertEquals(r16(inner, 4), inner.length - 40, "the inner payload length is the segment's");
    const tcp = inner.subarray(40);
    assertEquals(((tcp[4] << 24) | (tcp[5] << 16) | (tcp[6] << 8) | tcp[7]) >>> 0, seq);
    const last = i === sent.length - 1;
    assertEquals(tcp[13], last ? FIN | PSH | ACK : ACK, `flags of segment ${i}`);
    assertEquals(checksum6(CLIENT6, VIP6, 6, tcp), 0, `checksum of segment ${i}`);
    assertEquals(tcp[20], ((seq - 5000) * 7) & 0xff, "the payload continues where it stopped");
    seq += tcp.length - 20;
  });
  assertEquals(seq, 8000);
});

Deno.test("tun6: Packet Too Big judged per segment; bad metadata refused", () => {
  const { h, sent, errors } = host();
  const t = new Tunnel6Forwarder(h, 1500);
  const p = superFrame(4000);
  const buf = new Uint8Array(14 + p.length);
  buf.set(p, 14);
  // 1,440-byte segments: 1,500 with their headers, 1,540 tunnelled: too big.
  assertEquals(t.forward(buf, 14, p.length, REALS6[0], gso(VNET_GSO_TCPV6, 1440)), TUN_FRAG_NEEDED);
  assertEquals(errors, [[2, 0, 1460]]);
  assertEquals(sent.length, 0);
  assertEquals(t.forward(buf, 14, p.length, REALS6[0], gso(VNET_GSO_TCPV4, 1000)), TUN_BAD_OFFLOAD);
  assertEquals(t.forward(buf, 14, p.length, REALS6[0], gso(VNET_GSO_TCPV6, 0)), TUN_BAD_OFFLOAD);
  // A plain packet with a partial checksum is completed before it is tunnelled.
  const small = superFrame(100);
  const tcpOff = 14 + 40;
  const sb = new Uint8Array(14 + small.length);
  sb.set(small, 14);
  // NEEDS_CSUM: the field holds the folded pseudo-header sum, the rest is left to the sender.
  let sum = 6 + (small.length - 40);
  for (let i = 8; i < 40; i += 2) sum += (small[i] << 8) | small[i + 1];
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  sb[tcpOff + 16] = sum >>> 8;
  sb[tcpOff + 17] = sum & 0xff;
  const partial: FrameOffload = { ...gso(0, 0), hdrLen: 0 };
  assertEquals(t.forward(sb, 14, small.length, REALS6[1], partial), TUN_SENT);
  assertEquals(sent.length, 1);
  assertEquals(checksum6(CLIENT6, VIP6, 6, sent[0].subarray(80)), 0, "completed in full");
  assertEquals([...sent[0].subarray(40)], [...small], "then the same packet as without offloads");
});
