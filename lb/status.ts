/**
 * What the status page shows (`GET /status.json`, schema in docs/status.schema.json): every
 * virtual service with its real servers (weight, health and since when, active/inactive flows,
 * rates), the last minutes of rates as time series, the recent events, and the drop counters by
 * reason.
 *
 * The numbers are the ones `lb.ts list --rate` reads: the traffic counters the services and real
 * servers keep anyway, smoothed by the same estimator (lb/rates.ts). {@link StatusHistory} only
 * copies the estimates into a ring each time the estimator samples (every 2 s, on the stack's
 * tick), so the forwarding path does no extra work for the page. History is kept for the last
 * {@link HISTORY_SAMPLES} samples (5 minutes) in one Float32Array per service or real server.
 *
 * A thousand real servers must not make every poll a megabyte: the real servers are listed a
 * page at a time (`?page=N`, {@link REALS_PER_PAGE} each, in service order), while every service
 * row carries its servers' up/down totals and `down` names every server that is down, whatever
 * the page.
 *
 * @module
 */

import { formatAddressPort } from "./address.ts";
import type { BalancerSnapshot } from "./balancer.ts";
import type { RecentEvent } from "./log.ts";
import type { RateCounters, RateEstimator, Rates } from "./rates.ts";
import type { RealServer, VirtualService } from "./service.ts";

/** Samples kept per series: 150 at the estimator's 2 s period, 5 minutes. */
export const HISTORY_SAMPLES = 150;
/** Real servers per page of `/status.json`. */
export const REALS_PER_PAGE = 50;
/** Most servers listed in `down` (the service rows still count every one). */
export const MAX_DOWN_LISTED = 200;
/** The version of the document's layout (`version`); bumped on an incompatible change. */
export const STATUS_VERSION = 1;

/** Series per item: new flows/s, packets/s (both directions), bytes/s (both directions). */
const SERIES = 3;

/** The time series of one service or real server, aligned with {@link StatusDoc.history}. */
export interface SeriesDoc {
  /** New flows per second; null where the item did not exist yet. */
  cps: (number | null)[];
  /** Packets per second, in + out. */
  pps: (number | null)[];
  /** Bytes per second, in + out. */
  bps: (number | null)[];
}

/** A health state: "up", "down", or "unchecked" (no health check covers the server). */
export type HealthName = "up" | "down" | "unchecked";

/** A real server's row. */
export interface RealDoc {
  /** Index of its service in `services`. */
  service: number;
  address: string;
  port: number;
  weight: number;
  method: string;
  health: HealthName;
  /** When the balancer saw the server enter its health state (ISO 8601). */
  healthSince: string;
  activeConns: number;
  inactiveConns: number;
  conns: number;
  packetsIn: number;
  packetsOut: number;
  bytesIn: number;
  bytesOut: number;
  rates: Rates;
  series: SeriesDoc;
}

/** A virtual service's row. */
export interface ServiceDoc {
  /** "tcp 10.0.0.100:80". */
  name: string;
  protocol: string;
  vip: string;
  port: number;
  scheduler: string;
  /** Persistence timeout in seconds, 0 when off. */
  persistence: number;
  /** The health check its servers get ("tcp", "http:/:200"), or null when none. */
  check: string | null;
  conns: number;
  packetsIn: number;
  packetsOut: number;
  bytesIn: number;
  bytesOut: number;
  /** Sums over its real servers. */
  activeConns: number;
  inactiveConns: number;
  /** Its real servers: how many, how many down, and where the first is in the paged list. */
  reals: { total: number; down: number; first: number };
  rates: Rates;
  series: SeriesDoc;
}

/** The whole document. */
export interface StatusDoc {
  version: number;
  /** When the document was made (ISO 8601). */
  time: string;
  /** Seconds between two history samples. */
  samplePeriodSeconds: number;
  /** Sample times (Unix milliseconds), oldest first; every `series` array has this length. */
  history: number[];
  table: {
    capacity: number;
    entries: number;
    embryonic: number;
    events: Record<string, number>;
  };
  services: ServiceDoc[];
  /** One page of real servers, in service order. */
  reals: { page: number; pages: number; perPage: number; total: number; items: RealDoc[] };
  /** Every server that is down (at most MAX_DOWN_LISTED), whatever the page. */
  down: { service: number; address: string; port: number; since: string }[];
  /** Recent events, oldest first. */
  events: RecentEvent[];
  /** Dropped packets by layer and reason (the stack's "drop.*", the balancer's "lb.drop_*"). */
  drops: { layer: "stack" | "balancer"; reason: string; count: number }[];
}

