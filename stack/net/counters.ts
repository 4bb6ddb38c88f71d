/**
 * Per-reason counters: every frame the stack receives ends in exactly one place, and every drop is
 * counted under its reason ("drop.ipv4_bad_checksum", "drop.arp_queue_full", ...). `lb.ts stats`
 * shows them.
 *
 * The values live in a `Float64Array` indexed by a slot per name. `count(name)` costs at most one
 * `Map` lookup (the old `get` + `set` pair cost two; none when the name is the one counted last);
 * per-packet callers take the slot once with {@link Counters.slot} and count with
 * {@link Counters.add}, an index and an add. Nothing is allocated per count.
 *
 * @module
 */

const INITIAL_SLOTS = 64;

/** Named counters; the names are a small fixed set, so no allocation per count. */
export class Counters {
  /** name -> slot in #values. Slots are never reused: a slot stays valid for the object's life. */
  readonly #slots = new Map<string, number>();
  readonly #names: string[] = [];
  #values = new Float64Array(INITIAL_SLOTS);
  /** 1 when the slot was counted since the last reset (a counter at 0 may still be listed). */
  #present = new Uint8Array(INITIAL_SLOTS);
  /** "reason" -> slot of "drop.reason", so counting a drop by its wire reason builds no string. */
  readonly #dropSlots = new Map<string, number>();
  /**
   * The name `count` saw last and its slot: a caller that counts one name per packet by name
   * (the stack's "rx_frames") skips the `Map` lookup. For the constant names callers pass, the
   * string comparison is a pointer check.
   */
  #lastName = "";
  #lastSlot = -1;

  /**
   * The slot of counter `name`, created (at 0, not listed until counted) on first use. Hot paths
   * take it once and count with {@link add}.
   */
  slot(name: string): number {
    const s = this.#slots.get(name);
    if (s !== undefined) return s;
    const n = this.#names.length;
    if (n === this.#values.length) {
      const values = new Float64Array(n * 2);
      values.set(this.#values);
      this.#values = values;
      const present = new Uint8Array(n * 2);
      present.set(this.#present);
      this.#present = present;
    }
    this.#names.push(name);
    this.#slots.set(name, n);
    return n;
  }

  /** Adds `n` (default 1) to the counter in `slot` (from {@link slot}). */
  add(slot: number, n = 1): void {
    this.#values[slot] += n;
    this.#present[slot] = 1;
  }

  /** Adds `n` (default 1) to the counter `name`, creating it at 0 first. */
  count(name: string, n = 1): void {
    let s: number;
    if (name === this.#lastName) {
      s = this.#lastSlot;
    } else {
      s = this.#slots.get(name) ?? this.slot(name);
      this.#lastName = name;
      this.#lastSlot = s;
    }
    this.#values[s] += n;
    this.#present[s] = 1;
  }

  /** Counts one drop under "drop." + `reason` (a wire `check()` reason such as "ipv4_truncated"). */
  drop(reason: string): void {
    let s = this.#dropSlots.get(reason);
    if (s === undefined) {
      s = this.slot("drop." + reason);
      this.#dropSlots.set(reason, s);
    }
    this.#values[s] += 1;
    this.#present[s] = 1;
  }

  /** The value of `name` (0 if it was never counted). */
  get(name: string): number {
    const s = this.#slots.get(name);
    return s === undefined ? 0 : this.#values[s];
  }

  /** Sum of every counter whose name starts with `prefix` (e.g. "drop."). */
  sum(prefix: string): number {
    let total = 0;
    const names = this.#names;
    for (let s = 0; s < names.length; s++) {
      if (names[s].startsWith(prefix)) total += this.#values[s];
    }
    return total;
  }

  /** A plain JSON-able copy of the counted names, sorted. */
  snapshot(): Record<string, number> {
    const out: Record<string, number> = {};
    const slots = this.#names.map((_, s) => s).filter((s) => this.#present[s] === 1);
    slots.sort((a, b) => (this.#names[a] < this.#names[b] ? -1 : 1));
    for (const s of slots) out[this.#names[s]] = this.#values[s];
    return out;
  }

  /** Sets every counter back to 0 and unlists it (slots stay valid). */
  reset(): void {
    this.#values.fill(0);
    this.#present.fill(0);
  }
}
