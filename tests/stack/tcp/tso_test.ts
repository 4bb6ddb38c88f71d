/**
 * Segmentation offload helpers (stack/tcp/tso.ts): super-frame sizes, and the partial checksum
 * that the kernel (here: completePartialChecksum, as skb_checksum_help) completes into the real
 * one, checked against a textbook checksum over the pseudo-header.
 */
import fc from "fast-check";
import { assertEquals } from "../../assert.ts";
import {
  completePartialChecksum,
  newFrameOffload,
  VNET_F_NEEDS_CSUM,
  VNET_GSO_NONE,
  VNET_GSO_TCPV4,
} from "../../../stack/link/offload.ts";
import { NewReno } from "../../../stack/tcp/congestion/newreno.ts";
import { RttEstimator } from "../../../stack/tcp/rto.ts";
import { SackScoreboard } from "../../../stack/tcp/sack_scoreboard.ts";
import { Tcb } from "../../../stack/tcp/tcb.ts";
import {
  setTxOffload,
  tsoMaxPayload,
  tsoSegmentCap,
  writePartialChecksum,
} from "../../../stack/tcp/tso.ts";
import { checksum } from "../net/_frames.ts";

function tcb(mss: number, cwnd: number, sndWnd: number): Tcb {
  const t = new Tcb(1, 2, 3, 4, 0, new RttEstimator(), new NewReno(), new SackScoreboard());
  t.opts.mss = mss;
  t.cong.cwnd = cwnd;
  t.snd.wnd = sndWnd;
  return t;
}

Deno.test("super-frame size: half the usable window in whole MSS, within a 64 KB datagram", () => {
  assertEquals(tsoSegmentCap(tcb(1448, 1 << 24, 1 << 24)), 45 * 1448, "65535 - 80 bytes max");
  assertEquals(tsoSegmentCap(tcb(1448, 10 * 1448, 1 << 20)), 5 * 1448, "IW10: two frames of 5");
  assertEquals(tsoSegmentCap(tcb(1448, 1 << 24, 8 * 1448)), 4 * 1448, "the peer's window");
  assertEquals(tsoSegmentCap(tcb(1448, 3 * 1448, 1 << 20)), 1448, "one MSS when too small");
  assertEquals(tsoSegmentCap(tcb(1448, 1 << 20, 0)), 1448, "a zero window: one MSS");
  assertEquals(tsoSegmentCap(tcb(536, 1 << 24, 1 << 24)), 122 * 536);
});

Deno.test("the largest payload of a super-frame keeps the datagram within 65535 bytes", () => {
  assertEquals(tsoMaxPayload(1448, 12), 45 * 1448);
  assertEquals(tsoMaxPayload(1460, 0), 44 * 1460);
  assertEquals(tsoMaxPayload(1428, 32), 45 * 1428);
  for (const [g, o] of [[1448, 12], [536, 40], [1000, 20], [9000, 0]]) {
    const p = tsoMaxPayload(g, o);
    assertEquals(p % g, 0);
    assertEquals(20 + 20 + o + p <= 65535 && 20 + 20 + o + p + g > 65535, true, `${g}/${o}`);
  }
});

Deno.test("setTxOffload: NEEDS_CSUM at the TCP checksum; TCPV4 only with a segment size", () => {
  const o = newFrameOffload();
  setTxOffload(o, 32, 1448);
  assertEquals(o, {
    flags: VNET_F_NEEDS_CSUM,
    gsoType: VNET_GSO_TCPV4,
    hdrLen: 14 + 20 + 32,
    gsoSize: 1448,
    csumStart: 34,
    csumOffset: 16,
  });
  setTxOffload(o, 20, 0);
  assertEquals([o.gsoType, o.gsoSize, o.hdrLen, o.flags], [VNET_GSO_NONE, 0, 54, 1]);
});

