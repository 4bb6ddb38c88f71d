/**
 * What the state machine, the output path and the timers need from the TCP layer that owns
 * them: configuration, time, counters, IPv4 output, scratch buffers, and the hooks that move a
 * connection between the layer's tables (timer wheel, flush list, connection table).
 *
 * @module
 */

import type { Clock } from "../clock.ts";
import type { FrameOffload } from "../wire/virtio_net.ts";
import type { Counters } from "../net/counters.ts";
import type { Ipv4Header } from "../wire/ipv4.ts";
import type { TcpHeader, TcpView } from "../wire/tcp.ts";
import type { TcpOptions } from "../wire/tcp_options.ts";
import type { TcpConfig } from "./config.ts";
import type { IsnGenerator } from "./isn.ts";
import type { Tcb } from "./tcb.ts";
import type { TcpMemory } from "./memory.ts";

/** The layer as seen by one connection's code. */
export interface TcpContext {
  /** Tunables. */
  readonly config: TcpConfig;
  /** Time source. */
  readonly clock: Clock;
  /** The stack's counters ("tcp.*"). */
  readonly counters: Counters;
  /** TTL for our datagrams. */
  readonly ttl: number;
  /** Our window scale (from the receive buffer size). */
  readonly windowScale: number;
  /** The MSS we advertise over IPv4: route MTU - 40 (RFC 9293 3.7.1, RFC 6691; IPv6: - 60). */
  readonly advMss: number;
  /** ISNs and timestamp offsets. */
  readonly isn: IsnGenerator;
  /** Bytes of the transmit area at the start of each send buffer (a whole frame). */
  readonly txArea: number;
  /**
   * Where frames start in transmit buffers: 0, or the 10 bytes of a virtio-net header on a device
   * with offloads, which the TAP then writes in place instead of copying the frame.
   */
  readonly txFrameOff: number;
  /**
   * TCP's own transmit offload metadata when segmentation offload is on (stack/tcp/tso.ts): one
   * object, refilled for each data segment and passed with it to `sendIpv4`, which leaves with
   * a partial checksum and may be a super-frame. Null: plain frames.
   */
  readonly txMeta: FrameOffload | null;
  /** Transmit area a send buffer needs for a super-frame (a 65535-byte datagram). */
  readonly tsoTxArea: number;
  /** A frame-sized scratch buffer for segments without payload (frame at `txFrameOff`). */
  readonly ctlBuf: Uint8Array;
  /** Scratch option set for building segments. */
  readonly txOpts: TcpOptions;
  /** Scratch TCP header fields. */
  readonly txHeader: TcpHeader;
  /** Scratch IPv4 header fields. */
  readonly ipHeader: Ipv4Header;
  /** Scratch view for checksumming. */
  readonly txView: TcpView;
  /** The budget of all connections' buffers (memory.ts). */
  readonly memory: TcpMemory;
  /**
   * `t` is about to enter TIME_WAIT: true when it may (it is counted), false past the cap (the
   * caller ends it at once instead).
   */
  admitTimeWait(t: Tcb): boolean;
  /** A fresh IPv4 identification. */
  nextIpId(): number;
  /**
   * The path MTU learned toward `t`'s peer (ICMP frag-needed or ICMPv6 Packet Too Big;
   * stack/net/pmtu.ts), or 0 if none.
   */
  pathMtu(t: Tcb): number;
  /** Teaches the path MTU cache `mtu` toward `t`'s peer (black-hole detection); its value. */
  learnPathMtu(t: Tcb, mtu: number): number;
  /**
   * Sends the IPv4 packet `buf[ipOff .. ipOff+ipLen)` (14 bytes of headroom before it) with its
   * offload metadata (null: plain).
   */
  sendIpv4(buf: Uint8Array, ipOff: number, ipLen: number, offload: FrameOffload | null): boolean;
  /** {@link sendIpv4} for an IPv6 packet (the host's IPv6; false without it). */
  sendIpv6(buf: Uint8Array, ipOff: number, len: number, offload: FrameOffload | null): boolean;
  /** Makes sure `t`'s timer fires no later than `at` (ms). */
  armTimer(t: Tcb, at: number): void;
  /** Queues `t` for output at the end of the current receive burst. */
  markDirty(t: Tcb): void;
  /** `t` reached CLOSED: remove it from every table (idempotent). */
  release(t: Tcb): void;
}
