/**
 * TCP tunables: the `tcp` options of the Stack constructor and their defaults (mostly Linux's,
 * from `Documentation/networking/ip-sysctl.rst`, and gVisor's `protocol.go`).
 *
 * @module
 */

import { DEFAULT_TCP_MEMORY } from "./memory.ts";

import type { CongestionName } from "./congestion/cc.ts";

/** Loss detection algorithms of SACK connections. */
export type RecoveryName = "rack" | "rfc6675";

/** Keepalive timing (RFC 1122 4.2.3.6; Linux's tcp_keepalive_time/intvl/probes). */
export interface KeepaliveOptions {
  /** Idle time before the first probe, ms (default 7,200,000: two hours). */
  idleMs: number;
  /** Time between unanswered probes, ms (default 75,000). */
  intervalMs: number;
  /** Unanswered probes before the connection is dropped (default 9). */
  count: number;
}

/** The `tcp` options of the Stack. */
export interface TcpStackOptions {
  /**
   * Congestion control: "cubic" (default, RFC 9438), "newreno" (RFC 5681/6582) or "bbr" (BBR v1,
   * model-based: random loss is not congestion; congestion/bbr.ts).
   */
  congestion?: CongestionName;
  /** Lower bound of the retransmission timeout, ms (default 200, as Linux; RFC 6298 says 1000). */
  minRtoMs?: number;
  /** Upper bound of the retransmission timeout, ms (default 120,000). */
  maxRtoMs?: number;
  /** RTO before the first RTT sample, ms (default 1000, RFC 6298 2.1). */
  initialRtoMs?: number;
  /** TIME_WAIT duration, 2*MSL, ms (default 60,000, Linux's TCP_TIMEWAIT_LEN). */
  timeWaitMs?: number;
  /** How long an orphaned FIN_WAIT_2 waits for the peer's FIN, ms (default 60,000). */
  finWait2Ms?: number;
  /** Keepalive timing, used by connections with keepalive on (`setKeepAlive`). */
  keepalive?: Partial<KeepaliveOptions>;
  /** Half-open (SYN_RECV) connections per listener before SYN cookies (default 1024). */
  synBacklog?: number;
  /** Default accept queue of a listener (default 1024; `listen({ backlog })` overrides). */
  acceptBacklog?: number;
  /** Send buffer per connection, bytes (default 1 MiB). */
  sendBuffer?: number;
  /** Receive buffer per connection, bytes (default 1 MiB); sets the window scale. */
  receiveBuffer?: number;
  /** Offer and use SACK (RFC 2018, default true). */
  sack?: boolean;
  /** Offer and use timestamps (RFC 7323, default true). */
  timestamps?: boolean;
  /** Offer and use window scaling (RFC 7323, default true). */
  windowScaling?: boolean;
  /** Answer with SYN cookies when the SYN backlog is full (RFC 4987, default true). */
  synCookies?: boolean;
  /** SYN retransmissions before connect fails (default 6, Linux's tcp_syn_retries). */
  synRetries?: number;
  /** SYN-ACK retransmissions before a half-open connection is dropped (default 5). */
  synAckRetries?: number;
  /** Retransmissions of data before the connection is dropped (default 15, tcp_retries2). */
  retries?: number;
  /** Longest delay of an ACK, ms (default 40; RFC 5681 4.2 allows up to 500). */
  delayedAckMs?: number;
  /** Initial congestion window, segments (default 10, RFC 6928). */
  initialCwnd?: number;
  /** Out-of-order ranges kept per connection (default 32); data beyond them is dropped. */
  maxOutOfOrder?: number;
  /** Ephemeral port range, inclusive (default [32768, 60999], Linux's). */
  ephemeralPorts?: [number, number];
  /** Challenge ACKs per connection per second (RFC 5961 7; default 10). */
  challengeAckLimit?: number;
  /** Timer-wheel granularity, ms (default 10). */
  timerTickMs?: number;
  /**
   * Segmentation offload (default true): on a device with offload metadata (a TAP opened with
   * `offload: true`, stack/link/offload.ts) data leaves in TCP super-frames of up to 64 KB that
   * the kernel cuts into MSS segments, with partial checksums (stack/tcp/tso.ts). No effect on a
   * device without offloads.
   */
  tso?: boolean;
  /**
   * Undo spurious fast recoveries (default true): with timestamps, an ACK that shows the original
   * segment arrived restores the window and raises the reordering threshold
   * (stack/tcp/recovery.ts). False keeps plain RFC 6675 / RFC 5681 behaviour, for comparison.
   */
  undo?: boolean;
  /**
   * Loss detection on SACK connections (default "rack"): RACK-TLP (RFC 8985) with Proportional
   * Rate Reduction (RFC 6937) and tail loss probes, or "rfc6675": duplicate-ACK counting with
   * RFC 6675's IsLost and pipe, kept for comparison. Connections without SACK use NewReno
   * (RFC 6582) either way.
   */
  recovery?: RecoveryName;
  /** Tail loss probes of RACK-TLP (RFC 8985 7; default true). */
  tlp?: boolean;
  /**
   * Black-hole detection of packetization-layer path MTU discovery (RFC 4821; default true, as
   * Linux's tcp_mtu_probing=1 but on: it acts only after repeated timeouts): a path that drops
   * full-sized segments and no ICMP says why gets smaller ones (stack/tcp/pmtu_probe.ts).
   */
  mtuProbing?: boolean;
  /** HyStart++ in CUBIC's slow start (RFC 9406; default true). */
  hystart?: boolean;
  /**
   * Connections in TIME_WAIT at most (default 65536, like Linux's tcp_max_tw_buckets); past it a
   * closing connection ends at once without TIME_WAIT (counted: tcp.time_wait_overflow).
   */
  maxTimeWait?: number;
  /**
   * Orphans at most: connections the application closed that still wait for the peer (FIN_WAIT,
   * CLOSING, LAST_ACK; default 65536, Linux's tcp_max_orphans). Past it close() resets instead
   * (tcp.orphan_overflow).
   */
  maxOrphans?: number;
  /**
   * Bytes all send and receive buffers may hold together (default 512 MiB, Linux's tcp_mem):
   * from 60% of it buffers stop growing, at it new connections are refused
   * (stack/tcp/memory.ts).
   */
  memoryLimit?: number;
}

