import fc from "fast-check";
import {
  parseTcpOptions,
  TcpOptions,
  tcpOptionsLength,
  writeTcpOptions,
} from "../../../stack/wire/tcp_options.ts";
import { assert, assertEquals, hex, toHex } from "./_util.ts";

// scapy 2.5.0: the options of TCP(options=[("MSS",1460),("SAckOK",b""),("Timestamp",(12345,0)),
// ("NOP",None),("WScale",7)]), as Linux sends them on a SYN.
const SYN_OPTS = hex("020405b40402080a000030390000000001030307");
// scapy 2.5.0: the options of TCP(options=[("NOP",None),("NOP",None),("Timestamp",(1,2)),
// ("NOP",None),("NOP",None),("SAck",(1000,2000,3000,4000))]).
const ACK_OPTS = hex("0101080a00000001000000020101051200000" + "3e8000007d000000bb800000fa0");

function snapshot(o: TcpOptions): unknown[] {
  return [
    o.mss,
    o.windowScale,
    o.sackPermitted,
    o.hasTimestamp,
    o.tsVal,
    o.tsEcr,
    o.sackCount,
    Array.from(o.sackBlocks.slice(0, 2 * o.sackCount)),
  ];
}

Deno.test("parses the scapy SYN options and writes them back byte for byte", () => {
  const o = new TcpOptions();
  assertEquals(parseTcpOptions(SYN_OPTS, 0, SYN_OPTS.length, o), null);
  assertEquals(snapshot(o), [1460, 7, true, true, 12345, 0, 0, []]);
  assertEquals(tcpOptionsLength(o), 20);
  const out = new Uint8Array(20);
  assertEquals(writeTcpOptions(out, 0, o), 20);
  assertEquals(toHex(out), toHex(SYN_OPTS));
});

Deno.test("parses the scapy timestamp + SACK options and writes them back", () => {
  const o = new TcpOptions();
  assertEquals(parseTcpOptions(ACK_OPTS, 0, ACK_OPTS.length, o), null);
  assertEquals(snapshot(o), [-1, -1, false, true, 1, 2, 2, [1000, 2000, 3000, 4000]]);
  const out = new Uint8Array(32);
  assertEquals(writeTcpOptions(out, 0, o), 32);
  assertEquals(toHex(out), toHex(ACK_OPTS));
});

Deno.test("Linux layouts without timestamps: NOP NOP SACK_PERM, NOP WS", () => {
  const o = new TcpOptions();
  o.mss = 536;
  o.sackPermitted = true;
  o.windowScale = 14;
  const out = new Uint8Array(12);
  assertEquals(writeTcpOptions(out, 0, o), 12);
  assertEquals(toHex(out), "02040218" + "01010402" + "0103030e");
});

Deno.test("malformed lengths are rejected; unknown kinds and wrong-size known kinds skipped", () => {
  const o = new TcpOptions();
  const parse = (h: string) => parseTcpOptions(hex(h), 0, h.length / 2, o);
  assertEquals(parse("0200"), "tcp_bad_option"); // length 0
  assertEquals(parse("0201"), "tcp_bad_option"); // length 1
  assertEquals(parse("020405"), "tcp_bad_option"); // runs past the end
  assertEquals(parse("0101010102"), "tcp_bad_option"); // kind without a length byte
  assertEquals(parse("fe0400000204ffff"), null); // unknown kind 254 skipped by length
  assertEquals(o.mss, 0xffff);
  assertEquals(parse("020305" + "020405dc"), null); // MSS of length 3 ignored, next one used
  assertEquals(o.mss, 1500);
  assertEquals(parse("00" + "0200"), null); // EOL ends the list: garbage after it is padding
  assertEquals(o.mss, -1);
  assertEquals(parse("030310"), null); // RFC 7323 2.3: shift 16 is used as 14
  assertEquals(o.windowScale, 14);
  assertEquals(parse("050a0000000100000002"), null); // SACK of length 10 is one block
  assertEquals(snapshot(o)[7], [1, 2]);
  assertEquals(parse("05030000"), null); // SACK with a partial block: ignored
  assertEquals(o.sackCount, 0);
  assertEquals(parse(""), null);
});

Deno.test("SACK blocks that do not fit in 40 bytes are left out", () => {
  const o = new TcpOptions();
  o.sackCount = 4;
  o.sackBlocks.set([1, 2, 3, 4, 5, 6, 7, 8]);
  assertEquals(tcpOptionsLength(o), 36);
  o.hasTimestamp = true;
  assertEquals(tcpOptionsLength(o), 40); // 12 + 4 + 3 * 8
  const out = new Uint8Array(40);
  assertEquals(writeTcpOptions(out, 0, o), 40);
  const back = new TcpOptions();
  assertEquals(parseTcpOptions(out, 0, 40, back), null);
  assertEquals(back.sackCount, 3);
  assertEquals(Array.from(back.sackBlocks.slice(0, 6)), [1, 2, 3, 4, 5, 6]);
});

const optionsArb = fc.record({
  mss: fc.integer({ min: -1, max: 0xffff }),
  windowScale: fc.integer({ min: -1, max: 14 }),
  sackPermitted: fc.boolean(),
  hasTimestamp: fc.boolean(),
  tsVal: fc.nat(0xffffffff),
  tsEcr: fc.nat(0xffffffff),
  blocks: fc.array(fc.nat(0xffffffff), { minLength: 0, maxLength: 8, size: "max" }),
});

Deno.test("property: write -> parse round trip; length is tcpOptionsLength, 4-aligned, <= 40", () => {
  fc.assert(
    fc.property(optionsArb, fc.nat(3), (r, off) => {
      const o = new TcpOptions();
      o.mss = r.mss;
      o.windowScale = r.windowScale;
      o.sackPermitted = r.sackPermitted;
      o.hasTimestamp = r.hasTimestamp;
      o.tsVal = r.hasTimestamp ? r.tsVal : 0;
      o.tsEcr = r.hasTimestamp ? r.tsEcr : 0;
      o.sackCount = r.blocks.length >> 1;
      o.sackBlocks.set(r.blocks.slice(0, 2 * o.sackCount));
      const buf = new Uint8Array(44).fill(0xee);
      const n = writeTcpOptions(buf, off, o);
      assertEquals(n, tcpOptionsLength(o));
      assert(n % 4 === 0 && n <= 40);
      assert(buf[off + n] === 0xee || off + n === 44, "no write past the options");
      const back = new TcpOptions();
      assertEquals(parseTcpOptions(buf, off, n, back), null);
      const expected = snapshot(o);
      const fit = back.sackCount;
      assert(fit <= o.sackCount);
      expected[6] = fit;
      expected[7] = (expected[7] as number[]).slice(0, 2 * fit);
      assertEquals(snapshot(back), expected);
    }),
    { numRuns: 1000 },
  );
});

Deno.test("property: random bytes never throw and never read outside the range", () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 40, size: "max" }), (bytes) => {
      const results: unknown[] = [];
      for (const fill of [0x00, 0x02, 0xff]) {
        const buf = new Uint8Array(bytes.length + 8).fill(fill);
        buf.set(bytes, 4);
        const o = new TcpOptions();
        o.mss = 77; // must be reset by the parser
        const r = parseTcpOptions(buf, 4, bytes.length, o);
        results.push([r, r === null ? snapshot(o) : null]);
      }
      assertEquals(results[1], results[0]);
      assertEquals(results[2], results[0]);
    }),
    { numRuns: 2000 },
  );
});
