import fc from "fast-check";
import {
  checksumAdjust16,
  checksumAdjust32,
  foldChecksum,
  internetChecksum,
  pseudoHeaderSum,
  sumWords,
} from "../../../stack/wire/checksum.ts";
import { assert, assertEquals, hex } from "./_util.ts";

/** Reference RFC 1071 sum: 16-bit big-endian words one at a time, folded at the end. */
function referenceSum(bytes: Uint8Array): number {
  let s = 0;
  for (let i = 0; i < bytes.length; i += 2) {
    s += (bytes[i] << 8) | (i + 1 < bytes.length ? bytes[i + 1] : 0);
  }
  while (s > 0xffff) s = (s & 0xffff) + Math.floor(s / 65536);
  return s;
}

/** Folds an unfolded sum to 16 bits without complementing. */
function fold(s: number): number {
  return ~foldChecksum(s) & 0xffff;
}

Deno.test("RFC 1071 section 3 example: 00 01 f2 03 f4 f5 f6 f7 sums to ddf2", () => {
  const b = hex("0001f203f4f5f6f7");
  // RFC 1071 3: the 16-bit sums give 2ddf0, folded ddf2; the checksum is its complement 220d.
  assertEquals(fold(sumWords(b, 0, 8)), 0xddf2);
  assertEquals(internetChecksum(b, 0, 8), 0x220d);
});

Deno.test("real IPv4 headers: the computed checksum matches the one on the wire", () => {
  // Wikipedia "Internet checksum" / IPv4 header checksum example: checksum field 0x442e.
  const wiki = hex("45000030442240008006442e8c7c19acae241e2b");
  assertEquals(internetChecksum(wiki, 0, 20), 0);
  wiki[10] = 0;
  wiki[11] = 0;
  assertEquals(internetChecksum(wiki, 0, 20), 0x442e);
  // scapy 2.5.0: bytes(IP(src="10.0.0.1", dst="10.0.0.2", id=0x1234, flags="DF")/TCP(...))[:20].
  const scapy = hex("4500003c12344000400614860a0000010a000002");
  assertEquals(internetChecksum(scapy, 0, 20), 0);
  scapy[10] = 0;
  scapy[11] = 0;
  assertEquals(internetChecksum(scapy, 0, 20), 0x1486);
});

Deno.test("odd lengths pad with a zero byte; all-zero data folds to checksum 0xffff", () => {
  assertEquals(fold(sumWords(hex("ab"), 0, 1)), 0xab00);
  assertEquals(fold(sumWords(hex("0102ab"), 0, 3)), 0xac02);
  assertEquals(internetChecksum(new Uint8Array(100), 0, 100), 0xffff);
  assertEquals(foldChecksum(0), 0xffff);
  // A non-zero sum that is 0 modulo 0xffff folds to 0xffff, so the checksum is 0x0000.
  assertEquals(internetChecksum(hex("ffff"), 0, 2), 0);
  assertEquals(sumWords(hex("0001"), 0, 2, 5), 6);
});

Deno.test("property: sumWords equals the reference for any offset, alignment, length and acc", () => {
  fc.assert(
    fc.property(
      fc.uint8Array({ minLength: 0, maxLength: 3000, size: "max" }),
      fc.nat(7),
      fc.nat(7),
      fc.nat(0xfffff),
      fc.constantFrom(0x00, 0xff, 0x5a),
      (data, base, off, acc, fill) => {
        // `base` shifts the view's byteOffset in its ArrayBuffer, `off` the range in the view,
        // so every 4-byte alignment of the range start occurs; bytes around it are `fill`.
        const mem = new Uint8Array(base + off + data.length + 8).fill(fill);
        const view = new Uint8Array(mem.buffer, base);
        view.set(data, off);
        const got = sumWords(view, off, data.length, acc);
        assert(Number.isSafeInteger(got) && got >= 0);
        assertEquals(fold(got), fold(referenceSum(data) + acc));
        assertEquals(got === 0, acc === 0 && data.every((x) => x === 0));
      },
    ),
    { numRuns: 2000 },
  );
});

Deno.test("ranges ending at the very end of the buffer and long ranges (chunked) are exact", () => {
  const data = new Uint8Array(300_001);
  for (let i = 0; i < data.length; i++) data[i] = (i * 2654435761) >>> 24;
  for (const [off, len] of [[0, 300_001], [1, 300_000], [3, 299_998], [299_900, 101]]) {
    assertEquals(fold(sumWords(data, off, len)), referenceSum(data.slice(off, off + len)));
  }
  const ff = new Uint8Array(400_000).fill(0xff);
  assertEquals(fold(sumWords(ff, 0, ff.length)), 0xffff);
});

