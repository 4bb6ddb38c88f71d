/**
 * Test helpers: frames built byte by byte, independently of stack/wire (so a wire bug cannot hide
 * behind itself), and a capturing fake device.
 *
 * @module
 */

import { type Device, type DeviceStats, newDeviceStats } from "../../../stack/link/device.ts";

/** Parses "a.b.c.d" (test input only). */
export function ip(s: string): number {
  const p = s.split(".").map(Number);
  return ((p[0] << 24) | (p[1] << 16) | (p[2] << 8) | p[3]) >>> 0;
}

/** Parses "aa:bb:cc:dd:ee:ff" (test input only). */
export function mac(s: string): Uint8Array {
  return new Uint8Array(s.split(":").map((h) => parseInt(h, 16)));
}

/** RFC 1071 checksum, the textbook way. */
export function checksum(b: Uint8Array, off = 0, len = b.length - off): number {
  let sum = 0;
  for (let i = 0; i < len; i += 2) {
    sum += (b[off + i] << 8) | (i + 1 < len ? b[off + i + 1] : 0);
  }
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

function u16(b: Uint8Array, off: number, v: number): void {
  b[off] = (v >>> 8) & 0xff;
  b[off + 1] = v & 0xff;
}

function u32(b: Uint8Array, off: number, v: number): void {
  u16(b, off, v >>> 16);
  u16(b, off + 2, v & 0xffff);
}

/** Reads a big-endian u16. */
export function r16(b: Uint8Array, off: number): number {
  return (b[off] << 8) | b[off + 1];
}

/** Reads a big-endian u32. */
export function r32(b: Uint8Array, off: number): number {
  return ((b[off] << 24) | (b[off + 1] << 16) | (b[off + 2] << 8) | b[off + 3]) >>> 0;
}

/** Concatenates byte arrays. */
export function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** An Ethernet II header. */
export function eth(dst: Uint8Array, src: Uint8Array, type: number): Uint8Array {
  const b = new Uint8Array(14);
  b.set(dst, 0);
  b.set(src, 6);
  u16(b, 12, type);
  return b;
}

/** An ARP packet (Ethernet/IPv4, 28 bytes). */
export function arp(
  op: number,
  senderMac: Uint8Array,
  senderIp: number,
  targetMac: Uint8Array,
  targetIp: number,
): Uint8Array {
  const b = new Uint8Array(28);
  u16(b, 0, 1);
  u16(b, 2, 0x0800);
  b[4] = 6;
  b[5] = 4;
  u16(b, 6, op);
  b.set(senderMac, 8);
  u32(b, 14, senderIp);
  b.set(targetMac, 18);
  u32(b, 24, targetIp);
  return b;
}

/** Fields of {@link ipv4}. */
export interface Ip4 {
  src: number;
  dst: number;
  protocol: number;
  ttl?: number;
  id?: number;
  df?: boolean;
  mf?: boolean;
  /** Fragment offset in bytes (multiple of 8). */
  offset?: number;
  options?: number[];
}

/** An IPv4 header + payload with a correct checksum. */
export function ipv4(h: Ip4, payload: Uint8Array): Uint8Array {
  const opts = h.options ?? [];
  const hl = 20 + opts.length;
  const b = new Uint8Array(hl + payload.length);
  b[0] = 0x40 | (hl >>> 2);
  u16(b, 2, b.length);
  u16(b, 4, h.id ?? 1);
  u16(b, 6, (h.df ? 0x4000 : 0) | (h.mf ? 0x2000 : 0) | ((h.offset ?? 0) >>> 3));
  b[8] = h.ttl ?? 64;
  b[9] = h.protocol;
  u32(b, 12, h.src);
  u32(b, 16, h.dst);
  b.set(opts, 20);
  u16(b, 10, checksum(b, 0, hl));
  b.set(payload, hl);
  return b;
}

/** An ICMP echo (type 8 request / 0 reply) with a correct checksum. */
export function icmpEcho(type: number, id: number, seq: number, data: Uint8Array): Uint8Array {
  const b = new Uint8Array(8 + data.length);
  b[0] = type;
  u16(b, 4, id);
  u16(b, 6, seq);
  b.set(data, 8);
  u16(b, 2, checksum(b));
  return b;
}

/** A UDP datagram with the RFC 768 checksum (0 when `noChecksum`). */
export function udp(
  src: number,
  dst: number,
  sport: number,
  dport: number,
  data: Uint8Array,
  noChecksum = false,
): Uint8Array {
  const b = new Uint8Array(8 + data.length);
  u16(b, 0, sport);
  u16(b, 2, dport);
  u16(b, 4, b.length);
  b.set(data, 8);
  if (!noChecksum) {
    const pseudo = new Uint8Array(12 + b.length);
    u32(pseudo, 0, src);
    u32(pseudo, 4, dst);
    pseudo[9] = 17;
    u16(pseudo, 10, b.length);
    pseudo.set(b, 12);
    const c = checksum(pseudo);
    u16(b, 6, c === 0 ? 0xffff : c);
  }
  return b;
}

/** Bytes 0..n-1 of a pattern. */
export function pattern(n: number, seed = 0): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (i * 7 + seed) & 0xff;
  return b;
}

