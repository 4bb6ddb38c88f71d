/**
 * Small integer ids for real servers, so the connection table stores an Int32 per flow instead of
 * an object reference. Ids are reference-counted by the flows that use them and reused once no
 * flow does.
 *
 * @module
 */

import type { RealServer } from "../service.ts";

/** RealServer <-> id, with a count of flows per id. */
export class RealRegistry {
  #reals: (RealServer | null)[] = [];
  #refs: number[] = [];
  #ids = new Map<RealServer, number>();
  #free: number[] = [];

  /** The id of `real`, registering it if new, and counts one more flow on it. */
  acquire(real: RealServer): number {
    let id = this.#ids.get(real);
    if (id === undefined) {
      id = this.#free.length > 0 ? this.#free.pop()! : this.#reals.length;
      this.#reals[id] = real;
      this.#refs[id] = 0;
      this.#ids.set(real, id);
    }
    this.#refs[id]++;
    return id;
  }

  /** Counts one flow less on `id`; the id is freed when none is left. */
  release(id: number): void {
    if (--this.#refs[id] === 0) {
      this.#ids.delete(this.#reals[id]!);
      this.#reals[id] = null;
      this.#free.push(id);
    }
  }

  /** The real server with this id (which must be in use). */
  get(id: number): RealServer {
    return this.#reals[id]!;
  }

  /** The id of `real`, or -1 when no flow uses it. */
  idOf(real: RealServer): number {
    return this.#ids.get(real) ?? -1;
  }

  /** Number of real servers with at least one flow. */
  get size(): number {
    return this.#ids.size;
  }
}
