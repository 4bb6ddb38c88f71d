/**
 * The sender's SACK scoreboard (RFC 6675 2, 4): which octets above SND.UNA the receiver reported
 * holding (RFC 2018 3), kept as sorted, merged sequence ranges, plus the queries loss recovery
 * needs: IsLost, the pipe estimate (SetPipe) and the next hole to retransmit (NextSeg rule 1).
 * Fixed-size arrays: nothing is allocated per ACK.
 *
 * @module
 */

import { seqGeq, seqGt, seqLeq, seqLt } from "../wire/seq.ts";

/** RFC 6675 2: DupThresh = 3. */
export const DUP_THRESH = 3;

/** SACKed ranges above SND.UNA. */
export class SackScoreboard {
  /** Left edges (u32 sequence numbers), ascending. */
  readonly starts: Uint32Array;
  /** Right edges (exclusive). */
  readonly ends: Uint32Array;
  /** Number of ranges. */
  count = 0;
  /** Octets SACKed in all. */
  sackedBytes = 0;
  /** DupThresh for IsLost: the connection's reordering estimate (3 by default, RFC 6675). */
  dupThresh = DUP_THRESH;
  readonly #cap: number;

  /** A scoreboard holding up to `capacity` disjoint ranges (oldest data wins when full). */
  constructor(capacity = 64) {
    this.#cap = capacity;
    this.starts = new Uint32Array(capacity);
    this.ends = new Uint32Array(capacity);
  }

  /** Forgets every range (e.g. after a timeout with no progress: the receiver may renege). */
  clear(): void {
    this.count = 0;
    this.sackedBytes = 0;
  }

  /** The right edge of the highest SACKed range, or `fallback` when empty. */
  highest(fallback: number): number {
    return this.count === 0 ? fallback : this.ends[this.count - 1];
  }

  /**
   * Adds the block [left, right) reported by an ACK. Blocks that are empty, reach below `una`
   * (D-SACK, RFC 2883: not a hole report) or beyond `max` (never sent: a bogus block) are
   * ignored. Returns true when the scoreboard changed.
   */
  add(left: number, right: number, una: number, max: number): boolean {
    if (!seqLt(left, right) || seqLeq(right, una) || seqGt(right, max) || seqLt(left, una)) {
      return false;
    }
    const s = this.starts;
    const e = this.ends;
    let n = this.count;
    // First range whose right edge reaches left (may merge with it).
    let i = 0;
    while (i < n && seqLt(e[i], left)) i++;
    if (i < n && seqLeq(s[i], left) && seqGeq(e[i], right)) return false; // already covered
    // Ranges i..j-1 overlap or touch [left, right): merge them into one.
    let j = i;
    let lo = left;
    let hi = right;
    while (j < n && seqLeq(s[j], hi)) {
      if (seqLt(s[j], lo)) lo = s[j];
      if (seqGt(e[j], hi)) hi = e[j];
      this.sackedBytes -= (e[j] - s[j]) >>> 0;
      j++;
    }
    const removed = j - i;
    if (removed === 0) {
      if (n === this.#cap) {
        // Full: keep the lowest ranges (the ones recovery needs first); drop the new one if
        // it is above all, or the highest range to make room.
        if (i === n) return false;
        this.sackedBytes -= (e[n - 1] - s[n - 1]) >>> 0;
        n--;
      }
      for (let k = n; k > i; k--) {
        s[k] = s[k - 1];
        e[k] = e[k - 1];
      }
      n++;
    } else if (removed > 1) {
      for (let k = i + 1; k + removed - 1 < n; k++) {
        s[k] = s[k + removed - 1];
        e[k] = e[k + removed - 1];
      }
      n -= removed - 1;
    }
    s[i] = lo;
    e[i] = hi;
    this.sackedBytes += (hi - lo) >>> 0;
    this.count = n;
    return true;
  }

