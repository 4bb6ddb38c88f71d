/**
 * IPv4 reassembly (RFC 791 section 3.2, "Fragmentation and Reassembly"; RFC 815 for the idea of
 * tracking what is still missing), keyed by (source, destination, protocol, identification), and
 * IPv6 reassembly (RFC 8200 4.5) keyed by (source, destination, identification): one mechanism,
 * `family` chooses the header rules.
 *
 * Choices, each also Linux's (`net/ipv4/ip_fragment.c`):
 * - Timeout 30 s from the first fragment (Linux `ipfrag_time`). RFC 1122 3.3.2 suggests 60-120 s;
 *   we take the shorter one because the memory is held on behalf of whoever sends fragments, and
 *   fragments of one datagram arrive within milliseconds on today's paths.
 * - An overlapping fragment discards the whole datagram (RFC 5722 section 4, written for IPv6,
 *   applied to IPv4 as Linux has done since CVE-2018-5391), and its key is remembered until the
 *   timeout so later fragments of it are dropped too, not reassembled into a new datagram.
 * - A duplicate, a fragment lying wholly inside bytes already held (in one fragment or a
 *   contiguous run of them), is ignored: the first copy's bytes are kept. That is what a
 *   retransmitting or re-fragmenting path produces and it cannot change data (Linux's
 *   `inet_frag_queue_insert` returns IPFRAG_DUP for it). Only a partial overlap discards.
 * - Bounds on datagrams in progress (64) and on bytes held (4 MiB); new datagrams are refused
 *   past them. A datagram longer than 65535 bytes is dropped (the "ping of death").
 *
 * IPv6 (`family: 6`): the timeout is RFC 8200's 60 s; the part kept from the first fragment is the
 * unfragmentable part (the IPv6 header and the extension headers before the fragment header),
 * and the datagram handed on has no fragment header: the octet that named it names the
 * fragmentable part's protocol, and the payload length is rewritten. Overlaps discard the whole
 * datagram as RFC 5722 requires; an exact duplicate is ignored as above, which RFC 8200 4.5
 * permits and Linux's IPv6 reassembly (the same `inet_frag_queue_insert`) does. Counters are
 * "ipv6.frag_*" and "drop.frag6_*".
 *
 * The reassembled datagram is handed on in the slot's own buffer, with at least
 * {@link REASSEMBLY_HEADROOM} bytes before the IP header, valid until the next call.
 *
 * @module
 */

import { copyBytes, readU16, writeU16 } from "../wire/bytes.ts";
import { equalIpv6 } from "../wire/address6.ts";
import { internetChecksum } from "../wire/checksum.ts";
import type { Counters } from "./counters.ts";

/** Bytes free before the IP header of a reassembled datagram (room for an Ethernet header). */
export const REASSEMBLY_HEADROOM = 14;

/** Largest IPv4 header (IHL 15). */
const MAX_HEADER = 60;
/** Largest IPv6 unfragmentable part the extension-header walk lets through (RFC 8504 5.3). */
const MAX_HEADER6 = 1280;
/** Largest IPv4 datagram (RFC 791: the total length field is 16 bits). */
const MAX_DATAGRAM = 65535;
/** Largest IPv6 packet without a jumbogram: 40 + a 16-bit payload length (RFC 8200 3). */
const MAX_DATAGRAM6 = 40 + 65535;
/** First buffer size for a slot; grows by doubling up to the largest datagram. */
const INITIAL_CAPACITY = 2048;

/** Tunables. */
export interface ReassemblyOptions {
  /** Datagrams in progress at once (default 64). */
  maxDatagrams?: number;
  /** Fragment payload bytes held over all datagrams (default 4 MiB). */
  maxBytes?: number;
  /** Milliseconds from a datagram's first fragment to giving up on it (default 30 000). */
  timeoutMs?: number;
  /** Fragments held for one datagram (default 1024; a 64 KiB datagram over a 576 MTU has 117). */
  maxFragments?: number;
  /** 4 (RFC 791, the default) or 6 (RFC 8200 4.5). */
  family?: 4 | 6;
}

/**
 * The fields of a validated fragment's header that reassembly reads (an `Ipv4View` fits). For
 * IPv6, `src`/`dst` are any 32 bits of the addresses (a quick filter), `protocol` is 0 (not part
 * of the key), and the optional fields say where the rest is.
 */
