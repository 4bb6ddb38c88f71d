/**
 * The virtio-net header (struct virtio_net_hdr, little-endian) read and written against known
 * bytes, and a partial checksum completed in software compared with a checksum computed from
 * scratch.
 */
import { assert, assertEquals } from "../../assert.ts";
import {
  clearOffload,
  completePartialChecksum,
  copyOffload,
  hasOffload,
  newFrameOffload,
  readVnetHeader,
  VNET_F_NEEDS_CSUM,
  VNET_GSO_TCPV4,
  VNET_HDR_LEN,
  writeVnetHeader,
} from "../../../stack/link/offload.ts";
import { checksum, concat, eth, ip, ipv4, mac, pattern, r16, udp } from "../net/_frames.ts";

/** A TCP/IPv4 super-frame's header: partial checksum, MSS 1448 (1500 minus timestamps). */
const KNOWN = new Uint8Array([
  0x01, // flags: NEEDS_CSUM
  0x01, // gso_type: TCPV4
  0x42,
  0x00, // hdr_len 66 (14 + 20 + 32)
  0xa8,
  0x05, // gso_size 1448
  0x22,
  0x00, // csum_start 34 (14 + 20)
  0x10,
  0x00, // csum_offset 16
]);

Deno.test("vnet header: known bytes read into the fields, little-endian", () => {
  const o = newFrameOffload();
  const buf = concat(new Uint8Array([0xee, 0xee, 0xee]), KNOWN);
  readVnetHeader(buf, 3, o);
  assertEquals(o, {
    flags: 1,
    gsoType: 1,
    hdrLen: 66,
    gsoSize: 1448,
    csumStart: 34,
    csumOffset: 16,
  });
  assert(hasOffload(o));
});

Deno.test("vnet header: fields written as the known bytes; nothing outside the 10 bytes", () => {
  const o = { flags: 1, gsoType: 1, hdrLen: 66, gsoSize: 1448, csumStart: 34, csumOffset: 16 };
  const buf = new Uint8Array(VNET_HDR_LEN + 4).fill(0xee);
  writeVnetHeader(buf, 2, o);
  assertEquals(Array.from(buf.subarray(2, 12)), Array.from(KNOWN));
  assertEquals([buf[0], buf[1], buf[12], buf[13]], [0xee, 0xee, 0xee, 0xee]);
  // Large values keep both bytes (a 64 KB hdr_len hint, csum_start past 255).
  writeVnetHeader(buf, 0, {
    flags: 2,
    gsoType: 0x81,
    hdrLen: 0xfedc,
    gsoSize: 0xffff,
    csumStart: 0x0102,
    csumOffset: 6,
  });
  assertEquals(
    Array.from(buf.subarray(0, 10)),
    [2, 0x81, 0xdc, 0xfe, 0xff, 0xff, 0x02, 0x01, 6, 0],
  );
});

Deno.test("vnet header: clear and copy", () => {
  const a = { flags: 1, gsoType: 1, hdrLen: 66, gsoSize: 1448, csumStart: 34, csumOffset: 16 };
  const b = newFrameOffload();
  copyOffload(a, b);
  assertEquals(b, a);
  clearOffload(b);
  assertEquals(b, newFrameOffload());
  assert(!hasOffload(b));
  assertEquals(a.gsoSize, 1448, "the source is untouched");
  assertEquals(VNET_GSO_TCPV4, 1);
});

/** The folded pseudo-header sum, NOT complemented: what the kernel leaves in a partial field. */
function pseudoPartial(src: number, dst: number, proto: number, len: number): number {
  let s = (src >>> 16) + (src & 0xffff) + (dst >>> 16) + (dst & 0xffff) + proto + len;
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return s;
}

Deno.test("partial checksum: completed in software equals the full checksum (UDP, odd length)", () => {
  const src = ip("10.1.2.3");
  const dst = ip("192.168.200.17");
  const full = udp(src, dst, 5353, 53, pattern(101, 9));
  const frame = concat(
    eth(mac("02:00:00:00:00:01"), mac("02:00:00:00:00:02"), 0x0800),
    ipv4({ src, dst, protocol: 17 }, full),
  );
  const expected = r16(frame, 14 + 20 + 6);
  // The kernel's form: the pseudo-header sum in the field.
  const p = pseudoPartial(src, dst, 17, full.length);
  frame[40] = p >>> 8;
  frame[41] = p & 0xff;
  const o = { flags: VNET_F_NEEDS_CSUM, gsoType: 0, hdrLen: 42, gsoSize: 0, csumStart: 34 };
  const buf = concat(new Uint8Array(6), frame);
  assert(completePartialChecksum(buf, 6, frame.length, { ...o, csumOffset: 6 }));
  assertEquals(r16(buf, 6 + 40), expected);
  // And the completed datagram verifies from scratch.
  const pseudo = new Uint8Array(12 + full.length);
  pseudo.set(frame.subarray(26, 34), 0);
  pseudo[9] = 17;
  pseudo[10] = full.length >>> 8;
  pseudo[11] = full.length & 0xff;
  pseudo.set(buf.subarray(6 + 34, 6 + frame.length), 12);
  assertEquals(checksum(pseudo), 0);
});

Deno.test("partial checksum: a range outside the frame is refused, nothing written", () => {
  const buf = pattern(60);
  const before = buf.slice();
  const o = newFrameOffload();
  o.flags = VNET_F_NEEDS_CSUM;
  o.csumStart = 34;
  o.csumOffset = 26; // field at 60..62: past the 60-byte frame
  assert(!completePartialChecksum(buf, 0, 60, o));
  o.csumStart = 4; // inside the Ethernet header
  o.csumOffset = 2;
  assert(!completePartialChecksum(buf, 0, 60, o));
  assertEquals(buf, before);
});