  /** SND.UNA advanced to `una`: drops what is now cumulatively acknowledged. */
  advance(una: number): void {
    const s = this.starts;
    const e = this.ends;
    const n = this.count;
    let i = 0;
    while (i < n && seqLeq(e[i], una)) {
      this.sackedBytes -= (e[i] - s[i]) >>> 0;
      i++;
    }
    if (i < n && seqLt(s[i], una)) {
      this.sackedBytes -= (una - s[i]) >>> 0;
      s[i] = una;
    }
    if (i > 0) {
      for (let k = i; k < n; k++) {
        s[k - i] = s[k];
        e[k - i] = e[k];
      }
      this.count = n - i;
    }
  }

  /** If `seq` is inside a SACKed range, that range's right edge; otherwise `seq` itself. */
  skipSacked(seq: number): number {
    const s = this.starts;
    const e = this.ends;
    for (let i = 0; i < this.count; i++) {
      if (seqLt(seq, s[i])) return seq;
      if (seqLt(seq, e[i])) return e[i];
    }
    return seq;
  }

  /** The left edge of the first SACKed range above `seq`, or `limit` when none is below it. */
  nextSackedAbove(seq: number, limit: number): number {
    const s = this.starts;
    for (let i = 0; i < this.count; i++) {
      if (seqGt(s[i], seq)) return seqLt(s[i], limit) ? s[i] : limit;
    }
    return limit;
  }

  /**
   * RFC 6675 IsLost(seq) for an unSACKed `seq`: DupThresh discontiguous SACKed ranges above it,
   * or more than (DupThresh - 1) * SMSS SACKed octets above it.
   */
  isLost(seq: number, mss: number): boolean {
    let bytes = 0;
    const s = this.starts;
    const e = this.ends;
    const n = this.count;
    for (let i = n - 1; i >= 0; i--) {
      if (seqLeq(s[i], seq)) break;
      bytes += (e[i] - s[i]) >>> 0;
      if (n - i >= this.dupThresh || bytes > (this.dupThresh - 1) * mss) return true;
    }
    return false;
  }

  /**
   * The loss boundary: every unSACKed octet below it is lost by IsLost, none at or above it.
   * UnSACKed octets lie in the gaps between ranges, and IsLost is the same for a whole gap (the
   * same ranges lie above it), so the boundary is the left edge of the highest range whose gap
   * below is lost; `una` when no octet is lost.
   */
  lossBoundary(una: number, mss: number): number {
    const s = this.starts;
    const e = this.ends;
    const n = this.count;
    let bytes = 0;
    for (let i = n - 1; i >= 0; i--) {
      bytes += (e[i] - s[i]) >>> 0;
      if (n - i >= this.dupThresh || bytes > (this.dupThresh - 1) * mss) return s[i];
    }
    return una;
  }

  /**
   * RFC 6675 SetPipe: octets in flight between `una` and `max` = unSACKed octets not lost, plus
   * retransmitted octets below `highRxt` (each retransmission is in flight again).
   */
  pipe(una: number, max: number, highRxt: number, mss: number): number {
    const outstanding = (max - una) >>> 0;
    const unsacked = outstanding - this.sackedBytes;
    const boundary = this.lossBoundary(una, mss);
    // (a) unSACKed octets below the boundary are lost, so not in flight ...
    const lost = this.#unsackedBetween(una, boundary);
    // (b) ... and every unSACKed octet up to HighRxt was retransmitted: one more copy in flight.
    const retransmitted = this.#unsackedBetween(una, highRxt);
    return unsacked - lost + retransmitted;
  }

  /** UnSACKed octets in [from, to). */
  #unsackedBetween(from: number, to: number): number {
    if (!seqLt(from, to)) return 0;
    let n = (to - from) >>> 0;
    const s = this.starts;
    const e = this.ends;
    for (let i = 0; i < this.count; i++) {
      if (seqGeq(s[i], to)) break;
      if (seqLeq(e[i], from)) continue;
      const lo = seqLt(s[i], from) ? from : s[i];
      const hi = seqGt(e[i], to) ? to : e[i];
      n -= (hi - lo) >>> 0;
    }
    return n;
  }
}
