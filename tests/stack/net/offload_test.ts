/**
 * The stack on a device with offloads (stack/link/offload.ts), driven frame by frame:
 * - input: a TCP/UDP checksum marked partial (NEEDS_CSUM) or verified (DATA_VALID) is not
 *   checked again, the same bytes without the metadata are dropped as a bad checksum, and a
 *   fragment never inherits the trust; a TCP super-frame (longer than the MTU) is taken by TCP as
 *   one segment and counted as "link.rx_gso";
 * - output: a super-frame sent with its metadata goes out whole despite DF (counted as
 *   "link.tx_gso"), and while the next hop is resolved nothing else (an ARP request) carries its
 *   metadata; a packet that must wait for ARP is queued plain (partial checksum completed) or,
 *   a super-frame, dropped and counted.
 */
import { assert, assertEquals } from "../../assert.ts";
import { FakeClock } from "../../../stack/clock.ts";
import { createMemoryDevice, type MemoryDevice } from "../../../stack/link/memory.ts";
import {
  type FrameOffload,
  newFrameOffload,
  VNET_F_DATA_VALID,
  VNET_F_NEEDS_CSUM,
  VNET_GSO_TCPV4,
} from "../../../stack/link/offload.ts";
import { Stack } from "../../../stack/net/stack.ts";
import { ACK, buildFrame, parseFrame, PEER_MAC, type Seg, SYN } from "../tcp/_peer.ts";
import { arp, checksum, concat, eth, ip, ipv4, mac, pattern, r16, udp } from "./_frames.ts";

const US = ip("10.0.0.1");
const PEER = ip("10.0.0.2");
const FAR = ip("10.0.0.9");
const US_MAC = mac("02:00:00:00:00:01");
const FAR_MAC = mac("02:00:00:00:00:09");

function setup() {
  const dev = createMemoryDevice({ mac: US_MAC, capture: true, offload: true });
  const clock = new FakeClock(1_000);
  const stack = new Stack({ device: dev, address: US, prefix: 24, clock });
  stack.arp.addStatic(PEER, PEER_MAC);
  // The sender's own metadata object, passed to sendIpv4 with each packet.
  return { dev, stack, clock, rx: dev.rxOffload!, tx: newFrameOffload() };
}

/** The folded pseudo-header sum, not complemented: the partial checksum the kernel leaves. */
function partialSum(src: number, dst: number, proto: number, len: number): number {
  let s = (src >>> 16) + (src & 0xffff) + (dst >>> 16) + (dst & 0xffff) + proto + len;
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return s;
}

/** Rewrites the L4 checksum of `frame` (IPv4 at 14, no options) into the kernel's partial form. */
function makePartial(frame: Uint8Array, field: number): Uint8Array {
  const ipLen = r16(frame, 16);
  const p = partialSum(
    (frame[26] << 24 | frame[27] << 16 | frame[28] << 8 | frame[29]) >>> 0,
    (frame[30] << 24 | frame[31] << 16 | frame[32] << 8 | frame[33]) >>> 0,
    frame[23],
    ipLen - 20,
  );
  frame[34 + field] = p >>> 8;
  frame[34 + field + 1] = p & 0xff;
  return frame;
}

function setMeta(o: FrameOffload, v: Partial<FrameOffload>): void {
  Object.assign(o, newFrameOffload(), v);
}

/** Feeds one frame with metadata `meta` (zeros when omitted), then flushes TCP. */
function feed(stack: Stack, rx: FrameOffload, f: Uint8Array, meta: Partial<FrameOffload> = {}) {
  setMeta(rx, meta);
  // Aligned as the TAP hands frames over (IP header on a 4-byte boundary).
  const buf = new Uint8Array(f.length + 2);
  buf.set(f, 2);
  stack.input(buf, 2, f.length);
  setMeta(rx, {});
  stack.tcp.flush();
}

function sentSegs(dev: MemoryDevice): Seg[] {
  return dev.takeSent().map(parseFrame).filter((s): s is Seg => s !== null);
}

const NEEDS_CSUM_TCP = { flags: VNET_F_NEEDS_CSUM, csumStart: 34, csumOffset: 16 };

