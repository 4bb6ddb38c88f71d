/**
 * IPv6 addresses (RFC 4291) as 16-byte arrays: parsing the text forms of RFC 4291 2.2 (with "::"
 * and an embedded dotted IPv4 tail), the canonical text of RFC 5952 4 (lower case, leading zeros
 * dropped, the longest run of two or more zero groups as "::", the first such run on a tie), the
 * solicited-node multicast address of RFC 4291 2.7.1 and the Ethernet multicast address of
 * RFC 2464 7, and the scopes a host needs.
 *
 * @module
 */

import { parseIpv4 } from "./address.ts";

/** Parses an IPv6 address; null when `text` is not one (zone suffixes are not accepted). */
export function parseIpv6(text: string): Uint8Array | null {
  if (text.length < 2 || text.length > 45) return null;
  const out = new Uint8Array(16);
  const dbl = text.indexOf("::");
  if (dbl !== text.lastIndexOf("::")) return null;
  const head = dbl >= 0 ? text.slice(0, dbl) : text;
  const tail = dbl >= 0 ? text.slice(dbl + 2) : "";
  const groups = (part: string): number[] | null => {
    if (part === "") return [];
    const out: number[] = [];
    const pieces = part.split(":");
    for (let i = 0; i < pieces.length; i++) {
      const p = pieces[i];
      if (i === pieces.length - 1 && p.includes(".")) {
        const v4 = parseIpv4(p);
        if (v4 === null) return null;
        out.push(v4 >>> 16, v4 & 0xffff);
      } else {
        if (!/^[0-9a-fA-F]{1,4}$/.test(p)) return null;
        out.push(parseInt(p, 16));
      }
    }
    return out;
  };
  const h = groups(head);
  const t = groups(tail);
  if (h === null || t === null) return null;
  if (dbl < 0 ? h.length !== 8 : h.length + t.length > 7) return null;
  const all = dbl < 0 ? h : [...h, ...new Array(8 - h.length - t.length).fill(0), ...t];
  for (let i = 0; i < 8; i++) {
    out[2 * i] = all[i] >> 8;
    out[2 * i + 1] = all[i] & 0xff;
  }
  return out;
}

/** The canonical text of `a[off .. off+16)` (RFC 5952 4). */
export function formatIpv6(a: Uint8Array, off = 0): string {
  const g: number[] = [];
  for (let i = 0; i < 8; i++) g.push((a[off + 2 * i] << 8) | a[off + 2 * i + 1]);
  // RFC 5952 4.2: the longest run of zero groups (two or more), the first one on a tie.
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8;) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  // RFC 5952 5: an IPv4-mapped address keeps its dotted tail.
  if (g[0] === 0 && g[1] === 0 && g[2] === 0 && g[3] === 0 && g[4] === 0 && g[5] === 0xffff) {
    return `::ffff:${a[off + 12]}.${a[off + 13]}.${a[off + 14]}.${a[off + 15]}`;
  }
  const hex = (from: number, to: number) => g.slice(from, to).map((x) => x.toString(16)).join(":");
  if (best < 0) return hex(0, 8);
  return `${hex(0, best)}::${hex(best + bestLen, 8)}`;
}

/** True when `a[off..]` is a multicast address (ff00::/8, RFC 4291 2.7). */
export function isIpv6Multicast(a: Uint8Array, off = 0): boolean {
  return a[off] === 0xff;
}

/** True when `a[off..]` is link-local unicast (fe80::/10, RFC 4291 2.5.6). */
export function isIpv6LinkLocal(a: Uint8Array, off = 0): boolean {
  return a[off] === 0xfe && (a[off + 1] & 0xc0) === 0x80;
}

/** True when `a[off..]` is the unspecified address :: (RFC 4291 2.5.2). */
export function isIpv6Unspecified(a: Uint8Array, off = 0): boolean {
  for (let i = 0; i < 16; i++) if (a[off + i] !== 0) return false;
  return true;
}

/**
 * The solicited-node multicast address of `a` (RFC 4291 2.7.1): ff02::1:ff00:0/104 with the low
 * 24 bits of the address, where Neighbor Solicitations for it are sent (RFC 4861 7.2.2).
 */
export function solicitedNode(a: Uint8Array, off = 0): Uint8Array {
  const out = new Uint8Array(16);
  out[0] = 0xff;
  out[1] = 0x02;
  out[11] = 0x01;
  out[12] = 0xff;
  out[13] = a[off + 13];
  out[14] = a[off + 14];
  out[15] = a[off + 15];
  return out;
}

/** The Ethernet address an IPv6 multicast group maps to: 33:33 and its low 32 bits (RFC 2464 7). */
export function multicastMac(a: Uint8Array, off = 0): Uint8Array {
  return new Uint8Array([0x33, 0x33, a[off + 12], a[off + 13], a[off + 14], a[off + 15]]);
}

/** True when `a[aOff ..+16)` and `b[bOff ..+16)` are the same address. Allocates nothing. */
export function equalIpv6(a: Uint8Array, aOff: number, b: Uint8Array, bOff = 0): boolean {
  for (let i = 0; i < 16; i++) if (a[aOff + i] !== b[bOff + i]) return false;
  return true;
}