/** One item's ring and the last sample it was written at. */
interface Ring {
  values: Float32Array; // HISTORY_SAMPLES * SERIES, NaN = no value
  lastSeq: number;
}

/** Health state as last seen, and when it was first seen so. */
interface Seen {
  up: boolean;
  since: number;
}

/**
 * Rate history and health-change times. `record` after each estimator sample; `observe` before
 * a document is built (so a change shows with its time even between two samples).
 */
export class StatusHistory {
  readonly #rings = new WeakMap<RateCounters, Ring>();
  readonly #seen = new WeakMap<RealServer, Seen>();
  readonly #times = new Float64Array(HISTORY_SAMPLES);
  #seq = 0;
  readonly #periodMs: number;
  readonly #wallNow: () => number;

  /** History for samples `periodMs` apart; `wallNow` gives Unix milliseconds (tests fake it). */
  constructor(periodMs: number, wallNow: () => number = Date.now) {
    this.#periodMs = periodMs;
    this.#wallNow = wallNow;
  }

  /** Seconds between two samples. */
  get periodSeconds(): number {
    return this.#periodMs / 1000;
  }

  /** Copies every service's and real server's current estimates into the history. */
  record(services: readonly VirtualService[], estimator: RateEstimator): void {
    const seq = this.#seq++;
    const at = seq % HISTORY_SAMPLES;
    this.#times[at] = this.#wallNow();
    for (const s of services) {
      this.#write(s, estimator, seq);
      for (const r of s.reals) this.#write(r, estimator, seq);
    }
    this.observe(services);
  }

  /** Notes health changes: a server whose state differs from the last seen gets `since` now. */
  observe(services: readonly VirtualService[]): void {
    const now = this.#wallNow();
    for (const s of services) {
      for (const r of s.reals) {
        const seen = this.#seen.get(r);
        if (seen === undefined) this.#seen.set(r, { up: r.available, since: now });
        else if (seen.up !== r.available) {
          seen.up = r.available;
          seen.since = now;
        }
      }
    }
  }

  /** When `r` entered its current health state (Unix ms); now for one never observed. */
  since(r: RealServer): number {
    return this.#seen.get(r)?.since ?? this.#wallNow();
  }