Deno.test("offload input: a partial TCP checksum is accepted; the same bytes without metadata are not", () => {
  const { dev, stack, rx } = setup();
  const listener = stack.listen({ port: 80 });
  const syn = makePartial(
    buildFrame({ sport: 4000, dport: 80, seq: 1000, ack: 0, flags: SYN, win: 65535 }, US_MAC),
    16,
  );
  feed(stack, rx, syn);
  assertEquals(stack.counters.get("drop.tcp_bad_checksum"), 1, "plain: the partial sum is wrong");
  assertEquals(sentSegs(dev), []);
  feed(stack, rx, syn, NEEDS_CSUM_TCP);
  const out = sentSegs(dev);
  assertEquals(out.length, 1);
  assertEquals(out[0].flags, SYN | ACK);
  assertEquals(out[0].ack, 1001);
  // DATA_VALID: the kernel checked it; any field value passes.
  const syn2 = buildFrame(
    { sport: 4001, dport: 80, seq: 7, ack: 0, flags: SYN, win: 9000 },
    US_MAC,
  );
  syn2[50] ^= 0x5a;
  feed(stack, rx, syn2);
  assertEquals(stack.counters.get("drop.tcp_bad_checksum"), 2);
  feed(stack, rx, syn2, { flags: VNET_F_DATA_VALID });
  assertEquals(sentSegs(dev).map((s) => s.flags), [SYN | ACK]);
  assertEquals(stack.rxChecksumTrusted, false, "the trust ends with the frame");
  listener.close();
  stack.close();
});

Deno.test("offload input: UDP partial checksum delivered; a fragment never inherits the trust", async () => {
  const { stack, rx } = setup();
  const sock = stack.listenDatagram({ port: 53, hostname: "0.0.0.0", transport: "udp" });
  const got: string[] = [];
  const reading = (async () => {
    for (let i = 0; i < 1; i++) {
      const [data] = await sock.receive();
      got.push(new TextDecoder().decode(data));
    }
  })();
  const d = udp(PEER, US, 5000, 53, new TextEncoder().encode("partial"));
  const f = makePartial(
    concat(eth(US_MAC, PEER_MAC, 0x0800), ipv4({ src: PEER, dst: US, protocol: 17 }, d)),
    6,
  );
  feed(stack, rx, f);
  assertEquals(stack.counters.get("drop.udp_bad_checksum"), 1);
  feed(stack, rx, f, { flags: VNET_F_NEEDS_CSUM, csumStart: 34, csumOffset: 6 });
  await reading;
  assertEquals(got, ["partial"]);
  // A datagram in two fragments with a broken checksum, each fragment marked DATA_VALID: the
  // metadata is about one frame, not the reassembled datagram, so the check runs and fails.
  const big = udp(PEER, US, 5000, 53, pattern(100));
  big[6] ^= 0xff;
  const first = ipv4({ src: PEER, dst: US, protocol: 17, id: 9, mf: true }, big.subarray(0, 56));
  const second = ipv4({ src: PEER, dst: US, protocol: 17, id: 9, offset: 56 }, big.subarray(56));
  feed(stack, rx, concat(eth(US_MAC, PEER_MAC, 0x0800), first), { flags: VNET_F_DATA_VALID });
  feed(stack, rx, concat(eth(US_MAC, PEER_MAC, 0x0800), second), { flags: VNET_F_DATA_VALID });
  assertEquals(stack.counters.get("drop.udp_bad_checksum"), 2);
  sock.close();
  stack.close();
});

Deno.test("offload input: a 30000-byte TCP super-frame is one segment to TCP, counted", async () => {
  const { dev, stack, clock, rx } = setup();
  const listener = stack.listen({ port: 80 });
  feed(
    stack,
    rx,
    buildFrame(
      { sport: 4000, dport: 80, seq: 1000, ack: 0, flags: SYN, win: 65535, mss: 1460 },
      US_MAC,
    ),
  );
  const synAck = sentSegs(dev)[0];
  assertEquals(synAck.flags, SYN | ACK);
  const iss1 = (synAck.seq + 1) >>> 0;
  feed(
    stack,
    rx,
    buildFrame({ sport: 4000, dport: 80, seq: 1001, ack: iss1, flags: ACK, win: 65535 }, US_MAC),
  );
  const conn = await listener.accept();
  const data = pattern(30000, 3);
  const sf = makePartial(
    buildFrame(
      { sport: 4000, dport: 80, seq: 1001, ack: iss1, flags: ACK | 8, win: 65535, data },
      US_MAC,
    ),
    16,
  );
  assert(sf.length > 1518, "longer than any plain frame");
  feed(stack, rx, sf, { ...NEEDS_CSUM_TCP, gsoType: VNET_GSO_TCPV4, gsoSize: 1460, hdrLen: 54 });
  assertEquals(stack.counters.get("link.rx_gso"), 1);
  assertEquals(stack.counters.get("drop.tcp_bad_checksum"), 0);
  assertEquals(stack.counters.get("tcp.rx_bytes"), 30000, "taken whole, in order");
  // Acknowledged in full (by the delayed ACK: one segment of this size is not two full-sized).
  clock.advance(200);
  stack.tcp.runTimers();
  assertEquals(sentSegs(dev).at(-1)?.ack, 1001 + 30000, "all of it acknowledged");
  const got = new Uint8Array(30000);
  let n = 0;
  for (let i = 0; i < 100 && n < got.length; i++) {
    const r = await conn.read(got.subarray(n));
    if (r === null) break;
    n += r;
  }
  assertEquals(n, 30000);
  assertEquals(got, data);
  conn.close();
  listener.close();
  stack.close();
});

