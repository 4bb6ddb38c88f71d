/**
 * The sender's transmission record: every range of sequence space sent and not yet cumulatively
 * acknowledged, in sequence order, with the time it was last (re)transmitted and whether it is
 * SACKed, deemed lost, or retransmitted since. RACK (RFC 8985) needs the time of each segment's
 * last transmission to tell which segments were sent before one that was delivered; Linux keeps
 * the same facts on each skb of the retransmission queue (`tcp_skb_cb->sacked`,
 * `skb_mstamp_ns`).
 *
 * One record per transmission unit (a segment, or a super-frame under segmentation offload);
 * a record is split where a SACK block or a retransmission starts or ends inside it, as Linux's
 * `tcp_fragment`, so flags and times are exact per range. The records live in parallel typed
 * arrays (a linear window with a moving head, compacted in place): nothing is allocated per
 * segment once the arrays are as large as the connection's flight. They grow by doubling up to
 * {@link MAX_RECORDS}; a connection at the limit merges new sends into the last record (its
 * loss detection is then coarser, never wrong about what was acknowledged).
 *
 * Byte totals of SACKed, lost and retransmitted-in-flight ranges are kept as records change, so
 * the pipe (RFC 6675 2 "pipe", Linux's `tcp_packets_in_flight`) costs nothing to read.
 *
 * @module
 */

import { seqDiff, seqGt, seqLt } from "../wire/seq.ts";

/** The receiver reported holding this range (RFC 2018). */
export const SEG_SACKED = 1;
/** Deemed lost (RACK, or a retransmission timeout): to be retransmitted. */
export const SEG_LOST = 2;
/** Retransmitted since it was deemed lost: the new copy is in flight. */
export const SEG_RETRANS = 4;
/** Retransmitted at least once (RACK's ambiguity rule, RFC 8985 6.2 step 2). */
export const SEG_EVER_RETRANS = 8;
/** Sent while the sender was application-limited (delivery_rate.ts). */
export const SEG_APP_LIMITED = 16;

/** Records at most per connection (4 MiB of flight in 64-byte segments). */
export const MAX_RECORDS = 1 << 16;

const INITIAL_RECORDS = 16;

/** Sent, not cumulatively acknowledged ranges of one connection. */
export class SentSegments {
  /** Left edge of each record (u32 sequence number). */
  start: Uint32Array;
  /** Right edge (exclusive). */
  end: Uint32Array;
  /** When the range was last transmitted, ms. */
  sentAt: Float64Array;
  /**
   * The transmission's number in this connection's order of sending: RACK's "sent after" by
   * order, exact where a millisecond clock would tie (RFC 8985 breaks ties of xmit_ts by
   * sequence number, which would rank a retransmission below later data sent in the same
   * millisecond).
   */
  order: Float64Array;
  /** The number the next transmission gets. */
  nextOrder = 1;
  /** Octets delivered on the connection when the range was last sent (delivery_rate.ts). */
  delivered: Float64Array;
  /** When that delivery count was reached, ms. */
  deliveredAt: Float64Array;
  /** The send time of the first segment of the flight it was sent in, ms. */
  firstSentAt: Float64Array;
  /** SEG_* flags. */
  flags: Uint8Array;
  /** Index of the oldest record. */
  head = 0;
  /** Number of records. */
  count = 0;
  /** Octets SACKed. */
  sackedBytes = 0;
  /** Octets deemed lost and not SACKed (retransmitted or not). */
  lostBytes = 0;
  /** Octets retransmitted and not SACKed since (in flight again). */
  retransBytes = 0;
  /** Octets deemed lost and not retransmitted since: what loss recovery sends first. */
  pendingBytes = 0;

  /** An empty record (its arrays are allocated with the first send and grow with the flight). */
  constructor(capacity = 0) {
    this.start = new Uint32Array(capacity);
    this.end = new Uint32Array(capacity);
    this.sentAt = new Float64Array(capacity);
    this.order = new Float64Array(capacity);
    this.delivered = new Float64Array(capacity);
    this.deliveredAt = new Float64Array(capacity);
    this.firstSentAt = new Float64Array(capacity);
    this.flags = new Uint8Array(capacity);
  }

