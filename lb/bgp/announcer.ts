/**
 * Which VIPs an instance announces, and what `lb.ts list`, `/metrics` and the event log say
 * about them. Pure: a snapshot of the balancer in, the VIP set out.
 *
 * A VIP is announced while at least one real server of at least one of its services can take
 * new flows (weight above 0 and not failed by a health check, lb/health/), and withdrawn when
 * none can: the router then sends its flows to the instances that can serve them. A VIP is one
 * /32 route, so with several services (ports) on it, one working service keeps it announced.
 *
 * @module
 */
import type { BalancerSnapshot } from "../balancer.ts";
import { parseIpv4 } from "../../stack/wire/address.ts";

/** The VIPs to announce now (u32, ascending). */
export function vipsToAnnounce(snap: BalancerSnapshot): number[] {
  const out = new Set<number>();
  for (const s of snap.services) {
    if (s.reals.some((r) => r.weight > 0 && r.available !== false)) {
      const v = parseIpv4(s.vip);
      if (v !== null) out.add(v);
    }
  }
  return [...out].sort((a, b) => a - b);
}

/** Every VIP the balancer holds (announced or not). */
export function allVips(snap: BalancerSnapshot): number[] {
  const out = new Set<number>();
  for (const s of snap.services) {
    const v = parseIpv4(s.vip);
    if (v !== null) out.add(v);
  }
  return [...out].sort((a, b) => a - b);
}

/** One VIP's announce state. */
export interface VipAnnounceState {
  /** "10.0.0.100/32". */
  prefix: string;
  announced: boolean;
  /** ISO time of the last change. */
  since: string;
  /** Why: "healthy", "no healthy real server", "draining". */
  reason: string;
}

/** The BGP session as BIRD reports it. */
export interface BgpSessionState {
  peer: string;
  peerAs: number;
  localAs: number;
  bfd: boolean;
  /** BIRD's protocol state: "up", "start", "down"... ("unknown" before the first reading). */
  state: string;
  /** BIRD's "since" (its local time, ISO format), "" before the first reading. */
  since: string;
  /** BIRD's info column: "Established", "Active", "Connect"... */
  info: string;
}

/** What `lb.list` carries in `bgp`. */
export interface BgpStatus {
  sessions: BgpSessionState[];
  vips: VipAnnounceState[];
  draining: boolean;
  /** BIRD's pid; 0 while it is being restarted. */
  birdPid: number;
  /** Times BIRD was started again after it died. */
  birdRestarts: number;
  runDir: string;
  announcements: number;
  withdrawals: number;
  relay: { bgpConnections: number; bgpRefused: number; bfdOut: number; bfdIn: number };
}

/** What changed between two announced sets: for the event log. */
export function announceDiff(
  before: readonly number[],
  after: readonly number[],
): { announce: number[]; withdraw: number[] } {
  const b = new Set(before);
  const a = new Set(after);
  return {
    announce: after.filter((v) => !b.has(v)),
    withdraw: before.filter((v) => !a.has(v)),
  };
}