Deno.test("alternating between more buffers than the view cache holds stays exact", () => {
  const bufs = Array.from({ length: 6 }, (_, k) => {
    const b = new Uint8Array(256 + k);
    for (let i = 0; i < b.length; i++) b[i] = (i * 13 + k * 101) & 0xff;
    return b;
  });
  for (let round = 0; round < 5; round++) {
    for (const [k, b] of bufs.entries()) {
      const off = (round + k) % 4;
      assertEquals(fold(sumWords(b, off, 200)), referenceSum(b.slice(off, off + 200)));
    }
  }
});

Deno.test("buffers over a resizable ArrayBuffer take the byte loop and stay correct", () => {
  const rab = new ArrayBuffer(256, { maxByteLength: 1024 });
  const v = new Uint8Array(rab);
  for (let i = 0; i < 256; i++) v[i] = i;
  assertEquals(fold(sumWords(v, 3, 200)), referenceSum(v.slice(3, 203)));
});

Deno.test("pseudoHeaderSum equals the sum of the 12-byte pseudo-header (RFC 9293 3.1)", () => {
  fc.assert(
    fc.property(
      fc.nat(0xffffffff),
      fc.nat(0xffffffff),
      fc.nat(255),
      fc.nat(0xffff),
      (s, d, p, l) => {
        const ph = new Uint8Array(12);
        const dv = new DataView(ph.buffer);
        dv.setUint32(0, s);
        dv.setUint32(4, d);
        ph[9] = p;
        dv.setUint16(10, l);
        assertEquals(fold(pseudoHeaderSum(s, d, p, l)), referenceSum(ph));
      },
    ),
  );
});

/** A header-like block: word 0 is non-zero (as version/IHL, or a pseudo-header protocol). */
const headerArb = fc.uint8Array({ minLength: 4, maxLength: 60, size: "max" }).map((b) => {
  const out = b.length % 2 === 0 ? b : b.slice(0, b.length - 1);
  out[0] |= 0x40;
  return out;
});

Deno.test("property: checksumAdjust16 equals full recomputation (RFC 1624 eqn. 3)", () => {
  fc.assert(
    fc.property(headerArb, fc.nat(), fc.nat(0xffff), fc.boolean(), (data, pick, newWord, edge) => {
      const words = data.length >> 1;
      const idx = 2 + 2 * (pick % (words - 1)); // any word but word 0
      const before = internetChecksum(data, 0, data.length);
      const oldWord = (data[idx] << 8) | data[idx + 1];
      if (edge) {
        // RFC 1624 section 3's boundary: the rest of the data plus m' sums to 0xffff, so full
        // recomputation gives 0x0000, where eqn. 2 would give 0xffff.
        const rest = fold(sumWords(data, 0, data.length) + (~oldWord & 0xffff));
        newWord = (0xffff - rest) & 0xffff;
      }
      data[idx] = newWord >> 8;
      data[idx + 1] = newWord & 0xff;
      const after = internetChecksum(data, 0, data.length);
      assertEquals(checksumAdjust16(before, oldWord, newWord), after);
    }),
    { numRuns: 3000 },
  );
});

Deno.test("checksumAdjust16: RFC 1624 section 3 boundary and unchanged field", () => {
  // The other words sum to 0xcd7a; the field changes 0x5555 -> 0x3285 so the new sum is 0xffff.
  const buf = hex("cd7a5555");
  const hc = internetChecksum(buf, 0, 4);
  assertEquals(hc, 0xdd2f);
  buf[2] = 0x32;
  buf[3] = 0x85;
  assertEquals(internetChecksum(buf, 0, 4), 0x0000);
  assertEquals(checksumAdjust16(hc, 0x5555, 0x3285), 0x0000);
  // RFC 1624 eqn. 2 (HC + m + ~m') would give 0xffff here: -0 instead of +0.
  // Adjusting by an unchanged value leaves any checksum but 0xffff unchanged (errata 4782 case).
  for (const c of [0x0000, 0x1234, 0xfffe]) assertEquals(checksumAdjust16(c, 0x5555, 0x5555), c);
});

Deno.test("property: checksumAdjust32 equals full recomputation", () => {
  fc.assert(
    fc.property(headerArb, fc.nat(0xffffffff), (data, value) => {
      if (data.length < 8) return;
      const before = internetChecksum(data, 0, data.length);
      const dv = new DataView(data.buffer, data.byteOffset);
      const old = dv.getUint32(4);
      dv.setUint32(4, value);
      assertEquals(checksumAdjust32(before, old, value), internetChecksum(data, 0, data.length));
    }),
    { numRuns: 3000 },
  );
  // Two 16-bit adjusts make one 32-bit adjust.
  assertEquals(
    checksumAdjust32(0xb1e6, 0xc0a80001, 0x0a000063),
    checksumAdjust16(checksumAdjust16(0xb1e6, 0xc0a8, 0x0a00), 0x0001, 0x0063),
  );
});