  /** The sample times, oldest first. */
  times(): number[] {
    const n = Math.min(this.#seq, HISTORY_SAMPLES);
    const out: number[] = [];
    for (let i = this.#seq - n; i < this.#seq; i++) out.push(this.#times[i % HISTORY_SAMPLES]);
    return out;
  }

  /** The series of `item`, aligned with {@link times}. */
  series(item: RateCounters): SeriesDoc {
    const ring = this.#rings.get(item);
    const n = Math.min(this.#seq, HISTORY_SAMPLES);
    const out: SeriesDoc = { cps: [], pps: [], bps: [] };
    const lists = [out.cps, out.pps, out.bps];
    for (let i = this.#seq - n; i < this.#seq; i++) {
      const at = (i % HISTORY_SAMPLES) * SERIES;
      for (let k = 0; k < SERIES; k++) {
        // A sample written before the item existed, or skipped since, is no value.
        const v = ring === undefined || i > ring.lastSeq || i <= ring.lastSeq - HISTORY_SAMPLES
          ? NaN
          : ring.values[at + k];
        lists[k].push(Number.isNaN(v) ? null : v);
      }
    }
    return out;
  }

  #write(item: RateCounters, estimator: RateEstimator, seq: number): void {
    let ring = this.#rings.get(item);
    if (ring === undefined) {
      ring = { values: new Float32Array(HISTORY_SAMPLES * SERIES).fill(NaN), lastSeq: seq - 1 };
      this.#rings.set(item, ring);
    }
    // Samples the item missed (it was not listed) hold no value.
    for (let i = Math.max(ring.lastSeq + 1, seq - HISTORY_SAMPLES + 1); i < seq; i++) {
      ring.values.fill(NaN, (i % HISTORY_SAMPLES) * SERIES, (i % HISTORY_SAMPLES + 1) * SERIES);
    }
    const r = estimator.rates(item);
    const at = (seq % HISTORY_SAMPLES) * SERIES;
    ring.values[at] = r.cps;
    ring.values[at + 1] = r.inPps + r.outPps;
    ring.values[at + 2] = r.inBps + r.outBps;
    ring.lastSeq = seq;
  }
}

/** What {@link buildStatus} reads. */
export interface StatusSources {
  /** `Balancer.snapshot()`, taken from `services` just now. */
  snapshot: BalancerSnapshot;
  services: readonly VirtualService[];
  estimator: RateEstimator;
  history: StatusHistory;
  /** The stack's counters (`Counters.snapshot()`), for the drops. */
  stackCounters: Record<string, number>;
  events: readonly RecentEvent[];
  /** The health check that covers a service's servers ("tcp", "http:/:200"), or null. */
  checkOf: (service: VirtualService) => string | null;
  /** Wall time of the document (Unix ms). */
  now: number;
}

/** The page number `text` asks for (1-based), or 1 for anything that is not one. */
export function pageParam(text: string | null): number {
  return text !== null && /^[1-9][0-9]{0,6}$/.test(text) ? Number(text) : 1;
}

/**
 * The status document with page `page` of the real servers (a page past the last gives the
 * last). Control path: allocates freely.
 */
export function buildStatus(src: StatusSources, page: number): StatusDoc {
  const { snapshot, services, estimator, history } = src;
  history.observe(services);
  const iso = (ms: number) => new Date(ms).toISOString();
  const total = services.reduce((n, s) => n + s.reals.length, 0);
  const pages = Math.max(1, Math.ceil(total / REALS_PER_PAGE));
  const p = Math.min(Math.max(1, page), pages);
  const from = (p - 1) * REALS_PER_PAGE;
  const to = from + REALS_PER_PAGE;
  const doc: StatusDoc = {
    version: STATUS_VERSION,
    time: iso(src.now),
    samplePeriodSeconds: history.periodSeconds,
    history: history.times(),
    table: {
      capacity: snapshot.capacity,
      entries: snapshot.connections,
      embryonic: snapshot.embryonic,
      events: snapshot.table,
    },
    services: [],
    reals: { page: p, pages, perPage: REALS_PER_PAGE, total, items: [] },
    down: [],
    events: [...src.events],
    drops: drops(src.stackCounters),
  };
  let index = 0;
  services.forEach((s, si) => {
    const ss = snapshot.services[si];
    const check = src.checkOf(s);
    const healthOf = (r: RealServer): HealthName =>
      !r.available ? "down" : check === null ? "unchecked" : "up";
    let active = 0, inactive = 0, down = 0;
    const first = index;
    s.reals.forEach((r, ri) => {
      active += r.activeConns;
      inactive += r.inactiveConns;
      const rs = ss.reals[ri];
      if (!r.available) {
        down++;
        if (doc.down.length < MAX_DOWN_LISTED) {
          doc.down.push({
            service: si,
            address: rs.address,
            port: rs.port,
            since: iso(history.since(r)),
          });
        }
      }
      if (index >= from && index < to) {
        doc.reals.items.push({
          service: si,
          address: rs.address,
          port: rs.port,
          weight: rs.weight,
          method: rs.method,
          health: healthOf(r),
          healthSince: iso(history.since(r)),
          activeConns: rs.activeConns,
          inactiveConns: rs.inactiveConns,
          conns: rs.conns,
          packetsIn: rs.packetsIn,
          packetsOut: rs.packetsOut,
          bytesIn: rs.bytesIn,
          bytesOut: rs.bytesOut,
          rates: estimator.rates(r),
          series: history.series(r),
        });
      }
      index++;
    });
    doc.services.push({
      name: `${s.protocol} ${formatAddressPort(s.vip, s.port)}`,
      protocol: ss.protocol,
      vip: ss.vip,
      port: ss.port,
      scheduler: ss.scheduler,
      persistence: ss.persistence ?? 0,
      check,
      conns: ss.conns,
      packetsIn: ss.packetsIn,
      packetsOut: ss.packetsOut,
      bytesIn: ss.bytesIn,
      bytesOut: ss.bytesOut,
      activeConns: active,
      inactiveConns: inactive,
      reals: { total: s.reals.length, down, first },
      rates: estimator.rates(s),
      series: history.series(s),
    });
  });
  return doc;
}

/** The drop counters by layer and reason, as `/metrics` labels them (lb/metrics.ts). */
function drops(counters: Record<string, number>): StatusDoc["drops"] {
  const out: StatusDoc["drops"] = [];
  for (const name of Object.keys(counters).sort()) {
    if (name.startsWith("drop.")) {
      out.push({ layer: "stack", reason: name.slice(5), count: counters[name] });
    } else if (name.startsWith("lb.drop_")) {
      out.push({ layer: "balancer", reason: name.slice(8), count: counters[name] });
    }
  }
  return out;
}
