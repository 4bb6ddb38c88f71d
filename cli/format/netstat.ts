/**
 * The stack's TCP sockets printed like `netstat -nat` (net-tools' layout and widths), and with
 * `-e` a detail line per connection like `ss -ti` prints (cwnd, ssthresh, rtt, rto, retrans).
 *
 * @module
 */
import { parseIpv4 } from "../../stack/wire/address.ts";
import type { TcpUsage } from "../../stack/tcp/layer.ts";
import { left, right } from "./table.ts";

/**
 * One TCP socket as the control channel reports it (the stack's `tcpSnapshot()` rows). Fields
 * beyond the columns are optional, so rows from an older or newer stack still print.
 */
export interface NetstatRow {
  /** "10.0.0.2:80". */
  local: string;
  /** "10.0.0.1:41234", or "0.0.0.0:*" for a listener. */
  remote: string;
  /** netstat's state names: LISTEN, SYN_SENT, SYN_RECV, ESTABLISHED, FIN_WAIT1, ... */
  state: string;
  recvQ: number;
  sendQ: number;
  /** Congestion window, in segments. */
  cwnd?: number;
  /** Slow-start threshold, in segments; -1 or >= 0xffff: "infinite" (not printed, as in ss). */
  ssthresh?: number;
  srttMs?: number;
  rttvarMs?: number;
  rtoMs?: number;
  /** Retransmitted segments in total. */
  retransmits?: number;
  /** Segments retransmitted and not yet acknowledged, when the stack reports it. */
  retransOut?: number;
  mss?: number;
  /** "7,7": the send and receive window scale shifts. */
  wscale?: string;
  /** Congestion control algorithm ("cubic", "newreno", "bbr"), when reported. */
  congestion?: string;
  /** The reordering seen, segments; printed when not the default 3, as ss does. */
  reordering?: number;
  /** BBR's model, printed as ss's `bbr:(bw:...,mrtt:...,pacing_gain:...,cwnd_gain:...)`. */
  bbr?: { bwMbps: number; mrttMs: number; pacingGain: number; cwndGain: number };
  /** 6 for an IPv6 socket (Proto "tcp6", addresses as net-tools prints them: ":::80"). */
  family?: number;
}

/** net-tools' heading for `netstat -nat`. */
export const NETSTAT_TITLE = "Active Internet connections (servers and established)";
/** net-tools' column header (without its trailing padding). */
export const NETSTAT_HEADER =
  "Proto Recv-Q Send-Q Local Address           Foreign Address         State";

/** Sort key of "a.b.c.d:port" (a listener's "*" port sorts first). */
function endpointKey(text: string): number {
  const colon = text.lastIndexOf(":");
  // IPv6 endpoints sort after IPv4 ones (by port among themselves).
  const ip = parseIpv4(text.slice(0, colon)) ?? 0x100000000;
  const port = Number(text.slice(colon + 1));
  return ip * 65536 + (Number.isFinite(port) ? port : 0);
}

/**
 * `%g` as C's printf formats it for the small values ss prints: six significant digits, no
 * trailing zeros ("0.05", "204", "1.5").
 */
export function formatG(x: number): string {
  if (!Number.isFinite(x)) return String(x);
  return String(Number(x.toPrecision(6)));
}

/**
 * One summary line of TCP's usage against its bounds, like /proc/net/sockstat ("TCP: inuse 5
 * orphan 0 tw 2 alloc 5 mem 60"), with the buffer memory in bytes and its budget.
 */
export function formatTcpUsage(u: TcpUsageRow): string {
  const mib = (n: number) => (n / (1 << 20)).toFixed(1);
  return `TCP: inuse ${u.connections - u.timeWait} orphan ${u.orphans} tw ${u.timeWait} ` +
    `mem ${mib(u.memoryBytes)}/${mib(u.memoryLimitBytes)} MiB (peak ${mib(u.memoryPeakBytes)})` +
    (u.memoryPressure ? " pressure" : "") +
    (u.memoryGrowthDenied > 0 ? ` growth-denied ${u.memoryGrowthDenied}` : "");
}

/** What the instance reports of TCP's usage (the layer's own type, as JSON). */
export type TcpUsageRow = TcpUsage;

/**
 * The `ss -ti` detail of one connection, e.g.
 * `\t cubic wscale:7,7 rto:204 rtt:1.25/0.625 mss:1448 cwnd:10 ssthresh:7 retrans:0/3`.
 * Fields the row lacks are left out; ssthresh is left out while it is "infinite" (negative or
 * >= 0xffff segments), as ss does.
 */
export function formatDetail(r: NetstatRow): string {
  const parts: string[] = [];
  if (r.congestion !== undefined && r.congestion !== "") parts.push(r.congestion);
  if (r.wscale !== undefined && r.wscale !== "") parts.push(`wscale:${r.wscale}`);
  if (r.rtoMs !== undefined) parts.push(`rto:${formatG(r.rtoMs)}`);
  if (r.srttMs !== undefined) parts.push(`rtt:${formatG(r.srttMs)}/${formatG(r.rttvarMs ?? 0)}`);
  if (r.mss !== undefined) parts.push(`mss:${r.mss}`);
  if (r.cwnd !== undefined) parts.push(`cwnd:${r.cwnd}`);
  const ssthresh = r.ssthresh;
  if (ssthresh !== undefined && ssthresh >= 0 && ssthresh < 0xffff) {
    parts.push(`ssthresh:${ssthresh}`);
  }
  if (r.retransmits !== undefined) {
    parts.push(
      r.retransOut === undefined
        ? `retrans:${r.retransmits}`
        : `retrans:${r.retransOut}/${r.retransmits}`,
    );
  }
  const b = r.bbr;
  if (b !== undefined) {
    parts.push(
      `bbr:(bw:${formatG(b.bwMbps)}Mbps,mrtt:${formatG(b.mrttMs)},` +
        `pacing_gain:${formatG(b.pacingGain)},cwnd_gain:${formatG(b.cwndGain)})`,
    );
  }
  if (r.reordering !== undefined && r.reordering !== 3 && r.reordering > 0) {
    parts.push(`reordering:${r.reordering}`);
  }
  return `\t ${parts.join(" ")}`;
}

/**
 * `netstat -nat` layout (net-tools: "%-5s %6ld %6ld %-23s %-23s %-12s", trailing padding
 * trimmed): listeners first, then connections ordered by local and remote address. With
 * `extended`, each connection (not listener) is followed by its {@link formatDetail} line.
 */
export function formatNetstat(rows: NetstatRow[], extended = false): string {
  const sorted = rows.slice().sort((a, b) => {
    const la = a.state === "LISTEN" ? 0 : 1;
    const lb = b.state === "LISTEN" ? 0 : 1;
    return la - lb || endpointKey(a.local) - endpointKey(b.local) ||
      endpointKey(a.remote) - endpointKey(b.remote) || a.local.localeCompare(b.local) ||
      a.remote.localeCompare(b.remote);
  });
  const lines = [NETSTAT_TITLE, NETSTAT_HEADER];
  for (const r of sorted) {
    lines.push(
      [
        left(r.family === 6 ? "tcp6" : "tcp", 5),
        right(r.recvQ, 6),
        right(r.sendQ, 6),
        left(r.local, 23),
        left(r.remote, 23),
        left(r.state, 12),
      ].join(" ").trimEnd(),
    );
    if (extended && r.state !== "LISTEN") lines.push(formatDetail(r));
  }
  return lines.join("\n");
}
