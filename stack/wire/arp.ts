/**
 * ARP packets for IPv4 over Ethernet (RFC 826): the only kind the stack speaks.
 *
 * Layout (28 bytes): hardware type 1 (2), protocol type 0x0800 (2), hardware length 6 (1),
 * protocol length 4 (1), operation (2), sender MAC (6), sender IP (4), target MAC (6),
 * target IP (4).
 *
 * @module
 */

import { readU16, readU32, writeU16, writeU32 } from "./bytes.ts";
import { ETH_TYPE_IPV4 } from "./ethernet.ts";
import { WireView } from "./view.ts";

/** Length of an Ethernet/IPv4 ARP packet. */
export const ARP_LEN = 28;
/** ARP operation: request (RFC 826). */
export const ARP_OP_REQUEST = 1;
/** ARP operation: reply (RFC 826). */
export const ARP_OP_REPLY = 2;
/** ARP hardware type of Ethernet (IANA "Hardware Types"). */
export const ARP_HTYPE_ETHERNET = 1;

const HTYPE = 0;
const PTYPE = 2;
const HLEN = 4;
const PLEN = 5;
const OP = 6;
const SHA = 8;
const SPA = 14;
const THA = 18;
const TPA = 24;

/** A view over one ARP packet `buf[off .. off+len)`; re-point it with `wrap`. */
export class ArpView extends WireView {
  /**
   * Null for an Ethernet/IPv4 ARP packet whose 28 bytes fit; "arp_truncated" when shorter,
   * "arp_unsupported" for other hardware or protocol types or address lengths.
   */
  check(): string | null {
    if (this.len < ARP_LEN) return "arp_truncated";
    const b = this.buf;
    const o = this.off;
    if (
      readU16(b, o + HTYPE) !== ARP_HTYPE_ETHERNET || readU16(b, o + PTYPE) !== ETH_TYPE_IPV4 ||
      b[o + HLEN] !== 6 || b[o + PLEN] !== 4
    ) {
      return "arp_unsupported";
    }
    return null;
  }

  /** The operation (ARP_OP_REQUEST, ARP_OP_REPLY, or another value to ignore). */
  get op(): number {
    return readU16(this.buf, this.off + OP);
  }

  /** Sets the operation. */
  set op(v: number) {
    writeU16(this.buf, this.off + OP, v);
  }

  /** Absolute index in `buf` of the sender hardware address. */
  get senderMacOffset(): number {
    return this.off + SHA;
  }

  /** The sender protocol address (u32). */
  get senderIp(): number {
    return readU32(this.buf, this.off + SPA);
  }

  /** Sets the sender protocol address. */
  set senderIp(v: number) {
    writeU32(this.buf, this.off + SPA, v);
  }

  /** Absolute index in `buf` of the target hardware address. */
  get targetMacOffset(): number {
    return this.off + THA;
  }

  /** The target protocol address (u32). */
  get targetIp(): number {
    return readU32(this.buf, this.off + TPA);
  }

  /** Sets the target protocol address. */
  set targetIp(v: number) {
    writeU32(this.buf, this.off + TPA, v);
  }
}

/**
 * Writes an Ethernet/IPv4 ARP packet at `buf[off]`; returns 28. For a request, `targetMac` is
 * ZERO_MAC (RFC 826 leaves it unspecified; Linux sends zeros).
 */
export function writeArp(
  buf: Uint8Array,
  off: number,
  op: number,
  senderMac: Uint8Array,
  senderIp: number,
  targetMac: Uint8Array,
  targetIp: number,
): number {
  writeU16(buf, off + HTYPE, ARP_HTYPE_ETHERNET);
  writeU16(buf, off + PTYPE, ETH_TYPE_IPV4);
  buf[off + HLEN] = 6;
  buf[off + PLEN] = 4;
  writeU16(buf, off + OP, op);
  for (let i = 0; i < 6; i++) {
    buf[off + SHA + i] = senderMac[i];
    buf[off + THA + i] = targetMac[i];
  }
  writeU32(buf, off + SPA, senderIp);
  writeU32(buf, off + TPA, targetIp);
  return ARP_LEN;
}