  /** Index one past the newest record. */
  get tail(): number {
    return this.head + this.count;
  }

  /** Forgets everything (the connection ended, or its send state was reset). */
  clear(): void {
    this.head = 0;
    this.count = 0;
    this.sackedBytes = 0;
    this.lostBytes = 0;
    this.retransBytes = 0;
    this.pendingBytes = 0;
  }

  /**
   * Octets in flight (RFC 6675 SetPipe, Linux's tcp_packets_in_flight): outstanding octets that
   * are neither SACKed nor lost, plus lost ones retransmitted since.
   */
  pipe(outstanding: number): number {
    return outstanding - this.sackedBytes - this.lostBytes + this.retransBytes;
  }

  /**
   * Records new data [seq, end) sent at `now` as transmission number `order`. Returns the
   * record's index (for the caller's per-send fields), or -1 if there was no room at all.
   */
  append(seq: number, end: number, now: number, order: number): number {
    if (this.count > 0) {
      const last = this.tail - 1;
      // At the size limit a new send joins the last record if it continues it untouched.
      if (
        this.end[last] === seq && this.count >= MAX_RECORDS && this.flags[last] === 0
      ) {
        this.end[last] = end;
        this.sentAt[last] = now;
        this.order[last] = order;
        return last;
      }
    }
    if (!this.#room(1)) return -1;
    const i = this.tail;
    this.start[i] = seq;
    this.end[i] = end;
    this.sentAt[i] = now;
    this.order[i] = order;
    this.flags[i] = 0;
    this.count++;
    return i;
  }

  /**
   * The index of the record holding `seq`, or -1 (below the first or at/after the last end).
   * Binary search: records are contiguous and ascending.
   */
  find(seq: number): number {
    if (this.count === 0) return -1;
    const base = this.start[this.head];
    const off = seqDiff(seq, base);
    if (off < 0 || off >= seqDiff(this.end[this.tail - 1], base)) return -1;
    let lo = this.head;
    let hi = this.tail - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (seqDiff(this.start[mid], base) <= off) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  /**
   * Makes `seq` a record boundary (splitting the record it lies inside). Returns the index of
   * the record starting at `seq`, or -1 when `seq` is not inside the records or no room was left
   * to split (the caller then treats the whole record as one).
   */
  splitAt(seq: number): number {
    const i = this.find(seq);
    if (i < 0 || this.start[i] === seq) return i;
    if (!this.#room(1)) return -1;
    // #room may have moved the records: look again.
    const j = this.find(seq);
    const t = this.tail;
    // Every per-record array shifts by one from j + 1; the new record j + 1 copies record j.
    for (const a of this.#arrays()) {
      a.copyWithin(j + 2, j + 1, t);
      a[j + 1] = a[j];
    }
    this.start[j + 1] = seq;
    this.end[j] = seq;
    this.count++;
    return j + 1;
  }

  /** Changes record `i`'s flags, keeping the byte totals. */
  setFlags(i: number, f: number): void {
    const old = this.flags[i];
    if (old === f) return;
    const len = (this.end[i] - this.start[i]) >>> 0;
    this.sackedBytes += len * ((f & SEG_SACKED) - (old & SEG_SACKED));
    this.lostBytes += len * (lostBit(f) - lostBit(old));
    this.retransBytes += len * (retransBit(f) - retransBit(old));
    this.pendingBytes += len * (pendingBit(f) - pendingBit(old));
    this.flags[i] = f;
  }

  /**
   * The octets below `una` were cumulatively acknowledged: drops their records (the partly
   * acknowledged one is trimmed). `visit` sees each dropped or trimmed record first, with the
   * octets of it acknowledged now.
   */
  advance(una: number, visit: (i: number, len: number) => void): void {
    while (this.count > 0) {
      const i = this.head;
      if (!seqGt(this.end[i], una)) {
        visit(i, (this.end[i] - this.start[i]) >>> 0);
        this.setFlags(i, 0);
        this.head++;
        this.count--;
        continue;
      }
      if (seqLt(this.start[i], una)) {
        visit(i, (una - this.start[i]) >>> 0);
        const f = this.flags[i];
        this.setFlags(i, 0);
        this.start[i] = una;
        this.setFlags(i, f);
      }
      break;
    }
    if (this.count === 0) this.head = 0;
  }

  /** Makes room for `n` more records at the tail. False at the size limit. */
  #room(n: number): boolean {
    if (this.tail + n <= this.start.length) return true;
    const need = this.count + n;
    if (need <= this.start.length >> 1 || (need <= this.start.length && this.head > 0)) {
      this.#move(this.start.length);
      return true;
    }
    let cap = this.start.length < INITIAL_RECORDS ? INITIAL_RECORDS : this.start.length * 2;
    while (cap < need) cap *= 2;
    if (cap > MAX_RECORDS) {
      if (need > MAX_RECORDS) return false;
      cap = MAX_RECORDS;
    }
    this.#move(cap);
    return true;
  }

  /** Moves the records to index 0 of arrays of `cap` entries (new ones if the size changes). */
  #move(cap: number): void {
    const h = this.head;
    const t = this.tail;
    if (cap === this.start.length) {
      for (const a of this.#arrays()) a.copyWithin(0, h, t);
    } else {
      const moved = <T extends Uint32Array | Float64Array | Uint8Array>(a: T, n: T): T => {
        n.set(a.subarray(h, t));
        return n;
      };
      this.start = moved(this.start, new Uint32Array(cap));
      this.end = moved(this.end, new Uint32Array(cap));
      this.sentAt = moved(this.sentAt, new Float64Array(cap));
      this.order = moved(this.order, new Float64Array(cap));
      this.delivered = moved(this.delivered, new Float64Array(cap));
      this.deliveredAt = moved(this.deliveredAt, new Float64Array(cap));
      this.firstSentAt = moved(this.firstSentAt, new Float64Array(cap));
      this.flags = moved(this.flags, new Uint8Array(cap));
    }
    this.head = 0;
  }

  /** Every per-record array (for moves that treat them alike); rebuilt when they are. */
  #all: (Uint32Array | Float64Array | Uint8Array)[] | null = null;

  #arrays(): (Uint32Array | Float64Array | Uint8Array)[] {
    if (this.#all !== null && this.#all[0] === this.start) return this.#all;
    return this.#all = [
      this.start,
      this.end,
      this.sentAt,
      this.order,
      this.delivered,
      this.deliveredAt,
      this.firstSentAt,
      this.flags,
    ];
  }
}

/** 1 when a range with flags `f` counts as lost (not SACKed). */
function lostBit(f: number): number {
  return (f & (SEG_LOST | SEG_SACKED)) === SEG_LOST ? 1 : 0;
}

/** 1 when a range with flags `f` is a retransmission in flight (not SACKed). */
function retransBit(f: number): number {
  return (f & (SEG_RETRANS | SEG_SACKED)) === SEG_RETRANS ? 1 : 0;
}

/** 1 when a range with flags `f` is lost and waits for its retransmission. */
function pendingBit(f: number): number {
  return (f & (SEG_SACKED | SEG_LOST | SEG_RETRANS)) === SEG_LOST ? 1 : 0;
}

/**
 * RFC 8985 6.2 RACK_sent_after, by transmission number: o1/seq1 was sent after o2/seq2 (one
 * super-frame's segments share a number and left in sequence order).
 */
export function sentAfter(o1: number, seq1: number, o2: number, seq2: number): boolean {
  return o1 > o2 || (o1 === o2 && seqGt(seq1, seq2));
}