export interface FragmentHeader {
  readonly src: number;
  readonly dst: number;
  readonly protocol: number;
  readonly id: number;
  /** Bytes of header the first fragment gives the datagram (IPv6: the unfragmentable part). */
  readonly headerLen: number;
  /** Offset of this fragment's data in the datagram, in bytes. */
  readonly fragmentOffset: number;
  readonly moreFragments: boolean;
  /** Data bytes of this fragment. */
  readonly payloadLen: number;
  /** IPv6: where the data starts, from the IP header (after the fragment header). */
  readonly dataOff?: number;
  /** IPv6: the octet, from the IP header, that named the fragment header. */
  readonly nhOff?: number;
  /** IPv6: the fragmentable part's protocol (the fragment header's next header). */
  readonly nextHeader?: number;
}

/**
 * Called from {@link Reassembler.sweep} for a datagram that timed out after its first fragment
 * arrived: `buf[ipOff .. ipOff+len)` is that fragment's IP header and up to 8 bytes of its data,
 * what an ICMP time exceeded message quotes (RFC 792).
 */
export type ReassemblyTimeoutHandler = (buf: Uint8Array, ipOff: number, len: number) => void;

/** One datagram in progress (slots are reused; their buffers are kept). */
class Slot {
  used = false;
  /** Overlap seen: data freed, key kept until the timeout so later fragments are dropped. */
  poisoned = false;
  src = 0;
  dst = 0;
  protocol = 0;
  id = 0;
  /** IPv6: source and destination addresses, the rest of the key. */
  readonly addrs = new Uint8Array(32);
  /** IPv6: from the first fragment, the octet to point at `nextHeader` (see FragmentHeader). */
  nhOff = 0;
  nextHeader = 0;
  createdAt = 0;
  buf: Uint8Array = new Uint8Array(0);
  /** Header length of the first fragment, 0 until it arrives. */
  headerLen = 0;
  /** Payload length of the whole datagram, -1 until the last fragment arrives. */
  totalLen = -1;
  /** Payload bytes received (no overlaps are kept, so this is the coverage). */
  received = 0;
  /** Received ranges as flat [start, end) pairs sorted by start. */
  ranges: number[] = [];
  count = 0;
}

/** Counter names of one family. */
const NAMES4 = {
  held: "ipv4.frag_held",
  duplicate: "ipv4.frag_duplicate",
  reassembled: "ipv4.reassembled",
  oversize: "drop.frag_oversize",
  badLength: "drop.frag_bad_length",
  tooMany: "drop.frag_too_many",
  overlap: "drop.frag_overlap",
  noMemory: "drop.frag_no_memory",
  timeout: "drop.frag_timeout",
  evicted: "drop.frag_evicted",
};
const NAMES6: typeof NAMES4 = {
  held: "ipv6.frag_held",
  duplicate: "ipv6.frag_duplicate",
  reassembled: "ipv6.reassembled",
  oversize: "drop.frag6_oversize",
  badLength: "drop.frag6_bad_length",
  tooMany: "drop.frag6_too_many",
  overlap: "drop.frag6_overlap",
  noMemory: "drop.frag6_no_memory",
  timeout: "drop.frag6_timeout",
  evicted: "drop.frag6_evicted",
};

/** IPv4 or IPv6 fragment reassembly with bounded memory. */
export class Reassembler {
  readonly #counters: Counters;
  readonly #v6: boolean;
  readonly #n: typeof NAMES4;
  /** Where fragment data starts in a slot buffer: headroom, then room for the first header. */
  readonly #dataOff: number;
  /** Largest datagram, header included. */
  readonly #maxDatagram: number;
  /** The IPv6 addresses of the fragment being added: `buf` and the offset of the source. */
  #addrBuf: Uint8Array = new Uint8Array(0);
  #addrOff = 0;
  readonly #slots: Slot[] = [];
  readonly #maxDatagrams: number;
  readonly #maxBytes: number;
  readonly #timeoutMs: number;
  readonly #maxFragments: number;
  #bytes = 0;
  #out: Uint8Array = new Uint8Array(0);
  #outOff = 0;
  #outLen = 0;

