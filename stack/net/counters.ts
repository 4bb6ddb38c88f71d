/**
 * Per-reason counters: every frame the stack receives ends in exactly one place, and every drop is
 * counted under its reason ("drop.ipv4_bad_checksum", "drop.arp_queue_full", ...). `lb.ts stats`
 * shows them.
 *
 * @module
 */

/** Named counters backed by a `Map` (the names are a small fixed set, so no allocation per count). */
export class Counters {
  readonly #values = new Map<string, number>();
  /** "reason" -> "drop.reason", so counting a drop by its wire reason builds no string. */
  readonly #dropNames = new Map<string, string>();

  /** Adds `n` (default 1) to the counter `name`, creating it at 0 first. */
  count(name: string, n = 1): void {
    this.#values.set(name, (this.#values.get(name) ?? 0) + n);
  }

  /** Counts one drop under "drop." + `reason` (a wire `check()` reason such as "ipv4_truncated"). */
  drop(reason: string): void {
    let name = this.#dropNames.get(reason);
    if (name === undefined) {
      name = "drop." + reason;
      this.#dropNames.set(reason, name);
    }
    this.count(name);
  }

  /** The value of `name` (0 if it was never counted). */
  get(name: string): number {
    return this.#values.get(name) ?? 0;
  }

  /** Sum of every counter whose name starts with `prefix` (e.g. "drop."). */
  sum(prefix: string): number {
    let total = 0;
    for (const [name, value] of this.#values) {
      if (name.startsWith(prefix)) total += value;
    }
    return total;
  }

  /** A plain JSON-able copy, names sorted. */
  snapshot(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const name of [...this.#values.keys()].sort()) out[name] = this.#values.get(name)!;
    return out;
  }

  /** Sets every counter back to 0 (removes them). */
  reset(): void {
    this.#values.clear();
  }
}
