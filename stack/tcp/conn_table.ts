/**
 * The connection table: control blocks by 4-tuple. Buckets are a `Map` from a keyed hash of the
 * tuple (so a peer cannot aim many connections at one bucket) to a chain linked through the
 * control blocks themselves: a lookup per segment allocates nothing.
 *
 * @module
 */

import { hash3, type HashKey, randomHashKey } from "./hash.ts";
import { equalIpv6 } from "../wire/address6.ts";
import type { Tcb } from "./tcb.ts";

/** Connections by (local address, local port, remote address, remote port). */
export class ConnTable {
  readonly #buckets = new Map<number, Tcb>();
  readonly #key: HashKey;
  #size = 0;
  /** The last connection found: a bulk transfer hits it without hashing. */
  #last: Tcb | null = null;

  /** An empty table with a random hash key (or the given one). */
  constructor(key: HashKey = randomHashKey()) {
    this.#key = key;
  }

  /** Number of connections. */
  get size(): number {
    return this.#size;
  }

  /** The bucket hash of a tuple (store it in the control block). */
  hash(localAddr: number, localPort: number, remoteAddr: number, remotePort: number): number {
    return hash3(this.#key, localAddr, remoteAddr, (localPort << 16) | remotePort);
  }

  /**
   * The connection with this tuple, or null. Over IPv6 the addresses are keys (see
   * `Tcb.localAddr`) and `local6`/`remote6` the full addresses, compared too; an IPv4 lookup
   * (both null) never matches an IPv6 connection.
   */
  lookup(
    localAddr: number,
    localPort: number,
    remoteAddr: number,
    remotePort: number,
    local6: Uint8Array | null = null,
    remote6: Uint8Array | null = null,
  ): Tcb | null {
    const last = this.#last;
    if (last !== null && matches(last, localAddr, localPort, remoteAddr, remotePort, remote6)) {
      if (remote6 === null || (same16(last.remote6!, remote6) && same16(last.local6!, local6!))) {
        return last;
      }
    }
    const h = hash3(this.#key, localAddr, remoteAddr, (localPort << 16) | remotePort);
    let t: Tcb | null = this.#buckets.get(h) ?? null;
    while (t !== null) {
      if (
        matches(t, localAddr, localPort, remoteAddr, remotePort, remote6) &&
        (remote6 === null || (same16(t.remote6!, remote6) && same16(t.local6!, local6!)))
      ) {
        this.#last = t;
        return t;
      }
      t = t.hashNext;
    }
    return null;
  }

  /** Adds `t` (its tuple must not be in the table). */
  insert(t: Tcb): void {
    const head = this.#buckets.get(t.hash);
    t.hashNext = head ?? null;
    this.#buckets.set(t.hash, t);
    t.inTable = true;
    this.#size++;
  }

  /** Removes `t` if present. */
  remove(t: Tcb): void {
    if (!t.inTable) return;
    if (this.#last === t) this.#last = null;
    let cur = this.#buckets.get(t.hash) ?? null;
    let prev: Tcb | null = null;
    while (cur !== null && cur !== t) {
      prev = cur;
      cur = cur.hashNext;
    }
    if (cur === null) return;
    if (prev === null) {
      if (t.hashNext === null) this.#buckets.delete(t.hash);
      else this.#buckets.set(t.hash, t.hashNext);
    } else {
      prev.hashNext = t.hashNext;
    }
    t.hashNext = null;
    t.inTable = false;
    this.#size--;
  }

  /** Every connection (a snapshot array: safe to modify the table while using it). */
  all(): Tcb[] {
    const out: Tcb[] = [];
    for (const head of this.#buckets.values()) {
      for (let t: Tcb | null = head; t !== null; t = t.hashNext) out.push(t);
    }
    return out;
  }
}

/** The ports and address keys agree, and the family (an IPv4 lookup has no `remote6`). */
function matches(
  t: Tcb,
  localAddr: number,
  localPort: number,
  remoteAddr: number,
  remotePort: number,
  remote6: Uint8Array | null,
): boolean {
  return t.remotePort === remotePort && t.localPort === localPort &&
    t.remoteAddr === remoteAddr && t.localAddr === localAddr &&
    (t.remote6 === null) === (remote6 === null);
}

/** Two 16-byte addresses are equal. */
function same16(a: Uint8Array, b: Uint8Array): boolean {
  return equalIpv6(a, 0, b);
}