/** A TCP/IPv4 packet of `payload` bytes from US to `dst` with DF, in a buffer with headroom. */
function bigTcp(dst: number, payload: number): { buf: Uint8Array; ipOff: number; ipLen: number } {
  const f = buildFrame(
    { sport: 80, dport: 4000, seq: 5, ack: 6, flags: ACK, win: 1000, data: pattern(payload) },
    FAR_MAC,
    US,
    dst,
  );
  const buf = new Uint8Array(f.length + 18);
  buf.set(f, 18);
  return { buf, ipOff: 32, ipLen: f.length - 14 };
}

Deno.test("offload output: a super-frame with DF goes out whole with its metadata, counted", () => {
  const { dev, stack, tx } = setup();
  stack.arp.addStatic(FAR, FAR_MAC);
  const p = bigTcp(FAR, 20000);
  const gso = { ...NEEDS_CSUM_TCP, gsoType: VNET_GSO_TCPV4, gsoSize: 1448, hdrLen: 54 };
  setMeta(tx, gso);
  assert(stack.sendIpv4Via(p.buf, p.ipOff, p.ipLen, FAR, tx));
  assertEquals(tx, { ...newFrameOffload(), ...gso }, "the caller's metadata is only read");
  const sent = dev.takeSent();
  const meta = dev.takeSentOffload();
  assertEquals(sent.length, 1);
  assertEquals(sent[0].length, 14 + p.ipLen);
  assertEquals(meta[0].gsoType, VNET_GSO_TCPV4);
  assertEquals(meta[0].gsoSize, 1448);
  assertEquals(stack.counters.get("link.tx_gso"), 1);
  assertEquals(stack.counters.get("drop.tx_frag_needed"), 0);
  // The same packet plain: refused for DF, as before.
  assert(!stack.sendIpv4Via(p.buf, p.ipOff, p.ipLen, FAR));
  assertEquals(stack.counters.get("drop.tx_frag_needed"), 1);
  stack.close();
});

Deno.test("offload output: waiting for ARP, the request carries no metadata; a super-frame is dropped", () => {
  const { dev, stack, tx } = setup();
  const p = bigTcp(FAR, 20000);
  const gso = { ...NEEDS_CSUM_TCP, gsoType: VNET_GSO_TCPV4, gsoSize: 1448, hdrLen: 54 };
  setMeta(tx, gso);
  assert(!stack.sendIpv4(p.buf, p.ipOff, p.ipLen, tx));
  assertEquals(stack.counters.get("drop.tx_gso_unresolved"), 1);
  assertEquals(tx, { ...newFrameOffload(), ...gso }, "the caller's metadata is only read");
  assertEquals(dev.takeSent().length, 0, "no ARP request for a packet that is not queued");

  // A plain-sized segment with a partial checksum: completed and queued; the ARP request that
  // goes out meanwhile is a plain frame.
  const small = bigTcp(FAR, 500);
  const full = r16(small.buf, small.ipOff + 20 + 16);
  makePartial(small.buf.subarray(small.ipOff - 14), 16);
  assert(r16(small.buf, small.ipOff + 36) !== full);
  setMeta(tx, NEEDS_CSUM_TCP);
  assert(stack.sendIpv4(small.buf, small.ipOff, small.ipLen, tx), "queued");
  const req = dev.takeSent();
  assertEquals(req.length, 1);
  assertEquals(r16(req[0], 12), 0x0806, "an ARP request");
  assertEquals(dev.takeSentOffload(), [newFrameOffload()]);
  // The reply releases the queued packet: plain, its checksum complete.
  const reply = concat(
    eth(US_MAC, FAR_MAC, 0x0806),
    arp(2, FAR_MAC, FAR, US_MAC, US),
  );
  stack.input(reply, 0, reply.length);
  const out = dev.takeSent();
  assertEquals(out.length, 1);
  assertEquals(dev.takeSentOffload(), [newFrameOffload()]);
  assertEquals(r16(out[0], 14 + 20 + 16), full, "the full checksum, computed from scratch");
  const pseudo = new Uint8Array(12 + small.ipLen - 20);
  pseudo.set(out[0].subarray(26, 34), 0);
  pseudo[9] = 6;
  pseudo[10] = (small.ipLen - 20) >>> 8;
  pseudo[11] = (small.ipLen - 20) & 0xff;
  pseudo.set(out[0].subarray(34), 12);
  assertEquals(checksum(pseudo), 0);
  stack.close();
});