/** The options with every default filled in. */
export interface TcpConfig {
  congestion: CongestionName;
  minRtoMs: number;
  maxRtoMs: number;
  initialRtoMs: number;
  timeWaitMs: number;
  finWait2Ms: number;
  keepalive: KeepaliveOptions;
  synBacklog: number;
  acceptBacklog: number;
  sendBuffer: number;
  receiveBuffer: number;
  sack: boolean;
  timestamps: boolean;
  windowScaling: boolean;
  synCookies: boolean;
  synRetries: number;
  synAckRetries: number;
  retries: number;
  delayedAckMs: number;
  initialCwnd: number;
  maxOutOfOrder: number;
  ephemeralPorts: [number, number];
  challengeAckLimit: number;
  timerTickMs: number;
  tso: boolean;
  undo: boolean;
  recovery: RecoveryName;
  tlp: boolean;
  mtuProbing: boolean;
  hystart: boolean;
  maxTimeWait: number;
  maxOrphans: number;
  memoryLimit: number;
}

function positive(name: string, v: number, min = 1): number {
  if (!Number.isFinite(v) || v < min) throw new RangeError(`tcp.${name} ${v} must be >= ${min}`);
  return v;
}

/** Fills in the defaults and checks the ranges (RangeError on a bad value). */
export function resolveTcpConfig(o: TcpStackOptions = {}): TcpConfig {
  const ka = o.keepalive ?? {};
  const ports = o.ephemeralPorts ?? [32768, 60999];
  if (
    !Number.isInteger(ports[0]) || !Number.isInteger(ports[1]) || ports[0] < 1 ||
    ports[1] > 65535 || ports[0] > ports[1]
  ) {
    throw new RangeError(`tcp.ephemeralPorts ${ports} is not a range within 1..65535`);
  }
  const congestion = o.congestion ?? "cubic";
  if (congestion !== "cubic" && congestion !== "newreno" && congestion !== "bbr") {
    throw new RangeError(`tcp.congestion "${congestion}" is not "cubic", "newreno" or "bbr"`);
  }
  const recovery = o.recovery ?? "rack";
  if (recovery !== "rack" && recovery !== "rfc6675") {
    throw new RangeError(`tcp.recovery "${recovery}" is not "rack" or "rfc6675"`);
  }
  const minRtoMs = positive("minRtoMs", o.minRtoMs ?? 200);
  return {
    congestion,
    minRtoMs,
    maxRtoMs: positive("maxRtoMs", o.maxRtoMs ?? 120_000, minRtoMs),
    initialRtoMs: positive("initialRtoMs", o.initialRtoMs ?? 1000),
    timeWaitMs: positive("timeWaitMs", o.timeWaitMs ?? 60_000, 0),
    finWait2Ms: positive("finWait2Ms", o.finWait2Ms ?? 60_000, 0),
    keepalive: {
      idleMs: positive("keepalive.idleMs", ka.idleMs ?? 7_200_000),
      intervalMs: positive("keepalive.intervalMs", ka.intervalMs ?? 75_000),
      count: positive("keepalive.count", ka.count ?? 9),
    },
    synBacklog: positive("synBacklog", o.synBacklog ?? 1024),
    acceptBacklog: positive("acceptBacklog", o.acceptBacklog ?? 1024),
    sendBuffer: positive("sendBuffer", o.sendBuffer ?? 1 << 20, 1024),
    receiveBuffer: positive("receiveBuffer", o.receiveBuffer ?? 1 << 20, 1024),
    sack: o.sack ?? true,
    timestamps: o.timestamps ?? true,
    windowScaling: o.windowScaling ?? true,
    synCookies: o.synCookies ?? true,
    synRetries: positive("synRetries", o.synRetries ?? 6, 0),
    synAckRetries: positive("synAckRetries", o.synAckRetries ?? 5, 0),
    retries: positive("retries", o.retries ?? 15, 1),
    delayedAckMs: positive("delayedAckMs", o.delayedAckMs ?? 40),
    initialCwnd: positive("initialCwnd", o.initialCwnd ?? 10),
    maxOutOfOrder: positive("maxOutOfOrder", o.maxOutOfOrder ?? 32),
    ephemeralPorts: [ports[0], ports[1]],
    challengeAckLimit: positive("challengeAckLimit", o.challengeAckLimit ?? 10),
    timerTickMs: positive("timerTickMs", o.timerTickMs ?? 10),
    tso: o.tso ?? true,
    undo: o.undo ?? true,
    recovery,
    tlp: o.tlp ?? true,
    mtuProbing: o.mtuProbing ?? true,
    hystart: o.hystart ?? true,
    maxTimeWait: positive("maxTimeWait", o.maxTimeWait ?? 65536, 0),
    maxOrphans: positive("maxOrphans", o.maxOrphans ?? 65536, 0),
    memoryLimit: positive("memoryLimit", o.memoryLimit ?? DEFAULT_TCP_MEMORY, 1 << 20),
  };
}

/**
 * The window scale to offer for a receive buffer (RFC 7323 2.3): the smallest shift that lets
 * the 16-bit window field describe the whole buffer, at most 14.
 */
export function windowScaleFor(receiveBuffer: number): number {
  let shift = 0;
  while (shift < 14 && receiveBuffer >>> shift > 0xffff) shift++;
  return shift;
}