  /** Builds an empty reassembler that counts into `counters`. */
  constructor(counters: Counters, options: ReassemblyOptions = {}) {
    this.#counters = counters;
    this.#v6 = options.family === 6;
    this.#n = this.#v6 ? NAMES6 : NAMES4;
    this.#dataOff = REASSEMBLY_HEADROOM + (this.#v6 ? MAX_HEADER6 : MAX_HEADER);
    this.#maxDatagram = this.#v6 ? MAX_DATAGRAM6 : MAX_DATAGRAM;
    this.#maxDatagrams = options.maxDatagrams ?? 64;
    this.#maxBytes = options.maxBytes ?? 4 * 1024 * 1024;
    // RFC 8200 4.5: 60 s for IPv6; IPv4's choice is in the module comment.
    this.#timeoutMs = options.timeoutMs ?? (this.#v6 ? 60_000 : 30_000);
    this.#maxFragments = options.maxFragments ?? 1024;
  }

  /** Buffer of the last datagram {@link add} completed. */
  get outBuf(): Uint8Array {
    return this.#out;
  }
  /** Offset of its IP header (>= {@link REASSEMBLY_HEADROOM}). */
  get outOff(): number {
    return this.#outOff;
  }
  /** Its length, header included. */
  get outLen(): number {
    return this.#outLen;
  }
  /** Datagrams in progress (poisoned keys included). */
  get inProgress(): number {
    let n = 0;
    for (const s of this.#slots) if (s.used) n++;
    return n;
  }
  /** Fragment payload bytes held. */
  get bytesHeld(): number {
    return this.#bytes;
  }

  /**
   * Takes one fragment: `buf[ipOff ..)` is a validated IPv4 (or, with `family: 6`, IPv6) packet
   * whose header is `h` (more fragments, or offset non-zero). Returns true when it completed a
   * datagram, which is then at `outBuf[outOff .. outOff+outLen)` with a fresh header (IPv4: MF and
   * offset cleared, total length and checksum rewritten; IPv6: see the module comment). Every
   * fragment is counted: "ipv4.frag_held", "ipv4.frag_duplicate", "ipv4.reassembled", or a
   * "drop.frag_*" reason (IPv6: "ipv6.*", "drop.frag6_*").
   */
  add(buf: Uint8Array, ipOff: number, h: FragmentHeader, now: number): boolean {
    const n = this.#n;
    const offset = h.fragmentOffset;
    const len = h.payloadLen;
    const end = offset + len;
    const hl = h.headerLen;
    const mf = h.moreFragments;
    if (end + hl > this.#maxDatagram || hl > this.#dataOff - REASSEMBLY_HEADROOM) {
      this.#counters.count(n.oversize);
      return false;
    }
    // RFC 791 3.2, RFC 8200 4.5: every fragment but the last carries a multiple of 8 data bytes.
    if (mf && (len === 0 || (len & 7) !== 0)) {
      this.#counters.count(n.badLength);
      return false;
    }
    this.#addrBuf = buf;
    this.#addrOff = ipOff + 8;
    let slot = this.#find(h.src, h.dst, h.protocol, h.id);
    if (slot === null) {
      slot = this.#allocate(now);
      if (slot === null) {
        this.#counters.count(n.tooMany);
        return false;
      }
      slot.src = h.src;
      slot.dst = h.dst;
      slot.protocol = h.protocol;
      slot.id = h.id;
      if (this.#v6) copyBytes(buf, ipOff + 8, slot.addrs, 0, 32);
    }
    if (slot.poisoned) {
      this.#counters.count(n.overlap);
      return false;
    }
    // The last fragment fixes the datagram's length; any fragment disagreeing with it is
    // malformed and the datagram is discarded (Linux: "discard_qp").
    const lastEnd = slot.count > 0 ? slot.ranges[2 * slot.count - 1] : 0;
    if (
      (!mf && ((slot.totalLen >= 0 && end !== slot.totalLen) || end < lastEnd)) ||
      (mf && slot.totalLen >= 0 && end > slot.totalLen)
    ) {
      this.#free(slot);
      this.#counters.count(n.badLength);
      return false;
    }
    const pos = this.#insertPosition(slot, offset);
    const r = slot.ranges;
    // Neighbours: the range before `pos` must end by `offset`, the one at `pos` start at `end`.
    const prevOverlaps = pos > 0 && r[2 * pos - 1] > offset;
    const nextOverlaps = pos < slot.count && r[2 * pos] < end;
    if (prevOverlaps || nextOverlaps) {
      if (prevOverlaps && this.#heldThrough(slot, pos - 1, end)) {
        this.#counters.count(n.duplicate);
        return false;
      }
      this.#poison(slot);
      this.#counters.count(n.overlap);
      return false;
    }
    if (slot.count >= this.#maxFragments) {
      this.#free(slot);
      this.#counters.count(n.tooMany);
      return false;
    }
    if (this.#bytes + len > this.#maxBytes) {
      this.#counters.count(n.noMemory);
      if (slot.count === 0) this.#free(slot);
      return false;
    }
    const dataOff = this.#dataOff;
    this.#ensureCapacity(slot, dataOff + end);
    copyBytes(buf, ipOff + (h.dataOff ?? hl), slot.buf, dataOff + offset, len);
    if (offset === 0) {
      copyBytes(buf, ipOff, slot.buf, dataOff - hl, hl);
      slot.headerLen = hl;
      slot.nhOff = h.nhOff ?? 0;
      slot.nextHeader = h.nextHeader ?? 0;
    }
    this.#insertRange(slot, pos, offset, end);
    slot.received += len;
    this.#bytes += len;
    if (!mf) slot.totalLen = end;
    if (slot.totalLen < 0 || slot.received !== slot.totalLen || slot.headerLen === 0) {
      this.#counters.count(n.held);
      return false;
    }
    return this.#complete(slot);
  }

  /**
   * Drops every datagram older than the timeout, counting "drop.frag_timeout"; for those whose
   * first fragment arrived, calls `onTimeout` so the stack can send ICMP time exceeded code 1
   * (RFC 792; RFC 1122 3.3.2; RFC 8200 4.5 for IPv6, which quotes the whole first fragment: the
   * error sender cuts it to fit). Poisoned keys are forgotten silently.
   */
  sweep(now: number, onTimeout: ReassemblyTimeoutHandler | null): void {
    for (const slot of this.#slots) {
      if (!slot.used || now - slot.createdAt < this.#timeoutMs) continue;
      if (slot.poisoned) {
        this.#free(slot);
        continue;
      }
      this.#counters.count(this.#n.timeout);
      if (slot.headerLen > 0 && onTimeout !== null) {
        const hl = slot.headerLen;
        const firstEnd = slot.ranges[1]; // the range starting at 0 is the first one
        const quoted = firstEnd < 8 || this.#v6 ? firstEnd : 8;
        // The slot's bytes stay intact through the call; it is freed after, even if the
        // handler throws (else the same timeout would fire again on every sweep).
        try {
          onTimeout(slot.buf, this.#dataOff - hl, hl + quoted);
        } finally {
          this.#free(slot);
        }
        continue;
      }
      this.#free(slot);
    }
  }

  #find(src: number, dst: number, protocol: number, id: number): Slot | null {
    const slots = this.#slots;
    for (let i = 0; i < slots.length; i++) {
      const s = slots[i];
      if (
        s.used && s.id === id && s.src === src && s.dst === dst && s.protocol === protocol &&
        (!this.#v6 || this.#sameAddrs(s))
      ) {
        return s;
      }
    }
    return null;
  }

  /** IPv6: the slot's addresses are those of the fragment being added. */
  #sameAddrs(s: Slot): boolean {
    const b = this.#addrBuf;
    const o = this.#addrOff;
    return equalIpv6(s.addrs, 0, b, o) && equalIpv6(s.addrs, 16, b, o + 16);
  }

  /**
   * A free slot. When the table is full it reuses a poisoned key (oldest first), else it evicts
   * the oldest datagram in progress, as Linux does under memory pressure: otherwise a few
   * fragments that never complete would block all reassembly until they time out.
   */
  #allocate(now: number): Slot | null {
    const slots = this.#slots;
    let used = 0;
    let free: Slot | null = null;
    let oldestPoisoned: Slot | null = null;
    let oldest: Slot | null = null;
    for (let i = 0; i < slots.length; i++) {
      const s = slots[i];
      if (!s.used) {
        if (free === null) free = s;
      } else {
        used++;
        if (s.poisoned && (oldestPoisoned === null || s.createdAt < oldestPoisoned.createdAt)) {
          oldestPoisoned = s;
        }
        if (oldest === null || s.createdAt < oldest.createdAt) oldest = s;
      }
    }
    if (used >= this.#maxDatagrams) {
      const victim = oldestPoisoned ?? oldest;
      if (victim === null) return null;
      if (victim !== oldestPoisoned) this.#counters.count(this.#n.evicted);
      this.#free(victim);
      free = victim;
    }
    if (free === null) {
      free = new Slot();
      slots.push(free);
    }
    free.used = true;
    free.poisoned = false;
    free.createdAt = now;
    free.headerLen = 0;
    free.totalLen = -1;
    free.received = 0;
    free.count = 0;
    return free;
  }

  #free(slot: Slot): void {
    this.#bytes -= slot.received;
    slot.used = false;
    slot.poisoned = false;
    slot.received = 0;
    slot.count = 0;
    slot.headerLen = 0;
    slot.totalLen = -1;
  }

  #poison(slot: Slot): void {
    this.#bytes -= slot.received;
    slot.received = 0;
    slot.count = 0;
    slot.poisoned = true;
  }