/**
 * A device that records every frame sent (copies) and never receives by itself: tests call
 * `stack.input` directly. `run` resolves when closed.
 */
export class CaptureDevice implements Device {
  readonly name: string;
  readonly mac: Uint8Array;
  readonly mtu: number;
  readonly stats: DeviceStats = newDeviceStats();
  readonly sent: Uint8Array[] = [];
  closed = false;
  #release: (() => void) | null = null;

  constructor(macAddr: Uint8Array, mtu = 1500, name = "cap0") {
    this.mac = macAddr;
    this.mtu = mtu;
    this.name = name;
  }

  run(): Promise<void> {
    if (this.closed) return Promise.resolve();
    return new Promise((resolve) => (this.#release = resolve));
  }

  send(buf: Uint8Array, off: number, len: number): boolean {
    if (this.closed || len > this.mtu + 14) {
      this.stats.txDropped++;
      return false;
    }
    this.sent.push(buf.slice(off, off + len));
    this.stats.txFrames++;
    this.stats.txBytes += len;
    return true;
  }

  close(): void {
    this.closed = true;
    this.#release?.();
  }

  /** Removes and returns every frame sent so far. */
  take(): Uint8Array[] {
    return this.sent.splice(0);
  }
}

/** An IPv6 header (RFC 8200 3) + payload; `nh` names the first header of the payload. */
export function ipv6(
  h: { src: Uint8Array; dst: Uint8Array; nh: number; hlim?: number },
  payload: Uint8Array,
): Uint8Array {
  const b = new Uint8Array(40 + payload.length);
  b[0] = 0x60;
  u16(b, 4, payload.length);
  b[6] = h.nh;
  b[7] = h.hlim ?? 64;
  b.set(h.src, 8);
  b.set(h.dst, 24);
  b.set(payload, 40);
  return b;
}

/** The checksum of `body` behind the IPv6 pseudo-header (RFC 8200 8.1), built byte by byte. */
export function checksum6(src: Uint8Array, dst: Uint8Array, nh: number, body: Uint8Array): number {
  const pseudo = new Uint8Array(40 + body.length);
  pseudo.set(src, 0);
  pseudo.set(dst, 16);
  u32(pseudo, 32, body.length);
  pseudo[39] = nh;
  pseudo.set(body, 40);
  return checksum(pseudo);
}

/** A UDP datagram over IPv6 with its mandatory checksum (0 when `noChecksum`). */
export function udp6(
  src: Uint8Array,
  dst: Uint8Array,
  sport: number,
  dport: number,
  data: Uint8Array,
  noChecksum = false,
): Uint8Array {
  const b = new Uint8Array(8 + data.length);
  u16(b, 0, sport);
  u16(b, 2, dport);
  u16(b, 4, b.length);
  b.set(data, 8);
  if (!noChecksum) {
    const c = checksum6(src, dst, 17, b);
    u16(b, 6, c === 0 ? 0xffff : c);
  }
  return b;
}

/** A fragment header (RFC 8200 4.5) followed by `data`. */
export function frag6(
  nh: number,
  offset: number,
  more: boolean,
  id: number,
  data: Uint8Array,
): Uint8Array {
  const b = new Uint8Array(8 + data.length);
  b[0] = nh;
  u16(b, 2, offset | (more ? 1 : 0));
  u32(b, 4, id);
  b.set(data, 8);
  return b;
}
