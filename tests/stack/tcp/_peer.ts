/**
 * A hand-driven TCP peer for state-machine tests: one Stack (10.0.0.1) on a lone in-memory
 * device with a FakeClock; the test builds segments byte by byte (independently of stack/wire),
 * feeds them to `stack.input`, and parses what the stack sent. Nothing runs by itself: `send`
 * flushes the stack's output, `advance` moves the clock and runs the TCP timers.
 *
 * @module
 */
import { FakeClock } from "../../../stack/clock.ts";
import { MemoryDevice, type MemoryDeviceOptions } from "../../../stack/link/memory.ts";
import { handDriven, Stack } from "../../../stack/net/stack.ts";
import type { TcpStackOptions } from "../../../stack/tcp/config.ts";
import { checksum, r16, r32 } from "../net/_frames.ts";
import "./_internals.ts";

/** The stack's address: 10.0.0.1. */
export const LOCAL = 0x0a000001;
/** The peer's address: 10.0.0.2. */
export const REMOTE = 0x0a000002;
/** The peer's MAC. */
export const PEER_MAC = new Uint8Array([2, 0, 0, 0, 0, 2]);

export const FIN = 1;
export const SYN = 2;
export const RST = 4;
export const PSH = 8;
export const ACK = 16;

/** A segment to build or one parsed from the stack's output. */
export interface Seg {
  sport: number;
  dport: number;
  seq: number;
  ack: number;
  flags: number;
  win: number;
  mss?: number;
  ws?: number;
  sackPerm?: boolean;
  ts?: [number, number];
  sack?: [number, number][];
  data?: Uint8Array;
  /** Raw TCP header length (parsed segments). */
  hl?: number;
}

function u16(b: Uint8Array, o: number, v: number): void {
  b[o] = (v >>> 8) & 0xff;
  b[o + 1] = v & 0xff;
}
function u32(b: Uint8Array, o: number, v: number): void {
  u16(b, o, v >>> 16);
  u16(b, o + 2, v & 0xffff);
}

/** Builds an Ethernet + IPv4 + TCP frame from REMOTE to LOCAL (or `src`/`dst`). */
export function buildFrame(s: Seg, localMac: Uint8Array, src = REMOTE, dst = LOCAL): Uint8Array {
  const opts: number[] = [];
  if (s.mss !== undefined) opts.push(2, 4, s.mss >>> 8, s.mss & 0xff);
  if (s.sackPerm) opts.push(1, 1, 4, 2);
  if (s.ts !== undefined) {
    opts.push(1, 1, 8, 10);
    for (const v of s.ts) opts.push(v >>> 24, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff);
  }
  if (s.ws !== undefined) opts.push(1, 3, 3, s.ws);
  if (s.sack !== undefined && s.sack.length > 0) {
    opts.push(1, 1, 5, 2 + 8 * s.sack.length);
    for (const [l, r] of s.sack) {
      for (const v of [l, r]) opts.push(v >>> 24, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff);
    }
  }
  while (opts.length % 4 !== 0) opts.push(0);
  const data = s.data ?? new Uint8Array(0);
  const tcpLen = 20 + opts.length + data.length;
  const f = new Uint8Array(14 + 20 + tcpLen);
  f.set(localMac, 0);
  f.set(PEER_MAC, 6);
  u16(f, 12, 0x0800);
  const ip = 14;
  f[ip] = 0x45;
  u16(f, ip + 2, 20 + tcpLen);
  u16(f, ip + 6, 0x4000);
  f[ip + 8] = 64;
  f[ip + 9] = 6;
  u32(f, ip + 12, src);
  u32(f, ip + 16, dst);
  u16(f, ip + 10, checksum(f, ip, 20));
  const t = ip + 20;
  u16(f, t, s.sport);
  u16(f, t + 2, s.dport);
  u32(f, t + 4, s.seq >>> 0);
  u32(f, t + 8, s.ack >>> 0);
  f[t + 12] = ((20 + opts.length) / 4) << 4;
  f[t + 13] = s.flags;
  u16(f, t + 14, s.win);
  f.set(opts, t + 20);
  f.set(data, t + 20 + opts.length);
  // Pseudo-header checksum, computed independently.
  const pseudo = new Uint8Array(12 + tcpLen);
  u32(pseudo, 0, src);
  u32(pseudo, 4, dst);
  pseudo[9] = 6;
  u16(pseudo, 10, tcpLen);
  pseudo.set(f.subarray(t), 12);
  u16(f, t + 16, checksum(pseudo));
  return f;
}

