/**
 * Ethernet II frames (IEEE 802.3, RFC 894) with an optional IEEE 802.1Q VLAN tag. The FCS is not
 * part of the frame: the TAP device neither delivers nor expects it.
 *
 * Layout: destination MAC (6), source MAC (6), EtherType (2) | with a tag: TPID 0x8100 (2),
 * TCI (2: PCP 3 bits, DEI 1 bit, VLAN ID 12 bits), inner EtherType (2).
 *
 * @module
 */

import { readU16, writeU16 } from "./bytes.ts";
import { WireView } from "./view.ts";

/** Length of an untagged Ethernet header. */
export const ETH_HEADER_LEN = 14;
/** Length of an Ethernet header carrying one 802.1Q tag. */
export const ETH_VLAN_HEADER_LEN = 18;
/** EtherType of IPv4 (RFC 894). */
export const ETH_TYPE_IPV4 = 0x0800;
/** EtherType of ARP (RFC 826). */
export const ETH_TYPE_ARP = 0x0806;
/** EtherType of IPv6 (RFC 2464). */
export const ETH_TYPE_IPV6 = 0x86dd;
/** Tag protocol identifier of an IEEE 802.1Q VLAN tag. */
export const ETH_TYPE_VLAN = 0x8100;

const DST = 0;
const SRC = 6;
const TYPE = 12;
const TCI = 14;
const INNER_TYPE = 16;

/** A view over one Ethernet frame `buf[off .. off+len)`; re-point it with `wrap`. */
export class EthernetView extends WireView {
  /**
   * Null when the header (including a VLAN tag, if any) fits in the frame, so every accessor is
   * safe; otherwise "eth_truncated" or "eth_vlan_truncated".
   */
  check(): string | null {
    if (this.len < ETH_HEADER_LEN) return "eth_truncated";
    if (this.tagged && this.len < ETH_VLAN_HEADER_LEN) return "eth_vlan_truncated";
    return null;
  }

  /** True when the frame carries an 802.1Q tag. */
  get tagged(): boolean {
    return readU16(this.buf, this.off + TYPE) === ETH_TYPE_VLAN;
  }

  /** The EtherType of the payload: the inner one after an 802.1Q tag. */
  get etherType(): number {
    return this.tagged
      ? readU16(this.buf, this.off + INNER_TYPE)
      : readU16(this.buf, this.off + TYPE);
  }

  /** Sets the EtherType of the payload (the inner one when tagged). */
  set etherType(v: number) {
    writeU16(this.buf, this.off + (this.tagged ? INNER_TYPE : TYPE), v);
  }

  /** The 12-bit VLAN ID of the tag, or -1 when the frame is untagged. */
  get vlanId(): number {
    return this.tagged ? readU16(this.buf, this.off + TCI) & 0x0fff : -1;
  }

  /** The 3-bit priority code point of the tag, or -1 when the frame is untagged. */
  get vlanPriority(): number {
    return this.tagged ? this.buf[this.off + TCI] >>> 5 : -1;
  }

  /** Header length: 14, or 18 with an 802.1Q tag. */
  get headerLen(): number {
    return this.tagged ? ETH_VLAN_HEADER_LEN : ETH_HEADER_LEN;
  }

  /** Absolute index in `buf` of the payload (the IPv4 header or ARP packet). */
  get payloadOffset(): number {
    return this.off + this.headerLen;
  }

  /** Length of the payload (including any padding up to the 60-byte minimum frame). */
  get payloadLen(): number {
    return this.len - this.headerLen;
  }

  /** Absolute index in `buf` of the destination MAC. */
  get dstOffset(): number {
    return this.off + DST;
  }

  /** Absolute index in `buf` of the source MAC. */
  get srcOffset(): number {
    return this.off + SRC;
  }

  /** True when the destination is ff:ff:ff:ff:ff:ff. */
  isBroadcast(): boolean {
    const b = this.buf;
    const o = this.off + DST;
    return (b[o] & b[o + 1] & b[o + 2] & b[o + 3] & b[o + 4] & b[o + 5]) === 0xff;
  }

  /** True when the destination is a group address (I/G bit set), broadcast included. */
  isMulticast(): boolean {
    return (this.buf[this.off + DST] & 1) === 1;
  }

  /** True when the destination equals the 6 bytes at `mac[macOff]`. */
  dstEquals(mac: Uint8Array, macOff = 0): boolean {
    const b = this.buf;
    const o = this.off + DST;
    return b[o] === mac[macOff] && b[o + 1] === mac[macOff + 1] && b[o + 2] === mac[macOff + 2] &&
      b[o + 3] === mac[macOff + 3] && b[o + 4] === mac[macOff + 4] && b[o + 5] === mac[macOff + 5];
  }

  /** Writes the destination MAC from the 6 bytes at `mac[macOff]`. */
  setDst(mac: Uint8Array, macOff = 0): void {
    copyMac(mac, macOff, this.buf, this.off + DST);
  }

  /** Writes the source MAC from the 6 bytes at `mac[macOff]`. */
  setSrc(mac: Uint8Array, macOff = 0): void {
    copyMac(mac, macOff, this.buf, this.off + SRC);
  }
}

/** Copies 6 bytes (a MAC) without allocating. */
function copyMac(src: Uint8Array, srcOff: number, dst: Uint8Array, dstOff: number): void {
  dst[dstOff] = src[srcOff];
  dst[dstOff + 1] = src[srcOff + 1];
  dst[dstOff + 2] = src[srcOff + 2];
  dst[dstOff + 3] = src[srcOff + 3];
  dst[dstOff + 4] = src[srcOff + 4];
  dst[dstOff + 5] = src[srcOff + 5];
}

/** Writes an untagged Ethernet header at `buf[off]`; returns 14. */
export function writeEthernetHeader(
  buf: Uint8Array,
  off: number,
  dst: Uint8Array,
  src: Uint8Array,
  etherType: number,
): number {
  copyMac(dst, 0, buf, off + DST);
  copyMac(src, 0, buf, off + SRC);
  writeU16(buf, off + TYPE, etherType);
  return ETH_HEADER_LEN;
}

/**
 * Writes an Ethernet header with an 802.1Q tag at `buf[off]` (VLAN ID 0..4095, priority 0..7, DEI
 * clear); returns 18.
 */
export function writeEthernetVlanHeader(
  buf: Uint8Array,
  off: number,
  dst: Uint8Array,
  src: Uint8Array,
  vlanId: number,
  etherType: number,
  priority = 0,
): number {
  copyMac(dst, 0, buf, off + DST);
  copyMac(src, 0, buf, off + SRC);
  writeU16(buf, off + TYPE, ETH_TYPE_VLAN);
  writeU16(buf, off + TCI, ((priority & 7) << 13) | (vlanId & 0x0fff));
  writeU16(buf, off + INNER_TYPE, etherType);
  return ETH_VLAN_HEADER_LEN;
}