  /**
   * True when the held ranges from index `i` on (range i starts at or before the new fragment)
   * cover everything up to `end` without a gap: the new fragment is a duplicate.
   */
  #heldThrough(slot: Slot, i: number, end: number): boolean {
    const r = slot.ranges;
    let covered = r[2 * i + 1];
    for (let j = i + 1; j < slot.count && covered < end && r[2 * j] === covered; j++) {
      covered = r[2 * j + 1];
    }
    return covered >= end;
  }

  /** Index of the first range starting after `offset` (binary search over the sorted pairs). */
  #insertPosition(slot: Slot, offset: number): number {
    const r = slot.ranges;
    let lo = 0;
    let hi = slot.count;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (r[2 * mid] <= offset) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  #insertRange(slot: Slot, pos: number, start: number, end: number): void {
    const r = slot.ranges;
    for (let i = 2 * slot.count - 1; i >= 2 * pos; i--) r[i + 2] = r[i];
    r[2 * pos] = start;
    r[2 * pos + 1] = end;
    slot.count++;
  }

  #ensureCapacity(slot: Slot, needed: number): void {
    if (slot.buf.length >= needed) return;
    let size = slot.buf.length === 0 ? INITIAL_CAPACITY : slot.buf.length * 2;
    while (size < needed) size *= 2;
    const cap = this.#dataOff + this.#maxDatagram;
    if (size > cap) size = cap;
    const grown = new Uint8Array(size);
    if (slot.received > 0 || slot.headerLen > 0) grown.set(slot.buf);
    slot.buf = grown;
  }

  /** Rewrites the first fragment's header for the whole datagram and frees the slot. */
  #complete(slot: Slot): boolean {
    const hl = slot.headerLen;
    const ipOff = this.#dataOff - hl;
    const total = hl + slot.totalLen;
    // The per-fragment check in add() used that fragment's header length; the datagram carries
    // the first fragment's, which may be longer. Total length is a 16-bit field (RFC 791 3.1):
    // drop what does not fit, as Linux's ip_frag_reasm does ("Oversized IP packet").
    if (total > this.#maxDatagram) {
      this.#free(slot);
      this.#counters.count(this.#n.oversize);
      return false;
    }
    const b = slot.buf;
    if (this.#v6) {
      // RFC 8200 4.5: the fragment header is gone; the header before it names the protocol.
      writeU16(b, ipOff + 4, total - 40);
      b[ipOff + slot.nhOff] = slot.nextHeader;
    } else {
      writeU16(b, ipOff + 2, total);
      // Flags and fragment offset: keep DF, clear MF and the offset (RFC 791 3.2).
      writeU16(b, ipOff + 6, readU16(b, ipOff + 6) & 0x4000);
      writeU16(b, ipOff + 10, 0);
      writeU16(b, ipOff + 10, internetChecksum(b, ipOff, hl));
    }
    this.#out = b;
    this.#outOff = ipOff;
    this.#outLen = total;
    this.#free(slot);
    this.#counters.count(this.#n.reassembled);
    return true;
  }
}