/** Parses a frame the stack sent; null if it is not TCP. */
export function parseFrame(f: Uint8Array): Seg | null {
  if (r16(f, 12) !== 0x0800 || f[14 + 9] !== 6) return null;
  const ip = 14;
  const ihl = (f[ip] & 15) * 4;
  const total = r16(f, ip + 2);
  const t = ip + ihl;
  const hl = (f[t + 12] >> 4) * 4;
  const s: Seg = {
    sport: r16(f, t),
    dport: r16(f, t + 2),
    seq: r32(f, t + 4),
    ack: r32(f, t + 8),
    flags: f[t + 13],
    win: r16(f, t + 14),
    hl,
    data: f.slice(t + hl, ip + total),
  };
  let i = t + 20;
  while (i < t + hl) {
    const k = f[i];
    if (k === 0) break;
    if (k === 1) {
      i++;
      continue;
    }
    const len = f[i + 1];
    if (k === 2) s.mss = r16(f, i + 2);
    if (k === 3) s.ws = f[i + 2];
    if (k === 4) s.sackPerm = true;
    if (k === 8) s.ts = [r32(f, i + 2), r32(f, i + 6)];
    if (k === 5) {
      s.sack = [];
      for (let j = i + 2; j < i + len; j += 8) s.sack.push([r32(f, j), r32(f, j + 4)]);
    }
    i += len;
  }
  return s;
}

/** The stack under test and its hand-driven peer. */
export class Peer {
  readonly clock = new FakeClock(1_000_000);
  readonly dev: MemoryDevice;
  readonly stack: Stack;
  readonly out: Seg[] = [];

  /**
   * A stack with `tcp` options; the peer's MAC is a static ARP entry. `device` adds options of
   * the lone memory device (e.g. `offload: true, capture: true`).
   */
  constructor(tcp: TcpStackOptions = {}, device: MemoryDeviceOptions = {}) {
    this.dev = new MemoryDevice({
      ...device,
      name: "t0",
      mac: new Uint8Array([2, 0, 0, 0, 0, 1]),
    });
    this.stack = handDriven(
      new Stack({ device: this.dev, address: LOCAL, prefix: 24, clock: this.clock, tcp }),
    );
    this.stack.arp.addStatic(REMOTE, PEER_MAC);
    this.dev.onSend = (buf, off, len) => {
      const s = parseFrame(buf.slice(off, off + len));
      if (s !== null) this.out.push(s);
    };
  }

  /** Delivers a segment from the peer, then flushes the stack's output. */
  send(s: Seg): void {
    const f = buildFrame(s, this.dev.mac);
    this.stack.input(f, 0, f.length);
    this.stack.tcp.flush();
  }

  /** Delivers several segments as one burst (as one read of the device), then flushes once. */
  sendBurst(list: Seg[]): void {
    for (const s of list) {
      const f = buildFrame(s, this.dev.mac);
      this.stack.input(f, 0, f.length);
    }
    this.stack.tcp.flush();
  }

  /**
   * Delivers an ICMP error (type, code, 32-bit rest) from `from` (a router) quoting the first 28
   * bytes (IP header and 8 bytes of TCP) of the segment `about` as the stack would have sent it
   * to the peer, then flushes.
   */
  sendIcmpError(type: number, code: number, rest: number, about: Seg, from = REMOTE): void {
    const quoted = buildFrame(about, PEER_MAC, LOCAL, REMOTE).subarray(14, 14 + 28);
    const f = new Uint8Array(14 + 20 + 8 + quoted.length);
    f.set(this.dev.mac, 0);
    f.set(PEER_MAC, 6);
    u16(f, 12, 0x0800);
    f[14] = 0x45;
    u16(f, 16, 20 + 8 + quoted.length);
    f[22] = 64;
    f[23] = 1;
    u32(f, 26, from);
    u32(f, 30, LOCAL);
    u16(f, 24, checksum(f, 14, 20));
    f[34] = type;
    f[35] = code;
    u32(f, 38, rest);
    f.set(quoted, 42);
    u16(f, 36, checksum(f, 34, 8 + quoted.length));
    this.stack.input(f, 0, f.length);
    this.stack.tcp.flush();
  }

  /** Returns and clears what the stack sent. */
  take(): Seg[] {
    return this.out.splice(0, this.out.length);
  }

  /** The one segment the stack sent since the last take (throws unless exactly one). */
  one(): Seg {
    const s = this.take();
    if (s.length !== 1) {
      throw new Error(`expected one segment, got ${s.length}: ${JSON.stringify(s)}`);
    }
    return s[0];
  }

  /** Moves the clock and runs the TCP timers (and the output they cause). */
  advance(ms: number): void {
    this.clock.advance(ms);
    this.stack.tcp.runTimers();
  }

  /** Lets pending promise callbacks (application code) run, then flushes. */
  async settle(): Promise<void> {
    for (let i = 0; i < 5; i++) await Promise.resolve();
    await new Promise((r) => setTimeout(r, 0));
    this.stack.tcp.flush();
  }

  /** Closes the stack. */
  close(): void {
    this.stack.close();
  }
}

/** Flag names for messages. */
export function flagNames(f: number): string {
  const n: string[] = [];
  if (f & SYN) n.push("SYN");
  if (f & ACK) n.push("ACK");
  if (f & FIN) n.push("FIN");
  if (f & RST) n.push("RST");
  if (f & PSH) n.push("PSH");
  return n.join("|");
}