/** A frame: Ethernet, IPv4 (20), TCP (20 + opt) and payload, with the TCP checksum zero. */
function segment(src: number, dst: number, opt: number, payload: Uint8Array): Uint8Array {
  const tcpLen = 20 + opt + payload.length;
  const f = new Uint8Array(14 + 20 + tcpLen);
  f[12] = 0x08;
  f[14] = 0x45;
  f[16] = (20 + tcpLen) >>> 8;
  f[17] = (20 + tcpLen) & 0xff;
  f[23] = 6;
  for (let i = 0; i < 4; i++) {
    f[26 + i] = (src >>> (24 - 8 * i)) & 0xff;
    f[30 + i] = (dst >>> (24 - 8 * i)) & 0xff;
  }
  f[34] = 0x9c; // ports, sequence numbers, flags: arbitrary but fixed
  f[36] = 0x00;
  f[37] = 0x50;
  f[38] = 0x12;
  f[45] = 0x34;
  f[46] = ((20 + opt) / 4) << 4;
  f[47] = 0x18;
  f[48] = 0xff;
  for (let i = 0; i < opt; i++) f[54 + i] = i === 0 ? 1 : 0x55;
  f.set(payload, 54 + opt);
  return f;
}

/** The TCP checksum from scratch: pseudo-header + segment with a zero field (RFC 9293 3.1). */
function textbook(f: Uint8Array, src: number, dst: number): number {
  const tcpLen = f.length - 34;
  const p = new Uint8Array(12 + tcpLen);
  for (let i = 0; i < 4; i++) {
    p[i] = (src >>> (24 - 8 * i)) & 0xff;
    p[4 + i] = (dst >>> (24 - 8 * i)) & 0xff;
  }
  p[9] = 6;
  p[10] = tcpLen >>> 8;
  p[11] = tcpLen & 0xff;
  p.set(f.subarray(34), 12);
  p[12 + 16] = 0;
  p[12 + 17] = 0;
  return checksum(p);
}

Deno.test("a partial checksum completed in software equals the checksum from scratch", () => {
  // Known bytes: 10.0.0.1 -> 10.0.0.2, 12 option bytes, 3000 payload bytes (a 3-segment frame).
  const payload = new Uint8Array(3000).map((_, i) => (i * 31 + 7) & 0xff);
  const f = segment(0x0a000001, 0x0a000002, 12, payload);
  writePartialChecksum(f, 34, f.length - 34, 0x0a000001, 0x0a000002);
  // The field holds the folded pseudo-header sum, not complemented: 0x0a00+0x0001+0x0a00+0x0002
  // +6+(20+12+3000).
  assertEquals((f[50] << 8) | f[51], 0x0a00 + 1 + 0x0a00 + 2 + 6 + 3032);
  const o = newFrameOffload();
  setTxOffload(o, 32, 1448);
  assertEquals(completePartialChecksum(f, 0, f.length, o), true);
  assertEquals((f[50] << 8) | f[51], textbook(f, 0x0a000001, 0x0a000002));
});

Deno.test("property: partial then completed equals from scratch for any length and address", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 0xffffffff }),
      fc.integer({ min: 0, max: 0xffffffff }),
      fc.constantFrom(0, 12, 20, 40),
      fc.uint8Array({ minLength: 0, maxLength: 9001 }),
      (src, dst, opt, payload) => {
        const f = segment(src, dst, opt, payload);
        writePartialChecksum(f, 34, f.length - 34, src, dst);
        const o = newFrameOffload();
        setTxOffload(o, 20 + opt, 0);
        completePartialChecksum(f, 0, f.length, o);
        const got = (f[50] << 8) | f[51];
        const want = textbook(f, src, dst);
        // 0x0000 and 0xffff are the two ones'-complement zeros (RFC 1071): either verifies.
        const zero = (c: number) => c === 0 || c === 0xffff;
        if (!(zero(got) && zero(want))) assertEquals(got, want);
      },
    ),
    { numRuns: 200 },
  );
});
