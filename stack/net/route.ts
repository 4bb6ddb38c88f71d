/**
 * The routing table: longest-prefix match, then lowest metric, like `route -n` shows it. The stack
 * adds a connected route for each interface address/prefix and a default route for the gateway.
 *
 * @module
 */

import { prefixMask } from "../wire/address.ts";

/** What `RouteTable.add` takes. */
export interface RouteSpec {
  /** Network address (host order u32); bits past the prefix are cleared. */
  destination: number;
  /** Prefix length, 0..32. */
  prefix: number;
  /** Next-hop router, or 0 for an on-link (connected) route. */
  gateway: number;
  /** Lower wins between routes of equal prefix length (default 0). */
  metric?: number;
  /** Interface name, shown by `lb.ts route` (default ""). */
  iface?: string;
}

/** A route in the table. */
export interface Route {
  /** Network address, masked. */
  readonly destination: number;
  /** Prefix length, 0..32. */
  readonly prefix: number;
  /** The netmask as a u32 (route -n "Genmask"). */
  readonly mask: number;
  /** Next-hop router, 0 when on-link. */
  readonly gateway: number;
  /** Route metric. */
  readonly metric: number;
  /** Interface name. */
  readonly iface: string;
  /** As in route -n: "U" (up), plus "G" (via a gateway), plus "H" (a host route, /32). */
  readonly flags: string;
  /** How many lookups this route answered. */
  use: number;
}

/** A small IPv4 routing table (linear scan over routes kept sorted: fine for a host's handful). */
export class RouteTable {
  /** Sorted by prefix length descending, then metric ascending: the first match is the answer. */
  #routes: Route[] = [];

  /**
   * Adds a route. A route with the same destination, prefix, gateway and metric replaces the old
   * one. Throws RangeError on a prefix outside 0..32 (configuration, not packet data).
   */
  add(spec: RouteSpec): Route {
    const { prefix } = spec;
    if (!Number.isInteger(prefix) || prefix < 0 || prefix > 32) {
      throw new RangeError(`route prefix ${prefix} is not in 0..32`);
    }
    const mask = prefixMask(prefix);
    const gateway = spec.gateway >>> 0;
    const route: Route = {
      destination: (spec.destination & mask) >>> 0,
      prefix,
      mask,
      gateway,
      metric: spec.metric ?? 0,
      iface: spec.iface ?? "",
      flags: "U" + (gateway !== 0 ? "G" : "") + (prefix === 32 ? "H" : ""),
      use: 0,
    };
    this.#routes = this.#routes.filter((r) =>
      !(r.destination === route.destination && r.prefix === prefix && r.gateway === gateway &&
        r.metric === route.metric)
    );
    this.#routes.push(route);
    this.#routes.sort((a, b) => b.prefix - a.prefix || a.metric - b.metric);
    return route;
  }

  /**
   * Removes the routes for `destination/prefix` (only those via `gateway` when it is given).
   * Returns how many were removed.
   */
  remove(destination: number, prefix: number, gateway?: number): number {
    const mask = prefixMask(prefix);
    const dst = (destination & mask) >>> 0;
    const before = this.#routes.length;
    this.#routes = this.#routes.filter((r) =>
      !(r.destination === dst && r.prefix === prefix &&
        (gateway === undefined || r.gateway === gateway >>> 0))
    );
    return before - this.#routes.length;
  }

  /** The best route to `dst`: longest prefix, then lowest metric; null when none matches. */
  lookup(dst: number): Route | null {
    const routes = this.#routes;
    for (let i = 0; i < routes.length; i++) {
      const r = routes[i];
      if (((dst & r.mask) >>> 0) === r.destination) {
        r.use++;
        return r;
      }
    }
    return null;
  }

  /** The address to resolve with ARP for `dst`: the route's gateway, or `dst` itself when on-link. */
  nextHop(dst: number): number | null {
    const r = this.lookup(dst);
    if (r === null) return null;
    return r.gateway !== 0 ? r.gateway : dst >>> 0;
  }

  /** The routes in lookup order (copies, JSON-able). */
  entries(): Route[] {
    return this.#routes.map((r) => ({ ...r }));
  }

  /** Number of routes. */
  get size(): number {
    return this.#routes.length;
  }
}
